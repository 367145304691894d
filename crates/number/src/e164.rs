use std::fmt;

/// The largest number of digits an E.164 number may have (ITU-T E.164 §6).
pub const MAX_DIGITS: u32 = 15;

/// Powers of ten up to 10^15, so digit counts need no floating point.
pub const POW10: [u64; 16] = {
    let mut t = [1u64; 16];
    let mut i = 1;
    while i < 16 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// An international number (ITU-T E.164), held as its digits in a `u64`.
///
/// A country code never starts with `0`, so the value alone fixes the digit
/// count: `+31201234567` is stored as `31201234567`. Ordering is numeric, which
/// the list stores rely on.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct E164(u64);

impl E164 {
    /// Builds a number from ASCII digits (no `+`): 1 to 15 digits, the first not `0`.
    pub fn from_digits(digits: &[u8]) -> Option<E164> {
        if digits.is_empty() || digits.len() > MAX_DIGITS as usize || digits[0] == b'0' {
            return None;
        }
        let mut v = 0u64;
        for &d in digits {
            if !d.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u64::from(d - b'0');
        }
        Some(E164(v))
    }

    /// Parses the strict list form: `+` and 1 to 15 digits.
    pub fn parse_plus(s: &str) -> Option<E164> {
        s.strip_prefix('+')
            .and_then(|d| E164::from_digits(d.as_bytes()))
    }

    /// Wraps a raw value; `None` for 0 or more than 15 digits.
    pub fn from_u64(v: u64) -> Option<E164> {
        (v != 0 && v < POW10[15]).then_some(E164(v))
    }

    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// Number of digits (1 to 15).
    pub fn len(self) -> u32 {
        digit_count(self.0)
    }

    /// Always false: an E.164 number has at least one digit.
    pub fn is_empty(self) -> bool {
        false
    }

    /// The leading `n` digits as a number (`n` at most [`E164::len`]).
    pub fn leading(self, n: u32) -> u64 {
        let len = self.len();
        if n >= len {
            self.0
        } else {
            self.0 / POW10[(len - n) as usize]
        }
    }

    /// True when the number starts with the given digits (ASCII).
    pub fn starts_with(self, digits: &[u8]) -> bool {
        let n = digits.len() as u32;
        if n == 0 {
            return true;
        }
        if n > self.len() {
            return false;
        }
        let mut v = 0u64;
        for &d in digits {
            if !d.is_ascii_digit() {
                return false;
            }
            v = v * 10 + u64::from(d - b'0');
        }
        self.leading(n) == v
    }

    /// The digits after the first `n` (for a country code of `n` digits: the
    /// national significant number), as ASCII into `buf`, returning the slice.
    pub fn digits_after(self, n: u32, buf: &mut [u8; 15]) -> &[u8] {
        let all = self.write_digits(buf);
        let n = (n as usize).min(all);
        &buf[n..all]
    }

    /// Writes the digits (no `+`) into `buf`, returning how many were written.
    pub fn write_digits(self, buf: &mut [u8; 15]) -> usize {
        // Two digits a step (a 200-byte table): export writes ten million.
        const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
            2021222324252627282930313233343536373839\
            4041424344454647484950515253545556575859\
            6061626364656667686970717273747576777879\
            8081828384858687888990919293949596979899";
        let len = self.len() as usize;
        let mut v = self.0;
        let mut i = len;
        while i >= 2 {
            let p = (v % 100) as usize * 2;
            buf[i - 2..i].copy_from_slice(&PAIRS[p..p + 2]);
            v /= 100;
            i -= 2;
        }
        if i == 1 {
            buf[0] = b'0' + (v % 10) as u8;
        }
        len
    }
}

/// Digits in a non-zero value below 10^16 (0 counts as 1).
pub fn digit_count(v: u64) -> u32 {
    // floor(log10) from the bit length (1233/4096 ≈ log10(2)), corrected by
    // one comparison: a handful of instructions on the hot path.
    let t = ((64 - (v | 1).leading_zeros()) * 1233) >> 12;
    (t + u32::from(v >= POW10[t as usize])).max(1)
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.0)
    }
}

impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E164(+{})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_round_trip() {
        let n = E164::parse_plus("+31201234567").unwrap();
        assert_eq!(n.as_u64(), 31201234567);
        assert_eq!(n.len(), 11);
        assert_eq!(n.to_string(), "+31201234567");
        let mut buf = [0u8; 15];
        assert_eq!(n.digits_after(2, &mut buf), b"201234567");
        assert!(n.starts_with(b"3120"));
        assert!(!n.starts_with(b"3121"));
        assert_eq!(n.leading(4), 3120);
    }

    /// Every length, odd and even, with zeros inside and at the end.
    #[test]
    fn written_digits_are_the_number() {
        let mut buf = [0u8; 15];
        for v in [
            1u64,
            7,
            10,
            99,
            100,
            31_201_234_567,
            310_000_000_000,
            999_999_999_999_999,
        ]
        .into_iter()
        .chain((1..=15).map(|l| POW10[l - 1] + 1))
        {
            let n = E164::from_u64(v).unwrap();
            let len = n.write_digits(&mut buf);
            assert_eq!(&buf[..len], v.to_string().as_bytes(), "{v}");
        }
    }

    #[test]
    fn digit_counts() {
        for v in [
            0u64,
            1,
            9,
            10,
            99,
            100,
            12345,
            999_999_999_999_999,
            100_000_000_000_000,
            31_201_234_567,
        ] {
            assert_eq!(digit_count(v), v.to_string().len() as u32, "{v}");
        }
        for d in 1..=15 {
            assert_eq!(digit_count(POW10[d] - 1), d as u32);
            assert_eq!(digit_count(POW10[d - 1]), d as u32);
        }
    }

    #[test]
    fn rejects_bad_digit_strings() {
        assert!(E164::from_digits(b"").is_none());
        assert!(E164::from_digits(b"0201234567").is_none());
        assert!(E164::from_digits(b"1234567890123456").is_none());
        assert!(E164::from_digits(b"123456789012345").is_some());
        assert!(E164::from_digits(b"12a4").is_none());
        assert!(E164::parse_plus("31201234567").is_none());
    }
}
