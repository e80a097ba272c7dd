//! The HTTP endpoint driven with raw HTTP/1.1 on loopback: sessions, JSON and SSE answers,
//! resumption, the standalone stream, 2026 requests and their headers, stateless mode,
//! legacy HTTP+SSE, guards, bearer auth, and a graceful shutdown.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use rune_http::{BearerAuth, HttpOptions, ResourceMetadata};
use rune_server::proto::model::ElicitRequestParams;
use rune_server::{HandlerError, NoArgs, RequestContext, Server, ToolDef};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

// ---------------------------------------------------------------------------------------
// A tiny HTTP/1.1 client: one request per connection, chunked bodies read as they arrive.

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    reader: BufReader<TcpStream>,
    chunked: bool,
    length: Option<usize>,
    pending: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The next piece of the body; `None` at its end.
    async fn chunk(&mut self) -> Option<Vec<u8>> {
        if !self.chunked {
            let n = self.length?;
            self.length = None;
            let mut b = vec![0; n];
            self.reader.read_exact(&mut b).await.ok()?;
            return Some(b);
        }
        let mut line = String::new();
        self.reader.read_line(&mut line).await.ok()?;
        let size = usize::from_str_radix(line.trim(), 16).ok()?;
        if size == 0 {
            return None;
        }
        let mut b = vec![0; size + 2];
        self.reader.read_exact(&mut b).await.ok()?;
        b.truncate(size);
        Some(b)
    }

    async fn body(mut self) -> Vec<u8> {
        let mut all = std::mem::take(&mut self.pending);
        while let Some(c) = tokio::time::timeout(Duration::from_secs(10), self.chunk())
            .await
            .expect("body within 10 s")
        {
            all.extend(c);
        }
        all
    }

    async fn json(self) -> Value {
        let b = self.body().await;
        serde_json::from_slice(&b)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&b)))
    }

    /// The next SSE event (comments skipped); `None` when the stream ends.
    async fn event(&mut self) -> Option<Event> {
        loop {
            if let Some(pos) = find(&self.pending, b"\n\n") {
                let raw: Vec<u8> = self.pending.drain(..pos + 2).collect();
                let text = String::from_utf8(raw).unwrap();
                let mut ev = Event::default();
                let mut any = false;
                for line in text.lines() {
                    if line.starts_with(':') || line.is_empty() {
                        continue;
                    }
                    any = true;
                    let (k, v) = line.split_once(':').unwrap_or((line, ""));
                    let v = v.strip_prefix(' ').unwrap_or(v);
                    match k {
                        "id" => ev.id = Some(v.to_owned()),
                        "retry" => ev.retry = v.parse().ok(),
                        "event" => ev.event = Some(v.to_owned()),
                        "data" => ev.data.push_str(v),
                        _ => {}
                    }
                }
                if any {
                    return Some(ev);
                }
                continue;
            }
            let c = tokio::time::timeout(Duration::from_secs(10), self.chunk())
                .await
                .expect("an SSE event within 10 s")?;
            self.pending.extend(c);
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Event {
    id: Option<String>,
    retry: Option<u64>,
    event: Option<String>,
    data: String,
}

impl Event {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut reader = BufReader::new(s);
    let mut status_line = String::new();
    tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut status_line))
        .await
        .expect("a response within 10 s")
        .unwrap();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let mut r = Resp {
        status,
        headers,
        reader,
        chunked: false,
        length: None,
        pending: Vec::new(),
    };
    r.chunked = r
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    r.length = r.header("content-length").and_then(|v| v.parse().ok());
    r
}

const JSON_SSE: (&str, &str) = ("Accept", "application/json, text/event-stream");
const CT: (&str, &str) = ("Content-Type", "application/json");

async fn post(addr: SocketAddr, session: Option<&str>, body: Value) -> Resp {
    let b = body.to_string();
    let mut h = vec![JSON_SSE, CT, ("MCP-Protocol-Version", "2025-11-25")];
    if let Some(s) = session {
        h.push(("Mcp-Session-Id", s));
    }
    http(addr, "POST", "/mcp", &h, &b).await
}

// ---------------------------------------------------------------------------------------
// The server under test

fn server() -> Server {
    let progress = ToolDef::new(
        "progress",
        "Reports progress twice",
        |_: NoArgs, cx: RequestContext| async move {
            cx.progress(1.0, Some(2.0), Some("half"));
            tokio::time::sleep(Duration::from_millis(20)).await;
            cx.progress(2.0, Some(2.0), None);
            Ok::<_, HandlerError>("done")
        },
    );
    let reconnect = ToolDef::new(
        "reconnect",
        "Closes its stream, then answers",
        |_: NoArgs, cx: RequestContext| async move {
            cx.close_sse_stream();
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok::<_, HandlerError>("after reconnect")
        },
    );
    let ask = ToolDef::new(
        "ask",
        "Asks the user",
        |_: NoArgs, cx: RequestContext| async move {
            let r = cx
                .elicit(ElicitRequestParams::form(
                    "name?",
                    serde_json::from_value(
                        json!({"type":"object","properties":{"name":{"type":"string"}}}),
                    )
                    .unwrap(),
                ))
                .await?;
            Ok::<_, HandlerError>(format!("hello {}", r.content.unwrap_or_default()["name"]))
        },
    );
    let slow = ToolDef::new(
        "slow",
        "Takes 300 ms",
        |_: NoArgs, _cx: RequestContext| async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok::<_, HandlerError>("slow done")
        },
    );
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Echo {
        message: String,
    }
    let echo = ToolDef::new(
        "echo",
        "Echoes",
        |a: Echo, _cx: RequestContext| async move { Ok::<_, HandlerError>(a.message) },
    );
    // Two arguments mirrored into `Mcp-Param-*` headers in 2026-07-28 (SEP-2243).
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Route {
        #[schemars(extend("x-mcp-header" = "Region"))]
        region: String,
        #[serde(default)]
        #[schemars(extend("x-mcp-header" = "Limit"))]
        limit: i64,
        query: String,
    }
    let route = ToolDef::new(
        "route",
        "Routes a query",
        |a: Route, _cx: RequestContext| async move {
            Ok::<_, HandlerError>(format!("{} {} {}", a.region, a.limit, a.query))
        },
    );
    Server::builder("http-test", "1.0.0")
        .tool(echo)
        .tool(route)
        .tool(progress)
        .tool(reconnect)
        .tool(ask)
        .tool(slow)
        .build()
}

struct Running {
    addr: SocketAddr,
    server: Server,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(opts: HttpOptions) -> Running {
    let server = server();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let s = server.clone();
    let task = tokio::spawn(async move {
        rune_http::listen::serve_http(&s, listener, opts, async {
            let _ = rx.await;
        })
        .await
    });
    Running {
        addr,
        server,
        stop: Some(tx),
        task,
    }
}

fn init_body(caps: Value) -> Value {
    json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":"2025-11-25","capabilities":caps,
        "clientInfo":{"name":"raw","version":"1"}}})
}

/// Initializes a session; returns its id.
async fn session(addr: SocketAddr, caps: Value) -> String {
    let r = post(addr, None, init_body(caps)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let sid = r.header("mcp-session-id").expect("session id").to_owned();
    assert!(
        sid.len() >= 32 && sid.bytes().all(|b| b.is_ascii_hexdigit()),
        "{sid}"
    );
    let v = r.json().await;
    assert_eq!(v["result"]["protocolVersion"], "2025-11-25");
    let r = post(
        addr,
        Some(&sid),
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
    )
    .await;
    assert_eq!(r.status, 202);
    sid
}

fn call(id: i64, name: &str, args: Value) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":name,"arguments":args}})
}

// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn sessions_json_answers_and_session_errors() {
    let rt = start(HttpOptions::default()).await;
    let a = rt.addr;
    let sid = session(a, json!({})).await;

    // A plain call is answered with JSON.
    let r = post(a, Some(&sid), call(1, "echo", json!({"message":"hi"}))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json().await["result"]["content"][0]["text"], "hi");

    // No session id: 400. An unknown one: 404 (the client re-initializes).
    let r = post(a, None, call(2, "echo", json!({"message":"x"}))).await;
    assert_eq!(r.status, 400);
    let r = post(
        a,
        Some("00000000000000000000000000000000"),
        call(2, "echo", json!({"message":"x"})),
    )
    .await;
    assert_eq!(r.status, 404);

    // Malformed JSON: 400 with a parse error.
    let r = http(
        a,
        "POST",
        "/mcp",
        &[JSON_SSE, CT, ("Mcp-Session-Id", &sid)],
        "{nope",
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json().await["error"]["code"], -32700);

    // Wrong content type, unacceptable Accept, bad protocol version header.
    let b = call(3, "echo", json!({"message":"x"})).to_string();
    let r = http(
        a,
        "POST",
        "/mcp",
        &[
            JSON_SSE,
            ("Content-Type", "text/plain"),
            ("Mcp-Session-Id", &sid),
        ],
        &b,
    )
    .await;
    assert_eq!(r.status, 415);
    let r = http(
        a,
        "POST",
        "/mcp",
        &[("Accept", "text/html"), CT, ("Mcp-Session-Id", &sid)],
        &b,
    )
    .await;
    assert_eq!(r.status, 406);
    let r = http(
        a,
        "POST",
        "/mcp",
        &[
            JSON_SSE,
            CT,
            ("Mcp-Session-Id", &sid),
            ("MCP-Protocol-Version", "1999-01-01"),
        ],
        &b,
    )
    .await;
    assert_eq!(r.status, 400);

    // DELETE ends the session.
    let r = http(a, "DELETE", "/mcp", &[("Mcp-Session-Id", &sid)], "").await;
    assert_eq!(r.status, 200);
    let r = post(a, Some(&sid), call(4, "echo", json!({"message":"x"}))).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn progress_makes_an_sse_answer_with_ids_and_a_priming_event() {
    let rt = start(HttpOptions::default()).await;
    let sid = session(rt.addr, json!({})).await;
    let mut r = post(
        rt.addr,
        Some(&sid),
        json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"progress","arguments":{},"_meta":{"progressToken":"p"}}}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let prime = r.event().await.unwrap();
    assert!(prime.data.is_empty(), "{prime:?}");
    assert_eq!(prime.retry, Some(1000));
    let stream = prime.id.unwrap().split('-').next().unwrap().to_owned();
    let p1 = r.event().await.unwrap();
    assert_eq!(p1.json()["method"], "notifications/progress");
    assert_eq!(p1.json()["params"]["message"], "half");
    assert_eq!(p1.id.as_deref(), Some(format!("{stream}-1").as_str()));
    let p2 = r.event().await.unwrap();
    assert_eq!(p2.json()["params"]["progress"], 2.0);
    let fin = r.event().await.unwrap();
    assert_eq!(fin.json()["id"], 7);
    assert_eq!(fin.json()["result"]["content"][0]["text"], "done");
    assert!(
        r.event().await.is_none(),
        "the stream ends after the result"
    );
}

#[tokio::test]
async fn a_closed_stream_is_resumed_with_last_event_id() {
    let rt = start(HttpOptions::default()).await;
    let sid = session(rt.addr, json!({})).await;
    let mut r = post(rt.addr, Some(&sid), call(9, "reconnect", json!({}))).await;
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let prime = r.event().await.unwrap();
    let last = prime.id.clone().unwrap();
    assert!(r.event().await.is_none(), "the server closed the stream");
    // Reconnect after the retry delay, from the last id seen.
    let mut g = http(
        rt.addr,
        "GET",
        "/mcp",
        &[
            ("Accept", "text/event-stream"),
            ("Mcp-Session-Id", &sid),
            ("Last-Event-ID", &last),
        ],
        "",
    )
    .await;
    assert_eq!(g.status, 200);
    let ev = g.event().await.unwrap();
    assert_eq!(ev.json()["id"], 9);
    assert_eq!(ev.json()["result"]["content"][0]["text"], "after reconnect");
    assert!(g.event().await.is_none());

    // The same id again replays the result (it is kept), an unknown stream is refused.
    let mut g = http(
        rt.addr,
        "GET",
        "/mcp",
        &[
            ("Accept", "text/event-stream"),
            ("Mcp-Session-Id", &sid),
            ("Last-Event-ID", &last),
        ],
        "",
    )
    .await;
    assert_eq!(g.event().await.unwrap().json()["id"], 9);
    let g = http(
        rt.addr,
        "GET",
        "/mcp",
        &[
            ("Accept", "text/event-stream"),
            ("Mcp-Session-Id", &sid),
            ("Last-Event-ID", "999-0"),
        ],
        "",
    )
    .await;
    assert_eq!(g.status, 404);
}

#[tokio::test]
async fn elicitation_goes_on_the_post_stream_and_the_answer_comes_by_post() {
    let rt = start(HttpOptions::default()).await;
    let sid = session(rt.addr, json!({"elicitation":{"form":{}}})).await;
    let mut r = post(rt.addr, Some(&sid), call(5, "ask", json!({}))).await;
    let _prime = r.event().await.unwrap();
    let req = r.event().await.unwrap().json();
    assert_eq!(req["method"], "elicitation/create");
    let answer = json!({"jsonrpc":"2.0","id":req["id"],"result":{"action":"accept","content":{"name":"Ada"}}});
    let a = post(rt.addr, Some(&sid), answer).await;
    assert_eq!(a.status, 202);
    let fin = r.event().await.unwrap().json();
    assert_eq!(fin["result"]["content"][0]["text"], "hello \"Ada\"");
}

#[tokio::test]
async fn the_standalone_stream_carries_list_changed_and_is_unique() {
    let rt = start(HttpOptions::default()).await;
    let sid = session(rt.addr, json!({})).await;
    let mut g = http(
        rt.addr,
        "GET",
        "/mcp",
        &[("Accept", "text/event-stream"), ("Mcp-Session-Id", &sid)],
        "",
    )
    .await;
    assert_eq!(g.status, 200);
    let second = http(
        rt.addr,
        "GET",
        "/mcp",
        &[("Accept", "text/event-stream"), ("Mcp-Session-Id", &sid)],
        "",
    )
    .await;
    assert_eq!(second.status, 409);
    rt.server.add_tool(ToolDef::new(
        "late",
        "added later",
        |_: NoArgs, _cx: RequestContext| async move { Ok::<_, HandlerError>("late") },
    ));
    let ev = g.event().await.unwrap();
    assert_eq!(ev.json()["method"], "notifications/tools/list_changed");
    assert!(ev.id.as_deref().is_some_and(|i| i.starts_with("0-")));
}

#[tokio::test]
async fn requests_of_2026_are_stateless_and_headers_must_match() {
    let rt = start(HttpOptions::default()).await;
    let body = json!({"jsonrpc":"2.0","id":"m1","method":"tools/call","params":{"name":"echo","arguments":{"message":"modern"},
        "_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}})
    .to_string();
    let base = [JSON_SSE, CT, ("MCP-Protocol-Version", "2026-07-28")];
    let mut h = base.to_vec();
    h.extend([("Mcp-Method", "tools/call"), ("Mcp-Name", "echo")]);
    let r = http(rt.addr, "POST", "/mcp", &h, &body).await;
    assert_eq!(r.status, 200);
    assert!(r.header("mcp-session-id").is_none());
    let v = r.json().await;
    assert_eq!(v["result"]["resultType"], "complete");
    assert_eq!(v["result"]["content"][0]["text"], "modern");

    // A header that disagrees with the body: 400 and -32020.
    let mut h = base.to_vec();
    h.extend([("Mcp-Method", "tools/call"), ("Mcp-Name", "other")]);
    let r = http(rt.addr, "POST", "/mcp", &h, &body).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json().await["error"]["code"], -32020);
    let r = http(rt.addr, "POST", "/mcp", &base, &body).await;
    assert_eq!(r.status, 400, "Mcp-Method is required");

    // `Mcp-Param-*`: the annotated arguments of `route` must be mirrored, and agree.
    let route = |args: Value| {
        json!({"jsonrpc":"2.0","id":"p","method":"tools/call","params":{"name":"route","arguments":args,
            "_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}})
        .to_string()
    };
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut h = base.to_vec();
        h.extend([("Mcp-Method", "tools/call"), ("Mcp-Name", "route")]);
        h.extend_from_slice(extra);
        h
    };
    let args = json!({"region": "zürich", "limit": 7, "query": "q"});
    // The region is not ASCII, so it goes base64; the integer may be written 7.0.
    let good = with(&[
        ("mcp-param-region", "=?base64?esO8cmljaA==?="),
        ("MCP-PARAM-LIMIT", "7.0"),
    ]);
    let r = http(rt.addr, "POST", "/mcp", &good, &route(args.clone())).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json().await["result"]["content"][0]["text"], "zürich 7 q");
    // An absent argument goes without its header.
    let only_region = with(&[("Mcp-Param-Region", "eu")]);
    let r = http(
        rt.addr,
        "POST",
        "/mcp",
        &only_region,
        &route(json!({"region": "eu", "query": "q"})),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json().await["result"]["content"][0]["text"], "eu 0 q");
    let refused: [(&[(&'static str, &'static str)], &str); 5] = [
        (&[("Mcp-Param-Limit", "7")], "Mcp-Param-Region is missing"),
        (
            &[("Mcp-Param-Region", "zurich"), ("Mcp-Param-Limit", "7")],
            "does not match",
        ),
        (
            &[
                ("Mcp-Param-Region", "=?base64?esO8cmljaA?="),
                ("Mcp-Param-Limit", "7"),
            ],
            "malformed",
        ),
        (
            &[
                ("Mcp-Param-Region", "=?base64?esO8cmljaA==?="),
                ("Mcp-Param-Limit", "7"),
                ("Mcp-Param-Limit", "7"),
            ],
            "more than once",
        ),
        (
            &[
                ("Mcp-Param-Region", "=?base64?esO8cmljaA==?="),
                ("Mcp-Param-Limit", "7.5"),
            ],
            "does not match",
        ),
    ];
    for (extra, why) in refused {
        let r = http(rt.addr, "POST", "/mcp", &with(extra), &route(args.clone())).await;
        assert_eq!(r.status, 400, "{extra:?}");
        let v = r.json().await;
        assert_eq!(v["error"]["code"], -32020, "{v}");
        assert_eq!(v["id"], "p", "{v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(why), "{extra:?}: {message}");
    }
    // A header for an argument the body does not hold.
    let r = http(
        rt.addr,
        "POST",
        "/mcp",
        &with(&[("Mcp-Param-Region", "eu"), ("Mcp-Param-Limit", "3")]),
        &route(json!({"region": "eu", "query": "q"})),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json().await["error"]["code"], -32020);

    // An unknown method: 404 with -32601.
    let body = json!({"jsonrpc":"2.0","id":2,"method":"nope/nope","params":{
        "_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}})
    .to_string();
    let mut h = base.to_vec();
    h.push(("Mcp-Method", "nope/nope"));
    let r = http(rt.addr, "POST", "/mcp", &h, &body).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json().await["error"]["code"], -32601);

    // No GET stream in 2026.
    let r = http(
        rt.addr,
        "GET",
        "/mcp",
        &[
            ("Accept", "text/event-stream"),
            ("MCP-Protocol-Version", "2026-07-28"),
        ],
        "",
    )
    .await;
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn stateless_mode_serves_handshake_clients_without_sessions() {
    let rt = start(HttpOptions {
        stateless: true,
        ..HttpOptions::default()
    })
    .await;
    let r = post(rt.addr, None, init_body(json!({}))).await;
    assert_eq!(r.status, 200);
    assert!(r.header("mcp-session-id").is_none());
    // Any replica can answer the next request: no session is needed.
    let r = post(
        rt.addr,
        None,
        call(1, "echo", json!({"message":"anywhere"})),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json().await["result"]["content"][0]["text"], "anywhere");
    let r = http(
        rt.addr,
        "GET",
        "/mcp",
        &[("Accept", "text/event-stream")],
        "",
    )
    .await;
    assert_eq!(r.status, 405);
    let r = http(rt.addr, "DELETE", "/mcp", &[], "").await;
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn legacy_http_sse_transport() {
    let rt = start(HttpOptions::default()).await;
    let mut g = http(
        rt.addr,
        "GET",
        "/sse",
        &[("Accept", "text/event-stream")],
        "",
    )
    .await;
    assert_eq!(g.status, 200);
    let ep = g.event().await.unwrap();
    assert_eq!(ep.event.as_deref(), Some("endpoint"));
    assert!(ep.data.starts_with("/messages?sessionId="), "{ep:?}");
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"old","version":"1"}}});
    let r = http(rt.addr, "POST", &ep.data, &[CT], &init.to_string()).await;
    assert_eq!(r.status, 202);
    let v = g.event().await.unwrap().json();
    assert_eq!(v["result"]["protocolVersion"], "2024-11-05");
    let r = http(
        rt.addr,
        "POST",
        &ep.data,
        &[CT],
        &json!({"jsonrpc":"2.0","method":"notifications/initialized"}).to_string(),
    )
    .await;
    assert_eq!(r.status, 202);
    let r = http(
        rt.addr,
        "POST",
        &ep.data,
        &[CT],
        &call(2, "echo", json!({"message":"old school"})).to_string(),
    )
    .await;
    assert_eq!(r.status, 202);
    assert_eq!(
        g.event().await.unwrap().json()["result"]["content"][0]["text"],
        "old school"
    );
    let r = http(rt.addr, "POST", "/messages?sessionId=nope", &[CT], "{}").await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn dns_rebinding_and_bearer_auth() {
    let rt = start(HttpOptions::default()).await;
    let b = init_body(json!({})).to_string();
    let r = http(
        rt.addr,
        "POST",
        "/mcp",
        &[JSON_SSE, CT, ("Host", "evil.example.com")],
        &b,
    )
    .await;
    assert_eq!(r.status, 403);
    let r = http(
        rt.addr,
        "POST",
        "/mcp",
        &[JSON_SSE, CT, ("Origin", "http://evil.example.com")],
        &b,
    )
    .await;
    assert_eq!(r.status, 403);
    let r = http(
        rt.addr,
        "POST",
        "/mcp",
        &[
            JSON_SSE,
            CT,
            ("Host", "localhost:1234"),
            ("Origin", "http://localhost:5173"),
        ],
        &b,
    )
    .await;
    assert_eq!(r.status, 200);

    let rt = start(HttpOptions {
        auth: Some(BearerAuth {
            tokens: vec!["t0ken".into()],
            metadata: Some(ResourceMetadata::new(
                "http://127.0.0.1/mcp",
                vec!["https://auth.example.com".into()],
            )),
        }),
        ..HttpOptions::default()
    })
    .await;
    let r = http(rt.addr, "POST", "/mcp", &[JSON_SSE, CT], &b).await;
    assert_eq!(r.status, 401);
    let challenge = r.header("www-authenticate").unwrap().to_owned();
    assert!(
        challenge.contains("resource_metadata=\"http://")
            && challenge.contains("/.well-known/oauth-protected-resource/mcp"),
        "{challenge}"
    );
    let r = http(
        rt.addr,
        "POST",
        "/mcp",
        &[JSON_SSE, CT, ("Authorization", "Bearer wrong")],
        &b,
    )
    .await;
    assert_eq!(r.status, 401);
    let r = http(
        rt.addr,
        "POST",
        "/mcp",
        &[JSON_SSE, CT, ("Authorization", "Bearer t0ken")],
        &b,
    )
    .await;
    assert_eq!(r.status, 200);
    let m = http(
        rt.addr,
        "GET",
        "/.well-known/oauth-protected-resource/mcp",
        &[],
        "",
    )
    .await;
    assert_eq!(m.status, 200);
    let m = m.json().await;
    assert_eq!(m["authorization_servers"][0], "https://auth.example.com");
    assert_eq!(m["resource"], "http://127.0.0.1/mcp");
}

#[tokio::test]
async fn shutdown_answers_requests_in_flight_then_stops() {
    let mut rt = start(HttpOptions::default()).await;
    let sid = session(rt.addr, json!({})).await;
    let a = rt.addr;
    let pending = tokio::spawn(async move {
        let r = post(a, Some(&sid), call(1, "slow", json!({}))).await;
        (r.status, r.json().await)
    });
    tokio::time::sleep(Duration::from_millis(80)).await;
    let _ = rt.stop.take().unwrap().send(());
    let (status, v) = pending.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(v["result"]["content"][0]["text"], "slow done");
    let ended = tokio::time::timeout(Duration::from_secs(5), &mut rt.task).await;
    assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
    assert!(
        TcpStream::connect(rt.addr).await.is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn websocket_carries_one_message_per_frame() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let rt = start(HttpOptions::default()).await;
    let (mut ws, resp) = tokio_tungstenite::connect_async(format!("ws://{}/mcp", rt.addr))
        .await
        .unwrap();
    assert_eq!(resp.status(), 101);
    ws.send(Message::Text(init_body(json!({})).to_string().into()))
        .await
        .unwrap();
    let next = |m: Option<Result<Message, _>>| -> Value {
        match m {
            Some(Ok(Message::Text(t))) => serde_json::from_str(&t).unwrap(),
            other => panic!("{other:?}"),
        }
    };
    let v = next(ws.next().await);
    assert_eq!(v["result"]["protocolVersion"], "2025-11-25");
    ws.send(Message::Text(
        json!({"jsonrpc":"2.0","method":"notifications/initialized"})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    // Pretty-printed JSON with newlines inside one frame is one message.
    let pretty =
        serde_json::to_string_pretty(&call(1, "echo", json!({"message":"over ws"}))).unwrap();
    ws.send(Message::Text(pretty.into())).await.unwrap();
    let v = next(ws.next().await);
    assert_eq!(v["result"]["content"][0]["text"], "over ws");
    // A foreign origin cannot open a socket.
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("ws://{}/mcp", rt.addr),
    )
    .unwrap();
    req.headers_mut()
        .insert("Origin", "http://evil.example.com".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(req).await.is_err());
}
