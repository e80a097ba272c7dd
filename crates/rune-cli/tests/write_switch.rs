//! `rune mcp-server`'s write modes: by default the writing tools are served and each call
//! asks the user (refused, with a clear message, when the client cannot ask);
//! `--allow-write` lets them run; `--read-only` leaves them out. Every call is audited.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

fn session(extra: &[&str], root: &Path, state: &Path, calls: &[Value]) -> Vec<Value> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rune"))
        .arg("mcp-server")
        .args(extra)
        .arg("--root")
        .arg(root)
        .env("XDG_STATE_HOME", state)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start rune");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"2025-11-25","capabilities":{{}},"clientInfo":{{"name":"t","version":"1"}}}}}}"#).expect("send");
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
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

fn tool_names(reply: &Value) -> Vec<String> {
    reply["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_owned())
        .collect()
}

#[test]
fn write_modes_and_the_audit_log() {
    let tmp = std::env::temp_dir().join(format!("rune-write-switch-{}", std::process::id()));
    let dir = tmp.join("root");
    let state = tmp.join("state");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let write = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "file_write", "arguments": {"path": "new.txt", "content": "hello\n"}}});

    // Default: served, but this client cannot be asked, so the call is refused.
    let r = session(&[], &dir, &state, &[list.clone(), write.clone()]);
    let names = tool_names(&r[1]);
    assert!(
        names.contains(&"text_search".to_owned()) && names.contains(&"file_write".to_owned()),
        "{names:?}"
    );
    assert_eq!(r[2]["result"]["isError"], true, "{}", r[2]);
    let msg = r[2]["result"]["content"][0]["text"].as_str().expect("text");
    assert!(msg.contains("--allow-write"), "{msg}");
    assert!(!dir.join("new.txt").exists());

    // --read-only: not even listed.
    let r = session(
        &["--read-only"],
        &dir,
        &state,
        &[list.clone(), write.clone()],
    );
    assert!(!tool_names(&r[1]).contains(&"file_write".to_owned()));
    assert_eq!(r[2]["error"]["code"], -32602, "{}", r[2]);
    assert!(!dir.join("new.txt").exists());

    // --allow-write: runs without asking.
    let r = session(&["--allow-write"], &dir, &state, &[list, write]);
    assert!(tool_names(&r[1]).contains(&"file_write".to_owned()));
    assert!(r[2]["result"].get("isError").is_none(), "{}", r[2]);
    assert_eq!(
        std::fs::read_to_string(dir.join("new.txt")).expect("written"),
        "hello\n"
    );

    // The default audit log, under XDG_STATE_HOME: the refused call and the allowed one
    // (the unknown tool of --read-only never reached a tool).
    let log = std::fs::read_to_string(state.join("rune").join("audit.jsonl")).expect("audit");
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert_eq!(lines[0]["decision"], "unavailable");
    assert_eq!(lines[1]["decision"], "allow");
    assert_eq!(lines[1]["outcome"], "ok");
    assert_eq!(lines[1]["client"], "t/1");
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn bad_settings_are_refused_with_a_message() {
    let tmp = std::env::temp_dir().join(format!("rune-bad-settings-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let config = tmp.join("rune.toml");
    std::fs::write(&config, "[tools.file_wrte]\nenabled = false\n").expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_rune"))
        .args(["mcp-server", "--no-audit", "--config"])
        .arg(&config)
        .arg("--root")
        .arg(&tmp)
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("file_wrte") && err.contains("file_write"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_rune"))
        .args(["mcp-server", "--read-only", "--allow-write"])
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let _ = std::fs::remove_dir_all(&tmp);
}
