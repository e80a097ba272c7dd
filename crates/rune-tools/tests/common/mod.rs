//! A tiny MCP client over an in-memory pipe to a real `rune_server::Server`, and fixtures.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rune_server::{Server, ToolDef};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, ReadHalf, WriteHalf};

pub const SECRET: &str = "TOP SECRET: outside the root";

/// A client connected to a server that serves the given tools.
pub struct Client {
    reader: BufReader<ReadHalf<DuplexStream>>,
    writer: WriteHalf<DuplexStream>,
    next_id: i64,
    pub tools: Vec<Value>,
}

impl Client {
    pub async fn start(tools: Vec<ToolDef>) -> Client {
        let mut b = Server::builder("rune-tools-test", "0.0.0");
        for t in tools {
            b = b.tool(t);
        }
        let server = b.build();
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
                    "clientInfo": {"name": "rune-tools-test", "version": "0.0.0"}
                }),
            )
            .await;
        assert_eq!(init["result"]["protocolVersion"], "2025-11-25", "{init}");
        c.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        let list = c.request("tools/list", json!({})).await;
        c.tools = list["result"]["tools"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        c
    }

    /// A client serving every read tool on one root.
    pub async fn on(root: &Path) -> Client {
        let roots = Arc::new(rune_tools::Roots::new([root]).unwrap());
        Client::start(rune_tools::read_tools(roots)).await
    }

    async fn send(&mut self, msg: Value) {
        let mut line = serde_json::to_vec(&msg).unwrap();
        line.push(b'\n');
        self.writer.write_all(&line).await.unwrap();
        self.writer.flush().await.unwrap();
    }

    /// Sends a request and returns the whole response (skipping notifications).
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(20), self.reader.read_line(&mut line))
                .await
                .expect("the server did not answer within 20 s")
                .unwrap();
            assert!(n > 0, "the server closed the connection");
            let v: Value = serde_json::from_str(&line).unwrap();
            if v.get("id") == Some(&json!(id)) {
                return v;
            }
        }
    }

    /// Sends a request; returns the response and the notifications received before it.
    pub async fn request_with_notes(&mut self, method: &str, params: Value) -> (Value, Vec<Value>) {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        let mut notes = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(20), self.reader.read_line(&mut line))
                .await
                .expect("the server did not answer within 20 s")
                .unwrap();
            assert!(n > 0, "the server closed the connection");
            let v: Value = serde_json::from_str(&line).unwrap();
            if v.get("id") == Some(&json!(id)) {
                return (v, notes);
            }
            notes.push(v);
        }
    }

    /// Calls a tool; returns its result, checking `structuredContent` against the tool's
    /// declared output schema.
    pub async fn call(&mut self, name: &str, args: Value) -> CallResult {
        let resp = self
            .request("tools/call", json!({"name": name, "arguments": args}))
            .await;
        let result = resp
            .get("result")
            .cloned()
            .unwrap_or_else(|| panic!("no result: {resp}"));
        let r = CallResult(result);
        if let Some(sc) = r.0.get("structuredContent") {
            let tool = self.tools.iter().find(|t| t["name"] == name).unwrap();
            let schema = &tool["outputSchema"];
            let v = jsonschema::validator_for(schema).unwrap();
            let errors: Vec<String> = v.iter_errors(sc).map(|e| e.to_string()).collect();
            assert!(
                errors.is_empty(),
                "structuredContent of {name} does not match its outputSchema: {errors:?}\n{sc}"
            );
        }
        r
    }
}

/// A `tools/call` result.
#[derive(Debug, Clone)]
pub struct CallResult(pub Value);

impl CallResult {
    pub fn is_error(&self) -> bool {
        self.0["isError"] == json!(true)
    }
    /// All text blocks joined with newlines.
    pub fn text(&self) -> String {
        self.content()
            .iter()
            .filter_map(|c| c["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
    pub fn content(&self) -> Vec<Value> {
        self.0["content"].as_array().cloned().unwrap_or_default()
    }
    pub fn structured(&self) -> &Value {
        &self.0["structuredContent"]
    }
    /// Asserts success and returns `self`.
    pub fn ok(self) -> Self {
        assert!(!self.is_error(), "tool error: {}", self.text());
        assert!(
            self.0.get("structuredContent").is_some(),
            "no structuredContent: {}",
            self.0
        );
        self
    }
    /// Asserts an error result mentioning every needle, that leaks nothing from outside.
    pub fn err(self, needles: &[&str]) -> Self {
        assert!(self.is_error(), "expected a tool error, got {}", self.0);
        let t = self.text();
        for n in needles {
            assert!(t.contains(n), "error {t:?} should mention {n:?}");
        }
        assert_no_secret(&self.0.to_string());
        self
    }
}

pub fn assert_no_secret(s: &str) {
    assert!(
        !s.contains(SECRET),
        "content from outside the root leaked: {s}"
    );
    assert!(
        !s.contains("VE9QIFNFQ1JFVD"),
        "base64 of a secret leaked: {s}"
    ); // base64("TOP SECRET")
}

/// A sandbox: `<tmp>/proj` is the root (with `a.txt`, `sub/b.txt`), `<tmp>/outside` holds
/// `secret.txt`, `<tmp>/projx` is a sibling whose name has the root's as a prefix.
pub struct Sandbox {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub outside: PathBuf,
    pub sibling: PathBuf,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("proj");
        let outside = tmp.path().join("outside");
        let sibling = tmp.path().join("projx");
        for d in [&root, &outside, &sibling, &root.join("sub")] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(root.join("a.txt"), "alpha\n").unwrap();
        std::fs::write(root.join("sub/b.txt"), "beta\n").unwrap();
        std::fs::write(outside.join("secret.txt"), SECRET).unwrap();
        std::fs::write(outside.join("b.txt"), SECRET).unwrap();
        std::fs::write(sibling.join("secret.txt"), SECRET).unwrap();
        std::fs::write(tmp.path().join("a.txt"), SECRET).unwrap();
        let root = std::fs::canonicalize(root).unwrap();
        let outside = std::fs::canonicalize(outside).unwrap();
        let sibling = std::fs::canonicalize(sibling).unwrap();
        Sandbox {
            tmp,
            root,
            outside,
            sibling,
        }
    }

    pub fn roots(&self) -> rune_tools::Roots {
        rune_tools::Roots::new([&self.root]).unwrap()
    }
}

/// Makes a FIFO.
pub fn mkfifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
}
