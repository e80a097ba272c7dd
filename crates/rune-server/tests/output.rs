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

/// A client that stops reading while a handler reports progress without pause: past
/// `notification_backlog_bytes` of waiting output the progress notifications are dropped,
/// not queued, so the server's memory stays bounded; the response itself always arrives.
#[tokio::test(flavor = "current_thread")]
async fn progress_is_dropped_not_queued_while_the_client_does_not_read() {
    use tokio::io::AsyncReadExt;

    const REPORTS: usize = 4000;
    const NOTE: usize = 1000;
    const LIMIT: usize = 256 * 1024;
    let (finished_tx, finished_rx) = tokio::sync::oneshot::channel::<()>();
    let finished_tx = std::sync::Mutex::new(Some(finished_tx));
    let chatty = ToolDef::new(
        "chatty",
        "Reports progress many times, then answers",
        move |_: rune_server::NoArgs, cx: RequestContext| {
            let done = finished_tx.lock().expect("lock").take();
            async move {
                let note = "n".repeat(NOTE);
                for i in 1..=REPORTS {
                    cx.progress(i as f64, Some(REPORTS as f64), Some(&note));
                    if i % 100 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                if let Some(done) = done {
                    let _ = done.send(());
                }
                Ok::<_, HandlerError>("finished")
            }
        },
    )
    .spawn();
    let options = rune_server::Options {
        notification_backlog_bytes: LIMIT,
        ..Default::default()
    };
    let server = Server::builder("output", "1")
        .tool(chatty)
        .options(options)
        .build();
    // A pipe that holds 4 KiB: the client below reads nothing until the tool is done.
    let (client, server_end) = tokio::io::duplex(4096);
    let (mut from_server, mut to_server) = tokio::io::split(client);
    let serving = tokio::spawn(async move {
        let (r, w) = tokio::io::split(server_end);
        server.serve(r, w).await
    });
    let mut meta = envelope(json!({}));
    meta["progressToken"] = json!("p");
    let req = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "chatty", "arguments": {}, "_meta": meta}});
    tokio::io::AsyncWriteExt::write_all(&mut to_server, format!("{req}\n").as_bytes())
        .await
        .expect("send");
    finished_rx.await.expect("the tool ran to its end");
    // End of input: the server stops once the answer is out.
    tokio::io::AsyncWriteExt::shutdown(&mut to_server)
        .await
        .expect("shutdown");
    let mut out = Vec::new();
    from_server.read_to_end(&mut out).await.expect("read");
    assert!(serving.await.expect("join").is_ok());

    let text = std::str::from_utf8(&out).expect("utf-8");
    let progress = text
        .lines()
        .filter(|l| l.contains("notifications/progress"))
        .count();
    let answer: Vec<Value> = text
        .lines()
        .filter(|l| l.contains(r#""id":1"#))
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(answer.len(), 1, "the response is never dropped");
    assert_eq!(answer[0]["result"]["content"][0]["text"], "finished");
    // What waited for the client stayed near the limit (a write in flight, one 4 KiB pipe
    // buffer and the frame that crossed the limit come on top), far below the 4 MB made.
    assert!(
        out.len() < LIMIT + 64 * 1024,
        "{} bytes were queued for a client that read nothing",
        out.len()
    );
    assert!(
        progress > 0 && progress < REPORTS,
        "{progress} progress notifications"
    );
}
