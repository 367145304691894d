//! The configuration file: its TOML schema (`schema`), and its validation
//! into ready-to-use [`Settings`] (`settings`). Every error a user can cause
//! names the file, the line, the key and what was expected; all errors are
//! reported at once, not the first only.
//!
//! `validate` walks the sections in order, each validated in a file of its
//! own, as the schema is laid out: `numbering` (`[home]`, `[[numbering]]`,
//! `[emergency]`), `lists` (`[list_guard]`, `[[lists]]`), `policy`
//! (`[policy]` rules, `[tags]`), `peers` (`[[sbcs]]`, `[[peers]]`), `sip`
//! (`[sip]`, `[redirect]`, `[log]`, `[proxy]`), `api` (`[api]`), `warn`
//! (`[warn]`, the announcement service for dialled numbers); `context`
//! collects the errors with their lines.

mod api;
mod context;
mod dropin;
mod error;
mod fleet;
mod lists;
mod numbering;
mod peers;
mod policy;
mod records;
mod redress;
mod roaming;
mod schema;
mod settings;
mod signing;
mod sip;
mod stir;
mod validate;
mod warn;

use std::path::{Path, PathBuf};

pub use api::{ApiSettings, Client, DEFAULT_MAX_BODY, Operation, parse_sha256};
pub use context::CREDENTIAL_HINT;
pub use dropin::dir_of as drop_in_dir;
pub use error::{ConfigError, ConfigErrors};
pub use fleet::FleetSettings;
pub use records::RecordsSettings;
pub use redress::RedressSettings;
pub use settings::{
    BurstSettings, Carry, ListSpec, LogSettings, Mode, NextHop, OverLimit, PeerLimit, PeerMatch,
    ProxySettings, RedirectSettings, Sbc, Settings, SignMode, SipSettings, TagSettings,
    UnknownSource, WarnSettings,
};

/// Reads and validates a configuration file, and the drop-ins beside it
/// (`conf.d/*.toml`: `[[api.clients]]` only).
pub fn load(path: &Path) -> Result<Settings, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors::one(ConfigError {
            file: path.to_path_buf(),
            line: None,
            key: String::new(),
            message: format!("cannot read the configuration file: {e}"),
        })
    })?;
    let mut settings = from_str(&text, path)?;
    dropin::apply(&mut settings, path, &text)?;
    Ok(settings)
}

/// Validates configuration text; `path` names it in errors and anchors
/// relative list paths.
pub fn from_str(text: &str, path: &Path) -> Result<Settings, ConfigErrors> {
    let raw: schema::Config = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| error::line_of(text, s.start));
        ConfigErrors::one(ConfigError {
            file: path.to_path_buf(),
            line,
            key: String::new(),
            message: e.message().trim_end().to_string(),
        })
    })?;
    let base: PathBuf = path.parent().map(Path::to_path_buf).unwrap_or_default();
    validate::validate(raw, text, path, &base)
}

#[cfg(test)]
mod tests;
