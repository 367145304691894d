//! The layering test: every module under `src/` uses only the rooms that
//! `docs/layout.md`'s table allows it, no two files import each other in a
//! loop, and inside the `server` room each file uses only the files after it
//! in the call's order (`docs/layout.md`, "`server` order"). The pure rooms
//! are crates of their own (`crates/`): Cargo keeps their dependencies to
//! what their manifests name, and clippy (`crates/clippy.toml`) keeps them
//! from clocks, files and sockets; here, a path into one of them from
//! `src/` (`crate::sip::…` through the re-export, or `sip::…` directly)
//! counts as a use of that room. It reads every `crate::…` and `super::…` path (in `use` lines and
//! written inline, outside comments and strings), and in a file with child
//! modules the paths that start with a child's name. A `pub use` re-export is a
//! facade, not a dependency of the file that holds it: a path through it is
//! followed to the file that defines the name.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

/// The rooms that are crates of their own (`crates/NAME`, used as `NAME`).
const PURE: [&str; 5] = ["number", "cidr", "sip", "lists", "screen"];

/// One path read from a file.
#[derive(Clone, Debug)]
struct PathRef {
    line: usize,
    /// As written, e.g. `crate::server::Shared` or `super::handler::decide`.
    text: String,
    /// Absolute module segments (`["server", "Shared"]`).
    segments: Vec<String>,
    /// Part of a `pub use` (a re-export).
    reexport: bool,
}

struct SourceFile {
    rel: String,
    /// Module path of the file (`["server", "handler"]`); empty for lib.rs.
    module: Vec<String>,
    refs: Vec<PathRef>,
    /// For a file with children: name re-exported → absolute path it names.
    reexports: HashMap<String, Vec<String>>,
}

#[test]
fn every_module_uses_only_what_the_rooms_table_allows_and_no_files_loop() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let table = fs::read_to_string(root.join("docs/layout.md")).expect("docs/layout.md");
    let rooms = read_rooms(&table);
    assert!(
        rooms.len() >= 10 && rooms.iter().any(|(r, _)| r == "server"),
        "docs/layout.md: the rooms table was not found or is incomplete: {rooms:?}"
    );
    let files = read_tree(&root.join("src"));
    assert!(
        files.len() > 40,
        "only {} files read under src/",
        files.len()
    );

    let mut problems = Vec::new();
    let allowed: HashMap<&str, &BTreeSet<String>> =
        rooms.iter().map(|(r, a)| (r.as_str(), a)).collect();
    let by_module: HashMap<Vec<String>, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.module.clone(), i))
        .collect();

    // Rooms.
    for f in &files {
        let Some(from) = room_of(f) else { continue };
        let Some(may) = allowed.get(from.as_str()) else {
            problems.push(format!(
                "{}: the room `{from}` has no row in docs/layout.md",
                f.rel
            ));
            continue;
        };
        for r in &f.refs {
            let Some(to) = r.segments.first() else {
                continue;
            };
            if to == &from || may.contains(to) {
                continue;
            }
            if !allowed.contains_key(to.as_str()) && !by_module.contains_key(&vec![to.clone()]) {
                continue; // not a module of the crate (a macro, an extern name)
            }
            problems.push(format!(
                "{}:{}: `{}`: the room `{from}` may not use `{to}` (docs/layout.md)",
                f.rel, r.line, r.text
            ));
        }
    }

    // Files in a loop.
    let mut edges: Vec<BTreeMap<usize, (usize, String)>> = vec![BTreeMap::new(); files.len()];
    for (i, f) in files.iter().enumerate() {
        for r in f.refs.iter().filter(|r| !r.reexport) {
            if let Some(j) = resolve(&files, &by_module, &r.segments, 0)
                && j != i
            {
                edges[i].entry(j).or_insert((r.line, r.text.clone()));
            }
        }
    }
    for scc in strongly_connected(&edges) {
        if scc.len() < 2 {
            continue;
        }
        let set: BTreeSet<usize> = scc.iter().copied().collect();
        let mut lines = Vec::new();
        for &i in &scc {
            for (j, (line, text)) in &edges[i] {
                if set.contains(j) {
                    lines.push(format!(
                        "    {}:{line}: `{text}` -> {}",
                        files[i].rel, files[*j].rel
                    ));
                }
            }
        }
        let names: Vec<&str> = scc.iter().map(|&i| files[i].rel.as_str()).collect();
        problems.push(format!(
            "files that import each other in a loop: {}\n{}",
            names.join(", "),
            lines.join("\n")
        ));
    }

    // Order inside `server`.
    let order = read_order(&table, "server");
    assert!(
        order.len() >= 5,
        "docs/layout.md: the line \"`server` order: ...\" was not found: {order:?}"
    );
    for f in files
        .iter()
        .filter(|f| f.module.first().is_some_and(|m| m == "server"))
    {
        let Some(&from) = f.module.get(1).and_then(|m| order.get(m)) else {
            continue;
        };
        for r in f.refs.iter().filter(|r| !r.reexport) {
            if r.segments.first().is_none_or(|m| m != "server") {
                continue;
            }
            let Some(to_file) = resolve(&files, &by_module, &r.segments, 0) else {
                continue;
            };
            let Some(to) = files[to_file].module.get(1) else {
                continue;
            };
            if order.get(to).is_some_and(|&t| t < from) {
                problems.push(format!(
                    "{}:{}: `{}`: `{}` comes before `{}` in the call's order; a file uses only the ones after it (docs/layout.md, \"`server` order\")",
                    f.rel,
                    r.line,
                    r.text,
                    to,
                    f.module[1]
                ));
            }
        }
    }
    for f in files
        .iter()
        .filter(|f| f.module.len() == 2 && f.module[0] == "server")
    {
        if f.module[1] != "tests" && !order.contains_key(&f.module[1]) {
            problems.push(format!(
                "{}: `{}` has no place in docs/layout.md's \"`server` order\"",
                f.rel, f.module[1]
            ));
        }
    }

    // The pure rooms are the crates under crates/, and nothing else is.
    let mut dirs: Vec<String> = fs::read_dir(root.join("crates"))
        .expect("crates/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut pure: Vec<String> = PURE.iter().map(|s| s.to_string()).collect();
    pure.sort();
    assert_eq!(dirs, pure, "crates/ against the test's PURE list");
    for p in PURE {
        assert!(
            allowed.contains_key(p),
            "docs/layout.md: the pure room `{p}` has no row"
        );
        assert!(
            !root.join("src").join(p).exists() && !root.join(format!("src/{p}.rs")).exists(),
            "src/{p}: the room `{p}` is the crate crates/{p}, not a module of the daemon"
        );
    }

    assert!(
        problems.is_empty(),
        "{} layering problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The reader itself: paths in code are found, in comments and strings not;
/// `super` in an inline module names the file it stands in.
#[test]
fn the_path_reader_finds_code_paths_only() {
    let src = r##"
//! crate::doc::comment
use crate::a::{b::C, d};
use super::*;
pub use child::Thing;
mod child;
/* crate::block::comment */
fn f() { let s = "crate::in::string"; let r = r#"super::raw"#; crate::e::f(); child::g(); }
fn g() { sip::scan::f(); lists::guard(); }
use crate::config::lists;
#[cfg(test)]
mod tests {
    use super::*;
    use crate::x::Y;
}
"##;
    let f = read_file("src/p/q.rs".into(), vec!["p".into(), "q".into()], src);
    let got: Vec<(usize, String, bool)> = f
        .refs
        .iter()
        .map(|r| (r.line, r.segments.join("::"), r.reexport))
        .collect();
    assert_eq!(
        got,
        vec![
            (3, "a::b::C".to_string(), false),
            (3, "a::d".to_string(), false),
            (4, "p::*".to_string(), false),
            (5, "p::q::child::Thing".to_string(), true),
            (8, "e::f".to_string(), false),
            (8, "p::q::child::g".to_string(), false),
            (9, "sip::scan::f".to_string(), false),
            (10, "config::lists".to_string(), false),
            (13, "p::q::*".to_string(), false),
            (14, "x::Y".to_string(), false),
        ]
    );
    assert_eq!(
        f.reexports.get("Thing"),
        Some(&vec![
            "p".to_string(),
            "q".to_string(),
            "child".to_string(),
            "Thing".to_string()
        ])
    );
}

/// The table: room → the rooms it may use.
/// The order of a room's files from the line "`ROOM` order: `a`, `b` → `c` …":
/// file name → its step (files of one step share it).
fn read_order(table: &str, room: &str) -> HashMap<String, usize> {
    let head = format!("`{room}` order:");
    let Some(line) = table.lines().find(|l| l.trim_start().starts_with(&head)) else {
        return HashMap::new();
    };
    let mut order = HashMap::new();
    for (i, step) in line.trim_start()[head.len()..].split('→').enumerate() {
        for name in backticked(step) {
            order.insert(name, i);
        }
    }
    order
}

fn read_rooms(table: &str) -> Vec<(String, BTreeSet<String>)> {
    let mut rooms: Vec<(String, BTreeSet<String>)> = Vec::new();
    for line in table.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 5 || !cells[1].starts_with('`') {
            continue;
        }
        // `name`, or `name` (*crate*) for a pure room.
        let Some(room) = backticked(cells[1]).into_iter().next() else {
            continue;
        };
        let may = cells[3];
        let named = backticked(may);
        let allowed: BTreeSet<String> = if may == "all" {
            ["*".to_string()].into_iter().collect()
        } else if let Some(rest) = may.strip_prefix("all above") {
            let except = backticked(rest);
            rooms
                .iter()
                .map(|(r, _)| r.clone())
                .filter(|r| !except.contains(r))
                .collect()
        } else {
            named
        };
        rooms.push((room, allowed));
    }
    // `all`: every room.
    let every: BTreeSet<String> = rooms.iter().map(|(r, _)| r.clone()).collect();
    for (_, a) in rooms.iter_mut() {
        if a.contains("*") {
            *a = every.clone();
        }
    }
    rooms
}

fn backticked(s: &str) -> BTreeSet<String> {
    s.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, w)| w.to_string())
        .collect()
}

fn room_of(f: &SourceFile) -> Option<String> {
    if f.rel == "src/main.rs" {
        return Some("main".into());
    }
    f.module.first().cloned()
}

fn read_tree(src: &Path) -> Vec<SourceFile> {
    let mut paths = Vec::new();
    walk(src, &mut paths);
    paths.sort();
    let mut files = Vec::new();
    for p in paths {
        let rel_src = p.strip_prefix(src).expect("under src");
        let rel = format!("src/{}", rel_src.display());
        if rel == "src/main.rs" {
            // The binary: its paths are `callscreen::…`; its room allows all.
            files.push(SourceFile {
                rel,
                module: vec!["main".into()],
                refs: Vec::new(),
                reexports: HashMap::new(),
            });
            continue;
        }
        let mut module: Vec<String> = rel_src
            .with_extension("")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if module.last().is_some_and(|m| m == "mod" || m == "lib") {
            module.pop();
        }
        let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("{rel}: {e}"));
        files.push(read_file(rel, module, &text));
    }
    files
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for e in entries {
        let p = e.expect("directory entry").path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The file (index) that an absolute path names: the longest module prefix
/// that is a file, then through that file's re-exports.
fn resolve(
    files: &[SourceFile],
    by_module: &HashMap<Vec<String>, usize>,
    segments: &[String],
    depth: usize,
) -> Option<usize> {
    if depth > 8 {
        return None;
    }
    let (n, i) = (0..=segments.len())
        .rev()
        .find_map(|n| by_module.get(&segments[..n].to_vec()).map(|&i| (n, i)))?;
    if let Some(next) = segments.get(n)
        && let Some(target) = files[i].reexports.get(next)
    {
        let mut path = target.clone();
        path.extend_from_slice(&segments[n + 1..]);
        return resolve(files, by_module, &path, depth + 1).or(Some(i));
    }
    Some(i)
}

/// Comments and string/char literals blanked out (newlines kept).
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, s: &[u8]| {
        out.extend(s.iter().map(|&c| if c == b'\n' { b'\n' } else { b' ' }));
    };
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest.starts_with(b"/*") {
            let mut depth = 0;
            let mut j = 0;
            while j < rest.len() {
                if rest[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if rest[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, &rest[..j]);
            i += j;
        } else if let Some(len) = raw_string_len(rest) {
            blank(&mut out, &rest[..len]);
            i += len;
        } else if rest[0] == b'"' || (rest.starts_with(b"b\"") && !ident_before(b, i)) {
            let start = if rest[0] == b'b' { 2 } else { 1 };
            let mut j = start;
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest[0] == b'\'' {
            // A char literal ('x', '\n', '\u{..}'), not a lifetime ('a).
            let len = if rest.get(1) == Some(&b'\\') {
                rest.get(3..)
                    .and_then(|r| r.iter().position(|&c| c == b'\''))
                    .map(|p| p + 4)
            } else {
                src[i + 1..]
                    .chars()
                    .next()
                    .map(char::len_utf8)
                    .filter(|&l| rest.get(1 + l) == Some(&b'\''))
                    .map(|l| l + 2)
            };
            match len {
                Some(l) => {
                    blank(&mut out, &rest[..l]);
                    i += l;
                }
                None => {
                    out.push(b'\'');
                    i += 1;
                }
            }
        } else {
            out.push(rest[0]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn ident_before(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// `r"…"`, `r#"…"#`, `br#"…"#`: the length of the literal at the start.
fn raw_string_len(s: &[u8]) -> Option<usize> {
    let start = if s.starts_with(b"br") {
        2
    } else if s.starts_with(b"r") {
        1
    } else {
        return None;
    };
    let hashes = s[start..].iter().take_while(|&&c| c == b'#').count();
    if s.get(start + hashes) != Some(&b'"') {
        return None;
    }
    let mut close = vec![b'"'];
    close.extend(std::iter::repeat_n(b'#', hashes));
    let body = start + hashes + 1;
    let end = s[body..].windows(close.len()).position(|w| w == close)?;
    Some(body + end + close.len())
}

fn read_file(rel: String, module: Vec<String>, src: &str) -> SourceFile {
    let code = code_only(src);
    let b = code.as_bytes();
    let line_of = |pos: usize| b[..pos].iter().filter(|&&c| c == b'\n').count() + 1;
    // Child modules declared here (`mod x;`), and inline modules (`mod x {`)
    // with the byte range they cover.
    let mut children = BTreeSet::new();
    let mut inline: Vec<(usize, usize, String)> = Vec::new();
    let words = tokens(&code);
    for (k, &(pos, w)) in words.iter().enumerate() {
        if w != "mod" {
            continue;
        }
        let Some(&(npos, name)) = words.get(k + 1) else {
            continue;
        };
        let after = code[npos + name.len()..].trim_start();
        if after.starts_with(';') {
            children.insert(name.to_string());
        } else if after.starts_with('{') {
            let open = npos + name.len() + code[npos + name.len()..].find('{').unwrap_or(0);
            let close = matching_brace(b, open);
            inline.push((pos, close, name.to_string()));
        }
    }
    let module_at = |pos: usize| {
        let mut m = module.clone();
        for (start, end, name) in &inline {
            if *start <= pos && pos < *end {
                m.push(name.clone());
            }
        }
        m
    };

    // Names a `use` brings in (or a child module) shadow a pure crate's name.
    let statements = use_statements(&words, &code);
    let mut shadow = children.clone();
    for &(pos, end) in &statements {
        for (path, alias) in expand_use(&tidy_use(&code[pos + 3..end])) {
            if path.contains("::") {
                shadow
                    .insert(alias.unwrap_or_else(|| path.rsplit("::").next().unwrap_or("").into()));
            }
        }
    }
    let externs: BTreeSet<String> = PURE
        .iter()
        .map(|p| p.to_string())
        .filter(|p| !shadow.contains(p))
        .collect();

    let mut refs = Vec::new();
    let mut reexports = HashMap::new();
    let mut used = vec![false; b.len()];
    // `use` statements (brace groups expanded).
    for &(pos, end) in &statements {
        let before = code[..pos].trim_end();
        let reexport = before.ends_with("pub")
            || before.ends_with(')') && {
                let t = before.trim_end_matches(|c: char| c != '(');
                t.trim_end_matches('(').trim_end().ends_with("pub")
            };
        let tree = tidy_use(&code[pos + 3..end]);
        let here = module_at(pos);
        for (path, alias) in expand_use(&tree) {
            let Some(segments) = absolute(&path, &here, &children, &externs) else {
                continue;
            };
            if reexport && here == module {
                let name = alias.unwrap_or_else(|| path.rsplit("::").next().unwrap_or("").into());
                if name != "*" && name != "self" {
                    reexports.insert(name, segments.clone());
                }
            }
            refs.push(PathRef {
                line: line_of(pos),
                text: path,
                segments,
                reexport,
            });
        }
        for u in used.iter_mut().take(end).skip(pos) {
            *u = true;
        }
    }
    // Paths written inline.
    let mut i = 0;
    while i < b.len() {
        let is_start = !used[i]
            && (i == 0
                || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_' || b[i - 1] == b':'))
            && (b[i].is_ascii_alphabetic() || b[i] == b'_');
        if !is_start {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b':') {
            j += 1;
        }
        let path = code[i..j].trim_end_matches(':');
        let first = path.split("::").next().unwrap_or("");
        let counts = path.contains("::")
            && (first == "crate"
                || first == "super"
                || first == "self"
                || children.contains(first)
                || externs.contains(first));
        if counts {
            let here = module_at(i);
            if let Some(segments) = absolute(path, &here, &children, &externs) {
                refs.push(PathRef {
                    line: line_of(i),
                    text: path.to_string(),
                    segments,
                    reexport: false,
                });
            }
        }
        i = j.max(i + 1);
    }
    refs.sort_by_key(|r| r.line);
    SourceFile {
        rel,
        module,
        refs,
        reexports,
    }
}

/// Word tokens with their byte positions.
/// Where each `use` statement starts (at `use`) and ends (at its `;`),
/// except a `use` right after `as`.
fn use_statements(words: &[(usize, &str)], code: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (k, &(pos, w)) in words.iter().enumerate() {
        if w != "use"
            || words
                .get(k.wrapping_sub(1))
                .is_some_and(|(_, p)| *p == "as")
        {
            continue;
        }
        if let Some(end) = code[pos..].find(';').map(|e| pos + e) {
            out.push((pos, end));
        }
    }
    out
}

fn tokens(code: &str) -> Vec<(usize, &str)> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_alphabetic() || b[i] == b'_' {
            let mut j = i;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            out.push((i, &code[i..j]));
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

fn matching_brace(b: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    for (k, &c) in b.iter().enumerate().skip(open) {
        if c == b'{' {
            depth += 1;
        } else if c == b'}' {
            depth -= 1;
            if depth == 0 {
                return k;
            }
        }
    }
    b.len()
}

/// A use tree with white space only where it separates words (`d as e`).
fn tidy_use(tree: &str) -> String {
    let words: Vec<&str> = tree.split_whitespace().collect();
    let mut out = String::new();
    for w in words {
        let joins = out.ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '*')
            && w.starts_with(|c: char| c.is_alphanumeric() || c == '_');
        if joins {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// `a::{b::C, d as e}` → `[("a::b::C", None), ("a::d", Some("e"))]`.
fn expand_use(tree: &str) -> Vec<(String, Option<String>)> {
    fn go(prefix: &str, tree: &str, out: &mut Vec<(String, Option<String>)>) {
        if let Some(open) = tree.find('{') {
            let head = &tree[..open];
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            let mut depth = 0;
            let mut start = 0;
            let mut parts = Vec::new();
            for (k, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        parts.push(&inner[start..k]);
                        start = k + 1;
                    }
                    _ => {}
                }
            }
            parts.push(&inner[start..]);
            let base = format!("{prefix}{head}");
            for p in parts.into_iter().filter(|p| !p.is_empty()) {
                go(&base, p, out);
            }
        } else {
            let (path, alias) = match tree.split_once(" as ") {
                Some((p, a)) => (p.to_string(), Some(a.to_string())),
                None => (tree.to_string(), None),
            };
            let full = format!("{prefix}{path}");
            let full = full
                .strip_suffix("::self")
                .map(str::to_string)
                .unwrap_or(full);
            out.push((full, alias));
        }
    }
    let mut out = Vec::new();
    go("", tree, &mut out);
    out
}

/// A path made absolute (crate-relative segments), or None when it does not
/// name a module of the crate (`std::…`, an extern crate). A pure room's
/// crate (`sip::…`, unless a name in scope shadows it) counts as its room.
fn absolute(
    path: &str,
    here: &[String],
    children: &BTreeSet<String>,
    externs: &BTreeSet<String>,
) -> Option<Vec<String>> {
    let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = match segs.first().copied() {
        Some("crate") => {
            segs.remove(0);
            Vec::new()
        }
        Some("super") => {
            let mut b = here.to_vec();
            while segs.first() == Some(&"super") {
                segs.remove(0);
                b.pop();
            }
            b
        }
        Some("self") => {
            segs.remove(0);
            here.to_vec()
        }
        Some(first) if children.contains(first) => here.to_vec(),
        Some(first) if externs.contains(first) => Vec::new(),
        _ => return None,
    };
    base.extend(segs.into_iter().map(str::to_string));
    Some(base)
}

/// Tarjan's strongly connected components.
fn strongly_connected(edges: &[BTreeMap<usize, (usize, String)>]) -> Vec<Vec<usize>> {
    struct T<'a> {
        edges: &'a [BTreeMap<usize, (usize, String)>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(t: &mut T, v: usize) {
        t.index[v] = Some(t.next);
        t.low[v] = t.next;
        t.next += 1;
        t.stack.push(v);
        t.on[v] = true;
        let targets: Vec<usize> = t.edges[v].keys().copied().collect();
        for w in targets {
            match t.index[w] {
                None => {
                    visit(t, w);
                    t.low[v] = t.low[v].min(t.low[w]);
                }
                Some(iw) if t.on[w] => t.low[v] = t.low[v].min(iw),
                _ => {}
            }
        }
        if Some(t.low[v]) == t.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on[w] = false;
                scc.push(w);
                if w == v {
                    break;
                }
            }
            scc.sort();
            t.out.push(scc);
        }
    }
    let n = edges.len();
    let mut t = T {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if t.index[v].is_none() {
            visit(&mut t, v);
        }
    }
    t.out
}
