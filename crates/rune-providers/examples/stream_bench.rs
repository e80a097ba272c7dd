//! Streaming benchmark: how fast each provider's stream is decoded, and how much latency the
//! provider layer adds before the first token over a loopback server that streams at once.
//!
//! ```text
//! cargo run --release -p rune-providers --features mock --example stream_bench
//! ```
//!
//! 1. **Parse throughput**: a stream of `TOKENS` text deltas in each wire format is fed to the
//!    provider's `StreamDecoder` in 16 KiB pieces, with no network; tokens (deltas) per
//!    second and MB/s.
//! 2. **Added latency to first token**: the loopback mock server answers with a small stream
//!    whose first event is a text delta. The baseline is a plain reqwest POST on the same
//!    pooled client, timed to its first body chunk; the measured path is
//!    `provider.chat_stream(..)` timed to its first `TextDelta` (validation, body encoding,
//!    retry wrapper, SSE/NDJSON decoding and event parsing included). Medians and p99 over
//!    `ROUNDS` alternating rounds.
//! 3. **End to end over loopback**: a whole `TOKENS`-delta stream read through
//!    `chat_stream`, tokens per second.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rune_providers::mock::{MockServer, Reply};
use rune_providers::stream::StreamDecoder;
use rune_providers::{
    ChatRequest, Http, Message, Provider, RetryPolicy, Secret, StreamEvent, anthropic, ollama,
    openai,
};

const TOKENS: usize = 200_000;
const ROUNDS: usize = 300;

fn openai_body(n: usize) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(
            "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o-mini\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"tok{} \"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n",
            i % 10
        ));
    }
    s.push_str("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
    s.into_bytes()
}

fn anthropic_body(n: usize) -> Vec<u8> {
    let mut s = String::from(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude\",\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n\
         event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    );
    for i in 0..n {
        s.push_str(&format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"tok{} \"}}}}\n\n",
            i % 10
        ));
    }
    s.push_str("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":5}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    s.into_bytes()
}

fn ollama_body(n: usize) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(
            "{{\"model\":\"llama3.2\",\"created_at\":\"2024-07-22T20:33:28.123456Z\",\"message\":{{\"role\":\"assistant\",\"content\":\"tok{} \"}},\"done\":false}}\n",
            i % 10
        ));
    }
    s.push_str("{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\",\"prompt_eval_count\":5,\"eval_count\":5}\n");
    s.into_bytes()
}

fn parse_throughput(name: &str, make: fn() -> StreamDecoder, body: &[u8]) {
    let mut best = Duration::MAX;
    let mut tokens = 0;
    for _ in 0..5 {
        let start = Instant::now();
        let mut d = make();
        let mut out = Vec::new();
        let mut count = 0usize;
        for chunk in body.chunks(16 * 1024) {
            d.feed(chunk, &mut out);
            count += out
                .iter()
                .filter(|e| matches!(e, Ok(StreamEvent::TextDelta(_))))
                .count();
            out.clear();
        }
        d.finish(&mut out);
        best = best.min(start.elapsed());
        tokens = count;
    }
    assert_eq!(tokens, TOKENS, "{name}: every delta decoded");
    let secs = best.as_secs_f64();
    println!(
        "parse  {name:<10} {:>6.2} M tokens/s  {:>7.1} MB/s  ({} deltas, {} bytes, best of 5)",
        tokens as f64 / secs / 1e6,
        body.len() as f64 / secs / 1e6,
        tokens,
        body.len()
    );
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

async fn first_token(p: &dyn Provider, req: &ChatRequest) -> Duration {
    let start = Instant::now();
    let mut s = p.chat_stream(req).await.expect("stream");
    while let Some(e) = s.next().await {
        if let StreamEvent::TextDelta(_) = e.expect("event") {
            let t = start.elapsed();
            while s.next().await.is_some() {}
            return t;
        }
    }
    panic!("no text delta");
}

async fn raw_first_chunk(client: &reqwest::Client, url: &str, body: &[u8]) -> Duration {
    let start = Instant::now();
    let mut resp = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .expect("send");
    let first = resp.chunk().await.expect("chunk");
    let t = start.elapsed();
    assert!(first.is_some());
    while resp.chunk().await.ok().flatten().is_some() {}
    t
}

type Make = fn(&str) -> Box<dyn Provider>;

async fn latency(name: &str, path: &str, small: Vec<u8>, make: Make, ndjson: bool) {
    let reply = || {
        if ndjson {
            Reply::ndjson(vec![small.clone()])
        } else {
            Reply::sse(vec![small.clone()])
        }
    };
    let server = MockServer::start(vec![]).await.expect("server");
    let p = make(server.url());
    let req = ChatRequest::new("m", vec![Message::user("Say something.")]);
    let raw_url = format!("{}{path}", server.url());
    let raw_body =
        br#"{"model":"m","messages":[{"role":"user","content":"Say something."}],"stream":true}"#;
    let client = rune_providers::http::shared_client();
    // Warm the pooled connection.
    for _ in 0..20 {
        server.push(reply());
        first_token(p.as_ref(), &req).await;
        server.push(reply());
        raw_first_chunk(&client, &raw_url, raw_body).await;
    }
    let (mut base, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        server.push(reply());
        base.push(raw_first_chunk(&client, &raw_url, raw_body).await);
        server.push(reply());
        ours.push(first_token(p.as_ref(), &req).await);
    }
    let (b50, o50) = (percentile(&mut base, 0.5), percentile(&mut ours, 0.5));
    let (b99, o99) = (percentile(&mut base, 0.99), percentile(&mut ours, 0.99));
    println!(
        "first  {name:<10} raw first chunk p50 {:>7.1} µs  provider first token p50 {:>7.1} µs  added p50 {:>6.1} µs  (p99 {:>7.1} vs {:>7.1} µs)",
        b50.as_secs_f64() * 1e6,
        o50.as_secs_f64() * 1e6,
        (o50.as_secs_f64() - b50.as_secs_f64()) * 1e6,
        b99.as_secs_f64() * 1e6,
        o99.as_secs_f64() * 1e6,
    );
}

async fn end_to_end(name: &str, body: Vec<u8>, make: Make, ndjson: bool) {
    let chunks: Vec<Vec<u8>> = body.chunks(64 * 1024).map(<[u8]>::to_vec).collect();
    let reply = if ndjson {
        Reply::ndjson(chunks)
    } else {
        Reply::sse(chunks)
    };
    let server = MockServer::start(vec![reply]).await.expect("server");
    let p = make(server.url());
    let req = ChatRequest::new("m", vec![Message::user("Say a lot.")]);
    let start = Instant::now();
    let mut s = p.chat_stream(&req).await.expect("stream");
    let mut n = 0usize;
    while let Some(e) = s.next().await {
        if let StreamEvent::TextDelta(_) = e.expect("event") {
            n += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(n, TOKENS);
    println!(
        "e2e    {name:<10} {:>6.2} M tokens/s over loopback ({n} deltas in {:.1} ms)",
        n as f64 / secs / 1e6,
        secs * 1e3
    );
}

fn http() -> Http {
    Http::new().with_retry(RetryPolicy::none())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    parse_throughput("openai", openai::decoder, &openai_body(TOKENS));
    parse_throughput("anthropic", anthropic::decoder, &anthropic_body(TOKENS));
    parse_throughput("ollama", ollama::decoder, &ollama_body(TOKENS));

    let oa: Make = |u| Box::new(openai::OpenAi::new(format!("{u}/v1"), None, http()));
    let an: Make = |u| Box::new(anthropic::Anthropic::new(u, Secret::new("k"), http()));
    let ol: Make = |u| Box::new(ollama::Ollama::new(u, http()));
    latency("openai", "/v1/chat/completions", openai_body(3), oa, false).await;
    latency("anthropic", "/v1/messages", anthropic_body(3), an, false).await;
    latency("ollama", "/api/chat", ollama_body(3), ol, true).await;

    end_to_end("openai", openai_body(TOKENS), oa, false).await;
    end_to_end("anthropic", anthropic_body(TOKENS), an, false).await;
    end_to_end("ollama", ollama_body(TOKENS), ol, true).await;
}
