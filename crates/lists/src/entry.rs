use std::fmt;

use cidr::Cidr;
use number::E164;

/// What a list entry matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// One number.
    Number(E164),
    /// Every number that starts with `digits` (its length in `len`).
    Prefix { digits: u64, len: u8 },
    /// An inclusive range of numbers of equal length.
    Range { lo: E164, hi: E164 },
    /// An IP network (network lists only).
    Network(Cidr),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Number(n) => write!(f, "{n}"),
            Target::Prefix { digits, len } => write!(f, "+{:0w$}*", digits, w = *len as usize),
            Target::Range { lo, hi } => write!(f, "{lo}-{hi}"),
            Target::Network(c) => write!(f, "{c}"),
        }
    }
}

/// The optional fields of an entry. Shared between entries that carry the
/// same values (a list of ten million numbers has few distinct reasons).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct EntryMeta {
    pub reason: Option<String>,
    pub reference: Option<String>,
    /// Unix time (seconds) from which the entry no longer matches.
    pub expires: Option<u64>,
}

impl EntryMeta {
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires.is_some_and(|e| now >= e)
    }
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian; H. Hinnant's
/// algorithm), or `None` for an impossible date.
fn days_from_civil(y: i64, m: u32, d: u32) -> Option<i64> {
    let dim = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    if d == 0 || d > dim {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// Civil date of a day count (inverse of `days_from_civil`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Reads an expiry: `YYYY-MM-DD` (the entry matches through that whole day,
/// UTC) or `YYYY-MM-DDTHH:MM:SSZ` (it stops matching at that instant).
/// Returns the unix time from which the entry no longer matches.
pub fn parse_expiry(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let days = days_from_civil(i64::from(num(0..4)?), num(5..7)?, num(8..10)?)?;
    let secs = match b.len() {
        10 => (days + 1) * 86_400,
        20 if b[10] == b'T' && b[13] == b':' && b[16] == b':' && b[19] == b'Z' => {
            let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
            if h > 23 || mi > 59 || se > 60 {
                return None;
            }
            days * 86_400 + i64::from(h * 3600 + mi * 60 + se)
        }
        _ => return None,
    };
    u64::try_from(secs).ok()
}

/// An entry's expiry as a list writes it: `YYYY-MM-DD`, the last day it
/// matches, when it ends at midnight UTC (what the date form reads back to:
/// `2027-12-31` stays `2027-12-31`), else `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_entry_expiry(t: u64) -> String {
    if t > 0 && t.is_multiple_of(86_400) {
        let (y, m, d) = civil_from_days((t / 86_400) as i64 - 1);
        format!("{y:04}-{m:02}-{d:02}")
    } else {
        format_expiry(t)
    }
}

/// Formats a unix time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_expiry(t: u64) -> String {
    let days = (t / 86_400) as i64;
    let rem = t % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_dates() {
        // 2027-06-30 matches all day; from 2027-07-01T00:00:00Z it does not.
        let e = parse_expiry("2027-06-30").unwrap();
        assert_eq!(format_expiry(e), "2027-07-01T00:00:00Z");
        assert_eq!(
            parse_expiry("2027-07-01T00:00:00Z"),
            Some(e),
            "the date form ends where the next day begins"
        );
        assert_eq!(format_entry_expiry(e), "2027-06-30", "as it was written");
        assert_eq!(parse_expiry(&format_entry_expiry(e)), Some(e));
        let t = parse_expiry("2027-06-30T12:00:00Z").unwrap();
        assert_eq!(format_entry_expiry(t), "2027-06-30T12:00:00Z");
        assert_eq!(parse_expiry("1970-01-01T00:00:10Z"), Some(10));
        assert_eq!(parse_expiry("2024-02-29"), Some(1_709_251_200));
        for bad in [
            "2023-02-29",
            "2027-13-01",
            "2027-6-30",
            "tomorrow",
            "2027-06-30T25:00:00Z",
            "2027-06-30 ",
        ] {
            assert_eq!(parse_expiry(bad), None, "{bad}");
        }
    }

    #[test]
    fn targets_display_as_written() {
        let p = Target::Prefix {
            digits: 3185208,
            len: 7,
        };
        assert_eq!(p.to_string(), "+3185208*");
        let r = Target::Range {
            lo: E164::parse_plus("+31852081000").unwrap(),
            hi: E164::parse_plus("+31852081999").unwrap(),
        };
        assert_eq!(r.to_string(), "+31852081000-+31852081999");
    }
}
