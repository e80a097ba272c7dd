//! The client against the official reference servers from npm (software we did not write):
//! `@modelcontextprotocol/server-everything` (every tool, resource, template, prompt and
//! completion; its sampling, elicitation and roots requests answered by test handlers;
//! progress, log and resource-update notifications; also over its legacy HTTP+SSE and
//! Streamable HTTP transports) and `@modelcontextprotocol/server-filesystem` (list, read,
//! write, edit, search). They are installed, pinned, by `scripts/install-reference-servers.sh`;
//! when that script cannot run (no node or no registry), these tests say so and pass without
//! running.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{
    ChildGuard, bounded, free_port, init_tracing, reference_servers, tool_names, wait_for_port,
};
use rune_client::model::{
    CallToolParams, CallToolResult, CompletionArgument, CompletionContext, CompletionReference,
    Content, CreateMessageResult, ElicitAction, ElicitResult, LoggingLevel, Role, Root,
};
use rune_client::{CallOptions, Client, ClientBuilder, Notification};
use serde_json::{Value, json};

type Notes = Arc<Mutex<Vec<Notification>>>;

fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(Content::as_text)
        .collect::<Vec<_>>()
        .join("\n")
}

fn kinds(r: &CallToolResult) -> Vec<String> {
    r.content
        .iter()
        .map(|c| {
            serde_json::to_value(c).expect("content")["type"]
                .as_str()
                .unwrap_or("?")
                .to_owned()
        })
        .collect()
}

macro_rules! servers_or_skip {
    () => {
        match reference_servers() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("SKIPPED: the npm reference servers are not available: {e}");
                return;
            }
        }
    };
}

fn everything_builder(notes: &Notes, root: &str) -> ClientBuilder {
    let sink = notes.clone();
    Client::builder()
        .client_info("rune-client-reference-test", "0.0.1")
        .roots(vec![Root {
            uri: root.to_owned(),
            name: Some("test root".into()),
            meta: None,
        }])
        .on_sampling(|p| async move {
            let prompt = p.messages[0].content["text"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            Ok(CreateMessageResult {
                role: Role::Assistant,
                content: json!({"type": "text", "text": format!("sampled <{prompt}>")}),
                model: "rune-test-model".into(),
                stop_reason: Some("endTurn".into()),
                meta: None,
            })
        })
        .on_elicitation(|p| async move {
            // Only the required field; the schema's defaults fill in the rest (SEP-1034).
            assert!(p.requested_schema.is_some(), "a form elicitation");
            let mut content = serde_json::Map::new();
            content.insert("name".into(), json!("Ada Lovelace"));
            Ok(ElicitResult {
                action: ElicitAction::Accept,
                content: Some(content),
                meta: None,
            })
        })
        .on_notification(move |n| sink.lock().expect("lock").push(n))
}

/// Waits until `pred` holds for one of the notifications seen so far.
async fn wait_note(notes: &Notes, what: &str, pred: impl Fn(&Notification) -> bool) {
    for _ in 0..200 {
        if notes.lock().expect("lock").iter().any(&pred) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no {what} notification within 10 s; got {:?}",
        notes.lock().expect("lock")
    );
}

/// The tools of server-everything, once its conditional ones (registered after the
/// handshake, from the client's capabilities) are there.
async fn all_tools(client: &Client) -> Vec<String> {
    for _ in 0..100 {
        let names = tool_names(client).await;
        if names.iter().any(|n| n == "trigger-sampling-request") {
            return names;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the conditional tools never appeared");
}

async fn call(client: &Client, name: &str, args: Value) -> CallToolResult {
    let r = client
        .call_tool(name, args)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(!r.is_error(), "{name} failed: {r:?}");
    r
}

/// Everything server-everything offers, through one connection.
async fn exercise_everything(client: &Client, notes: &Notes, root: &str) {
    assert_eq!(client.server_info().name, "mcp-servers/everything");
    let caps = client.server_capabilities();
    assert!(caps.tools.is_some() && caps.resources.is_some() && caps.prompts.is_some());
    assert!(
        client
            .instructions()
            .is_some_and(|i| i.contains("Everything"))
    );
    client.ping().await.expect("ping");
    client
        .set_logging_level(LoggingLevel::Debug)
        .await
        .expect("logging/setLevel");

    // --- tools: every one the server lists is called, except the experimental task-based
    // ones (they need the tasks extension, which this client does not declare).
    let names = all_tools(client).await;
    let task_based = [
        "simulate-research-query",
        "trigger-sampling-request-async",
        "trigger-elicitation-request-async",
        "trigger-url-elicitation",
    ];
    let mut called = Vec::new();
    for name in &names {
        if task_based.contains(&name.as_str()) {
            continue;
        }
        called.push(name.clone());
        match name.as_str() {
            "echo" => {
                let r = call(client, name, json!({"message": "héllo"})).await;
                assert_eq!(text(&r), "Echo: héllo");
            }
            "get-sum" => {
                let r = call(client, name, json!({"a": 2, "b": 40})).await;
                assert!(text(&r).contains("42"), "{}", text(&r));
            }
            "get-env" => {
                let r = call(client, name, json!({})).await;
                assert!(text(&r).contains("PATH"), "{}", text(&r));
            }
            "get-tiny-image" => {
                let r = call(client, name, json!({})).await;
                assert!(kinds(&r).contains(&"image".to_owned()), "{r:?}");
            }
            "get-annotated-message" => {
                let r = call(
                    client,
                    name,
                    json!({"messageType": "error", "includeImage": true}),
                )
                .await;
                assert!(kinds(&r).contains(&"image".to_owned()), "{r:?}");
                let v = serde_json::to_value(&r.content[0]).expect("content");
                assert!(v.get("annotations").is_some(), "{v}");
            }
            "get-resource-links" => {
                let r = call(client, name, json!({"count": 3})).await;
                let links = kinds(&r).iter().filter(|k| *k == "resource_link").count();
                assert_eq!(links, 3, "{r:?}");
            }
            "get-resource-reference" => {
                let r = call(
                    client,
                    name,
                    json!({"resourceId": 2, "resourceType": "Text"}),
                )
                .await;
                assert!(kinds(&r).contains(&"resource".to_owned()), "{r:?}");
            }
            "get-structured-content" => {
                let r = call(client, name, json!({"location": "Chicago"})).await;
                let sc = r.structured_content.clone().expect("structuredContent");
                assert!(sc.get("temperature").is_some(), "{sc:?}");
            }
            "gzip-file-as-resource" => {
                // A data: URI, so nothing is fetched from the network.
                let r = call(
                    client,
                    name,
                    json!({"data": "data:text/plain;base64,aGVsbG8gd29ybGQ=",
                           "name": "hello.txt.gz", "outputType": "resourceLink"}),
                )
                .await;
                let link = r
                    .content
                    .iter()
                    .find_map(|c| {
                        let v = serde_json::to_value(c).ok()?;
                        (v["type"] == "resource_link")
                            .then(|| v["uri"].as_str().map(str::to_owned))?
                    })
                    .expect("a resource link");
                let read = client.read_resource(&link).await.expect("read the gzip");
                let v = serde_json::to_value(&read.contents[0]).expect("contents");
                assert!(v.get("blob").is_some(), "{v}");
            }
            "toggle-simulated-logging" => {
                let r = call(client, name, json!({})).await;
                assert!(text(&r).contains("Started"), "{}", text(&r));
                wait_note(notes, "log", |n| matches!(n, Notification::Log(_))).await;
                let r = call(client, name, json!({})).await;
                assert!(text(&r).contains("Stopped"), "{}", text(&r));
            }
            "toggle-subscriber-updates" => {
                let uri = "demo://resource/dynamic/text/1";
                client.subscribe_resource(uri).await.expect("subscribe");
                let r = call(client, name, json!({})).await;
                assert!(text(&r).contains("Started"), "{}", text(&r));
                wait_note(
                    notes,
                    "resources/updated",
                    |n| matches!(n, Notification::ResourceUpdated(p) if p.uri == uri),
                )
                .await;
                call(client, name, json!({})).await;
                client.unsubscribe_resource(uri).await.expect("unsubscribe");
            }
            "trigger-long-running-operation" => {
                let seen = Arc::new(Mutex::new(Vec::new()));
                let s = seen.clone();
                let params = CallToolParams {
                    name: name.clone(),
                    arguments: json!({"duration": 0.4, "steps": 4}).as_object().cloned(),
                    input_responses: None,
                    request_state: None,
                    meta: None,
                };
                let options =
                    CallOptions::new().on_progress(move |p| s.lock().expect("lock").push(p));
                let r = client
                    .call_tool_with(&params, options)
                    .await
                    .expect("long running");
                assert!(text(&r).contains("completed"), "{}", text(&r));
                let seen = seen.lock().expect("lock");
                let steps: Vec<f64> = seen.iter().map(|p| p.progress).collect();
                assert_eq!(steps, [1.0, 2.0, 3.0, 4.0], "{seen:?}");
                assert!(seen.iter().all(|p| p.total == Some(4.0)));
            }
            "get-roots-list" => {
                let r = call(client, name, json!({})).await;
                assert!(text(&r).contains(root), "{}", text(&r));
            }
            "trigger-sampling-request" => {
                let r = call(client, name, json!({"prompt": "ping?", "maxTokens": 5})).await;
                let t = text(&r);
                assert!(t.contains("rune-test-model"), "{t}");
                assert!(t.contains("sampled <"), "{t}");
            }
            "trigger-elicitation-request" => {
                let r = call(client, name, json!({})).await;
                let t = text(&r);
                assert!(t.contains("Ada Lovelace"), "{t}");
                // Defaults the handler left out, filled in by the client.
                assert!(t.contains("It was a dark and stormy night."), "{t}");
                assert!(t.contains("Monica"), "{t}");
            }
            other => panic!("server-everything has a tool this test does not know: {other}"),
        }
    }
    for must in [
        "echo",
        "get-sum",
        "trigger-long-running-operation",
        "trigger-sampling-request",
        "trigger-elicitation-request",
        "get-roots-list",
        "toggle-simulated-logging",
        "toggle-subscriber-updates",
    ] {
        assert!(called.iter().any(|c| c == must), "{must} was not called");
    }
    let r = client
        .call_tool("get-sum", json!({"a": "not a number"}))
        .await;
    match r {
        Ok(r) => assert!(r.is_error(), "bad arguments give an error result: {r:?}"),
        Err(e) => assert!(e.rpc().is_some(), "bad arguments give an error: {e}"),
    }

    // --- resources: every one listed is read.
    let resources = client.list_resources().await.expect("resources/list");
    assert!(resources.len() >= 5, "{resources:?}");
    for r in &resources {
        let read = client
            .read_resource(&r.uri)
            .await
            .unwrap_or_else(|e| panic!("read {}: {e}", r.uri));
        assert!(!read.contents.is_empty(), "{}", r.uri);
    }
    let templates = client
        .list_resource_templates()
        .await
        .expect("templates/list");
    let template_uris: Vec<&str> = templates.iter().map(|t| t.uri_template.as_str()).collect();
    assert!(
        template_uris.contains(&"demo://resource/dynamic/text/{resourceId}"),
        "{template_uris:?}"
    );
    let t = client
        .read_resource("demo://resource/dynamic/text/7")
        .await
        .expect("dynamic text");
    let v = serde_json::to_value(&t.contents[0]).expect("contents");
    assert!(v["text"].as_str().is_some_and(|s| s.contains('7')), "{v}");
    let b = client
        .read_resource("demo://resource/dynamic/blob/7")
        .await
        .expect("dynamic blob");
    let v = serde_json::to_value(&b.contents[0]).expect("contents");
    assert!(v["blob"].is_string(), "{v}");

    // --- prompts: every one is got.
    let prompts = client.list_prompts().await.expect("prompts/list");
    let mut got = 0;
    for p in &prompts {
        let args: BTreeMap<&str, &str> = match p.name.as_str() {
            "simple-prompt" => BTreeMap::new(),
            "args-prompt" => [("city", "Paris"), ("state", "Texas")].into(),
            "completable-prompt" => [("department", "Sales"), ("name", "Eve")].into(),
            "resource-prompt" => [("resourceType", "Text"), ("resourceId", "3")].into(),
            other => panic!("server-everything has a prompt this test does not know: {other}"),
        };
        let r = client
            .get_prompt(&p.name, args)
            .await
            .unwrap_or_else(|e| panic!("prompts/get {}: {e}", p.name));
        assert!(!r.messages.is_empty(), "{}", p.name);
        let all = serde_json::to_string(&r.messages).expect("messages");
        match p.name.as_str() {
            "args-prompt" => assert!(all.contains("Paris"), "{all}"),
            "completable-prompt" => assert!(all.contains("promote Eve"), "{all}"),
            "resource-prompt" => assert!(all.contains("\"resource\""), "{all}"),
            _ => {}
        }
        got += 1;
    }
    assert_eq!(got, 4);

    // --- completion, of a prompt argument (with context) and of a template variable.
    let prompt_ref = CompletionReference::Prompt {
        name: "completable-prompt".into(),
    };
    let c = client
        .complete(
            prompt_ref.clone(),
            CompletionArgument {
                name: "department".into(),
                value: "S".into(),
            },
            None,
        )
        .await
        .expect("complete department");
    assert_eq!(c.values, ["Sales", "Support"]);
    let c = client
        .complete(
            prompt_ref,
            CompletionArgument {
                name: "name".into(),
                value: "".into(),
            },
            Some(CompletionContext {
                arguments: Some([("department".to_owned(), "Engineering".to_owned())].into()),
            }),
        )
        .await
        .expect("complete name");
    assert_eq!(c.values, ["Alice", "Bob", "Charlie"]);
    let c = client
        .complete(
            CompletionReference::Resource {
                uri: "demo://resource/dynamic/text/{resourceId}".into(),
            },
            CompletionArgument {
                name: "resourceId".into(),
                value: "12".into(),
            },
            None,
        )
        .await
        .expect("complete resourceId");
    assert_eq!(c.values, ["12"]);
}

fn everything_cmd(node: &Path, script: &Path, transport: &str) -> Command {
    let mut cmd = Command::new(node);
    cmd.arg(script).arg(transport);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_over_stdio() {
    init_tracing();
    let servers = servers_or_skip!();
    bounded(async {
        let notes: Notes = Arc::default();
        let root = "file:///tmp/rune-everything-root";
        let client = everything_builder(&notes, root)
            .connect_stdio(everything_cmd(&servers.node, &servers.everything, "stdio"))
            .await
            .expect("connect");
        exercise_everything(&client, &notes, root).await;
        client.close().await;
    })
    .await;
}

/// Starts server-everything's HTTP transport (`sse` or `streamableHttp`) on a free port.
async fn everything_http(transport: &str) -> (ChildGuard, u16) {
    let servers = reference_servers().expect("checked by the caller");
    let port = free_port();
    let mut cmd = everything_cmd(&servers.node, &servers.everything, transport);
    cmd.env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let child = ChildGuard(cmd.spawn().expect("spawn server-everything"));
    wait_for_port(port).await;
    (child, port)
}

/// Streamable HTTP, with the GET stream and sessions, against the TypeScript SDK's server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_over_streamable_http() {
    init_tracing();
    let _ = servers_or_skip!();
    bounded(async {
        let (_server, port) = everything_http("streamableHttp").await;
        let notes: Notes = Arc::default();
        let root = "file:///tmp/rune-everything-http";
        let client = everything_builder(&notes, root)
            .connect_http(&format!("http://127.0.0.1:{port}/mcp"))
            .await
            .expect("connect");
        exercise_everything(&client, &notes, root).await;
        client.close().await;
    })
    .await;
}

/// The legacy HTTP+SSE transport: `connect_http` on the SSE URL gets 404 for its POST and
/// falls back (GET for the endpoint event, POST to it); `connect_sse` goes there directly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_over_legacy_sse_by_fallback() {
    init_tracing();
    let _ = servers_or_skip!();
    bounded(async {
        let (_server, port) = everything_http("sse").await;
        let url = format!("http://127.0.0.1:{port}/sse");
        let notes: Notes = Arc::default();
        let root = "file:///tmp/rune-everything-sse";
        let client = everything_builder(&notes, root)
            .connect_http(&url)
            .await
            .expect("connect with the fallback");
        exercise_everything(&client, &notes, root).await;
        client.close().await;

        let client = Client::builder()
            .connect_sse(&url)
            .await
            .expect("connect_sse");
        let r = client
            .call_tool("echo", json!({"message": "direct"}))
            .await
            .expect("echo");
        assert_eq!(text(&r), "Echo: direct");
        client.close().await;

        let e = Client::builder()
            .legacy_sse_fallback(false)
            .connect_http(&url)
            .await
            .expect_err("no fallback");
        assert!(
            matches!(e, rune_client::Error::Http { status: 404, .. }),
            "{e}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_list_read_write_search() {
    init_tracing();
    let servers = servers_or_skip!();
    bounded(async {
        let dir = tempdir("fs");
        std::fs::create_dir_all(dir.join("sub/deeper")).expect("mkdir");
        std::fs::write(dir.join("hello.txt"), "hello from rune\nsecond line\n").expect("write");
        std::fs::write(dir.join("sub/deeper/needle.md"), "# needle\n").expect("write");
        let root_uri = format!("file://{}", dir.display());
        let mut cmd = Command::new(&servers.node);
        cmd.arg(&servers.filesystem).arg(&dir);
        let client = Client::builder()
            .roots(vec![Root {
                uri: root_uri,
                name: Some("fs test".into()),
                meta: None,
            }])
            .connect_stdio(cmd)
            .await
            .expect("connect");
        assert!(client.server_info().name.contains("filesystem"));
        let names = tool_names(&client).await;
        for n in [
            "read_text_file",
            "write_file",
            "edit_file",
            "list_directory",
            "search_files",
            "directory_tree",
            "get_file_info",
            "list_allowed_directories",
        ] {
            assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
        }
        let path = |p: &str| dir.join(p).display().to_string();

        let r = call(&client, "list_allowed_directories", json!({})).await;
        let canonical = std::fs::canonicalize(&dir).expect("canonical");
        assert!(
            text(&r).contains(&canonical.display().to_string()),
            "{}",
            text(&r)
        );

        let r = call(&client, "list_directory", json!({"path": path("")})).await;
        let t = text(&r);
        assert!(
            t.contains("[FILE] hello.txt") && t.contains("[DIR] sub"),
            "{t}"
        );

        let r = call(
            &client,
            "read_text_file",
            json!({"path": path("hello.txt")}),
        )
        .await;
        assert_eq!(text(&r), "hello from rune\nsecond line\n");
        let r = call(
            &client,
            "read_text_file",
            json!({"path": path("hello.txt"), "head": 1}),
        )
        .await;
        assert_eq!(text(&r).trim_end(), "hello from rune");

        call(
            &client,
            "write_file",
            json!({"path": path("sub/new.txt"), "content": "written through rune-client"}),
        )
        .await;
        assert_eq!(
            std::fs::read_to_string(dir.join("sub/new.txt")).expect("read back"),
            "written through rune-client"
        );
        call(
            &client,
            "edit_file",
            json!({"path": path("sub/new.txt"),
                   "edits": [{"oldText": "rune-client", "newText": "the Rust client"}]}),
        )
        .await;
        assert_eq!(
            std::fs::read_to_string(dir.join("sub/new.txt")).expect("read back"),
            "written through the Rust client"
        );

        let r = call(
            &client,
            "search_files",
            json!({"path": path(""), "pattern": "**/needle*"}),
        )
        .await;
        assert!(text(&r).contains("needle.md"), "{}", text(&r));

        let r = call(&client, "directory_tree", json!({"path": path("")})).await;
        assert!(text(&r).contains("deeper"), "{}", text(&r));
        let r = call(&client, "get_file_info", json!({"path": path("hello.txt")})).await;
        assert!(text(&r).contains("size"), "{}", text(&r));

        // Outside the allowed directory: the server refuses, as an error result.
        let r = client
            .call_tool("read_text_file", json!({"path": "/etc/hostname"}))
            .await
            .expect("a result");
        assert!(r.is_error(), "{r:?}");

        client.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}

/// A fresh directory under the system's temp dir.
fn tempdir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "rune-client-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
