//! Streamable HTTP details against a scripted HTTP/1.1 server on 127.0.0.1: the headers of
//! every request, JSON and SSE answers, HTTP errors, session expiry, a stream that ends
//! before its response, and the DELETE on close.

mod common;

use std::sync::{Arc, Mutex};

use common::{Seen, bounded, init_tracing, read_request};
use rune_client::{Client, Error};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

async fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, &str)], body: &str) {
    let mut out = format!("HTTP/1.1 {status}\r\nconnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    let sse = headers.iter().any(|(_, v)| *v == "text/event-stream");
    if !sse {
        out.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    out.push_str(body);
    let _ = stream.write_all(out.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn answer(id: &Value, result: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string()
}

const JSON: (&str, &str) = ("content-type", "application/json");
const SSE: (&str, &str) = ("content-type", "text/event-stream");
const SESSION: (&str, &str) = ("mcp-session-id", "s-1");

type Log = Arc<Mutex<Vec<Seen>>>;

async fn serve(stream: &mut TcpStream, req: &Seen, log: &Log) {
    let id = &req.body["id"];
    if req.method == "GET" {
        let Some(last) = req.headers.get("last-event-id") else {
            return respond(stream, "405 Method Not Allowed", &[], "").await;
        };
        assert_eq!(
            last, "a1",
            "the id is kept across a resumption that got no event"
        );
        let (resumes, call_id) = {
            let log = log.lock().expect("lock");
            let resumes = log
                .iter()
                .filter(|r| r.headers.contains_key("last-event-id"))
                .count();
            let call = log
                .iter()
                .rfind(|r| r.body["params"]["name"] == "resume")
                .map(|r| r.body["id"].clone());
            (resumes, call.unwrap_or(Value::Null))
        };
        // The first resumption breaks again before any event; the second one answers.
        let body = if resumes == 1 {
            ": nothing yet\n\n".to_owned()
        } else {
            let r = answer(
                &call_id,
                json!({"content": [{"type": "text", "text": "resumed"}]}),
            );
            format!("id: a2\nevent: message\ndata: {r}\n\n")
        };
        return respond(stream, "200 OK", &[SSE], &body).await;
    }
    if req.method == "DELETE" {
        return respond(stream, "200 OK", &[], "").await;
    }
    let method = req.body["method"].as_str().unwrap_or("");
    let tool = req.body["params"]["name"].as_str().unwrap_or("");
    match (method, tool) {
        ("initialize", _) => {
            let r = answer(
                id,
                json!({"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                       "serverInfo": {"name": "scripted-http", "version": "1"}}),
            );
            respond(stream, "200 OK", &[JSON, SESSION], &r).await
        }
        ("notifications/initialized", _) => respond(stream, "202 Accepted", &[], "").await,
        ("tools/list", _) => {
            // Over SSE, with a notification first and a comment line.
            let body = format!(
                ": keep-alive\n\nevent: message\ndata: {}\n\nevent: message\ndata: {}\n\n",
                json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}),
                answer(
                    id,
                    json!({"tools": [{"name": "t", "inputSchema": {"type": "object"}}]})
                )
            );
            respond(stream, "200 OK", &[SSE], &body).await
        }
        ("tools/call", "resume") => {
            let body = "id: a1\nretry: 50\ndata: \n\n";
            respond(stream, "200 OK", &[SSE], body).await
        }
        ("tools/call", "vanish") => respond(stream, "200 OK", &[SSE], ": nothing\n\n").await,
        ("tools/call", "refuse") => {
            let body = json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32602, "message": "no such tool"}})
            .to_string();
            respond(stream, "400 Bad Request", &[JSON], &body).await
        }
        ("tools/call", "teapot") => {
            respond(stream, "418 I'm a teapot", &[], "short and stout").await
        }
        ("tools/call", "ghost") => respond(stream, "404 Not Found", &[], "").await,
        ("tools/call", _) => {
            let r = answer(id, json!({"content": [{"type": "text", "text": "ok"}]}));
            respond(stream, "200 OK", &[JSON], &r).await
        }
        _ => respond(stream, "200 OK", &[JSON], &answer(id, json!({}))).await,
    }
}

#[tokio::test]
async fn headers_answers_errors_and_the_session() {
    init_tracing();
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
        let seen: Log = Arc::default();
        let log = seen.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let log = log.clone();
                tokio::spawn(async move {
                    if let Some(req) = read_request(&mut stream).await {
                        log.lock().expect("lock").push(req.clone());
                        serve(&mut stream, &req, &log).await;
                    }
                });
            }
        });
        let notes = Arc::new(Mutex::new(Vec::new()));
        let sink = notes.clone();
        let client = Client::builder()
            .http_header("Authorization", "Bearer test-token")
            .on_notification(move |n| sink.lock().expect("lock").push(n))
            .connect_http(&url)
            .await
            .expect("connect");
        assert_eq!(client.server_info().name, "scripted-http");

        let tools = client.list_tools().await.expect("tools over SSE");
        assert_eq!(tools[0].name, "t");
        assert_eq!(
            notes.lock().expect("lock").len(),
            1,
            "the notification on the stream"
        );
        let r = client
            .call_tool("echo", json!({}))
            .await
            .expect("JSON answer");
        assert_eq!(r.content[0].as_text(), Some("ok"));

        // A stream that ends after an event id is resumed with GET + Last-Event-ID, again
        // after a resumption that broke before any event, waiting `retry` each time.
        let started = std::time::Instant::now();
        let r = client
            .call_tool("resume", json!({}))
            .await
            .expect("resumed");
        assert_eq!(r.content[0].as_text(), Some("resumed"));
        assert!(
            started.elapsed() >= std::time::Duration::from_millis(100),
            "retry honoured"
        );

        let e = client
            .call_tool("vanish", json!({}))
            .await
            .expect_err("no response");
        assert!(
            matches!(&e, Error::Protocol(m) if m.contains("no event id")),
            "{e:?}"
        );
        let e = client
            .call_tool("refuse", json!({}))
            .await
            .expect_err("rpc error");
        assert_eq!(e.rpc().map(|e| e.code), Some(-32602), "{e:?}");
        let e = client
            .call_tool("teapot", json!({}))
            .await
            .expect_err("http error");
        assert!(
            matches!(&e, Error::Http { status: 418, message } if &**message == "short and stout"),
            "{e:?}"
        );
        let e = client
            .call_tool("ghost", json!({}))
            .await
            .expect_err("expired");
        assert!(matches!(e, Error::SessionExpired), "{e:?}");
        client.close().await;

        let seen = seen.lock().expect("lock").clone();
        let init = &seen[0];
        assert_eq!(init.body["method"], "initialize");
        assert!(!init.headers.contains_key("mcp-session-id"));
        assert!(!init.headers.contains_key("mcp-protocol-version"));
        for req in &seen {
            assert_eq!(req.headers["authorization"], "Bearer test-token", "{req:?}");
            if req.method == "POST" {
                assert_eq!(req.headers["content-type"], "application/json");
                let accept = &req.headers["accept"];
                assert!(
                    accept.contains("application/json") && accept.contains("text/event-stream")
                );
            }
            if !std::ptr::eq(req, init) {
                assert_eq!(req.headers["mcp-session-id"], "s-1", "{req:?}");
                assert_eq!(req.headers["mcp-protocol-version"], "2025-11-25", "{req:?}");
            }
        }
        let methods: Vec<_> = seen.iter().map(|r| r.method.as_str()).collect();
        let gets = seen.iter().filter(|r| r.method == "GET").count();
        assert_eq!(gets, 3, "the listen GET (405) and two resumptions");
        assert_eq!(methods.last(), Some(&"DELETE"), "{methods:?}");
        assert_eq!(seen[1].body["method"], "notifications/initialized");
        server.abort();
    })
    .await;
}
