//! Numbering-plan validity, driven by a table per country (from config).
//!
//! A plan lists, for one country code, prefixes of the national significant
//! number (NSN) with the lengths allowed and the number type. The longest
//! matching prefix decides. A number of a country without a table only gets
//! the generic E.164 check (7 to 15 digits in all).

use super::E164;

/// What a number is, per the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NumberType {
    Geographic,
    Mobile,
    Nomadic,
    TollFree,
    SharedCost,
    Premium,
    MachineToMachine,
    Emergency,
    Service,
}

impl NumberType {
    pub const ALL: [NumberType; 9] = [
        NumberType::Geographic,
        NumberType::Mobile,
        NumberType::Nomadic,
        NumberType::TollFree,
        NumberType::SharedCost,
        NumberType::Premium,
        NumberType::MachineToMachine,
        NumberType::Emergency,
        NumberType::Service,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NumberType::Geographic => "geographic",
            NumberType::Mobile => "mobile",
            NumberType::Nomadic => "nomadic",
            NumberType::TollFree => "toll-free",
            NumberType::SharedCost => "shared-cost",
            NumberType::Premium => "premium",
            NumberType::MachineToMachine => "m2m",
            NumberType::Emergency => "emergency",
            NumberType::Service => "service",
        }
    }

    pub fn from_name(s: &str) -> Option<NumberType> {
        NumberType::ALL.into_iter().find(|t| t.name() == s)
    }
}

/// One row of a plan: NSN prefix, allowed NSN lengths, type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanRange {
    pub prefix: String,
    pub lengths: Vec<u8>,
    pub kind: NumberType,
}

/// The plan of one country.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumberingPlan {
    pub country_code: String,
    /// Sorted longest prefix first, so the first match is the longest.
    ranges: Vec<PlanRange>,
}

/// The outcome of a plan check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanCheck {
    /// Valid, of this type.
    Valid(NumberType),
    /// No table for this country; the generic length check passed.
    Unchecked,
    /// Not a number this plan (or E.164) allows.
    Invalid,
}

/// Shortest and longest total E.164 length for countries without a table.
const GENERIC_MIN: u32 = 7;
const GENERIC_MAX: u32 = 15;

impl NumberingPlan {
    pub fn new(country_code: &str, mut ranges: Vec<PlanRange>) -> NumberingPlan {
        ranges.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        NumberingPlan {
            country_code: country_code.to_string(),
            ranges,
        }
    }

    /// The fewest digits (country code included) of a number this plan
    /// allows, emergency numbers aside (they are never list entries).
    pub fn shortest(&self) -> Option<u8> {
        self.ranges
            .iter()
            .filter(|r| r.kind != NumberType::Emergency)
            .flat_map(|r| r.lengths.iter().copied())
            .min()
            .map(|l| l + self.country_code.len() as u8)
    }

    /// The Dutch plan (Nummerplan, ACM), used when the config names none.
    pub fn netherlands() -> NumberingPlan {
        use NumberType::*;
        NumberingPlan::new(
            "31",
            vec![
                r("1", &[9], Geographic),
                r("2", &[9], Geographic),
                r("3", &[9], Geographic),
                r("4", &[9], Geographic),
                r("5", &[9], Geographic),
                r("7", &[9], Geographic),
                r("6", &[9], Mobile),
                r("84", &[9], Nomadic),
                r("85", &[9], Nomadic),
                r("87", &[9], Nomadic),
                r("88", &[9], Nomadic),
                r("91", &[9], Nomadic),
                r("800", &[7, 10], TollFree),
                r("900", &[7, 10], Premium),
                r("906", &[7, 10], Premium),
                r("909", &[7, 10], Premium),
                r("97", &[11], MachineToMachine),
                r("112", &[3], Emergency),
                r("14", &[5, 6], Service),
            ],
        )
    }

    /// The built-in plan of a country code: the Dutch one and those of the
    /// country profiles (`crate::builtin`).
    pub fn builtin(country_code: &str) -> Option<NumberingPlan> {
        match country_code {
            "31" => Some(NumberingPlan::netherlands()),
            cc => crate::builtin::plan(cc),
        }
    }

    pub fn ranges(&self) -> &[PlanRange] {
        &self.ranges
    }

    /// Checks a number of this plan's country (the caller checks the country).
    /// The longest prefix whose row allows the number's length decides: a
    /// short code and the numbers that share its digits (France's 15 and
    /// Paris's 01 5x xx xx xx) are two rows.
    fn classify_nsn(&self, nsn: &[u8]) -> PlanCheck {
        let len = nsn.len() as u8;
        self.ranges
            .iter()
            .find(|r| nsn.starts_with(r.prefix.as_bytes()) && r.lengths.contains(&len))
            .map_or(PlanCheck::Invalid, |r| PlanCheck::Valid(r.kind))
    }
}

/// A plan row: NSN prefix, lengths, type.
pub(crate) fn r(prefix: &str, lengths: &[u8], kind: NumberType) -> PlanRange {
    PlanRange {
        prefix: prefix.into(),
        lengths: lengths.to_vec(),
        kind,
    }
}

/// Checks `n` against the plan of its country, if one is given.
pub fn check(n: E164, plans: &[NumberingPlan]) -> PlanCheck {
    for p in plans {
        if n.starts_with(p.country_code.as_bytes()) {
            let mut buf = [0u8; 15];
            let nsn = n.digits_after(p.country_code.len() as u32, &mut buf);
            return p.classify_nsn(nsn);
        }
    }
    if (GENERIC_MIN..=GENERIC_MAX).contains(&n.len()) {
        PlanCheck::Unchecked
    } else {
        PlanCheck::Invalid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> PlanCheck {
        check(
            E164::parse_plus(s).unwrap(),
            &[NumberingPlan::netherlands()],
        )
    }

    #[test]
    fn dutch_plan() {
        assert_eq!(c("+31201234567"), PlanCheck::Valid(NumberType::Geographic));
        assert_eq!(c("+31612345678"), PlanCheck::Valid(NumberType::Mobile));
        assert_eq!(c("+31852081234"), PlanCheck::Valid(NumberType::Nomadic));
        assert_eq!(c("+318001234"), PlanCheck::Valid(NumberType::TollFree));
        assert_eq!(c("+319001234567"), PlanCheck::Valid(NumberType::Premium));
        assert_eq!(c("+319061234"), PlanCheck::Valid(NumberType::Premium));
        assert_eq!(
            c("+31909123456"),
            PlanCheck::Invalid,
            "9 digits is no 0909 length"
        );
        assert_eq!(c("+31112"), PlanCheck::Valid(NumberType::Emergency));
        assert_eq!(c("+3120123456"), PlanCheck::Invalid, "one digit short");
        assert_eq!(c("+312012345678"), PlanCheck::Invalid, "one digit long");
        assert_eq!(
            c("+31012345678"),
            PlanCheck::Invalid,
            "NSN never starts with 0"
        );
        assert_eq!(c("+31970123456789"), PlanCheck::Invalid);
        assert_eq!(
            c("+3197012345678"),
            PlanCheck::Valid(NumberType::MachineToMachine)
        );
    }

    #[test]
    fn other_countries_get_the_generic_check() {
        assert_eq!(c("+4930123456"), PlanCheck::Unchecked);
        assert_eq!(c("+123456"), PlanCheck::Invalid);
    }

    #[test]
    fn type_names_round_trip() {
        for t in NumberType::ALL {
            assert_eq!(NumberType::from_name(t.name()), Some(t));
        }
    }
}
