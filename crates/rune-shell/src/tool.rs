//! The `shell_exec` tool: arguments, checks (program lists, working directory, environment),
//! and the result.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rune_server::proto::model::{CallToolResult, Content, ToolAnnotations};
use rune_server::{HandlerError, RequestContext, ToolDef};
use rune_tools::Roots;
use rune_tools::guard::{Kind, current_scope};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::options::{DEFAULT_PATH, ShellOptions};
use crate::run::{self, Outcome, RunError, Spec};
use crate::sandbox::{self, Applied};

/// Arguments of `shell_exec` (argv only).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShellExecArgs {
    /// The program and its arguments, one per element, e.g. ["git", "status", "--short"].
    /// No shell is involved: no globbing, pipes, redirections or variable expansion.
    #[schemars(length(min = 1, max = 4096))]
    pub argv: Vec<String>,
    /// The working directory: relative to the first allowed root, or absolute inside a root
    /// (default: the first root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub cwd: Option<String>,
    /// Text written to the command's standard input (default: none; it reads end of file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub stdin: Option<String>,
    /// Extra environment variables for this command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "BTreeMap<String, String>")]
    pub env: Option<BTreeMap<String, String>>,
    /// Seconds before the command and everything it started are killed (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u64", range(min = 1))]
    pub timeout_secs: Option<u64>,
}

/// Arguments of `shell_exec` when the server accepts shell strings.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShellExecStringArgs {
    /// The program and its arguments, one per element, e.g. ["git", "status", "--short"]
    /// (preferred: no shell parsing). Give this or `command`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Vec<String>", length(min = 1, max = 4096))]
    pub argv: Option<Vec<String>>,
    /// A shell command line, run with `sh -c` (pipes, redirections, globs). Give this or
    /// `argv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", length(min = 1))]
    pub command: Option<String>,
    /// The working directory: relative to the first allowed root, or absolute inside a root
    /// (default: the first root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub cwd: Option<String>,
    /// Text written to the command's standard input (default: none; it reads end of file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub stdin: Option<String>,
    /// Extra environment variables for this command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "BTreeMap<String, String>")]
    pub env: Option<BTreeMap<String, String>>,
    /// Seconds before the command and everything it started are killed (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u64", range(min = 1))]
    pub timeout_secs: Option<u64>,
}

/// The arguments both forms share.
#[derive(Debug, Clone, Default)]
struct CommonArgs {
    cwd: Option<String>,
    stdin: Option<String>,
    env: Option<BTreeMap<String, String>>,
    timeout_secs: Option<u64>,
}

/// The structured result of `shell_exec`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ShellExecOutput {
    /// What ran: the program as given and its arguments (`sh -c …` for a shell string).
    pub argv: Vec<String>,
    /// The program's file, found on `PATH`.
    pub program: String,
    /// The working directory (canonical).
    pub cwd: String,
    /// The process id it ran as, which was also the id of its process group.
    pub pid: u32,
    /// The exit code, when the command exited by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The signal that ended it, when one did (9 after a timeout or a limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// The signal's name (`SIGKILL`, `SIGXCPU`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_name: Option<String>,
    /// True when the timeout ended it.
    pub timed_out: bool,
    /// Wall-clock time from start to end, in milliseconds.
    pub duration_ms: f64,
    /// Standard output (its start and end when longer than the cap).
    pub stdout: String,
    /// Standard error (its start and end when longer than the cap).
    pub stderr: String,
    /// Bytes written to standard output in all.
    pub stdout_bytes: u64,
    /// Bytes written to standard error in all.
    pub stderr_bytes: u64,
    /// True when some output was left out (a marker in the text says where and how much).
    pub truncated: bool,
    /// The sandbox the command ran in: what was applied, and what this host lacks.
    pub sandbox: Applied,
}

/// The internal form of a call.
struct Request {
    argv: Option<Vec<String>>,
    command: Option<String>,
    common: CommonArgs,
}

/// The `shell_exec` tool: commands run in the sandbox, inside `roots` (read-only when the
/// roots are).
pub fn shell_exec_tool(roots: Arc<Roots>, opts: ShellOptions) -> ToolDef {
    let opts = Arc::new(opts);
    let tool = if opts.shell_strings {
        let (r, o) = (roots.clone(), opts.clone());
        ToolDef::new(
            "shell_exec",
            description(&opts, roots.is_read_only()),
            move |a: ShellExecStringArgs, cx: RequestContext| {
                let req = Request {
                    argv: a.argv,
                    command: a.command,
                    common: CommonArgs {
                        cwd: a.cwd,
                        stdin: a.stdin,
                        env: a.env,
                        timeout_secs: a.timeout_secs,
                    },
                };
                exec(r.clone(), o.clone(), req, cx)
            },
        )
    } else {
        let (r, o) = (roots.clone(), opts.clone());
        ToolDef::new(
            "shell_exec",
            description(&opts, roots.is_read_only()),
            move |a: ShellExecArgs, cx: RequestContext| {
                let req = Request {
                    argv: Some(a.argv),
                    command: None,
                    common: CommonArgs {
                        cwd: a.cwd,
                        stdin: a.stdin,
                        env: a.env,
                        timeout_secs: a.timeout_secs,
                    },
                };
                exec(r.clone(), o.clone(), req, cx)
            },
        )
    };
    tool.title("Run a command")
        .annotations(ToolAnnotations {
            title: Some("Run a command".to_owned()),
            read_only_hint: Some(false),
            destructive_hint: Some(true),
            idempotent_hint: Some(false),
            open_world_hint: Some(true),
        })
        .output_schema::<ShellExecOutput>()
}

fn description(opts: &ShellOptions, read_only: bool) -> String {
    format!(
        "Run a program in a sandbox inside the allowed roots and get its exit code, stdout and \
         stderr. Give `argv` (program and arguments, no shell){}. Files outside the roots (system \
         directories aside) are unreadable, writes go only to {}a private temp dir (HOME, TMPDIR), \
         {}CPU, memory and process limits apply, and a timeout (default {} s) kills everything \
         the command started. Output streams as progress; long output keeps its start and end.",
        if opts.shell_strings {
            ", or `command`, a line for sh -c"
        } else {
            ""
        },
        if read_only { "" } else { "the roots and " },
        if opts.network {
            ""
        } else {
            "there is no network, "
        },
        opts.timeout.as_secs()
    )
}

async fn exec(
    roots: Arc<Roots>,
    opts: Arc<ShellOptions>,
    req: Request,
    cx: RequestContext,
) -> Result<CallToolResult, HandlerError> {
    match execute(&roots, &opts, req, Some(cx)).await {
        Ok((out, held)) => Ok(result(out, held)),
        Err(RunError::Spawn(msg)) => Ok(CallToolResult::error(msg)),
        Err(RunError::Cancelled) => Err(HandlerError::failed(
            "cancelled: the command and everything it started were killed",
        )),
    }
}

/// Runs `argv` as `shell_exec` does (same checks, same sandbox, same result), without MCP:
/// no progress notifications and no cancellation. For embedders and benchmarks; a refusal
/// or a failure to start is the `Err` message.
pub async fn run_argv(
    roots: &Roots,
    opts: &ShellOptions,
    argv: Vec<String>,
) -> Result<ShellExecOutput, String> {
    let req = Request {
        argv: Some(argv),
        command: None,
        common: CommonArgs::default(),
    };
    match execute(roots, opts, req, None).await {
        Ok((out, _)) => Ok(out),
        Err(RunError::Spawn(msg)) => Err(msg),
        Err(RunError::Cancelled) => Err("cancelled".into()),
    }
}

async fn execute(
    roots: &Roots,
    opts: &ShellOptions,
    req: Request,
    cx: Option<RequestContext>,
) -> Result<(ShellExecOutput, bool), RunError> {
    let Planned {
        spec,
        argv,
        program,
        cwd,
        tmp,
        prepared,
    } = plan(roots, opts, req).map_err(RunError::Spawn)?;
    let applied = prepared.applied;
    let outcome = run::run(spec, prepared.setup, cx).await;
    drop(prepared.cgroup);
    drop(tmp);
    let o = outcome?;
    let held = o.pipes_held_open;
    Ok((output(argv, program, cwd, o, applied), held))
}

struct Planned {
    spec: Spec,
    argv: Vec<String>,
    program: PathBuf,
    cwd: PathBuf,
    tmp: tempfile::TempDir,
    prepared: sandbox::Prepared,
}

/// Every check before anything runs; an `Err` is the message for the model.
fn plan(roots: &Roots, opts: &ShellOptions, req: Request) -> Result<Planned, String> {
    let Request {
        argv,
        command,
        common,
    } = req;
    let argv: Vec<String> = match (argv, command) {
        (Some(a), None) if !a.is_empty() => a,
        (Some(_), None) => return Err("`argv` is empty: give the program and its arguments".into()),
        (None, Some(c)) if opts.shell_strings => {
            vec![opts.shell.to_string_lossy().into_owned(), "-c".into(), c]
        }
        (None, Some(_)) => {
            return Err("this server does not accept shell strings: give `argv`".into());
        }
        (Some(_), Some(_)) => return Err("give `argv` or `command`, not both".into()),
        (None, None) => return Err("give `argv` (the program and its arguments)".into()),
    };
    if argv.iter().any(|a| a.contains('\0')) {
        return Err("an argument contains a NUL byte, which no program can receive".into());
    }
    let timeout = match common.timeout_secs {
        None => opts.timeout,
        Some(s) if Duration::from_secs(s) <= opts.max_timeout && s > 0 => Duration::from_secs(s),
        Some(s) => {
            return Err(format!(
                "timeout_secs is {s}; it must be between 1 and {} on this server",
                opts.max_timeout.as_secs()
            ));
        }
    };
    let stdin = common.stdin.map(String::into_bytes);
    if let Some(s) = &stdin
        && s.len() > opts.max_stdin_bytes
    {
        return Err(format!(
            "stdin is {} bytes; the limit is {} bytes (write the data to a file inside a root \
             and redirect it instead)",
            s.len(),
            opts.max_stdin_bytes
        ));
    }
    if opts.require_full_sandbox {
        let report = sandbox::probe();
        // seccomp also cuts the network off (sockets), so these two are the full sandbox.
        let lacking: Vec<&str> = ["landlock", "seccomp"]
            .into_iter()
            .filter(|m| !report.has(m))
            .collect();
        if !lacking.is_empty() {
            return Err(format!(
                "this server requires the full sandbox, and this host lacks: {} (see `rune doctor`); nothing was run",
                lacking.join(", ")
            ));
        }
    }
    // The working directory, through the path jail (and the client's roots, if any).
    let cwd_text = common.cwd.as_deref().unwrap_or(".");
    let cwd = roots.resolve(cwd_text).map_err(|e| e.to_string())?;
    if cwd.kind() != Kind::Dir {
        return Err(format!("cwd {cwd_text} is not a directory"));
    }
    let cwd = cwd.absolute().to_path_buf();
    let dirs: Vec<PathBuf> = match current_scope() {
        Some(s) => s.dirs().to_vec(),
        None => roots.paths().map(Path::to_path_buf).collect(),
    };
    let tmp = tempfile::Builder::new()
        .prefix("rune-shell-")
        .tempdir()
        .map_err(|e| format!("the private temp directory could not be made: {e}"))?;
    let env = build_env(opts, common.env.as_ref(), tmp.path(), std::env::vars_os())?;
    let path_var = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.to_string_lossy().into_owned())
        .unwrap_or_else(|| DEFAULT_PATH.to_owned());
    let program = find_program(&argv[0], &path_var, &cwd)?;
    check_program(opts, &argv[0], &program)?;
    let prepared = sandbox::prepare(opts, &dirs, !roots.is_read_only(), tmp.path())?;
    Ok(Planned {
        spec: Spec {
            program: program.clone(),
            argv: argv.clone(),
            cwd: cwd.clone(),
            env,
            stdin,
            timeout,
            grace: opts.kill_grace,
            max_output: opts.max_output_bytes,
            max_streamed: opts.max_streamed_bytes,
        },
        argv,
        program,
        cwd,
        tmp,
        prepared,
    })
}

/// True when `name` is allowed by an allow-list entry (`PREFIX*` or an exact name).
fn env_allowed(allow: &[String], name: &str) -> bool {
    allow.iter().any(|a| match a.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => a == name,
    })
}

/// The command's environment: the allow-listed part of `source` (Rune's environment), then
/// HOME and TMPDIR (the private temp dir), a default PATH, the configured variables, and the
/// call's own.
pub(crate) fn build_env(
    opts: &ShellOptions,
    call: Option<&BTreeMap<String, String>>,
    tmp: &Path,
    source: impl Iterator<Item = (OsString, OsString)>,
) -> Result<Vec<(OsString, OsString)>, String> {
    let mut env: BTreeMap<OsString, OsString> = source
        .filter(|(k, _)| k.to_str().is_some_and(|k| env_allowed(&opts.env_allow, k)))
        .collect();
    env.insert("HOME".into(), tmp.into());
    env.insert("TMPDIR".into(), tmp.into());
    env.entry("PATH".into()).or_insert(DEFAULT_PATH.into());
    for (k, v) in &opts.env_set {
        env.insert(k.into(), v.into());
    }
    for (k, v) in call.into_iter().flatten() {
        let plain = !k.is_empty()
            && !k.starts_with(|c: char| c.is_ascii_digit())
            && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !plain {
            return Err(format!(
                "environment variable name {k:?} is not valid (letters, digits and _, not starting with a digit)"
            ));
        }
        if v.contains('\0') {
            return Err(format!("the value of {k} contains a NUL byte"));
        }
        env.insert(k.into(), v.into());
    }
    Ok(env.into_iter().collect())
}

/// The file `name` names: a path (relative to `cwd`) when it has a slash, else the first
/// executable file of that name on `path`.
fn find_program(name: &str, path: &str, cwd: &Path) -> Result<PathBuf, String> {
    let runnable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.is_empty() {
        return Err("the program name is empty".into());
    }
    if name.contains('/') {
        let p = cwd.join(name);
        return if runnable(&p) {
            Ok(p)
        } else {
            Err(format!("{name} is not an executable file"))
        };
    }
    path.split(':')
        .filter(|d| d.starts_with('/'))
        .map(|d| Path::new(d).join(name))
        .find(|p| runnable(p))
        .ok_or_else(|| format!("program {name} was not found on PATH ({path})"))
}

/// Applies the allow- and deny-lists to the name given and the file found (and the file its
/// symbolic links lead to).
fn check_program(opts: &ShellOptions, given: &str, found: &Path) -> Result<(), String> {
    if opts.allow_programs.is_empty() && opts.deny_programs.is_empty() {
        return Ok(());
    }
    let canonical = std::fs::canonicalize(found).unwrap_or_else(|_| found.to_path_buf());
    let base = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let names = [base(Path::new(given)), base(found), base(&canonical)];
    let paths = [found.to_path_buf(), canonical.clone()];
    let matches = |entry: &str| {
        if entry.contains('/') {
            paths.iter().any(|p| p == Path::new(entry))
        } else {
            names.iter().any(|n| n == entry)
        }
    };
    if let Some(d) = opts.deny_programs.iter().find(|d| matches(d)) {
        return Err(format!(
            "{given} is denied by the server's policy (deny list entry {d:?}); nothing was run"
        ));
    }
    if !opts.allow_programs.is_empty() && !opts.allow_programs.iter().any(|a| matches(a)) {
        return Err(format!(
            "{given} is not on the server's list of allowed programs ({}); nothing was run",
            opts.allow_programs.join(", ")
        ));
    }
    Ok(())
}

/// The name of a signal.
pub(crate) fn signal_name(sig: i32) -> Option<&'static str> {
    Some(match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU (CPU time limit)",
        libc::SIGXFSZ => "SIGXFSZ (file size limit)",
        libc::SIGSYS => "SIGSYS",
        _ => return None,
    })
}

fn output(
    argv: Vec<String>,
    program: PathBuf,
    cwd: PathBuf,
    o: Outcome,
    sandbox: Applied,
) -> ShellExecOutput {
    let truncated = o.stdout.omitted() > 0 || o.stderr.omitted() > 0;
    ShellExecOutput {
        argv,
        program: program.to_string_lossy().into_owned(),
        cwd: cwd.to_string_lossy().into_owned(),
        pid: o.pid,
        exit_code: o.exit_code,
        signal: o.signal,
        signal_name: o.signal.and_then(signal_name).map(str::to_owned),
        timed_out: o.timed_out,
        duration_ms: (o.duration.as_secs_f64() * 1e6).round() / 1e3,
        stdout: o.stdout.render("stdout"),
        stderr: o.stderr.render("stderr"),
        stdout_bytes: o.stdout.total(),
        stderr_bytes: o.stderr.total(),
        truncated,
        sandbox,
    }
}

/// The tool result: a text for people and models, and the structured output.
fn result(out: ShellExecOutput, pipes_held_open: bool) -> CallToolResult {
    let ended = match (out.exit_code, out.signal) {
        (_, Some(s)) => format!(
            "killed by signal {s}{}",
            out.signal_name
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        ),
        (Some(c), None) => format!("exit code {c}"),
        (None, None) => "ended (status unknown)".to_owned(),
    };
    let mut text = format!(
        "$ {}\n{ended} after {:.0} ms",
        shown(&out.argv),
        out.duration_ms
    );
    if out.timed_out {
        text.push_str(
            "; TIMED OUT: the command and everything it started were killed (ask for a longer \
             timeout_secs if it needs more time)",
        );
    }
    if pipes_held_open {
        text.push_str(
            "; its output pipes were still held open by a process outside its group, and \
             reading stopped",
        );
    }
    if out.truncated {
        text.push_str("; output truncated in the middle (see the marker)");
    }
    if !out.sandbox.missing.is_empty() {
        text.push_str(&format!(
            "\nsandbox weaker than usual on this host: {}",
            out.sandbox.missing.join("; ")
        ));
    }
    text.push('\n');
    if !out.stdout.is_empty() {
        text.push_str("--- stdout ---\n");
        text.push_str(&out.stdout);
        if !out.stdout.ends_with('\n') {
            text.push('\n');
        }
    }
    if !out.stderr.is_empty() {
        text.push_str("--- stderr ---\n");
        text.push_str(&out.stderr);
        if !out.stderr.ends_with('\n') {
            text.push('\n');
        }
    }
    if out.stdout.is_empty() && out.stderr.is_empty() {
        text.push_str("(no output)\n");
    }
    let is_error = out.timed_out;
    let mut r = match serde_json::to_value(&out) {
        Ok(v) => CallToolResult::new(vec![Content::text(text)]).with_structured(v),
        Err(e) => return CallToolResult::error(format!("the result could not be serialized: {e}")),
    };
    if is_error {
        r.is_error = Some(true);
    }
    r
}

/// argv as a person would type it.
fn shown(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_is_the_allow_list_and_nothing_else() {
        let opts = ShellOptions::default();
        let source = [
            ("PATH", "/usr/bin:/bin"),
            ("LC_ALL", "C.UTF-8"),
            ("AWS_SECRET_ACCESS_KEY", "s3cr3t"),
            ("GITHUB_TOKEN", "ghp_x"),
            ("HOME", "/home/someone"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let mut call = BTreeMap::new();
        call.insert("MY_FLAG".to_owned(), "1".to_owned());
        let env =
            build_env(&opts, Some(&call), Path::new("/tmp/x"), source.into_iter()).expect("valid");
        let get = |k: &str| {
            env.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.to_string_lossy().into_owned())
        };
        assert_eq!(get("PATH").as_deref(), Some("/usr/bin:/bin"));
        assert_eq!(get("LC_ALL").as_deref(), Some("C.UTF-8"));
        assert_eq!(get("HOME").as_deref(), Some("/tmp/x"));
        assert_eq!(get("TMPDIR").as_deref(), Some("/tmp/x"));
        assert_eq!(get("MY_FLAG").as_deref(), Some("1"));
        assert_eq!(get("AWS_SECRET_ACCESS_KEY"), None);
        assert_eq!(get("GITHUB_TOKEN"), None);
        assert_eq!(env.len(), 5);
        let mut bad = BTreeMap::new();
        bad.insert("A=B".to_owned(), "x".to_owned());
        assert!(build_env(&opts, Some(&bad), Path::new("/t"), std::iter::empty()).is_err());
        // No PATH inherited: the default.
        let env = build_env(&opts, None, Path::new("/t"), std::iter::empty()).expect("valid");
        assert!(env.iter().any(|(k, v)| k == "PATH" && v == DEFAULT_PATH));
    }

    #[test]
    fn program_lists_match_the_given_and_the_resolved_names() {
        let sh = find_program("sh", DEFAULT_PATH, Path::new("/")).expect("sh exists");
        let deny = ShellOptions {
            deny_programs: vec!["sh".into()],
            ..ShellOptions::default()
        };
        assert!(check_program(&deny, "sh", &sh).is_err());
        let allow = ShellOptions {
            allow_programs: vec!["git".into()],
            ..ShellOptions::default()
        };
        let e = check_program(&allow, "sh", &sh).expect_err("not allowed");
        assert!(e.contains("not on the server's list"), "{e}");
        let by_path = ShellOptions {
            allow_programs: vec![sh.to_string_lossy().into_owned()],
            ..ShellOptions::default()
        };
        assert!(check_program(&by_path, "sh", &sh).is_ok());
        assert!(find_program("no-such-program-3f9", DEFAULT_PATH, Path::new("/")).is_err());
    }

    #[test]
    fn argv_is_shown_quoted() {
        let a = ["echo", "a b", "it's", ""].map(String::from);
        assert_eq!(shown(&a), r"echo 'a b' 'it'\''s' ''");
    }
}
