//! One call's record: what the call path hands over ([`Call`], borrowed,
//! written into the recorder's queue without allocating), its binary form
//! in the queue and the staging log, and the owned [`Record`] read back
//! (from the staging log or a Parquet segment) for `find`, `whatif` and
//! `export`.
//!
//! The record keeps every input the decision used, as the decision read
//! it: the numbers after normalising (so a record is decided again without
//! the peer's number context of that day), the display names, the callee
//! and, for a call with a PASSporT, the To number it is compared with; the
//! peer, source and direction; the diversion, burst, warning, roaming and
//! STIR facts; and the outcome (verdict, code, reasons, list versions,
//! verstat).

use std::fmt::{self, Write as _};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::number::{Cli, E164};
use crate::screen::passport::{DivCheck, Passport, RcdCheck, StirCheck};
use crate::screen::{BurstCount, CallFacts, Identity, Roaming};

/// The longest text field kept (display names, Call-IDs); longer ones are cut.
pub const MAX_TEXT: usize = 512;

/// A screened call, as the call path has it (nothing owned).
pub struct Call<'a> {
    pub time_ms: u64,
    pub call_id: &'a [u8],
    /// A rejected call's reference (the Reason text's `ref`).
    pub reference: Option<&'a dyn fmt::Display>,
    pub peer: &'a str,
    pub facts: &'a CallFacts<'a>,
    /// The To number, for a call with a PASSporT (its `dest` is compared with it).
    pub to: Option<E164>,
    pub verdict: &'a str,
    pub code: u16,
    pub reasons: &'a dyn fmt::Display,
    pub lists: &'a dyn fmt::Display,
    pub verstat: Option<&'a str>,
    pub latency_us: u64,
}

/// A call's record, owned: what `find` answers and `whatif` decides again.
/// The field names are the Parquet columns' and the NOC line's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Unix milliseconds.
    pub time_ms: u64,
    pub call_id: String,
    /// A rejected call's reference.
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    pub peer: String,
    pub source: Option<String>,
    /// `terminating` or `originating`.
    pub direction: String,
    /// The From number: `+31201234567`, `withheld` or `invalid`.
    pub caller: String,
    pub caller_name: Option<String>,
    /// The P-Asserted-Identity number, in the same form.
    pub pai: Option<String>,
    pub pai_name: Option<String>,
    pub callee: Option<String>,
    pub to: Option<String>,
    pub emergency: bool,
    /// A diverting party (Diversion, History-Info) is a home-country number.
    pub diverted: bool,
    /// The PASSporT as read: `unreadable`, or `attest=A orig=+… dest=+… dests=1 iat=… x5u`.
    pub passport: Option<String>,
    /// What verifying it gave (`StirCheck::name`); where the call's
    /// diversion PASSporTs decide something, then ` div=` and what they
    /// proved (`DivCheck::name`): `signed div=verified:domestic`.
    pub stir: Option<String>,
    /// A warned subscriber's insisting call.
    pub insisted: bool,
    pub burst_number: u32,
    pub burst_block: u32,
    pub roaming: Option<String>,
    pub verdict: String,
    pub code: u16,
    pub reasons: String,
    pub lists: String,
    pub verstat: Option<String>,
    pub latency_us: u32,
}

/// Writes `c` at the end of `out` (a length, then the fields); allocates
/// only when `out` must grow.
pub fn encode(out: &mut Vec<u8>, c: &Call<'_>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    let f = c.facts;
    out.extend_from_slice(&c.time_ms.to_le_bytes());
    bytes(out, Some(c.call_id));
    display(out, c.reference);
    bytes(out, Some(c.peer.as_bytes()));
    match f.source {
        Some(std::net::IpAddr::V4(ip)) => ipv4(out, ip.octets()),
        Some(ip) => display(out, Some(&ip)),
        None => bytes(out, None),
    }
    cli(out, Some(f.from));
    bytes(out, f.from_display.map(str::as_bytes));
    cli(out, f.pai);
    bytes(out, f.pai_display.map(str::as_bytes));
    number(out, f.callee);
    number(out, c.to);
    let flags = u8::from(f.originating)
        | u8::from(f.emergency) << 1
        | u8::from(f.diverted_domestic) << 2
        | u8::from(f.insisted) << 3;
    out.push(flags);
    match &f.identity {
        Identity::Absent => bytes(out, None),
        Identity::Unreadable => bytes(out, Some(b"unreadable")),
        Identity::Present(p) => display(out, Some(&PassportText(p))),
    }
    match (f.div, f.rcd) {
        (None, None) => bytes(out, f.stir.map(|s| s.name().as_bytes())),
        _ => display(out, Some(&StirText::of(f))),
    }
    out.extend_from_slice(&f.burst.number.to_le_bytes());
    out.extend_from_slice(&f.burst.block.to_le_bytes());
    bytes(out, f.roaming.map(|r| r.name().as_bytes()));
    bytes(out, Some(c.verdict.as_bytes()));
    out.extend_from_slice(&c.code.to_le_bytes());
    display(out, Some(c.reasons));
    display(out, Some(c.lists));
    bytes(out, c.verstat.map(str::as_bytes));
    let lat = u32::try_from(c.latency_us).unwrap_or(u32::MAX);
    out.extend_from_slice(&lat.to_le_bytes());
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// Writes an owned record in the same binary form as [`encode`] (tests,
/// benchmarks: a staging log made from records).
pub fn encode_record(out: &mut Vec<u8>, r: &Record) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    let t = |out: &mut Vec<u8>, v: Option<&str>| bytes(out, v.map(str::as_bytes));
    out.extend_from_slice(&r.time_ms.to_le_bytes());
    t(out, Some(&r.call_id));
    t(out, r.reference.as_deref());
    t(out, Some(&r.peer));
    t(out, r.source.as_deref());
    t(out, Some(&r.caller));
    t(out, r.caller_name.as_deref());
    t(out, r.pai.as_deref());
    t(out, r.pai_name.as_deref());
    t(out, r.callee.as_deref());
    t(out, r.to.as_deref());
    out.push(
        u8::from(r.direction == "originating")
            | u8::from(r.emergency) << 1
            | u8::from(r.diverted) << 2
            | u8::from(r.insisted) << 3,
    );
    t(out, r.passport.as_deref());
    t(out, r.stir.as_deref());
    out.extend_from_slice(&r.burst_number.to_le_bytes());
    out.extend_from_slice(&r.burst_block.to_le_bytes());
    t(out, r.roaming.as_deref());
    t(out, Some(&r.verdict));
    out.extend_from_slice(&r.code.to_le_bytes());
    t(out, Some(&r.reasons));
    t(out, Some(&r.lists));
    t(out, r.verstat.as_deref());
    out.extend_from_slice(&r.latency_us.to_le_bytes());
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// A missing text field.
const NONE: u16 = u16::MAX;

fn bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => out.extend_from_slice(&NONE.to_le_bytes()),
        Some(b) => {
            let b = &b[..b.len().min(MAX_TEXT)];
            out.extend_from_slice(&(b.len() as u16).to_le_bytes());
            out.extend_from_slice(b);
        }
    }
}

/// A field written through `Display` (no allocation: straight into `out`).
fn display(out: &mut Vec<u8>, d: Option<&dyn fmt::Display>) {
    let Some(d) = d else {
        return bytes(out, None);
    };
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    let _ = write!(Text(out), "{d}");
    let len = (out.len() - at - 2).min(MAX_TEXT);
    out.truncate(at + 2 + len);
    out[at..at + 2].copy_from_slice(&(len as u16).to_le_bytes());
}

struct Text<'a>(&'a mut Vec<u8>);

impl fmt::Write for Text<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn cli(out: &mut Vec<u8>, c: Option<Cli>) {
    match c {
        None => bytes(out, None),
        Some(Cli::Number(n)) => number(out, Some(n)),
        Some(Cli::Withheld) => bytes(out, Some(b"withheld")),
        Some(Cli::Invalid) => bytes(out, Some(b"invalid")),
    }
}

/// A number as `+` and its digits (as its `Display`, without `fmt`: this
/// is on the call path).
fn number(out: &mut Vec<u8>, n: Option<E164>) {
    let Some(n) = n else {
        return bytes(out, None);
    };
    let mut buf = [0u8; 15];
    let len = n.write_digits(&mut buf);
    out.extend_from_slice(&(len as u16 + 1).to_le_bytes());
    out.push(b'+');
    out.extend_from_slice(&buf[..len]);
}

/// An IPv4 address in dotted decimal (as its `Display`, without `fmt`).
fn ipv4(out: &mut Vec<u8>, o: [u8; 4]) {
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    for (i, b) in o.into_iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        if b >= 100 {
            out.push(b'0' + b / 100);
        }
        if b >= 10 {
            out.push(b'0' + b / 10 % 10);
        }
        out.push(b'0' + b % 10);
    }
    let len = (out.len() - at - 2) as u16;
    out[at..at + 2].copy_from_slice(&len.to_le_bytes());
}

/// What verification gave a call with `div` PASSporTs that decide
/// something or with Rich Call Data: the SHAKEN outcome's name, then
/// `div=` and what they proved, `rcd=` and what its RCD came to, and last
/// `nam=` and its verified display name as it is (to the end of the text).
#[derive(Debug, PartialEq, Eq)]
struct StirText<'a> {
    stir: Option<StirCheck>,
    div: Option<DivCheck>,
    rcd: Option<RcdCheck>,
    nam: Option<&'a str>,
}

impl<'a> StirText<'a> {
    fn of(f: &CallFacts<'a>) -> StirText<'a> {
        StirText {
            stir: f.stir,
            div: f.div,
            rcd: f.rcd,
            nam: f.rcd_name,
        }
    }

    /// Reads the text back (or a SHAKEN outcome's name alone).
    fn parse(s: &'a str) -> Option<StirText<'a>> {
        let mut t = StirText {
            stir: None,
            div: None,
            rcd: None,
            nam: None,
        };
        if let Some(n) = s.strip_prefix("nam=") {
            t.nam = Some(n);
            return Some(t);
        }
        let words = match s.split_once(" nam=") {
            Some((w, n)) => {
                t.nam = Some(n);
                w
            }
            None => s,
        };
        for w in words.split(' ') {
            if let Some(d) = w.strip_prefix("div=") {
                t.div = Some(DivCheck::from_name(d)?);
            } else if let Some(r) = w.strip_prefix("rcd=") {
                t.rcd = Some(RcdCheck::from_name(r)?);
            } else {
                t.stir = Some(StirCheck::from_name(w)?);
            }
        }
        Some(t)
    }
}

impl fmt::Display for StirText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        let mut word = |f: &mut fmt::Formatter<'_>, w: fmt::Arguments<'_>| {
            let r = write!(f, "{sep}{w}");
            sep = " ";
            r
        };
        if let Some(s) = self.stir {
            word(f, format_args!("{}", s.name()))?;
        }
        if let Some(d) = self.div {
            word(f, format_args!("div={}", d.name()))?;
        }
        if let Some(r) = self.rcd {
            word(f, format_args!("rcd={}", r.name()))?;
        }
        if let Some(n) = self.nam {
            word(f, format_args!("nam={n}"))?;
        }
        Ok(())
    }
}

/// A PASSporT's claims as the record keeps them.
struct PassportText<'a>(&'a Passport);

impl fmt::Display for PassportText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.0;
        let mut sep = "";
        let mut item = |f: &mut fmt::Formatter<'_>, d: &dyn fmt::Display| {
            let r = write!(f, "{sep}{d}");
            sep = " ";
            r
        };
        if let Some(a) = p.attest {
            item(f, &format_args!("attest={}", char::from(a)))?;
        }
        if let Some(o) = p.orig {
            item(f, &format_args!("orig={o}"))?;
        }
        if let Some(d) = p.dest {
            item(f, &format_args!("dest={d}"))?;
        }
        item(f, &format_args!("dests={}", p.dests))?;
        if let Some(i) = p.iat {
            item(f, &format_args!("iat={i}"))?;
        }
        if p.x5u {
            item(f, &"x5u")?;
        }
        if p.compact {
            item(f, &"compact")?;
        }
        Ok(())
    }
}

/// Reads a PASSporT back from its record text.
pub fn parse_passport(s: &str) -> Option<Identity> {
    if s == "unreadable" {
        return Some(Identity::Unreadable);
    }
    let mut p = Passport::default();
    for w in s.split(' ') {
        match w.split_once('=') {
            Some(("attest", a)) => p.attest = a.bytes().next(),
            Some(("orig", n)) => p.orig = Some(E164::parse_plus(n)?),
            Some(("dest", n)) => p.dest = Some(E164::parse_plus(n)?),
            Some(("dests", n)) => p.dests = n.parse().ok()?,
            Some(("iat", n)) => p.iat = Some(n.parse().ok()?),
            None if w == "x5u" => p.x5u = true,
            None if w == "compact" => p.compact = true,
            _ => return None,
        }
    }
    Some(Identity::Present(p))
}

/// Reads a caller ID back from its record text.
pub fn parse_cli(s: &str) -> Option<Cli> {
    match s {
        "withheld" => Some(Cli::Withheld),
        "invalid" => Some(Cli::Invalid),
        n => E164::parse_plus(n).map(Cli::Number),
    }
}

/// A record the binary form could not be read as (a torn tail).
#[derive(Debug)]
pub struct Torn;

/// Reads the records in `buf` (as [`encode`] wrote them, one after
/// another); the count of bytes read whole, and the records. A torn or
/// unreadable tail stops the reading: what follows it is not trusted.
pub fn decode_all(buf: &[u8], mut each: impl FnMut(Record)) -> (usize, Result<(), Torn>) {
    let mut at = 0;
    while at < buf.len() {
        let Some(len) = buf
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        else {
            return (at, Err(Torn));
        };
        let Some(body) = buf.get(at + 4..at + 4 + len) else {
            return (at, Err(Torn));
        };
        match decode(body) {
            Some(r) => each(r),
            None => return (at, Err(Torn)),
        }
        at += 4 + len;
    }
    (at, Ok(()))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (a, b) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        let mut a = [0; 8];
        a.copy_from_slice(b);
        Some(u64::from_le_bytes(a))
    }
    /// `Some(None)` for a missing field; `None` for a broken one.
    fn text(&mut self) -> Option<Option<String>> {
        let n = self.u16()?;
        if n == NONE {
            return Some(None);
        }
        let b = self.take(usize::from(n))?;
        Some(Some(String::from_utf8_lossy(b).into_owned()))
    }
    fn need(&mut self) -> Option<String> {
        self.text()?
    }
}

fn decode(body: &[u8]) -> Option<Record> {
    let mut r = Reader(body);
    let time_ms = r.u64()?;
    let call_id = r.need()?;
    let reference = r.text()?;
    let peer = r.need()?;
    let source = r.text()?;
    let caller = r.need()?;
    let caller_name = r.text()?;
    let pai = r.text()?;
    let pai_name = r.text()?;
    let callee = r.text()?;
    let to = r.text()?;
    let flags = r.u8()?;
    let passport = r.text()?;
    let stir = r.text()?;
    let burst_number = r.u32()?;
    let burst_block = r.u32()?;
    let roaming = r.text()?;
    let verdict = r.need()?;
    let code = r.u16()?;
    let reasons = r.need()?;
    let lists = r.need()?;
    let verstat = r.text()?;
    let latency_us = r.u32()?;
    if !r.0.is_empty() {
        return None;
    }
    Some(Record {
        time_ms,
        call_id,
        reference,
        peer,
        source,
        direction: direction(flags & 1 != 0).to_string(),
        caller,
        caller_name,
        pai,
        pai_name,
        callee,
        to,
        emergency: flags & 2 != 0,
        diverted: flags & 4 != 0,
        passport,
        stir,
        insisted: flags & 8 != 0,
        burst_number,
        burst_block,
        roaming,
        verdict,
        code,
        reasons,
        lists,
        verstat,
        latency_us,
    })
}

/// What a segment is written from: rows, each field by its column's
/// index in [`SCHEMA`](super::file::SCHEMA) (records read back, or a staging log's bytes).
pub trait Rows {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn time_ms(&self, k: usize) -> u64;
    /// A text column's value (`None`: null).
    fn text(&self, k: usize, col: usize) -> Option<&[u8]>;
    /// `emergency` (12), `diverted` (13), `insisted` (16).
    fn flag(&self, k: usize, col: usize) -> bool;
    /// `burst_number` (17), `burst_block` (18), `code` (21), `latency_us` (25).
    fn int(&self, k: usize, col: usize) -> i32;
}

impl Rows for [Record] {
    fn len(&self) -> usize {
        <[Record]>::len(self)
    }
    fn time_ms(&self, k: usize) -> u64 {
        self[k].time_ms
    }
    fn text(&self, k: usize, col: usize) -> Option<&[u8]> {
        let r = &self[k];
        let s: Option<&str> = match col {
            1 => Some(&r.call_id),
            2 => r.reference.as_deref(),
            3 => Some(&r.peer),
            4 => r.source.as_deref(),
            5 => Some(&r.direction),
            6 => Some(&r.caller),
            7 => r.caller_name.as_deref(),
            8 => r.pai.as_deref(),
            9 => r.pai_name.as_deref(),
            10 => r.callee.as_deref(),
            11 => r.to.as_deref(),
            14 => r.passport.as_deref(),
            15 => r.stir.as_deref(),
            19 => r.roaming.as_deref(),
            20 => Some(&r.verdict),
            22 => Some(&r.reasons),
            23 => Some(&r.lists),
            24 => r.verstat.as_deref(),
            _ => None,
        };
        s.map(str::as_bytes)
    }
    fn flag(&self, k: usize, col: usize) -> bool {
        let r = &self[k];
        match col {
            12 => r.emergency,
            13 => r.diverted,
            _ => r.insisted,
        }
    }
    fn int(&self, k: usize, col: usize) -> i32 {
        let r = &self[k];
        match col {
            17 => r.burst_number as i32,
            18 => r.burst_block as i32,
            21 => i32::from(r.code),
            _ => r.latency_us as i32,
        }
    }
}

/// A staging log read for sealing: its bytes and where each record's
/// fields are in them (no value copied out), in time order.
pub struct Stage {
    buf: Vec<u8>,
    rows: Vec<Spans>,
}

/// One record's fields in a staging log: the text fields' byte ranges (in
/// the order [`encode`] writes them), and the numbers.
#[derive(Clone, Copy)]
struct Spans {
    time_ms: u64,
    text: [Option<(u32, u32)>; 17],
    flags: u8,
    burst: [u32; 2],
    code: u16,
    latency_us: u32,
}

/// [`SCHEMA`](super::file::SCHEMA)'s text columns in the order [`encode`]
/// writes them (`direction`, 5, comes from the flags).
const STAGE_TEXT: [usize; 17] = [1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 14, 15, 19, 20, 22, 23, 24];

/// [`STAGE_TEXT`] inverted: a column's slot.
const STAGE_SLOT: [Option<u8>; 26] = {
    let mut t = [None; 26];
    let mut i = 0;
    while i < STAGE_TEXT.len() {
        t[STAGE_TEXT[i]] = Some(i as u8);
        i += 1;
    }
    t
};

impl Stage {
    /// Reads `buf`; whether it ended in a torn record (dropped).
    pub fn parse(buf: Vec<u8>) -> (Stage, bool) {
        let mut rows = Vec::new();
        let mut at = 0;
        let mut torn = false;
        while at < buf.len() {
            match spans(&buf, at) {
                Some((r, next)) => {
                    rows.push(r);
                    at = next;
                }
                None => {
                    torn = true;
                    break;
                }
            }
        }
        rows.sort_by_key(|r| r.time_ms);
        (Stage { buf, rows }, torn)
    }

    /// The first and last call's times.
    pub fn span_ms(&self) -> Option<(u64, u64)> {
        Some((self.rows.first()?.time_ms, self.rows.last()?.time_ms))
    }
}

/// The record at `at`: its fields' places, and where the next one starts.
fn spans(buf: &[u8], at: usize) -> Option<(Spans, usize)> {
    let len = u32::from_le_bytes(buf.get(at..at + 4)?.try_into().ok()?) as usize;
    let end = at.checked_add(4 + len)?;
    let body = buf.get(at + 4..end)?;
    let base = at + 4;
    let mut r = Reader(body);
    let mut text = [None; 17];
    let mut slot = 0;
    let mut t = |r: &mut Reader<'_>, text: &mut [Option<(u32, u32)>; 17]| -> Option<()> {
        let n = r.u16()?;
        if n != NONE {
            let from = base + (body.len() - r.0.len());
            r.take(usize::from(n))?;
            text[slot] = Some((from as u32, (from + usize::from(n)) as u32));
        }
        slot += 1;
        Some(())
    };
    let time_ms = r.u64()?;
    for _ in 0..10 {
        // call_id, ref, peer, source, caller, caller_name, pai, pai_name, callee, to
        t(&mut r, &mut text)?;
    }
    let flags = r.u8()?;
    t(&mut r, &mut text)?; // passport
    t(&mut r, &mut text)?; // stir
    let burst = [r.u32()?, r.u32()?];
    t(&mut r, &mut text)?; // roaming
    t(&mut r, &mut text)?; // verdict
    let code = r.u16()?;
    for _ in 0..3 {
        // reasons, lists, verstat
        t(&mut r, &mut text)?;
    }
    let latency_us = r.u32()?;
    if !r.0.is_empty() {
        return None;
    }
    Some((
        Spans {
            time_ms,
            text,
            flags,
            burst,
            code,
            latency_us,
        },
        end,
    ))
}

impl Rows for Stage {
    fn len(&self) -> usize {
        self.rows.len()
    }
    fn time_ms(&self, k: usize) -> u64 {
        self.rows[k].time_ms
    }
    fn text(&self, k: usize, col: usize) -> Option<&[u8]> {
        let r = &self.rows[k];
        if col == 5 {
            return Some(direction(r.flags & 1 != 0).as_bytes());
        }
        let slot = *STAGE_SLOT.get(col)?;
        let (a, b) = r.text[usize::from(slot?)]?;
        self.buf.get(a as usize..b as usize)
    }
    fn flag(&self, k: usize, col: usize) -> bool {
        let f = self.rows[k].flags;
        match col {
            12 => f & 2 != 0,
            13 => f & 4 != 0,
            _ => f & 8 != 0,
        }
    }
    fn int(&self, k: usize, col: usize) -> i32 {
        let r = &self.rows[k];
        match col {
            17 => r.burst[0] as i32,
            18 => r.burst[1] as i32,
            21 => i32::from(r.code),
            _ => r.latency_us as i32,
        }
    }
}

pub fn direction(originating: bool) -> &'static str {
    if originating {
        "originating"
    } else {
        "terminating"
    }
}

/// Why a record cannot be decided again.
#[derive(Debug, PartialEq, Eq)]
pub enum Unreadable {
    /// Its peer is not in the configuration any more.
    Peer,
    /// A field that is not what callscreen writes (a hand-edited file).
    Field(&'static str),
}

/// What a decision read, borrowed (from a [`Record`], or from a row
/// group's columns without making records): enough to decide the call
/// again, and to name it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Inputs<'a> {
    pub time_ms: u64,
    pub call_id: &'a str,
    pub reference: Option<&'a str>,
    pub peer: &'a str,
    pub source: Option<&'a str>,
    pub originating: bool,
    pub caller: &'a str,
    pub caller_name: Option<&'a str>,
    pub pai: Option<&'a str>,
    pub pai_name: Option<&'a str>,
    pub callee: Option<&'a str>,
    pub to: Option<&'a str>,
    pub emergency: bool,
    pub diverted: bool,
    pub passport: Option<&'a str>,
    pub stir: Option<&'a str>,
    pub insisted: bool,
    pub burst_number: u32,
    pub burst_block: u32,
    pub roaming: Option<&'a str>,
    /// The verdict recorded.
    pub verdict: &'a str,
}

impl<'a> Inputs<'a> {
    /// The facts the decision read, rebuilt, for `peer` (the record's
    /// peer, found by name in today's policy).
    pub fn facts(&self, peer: crate::screen::PeerId) -> Result<CallFacts<'a>, Unreadable> {
        let num = |s: Option<&str>, what| match s {
            None => Ok(None),
            Some(s) => E164::parse_plus(s).map(Some).ok_or(Unreadable::Field(what)),
        };
        let source: Option<IpAddr> = match self.source {
            None => None,
            Some(s) => Some(s.parse().map_err(|_| Unreadable::Field("source"))?),
        };
        let identity = match self.passport {
            None => Identity::Absent,
            Some(p) => parse_passport(p).ok_or(Unreadable::Field("passport"))?,
        };
        let verified = match self.stir {
            None => StirText {
                stir: None,
                div: None,
                rcd: None,
                nam: None,
            },
            Some(s) => StirText::parse(s).ok_or(Unreadable::Field("stir"))?,
        };
        let roaming = match self.roaming {
            None => None,
            Some(s) => Some(Roaming::from_name(s).ok_or(Unreadable::Field("roaming"))?),
        };
        let pai = match self.pai {
            None => None,
            Some(s) => Some(parse_cli(s).ok_or(Unreadable::Field("pai"))?),
        };
        Ok(CallFacts {
            peer,
            from: parse_cli(self.caller).ok_or(Unreadable::Field("caller"))?,
            from_raw: self.caller,
            from_display: self.caller_name,
            pai,
            pai_display: self.pai_name,
            callee: num(self.callee, "callee")?,
            callee_raw: self.callee.unwrap_or_default(),
            emergency: self.emergency,
            source,
            now: self.time_ms / 1000,
            diverted_domestic: self.diverted,
            identity,
            stir: verified.stir,
            div: verified.div,
            rcd: verified.rcd,
            rcd_name: verified.nam,
            to_raw: self.to,
            originating: self.originating,
            insisted: self.insisted,
            burst: BurstCount {
                number: self.burst_number,
                block: self.burst_block,
            },
            roaming,
        })
    }
}

impl Record {
    pub fn inputs(&self) -> Inputs<'_> {
        Inputs {
            time_ms: self.time_ms,
            call_id: &self.call_id,
            reference: self.reference.as_deref(),
            peer: &self.peer,
            source: self.source.as_deref(),
            originating: self.direction == "originating",
            caller: &self.caller,
            caller_name: self.caller_name.as_deref(),
            pai: self.pai.as_deref(),
            pai_name: self.pai_name.as_deref(),
            callee: self.callee.as_deref(),
            to: self.to.as_deref(),
            emergency: self.emergency,
            diverted: self.diverted,
            passport: self.passport.as_deref(),
            stir: self.stir.as_deref(),
            insisted: self.insisted,
            burst_number: self.burst_number,
            burst_block: self.burst_block,
            roaming: self.roaming.as_deref(),
            verdict: &self.verdict,
        }
    }
}

#[cfg(test)]
impl Record {
    /// A clean call's record with what every record has (unit tests).
    pub(crate) fn sample(time_ms: u64, call_id: String) -> Record {
        Record {
            time_ms,
            call_id,
            peer: "p".into(),
            direction: "terminating".into(),
            caller: "+31201234567".into(),
            verdict: "allow".into(),
            reasons: "-".into(),
            lists: "-".into(),
            ..Record::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A field's text as `bytes` writes it: two bytes of length, then it.
    fn field(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        let len = u16::from_le_bytes([out[0], out[1]]) as usize;
        assert_eq!(out.len(), len + 2);
        String::from_utf8(out[2..].to_vec()).expect("text")
    }

    #[test]
    fn numbers_and_addresses_are_written_as_their_display_says() {
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.100.9",
            "192.168.1.20",
            "127.0.0.1",
        ] {
            let a: std::net::Ipv4Addr = ip.parse().expect("an address");
            assert_eq!(field(|o| ipv4(o, a.octets())), a.to_string());
        }
        for n in [
            "1",
            "+31201234567",
            "+442079460000",
            "999999999999999",
            "+100000000000000",
        ] {
            let e = E164::from_digits(n.trim_start_matches('+').as_bytes()).expect("a number");
            assert_eq!(field(|o| number(o, Some(e))), e.to_string());
        }
    }

    /// What verification gave, with and without `div` PASSporTs and Rich
    /// Call Data, is read back as written (a display name with spaces and
    /// `=` included); a word callscreen does not write is refused.
    #[test]
    fn a_calls_stir_div_and_rcd_outcomes_are_read_back() {
        let signed = Some(StirCheck::Signed);
        let names = [None, Some("Acme Bank"), Some("x nam=y div=z")];
        for stir in [None, signed] {
            for div in DivCheck::ALL.map(Some).into_iter().chain([None]) {
                for rcd in RcdCheck::ALL.map(Some).into_iter().chain([None]) {
                    for nam in names {
                        if (stir, div, rcd, nam) == (None, None, None, None) {
                            continue;
                        }
                        let t = StirText {
                            stir,
                            div,
                            rcd,
                            nam,
                        };
                        let text = field(|o| display(o, Some(&t)));
                        assert_eq!(StirText::parse(&text), Some(t), "{text}");
                    }
                }
            }
        }
        let t = StirText {
            stir: signed,
            div: Some(DivCheck::Verified { domestic: true }),
            rcd: Some(RcdCheck::Verified),
            nam: Some("Acme Bank"),
        };
        assert_eq!(
            field(|o| display(o, Some(&t))),
            "signed div=verified:domestic rcd=verified nam=Acme Bank"
        );
        assert!(StirText::parse("signed div=maybe").is_none());
        assert!(StirText::parse("signed div").is_none());
        assert!(StirText::parse("signed rcd=perhaps").is_none());
    }
}
