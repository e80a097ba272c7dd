//! The engine, driven over an in-memory pipe by a scripted peer: lifecycle, every method,
//! errors, cancellation, progress, pagination, concurrency, malformed input, both eras.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{MODERN, Peer, envelope, text};
use rune_server::proto::model::{
    CompleteResult, Completion, ElicitRequestParams, JsonObject, LoggingLevel, PromptMessage,
    ResourceContents,
};
use rune_server::{
    HandlerError, Json, NoArgs, Options, PromptDef, RequestContext, ResourceDef, Server,
    TemplateDef, ToolDef,
};
use serde_json::{Value, json};

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct EchoArgs {
    message: String,
    #[serde(default)]
    times: Option<u32>,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct SleepArgs {
    ms: u64,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Sum {
    total: i64,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct SumArgs {
    a: i64,
    b: i64,
}

fn builder(cancelled: Arc<AtomicBool>) -> rune_server::ServerBuilder {
    Server::builder("test-server", "1.2.3")
        .tool(ToolDef::new("echo", "Echo", |a: EchoArgs, _cx: RequestContext| async move {
            Ok::<_, HandlerError>(a.message.repeat(a.times.unwrap_or(1) as usize))
        }))
        .tool(ToolDef::new("sleep", "Sleeps", move |a: SleepArgs, cx: RequestContext| {
            let cancelled = cancelled.clone();
            async move {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(a.ms)) => {}
                    _ = cx.cancelled() => { cancelled.store(true, Ordering::SeqCst); }
                }
                Ok::<_, HandlerError>(format!("slept {}", a.ms))
            }
        }))
        .tool(ToolDef::new("fail", "Fails", |_: NoArgs, _cx: RequestContext| async move {
            Err::<String, _>(HandlerError::failed("it went wrong"))
        }))
        .tool(ToolDef::new("boom", "Panics", |_: NoArgs, _cx: RequestContext| async move {
            if true {
                panic!("kaboom");
            }
            Ok::<_, HandlerError>("unreachable")
        }))
        .tool(
            ToolDef::new("sum", "Adds", |a: SumArgs, _cx: RequestContext| async move {
                Ok::<_, HandlerError>(Json(Sum { total: a.a + a.b }))
            })
            .output_schema::<Sum>(),
        )
        .tool(ToolDef::new("progress", "Progress", |_: NoArgs, cx: RequestContext| async move {
            for i in 1..=3 {
                cx.progress(i as f64, Some(3.0), Some("step"));
                cx.progress(i as f64, Some(3.0), Some("repeated value, dropped"));
                tokio::task::yield_now().await;
            }
            Ok::<_, HandlerError>("done")
        }))
        .tool(ToolDef::new("logs", "Logs", |_: NoArgs, cx: RequestContext| async move {
            cx.log(LoggingLevel::Debug, "debug line");
            cx.log(LoggingLevel::Info, "info line");
            cx.log(LoggingLevel::Error, json!({"error": "bad"}));
            Ok::<_, HandlerError>("logged")
        }))
        .tool(ToolDef::new("ask", "Elicits a name", |_: NoArgs, cx: RequestContext| async move {
            let schema: JsonObject = serde_json::from_value(json!({
                "type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]
            }))?;
            let first = cx.elicit(ElicitRequestParams::form("Your name?", schema.clone())).await?;
            let second = cx.elicit(ElicitRequestParams::form("Your friend's name?", schema)).await?;
            let name = |r: &rune_server::proto::model::ElicitResult| {
                r.content.as_ref().and_then(|c| c.get("name")).and_then(Value::as_str).unwrap_or("?").to_owned()
            };
            Ok::<_, HandlerError>(format!("hello {} and {}", name(&first), name(&second)))
        }))
        .resource(
            ResourceDef::new("mem://a", "a", |uri, _cx| async move {
                Ok::<_, HandlerError>(ResourceContents::text(uri, Some("text/plain"), "A"))
            })
            .mime_type("text/plain"),
        )
        .resource_template(TemplateDef::new("mem://items/{id}", "item", |uri, vars: BTreeMap<String, String>, _cx| async move {
            Ok::<_, HandlerError>(ResourceContents::text(uri, None, format!("item {}", vars["id"])))
        }))
        .prompt(
            PromptDef::new("greet", "Greets", |args: BTreeMap<String, String>, _cx| async move {
                Ok::<_, HandlerError>(vec![PromptMessage::user(format!("Hello {}", args["who"]))])
            })
            .argument("who", "who to greet", true),
        )
        .completion(|p, _cx| async move {
            Ok(CompleteResult {
                completion: Completion {
                    values: vec![format!("{}-done", p.argument.value)],
                    total: Some(1),
                    has_more: Some(false),
                },
                meta: None,
            })
        })
}

fn server() -> Server {
    builder(Arc::new(AtomicBool::new(false))).build()
}

async fn legacy(version: &str) -> Peer {
    let mut p = Peer::start(server());
    p.init(version, json!({"elicitation": {}})).await;
    p
}

fn call(name: &str, args: Value) -> Value {
    json!({"name": name, "arguments": args})
}

fn modern_call(name: &str, args: Value, caps: Value) -> Value {
    json!({"name": name, "arguments": args, "_meta": envelope(caps)})
}

#[tokio::test]
async fn requests_before_initialize_are_rejected_but_ping_works() {
    let mut p = Peer::start(server());
    let e = p.err(json!(1), "tools/list", json!({})).await;
    assert_eq!(e["code"], -32600);
    assert!(
        e["message"]
            .as_str()
            .expect("message")
            .contains("initialize")
    );
    assert_eq!(p.ok(json!(2), "ping", json!({})).await, json!({}));
    p.init("2025-06-18", json!({})).await;
    assert!(p.ok(json!(3), "tools/list", json!({})).await["tools"].is_array());
    let e = p.err(json!(4), "initialize", json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}})).await;
    assert_eq!(e["code"], -32600);
}

#[tokio::test]
async fn initialize_echoes_known_versions_and_offers_the_newest_otherwise() {
    for (asked, got) in [
        ("2024-11-05", "2024-11-05"),
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        ("1999-01-01", "2025-11-25"),
        ("2026-07-28", "2025-11-25"),
    ] {
        let mut p = Peer::start(server());
        let r = p.init(asked, json!({})).await;
        assert_eq!(r["protocolVersion"], got, "asked {asked}");
        assert_eq!(
            r["serverInfo"],
            json!({"name": "test-server", "version": "1.2.3"})
        );
        assert!(
            r.get("resultType").is_none(),
            "no resultType on handshake results"
        );
    }
}

#[tokio::test]
async fn capabilities_follow_what_is_registered() {
    let only_tools = Server::builder("t", "1")
        .tool(ToolDef::new(
            "echo",
            "Echo",
            |a: EchoArgs, _cx: RequestContext| async move { Ok::<_, HandlerError>(a.message) },
        ))
        .build();
    let mut p = Peer::start(only_tools);
    let r = p.init("2025-11-25", json!({})).await;
    let caps = &r["capabilities"];
    assert_eq!(caps["tools"], json!({"listChanged": true}));
    assert!(
        caps.get("prompts").is_none()
            && caps.get("resources").is_none()
            && caps.get("completions").is_none()
    );
    assert_eq!(
        p.err(json!(1), "prompts/list", json!({})).await["code"],
        -32601
    );
    assert_eq!(
        p.err(json!(2), "resources/read", json!({"uri": "x"})).await["code"],
        -32601
    );
    assert_eq!(
        p.err(json!(3), "no/such/method", json!({})).await["code"],
        -32601
    );

    let mut p = legacy("2025-11-25").await;
    let e = p.err(json!(1), "server/discover", json!({})).await;
    assert_eq!(
        e["code"], -32601,
        "server/discover is not a handshake method"
    );
}

#[tokio::test]
async fn tools_list_paginates_with_opaque_cursors() {
    let s = builder(Arc::new(AtomicBool::new(false)))
        .options(Options {
            page_size: 3,
            ..Options::default()
        })
        .build();
    let mut p = Peer::start(s);
    p.init("2025-11-25", json!({})).await;
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    for i in 0..10 {
        let params = match &cursor {
            Some(c) => json!({"cursor": c}),
            None => json!({}),
        };
        let r = p.ok(json!(i), "tools/list", params).await;
        let page = r["tools"].as_array().expect("tools");
        assert!(page.len() <= 3);
        names.extend(
            page.iter()
                .map(|t| t["name"].as_str().expect("name").to_owned()),
        );
        match r.get("nextCursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        names,
        [
            "echo", "sleep", "fail", "boom", "sum", "progress", "logs", "ask"
        ]
    );
    let e = p
        .err(json!(99), "tools/list", json!({"cursor": "not-a-cursor"}))
        .await;
    assert_eq!(e["code"], -32602);
}

#[tokio::test]
async fn tool_schemas_are_derived_from_the_argument_types() {
    let mut p = legacy("2025-11-25").await;
    let tools = p.ok(json!(1), "tools/list", json!({})).await;
    let echo = tools["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["name"] == "echo")
        .expect("echo");
    let schema = &echo["inputSchema"];
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["required"], json!(["message"]));
    assert_eq!(schema["properties"]["message"]["type"], "string");
    assert!(
        schema.get("$schema").is_none(),
        "no $schema key (Gemini CLI rejects it)"
    );
    let sum = tools["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["name"] == "sum")
        .expect("sum");
    assert_eq!(
        sum["outputSchema"]["properties"]["total"]["type"],
        "integer"
    );
    // No schemars-only number formats (`int64`, `uint32`, `double`…): clients warn about them.
    let all = tools.to_string();
    for f in [
        "\"int64\"",
        "\"uint64\"",
        "\"uint32\"",
        "\"int32\"",
        "\"uint\"",
        "\"double\"",
    ] {
        assert!(!all.contains(&format!("\"format\":{f}")), "{f} in {all}");
    }
}

#[tokio::test]
async fn invalid_arguments_are_a_tool_error_naming_the_field() {
    let mut p = legacy("2025-11-25").await;
    let r = p
        .ok(json!(1), "tools/call", call("echo", json!({"message": 5})))
        .await;
    assert_eq!(r["isError"], true);
    let t = text(&r);
    assert!(t.contains("/message") && t.contains("string"), "{t}");
    let r = p.ok(json!(2), "tools/call", call("echo", json!({}))).await;
    assert_eq!(r["isError"], true);
    assert!(text(&r).contains("message"), "{}", text(&r));
    let r = p
        .ok(
            json!(3),
            "tools/call",
            call("echo", json!({"message": "ok", "times": 2})),
        )
        .await;
    assert_eq!(text(&r), "okok");
    assert!(r.get("isError").is_none());
    // Arguments that are not an object at all.
    let r = p
        .ok(json!(4), "tools/call", call("echo", json!([1, 2])))
        .await;
    assert_eq!(r["isError"], true);
}

#[tokio::test]
async fn unknown_tools_errors_and_panics() {
    let mut p = legacy("2025-11-25").await;
    let e = p.err(json!(1), "tools/call", call("nope", json!({}))).await;
    assert_eq!(e["code"], -32602);
    assert!(e["message"].as_str().expect("msg").contains("nope"));
    let r = p.ok(json!(2), "tools/call", call("fail", json!({}))).await;
    assert_eq!(
        (r["isError"].clone(), text(&r)),
        (json!(true), "it went wrong")
    );
    let r = p.ok(json!(3), "tools/call", call("boom", json!({}))).await;
    assert_eq!(r["isError"], true);
    assert!(text(&r).contains("kaboom"));
    // The server is still there.
    assert_eq!(p.ok(json!(4), "ping", json!({})).await, json!({}));
}

#[tokio::test]
async fn structured_content_depends_on_the_revision() {
    let mut p = legacy("2025-06-18").await;
    let r = p
        .ok(json!(1), "tools/call", call("sum", json!({"a": 2, "b": 3})))
        .await;
    assert_eq!(r["structuredContent"], json!({"total": 5}));
    assert_eq!(text(&r), r#"{"total":5}"#);
    let mut p = legacy("2024-11-05").await;
    let r = p
        .ok(json!(1), "tools/call", call("sum", json!({"a": 2, "b": 3})))
        .await;
    assert!(
        r.get("structuredContent").is_none(),
        "2024-11-05 has no structuredContent: {r}"
    );
    assert_eq!(text(&r), r#"{"total":5}"#);
}

#[tokio::test]
async fn resources_templates_and_not_found_codes() {
    let mut p = legacy("2025-11-25").await;
    let r = p.ok(json!(1), "resources/list", json!({})).await;
    assert_eq!(r["resources"][0]["uri"], "mem://a");
    let r = p.ok(json!(2), "resources/templates/list", json!({})).await;
    assert_eq!(r["resourceTemplates"][0]["uriTemplate"], "mem://items/{id}");
    let r = p
        .ok(json!(3), "resources/read", json!({"uri": "mem://a"}))
        .await;
    assert_eq!(
        r["contents"][0],
        json!({"uri": "mem://a", "mimeType": "text/plain", "text": "A"})
    );
    let r = p
        .ok(json!(4), "resources/read", json!({"uri": "mem://items/42"}))
        .await;
    assert_eq!(r["contents"][0]["text"], "item 42");
    let e = p
        .err(json!(5), "resources/read", json!({"uri": "mem://zzz"}))
        .await;
    assert_eq!(e["code"], -32002);
    let e = p.err(json!(6), "resources/read", json!({})).await;
    assert_eq!(e["code"], -32602, "missing uri is invalid params");

    let mut p = Peer::start(server());
    let e = p
        .err(
            json!(1),
            "resources/read",
            json!({"uri": "mem://zzz", "_meta": envelope(json!({}))}),
        )
        .await;
    assert_eq!(
        e["code"], -32602,
        "2026 uses -32602 for an unknown resource"
    );
}

#[tokio::test]
async fn subscriptions_deliver_updates_until_unsubscribed() {
    let s = server();
    let mut p = Peer::start(s.clone());
    p.init("2025-11-25", json!({})).await;
    assert_eq!(
        p.ok(json!(1), "resources/subscribe", json!({"uri": "mem://a"}))
            .await,
        json!({})
    );
    s.notify_resource_updated("mem://a");
    s.notify_resource_updated("mem://other");
    let n = p
        .wait_for(|m| m["method"] == "notifications/resources/updated")
        .await;
    assert_eq!(n["params"]["uri"], "mem://a");
    assert_eq!(
        p.ok(json!(2), "resources/unsubscribe", json!({"uri": "mem://a"}))
            .await,
        json!({})
    );
    s.notify_resource_updated("mem://a");
    assert_eq!(p.ok(json!(3), "ping", json!({})).await, json!({}));
    assert!(p.take_backlog().is_empty(), "no update after unsubscribe");
}

#[tokio::test]
async fn prompts_and_completion() {
    let mut p = legacy("2025-11-25").await;
    let r = p.ok(json!(1), "prompts/list", json!({})).await;
    assert_eq!(
        r["prompts"][0]["arguments"][0],
        json!({"name": "who", "description": "who to greet", "required": true})
    );
    let r = p
        .ok(
            json!(2),
            "prompts/get",
            json!({"name": "greet", "arguments": {"who": "Ada"}}),
        )
        .await;
    assert_eq!(
        r["messages"][0],
        json!({"role": "user", "content": {"type": "text", "text": "Hello Ada"}})
    );
    let e = p
        .err(json!(3), "prompts/get", json!({"name": "greet"}))
        .await;
    assert_eq!(e["code"], -32602);
    assert!(e["message"].as_str().expect("msg").contains("who"));
    let e = p
        .err(json!(4), "prompts/get", json!({"name": "nope"}))
        .await;
    assert_eq!(e["code"], -32602);
    let r = p
        .ok(json!(5), "completion/complete", json!({"ref": {"type": "ref/prompt", "name": "greet"}, "argument": {"name": "who", "value": "A"}}))
        .await;
    assert_eq!(r["completion"]["values"], json!(["A-done"]));
}

#[tokio::test]
async fn log_level_filters_messages() {
    let mut p = legacy("2025-11-25").await;
    p.ok(json!(1), "tools/call", call("logs", json!({}))).await;
    let levels: Vec<Value> = p
        .take_backlog()
        .iter()
        .map(|m| m["params"]["level"].clone())
        .collect();
    assert_eq!(
        levels,
        [json!("debug"), json!("info"), json!("error")],
        "no setLevel: everything"
    );
    assert_eq!(
        p.ok(json!(2), "logging/setLevel", json!({"level": "warning"}))
            .await,
        json!({})
    );
    p.ok(json!(3), "tools/call", call("logs", json!({}))).await;
    let msgs = p.take_backlog();
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_eq!(
        msgs[0]["params"],
        json!({"level": "error", "data": {"error": "bad"}})
    );
    let e = p
        .err(json!(4), "logging/setLevel", json!({"level": "loud"}))
        .await;
    assert_eq!(e["code"], -32602);
}

#[tokio::test]
async fn progress_arrives_before_the_response_and_only_increases() {
    let mut p = legacy("2025-11-25").await;
    p.send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "progress", "_meta": {"progressToken": "tok"}}})).await;
    let mut seen = Vec::new();
    loop {
        let m = p.read().await.expect("message");
        if m["method"] == "notifications/progress" {
            assert_eq!(m["params"]["progressToken"], "tok");
            seen.push(m["params"]["progress"].as_f64().expect("number"));
        } else {
            assert_eq!(m["id"], 1);
            break;
        }
    }
    assert_eq!(seen, [1.0, 2.0, 3.0]);
    // Without a token, no progress at all.
    p.ok(json!(2), "tools/call", call("progress", json!({})))
        .await;
    assert!(p.take_backlog().is_empty());
}

#[tokio::test]
async fn cancellation_drops_the_handler_and_sends_nothing() {
    let flag = Arc::new(AtomicBool::new(false));
    let mut p = Peer::start(builder(flag.clone()).build());
    p.init("2025-11-25", json!({})).await;
    p.send(json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": call("sleep", json!({"ms": 5000}))})).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    p.send(json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7, "reason": "user"}})).await;
    assert_eq!(p.ok(json!(8), "ping", json!({})).await, json!({}));
    p.quiet(300).await;
    assert!(
        p.take_backlog().is_empty(),
        "no response for a cancelled request"
    );
    // The id is free again.
    let r = p
        .ok(json!(7), "tools/call", call("sleep", json!({"ms": 1})))
        .await;
    assert_eq!(text(&r), "slept 1");
    let _ = flag.load(Ordering::SeqCst);
}

#[tokio::test]
async fn a_slow_tool_never_blocks_ping_or_other_calls() {
    let mut p = legacy("2025-11-25").await;
    p.send(json!({"jsonrpc": "2.0", "id": "slow", "method": "tools/call", "params": call("sleep", json!({"ms": 1500}))})).await;
    let started = std::time::Instant::now();
    assert_eq!(p.ok(json!("p"), "ping", json!({})).await, json!({}));
    let r = p
        .ok(
            json!("e"),
            "tools/call",
            call("echo", json!({"message": "fast"})),
        )
        .await;
    assert_eq!(text(&r), "fast");
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "answered while the slow call runs"
    );
    let r = p.response(json!("slow")).await;
    assert_eq!(text(&r["result"]), "slept 1500");
}

#[tokio::test]
async fn in_flight_limit_applies_back_pressure() {
    let s = builder(Arc::new(AtomicBool::new(false)))
        .options(Options {
            max_in_flight: 1,
            ..Options::default()
        })
        .build();
    let mut p = Peer::start(s);
    p.init("2025-11-25", json!({})).await;
    p.send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call("sleep", json!({"ms": 300}))})).await;
    p.send(json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}))
        .await;
    // With one request allowed in flight, the ping is not read until the sleep is done.
    let first = p.read().await.expect("a response");
    assert_eq!(first["id"], 1, "the slow call finishes first: {first}");
    let second = p.read().await.expect("a response");
    assert_eq!(second["id"], 2);
}

#[tokio::test]
async fn malformed_input_gets_errors_and_the_server_keeps_serving() {
    let mut p = legacy("2025-11-25").await;
    p.send_raw("this is not json").await;
    let m = p.read().await.expect("an error");
    assert_eq!(
        (m["id"].clone(), m["error"]["code"].clone()),
        (Value::Null, json!(-32700))
    );
    p.send_raw(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":"oops"}"#)
        .await;
    let m = p.read().await.expect("an error");
    assert_eq!(
        (m["id"].clone(), m["error"]["code"].clone()),
        (json!(5), json!(-32600))
    );
    p.send_raw(r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#)
        .await;
    assert_eq!(p.read().await.expect("error")["error"]["code"], -32600);
    p.send_raw(r#"{"id":9,"method":"ping"}"#).await;
    assert_eq!(
        p.read().await.expect("error")["error"]["code"],
        -32600,
        "jsonrpc field required"
    );
    p.send_raw("{\"jsonrpc\":\"2.0\",\"id\":\"\u{e9}t\u{e9}\",\"method\":\"ping\"}\r")
        .await;
    assert_eq!(
        p.read().await.expect("ok")["id"],
        "\u{e9}t\u{e9}",
        "string ids echoed, CRLF accepted"
    );
    p.send_raw("").await;
    p.send_raw("   ").await;
    let m = p.call(json!("1"), "ping", json!({})).await;
    assert_eq!(m["id"], json!("1"), "a string id stays a string");
    let m = p.call(json!(1), "tools/call", json!({})).await;
    assert_eq!(m["error"]["code"], -32602, "missing name");
}

#[tokio::test]
async fn duplicate_in_flight_ids_are_refused() {
    let mut p = legacy("2025-11-25").await;
    p.send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call("sleep", json!({"ms": 300}))})).await;
    p.send(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .await;
    let m = p.read().await.expect("error");
    assert_eq!(
        (m["id"].clone(), m["error"]["code"].clone()),
        (json!(1), json!(-32600))
    );
    assert_eq!(text(&p.response(json!(1)).await["result"]), "slept 300");
}

#[tokio::test]
async fn batches_only_in_2025_03_26() {
    let mut p = legacy("2025-03-26").await;
    p.send(json!([
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": call("echo", json!({"message": "b"}))},
        {"jsonrpc": "2.0", "id": 3, "method": "nope"}
    ]))
    .await;
    let m = p.read().await.expect("batch response");
    let arr = m.as_array().expect("an array");
    assert_eq!(arr.len(), 3, "{m}");
    let by_id = |id: i64| arr.iter().find(|r| r["id"] == id).expect("present").clone();
    assert_eq!(by_id(1)["result"], json!({}));
    assert_eq!(text(&by_id(2)["result"]), "b");
    assert_eq!(by_id(3)["error"]["code"], -32601);

    let mut p = legacy("2025-06-18").await;
    p.send(json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]))
        .await;
    let m = p.read().await.expect("error");
    assert_eq!(m["error"]["code"], -32600);
    assert!(
        m["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("2025-03-26")
    );
}

#[tokio::test]
async fn modern_requests_are_stateless_and_dressed() {
    let mut p = Peer::start(server());
    let d = p
        .ok(
            json!(1),
            "server/discover",
            json!({"_meta": envelope(json!({}))}),
        )
        .await;
    assert_eq!(d["resultType"], "complete");
    assert_eq!(d["supportedVersions"][0], MODERN);
    assert_eq!(
        d["supportedVersions"],
        json!([MODERN]),
        "a stream locked to 2026 serves only 2026"
    );
    assert_eq!(d["ttlMs"], 0);
    assert_eq!(d["cacheScope"], "private");
    assert_eq!(
        d["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "test-server"
    );
    assert!(d.get("serverInfo").is_none());
    let r = p
        .ok(
            json!(2),
            "tools/call",
            modern_call("echo", json!({"message": "m"}), json!({})),
        )
        .await;
    assert_eq!(
        (text(&r), r["resultType"].clone()),
        ("m", json!("complete"))
    );
    assert!(r.get("ttlMs").is_none(), "tools/call is not cacheable");
    let l = p
        .ok(
            json!(3),
            "tools/list",
            json!({"_meta": envelope(json!({}))}),
        )
        .await;
    assert_eq!(l["cacheScope"], "private");
    // The envelope is checked on every request.
    let e = p.err(json!(4), "tools/list", json!({})).await;
    assert_eq!(e["code"], -32602);
    let e = p
        .err(
            json!(5),
            "tools/list",
            json!({"_meta": {"io.modelcontextprotocol/protocolVersion": MODERN}}),
        )
        .await;
    assert_eq!(e["code"], -32602, "clientCapabilities is required");
    let e = p
        .err(json!(51), "tools/list", json!({"_meta": {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": "all"}}))
        .await;
    assert_eq!(e["code"], -32602, "clientCapabilities must be an object");
    let e = p
        .err(json!(6), "tools/list", json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2099-01-01", "io.modelcontextprotocol/clientCapabilities": {}}}))
        .await;
    assert_eq!(e["code"], -32022);
    assert_eq!(e["data"]["requested"], "2099-01-01");
    assert!(
        e["data"]["supported"]
            .as_array()
            .expect("list")
            .contains(&json!(MODERN))
    );
    // Handshake-only methods do not exist here; initialize says which versions to use.
    assert_eq!(
        p.err(json!(7), "ping", json!({"_meta": envelope(json!({}))}))
            .await["code"],
        -32601
    );
    let e = p.err(json!(8), "initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}})).await;
    assert_eq!(e["code"], -32022);
    let mut meta = envelope(json!({}));
    meta["io.modelcontextprotocol/logLevel"] = json!("loud");
    assert_eq!(
        p.err(json!(9), "tools/list", json!({"_meta": meta})).await["code"],
        -32602
    );
}

#[tokio::test]
async fn a_handshake_connection_refuses_modern_requests() {
    let mut p = legacy("2025-11-25").await;
    let e = p
        .err(
            json!(1),
            "tools/list",
            json!({"_meta": envelope(json!({}))}),
        )
        .await;
    assert_eq!(e["code"], -32600);
}

#[tokio::test]
async fn modern_logging_is_opt_in_per_request() {
    let mut p = Peer::start(server());
    p.ok(
        json!(1),
        "tools/call",
        modern_call("logs", json!({}), json!({})),
    )
    .await;
    assert!(p.take_backlog().is_empty(), "no logLevel, no messages");
    let mut meta = envelope(json!({}));
    meta["io.modelcontextprotocol/logLevel"] = json!("info");
    p.ok(
        json!(2),
        "tools/call",
        json!({"name": "logs", "_meta": meta}),
    )
    .await;
    let levels: Vec<Value> = p
        .take_backlog()
        .iter()
        .map(|m| m["params"]["level"].clone())
        .collect();
    assert_eq!(levels, [json!("info"), json!("error")]);
}

#[tokio::test]
async fn mrtr_round_trips_collect_every_answer() {
    let mut p = Peer::start(server());
    let caps = json!({"elicitation": {"form": {}}});
    let r = p
        .ok(
            json!(1),
            "tools/call",
            modern_call("ask", json!({}), caps.clone()),
        )
        .await;
    assert_eq!(r["resultType"], "input_required");
    assert!(r.get("ttlMs").is_none());
    let req = &r["inputRequests"]["r0"];
    assert_eq!(req["method"], "elicitation/create");
    assert_eq!(req["params"]["message"], "Your name?");
    let state = r["requestState"].as_str().expect("state").to_owned();

    // Round 2: answer the first question.
    let mut params = modern_call("ask", json!({}), caps.clone());
    params["inputResponses"] = json!({"r0": {"action": "accept", "content": {"name": "Ada"}}});
    params["requestState"] = json!(state);
    let r = p.ok(json!(2), "tools/call", params).await;
    assert_eq!(r["resultType"], "input_required");
    assert_eq!(
        r["inputRequests"]["r1"]["params"]["message"],
        "Your friend's name?"
    );
    let state2 = r["requestState"].as_str().expect("state").to_owned();

    // Round 3: the server kept nothing; the first answer travels in requestState.
    let mut params = modern_call("ask", json!({}), caps.clone());
    params["inputResponses"] = json!({"r1": {"action": "accept", "content": {"name": "Bob"}}});
    params["requestState"] = json!(state2.clone());
    let r = p.ok(json!(3), "tools/call", params).await;
    assert_eq!(
        (r["resultType"].clone(), text(&r)),
        (json!("complete"), "hello Ada and Bob")
    );

    // A forged state, or one replayed on other arguments, is refused.
    let mut params = modern_call("ask", json!({}), caps.clone());
    params["requestState"] = json!(format!("{state2}x"));
    assert_eq!(p.err(json!(4), "tools/call", params).await["code"], -32602);
    let mut params = modern_call("echo", json!({"message": "x"}), caps.clone());
    params["requestState"] = json!(state2);
    assert_eq!(p.err(json!(5), "tools/call", params).await["code"], -32602);

    // Without the capability: -32021 naming what is missing.
    let e = p
        .err(
            json!(6),
            "tools/call",
            modern_call("ask", json!({}), json!({})),
        )
        .await;
    assert_eq!(e["code"], -32021);
    assert_eq!(
        e["data"]["requiredCapabilities"],
        json!({"elicitation": {"form": {}}})
    );
}

#[tokio::test]
async fn handshake_elicitation_is_a_real_request_to_the_client() {
    let mut p = legacy("2025-11-25").await;
    p.send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call("ask", json!({}))})).await;
    for name in ["Ada", "Bob"] {
        let req = p.wait_for(|m| m["method"] == "elicitation/create").await;
        assert!(req["id"].is_number());
        p.send(json!({"jsonrpc": "2.0", "id": req["id"].clone(), "result": {"action": "accept", "content": {"name": name}}})).await;
    }
    assert_eq!(
        text(&p.response(json!(1)).await["result"]),
        "hello Ada and Bob"
    );

    // A client without the capability: a tool error (-32021 exists only in 2026).
    let mut p = Peer::start(server());
    p.init("2025-11-25", json!({})).await;
    let r = p.ok(json!(1), "tools/call", call("ask", json!({}))).await;
    assert_eq!(r["isError"], true);
    assert!(text(&r).contains("elicitation"), "{r}");
    // A client that answers with an error.
    let mut p = legacy("2025-11-25").await;
    p.send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call("ask", json!({}))})).await;
    let req = p.wait_for(|m| m["method"] == "elicitation/create").await;
    p.send(json!({"jsonrpc": "2.0", "id": req["id"].clone(), "error": {"code": -1, "message": "user closed"}})).await;
    assert_eq!(
        p.response(json!(1)).await["error"]["message"],
        "user closed"
    );
}

#[tokio::test]
async fn list_changes_reach_handshake_clients_and_modern_listeners() {
    let s = server();
    let mut legacy_peer = Peer::start(s.clone());
    legacy_peer.init("2025-11-25", json!({})).await;
    let mut modern_peer = Peer::start(s.clone());
    modern_peer
        .send(json!({"jsonrpc": "2.0", "id": "sub", "method": "subscriptions/listen", "params": {
            "_meta": envelope(json!({})),
            "notifications": {"toolsListChanged": true, "resourceSubscriptions": ["mem://a"], "unknownKey": true}
        }}))
        .await;
    let ack = modern_peer.read().await.expect("ack");
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(
        ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        "sub"
    );
    assert_eq!(
        ack["params"]["notifications"],
        json!({"toolsListChanged": true, "resourceSubscriptions": ["mem://a"]})
    );

    s.add_tool(ToolDef::new(
        "late",
        "Added at run time",
        |_: NoArgs, _cx: RequestContext| async move { Ok::<_, HandlerError>("late") },
    ));
    let n = legacy_peer
        .wait_for(|m| m["method"] == "notifications/tools/list_changed")
        .await;
    assert!(n["params"].get("_meta").is_none());
    let n = modern_peer.read().await.expect("list_changed");
    assert_eq!(n["method"], "notifications/tools/list_changed");
    assert_eq!(
        n["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        "sub"
    );
    s.notify_resource_updated("mem://a");
    let n = modern_peer.read().await.expect("updated");
    assert_eq!(
        (n["method"].clone(), n["params"]["uri"].clone()),
        (json!("notifications/resources/updated"), json!("mem://a"))
    );
    let r = legacy_peer
        .ok(json!(1), "tools/call", call("late", json!({})))
        .await;
    assert_eq!(text(&r), "late");
    assert!(s.remove_tool("late"));
    let n = modern_peer
        .read()
        .await
        .expect("list_changed after the removal");
    assert_eq!(n["method"], "notifications/tools/list_changed");

    // Cancelling the listen request ends the stream without a response.
    modern_peer.send(json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "sub"}})).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    s.add_tool(ToolDef::new(
        "later",
        "x",
        |_: NoArgs, _cx: RequestContext| async move { Ok::<_, HandlerError>("x") },
    ));
    modern_peer.quiet(200).await;
}

#[tokio::test]
async fn eof_finishes_in_flight_work_then_ends_cleanly() {
    let mut p = legacy("2025-11-25").await;
    p.send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call("sleep", json!({"ms": 200}))})).await;
    p.close().await;
    let r = p.response(json!(1)).await;
    assert_eq!(text(&r["result"]), "slept 200");
    assert!(
        p.read().await.is_none(),
        "output closed after the last answer"
    );
    let ended = tokio::time::timeout(Duration::from_secs(5), &mut p.handle)
        .await
        .expect("serve returned");
    ended.expect("no panic").expect("clean end");
}

#[tokio::test]
async fn large_messages_work_and_oversized_ones_are_skipped() {
    let s = builder(Arc::new(AtomicBool::new(false)))
        .options(Options {
            max_message_bytes: 60 << 20,
            ..Options::default()
        })
        .build();
    let mut p = Peer::start(s);
    p.init("2025-11-25", json!({})).await;
    let big = "x".repeat(50 << 20);
    let r = p
        .ok(
            json!(1),
            "tools/call",
            call("echo", json!({"message": big})),
        )
        .await;
    assert_eq!(text(&r).len(), 50 << 20);

    let small = builder(Arc::new(AtomicBool::new(false)))
        .options(Options {
            max_message_bytes: 1 << 20,
            ..Options::default()
        })
        .build();
    let mut p = Peer::start(small);
    p.init("2025-11-25", json!({})).await;
    p.send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call("echo", json!({"message": "y".repeat(3 << 20)}))})).await;
    let m = p.read().await.expect("error");
    assert_eq!(m["error"]["code"], -32700);
    assert!(
        m["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("limit")
    );
    assert_eq!(
        p.ok(json!(2), "ping", json!({})).await,
        json!({}),
        "next message served"
    );
}

// Regressions found in review.

fn limited(max_in_flight: usize) -> Server {
    builder(Arc::new(AtomicBool::new(false)))
        .options(Options {
            max_in_flight,
            ..Options::default()
        })
        .build()
}

#[tokio::test]
async fn at_the_in_flight_limit_answers_and_cancellations_still_get_through() {
    let mut p = Peer::start(limited(1));
    p.init("2025-11-25", json!({"elicitation": {}})).await;
    // The only slot waits for the client's answer: reading it must not be held back.
    p.send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call("ask", json!({}))})).await;
    p.send(json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}))
        .await;
    for name in ["Ada", "Bob"] {
        let req = p.wait_for(|m| m["method"] == "elicitation/create").await;
        p.send(json!({"jsonrpc": "2.0", "id": req["id"].clone(), "result": {"action": "accept", "content": {"name": name}}})).await;
    }
    assert_eq!(
        text(&p.response(json!(1)).await["result"]),
        "hello Ada and Bob"
    );
    assert_eq!(
        p.response(json!(2)).await["result"],
        json!({}),
        "the held-back ping is served after"
    );

    // A cancellation is read while the slot is taken.
    p.send(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": call("sleep", json!({"ms": 3000}))})).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    p.send(
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}}),
    )
    .await;
    let started = std::time::Instant::now();
    assert_eq!(p.ok(json!(4), "ping", json!({})).await, json!({}));
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "the cancel freed the slot"
    );
}

#[tokio::test]
async fn listen_streams_do_not_take_an_in_flight_slot() {
    let mut p = Peer::start(limited(1));
    p.send(json!({"jsonrpc": "2.0", "id": "sub", "method": "subscriptions/listen", "params": {"_meta": envelope(json!({})), "notifications": {"toolsListChanged": true}}})).await;
    let r = p
        .ok(
            json!(1),
            "tools/list",
            json!({"_meta": envelope(json!({}))}),
        )
        .await;
    assert!(r["tools"].is_array());
}

#[tokio::test]
async fn a_cancel_in_the_same_read_as_its_request_still_cleans_up() {
    let s = builder(Arc::new(AtomicBool::new(false))).build();
    let mut p = Peer::start(s.clone());
    let listen = json!({"jsonrpc": "2.0", "id": "sub", "method": "subscriptions/listen", "params": {"_meta": envelope(json!({})), "notifications": {"toolsListChanged": true}}});
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "sub"}});
    p.send_raw(&format!("{listen}\n{cancel}")).await;
    let ack = p.read().await.expect("ack");
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    p.ok(
        json!(1),
        "tools/list",
        json!({"_meta": envelope(json!({}))}),
    )
    .await;
    s.add_tool(ToolDef::new(
        "late",
        "x",
        |_: NoArgs, _cx: RequestContext| async move { Ok::<_, HandlerError>("x") },
    ));
    p.quiet(200).await;
}

#[tokio::test]
async fn a_reused_id_keeps_its_own_cancellation() {
    let mut p = legacy("2025-11-25").await;
    let call7 = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": call("sleep", json!({"ms": 400}))});
    let cancel7 =
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7}});
    p.send(call7.clone()).await;
    p.send(cancel7.clone()).await;
    p.send(call7).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    p.send(cancel7).await;
    p.quiet(700).await; // neither call answers
    assert_eq!(p.ok(json!(8), "ping", json!({})).await, json!({}));
}

#[tokio::test]
async fn malformed_responses_from_the_client_are_not_answered() {
    let mut p = legacy("2025-11-25").await;
    p.send_raw(r#"{"jsonrpc":"2.0","id":3,"error":"boom"}"#)
        .await;
    p.send_raw(r#"{"jsonrpc":"2.0","id":4,"result":{},"error":{"code":1,"message":"x"}}"#)
        .await;
    p.quiet(200).await;
}

#[tokio::test]
async fn batches_larger_than_the_in_flight_limit_are_refused() {
    let mut p = Peer::start(limited(2));
    p.init("2025-03-26", json!({})).await;
    let ping = |i: i64| json!({"jsonrpc": "2.0", "id": i, "method": "ping"});
    p.send(json!([ping(1), ping(2), ping(3)])).await;
    let m = p.read().await.expect("error");
    assert_eq!(m["error"]["code"], -32600);
    p.send(json!([ping(1), ping(2)])).await;
    assert_eq!(
        p.read().await.expect("batch").as_array().map(Vec::len),
        Some(2)
    );
}

#[tokio::test]
async fn mrtr_reads_only_the_answer_it_asked_for() {
    let mut p = Peer::start(server());
    let caps = json!({"elicitation": {"form": {}}});
    let r = p
        .ok(
            json!(1),
            "tools/call",
            modern_call("ask", json!({}), caps.clone()),
        )
        .await;
    let state = r["requestState"].clone();
    // Answering r0 and pre-answering r1 (not asked yet): r1 is ignored and asked for properly.
    let mut params = modern_call("ask", json!({}), caps.clone());
    params["inputResponses"] = json!({
        "r0": {"action": "accept", "content": {"name": "Ada"}},
        "r1": {"action": "accept", "content": {"name": "Mallory"}}
    });
    params["requestState"] = state;
    let r = p.ok(json!(2), "tools/call", params).await;
    assert_eq!(r["resultType"], "input_required", "{r}");
    assert_eq!(
        r["inputRequests"]["r1"]["params"]["message"],
        "Your friend's name?"
    );
    // inputResponses without any requestState: nothing was asked, nothing is read.
    let mut params = modern_call("ask", json!({}), caps.clone());
    params["inputResponses"] = json!({"r0": {"action": "accept", "content": {"name": "Eve"}}});
    let r = p.ok(json!(3), "tools/call", params).await;
    assert_eq!(r["inputRequests"]["r0"]["params"]["message"], "Your name?");
}

#[tokio::test]
async fn mrtr_state_survives_reordered_argument_keys() {
    let s = Server::builder("t", "1")
        .tool(ToolDef::raw(
            "confirm",
            "Asks",
            serde_json::from_value(json!({"type": "object"})).expect("schema"),
            |args: Value, cx: RequestContext| async move {
                let schema: JsonObject =
                    serde_json::from_value(json!({"type": "object", "properties": {}}))?;
                let r = cx
                    .elicit(ElicitRequestParams::form("Sure?", schema))
                    .await?;
                Ok::<_, HandlerError>(format!("{:?} {}", r.action, args))
            },
        ))
        .build();
    let mut p = Peer::start(s);
    let caps = json!({"elicitation": {}});
    let mut params = json!({"name": "confirm", "_meta": envelope(caps.clone())});
    params["arguments"] = serde_json::from_str(r#"{"a":1,"b":2}"#).expect("json");
    let r = p.ok(json!(1), "tools/call", params).await;
    let mut retry = json!({"name": "confirm", "_meta": envelope(caps)});
    // The same arguments, keys in another order, as a client may re-serialize them.
    p.send_raw(&format!(
        r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"confirm","arguments":{{"b":2,"a":1}},"inputResponses":{{"r0":{{"action":"accept"}}}},"requestState":{},"_meta":{}}}}}"#,
        r["requestState"], retry["_meta"].take()
    ))
    .await;
    let r = p.response(json!(2)).await;
    assert_eq!(r["result"]["resultType"], "complete", "{r}");
    assert!(text(&r["result"]).starts_with("Accept"));
}

#[tokio::test]
async fn handlers_see_client_info_and_capabilities_in_both_eras() {
    let who = || {
        Server::builder("t", "1")
            .tool(ToolDef::new(
                "who",
                "Who is asking",
                |_: NoArgs, cx: RequestContext| async move {
                    let name = cx.client_info().map(|i| i.name.clone()).unwrap_or_default();
                    let form = cx.client_capabilities().elicitation_form();
                    Ok::<_, HandlerError>(format!("{name} {form} {}", cx.protocol_version()))
                },
            ))
            .build()
    };
    let mut p = Peer::start(who());
    p.init("2025-06-18", json!({"elicitation": {}})).await;
    let r = p.ok(json!(1), "tools/call", call("who", json!({}))).await;
    assert_eq!(text(&r), "test true 2025-06-18");
    let mut p = Peer::start(who());
    let r = p
        .ok(
            json!(1),
            "tools/call",
            modern_call("who", json!({}), json!({"elicitation": {"form": {}}})),
        )
        .await;
    assert_eq!(text(&r), "test true 2026-07-28");
    let r = p
        .ok(
            json!(2),
            "tools/call",
            modern_call("who", json!({}), json!({})),
        )
        .await;
    assert_eq!(
        text(&r),
        "test false 2026-07-28",
        "capabilities are per request"
    );
}

/// Progress reported from many threads at once still leaves in increasing order: the check
/// and the write are one step.
#[tokio::test]
async fn progress_from_many_threads_stays_in_order() {
    let tool = ToolDef::new(
        "threads",
        "reports from 8 threads",
        |_: rune_server::NoArgs, cx: RequestContext| async move {
            let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let cx = cx.clone();
                    let counter = counter.clone();
                    std::thread::spawn(move || {
                        for _ in 0..500 {
                            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                            cx.progress(n as f64, None, None);
                        }
                    })
                })
                .collect();
            for h in handles {
                let _ = h.join();
            }
            Ok::<_, HandlerError>("done")
        },
    );
    let mut p = Peer::start(Server::builder("t", "1").tool(tool).build());
    p.init("2025-11-25", json!({})).await;
    p.send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "threads", "_meta": {"progressToken": 1}}})).await;
    let mut seen = Vec::new();
    loop {
        let m = p.read().await.expect("message");
        if m["method"] == "notifications/progress" {
            seen.push(m["params"]["progress"].as_f64().expect("number"));
        } else {
            assert_eq!(m["id"], 1);
            break;
        }
    }
    assert!(!seen.is_empty());
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "out of order: {seen:?}"
    );
}
