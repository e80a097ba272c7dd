//! The `mcpServers` configuration format that MCP hosts share (Claude Desktop's
//! `claude_desktop_config.json`, Claude Code's `.mcp.json`, Cursor's `mcp.json`…), read so
//! that a host can connect to a server by name.
//!
//! ```json
//! {"mcpServers": {
//!   "files": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "."],
//!             "env": {"DEBUG": "1"}, "cwd": "/srv"},
//!   "remote": {"type": "http", "url": "https://example.com/mcp",
//!              "headers": {"Authorization": "Bearer ${TOKEN}"}}
//! }}
//! ```
//!
//! An entry with `command` is a stdio server (`type` `"stdio"`, or absent); one with `url` is
//! Streamable HTTP (`"http"`, also spelled `"streamable-http"`/`"streamableHttp"`), legacy
//! HTTP+SSE (`"sse"`) or WebSocket (`"ws"`/`"websocket"`, or a `ws://` URL). A top-level
//! `servers` key (VS Code's spelling) is read the same way. `${VAR}` and `${VAR:-default}`
//! in the command, args, env values, cwd, URL and header values are replaced by the
//! environment's values, as Claude Code does; an unset variable without a default is an
//! error. Unknown fields are ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::builder::ClientBuilder;
use crate::client::Client;
use crate::error::Error;

/// A set of named servers, as read from an `mcpServers` file.
///
/// An entry that cannot be read (a missing field, an unset variable) does not spoil the
/// others: it is kept in `errors`, and [`get`](Self::get) reports it for that name only.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct McpServers {
    /// The servers, by name.
    pub servers: BTreeMap<String, ServerConfig>,
    /// The entries that could not be read, by name, with why.
    pub errors: BTreeMap<String, String>,
}

/// How to reach one server.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerConfig {
    /// A command to run, spoken to over its stdin and stdout.
    Stdio(StdioServer),
    /// A Streamable HTTP endpoint (with the legacy HTTP+SSE fallback).
    Http(RemoteServer),
    /// A legacy HTTP+SSE endpoint (the SSE stream's URL).
    Sse(RemoteServer),
    /// A WebSocket endpoint.
    Ws(RemoteServer),
}

/// A server run as a child process.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StdioServer {
    /// The program.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Variables added to the inherited environment.
    pub env: BTreeMap<String, String>,
    /// Its working directory (default: the host's).
    pub cwd: Option<PathBuf>,
}

/// A server reached by URL.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoteServer {
    /// The endpoint.
    pub url: String,
    /// Headers sent with every request (for example `Authorization`).
    pub headers: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct File {
    #[serde(rename = "mcpServers", default)]
    mcp_servers: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    servers: Option<BTreeMap<String, Value>>,
}

#[derive(Deserialize, Default)]
struct Entry {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    cwd: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

fn invalid(text: String) -> Error {
    Error::InvalidTarget(text.into())
}

impl McpServers {
    /// Reads the JSON text of a configuration file.
    pub fn parse(text: &str) -> Result<Self, Error> {
        Self::parse_with(text, &|name| std::env::var(name).ok())
    }

    /// [`parse`](Self::parse) with the variables `${…}` refers to looked up by `env`.
    pub fn parse_with(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let file: File = serde_json::from_str(text)
            .map_err(|e| invalid(format!("the configuration is not valid JSON: {e}")))?;
        let Some(entries) = file.mcp_servers.or(file.servers) else {
            return Err(invalid(
                "the configuration has no \"mcpServers\" object".to_owned(),
            ));
        };
        let mut servers = BTreeMap::new();
        let mut errors = BTreeMap::new();
        for (name, value) in entries {
            let config = serde_json::from_value::<Entry>(value)
                .map_err(|e| invalid(format!("server {name:?}: {e}")))
                .and_then(|entry| ServerConfig::from_entry(&name, entry, env));
            match config {
                Ok(c) => {
                    servers.insert(name, c);
                }
                Err(e) => {
                    let text = match e {
                        Error::InvalidTarget(m) => m.to_string(),
                        other => other.to_string(),
                    };
                    errors.insert(name, text);
                }
            }
        }
        Ok(McpServers { servers, errors })
    }

    /// Reads a configuration file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
        let mut servers = Self::parse(&text).map_err(|e| match e {
            Error::InvalidTarget(m) => invalid(format!("{}: {m}", path.display())),
            other => other,
        })?;
        for why in servers.errors.values_mut() {
            *why = format!("{}: {why}", path.display());
        }
        Ok(servers)
    }

    /// The server called `name`.
    pub fn get(&self, name: &str) -> Result<&ServerConfig, Error> {
        if let Some(why) = self.errors.get(name) {
            return Err(invalid(why.clone()));
        }
        self.servers.get(name).ok_or_else(|| {
            let mut known: Vec<&str> = self
                .servers
                .keys()
                .chain(self.errors.keys())
                .map(String::as_str)
                .collect();
            known.sort_unstable();
            invalid(if known.is_empty() {
                format!("no server {name:?}: the configuration lists none")
            } else {
                format!("no server {name:?} (known: {})", known.join(", "))
            })
        })
    }
}

impl ServerConfig {
    fn from_entry(
        name: &str,
        e: Entry,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let x = |s: &str| expand(s, env).map_err(|m| invalid(format!("server {name:?}: {m}")));
        let remote = |e: &Entry| -> Result<RemoteServer, Error> {
            let Some(url) = &e.url else {
                return Err(invalid(format!("server {name:?}: \"url\" is missing")));
            };
            let mut headers = BTreeMap::new();
            for (k, v) in &e.headers {
                headers.insert(k.clone(), x(v)?);
            }
            Ok(RemoteServer {
                url: x(url)?,
                headers,
            })
        };
        let kind = e.kind.as_deref().map(str::to_ascii_lowercase);
        match kind.as_deref() {
            None | Some("stdio") if e.command.is_some() => {
                let command = x(e.command.as_deref().unwrap_or_default())?;
                let args = e.args.iter().map(|a| x(a)).collect::<Result<_, _>>()?;
                let mut vars = BTreeMap::new();
                for (k, v) in &e.env {
                    vars.insert(k.clone(), x(v)?);
                }
                let cwd = e.cwd.as_deref().map(x).transpose()?.map(PathBuf::from);
                Ok(ServerConfig::Stdio(StdioServer {
                    command,
                    args,
                    env: vars,
                    cwd,
                }))
            }
            Some("stdio") => Err(invalid(format!("server {name:?}: \"command\" is missing"))),
            None if e.url.is_some() => {
                let r = remote(&e)?;
                Ok(
                    if r.url.starts_with("ws://") || r.url.starts_with("wss://") {
                        ServerConfig::Ws(r)
                    } else {
                        ServerConfig::Http(r)
                    },
                )
            }
            None => Err(invalid(format!(
                "server {name:?}: neither \"command\" nor \"url\" is given"
            ))),
            Some("http" | "streamable-http" | "streamablehttp" | "streamable_http") => {
                Ok(ServerConfig::Http(remote(&e)?))
            }
            Some("sse") => Ok(ServerConfig::Sse(remote(&e)?)),
            Some("ws" | "websocket") => Ok(ServerConfig::Ws(remote(&e)?)),
            Some(other) => Err(invalid(format!(
                "server {name:?}: unknown type {other:?} (expected stdio, http, sse or ws)"
            ))),
        }
    }

    /// The command of a stdio server, ready to spawn (its env added to the inherited one).
    pub fn command(&self) -> Option<std::process::Command> {
        let ServerConfig::Stdio(s) = self else {
            return None;
        };
        let mut cmd = std::process::Command::new(&s.command);
        cmd.args(&s.args).envs(&s.env);
        if let Some(dir) = &s.cwd {
            cmd.current_dir(dir);
        }
        Some(cmd)
    }
}

/// Replaces `${VAR}` and `${VAR:-default}`.
fn expand(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[i..]);
            return Ok(out);
        };
        let inner = &after[..end];
        let (var, default) = match inner.split_once(":-") {
            Some((v, d)) => (v, Some(d)),
            None => (inner, None),
        };
        match (
            env(var).filter(|v| !v.is_empty() || default.is_none()),
            default,
        ) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                return Err(format!("the environment variable {var} is not set"));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl ClientBuilder {
    /// Connects to a server described by a configuration entry (its headers are added to
    /// the builder's).
    pub async fn connect_server(mut self, config: &ServerConfig) -> Result<Client, Error> {
        match config {
            ServerConfig::Stdio(_) => match config.command() {
                Some(cmd) => self.connect_stdio(cmd).await,
                None => Err(invalid("not a stdio server".to_owned())),
            },
            ServerConfig::Http(r) | ServerConfig::Sse(r) | ServerConfig::Ws(r) => {
                for (k, v) in &r.headers {
                    self = self.http_header(k, v);
                }
                match config {
                    ServerConfig::Sse(_) => self.connect_sse(&r.url).await,
                    ServerConfig::Ws(_) => self.connect_ws(&r.url).await,
                    _ => self.connect(&r.url).await,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn reads_every_kind_of_entry() {
        let text = r#"{"mcpServers": {
            "files": {"command": "npx", "args": ["-y", "pkg", "${HOME_X:-/tmp}"], "env": {"A": "1"}, "cwd": "/srv"},
            "typed": {"type": "stdio", "command": "srv"},
            "remote": {"type": "http", "url": "http://127.0.0.1:1/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"}},
            "bare": {"url": "http://127.0.0.1:1/mcp"},
            "old": {"type": "sse", "url": "http://127.0.0.1:1/sse"},
            "sock": {"url": "ws://127.0.0.1:1/mcp"},
            "extra": {"command": "x", "disabled": false, "alwaysAllow": []}
        }}"#;
        let c = McpServers::parse_with(text, &env).expect("parse");
        assert_eq!(
            c.servers["files"],
            ServerConfig::Stdio(StdioServer {
                command: "npx".into(),
                args: vec!["-y".into(), "pkg".into(), "/tmp".into()],
                env: [("A".to_owned(), "1".to_owned())].into(),
                cwd: Some("/srv".into()),
            })
        );
        assert!(matches!(c.servers["typed"], ServerConfig::Stdio(_)));
        let ServerConfig::Http(r) = &c.servers["remote"] else {
            panic!("http expected")
        };
        assert_eq!(r.headers["Authorization"], "Bearer s3cret");
        assert!(matches!(c.servers["bare"], ServerConfig::Http(_)));
        assert!(matches!(c.servers["old"], ServerConfig::Sse(_)));
        assert!(matches!(c.servers["sock"], ServerConfig::Ws(_)));
        assert!(c.servers["files"].command().is_some());
        assert!(c.servers["remote"].command().is_none());
    }

    #[test]
    fn errors_name_the_server() {
        for (text, needle) in [
            (r#"{"mcpServers": {"a": {}}}"#, "neither"),
            (r#"{"mcpServers": {"a": {"type": "sse"}}}"#, "url"),
            (
                r#"{"mcpServers": {"a": {"type": "pipe", "url": "x"}}}"#,
                "unknown type",
            ),
            (r#"{"mcpServers": {"a": {"command": "${NOPE}"}}}"#, "NOPE"),
            (r#"{"mcpServers": {"a": {"command": 3}}}"#, "\"a\""),
            (r#"{"other": {}}"#, "mcpServers"),
            (r#"{nope"#, "JSON"),
        ] {
            let e = match McpServers::parse_with(text, &env) {
                Ok(c) => c.get("a").expect_err(text),
                Err(e) => e,
            };
            assert!(e.to_string().contains(needle), "{text}: {e}");
        }
        // One bad entry leaves the others usable.
        let c = McpServers::parse_with(
            r#"{"mcpServers": {"bad": {"command": "${NOPE}"}, "good": {"command": "x"}}}"#,
            &env,
        )
        .expect("parse");
        assert!(c.get("good").is_ok());
        assert!(c.get("bad").is_err());
        assert_eq!(c.errors.keys().collect::<Vec<_>>(), ["bad"]);
        let c = McpServers::parse_with(r#"{"servers": {"b": {"command": "x"}}}"#, &env)
            .expect("VS Code's key");
        assert!(c.get("b").is_ok());
        let e = c.get("zz").expect_err("unknown");
        assert!(e.to_string().contains("known: b"), "{e}");
    }

    #[test]
    fn expansion() {
        assert_eq!(expand("a${TOKEN}b", &env).as_deref(), Ok("as3cretb"));
        assert_eq!(expand("${EMPTY:-d}", &env).as_deref(), Ok("d"));
        assert_eq!(expand("${EMPTY}", &env).as_deref(), Ok(""));
        assert_eq!(expand("${UNSET:-}", &env).as_deref(), Ok(""));
        assert_eq!(expand("$HOME ${", &env).as_deref(), Ok("$HOME ${"));
        assert!(expand("${UNSET}", &env).is_err());
    }
}
