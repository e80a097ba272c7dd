//! Byte-exact streams in each provider's wire format (`tests/fixtures/`), decoded whole, cut
//! in two at every byte boundary, byte by byte, and served over loopback HTTP in small
//! chunks: every way of delivering the bytes must give the same events.

use std::time::Duration;

use futures_util::StreamExt;
use rune_providers::mock::{MockServer, Reply};
use rune_providers::stream::StreamDecoder;
use rune_providers::{
    ChatRequest, ErrorKind, Http, Message, Provider, RetryPolicy, Secret, StopReason, StreamEvent,
    ToolCall, Usage, anthropic, ollama, openai,
};
use serde_json::json;

type Item = Result<StreamEvent, rune_providers::Error>;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn run(make: fn() -> StreamDecoder, chunks: &[&[u8]]) -> Vec<Item> {
    let mut d = make();
    let mut out = Vec::new();
    for c in chunks {
        d.feed(c, &mut out);
    }
    d.finish(&mut out);
    out
}

/// Decodes `bytes` whole, split at every boundary and byte by byte; all must agree.
fn decode_every_way(make: fn() -> StreamDecoder, bytes: &[u8]) -> Vec<Item> {
    let whole = run(make, &[bytes]);
    for k in 0..=bytes.len() {
        assert_eq!(
            run(make, &[&bytes[..k], &bytes[k..]]),
            whole,
            "split at byte {k}"
        );
    }
    let singles: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(run(make, &singles), whole, "byte by byte");
    whole
}

fn text(s: &str) -> Item {
    Ok(StreamEvent::TextDelta(s.into()))
}

fn delta(index: usize, id: &str, name: &str, d: &str, args: &str) -> Item {
    Ok(StreamEvent::ToolCallDelta {
        index,
        id: id.into(),
        name: name.into(),
        delta: d.into(),
        arguments: args.into(),
    })
}

fn call(id: &str, name: &str, args: serde_json::Value) -> Item {
    Ok(StreamEvent::ToolCall(ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: args,
    }))
}

fn usage(i: u64, o: u64) -> Item {
    Ok(StreamEvent::Usage(Usage {
        input_tokens: i,
        output_tokens: o,
    }))
}

fn stop(s: StopReason) -> Item {
    Ok(StreamEvent::Stop(s))
}

fn openai_text_events() -> Vec<Item> {
    vec![
        text("Hello"),
        text(", wörld ☃!"),
        usage(9, 3),
        stop(StopReason::EndTurn),
    ]
}

fn openai_tool_events() -> Vec<Item> {
    vec![
        delta(0, "call_a", "get_weather", "", ""),
        delta(0, "call_a", "get_weather", "{\"loc", "{\"loc"),
        delta(
            0,
            "call_a",
            "get_weather",
            "ation\": \"Zürich\"}",
            "{\"location\": \"Zürich\"}",
        ),
        delta(1, "call_b", "get_time", "", ""),
        delta(1, "call_b", "get_time", "{}", "{}"),
        call("call_a", "get_weather", json!({"location": "Zürich"})),
        call("call_b", "get_time", json!({})),
        usage(80, 40),
        stop(StopReason::ToolUse),
    ]
}

fn anthropic_events() -> Vec<Item> {
    vec![
        Ok(StreamEvent::ThinkingDelta(
            "The user wants the weather.".into(),
        )),
        text("Let me check"),
        text(" the weather ☁."),
        delta(2, "toolu_01", "get_weather", "", ""),
        delta(2, "toolu_01", "get_weather", "", ""),
        delta(
            2,
            "toolu_01",
            "get_weather",
            "{\"location\":",
            "{\"location\":",
        ),
        delta(
            2,
            "toolu_01",
            "get_weather",
            " \"Paris\"}",
            "{\"location\": \"Paris\"}",
        ),
        call("toolu_01", "get_weather", json!({"location": "Paris"})),
        usage(572, 89),
        stop(StopReason::ToolUse),
    ]
}

fn ollama_events() -> Vec<Item> {
    vec![
        Ok(StreamEvent::ThinkingDelta("Weather, then.".into())),
        text("Hel"),
        text("lo é"),
        delta(
            0,
            "",
            "get_weather",
            "{\"location\":\"Paris\"}",
            "{\"location\":\"Paris\"}",
        ),
        call("call_1", "get_weather", json!({"location": "Paris"})),
        usage(26, 282),
        stop(StopReason::ToolUse),
    ]
}

#[test]
fn openai_text_with_usage_keepalive_and_escapes() {
    let events = decode_every_way(openai::decoder, &fixture("openai_text.sse"));
    assert_eq!(events, openai_text_events());
}

#[test]
fn openai_tool_call_deltas_crlf_and_multiline_data() {
    let events = decode_every_way(openai::decoder, &fixture("openai_tools.sse"));
    assert_eq!(events, openai_tool_events());
}

#[test]
fn openai_error_mid_stream_ends_the_stream() {
    let events = decode_every_way(openai::decoder, &fixture("openai_error.sse"));
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0], text("Par"));
    let e = events[1].clone().expect_err("error event");
    assert_eq!(e.kind(), ErrorKind::Server);
    assert!(e.message().contains("error while processing"));
}

#[test]
fn openai_stream_cut_short_is_an_error() {
    let bytes = fixture("openai_text.sse");
    let cut = &bytes[..bytes.len() / 2];
    let events = run(openai::decoder, &[cut]);
    let last = events
        .last()
        .expect("items")
        .clone()
        .expect_err("cut short");
    assert_eq!(last.kind(), ErrorKind::Network);
}

#[test]
fn anthropic_thinking_text_tool_use_ping() {
    let events = decode_every_way(anthropic::decoder, &fixture("anthropic_tools.sse"));
    assert_eq!(events, anthropic_events());
}

#[test]
fn anthropic_error_event_after_200() {
    let events = decode_every_way(anthropic::decoder, &fixture("anthropic_error.sse"));
    assert_eq!(events[0], text("Hi"));
    let e = events[1].clone().expect_err("error event");
    assert_eq!(e.kind(), ErrorKind::Overloaded);
    assert_eq!(events.len(), 2);
}

#[test]
fn ollama_ndjson_thinking_text_tool_calls_done() {
    let events = decode_every_way(ollama::decoder, &fixture("ollama_chat.ndjson"));
    assert_eq!(events, ollama_events());
}

#[test]
fn ollama_error_line_mid_stream() {
    let events = decode_every_way(ollama::decoder, &fixture("ollama_error.ndjson"));
    assert_eq!(events[0], text("Hel"));
    let e = events[1].clone().expect_err("error line");
    assert_eq!(e.kind(), ErrorKind::Server);
    assert!(e.message().contains("unexpected EOF"));
}

fn no_retry() -> Http {
    Http::new().with_retry(RetryPolicy::none())
}

/// Serves `bytes` in chunks of `size` (each its own HTTP chunk, written and flushed apart).
fn chunked(bytes: &[u8], size: usize) -> Vec<Vec<u8>> {
    bytes.chunks(size).map(<[u8]>::to_vec).collect()
}

async fn stream_all(p: &dyn Provider, req: &ChatRequest) -> Vec<Item> {
    let mut s = p.chat_stream(req).await.expect("stream starts");
    let mut out = Vec::new();
    while let Some(e) = s.next().await {
        out.push(e);
    }
    out
}

fn request() -> ChatRequest {
    ChatRequest::new("m", vec![Message::user("weather?")])
}

#[tokio::test]
async fn over_http_every_provider_in_small_chunks() {
    for size in [1usize, 7, 64] {
        // Each chunk is its own write, flushed with TCP_NODELAY; a pause after every chunk
        // of the first round makes the client see them in separate reads.
        let pause = if size == 64 {
            Duration::from_millis(1)
        } else {
            Duration::ZERO
        };
        let server = MockServer::start(vec![
            Reply::sse(chunked(&fixture("openai_tools.sse"), size)).pause(pause),
            Reply::sse(chunked(&fixture("anthropic_tools.sse"), size)).pause(pause),
            Reply::ndjson(chunked(&fixture("ollama_chat.ndjson"), size)).pause(pause),
        ])
        .await
        .expect("server");
        let oa = openai::OpenAi::new(format!("{}/v1", server.url()), None, no_retry());
        assert_eq!(stream_all(&oa, &request()).await, openai_tool_events());
        let an = anthropic::Anthropic::new(server.url(), Secret::new("sk-ant-x"), no_retry());
        assert_eq!(stream_all(&an, &request()).await, anthropic_events());
        let ol = ollama::Ollama::new(server.url(), no_retry());
        assert_eq!(stream_all(&ol, &request()).await, ollama_events());
        let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
        assert_eq!(paths, ["/v1/chat/completions", "/v1/messages", "/api/chat"]);
    }
}

#[tokio::test]
async fn azure_deployment_stream_over_http() {
    let server = MockServer::start(vec![Reply::sse(chunked(&fixture("openai_text.sse"), 13))])
        .await
        .expect("server");
    let az = openai::OpenAi::azure(
        server.url(),
        Secret::new("azure-secret-key"),
        openai::AzureApi::Deployments {
            api_version: "2024-10-21".into(),
        },
        no_retry(),
    );
    let req = ChatRequest::new("gpt4o-prod", vec![Message::user("hi")]);
    assert_eq!(stream_all(&az, &req).await, openai_text_events());
    let r = &server.requests()[0];
    assert_eq!(
        r.path,
        "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(r.header("api-key"), Some("azure-secret-key"));
    assert_eq!(r.header("authorization"), None);
    let body = r.json();
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
}

#[tokio::test]
async fn ollama_generate_streams_response_fields() {
    let body = b"{\"model\":\"llama3.2\",\"response\":\"The\",\"done\":false}\n\
{\"model\":\"llama3.2\",\"response\":\" sky\",\"done\":false}\n\
{\"model\":\"llama3.2\",\"response\":\"\",\"done\":true,\"done_reason\":\"length\",\"prompt_eval_count\":5,\"eval_count\":2}\n";
    let server = MockServer::start(vec![Reply::ndjson(chunked(body, 5))])
        .await
        .expect("server");
    let ol = ollama::Ollama::new(server.url(), no_retry());
    let mut s = ol
        .generate_stream("llama3.2", "Why?", Some("Be brief."))
        .await
        .expect("stream");
    let mut out = Vec::new();
    while let Some(e) = s.next().await {
        out.push(e);
    }
    assert_eq!(
        out,
        vec![
            text("The"),
            text(" sky"),
            usage(5, 2),
            stop(StopReason::MaxTokens)
        ]
    );
    let r = &server.requests()[0];
    assert_eq!(r.path, "/api/generate");
    assert_eq!(
        r.json(),
        json!({"model":"llama3.2","prompt":"Why?","stream":true,"system":"Be brief."})
    );
}
