//! End to end inside three real clients: Claude Code (`claude -p`), Gemini CLI (`gemini -p`)
//! and Codex CLI (`codex exec`), each calling `rune mcp-server`'s `file_read`, `text_search`
//! and `list_directory` through its own agent loop, offline, on loopback only.
//!
//! The clients come from the npm registry at pinned versions, installed by
//! `scripts/install-client-peers.sh` into a cache outside the repository (a no-op once
//! installed); when the registry cannot be reached the tests say so and skip. The model behind
//! each client is `e2e_clients/fake_model.rs`, started here on a loopback port: it answers the
//! first turn with a call to the Rune tool it finds in the client's tool list, and the next with
//! a text quoting the tool's result. Each run gets a temporary home and workspace with per-run
//! random markers in files; the final answer must contain the marker, which only the tool could
//! have read. Every run goes through a proxy that refuses targets off loopback, and under
//! `strace` (when it can trace here), which records every address the client and its children
//! send to; both must show loopback only. Rune is registered with `rune mcp install` when the
//! binary has it, else with the client's own `mcp add`.

#[path = "e2e_clients/egress.rs"]
mod egress;
#[path = "e2e_clients/fake_model.rs"]
mod fake_model;

use std::ffi::OsStr;
use std::hash::{BuildHasher, Hasher};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use egress::Proxy;
use fake_model::{FakeModel, Plan};
use serde_json::json;

const RUN_TIMEOUT: Duration = Duration::from_secs(240);
const SETUP_TIMEOUT: Duration = Duration::from_secs(120);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rune() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rune"))
}

// ---- the clients ------------------------------------------------------------------------------

#[derive(Debug)]
struct Clients {
    claude: PathBuf,
    gemini: PathBuf,
    codex: PathBuf,
}

/// The installed clients, or `None` (after saying so) when the npm registry is out of reach.
fn clients(test: &str) -> Option<&'static Clients> {
    static CLIENTS: OnceLock<Option<Clients>> = OnceLock::new();
    let found = CLIENTS
        .get_or_init(|| {
            let out = Command::new("bash")
                .arg(repo_root().join("scripts/install-client-peers.sh"))
                .stdin(Stdio::null())
                .output()
                .expect("run scripts/install-client-peers.sh");
            let stderr = String::from_utf8_lossy(&out.stderr);
            if out.status.code() == Some(75) {
                eprintln!(
                    "SKIPPED: the MCP clients could not be installed because the npm registry \
                     cannot be reached (scripts/install-client-peers.sh exit 75):\n{stderr}"
                );
                return None;
            }
            assert!(
                out.status.success(),
                "installing the MCP clients failed ({}):\n{stderr}",
                out.status
            );
            let text = String::from_utf8_lossy(&out.stdout);
            let get = |key: &str| -> PathBuf {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("{key}=")))
                    .map(PathBuf::from)
                    .unwrap_or_else(|| panic!("{key} missing from the install script's output"))
            };
            Some(Clients {
                claude: get("RUNE_CLIENTS_CLAUDE"),
                gemini: get("RUNE_CLIENTS_GEMINI"),
                codex: get("RUNE_CLIENTS_CODEX"),
            })
        })
        .as_ref();
    if found.is_none() {
        eprintln!("SKIPPED {test}: no npm registry to install the clients from");
    }
    found
}

/// The help of `rune mcp install`, when this `rune` has it (else the tests register Rune with
/// each client's own command). `RUNE_E2E_REGISTER=native` uses the clients' commands regardless.
fn mcp_install_help() -> Option<&'static str> {
    static HELP: OnceLock<Option<String>> = OnceLock::new();
    HELP.get_or_init(|| {
        if std::env::var_os("RUNE_E2E_REGISTER").is_some_and(|v| v == "native") {
            return None;
        }
        let out = Command::new(rune())
            .args(["mcp", "install", "--help"])
            .stdin(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    })
    .as_deref()
}

// ---- a sandbox per client -------------------------------------------------------------------------

fn random_hex() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// One tool to call, where its marker is, and how to ask for it.
#[derive(Debug)]
struct Case {
    tool: &'static str,
    args: serde_json::Value,
    marker: String,
    prompt: String,
}

#[derive(Debug)]
struct Sandbox {
    dir: PathBuf,
    home: PathBuf,
    ws: PathBuf,
    cases: Vec<Case>,
    fake: FakeModel,
    proxy: Proxy,
    keep: bool,
}

impl Sandbox {
    fn new(client: &str) -> Sandbox {
        let dir = std::env::temp_dir().join(format!("rune-e2e-{client}-{}", random_hex()));
        let home = dir.join("home");
        let ws = dir.join("workspace");
        for d in [
            &home,
            &ws,
            &home.join(".local/state"),
            &home.join(".config"),
        ] {
            std::fs::create_dir_all(d).expect("create the sandbox");
        }
        let read = format!("read-{}", random_hex());
        let search = format!("search-{}", random_hex());
        let list = format!("list-{}", random_hex());
        let write = |name: &str, text: String| {
            std::fs::write(ws.join(name), text).expect("write a workspace file");
        };
        write("notes.txt", format!("The file_read marker is {read}.\n"));
        write(
            "haystack.txt",
            format!("first line\nrune-needle {search}\nlast line\n"),
        );
        write(&format!("{list}.txt"), "listed\n".into());
        let cases = vec![
            Case {
                tool: "file_read",
                args: json!({"path": "notes.txt"}),
                marker: read,
                prompt: "Read notes.txt with Rune's file_read tool and tell me what it says."
                    .into(),
            },
            Case {
                tool: "text_search",
                args: json!({"pattern": "rune-needle"}),
                marker: search,
                prompt: "Search the workspace for rune-needle with Rune's text_search tool.".into(),
            },
            Case {
                tool: "list_directory",
                args: json!({"path": "."}),
                marker: list,
                prompt: "List the workspace with Rune's list_directory tool.".into(),
            },
        ];
        Sandbox {
            dir,
            home,
            ws,
            cases,
            fake: FakeModel::start(),
            proxy: Proxy::start(),
            keep: std::env::var_os("RUNE_E2E_KEEP").is_some(),
        }
    }

    /// The environment every client process gets: nothing of the caller's but `PATH`, a home
    /// and XDG directories inside the sandbox, the proxy, and `extra`.
    fn command(&self, program: &Path, args: &[&OsStr], extra: &[(&str, String)]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(&self.ws)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("USER", "rune-e2e")
            .env("LANG", "C.UTF-8")
            .env("TERM", "dumb")
            .env("NO_COLOR", "1")
            .env("TMPDIR", self.dir.join("tmp"))
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("XDG_STATE_HOME", self.home.join(".local/state"))
            .env("XDG_DATA_HOME", self.home.join(".local/share"))
            .env("XDG_CACHE_HOME", self.home.join(".cache"));
        for (k, v) in self.proxy.env() {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs a command to its end (at most `timeout`), under strace when it works here.
    fn run(&self, label: &str, mut cmd: Command, timeout: Duration) -> Outcome {
        let _ = std::fs::create_dir_all(self.dir.join("tmp"));
        let logs = self.dir.join("logs");
        std::fs::create_dir_all(&logs).expect("logs dir");
        let stdout_path = logs.join(format!("{label}.stdout"));
        let stderr_path = logs.join(format!("{label}.stderr"));
        let strace_path = logs.join(format!("{label}.strace"));
        let traced = egress::strace_available();
        if traced {
            let mut wrapped = Command::new("strace");
            wrapped.args(egress::strace_prefix(&strace_path));
            wrapped.arg(cmd.get_program());
            wrapped.args(cmd.get_args());
            wrapped.env_clear();
            for (k, v) in cmd.get_envs() {
                if let Some(v) = v {
                    wrapped.env(k, v);
                }
            }
            if let Some(d) = cmd.get_current_dir() {
                wrapped.current_dir(d);
            }
            cmd = wrapped;
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {label}: {e}"));
        let start = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break Some(s);
            }
            if start.elapsed() > timeout {
                kill_group(child.id());
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        // Whatever the client left behind in its group (a server it did not stop) goes too.
        kill_group(child.id());
        let read =
            |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
        Outcome {
            label: label.to_owned(),
            status,
            elapsed: start.elapsed(),
            stdout: read(&stdout_path),
            stderr: read(&stderr_path),
            strace: traced.then(|| read(&strace_path)),
        }
    }

    /// Registers `rune mcp-server` (rooted at the workspace) with `client`: through
    /// `rune mcp install` (with `options`) when the binary has it, else through `fallback`
    /// (the client's own command). Returns how it was done.
    fn register(
        &self,
        client: &str,
        options: &[&str],
        extra: &[(&str, String)],
        fallback: Command,
    ) -> String {
        let (how, cmd) = if mcp_install_help().is_some() {
            let mut args = vec![
                OsStr::new("mcp"),
                OsStr::new("install"),
                OsStr::new("--client"),
                OsStr::new(client),
                OsStr::new("--root"),
                self.ws.as_os_str(),
            ];
            args.extend(options.iter().map(OsStr::new));
            let mut cmd = self.command(&rune(), &args, extra);
            cmd.current_dir(&self.ws);
            let options = options.join(" ");
            (
                format!("rune mcp install --client {client} {options}")
                    .trim_end()
                    .to_owned(),
                cmd,
            )
        } else {
            (describe(&fallback), fallback)
        };
        let out = self.run(&format!("register-{client}"), cmd, SETUP_TIMEOUT);
        assert!(
            out.ok(),
            "registering Rune with {client} failed: {how}\n{}",
            out.dump()
        );
        eprintln!("{client}: registered with {how}");
        how
    }

    /// The audit log `rune mcp-server` wrote in the sandbox's home.
    fn audit(&self) -> String {
        std::fs::read_to_string(self.home.join(".local/state/rune/audit.jsonl")).unwrap_or_default()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if self.keep || std::thread::panicking() {
            eprintln!("kept for inspection: {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn describe(cmd: &Command) -> String {
    let name = Path::new(cmd.get_program())
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .trim_start_matches("rune-clients-")
        .to_owned();
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| {
            let a = a.to_string_lossy();
            if a.starts_with('/') {
                "…".into()
            } else {
                a.into_owned()
            }
        })
        .collect();
    format!("{name} {}", args.join(" "))
}

fn kill_group(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

#[derive(Debug)]
struct Outcome {
    label: String,
    /// `None`: killed at the timeout.
    status: Option<ExitStatus>,
    elapsed: Duration,
    stdout: String,
    stderr: String,
    /// The strace log, when traced.
    strace: Option<String>,
}

impl Outcome {
    fn ok(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// What the egress checks saw, in a few words.
    fn egress_summary(&self) -> String {
        match &self.strace {
            Some(log) => format!(
                "no proxy request refused; strace saw {} network calls, none off loopback",
                log.lines()
                    .filter(|l| l.contains("sa_family=AF_INET"))
                    .count()
            ),
            None => "no proxy request refused; strace unavailable here".into(),
        }
    }

    fn dump(&self) -> String {
        let tail = |s: &str| {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(60)..].join("\n")
        };
        format!(
            "{}: {} after {:.1} s\n--- stdout:\n{}\n--- stderr (tail):\n{}",
            self.label,
            match self.status {
                Some(s) => s.to_string(),
                None => "killed at the timeout".into(),
            },
            self.elapsed.as_secs_f64(),
            tail(&self.stdout),
            tail(&self.stderr)
        )
    }
}

/// Both egress checks on one run: nothing refused by the proxy, no address off loopback in
/// the strace log.
fn assert_loopback_only(sb: &Sandbox, out: &Outcome) {
    let refused = sb.proxy.refused();
    assert!(
        refused.is_empty(),
        "{}: the client tried to reach hosts off loopback through the proxy:\n{}",
        out.label,
        refused.join("\n")
    );
    if let Some(log) = &out.strace {
        let bad = egress::off_loopback(log);
        assert!(
            bad.is_empty(),
            "{}: the client (or a process it started) sent to addresses off loopback:\n{}",
            out.label,
            bad.join("\n")
        );
    }
}

/// Runs every case through `run_case` and checks what each must show.
fn check_cases(sb: &Sandbox, client: &str, mut run_case: impl FnMut(&Case) -> Outcome) {
    for case in &sb.cases {
        sb.fake.set_plan(Plan {
            tool: case.tool.into(),
            args: case.args.clone(),
        });
        let before = sb.fake.seen().len();
        let out = run_case(case);
        if std::env::var_os("RUNE_E2E_VERBOSE").is_some() {
            for s in &sb.fake.seen()[before..] {
                eprintln!(
                    "  {client} {} [{}] {} -> {}",
                    case.tool, s.api, s.path, s.answer
                );
            }
        }
        let context = || {
            format!(
                "{}\n--- fake model log:\n{}--- tool results it received: {:?}\n--- audit:\n{}",
                out.dump(),
                sb.fake.report(),
                sb.fake.results(),
                sb.audit()
            )
        };
        assert!(out.ok(), "{client} {} failed:\n{}", case.tool, context());
        assert!(
            sb.fake.results().iter().any(|r| r.contains(&case.marker)),
            "{client} {}: no tool result with the marker reached the model:\n{}",
            case.tool,
            context()
        );
        assert!(
            out.stdout.contains(&case.marker),
            "{client} {}: the final answer lacks the marker {}:\n{}",
            case.tool,
            case.marker,
            context()
        );
        assert!(
            sb.audit().contains(&format!("\"{}\"", case.tool)),
            "{client} {}: Rune's audit log has no call of the tool:\n{}",
            case.tool,
            context()
        );
        assert_loopback_only(sb, &out);
        let excerpt = out
            .stdout
            .lines()
            .find(|l| l.contains(&case.marker))
            .unwrap_or_default();
        eprintln!(
            "{client} {}: ok in {:.1} s (loopback only: {}); final answer: {}",
            case.tool,
            out.elapsed.as_secs_f64(),
            out.egress_summary(),
            excerpt.chars().take(200).collect::<String>()
        );
    }
}

// ---- Claude Code -------------------------------------------------------------------------------

fn claude_env(sb: &Sandbox) -> Vec<(&'static str, String)> {
    vec![
        ("ANTHROPIC_BASE_URL", sb.fake.url()),
        ("ANTHROPIC_API_KEY", "sk-rune-e2e-fake".into()),
        ("DISABLE_TELEMETRY", "1".into()),
        ("DISABLE_AUTOUPDATER", "1".into()),
        ("DISABLE_ERROR_REPORTING", "1".into()),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
        ("MCP_TIMEOUT", "60000".into()),
    ]
}

fn claude_register(sb: &Sandbox, claude: &Path) -> String {
    let env = claude_env(sb);
    let fallback = sb.command(
        claude,
        &[
            OsStr::new("mcp"),
            OsStr::new("add"),
            OsStr::new("--scope"),
            OsStr::new("user"),
            OsStr::new("rune"),
            OsStr::new("--"),
            rune().as_os_str(),
            OsStr::new("mcp-server"),
            OsStr::new("--root"),
            sb.ws.as_os_str(),
        ],
        &env,
    );
    sb.register("claude-code", &[], &env, fallback)
}

#[test]
fn claude_code_calls_rune_tools() {
    let Some(c) = clients("claude_code_calls_rune_tools") else {
        return;
    };
    let sb = Sandbox::new("claude");
    claude_register(&sb, &c.claude);
    let env = claude_env(&sb);
    check_cases(&sb, "claude", |case| {
        let allowed = format!("mcp__rune__{}", case.tool);
        let cmd = sb.command(
            &c.claude,
            &[
                OsStr::new("-p"),
                OsStr::new(&case.prompt),
                OsStr::new("--allowedTools"),
                OsStr::new(&allowed),
                OsStr::new("--max-turns"),
                OsStr::new("8"),
            ],
            &env,
        );
        sb.run(&format!("claude-{}", case.tool), cmd, RUN_TIMEOUT)
    });
}

// ---- Gemini CLI --------------------------------------------------------------------------------

fn gemini_env(sb: &Sandbox) -> Vec<(&'static str, String)> {
    vec![
        ("GEMINI_API_KEY", "rune-e2e-fake".into()),
        ("GOOGLE_GEMINI_BASE_URL", sb.fake.url()),
        ("GEMINI_CLI_TRUST_WORKSPACE", "true".into()),
    ]
}

/// Settings a user would set for a quiet, offline Gemini CLI: API-key auth, no usage
/// statistics, no telemetry, no update checks.
fn gemini_settings(sb: &Sandbox) {
    let dir = sb.home.join(".gemini");
    std::fs::create_dir_all(&dir).expect("~/.gemini");
    let settings = json!({
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "privacy": {"usageStatisticsEnabled": false},
        "telemetry": {"enabled": false},
        "general": {"enableAutoUpdate": false, "enableAutoUpdateNotification": false}
    });
    std::fs::write(
        dir.join("settings.json"),
        serde_json::to_string_pretty(&settings).expect("json"),
    )
    .expect("write settings.json");
}

/// Registers Rune with Gemini CLI as trusted when it can (`gemini mcp add --trust`,
/// `rune mcp install --trust`): headless `gemini -p` offers only trusted servers' tools. Returns
/// whether the registration is trusted.
fn gemini_register(sb: &Sandbox, gemini: &Path) -> bool {
    gemini_settings(sb);
    let env = gemini_env(sb);
    let fallback = sb.command(
        gemini,
        &[
            OsStr::new("mcp"),
            OsStr::new("add"),
            OsStr::new("--scope"),
            OsStr::new("user"),
            OsStr::new("--trust"),
            OsStr::new("rune"),
            rune().as_os_str(),
            OsStr::new("--"),
            OsStr::new("mcp-server"),
            OsStr::new("--root"),
            sb.ws.as_os_str(),
        ],
        &env,
    );
    let trust = mcp_install_help().is_none_or(|help| help.contains("--trust"));
    let options: &[&str] = if trust { &["--trust"] } else { &[] };
    sb.register("gemini", options, &env, fallback);
    trust
}

#[test]
fn gemini_cli_calls_rune_tools() {
    let Some(c) = clients("gemini_cli_calls_rune_tools") else {
        return;
    };
    let sb = Sandbox::new("gemini");
    let trusted = gemini_register(&sb, &c.gemini);
    let env = gemini_env(&sb);
    check_cases(&sb, "gemini", |case| {
        let allowed = format!("mcp_rune_{}", case.tool);
        let mut args = vec![OsStr::new("-p"), OsStr::new(&case.prompt)];
        if !trusted {
            // Like Claude Code's `--allowedTools`: headless Gemini CLI offers an untrusted
            // server's tool only when it may run without asking.
            args.extend([OsStr::new("--allowed-tools"), OsStr::new(&allowed)]);
        }
        let cmd = sb.command(&c.gemini, &args, &env);
        sb.run(&format!("gemini-{}", case.tool), cmd, RUN_TIMEOUT)
    });
}

// ---- Codex CLI ---------------------------------------------------------------------------------

fn codex_env(sb: &Sandbox) -> Vec<(&'static str, String)> {
    vec![
        (
            "CODEX_HOME",
            sb.home.join(".codex").to_string_lossy().into_owned(),
        ),
        ("RUNE_E2E_MODEL_KEY", "rune-e2e-fake".into()),
    ]
}

/// `config.toml` with the fake model as the provider (Responses API), no update check, no
/// analytics, no plugin or app sync.
fn codex_config(sb: &Sandbox) {
    let dir = sb.home.join(".codex");
    std::fs::create_dir_all(&dir).expect("~/.codex");
    let config = format!(
        r#"model = "rune-e2e-model"
model_provider = "rune_e2e"
check_for_update_on_startup = false

[analytics]
enabled = false

# The curated plugin sync (GitHub, then chatgpt.com) and ChatGPT apps run at startup.
[features]
plugins = false
remote_plugin = false
apps = false

[model_providers.rune_e2e]
name = "Rune e2e fake model"
base_url = "{}/v1"
wire_api = "responses"
env_key = "RUNE_E2E_MODEL_KEY"
request_max_retries = 0
stream_max_retries = 0
"#,
        sb.fake.url()
    );
    std::fs::write(dir.join("config.toml"), config).expect("write config.toml");
}

fn codex_register(sb: &Sandbox, codex: &Path) -> String {
    codex_config(sb);
    let env = codex_env(sb);
    let fallback = sb.command(
        codex,
        &[
            OsStr::new("mcp"),
            OsStr::new("add"),
            OsStr::new("rune"),
            OsStr::new("--"),
            rune().as_os_str(),
            OsStr::new("mcp-server"),
            OsStr::new("--root"),
            sb.ws.as_os_str(),
        ],
        &env,
    );
    sb.register("codex", &[], &env, fallback)
}

#[test]
fn codex_exec_calls_rune_tools() {
    let Some(c) = clients("codex_exec_calls_rune_tools") else {
        return;
    };
    let sb = Sandbox::new("codex");
    codex_register(&sb, &c.codex);
    let env = codex_env(&sb);
    check_cases(&sb, "codex", |case| {
        let cmd = sb.command(
            &c.codex,
            &[
                OsStr::new("exec"),
                OsStr::new("--skip-git-repo-check"),
                OsStr::new("--color"),
                OsStr::new("never"),
                OsStr::new("-C"),
                sb.ws.as_os_str(),
                OsStr::new(&case.prompt),
            ],
            &env,
        );
        sb.run(&format!("codex-{}", case.tool), cmd, RUN_TIMEOUT)
    });
}

// ---- `mcp list` --------------------------------------------------------------------------------

/// The line of `mcp list` output that names the `rune` server.
fn rune_line(out: &str) -> Option<&str> {
    out.lines().find(|l| {
        let l = l.trim_start_matches(|c: char| !c.is_alphanumeric());
        l.starts_with("rune:") || l.starts_with("rune ")
    })
}

#[test]
fn claude_mcp_list_reports_rune_connected() {
    let Some(c) = clients("claude_mcp_list_reports_rune_connected") else {
        return;
    };
    let sb = Sandbox::new("claude-list");
    claude_register(&sb, &c.claude);
    let cmd = sb.command(
        &c.claude,
        &[OsStr::new("mcp"), OsStr::new("list")],
        &claude_env(&sb),
    );
    let out = sb.run("claude-mcp-list", cmd, SETUP_TIMEOUT);
    assert!(out.ok(), "claude mcp list failed:\n{}", out.dump());
    let line = rune_line(&out.stdout)
        .unwrap_or_else(|| panic!("claude mcp list does not show rune:\n{}", out.dump()));
    assert!(
        line.contains("Connected") && !line.contains("Failed"),
        "claude mcp list does not report rune connected: {line}\n{}",
        out.dump()
    );
    assert_loopback_only(&sb, &out);
    eprintln!(
        "claude mcp list: {} ({})",
        line.trim(),
        out.egress_summary()
    );
}

#[test]
fn gemini_mcp_list_reports_rune_connected() {
    let Some(c) = clients("gemini_mcp_list_reports_rune_connected") else {
        return;
    };
    let sb = Sandbox::new("gemini-list");
    gemini_register(&sb, &c.gemini);
    let cmd = sb.command(
        &c.gemini,
        &[OsStr::new("mcp"), OsStr::new("list")],
        &gemini_env(&sb),
    );
    let out = sb.run("gemini-mcp-list", cmd, SETUP_TIMEOUT);
    assert!(out.ok(), "gemini mcp list failed:\n{}", out.dump());
    let all = format!("{}\n{}", out.stdout, out.stderr);
    let line = rune_line(&all)
        .unwrap_or_else(|| panic!("gemini mcp list does not show rune:\n{}", out.dump()));
    assert!(
        line.contains("Connected") && !line.contains("Disconnected"),
        "gemini mcp list does not report rune connected: {line}\n{}",
        out.dump()
    );
    assert_loopback_only(&sb, &out);
    eprintln!(
        "gemini mcp list: {} ({})",
        line.trim(),
        out.egress_summary()
    );
}

#[test]
fn strace_lines_off_loopback_are_found() {
    let log = r#"7 connect(3, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT
7 connect(5, {sa_family=AF_INET, sin_port=htons(4000), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
7 connect(6, {sa_family=AF_INET6, sin6_port=htons(80), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0
7 connect(6, {sa_family=AF_INET6, sin6_port=htons(80), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6_addr), sin6_scope_id=0}, 28) = 0
7 connect(7, {sa_family=AF_UNSPEC, sa_data="\0\0\0\0"}, 16) = 0
7 connect(8, {sa_family=AF_INET, sin_port=htons(0), sin_addr=inet_addr("0.0.0.0")}, 16) = 0
8 sendto(9, ""..., 40, MSG_NOSIGNAL, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.255.255.53")}, 16) = 40
8 connect(10, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "2001:db8::1", &sin6_addr), sin6_scope_id=0}, 28) = -1 ENETUNREACH
"#;
    let bad = egress::off_loopback(log);
    assert_eq!(bad.len(), 2, "{bad:#?}");
    assert!(bad[0].contains("10.255.255.53") && bad[1].contains("2001:db8::1"));
}
