//! The policy layer: consent (allow, deny, ask through elicitation or a hook), per-tool
//! enable, the client's roots narrowing the jail, and the audit log, driven through a real
//! server over an in-memory pipe.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rune_server::{HandlerError, RequestContext, Server, ToolDef};
use rune_tools::audit::{AuditConfig, AuditLog};
use rune_tools::{Consent, Policy, Roots, ToolPolicy, WriteOptions};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, ReadHalf, WriteHalf};

struct Peer {
    reader: BufReader<ReadHalf<DuplexStream>>,
    writer: WriteHalf<DuplexStream>,
}

impl Peer {
    fn start(tools: Vec<ToolDef>) -> Peer {
        let mut b = Server::builder("policy-test", "0.0.0");
        for t in tools {
            b = b.tool(t);
        }
        let server = b.build();
        let (client_end, server_end) = tokio::io::duplex(1 << 20);
        let (r, w) = tokio::io::split(server_end);
        tokio::spawn(async move { server.serve(r, w).await });
        let (cr, cw) = tokio::io::split(client_end);
        Peer {
            reader: BufReader::new(cr),
            writer: cw,
        }
    }

    async fn send(&mut self, v: Value) {
        let mut line = serde_json::to_vec(&v).unwrap();
        line.push(b'\n');
        self.writer.write_all(&line).await.unwrap();
    }

    async fn next(&mut self) -> Value {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(20), self.reader.read_line(&mut line))
            .await
            .expect("no message within 20 s")
            .unwrap();
        assert!(n > 0, "closed");
        serde_json::from_str(&line).unwrap()
    }

    async fn init(&mut self, caps: Value) {
        self.send(
            json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-11-25","capabilities":caps,
            "clientInfo":{"name":"policy-client","version":"9.9"}}}),
        )
        .await;
        let r = self.next().await;
        assert_eq!(r["result"]["protocolVersion"], "2025-11-25", "{r}");
        self.send(json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
            .await;
    }

    async fn call(&mut self, id: i64, name: &str, args: Value) {
        self.send(json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
            "params":{"name":name,"arguments":args}}))
            .await;
    }
}

fn text(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn audit_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

struct Setup {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    audit: std::path::PathBuf,
    roots: Arc<Roots>,
    log: Arc<AuditLog>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("top.txt"), "top\n").unwrap();
    std::fs::write(root.join("sub").join("a.txt"), "in sub\n").unwrap();
    let audit = dir.path().join("audit").join("audit.jsonl");
    let log = Arc::new(AuditLog::open(AuditConfig::new(&audit)).unwrap());
    let roots = Arc::new(Roots::new([&root]).unwrap());
    Setup {
        _dir: dir,
        root,
        audit,
        roots,
        log,
    }
}

fn all_tools(roots: &Arc<Roots>) -> Vec<ToolDef> {
    let mut t = rune_tools::read_tools(roots.clone());
    t.extend(rune_tools::write_tools(
        roots.clone(),
        WriteOptions::default(),
    ));
    t
}

#[tokio::test]
async fn writes_ask_through_elicitation_and_the_answer_decides() {
    let s = setup();
    let policy = Policy::new(s.roots.clone()).audit(s.log.clone());
    let mut p = Peer::start(policy.apply(all_tools(&s.roots)));
    p.init(json!({"elicitation": {"form": {}}})).await;

    // Reads are allowed without asking.
    p.call(1, "file_read", json!({"path": "top.txt"})).await;
    let r = p.next().await;
    assert_eq!(text(&r["result"]), "top\n", "{r}");

    // A write asks; accepted, it runs.
    p.call(
        2,
        "file_write",
        json!({"path": "new.txt", "content": "yes\n"}),
    )
    .await;
    let ask = p.next().await;
    assert_eq!(ask["method"], "elicitation/create", "{ask}");
    let msg = ask["params"]["message"].as_str().unwrap();
    assert!(
        msg.contains("file_write") && msg.contains("new.txt"),
        "{msg}"
    );
    assert_eq!(
        ask["params"]["requestedSchema"]["properties"]["always"]["type"],
        "boolean"
    );
    p.send(json!({"jsonrpc":"2.0","id":ask["id"],"result":{"action":"accept","content":{}}}))
        .await;
    let r = p.next().await;
    assert_eq!(r["id"], 2);
    assert!(r["result"].get("isError").is_none(), "{r}");
    assert_eq!(
        std::fs::read_to_string(s.root.join("new.txt")).unwrap(),
        "yes\n"
    );

    // Declined: nothing is done, and the model is told not to insist.
    p.call(
        3,
        "file_write",
        json!({"path": "no.txt", "content": "no\n"}),
    )
    .await;
    let ask = p.next().await;
    p.send(json!({"jsonrpc":"2.0","id":ask["id"],"result":{"action":"decline"}}))
        .await;
    let r = p.next().await;
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(text(&r["result"]).contains("declined"), "{r}");
    assert!(!s.root.join("no.txt").exists());

    // "Always allow": the next call of that tool does not ask.
    p.call(4, "file_write", json!({"path": "a1.txt", "content": "1"}))
        .await;
    let ask = p.next().await;
    p.send(json!({"jsonrpc":"2.0","id":ask["id"],"result":{"action":"accept","content":{"always":true}}}))
        .await;
    assert_eq!(p.next().await["id"], 4);
    p.call(5, "file_write", json!({"path": "a2.txt", "content": "2"}))
        .await;
    let r = p.next().await;
    assert_eq!(r["id"], 5, "asked again: {r}");
    assert!(s.root.join("a2.txt").exists());

    let lines = audit_lines(&s.audit);
    let summary: Vec<(String, String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["tool"].as_str().unwrap().to_owned(),
                l["decision"].as_str().unwrap().to_owned(),
                l["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expect = [
        ("file_read", "allow", "ok"),
        ("file_write", "approved", "ok"),
        ("file_write", "declined", "denied"),
        ("file_write", "approved", "ok"),
        ("file_write", "approved", "ok"),
    ];
    assert_eq!(
        summary,
        expect
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect::<Vec<_>>()
    );
    let first = &lines[0];
    assert_eq!(first["client"], "policy-client/9.9");
    assert_eq!(first["args"]["path"], "top.txt");
    assert_eq!(first["bytes"], 4);
    assert!(first["duration_ms"].as_f64().unwrap() >= 0.0);
    let ts = first["ts"].as_str().unwrap();
    assert!(
        ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[19] == b'.',
        "{ts}"
    );
    assert!(first["connection"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn a_client_that_cannot_ask_gets_a_clear_refusal() {
    let s = setup();
    let policy = Policy::new(s.roots.clone()).audit(s.log.clone());
    let mut p = Peer::start(policy.apply(all_tools(&s.roots)));
    p.init(json!({})).await;
    p.call(1, "file_write", json!({"path": "x.txt", "content": "x"}))
        .await;
    let r = p.next().await;
    assert_eq!(r["id"], 1, "no elicitation may be sent: {r}");
    assert_eq!(r["result"]["isError"], true);
    let t = text(&r["result"]);
    assert!(
        t.contains("cannot ask") && t.contains("consent = \"allow\""),
        "{t}"
    );
    assert!(!s.root.join("x.txt").exists());
    let lines = audit_lines(&s.audit);
    assert_eq!(lines[0]["decision"], "unavailable");
    assert_eq!(lines[0]["outcome"], "denied");
}

#[tokio::test]
async fn per_tool_settings_hook_and_deny() {
    let s = setup();
    let asked = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = asked.clone();
    let policy = Policy::new(s.roots.clone())
        .tool(
            "move_path",
            ToolPolicy {
                enabled: Some(false),
                consent: None,
            },
        )
        .tool(
            "file_info",
            ToolPolicy {
                enabled: None,
                consent: Some(Consent::Deny),
            },
        )
        .ask_with(Arc::new(move |req| {
            let seen = seen.clone();
            Box::pin(async move {
                let path = req.arguments["path"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                seen.lock().unwrap().push(format!("{}:{path}", req.tool));
                path != "refused.txt"
            })
        }));
    let tools = all_tools(&s.roots);
    assert!(policy.unknown_tools(&tools).is_empty());
    let mut p = Peer::start(policy.apply(tools));
    p.init(json!({"elicitation": {"form": {}}})).await;
    p.send(json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}))
        .await;
    let list = p.next().await;
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"move_path") && names.contains(&"file_write"));

    p.call(2, "file_info", json!({"path": "top.txt"})).await;
    let r = p.next().await;
    assert_eq!(r["result"]["isError"], true);
    assert!(text(&r["result"]).contains("denied by the server's policy"));

    // The hook decides; no elicitation goes to the client.
    p.call(3, "file_write", json!({"path": "ok.txt", "content": "1"}))
        .await;
    assert_eq!(p.next().await["id"], 3);
    p.call(
        4,
        "file_write",
        json!({"path": "refused.txt", "content": "1"}),
    )
    .await;
    let r = p.next().await;
    assert_eq!(r["id"], 4);
    assert_eq!(r["result"]["isError"], true);
    assert!(s.root.join("ok.txt").exists() && !s.root.join("refused.txt").exists());
    assert_eq!(
        *asked.lock().unwrap(),
        ["file_write:ok.txt", "file_write:refused.txt"]
    );
    let typo = Policy::new(s.roots.clone()).tool("file_wrte", ToolPolicy::default());
    assert_eq!(typo.unknown_tools(&all_tools(&s.roots)), ["file_wrte"]);
}

/// Answers the server's `roots/list` with `roots` (file URIs of `dirs`).
async fn answer_roots(p: &mut Peer, dirs: &[&Path]) -> Value {
    let ask = p.next().await;
    assert_eq!(ask["method"], "roots/list", "{ask}");
    let roots: Vec<Value> = dirs
        .iter()
        .map(|d| json!({"uri": format!("file://{}", d.display())}))
        .collect();
    p.send(json!({"jsonrpc":"2.0","id":ask["id"],"result":{"roots":roots}}))
        .await;
    p.next().await
}

#[tokio::test]
async fn client_roots_narrow_never_widen_and_follow_list_changed() {
    let s = setup();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("o.txt"), "outside\n").unwrap();
    let policy = Policy::new(s.roots.clone()).client_roots(true);
    let mut p = Peer::start(policy.apply(all_tools(&s.roots)));
    p.init(json!({"roots": {"listChanged": true}})).await;
    let sub = s.root.join("sub");

    // The client's root is `sub`: relative paths start there, the rest of the root is shut.
    p.call(1, "file_read", json!({"path": "a.txt"})).await;
    let r = answer_roots(&mut p, &[&sub, outside.path()]).await;
    assert_eq!(text(&r["result"]), "in sub\n", "{r}");
    // Cached: no second roots/list.
    p.call(2, "file_read", json!({"path": s.root.join("top.txt")}))
        .await;
    let r = p.next().await;
    assert_eq!(r["id"], 2, "{r}");
    assert_eq!(r["result"]["isError"], true);
    assert!(text(&r["result"]).contains("client's roots"), "{r}");
    // A client root outside the server's roots is ignored, never admitted.
    p.call(
        3,
        "file_read",
        json!({"path": outside.path().join("o.txt")}),
    )
    .await;
    let r = p.next().await;
    assert_eq!(r["result"]["isError"], true, "{r}");

    // After list_changed the roots are asked for again.
    p.send(json!({"jsonrpc":"2.0","method":"notifications/roots/list_changed"}))
        .await;
    p.call(4, "file_read", json!({"path": "top.txt"})).await;
    let r = answer_roots(&mut p, &[&s.root]).await;
    assert_eq!(text(&r["result"]), "top\n", "{r}");

    // No client root inside the server's: everything is refused, saying why.
    p.send(json!({"jsonrpc":"2.0","method":"notifications/roots/list_changed"}))
        .await;
    p.call(5, "file_read", json!({"path": "top.txt"})).await;
    let r = answer_roots(&mut p, &[outside.path()]).await;
    assert_eq!(r["result"]["isError"], true);
    assert!(
        text(&r["result"]).contains("are not inside the server's roots"),
        "{r}"
    );
}

#[tokio::test]
async fn stateless_requests_ask_through_input_required_round_trips() {
    let s = setup();
    let policy = Policy::new(s.roots.clone()).audit(s.log.clone());
    let mut p = Peer::start(policy.apply(all_tools(&s.roots)));
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {"form": {}}},
        "io.modelcontextprotocol/clientInfo": {"name": "modern", "version": "1"}
    });
    let args = json!({"path": "m.txt", "content": "modern\n"});
    p.send(json!({"jsonrpc":"2.0","id":1,"method":"tools/call",
        "params":{"name":"file_write","arguments":args,"_meta":meta}}))
        .await;
    let r = p.next().await;
    assert_eq!(r["result"]["resultType"], "input_required", "{r}");
    let (key, req) = r["result"]["inputRequests"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap();
    assert_eq!(req["method"], "elicitation/create");
    assert!(!s.root.join("m.txt").exists());
    assert!(
        audit_lines(&s.audit).is_empty(),
        "a pending round is not logged"
    );
    let state = r["result"]["requestState"].clone();
    p.send(json!({"jsonrpc":"2.0","id":2,"method":"tools/call",
        "params":{"name":"file_write","arguments":args,"_meta":meta,
            "inputResponses":{key: {"action":"accept","content":{}}},
            "requestState":state}}))
        .await;
    let r = p.next().await;
    assert_eq!(r["result"]["resultType"], "complete", "{r}");
    assert!(r["result"].get("isError").is_none(), "{r}");
    assert_eq!(
        std::fs::read_to_string(s.root.join("m.txt")).unwrap(),
        "modern\n"
    );
    let lines = audit_lines(&s.audit);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["decision"], "approved");
    assert_eq!(lines[0]["client"], "modern/1");
    assert_eq!(lines[0]["args"]["content"], "modern\n");
}

#[tokio::test]
async fn cancelled_and_failed_calls_are_audited_with_secrets_redacted() {
    let s = setup();
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct SlowArgs {
        api_token: String,
        body: String,
    }
    let slow = ToolDef::new(
        "slow",
        "waits",
        |_a: SlowArgs, cx: RequestContext| async move {
            cx.cancellation_token().cancelled().await;
            Ok::<_, HandlerError>("unreachable in practice")
        },
    );
    let fails = ToolDef::new(
        "fails",
        "fails",
        |_a: SlowArgs, _cx: RequestContext| async move {
            Err::<String, _>(HandlerError::failed("it broke"))
        },
    );
    let policy = Policy::new(s.roots.clone())
        .write_consent(Consent::Allow)
        .audit(s.log.clone());
    let mut p = Peer::start(policy.apply(vec![slow, fails]));
    p.init(json!({})).await;
    let long = "b".repeat(5000);
    p.call(1, "slow", json!({"api_token": "sekrit", "body": long}))
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    p.send(json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}))
        .await;
    p.call(2, "fails", json!({"api_token": "sekrit", "body": "x"}))
        .await;
    let r = p.next().await;
    assert_eq!(r["id"], 2, "a cancelled request gets no answer: {r}");
    let lines = audit_lines(&s.audit);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let cancelled = lines.iter().find(|l| l["tool"] == "slow").unwrap();
    assert_eq!(cancelled["outcome"], "cancelled");
    assert_eq!(cancelled["args"]["api_token"], "[redacted]");
    assert_eq!(cancelled["args"]["body"]["len"], 5000);
    let failed = lines.iter().find(|l| l["tool"] == "fails").unwrap();
    assert_eq!(failed["outcome"], "error");
    assert!(failed["error"].as_str().unwrap().contains("it broke"));
    let raw = std::fs::read_to_string(&s.audit).unwrap();
    assert!(!raw.contains("sekrit"));
}
