//! Brand impersonation in display names: "Micr0soft Support", "MICROSOFT",
//! "Mіcrosoft" (Cyrillic і) all name Microsoft; "Microscope Repairs" does not.
//!
//! A display name is folded before matching: lower case, accents dropped,
//! Cyrillic and Greek look-alikes mapped to Latin, look-alike digits and
//! signs mapped to letters (0→o, 1/!/|→i, 3→e, 4/@→a, 5/$→s, 7→t, 8→b),
//! i and l taken as one letter, `rn`→`m` and `vv`→`w`, punctuation turned
//! into word breaks. Brands are folded the same way. A long brand (6 folded
//! letters or more) matches anywhere in the name with the word breaks
//! removed ("Micro Soft", "MicrosoftSupport"); a short one ("ING", "KPN",
//! "Apple") only as whole words, and only plainly unless the name uses
//! look-alike characters, so that "Helling" never reads as ING nor "Appie"
//! as Apple, while "1NG Bank" does.

use aho_corasick::AhoCorasick;

/// Longest display name looked at (characters beyond are ignored).
const MAX_FOLDED: usize = 160;
/// Brands with at least this many folded letters match inside words.
pub const LONG_BRAND: usize = 6;

/// How a character folds: `Plain` letters as they are (accents dropped);
/// `Alike` characters only look like a Latin letter (digits, signs, Cyrillic
/// and Greek letters): a name that uses one is trying to look like something.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fold {
    Plain(&'static str),
    /// (strict form, look-alike form)
    Alike(&'static str, &'static str),
    Break,
    Other,
}

fn fold_char(c: char) -> Fold {
    use Fold::*;
    const LETTERS: [&str; 26] = [
        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r",
        "s", "t", "u", "v", "w", "x", "y", "z",
    ];
    match c {
        'a'..='z' => Plain(LETTERS[(c as u8 - b'a') as usize]),
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ą' => Plain("a"),
        'ß' => Plain("ss"),
        'ç' | 'ć' | 'č' => Plain("c"),
        'ď' => Plain("d"),
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => Plain("e"),
        'ì' | 'í' | 'î' | 'ï' | 'ı' => Plain("i"),
        'ł' => Plain("l"),
        'ñ' | 'ń' | 'ň' => Plain("n"),
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' => Plain("o"),
        'ř' => Plain("r"),
        'ś' | 'š' => Plain("s"),
        'ť' => Plain("t"),
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' => Plain("u"),
        'ý' | 'ÿ' => Plain("y"),
        'ź' | 'ż' | 'ž' => Plain("z"),
        'а' | 'α' | 'ά' | '4' | '@' => Alike("~", "a"),
        'β' | 'в' | '8' => Alike("~", "b"),
        'с' | 'ς' => Alike("~", "c"),
        'ԁ' => Alike("~", "d"),
        'е' | 'ё' | 'ε' | 'έ' | '3' | '€' => Alike("~", "e"),
        'ɡ' | '6' | '9' => Alike("~", "g"),
        'н' | 'һ' => Alike("~", "h"),
        'і' | 'ї' | 'ι' | 'ί' | 'ӏ' | '1' | '!' | '|' => Alike("~", "i"),
        'ј' => Alike("~", "j"),
        'к' | 'κ' => Alike("~", "k"),
        'м' => Alike("~", "m"),
        'η' | 'п' => Alike("~", "n"),
        'о' | 'ο' | 'ό' | 'σ' | '0' => Alike("~", "o"),
        'р' | 'ρ' => Alike("~", "p"),
        'ԛ' => Alike("~", "q"),
        'г' => Alike("~", "r"),
        'ѕ' | '5' | '$' => Alike("~", "s"),
        'т' | 'τ' | '7' | '+' => Alike("~", "t"),
        'υ' | 'μ' => Alike("~", "u"),
        'ν' => Alike("~", "v"),
        'ԝ' | 'ω' | 'ш' => Alike("~", "w"),
        'х' | 'χ' => Alike("~", "x"),
        'у' | 'γ' => Alike("~", "y"),
        '2' => Alike("~", "z"),
        c if c.is_whitespace() || c.is_ascii_punctuation() || !c.is_alphanumeric() => Break,
        _ => Other,
    }
}

/// One way of folding, written into a fixed buffer: words separated by
/// single spaces with a space at each end, and the same squashed.
struct Form {
    spaced: [u8; MAX_FOLDED + 2],
    spaced_len: usize,
    squashed: [u8; MAX_FOLDED],
    squashed_len: usize,
    /// Also fold i and l together and rn/vv into m/w (the look-alike form).
    alike: bool,
}

impl Form {
    fn new(alike: bool) -> Form {
        let mut f = Form {
            spaced: [0; MAX_FOLDED + 2],
            spaced_len: 1,
            squashed: [0; MAX_FOLDED],
            squashed_len: 0,
            alike,
        };
        f.spaced[0] = b' ';
        f
    }

    fn brk(&mut self) {
        if self.spaced[self.spaced_len - 1] != b' ' && self.spaced_len < MAX_FOLDED + 1 {
            self.spaced[self.spaced_len] = b' ';
            self.spaced_len += 1;
        }
    }

    fn push(&mut self, mut b: u8) {
        if self.spaced_len >= MAX_FOLDED {
            return;
        }
        if self.alike {
            if b == b'i' {
                b = b'l';
            }
            // rn -> m, vv -> w.
            let last = self.spaced[self.spaced_len - 1];
            if (last == b'r' && b == b'n') || (last == b'v' && b == b'v') {
                let m = if b == b'n' { b'm' } else { b'w' };
                self.spaced[self.spaced_len - 1] = m;
                self.squashed[self.squashed_len - 1] = m;
                return;
            }
        }
        self.spaced[self.spaced_len] = b;
        self.spaced_len += 1;
        self.squashed[self.squashed_len] = b;
        self.squashed_len += 1;
    }
}

/// A display name (or a brand) folded two ways: plainly (case and accents)
/// and for look-alikes (also digits, signs, Cyrillic and Greek letters,
/// i/l, rn/m, vv/w).
pub struct Folded {
    plain: Form,
    alike: Form,
    /// It contains a look-alike character.
    pub suspicious: bool,
}

impl Folded {
    pub fn new(s: &str) -> Folded {
        let mut f = Folded {
            plain: Form::new(false),
            alike: Form::new(true),
            suspicious: false,
        };
        let mut chars = s.chars().flat_map(char::to_lowercase).peekable();
        while let Some(ch) = chars.next() {
            let mut fold = fold_char(ch);
            // '!' and '|' stand for a letter only inside a word ("M!crosoft").
            if matches!(ch, '!' | '|') && !chars.peek().is_some_and(|c| c.is_alphanumeric()) {
                fold = Fold::Break;
            }
            match fold {
                Fold::Plain(p) => {
                    for b in p.bytes() {
                        f.plain.push(b);
                        f.alike.push(b);
                    }
                }
                Fold::Alike(p, a) => {
                    f.suspicious = true;
                    for b in p.bytes() {
                        f.plain.push(b);
                    }
                    for b in a.bytes() {
                        f.alike.push(b);
                    }
                }
                Fold::Break => {
                    f.plain.brk();
                    f.alike.brk();
                }
                Fold::Other => {
                    f.plain.push(b'~');
                    f.alike.push(b'~');
                }
            }
        }
        f.plain.brk();
        f.alike.brk();
        f
    }

    /// ` word word ` in the look-alike form.
    pub fn spaced(&self) -> &[u8] {
        &self.alike.spaced[..self.alike.spaced_len]
    }

    /// `wordword` in the look-alike form.
    pub fn squashed(&self) -> &[u8] {
        &self.alike.squashed[..self.alike.squashed_len]
    }

    /// ` word word ` folded plainly.
    pub fn plain_spaced(&self) -> &[u8] {
        &self.plain.spaced[..self.plain.spaced_len]
    }
}

/// Every brand of every protected company, ready to match.
#[derive(Debug, Clone)]
pub struct BrandMatcher {
    /// Long brands, squashed, matched anywhere in the squashed name.
    long: Option<AhoCorasick>,
    long_owner: Vec<u32>,
    /// Short brands as ` word word `: folded plainly, matched in the plainly
    /// folded name; folded for look-alikes, matched only in a name that
    /// uses look-alike characters (so "Appie" is not "Apple", "1NG" is ING).
    short: Option<AhoCorasick>,
    short_alike: Option<AhoCorasick>,
    short_owner: Vec<u32>,
}

impl BrandMatcher {
    /// `brands`: (brand, owner index). Brands that fold to nothing are skipped.
    pub fn new<'s>(brands: impl IntoIterator<Item = (&'s str, u32)>) -> BrandMatcher {
        let (mut long, mut long_owner, mut short, mut short_alike, mut short_owner) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (b, owner) in brands {
            let f = Folded::new(b);
            if f.squashed().is_empty() {
                continue;
            }
            if f.squashed().len() >= LONG_BRAND {
                long.push(f.squashed().to_vec());
                long_owner.push(owner);
            } else {
                short.push(f.plain_spaced().to_vec());
                short_alike.push(f.spaced().to_vec());
                short_owner.push(owner);
            }
        }
        let build = |p: &Vec<Vec<u8>>| {
            if p.is_empty() {
                None
            } else {
                AhoCorasick::new(p).ok()
            }
        };
        BrandMatcher {
            long: build(&long),
            long_owner,
            short: build(&short),
            short_alike: build(&short_alike),
            short_owner,
        }
    }

    /// The owner of the first brand the display name impersonates.
    pub fn find(&self, display: &str) -> Option<u32> {
        let f = Folded::new(display);
        if let Some(m) = self.long.as_ref().and_then(|ac| ac.find(f.squashed())) {
            return Some(self.long_owner[m.pattern().as_usize()]);
        }
        let plain = self.short.as_ref().and_then(|ac| ac.find(f.plain_spaced()));
        let alike = || {
            self.short_alike
                .as_ref()
                .filter(|_| f.suspicious)
                .and_then(|ac| ac.find(f.spaced()))
        };
        plain
            .or_else(alike)
            .map(|m| self.short_owner[m.pattern().as_usize()])
    }
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
        let corpus = include_str!("../../fixtures/names/dutch-names.txt");
        let names: Vec<&str> = corpus
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .collect();
        assert!(names.len() >= 300, "{}", names.len());
        let hits: Vec<_> = names.iter().filter(|n| m.find(n).is_some()).collect();
        assert!(hits.is_empty(), "false hits: {hits:?}");
    }

    #[test]
    fn folding() {
        let f = Folded::new("Micr0soft  Support!");
        assert_eq!(f.spaced(), b" mlcrosoft support ");
        assert_eq!(f.squashed(), b"mlcrosoftsupport");
        assert_eq!(Folded::new("Arnold").squashed(), b"amold");
        assert_eq!(
            Folded::new(&"x".repeat(1000)).squashed().len(),
            MAX_FOLDED - 1
        );
        assert!(Folded::new("M1crosoft").suspicious && !Folded::new("Appie").suspicious);
        assert_eq!(
            Folded::new("Snackbar Appie").plain_spaced(),
            b" snackbar appie "
        );
    }
}
