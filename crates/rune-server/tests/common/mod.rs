//! A scripted MCP peer over an in-memory pipe, for engine tests.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::time::Duration;

use rune_server::Server;
use serde_json::{Value, json};
use tokio::io::{
    AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines, ReadHalf, WriteHalf,
};
use tokio::task::JoinHandle;

pub const MODERN: &str = "2026-07-28";

pub struct Peer {
    w: Option<WriteHalf<DuplexStream>>,
    lines: Lines<BufReader<ReadHalf<DuplexStream>>>,
    backlog: VecDeque<Value>,
    pub handle: JoinHandle<std::io::Result<()>>,
}

/// The `_meta` of a 2026 request.
pub fn envelope(caps: Value) -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": caps,
        "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"}
    })
}

impl Peer {
    pub fn start(server: Server) -> Peer {
        let (client, server_end) = tokio::io::duplex(1 << 20);
        let handle = tokio::spawn(async move {
            let (r, w) = tokio::io::split(server_end);
            server.serve(r, w).await
        });
        let (r, w) = tokio::io::split(client);
        Peer {
            w: Some(w),
            lines: BufReader::new(r).lines(),
            backlog: VecDeque::new(),
            handle,
        }
    }

    pub async fn send_raw(&mut self, text: &str) {
        let w = self.w.as_mut().expect("input still open");
        w.write_all(text.as_bytes()).await.expect("write");
        w.write_all(b"\n").await.expect("write");
        w.flush().await.expect("flush");
    }

    pub async fn send(&mut self, v: Value) {
        self.send_raw(&v.to_string()).await;
    }

    /// Closes the server's input (EOF).
    pub async fn close(&mut self) {
        if let Some(mut w) = self.w.take() {
            w.shutdown().await.expect("shutdown");
        }
    }

    /// The next message from the server, read from the wire (not the backlog).
    pub async fn read(&mut self) -> Option<Value> {
        let line = tokio::time::timeout(Duration::from_secs(10), self.lines.next_line())
            .await
            .expect("the server answered within 10 s")
            .expect("read");
        line.map(|l| serde_json::from_str(&l).unwrap_or_else(|e| panic!("invalid JSON {l:?}: {e}")))
    }

    /// Waits for the response with this id; other messages are kept in the backlog.
    pub async fn response(&mut self, id: Value) -> Value {
        if let Some(pos) = self
            .backlog
            .iter()
            .position(|m| is_response(m) && m["id"] == id)
        {
            return self.backlog.remove(pos).expect("present");
        }
        loop {
            let m = self
                .read()
                .await
                .expect("the server closed its output before answering");
            if is_response(&m) && m["id"] == id {
                return m;
            }
            self.backlog.push_back(m);
        }
    }

    /// Sends a request and returns its whole response.
    pub async fn call(&mut self, id: Value, method: &str, params: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": id.clone(), "method": method, "params": params}))
            .await;
        self.response(id).await
    }

    /// Sends a request and returns its result (panics on an error response).
    pub async fn ok(&mut self, id: Value, method: &str, params: Value) -> Value {
        let r = self.call(id, method, params).await;
        assert!(r.get("error").is_none(), "{method} failed: {r}");
        r["result"].clone()
    }

    /// Sends a request and returns its error object (panics on success).
    pub async fn err(&mut self, id: Value, method: &str, params: Value) -> Value {
        let r = self.call(id, method, params).await;
        assert!(r.get("result").is_none(), "{method} should fail: {r}");
        r["error"].clone()
    }

    /// The handshake, in a given revision.
    pub async fn init(&mut self, version: &str, caps: Value) -> Value {
        let r = self
            .ok(
                json!(0),
                "initialize",
                json!({"protocolVersion": version, "capabilities": caps, "clientInfo": {"name": "test", "version": "1"}}),
            )
            .await;
        self.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        r
    }

    /// Messages received so far that were not responses we waited for.
    pub fn take_backlog(&mut self) -> Vec<Value> {
        self.backlog.drain(..).collect()
    }

    /// Reads until `pred` matches a message (kept out of the backlog).
    pub async fn wait_for(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(pos) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(pos).expect("present");
        }
        loop {
            let m = self.read().await.expect("server closed");
            if pred(&m) {
                return m;
            }
            self.backlog.push_back(m);
        }
    }

    /// Asserts that nothing arrives within `ms` milliseconds.
    pub async fn quiet(&mut self, ms: u64) {
        let next = tokio::time::timeout(Duration::from_millis(ms), self.lines.next_line()).await;
        if let Ok(Ok(Some(l))) = next {
            panic!("expected silence, got {l}");
        }
    }
}

pub fn is_response(m: &Value) -> bool {
    m.get("method").is_none() && (m.get("result").is_some() || m.get("error").is_some())
}

pub fn text(result: &Value) -> &str {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text content in {result}"))
}
