//! The wall clock, read above the pure crates (`lists` and `screen` are
//! handed the time; they never read it).

/// The unix time now (seconds): what list entries' expiries are judged against.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The unix time now in milliseconds (call records' times).
pub fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
