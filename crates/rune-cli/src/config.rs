//! The TOML configuration file (`rune mcp-server --config FILE`).
//!
//! ```toml
//! # Directories the tools may touch (default: the current directory).
//! roots = ["~/src/project", "/srv/data"]
//! # error | warn | info | debug | trace (logs go to stderr)
//! log_level = "info"
//! # Serve on an address instead of stdio (http://…/mcp, ws://…, tcp://…).
//! listen = "http://127.0.0.1:8080/mcp"
//! # Writing tools run without asking (by default each call asks the user, through MCP
//! # elicitation; a client that cannot ask gets a refusal).
//! allow_write = false
//! # Leave the writing tools out entirely.
//! read_only = false
//! # Narrow the roots to the client's MCP roots when it offers them (never widens).
//! client_roots = false
//!
//! [audit]
//! # One JSON line per tool call. Default: $XDG_STATE_HOME/rune/audit.jsonl
//! # (~/.local/state/rune/audit.jsonl).
//! enabled = true
//! path = "/var/log/rune/audit.jsonl"
//! max_bytes = 10485760   # rotate past this size
//! keep = 5               # rotated files kept
//!
//! [http]                 # with listen = "http://…"
//! allowed_hosts = ["mcp.example.internal"]   # Host/Origin names besides localhost
//! stateless = false      # no sessions (for replicas behind a load balancer)
//! auth_token_env = "RUNE_TOKENS"             # require a bearer token from this variable
//! authorization_servers = ["https://auth.example.com"]
//!
//! # Per tool: leave it out, or set its consent: "allow", "deny" or "ask".
//! [tools.move_path]
//! enabled = false
//! [tools.file_write]
//! consent = "allow"
//! ```
//!
//! Command-line flags override the file. Unknown keys are an error, so a typo is reported
//! rather than silently ignored.

use std::collections::BTreeMap;
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
    /// Writing tools run without asking.
    #[serde(default)]
    pub(crate) allow_write: Option<bool>,
    /// Writing tools left out.
    #[serde(default)]
    pub(crate) read_only: Option<bool>,
    /// Honour the client's roots (narrowing).
    #[serde(default)]
    pub(crate) client_roots: Option<bool>,
    /// The audit log.
    #[serde(default)]
    pub(crate) audit: AuditSection,
    /// Per-tool settings.
    #[serde(default)]
    pub(crate) tools: BTreeMap<String, ToolSection>,
    /// HTTP transport settings.
    #[serde(default)]
    pub(crate) http: HttpSection,
}

/// `[http]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpSection {
    #[serde(default)]
    pub(crate) allowed_hosts: Vec<String>,
    pub(crate) stateless: Option<bool>,
    pub(crate) auth_token_env: Option<String>,
    #[serde(default)]
    pub(crate) authorization_servers: Vec<String>,
}

/// `[audit]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditSection {
    pub(crate) enabled: Option<bool>,
    pub(crate) path: Option<PathBuf>,
    pub(crate) max_bytes: Option<u64>,
    pub(crate) keep: Option<usize>,
}

/// `[tools.NAME]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ToolSection {
    pub(crate) enabled: Option<bool>,
    pub(crate) consent: Option<rune_tools::Consent>,
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
        for root in config.roots.iter_mut().chain(config.audit.path.as_mut()) {
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
        std::fs::write(
            &file,
            "[audit]\npath = \"logs/a.jsonl\"\nkeep = 2\n[tools.file_write]\nconsent = \"allow\"\n\
             [tools.move_path]\nenabled = false\n",
        )
        .expect("write");
        let c = Config::load(&file).expect("valid");
        assert_eq!(c.audit.path, Some(dir.join("logs/a.jsonl")));
        assert_eq!(c.audit.keep, Some(2));
        assert_eq!(
            c.tools["file_write"].consent,
            Some(rune_tools::Consent::Allow)
        );
        assert_eq!(c.tools["move_path"].enabled, Some(false));
        std::fs::write(
            &file,
            "[http]\nallowed_hosts = [\"mcp.internal\"]\nstateless = true\n",
        )
        .expect("write");
        let c = Config::load(&file).expect("valid");
        assert_eq!(c.http.allowed_hosts, ["mcp.internal"]);
        assert_eq!(c.http.stateless, Some(true));
        std::fs::write(&file, "[http]\nallowed_host = []\n").expect("write");
        assert!(Config::load(&file).is_err(), "typo in [http]");
        std::fs::write(&file, "[tools.file_write]\nconsent = \"maybe\"\n").expect("write");
        let err = Config::load(&file).expect_err("bad consent").to_string();
        assert!(err.contains("maybe"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
