//! `[records]`: call records on the node (the `records` room writes them).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::context::Ctx;
use super::schema;

/// Where and how long call records are kept.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordsSettings {
    /// The records directory (default: `records` in `[api]`'s state directory).
    pub dir: PathBuf,
    /// All segments together at most this many bytes (oldest removed first).
    pub max_bytes: u64,
    /// Segments whose last call is older than this are removed.
    pub max_age: Duration,
    /// A staging log becomes a segment at this many records ...
    pub segment_records: u64,
    /// ... or this old.
    pub segment_age: Duration,
    /// A full staging log waits at most this long for a free core before
    /// it is sealed anyway (zero: sealed at once).
    pub seal_wait: Duration,
    /// Records waiting to be written, beyond which new ones are dropped (counted).
    pub queue_records: u64,
}

pub(super) fn records_section(
    cx: &mut Ctx<'_>,
    raw: &schema::Config,
    base: &Path,
    state_dir: Option<&Path>,
) -> Option<RecordsSettings> {
    let s = raw.records.as_ref()?;
    let dir = match (&s.dir, state_dir) {
        (Some(d), _) => base.join(d.get_ref()),
        (None, Some(sd)) => sd.join("records"),
        (None, None) => {
            return cx.err(
                None,
                "records.dir",
                "call records need a directory: set records.dir, or configure [api] (whose state_dir holds them by default)",
            );
        }
    };
    const GIB: u64 = 1 << 30;
    let max_bytes = cx.bounded(
        &s.max_bytes,
        "records.max_bytes",
        (1 << 10, 1 << 50, 10 * GIB),
        " bytes",
    );
    let max_age_days = cx.bounded(
        &s.max_age_days,
        "records.max_age_days",
        (1, 3650, 90),
        " days",
    );
    let segment_records = cx.bounded(
        &s.segment_records,
        "records.segment_records",
        (1, 100_000_000, 1_000_000),
        "",
    );
    let segment_secs = cx.bounded(
        &s.segment_secs,
        "records.segment_secs",
        (1, 86_400, 600),
        " s",
    );
    let seal_wait_secs = cx.bounded(
        &s.seal_wait_secs,
        "records.seal_wait_secs",
        (0, 86_400, 900),
        " s",
    );
    let queue_records = cx.bounded(
        &s.queue_records,
        "records.queue_records",
        (1, 100_000_000, 262_144),
        "",
    );
    Some(RecordsSettings {
        dir,
        max_bytes,
        max_age: Duration::from_secs(max_age_days * 86_400),
        segment_records,
        segment_age: Duration::from_secs(segment_secs),
        seal_wait: Duration::from_secs(seal_wait_secs),
        queue_records,
    })
}
