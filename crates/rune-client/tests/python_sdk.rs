//! The client against a server written with the official Python SDK (PyPI `mcp` 2.3.0, its
//! `MCPServer`: `tests/peers/py_server.py`), over stdio and over Streamable HTTP on
//! 127.0.0.1. The SDK is installed by `scripts/install-test-peers.sh`; when that script
//! cannot run, these tests say so and pass without running.

mod common;

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use common::{
    ChildGuard, bounded, free_port, init_tracing, peers_or_skip, repo_root, tool_names,
    wait_for_port,
};
use rune_client::model::{
    CallToolParams, Content, CreateMessageResult, ElicitAction, ElicitResult, LoggingLevel, Role,
    Root,
};
use rune_client::{CallOptions, Client, ClientBuilder, Notification, ProtocolVersion};
use serde_json::json;

fn script() -> std::path::PathBuf {
    repo_root().join("crates/rune-client/tests/peers/py_server.py")
}

fn text(r: &rune_client::model::CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(Content::as_text)
        .collect::<Vec<_>>()
        .join("\n")
}

type Notes = Arc<Mutex<Vec<Notification>>>;

fn builder(notes: &Notes) -> ClientBuilder {
    let sink = notes.clone();
    Client::builder()
        .client_info("rune-client-interop", "0.0.1")
        .roots(vec![Root {
            uri: "file:///tmp/rune-roots".into(),
            name: Some("roots".into()),
            meta: None,
        }])
        .on_sampling(|p| async move {
            let prompt = p.messages[0].content["text"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            Ok(CreateMessageResult {
                role: Role::Assistant,
                content: json!({"type": "text", "text": format!("sampled {prompt}")}),
                model: "test-model".into(),
                stop_reason: Some("endTurn".into()),
                meta: None,
            })
        })
        .on_elicitation(|_| async move {
            // `count` is left out: its schema default (3) is filled in.
            let mut content = serde_json::Map::new();
            content.insert("color".into(), json!("red"));
            Ok(ElicitResult {
                action: ElicitAction::Accept,
                content: Some(content),
                meta: None,
            })
        })
        .on_notification(move |n| sink.lock().expect("lock").push(n))
}

async fn exercise(client: Client, notes: Notes) {
    assert_eq!(client.server_info().name, "py-fixture");
    assert_eq!(client.protocol_version(), ProtocolVersion::V2025_11_25);
    assert_eq!(client.instructions(), Some("Python SDK fixture server."));
    client.ping().await.expect("ping");

    let names = tool_names(&client).await;
    for name in ["add", "progress", "log", "ask", "sample", "roots"] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} missing from {names:?}"
        );
    }

    let r = client
        .call_tool("add", json!({"a": 2, "b": 3}))
        .await
        .expect("add");
    assert_eq!(text(&r), "5");
    assert_eq!(r.structured_content, Some(json!({"result": 5})));
    let r = client
        .call_tool("add", json!({"a": "x"}))
        .await
        .expect("bad args");
    assert!(r.is_error(), "invalid arguments are a tool error: {r:?}");

    let seen = Arc::new(Mutex::new(Vec::new()));
    let into = seen.clone();
    let mut args = serde_json::Map::new();
    args.insert("steps".into(), json!(3));
    let params = CallToolParams {
        name: "progress".into(),
        arguments: Some(args),
        input_responses: None,
        request_state: None,
        meta: None,
    };
    let r = client
        .call_tool_with(
            &params,
            CallOptions::new().on_progress(move |p| {
                into.lock()
                    .expect("lock")
                    .push((p.progress, p.message.unwrap_or_default()))
            }),
        )
        .await
        .expect("progress");
    assert_eq!(text(&r), "done 3");
    assert_eq!(
        *seen.lock().expect("lock"),
        [
            (1.0, "step 1".into()),
            (2.0, "step 2".into()),
            (3.0, "step 3".to_owned())
        ]
    );

    // MCPServer declares no `logging` capability (and has no `logging/setLevel`), but sends
    // log messages all the same.
    if client.server_capabilities().logging.is_some() {
        client
            .set_logging_level(LoggingLevel::Info)
            .await
            .expect("setLevel");
    } else {
        let e = client
            .set_logging_level(LoggingLevel::Info)
            .await
            .expect_err("no setLevel");
        assert_eq!(e.rpc().map(|e| e.code), Some(-32601));
    }
    let r = client
        .call_tool("log", json!({"text": "hello log"}))
        .await
        .expect("log");
    assert_eq!(text(&r), "logged");
    assert!(
        notes
            .lock()
            .expect("lock")
            .iter()
            .any(|n| matches!(n, Notification::Log(m) if m.data == json!("hello log"))),
        "the log message arrived"
    );

    let r = client
        .call_tool("ask", json!({}))
        .await
        .expect("elicitation");
    assert_eq!(text(&r), "red x3");
    let r = client
        .call_tool("sample", json!({"prompt": "hi"}))
        .await
        .expect("sampling");
    assert_eq!(text(&r), "test-model: sampled hi");
    let r = client.call_tool("roots", json!({})).await.expect("roots");
    assert_eq!(text(&r), "file:///tmp/rune-roots");

    let resources = client.list_resources().await.expect("resources/list");
    assert!(resources.iter().any(|r| r.uri == "test://hello"));
    let r = client.read_resource("test://hello").await.expect("read");
    assert_eq!(r.contents[0].text.as_deref(), Some("hello from python"));
    let templates = client.list_resource_templates().await.expect("templates");
    assert!(
        templates
            .iter()
            .any(|t| t.uri_template == "test://items/{item}")
    );
    let r = client
        .read_resource("test://items/7")
        .await
        .expect("read template");
    assert_eq!(r.contents[0].text.as_deref(), Some("item 7"));

    let prompts = client.list_prompts().await.expect("prompts/list");
    assert!(prompts.iter().any(|p| p.name == "greet"));
    let p = client
        .get_prompt("greet", [("name", "Ada")])
        .await
        .expect("prompts/get");
    assert_eq!(p.messages[0].content.as_text(), Some("Hello, Ada!"));

    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_server_over_stdio() {
    init_tracing();
    let Some(peers) = peers_or_skip("python_sdk_server_over_stdio") else {
        return;
    };
    bounded(async {
        let mut cmd = Command::new(&peers.py);
        cmd.arg(script());
        let notes = Notes::default();
        let client = builder(&notes)
            .connect_stdio(cmd)
            .await
            .expect("connect over stdio");
        exercise(client, notes).await;
    })
    .await;
}

/// The Python server on Streamable HTTP at a free loopback port, once it accepts connections.
async fn http_server(python: &std::path::Path) -> (ChildGuard, u16) {
    let port = free_port();
    let server = ChildGuard(
        Command::new(python)
            .arg(script())
            .args(["--http", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the Python server"),
    );
    wait_for_port(port).await;
    (server, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_server_over_streamable_http() {
    init_tracing();
    let Some(peers) = peers_or_skip("python_sdk_server_over_streamable_http") else {
        return;
    };
    bounded(async {
        let (_server, port) = http_server(&peers.py).await;
        let notes = Notes::default();
        let client = builder(&notes)
            .connect(&format!("http://127.0.0.1:{port}/mcp"))
            .await
            .expect("connect over HTTP");
        exercise(client, notes).await;
    })
    .await;
}

/// 2026-07-28 over Streamable HTTP: the Python SDK's server refuses a `tools/call` of a tool
/// with `x-mcp-header` arguments unless the `Mcp-Param-*` headers agree with the body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_server_checks_the_param_headers_of_2026() {
    init_tracing();
    let Some(peers) = peers_or_skip("python_sdk_server_checks_the_param_headers_of_2026") else {
        return;
    };
    bounded(async {
        let (_server, port) = http_server(&peers.py).await;
        let url = format!("http://127.0.0.1:{port}/mcp");
        let connect = || {
            Client::builder()
                .protocol_version(ProtocolVersion::V2026_07_28)
                .connect(&url)
        };
        // Called before any `tools/list`: the server refuses it (-32020), the client lists
        // the tools, learns the annotations and retries with the headers.
        let client = connect().await.expect("connect");
        assert_eq!(client.protocol_version(), ProtocolVersion::V2026_07_28);
        let args = json!({"region": "zürich", "limit": 7, "query": "q"});
        let r = client.call_tool("route", &args).await.expect("route");
        assert!(!r.is_error(), "{r:?}");
        assert_eq!(text(&r), "zürich/7: q");
        // Listed first: the headers go with the first attempt.
        let client = connect().await.expect("connect");
        let tools = client.list_tools().await.expect("tools/list");
        assert!(tools.iter().any(|t| t.name == "route"));
        let r = client
            .call_tool(
                "route",
                json!({"region": "eu west", "limit": -3, "query": "x"}),
            )
            .await
            .expect("route");
        assert_eq!(text(&r), "eu west/-3: x");
        // A tool without annotations needs none.
        let r = client
            .call_tool("add", json!({"a": 1, "b": 2}))
            .await
            .expect("add");
        assert_eq!(text(&r), "3");
    })
    .await;
}
