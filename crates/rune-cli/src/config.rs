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
//! [shell]                # shell_exec: a program run in a sandbox (see docs/security.md)
//! enabled = true         # default: served, except under read_only
//! allow_programs = ["git", "cargo", "ls"]    # empty: any program not denied
//! deny_programs = ["sudo"]
//! shell_strings = false  # also accept `command`, a line for sh -c
//! env_allow = ["PATH", "LANG", "LC_*", "TERM", "TZ"]   # inherited from rune's environment
//! env = { RUST_BACKTRACE = "1" }             # set for every command
//! timeout_secs = 60      # default per call; calls may ask up to max_timeout_secs
//! max_timeout_secs = 600
//! network = false        # let commands reach the network
//! read_paths = ["~/.cargo", "~/.rustup"]    # toolchains outside the roots (read + run)
//! require_full_sandbox = false               # refuse to run without Landlock and seccomp
//! max_output_bytes = 16384                   # per stream, head and tail kept
//! [shell.limits]
//! cpu_secs = 120
//! memory_mb = 4096       # address space per process
//! processes = 256
//! file_size_mb = 1024
//! open_files = 1024
//!
//! [fetch]                # web_fetch (see docs/security.md)
//! enabled = false        # serve it (also --web-fetch)
//! allow_loopback = false # reach 127.0.0.0/8 and ::1
//! allow_private = false  # reach 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7
//! timeout_secs = 30      # a whole call, redirects and body included
//! connect_timeout_secs = 10
//! read_timeout_secs = 20 # longest wait between reads
//! max_bytes = 10485760   # decoded body read at most
//! max_redirects = 10
//! cache = true
//! cache_dir = "~/.cache/rune/fetch"          # default: $XDG_CACHE_HOME/rune/fetch
//! cache_memory_mb = 32
//! cache_disk_mb = 256
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
    /// `web_fetch` settings.
    #[serde(default)]
    pub(crate) fetch: FetchSection,
    /// `shell_exec` settings.
    #[serde(default)]
    pub(crate) shell: ShellSection,
}

/// `[shell]`: the settings of `shell_exec` (each `None` keeps the library's default).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShellSection {
    pub(crate) enabled: Option<bool>,
    #[serde(default)]
    pub(crate) allow_programs: Vec<String>,
    #[serde(default)]
    pub(crate) deny_programs: Vec<String>,
    pub(crate) shell_strings: Option<bool>,
    pub(crate) env_allow: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) timeout_secs: Option<u64>,
    pub(crate) max_timeout_secs: Option<u64>,
    pub(crate) network: Option<bool>,
    #[serde(default)]
    pub(crate) read_paths: Vec<PathBuf>,
    pub(crate) require_full_sandbox: Option<bool>,
    pub(crate) max_output_bytes: Option<usize>,
    #[serde(default)]
    pub(crate) limits: ShellLimits,
}

/// `[shell.limits]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShellLimits {
    pub(crate) cpu_secs: Option<u64>,
    pub(crate) memory_mb: Option<u64>,
    pub(crate) processes: Option<u64>,
    pub(crate) file_size_mb: Option<u64>,
    pub(crate) open_files: Option<u64>,
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

/// `[fetch]`: the settings of `web_fetch` (each `None` keeps the library's default).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FetchSection {
    pub(crate) enabled: Option<bool>,
    pub(crate) allow_loopback: Option<bool>,
    pub(crate) allow_private: Option<bool>,
    pub(crate) timeout_secs: Option<u64>,
    pub(crate) connect_timeout_secs: Option<u64>,
    pub(crate) read_timeout_secs: Option<u64>,
    pub(crate) max_bytes: Option<u64>,
    pub(crate) max_redirects: Option<usize>,
    pub(crate) user_agent: Option<String>,
    pub(crate) cache: Option<bool>,
    pub(crate) cache_dir: Option<PathBuf>,
    pub(crate) cache_memory_mb: Option<u64>,
    pub(crate) cache_disk_mb: Option<u64>,
}

impl FetchSection {
    /// The library's options with these settings applied.
    pub(crate) fn options(&self) -> Result<rune_fetch::FetchOptions, String> {
        use std::time::Duration;
        let mut o = rune_fetch::FetchOptions::default();
        let secs = |name: &str, v: Option<u64>, d: Duration| match v {
            Some(0) => Err(format!("[fetch] {name} must be at least 1")),
            Some(n) => Ok(Duration::from_secs(n)),
            None => Ok(d),
        };
        o.timeout = secs("timeout_secs", self.timeout_secs, o.timeout)?;
        o.connect_timeout = secs(
            "connect_timeout_secs",
            self.connect_timeout_secs,
            o.connect_timeout,
        )?;
        o.read_timeout = secs("read_timeout_secs", self.read_timeout_secs, o.read_timeout)?;
        o.allow_loopback = self.allow_loopback.unwrap_or(false);
        o.allow_private = self.allow_private.unwrap_or(false);
        if let Some(n) = self.max_bytes {
            o.max_bytes = n;
        }
        if let Some(n) = self.max_redirects {
            o.max_redirects = n;
        }
        if let Some(ua) = &self.user_agent {
            o.user_agent = ua.clone();
        }
        o.cache.enabled = self.cache.unwrap_or(true);
        if let Some(d) = &self.cache_dir {
            o.cache.dir = Some(d.clone());
        }
        if let Some(mb) = self.cache_memory_mb {
            o.cache.memory_bytes = mb.saturating_mul(1 << 20);
        }
        if let Some(mb) = self.cache_disk_mb {
            o.cache.disk_bytes = mb.saturating_mul(1 << 20);
        }
        Ok(o)
    }
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
        for root in config
            .roots
            .iter_mut()
            .chain(config.audit.path.as_mut())
            .chain(config.shell.read_paths.iter_mut())
            .chain(config.fetch.cache_dir.as_mut())
        {
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
    fn the_fetch_section_maps_onto_the_library_options() {
        let c: Config = toml::from_str(
            "[fetch]\nenabled = true\nallow_private = true\ntimeout_secs = 7\n\
             max_bytes = 1000\nmax_redirects = 2\ncache = false\ncache_memory_mb = 3\n",
        )
        .expect("valid");
        assert_eq!(c.fetch.enabled, Some(true));
        let o = c.fetch.options().expect("options");
        assert!(o.allow_private && !o.allow_loopback);
        assert_eq!(o.timeout, std::time::Duration::from_secs(7));
        assert_eq!((o.max_bytes, o.max_redirects), (1000, 2));
        assert!(!o.cache.enabled);
        assert_eq!(o.cache.memory_bytes, 3 << 20);
        let c: Config = toml::from_str("[fetch]\ntimeout_secs = 0\n").expect("parses");
        assert!(
            c.fetch
                .options()
                .expect_err("zero")
                .contains("timeout_secs")
        );
        assert!(toml::from_str::<Config>("[fetch]\nallow_loopbak = true\n").is_err());
    }

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
        std::fs::write(
            &file,
            "[shell]\nallow_programs = [\"git\"]\nread_paths = [\"tools\"]\n\
             env = { A = \"1\" }\n[shell.limits]\nprocesses = 32\n",
        )
        .expect("write");
        let c = Config::load(&file).expect("valid");
        assert_eq!(c.shell.allow_programs, ["git"]);
        assert_eq!(c.shell.read_paths, vec![dir.join("tools")]);
        assert_eq!(c.shell.env["A"], "1");
        assert_eq!(c.shell.limits.processes, Some(32));
        std::fs::write(&file, "[shell.limits]\nmemory = 1\n").expect("write");
        assert!(Config::load(&file).is_err(), "typo in [shell.limits]");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
