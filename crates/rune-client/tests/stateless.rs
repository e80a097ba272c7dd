//! The stateless 2026-07-28 revision: against Rune's own conformance fixture server over
//! stdio and Streamable HTTP (no `initialize`, `server/discover` at connect, elicitation and
//! sampling through `input_required` round trips), against a scripted HTTP server that checks
//! the `_meta` envelope and the headers, and the `Auto` era falling back to `initialize`.
//! The binary must be built first (`cargo build --workspace --bins`).

mod common;

use std::process::Command;
use std::sync::{Arc, Mutex};

use common::{Seen, bin, bounded, init_tracing, read_request, spawn_listening, tool_names};
use rune_client::model::{
    Content, CreateMessageResult, ElicitAction, ElicitResult, Role, meta_keys,
};
use rune_client::{Client, ClientBuilder, EraPreference, ProtocolVersion};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

fn text(content: &[Content]) -> String {
    content
        .iter()
        .filter_map(Content::as_text)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A 2026 client with sampling and elicitation handlers; `asked` records the elicitations.
fn builder(asked: Arc<Mutex<Vec<String>>>) -> ClientBuilder {
    Client::builder()
        .client_info("rune-client-test", "0.0.1")
        .protocol_version(ProtocolVersion::V2026_07_28)
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
        .on_elicitation(move |p| {
            asked.lock().expect("lock").push(p.message.clone());
            async move {
                Ok(ElicitResult {
                    action: ElicitAction::Accept,
                    content: json!({"username": "ada", "email": "ada@example.com"})
                        .as_object()
                        .cloned(),
                    meta: None,
                })
            }
        })
}

/// Every feature the brief names, on one connected 2026 client.
async fn exercise(client: &Client, asked: &Arc<Mutex<Vec<String>>>) {
    assert_eq!(client.protocol_version(), ProtocolVersion::V2026_07_28);
    assert_eq!(client.server_info().name, "rune-conformance-server");
    assert!(client.server_capabilities().tools.is_some());

    let tools = client.list_tools().await.expect("tools/list");
    for name in ["test_simple_text", "test_elicitation", "test_sampling"] {
        assert!(tools.iter().any(|t| t.name == name), "{name} listed");
    }
    let r = client
        .call_tool("test_simple_text", json!({}))
        .await
        .expect("tools/call");
    assert_eq!(
        text(&r.content),
        "This is a simple text response for testing."
    );

    let r = client
        .call_tool("test_elicitation", json!({"message": "Who are you?"}))
        .await
        .expect("test_elicitation");
    let out = text(&r.content);
    assert_ne!(r.is_error, Some(true), "{out}");
    assert!(out.contains("accept"), "{out}");
    assert!(out.contains("ada@example.com"), "{out}");
    assert_eq!(
        *asked.lock().expect("lock"),
        vec!["Who are you?".to_owned()]
    );

    let r = client
        .call_tool("test_sampling", json!({"prompt": "hello"}))
        .await
        .expect("test_sampling");
    assert_eq!(text(&r.content), "LLM response: echo: hello");

    let r = client
        .read_resource("test://static-text")
        .await
        .expect("resources/read");
    assert_eq!(r.contents.len(), 1);
    assert_eq!(r.contents[0].uri, "test://static-text");

    let r = client
        .get_prompt("test_simple_prompt", Vec::<(String, String)>::new())
        .await
        .expect("prompts/get");
    assert!(!r.messages.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_feature_over_stdio() {
    init_tracing();
    bounded(async {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let client = builder(asked.clone())
            .connect_stdio(Command::new(bin("conformance_server")))
            .await
            .expect("connect");
        exercise(&client, &asked).await;
        client.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_feature_over_http() {
    init_tracing();
    let mut cmd = Command::new(bin("conformance_server"));
    cmd.args(["--listen", "http://127.0.0.1:0/mcp"]);
    let (_server, url) = spawn_listening(cmd);
    bounded(async {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let client = builder(asked.clone())
            .connect_http(&url)
            .await
            .expect("connect");
        exercise(&client, &asked).await;
        client.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_era_picks_stateless_then_handshake() {
    init_tracing();
    bounded(async {
        // Rune's server speaks 2026: the probe succeeds.
        let asked = Arc::new(Mutex::new(Vec::new()));
        let client = builder(asked.clone())
            .era(EraPreference::Auto)
            .connect_stdio(Command::new(bin("conformance_server")))
            .await
            .expect("connect");
        assert_eq!(client.protocol_version(), ProtocolVersion::V2026_07_28);
        exercise(&client, &asked).await;
        client.close().await;

        // A handshake-only server answers the probe with an error: initialize.
        let client = Client::builder()
            .era(EraPreference::Auto)
            .connect_http(&scripted_legacy().await)
            .await
            .expect("connect");
        assert_eq!(client.protocol_version(), ProtocolVersion::V2025_11_25);
        let r = client.call_tool("echo", json!({})).await.expect("call");
        assert_eq!(text(&r.content), "legacy");
        client.close().await;
    })
    .await;
}

async fn respond(stream: &mut TcpStream, status: &str, body: &str) {
    let out = format!(
        "HTTP/1.1 {status}\r\nconnection: close\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(out.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn answer(id: &Value, result: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string()
}

/// A scripted 2026 server: answers discover, an elicitation round trip on `tools/call`,
/// `resources/read`; records every request.
async fn scripted_modern(log: Arc<Mutex<Vec<Seen>>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let Some(req) = read_request(&mut stream).await else {
                continue;
            };
            log.lock().expect("lock").push(req.clone());
            let id = &req.body["id"];
            let params = &req.body["params"];
            let body = match req.body["method"].as_str().unwrap_or("") {
                "server/discover" => answer(
                    id,
                    json!({"resultType": "complete", "supportedVersions": ["2026-07-28"],
                        "capabilities": {"tools": {}, "resources": {}},
                        "ttlMs": 0, "cacheScope": "private",
                        "_meta": {"io.modelcontextprotocol/serverInfo":
                            {"name": "scripted", "version": "1"}}}),
                ),
                "tools/call" if params.get("requestState").is_none() => answer(
                    id,
                    json!({"resultType": "input_required",
                        "inputRequests": {"who": {"method": "elicitation/create",
                            "params": {"message": "Name?", "requestedSchema": {"type": "object",
                                "properties": {"name": {"type": "string", "default": "x"}}}}},
                            "where": {"method": "roots/list", "params": {}}},
                        "requestState": "v1.\u{e9}\\\"state"}),
                ),
                "tools/call" => answer(
                    id,
                    json!({"resultType": "complete",
                        "content": [{"type": "text", "text": "done"}]}),
                ),
                "resources/read" => answer(
                    id,
                    json!({"resultType": "complete", "ttlMs": 0, "cacheScope": "private",
                        "contents": [{"uri": params["uri"], "text": "hi"}]}),
                ),
                // `deploy` mirrors two arguments into headers; `broken` annotates an array's
                // items, which the spec forbids, so a client must leave it out.
                "tools/list" => answer(
                    id,
                    json!({"resultType": "complete", "ttlMs": 0, "cacheScope": "private",
                        "tools": [
                        {"name": "deploy", "inputSchema": {"type": "object", "properties": {
                            "env": {"type": "string", "x-mcp-header": "Env"},
                            "opts": {"type": "object", "properties": {
                                "force": {"type": "boolean", "x-mcp-header": "Force"}}},
                            "note": {"type": "string"}}}},
                        {"name": "broken", "inputSchema": {"type": "object", "properties": {
                            "xs": {"type": "array", "items": {"type": "string",
                                "x-mcp-header": "X"}}}}},
                        {"name": "plain", "inputSchema": {"type": "object"}}]}),
                ),
                _ => {
                    respond(&mut stream, "405 Method Not Allowed", "").await;
                    continue;
                }
            };
            respond(&mut stream, "200 OK", &body).await;
        }
    });
    url
}

/// A scripted handshake-only server: rejects anything before `initialize` with a legacy 400.
async fn scripted_legacy() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let Some(req) = read_request(&mut stream).await else {
                continue;
            };
            let id = &req.body["id"];
            match req.body["method"].as_str().unwrap_or("") {
                "initialize" => {
                    let body = answer(
                        id,
                        json!({"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                            "serverInfo": {"name": "legacy", "version": "1"}}),
                    );
                    respond(&mut stream, "200 OK", &body).await;
                }
                "notifications/initialized" => respond(&mut stream, "202 Accepted", "").await,
                "tools/call" => {
                    let body = answer(id, json!({"content": [{"type": "text", "text": "legacy"}]}));
                    respond(&mut stream, "200 OK", &body).await;
                }
                _ if req.method == "GET" || req.method == "DELETE" => {
                    respond(&mut stream, "405 Method Not Allowed", "").await;
                }
                _ => {
                    let body = json!({"jsonrpc": "2.0", "id": null,
                        "error": {"code": -32600, "message": "Missing session ID"}})
                    .to_string();
                    respond(&mut stream, "400 Bad Request", &body).await;
                }
            }
        }
    });
    url
}

/// A 2026-07-28 client of the scripted server, with the roots and elicitation handlers its
/// `input_required` round needs.
async fn modern_client(b: ClientBuilder, url: &str) -> Client {
    b.protocol_version(ProtocolVersion::V2026_07_28)
        .roots(vec![])
        .on_elicitation(|_| async {
            Ok(ElicitResult {
                action: ElicitAction::Accept,
                content: None,
                meta: None,
            })
        })
        .connect_http(url)
        .await
        .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_envelope_and_http_headers() {
    init_tracing();
    bounded(async {
        let log = Arc::new(Mutex::new(Vec::new()));
        let url = scripted_modern(log.clone()).await;
        let client = modern_client(
            Client::builder().client_info("rune-client-test", "0.0.1"),
            &url,
        )
        .await;
        assert_eq!(client.server_info().name, "scripted");
        let r = client
            .call_tool("deploy", json!({"env": "prod"}))
            .await
            .expect("tools/call");
        assert_eq!(text(&r.content), "done");
        client
            .read_resource("file:///a b/é.txt")
            .await
            .expect("resources/read");
        client.close().await;

        let seen = log.lock().expect("lock").clone();
        let methods: Vec<&str> = seen
            .iter()
            .map(|s| s.body["method"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(
            methods,
            [
                "server/discover",
                "tools/call",
                "tools/call",
                "resources/read"
            ],
            "no initialize, no GET, no DELETE"
        );
        for s in &seen {
            assert_eq!(s.method, "POST");
            let method = s.body["method"].as_str().unwrap_or("");
            assert_eq!(s.headers["mcp-protocol-version"], "2026-07-28");
            assert_eq!(s.headers["mcp-method"], method);
            assert!(!s.headers.contains_key("mcp-session-id"));
            let meta = &s.body["params"]["_meta"];
            assert_eq!(meta[meta_keys::PROTOCOL_VERSION], "2026-07-28", "{method}");
            assert_eq!(
                meta[meta_keys::CLIENT_CAPABILITIES],
                json!({"roots": {}, "elicitation": {"form": {}}}),
                "{method}"
            );
            assert_eq!(
                meta[meta_keys::CLIENT_INFO],
                json!({"name": "rune-client-test", "version": "0.0.1"}),
                "{method}"
            );
        }
        assert!(!seen[0].headers.contains_key("mcp-name"));
        assert_eq!(seen[1].headers["mcp-name"], "deploy");
        assert_eq!(seen[2].headers["mcp-name"], "deploy");
        assert_eq!(
            seen[3].headers["mcp-name"],
            "=?base64?ZmlsZTovLy9hIGIvw6kudHh0?="
        );
        // The retry: a new id, the same params, the answers under the server's keys, the
        // state back unchanged.
        let (first, retry) = (&seen[1].body, &seen[2].body);
        assert_ne!(first["id"], retry["id"]);
        assert_eq!(retry["params"]["arguments"], json!({"env": "prod"}));
        assert!(first["params"].get("inputResponses").is_none());
        assert_eq!(retry["params"]["requestState"], "v1.\u{e9}\\\"state");
        assert_eq!(
            retry["params"]["inputResponses"],
            json!({"who": {"action": "accept", "content": {"name": "x"}},
                "where": {"roots": []}})
        );
    })
    .await;
}

/// `tools/list` in 2026-07-28 leaves out a tool whose `x-mcp-header` annotations break the
/// rules, and a later `tools/call` mirrors the annotated arguments into `Mcp-Param-*` headers
/// (on every round of an `input_required` exchange).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn param_headers_follow_the_listed_annotations() {
    init_tracing();
    bounded(async {
        let log = Arc::new(Mutex::new(Vec::new()));
        let url = scripted_modern(log.clone()).await;
        let client = modern_client(Client::builder(), &url).await;
        assert_eq!(tool_names(&client).await, ["deploy", "plain"]);
        let args = json!({"env": "prod ü", "opts": {"force": true}, "note": "n"});
        let r = client.call_tool("deploy", &args).await.expect("tools/call");
        assert_eq!(text(&r.content), "done");
        // An argument left out sends no header.
        client
            .call_tool("deploy", json!({"env": "dev"}))
            .await
            .expect("tools/call");
        client.close().await;

        let seen = log.lock().expect("lock").clone();
        let calls: Vec<&Seen> = seen
            .iter()
            .filter(|s| s.body["method"] == "tools/call")
            .collect();
        assert_eq!(calls.len(), 4, "two calls of two rounds each");
        for s in &calls[..2] {
            assert_eq!(s.headers["mcp-param-env"], "=?base64?cHJvZCDDvA==?=");
            assert_eq!(s.headers["mcp-param-force"], "true");
        }
        for s in &calls[2..] {
            assert_eq!(s.headers["mcp-param-env"], "dev");
            assert!(!s.headers.contains_key("mcp-param-force"));
        }
    })
    .await;
}
