//! Error mapping over HTTP, retries (with a recording sleeper instead of real time), timeouts,
//! and keys kept out of errors.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use rune_providers::mock::{MockServer, Reply};
use rune_providers::retry::Sleeper;
use rune_providers::{
    ChatRequest, ErrorKind, Http, Message, Provider, RetryPolicy, Secret, anthropic, ollama, openai,
};

const KEY: &str = "sk-test-SECRET-0123456789";

fn recording() -> (Sleeper, Arc<Mutex<Vec<Duration>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let sleeper: Sleeper = Arc::new(move |d| {
        l.lock().expect("lock").push(d);
        Box::pin(async {})
    });
    (sleeper, log)
}

fn http(sleeper: Sleeper) -> Http {
    Http::new().with_sleeper(sleeper)
}

fn request() -> ChatRequest {
    ChatRequest::new("m", vec![Message::user("hi")])
}

const OPENAI_OK: &str = r#"{"id":"chatcmpl-9","object":"chat.completion","model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#;
const ANTHROPIC_OK: &str = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Hello!"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":2}}"#;
const OLLAMA_OK: &str = r#"{"model":"llama3.2","created_at":"2024-07-22T20:33:28Z","message":{"role":"assistant","content":"Hello!"},"done_reason":"stop","done":true,"prompt_eval_count":5,"eval_count":2}"#;

/// Each provider: its success body and a builder from (url, http).
/// A provider under test: its name, its success body, and how to build it.
type Case = (
    &'static str,
    &'static str,
    fn(&str, Http) -> Box<dyn Provider>,
);

fn providers() -> Vec<Case> {
    vec![
        ("openai", OPENAI_OK, |u, h| {
            Box::new(openai::OpenAi::new(
                format!("{u}/v1"),
                Some(Secret::new(KEY)),
                h,
            ))
        }),
        ("azure", OPENAI_OK, |u, h| {
            Box::new(openai::OpenAi::azure(
                u,
                Secret::new(KEY),
                openai::AzureApi::V1,
                h,
            ))
        }),
        ("anthropic", ANTHROPIC_OK, |u, h| {
            Box::new(anthropic::Anthropic::new(u, Secret::new(KEY), h))
        }),
        ("ollama", OLLAMA_OK, |u, h| {
            Box::new(ollama::Ollama::new(u, h))
        }),
    ]
}

#[tokio::test]
async fn retry_after_is_honoured_then_success() {
    for (name, ok, make) in providers() {
        let server = MockServer::start(vec![
            Reply::json(
                429,
                r#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#,
            )
            .header("retry-after", "2"),
            Reply::json(
                529,
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            )
            .header("retry-after-ms", "1500"),
            Reply::json(200, ok),
        ])
        .await
        .expect("server");
        let (sleeper, log) = recording();
        let p = make(server.url(), http(sleeper));
        let r = p
            .chat(&request())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.text, "Hello!", "{name}");
        assert_eq!(r.usage.map(|u| u.output_tokens), Some(2), "{name}");
        assert_eq!(
            *log.lock().expect("lock"),
            vec![Duration::from_secs(2), Duration::from_millis(1500)],
            "{name}"
        );
        assert_eq!(server.requests().len(), 3, "{name}");
    }
}

#[tokio::test]
async fn server_errors_back_off_exponentially_then_give_up() {
    let server = MockServer::start(vec![
        Reply::json(
            500,
            r#"{"error":{"message":"boom","type":"server_error"}}"#
        );
        4
    ])
    .await
    .expect("server");
    let (sleeper, log) = recording();
    let policy = RetryPolicy {
        max_retries: 3,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(10),
        max_retry_after: Duration::from_secs(60),
    };
    let p = openai::OpenAi::new(
        format!("{}/v1", server.url()),
        None,
        http(sleeper).with_retry(policy),
    );
    let e = p.chat(&request()).await.expect_err("gives up");
    assert_eq!(e.kind(), ErrorKind::Server);
    assert_eq!(e.status(), Some(500));
    assert_eq!(server.requests().len(), 4, "1 try + 3 retries");
    let waits = log.lock().expect("lock").clone();
    assert_eq!(waits.len(), 3);
    for (i, w) in waits.iter().enumerate() {
        let full = Duration::from_millis(100 * (1 << i));
        assert!(
            *w >= full / 2 && *w <= full,
            "wait {i}: {w:?} not in [{:?}, {full:?}]",
            full / 2
        );
    }
}

#[tokio::test]
async fn non_retryable_errors_are_not_retried_and_hide_the_key() {
    // The server echoes the key, as some do in "invalid key" messages.
    let body = format!(
        r#"{{"error":{{"message":"Incorrect API key provided: {KEY}.","type":"invalid_request_error","code":"invalid_api_key"}}}}"#
    );
    let server = MockServer::start(vec![Reply::json(401, &body)])
        .await
        .expect("server");
    let (sleeper, log) = recording();
    let p = openai::OpenAi::new(
        format!("{}/v1", server.url()),
        Some(Secret::new(KEY)),
        http(sleeper),
    );
    let e = p.chat(&request()).await.expect_err("401");
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert_eq!(server.requests().len(), 1);
    assert!(log.lock().expect("lock").is_empty());
    let shown = format!("{e} {e:?} {p:?}");
    assert!(!shown.contains(KEY), "{shown}");
    assert!(shown.contains("[redacted]"), "{shown}");
    // The key was sent, in the header only.
    let r = &server.requests()[0];
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert!(!r.path.contains(KEY));
}

#[tokio::test]
async fn a_retry_after_beyond_the_limit_is_returned_not_waited() {
    let server = MockServer::start(vec![
        Reply::json(
            429,
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"later"}}"#,
        )
        .header("retry-after", "600"),
    ])
    .await
    .expect("server");
    let (sleeper, log) = recording();
    let p = anthropic::Anthropic::new(server.url(), Secret::new(KEY), http(sleeper));
    let e = p.chat(&request()).await.expect_err("429");
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(600)));
    assert!(log.lock().expect("lock").is_empty());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn openai_rate_limit_reset_headers_give_the_delay() {
    let server = MockServer::start(vec![
        Reply::json(429, r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#)
            .header("x-ratelimit-remaining-requests", "0")
            .header("x-ratelimit-reset-requests", "1.5s")
            .header("x-ratelimit-remaining-tokens", "5000")
            .header("x-ratelimit-reset-tokens", "40s"),
        Reply::json(200, OPENAI_OK),
    ])
    .await
    .expect("server");
    let (sleeper, log) = recording();
    let p = openai::OpenAi::new(format!("{}/v1", server.url()), None, http(sleeper));
    p.chat(&request()).await.expect("second try");
    assert_eq!(
        *log.lock().expect("lock"),
        vec![Duration::from_millis(1500)]
    );
}

#[tokio::test]
async fn quota_exhaustion_is_not_retried() {
    let server = MockServer::start(vec![Reply::json(
        429,
        r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
    )])
    .await
    .expect("server");
    let (sleeper, _) = recording();
    let p = openai::OpenAi::new(format!("{}/v1", server.url()), None, http(sleeper));
    let e = p.chat(&request()).await.expect_err("quota");
    assert_eq!(e.kind(), ErrorKind::QuotaExceeded);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_stream_is_never_retried_once_started() {
    let server = MockServer::start(vec![
        Reply::sse(vec![
            b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n".to_vec(),
            b"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n".to_vec(),
            b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n".to_vec(),
            b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"Internal server error\"}}\n\n".to_vec(),
        ]),
        Reply::json(200, ANTHROPIC_OK),
    ])
    .await
    .expect("server");
    let (sleeper, log) = recording();
    let p = anthropic::Anthropic::new(server.url(), Secret::new(KEY), http(sleeper));
    let mut s = p.chat_stream(&request()).await.expect("started");
    let mut items = Vec::new();
    while let Some(i) = s.next().await {
        items.push(i);
    }
    assert_eq!(items.len(), 2);
    let e = items[1].clone().expect_err("mid-stream error");
    assert_eq!(e.kind(), ErrorKind::Server);
    assert!(e.is_retryable(), "retryable in kind, yet not retried");
    assert_eq!(server.requests().len(), 1);
    assert!(log.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn a_stream_that_fails_before_starting_is_retried() {
    let server = MockServer::start(vec![
        Reply::json(503, "upstream unavailable"),
        Reply::ndjson(vec![
            b"{\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},\"done\":true,\"done_reason\":\"stop\"}\n".to_vec(),
        ]),
    ])
    .await
    .expect("server");
    let (sleeper, log) = recording();
    let p = ollama::Ollama::new(server.url(), http(sleeper));
    let s = p.chat_stream(&request()).await.expect("second try");
    let r = rune_providers::collect(s, "m").await.expect("answer");
    assert_eq!(r.text, "ok");
    assert_eq!(log.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn read_timeout_is_a_timeout_error() {
    let server = MockServer::start(vec![Reply::sse(vec![b": started\n\n".to_vec()]).stall()])
        .await
        .expect("server");
    let client =
        rune_providers::http::build_client(Duration::from_secs(2), Duration::from_millis(300));
    let p = openai::OpenAi::new(
        format!("{}/v1", server.url()),
        None,
        Http::new()
            .with_client(client)
            .with_retry(RetryPolicy::none()),
    );
    let mut s = p.chat_stream(&request()).await.expect("headers arrive");
    let e = s.next().await.expect("an item").expect_err("stalls");
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
}

#[tokio::test]
async fn connection_refused_is_a_network_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let p = ollama::Ollama::new(
        format!("http://127.0.0.1:{port}"),
        Http::new().with_retry(RetryPolicy::none()),
    );
    let e = p.chat(&request()).await.expect_err("refused");
    assert_eq!(e.kind(), ErrorKind::Network, "{e}");
}

#[tokio::test]
async fn invalid_requests_are_never_sent() {
    let server = MockServer::start(vec![]).await.expect("server");
    let p = openai::OpenAi::new(format!("{}/v1", server.url()), None, Http::new());
    let e = p
        .chat(&ChatRequest::new("m", vec![]))
        .await
        .expect_err("empty");
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    assert!(p.chat_stream(&request().max_tokens(0)).await.is_err());
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn error_statuses_map_for_every_provider() {
    // (status, body) → kind, per provider's documented error shapes.
    let openai_cases = [
        (
            400,
            r#"{"error":{"message":"maximum context length is 8192 tokens","type":"invalid_request_error","code":"context_length_exceeded"}}"#,
            ErrorKind::ContextTooLong,
        ),
        (
            403,
            r#"{"error":{"message":"Country not supported","type":"invalid_request_error","code":"unsupported_country_region_territory"}}"#,
            ErrorKind::PermissionDenied,
        ),
        (
            404,
            r#"{"error":{"message":"The model `x` does not exist","type":"invalid_request_error","code":"model_not_found"}}"#,
            ErrorKind::NotFound,
        ),
    ];
    let anthropic_cases = [
        (
            401,
            r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
            ErrorKind::Authentication,
        ),
        (
            413,
            r#"{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum size"}}"#,
            ErrorKind::ContextTooLong,
        ),
        (
            400,
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}"#,
            ErrorKind::InvalidRequest,
        ),
    ];
    let ollama_cases = [
        (
            404,
            r#"{"error":"model \"nope\" not found, try pulling it first"}"#,
            ErrorKind::NotFound,
        ),
        (
            400,
            r#"{"error":"registry.ollama.ai/library/gemma:2b does not support tools"}"#,
            ErrorKind::InvalidRequest,
        ),
    ];
    let policy = Http::new().with_retry(RetryPolicy::none());
    for (status, body, kind) in openai_cases {
        let server = MockServer::start(vec![Reply::json(status, body)])
            .await
            .expect("server");
        let p = openai::OpenAi::new(format!("{}/v1", server.url()), None, policy.clone());
        let e = p.chat(&request()).await.expect_err("error");
        assert_eq!((e.kind(), e.status()), (kind, Some(status)), "{body}");
    }
    for (status, body, kind) in anthropic_cases {
        let server = MockServer::start(vec![Reply::json(status, body)])
            .await
            .expect("server");
        let p = anthropic::Anthropic::new(server.url(), Secret::new(KEY), policy.clone());
        let e = p.chat(&request()).await.expect_err("error");
        assert_eq!((e.kind(), e.status()), (kind, Some(status)), "{body}");
    }
    for (status, body, kind) in ollama_cases {
        let server = MockServer::start(vec![Reply::json(status, body)])
            .await
            .expect("server");
        let p = ollama::Ollama::new(server.url(), policy.clone());
        let e = p.chat(&request()).await.expect_err("error");
        assert_eq!((e.kind(), e.status()), (kind, Some(status)), "{body}");
    }
}

#[tokio::test]
async fn a_key_echoed_in_a_mid_stream_error_is_redacted() {
    let event = format!(
        "data: {{\"error\":{{\"message\":\"key {KEY} was revoked\",\"type\":\"server_error\"}}}}\n\n"
    );
    let server = MockServer::start(vec![Reply::sse(vec![event.into_bytes()])])
        .await
        .expect("server");
    let p = openai::OpenAi::new(
        format!("{}/v1", server.url()),
        Some(Secret::new(KEY)),
        Http::new().with_retry(RetryPolicy::none()),
    );
    let mut s = p.chat_stream(&request()).await.expect("started");
    let e = s.next().await.expect("an item").expect_err("error event");
    assert_eq!(e.message(), "key [redacted] was revoked");
}

/// The limiter is on the request path: a success that says the request bucket is empty holds
/// the next request until the bucket's reset.
#[tokio::test]
async fn an_exhausted_bucket_holds_the_next_request_until_its_reset() {
    let server = MockServer::start(vec![
        Reply::json(200, OPENAI_OK)
            .header("x-ratelimit-remaining-requests", "0")
            .header("x-ratelimit-reset-requests", "400ms"),
        Reply::json(200, OPENAI_OK),
    ])
    .await
    .expect("server");
    let limiter = Arc::new(rune_providers::RateLimiter::new(Some(10_000), None));
    let p = openai::OpenAi::new(
        format!("{}/v1", server.url()),
        None,
        Http::new().with_limiter(limiter),
    );
    p.chat(&request()).await.expect("first");
    let start = std::time::Instant::now();
    p.chat(&request()).await.expect("second");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(390),
        "the second request went out after {waited:?}"
    );
}
