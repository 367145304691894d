//! Drop-ins: `conf.d/*.toml` beside the main configuration file, read in
//! name order, each holding `[[api.clients]]` only (what `callscreen api
//! add-client` writes). Their clients are appended to the main file's; a
//! client name defined twice, anywhere, is an error naming both places.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::context::Ctx;
use super::error::{ConfigError, ConfigErrors, line_of};
use super::schema;
use super::settings::Settings;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DropIn {
    #[serde(default)]
    api: Option<DropInApi>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DropInApi {
    #[serde(default)]
    clients: Vec<Spanned<schema::ApiClient>>,
}

/// The drop-in directory of a configuration file.
pub fn dir_of(config: &Path) -> PathBuf {
    config
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join("conf.d")
}

fn error(file: &Path, line: Option<usize>, key: &str, message: String) -> ConfigError {
    ConfigError {
        file: file.to_path_buf(),
        line,
        key: key.to_string(),
        message,
    }
}

/// Appends the clients of the drop-ins beside `main` (whose text is
/// `main_text`) to `settings`, and checks every client name is defined once.
pub(super) fn apply(
    settings: &mut Settings,
    main: &Path,
    main_text: &str,
) -> Result<(), ConfigErrors> {
    let mut errors = Vec::new();
    // Where each client name was defined: the main file first.
    let mut seen: HashMap<String, (PathBuf, usize)> = HashMap::new();
    if let Ok(raw) = toml::from_str::<schema::Config>(main_text)
        && let Some(a) = &raw.api
    {
        for (i, c) in a.clients.iter().enumerate() {
            let line = line_of(main_text, c.span().start);
            let name = &c.get_ref().name;
            if let Some((f, l)) = seen.get(name) {
                errors.push(error(
                    main,
                    Some(line),
                    &format!("api.clients[{i}].name"),
                    format!("a client named {name:?} is already defined at {}:{l}; give each client a name of its own", f.display()),
                ));
            } else {
                seen.insert(name.clone(), (main.to_path_buf(), line));
            }
        }
    }
    let dir = dir_of(main);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(r) => r
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            errors.push(error(
                &dir,
                None,
                "",
                format!("cannot read the drop-in directory: {e}"),
            ));
            Vec::new()
        }
    };
    files.sort();
    let lists: HashMap<String, crate::lists::Role> = settings
        .lists
        .iter()
        .map(|l| (l.name.clone(), l.role))
        .collect();
    for f in files {
        let text = match std::fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) => {
                errors.push(error(&f, None, "", format!("cannot read the drop-in: {e}")));
                continue;
            }
        };
        let raw: DropIn = match toml::from_str(&text) {
            Ok(r) => r,
            Err(e) => {
                errors.push(error(
                    &f,
                    e.span().map(|s| line_of(&text, s.start)),
                    "",
                    format!(
                        "{} (a drop-in in {} holds [[api.clients]] only)",
                        e.message().trim_end(),
                        dir.display()
                    ),
                ));
                continue;
            }
        };
        let clients = raw.api.map(|a| a.clients).unwrap_or_default();
        let mut cx = Ctx {
            text: &text,
            path: &f,
            errors: Vec::new(),
        };
        for (i, c) in clients.iter().enumerate() {
            let key = format!("api.clients[{i}]");
            let name = &c.get_ref().name;
            if let Some((pf, pl)) = seen.get(name) {
                cx.err::<()>(
                    Some(c.span()),
                    format!("{key}.name"),
                    format!("a client named {name:?} is already defined at {}:{pl}; give each client a name of its own", pf.display()),
                );
                continue;
            }
            let Some(client) = super::api::client(&mut cx, c, &key, &lists) else {
                continue;
            };
            seen.insert(name.clone(), (f.clone(), line_of(&text, c.span().start)));
            match settings.api.as_mut() {
                Some(api) => api.clients.push(client),
                None => {
                    cx.err::<()>(
                        Some(c.span()),
                        key,
                        format!(
                            "API clients, but {} has no [api] section: add one, or remove this drop-in",
                            main.display()
                        ),
                    );
                }
            }
        }
        errors.extend(cx.errors);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(errors))
    }
}
