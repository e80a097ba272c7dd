//! The client against scripted peers: a test plays the server over TCP on 127.0.0.1 (or a
//! shell script over stdio) and checks what the client sends and how it copes with unknown
//! ids, garbage, silence, a server that dies mid-call, and the server's own requests.

mod common;

use std::future::Future;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{bounded, init_tracing, tool_names};
use rune_client::model::{CallToolParams, ElicitAction, ElicitResult, Root};
use rune_client::{CallOptions, Client, ClientBuilder, Error, Notification, ProtocolVersion};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// The server side of a scripted connection.
struct Peer {
    lines: tokio::io::Lines<BufReader<OwnedReadHalf>>,
    w: OwnedWriteHalf,
}

impl Peer {
    /// The next message from the client (`Value::Null` at end of input).
    async fn recv(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(10), self.lines.next_line())
            .await
            .expect("the client sent nothing for 10 s")
            .expect("read");
        match line {
            Some(l) => serde_json::from_str(&l).expect("the client sends JSON"),
            None => Value::Null,
        }
    }
    /// The next message that is not `notifications/initialized`.
    async fn recv_skip_initialized(&mut self) -> Value {
        loop {
            let m = self.recv().await;
            if m["method"] != "notifications/initialized" {
                return m;
            }
        }
    }
    async fn send_raw(&mut self, text: &str) {
        self.w.write_all(text.as_bytes()).await.expect("write");
        self.w.write_all(b"\n").await.expect("write");
    }
    async fn send(&mut self, v: Value) {
        self.send_raw(&v.to_string()).await;
    }
    async fn answer(&mut self, id: &Value, result: Value) {
        self.send(json!({"jsonrpc": "2.0", "id": id, "result": result}))
            .await;
    }
    /// Answers `initialize` with `version`, then waits for `notifications/initialized`.
    async fn handshake(&mut self, version: &str) -> Value {
        let init = self.recv().await;
        assert_eq!(init["method"], "initialize");
        self.answer(
            &init["id"],
            json!({"protocolVersion": version, "capabilities": {"tools": {}},
                   "serverInfo": {"name": "scripted", "version": "1"}}),
        )
        .await;
        let n = self.recv().await;
        assert_eq!(n["method"], "notifications/initialized");
        init
    }
}

/// Starts a scripted server; returns its `tcp://` address and the script's task.
async fn scripted<F, Fut>(script: F) -> (String, tokio::task::JoinHandle<()>)
where
    F: FnOnce(Peer) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = format!("tcp://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let (r, w) = stream.into_split();
        script(Peer {
            lines: BufReader::new(r).lines(),
            w,
        })
        .await;
    });
    (addr, task)
}

fn call(name: &str) -> CallToolParams {
    CallToolParams {
        name: name.into(),
        arguments: None,
        input_responses: None,
        request_state: None,
        meta: None,
    }
}

#[tokio::test]
async fn unknown_ids_and_garbage_are_logged_and_ignored() {
    init_tracing();
    bounded(async {
        let (addr, script) = scripted(|mut p| async move {
            p.handshake("2025-11-25").await;
            let ping = p.recv().await;
            assert_eq!(ping["method"], "ping");
            assert!(
                ping.get("params").is_none(),
                "ping carries no params: {ping}"
            );
            p.answer(&json!(9999), json!({})).await;
            p.send(
                json!({"jsonrpc": "2.0", "id": "nobody", "error": {"code": -1, "message": "x"}}),
            )
            .await;
            p.send_raw("this is not JSON").await;
            p.send_raw(r#"{"jsonrpc":"2.0"}"#).await;
            p.send_raw(r#"[1, 2"#).await;
            p.answer(&ping["id"], json!({})).await;
            // A malformed request whose id is readable gets an error back.
            p.send_raw(r#"{"jsonrpc":"1.0","id":"bad","method":"x"}"#)
                .await;
            let e = p.recv().await;
            assert_eq!(e["id"], "bad");
            assert_eq!(e["error"]["code"], -32600);
            let ping = p.recv().await;
            p.answer(&ping["id"], json!({})).await;
        })
        .await;
        let client = Client::builder().connect(&addr).await.expect("connect");
        client.ping().await.expect("the real answer arrives");
        client.ping().await.expect("still connected");
        script.await.expect("script");
    })
    .await;
}

#[tokio::test]
async fn a_timeout_or_a_dropped_call_sends_cancelled() {
    init_tracing();
    bounded(async {
        let (addr, script) = scripted(|mut p| async move {
            p.handshake("2025-11-25").await;
            let first = p.recv().await;
            assert_eq!(first["method"], "tools/call");
            let cancel = p.recv().await;
            assert_eq!(cancel["method"], "notifications/cancelled");
            assert_eq!(cancel["params"]["requestId"], first["id"]);
            assert_eq!(cancel["params"]["reason"], "timed out");
            // A late answer to the cancelled call is ignored.
            p.answer(&first["id"], json!({"content": []})).await;
            let second = p.recv().await;
            let cancel = p.recv().await;
            assert_eq!(cancel["method"], "notifications/cancelled");
            assert_eq!(cancel["params"]["requestId"], second["id"]);
            let ping = p.recv().await;
            p.answer(&ping["id"], json!({})).await;
        })
        .await;
        let client = Client::builder().connect(&addr).await.expect("connect");
        let started = Instant::now();
        let e = client
            .call_tool_with(
                &call("silent"),
                CallOptions::new().timeout(Duration::from_millis(200)),
            )
            .await
            .expect_err("no answer");
        assert!(matches!(e, Error::Timeout(_)), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let dropped = client.call_tool("silent", json!({}));
        assert!(
            tokio::time::timeout(Duration::from_millis(100), dropped)
                .await
                .is_err()
        );
        client.ping().await.expect("ping");
        script.await.expect("script");
    })
    .await;
}

#[tokio::test]
async fn a_server_that_hangs_up_mid_call_fails_the_call_at_once() {
    init_tracing();
    bounded(async {
        let (addr, script) = scripted(|mut p| async move {
            p.handshake("2025-11-25").await;
            let _call = p.recv().await;
            // Dropping the peer closes the socket.
        })
        .await;
        let client = Client::builder()
            .request_timeout(None)
            .connect(&addr)
            .await
            .expect("connect");
        let e = client.call_tool("x", json!({})).await.expect_err("closed");
        assert!(matches!(e, Error::Closed(_)), "{e:?}");
        assert!(client.closed_reason().is_some());
        let e = client.ping().await.expect_err("still closed");
        assert!(matches!(e, Error::Closed(_)), "{e:?}");
        script.await.expect("script");
    })
    .await;
}

#[tokio::test]
async fn progress_reaches_the_calls_callback_and_meta_is_merged() {
    init_tracing();
    bounded(async {
        let (addr, script) = scripted(|mut p| async move {
            p.handshake("2025-11-25").await;
            let req = p.recv().await;
            let meta = &req["params"]["_meta"];
            assert_eq!(meta["trace"], "abc", "caller's _meta kept: {req}");
            let token = meta["progressToken"].clone();
            assert_eq!(token, req["id"]);
            for (i, msg) in ["one", "two"].iter().enumerate() {
                p.send(json!({"jsonrpc": "2.0", "method": "notifications/progress",
                    "params": {"progressToken": token, "progress": i + 1, "total": 2, "message": msg}}))
                    .await;
            }
            // Progress for no call of ours goes to the notification callback.
            p.send(json!({"jsonrpc": "2.0", "method": "notifications/progress",
                "params": {"progressToken": "other", "progress": 1}}))
                .await;
            p.answer(&req["id"], json!({"content": [{"type": "text", "text": "ok"}]})).await;
        })
        .await;
        let notes = Arc::new(Mutex::new(Vec::new()));
        let sink = notes.clone();
        let client = Client::builder()
            .on_notification(move |n| sink.lock().expect("lock").push(n))
            .connect(&addr)
            .await
            .expect("connect");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let into = seen.clone();
        let mut meta = serde_json::Map::new();
        meta.insert("trace".into(), json!("abc"));
        let r = client
            .call_tool_with(
                &call("slow"),
                CallOptions::new()
                    .meta(meta)
                    .on_progress(move |p| into.lock().expect("lock").push(p.message.unwrap_or_default())),
            )
            .await
            .expect("call");
        assert_eq!(r.content[0].as_text(), Some("ok"));
        assert_eq!(*seen.lock().expect("lock"), ["one", "two"]);
        assert!(matches!(notes.lock().expect("lock")[..], [Notification::Progress(_)]));
        script.await.expect("script");
    })
    .await;
}

#[tokio::test]
async fn server_requests_are_served_by_the_hosts_handlers() {
    init_tracing();
    bounded(async {
        let handler_dropped = Arc::new(AtomicBool::new(false));
        let (asked, all_asked) = tokio::sync::oneshot::channel();
        let (addr, script) = scripted(|mut p| async move {
            let init = p.handshake("2025-11-25").await;
            let caps = &init["params"]["capabilities"];
            assert_eq!(caps["roots"], json!({"listChanged": true}));
            assert_eq!(caps["elicitation"], json!({"form": {}}));
            assert!(caps.get("sampling").is_none(), "no sampling handler: {caps}");
            assert_eq!(init["params"]["clientInfo"]["name"], "rune-client");

            p.send(json!({"jsonrpc": "2.0", "id": 1, "method": "roots/list"})).await;
            let r = p.recv().await;
            assert_eq!(r, json!({"jsonrpc": "2.0", "id": 1, "result": {"roots": [{"uri": "file:///work", "name": "work"}]}}));

            p.send(json!({"jsonrpc": "2.0", "id": "e1", "method": "elicitation/create", "params": {
                "message": "Settings?",
                "requestedSchema": {"type": "object", "properties": {
                    "name": {"type": "string", "default": "John Doe"},
                    "age": {"type": "integer", "default": 30},
                    "verified": {"type": "boolean", "default": true}}}}}))
                .await;
            let r = p.recv().await;
            assert_eq!(r["id"], "e1");
            assert_eq!(r["result"], json!({"action": "accept", "content": {"name": "Ada", "age": 30, "verified": true}}));

            p.send(json!({"jsonrpc": "2.0", "id": 2, "method": "sampling/createMessage",
                "params": {"messages": [], "maxTokens": 5}}))
                .await;
            let r = p.recv().await;
            assert_eq!(r["error"]["code"], -32601);

            p.send(json!({"jsonrpc": "2.0", "id": 3, "method": "elicitation/create",
                "params": {"message": 5}}))
                .await;
            let r = p.recv().await;
            assert_eq!(r["error"]["code"], -32602, "{r}");

            p.send(json!({"jsonrpc": "2.0", "id": 4, "method": "ping"})).await;
            assert_eq!(p.recv().await, json!({"jsonrpc": "2.0", "id": 4, "result": {}}));

            // A request the server cancels is dropped, and never answered.
            p.send(json!({"jsonrpc": "2.0", "id": 5, "method": "elicitation/create",
                "params": {"message": "forever", "requestedSchema": {"type": "object"}}}))
                .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            p.send(json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                "params": {"requestId": 5, "reason": "changed my mind"}}))
                .await;
            p.send(json!({"jsonrpc": "2.0", "id": 6, "method": "ping"})).await;
            assert_eq!(p.recv().await["id"], 6, "no answer to the cancelled request");
            let _ = asked.send(());

            let n = p.recv().await;
            assert_eq!(n["method"], "notifications/roots/list_changed");
        })
        .await;
        let flag = handler_dropped.clone();
        let client = Client::builder()
            .roots(vec![Root { uri: "file:///work".into(), name: Some("work".into()), meta: None }])
            .on_elicitation(move |p| {
                let flag = flag.clone();
                async move {
                    if p.message == "forever" {
                        struct OnDrop(Arc<AtomicBool>);
                        impl Drop for OnDrop {
                            fn drop(&mut self) {
                                self.0.store(true, Ordering::SeqCst);
                            }
                        }
                        let _guard = OnDrop(flag);
                        std::future::pending::<()>().await;
                    }
                    let mut content = serde_json::Map::new();
                    content.insert("name".into(), json!("Ada"));
                    Ok(ElicitResult { action: ElicitAction::Accept, content: Some(content), meta: None })
                }
            })
            .connect(&addr)
            .await
            .expect("connect");
        // Once the script has run its requests, say the roots changed.
        all_asked.await.expect("the script ran");
        client.notify_roots_changed().await.expect("notify");
        script.await.expect("script");
        assert!(handler_dropped.load(Ordering::SeqCst), "the cancelled handler was dropped");
    })
    .await;
}

#[tokio::test]
async fn notifications_reach_the_callback() {
    init_tracing();
    bounded(async {
        let (addr, script) = scripted(|mut p| async move {
            p.handshake("2025-11-25").await;
            for n in [
                json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}),
                json!({"jsonrpc": "2.0", "method": "notifications/prompts/list_changed", "params": {}}),
                json!({"jsonrpc": "2.0", "method": "notifications/resources/list_changed"}),
                json!({"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": "file:///a"}}),
                json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "warning", "data": {"x": 1}}}),
                json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "bogus"}}),
                json!({"jsonrpc": "2.0", "method": "vendor/thing", "params": {"k": true}}),
            ] {
                p.send(n).await;
            }
            let ping = p.recv().await;
            p.answer(&ping["id"], json!({})).await;
        })
        .await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let client = Client::builder()
            .on_notification(move |n| {
                let _ = tx.send(n);
            })
            .connect(&addr)
            .await
            .expect("connect");
        client.ping().await.expect("ping");
        let mut got = Vec::new();
        while let Ok(n) = rx.try_recv() {
            got.push(n);
        }
        assert_eq!(got.len(), 6, "the malformed log message is dropped: {got:?}");
        assert_eq!(got[0], Notification::ToolsListChanged);
        assert_eq!(got[1], Notification::PromptsListChanged);
        assert_eq!(got[2], Notification::ResourcesListChanged);
        assert!(matches!(&got[3], Notification::ResourceUpdated(u) if u.uri == "file:///a"));
        assert!(matches!(&got[4], Notification::Log(m) if m.data == json!({"x": 1})));
        assert!(matches!(&got[5], Notification::Other { method, .. } if method == "vendor/thing"));
        script.await.expect("script");
    })
    .await;
}

#[tokio::test]
async fn lists_follow_every_page_and_stop_on_a_repeated_cursor() {
    init_tracing();
    bounded(async {
        let (addr, script) = scripted(|mut p| async move {
            p.handshake("2025-11-25").await;
            let tool = |n: &str| json!({"name": n, "inputSchema": {"type": "object"}});
            let r = p.recv().await;
            assert!(r.get("params").is_none(), "first page: no cursor: {r}");
            p.answer(&r["id"], json!({"tools": [tool("a")], "nextCursor": "c1"}))
                .await;
            let r = p.recv().await;
            assert_eq!(r["params"]["cursor"], "c1");
            p.answer(
                &r["id"],
                json!({"tools": [tool("b"), tool("c")], "nextCursor": "c2"}),
            )
            .await;
            let r = p.recv().await;
            assert_eq!(r["params"]["cursor"], "c2");
            p.answer(&r["id"], json!({"tools": [tool("d")]})).await;
            // A server that loops.
            let r = p.recv().await;
            p.answer(&r["id"], json!({"prompts": [], "nextCursor": "same"}))
                .await;
            let r = p.recv().await;
            p.answer(&r["id"], json!({"prompts": [], "nextCursor": "same"}))
                .await;
            // A result of the wrong shape.
            let r = p.recv().await;
            p.answer(&r["id"], json!({"resources": 7})).await;
        })
        .await;
        let client = Client::builder().connect(&addr).await.expect("connect");
        assert_eq!(tool_names(&client).await, ["a", "b", "c", "d"]);
        let e = client.list_prompts().await.expect_err("loop");
        assert!(matches!(e, Error::Protocol(_)), "{e:?}");
        let e = client.list_resources().await.expect_err("shape");
        assert!(matches!(e, Error::Protocol(_)), "{e:?}");
        script.await.expect("script");
    })
    .await;
}

#[tokio::test]
async fn version_negotiation() {
    init_tracing();
    bounded(async {
        // A revision the client does not speak.
        let (addr, script) = scripted(|mut p| async move {
            let init = p.recv().await;
            p.answer(
                &init["id"],
                json!({"protocolVersion": "1999-01-01", "capabilities": {},
                "serverInfo": {"name": "old", "version": "1"}}),
            )
            .await;
            assert_eq!(p.recv().await, Value::Null, "the client hangs up");
        })
        .await;
        let e = Client::builder().connect(&addr).await.expect_err("version");
        assert!(
            matches!(&e, Error::UnsupportedVersion(v) if &**v == "1999-01-01"),
            "{e:?}"
        );
        script.await.expect("script");

        // A server that rejects the version and lists its own: one retry.
        let (addr, script) = scripted(|mut p| async move {
            let init = p.recv().await;
            assert_eq!(init["params"]["protocolVersion"], "2025-11-25");
            p.send(
                json!({"jsonrpc": "2.0", "id": init["id"], "error": {"code": -32602,
                "message": "Unsupported protocol version",
                "data": {"supported": ["2024-11-05"], "requested": "2025-11-25"}}}),
            )
            .await;
            let init = p.recv().await;
            assert_eq!(init["params"]["protocolVersion"], "2024-11-05");
            p.answer(
                &init["id"],
                json!({"protocolVersion": "2024-11-05", "capabilities": {},
                "serverInfo": {"name": "old", "version": "1"}}),
            )
            .await;
            assert_eq!(p.recv().await["method"], "notifications/initialized");
            assert_eq!(p.recv_skip_initialized().await, Value::Null);
        })
        .await;
        let client = ClientBuilder::new().connect(&addr).await.expect("retry");
        assert_eq!(client.protocol_version(), ProtocolVersion::V2024_11_05);
        client.close().await;
        script.await.expect("script");
    })
    .await;
}

const INIT_ANSWER: &str = r#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"sh","version":"1"}}}"#;

#[tokio::test]
async fn a_stdio_server_that_exits_mid_call() {
    init_tracing();
    bounded(async {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(format!(
            "read l; echo '{INIT_ANSWER}'; read l; read l; echo 'dying' >&2; exit 3"
        ));
        let client = Client::builder()
            .request_timeout(None)
            .connect_stdio(cmd)
            .await
            .expect("connect");
        let e = client.call_tool("x", json!({})).await.expect_err("died");
        match e {
            Error::Closed(why) => assert!(why.contains("exit status: 3"), "{why}"),
            other => panic!("expected Closed, got {other:?}"),
        }
    })
    .await;
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_stdio_server_is_killed_and_reaped_on_drop() {
    init_tracing();
    bounded(async {
        // The server ignores the end of its input; only a kill stops it.
        let mut cmd = Command::new("sh");
        let answer = INIT_ANSWER.replace(r#""name":"sh""#, r#""name":"$$""#);
        cmd.arg("-c")
            .arg(format!(
                "read l; echo \"{}\"; exec sleep 30",
                answer.replace('"', "\\\"")
            ))
            .env("RUNE_TEST_MARKER", "1")
            .current_dir(std::env::temp_dir());
        let client = ClientBuilder::new()
            .shutdown_grace(Duration::from_millis(100))
            .connect_stdio(cmd)
            .await
            .expect("connect");
        let pid: u32 = client.server_info().name.parse().expect("the pid");
        let proc = format!("/proc/{pid}");
        assert!(std::path::Path::new(&proc).exists());
        drop(client);
        // Gone from the process table: killed and waited for (a zombie would stay listed).
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::path::Path::new(&proc).exists() {
            assert!(
                Instant::now() < deadline,
                "process {pid} still exists after drop"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_command_that_cannot_start_and_bad_targets() {
    init_tracing();
    let e = Client::builder()
        .connect_stdio(Command::new("/nonexistent/rune-test-server"))
        .await
        .expect_err("spawn");
    assert!(matches!(e, Error::Transport(_)), "{e:?}");
    let e = Client::builder()
        .connect("ftp://x")
        .await
        .expect_err("scheme");
    assert!(matches!(e, Error::InvalidTarget(_)), "{e:?}");
    let e = Client::builder()
        .http_header("bad header", "x")
        .connect("http://127.0.0.1:9")
        .await
        .expect_err("header");
    assert!(matches!(e, Error::InvalidTarget(_)), "{e:?}");
}
