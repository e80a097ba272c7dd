//! The audit log: one JSON line per tool call, appended to a file that rotates by size.
//!
//! Each line says when (RFC 3339, UTC, milliseconds), who (the connection and the client's
//! name and version), what (the tool and a summary of its arguments), whether it was allowed
//! (the consent decision), how it ended (outcome, error message, duration, bytes returned).
//!
//! Arguments are summarized, never copied blindly: values under keys that look like secrets
//! (`password`, `token`, `api_key`, `authorization`, …) are replaced by `"[redacted]"`, and
//! long strings (a file's new content, say) by their length and a BLAKE3 prefix, so the log
//! shows *which* content was written without holding it.
//!
//! The file is opened in append mode with permissions `0600`; each line is one `write`, so
//! lines of concurrent calls never interleave. When a line would take the file past
//! `max_bytes`, the file is renamed to `…1` (older ones shift to `…2`, …; the oldest beyond
//! `keep` is deleted) and a new one started. The log never goes to stdout, which belongs to
//! the MCP stream.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use serde_json::{Map, Value};

/// Strings longer than this (in bytes) are logged as their length and hash.
pub const AUDIT_MAX_STRING: usize = 200;

/// Where and how much to log.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// The log file.
    pub path: PathBuf,
    /// Rotate when the file would grow past this many bytes (default 10 MiB).
    pub max_bytes: u64,
    /// Rotated files to keep (default 5).
    pub keep: usize,
}

impl AuditConfig {
    /// A log at `path` with the default limits.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        AuditConfig {
            path: path.into(),
            max_bytes: 10 * 1024 * 1024,
            keep: 5,
        }
    }
}

/// One call, as logged.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    /// When the call started (RFC 3339, UTC, milliseconds).
    pub ts: String,
    /// The connection (unique in the server's process).
    pub connection: u64,
    /// The client's `name/version`, when it said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The tool.
    pub tool: String,
    /// The arguments, redacted and shortened ([`summarize`]).
    pub args: Value,
    /// `allow` (by policy), `approved` (the user said yes), `deny` (by policy), `declined`
    /// (the user said no) or `unavailable` (asking was impossible).
    pub decision: &'static str,
    /// `ok`, `error`, `denied` or `cancelled`.
    pub outcome: &'static str,
    /// The error's message, shortened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Time from the call's start to its end, in milliseconds.
    pub duration_ms: f64,
    /// Bytes of content returned (text, or base64 data).
    pub bytes: u64,
}

struct State {
    file: File,
    size: u64,
}

/// An open audit log.
pub struct AuditLog {
    config: AuditConfig,
    state: Mutex<Option<State>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.config.path)
            .finish()
    }
}

fn open(path: &Path) -> io::Result<State> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let size = file.metadata()?.len();
    Ok(State { file, size })
}

fn rotated(path: &Path, n: usize) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

impl AuditLog {
    /// Opens (creating it and its directory if needed) the log. An error here is worth
    /// stopping for: a server asked to audit must not run unaudited.
    pub fn open(config: AuditConfig) -> io::Result<AuditLog> {
        let state = open(&config.path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("audit log {}: {e}", config.path.display()),
            )
        })?;
        Ok(AuditLog {
            config,
            state: Mutex::new(Some(state)),
        })
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.config.path
    }

    /// Appends one record. A failure is reported to the tracing log (stderr) and retried
    /// with a fresh file on the next record; the call itself is not failed by it.
    pub fn write(&self, record: &AuditRecord) {
        let mut line = match serde_json::to_vec(record) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("audit record could not be serialized: {e}");
                return;
            }
        };
        line.push(b'\n');
        let mut guard = match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Err(e) = self.append(&mut guard, &line) {
            tracing::error!(path = %self.config.path.display(), "audit log write failed: {e}");
            *guard = None;
        }
    }

    fn append(&self, state: &mut Option<State>, line: &[u8]) -> io::Result<()> {
        let needs_rotation = state
            .as_ref()
            .is_some_and(|s| s.size > 0 && s.size + line.len() as u64 > self.config.max_bytes);
        if needs_rotation {
            *state = None;
            self.rotate()?;
        }
        if state.is_none() {
            *state = Some(open(&self.config.path)?);
        }
        let Some(s) = state.as_mut() else {
            return Ok(());
        };
        s.file.write_all(line)?;
        s.size += line.len() as u64;
        Ok(())
    }

    fn rotate(&self) -> io::Result<()> {
        let path = &self.config.path;
        if self.config.keep == 0 {
            return std::fs::remove_file(path).or_else(ignore_missing);
        }
        std::fs::remove_file(rotated(path, self.config.keep)).or_else(ignore_missing)?;
        for n in (1..self.config.keep).rev() {
            std::fs::rename(rotated(path, n), rotated(path, n + 1)).or_else(ignore_missing)?;
        }
        std::fs::rename(path, rotated(path, 1)).or_else(ignore_missing)
    }
}

fn ignore_missing(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

/// True for object keys whose values are secrets.
fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace(['-', '_'], "");
    [
        "password",
        "passwd",
        "secret",
        "token",
        "apikey",
        "authorization",
        "credential",
        "cookie",
        "privatekey",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// The arguments as logged: secrets redacted, long strings replaced by
/// `{"len": N, "blake3": "<16 hex digits>"}`, nesting cut at depth 8.
pub fn summarize(args: &Value) -> Value {
    summarize_at(args, 0)
}

fn summarize_at(v: &Value, depth: usize) -> Value {
    if depth > 8 {
        return Value::String("[nested too deep]".into());
    }
    match v {
        Value::String(s) if s.len() > AUDIT_MAX_STRING => {
            let hash = blake3::hash(s.as_bytes()).to_hex();
            let mut m = Map::new();
            m.insert("len".into(), Value::from(s.len()));
            m.insert("blake3".into(), Value::String(hash[..16].to_owned()));
            Value::Object(m)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| summarize_at(x, depth + 1)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| {
                    let x = if is_secret_key(k) {
                        Value::String("[redacted]".into())
                    } else {
                        summarize_at(x, depth + 1)
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_redacted_and_long_values_hashed() {
        let long = "x".repeat(1000);
        let s = summarize(&json!({
            "path": "a.txt",
            "content": long,
            "headers": {"Authorization": "Bearer abc", "X-Api-Key": "k"},
            "list": [{"password": "p"}],
        }));
        assert_eq!(s["path"], "a.txt");
        assert_eq!(s["content"]["len"], 1000);
        assert_eq!(s["content"]["blake3"].as_str().map(str::len), Some(16));
        assert_eq!(s["headers"]["Authorization"], "[redacted]");
        assert_eq!(s["headers"]["X-Api-Key"], "[redacted]");
        assert_eq!(s["list"][0]["password"], "[redacted]");
        assert!(!s.to_string().contains("Bearer"));
    }

    fn record(i: usize) -> AuditRecord {
        AuditRecord {
            ts: "2026-01-01T00:00:00.000Z".into(),
            connection: 1,
            client: None,
            tool: format!("t{i}"),
            args: json!({}),
            decision: "allow",
            outcome: "ok",
            error: None,
            duration_ms: 1.0,
            bytes: 0,
        }
    }

    #[test]
    fn rotates_by_size_and_keeps_n() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("logs").join("audit.jsonl");
        let log = AuditLog::open(AuditConfig {
            path: path.clone(),
            max_bytes: 1000,
            keep: 2,
        })
        .expect("open");
        for i in 0..100 {
            log.write(&record(i));
        }
        let main = std::fs::read_to_string(&path).expect("main");
        assert!(main.len() <= 1000, "{}", main.len());
        assert!(main.ends_with("\"bytes\":0}\n"));
        assert!(main.contains("\"tool\":\"t99\""));
        assert!(rotated(&path, 1).exists() && rotated(&path, 2).exists());
        assert!(!rotated(&path, 3).exists());
        // Every line of every file is a whole JSON record.
        for p in [path.clone(), rotated(&path, 1), rotated(&path, 2)] {
            for line in std::fs::read_to_string(&p).expect("read").lines() {
                let v: Value = serde_json::from_str(line).expect("json line");
                assert_eq!(v["decision"], "allow");
            }
        }
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).expect("md").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
