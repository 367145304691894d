//! `lists import`: a do-not-originate (DNO) list as regulators and industry
//! bodies publish it, a CSV file, turned into a v1 list file that
//! `lists verify` accepts and the ACM or the operator signs and pushes.
//!
//! The columns are named by the file's header or by position (from 1).
//! Numbers are read as callers' numbers are (`+44 20 7946 0000`,
//! `0044…`, and with `--country-code` the national `020 7946 0000`); a
//! number ending in `*` is a prefix. Reasons and references lose the `,`
//! and `#` the list format cannot hold. A number listed twice is kept once
//! (its first row). Any row that does not give a number refuses the whole
//! import, every such row named by its line, and nothing is written: a
//! list that silently dropped rows would let those callers through.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::cli::ImportArgs;
use crate::lists::format::valid_name;
use crate::lists::{Guard, ListKind, parse, sha256_hex};
use crate::number::{Cli, NumberContext, normalise};

/// A column by its header's name (any case) or its position from 1.
fn column(spec: &str, header: Option<&csv::StringRecord>) -> Result<usize, String> {
    if let Ok(n) = spec.parse::<usize>() {
        return n
            .checked_sub(1)
            .ok_or_else(|| "columns are counted from 1".to_string());
    }
    let names = header.ok_or_else(|| {
        format!(
            "column {spec:?}: a file without a header row (--no-header) names columns by position"
        )
    })?;
    names
        .iter()
        .position(|h| h.trim().eq_ignore_ascii_case(spec.trim()))
        .ok_or_else(|| {
            let all: Vec<&str> = names.iter().map(str::trim).collect();
            format!("no column {spec:?}; the header has {}", all.join(", "))
        })
}

/// A field as a list line's reason or reference can hold it.
fn field_text(s: &str) -> String {
    let kept: String = s
        .chars()
        .map(|c| match c {
            ',' | '#' => ' ',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One row's number (or prefix) as a list entry, or why not.
fn entry(raw: &str, ctx: &NumberContext) -> Result<String, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("no number in the number column".into());
    }
    let (digits, prefix) = match raw.strip_suffix('*') {
        Some(d) => (d, true),
        None => (raw, false),
    };
    match normalise(digits, ctx) {
        Cli::Number(n) => Ok(format!("{n}{}", if prefix { "*" } else { "" })),
        _ if ctx.country_code.is_none() && digits.trim_start().starts_with('0') => Err(format!(
            "{raw:?} is not a number in international form (+…): give --country-code for national numbers"
        )),
        _ => Err(format!("{raw:?} is not a number")),
    }
}

/// `lists import CSV`: the list file on standard output or in `--out`.
pub fn import(a: &ImportArgs) -> ExitCode {
    let file = a.csv.display();
    let fail = |m: String| {
        eprintln!("{m}");
        ExitCode::from(2)
    };
    if !valid_name(&a.name) {
        return fail(format!(
            "--name {:?}: a list's name is 1 to 64 letters, digits, '.', '_' or '-', as in [[lists]]",
            a.name
        ));
    }
    if let Some(cc) = &a.country_code
        && (!(1..=3).contains(&cc.len()) || !cc.bytes().all(|b| b.is_ascii_digit()))
    {
        return fail(format!(
            "--country-code {cc:?}: a country code is 1 to 3 digits (44, not +44)"
        ));
    }
    let Ok(delimiter) = u8::try_from(a.delimiter) else {
        return fail(format!(
            "--delimiter {:?}: one ASCII character",
            a.delimiter
        ));
    };
    let body = match std::fs::read(&a.csv) {
        Ok(b) => b,
        Err(e) => return fail(format!("{file}: cannot read: {e}")),
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(!a.no_header)
        .flexible(true)
        .from_reader(body.as_slice());
    let header = match a.no_header {
        true => None,
        false => match reader.headers() {
            Ok(h) => Some(h.clone()),
            Err(e) => return fail(format!("{file}: the header row: {e}")),
        },
    };
    let col = |spec: &str| column(spec, header.as_ref()).map_err(|e| format!("{file}: {e}"));
    let number_col = match col(&a.number_column) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let reason_col = match a.reason_column.as_deref().map(col).transpose() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let reference_col = match a.reference_column.as_deref().map(col).transpose() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let ctx = match &a.country_code {
        Some(cc) => NumberContext::national(cc),
        None => NumberContext::e164_only(),
    };
    let mut text = format!(
        "# callscreen list v1 name={} version={}\n# imported by callscreen lists import from {} (sha256 {})\n",
        a.name,
        a.version,
        a.csv
            .file_name()
            .map_or_else(|| file.to_string(), |n| n.to_string_lossy().into_owned()),
        sha256_hex(&body)
    );
    // The list's line numbers (its two header lines first) to the file's.
    let mut lines: Vec<u64> = vec![0, 0];
    let (mut errors, mut rows, mut twice) = (Vec::new(), 0usize, 0usize);
    let mut seen = HashSet::new();
    for record in reader.records() {
        let r = match record {
            Ok(r) => r,
            Err(e) => {
                let at = e.position().map_or(0, csv::Position::line);
                errors.push(format!("{file}:{at}: {e}"));
                continue;
            }
        };
        let at = r.position().map_or(0, csv::Position::line);
        if r.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        rows += 1;
        let e = match entry(r.get(number_col).unwrap_or(""), &ctx) {
            Ok(e) => e,
            Err(m) => {
                errors.push(format!("{file}:{at}: {m}"));
                continue;
            }
        };
        if !seen.insert(e.clone()) {
            twice += 1;
            continue;
        }
        let reason = match reason_col {
            Some(c) => field_text(r.get(c).unwrap_or("")),
            None => field_text(&a.reason),
        };
        let reference = reference_col
            .map(|c| field_text(r.get(c).unwrap_or("")))
            .unwrap_or_default();
        let line = match (reason.is_empty(), reference.is_empty()) {
            (true, true) => e,
            (_, true) => format!("{e},{reason}"),
            _ => format!("{e},{reason},{reference}"),
        };
        text.push_str(&line);
        text.push('\n');
        lines.push(at);
    }
    // What `lists verify` (and a push) would refuse, told by the file's line.
    let guard = Guard {
        min_prefix_digits: a.min_prefix_digits,
        ..Guard::default()
    };
    if errors.is_empty()
        && let Err(e) = parse(text.as_bytes(), ListKind::Numbers, guard)
    {
        for le in &e.errors {
            let at = le
                .line
                .and_then(|l| lines.get(l.checked_sub(1)?))
                .copied()
                .unwrap_or(0);
            errors.push(format!("{file}:{at}: {}", le.message));
        }
    }
    if !errors.is_empty() {
        for e in &errors {
            eprintln!("{e}");
        }
        return fail(format!(
            "{file}: {} of {rows} rows not imported: nothing written (a list that left rows out would let their callers through)",
            errors.len()
        ));
    }
    let numbers = lines.len() - 2;
    let written = match &a.out {
        Some(p) => write_file(p, &text),
        None => std::io::stdout().write_all(text.as_bytes()),
    };
    if let Err(e) = written {
        return fail(format!("cannot write the list: {e}"));
    }
    eprintln!(
        "{file}: {rows} rows, {numbers} entries{}; list {} version {}{}",
        if twice > 0 {
            format!(" ({twice} listed twice, kept once)")
        } else {
            String::new()
        },
        a.name,
        a.version,
        a.out
            .as_ref()
            .map(|p| format!(" in {}", p.display()))
            .unwrap_or_default()
    );
    ExitCode::SUCCESS
}

/// Written whole or not at all (a temporary file beside it, renamed).
fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("import.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_prefixes_and_what_is_not_a_number() {
        let uk = NumberContext::national("44");
        assert_eq!(
            entry(" +44 20 7946 0000 ", &uk).as_deref(),
            Ok("+442079460000")
        );
        assert_eq!(entry("020 7946 0000", &uk).as_deref(), Ok("+442079460000"));
        assert_eq!(entry("0044 800 123456", &uk).as_deref(), Ok("+44800123456"));
        assert_eq!(entry("0800*", &uk).as_deref(), Ok("+44800*"));
        assert!(entry("", &uk).is_err());
        assert!(entry("HMRC", &uk).is_err());
        let e164 = NumberContext::e164_only();
        assert!(
            entry("020 7946 0000", &e164)
                .unwrap_err()
                .contains("--country-code")
        );
        assert_eq!(field_text("Tax, HMRC # helpline\t"), "Tax HMRC helpline");
    }
}
