//! The one install order. The caller has verified the version (parsed it,
//! checked its sha256 and signatures, decided it with [`super::rules`]);
//! here it is stored durably, recorded in the list's history, swapped in
//! with the hits of the entries it removes forgotten, and its snapshot
//! written. A failure before the swap leaves the version in force as it
//! was, and nothing of the new one behind.
//!
//! What is stored before the swap is what is small and verified: a whole
//! version's text as it came (a push), or a patch's delta (its client's
//! bytes, checked against the head or made here), or the snapshot a fleet's
//! sealed head names. A text not yet stored (a patch's, 124 MB for ten
//! million numbers; a whole version a fleet node took from its snapshot)
//! is written after the swap, off the call path, and only when its sha256
//! is the one recorded; a start that finds it missing rebuilds it.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use super::Ledger;
use super::rules::Refusal;
use crate::clock::unix_now;
use crate::config::ListSpec;
use crate::lists::{Guard, List, ListKind};
use crate::store::{Entry, Event, sha256_hex};

/// Where a version's text is.
pub enum Body {
    /// A temporary file in the store's directory, written and fsynced.
    Temp(PathBuf),
    Bytes(Vec<u8>),
    /// Already in the state directory (or the seed file): a rollback.
    Kept,
    /// A patch: its delta as its client sent it (and signed), stored before
    /// the swap; its text after.
    Delta {
        delta: Vec<u8>,
        text: Text,
    },
    /// A whole version taken from its verified snapshot (`Install.snapshot`,
    /// which it needs), stored before the swap; its text after, when at
    /// hand, else brought later with [`Ledger::store_text`].
    Snapshot {
        text: Option<Vec<u8>>,
    },
}

/// A version's text, written after the swap.
#[derive(Clone)]
pub enum Text {
    Made(Vec<u8>),
    /// Made from the version before (the patch's base) by the delta.
    Make(crate::lists::delta::Text, Arc<List>),
}

impl Text {
    /// The whole text (a patch's, when it is also stored whole in the
    /// fleet's object store).
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Text::Made(b) => b.clone(),
            Text::Make(t, base) => t.make(base),
        }
    }

    /// Hands the text to `sink` (a patch's made in pieces, never whole in
    /// memory).
    fn write(&self, sink: &mut dyn FnMut(&[u8])) {
        match self {
            Text::Made(b) => sink(b),
            Text::Make(t, base) => t.write(base, sink),
        }
    }
}

/// A verified version to put in force.
pub struct Install {
    pub list: Arc<List>,
    pub body: Body,
    /// SHA-256 (hex) of its text.
    pub sha256: String,
    /// Its binary snapshot, when already made (else made after the swap).
    pub snapshot: Option<Vec<u8>>,
    pub event: Event,
    /// A rollback: the version it leaves. Stored versions above the one
    /// put in force are removed, and the history marks it rolled back.
    pub rollback_of: Option<u64>,
    /// A fleet's head: its sequence number, recorded in the history.
    pub head_seq: Option<u64>,
}

/// A version put in force, and what it changed.
pub struct Installed {
    pub list: Arc<List>,
    pub old_version: Option<u64>,
    pub added: usize,
    pub removed: usize,
}

/// Why a change was not put in force.
#[derive(Debug, thiserror::Error)]
pub enum Failed {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("{0}")]
    Store(#[from] io::Error),
}

/// A rollback done: the version now in force, its sha256, the version left.
pub struct Restored {
    pub installed: Installed,
    pub sha256: String,
    pub from: u64,
}

impl Ledger {
    /// Stores, records and swaps in a verified version (off the runtime's
    /// threads, at background priority); then its snapshot. One at a time
    /// on this node; a version that is not a rollback and is not above the
    /// one in force by then (another change came first) is refused here,
    /// whatever its caller decided before.
    pub async fn install(&self, v: Install) -> Result<Installed, Failed> {
        let _one = self.shared.versions.lock().await;
        let served = self
            .shared
            .runtime
            .load()
            .lists
            .get(&v.list.name)
            .map(|l| l.version);
        if let Some(current) = served
            && v.rollback_of.is_none()
            && v.list.version <= current
        {
            if let Body::Temp(t) = &v.body {
                self.store.discard(t);
            }
            return Err(if v.list.version == current {
                Refusal::SameVersion { current }
            } else {
                Refusal::Stale {
                    version: v.list.version,
                    current,
                }
            }
            .into());
        }
        let this = self.clone();
        let had_snapshot = v.snapshot.is_some();
        // A version whose text is kept already (a rollback, a seed file)
        // has its snapshot, or is parsed at start.
        let kept = matches!(v.body, Body::Kept);
        let sha256 = v.sha256.clone();
        let (done, later) = crate::loader::background(move || this.install_now(v))
            .await
            .map_err(io::Error::other)??;
        if !had_snapshot && !kept && done.list.kind() == ListKind::Numbers {
            crate::loader::snapshot_in_background(self.store.clone(), Arc::clone(&done.list));
        }
        drop(_one);
        if let Some(text) = later {
            let this = self.clone();
            let (name, version) = (done.list.name.clone(), done.list.version);
            tokio::spawn(async move { this.text_after(&name, version, &sha256, text).await });
        }
        Ok(done)
    }

    /// Stores the text of a version stored before it (its delta or its
    /// snapshot), handed over by `fill` in pieces, when it is the text its
    /// sha256 names; put in place as a version change, so a rollback
    /// cannot cross it. `Ok(false)`: it is not (nothing written), or the
    /// version is no longer stored.
    pub async fn store_text(
        &self,
        name: &str,
        version: u64,
        fill: impl FnOnce(&mut dyn FnMut(&[u8])) + Send + 'static,
    ) -> io::Result<bool> {
        let (store, name) = (self.store.clone(), name.to_string());
        let written = crate::loader::background(move || store.text_written(&name, version, fill))
            .await
            .map_err(io::Error::other)??;
        // Put in place under the lock of version changes: a rollback that
        // removed the version meanwhile leaves nothing to put (no checksum).
        let _one = self.shared.versions.lock().await;
        tokio::task::spawn_blocking(move || written.finish())
            .await
            .map_err(io::Error::other)?
    }

    /// The text of a version put in force before its text was stored: made
    /// (a patch's, from its base) and stored, or reported.
    async fn text_after(&self, name: &str, version: u64, sha256: &str, text: Text) {
        match self
            .store_text(name, version, move |sink| text.write(sink))
            .await
        {
            Ok(true) => {
                tracing::debug!(list = %name, version, "the version's text is stored")
            }
            Ok(false) if self.store.sha256_of(name, version).as_deref() == Some(sha256) => {
                self.shared
                    .metrics
                    .store_rejected
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::error!(list = %name, version, "the text this node makes of the version is not the one its sha256 names (nodes of other software versions write texts differently?): it serves the list its verified delta makes, stored as that delta; push a whole version to store a text");
            }
            Ok(false) => {
                tracing::debug!(list = %name, version, "the version's text came after the version left the store")
            }
            Err(e) => {
                tracing::warn!(list = %name, version, "the version's text is not stored ({e}): it stays stored as its delta or snapshot, and a start rebuilds it")
            }
        }
    }

    /// Stores a version's durable form before the swap; the text still to
    /// write after it.
    fn store_body(&self, name: &str, v: &mut Install) -> io::Result<Option<Text>> {
        let version = v.list.version;
        match std::mem::replace(&mut v.body, Body::Kept) {
            Body::Temp(tmp) => {
                if v.rollback_of.is_some() {
                    self.store.discard(&tmp);
                } else {
                    self.store.commit_temp(&tmp, name, version, &v.sha256)?;
                }
                Ok(None)
            }
            Body::Bytes(b) => self.store.write(name, version, &b).map(|()| None),
            Body::Kept => Ok(None),
            Body::Delta { delta, text } => {
                self.store.write_delta(name, version, &v.sha256, &delta)?;
                Ok(Some(text))
            }
            Body::Snapshot { text } => {
                let Some(snap) = v.snapshot.take() else {
                    return Err(io::Error::other("a version by its snapshot without one"));
                };
                self.store
                    .write_by_snapshot(name, version, &v.sha256, &snap)?;
                Ok(text.map(Text::Made))
            }
        }
    }

    fn install_now(&self, mut v: Install) -> io::Result<(Installed, Option<Text>)> {
        let (name, version) = (v.list.name.clone(), v.list.version);
        let mut history = self.store.history(&name)?;
        let entry = Entry {
            seq: 0,
            version,
            sha256: v.sha256.clone(),
            event: v.event,
            at: unix_now(),
            rollback_of: v.rollback_of,
            head_seq: v.head_seq,
        };
        let later;
        if v.rollback_of.is_some() {
            // Marked first: a crash before the files above are removed
            // still never serves them again (the start skips what the
            // history says was rolled back).
            if let Body::Temp(t) = &v.body {
                self.store.discard(t);
            }
            history.record(entry)?;
            later = self.store_body(&name, &mut v)?;
            for above in self.store.versions(&name)? {
                if above > version {
                    self.store.remove(&name, above)?;
                }
            }
        } else {
            let kept = matches!(v.body, Body::Kept);
            later = self.store_body(&name, &mut v)?;
            if let Err(e) = history.record(entry) {
                // Not recorded, not kept: nothing of it stays.
                if !kept {
                    let _ = self.store.remove(&name, version);
                }
                return Err(e);
            }
        }
        if let Some(s) = &v.snapshot
            && let Err(e) = self.store.write_snapshot(&name, version, s)
        {
            tracing::warn!(list = %name, "snapshot not written (the text version will be parsed at start): {e}");
        }
        let list = v.list;
        // Swapped in first; what it changed is worked out after (calls no
        // longer meet the entries it removed, so their hits can be
        // forgotten then).
        let before = self.shared.swap_list(Arc::clone(&list));
        let old = before.lists.get(&name).cloned();
        let (added, removed) = match &old {
            Some(old) => old.changes(&list),
            None => (list.stats(unix_now()).entries(), Vec::new()),
        };
        let count = removed.len();
        self.shared.retire(before, &name, removed);
        let installed = Installed {
            list,
            old_version: old.map(|l| l.version),
            added,
            removed: count,
        };
        Ok((installed, later))
    }

    /// Rolls a list back on this node: to the version in force before the
    /// current one (the history's order), whose text is still stored and
    /// whole, else the seed file's when it is older; never to a version
    /// rolled back. The current version is marked rolled back and its files
    /// removed, so a restart keeps the rollback.
    pub async fn rollback(&self, spec: &ListSpec, guard: Guard) -> Result<Restored, Failed> {
        let this = self.clone();
        let spec = spec.clone();
        let found = crate::loader::background(move || this.earlier(&spec, guard))
            .await
            .map_err(io::Error::other)??;
        let (list, sha256, from, body) = found;
        let installed = self
            .install(Install {
                list: Arc::new(list),
                body,
                sha256: sha256.clone(),
                snapshot: None,
                event: Event::Rollback,
                rollback_of: Some(from),
                head_seq: None,
            })
            .await?;
        Ok(Restored {
            installed,
            sha256,
            from,
        })
    }

    /// The version a rollback goes to: its list, its sha256, the version
    /// left, and where its text is.
    #[allow(clippy::type_complexity)]
    fn earlier(&self, spec: &ListSpec, guard: Guard) -> Result<(List, String, u64, Body), Failed> {
        let name = &spec.name;
        let Some(current) = self
            .shared
            .runtime
            .load()
            .lists
            .get(name)
            .map(|l| l.version)
        else {
            return Err(Refusal::NothingEarlier {
                list: name.clone(),
                current: 0,
            }
            .into());
        };
        let history = self.history(name);
        let stored = self.store.versions(name)?;
        let gone = history.rolled_back();
        // Loaded as at start: its snapshot, else its text (one that fails
        // its checksum is passed over), else its base and delta.
        let load = |v: u64| -> Option<(List, String)> {
            if !stored.contains(&v) {
                return None;
            }
            let l = crate::loader::stored_version(spec, v, &self.store, guard);
            if l.is_none() {
                tracing::warn!(list = %name, version = v, "rollback: the stored version does not load (damaged or incomplete): passed over");
            }
            let (l, sha) = l?;
            (l.version == v).then_some((l, sha))
        };
        let mut found = None;
        history.rollback_target(current, |v| {
            found = load(v);
            found.is_some()
        });
        // Versions stored before histories were kept: the newest below.
        if found.is_none() {
            found = stored
                .iter()
                .copied()
                .filter(|&v| v < current && !gone.contains_key(&v))
                .find_map(load);
        }
        if let Some((l, sha)) = found {
            return Ok((l, sha, current, Body::Kept));
        }
        // The seed file, when it is older and not rolled back itself.
        if let Ok(l) = crate::loader::load_list(spec, guard)
            && l.version < current
            && !gone.contains_key(&l.version)
        {
            let sha = std::fs::read(&spec.file)
                .map(|b| sha256_hex(&b))
                .unwrap_or_default();
            return Ok((l, sha, current, Body::Kept));
        }
        Err(Refusal::NothingEarlier {
            list: name.clone(),
            current,
        }
        .into())
    }
}
