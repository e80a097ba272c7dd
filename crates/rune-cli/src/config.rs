//! The TOML configuration file (`rune mcp-server --config FILE`).
//!
//! ```toml
//! # Directories the tools may touch (default: the current directory).
//! roots = ["~/src/project", "/srv/data"]
//! # error | warn | info | debug | trace (logs go to stderr)
//! log_level = "info"
//! # Serve on an address instead of stdio.
//! listen = "tcp://127.0.0.1:9000"
//! # Also serve the writing tools (off by default).
//! allow_write = true
//! ```
//!
//! Command-line flags override the file. Unknown keys are an error, so a typo is reported
//! rather than silently ignored.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The file's contents.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// Allowed roots.
    #[serde(default)]
    pub(crate) roots: Vec<PathBuf>,
    /// Log level for stderr.
    #[serde(default)]
    pub(crate) log_level: Option<String>,
    /// Listen address.
    #[serde(default)]
    pub(crate) listen: Option<String>,
    /// Serve the writing tools.
    #[serde(default)]
    pub(crate) allow_write: Option<bool>,
}

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
}

impl Config {
    pub(crate) fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        // Relative roots are relative to the file, not to wherever rune was started.
        let base = path.parent().unwrap_or(Path::new("."));
        for root in &mut config.roots {
            if let Some(rest) = root.to_str().and_then(|s| s.strip_prefix("~/"))
                && let Some(home) = std::env::var_os("HOME")
            {
                *root = PathBuf::from(home).join(rest);
            } else if root.is_relative() {
                *root = base.join(&*root);
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_bad_types_are_errors_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("rune-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("rune.toml");
        std::fs::write(&file, "rots = [\"a\"]\n").expect("write");
        let err = Config::load(&file)
            .expect_err("typo must be refused")
            .to_string();
        assert!(err.contains("rune.toml") && err.contains("rots"), "{err}");
        std::fs::write(&file, "roots = \"a\"\n").expect("write");
        assert!(Config::load(&file).is_err());
        std::fs::write(&file, "roots = [\"sub\"]\nlog_level = \"debug\"\n").expect("write");
        let c = Config::load(&file).expect("valid");
        assert_eq!(c.roots, vec![dir.join("sub")]);
        assert_eq!(c.log_level.as_deref(), Some("debug"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
