//! A compact binary snapshot of a number list, stored beside each pushed
//! version so a restart loads ten million numbers without parsing text:
//! the sorted numbers, their metadata, the prefixes and ranges, and the Bloom
//! filter's bits, little-endian, ending in a SHA-256 of everything before it.
//! A snapshot that does not verify is ignored (the text version is parsed
//! instead); it is a cache, never the only copy.

use sha2::{Digest, Sha256};

use super::ef::Raw;
use super::entry::{EntryMeta, Target};
use super::kind::Role;
use super::numbers::{NumberList, Parts};
use super::set::{List, ListBody};
use number::E164;

/// Version 2: the numbers in their Elias–Fano parts (version 1 held them
/// as plain words; such a snapshot is ignored and the text parsed).
const MAGIC: &[u8; 8] = b"CSNAP\x002\n";

fn put_words(out: &mut Vec<u8>, words: &[u64]) {
    out.extend_from_slice(&(words.len() as u64).to_le_bytes());
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
}

fn put_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.extend_from_slice(&u32::MAX.to_le_bytes()),
        Some(s) => {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
}

/// The snapshot of a number list (`None` for other kinds).
pub fn encode(l: &List) -> Option<Vec<u8>> {
    let ListBody::Numbers(nl) = &l.body else {
        return None;
    };
    let (numbers, number_meta, spans, metas, bloom) = nl.parts();
    let mut out = Vec::with_capacity(
        128 + numbers.heap_bytes() + number_meta.len() * 4 + bloom.as_ref().map_or(0, Vec::len),
    );
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&l.version.to_le_bytes());
    put_str(&mut out, Some(&l.name));
    out.push(l.role as u8);
    let raw = numbers.raw();
    for w in [raw.len, raw.min, raw.max, u64::from(raw.l)] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    put_words(&mut out, &raw.low);
    put_words(&mut out, &raw.high);
    out.extend_from_slice(&(number_meta.len() as u64).to_le_bytes());
    for m in number_meta.iter() {
        out.extend_from_slice(&m.to_le_bytes());
    }
    out.extend_from_slice(&(metas.len() as u32).to_le_bytes());
    for m in metas {
        put_str(&mut out, m.reason.as_deref());
        put_str(&mut out, m.reference.as_deref());
        out.extend_from_slice(&m.expires.unwrap_or(u64::MAX).to_le_bytes());
    }
    out.extend_from_slice(&(spans.len() as u64).to_le_bytes());
    for (t, m) in spans {
        match *t {
            Target::Prefix { digits, len } => {
                out.push(1);
                out.extend_from_slice(&digits.to_le_bytes());
                out.extend_from_slice(&u64::from(len).to_le_bytes());
            }
            Target::Range { lo, hi } => {
                out.push(2);
                out.extend_from_slice(&lo.as_u64().to_le_bytes());
                out.extend_from_slice(&hi.as_u64().to_le_bytes());
            }
            Target::Number(_) | Target::Network(_) => return None,
        }
        out.extend_from_slice(&m.to_le_bytes());
    }
    match bloom {
        None => out.extend_from_slice(&u64::MAX.to_le_bytes()),
        Some(b) => {
            out.extend_from_slice(&(b.len() as u64).to_le_bytes());
            out.extend_from_slice(&b);
        }
    }
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    Some(out)
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn words(&mut self) -> Option<Vec<u64>> {
        let n = self.count(8)?;
        Some(
            self.take(n * 8)?
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
        )
    }
    fn str(&mut self) -> Option<Option<String>> {
        match self.u32()? {
            u32::MAX => Some(None),
            n => Some(Some(
                String::from_utf8(self.take(n as usize)?.to_vec()).ok()?,
            )),
        }
    }
    /// A count whose items take at least `each` bytes: never more than is left.
    fn count(&mut self, each: usize) -> Option<usize> {
        let n = usize::try_from(self.u64()?).ok()?;
        (n.checked_mul(each)? <= self.b.len() - self.at).then_some(n)
    }
}

/// Reads a snapshot back; `None` when it does not verify or hold a number list.
pub fn decode(bytes: &[u8]) -> Option<List> {
    let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
    if Sha256::digest(body).as_slice() != sum {
        return None;
    }
    read(body)
}

/// Reads back a snapshot whose SHA-256 as a whole the caller has checked
/// against a digest it trusts (one a sealed head names): the bytes are
/// those [`encode`] made, so its own checksum is not computed again (one
/// pass over ten megabytes less). Everything else is checked as by
/// [`decode`].
pub fn decode_digested(bytes: &[u8]) -> Option<List> {
    read(bytes.get(..bytes.len().checked_sub(32)?)?)
}

/// A snapshot's body (without its checksum) read back.
fn read(body: &[u8]) -> Option<List> {
    if !body.starts_with(MAGIC) {
        return None;
    }
    let mut r = Reader {
        b: body,
        at: MAGIC.len(),
    };
    let version = r.u64()?;
    let name = r.str()??;
    let role = match r.u8()? {
        0 => Role::Blocklist,
        1 => Role::Withdrawn,
        2 => Role::Allowlist,
        4 => Role::FakeHelpdesk,
        5 => Role::DialledWarn,
        6 => Role::RegisteredCli,
        _ => return None,
    };
    let (len, min, max) = (r.u64()?, r.u64()?, r.u64()?);
    let l = u32::try_from(r.u64()?).ok().filter(|&l| l < 64)?;
    let numbers = Raw {
        len,
        min,
        max,
        l,
        low: r.words()?,
        high: r.words()?,
    };
    let m = r.count(4)?;
    let number_meta: Vec<u32> = r
        .take(m * 4)?
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let metas_n = r.u32()? as usize;
    let mut metas = Vec::with_capacity(metas_n.min(1 << 20));
    for _ in 0..metas_n {
        let reason = r.str()?;
        let reference = r.str()?;
        let expires = Some(r.u64()?).filter(|&e| e != u64::MAX);
        metas.push(EntryMeta {
            reason,
            reference,
            expires,
        });
    }
    let s = r.count(21)?;
    let mut span_entries = Vec::with_capacity(s);
    for _ in 0..s {
        let t = match r.u8()? {
            1 => {
                let digits = r.u64()?;
                let len = u8::try_from(r.u64()?).ok()?;
                Target::Prefix { digits, len }
            }
            2 => Target::Range {
                lo: E164::from_u64(r.u64()?)?,
                hi: E164::from_u64(r.u64()?)?,
            },
            _ => return None,
        };
        span_entries.push((t, r.u32()?));
    }
    let bloom = match r.u64()? {
        u64::MAX => None,
        len => Some(r.take(usize::try_from(len).ok()?)?.to_vec()),
    };
    if r.at != body.len() {
        return None;
    }
    let nl = NumberList::from_parts(Parts {
        numbers,
        number_meta,
        span_entries,
        metas,
        bloom,
    })?;
    Some(List {
        name,
        version,
        role,
        body: ListBody::Numbers(nl),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BloomParams, Guard, ListKind, parse};

    #[test]
    fn a_snapshot_reads_back_the_same_list_and_a_damaged_one_is_refused() {
        let mut body = String::from(
            "# callscreen list v1 name=scam version=9\n+3185208*,block,REF,2027-01-01\n+31852081000-+31852081999\n",
        );
        for i in 0..6000 {
            body.push_str(&format!("+316{:08}\n", i * 13));
        }
        body.push_str("+31201234567,tech-support-scam\n");
        let p = parse(body.as_bytes(), ListKind::Numbers, Guard::default()).unwrap();
        let l = List::from_parsed(
            p,
            ListKind::Numbers,
            Role::Withdrawn,
            BloomParams::default(),
        );
        let snap = encode(&l).unwrap();
        let back = decode(&snap).unwrap();
        assert_eq!(
            (back.name.as_str(), back.version, back.role),
            ("scam", 9, Role::Withdrawn)
        );
        assert_eq!(back.stats(0), l.stats(0));
        let entries = |l: &List| l.entries().map(|(t, m)| (t, m.clone())).collect::<Vec<_>>();
        assert_eq!(entries(&back), entries(&l));
        for probe in [
            "+31612345678",
            "+31600000013",
            "+31852081500",
            "+31852089999",
            "+31201234567",
            "+31201234568",
        ] {
            let n = E164::parse_plus(probe).unwrap();
            assert_eq!(
                back.lookup_number(n, 0).hit.map(|h| h.target),
                l.lookup_number(n, 0).hit.map(|h| h.target),
                "{probe}"
            );
        }
        // Any flipped byte, or a cut, fails the checksum.
        let mut bad = snap.clone();
        bad[100] ^= 1;
        assert!(decode(&bad).is_none());
        assert!(decode(&snap[..snap.len() - 1]).is_none());
        assert!(decode(b"").is_none());
        // Read without its checksum (the whole checked by its digest), it
        // is the same list; what is not a snapshot is still refused.
        let digested = decode_digested(&snap).unwrap();
        assert_eq!(entries(&digested), entries(&l));
        assert_eq!((digested.name, digested.version), (back.name, back.version));
        assert!(decode_digested(&snap[..snap.len() - 33]).is_none());
        assert!(decode_digested(&snap[1..]).is_none());
        assert!(decode_digested(b"").is_none());
    }
}
