//! A small MCP client over an in-memory pipe to a real server serving `shell_exec`, and a
//! sandbox of directories to attack.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rune_shell::ShellOptions;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, ReadHalf, WriteHalf};

pub const SECRET: &str = "TOP-SECRET-7c1e: outside the root";

pub struct Client {
    reader: BufReader<ReadHalf<DuplexStream>>,
    writer: WriteHalf<DuplexStream>,
    next_id: i64,
    pub tools: Vec<Value>,
}

impl Client {
    pub async fn start(tool: rune_server::ToolDef) -> Client {
        let server = rune_server::Server::builder("rune-shell-test", "0.0.0")
            .tool(tool)
            .build();
        let (client_end, server_end) = tokio::io::duplex(16 << 20);
        let (r, w) = tokio::io::split(server_end);
        tokio::spawn(async move { server.serve(r, w).await });
        let (cr, cw) = tokio::io::split(client_end);
        let mut c = Client {
            reader: BufReader::new(cr),
            writer: cw,
            next_id: 1,
            tools: Vec::new(),
        };
        let init = c
            .request(
                "initialize",
                json!({
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "rune-shell-test", "version": "0.0.0"}
                }),
            )
            .await
            .0;
        assert_eq!(init["result"]["protocolVersion"], "2025-11-25", "{init}");
        c.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        let list = c.request("tools/list", json!({})).await.0;
        c.tools = list["result"]["tools"].as_array().cloned().unwrap();
        c
    }

    pub async fn send(&mut self, msg: Value) {
        let mut line = serde_json::to_vec(&msg).unwrap();
        line.push(b'\n');
        self.writer.write_all(&line).await.unwrap();
        self.writer.flush().await.unwrap();
    }

    pub async fn next_message(&mut self) -> Value {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(30), self.reader.read_line(&mut line))
            .await
            .expect("the server said nothing within 30 s")
            .unwrap();
        assert!(n > 0, "the server closed the connection");
        serde_json::from_str(&line).unwrap()
    }

    /// Sends a request; returns its response and the notifications that came before it.
    pub async fn request(&mut self, method: &str, params: Value) -> (Value, Vec<Value>) {
        let id = self.start_request(method, params).await;
        let mut notes = Vec::new();
        loop {
            let v = self.next_message().await;
            if v.get("id") == Some(&json!(id)) {
                return (v, notes);
            }
            notes.push(v);
        }
    }

    pub async fn start_request(&mut self, method: &str, params: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        id
    }

    /// Calls `shell_exec`; checks structuredContent against the output schema.
    pub async fn exec(&mut self, args: Value) -> Res {
        let (resp, _) = self
            .request(
                "tools/call",
                json!({"name": "shell_exec", "arguments": args}),
            )
            .await;
        self.check(resp)
    }

    pub fn check(&self, resp: Value) -> Res {
        let result = resp
            .get("result")
            .cloned()
            .unwrap_or_else(|| panic!("no result: {resp}"));
        if let Some(sc) = result.get("structuredContent") {
            let schema = &self.tools[0]["outputSchema"];
            let v = jsonschema::validator_for(schema).unwrap();
            let errors: Vec<String> = v.iter_errors(sc).map(|e| e.to_string()).collect();
            assert!(
                errors.is_empty(),
                "structuredContent vs outputSchema: {errors:?}\n{sc}"
            );
        }
        Res(result)
    }
}

#[derive(Debug, Clone)]
pub struct Res(pub Value);

impl Res {
    pub fn is_error(&self) -> bool {
        self.0["isError"] == json!(true)
    }
    pub fn text(&self) -> String {
        self.0["content"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c["text"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    }
    pub fn st(&self) -> &Value {
        &self.0["structuredContent"]
    }
    pub fn stdout(&self) -> String {
        self.st()["stdout"].as_str().unwrap_or_default().to_owned()
    }
    pub fn stderr(&self) -> String {
        self.st()["stderr"].as_str().unwrap_or_default().to_owned()
    }
    pub fn exit_code(&self) -> Option<i64> {
        self.st()["exit_code"].as_i64()
    }
    /// Asserts the call ran (no tool error) and returns it.
    pub fn ran(self) -> Self {
        assert!(
            self.0.get("structuredContent").is_some(),
            "the command did not run: {}",
            self.text()
        );
        self
    }
    pub fn no_secret(&self) -> &Self {
        assert!(
            !self.0.to_string().contains(SECRET),
            "secret leaked: {}",
            self.0
        );
        self
    }
}

/// `<tmp>/proj` (the root, with `a.txt`) and `<tmp>/outside` (with `secret.txt`).
pub struct Sandbox {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub outside: PathBuf,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("proj");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("a.txt"), "alpha\n").unwrap();
        std::fs::write(outside.join("secret.txt"), SECRET).unwrap();
        Sandbox {
            root: std::fs::canonicalize(&root).unwrap(),
            outside: std::fs::canonicalize(&outside).unwrap(),
            tmp,
        }
    }

    pub fn roots(&self, read_only: bool) -> Arc<rune_tools::Roots> {
        Arc::new(
            rune_tools::Roots::new([&self.root])
                .unwrap()
                .read_only(read_only),
        )
    }

    pub async fn client(&self, opts: ShellOptions) -> Client {
        Client::start(rune_shell::shell_exec_tool(self.roots(false), opts)).await
    }
}

/// Options for tests: short timeouts and grace.
pub fn quick() -> ShellOptions {
    ShellOptions {
        timeout: Duration::from_secs(20),
        kill_grace: Duration::from_millis(500),
        ..ShellOptions::default()
    }
}

/// Pids of live (not zombie) processes whose command line contains `marker`.
pub fn live_with(marker: &str) -> Vec<u32> {
    let mut v = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return v;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if !cmd.contains(marker) {
            continue;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        if state != Some('Z') && state.is_some() {
            v.push(pid);
        }
    }
    v
}

/// Waits up to `within` for no live process to carry `marker`.
pub async fn gone(marker: &str, within: Duration) -> bool {
    let end = Instant::now() + within;
    loop {
        if live_with(marker).is_empty() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Live processes in process group `pgid`.
pub fn group_members(pgid: u32) -> Vec<u32> {
    let mut v = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return v;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let fields: Vec<&str> = rest.split(' ').collect();
        // state ppid pgrp
        if fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string() {
            v.push(pid);
        }
    }
    v
}
