//! `rune mcp-server` and shell_exec: served by default and asking before each call
//! (refused when the client cannot ask), not allowed by `--allow-write`, allowed by
//! `--allow-shell`; left out under `--read-only` unless asked for, and then read-only.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

fn session(extra: &[&str], root: &Path, calls: &[Value]) -> Vec<Value> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rune"))
        .arg("mcp-server")
        .args(extra)
        .args(["--no-audit", "--root"])
        .arg(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start rune");
    let mut stdin = child.stdin.take().expect("stdin");
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}});
    writeln!(stdin, "{init}").expect("send");
    writeln!(
        stdin,
        "{}",
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
    )
    .expect("send");
    for c in calls {
        writeln!(stdin, "{c}").expect("send");
    }
    drop(stdin);
    let out = BufReader::new(child.stdout.take().expect("stdout"));
    let replies: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(&l.expect("line")).expect("json"))
        .collect();
    assert!(child.wait().expect("exit").success());
    replies
}

fn by_id(replies: &[Value], id: i64) -> &Value {
    replies
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no reply {id} in {replies:?}"))
}

fn names(reply: &Value) -> Vec<String> {
    reply["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn shell_modes() {
    let tmp = std::env::temp_dir().join(format!("rune-shell-switch-{}", std::process::id()));
    let dir = tmp.join("root");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let run = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "shell_exec", "arguments": {"argv": ["sh", "-c", "echo made > made.txt; echo ok"]}}});

    // Default: served, and it asks; this client cannot, so nothing runs.
    for flags in [&[][..], &["--allow-write"][..]] {
        let r = session(flags, &dir, &[list.clone(), run.clone()]);
        assert!(names(by_id(&r, 1)).contains(&"shell_exec".to_owned()));
        let res = &by_id(&r, 2)["result"];
        assert_eq!(res["isError"], true, "{flags:?}: {res}");
        assert!(res.to_string().contains("approval"), "{res}");
        // The way out it names is the shell's switch, not the writing tools'.
        assert!(res.to_string().contains("--allow-shell"), "{res}");
        assert!(!res.to_string().contains("--allow-write"), "{res}");
        assert!(!dir.join("made.txt").exists(), "{flags:?} ran the command");
    }

    // --allow-shell: it runs.
    let r = session(&["--allow-shell"], &dir, std::slice::from_ref(&run));
    let res = &by_id(&r, 2)["result"];
    assert_eq!(res["structuredContent"]["stdout"], "ok\n", "{res}");
    assert!(dir.join("made.txt").exists());
    std::fs::remove_file(dir.join("made.txt")).expect("cleanup");

    // --read-only: left out.
    let r = session(&["--read-only"], &dir, std::slice::from_ref(&list));
    assert!(!names(by_id(&r, 1)).contains(&"shell_exec".to_owned()));

    // --read-only --allow-shell: served, and the roots are read-only for the command (where
    // Landlock can enforce it).
    let r = session(&["--read-only", "--allow-shell"], &dir, &[run]);
    let res = &by_id(&r, 2)["result"];
    assert_eq!(res["structuredContent"]["stdout"], "ok\n", "{res}");
    if rune_shell::probe().has("landlock") {
        assert!(!dir.join("made.txt").exists(), "wrote under --read-only");
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn doctor_names_every_mechanism() {
    let out = Command::new(env!("CARGO_BIN_EXE_rune"))
        .args(["doctor", "--json"])
        .output()
        .expect("run rune doctor");
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let report = rune_shell::probe();
    assert_eq!(v["kernel"], report.kernel);
    let listed: Vec<&str> = v["mechanisms"]
        .as_array()
        .expect("mechanisms")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    for m in ["landlock", "seccomp", "user_namespace", "network_namespace"] {
        assert!(listed.contains(&m), "{m} missing: {listed:?}");
    }
    let text = Command::new(env!("CARGO_BIN_EXE_rune"))
        .arg("doctor")
        .output()
        .expect("run rune doctor");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("landlock") && text.contains("seccomp"),
        "{text}"
    );
}
