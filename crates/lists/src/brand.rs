//! Brand impersonation in display names: "Micr0soft Support", "MICROSOFT",
//! "Mіcrosoft" (Cyrillic і) all name Microsoft; "Microscope Repairs" does not.
//!
//! A display name is folded before matching: lower case, accents dropped,
//! Cyrillic and Greek look-alikes mapped to Latin, look-alike digits and
//! signs mapped to letters (0→o, 1/!/|→i, 2→z, 3→e, 4/@→a, 5/$→s, 6/9→g, 7/+→t, 8→b),
//! i and l taken as one letter, `rn`→`m` and `vv`→`w`, punctuation turned
//! into word breaks. Brands are folded the same way. A long brand (6 folded
//! letters or more) matches anywhere in the name with the word breaks
//! removed ("Micro Soft", "MicrosoftSupport"); a short one ("ING", "KPN",
//! "Apple") only as whole words, and only plainly unless the name uses
//! look-alike characters, so that "Helling" never reads as ING nor "Appie"
//! as Apple, while "1NG Bank" does.

use aho_corasick::{AhoCorasick, AhoCorasickKind};

/// Longest display name looked at (characters beyond are ignored).
const MAX_FOLDED: usize = 64;
/// Brands with at least this many folded letters match inside words.
pub const LONG_BRAND: usize = 6;

/// How a character folds: the letter it is plainly (accents dropped), the
/// letter it looks like, and whether it only looks like one (digits, signs,
/// Cyrillic and Greek letters: a name that uses one is trying to look like
/// something). `BREAK` ends a word; `OTHER` is a letter no brand has.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Fold {
    plain: u8,
    alike: u8,
    suspicious: bool,
}

const BREAK: Fold = Fold {
    plain: b' ',
    alike: b' ',
    suspicious: false,
};
const OTHER: Fold = Fold {
    plain: b'~',
    alike: b'~',
    suspicious: false,
};

const fn plain(c: u8) -> Fold {
    Fold {
        plain: c,
        alike: c,
        suspicious: false,
    }
}

const fn alike(c: u8) -> Fold {
    Fold {
        plain: b'~',
        alike: c,
        suspicious: true,
    }
}

/// ASCII folds, precomputed (most display names are ASCII).
const ASCII: [Fold; 128] = {
    let mut t = [BREAK; 128];
    let mut i = 0;
    while i < 26 {
        t[b'a' as usize + i] = plain(b'a' + i as u8);
        t[b'A' as usize + i] = plain(b'a' + i as u8);
        i += 1;
    }
    let digits = *b"oizeasgtbg";
    let mut d = 0;
    while d < 10 {
        t[b'0' as usize + d] = alike(digits[d]);
        d += 1;
    }
    t[b'@' as usize] = alike(b'a');
    t[b'$' as usize] = alike(b's');
    t[b'+' as usize] = alike(b't');
    t[b'!' as usize] = alike(b'i');
    t[b'|' as usize] = alike(b'i');
    t
};

fn fold_char(c: char) -> Fold {
    if c.is_ascii() {
        return ASCII[c as usize];
    }
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ą' => plain(b'a'),
        'ß' => plain(b's'),
        'ç' | 'ć' | 'č' => plain(b'c'),
        'ď' => plain(b'd'),
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => plain(b'e'),
        'ì' | 'í' | 'î' | 'ï' | 'ı' => plain(b'i'),
        'ł' => plain(b'l'),
        'ñ' | 'ń' | 'ň' => plain(b'n'),
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' => plain(b'o'),
        'ř' => plain(b'r'),
        'ś' | 'š' => plain(b's'),
        'ť' => plain(b't'),
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' => plain(b'u'),
        'ý' | 'ÿ' => plain(b'y'),
        'ź' | 'ż' | 'ž' => plain(b'z'),
        'а' | 'α' | 'ά' => alike(b'a'),
        'β' | 'в' => alike(b'b'),
        'с' | 'ς' => alike(b'c'),
        'ԁ' => alike(b'd'),
        'е' | 'ё' | 'ε' | 'έ' | '€' => alike(b'e'),
        'ɡ' => alike(b'g'),
        'н' | 'һ' => alike(b'h'),
        'і' | 'ї' | 'ι' | 'ί' | 'ӏ' => alike(b'i'),
        'ј' => alike(b'j'),
        'к' | 'κ' => alike(b'k'),
        'м' => alike(b'm'),
        'η' | 'п' => alike(b'n'),
        'о' | 'ο' | 'ό' | 'σ' => alike(b'o'),
        'р' | 'ρ' => alike(b'p'),
        'ԛ' => alike(b'q'),
        'г' => alike(b'r'),
        'ѕ' => alike(b's'),
        'т' | 'τ' => alike(b't'),
        'υ' | 'μ' => alike(b'u'),
        'ν' => alike(b'v'),
        'ԝ' | 'ω' | 'ш' => alike(b'w'),
        'х' | 'χ' => alike(b'x'),
        'у' | 'γ' => alike(b'y'),
        c if c.is_whitespace() || !c.is_alphanumeric() => BREAK,
        _ => OTHER,
    }
}

/// A display name (or a brand) folded two ways, into fixed buffers: plainly
/// (case and accents) and for look-alikes (also digits, signs, Cyrillic and
/// Greek letters, i and l as one, rn/m, vv/w); words separated by single
/// spaces with a space at each end, and the look-alike form also squashed.
pub struct Folded {
    plain: [u8; MAX_FOLDED + 2],
    alike: [u8; MAX_FOLDED + 2],
    squashed: [u8; MAX_FOLDED],
    /// Lengths of `plain` (and `alike`, which has the same word breaks) and `squashed`.
    plain_len: usize,
    alike_len: usize,
    squashed_len: usize,
    /// It contains a look-alike character.
    pub suspicious: bool,
}

impl Folded {
    pub fn new(s: &str) -> Folded {
        let mut f = Folded {
            plain: [0; MAX_FOLDED + 2],
            alike: [0; MAX_FOLDED + 2],
            squashed: [0; MAX_FOLDED],
            plain_len: 1,
            alike_len: 1,
            squashed_len: 0,
            suspicious: false,
        };
        f.plain[0] = b' ';
        f.alike[0] = b' ';
        if s.is_ascii() {
            let b = &s.as_bytes()[..s.len().min(MAX_FOLDED)];
            for i in 0..b.len() {
                let c = b[i];
                let fold = ASCII[c as usize];
                if fold.plain == b' ' {
                    f.brk();
                } else if !fold.suspicious {
                    f.letter(fold.plain, fold.plain);
                } else {
                    let next_alnum = i + 1 < b.len() && b[i + 1].is_ascii_alphanumeric();
                    f.take(c as char, fold, next_alnum);
                }
            }
        } else {
            let mut chars = s
                .chars()
                .flat_map(char::to_lowercase)
                .take(MAX_FOLDED)
                .peekable();
            while f.has_room()
                && let Some(ch) = chars.next()
            {
                let next_alnum = chars.peek().is_some_and(|c| c.is_alphanumeric());
                let fold = fold_char(ch);
                if fold == OTHER && f.take_equivalent(ch) {
                    continue;
                }
                f.take(ch, fold, next_alnum);
            }
        }
        f.brk();
        f
    }

    /// Room for one more letter or break before the closing one. (A
    /// character may stand for several letters: `ﬃ`, `㎳`.)
    fn has_room(&self) -> bool {
        self.plain_len <= MAX_FOLDED
    }

    /// A character the table does not know: its compatibility form (NFKC:
    /// fullwidth `Ｍ`, ligatures, circled and mathematical letters), else its
    /// confusables skeleton (UTS #39: a letter of another script drawn like
    /// a Latin one). Either is a look-alike. False when neither gives
    /// letters the table knows.
    fn take_equivalent(&mut self, ch: char) -> bool {
        use unicode_normalization::UnicodeNormalization;
        let folds = |chars: &mut dyn Iterator<Item = char>| -> Option<([Fold; 8], usize)> {
            let mut out = [OTHER; 8];
            let mut n = 0;
            for c in chars.flat_map(char::to_lowercase) {
                let f = fold_char(c);
                if f == OTHER || n == out.len() {
                    return None;
                }
                out[n] = f;
                n += 1;
            }
            (n > 0).then_some((out, n))
        };
        let mut buf = [0u8; 4];
        let found = folds(&mut std::iter::once(ch).nfkc())
            .or_else(|| folds(&mut unicode_security::skeleton(ch.encode_utf8(&mut buf))));
        let Some((out, n)) = found else {
            return false;
        };
        for fold in &out[..n] {
            if !self.has_room() {
                break;
            }
            if fold.plain == b' ' {
                self.brk();
            } else {
                // Drawn like the letter, but not the letter: a look-alike.
                self.suspicious = true;
                self.letter(b'~', fold.alike);
            }
        }
        true
    }

    #[inline(always)]
    fn brk(&mut self) {
        if self.plain[self.plain_len - 1] != b' ' {
            self.plain[self.plain_len] = b' ';
            self.plain_len += 1;
        }
        if self.alike[self.alike_len - 1] != b' ' {
            self.alike[self.alike_len] = b' ';
            self.alike_len += 1;
        }
    }

    #[inline(always)]
    fn take(&mut self, ch: char, mut fold: Fold, next_alnum: bool) {
        // Signs stand for a letter only inside a word ("M!crosoft").
        if matches!(ch, '!' | '|' | '+' | '@' | '$') && !next_alnum {
            fold = BREAK;
        }
        if fold.plain == b' ' {
            self.brk();
            return;
        }
        self.suspicious |= fold.suspicious;
        self.letter(fold.plain, fold.alike);
    }

    /// Writes one letter. At most MAX_FOLDED characters come in, each writes
    /// one byte, and breaks only ever separate letters: no buffer overflows.
    #[inline(always)]
    fn letter(&mut self, plain: u8, alike: u8) {
        self.plain[self.plain_len] = plain;
        self.plain_len += 1;
        let mut c = if alike == b'l' { b'i' } else { alike };
        let last = self.alike[self.alike_len - 1];
        // rn -> m, vv -> w.
        if (last == b'r' && c == b'n') || (last == b'v' && c == b'v') {
            c = if c == b'n' { b'm' } else { b'w' };
            self.alike[self.alike_len - 1] = c;
            self.squashed[self.squashed_len - 1] = c;
            return;
        }
        self.alike[self.alike_len] = c;
        self.alike_len += 1;
        self.squashed[self.squashed_len] = c;
        self.squashed_len += 1;
    }

    /// ` word word ` in the look-alike form.
    pub fn spaced(&self) -> &[u8] {
        &self.alike[..self.alike_len]
    }

    /// `wordword` in the look-alike form.
    pub fn squashed(&self) -> &[u8] {
        &self.squashed[..self.squashed_len]
    }

    /// ` word word ` folded plainly.
    pub fn plain_spaced(&self) -> &[u8] {
        &self.plain[..self.plain_len]
    }
}

/// Every brand of every protected company, ready to match.
#[derive(Debug, Clone)]
pub struct BrandMatcher {
    /// Long brands squashed, and short brands as ` word word ` folded
    /// plainly, in one automaton searched once over the plainly folded name
    /// followed by the squashed look-alike form. (A pattern cannot straddle
    /// the two: long patterns have no spaces, short ones end in one, and the
    /// first form ends in a space while the second has none.)
    primary: Option<AhoCorasick>,
    primary_owner: Vec<u32>,
    /// Every two-byte beginning of a primary pattern (a 65 536-bit set): a
    /// name in which no position starts like a brand is clean without
    /// running the automaton (most names; cheaper than its own prefilter on
    /// a few dozen bytes).
    starts: Vec<u64>,
    /// Short brands folded for look-alikes, searched only in a name that
    /// uses look-alike characters (so "Appie" is not "Apple", "1NG" is ING).
    short_alike: Option<AhoCorasick>,
    short_alike_owner: Vec<u32>,
}

impl BrandMatcher {
    /// `brands`: (brand, owner index). Brands that fold to nothing are skipped.
    pub fn new<'s>(brands: impl IntoIterator<Item = (&'s str, u32)>) -> BrandMatcher {
        let (mut primary, mut primary_owner, mut alike, mut alike_owner) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (b, owner) in brands {
            let f = Folded::new(b);
            if f.squashed().is_empty() {
                continue;
            }
            if f.squashed().len() >= LONG_BRAND {
                primary.push(f.squashed().to_vec());
                primary_owner.push(owner);
            } else {
                primary.push(f.plain_spaced().to_vec());
                primary_owner.push(owner);
                alike.push(f.spaced().to_vec());
                alike_owner.push(owner);
            }
        }
        // DFAs: the fastest search, built once per list.
        let build = |p: &Vec<Vec<u8>>| {
            if p.is_empty() {
                None
            } else {
                AhoCorasick::builder()
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(p)
                    .ok()
            }
        };
        let mut starts = vec![0u64; 1024];
        for p in &primary {
            let k = usize::from(p[0]) << 8 | usize::from(p.get(1).copied().unwrap_or(0));
            starts[k / 64] |= 1 << (k % 64);
        }
        BrandMatcher {
            primary: build(&primary),
            primary_owner,
            starts,
            short_alike: build(&alike),
            short_alike_owner: alike_owner,
        }
    }

    /// The owner of the first brand the display name impersonates.
    pub fn find(&self, display: &str) -> Option<u32> {
        let mut hay = [0u8; 2 * MAX_FOLDED + 2];
        let (len, suspicious) = if display.is_ascii() {
            fold_ascii_into(display.as_bytes(), &mut hay)
        } else {
            let f = Folded::new(display);
            let (p, q) = (f.plain_spaced(), f.squashed());
            hay[..p.len()].copy_from_slice(p);
            hay[p.len()..p.len() + q.len()].copy_from_slice(q);
            (p.len() + q.len(), f.suspicious)
        };
        let hay = &hay[..len];
        let may_start = hay.windows(2).any(|w| {
            let k = usize::from(w[0]) << 8 | usize::from(w[1]);
            self.starts[k / 64] & (1 << (k % 64)) != 0
        });
        if may_start && let Some(m) = self.primary.as_ref().and_then(|ac| ac.find(hay)) {
            return Some(self.primary_owner[m.pattern().as_usize()]);
        }
        if !suspicious {
            return None;
        }
        let f = Folded::new(display);
        let m = self.short_alike.as_ref()?.find(f.spaced())?;
        Some(self.short_alike_owner[m.pattern().as_usize()])
    }
}

/// The hot path of [`BrandMatcher::find`] for an ASCII name: writes the
/// plainly folded, spaced form and then the squashed look-alike form into
/// `hay` in two tight passes; returns the length and whether the name uses
/// look-alike characters. Same folding as [`Folded`] (a test checks).
fn fold_ascii_into(b: &[u8], hay: &mut [u8; 2 * MAX_FOLDED + 2]) -> (usize, bool) {
    let b = &b[..b.len().min(MAX_FOLDED)];
    let mut squashed = [0u8; MAX_FOLDED];
    let (mut n, mut m, mut suspicious) = (1usize, 0usize, false);
    hay[0] = b' ';
    for (i, &c) in b.iter().enumerate() {
        let f = ASCII[c as usize];
        let sign_alone = matches!(c, b'!' | b'|' | b'+' | b'@' | b'$')
            && !b.get(i + 1).is_some_and(u8::is_ascii_alphanumeric);
        if f.plain == b' ' || sign_alone {
            if hay[n - 1] != b' ' {
                hay[n] = b' ';
                n += 1;
            }
            continue;
        }
        hay[n] = f.plain;
        n += 1;
        suspicious |= f.suspicious;
        let c = if f.alike == b'l' { b'i' } else { f.alike };
        match (m.checked_sub(1).map(|j| squashed[j]), c) {
            (Some(b'r'), b'n') => squashed[m - 1] = b'm',
            (Some(b'v'), b'v') => squashed[m - 1] = b'w',
            _ => {
                squashed[m] = c;
                m += 1;
            }
        }
    }
    if hay[n - 1] != b' ' {
        hay[n] = b' ';
        n += 1;
    }
    hay[n..n + m].copy_from_slice(&squashed[..m]);
    (n + m, suspicious)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher() -> BrandMatcher {
        BrandMatcher::new([
            ("Microsoft", 0),
            ("Windows Support", 0),
            ("ING", 1),
            ("ING Bank", 1),
            ("Rabobank", 2),
            ("ABN AMRO", 3),
            ("KPN", 4),
            ("PostNL", 5),
            ("Apple", 6),
            ("Belastingdienst", 7),
            ("DigiD", 8),
            ("PayPal", 9),
        ])
    }

    #[test]
    fn impersonations_match() {
        let m = matcher();
        for (name, owner) in [
            ("Microsoft Support", 0),
            ("Micr0soft Support", 0),
            ("MICROSOFT", 0),
            ("Microsoft Helpdesk", 0),
            ("Mіcrosoft", 0), // Cyrillic і
            ("Мicrosoft", 0), // Cyrillic М
            ("M1crosoft Tech", 0),
            ("Micro Soft", 0),
            ("MicrosoftSupport", 0),
            ("Mícrosöft", 0),
            ("Windows-Support NL", 0),
            ("ING", 1),
            ("ING Helpdesk", 1),
            ("1NG Bank", 1),
            ("Rabobank Fraude", 2),
            ("Rab0bank", 2),
            ("ABN-AMRO", 3),
            ("KPN Service", 4),
            ("Post NL", 5),
            ("Apple Support", 6),
            ("Belastingdienst", 7),
            ("DigiD helpdesk", 8),
            ("PayPaI", 9), // capital I for l
        ] {
            assert_eq!(m.find(name), Some(owner), "{name}");
        }
    }

    /// Unicode compatibility forms (NFKC) and the UTS #39 confusables
    /// skeleton, for characters the fold table does not list.
    #[test]
    fn compatibility_forms_and_confusables_match() {
        let m = matcher();
        for (name, owner) in [
            (
                "\u{ff2d}\u{ff49}\u{ff43}\u{ff52}\u{ff4f}\u{ff53}\u{ff4f}\u{ff46}\u{ff54} Support",
                0,
            ), // fullwidth
            (
                "\u{1d40c}\u{1d422}\u{1d41c}\u{1d42b}\u{1d428}\u{1d42c}\u{1d428}\u{1d41f}\u{1d42d}",
                0,
            ), // mathematical bold
            ("Micr\u{585}s\u{585}ft Helpdesk", 0), // Armenian oh, drawn like o
            ("\u{2160}NG Bank", 1),                // Roman numeral one
            ("\u{24be}\u{24c3}\u{24bc} Helpdesk", 1), // circled I N G
            ("Pay\u{fb00}", 9 + 100),              // a ligature that spells no brand: no match
        ] {
            if owner >= 100 {
                assert_eq!(m.find(name), None, "{name}");
            } else {
                assert_eq!(m.find(name), Some(owner), "{name}");
            }
        }
        // Expansion never runs past the buffers: 64 three-letter ligatures.
        let long: String = std::iter::repeat_n('\u{fb03}', 200).collect();
        let _ = m.find(&long);
        let _ = Folded::new(&long);
    }

    #[test]
    fn look_alikes_that_must_not_match() {
        let m = matcher();
        for name in [
            "Microscope Repairs",
            "Micro Systems",
            "Helling",
            "Jongeling",
            "Ingrid Bakker",
            "Ingen",
            "Appel",
            "Appelhof Boomgaard",
            "Postkantoor",
            "Bakkerij Post",
            "Rabo",
            "",
            "   ",
            "+31201234567",
        ] {
            assert_eq!(m.find(name), None, "{name}");
        }
    }

    #[test]
    fn zero_false_hits_on_ordinary_dutch_names() {
        let m = matcher();
        let corpus = include_str!("../../../fixtures/names/dutch-names.txt");
        let names: Vec<&str> = corpus
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .collect();
        assert!(names.len() >= 300, "{}", names.len());
        let hits: Vec<_> = names.iter().filter(|n| m.find(n).is_some()).collect();
        assert!(hits.is_empty(), "false hits: {hits:?}");
    }

    #[test]
    fn the_ascii_fast_path_folds_like_folded() {
        for name in [
            "Micr0soft  Support!",
            "PayPaI",
            "Arnold",
            "ABN-AMRO",
            "1NG Bank",
            "Jan de Vries",
            "rn vv rnicrosoft",
            "!x| $5",
            "",
            "   ",
            &"ab ".repeat(100),
        ] {
            let f = Folded::new(name);
            let mut hay = [0u8; 2 * MAX_FOLDED + 2];
            let (len, sus) = fold_ascii_into(name.as_bytes(), &mut hay);
            let mut want = f.plain_spaced().to_vec();
            want.extend_from_slice(f.squashed());
            assert_eq!(
                (&hay[..len], sus),
                (want.as_slice(), f.suspicious),
                "{name:?}"
            );
        }
    }

    #[test]
    fn folding() {
        let f = Folded::new("Micr0soft  Support!");
        assert_eq!(f.spaced(), b" microsoft support ");
        assert_eq!(f.squashed(), b"microsoftsupport");
        assert_eq!(
            Folded::new("PayPaI").squashed(),
            b"paypai",
            "i and l are one letter"
        );
        assert_eq!(Folded::new("Arnold").squashed(), b"amoid");
        assert_eq!(Folded::new(&"x".repeat(1000)).squashed().len(), MAX_FOLDED);
        assert_eq!(
            Folded::new(&"x ".repeat(1000)).spaced().len(),
            MAX_FOLDED + 1
        );
        assert_eq!(Folded::new("Mіcrosoft").spaced(), b" microsoft ");
        assert!(Folded::new("M1crosoft").suspicious && !Folded::new("Appie").suspicious);
        assert_eq!(
            Folded::new("Snackbar Appie").plain_spaced(),
            b" snackbar appie "
        );
    }
}
