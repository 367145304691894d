//! Loading a configuration and its seed lists into what screening needs: the
//! validated [`Settings`] (with the policy) and the first [`ListSet`].
//! `callscreen check` and the daemon load through here, so they decide alike.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{self, ConfigErrors, ListSpec, Settings};
use crate::lists::{Guard, List, ListErrors, ListKind, ListSet, parse};
use crate::store::sha256_hex;

/// Why a list could not be loaded.
#[derive(Debug)]
pub enum ListLoadError {
    Read {
        file: PathBuf,
        error: std::io::Error,
    },
    Invalid {
        file: PathBuf,
        errors: ListErrors,
    },
    WrongName {
        file: PathBuf,
        expected: String,
        found: String,
    },
}

impl fmt::Display for ListLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListLoadError::Read { file, error } => {
                write!(f, "{}: cannot read the list: {error}", file.display())
            }
            ListLoadError::Invalid { file, errors } => {
                for (i, e) in errors.errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    match (e.line, e.entry) {
                        (Some(l), None) => write!(f, "{}:{l}: {}", file.display(), e.message)?,
                        _ => write!(f, "{}: {e}", file.display())?,
                    }
                }
                if errors.total > errors.errors.len() {
                    write!(
                        f,
                        "\n{}: … and {} more",
                        file.display(),
                        errors.total - errors.errors.len()
                    )?;
                }
                Ok(())
            }
            ListLoadError::WrongName {
                file,
                expected,
                found,
            } => write!(
                f,
                "{}:1: the header names list {found:?}, but the config loads this file as {expected:?}; fix the header or the config's lists.name",
                file.display()
            ),
        }
    }
}

/// Why the configuration and its lists could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    Config(ConfigErrors),
    Lists(Vec<ListLoadError>),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Config(e) => write!(f, "{e}"),
            LoadError::Lists(v) => {
                for (i, e) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for LoadError {}

/// Reads, checks and builds one list from its seed file.
pub fn load_list(spec: &ListSpec, guard: Guard) -> Result<List, ListLoadError> {
    load_seed(spec, guard, false).map(|(l, _)| l)
}

/// [`load_list`], and with `hash` the SHA-256 (hex) of the text it read.
fn load_seed(
    spec: &ListSpec,
    guard: Guard,
    hash: bool,
) -> Result<(List, Option<String>), ListLoadError> {
    let guard = spec.guard(guard);
    let file = || spec.file.clone();
    let body = std::fs::read(&spec.file).map_err(|error| ListLoadError::Read {
        file: file(),
        error,
    })?;
    let sha = hash.then(|| sha256_hex(&body));
    let list = build_list(spec, &body, guard).map_err(|errors| ListLoadError::Invalid {
        file: file(),
        errors,
    })?;
    if list.name != spec.name {
        return Err(ListLoadError::WrongName {
            file: file(),
            expected: spec.name.clone(),
            found: list.name,
        });
    }
    Ok((list, sha))
}

/// Lowers the calling thread's CPU priority (nice 19): list parsing and
/// building run on control-plane threads that must never take a core from
/// the call path. Linux only; elsewhere a no-op.
pub fn background_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on the calling thread.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 19);
    }
}

/// A background job ended without its result: it panicked, or its thread
/// could not be made.
#[derive(Debug, thiserror::Error)]
#[error("a background job ended without its result: {0}")]
pub struct Gone(&'static str);

/// Runs `f` at background priority on a thread of its own, the caller's
/// task waiting without holding a runtime thread. Not on tokio's blocking
/// pool: a pool thread once lowered to nice 19 stays there (an unprivileged
/// process cannot raise it again) and would take the pool's next job,
/// whatever that job's priority should be. The thread starts when this is
/// called, so dropping the future leaves the job running.
pub fn background<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> impl std::future::Future<Output = Result<T, Gone>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    // In the caller's runtime, as a pool thread would be (a job may spawn
    // tasks or open files through it).
    let runtime = tokio::runtime::Handle::try_current().ok();
    let spawned = std::thread::Builder::new()
        .name("background".into())
        .spawn(move || {
            let _in = runtime.as_ref().map(|r| r.enter());
            background_priority();
            let _ = tx.send(f());
        });
    async move {
        spawned.map_err(|_| Gone("no thread for it"))?;
        rx.await.map_err(|_| Gone("it panicked"))
    }
}

/// Parses and builds a list body (a seed file, a push, a stored version) of
/// the kind its spec says, checked with the list's guard (`guard`, with
/// the list's own `min_prefix_digits` where it has one).
pub fn build_list(spec: &ListSpec, body: &[u8], guard: Guard) -> Result<List, ListErrors> {
    let guard = spec.guard(guard);
    if spec.kind == ListKind::Companies {
        Ok(List::from_companies(crate::lists::companies::parse(
            body, guard,
        )?))
    } else {
        Ok(List::from_parsed(
            parse(body, spec.kind, guard)?,
            spec.kind,
            spec.role,
            spec.bloom,
        ))
    }
}

/// What the state directory gave at start, besides the lists.
#[derive(Default)]
pub struct FromStore {
    /// Stored files that failed verification (a text whose checksum does
    /// not match, a snapshot whose own does not) and were passed over.
    pub rejected: u64,
    /// Lists loaded from their stored text for want of a snapshot: the
    /// snapshot to rebuild, off the call path, for the next fast start.
    pub without_snapshot: Vec<Arc<List>>,
    /// Versions in force from their snapshot, whose stored text is checked
    /// against its checksum after the start (the text is what export and
    /// the fleet serve; hashing it would slow a start tenfold).
    pub text_to_check: Vec<(String, u64)>,
}

/// Replaces seed lists with newer versions from the store of pushed lists
/// (a pushed version always wins over an older seed file). Each stored
/// version is verified: the snapshot by its SHA-256 trailer, the text by the
/// checksum stored beside it; one that fails is logged, counted and passed
/// over for the one before it (or the seed).
pub fn with_stored(lists: &ListSet, settings: &Settings, store: &crate::store::Store) -> ListSet {
    let (mut out, mut tally) = (lists.clone(), FromStore::default());
    for spec in &settings.lists {
        let current = lists.get(&spec.name).map(|l| l.version);
        if let Some(l) = stored_newer(spec, current, settings, store, &mut tally) {
            out = out.with_list(l);
        }
    }
    out
}

/// The newest stored version of a list newer than `than` that loads and
/// verifies (each one that does not is logged and counted in `out`); one
/// loaded from its text is added to `out.without_snapshot`.
fn stored_newer(
    spec: &ListSpec,
    than: Option<u64>,
    settings: &Settings,
    store: &crate::store::Store,
    out: &mut FromStore,
) -> Option<Arc<List>> {
    // Versions rolled back are never served again (the history says so
    // even when a crash left their files).
    let gone = store
        .history(&spec.name)
        .map(|h| h.rolled_back())
        .unwrap_or_default();
    for v in store.versions(&spec.name).ok()? {
        if than.is_some_and(|c| c >= v) {
            break;
        }
        if gone.contains_key(&v) {
            tracing::warn!(list = %spec.name, version = v, "stored version was rolled back: not loaded");
            continue;
        }
        let loaded = load_stored(
            spec,
            v,
            store,
            settings.guard,
            Use::Any(0),
            &mut out.rejected,
        );
        match loaded {
            Ok((l, _, from)) if l.name == spec.name && l.version == v => {
                tracing::info!(list = %spec.name, version = v, seed = than.unwrap_or(0), from = from.name(), "pushed version loaded from the state directory");
                let l = Arc::new(l);
                if from != Source::Snapshot && spec.kind == ListKind::Numbers {
                    out.without_snapshot.push(Arc::clone(&l));
                }
                if from == Source::Snapshot {
                    out.text_to_check.push((spec.name.clone(), v));
                }
                return Some(l);
            }
            Ok(_) => {
                out.rejected += 1;
                tracing::warn!(list = %spec.name, version = v, "stored file does not hold that list and version; skipped")
            }
            Err(e) => {
                out.rejected += 1;
                tracing::warn!(list = %spec.name, version = v, "stored version unusable, trying the one before: {e}")
            }
        }
    }
    None
}

/// Where a stored version was loaded from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Snapshot,
    Text,
    /// Its base (loaded the same way, or the seed) and its delta; its text
    /// made and stored on the way.
    Delta,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Snapshot => "snapshot",
            Source::Text => "text",
            Source::Delta => "delta",
        }
    }
}

/// How many deltas a start follows back to a version stored whole.
const MAX_DELTA_DEPTH: usize = 32;

/// A stored version of a list, verified, and the sha256 of its text.
pub fn stored_version(
    spec: &ListSpec,
    v: u64,
    store: &crate::store::Store,
    guard: Guard,
) -> Option<(List, String)> {
    load_stored(spec, v, store, guard, Use::Any(0), &mut 0)
        .ok()
        .map(|(l, sha, _)| (l, sha))
}

/// What a load of a stored version may use: anything (at a depth of deltas
/// followed back), or all but its snapshot (to make its text).
#[derive(Clone, Copy)]
enum Use {
    Any(usize),
    NoSnapshot,
}

/// A stored version of a list: its snapshot if it verifies (its trailer),
/// else its text (against the checksum beside it), else its base and its
/// delta (the text they make against that checksum; then stored). Each
/// damaged file is logged and counted in `rejected`.
fn load_stored(
    spec: &ListSpec,
    v: u64,
    store: &crate::store::Store,
    guard: Guard,
    using: Use,
    rejected: &mut u64,
) -> Result<(List, String, Source), String> {
    let guard = spec.guard(guard);
    let recorded = store.sha256_of(&spec.name, v);
    let depth = match using {
        Use::Any(d) => d,
        Use::NoSnapshot => 0,
    };
    if spec.kind == ListKind::Numbers
        && matches!(using, Use::Any(_))
        && let Some(b) = store.read_snapshot(&spec.name, v)
    {
        match crate::lists::snapshot::decode(&b) {
            Some(l) if l.role == spec.role => {
                // A snapshot without a checksum beside it is a version
                // stored before checksums were kept (its text has one), or
                // a leftover: not served.
                let sha = match recorded {
                    Some(s) => s,
                    None => match store.read(&spec.name, v) {
                        Ok(t) => sha256_hex(&t),
                        Err(_) => {
                            return Err(
                                "its snapshot has neither a checksum nor a text beside it".into()
                            );
                        }
                    },
                };
                return Ok((l, sha, Source::Snapshot));
            }
            Some(_) => {}
            None => {
                *rejected += 1;
                tracing::warn!(list = %spec.name, version = v, "stored snapshot damaged (checksum): rebuilding from the stored text");
            }
        }
    }
    match store.read(&spec.name, v) {
        Ok(b) => {
            // Hashed once: against the checksum, and for the caller.
            let sha = sha256_hex(&b);
            match &recorded {
                Some(want) if *want != sha => {
                    return Err(
                        "its checksum does not match: the file is damaged or cut short".into(),
                    );
                }
                Some(_) => {}
                None => {
                    tracing::warn!(list = %spec.name, version = v, "stored version has no checksum beside it (.sha256): loaded unverified; push it again to store one")
                }
            }
            return build_list(spec, &b, guard)
                .map(|l| (l, sha, Source::Text))
                .map_err(|e| e.to_string());
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.to_string()),
        Err(_) => {}
    }
    let Some(raw) = store.read_delta(&spec.name, v) else {
        return Err("neither its text, nor a snapshot or delta, is stored".into());
    };
    let Some(want) = recorded else {
        return Err("its delta has no checksum beside it (.sha256)".into());
    };
    let d: crate::lists::delta::Delta =
        serde_json::from_slice(&raw).map_err(|e| format!("its delta does not read: {e}"))?;
    if d.version != v || d.base_version >= v || depth >= MAX_DELTA_DEPTH {
        return Err(format!(
            "its delta is not a step from an earlier version (base {}, version {})",
            d.base_version, d.version
        ));
    }
    let base = match load_stored(
        spec,
        d.base_version,
        store,
        guard,
        Use::Any(depth + 1),
        rejected,
    ) {
        Ok((l, _, _)) => l,
        Err(e) => match load_list(spec, guard) {
            Ok(l) if l.version == d.base_version => l,
            _ => {
                return Err(format!(
                    "its base, version {}, does not load: {e}",
                    d.base_version
                ));
            }
        },
    };
    let p = crate::lists::delta::apply(&base, &d, spec.bloom, guard)
        .map_err(|e| format!("its delta does not apply to its base: {e}"))?;
    if p.sha256 != want {
        return Err("its base and delta do not make the text its checksum names".to_string());
    }
    if let Err(e) = store.write_text_with(&spec.name, v, |sink| p.text.write(&base, sink))
        && e.kind() != std::io::ErrorKind::ReadOnlyFilesystem
    {
        tracing::warn!(list = %spec.name, version = v, "the text rebuilt from the version's delta is not stored: {e}");
    }
    Ok((p.list, p.sha256, Source::Delta))
}

/// The text of a stored patch whose text is missing (a process stopped
/// between the swap and the text), made again from its base and delta and
/// stored: `Ok(true)` when made, `Ok(false)` when the version is not a
/// patch (its text comes from elsewhere: the fleet).
pub fn rebuild_text(
    spec: &ListSpec,
    v: u64,
    store: &crate::store::Store,
    guard: Guard,
) -> Result<bool, String> {
    if store.read_delta(&spec.name, v).is_none() {
        return Ok(false);
    }
    // Loaded without its snapshot, the version is made from its delta,
    // which stores its text.
    load_stored(spec, v, store, guard, Use::NoSnapshot, &mut 0).map(|_| true)
}

/// The version a v1 text seed file's header names, from its first line
/// alone; `None` for a JSON or companies seed, or one that cannot be read.
fn seed_header_version(spec: &ListSpec) -> Option<u64> {
    use std::io::{BufRead, Read};
    if spec.kind == ListKind::Companies {
        return None;
    }
    let f = std::fs::File::open(&spec.file).ok()?;
    let mut line = Vec::new();
    std::io::BufReader::new(f.take(512))
        .read_until(b'\n', &mut line)
        .ok()?;
    let (name, version) =
        crate::lists::format::parse_header(std::str::from_utf8(&line).ok()?).ok()?;
    (name == spec.name).then_some(version)
}

/// What a daemon starts with: the loaded configuration (its lists the seeds, or newer
/// stored versions in their place) and what the state directory gave.
pub struct Started {
    pub loaded: Loaded,
    pub from_store: FromStore,
}

/// A configuration with its lists loaded.
pub struct Loaded {
    pub settings: Settings,
    pub lists: ListSet,
    /// Optional lists whose file could not be loaded (the daemon runs without them).
    pub skipped: Vec<ListLoadError>,
    /// Lists kept from those in force at a reload, their seed not parsed
    /// because its header names an older version: (name, the seed's
    /// version, the version kept).
    pub kept: Vec<(String, u64, u64)>,
    /// At a reload: the SHA-256 of each seed file parsed, by list name.
    pub seed_sha: std::collections::HashMap<String, String>,
}

impl Loaded {
    /// Loads the config file and every list it names. A required list that
    /// cannot be loaded is an error; an optional one is skipped and reported.
    pub fn load(path: &Path) -> Result<Loaded, LoadError> {
        let settings = config::load(path).map_err(LoadError::Config)?;
        Loaded::start(settings, None).map(|s| s.loaded)
    }

    /// Loads the config file and its lists for a reload beside `running`,
    /// the lists in force: a seed whose header names a version older than
    /// the running list's is not parsed, and the running list is kept (a
    /// reload on a node serving a pushed list of millions does not parse a
    /// superseded seed of millions).
    pub fn reload(path: &Path, running: &ListSet) -> Result<Loaded, LoadError> {
        let settings = config::load(path).map_err(LoadError::Config)?;
        Loaded::load_lists(settings, None, Some(running)).map(|s| s.loaded)
    }

    /// Loads the lists of `settings` for a start. With a state directory, a
    /// list whose store holds a version newer than its seed file's header
    /// names is loaded from the store and its seed is not parsed (a restart
    /// with ten million pushed numbers reads their snapshot, not a seed);
    /// otherwise from the seed, replaced by a newer stored version if one
    /// loads. A required seed that cannot be loaded, with no stored version
    /// newer than its header, is an error.
    pub fn start(
        settings: Settings,
        store: Option<&crate::store::Store>,
    ) -> Result<Started, LoadError> {
        Loaded::load_lists(settings, store, None)
    }

    fn load_lists(
        settings: Settings,
        store: Option<&crate::store::Store>,
        running: Option<&ListSet>,
    ) -> Result<Started, LoadError> {
        let mut lists = Vec::new();
        let mut errors = Vec::new();
        let mut skipped = Vec::new();
        let mut kept = Vec::new();
        let mut seed_sha = std::collections::HashMap::new();
        let mut stored = FromStore::default();
        for spec in &settings.lists {
            let header = (store.is_some() || running.is_some())
                .then(|| seed_header_version(spec))
                .flatten();
            if let (Some(v), Some(old)) = (header, running.and_then(|r| r.get(&spec.name)))
                && old.version > v
            {
                kept.push((spec.name.clone(), v, old.version));
                lists.push(Arc::clone(old));
                continue;
            }
            if let (Some(st), Some(v)) = (store, header)
                && let Some(l) = stored_newer(spec, Some(v), &settings, st, &mut stored)
            {
                lists.push(l);
                continue;
            }
            // A seed naming a version that was rolled back stays out, as
            // at a reload: the newest stored version in its place.
            if let (Some(st), Some(v), None) = (store, header, running)
                && st.history(&spec.name).is_ok_and(|h| h.is_rolled_back(v))
            {
                if let Some(l) = stored_newer(spec, None, &settings, st, &mut stored) {
                    tracing::warn!(list = %spec.name, seed = v, serving = l.version, "seed file names a version that was rolled back: it stays out (push it, or give the seed a higher version)");
                    lists.push(l);
                    continue;
                }
                tracing::warn!(list = %spec.name, seed = v, "seed file names a version that was rolled back, and no other version is kept: serving it");
            }
            match load_seed(spec, settings.guard, running.is_some()) {
                Ok((l, sha)) => {
                    if let Some(sha) = sha {
                        seed_sha.insert(spec.name.clone(), sha);
                    }
                    // Versions newer than the header were tried above.
                    let newer = match (store, header) {
                        (Some(st), None) => {
                            stored_newer(spec, Some(l.version), &settings, st, &mut stored)
                        }
                        _ => None,
                    };
                    lists.push(newer.unwrap_or_else(|| Arc::new(l)));
                }
                Err(e) if spec.required => errors.push(e),
                // An optional list without its seed: any stored version.
                Err(e) => match (store, header) {
                    (Some(st), None) => {
                        match stored_newer(spec, None, &settings, st, &mut stored) {
                            Some(l) => lists.push(l),
                            None => skipped.push(e),
                        }
                    }
                    _ => skipped.push(e),
                },
            }
        }
        if !errors.is_empty() {
            return Err(LoadError::Lists(errors));
        }
        Ok(Started {
            loaded: Loaded {
                settings,
                lists: ListSet::new(lists),
                skipped,
                kept,
                seed_sha,
            },
            from_store: stored,
        })
    }
}

/// Writes a list's binary snapshot (for fast restarts) at background
/// priority, off the caller's task; a failure is logged (the text version
/// is parsed at the next start instead). Inside tokio.
pub fn snapshot_in_background(store: crate::store::Store, list: std::sync::Arc<List>) {
    let name = list.name.clone();
    let job = background(move || match crate::lists::snapshot::encode(&list) {
        Some(bytes) => store
            .write_snapshot(&list.name, list.version, &bytes)
            .map_err(|e| e.to_string()),
        None => Ok(()),
    });
    tokio::spawn(async move {
        let failed = match job.await {
            Ok(r) => r.err(),
            Err(e) => Some(e.to_string()),
        };
        if let Some(e) = failed {
            tracing::warn!(list = %name, "snapshot not written (the text version will be parsed at start): {e}");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This thread's nice value.
    fn nice() -> i32 {
        // SAFETY: plain system calls on the calling thread.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::getpriority(libc::PRIO_PROCESS, tid)
        }
    }

    /// A background job runs at nice 19, in the runtime, and leaves none of
    /// the runtime's threads lowered: the blocking pool's next job (one
    /// thread, so the same thread if the job had run on it) runs as before.
    #[test]
    fn a_background_job_runs_low_and_leaves_the_pool_as_it_was() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let before = tokio::task::spawn_blocking(nice).await.unwrap();
            assert_eq!(background(nice).await.unwrap(), 19);
            assert_eq!(tokio::task::spawn_blocking(nice).await.unwrap(), before);
            // In the runtime, as a pool thread is: it may spawn a task.
            let spawned = background(|| tokio::spawn(async { 7 })).await.unwrap();
            assert_eq!(spawned.await.unwrap(), 7);
            let panicked = background(|| panic!("a job that panics")).await;
            assert!(panicked.is_err_and(|e| e.to_string().contains("panicked")));
        });
    }
}
