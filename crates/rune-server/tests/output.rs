//! How the engine groups replies into writes: small replies ready together share one write;
//! once 32 KiB are queued the engine writes them before driving the rest, so a peer can read
//! large replies while the others are being made.

mod common;

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use common::envelope;
use rune_server::{HandlerError, RequestContext, Server, ToolDef};
use serde_json::{Value, json};
use tokio::io::AsyncWrite;

/// Records every write the engine makes, as its own buffer.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Vec<u8>>>>);

impl AsyncWrite for Recorder {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.0.lock().expect("recorder lock").push(buf.to_vec());
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Size {
    bytes: usize,
}

fn server() -> Server {
    Server::builder("output", "1")
        .tool(ToolDef::new(
            "text",
            "Returns that many bytes of text",
            |a: Size, _cx: RequestContext| async move {
                Ok::<_, HandlerError>("x".repeat(a.bytes))
            },
        ))
        .build()
}

/// Serves `calls` (tool `text` with these sizes, ids 1…) sent in one chunk, then end of
/// input; returns the ids of the replies in each write, in order.
async fn writes_for(sizes: &[usize]) -> Vec<Vec<u64>> {
    let mut input = String::new();
    for (k, bytes) in sizes.iter().enumerate() {
        let req = json!({
            "jsonrpc": "2.0", "id": k + 1, "method": "tools/call",
            "params": {"name": "text", "arguments": {"bytes": bytes}, "_meta": envelope(json!({}))}
        });
        input.push_str(&req.to_string());
        input.push('\n');
    }
    let recorder = Recorder::default();
    let served = server()
        .serve(std::io::Cursor::new(input.into_bytes()), recorder.clone())
        .await;
    assert!(served.is_ok(), "served: {served:?}");
    let writes = recorder.0.lock().expect("recorder lock").clone();
    let mut all = Vec::new();
    let grouped: Vec<Vec<u64>> = writes
        .iter()
        .map(|w| {
            let text = std::str::from_utf8(w).expect("utf-8");
            assert!(text.ends_with('\n'), "a write ends on a whole message");
            text.lines()
                .map(|line| {
                    let v: Value = serde_json::from_str(line).expect("one JSON message a line");
                    assert_ne!(v["result"]["isError"], json!(true), "{line:.200}");
                    let id = v["id"].as_u64().expect("integer id");
                    let len = v["result"]["content"][0]["text"]
                        .as_str()
                        .expect("text block")
                        .len();
                    assert_eq!(len, sizes[id as usize - 1], "reply {id} has its text");
                    all.push(id);
                    id
                })
                .collect()
        })
        .collect();
    all.sort_unstable();
    let expected: Vec<u64> = (1..=sizes.len() as u64).collect();
    assert_eq!(all, expected, "every call answered once");
    grouped
}

#[tokio::test(flavor = "current_thread")]
async fn small_replies_ready_together_share_one_write() {
    let writes = writes_for(&[100; 16]).await;
    assert_eq!(
        writes.len(),
        1,
        "one write for sixteen small replies: {writes:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn large_replies_are_written_once_32_kib_are_queued() {
    // 20 KB each: the second one brings the queue past 32 KiB.
    let writes = writes_for(&[20_000; 4]).await;
    assert_eq!(
        writes,
        vec![vec![1, 2], vec![3, 4]],
        "replies written two by two, in order"
    );
}
