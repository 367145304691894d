//! A list written back as v1 text: what `GET /v1/lists/{name}` serves and
//! what a patched version stores.

use std::collections::HashSet;

use super::entry::format_expiry;
use super::set::List;

/// The v1 text of a list (what export serves, and what a patched version stores).
pub fn v1_text(l: &List, version: u64, skip: &HashSet<String>, extra: &[String]) -> String {
    let mut out = format!("# callscreen list v1 name={} version={version}\n", l.name);
    for (t, m) in l.entries() {
        let entry = t.to_string();
        if skip.contains(&entry) {
            continue;
        }
        out.push_str(&entry);
        if m.reason.is_some() || m.reference.is_some() || m.expires.is_some() {
            out.push_str(&format!(
                ",{},{},{}",
                m.reason.as_deref().unwrap_or(""),
                m.reference.as_deref().unwrap_or(""),
                m.expires.map(format_expiry).unwrap_or_default()
            ));
        }
        out.push('\n');
    }
    for e in extra {
        out.push_str(e.trim());
        out.push('\n');
    }
    out
}
