//! `rune client` end to end: the real binary against `rune mcp-server` and the conformance
//! fixture server (`target/debug/conformance_server`, built by `cargo build --workspace
//! --bins`), over stdio, Streamable HTTP, WebSocket and the legacy HTTP+SSE fallback; by
//! `--server NAME` from an mcpServers file and `--all` through the pool; text and `--json`
//! output; exit codes. Every process is bounded and killed at the end; loopback only.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

fn rune() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rune"))
}

fn conformance_server() -> PathBuf {
    let path = rune()
        .parent()
        .expect("target dir")
        .join("conformance_server");
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// A shell word for `--stdio` (paths of this machine may hold spaces).
fn quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

/// Runs `rune client ARGS` in `dir`, killed after the limit.
fn client_in(dir: Option<&Path>, args: &[&str]) -> Output {
    client_env(dir, &[], args)
}

/// [`client_in`] with more environment variables.
fn client_env(dir: Option<&Path>, env: &[(&str, String)], args: &[&str]) -> Output {
    let mut cmd = Command::new(rune());
    cmd.arg("client")
        .args(args)
        .env("RUNE_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let mut child = cmd.spawn().expect("spawn rune client");
    let started = Instant::now();
    loop {
        match child.try_wait().expect("wait") {
            Some(_) => return child.wait_with_output().expect("output"),
            None if started.elapsed() > LIMIT => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "rune client {args:?} did not finish within {LIMIT:?}; stderr:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn client(args: &[&str]) -> Output {
    client_in(None, args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the exit code, showing the output when it differs.
#[track_caller]
fn expect_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

#[track_caller]
fn ok(o: Output) -> String {
    expect_code(&o, 0);
    stdout(&o)
}

#[track_caller]
fn json(o: Output) -> Value {
    let text = ok(o);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// A server process killed and reaped when the test ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `program --listen URL ...` and returns the URL it printed.
fn listen(program: &Path, url: &str, extra: &[&str], env: &[(&str, &str)]) -> (Server, String) {
    let mut cmd = Command::new(program);
    if program == rune() {
        cmd.arg("mcp-server");
    }
    cmd.arg("--listen")
        .arg(url)
        .args(extra)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn the server");
    let err = child.stderr.take().expect("stderr");
    let server = Server(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            if !sent && let Some(i) = line.find("listening on ") {
                let url = line[i + 13..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                let _ = tx.send(url);
                sent = true;
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the server printed `listening on URL`");
    (server, url)
}

fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "rune-client-cli-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn stdio_against_rune_mcp_server() {
    let dir = tempdir("stdio");
    std::fs::write(dir.join("notes.txt"), "alpha\nbeta\n").expect("write");
    let cmd = format!("{} mcp-server --no-audit", quote(&rune()));
    let cwd = dir.display().to_string();
    let base = ["--stdio", cmd.as_str(), "--cwd", cwd.as_str()];
    let args = |rest: &[&'static str]| -> Vec<String> {
        base.iter()
            .map(|s| s.to_string())
            .chain(rest.iter().map(|s| s.to_string()))
            .collect()
    };
    let run = |rest: &[&'static str]| {
        let a = args(rest);
        client(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };

    let text = ok(run(&["tools", "list"]));
    assert!(
        text.contains("file_read(") && text.contains("text_search("),
        "{text}"
    );

    let text = ok(run(&[
        "tools",
        "call",
        "file_read",
        "--args",
        r#"{"path": "notes.txt"}"#,
    ]));
    assert!(text.contains("alpha") && text.contains("beta"), "{text}");

    let v = json(run(&[
        "tools",
        "call",
        "file_read",
        "--args",
        r#"{"path": "notes.txt"}"#,
        "--json",
    ]));
    assert!(
        v["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("alpha")),
        "{v}"
    );

    let v = json(run(&["tools", "list", "--json"]));
    let names: Vec<&str> = v["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"list_directory"), "{names:?}");

    let text = ok(run(&["info"]));
    assert!(
        text.contains("server:   rune") && text.contains("protocol: 2025-11-25"),
        "{text}"
    );
    let text = ok(run(&["ping"]));
    assert!(text.starts_with("pong"), "{text}");
    let v = json(run(&["ping", "--json"]));
    assert_eq!(v["ok"], true);

    // A path outside the root: the tool says so as an error result, exit 1.
    let o = run(&[
        "tools",
        "call",
        "file_read",
        "--args",
        r#"{"path": "/etc/passwd"}"#,
    ]);
    expect_code(&o, 1);
    assert!(
        stderr(&o).contains("returned an error result"),
        "{}",
        stderr(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stdio_against_the_conformance_server_every_command() {
    let server = quote(&conformance_server());
    let run = |rest: &[&str]| {
        let mut a = vec!["--stdio", server.as_str()];
        a.extend_from_slice(rest);
        client(&a)
    };
    let text = ok(run(&["tools", "call", "test_simple_text"]));
    assert_eq!(
        text.trim_end(),
        "This is a simple text response for testing."
    );
    let text = ok(run(&["tools", "call", "test_image_content"]));
    assert!(text.contains("[image image/png"), "{text}");
    let text = ok(run(&["tools", "call", "test_embedded_resource"]));
    assert!(text.contains("[resource "), "{text}");

    let text = ok(run(&["resources", "list"]));
    assert!(text.contains("test://static-text"), "{text}");
    let text = ok(run(&["resources", "templates"]));
    assert!(text.contains("test://template/{id}/data"), "{text}");
    let text = ok(run(&["resources", "read", "test://static-text"]));
    assert!(!text.trim().is_empty(), "{text}");
    let text = ok(run(&["resources", "read", "test://static-binary"]));
    assert!(text.contains("binary"), "{text}");
    let v = json(run(&[
        "resources",
        "read",
        "test://static-binary",
        "--json",
    ]));
    assert!(v["contents"][0]["blob"].is_string(), "{v}");

    let text = ok(run(&["prompts", "list"]));
    assert!(
        text.contains("test_prompt_with_arguments(arg1, arg2)"),
        "{text}"
    );
    let text = ok(run(&[
        "prompts",
        "get",
        "test_prompt_with_arguments",
        "--args",
        r#"{"arg1": "x y", "arg2": 7}"#,
    ]));
    assert!(
        text.contains("arg1='x y'") && text.contains("arg2='7'"),
        "{text}"
    );
    let v = json(run(&["prompts", "get", "test_simple_prompt", "--json"]));
    assert_eq!(v["messages"][0]["role"], "user");

    // Exit codes: an error result is 1, a JSON-RPC error 3, bad arguments 2.
    let o = run(&["tools", "call", "test_error_handling"]);
    expect_code(&o, 1);
    let o = run(&["resources", "read", "nope://missing"]);
    expect_code(&o, 3);
    assert!(stderr(&o).contains("-32002"), "{}", stderr(&o));
    let o = run(&["prompts", "get", "no_such_prompt"]);
    expect_code(&o, 3);
    let o = run(&["tools", "call", "test_simple_text", "--args", "{nope"]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("not valid JSON"), "{}", stderr(&o));
}

#[test]
fn connection_failures_are_clear_and_exit_3() {
    let o = client(&["--stdio", "/nonexistent/rune-no-such-server --flag", "ping"]);
    expect_code(&o, 3);
    assert!(stderr(&o).contains("cannot start"), "{}", stderr(&o));
    // A command that exits at once, without speaking MCP.
    let o = client(&["--stdio", "sh -c 'exit 7'", "ping"]);
    expect_code(&o, 3);
    assert!(stderr(&o).contains("exit"), "{}", stderr(&o));
    // One that answers `initialize`, then closes its stdin and exits a moment later: the
    // next write fails (a broken pipe), yet the message still says how the server ended.
    let answer_then_exit = r#"sh -c 'read line; printf "%s\n" "{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"serverInfo\":{\"name\":\"x\",\"version\":\"1\"}}}"; exec 0<&-; sleep 0.3; exit 7'"#;
    let o = client(&["--stdio", answer_then_exit, "ping"]);
    expect_code(&o, 3);
    assert!(
        stderr(&o).contains("the server exited (exit status: 7)"),
        "{}",
        stderr(&o)
    );
    // `listen` with nothing to stop it notices the server going away.
    let o = client(&["--stdio", answer_then_exit, "listen"]);
    expect_code(&o, 3);
    assert!(
        stderr(&o).contains("listen: the connection is closed"),
        "{}",
        stderr(&o)
    );
    // Nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let o = client(&["--url", &url, "ping"]);
    expect_code(&o, 3);
    assert!(stderr(&o).contains("cannot connect"), "{}", stderr(&o));
    // Usage errors.
    let o = client(&["--stdio", "a 'b", "ping"]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("unterminated"), "{}", stderr(&o));
    let o = client(&["ping"]);
    expect_code(&o, 2);
    let o = client(&["--stdio", "x", "--url", "http://127.0.0.1:1/", "ping"]);
    expect_code(&o, 2);
}

#[test]
fn http_websocket_and_legacy_sse() {
    let cs = conformance_server();
    let (_http, url) = listen(&cs, "http://127.0.0.1:0/mcp", &[], &[]);
    let text = ok(client(&[
        "--url",
        &url,
        "tools",
        "call",
        "test_simple_text",
    ]));
    assert_eq!(
        text.trim_end(),
        "This is a simple text response for testing."
    );
    let v = json(client(&["--url", &url, "resources", "list", "--json"]));
    assert!(
        v["resources"].as_array().is_some_and(|r| !r.is_empty()),
        "{v}"
    );
    let o = client(&["--url", &url, "tools", "call", "test_error_handling"]);
    expect_code(&o, 1);

    // The legacy transport: Rune serves it at /sse, where a Streamable HTTP POST gets 405.
    let sse = url.replace("/mcp", "/sse");
    let text = ok(client(&[
        "--url",
        &sse,
        "tools",
        "call",
        "test_simple_text",
    ]));
    assert_eq!(
        text.trim_end(),
        "This is a simple text response for testing."
    );
    let text = ok(client(&["--url", &sse, "--sse", "prompts", "list"]));
    assert!(text.contains("test_simple_prompt"), "{text}");

    // 2026-07-28, stateless. The tool mirrors two arguments into `Mcp-Param-*` headers: the
    // first call, sent without them, is refused with -32020; the client lists the tools,
    // learns the annotations and retries.
    let text = ok(client(&[
        "--url",
        &url,
        "--protocol",
        "2026-07-28",
        "tools",
        "call",
        "test_param_headers",
        "--args",
        r#"{"region":"zürich","limit":2}"#,
    ]));
    assert_eq!(text.trim_end(), "region=zürich limit=2");
    let text = ok(client(&["--url", &url, "--protocol", "auto", "info"]));
    assert!(text.contains("protocol: 2026-07-28"), "{text}");
    let o = client(&["--url", &url, "--protocol", "2099-01-01", "ping"]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("expected auto or one of"),
        "{}",
        stderr(&o)
    );

    let (_ws, ws_url) = listen(&cs, "ws://127.0.0.1:0/mcp", &[], &[]);
    assert!(ws_url.starts_with("ws://"), "{ws_url}");
    let text = ok(client(&[
        "--url",
        &ws_url,
        "tools",
        "call",
        "test_simple_text",
    ]));
    assert_eq!(
        text.trim_end(),
        "This is a simple text response for testing."
    );
    let text = ok(client(&["--url", &ws_url, "ping"]));
    assert!(text.starts_with("pong"), "{text}");
}

#[test]
fn http_headers_reach_a_server_that_wants_a_token() {
    let dir = tempdir("auth");
    let (_server, url) = listen(
        &rune(),
        "http://127.0.0.1:0/mcp",
        &[
            "--auth-token-env",
            "RUNE_CLI_TEST_TOKEN",
            "--no-audit",
            "--root",
            &dir.display().to_string(),
        ],
        &[("RUNE_CLI_TEST_TOKEN", "sesame")],
    );
    let o = client(&["--url", &url, "ping"]);
    expect_code(&o, 3);
    assert!(stderr(&o).contains("Unauthorized"), "{}", stderr(&o));
    let text = ok(client(&[
        "--url",
        &url,
        "-H",
        "Authorization: Bearer sesame",
        "tools",
        "list",
    ]));
    assert!(text.contains("file_read("), "{text}");
    let o = client(&["--url", &url, "-H", "no colon", "ping"]);
    expect_code(&o, 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn servers_by_name_from_an_mcp_servers_file() {
    let dir = tempdir("config");
    std::fs::write(dir.join("data.txt"), "from the config\n").expect("write");
    let cs = conformance_server();
    let (_ws, ws_url) = listen(&cs, "ws://127.0.0.1:0/mcp", &[], &[]);
    let config = serde_json::json!({"mcpServers": {
        "conf": {"command": cs.display().to_string()},
        "files": {"command": rune().display().to_string(),
                  "args": ["mcp-server", "--no-audit", "--root", "${RUNE_CLI_TEST_ROOT}"],
                  "env": {"RUNE_LOG": "warn"}},
        "sock": {"type": "ws", "url": ws_url}
    }});
    let file = dir.join("servers.json");
    std::fs::write(&file, config.to_string()).expect("write config");
    let file_arg = file.display().to_string();

    // --config FILE; ${VAR} expanded from the environment.
    let env = [("RUNE_CLI_TEST_ROOT", dir.display().to_string())];
    let cmd_env = |args: &[&str]| client_env(None, &env, args);
    let o = cmd_env(&[
        "--server",
        "files",
        "--config",
        &file_arg,
        "tools",
        "call",
        "file_read",
        "--args",
        r#"{"path": "data.txt"}"#,
    ]);
    expect_code(&o, 0);
    assert!(stdout(&o).contains("from the config"), "{}", stdout(&o));

    let text = ok(client(&[
        "--server",
        "sock",
        "--config",
        &file_arg,
        "tools",
        "call",
        "test_simple_text",
    ]));
    assert_eq!(
        text.trim_end(),
        "This is a simple text response for testing."
    );

    // An unknown name lists the known ones.
    let o = client(&["--server", "nope", "--config", &file_arg, "ping"]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("known: conf, files, sock"),
        "{}",
        stderr(&o)
    );

    // ./.mcp.json when no --config is given.
    std::fs::copy(&file, dir.join(".mcp.json")).expect("copy");
    let text = ok(client_in(
        Some(&dir),
        &["--server", "conf", "tools", "call", "test_simple_text"],
    ));
    assert_eq!(
        text.trim_end(),
        "This is a simple text response for testing."
    );
    let elsewhere = tempdir("no-config");
    let o = client_in(Some(&elsewhere), &["--server", "conf", "ping"]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains(".mcp.json"), "{}", stderr(&o));

    // --all: every server at once, tools namespaced and calls routed.
    let o = cmd_env(&["--all", "--config", &file_arg, "tools", "list", "--json"]);
    expect_code(&o, 0);
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let names: Vec<&str> = v["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for n in [
        "conf__test_simple_text",
        "files__file_read",
        "sock__test_sampling",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    let o = cmd_env(&[
        "--all",
        "--config",
        &file_arg,
        "tools",
        "call",
        "files__file_read",
        "--args",
        r#"{"path": "data.txt"}"#,
    ]);
    expect_code(&o, 0);
    assert!(stdout(&o).contains("from the config"), "{}", stdout(&o));
    let o = cmd_env(&["--all", "--config", &file_arg, "ping"]);
    expect_code(&o, 0);
    assert!(stdout(&o).contains("sock: pong"), "{}", stdout(&o));
    let o = cmd_env(&["--all", "--config", &file_arg, "tools", "call", "nobody__x"]);
    expect_code(&o, 3);
    assert!(
        stderr(&o).contains("no server \"nobody\""),
        "{}",
        stderr(&o)
    );

    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&elsewhere);
}

/// Starts `rune client ARGS listen …` and returns once it says it is listening (its first
/// stderr line), with the rest of its stderr still to read.
fn start_listening(args: &[&str]) -> (Child, BufReader<std::process::ChildStderr>) {
    let mut child = Command::new(rune())
        .arg("client")
        .args(args)
        .env("RUNE_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rune client listen");
    let mut err = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    err.read_line(&mut line).expect("read stderr");
    assert!(line.contains("listening"), "{line}");
    (child, err)
}

/// Waits for a `listen` that stops by itself (`--count`); returns its stdout.
fn finish_listening(mut child: Child) -> String {
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("rune client listen did not stop within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    assert!(out.status.success(), "{:?}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn listen_prints_change_notifications_in_both_eras() {
    let cs = conformance_server();
    let (_http, url) = listen(&cs, "http://127.0.0.1:0/mcp", &[], &[]);
    // 2026-07-28: a subscriptions/listen stream, acknowledged, then the changes
    // `test_trigger_changes` makes.
    let (child, _err) = start_listening(&[
        "--url",
        &url,
        "--protocol",
        "2026-07-28",
        "listen",
        "--tools",
        "--resource",
        "test://static-text",
        "--count",
        "2",
    ]);
    let trigger = ["--url", &url, "tools", "call", "test_trigger_changes"];
    assert_eq!(ok(client(&trigger)).trim_end(), "changed");
    let out = finish_listening(child);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "notifications/tools/list_changed",
            "notifications/resources/updated test://static-text"
        ],
        "{out}"
    );
    // The handshake era: list changes come unasked on the session's stream; JSON lines.
    let (child, _err) = start_listening(&["--url", &url, "listen", "--count", "1", "--json"]);
    assert_eq!(ok(client(&trigger)).trim_end(), "changed");
    let out = finish_listening(child);
    let v: Value = serde_json::from_str(out.trim_end()).expect("one JSON line");
    assert_eq!(v["method"], "notifications/tools/list_changed", "{out}");
}
