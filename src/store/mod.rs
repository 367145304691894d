//! The on-disk store of pushed lists, in the state directory (systemd's
//! `StateDirectory`). Each accepted version is one file,
//! `<name>.<version>.list`, holding the pushed body as it came (v1 text, JSON,
//! or a companies file). Nothing acknowledged is lost and nothing is torn:
//! a version is written to a temporary file, fsynced, renamed into place, and
//! the directory fsynced, before the push is acknowledged; a file is never
//! modified in place. The newest few versions of each list are kept (for
//! rollback); older ones are removed.
//!
//! A version's text may come after it is in force: a patch is stored
//! durably as its delta (`<name>.<version>.delta`, the bytes its client
//! sent and signed) and a version a fleet node takes from its pusher's
//! verified snapshot as that snapshot (`.snap`); each with the text's
//! sha256 (`.sha256`), written first. The text (`.list`) follows, off the
//! call path, once made or fetched and checked against that sha256; a
//! start that finds it missing loads the snapshot, or rebuilds the version
//! from its base and delta.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub mod history;

pub use crate::lists::sha256_hex;
pub use history::{Entry, Event, History};

/// Versions kept per list.
pub const KEEP_VERSIONS: usize = 5;

#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
    /// Opened only to read what a start would load (`config check`):
    /// nothing is written, not even a text a start would make again.
    read_only: bool,
}

impl Store {
    /// Opens (creating) the store in `dir`.
    pub fn open(dir: &Path) -> io::Result<Store> {
        fs::create_dir_all(dir)?;
        Ok(Store {
            dir: dir.to_path_buf(),
            read_only: false,
        })
    }

    /// The store in `dir` if it exists (nothing is created: for reading
    /// what a start would load, as `config check` does).
    pub fn existing(dir: &Path) -> Option<Store> {
        dir.is_dir().then(|| Store {
            dir: dir.to_path_buf(),
            read_only: true,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A list's history: the versions put in force here, in order.
    pub fn history(&self, name: &str) -> io::Result<History> {
        History::read(&self.dir, name)
    }

    fn file(&self, name: &str, version: u64) -> PathBuf {
        self.dir.join(format!("{name}.{version}.list"))
    }

    fn delta_file(&self, name: &str, version: u64) -> PathBuf {
        self.dir.join(format!("{name}.{version}.delta"))
    }

    /// The stored versions of a list, newest first: those with their text,
    /// or (the text still to come) their snapshot or delta.
    pub fn versions(&self, name: &str) -> io::Result<Vec<u64>> {
        let prefix = format!("{name}.");
        let mut v: Vec<u64> = fs::read_dir(&self.dir)?
            .filter_map(Result::ok)
            .filter_map(|e| {
                let f = e.file_name().into_string().ok()?;
                let rest = f.strip_prefix(&prefix)?;
                let rest = [".list", ".snap", ".delta"]
                    .iter()
                    .find_map(|s| rest.strip_suffix(s))?;
                rest.parse().ok()
            })
            .collect();
        v.sort_unstable_by(|a, b| b.cmp(a));
        v.dedup();
        Ok(v)
    }

    /// The file of a stored version's text, if it is stored.
    pub fn file_of(&self, name: &str, version: u64) -> Option<PathBuf> {
        let f = self.file(name, version);
        f.exists().then_some(f)
    }

    /// The checksum file of a stored version (written first, whatever form
    /// the version is stored in): when it was stored.
    pub fn stored_at(&self, name: &str, version: u64) -> Option<PathBuf> {
        let f = self.sum_file(name, version);
        f.exists().then_some(f)
    }

    /// Durably stores a patch before it is put in force: the text's sha256
    /// first, then the delta as its client sent it (its text follows with
    /// [`Store::write_text_with`]).
    pub fn write_delta(
        &self,
        name: &str,
        version: u64,
        sha256: &str,
        delta: &[u8],
    ) -> io::Result<()> {
        self.write_with_sum(name, version, sha256, self.delta_file(name, version), delta)
    }

    /// The delta a version was stored as, if it was a patch.
    pub fn read_delta(&self, name: &str, version: u64) -> Option<Vec<u8>> {
        fs::read(self.delta_file(name, version)).ok()
    }

    /// Durably stores a version known by its verified snapshot before it is
    /// put in force: the text's sha256 first, then the snapshot (its text
    /// follows with [`Store::write_text_with`]).
    pub fn write_by_snapshot(
        &self,
        name: &str,
        version: u64,
        sha256: &str,
        snapshot: &[u8],
    ) -> io::Result<()> {
        let file = self.snapshot_file(name, version);
        self.write_with_sum(name, version, sha256, file, snapshot)
    }

    /// Stores the text of a version stored before its text (a delta or a
    /// snapshot), handed over by `fill` in pieces (a text of millions of
    /// numbers is never whole in memory): only when it is the text its
    /// checksum names. `Ok(false)`: it is not (nothing written), or the
    /// version is gone (pruned, rolled back).
    pub fn write_text_with(
        &self,
        name: &str,
        version: u64,
        fill: impl FnOnce(&mut dyn FnMut(&[u8])),
    ) -> io::Result<bool> {
        self.text_written(name, version, fill)?.finish()
    }

    /// The text `fill` hands over in pieces, written beside the store and
    /// hashed, not yet in place: [`TextWriter::finish`] puts it there.
    pub fn text_written(
        &self,
        name: &str,
        version: u64,
        fill: impl FnOnce(&mut dyn FnMut(&[u8])),
    ) -> io::Result<TextWriter> {
        let mut w = self.text_writer(name, version)?;
        let mut failed = None;
        fill(&mut |piece| {
            if failed.is_none()
                && let Err(e) = w.write(piece)
            {
                failed = Some(e);
            }
        });
        match failed {
            Some(e) => Err(e),
            None => {
                w.file.sync_all()?;
                Ok(w)
            }
        }
    }

    /// Starts writing the text of a stored version: hashed as it is
    /// written, put in place by [`TextWriter::finish`] only when it is the
    /// text the version's checksum names.
    fn text_writer(&self, name: &str, version: u64) -> io::Result<TextWriter> {
        if self.read_only {
            return Err(io::Error::new(
                io::ErrorKind::ReadOnlyFilesystem,
                "the state directory is only read here",
            ));
        }
        let path = self.file(name, version);
        let tmp = self
            .dir
            .join(format!(".{name}.{version}.list.{}.tmp", std::process::id()));
        Ok(TextWriter {
            file: File::create(&tmp)?,
            tmp,
            path,
            sum: self.sum_file(name, version),
            dir: self.dir.clone(),
            hash: <sha2::Sha256 as sha2::Digest>::new(),
        })
    }

    /// The body of a stored version.
    pub fn read(&self, name: &str, version: u64) -> io::Result<Vec<u8>> {
        fs::read(self.file(name, version))
    }

    fn sum_file(&self, name: &str, version: u64) -> PathBuf {
        self.dir.join(format!("{name}.{version}.sha256"))
    }

    /// The SHA-256 (hex) stored beside a version when it was written.
    pub fn sha256_of(&self, name: &str, version: u64) -> Option<String> {
        fs::read_to_string(self.sum_file(name, version))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| s.len() == 64)
    }

    /// Whether a stored version's text is whole: its SHA-256 against the one
    /// stored beside it when it was written. `None`: no checksum (a version
    /// stored before checksums were kept).
    pub fn verify(&self, name: &str, version: u64, body: &[u8]) -> Option<bool> {
        let want = fs::read_to_string(self.sum_file(name, version)).ok()?;
        Some(want.trim() == sha256_hex(body))
    }

    /// Writes `bytes` to `path` the safe way (temp file, fsync, rename, fsync
    /// of the directory); the temp file is removed on any error, so a full
    /// disk leaves nothing behind and recovers once space returns.
    fn write_file(&self, path: PathBuf, bytes: &[u8]) -> io::Result<()> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Named by process: a temporary file a killed process left is never
        // taken for one being written now.
        let tmp = self.dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let written = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            File::open(&self.dir)?.sync_all()
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }

    /// Durably stores a version, with its checksum written first. Then
    /// prunes versions beyond [`KEEP_VERSIONS`].
    pub fn write(&self, name: &str, version: u64, body: &[u8]) -> io::Result<()> {
        let file = self.file(name, version);
        self.write_with_sum(name, version, &sha256_hex(body), file, body)
    }

    /// Writes a version's checksum (`sha256`, hex: the text's), then
    /// `bytes` to `file` (its text, delta or snapshot), then prunes.
    fn write_with_sum(
        &self,
        name: &str,
        version: u64,
        sha256: &str,
        file: PathBuf,
        bytes: &[u8],
    ) -> io::Result<()> {
        self.write_file(self.sum_file(name, version), sha256.as_bytes())?;
        self.write_file(file, bytes)?;
        self.prune(name)
    }

    fn prune(&self, name: &str) -> io::Result<()> {
        for old in self.versions(name)?.into_iter().skip(KEEP_VERSIONS) {
            let _ = fs::remove_file(self.file(name, old));
            let _ = fs::remove_file(self.snapshot_file(name, old));
            let _ = fs::remove_file(self.delta_file(name, old));
            let _ = fs::remove_file(self.sum_file(name, old));
        }
        Ok(())
    }

    /// Removes the temporary files of writes that never finished (a process
    /// killed during a push or a snapshot): at start, before anything
    /// writes. Returns how many.
    pub fn clean_temp(&self) -> io::Result<usize> {
        let mut n = 0;
        for e in fs::read_dir(&self.dir)? {
            let e = e?;
            let f = e.file_name().to_string_lossy().into_owned();
            if f.starts_with('.') && f.ends_with(".tmp") && fs::remove_file(e.path()).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Free bytes on the store's file system (for unprivileged writers).
    pub fn free_bytes(&self) -> Option<u64> {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(self.dir.as_os_str().as_bytes()).ok()?;
        // SAFETY: a valid C string and a zeroed statvfs for the call to fill.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: as above; the return value is checked.
        if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
            return None;
        }
        Some(st.f_bavail as u64 * st.f_frsize as u64)
    }

    /// Starts writing a version whose number is not known yet (a push that
    /// is still arriving): a temporary file in the store's directory.
    pub fn begin(&self, name: &str) -> io::Result<(File, PathBuf)> {
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = self
            .dir
            .join(format!(".{name}.push-{}-{n}.tmp", std::process::id()));
        Ok((File::create(&tmp)?, tmp))
    }

    /// Makes a fully written (and fsynced) temporary file the stored version,
    /// its checksum (`sha256`, hex) written first: rename, fsync of the
    /// directory, prune. On error the temporary file is removed.
    pub fn commit_temp(
        &self,
        tmp: &Path,
        name: &str,
        version: u64,
        sha256: &str,
    ) -> io::Result<()> {
        let done = self
            .write_file(self.sum_file(name, version), sha256.as_bytes())
            .and_then(|()| fs::rename(tmp, self.file(name, version)))
            .and_then(|()| File::open(&self.dir)?.sync_all());
        if done.is_err() {
            self.discard(tmp);
        }
        done?;
        self.prune(name)
    }

    /// Removes a temporary file of a refused push.
    pub fn discard(&self, tmp: &Path) {
        let _ = fs::remove_file(tmp);
    }

    /// Removes a stored version (after a rollback past it): its text,
    /// snapshot, delta and checksum.
    pub fn remove(&self, name: &str, version: u64) -> io::Result<()> {
        let mut any = false;
        for f in [
            self.file(name, version),
            self.snapshot_file(name, version),
            self.delta_file(name, version),
        ] {
            match fs::remove_file(f) {
                Ok(()) => any = true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let _ = fs::remove_file(self.sum_file(name, version));
        if !any {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("version {version} of {name} is not stored"),
            ));
        }
        File::open(&self.dir)?.sync_all()
    }

    fn snapshot_file(&self, name: &str, version: u64) -> PathBuf {
        self.dir.join(format!("{name}.{version}.snap"))
    }

    /// Stores the binary snapshot of a stored version (a cache for fast
    /// loading: written after the version itself, the same safe way).
    pub fn write_snapshot(&self, name: &str, version: u64, bytes: &[u8]) -> io::Result<()> {
        self.write_file(self.snapshot_file(name, version), bytes)
    }

    /// The snapshot of a stored version, if there is one.
    pub fn read_snapshot(&self, name: &str, version: u64) -> Option<Vec<u8>> {
        fs::read(self.snapshot_file(name, version)).ok()
    }
}

/// A version's text being written (see [`Store::text_writer`]); removed
/// unless finished.
pub struct TextWriter {
    file: File,
    tmp: PathBuf,
    path: PathBuf,
    sum: PathBuf,
    dir: PathBuf,
    hash: sha2::Sha256,
}

impl TextWriter {
    fn write(&mut self, piece: &[u8]) -> io::Result<()> {
        sha2::Digest::update(&mut self.hash, piece);
        self.file.write_all(piece)
    }

    /// Puts the written (and fsynced) text in place (rename, fsync of the
    /// directory) when its sha256 is the one recorded for the version;
    /// `Ok(false)` and nothing kept when it is not, or the version is no
    /// longer stored.
    pub fn finish(self) -> io::Result<bool> {
        let sha = crate::lists::format::hex(&sha2::Digest::finalize(self.hash.clone()));
        let want = fs::read_to_string(&self.sum).ok();
        if want.as_deref().map(str::trim) != Some(sha.as_str()) {
            return Ok(false);
        }
        fs::rename(&self.tmp, &self.path)?;
        File::open(&self.dir)?.sync_all()?;
        Ok(true)
    }
}

impl Drop for TextWriter {
    fn drop(&mut self) {
        // Gone once renamed; else the unfinished text goes.
        let _ = fs::remove_file(&self.tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No temporary file is left behind in `dir`.
    fn no_temp_left(dir: &Path) {
        for e in fs::read_dir(dir).unwrap() {
            let f = e.unwrap().file_name();
            assert!(!f.to_string_lossy().ends_with(".tmp"), "{f:?} left");
        }
    }

    #[test]
    fn versions_are_written_durably_and_pruned() {
        let dir = std::env::temp_dir().join(format!("callscreen-store-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let s = Store::open(&dir).unwrap();
        for v in 1..=7u64 {
            s.write(
                "acm",
                v,
                format!("# callscreen list v1 name=acm version={v}\n").as_bytes(),
            )
            .unwrap();
        }
        s.write("other", 3, b"x").unwrap();
        assert_eq!(s.versions("acm").unwrap(), vec![7, 6, 5, 4, 3]);
        assert_eq!(s.versions("other").unwrap(), vec![3]);
        assert!(s.read("acm", 7).unwrap().ends_with(b"version=7\n"));
        no_temp_left(&dir);
        s.remove("acm", 7).unwrap();
        assert_eq!(s.versions("acm").unwrap()[0], 6);
    }

    /// A version stored as its delta or its snapshot counts as stored; its
    /// text is kept only when its sha256 is the recorded one; a read-only
    /// store writes nothing; removing a version removes every form of it.
    #[test]
    fn a_version_stored_before_its_text() {
        let dir =
            std::env::temp_dir().join(format!("callscreen-store-later-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let s = Store::open(&dir).unwrap();
        let text = b"# callscreen list v1 name=l version=2\n+31201234567\n";
        let sha = sha256_hex(text);
        s.write_delta("l", 2, &sha, br#"{"base_version":1,"version":2}"#)
            .unwrap();
        s.write_by_snapshot("l", 3, &sha256_hex(b"other"), b"snapshot")
            .unwrap();
        assert_eq!(s.versions("l").unwrap(), vec![3, 2]);
        assert!(s.file_of("l", 2).is_none() && s.stored_at("l", 2).is_some());
        let ro = Store::existing(&dir).unwrap();
        assert!(ro.write_text_with("l", 2, |sink| sink(text)).is_err());
        assert!(
            !s.write_text_with("l", 2, |sink| sink(b"not the text"))
                .unwrap()
        );
        assert!(s.file_of("l", 2).is_none());
        let mut pieces = text.chunks(7);
        let written = s.write_text_with("l", 2, |sink| pieces.by_ref().for_each(sink));
        assert!(written.unwrap());
        assert_eq!(s.read("l", 2).unwrap(), text);
        s.remove("l", 2).unwrap();
        assert!(s.read_delta("l", 2).is_none() && s.stored_at("l", 2).is_none());
        assert_eq!(s.versions("l").unwrap(), vec![3]);
        assert!(
            !s.write_text_with("l", 2, |sink| sink(text)).unwrap(),
            "a version gone takes no text"
        );
        no_temp_left(&dir);
    }
}
