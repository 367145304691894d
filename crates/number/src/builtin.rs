//! The numbering plans built in for the country profiles (besides the Dutch
//! one in `plan.rs`): what each country's plan says a number's leading
//! digits and length make it, coarsely — a row per block of leading digits,
//! not per operator allocation. Taken from the national plans as their
//! regulators publish them (Bundesnetzagentur, BIPT, Ofcom, Arcep,
//! Traficom, PTS, CNMC); they were not checked against those texts on the
//! machine this was written on. An operator who needs the exact plan gives
//! a `[[numbering]]` table for the country, which replaces the built-in one.
//!
//! Lengths are those of the national significant number (after the country
//! code, without the trunk prefix). Where a short code shares its digits
//! with longer numbers (France's 15 and Paris's 01 5x xx xx xx), both are
//! rows: the longest prefix whose lengths fit decides.

use super::plan::NumberType::*;
use super::plan::{NumberingPlan, PlanRange, r};

/// Every length from `a` to `b`.
fn span(a: u8, b: u8) -> Vec<u8> {
    (a..=b).collect()
}

/// Rows with the same lengths and type for several prefixes.
fn each(prefixes: &[&str], lengths: &[u8], kind: super::plan::NumberType) -> Vec<PlanRange> {
    prefixes.iter().map(|p| r(p, lengths, kind)).collect()
}

/// The built-in plan of a profile's country, by country code.
pub(crate) fn plan(country_code: &str) -> Option<NumberingPlan> {
    let rows = match country_code {
        "49" => germany(),
        "32" => belgium(),
        "44" => united_kingdom(),
        "33" => france(),
        "358" => finland(),
        "46" => sweden(),
        "34" => spain(),
        _ => return None,
    };
    Some(NumberingPlan::new(country_code, rows))
}

/// Germany (Bundesnetzagentur): area codes of 2 to 5 digits, numbers of 5 to
/// 11 digits; mobile 015x, 016x, 017x; 0137 mass-call and 0900 premium.
fn germany() -> Vec<PlanRange> {
    let geo = span(5, 11);
    let mut v = each(&["2", "3", "4", "5", "6", "7", "8", "9"], &geo, Geographic);
    v.extend(each(&["15", "16", "17"], &[10, 11], Mobile));
    v.extend([
        r("32", &[10, 11], Nomadic),
        r("700", &[11], Nomadic),
        r("800", &[10, 11], TollFree),
        r("180", &[10, 11], SharedCost),
        r("900", &[10, 11], Premium),
        // Mass-call service (Massenverkehrsdienste): charged per call, and
        // TKG §120 names it beside 0900.
        r("137", &[10, 11], Premium),
        r("110", &[3], Emergency),
        r("112", &[3], Emergency),
        r("115", &[3], Service),
        r("116", &[6], Service),
        r("118", &[5, 6], Service),
    ]);
    v
}

/// Belgium (BIPT): geographic numbers of 8 digits (area codes 02, 03, 04,
/// 09 and 0xy), mobile 045x to 049x of 9; 070/078 shared cost, 090x premium.
fn belgium() -> Vec<PlanRange> {
    let mut v = each(&["1", "2", "3", "4", "5", "6", "8", "9"], &[8], Geographic);
    v.extend(each(&["45", "46", "47", "48", "49"], &[9], Mobile));
    v.extend([
        r("70", &[8], SharedCost),
        r("78", &[8], SharedCost),
        r("77", &[9, 10, 11], MachineToMachine),
        r("800", &[8], TollFree),
        r("90", &[8], Premium),
        r("100", &[3], Emergency),
        r("101", &[3], Emergency),
        r("112", &[3], Emergency),
    ]);
    v
}

/// The UK (Ofcom, National Telephone Numbering Plan): 01/02 geographic, 03
/// charged as geographic (a landline number under Ofcom's CLI guidance),
/// 07 mobile (070 personal, 076 pagers), 08 freephone and shared cost, 09
/// premium.
fn united_kingdom() -> Vec<PlanRange> {
    let mut v = vec![
        r("1", &[9, 10], Geographic),
        r("2", &[10], Geographic),
        r("3", &[10], Geographic),
        r("55", &[10], Nomadic),
        r("56", &[10], Nomadic),
        r("7", &[10], Mobile),
        r("70", &[10], Nomadic),
        r("76", &[10], Service),
        r("800", &[9, 10], TollFree),
        r("808", &[10], TollFree),
        r("84", &[10], SharedCost),
        r("87", &[10], SharedCost),
        r("9", &[10], Premium),
    ];
    v.extend(each(&["999", "112"], &[3], Emergency));
    v
}

/// France (Arcep): 9 digits; 01–05 geographic, 06/07 mobile, 09 VoIP, 080
/// freephone, 081/082 shared cost, 089 premium; short emergency codes.
fn france() -> Vec<PlanRange> {
    let mut v = each(&["1", "2", "3", "4", "5"], &[9], Geographic);
    v.extend(each(&["6", "7"], &[9], Mobile));
    v.extend([
        r("9", &[9], Nomadic),
        r("80", &[9], TollFree),
        r("81", &[9], SharedCost),
        r("82", &[9], SharedCost),
        r("89", &[9], Premium),
        r("116", &[6], Service),
    ]);
    v.extend(each(&["15", "17", "18"], &[2], Emergency));
    v.extend(each(&["112", "114", "115", "119"], &[3], Emergency));
    v
}

/// Finland (Traficom): area codes 02–09 and 013–019, numbers of 5 to 10
/// digits; mobile 04x and 050; national numbers 010, 020, 030, 07x;
/// 0600/0700 premium, 0800 freephone.
fn finland() -> Vec<PlanRange> {
    let geo = span(5, 10);
    let mut v = each(
        &[
            "13", "14", "15", "16", "17", "18", "19", "2", "3", "5", "6", "8", "9",
        ],
        &geo,
        Geographic,
    );
    v.extend(each(
        &["10", "20", "29", "30", "70", "73", "75"],
        &geo,
        Nomadic,
    ));
    v.extend(each(&["4", "50"], &span(7, 10), Mobile));
    v.extend([
        r("600", &span(7, 10), Premium),
        r("700", &span(7, 10), Premium),
        r("800", &span(7, 10), TollFree),
        r("112", &[3], Emergency),
    ]);
    v
}

/// Sweden (PTS): area codes 08 and 0xx(x), numbers of 7 to 9 digits;
/// mobile 070, 072, 073, 076, 079; 020 freephone; 0900/0939/0944 premium.
fn sweden() -> Vec<PlanRange> {
    let geo = span(7, 9);
    let mut v = each(&["1", "2", "3", "4", "5", "6", "8", "9"], &geo, Geographic);
    v.extend(each(&["70", "72", "73", "76", "79"], &[9], Mobile));
    v.extend([
        r("71", &span(9, 12), MachineToMachine),
        r("75", &geo, Nomadic),
        r("74", &geo, Service),
        r("77", &span(6, 9), SharedCost),
        r("78", &span(6, 9), SharedCost),
        r("20", &geo, TollFree),
        r("112", &[3], Emergency),
    ]);
    v.extend(each(&["900", "939", "944"], &geo, Premium));
    v
}

/// Spain (CNMC): 9 digits; 8x/9x geographic, 6 and 71–74 mobile, 51 and 70
/// nomadic; 800/900 freephone, 901/902 shared cost, 803/806/807/905 premium.
fn spain() -> Vec<PlanRange> {
    let mut v = each(&["8", "9"], &[9], Geographic);
    v.extend(each(&["6", "71", "72", "73", "74"], &[9], Mobile));
    v.extend(each(&["51", "70"], &[9], Nomadic));
    v.extend(each(&["800", "900"], &[9], TollFree));
    v.extend(each(&["901", "902"], &[9], SharedCost));
    v.extend(each(&["803", "806", "807", "905"], &[9], Premium));
    v.push(r("112", &[3], Emergency));
    v
}

#[cfg(test)]
mod tests {
    use crate::E164;
    use crate::plan::{NumberType, NumberingPlan, PlanCheck, check};

    fn c(s: &str) -> PlanCheck {
        let cc = ["49", "32", "44", "33", "358", "46", "34"];
        let plans: Vec<_> = cc
            .iter()
            .filter_map(|c| NumberingPlan::builtin(c))
            .collect();
        check(E164::parse_plus(s).unwrap(), &plans)
    }

    use NumberType::*;
    use PlanCheck::{Invalid, Valid};

    #[test]
    fn each_country_tells_its_mobile_numbers_from_its_landlines() {
        for (n, want) in [
            ("+4930123456", Valid(Geographic)),
            ("+4915112345678", Valid(Mobile)),
            ("+491701234567", Valid(Mobile)),
            ("+49112", Valid(Emergency)),
            ("+49110", Valid(Emergency)),
            ("+4990012345678", Valid(Premium)),
            ("+491371234567", Valid(Premium)),
            ("+3222345678", Valid(Geographic)),
            ("+32470123456", Valid(Mobile)),
            ("+32470123", Invalid),
            ("+3290123456", Valid(Premium)),
            ("+442071234567", Valid(Geographic)),
            ("+443001234567", Valid(Geographic)),
            ("+447700900123", Valid(Mobile)),
            ("+449012345678", Valid(Premium)),
            ("+44207123456", Invalid),
            ("+33153456789", Valid(Geographic)),
            ("+3315", Valid(Emergency)),
            ("+33612345678", Valid(Mobile)),
            ("+33891234567", Valid(Premium)),
            ("+358912345678", Valid(Geographic)),
            ("+358401234567", Valid(Mobile)),
            ("+358501234567", Valid(Mobile)),
            ("+46812345678", Valid(Geographic)),
            ("+46701234567", Valid(Mobile)),
            ("+46900123456", Valid(Premium)),
            ("+34912345678", Valid(Geographic)),
            ("+34612345678", Valid(Mobile)),
            ("+34712345678", Valid(Mobile)),
            ("+34806123456", Valid(Premium)),
        ] {
            assert_eq!(c(n), want, "{n}");
        }
    }

    #[test]
    fn a_short_code_does_not_hide_the_numbers_that_share_its_digits() {
        // France's 15 (SAMU) and a Paris number beginning 01 5…
        assert_eq!(c("+3315"), Valid(Emergency));
        assert_eq!(c("+33156789012"), Valid(Geographic));
        assert_eq!(c("+33156"), Invalid);
    }
}
