//! `rune mcp install | uninstall | list` against each client's config file, run as the built
//! binary with `HOME` (and the other variables the paths come from) pointed at a temporary
//! directory: missing and empty files, files with other servers and with comments (kept),
//! malformed and read-only files (clear errors, never overwritten), idempotence, `--dry-run`,
//! `--force`, uninstall of only Rune's entry, and `rune mcp list`.
//!
//! The fixtures (`tests/fixtures/install/<client>/`) are written in each client's own shape.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

/// One client, as the tests see it.
struct Case {
    client: &'static str,
    /// The user-scope file, relative to the temporary home.
    user: &'static str,
    /// The project-scope file, relative to the project directory.
    project: Option<&'static str>,
    /// The key holding the servers.
    key: &'static str,
    toml: bool,
    /// Whether the client reads comments (otherwise `comments.json` must be refused).
    comments: bool,
    /// Where `malformed.*` is wrong, as `LINE:COLUMN`.
    malformed_at: &'static str,
    /// The keys Rune writes besides `command` and `args`.
    extra: fn() -> Value,
    /// The client has no project to start the server in, so `--root` is required (the tests
    /// pass `--root .`, the project directory, unless they give one).
    needs_root: bool,
}

#[cfg(target_os = "macos")]
const DESKTOP: &str = "Library/Application Support/Claude/claude_desktop_config.json";
#[cfg(not(target_os = "macos"))]
const DESKTOP: &str = ".config/Claude/claude_desktop_config.json";
#[cfg(target_os = "macos")]
const VSCODE: &str = "Library/Application Support/Code/User/mcp.json";
#[cfg(not(target_os = "macos"))]
const VSCODE: &str = ".config/Code/User/mcp.json";

const CLAUDE_CODE: Case = Case {
    client: "claude-code",
    user: ".claude.json",
    project: Some(".mcp.json"),
    key: "mcpServers",
    toml: false,
    comments: false,
    malformed_at: "4:35",
    extra: || json!({"type": "stdio", "env": {}}),
    needs_root: false,
};
const CLAUDE_DESKTOP: Case = Case {
    client: "claude-desktop",
    user: DESKTOP,
    project: None,
    key: "mcpServers",
    toml: false,
    comments: false,
    malformed_at: "6:5",
    extra: || json!({}),
    needs_root: true,
};
const GEMINI: Case = Case {
    client: "gemini",
    user: ".gemini/settings.json",
    project: Some(".gemini/settings.json"),
    key: "mcpServers",
    toml: false,
    comments: true,
    malformed_at: "5:38",
    extra: || json!({}),
    needs_root: false,
};
const VSCODE_CASE: Case = Case {
    client: "vscode",
    user: VSCODE,
    project: Some(".vscode/mcp.json"),
    key: "servers",
    toml: false,
    comments: true,
    malformed_at: "5:14",
    extra: || json!({"type": "stdio"}),
    needs_root: false,
};
const CURSOR: Case = Case {
    client: "cursor",
    user: ".cursor/mcp.json",
    project: Some(".cursor/mcp.json"),
    key: "mcpServers",
    toml: false,
    comments: true,
    malformed_at: "1:1",
    extra: || json!({}),
    needs_root: false,
};
const CODEX: Case = Case {
    client: "codex",
    user: ".codex/config.toml",
    project: Some(".codex/config.toml"),
    key: "mcp_servers",
    toml: true,
    comments: true,
    malformed_at: "3:18",
    extra: || json!({}),
    needs_root: false,
};
const ZED: Case = Case {
    client: "zed",
    user: ".config/zed/settings.json",
    project: Some(".zed/settings.json"),
    key: "context_servers",
    toml: false,
    comments: true,
    malformed_at: "6:23",
    extra: || json!({}),
    needs_root: false,
};

const ALL: [&Case; 7] = [
    &CLAUDE_CODE,
    &CLAUDE_DESKTOP,
    &GEMINI,
    &VSCODE_CASE,
    &CURSOR,
    &CODEX,
    &ZED,
];

/// A temporary home and project directory, removed when dropped.
struct Sandbox {
    dir: PathBuf,
    home: PathBuf,
    project: PathBuf,
}

impl Sandbox {
    fn new(tag: &str) -> Sandbox {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rune-install-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let home = dir.join("home");
        let project = dir.join("project");
        std::fs::create_dir_all(&home).expect("temp home");
        std::fs::create_dir_all(&project).expect("temp project");
        Sandbox { dir, home, project }
    }

    fn rune(&self, args: &[&str]) -> Output {
        self.rune_env(args, &[])
    }

    fn rune_env(&self, args: &[&str], env: &[(&str, &Path)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rune"));
        cmd.args(args)
            .current_dir(&self.project)
            .env("HOME", &self.home);
        for var in [
            "XDG_CONFIG_HOME",
            "FLATPAK_XDG_CONFIG_HOME",
            "CODEX_HOME",
            "CLAUDE_CONFIG_DIR",
            "APPDATA",
            "USERPROFILE",
        ] {
            cmd.env_remove(var);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run rune")
    }

    fn user_file(&self, case: &Case) -> PathBuf {
        self.home.join(case.user)
    }

    fn project_file(&self, case: &Case) -> PathBuf {
        self.project.join(case.project.expect("a project scope"))
    }

    /// Puts a fixture (or text) in place as the client's user file.
    fn put(&self, case: &Case, text: &str) -> PathBuf {
        let path = self.user_file(case);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("config dir");
        std::fs::write(&path, text).expect("write fixture");
        path
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fixture(case: &Case, name: &str) -> String {
    let ext = if case.toml { "toml" } else { "json" };
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/install")
        .join(case.client)
        .join(format!("{name}.{ext}"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn exe() -> String {
    std::fs::canonicalize(env!("CARGO_BIN_EXE_rune"))
        .expect("rune binary")
        .to_str()
        .expect("UTF-8 path")
        .to_owned()
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[track_caller]
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "rune failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[track_caller]
fn fails(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "rune should have failed:\nstdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stderr)
}

/// The whole file as JSON (Codex's TOML converted), read the way the client reads it.
fn parse(case: &Case, path: &Path) -> Value {
    let src = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if case.toml {
        let v: toml::Value = toml::from_str(&src).expect("valid TOML");
        serde_json::to_value(v).expect("TOML as JSON")
    } else {
        let opts = jsonc_parser::ParseOptions {
            allow_comments: case.comments,
            allow_trailing_commas: case.client == "vscode" || case.client == "zed",
            ..Default::default()
        };
        jsonc_parser::cst::CstRootNode::parse(&src, &opts)
            .unwrap_or_else(|e| panic!("{} no longer parses: {e}\n{src}", path.display()))
            .to_serde_value()
            .unwrap_or(Value::Null)
    }
}

/// What Rune's entry must be (with `--root PROJECT` added where `install_args` adds it).
fn expected_entry(case: &Case, sb: &Sandbox, args: &[&str]) -> Value {
    let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    if case.needs_root && !args.iter().any(|a| a == "--root") {
        let project = std::fs::canonicalize(&sb.project).expect("project");
        args.push("--root".to_owned());
        args.push(project.to_str().expect("UTF-8").to_owned());
    }
    let mut entry = (case.extra)();
    entry["command"] = json!(exe());
    entry["args"] = json!(args);
    entry
}

fn install_args<'a>(case: &'a Case, more: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["mcp", "install", "--client", case.client];
    v.extend_from_slice(more);
    if case.needs_root && !more.contains(&"--root") && !more.contains(&"--scope") {
        v.extend_from_slice(&["--root", "."]);
    }
    v
}

fn uninstall_args<'a>(case: &'a Case, more: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["mcp", "uninstall", "--client", case.client];
    v.extend_from_slice(more);
    v
}

/// No backup and no temp file next to `path`.
#[track_caller]
fn no_leftovers(path: &Path) {
    let dir = path.parent().expect("parent");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let names: Vec<String> = entries
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("rune-backup") || n.contains("rune-tmp"))
        .collect();
    assert!(names.is_empty(), "left in {}: {names:?}", dir.display());
}

fn missing_and_empty(case: &Case) {
    let sb = Sandbox::new(case.client);
    let path = sb.user_file(case);
    let out = ok(&sb.rune(&install_args(case, &[])));
    assert!(out.contains("registered \"rune\""), "{out}");
    assert!(out.contains(&path.display().to_string()), "{out}");
    assert_eq!(
        parse(case, &path)[case.key]["rune"],
        expected_entry(case, &sb, &["mcp-server"])
    );
    no_leftovers(&path);

    // An empty file (zero bytes) is an empty configuration.
    let sb = Sandbox::new(case.client);
    let path = sb.put(case, "");
    ok(&sb.rune(&install_args(case, &[])));
    assert_eq!(
        parse(case, &path)[case.key]["rune"],
        expected_entry(case, &sb, &["mcp-server"])
    );
}

fn keeps_other_servers(case: &Case) {
    let sb = Sandbox::new(case.client);
    let original = fixture(case, "others");
    let path = sb.put(case, &original);
    let before = parse(case, &path);
    ok(&sb.rune(&install_args(case, &[])));
    let mut after = parse(case, &path);
    assert_eq!(
        after[case.key]["rune"],
        expected_entry(case, &sb, &["mcp-server"])
    );
    // Everything else is exactly as it was.
    after[case.key]
        .as_object_mut()
        .expect("servers")
        .remove("rune");
    assert_eq!(after, before);
    // The old file is the backup.
    let backup = PathBuf::from(format!("{}.rune-backup", path.display()));
    assert_eq!(std::fs::read_to_string(&backup).expect("backup"), original);
    // Uninstalling gives back the very same bytes.
    let out = ok(&sb.rune(&uninstall_args(case, &[])));
    assert!(out.contains("removed \"rune\""), "{out}");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), original);
}

fn comments(case: &Case) {
    let sb = Sandbox::new(case.client);
    let original = fixture(case, "comments");
    let path = sb.put(case, &original);
    if !case.comments {
        // The client itself could not read this file: refuse, point at the comment.
        let err = fails(&sb.rune(&install_args(case, &[])));
        assert!(
            err.contains(&format!("{}:2:3: Comments are not allowed", path.display())),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&path).expect("read"), original);
        no_leftovers(&path);
        return;
    }
    ok(&sb.rune(&install_args(case, &[])));
    let now = std::fs::read_to_string(&path).expect("read");
    let marker = if case.toml { "#" } else { "//" };
    for line in original
        .lines()
        .filter(|l| l.contains(marker) || l.contains("/*"))
    {
        assert!(now.contains(line), "lost {line:?}:\n{now}");
    }
    assert_eq!(
        parse(case, &path)[case.key]["rune"],
        expected_entry(case, &sb, &["mcp-server"])
    );
    ok(&sb.rune(&uninstall_args(case, &[])));
    assert_eq!(std::fs::read_to_string(&path).expect("read"), original);
}

fn malformed(case: &Case) {
    let sb = Sandbox::new(case.client);
    let original = fixture(case, "malformed");
    let path = sb.put(case, &original);
    for args in [
        install_args(case, &[]),
        install_args(case, &["--force"]),
        install_args(case, &["--dry-run"]),
        uninstall_args(case, &["--force"]),
    ] {
        let err = fails(&sb.rune(&args));
        let at = format!("{}:{}: ", path.display(), case.malformed_at);
        assert!(err.contains(&at), "expected {at:?} in:\n{err}");
        assert!(err.contains("not changed"), "{err}");
        assert_eq!(
            std::fs::read(&path).expect("read"),
            original.as_bytes(),
            "the file changed"
        );
        no_leftovers(&path);
    }
    // `list` reports it and goes on.
    let out = ok(&sb.rune(&["mcp", "list"]));
    assert!(
        out.contains(&format!("unreadable: {}:", path.display())),
        "{out}"
    );
}

#[cfg(unix)]
fn read_only(case: &Case) {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new(case.client);
    let original = fixture(case, "others");
    let path = sb.put(case, &original);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    let err = fails(&sb.rune(&install_args(case, &[])));
    assert!(
        err.contains(&format!("{} is read-only", path.display())),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), original);
    no_leftovers(&path);
    // Made writable, it works, and the file keeps its mode.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    ok(&sb.rune(&install_args(case, &[])));
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o640);
}

fn idempotent(case: &Case) {
    let sb = Sandbox::new(case.client);
    let path = sb.put(case, &fixture(case, "others"));
    ok(&sb.rune(&install_args(case, &["--root", "."])));
    let once = std::fs::read(&path).expect("read");
    let backup = PathBuf::from(format!("{}.rune-backup", path.display()));
    let backup_once = std::fs::read(&backup).expect("backup");
    let out = ok(&sb.rune(&install_args(case, &["--root", "."])));
    assert!(out.contains("already registered"), "{out}");
    assert_eq!(std::fs::read(&path).expect("read"), once);
    assert_eq!(std::fs::read(&backup).expect("backup"), backup_once);
    // The root was made absolute.
    let project = std::fs::canonicalize(&sb.project).expect("project");
    let project = project.to_str().expect("UTF-8");
    assert_eq!(
        parse(case, &path)[case.key]["rune"],
        expected_entry(case, &sb, &["mcp-server", "--root", project])
    );
    // A dry run of an install already made has nothing to show.
    let out = ok(&sb.rune(&install_args(case, &["--root", ".", "--dry-run"])));
    assert!(out.contains("already registered"), "{out}");
    assert!(!out.contains("+++"), "{out}");
}

fn dry_run(case: &Case) {
    let sb = Sandbox::new(case.client);
    // No file: nothing is created.
    let path = sb.user_file(case);
    let out = ok(&sb.rune(&install_args(case, &["--dry-run"])));
    assert!(
        out.contains(&format!("--- /dev/null\n+++ {}\n", path.display())),
        "{out}"
    );
    assert!(out.contains("dry run"), "{out}");
    assert!(!path.exists());

    let original = fixture(case, "others");
    let path = sb.put(case, &original);
    let out = ok(&sb.rune(&install_args(case, &["--dry-run"])));
    let shown = path.display().to_string();
    assert!(
        out.contains(&format!("--- {shown}\n+++ {shown}\n@@ ")),
        "{out}"
    );
    let added: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .collect();
    assert!(
        added.iter().any(|l| l.contains(&exe())),
        "no added line names the binary:\n{out}"
    );
    assert!(
        !out.lines()
            .any(|l| l.starts_with('-') && !l.starts_with("---")),
        "an install removes nothing:\n{out}"
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), original);
    no_leftovers(&path);

    // Uninstall too.
    ok(&sb.rune(&install_args(case, &[])));
    let installed = std::fs::read_to_string(&path).expect("read");
    let out = ok(&sb.rune(&uninstall_args(case, &["--dry-run"])));
    assert!(
        out.lines()
            .any(|l| l.starts_with('-') && !l.starts_with("---") && l.contains(&exe())),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), installed);
}

fn force(case: &Case) {
    let sb = Sandbox::new(case.client);
    let path = sb.put(case, &fixture(case, "others"));
    // Someone else's server called "rune".
    let other = if case.toml {
        "\n[mcp_servers.rune]\ncommand = \"/opt/other/rune-lookalike\"\nargs = [\"serve\"]\n"
            .to_owned()
    } else {
        String::new()
    };
    if case.toml {
        let mut s = std::fs::read_to_string(&path).expect("read");
        s.push_str(&other);
        std::fs::write(&path, s).expect("write");
    } else {
        // Registered under "rune" by hand, pointing at another program.
        let out = ok(&sb.rune(&install_args(case, &[])));
        assert!(out.contains("registered"), "{out}");
        let s = std::fs::read_to_string(&path)
            .expect("read")
            .replace(&exe(), "/opt/other/rune-lookalike")
            .replace("\"mcp-server\"", "\"serve\"");
        std::fs::write(&path, s).expect("write");
    }
    let before = std::fs::read_to_string(&path).expect("read");
    let err = fails(&sb.rune(&install_args(case, &[])));
    assert!(err.contains("differs from this one"), "{err}");
    assert!(err.contains("/opt/other/rune-lookalike serve"), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), before);
    // Uninstall leaves a foreign entry alone as well.
    let err = fails(&sb.rune(&uninstall_args(case, &[])));
    assert!(err.contains("not Rune's"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), before);

    let others = parse(case, &path);
    ok(&sb.rune(&install_args(case, &["--force"])));
    let after = parse(case, &path);
    assert_eq!(
        after[case.key]["rune"],
        expected_entry(case, &sb, &["mcp-server"])
    );
    for (name, entry) in others[case.key].as_object().expect("servers") {
        if name != "rune" {
            assert_eq!(&after[case.key][name], entry, "{name} changed");
        }
    }
}

fn uninstall_only_ours(case: &Case) {
    let sb = Sandbox::new(case.client);
    let path = sb.put(case, &fixture(case, "others"));
    let before = parse(case, &path);
    // Nothing to remove yet.
    let out = ok(&sb.rune(&uninstall_args(case, &[])));
    assert!(out.contains("not registered"), "{out}");
    ok(&sb.rune(&install_args(case, &[])));
    ok(&sb.rune(&install_args(case, &["--name", "rune-b", "--root", "."])));
    ok(&sb.rune(&uninstall_args(case, &[])));
    let mut after = parse(case, &path);
    assert!(after[case.key].get("rune").is_none());
    assert!(after[case.key].get("rune-b").is_some());
    after[case.key]
        .as_object_mut()
        .expect("servers")
        .remove("rune-b");
    assert_eq!(after, before);
    // A missing file stays missing.
    let sb = Sandbox::new(case.client);
    let out = ok(&sb.rune(&uninstall_args(case, &[])));
    assert!(out.contains("not registered"), "{out}");
    assert!(!sb.user_file(case).exists());
}

fn project_scope(case: &Case) {
    let sb = Sandbox::new(case.client);
    let Some(_) = case.project else {
        let err = fails(&sb.rune(&install_args(case, &["--scope", "project"])));
        assert!(err.contains("has no project scope"), "{err}");
        return;
    };
    let path = sb.project_file(case);
    ok(&sb.rune(&install_args(case, &["--scope", "project"])));
    assert_eq!(
        parse(case, &path)[case.key]["rune"],
        expected_entry(case, &sb, &["mcp-server"])
    );
    assert!(!sb.user_file(case).exists());
    let out = ok(&sb.rune(&["mcp", "list"]));
    let line = out
        .lines()
        .find(|l| l.starts_with(case.client) && l.contains(" project "))
        .unwrap_or_else(|| panic!("no project line for {}:\n{out}", case.client));
    assert!(line.contains(&exe()), "{line}");
    ok(&sb.rune(&uninstall_args(case, &["--scope", "project"])));
    assert!(parse(case, &path)[case.key].get("rune").is_none());
}

macro_rules! client_tests {
    ($($module:ident => $case:expr),* $(,)?) => {$(
        mod $module {
            use super::*;
            #[test]
            fn missing_and_empty_files() { missing_and_empty(&$case) }
            #[test]
            fn other_servers_are_kept() { keeps_other_servers(&$case) }
            #[test]
            fn comments_are_kept_or_refused() { comments(&$case) }
            #[test]
            fn a_malformed_file_is_never_touched() { malformed(&$case) }
            #[cfg(unix)]
            #[test]
            fn a_read_only_file_is_refused() { read_only(&$case) }
            #[test]
            fn a_second_run_changes_nothing() { idempotent(&$case) }
            #[test]
            fn dry_run_writes_nothing() { dry_run(&$case) }
            #[test]
            fn force_replaces_a_different_entry() { force(&$case) }
            #[test]
            fn uninstall_removes_only_ours() { uninstall_only_ours(&$case) }
            #[test]
            fn project_scope_is_the_current_directory() { project_scope(&$case) }
        }
    )*};
}

client_tests! {
    claude_code => CLAUDE_CODE,
    claude_desktop => CLAUDE_DESKTOP,
    gemini => GEMINI,
    vscode => VSCODE_CASE,
    cursor => CURSOR,
    codex => CODEX,
    zed => ZED,
}

#[test]
fn list_shows_every_client() {
    let sb = Sandbox::new("list");
    let out = ok(&sb.rune(&["mcp", "list"]));
    assert!(
        out.contains("Rune is registered in 0 of 13 places."),
        "{out}"
    );
    for case in ALL {
        ok(&sb.rune(&install_args(case, &[])));
    }
    // A server that is not Rune's is not listed as Rune.
    ok(&sb.rune(&[
        "mcp", "install", "--client", "gemini", "--name", "second", "--root", ".",
    ]));
    let out = ok(&sb.rune(&["mcp", "list"]));
    for case in ALL {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{:<15} user ", case.client)))
            .unwrap_or_else(|| panic!("no line for {}:\n{out}", case.client));
        assert!(
            line.contains(&format!("\"rune\": {} mcp-server", exe())),
            "{line}"
        );
        assert!(
            line.contains(&sb.user_file(case).display().to_string()),
            "{line}"
        );
    }
    assert!(out.contains("\"second\": "), "{out}");
    assert!(
        out.contains("Rune is registered in 7 of 13 places."),
        "{out}"
    );
    assert!(out.contains("no config file"), "{out}");
    for case in ALL {
        ok(&sb.rune(&uninstall_args(case, &[])));
    }
    let out = ok(&sb.rune(&["mcp", "list"]));
    assert!(
        out.contains("Rune is registered in 1 of 13 places."),
        "{out}"
    );
    assert!(out.contains("not registered"), "{out}");
}

#[cfg(target_os = "linux")]
#[test]
fn locations_follow_the_environment() {
    let sb = Sandbox::new("env");
    let xdg = sb.dir.join("xdg");
    let codex = sb.dir.join("codex-home");
    let claude = sb.dir.join("claude-dir");
    let env: [(&str, &Path); 3] = [
        ("XDG_CONFIG_HOME", &xdg),
        ("CODEX_HOME", &codex),
        ("CLAUDE_CONFIG_DIR", &claude),
    ];
    for (client, file) in [
        ("vscode", xdg.join("Code/User/mcp.json")),
        ("zed", xdg.join("zed/settings.json")),
        (
            "claude-desktop",
            xdg.join("Claude/claude_desktop_config.json"),
        ),
        ("codex", codex.join("config.toml")),
        ("claude-code", claude.join(".claude.json")),
    ] {
        let out = ok(&sb.rune_env(&["mcp", "install", "--client", client, "--root", "."], &env));
        assert!(out.contains(&file.display().to_string()), "{out}");
        assert!(file.exists(), "{}", file.display());
    }
    // Nothing landed in the home.
    let in_home: Vec<_> = std::fs::read_dir(&sb.home)
        .expect("home")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(in_home.is_empty(), "{in_home:?}");
}

#[test]
fn bad_arguments_are_clear() {
    let sb = Sandbox::new("args");
    let err = fails(&sb.rune(&["mcp", "install", "--client", "gemini", "--name", "a b"]));
    assert!(err.contains("--name"), "{err}");
    let err = fails(&sb.rune(&["mcp", "install", "--client", "gemini", "--root", "nowhere"]));
    assert!(err.contains("--root nowhere"), "{err}");
    let err = fails(&sb.rune(&["mcp", "install", "--client", "notepad"]));
    assert!(err.contains("claude-code"), "{err}");
    // Claude Desktop has no project: Rune would serve whatever directory it starts in.
    let err = fails(&sb.rune(&["mcp", "install", "--client", "claude-desktop"]));
    assert!(err.contains("--root DIR"), "{err}");
    assert!(!sb.home.join(".config").exists());
    assert!(!sb.home.join(".gemini").exists());
}

#[test]
fn gemini_refuses_trailing_commas_it_cannot_read() {
    let sb = Sandbox::new("gemini-commas");
    let path = sb.put(&GEMINI, "{\n  \"mcpServers\": {},\n}\n");
    let err = fails(&sb.rune(&install_args(&GEMINI, &[])));
    assert!(
        err.contains(&format!("{}:2:19: Trailing commas", path.display())),
        "{err}"
    );
}

#[test]
fn a_wrong_shape_is_not_replaced() {
    let sb = Sandbox::new("shape");
    let path = sb.put(&CURSOR, "{\n  \"mcpServers\": [\"a\"]\n}\n");
    let err = fails(&sb.rune(&install_args(&CURSOR, &[])));
    assert!(
        err.contains(&format!(
            "{}:2:17: \"mcpServers\" is an array, expected an object",
            path.display()
        )),
        "{err}"
    );
    let path = sb.put(&CODEX, "mcp_servers = \"none\"\n");
    let err = fails(&sb.rune(&install_args(&CODEX, &[])));
    assert!(
        err.contains(&format!(
            "{}:1:15: \"mcp_servers\" is string",
            path.display()
        )),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn a_symlinked_config_stays_a_symlink() {
    let sb = Sandbox::new("symlink");
    let real = sb.dir.join("dotfiles/settings.json");
    std::fs::create_dir_all(real.parent().expect("parent")).expect("dir");
    std::fs::write(&real, fixture(&GEMINI, "others")).expect("write");
    let link = sb.user_file(&GEMINI);
    std::fs::create_dir_all(link.parent().expect("parent")).expect("dir");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    ok(&sb.rune(&install_args(&GEMINI, &[])));
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("stat")
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        parse(&GEMINI, &real)["mcpServers"]["rune"],
        expected_entry(&GEMINI, &sb, &["mcp-server"])
    );
}

/// Each client's page in `docs/clients/` shows the entry Rune writes into a new file; that block
/// must be what `rune mcp install` really writes (with the placeholders filled in).
#[test]
fn the_docs_show_what_is_written() {
    const MARKER: &str =
        "<!-- rune mcp install writes: checked by crates/rune-cli/tests/install.rs -->";
    for case in ALL {
        let page = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/clients")
            .join(format!("{}.md", case.client));
        let text =
            std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
        let after = text
            .split_once(MARKER)
            .unwrap_or_else(|| panic!("{}: no marker", page.display()))
            .1;
        let fence = if case.toml { "```toml\n" } else { "```json\n" };
        let block = after
            .split_once(fence)
            .and_then(|(_, rest)| rest.split_once("```"))
            .unwrap_or_else(|| panic!("{}: no {fence:?} block after the marker", page.display()))
            .0;

        let sb = Sandbox::new(case.client);
        let project = std::fs::canonicalize(&sb.project).expect("project");
        let block = block.replace("/absolute/path/to/rune", &exe()).replace(
            "/absolute/path/to/project",
            project.to_str().expect("UTF-8"),
        );
        let shown = sb.dir.join("shown");
        std::fs::write(&shown, &block).expect("write");
        ok(&sb.rune(&install_args(case, &[])));
        assert_eq!(
            parse(case, &sb.user_file(case)),
            parse(case, &shown),
            "{} does not show what rune writes",
            page.display()
        );
        // Byte for byte, too: the page shows the file as written.
        assert_eq!(
            std::fs::read_to_string(sb.user_file(case)).expect("read"),
            block,
            "{}",
            page.display()
        );
    }
}

#[test]
fn gemini_trust() {
    let sb = Sandbox::new("gemini-trust");
    let path = sb.put(&GEMINI, &fixture(&GEMINI, "others"));
    ok(&sb.rune(&install_args(&GEMINI, &["--trust"])));
    let mut expected = expected_entry(&GEMINI, &sb, &["mcp-server"]);
    expected["trust"] = json!(true);
    assert_eq!(parse(&GEMINI, &path)["mcpServers"]["rune"], expected);
    let out = ok(&sb.rune(&install_args(&GEMINI, &["--trust"])));
    assert!(out.contains("already registered"), "{out}");
    // Without --trust it is a different entry: left alone unless --force.
    let err = fails(&sb.rune(&install_args(&GEMINI, &[])));
    assert!(err.contains("(trusted)"), "{err}");
    ok(&sb.rune(&install_args(&GEMINI, &["--force"])));
    assert!(
        parse(&GEMINI, &path)["mcpServers"]["rune"]
            .get("trust")
            .is_none()
    );
    // Other clients have no such setting.
    let err = fails(&sb.rune(&install_args(&CODEX, &["--trust"])));
    assert!(err.contains("--trust"), "{err}");
    assert!(!sb.user_file(&CODEX).exists());
}
