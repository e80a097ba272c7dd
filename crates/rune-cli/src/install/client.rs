//! What each MCP client expects: where its configuration lives, in which format, under which
//! key, and what its entry for a stdio server looks like. The facts and how sure we are of each
//! are in `docs/clients/*.md`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// A client `rune mcp install` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Client {
    /// Claude Code: `~/.claude.json` (user), `.mcp.json` (project).
    ClaudeCode,
    /// Claude Desktop: `claude_desktop_config.json` (one scope).
    ClaudeDesktop,
    /// Gemini CLI: `~/.gemini/settings.json` (user), `.gemini/settings.json` (project).
    Gemini,
    /// VS Code: the user profile's `mcp.json` (user), `.vscode/mcp.json` (project).
    Vscode,
    /// Cursor: `~/.cursor/mcp.json` (user), `.cursor/mcp.json` (project).
    Cursor,
    /// Codex CLI: `~/.codex/config.toml` (user), `.codex/config.toml` (project).
    Codex,
    /// Zed: `~/.config/zed/settings.json` (user), `.zed/settings.json` (project).
    Zed,
}

impl Client {
    pub(crate) const ALL: [Client; 7] = [
        Client::ClaudeCode,
        Client::ClaudeDesktop,
        Client::Gemini,
        Client::Vscode,
        Client::Cursor,
        Client::Codex,
        Client::Zed,
    ];

    /// The name used on the command line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Client::ClaudeCode => "claude-code",
            Client::ClaudeDesktop => "claude-desktop",
            Client::Gemini => "gemini",
            Client::Vscode => "vscode",
            Client::Cursor => "cursor",
            Client::Codex => "codex",
            Client::Zed => "zed",
        }
    }

    /// The scopes this client has.
    pub(crate) fn scopes(self) -> &'static [Scope] {
        match self {
            Client::ClaudeDesktop => &[Scope::User],
            _ => &[Scope::User, Scope::Project],
        }
    }

    /// What its file is written in.
    pub(crate) fn syntax(self) -> Syntax {
        match self {
            // Both read the file with a plain JSON parser (and rewrite it themselves).
            Client::ClaudeCode | Client::ClaudeDesktop => Syntax::Json(Dialect::Strict),
            // Gemini CLI strips comments before parsing; trailing commas are not accepted.
            // Cursor is not verified either way; comments are kept if they are there.
            Client::Gemini | Client::Cursor => Syntax::Json(Dialect::Comments),
            // VS Code and Zed read JSON with comments and trailing commas.
            Client::Vscode | Client::Zed => Syntax::Json(Dialect::Jsonc),
            Client::Codex => Syntax::Toml,
        }
    }

    /// Whether the client starts a server in the project it works on, so that `rune mcp-server`
    /// without `--root` serves that project. Claude Desktop has no project and starts servers
    /// in a directory of its own (`/` on macOS, by several reports).
    pub(crate) fn starts_in_project(self) -> bool {
        self != Client::ClaudeDesktop
    }

    /// The key under which the servers are listed.
    pub(crate) fn servers_key(self) -> &'static str {
        match self {
            Client::Vscode => "servers",
            Client::Zed => "context_servers",
            Client::Codex => "mcp_servers",
            _ => "mcpServers",
        }
    }

    /// The JSON entry that registers `reg`, its keys in the order written (the TOML entry of
    /// Codex is built from the same fields by the TOML editor).
    pub(crate) fn json_entry(self, reg: &Registration) -> Vec<(&'static str, Value)> {
        let command = ("command", json!(reg.command));
        let args = ("args", json!(reg.args));
        match self {
            // What `claude mcp add` writes.
            Client::ClaudeCode => vec![("type", json!("stdio")), command, args, ("env", json!({}))],
            Client::Vscode => vec![("type", json!("stdio")), command, args],
            Client::Gemini if reg.trust => vec![command, args, ("trust", json!(true))],
            _ => vec![command, args],
        }
    }

    /// Where this client's file for `scope` is, read from the environment (`HOME`,
    /// `XDG_CONFIG_HOME`, `APPDATA`, `CODEX_HOME`, `CLAUDE_CONFIG_DIR`) and, for the project
    /// scope, the current directory.
    pub(crate) fn path(self, scope: Scope, env: &Env) -> Result<PathBuf, String> {
        let project = || env.current_dir();
        Ok(match (self, scope) {
            (Client::ClaudeCode, Scope::User) => match env.absolute("CLAUDE_CONFIG_DIR") {
                Some(dir) => dir.join(".claude.json"),
                None => env.home()?.join(".claude.json"),
            },
            (Client::ClaudeCode, Scope::Project) => project()?.join(".mcp.json"),
            (Client::ClaudeDesktop, Scope::User) => env
                .app_config_dir()?
                .join("Claude")
                .join("claude_desktop_config.json"),
            (Client::Gemini, Scope::User) => env.home()?.join(".gemini").join("settings.json"),
            (Client::Gemini, Scope::Project) => project()?.join(".gemini").join("settings.json"),
            (Client::Vscode, Scope::User) => env
                .app_config_dir()?
                .join("Code")
                .join("User")
                .join("mcp.json"),
            (Client::Vscode, Scope::Project) => project()?.join(".vscode").join("mcp.json"),
            (Client::Cursor, Scope::User) => env.home()?.join(".cursor").join("mcp.json"),
            (Client::Cursor, Scope::Project) => project()?.join(".cursor").join("mcp.json"),
            (Client::Codex, Scope::User) => match env.absolute("CODEX_HOME") {
                Some(dir) => dir.join("config.toml"),
                None => env.home()?.join(".codex").join("config.toml"),
            },
            (Client::Codex, Scope::Project) => project()?.join(".codex").join("config.toml"),
            (Client::Zed, Scope::User) => env.zed_config_dir()?.join("settings.json"),
            (Client::Zed, Scope::Project) => project()?.join(".zed").join("settings.json"),
            (Client::ClaudeDesktop, Scope::Project) => {
                return Err(format!(
                    "{} has no {} scope (it has: {})",
                    self.name(),
                    scope.name(),
                    self.scopes()
                        .iter()
                        .map(|s| s.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        })
    }
}

/// `--scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Scope {
    /// The user's own configuration, for every project.
    User,
    /// The configuration in the current directory, for this project only.
    Project,
}

impl Scope {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Project => "project",
        }
    }
}

/// The format of a client's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    Json(Dialect),
    Toml,
}

/// How much beyond plain JSON a client reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// Plain JSON.
    Strict,
    /// JSON with `//` and `/* */` comments.
    Comments,
    /// JSON with comments and trailing commas (VS Code's and Zed's "JSONC").
    Jsonc,
}

/// What Rune registers: the absolute path of the `rune` binary and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Registration {
    pub(crate) command: String,
    pub(crate) args: Vec<String>,
    /// Gemini CLI's `"trust": true` (its tools run without asking for confirmation).
    pub(crate) trust: bool,
}

/// A server entry as found in a file, reduced to what matters here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// The program, when the entry names one as a string (or Zed's older `command.path`).
    pub(crate) command: Option<String>,
    pub(crate) args: Vec<String>,
    /// `type`, when present.
    pub(crate) kind: Option<String>,
    /// `url` or `httpUrl`, for remote entries.
    pub(crate) url: Option<String>,
    /// Gemini CLI's `"trust": true`.
    pub(crate) trust: bool,
}

impl Found {
    /// Reads an entry from its JSON form (Codex's TOML entries are converted to JSON first).
    pub(crate) fn from_json(v: &Value) -> Found {
        let strings = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|s| match s {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let (command, args) = match v.get("command") {
            // Zed before the flat form: "command": {"path": …, "args": […]}.
            Some(Value::Object(nested)) => (text(nested.get("path")), strings(nested.get("args"))),
            other => (text(other), strings(v.get("args"))),
        };
        Found {
            command,
            args,
            kind: text(v.get("type")),
            url: text(v.get("url")).or_else(|| text(v.get("httpUrl"))),
            trust: v.get("trust") == Some(&Value::Bool(true)),
        }
    }

    /// Whether this entry starts exactly what `reg` describes.
    pub(crate) fn same_as(&self, reg: &Registration) -> bool {
        self.command.as_deref() == Some(reg.command.as_str())
            && self.args == reg.args
            && self.kind.as_deref().is_none_or(|k| k == "stdio")
            && self.url.is_none()
            && self.trust == reg.trust
    }

    /// Whether this entry runs `rune mcp-server` (any copy of the binary named `rune`, or this
    /// very binary under another name).
    pub(crate) fn is_rune(&self, this_exe: &str) -> bool {
        let Some(command) = self.command.as_deref() else {
            return false;
        };
        let stem = Path::new(command)
            .file_name()
            .and_then(|n| n.to_str())
            .map(|n| n.strip_suffix(".exe").unwrap_or(n));
        (stem == Some("rune") || command == this_exe)
            && self.args.first().map(String::as_str) == Some("mcp-server")
    }

    /// The command line, for messages: `/path/rune mcp-server --root /x`, or the URL.
    pub(crate) fn describe(&self) -> String {
        let mut text = match (&self.command, &self.url) {
            (Some(c), _) => shell_words(std::iter::once(c).chain(&self.args)),
            (None, Some(u)) => format!("{} {u}", self.kind.as_deref().unwrap_or("url")),
            (None, None) => "(no command)".to_owned(),
        };
        if self.trust {
            text.push_str(" (trusted)");
        }
        text
    }
}

/// Joins words for display, quoting those a shell would split.
pub(crate) fn shell_words<'a>(words: impl IntoIterator<Item = &'a String>) -> String {
    words
        .into_iter()
        .map(|w| {
            if !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@%".contains(c))
            {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The environment the paths are read from (a seam for the tests of this module).
#[derive(Debug, Default)]
pub(crate) struct Env {
    vars: Vec<(String, OsString)>,
    cwd: Option<PathBuf>,
}

impl Env {
    /// The process's own environment.
    pub(crate) fn from_process() -> Env {
        let names = [
            "HOME",
            "USERPROFILE",
            "XDG_CONFIG_HOME",
            "APPDATA",
            "CODEX_HOME",
            "CLAUDE_CONFIG_DIR",
            "FLATPAK_XDG_CONFIG_HOME",
        ];
        Env {
            vars: names
                .iter()
                .filter_map(|n| std::env::var_os(n).map(|v| ((*n).to_owned(), v)))
                .collect(),
            cwd: std::env::current_dir().ok(),
        }
    }

    fn var(&self, name: &str) -> Option<&OsString> {
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .filter(|v| !v.is_empty())
    }

    /// A variable naming a directory, when it is set to an absolute path.
    fn absolute(&self, name: &str) -> Option<PathBuf> {
        self.var(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    }

    fn current_dir(&self) -> Result<PathBuf, String> {
        self.cwd
            .clone()
            .ok_or_else(|| "cannot read the current directory".to_owned())
    }

    fn home(&self) -> Result<PathBuf, String> {
        let var = if cfg!(windows) { "USERPROFILE" } else { "HOME" };
        self.absolute(var)
            .or_else(|| self.absolute("HOME"))
            .ok_or_else(|| format!("{var} is not set to an absolute path"))
    }

    /// Where desktop applications keep their settings: `%APPDATA%` on Windows,
    /// `~/Library/Application Support` on macOS, `$XDG_CONFIG_HOME` or `~/.config` elsewhere.
    fn app_config_dir(&self) -> Result<PathBuf, String> {
        if cfg!(windows) {
            self.absolute("APPDATA")
                .ok_or_else(|| "APPDATA is not set to an absolute path".to_owned())
        } else if cfg!(target_os = "macos") {
            Ok(self.home()?.join("Library").join("Application Support"))
        } else {
            self.xdg_config_home()
        }
    }

    fn xdg_config_home(&self) -> Result<PathBuf, String> {
        match self.absolute("XDG_CONFIG_HOME") {
            Some(dir) => Ok(dir),
            None => Ok(self.home()?.join(".config")),
        }
    }

    /// Zed: `~/.config/zed` on macOS, `%APPDATA%\Zed` on Windows, the XDG config dir (or
    /// Flatpak's) elsewhere.
    fn zed_config_dir(&self) -> Result<PathBuf, String> {
        if cfg!(windows) {
            Ok(self.app_config_dir()?.join("Zed"))
        } else if cfg!(target_os = "macos") {
            Ok(self.home()?.join(".config").join("zed"))
        } else if let Some(dir) = self.absolute("FLATPAK_XDG_CONFIG_HOME") {
            Ok(dir.join("zed"))
        } else {
            Ok(self.xdg_config_home()?.join("zed"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)], cwd: &str) -> Env {
        Env {
            vars: vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
                .collect(),
            cwd: Some(PathBuf::from(cwd)),
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn user_paths_follow_the_environment() {
        let e = env(&[("HOME", "/h")], "/p");
        let user = |c: Client| c.path(Scope::User, &e).map(|p| p.display().to_string());
        assert_eq!(user(Client::ClaudeCode).as_deref(), Ok("/h/.claude.json"));
        assert_eq!(
            user(Client::ClaudeDesktop).as_deref(),
            Ok("/h/.config/Claude/claude_desktop_config.json")
        );
        assert_eq!(
            user(Client::Gemini).as_deref(),
            Ok("/h/.gemini/settings.json")
        );
        assert_eq!(
            user(Client::Vscode).as_deref(),
            Ok("/h/.config/Code/User/mcp.json")
        );
        assert_eq!(user(Client::Cursor).as_deref(), Ok("/h/.cursor/mcp.json"));
        assert_eq!(user(Client::Codex).as_deref(), Ok("/h/.codex/config.toml"));
        assert_eq!(
            user(Client::Zed).as_deref(),
            Ok("/h/.config/zed/settings.json")
        );

        let e = env(
            &[
                ("HOME", "/h"),
                ("XDG_CONFIG_HOME", "/x"),
                ("CODEX_HOME", "/c"),
                ("CLAUDE_CONFIG_DIR", "/cc"),
            ],
            "/p",
        );
        let user = |c: Client| c.path(Scope::User, &e).map(|p| p.display().to_string());
        assert_eq!(user(Client::ClaudeCode).as_deref(), Ok("/cc/.claude.json"));
        assert_eq!(user(Client::Vscode).as_deref(), Ok("/x/Code/User/mcp.json"));
        assert_eq!(user(Client::Codex).as_deref(), Ok("/c/config.toml"));
        assert_eq!(user(Client::Zed).as_deref(), Ok("/x/zed/settings.json"));

        // A relative XDG_CONFIG_HOME is ignored, as the XDG spec says.
        let e = env(&[("HOME", "/h"), ("XDG_CONFIG_HOME", "rel")], "/p");
        assert_eq!(
            Client::Zed
                .path(Scope::User, &e)
                .map(|p| p.display().to_string()),
            Ok("/h/.config/zed/settings.json".to_owned())
        );
    }

    #[cfg(unix)]
    #[test]
    fn project_paths_are_in_the_current_directory() {
        let e = env(&[], "/p");
        let project = |c: Client| c.path(Scope::Project, &e).map(|p| p.display().to_string());
        assert_eq!(project(Client::ClaudeCode).as_deref(), Ok("/p/.mcp.json"));
        assert_eq!(
            project(Client::Gemini).as_deref(),
            Ok("/p/.gemini/settings.json")
        );
        assert_eq!(
            project(Client::Vscode).as_deref(),
            Ok("/p/.vscode/mcp.json")
        );
        assert_eq!(
            project(Client::Cursor).as_deref(),
            Ok("/p/.cursor/mcp.json")
        );
        assert_eq!(
            project(Client::Codex).as_deref(),
            Ok("/p/.codex/config.toml")
        );
        assert_eq!(project(Client::Zed).as_deref(), Ok("/p/.zed/settings.json"));
        assert!(Client::ClaudeDesktop.path(Scope::Project, &e).is_err());
        // No HOME: a clear error rather than a guess.
        assert!(Client::Gemini.path(Scope::User, &e).is_err());
    }

    #[test]
    fn recognises_entries() {
        let reg = Registration {
            command: "/bin/rune".into(),
            args: vec!["mcp-server".into()],
            trust: false,
        };
        let f = Found::from_json(
            &json!({"type": "stdio", "command": "/bin/rune", "args": ["mcp-server"], "env": {}}),
        );
        assert!(f.same_as(&reg));
        assert!(f.is_rune("/elsewhere/rune"));
        let f =
            Found::from_json(&json!({"command": {"path": "/bin/rune", "args": ["mcp-server"]}}));
        assert!(f.same_as(&reg));
        let f = Found::from_json(
            &json!({"command": "/bin/rune", "args": ["mcp-server", "--root", "/x"]}),
        );
        assert!(!f.same_as(&reg));
        assert!(f.is_rune("/x"));
        let f = Found::from_json(&json!({"command": "npx", "args": ["-y", "other"]}));
        assert!(!f.is_rune("/bin/rune"));
        assert_eq!(f.describe(), "npx -y other");
        let f = Found::from_json(&json!({"type": "http", "url": "https://h/mcp"}));
        assert!(!f.same_as(&reg));
        assert_eq!(f.describe(), "http https://h/mcp");
        let f = Found::from_json(
            &json!({"command": "/bin/rune", "args": ["mcp-server"], "trust": true}),
        );
        assert!(!f.same_as(&reg));
        assert!(f.same_as(&Registration { trust: true, ..reg }));
        assert_eq!(f.describe(), "/bin/rune mcp-server (trusted)");
        assert_eq!(
            shell_words(&["a b".to_owned(), "it's".to_owned()]),
            r"'a b' 'it'\''s'"
        );
    }
}
