//! `rune mcp-server` reads only, unless `--allow-write` adds the writing tools.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

fn session(extra: &[&str], root: &std::path::Path, calls: &[Value]) -> Vec<Value> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rune"))
        .arg("mcp-server")
        .args(extra)
        .arg("--root")
        .arg(root)
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
fn writing_tools_only_with_allow_write() {
    let dir = std::env::temp_dir().join(format!("rune-write-switch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let write = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "file_write", "arguments": {"path": "new.txt", "content": "hello\n"}}});

    let r = session(&[], &dir, &[list.clone(), write.clone()]);
    let names = tool_names(&r[1]);
    assert!(
        names.contains(&"text_search".to_owned()) && !names.contains(&"file_write".to_owned()),
        "{names:?}"
    );
    assert_eq!(
        r[2]["error"]["code"], -32602,
        "unknown tool without --allow-write: {}",
        r[2]
    );
    assert!(!dir.join("new.txt").exists());

    let r = session(&["--allow-write"], &dir, &[list, write]);
    assert!(tool_names(&r[1]).contains(&"file_write".to_owned()));
    assert!(r[2]["result"].get("isError").is_none(), "{}", r[2]);
    assert_eq!(
        std::fs::read_to_string(dir.join("new.txt")).expect("written"),
        "hello\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
