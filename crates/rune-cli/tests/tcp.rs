//! `--listen tcp://…`: newline-delimited JSON over TCP, one connection per client, served by
//! `rune mcp-server` exactly as on stdio.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn rune_mcp_server_serves_several_tcp_clients() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rune"))
        .args([
            "mcp-server",
            "--no-audit",
            "--listen",
            "tcp://127.0.0.1:0",
            "--root",
        ])
        .arg(&root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rune");
    let stderr = child.stderr.take().expect("stderr");
    let _guard = Kill(child);
    let mut line = String::new();
    BufReader::new(stderr)
        .read_line(&mut line)
        .expect("read the address");
    let addr = line
        .trim()
        .strip_prefix("listening on tcp://")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();

    for client in 0..2 {
        let stream = TcpStream::connect(&addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut w = stream.try_clone().expect("clone");
        let mut r = BufReader::new(stream);
        let mut ask = |msg: Value| -> Value {
            writeln!(w, "{msg}").expect("send");
            if msg["method"] == "initialize" {
                writeln!(
                    w,
                    r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
                )
                .expect("send");
            }
            let mut reply = String::new();
            r.read_line(&mut reply).expect("reply");
            serde_json::from_str(&reply).expect("json")
        };
        let init = ask(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "tcp-test", "version": "1"}}}),
        );
        assert_eq!(
            init["result"]["serverInfo"]["name"], "rune",
            "client {client}"
        );
        let read = ask(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "file_read", "arguments": {"path": "README.md", "head": 1}}}));
        assert_eq!(
            read["result"]["content"][0]["text"], "# Rune\n",
            "client {client}: {read}"
        );
    }
}
