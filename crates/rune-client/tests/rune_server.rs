//! The client against Rune's own conformance fixture server (`examples/conformance_server`),
//! over stdio and over TCP. The binary must be built first (`cargo build --workspace --bins`).

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{ChildGuard, bin, bounded, free_port, init_tracing, wait_for_port};
use rune_client::model::{
    CallToolParams, CompletionArgument, CompletionReference, Content, CreateMessageResult,
    ElicitAction, ElicitResult, LoggingLevel, Role,
};
use rune_client::{CallOptions, Client, ClientBuilder, Error, Notification, ProtocolVersion};
use serde_json::json;

fn server() -> Command {
    Command::new(bin("conformance_server"))
}

fn text(r: &rune_client::model::CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(Content::as_text)
        .collect::<Vec<_>>()
        .join("\n")
}

fn params(name: &str) -> CallToolParams {
    CallToolParams {
        name: name.into(),
        arguments: None,
        input_responses: None,
        request_state: None,
        meta: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_and_every_feature_over_stdio() {
    init_tracing();
    bounded(async {
        let notes = Arc::new(Mutex::new(Vec::new()));
        let sink = notes.clone();
        let client = Client::builder()
            .client_info("rune-client-test", "0.0.1")
            .on_notification(move |n| sink.lock().expect("lock").push(n))
            .on_sampling(|p| async move {
                let prompt = p.messages[0].content["text"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                Ok(CreateMessageResult {
                    role: Role::Assistant,
                    content: json!({"type": "text", "text": format!("echo: {prompt}")}),
                    model: "test-model".into(),
                    stop_reason: Some("endTurn".into()),
                    meta: None,
                })
            })
            .on_elicitation(|p| async move {
                // Only the fields the user typed; the schema's defaults fill the rest.
                let content = match p.message.as_str() {
                    "Please review your details" => json!({"age": 41}),
                    _ => json!({"username": "ada", "email": "ada@example.com"}),
                };
                Ok(ElicitResult {
                    action: ElicitAction::Accept,
                    content: content.as_object().cloned(),
                    meta: None,
                })
            })
            .connect_stdio(server())
            .await
            .expect("connect");

        assert_eq!(client.server_info().name, "rune-conformance-server");
        assert_eq!(client.protocol_version(), ProtocolVersion::V2025_11_25);
        assert!(client.server_capabilities().tools.is_some());
        assert!(
            client
                .instructions()
                .is_some_and(|i| i.contains("conformance"))
        );
        client.ping().await.expect("ping");

        let tools = client.list_tools().await.expect("tools/list");
        for name in [
            "test_simple_text",
            "test_sampling",
            "test_elicitation",
            "test_reconnection",
        ] {
            assert!(tools.iter().any(|t| t.name == name), "{name} missing");
        }
        let r = client
            .call_tool("test_simple_text", json!({}))
            .await
            .expect("call");
        assert!(!r.is_error());
        assert!(!text(&r).is_empty());
        let r = client
            .call_tool("test_error_handling", serde_json::Value::Null)
            .await
            .expect("call");
        assert!(r.is_error(), "{r:?}");

        let r = client
            .call_tool("test_sampling", json!({"prompt": "hi there"}))
            .await
            .expect("sampling tool");
        assert_eq!(text(&r), "LLM response: echo: hi there");

        let r = client
            .call_tool("test_elicitation", json!({"message": "who are you?"}))
            .await
            .expect("elicitation tool");
        assert!(text(&r).contains("ada@example.com"), "{}", text(&r));

        let r = client
            .call_tool("test_elicitation_sep1034_defaults", json!({}))
            .await
            .expect("sep1034 tool");
        let t = text(&r);
        for part in [
            r#""age":41"#,
            r#""name":"John Doe""#,
            r#""score":95.5"#,
            r#""status":"active""#,
            r#""verified":true"#,
        ] {
            assert!(t.contains(part), "{part} missing from {t}");
        }

        // Progress goes to the call's own callback.
        let seen = Arc::new(Mutex::new(Vec::new()));
        let into = seen.clone();
        let r = client
            .call_tool_with(
                &params("test_tool_with_progress"),
                CallOptions::new()
                    .on_progress(move |p| into.lock().expect("lock").push(p.progress)),
            )
            .await
            .expect("progress tool");
        assert!(!r.is_error());
        assert_eq!(*seen.lock().expect("lock"), [0.0, 50.0, 100.0]);

        // Log messages go to the notification callback.
        client
            .set_logging_level(LoggingLevel::Info)
            .await
            .expect("setLevel");
        client
            .call_tool("test_tool_with_logging", json!({}))
            .await
            .expect("logging tool");
        let logs: Vec<_> = notes
            .lock()
            .expect("lock")
            .iter()
            .filter_map(|n| match n {
                Notification::Log(m) => Some(m.data.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(logs.len(), 3, "{logs:?}");

        let resources = client.list_resources().await.expect("resources/list");
        assert!(resources.iter().any(|r| r.uri == "test://static-text"));
        let r = client
            .read_resource("test://static-text")
            .await
            .expect("read");
        assert_eq!(
            r.contents[0].text.as_deref(),
            Some("This is the content of the static text resource.")
        );
        let templates = client.list_resource_templates().await.expect("templates");
        assert_eq!(templates[0].uri_template, "test://template/{id}/data");
        let r = client
            .read_resource("test://template/42/data")
            .await
            .expect("read template");
        assert!(
            r.contents[0]
                .text
                .as_deref()
                .is_some_and(|t| t.contains("Data for ID: 42"))
        );
        match client.read_resource("test://nothing-here").await {
            Err(Error::Rpc(e)) => assert_eq!(e.code, -32002),
            other => panic!("expected -32002, got {other:?}"),
        }
        client
            .subscribe_resource("test://watched-resource")
            .await
            .expect("subscribe");
        client
            .unsubscribe_resource("test://watched-resource")
            .await
            .expect("unsubscribe");

        let prompts = client.list_prompts().await.expect("prompts/list");
        assert!(
            prompts
                .iter()
                .any(|p| p.name == "test_prompt_with_arguments")
        );
        let p = client
            .get_prompt("test_prompt_with_arguments", [("arg1", "a"), ("arg2", "b")])
            .await
            .expect("prompts/get");
        assert_eq!(
            p.messages[0].content.as_text(),
            Some("Prompt with arguments: arg1='a', arg2='b'")
        );
        let c = client
            .complete(
                CompletionReference::Prompt {
                    name: "test_prompt_with_arguments".into(),
                },
                CompletionArgument {
                    name: "arg1".into(),
                    value: "pa".into(),
                },
                None,
            )
            .await
            .expect("complete");
        assert_eq!(c.values, ["paris", "park", "party"]);

        // An unknown method is the server's JSON-RPC error, kept whole.
        let e = client
            .request::<_, serde_json::Value>("nope/nothing", Some(&json!({})), CallOptions::new())
            .await
            .expect_err("unknown method");
        assert_eq!(e.rpc().map(|e| e.code), Some(-32601));
        client.close().await;
    })
    .await;
}

#[tokio::test]
async fn older_revisions_are_negotiated() {
    init_tracing();
    bounded(async {
        for v in [
            ProtocolVersion::V2024_11_05,
            ProtocolVersion::V2025_03_26,
            ProtocolVersion::V2025_06_18,
        ] {
            let client = ClientBuilder::new()
                .protocol_version(v)
                .connect_stdio(server())
                .await
                .expect("connect");
            assert_eq!(client.protocol_version(), v);
            assert!(!client.list_tools().await.expect("tools").is_empty());
            client.close().await;
        }
        // 2026 has no handshake: the client is stateless (see tests/stateless.rs).
        let client = ClientBuilder::new()
            .protocol_version(ProtocolVersion::V2026_07_28)
            .connect_stdio(server())
            .await
            .expect("connect without a handshake");
        assert_eq!(client.protocol_version(), ProtocolVersion::V2026_07_28);
        assert!(!client.list_tools().await.expect("tools").is_empty());
        client.close().await;
    })
    .await;
}

#[tokio::test]
async fn timeouts_and_concurrent_calls() {
    init_tracing();
    bounded(async {
        let client = Client::builder()
            .connect_stdio(server())
            .await
            .expect("connect");
        // The progress tool takes about 100 ms.
        let e = client
            .call_tool_with(
                &params("test_tool_with_progress"),
                CallOptions::new().timeout(Duration::from_millis(5)),
            )
            .await
            .expect_err("timeout");
        assert!(matches!(e, Error::Timeout(_)), "{e:?}");
        // The connection is still good, and calls run side by side.
        let calls = (0..32).map(|i| {
            let client = client.clone();
            async move {
                if i % 2 == 0 {
                    client.ping().await.map(|_| ())
                } else {
                    client
                        .call_tool("test_simple_text", json!({}))
                        .await
                        .map(|_| ())
                }
            }
        });
        for r in futures_util::future::join_all(calls).await {
            r.expect("concurrent call");
        }
        // A future dropped before its answer: cancelled, and the client goes on.
        let slow = client.call_tool("test_tool_with_progress", json!({}));
        let _ = tokio::time::timeout(Duration::from_millis(10), slow).await;
        client.ping().await.expect("ping after a cancelled call");
        client.close().await;
    })
    .await;
}

#[tokio::test]
async fn over_tcp() {
    init_tracing();
    bounded(async {
        let port = free_port();
        let _server = ChildGuard(
            server()
                .args(["--listen", &format!("tcp://127.0.0.1:{port}")])
                .spawn()
                .expect("start the TCP server"),
        );
        wait_for_port(port).await;
        let client = Client::builder()
            .connect(&format!("tcp://127.0.0.1:{port}"))
            .await
            .expect("connect over TCP");
        assert_eq!(client.server_info().name, "rune-conformance-server");
        let r = client
            .get_prompt("test_simple_prompt", BTreeMap::<String, String>::new())
            .await
            .expect("prompt");
        assert_eq!(r.messages.len(), 1);
        client.close().await;
    })
    .await;
}
