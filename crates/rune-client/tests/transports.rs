//! The network transports added beside stdio and Streamable HTTP, against Rune's conformance
//! fixture server (`examples/conformance_server`, built by `cargo build --workspace --bins`):
//! WebSocket, the legacy HTTP+SSE fallback, reconnection after the server restarts,
//! keep-alive pings against a server that stops answering, and the client pool.

mod common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{ChildGuard, bin, bounded, free_port, init_tracing, spawn_listening};
use rune_client::model::{CallToolParams, Content, CreateMessageResult, Role};
use rune_client::{
    CallOptions, Client, ClientPool, Error, McpServers, ReconnectPolicy, ServerConfig, StdioServer,
};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn text(r: &rune_client::model::CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(Content::as_text)
        .collect::<Vec<_>>()
        .join("\n")
}

fn listen(url: &str) -> (ChildGuard, String) {
    let mut cmd = Command::new(bin("conformance_server"));
    cmd.arg("--listen").arg(url);
    spawn_listening(cmd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_carries_calls_server_requests_and_progress() {
    init_tracing();
    bounded(async {
        let (_server, url) = listen("ws://127.0.0.1:0/mcp");
        assert!(url.starts_with("ws://"), "{url}");
        let client = Client::builder()
            .on_sampling(|p| async move {
                let prompt = p.messages[0].content["text"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                Ok(CreateMessageResult {
                    role: Role::Assistant,
                    content: json!({"type": "text", "text": format!("ws: {prompt}")}),
                    model: "m".into(),
                    stop_reason: None,
                    meta: None,
                })
            })
            .connect(&url)
            .await
            .expect("connect over WebSocket");
        assert_eq!(client.server_info().name, "rune-conformance-server");
        client.ping().await.expect("ping");
        let tools = client.list_tools().await.expect("tools/list");
        assert!(tools.iter().any(|t| t.name == "test_simple_text"));
        let r = client
            .call_tool("test_sampling", json!({"prompt": "over ws"}))
            .await
            .expect("sampling over ws");
        assert_eq!(text(&r), "LLM response: ws: over ws");

        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let params = CallToolParams {
            name: "test_tool_with_progress".into(),
            arguments: None,
            input_responses: None,
            request_state: None,
            meta: None,
        };
        client
            .call_tool_with(
                &params,
                CallOptions::new().on_progress(move |p| s.lock().expect("lock").push(p.progress)),
            )
            .await
            .expect("progress tool");
        assert_eq!(*seen.lock().expect("lock"), [0.0, 50.0, 100.0]);

        // Concurrent calls share the socket.
        let calls = (0..16).map(|_| client.call_tool("test_simple_text", json!({})));
        for r in futures_util::future::join_all(calls).await {
            assert!(!r.expect("call").is_error());
        }
        client.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_refused_upgrade_is_a_clear_error() {
    init_tracing();
    bounded(async {
        let (_server, url) = listen("http://127.0.0.1:0/mcp");
        // An HTTP-only path: the upgrade is refused.
        let ws = url
            .replace("http://", "ws://")
            .replace("/mcp", "/nothing-here");
        let e = Client::builder()
            .connect_ws(&ws)
            .await
            .expect_err("refused");
        assert!(matches!(e, Error::Transport(_)), "{e}");
        let e = Client::builder()
            .connect("ftp://127.0.0.1/x")
            .await
            .expect_err("scheme");
        assert!(matches!(e, Error::InvalidTarget(_)), "{e}");
    })
    .await;
}

/// Rune's HTTP endpoint serves the legacy transport at `/sse`, where a POST gets 405: the
/// client falls back to GET + the endpoint event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_sse_fallback_against_rune_http() {
    init_tracing();
    bounded(async {
        let (_server, url) = listen("http://127.0.0.1:0/mcp");
        let sse = url.replace("/mcp", "/sse");
        let client = Client::builder()
            .connect_http(&sse)
            .await
            .expect("fallback to legacy SSE");
        assert_eq!(client.server_info().name, "rune-conformance-server");
        let r = client
            .call_tool("test_simple_text", json!({}))
            .await
            .expect("call over legacy SSE");
        assert!(!text(&r).is_empty());
        let read = client
            .read_resource("test://static-text")
            .await
            .expect("read over legacy SSE");
        assert_eq!(read.contents.len(), 1);
        client.close().await;

        let e = Client::builder()
            .legacy_sse_fallback(false)
            .connect_http(&sse)
            .await
            .expect_err("no fallback");
        assert!(matches!(e, Error::Http { status: 405, .. }), "{e}");

        // Neither transport there: the error says both failed.
        let nowhere = url.replace("/mcp", "/nowhere");
        let e = Client::builder()
            .connect_http(&nowhere)
            .await
            .expect_err("nothing at that path");
        assert!(e.to_string().contains("legacy HTTP+SSE"), "{e}");
    })
    .await;
}

/// The server restarts on the same port: over HTTP the next call gets 404 for its old
/// session, reconnects (a new initialize) and is sent again; over WebSocket the closed socket
/// is noticed and the next call reconnects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_the_server_restarts() {
    init_tracing();
    bounded(async {
        for scheme in ["http", "ws"] {
            let port = free_port();
            let url = format!("{scheme}://127.0.0.1:{port}/mcp");
            let (server, _) = listen(&url);
            let policy = ReconnectPolicy {
                max_attempts: 40,
                initial_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_millis(250),
            };
            let client = Client::builder()
                .reconnect(policy)
                .connect(&url)
                .await
                .expect("connect");
            client
                .call_tool("test_simple_text", json!({}))
                .await
                .expect("first call");
            drop(server);
            let (_server, _) = listen(&url);
            let r = client
                .call_tool("test_simple_text", json!({}))
                .await
                .unwrap_or_else(|e| panic!("{scheme}: the call after the restart: {e}"));
            assert!(!r.is_error());
            assert!(client.closed_reason().is_none(), "{scheme}");
            client.close().await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_clients_do_not_reconnect() {
    init_tracing();
    bounded(async {
        let (_server, url) = listen("ws://127.0.0.1:0/mcp");
        let client = Client::builder()
            .reconnect(ReconnectPolicy::default())
            .connect(&url)
            .await
            .expect("connect");
        let clone = client.clone();
        client.close().await;
        let e = clone.ping().await.expect_err("closed");
        assert!(matches!(e, Error::Closed(_)), "{e}");
    })
    .await;
}

/// A TCP server that answers the handshake, then never answers anything again.
async fn mute_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let (r, mut w) = stream.into_split();
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if v["method"] == "initialize" {
                let answer = json!({"jsonrpc": "2.0", "id": v["id"], "result": {
                    "protocolVersion": "2025-11-25", "capabilities": {},
                    "serverInfo": {"name": "mute", "version": "0"}}});
                let _ = w.write_all(format!("{answer}\n").as_bytes()).await;
            }
        }
    });
    format!("tcp://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_closes_a_connection_whose_server_stopped_answering() {
    init_tracing();
    bounded(async {
        let url = mute_server().await;
        let client = Client::builder()
            .keep_alive(Some(Duration::from_millis(200)))
            .connect(&url)
            .await
            .expect("connect");
        assert_eq!(client.server_info().name, "mute");
        for _ in 0..100 {
            if client.closed_reason().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let why = client.closed_reason().expect("closed by the keep-alive");
        assert!(why.contains("keep-alive"), "{why}");
        let e = client.ping().await.expect_err("closed");
        assert!(matches!(e, Error::Closed(_)), "{e}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_leaves_a_live_connection_alone() {
    init_tracing();
    bounded(async {
        let (_server, url) = listen("http://127.0.0.1:0/mcp");
        let client = Client::builder()
            .keep_alive(Some(Duration::from_millis(100)))
            .connect(&url)
            .await
            .expect("connect");
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(client.closed_reason().is_none());
        client.ping().await.expect("still there");
        client.close().await;
    })
    .await;
}

fn stdio_config(program: &str, args: &[&str]) -> ServerConfig {
    ServerConfig::Stdio(StdioServer {
        command: program.to_owned(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        ..StdioServer::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_namespaces_tools_and_routes_calls() {
    init_tracing();
    bounded(async {
        let conformance = bin("conformance_server").display().to_string();
        let rune = bin("rune").display().to_string();
        let (_ws_server, ws_url) = listen("ws://127.0.0.1:0/mcp");
        let config = McpServers::parse(
            &json!({"mcpServers": {
                "conf": {"command": conformance},
                "files": {"command": rune, "args": ["mcp-server"]},
                "sock": {"url": ws_url},
                "broken": {"command": "/nonexistent/rune-no-such-server"}
            }})
            .to_string(),
        )
        .expect("config");
        let (pool, failures) = ClientPool::connect_all(&config, Client::builder()).await;
        assert_eq!(pool.names(), ["conf", "files", "sock"]);
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].0, "broken");
        assert!(
            matches!(&failures[0].1, Error::Server { server, .. } if &**server == "broken"),
            "{}",
            failures[0].1
        );

        let tools = pool.list_tools().await.expect("tools of every server");
        let names: Vec<&str> = tools.iter().map(|t| t.tool.name.as_str()).collect();
        for n in [
            "conf__test_simple_text",
            "files__file_read",
            "sock__test_sampling",
        ] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        let t = tools
            .iter()
            .find(|t| t.tool.name == "files__file_read")
            .expect("file_read");
        assert_eq!(
            (t.server.as_str(), t.original_name.as_str()),
            ("files", "file_read")
        );

        let r = pool
            .call_tool("conf__test_simple_text", json!({}))
            .await
            .expect("routed to conf");
        assert!(!text(&r).is_empty());
        let r = pool
            .call_tool("files__list_directory", json!({"path": "."}))
            .await
            .expect("routed to files");
        assert!(!r.is_error(), "{r:?}");
        let r = pool
            .call_tool("sock__test_error_handling", json!({}))
            .await
            .expect("routed to sock");
        assert!(r.is_error());

        for bad in ["nope__tool", "conf", "__x", "conf__"] {
            let e = pool.call_tool(bad, json!({})).await.expect_err(bad);
            assert!(matches!(e, Error::InvalidTarget(_)), "{bad}: {e}");
        }
        let e = pool
            .call_tool("conf__no_such_tool", json!({}))
            .await
            .map(|r| r.is_error());
        match e {
            Ok(is_error) => assert!(is_error),
            Err(e) => assert!(matches!(e, Error::Server { .. }), "{e}"),
        }
        assert!(
            pool.insert("a__b", pool.get("conf").expect("conf"))
                .is_err()
        );

        // A server can go; the others stay.
        assert!(pool.remove("sock").await);
        assert!(!pool.remove("sock").await);
        assert_eq!(pool.names(), ["conf", "files"]);
        // And come back, by configuration.
        pool.connect("again", &stdio_config(&conformance, &[]), Client::builder())
            .await
            .expect("connect one more");
        let r = pool
            .call_tool("again__test_simple_text", json!({}))
            .await
            .expect("routed to the new one");
        assert!(!r.is_error());
        pool.close().await;
        assert!(pool.is_empty());
    })
    .await;
}
