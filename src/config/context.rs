//! The validation's working state: the text being validated (for line
//! numbers) and every error found so far, with helpers shared by the
//! sections.

use std::path::Path;
use std::str::FromStr;

use toml::Spanned;

use super::error::{ConfigError, line_of};
use crate::cidr::Cidr;

/// Where a file the configuration names is, for the files a service reads
/// as credentials (keys, tokens, certificates): a relative path is looked
/// up first in systemd's `$CREDENTIALS_DIRECTORY` (`LoadCredential=`, the
/// copies systemd makes readable by the service's own user), then beside
/// the configuration.
pub(super) fn secret_path(base: &Path, v: &str) -> std::path::PathBuf {
    let p = Path::new(v);
    if p.is_relative()
        && let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY")
    {
        let c = Path::new(&dir).join(p);
        if c.exists() {
            return c;
        }
    }
    base.join(p)
}

pub use crate::tls::CREDENTIAL_HINT;

pub(super) struct Ctx<'a> {
    pub text: &'a str,
    pub path: &'a Path,
    pub errors: Vec<ConfigError>,
}

impl Ctx<'_> {
    /// A number setting within `lo..=hi` (`default` when absent); out of
    /// range, an error naming `key` and the range.
    pub fn bounded<T: Copy + PartialOrd + std::fmt::Display>(
        &mut self,
        v: &Option<toml::Spanned<T>>,
        key: &str,
        (lo, hi, default): (T, T, T),
        unit: &str,
    ) -> T {
        match v {
            None => default,
            Some(x) if (lo..=hi).contains(x.get_ref()) => *x.get_ref(),
            Some(x) => {
                self.err::<()>(
                    Some(x.span()),
                    key,
                    format!("must be {lo} to {hi}{unit} (default {default})"),
                );
                default
            }
        }
    }

    pub fn err<T>(
        &mut self,
        span: Option<std::ops::Range<usize>>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Option<T> {
        let line = span
            .filter(|s| s.end > 0)
            .map(|s| line_of(self.text, s.start));
        self.errors.push(ConfigError {
            file: self.path.to_path_buf(),
            line,
            key: key.into(),
            message: message.into(),
        });
        None
    }

    pub fn digits(
        &mut self,
        v: &Spanned<String>,
        key: &str,
        what: &str,
        allow_empty: bool,
    ) -> Option<String> {
        let s = v.get_ref();
        if (s.is_empty() && !allow_empty) || !s.bytes().all(|c| c.is_ascii_digit()) || s.len() > 15
        {
            return self.err(Some(v.span()), key, format!("{s:?} must be {what}"));
        }
        Some(s.clone())
    }

    pub fn cidrs(&mut self, v: &[Spanned<String>], key: &str) -> Vec<Cidr> {
        let mut out = Vec::new();
        for (i, a) in v.iter().enumerate() {
            match Cidr::from_str(a.get_ref()) {
                Ok(c) => out.push(c),
                Err(e) => {
                    self.err::<()>(Some(a.span()), format!("{key}[{i}]"), e.0);
                }
            }
        }
        out
    }
}
