//! Build script: what the Debian package installs beside the binary, made
//! from the sources it documents so that it cannot drift from them:
//!
//! - `callscreen(1)` and one page per subcommand (`callscreen-lists-push(1)`,
//!   …), and the bash, zsh and fish completions, from the clap definitions
//!   in `src/cli.rs`;
//! - `callscreen.toml(5)`, every section and key with its comment, from the
//!   commented example configuration `config/callscreen.toml` (the config's
//!   own documentation; a test checks it names every key of the schema);
//! - the configuration the package installs in `/etc/callscreen`: the same
//!   example, made safe to start (no example API clients, the state in
//!   `/var/lib/callscreen`).
//!
//! They are written to `target/assets/`, where `cargo deb` takes them
//! (`[package.metadata.deb] assets` in Cargo.toml; outside `target/release/`,
//! which cargo deb treats as build products and would not compress).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

// The definitions only; their tests and the library are not part of the build script.
#[allow(dead_code)]
#[path = "src/cli.rs"]
mod cli;

const EXAMPLE_CONFIG: &str = "config/callscreen.toml";

fn main() -> io::Result<()> {
    println!("cargo:rerun-if-changed=src/cli.rs");
    println!("cargo:rerun-if-changed={EXAMPLE_CONFIG}");
    println!("cargo:rerun-if-changed=build.rs");
    let out = assets_dir()?;
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();

    let man1 = out.join("man1");
    fs::create_dir_all(&man1)?;
    let cmd = cli::Cli::command();
    man_pages(&cmd, "callscreen", &man1)?;

    let completions = out.join("completions");
    fs::create_dir_all(&completions)?;
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        let mut c = cli::Cli::command();
        clap_complete::generate_to(shell, &mut c, "callscreen", &completions)?;
    }

    let example = fs::read_to_string(EXAMPLE_CONFIG)?;
    let man5 = out.join("man5");
    fs::create_dir_all(&man5)?;
    // The page describes the file the package installs (its values).
    let packaged = packaged_config(&example);
    fs::write(
        man5.join("callscreen.toml.5"),
        config_man_page(&packaged, &version),
    )?;
    fs::write(out.join("callscreen.toml"), packaged)?;
    Ok(())
}

/// `target/assets` (OUT_DIR is `target/<profile>/build/<pkg>-<hash>/out`).
fn assets_dir() -> io::Result<PathBuf> {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or(io::ErrorKind::NotFound)?);
    let target = out.ancestors().nth(4).ok_or(io::ErrorKind::NotFound)?;
    let dir = target.join("assets");
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A page for the command and one for each subcommand, named after the path
/// to it (`callscreen-lists-push.1`).
fn man_pages(cmd: &clap::Command, name: &str, dir: &Path) -> io::Result<()> {
    // No page for clap's `help` subcommand, so none named in SEE ALSO.
    let page = cmd
        .clone()
        .name(name.to_string())
        .disable_help_subcommand(true);
    let mut buf = Vec::new();
    clap_mangen::Man::new(page)
        .section("1")
        .manual("callscreen")
        .render(&mut buf)?;
    fs::write(dir.join(format!("{name}.1")), buf)?;
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        man_pages(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}

/// Text for roff: backslashes, hyphens and leading dots escaped.
fn roff(s: &str) -> String {
    let t = s.replace('\\', "\\e").replace('-', "\\-");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

/// One documented key: `key = value`, and what the comments say of it.
struct Key {
    name: String,
    example: String,
    text: Vec<String>,
    /// Commented out in the example: optional, off by default.
    optional: bool,
}

/// One section of the example configuration, in the order it first appears.
struct Section {
    header: String,
    text: Vec<String>,
    keys: Vec<Key>,
}

/// Reads the commented example: each `[section]` with the comment block
/// above it, each key with the comment lines above it and its trailing
/// comment. A repeated `[[table]]` adds only keys not seen before.
fn sections(example: &str) -> (Vec<String>, Vec<Section>) {
    let mut intro = Vec::new();
    let mut sections: Vec<Section> = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    let mut current: Option<usize> = None;
    let mut lines = example.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim();
        if t.is_empty() {
            if current.is_none() && !pending.is_empty() {
                intro.append(&mut pending);
            }
            pending.clear();
            continue;
        }
        if let Some(c) = t.strip_prefix('#') {
            let c = c.trim();
            // `# [stir]`: a section left out of the example; the keys
            // commented below it are its own (not the section above's).
            if is_header(c) {
                current = Some(section(&mut sections, c, &mut pending));
                continue;
            }
            if let Some(key) = commented_key(c) {
                if let Some(i) = current {
                    add_key(&mut sections[i], key, std::mem::take(&mut pending), true);
                }
                continue;
            }
            pending.push(c.to_string());
            continue;
        }
        if t.starts_with('[') {
            let header = t.split('#').next().unwrap_or(t).trim();
            current = Some(section(&mut sections, header, &mut pending));
            continue;
        }
        let Some((name, rest)) = t.split_once('=') else {
            continue;
        };
        let (value, trailing) = match rest.split_once(" #") {
            Some((v, c)) => (v.trim().to_string(), Some(c.trim().to_string())),
            None => (rest.trim().to_string(), None),
        };
        // A multi-line array: its rows are the example, not keys.
        let mut example = value.clone();
        if value.starts_with('[') && !value.ends_with(']') {
            example = format!("{value} … ]");
            for row in lines.by_ref() {
                if row.trim_start().starts_with(']') {
                    break;
                }
            }
        }
        let mut text = std::mem::take(&mut pending);
        text.extend(trailing);
        let key = Key {
            name: name.trim().to_string(),
            example,
            text,
            optional: false,
        };
        if let Some(i) = current {
            add_key(&mut sections[i], key, Vec::new(), false);
        }
    }
    (intro, sections)
}

/// The section of `header` (made, with the comment above it, the first
/// time it appears); the comment lines pending are taken either way.
fn section(sections: &mut Vec<Section>, header: &str, pending: &mut Vec<String>) -> usize {
    let text = std::mem::take(pending);
    if let Some(i) = sections.iter().position(|s| s.header == header) {
        return i;
    }
    sections.push(Section {
        header: header.to_string(),
        text,
        keys: Vec::new(),
    });
    sections.len() - 1
}

/// `[name]` or `[[name]]` alone: a TOML table header.
fn is_header(c: &str) -> bool {
    let inner = c
        .strip_prefix("[[")
        .and_then(|x| x.strip_suffix("]]"))
        .or_else(|| c.strip_prefix('[').and_then(|x| x.strip_suffix(']')));
    inner.is_some_and(|n| {
        !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'.')
    })
}

/// `# name = value  # comment` in a comment: a key left out of the example.
fn commented_key(c: &str) -> Option<Key> {
    let (name, rest) = c.split_once(" = ")?;
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    let (value, trailing) = match rest.split_once(" #") {
        Some((v, c)) => (v.trim(), Some(c.trim().to_string())),
        None => (rest.trim(), None),
    };
    // A TOML value, not prose that happens to hold " = ".
    let quoted = value.len() >= 2 && value.starts_with('"') && value.ends_with('"');
    let literal = value == "true"
        || value == "false"
        || value.parse::<f64>().is_ok()
        || (value.starts_with('[') && value.ends_with(']'))
        || (value.starts_with('{') && value.ends_with('}'));
    if !quoted && !literal {
        return None;
    }
    Some(Key {
        name: name.to_string(),
        example: value.to_string(),
        text: trailing.into_iter().collect(),
        optional: true,
    })
}

fn add_key(section: &mut Section, mut key: Key, above: Vec<String>, optional: bool) {
    if section.keys.iter().any(|k| k.name == key.name) {
        return;
    }
    if !above.is_empty() {
        let mut text = above;
        text.append(&mut key.text);
        key.text = text;
    }
    key.optional |= optional;
    section.keys.push(key);
}

/// callscreen.toml(5), from the commented example configuration.
fn config_man_page(example: &str, version: &str) -> String {
    // The example's opening comment speaks of itself; DESCRIPTION replaces it.
    let (_intro, sections) = sections(example);
    let mut m = String::new();
    m.push_str(&format!(
        ".TH CALLSCREEN.TOML 5 \"\" \"callscreen {version}\" \"File Formats\"\n"
    ));
    m.push_str(".SH NAME\ncallscreen.toml \\- configuration of the callscreen SIP call\\-screening daemon\n");
    m.push_str(".SH SYNOPSIS\n/etc/callscreen/callscreen.toml\n");
    m.push_str(".SH DESCRIPTION\n");
    m.push_str("A TOML file. \\fBcallscreen config check\\fR \\fIFILE\\fR validates it and every list it names, exactly as the daemon does at start, and names the file, line and key of every error. \\fBsystemctl reload callscreen\\fR (SIGHUP) applies a changed file whole, or keeps the previous one if it is refused. This page is made from the commented example the package installs; each key below shows the example's value.\n");
    for s in &sections {
        m.push_str(&format!(".SH {}\n", roff(&s.header)));
        for line in &s.text {
            m.push_str(&roff(line));
            m.push('\n');
        }
        for k in &s.keys {
            m.push_str(".TP\n");
            m.push_str(&format!(
                "\\fB{}\\fR = {}{}\n",
                roff(&k.name),
                roff(&k.example),
                if k.optional {
                    " (not set by default)"
                } else {
                    ""
                }
            ));
            for line in &k.text {
                m.push_str(&roff(line));
                m.push('\n');
            }
        }
    }
    m.push_str(".SH FILES\n.TP\n/etc/callscreen/callscreen.toml\nthis file\n.TP\n/etc/callscreen/lists/\nthe seed lists it names\n.TP\n/var/lib/callscreen/\npushed lists (the state directory)\n");
    m.push_str(".SH SEE ALSO\n\\fBcallscreen\\fR(1), \\fBcallscreen\\-config\\-check\\fR(1), \\fBsystemd.exec\\fR(5)\n");
    m
}

/// The configuration the package installs: the example, with no API client
/// (the example tokens are public; every push is refused until the operator
/// adds a client) and the state in `/var/lib/callscreen`.
fn packaged_config(example: &str) -> String {
    let mut out = String::from(
        "# /etc/callscreen/callscreen.toml, installed by the callscreen package (a\n\
         # conffile: an upgrade keeps your edits). The daemon starts safely on it:\n\
         # SIP and the control API on loopback only, no API client (every request\n\
         # is refused until you add one: callscreen api add-client NAME\n\
         # --operations read,calls). man callscreen.toml(5) describes every key;\n\
         # `callscreen config check` validates your changes.\n\n",
    );
    let mut in_client = false;
    // The example's opening comment (up to the first blank line) speaks of
    // the example; the header above replaces it.
    let body = example.split_once("\n\n").map_or(example, |(_, rest)| rest);
    for line in body.lines() {
        let t = line.trim();
        if t == "[[api.clients]]" {
            in_client = true;
            out.push_str("# An example client, off (its token is public); to add one:\n");
            out.push_str("#   callscreen api add-client NAME --operations read,calls\n");
            out.push_str(
                "# (it writes conf.d/NAME.toml), or by hand with the SHA-256 of a token:\n",
            );
            out.push_str("#   printf '%s' \"$TOKEN\" | callscreen api hash-token\n");
        } else if in_client
            && (t.is_empty() || (t.starts_with('[') && !t.starts_with("[[api.clients")))
        {
            in_client = false;
        }
        if in_client {
            out.push_str("# ");
            out.push_str(line);
        } else if t.starts_with("state_dir =") {
            out.push_str(
                "state_dir = \"/var/lib/callscreen\"   # systemd's StateDirectory=callscreen",
            );
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}
