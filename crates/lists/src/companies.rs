//! Protected companies (DESIGN.md "Protected companies"): per company its
//! name, brand names and aliases, the numbers and blocks it calls from, its
//! inbound-only numbers (never a legitimate caller ID), and the peers allowed
//! to originate calls for it. TOML (or the same shape as JSON):
//!
//! ```toml
//! name = "protected-companies"
//! version = 3
//!
//! [[company]]
//! name = "ING"
//! brands = ["ING", "ING Bank"]
//! numbers = ["+3120228*"]            # entries as in list files
//! inbound_only = ["+31202288888"]
//! allowed_peers = ["kpn-interconnect"]
//! ```
//!
//! Parsed whole or refused whole, every bad entry named with its line
//! (TOML) or its company index (JSON).

use serde::Deserialize;
use toml::Spanned;

use super::brand::BrandMatcher;
use super::entry::{EntryMeta, Target};
use super::format::{Guard, ListErrors, parse_target, valid_name};
use super::kind::ListKind;
use super::numbers::{BloomParams, Hit, NumberList};
use number::E164;

/// One protected company.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Company {
    pub name: String,
    pub brands: Vec<String>,
    /// Peer names allowed to originate for it; empty: any peer.
    pub allowed_peers: Vec<String>,
}

/// A parsed companies file.
#[derive(Clone, Debug, Default)]
pub struct ParsedCompanies {
    pub name: String,
    pub version: u64,
    pub companies: Vec<Company>,
    /// (entry, company index) for numbers it calls from.
    pub numbers: Vec<(Target, usize)>,
    /// (entry, company index) for inbound-only numbers.
    pub inbound_only: Vec<(Target, usize)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw<S> {
    name: String,
    version: u64,
    #[serde(default = "Vec::new")]
    company: Vec<RawCompany<S>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCompany<S> {
    name: String,
    #[serde(default = "Vec::new")]
    brands: Vec<String>,
    #[serde(default = "Vec::new")]
    numbers: Vec<S>,
    #[serde(default = "Vec::new")]
    inbound_only: Vec<S>,
    #[serde(default = "Vec::new")]
    allowed_peers: Vec<String>,
}

/// An entry string, with its line where the format has lines.
trait Located {
    fn text(&self) -> &str;
    fn line(&self, src: &str) -> Option<usize>;
}

impl Located for Spanned<String> {
    fn text(&self) -> &str {
        self.get_ref()
    }
    fn line(&self, src: &str) -> Option<usize> {
        Some(
            src.as_bytes()[..self.span().start.min(src.len())]
                .iter()
                .filter(|&&c| c == b'\n')
                .count()
                + 1,
        )
    }
}

impl Located for String {
    fn text(&self) -> &str {
        self
    }
    fn line(&self, _: &str) -> Option<usize> {
        None
    }
}

/// Parses a companies file (TOML, or JSON when it starts with `{`).
pub fn parse(body: &[u8], guard: Guard) -> Result<ParsedCompanies, ListErrors> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ListErrors::single(None, format!("the file is not UTF-8: {e}")))?;
    if text.trim_start().starts_with('{') {
        let raw: Raw<String> = serde_json::from_str(text)
            .map_err(|e| ListErrors::single(Some(e.line()), format!("JSON: {e}")))?;
        build(raw, text, guard)
    } else {
        let raw: Raw<Spanned<String>> = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| {
                text.as_bytes()[..s.start.min(text.len())]
                    .iter()
                    .filter(|&&c| c == b'\n')
                    .count()
                    + 1
            });
            ListErrors::single(line, e.message().trim_end().to_string())
        })?;
        build(raw, text, guard)
    }
}

fn build<S: Located>(raw: Raw<S>, src: &str, guard: Guard) -> Result<ParsedCompanies, ListErrors> {
    let mut errors = ListErrors::default();
    if !valid_name(&raw.name) {
        errors.add(
            None,
            None,
            format!(
                "name {:?} must be 1 to 64 letters, digits, '.', '_' or '-'",
                raw.name
            ),
        );
    }
    let mut out = ParsedCompanies {
        name: raw.name,
        version: raw.version,
        ..ParsedCompanies::default()
    };
    for (i, c) in raw.company.into_iter().enumerate() {
        let json_ix = |s: &S| if s.line(src).is_none() { Some(i) } else { None };
        if c.name.trim().is_empty() {
            errors.add(None, Some(i), "a company needs a name".into());
        }
        if out.companies.iter().any(|o| o.name == c.name) {
            errors.add(
                None,
                Some(i),
                format!("company {:?} is listed twice", c.name),
            );
        }
        for (field, list, dest) in [
            ("numbers", &c.numbers, &mut out.numbers),
            ("inbound_only", &c.inbound_only, &mut out.inbound_only),
        ] {
            for e in list {
                match parse_target(e.text(), ListKind::Numbers, guard) {
                    Ok(t) => dest.push((t, i)),
                    Err(m) => errors.add(
                        e.line(src),
                        json_ix(e),
                        format!("company {:?} {field}: {m}", c.name),
                    ),
                }
            }
        }
        out.companies.push(Company {
            name: c.name,
            brands: c.brands,
            allowed_peers: c.allowed_peers,
        });
    }
    if errors.total > 0 {
        Err(errors)
    } else {
        Ok(out)
    }
}

/// The companies of a list, with their numbers and brands ready to match.
#[derive(Debug)]
pub struct CompanyList {
    pub companies: Vec<Company>,
    /// Outbound and inbound-only numbers in one store (one lookup a call);
    /// an entry's meta names its company and, for inbound-only ones, says so.
    numbers: NumberList,
    brands: BrandMatcher,
    /// Which leading four digits any entry can start with: most callers are
    /// no protected company's, and this answers that without a lookup.
    leading4: Leading4,
}

/// A set of 4-digit number beginnings (10 000 bits), or "any" when an entry
/// is shorter than four digits.
#[derive(Debug)]
struct Leading4 {
    bits: Vec<u64>,
    any: bool,
}

impl Leading4 {
    fn build<'a>(targets: impl Iterator<Item = &'a Target>) -> Leading4 {
        let mut l = Leading4 {
            bits: vec![0; 10_000usize.div_ceil(64)],
            any: false,
        };
        let mut set = |k: u64| l.bits[(k / 64) as usize] |= 1 << (k % 64);
        for t in targets {
            match *t {
                Target::Number(n) if n.len() >= 4 => set(n.leading(4)),
                Target::Prefix { digits, len } if len >= 4 => {
                    set(digits / number::e164::POW10[(len - 4) as usize])
                }
                Target::Range { lo, hi } if lo.len() >= 4 => {
                    (lo.leading(4)..=hi.leading(4)).for_each(&mut set)
                }
                _ => l.any = true,
            }
        }
        l
    }

    #[inline]
    fn may_hold(&self, n: E164) -> bool {
        if self.any || n.len() < 4 {
            return true;
        }
        let k = n.leading(4);
        self.bits[(k / 64) as usize] & (1 << (k % 64)) != 0
    }
}

/// The `reference` of an inbound-only entry's meta.
const INBOUND_ONLY: &str = "inbound-only";

/// A protected number that matched.
#[derive(Clone, Copy, Debug)]
pub struct CompanyHit<'a> {
    pub company: usize,
    pub inbound_only: bool,
    pub hit: Hit<'a>,
}

impl CompanyList {
    pub fn build(p: ParsedCompanies) -> CompanyList {
        // Company i's outbound entries have meta 2i + 1, its inbound-only
        // ones 2i + 2; the more specific entry wins where they overlap.
        let mut metas = vec![EntryMeta::default()];
        for c in &p.companies {
            metas.push(EntryMeta {
                reason: Some(c.name.clone()),
                ..EntryMeta::default()
            });
            metas.push(EntryMeta {
                reason: Some(c.name.clone()),
                reference: Some(INBOUND_ONLY.into()),
                expires: None,
            });
        }
        let mut entries: Vec<(Target, u32)> = p
            .numbers
            .into_iter()
            .map(|(t, c)| (t, 2 * c as u32 + 1))
            .collect();
        entries.extend(
            p.inbound_only
                .into_iter()
                .map(|(t, c)| (t, 2 * c as u32 + 2)),
        );
        let brands = BrandMatcher::new(p.companies.iter().enumerate().flat_map(|(i, c)| {
            c.brands
                .iter()
                .chain(std::iter::once(&c.name))
                .map(move |b| (b.as_str(), i as u32))
        }));
        let leading4 = Leading4::build(entries.iter().map(|e| &e.0));
        CompanyList {
            numbers: NumberList::build(entries, metas, BloomParams::default()),
            companies: p.companies,
            brands,
            leading4,
        }
    }

    fn company_of(&self, hit: &Hit<'_>) -> Option<usize> {
        let name = hit.meta.reason.as_deref()?;
        self.companies.iter().position(|c| c.name == name)
    }

    /// The company a number belongs to, and whether it is inbound-only.
    pub fn lookup(&self, n: E164, now: u64) -> Option<CompanyHit<'_>> {
        if !self.leading4.may_hold(n) {
            return None;
        }
        let h = self.numbers.lookup(n, now).hit?;
        let inbound_only = h.meta.reference.as_deref() == Some(INBOUND_ONLY);
        self.company_of(&h).map(|company| CompanyHit {
            company,
            inbound_only,
            hit: h,
        })
    }

    /// The company whose brand a display name impersonates, if any.
    pub fn brand(&self, display: &str) -> Option<usize> {
        self.brands.find(display).map(|i| i as usize)
    }

    /// Number entries (outbound and inbound-only).
    pub fn entries(&self) -> usize {
        let (a, b, c) = self.numbers.counts();
        a + b + c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = r#"name = "protected-companies"
version = 3

[[company]]
name = "ING"
brands = ["ING", "ING Bank"]
numbers = ["+3120228*"]
inbound_only = ["+31202288888"]
allowed_peers = ["kpn-interconnect"]

[[company]]
name = "Microsoft"
brands = ["Microsoft", "Windows Support"]
numbers = ["+31205001500"]
"#;

    #[test]
    fn parses_and_matches() {
        let p = parse(TOML.as_bytes(), Guard::default()).unwrap();
        assert_eq!(
            (p.name.as_str(), p.version, p.companies.len()),
            ("protected-companies", 3, 2)
        );
        let l = CompanyList::build(p);
        let n = |s: &str| E164::parse_plus(s).unwrap();
        let h = l.lookup(n("+31202288888"), 0).unwrap();
        assert_eq!((h.company, h.inbound_only), (0, true));
        let h = l.lookup(n("+31202281234"), 0).unwrap();
        assert_eq!((h.company, h.inbound_only), (0, false));
        assert_eq!(l.lookup(n("+31205001500"), 0).unwrap().company, 1);
        assert!(l.lookup(n("+31201234567"), 0).is_none());
        assert!(
            l.lookup(n("+4930123456"), 0).is_none(),
            "no entry starts with 4930"
        );
        assert!(!l.leading4.may_hold(n("+4930123456")) && l.leading4.may_hold(n("+31202281234")));
        assert_eq!(l.brand("Micr0soft Support"), Some(1));
        assert_eq!(l.brand("ING Helpdesk"), Some(0));
        assert_eq!(l.brand("Helling"), None);
    }

    #[test]
    fn every_bad_entry_is_named() {
        let bad = TOML.replace("\"+3120228*\"", "\"+31*\", \"0201234567\"");
        let e = parse(bad.as_bytes(), Guard::default()).unwrap_err();
        assert_eq!(e.total, 2, "{e}");
        assert!(
            e.to_string()
                .contains("line 7: company \"ING\" numbers: prefix \"+31*\" would block"),
            "{e}"
        );
        let e = parse(
            b"name = \"x\"\nversion = 1\n[[company]]\nname = \"A\"\nbrand = []\n",
            Guard::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown field `brand`"), "{e}");
        let json = r#"{"name": "p", "version": 1, "company": [{"name": "A", "numbers": ["+31201111111"]}, {"name": "B", "inbound_only": ["x"]}]}"#;
        let e = parse(json.as_bytes(), Guard::default()).unwrap_err();
        assert_eq!(
            e.errors.iter().map(|e| e.entry).collect::<Vec<_>>(),
            vec![Some(1)],
            "{e}"
        );
        let ok = r#"{"name": "p", "version": 2, "company": [{"name": "A", "brands": ["Acme"], "numbers": ["+31201111111"]}]}"#;
        assert_eq!(parse(ok.as_bytes(), Guard::default()).unwrap().version, 2);
    }
}
