//! The list file format, v1 (DESIGN.md "The list file format"), and its JSON
//! form. A list is parsed whole: every bad line is reported with its number,
//! and nothing of a list with a bad line is used.
//!
//! ```text
//! # callscreen list v1 name=acm-withdrawn version=42
//! +31201234567                 # one number, E.164
//! +3185208*                    # a prefix
//! +31852081000-+31852081999    # an inclusive range of equal-length numbers
//! +31612345678,tech-support-scam,ACM-2026-0042,2027-06-30
//! ```
//!
//! Fields after the entry are `reason,reference,expires`; they cannot contain
//! `,` or `#`. Network lists hold CIDR networks (`192.0.2.0/24`) instead.

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;

use super::entry::{EntryMeta, Target, parse_expiry};
use super::kind::ListKind;
use number::E164;
use number::e164::POW10;

/// Refusal of entries that would block far too much.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guard {
    /// The fewest digits (country code included) a prefix may have; a range
    /// may cover no more numbers than such a prefix. Default 6: `+31`
    /// (a country) and `+316` (all Dutch mobiles) are refused, `+318520`
    /// (ten thousand numbers of one block) is allowed.
    pub min_prefix_digits: u8,
    /// A replacement may remove at most this share (percent) of a list's
    /// entries unless the push says it means it (`allow_shrink`): an empty
    /// or truncated export must not unblock every scam number at once.
    /// Default 50; 100: no limit.
    pub max_shrink_percent: u8,
    /// The fewest digits (country code included) an exact number or a
    /// range's ends may have: per country with a numbering plan (its
    /// shortest number, from `[[numbering]]`), else [`MIN_NUMBER_DIGITS`].
    /// `+3` is no number to list.
    pub plan_minimums: PlanMinimums,
}

/// The shortest E.164 numbers in use have 7 digits (a 3-digit country code
/// and a 4-digit number).
pub const MIN_NUMBER_DIGITS: u8 = 7;

/// Per country code, the fewest digits of its numbers: a small fixed table
/// (countries with a numbering plan in the config), so the guard stays `Copy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlanMinimums {
    /// Country code digits (up to 3), how many, and the minimum.
    entries: [([u8; 3], u8, u8); 8],
    len: usize,
}

impl PlanMinimums {
    /// Adds a country (its code in digits) and its shortest number's digits
    /// (country code included); beyond eight countries the rest keep the
    /// general minimum.
    pub fn add(&mut self, country_code: &str, min_digits: u8) {
        let cc = country_code.as_bytes();
        if (1..=3).contains(&cc.len()) && self.len < self.entries.len() {
            let mut digits = [0u8; 3];
            digits[..cc.len()].copy_from_slice(cc);
            self.entries[self.len] = (digits, cc.len() as u8, min_digits);
            self.len += 1;
        }
    }

    /// The fewest digits a number of these digits' country may have.
    fn min_for_digits(&self, digits: &[u8]) -> u8 {
        self.entries[..self.len]
            .iter()
            .find(|(cc, len, _)| digits.starts_with(&cc[..usize::from(*len)]))
            .map_or(MIN_NUMBER_DIGITS, |&(_, _, m)| m)
    }

    /// The fewest digits a number of `n`'s country may have.
    fn min_for(&self, n: E164) -> u8 {
        self.entries[..self.len]
            .iter()
            .find(|(cc, len, _)| n.starts_with(&cc[..usize::from(*len)]))
            .map_or(MIN_NUMBER_DIGITS, |&(_, _, m)| m)
    }
}

impl Default for Guard {
    fn default() -> Self {
        Guard {
            min_prefix_digits: 6,
            max_shrink_percent: 50,
            plan_minimums: PlanMinimums::default(),
        }
    }
}

impl Guard {
    /// Refuses a number shorter than its country's shortest (or E.164's).
    fn long_enough(&self, n: E164, what: &str) -> Result<(), String> {
        let min = self.plan_minimums.min_for(n);
        if n.len() < u32::from(min) {
            return Err(format!(
                "{what} +{} has {} digits; a number needs at least {min} (its country's numbering plan, or E.164's shortest)",
                n.as_u64(),
                n.len()
            ));
        }
        Ok(())
    }

    /// Whether replacing a list of `old` entries by one that removes
    /// `removed` of them shrinks it beyond the guard.
    pub fn shrinks_too_much(&self, old: usize, removed: usize) -> bool {
        old > 0 && removed * 100 > old * usize::from(self.max_shrink_percent)
    }
}

/// Most errors kept for a report; the count goes on beyond it.
const MAX_REPORTED: usize = 100;

/// One bad line (or JSON entry) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line of the text form (or of the JSON document for a syntax error).
    pub line: Option<usize>,
    /// 0-based index in the JSON `entries` array.
    pub entry: Option<usize>,
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.entry) {
            (_, Some(i)) => write!(f, "entries[{i}]: {}", self.message),
            (Some(l), None) => write!(f, "line {l}: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

/// Every problem found in a list (the first [`MAX_REPORTED`], and the total).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListErrors {
    pub errors: Vec<LineError>,
    pub total: usize,
}

impl ListErrors {
    fn push(&mut self, line: Option<usize>, entry: Option<usize>, message: String) {
        self.total += 1;
        if self.errors.len() < MAX_REPORTED {
            self.errors.push(LineError {
                line,
                entry,
                message,
            });
        }
    }

    fn one(line: Option<usize>, message: String) -> ListErrors {
        let mut e = ListErrors::default();
        e.push(line, None, message);
        e
    }

    /// One error (for the other list formats).
    pub fn single(line: Option<usize>, message: String) -> ListErrors {
        ListErrors::one(line, message)
    }

    /// Records an error at a line or entry.
    pub fn add(&mut self, line: Option<usize>, entry: Option<usize>, message: String) {
        self.push(line, entry, message);
    }
}

impl fmt::Display for ListErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        if self.total > self.errors.len() {
            write!(f, "\n… and {} more", self.total - self.errors.len())?;
        }
        Ok(())
    }
}

/// A parsed, valid list: its header and entries, with the distinct metadata
/// values interned (`metas[0]` is the empty one).
#[derive(Clone, Debug, Default)]
pub struct ParsedList {
    pub name: String,
    pub version: u64,
    /// Exact numbers (in line order), compactly: the bulk of a big list.
    pub numbers: Vec<u64>,
    /// The meta index of each number; empty while every one is 0 (a plain
    /// list costs no more than its numbers).
    pub number_metas: Vec<u32>,
    /// Prefixes, ranges and networks.
    pub entries: Vec<(Target, u32)>,
    pub metas: Vec<EntryMeta>,
}

impl ParsedList {
    fn push_number(&mut self, n: u64, meta: u32) {
        if meta != 0 || !self.number_metas.is_empty() {
            self.number_metas.resize(self.numbers.len(), 0);
            self.number_metas.push(meta);
        }
        self.numbers.push(n);
    }

    /// The meta index of exact number `i`.
    pub fn number_meta(&self, i: usize) -> u32 {
        self.number_metas.get(i).copied().unwrap_or(0)
    }

    /// All entries.
    pub fn len(&self) -> usize {
        self.numbers.len() + self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Parses a list in the v1 text form or, when it starts with `{`, the JSON form.
pub fn parse(body: &[u8], kind: ListKind, guard: Guard) -> Result<ParsedList, ListErrors> {
    if body.trim_ascii_start().first() == Some(&b'{') {
        parse_json(body, kind, guard)
    } else {
        parse_text(body, kind, guard)
    }
}

/// A list name: 1 to 64 of `A-Z a-z 0-9 . _ -`.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

struct Builder {
    kind: ListKind,
    guard: Guard,
    out: ParsedList,
    interned: HashMap<EntryMeta, u32>,
    errors: ListErrors,
}

impl Builder {
    fn new(kind: ListKind, guard: Guard) -> Builder {
        Builder {
            kind,
            guard,
            out: ParsedList {
                metas: vec![EntryMeta::default()],
                ..ParsedList::default()
            },
            interned: HashMap::new(),
            errors: ListErrors::default(),
        }
    }

    fn add(
        &mut self,
        line: Option<usize>,
        entry_ix: Option<usize>,
        entry: &str,
        reason: Option<&str>,
        reference: Option<&str>,
        expires: Option<&str>,
    ) {
        let target = match parse_target(entry, self.kind, self.guard) {
            Ok(t) => t,
            Err(m) => return self.errors.push(line, entry_ix, m),
        };
        let expires = match expires.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(e) => {
                match parse_expiry(e) {
                    Some(t) => Some(t),
                    None => {
                        return self.errors.push(
                        line,
                        entry_ix,
                        format!("expiry {e:?} is not a date: write YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"),
                    );
                    }
                }
            }
        };
        let nonempty =
            |s: Option<&str>| s.map(str::trim).filter(|s| !s.is_empty()).map(String::from);
        let meta = EntryMeta {
            reason: nonempty(reason),
            reference: nonempty(reference),
            expires,
        };
        let ix = if meta == EntryMeta::default() {
            0
        } else if let Some(&i) = self.interned.get(&meta) {
            i
        } else {
            let i = self.out.metas.len() as u32;
            self.out.metas.push(meta.clone());
            self.interned.insert(meta, i);
            i
        };
        match target {
            Target::Number(n) => self.out.push_number(n.as_u64(), ix),
            _ => self.out.entries.push((target, ix)),
        }
    }

    fn finish(self) -> Result<ParsedList, ListErrors> {
        if self.errors.total > 0 {
            Err(self.errors)
        } else {
            Ok(self.out)
        }
    }
}

/// Parses one entry. The error text says what is wrong and what to write.
pub fn parse_target(s: &str, kind: ListKind, guard: Guard) -> Result<Target, String> {
    let s = s.trim();
    if kind == ListKind::Networks {
        return s
            .parse()
            .map(Target::Network)
            .map_err(|e: cidr::CidrError| e.0);
    }
    let min = guard.min_prefix_digits;
    if let Some(p) = s.strip_suffix('*') {
        let digits = p
            .strip_prefix('+')
            .filter(|d| !d.is_empty())
            .ok_or_else(|| {
                format!("prefix {s:?} must be E.164: '+', digits, then '*' (e.g. +3185208*)")
            })?;
        let n = E164::from_digits(digits.as_bytes()).ok_or_else(|| {
            format!("prefix {s:?} must be '+' and 1 to 15 digits, not starting with 0, then '*'")
        })?;
        if (digits.len() as u8) < min {
            return Err(format!(
                "prefix {s:?} would block a whole country or number type: a prefix needs at least {min} digits (list_guard.min_prefix_digits, or the list's own min_prefix_digits in [[lists]])"
            ));
        }
        return Ok(Target::Prefix {
            digits: n.as_u64(),
            len: digits.len() as u8,
        });
    }
    if let Some((a, b)) = s.split_once('-') {
        let (lo, hi) = match (E164::parse_plus(a.trim()), E164::parse_plus(b.trim())) {
            (Some(lo), Some(hi)) => (lo, hi),
            _ => {
                return Err(format!(
                    "range {s:?} must be two E.164 numbers joined by '-' (e.g. +31852081000-+31852081999)"
                ));
            }
        };
        if lo.len() != hi.len() {
            return Err(format!(
                "range {s:?}: both ends must have the same number of digits"
            ));
        }
        if lo > hi {
            return Err(format!("range {s:?}: the first number is above the second"));
        }
        guard.long_enough(lo, &format!("range {s:?}: its first number"))?;
        let len = lo.len();
        let allowed = if u32::from(min) >= len {
            1
        } else {
            POW10[(len - u32::from(min)) as usize]
        };
        if hi.as_u64() - lo.as_u64() + 1 > allowed {
            return Err(format!(
                "range {s:?} would block a whole country or number type: a range may cover at most {allowed} numbers of this length, as a {min}-digit prefix does (list_guard.min_prefix_digits, or the list's own min_prefix_digits in [[lists]])"
            ));
        }
        return Ok(Target::Range { lo, hi });
    }
    let n = E164::parse_plus(s).ok_or_else(|| {
        if s.starts_with('+') {
            format!("{s:?} is not an E.164 number: '+' and 1 to 15 digits, the first not 0")
        } else {
            format!("{s:?} is not in E.164 form: list entries start with '+' and the country code (e.g. +31201234567)")
        }
    })?;
    guard.long_enough(n, "number")?;
    Ok(Target::Number(n))
}

/// Reads the header `# callscreen list v1 name=NAME version=N`.
pub fn parse_header(line: &str) -> Result<(String, u64), String> {
    const EXPECT: &str =
        "the first line must be the header '# callscreen list v1 name=NAME version=N'";
    let rest = line
        .trim()
        .strip_prefix('#')
        .map(str::trim_start)
        .and_then(|r| r.strip_prefix("callscreen list v1"))
        .ok_or_else(|| EXPECT.to_string())?;
    let (mut name, mut version) = (None, None);
    for word in rest.split_whitespace() {
        match word.split_once('=') {
            Some(("name", v)) => name = Some(v.to_string()),
            Some(("version", v)) => {
                version = Some(v.parse::<u64>().map_err(|_| {
                    format!(
                        "header: version {v:?} must be a whole number from 0 to {}",
                        u64::MAX
                    )
                })?)
            }
            _ => return Err(format!("header: unexpected {word:?}; {EXPECT}")),
        }
    }
    let name = name.ok_or_else(|| format!("header: name= is missing; {EXPECT}"))?;
    if !valid_name(&name) {
        return Err(format!(
            "header: list name {name:?} must be 1 to 64 letters, digits, '.', '_' or '-'"
        ));
    }
    let version = version.ok_or_else(|| format!("header: version= is missing; {EXPECT}"))?;
    Ok((name, version))
}

fn parse_text(body: &[u8], kind: ListKind, guard: Guard) -> Result<ParsedList, ListErrors> {
    let mut p = TextParser::new(kind, guard);
    p.feed(body);
    p.finish()
}

/// The v1 text format read in pieces, as a push arrives: the body itself
/// need not be held in memory. Feed it chunks split anywhere, then finish.
/// The longest line a v1 text list may have, in bytes.
pub const MAX_LINE: usize = 4096;

pub struct TextParser {
    b: Builder,
    header_seen: bool,
    line_no: usize,
    /// The start of a line whose end has not arrived yet.
    partial: Vec<u8>,
    /// Inside a line longer than [`MAX_LINE`]: its bytes are dropped until
    /// its end, where it is reported.
    overlong: bool,
    /// A header error: the rest cannot be trusted to be a list.
    fatal: Option<ListErrors>,
}

impl TextParser {
    pub fn new(kind: ListKind, guard: Guard) -> TextParser {
        TextParser {
            b: Builder::new(kind, guard),
            header_seen: false,
            line_no: 0,
            partial: Vec::new(),
            overlong: false,
            fatal: None,
        }
    }

    /// Takes the next bytes of the body. Each byte is looked at once, and
    /// a line is held only up to [`MAX_LINE`] bytes: a longer one is
    /// dropped as it comes and reported with its number.
    pub fn feed(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() {
            let nl = memchr::memchr(b'\n', chunk);
            let (part, ended) = match nl {
                Some(i) => (&chunk[..i], true),
                None => (chunk, false),
            };
            chunk = nl.map_or(&[][..], |i| &chunk[i + 1..]);
            if !self.overlong && self.partial.len() + part.len() > MAX_LINE {
                self.overlong = true;
                self.partial = Vec::new();
            }
            if self.overlong {
                if ended {
                    self.end_overlong();
                }
            } else if ended && self.partial.is_empty() {
                self.line(part);
            } else {
                self.partial.extend_from_slice(part);
                if ended {
                    let line = std::mem::take(&mut self.partial);
                    self.line(&line);
                }
            }
        }
    }

    /// The end of a line longer than [`MAX_LINE`]: counted and reported.
    fn end_overlong(&mut self) {
        self.overlong = false;
        self.line_no += 1;
        let m = format!(
            "the line is longer than {MAX_LINE} bytes (a list line is entry,reason,reference,expires): is a newline missing?"
        );
        if self.header_seen {
            self.b.errors.push(Some(self.line_no), None, m);
        } else if self.fatal.is_none() {
            self.fatal = Some(ListErrors::one(Some(self.line_no), m));
        }
    }

    pub fn finish(mut self) -> Result<ParsedList, ListErrors> {
        if self.overlong {
            self.end_overlong();
        }
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(&line);
        }
        if let Some(e) = self.fatal {
            return Err(e);
        }
        if !self.header_seen {
            return Err(ListErrors::one(
                Some(1),
                "the list is empty: it needs at least the header '# callscreen list v1 name=NAME version=N'".into(),
            ));
        }
        self.b.finish()
    }

    fn line(&mut self, raw: &[u8]) {
        self.line_no += 1;
        if self.fatal.is_some() {
            return;
        }
        let line_no = self.line_no;
        let b = &mut self.b;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        // The bulk of a big list: a bare number, taken without the UTF-8
        // check, splitting and trimming (anything else, or a number the
        // guard refuses, goes the general way and gets its error there).
        if self.header_seen
            && b.kind == ListKind::Numbers
            && let Some(digits) = raw.strip_prefix(b"+")
            && let Some(n) = E164::from_digits(digits)
            && digits.len() >= usize::from(b.guard.plan_minimums.min_for_digits(digits))
        {
            b.out.push_number(n.as_u64(), 0);
            return;
        }
        let Ok(line) = std::str::from_utf8(raw) else {
            b.errors
                .push(Some(line_no), None, "the line is not valid UTF-8".into());
            return;
        };
        if !self.header_seen {
            if line.trim().is_empty() {
                return;
            }
            self.header_seen = true;
            match parse_header(line) {
                Ok((name, version)) => {
                    b.out.name = name;
                    b.out.version = version;
                }
                Err(m) => self.fatal = Some(ListErrors::one(Some(line_no), m)),
            }
            return;
        }
        let content = line.split('#').next().unwrap_or_default().trim();
        if content.is_empty() {
            return;
        }
        let mut fields = content.split(',');
        let entry = fields.next().unwrap_or_default();
        let (reason, reference, expires) = (fields.next(), fields.next(), fields.next());
        if fields.next().is_some() {
            b.errors.push(
                Some(line_no),
                None,
                "too many fields: an entry has at most entry,reason,reference,expires".into(),
            );
            return;
        }
        b.add(Some(line_no), None, entry, reason, reference, expires);
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonList {
    name: String,
    version: u64,
    entries: Vec<JsonEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonEntry {
    entry: String,
    reason: Option<String>,
    reference: Option<String>,
    expires: Option<String>,
}

fn parse_json(body: &[u8], kind: ListKind, guard: Guard) -> Result<ParsedList, ListErrors> {
    let doc: JsonList = serde_json::from_slice(body)
        .map_err(|e| ListErrors::one(Some(e.line()), format!("JSON: {e}")))?;
    if !valid_name(&doc.name) {
        return Err(ListErrors::one(
            None,
            format!(
                "name {:?} must be 1 to 64 letters, digits, '.', '_' or '-'",
                doc.name
            ),
        ));
    }
    let mut b = Builder::new(kind, guard);
    b.out.name = doc.name;
    b.out.version = doc.version;
    for (i, e) in doc.entries.iter().enumerate() {
        if e.entry.contains(['#', ',']) {
            b.errors.push(
                None,
                Some(i),
                format!("entry {:?} contains '#' or ','", e.entry),
            );
            continue;
        }
        b.add(
            None,
            Some(i),
            &e.entry,
            e.reason.as_deref(),
            e.reference.as_deref(),
            e.expires.as_deref(),
        );
    }
    b.finish()
}

/// SHA-256 as hex.
pub fn sha256_hex(b: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(b))
}

/// Bytes (a digest) as lowercase hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nums(body: &str) -> Result<ParsedList, ListErrors> {
        parse(body.as_bytes(), ListKind::Numbers, Guard::default())
    }

    fn lines(e: &ListErrors) -> Vec<usize> {
        e.errors.iter().filter_map(|e| e.line).collect()
    }

    #[test]
    fn the_design_example_parses() {
        let l = nums(
            "# callscreen list v1 name=acm-withdrawn version=42\n\
             # one entry a line\n\
             +31201234567                 # one number, E.164\n\
             +3185208*                    # a prefix\n\
             +31852081000-+31852081999    # a range\n\
             +31612345678,tech-support-scam,ACM-2026-0042,2027-06-30\r\n\
             \n",
        )
        .unwrap();
        assert_eq!((l.name.as_str(), l.version), ("acm-withdrawn", 42));
        assert_eq!(l.len(), 4);
        assert_eq!(l.entries[0].0.to_string(), "+3185208*");
        assert_eq!(l.entries[1].0.to_string(), "+31852081000-+31852081999");
        let m = &l.metas[l.number_meta(1) as usize];
        assert_eq!(m.reason.as_deref(), Some("tech-support-scam"));
        assert_eq!(m.reference.as_deref(), Some("ACM-2026-0042"));
        assert_eq!(m.expires, parse_expiry("2027-06-30"));
        assert_eq!(l.number_meta(0), 0, "no fields: the shared empty meta");
    }

    #[test]
    fn every_bad_line_is_reported_with_its_number() {
        let e = nums(
            "# callscreen list v1 name=x version=1\n\
             +31201234567\n\
             0201234567\n\
             +31abc\n\
             +31*\n\
             +316*\n\
             +31201-+312012\n\
             +31209-+31201\n\
             +31200000000-+31299999999\n\
             +31201234567,a,b,2027-02-30\n\
             +31201234567,a,b,c,d\n\
             +0201234567\n\
             +3120123456*\n\
             +1234567890123456\n",
        )
        .unwrap_err();
        assert_eq!(lines(&e), vec![3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14]);
        assert_eq!(e.total, 11);
        let text = e.to_string();
        assert!(
            text.contains("line 3: \"0201234567\" is not in E.164 form"),
            "{text}"
        );
        assert!(
            text.contains("line 5: prefix \"+31*\" would block a whole country"),
            "{text}"
        );
        assert!(text.contains("list_guard.min_prefix_digits"), "{text}");
        assert!(
            text.contains("line 7: range \"+31201-+312012\": both ends"),
            "{text}"
        );
        assert!(
            text.contains("line 8: range \"+31209-+31201\": the first number is above"),
            "{text}"
        );
        assert!(text.contains("line 9: range"), "{text}");
        assert!(
            text.contains("line 10: expiry \"2027-02-30\" is not a date"),
            "{text}"
        );
        assert!(text.contains("line 11: too many fields"), "{text}");
    }

    #[test]
    fn the_guard_minimum_is_configurable() {
        let strict = Guard {
            max_shrink_percent: 50,
            plan_minimums: Default::default(),
            min_prefix_digits: 9,
        };
        let e = parse(
            b"# callscreen list v1 name=x version=1\n+3185208*\n",
            ListKind::Numbers,
            strict,
        )
        .unwrap_err();
        assert_eq!(lines(&e), vec![2]);
        let loose = Guard {
            max_shrink_percent: 50,
            plan_minimums: Default::default(),
            min_prefix_digits: 3,
        };
        assert!(
            parse(
                b"# callscreen list v1 name=x version=1\n+316*\n",
                ListKind::Numbers,
                loose
            )
            .is_ok()
        );
        // A range as wide as a 6-digit prefix is allowed, one more is not.
        assert!(nums("# callscreen list v1 name=x version=1\n+31850000000-+31850099999\n").is_ok());
        assert!(
            nums("# callscreen list v1 name=x version=1\n+31850000000-+31850100000\n").is_err()
        );
    }

    #[test]
    fn header_errors() {
        for (body, needle) in [
            ("", "the list is empty"),
            ("+31201234567\n", "the first line must be the header"),
            ("# callscreen list v1 version=1\n", "name= is missing"),
            ("# callscreen list v1 name=x\n", "version= is missing"),
            (
                "# callscreen list v1 name=x version=-1\n",
                "version \"-1\" must be a whole number",
            ),
            (
                "# callscreen list v1 name=a/b version=1\n",
                "list name \"a/b\"",
            ),
            (
                "# callscreen list v2 name=x version=1\n",
                "the first line must be the header",
            ),
            (
                "# callscreen list v1 name=x version=1 extra\n",
                "unexpected \"extra\"",
            ),
        ] {
            let e = nums(body).unwrap_err();
            assert!(e.to_string().contains(needle), "{body:?}: {e}");
        }
        let e = parse(
            b"# callscreen list v1 name=x version=1\n\xff\xfe\n",
            ListKind::Numbers,
            Guard::default(),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "line 2: the line is not valid UTF-8");
    }

    #[test]
    fn the_json_form() {
        let l = nums(
            r#"{"name": "acm-withdrawn", "version": 42, "entries": [
                {"entry": "+3185208*", "reason": "withdrawn", "expires": "2027-01-01"},
                {"entry": "+31201234567"}]}"#,
        )
        .unwrap();
        assert_eq!(
            (l.name.as_str(), l.version, l.len()),
            ("acm-withdrawn", 42, 2)
        );
        let e = nums(r#"{"name": "x", "version": 1, "entries": [{"entry": "+31*"}, {"entry": "+31201234567"}, {"entry": "12"}]}"#)
            .unwrap_err();
        assert_eq!(
            e.errors.iter().map(|e| e.entry).collect::<Vec<_>>(),
            vec![Some(0), Some(2)]
        );
        assert!(e.to_string().starts_with("entries[0]: "), "{e}");
        let e = nums("{\"name\": \"x\",\n \"version\": \"one\"}").unwrap_err();
        assert_eq!(e.errors[0].line, Some(2), "{e}");
        let e = nums(r#"{"name": "x", "version": 1, "entries": [], "extra": 1}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }

    #[test]
    fn network_lists() {
        let l = parse(
            b"# callscreen list v1 name=bad-nets version=3\n192.0.2.0/24,spam\n2001:db8::/32\n",
            ListKind::Networks,
            Guard::default(),
        )
        .unwrap();
        assert_eq!(l.len(), 2);
        let e = parse(
            b"# callscreen list v1 name=n version=1\n+31201234567\n",
            ListKind::Networks,
            Guard::default(),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("line 2: \"+31201234567\" is not an IP network"),
            "{e}"
        );
    }

    #[test]
    fn the_text_form_can_arrive_in_pieces() {
        let body = b"# callscreen list v1 name=x version=3\r\n+31201234567,a,b\n+3185208*\r\nbad\n+31852081000-+31852081999";
        for cut in 1..body.len() {
            let mut p = TextParser::new(ListKind::Numbers, Guard::default());
            p.feed(&body[..cut]);
            p.feed(&body[cut..]);
            let e = p.finish().unwrap_err();
            assert_eq!(
                e.to_string(),
                "line 4: \"bad\" is not in E.164 form: list entries start with '+' and the country code (e.g. +31201234567)",
                "cut at {cut}"
            );
        }
        let mut p = TextParser::new(ListKind::Numbers, Guard::default());
        for b in b"# callscreen list v1 name=x version=3\n+31201234567\n+3185208*" {
            p.feed(std::slice::from_ref(b));
        }
        assert_eq!(p.finish().unwrap().len(), 2);
    }

    #[test]
    fn a_line_longer_than_the_limit_is_refused_with_its_number_in_any_pieces() {
        let mut body = b"# callscreen list v1 name=x version=3\n+31201234567\n+".to_vec();
        body.extend(std::iter::repeat_n(b'1', 3 * MAX_LINE));
        body.extend_from_slice(b"\n+31201234568\n");
        for piece in [1, 7, 4096, 1 << 20] {
            let mut p = TextParser::new(ListKind::Numbers, Guard::default());
            for c in body.chunks(piece) {
                p.feed(c);
            }
            let e = p.finish().unwrap_err();
            assert_eq!(e.total, 1, "{e}");
            assert!(
                e.to_string()
                    .starts_with("line 3: the line is longer than 4096 bytes"),
                "{e}"
            );
        }
        // Unterminated at the end, and as the header.
        let mut p = TextParser::new(ListKind::Numbers, Guard::default());
        p.feed(&body[..body.len() - 15]);
        assert!(
            p.finish()
                .unwrap_err()
                .to_string()
                .starts_with("line 3: the line is longer")
        );
        let mut p = TextParser::new(ListKind::Numbers, Guard::default());
        p.feed(&[b'#'; 2 * MAX_LINE]);
        assert!(
            p.finish()
                .unwrap_err()
                .to_string()
                .starts_with("line 1: the line is longer")
        );
        // Exactly the limit is a line like any other.
        let mut ok = b"# callscreen list v1 name=x version=3\n+31201234567,".to_vec();
        ok.extend(std::iter::repeat_n(b'r', MAX_LINE - 13));
        ok.push(b'\n');
        assert_eq!(
            parse_text(&ok, ListKind::Numbers, Guard::default()).map(|l| l.len()),
            Ok(1)
        );
    }

    #[test]
    fn reports_are_capped_but_counted() {
        let mut body = String::from("# callscreen list v1 name=x version=1\n");
        for _ in 0..150 {
            body.push_str("bad\n");
        }
        let e = nums(&body).unwrap_err();
        assert_eq!((e.errors.len(), e.total), (100, 150));
        assert!(e.to_string().ends_with("… and 50 more"));
    }

    #[test]
    fn numbers_shorter_than_their_country_allows_are_refused_with_their_line() {
        let mut guard = Guard::default();
        guard.plan_minimums.add("31", 7);
        let body = b"# callscreen list v1 name=x version=1\n+3\n+311234\n+3114012\n+3185208*\n+44123-+44129\n+12345\n";
        let e = parse(body, ListKind::Numbers, guard).unwrap_err();
        let lines: Vec<Option<usize>> = e.errors.iter().map(|x| x.line).collect();
        assert_eq!(lines, vec![Some(2), Some(3), Some(6), Some(7)], "{e}");
        assert!(e.errors[0].message.contains("needs at least 7"), "{e}");
        // The shortest Dutch number (a 14x service number) and a prefix pass.
        let ok = b"# callscreen list v1 name=x version=1\n+3114012\n+3185208*\n+2901234\n";
        assert_eq!(parse(ok, ListKind::Numbers, guard).unwrap().len(), 3);
    }
}
