//! The `web_fetch` tool through a real `rune_server::Server` over an in-memory pipe: its
//! listing, its results (text and `structuredContent` checked against the output schema),
//! paging, errors, charsets and progress.

#![allow(clippy::unwrap_used)]

#[path = "support/server.rs"]
mod server;

use std::time::Duration;

use rune_fetch::{CacheOptions, FetchOptions};
use serde_json::{Value, json};
use server::{Reply, Request, TestServer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, ReadHalf, WriteHalf};

struct Client {
    reader: BufReader<ReadHalf<DuplexStream>>,
    writer: WriteHalf<DuplexStream>,
    next_id: i64,
    tool: Value,
}

impl Client {
    async fn start(opts: FetchOptions) -> Client {
        let server = rune_server::Server::builder("fetch-test", "0.0.0")
            .tool(rune_fetch::web_fetch_tool(opts).unwrap())
            .build();
        let (client_end, server_end) = tokio::io::duplex(16 << 20);
        let (r, w) = tokio::io::split(server_end);
        tokio::spawn(async move { server.serve(r, w).await });
        let (cr, cw) = tokio::io::split(client_end);
        let mut c = Client {
            reader: BufReader::new(cr),
            writer: cw,
            next_id: 1,
            tool: Value::Null,
        };
        c.request(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "0"}}),
        )
        .await;
        c.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        let list = c.request("tools/list", json!({})).await.0;
        c.tool = list["result"]["tools"][0].clone();
        c
    }

    async fn send(&mut self, msg: Value) {
        let mut line = serde_json::to_vec(&msg).unwrap();
        line.push(b'\n');
        self.writer.write_all(&line).await.unwrap();
    }

    /// The response, and the notifications that came before it.
    async fn request(&mut self, method: &str, params: Value) -> (Value, Vec<Value>) {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        let mut notes = Vec::new();
        loop {
            let mut line = String::new();
            tokio::time::timeout(Duration::from_secs(20), self.reader.read_line(&mut line))
                .await
                .expect("no answer in 20 s")
                .unwrap();
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == json!(id) {
                return (v, notes);
            }
            notes.push(v);
        }
    }

    /// Calls web_fetch; checks structuredContent against the output schema.
    async fn call(&mut self, args: Value) -> Value {
        let r = self
            .request(
                "tools/call",
                json!({"name": "web_fetch", "arguments": args}),
            )
            .await
            .0;
        let result = r["result"].clone();
        assert!(result.is_object(), "{r}");
        if let Some(sc) = result.get("structuredContent") {
            let v = jsonschema::validator_for(&self.tool["outputSchema"]).unwrap();
            let errors: Vec<String> = v.iter_errors(sc).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{errors:?}\n{sc}");
        }
        result
    }
}

fn text(r: &Value) -> String {
    r["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

fn opts() -> FetchOptions {
    FetchOptions {
        allow_loopback: true,
        cache: CacheOptions {
            dir: None,
            ..CacheOptions::default()
        },
        ..FetchOptions::default()
    }
}

const PAGE: &str = "<!doctype html><html><head><title>Doc</title><script>var x=1;</script>\
    </head><body><h1>Heading</h1><p>Para with <a href=\"/next\">a link</a>.</p></body></html>";

#[tokio::test]
async fn the_tool_is_listed_as_a_read_only_open_world_tool() {
    let c = Client::start(opts()).await;
    let t = &c.tool;
    assert_eq!(t["name"], "web_fetch");
    let a = &t["annotations"];
    assert_eq!(a["readOnlyHint"], true);
    assert_eq!(a["destructiveHint"], false);
    assert_eq!(a["openWorldHint"], true);
    let props = &t["inputSchema"]["properties"];
    for p in [
        "url",
        "method",
        "raw",
        "max_length",
        "start_index",
        "refresh",
    ] {
        assert!(props.get(p).is_some(), "{p} missing: {props}");
    }
    assert_eq!(t["inputSchema"]["required"], json!(["url"]));
    assert_eq!(props["method"]["enum"], json!(["GET", "HEAD"]));
}

#[tokio::test]
async fn html_comes_back_as_markdown_with_type_final_url_and_cache_state() {
    let s = TestServer::start(|req: &Request| match req.path.as_str() {
        "/old" => Reply::redirect(301, "/page"),
        _ => Reply::status(
            200,
            &[
                ("Content-Type", "text/html; charset=utf-8"),
                ("Cache-Control", "max-age=600"),
            ],
            PAGE,
        ),
    })
    .await;
    let mut c = Client::start(opts()).await;
    let r = c.call(json!({"url": s.url("/old")})).await;
    assert_ne!(r["isError"], true, "{r}");
    let st = &r["structuredContent"];
    assert_eq!(st["final_url"], s.url("/page"));
    assert_eq!(st["url"], s.url("/old"));
    assert_eq!(st["redirects"], json!([s.url("/old")]));
    assert_eq!(st["content_type"], "text/html; charset=utf-8");
    assert_eq!(st["format"], "markdown");
    assert_eq!(st["cache"], "miss");
    assert_eq!(st["truncated"], false);
    let md = st["content"].as_str().unwrap();
    assert!(
        md.contains("# Heading") && md.contains("[a link](/next)"),
        "{md}"
    );
    assert!(!md.contains("var x"), "{md}");
    let t = text(&r);
    assert!(
        t.contains(&s.url("/page")) && t.contains("# Heading"),
        "{t}"
    );
    // Again: from the cache, and the text says so.
    let r = c.call(json!({"url": s.url("/page")})).await;
    assert_eq!(r["structuredContent"]["cache"], "hit");
    assert!(text(&r).contains("from cache"));
    // Raw: the HTML itself.
    let r = c.call(json!({"url": s.url("/page"), "raw": true})).await;
    assert_eq!(r["structuredContent"]["format"], "raw");
    assert!(
        r["structuredContent"]["content"]
            .as_str()
            .unwrap()
            .contains("<h1>Heading</h1>")
    );
}

#[tokio::test]
async fn long_pages_come_in_parts_that_join_up() {
    let body: String = (0..5000)
        .map(|i| format!("line {i:05} ünïcödé\n"))
        .collect();
    let b2 = body.clone();
    let s = TestServer::start(move |_| Reply::ok("text/plain; charset=utf-8", b2.clone())).await;
    let mut c = Client::start(opts()).await;
    let mut got = String::new();
    let mut start = 0u64;
    let mut calls = 0;
    loop {
        let r = c
            .call(json!({"url": s.url("/long"), "max_length": 30000, "start_index": start}))
            .await;
        let st = &r["structuredContent"];
        got.push_str(st["content"].as_str().unwrap());
        calls += 1;
        assert_eq!(st["total_length"], body.chars().count() as u64);
        if st["truncated"] == false {
            assert!(st.get("next_index").is_none());
            break;
        }
        let next = st["next_index"].as_u64().unwrap();
        assert_eq!(next, start + 30000);
        assert!(
            text(&r).contains(&format!("start_index={next}")),
            "the text says how to go on"
        );
        start = next;
    }
    assert_eq!(got, body);
    assert_eq!(calls, body.chars().count().div_ceil(30000));
    assert_eq!(
        s.hits("/long"),
        calls,
        "no lifetime and no validators: not cached"
    );
    // The default page stays under what clients accept from one tool call.
    let r = c.call(json!({"url": s.url("/long")})).await;
    assert!(text(&r).len() < 40 * 1024);
    assert_eq!(r["structuredContent"]["next_index"], 20000);
}

#[tokio::test]
async fn refusals_and_http_errors_are_tool_errors_that_say_why() {
    let s = TestServer::start(|req: &Request| match req.path.as_str() {
        "/meta" => Reply::redirect(302, "http://169.254.169.254/latest/meta-data/"),
        _ => Reply::status(
            404,
            &[("Content-Type", "text/plain")],
            "nothing here, sorry",
        ),
    })
    .await;
    let mut c = Client::start(opts()).await;
    let r = c.call(json!({"url": s.url("/missing")})).await;
    assert_eq!(r["isError"], true);
    let t = text(&r);
    assert!(t.contains("HTTP 404") && t.contains("nothing here"), "{t}");
    let r = c.call(json!({"url": s.url("/meta")})).await;
    assert_eq!(r["isError"], true);
    let t = text(&r);
    assert!(
        t.contains("169.254.169.254") && t.contains("cloud metadata"),
        "{t}"
    );
    let r = c.call(json!({"url": "file:///etc/passwd"})).await;
    assert_eq!(r["isError"], true);
    assert!(text(&r).contains("http:// and https://"), "{}", text(&r));
    // Strict (the default): loopback itself is refused, with the way to allow it.
    let mut strict = Client::start(FetchOptions {
        allow_loopback: false,
        ..opts()
    })
    .await;
    let r = strict.call(json!({"url": s.url("/x")})).await;
    assert_eq!(r["isError"], true);
    assert!(text(&r).contains("allow_loopback"), "{}", text(&r));
    assert_eq!(s.hits("/x"), 0);
    // Unknown arguments are refused by the schema.
    let (resp, _) = c
        .request(
            "tools/call",
            json!({"name": "web_fetch", "arguments": {"url": s.url("/"), "headers": {}}}),
        )
        .await;
    assert!(
        resp.get("error").is_some() || resp["result"]["isError"] == true,
        "{resp}"
    );
}

#[tokio::test]
async fn charsets_binary_and_head() {
    let s = TestServer::start(|req: &Request| match req.path.as_str() {
        "/latin1" => Reply::ok("text/plain; charset=iso-8859-1", b"caf\xe9 cr\xe8me".to_vec()),
        "/meta" => Reply::ok(
            "text/html",
            b"<html><head><meta charset=\"windows-1251\"></head><body><p>\xcf\xf0\xe8\xe2\xe5\xf2</p></body></html>"
                .to_vec(),
        ),
        "/broken" => Reply::ok("text/plain; charset=utf-8", b"good \xff\xfe bad".to_vec()),
        "/png" => Reply::ok("image/png", b"\x89PNG\r\n\x1a\n\0\0\0binary".to_vec()),
        _ => Reply::status(200, &[("Content-Type", "text/plain"), ("X-Marker", "m7")], "body"),
    })
    .await;
    let mut c = Client::start(opts()).await;
    let st = c.call(json!({"url": s.url("/latin1")})).await["structuredContent"].clone();
    assert_eq!(st["content"], "café crème");
    assert_eq!(st["charset"], "windows-1252");
    let st = c.call(json!({"url": s.url("/meta")})).await["structuredContent"].clone();
    assert!(st["content"].as_str().unwrap().contains("Привет"), "{st}");
    let st = c.call(json!({"url": s.url("/broken")})).await["structuredContent"].clone();
    assert_eq!(st["content"], "good \u{fffd}\u{fffd} bad");
    assert!(st["note"].as_str().unwrap().contains("U+FFFD"), "{st}");
    let r = c.call(json!({"url": s.url("/png")})).await;
    let st = &r["structuredContent"];
    assert_eq!(st["format"], "binary");
    assert_eq!(st["content"], "");
    assert!(st["note"].as_str().unwrap().contains("image/png"), "{st}");
    let r = c.call(json!({"url": s.url("/h"), "method": "HEAD"})).await;
    let st = &r["structuredContent"];
    assert_eq!(st["headers"]["x-marker"], "m7");
    assert_eq!(st["cache"], "off");
    assert!(text(&r).contains("x-marker: m7"));
}

#[tokio::test]
async fn downloads_report_progress_to_a_client_that_asks() {
    let s = TestServer::start(|_| Reply::ok("text/plain", vec![b'q'; 500_000])).await;
    let mut c = Client::start(opts()).await;
    let (resp, notes) = c
        .request(
            "tools/call",
            json!({"name": "web_fetch", "arguments": {"url": s.url("/big"), "max_length": 10},
                   "_meta": {"progressToken": "p1"}}),
        )
        .await;
    assert_eq!(resp["result"]["structuredContent"]["body_bytes"], 500_000);
    let progress: Vec<&Value> = notes
        .iter()
        .filter(|n| n["method"] == "notifications/progress")
        .collect();
    assert!(!progress.is_empty(), "{notes:?}");
    assert!(progress.iter().all(|n| n["params"]["progressToken"] == "p1"
        && n["params"]["total"].as_f64() == Some(500_000.0)));
}
