//! web_fetch's costs, measured against a local server in one run:
//!
//! 1. a cached hit: `Fetcher::call_tool` on a fresh cached page (16 KiB HTML rendered as
//!    Markdown, one 20 000-character page of it returned), and the same through a real
//!    `rune_server::Server` over an in-memory pipe (JSON-RPC encoding included);
//! 2. uncached throughput on loopback: `call_tool` with the cache off against a plain
//!    `reqwest` loop (GET and read the body, same keep-alive server), side by side, for a
//!    text page (the HTTP path alone) and an HTML page (plus the Markdown conversion).
//!
//! Run: `cargo run --release -p rune-fetch --example bench_fetch`

#![allow(clippy::unwrap_used)]

#[path = "../tests/support/server.rs"]
mod server;

use std::time::{Duration, Instant};

use rune_fetch::{CacheOptions, FetchOptions, Fetcher, WebFetchArgs};
use serde_json::json;
use server::{Reply, Request, TestServer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn no_progress(_: u64, _: Option<u64>) {}

fn args(url: &str) -> WebFetchArgs {
    serde_json::from_value(json!({ "url": url })).unwrap()
}

fn html_page() -> String {
    let mut s = String::from("<!doctype html><html><head><title>Bench</title></head><body>");
    let mut i = 0;
    while s.len() < 16 * 1024 {
        s.push_str(&format!(
            "<h2>Section {i}</h2><p>Paragraph {i} with <a href=\"/p/{i}\">a link</a>, some \
             <b>bold</b> text and <code>code</code>.</p><ul><li>one</li><li>two</li></ul>"
        ));
        i += 1;
    }
    s.push_str("</body></html>");
    s
}

fn opts(cache: bool) -> FetchOptions {
    FetchOptions {
        allow_loopback: true,
        cache: CacheOptions {
            enabled: cache,
            dir: None,
            ..CacheOptions::default()
        },
        ..FetchOptions::default()
    }
}

fn per_op(d: Duration, n: u32) -> f64 {
    d.as_secs_f64() * 1e6 / f64::from(n)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let html = html_page();
    let text = "plain text line for the benchmark\n".repeat(16 * 1024 / 34);
    let (h2, t2) = (html.clone(), text.clone());
    let s = TestServer::start(move |req: &Request| match req.path.as_str() {
        "/cached" => Reply::status(
            200,
            &[
                ("Content-Type", "text/html"),
                ("Cache-Control", "max-age=3600"),
            ],
            h2.clone(),
        ),
        "/html" => Reply::ok("text/html", h2.clone()),
        _ => Reply::ok("text/plain", t2.clone()),
    })
    .await;
    println!(
        "pages: HTML {} bytes, text {} bytes; server on {}",
        html.len(),
        text.len(),
        s.addr
    );

    // 1. Cached hit, in-process.
    let f = Fetcher::new(opts(true)).unwrap();
    let url = s.url("/cached");
    let first = f.call_tool(args(&url), &no_progress).await.unwrap();
    assert!(!first.is_error());
    let n = 20_000;
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..n {
            let r = f.call_tool(args(&url), &no_progress).await.unwrap();
            std::hint::black_box(r);
        }
        best = best.min(per_op(t.elapsed(), n));
    }
    assert_eq!(s.hits("/cached"), 1, "every call after the first was a hit");
    println!("cached hit, Fetcher::call_tool: {best:.1} µs/call (best of 5 x {n})");

    // The same through the MCP engine (JSON-RPC over an in-memory pipe).
    let server = rune_server::Server::builder("bench", "0")
        .tool(rune_fetch::web_fetch_tool(opts(true)).unwrap())
        .build();
    let (client_end, server_end) = tokio::io::duplex(16 << 20);
    let (r, w) = tokio::io::split(server_end);
    tokio::spawn(async move { server.serve(r, w).await });
    let (cr, mut cw) = tokio::io::split(client_end);
    let mut lines = BufReader::new(cr).lines();
    cw.write_all(
        b"{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"b\",\"version\":\"0\"}}}\n{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n",
    )
    .await
    .unwrap();
    lines.next_line().await.unwrap();
    let call = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{{\"name\":\"web_fetch\",\"arguments\":{{\"url\":\"{url}\"}}}}}}\n"
    );
    cw.write_all(call.as_bytes()).await.unwrap();
    let warm = lines.next_line().await.unwrap().unwrap();
    assert!(warm.contains("\"cache\":\"miss\""), "{}", &warm[..200]);
    let n = 5_000;
    let mut best_rpc = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        for _ in 0..n {
            cw.write_all(call.as_bytes()).await.unwrap();
            let line = lines.next_line().await.unwrap().unwrap();
            std::hint::black_box(line);
        }
        best_rpc = best_rpc.min(per_op(t.elapsed(), n));
    }
    println!(
        "cached hit, tools/call through rune_server (JSON-RPC, in-memory pipe): {best_rpc:.1} µs/call (best of 3 x {n})"
    );

    // 2. Uncached throughput on loopback, web_fetch vs plain reqwest, alternating rounds.
    let wf = Fetcher::new(opts(false)).unwrap();
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    // reqwest set up as web_fetch's client is (timeouts, no redirects) and each request under
    // a deadline, as web_fetch runs it: what is left of the difference is web_fetch's own work.
    let like = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    for path in ["/text", "/html"] {
        let url = s.url(path);
        let n = 2_000;
        // Warm both pools.
        wf.call_tool(args(&url), &no_progress).await.unwrap();
        plain.get(&url).send().await.unwrap().bytes().await.unwrap();
        let (mut best_wf, mut best_plain, mut best_like) = (f64::MAX, f64::MAX, f64::MAX);
        for _ in 0..3 {
            let t = Instant::now();
            for _ in 0..n {
                let r = wf.call_tool(args(&url), &no_progress).await.unwrap();
                std::hint::black_box(r);
            }
            best_wf = best_wf.min(per_op(t.elapsed(), n));
            let t = Instant::now();
            for _ in 0..n {
                let b = plain.get(&url).send().await.unwrap().bytes().await.unwrap();
                std::hint::black_box(b);
            }
            best_plain = best_plain.min(per_op(t.elapsed(), n));
            let t = Instant::now();
            for _ in 0..n {
                let b = tokio::time::timeout(Duration::from_secs(30), async {
                    like.get(&url).send().await.unwrap().bytes().await.unwrap()
                })
                .await
                .unwrap();
                std::hint::black_box(b);
            }
            best_like = best_like.min(per_op(t.elapsed(), n));
        }
        println!(
            "uncached {path}: web_fetch {best_wf:.1} µs/req ({:.0} req/s), plain reqwest \
             {best_plain:.1} µs/req ({:.0} req/s), ratio web_fetch/reqwest time {:.2} \
             (best of 3 x {n}, sequential, keep-alive)",
            1e6 / best_wf,
            1e6 / best_plain,
            best_wf / best_plain
        );
        println!(
            "    reqwest set up like web_fetch (timeouts, deadline per request): {best_like:.1} µs/req"
        );
    }
}
