//! The OpenAI provider against a server we did not write: mock-llm (from npm,
//! an OpenAI-compatible mock server pinned in `tests/peers/`, installed outside the repository by
//! `scripts/install-provider-peers.sh`). Whole and streamed answers, the model list, and its
//! error rules.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rune_providers::{
    ChatRequest, ErrorKind, Http, Message, Provider, RetryPolicy, Secret, StopReason, StreamEvent,
    openai,
};

struct Peer {
    child: Child,
    url: String,
    dir: PathBuf,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const CONFIG: &str = r#"rules:
  - path: "/v1/chat/completions"
    method: "POST"
    match: "@"
    response:
      status: 200
      content: |
        {
          "id": "chatcmpl-{{timestamp}}",
          "object": "chat.completion",
          "model": "{{jmes request body.model}}",
          "choices": [{
            "message": {"role": "assistant", "content": "{{jmes request body.messages[-1].content}}"},
            "finish_reason": "stop"
          }]
        }
  - path: "/v1/chat/completions"
    match: "contains(body.messages[-1].content, 'error-401')"
    response:
      status: 401
      content: |
        {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}
  - path: "/v1/chat/completions"
    match: "contains(body.messages[-1].content, 'too-long')"
    response:
      status: 400
      content: |
        {"error": {"message": "This model's maximum context length is 8192 tokens.", "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}
  - path: "/v1/models"
    method: "GET"
    response:
      status: 200
      content: |
        {"object": "list", "data": [{"id": "mock-model", "object": "model", "owned_by": "mock"}]}
"#;

fn start() -> Peer {
    let out = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/install-provider-peers.sh"
        ))
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/install-provider-peers.sh");
    assert!(out.status.success(), "installing mock-llm failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("{k} missing from:\n{text}"))
    };
    let (node, main) = (get("RUNE_PEERS_NODE"), get("RUNE_MOCK_LLM"));
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let dir = std::env::temp_dir().join(format!("rune-mock-llm-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("mock-llm.yaml");
    std::fs::write(&config, CONFIG).expect("config");
    let child = Command::new(node)
        .arg(main)
        .arg("--config")
        .arg(&config)
        .current_dir(&dir)
        .env("PORT", port.to_string())
        .env("HOST", "127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start mock-llm");
    Peer {
        child,
        url: format!("http://127.0.0.1:{port}"),
        dir,
    }
}

async fn ready(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = rune_providers::http::shared_client();
    loop {
        if let Ok(r) = client.get(format!("{url}/health")).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(Instant::now() < deadline, "mock-llm did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn openai_provider_against_mock_llm() {
    let peer = start();
    ready(&peer.url).await;
    let p = openai::OpenAi::new(
        format!("{}/v1", peer.url),
        Some(Secret::new("sk-peer-test")),
        Http::new().with_retry(RetryPolicy::none()),
    );
    let prompt = "Hello from Rune, with ünïcode and a longer sentence to split into chunks.";
    let req = ChatRequest::new("gpt-4o-mini", vec![Message::user(prompt)]);

    let r = p.chat(&req).await.expect("whole answer");
    assert_eq!(r.text, prompt);
    assert_eq!(r.model, "gpt-4o-mini");
    assert_eq!(r.stop_reason, Some(StopReason::EndTurn));

    let mut s = p.chat_stream(&req).await.expect("stream");
    let (mut text, mut deltas, mut stop) = (String::new(), 0, None);
    while let Some(e) = s.next().await {
        match e.expect("event") {
            StreamEvent::TextDelta(t) => {
                text.push_str(&t);
                deltas += 1;
            }
            StreamEvent::Stop(r) => stop = Some(r),
            _ => {}
        }
    }
    assert_eq!(text, prompt);
    assert!(deltas > 1, "streamed in pieces ({deltas})");
    assert_eq!(stop, Some(StopReason::EndTurn));

    let models = p.list_models().await.expect("models");
    assert_eq!(models[0].id, "mock-model");

    let bad = ChatRequest::new("gpt-4o-mini", vec![Message::user("error-401 please")]);
    let e = p.chat(&bad).await.expect_err("401");
    assert_eq!(
        (e.kind(), e.status()),
        (ErrorKind::Authentication, Some(401))
    );
    let long = ChatRequest::new("gpt-4o-mini", vec![Message::user("too-long input")]);
    let e = p.chat(&long).await.expect_err("400");
    assert_eq!(e.kind(), ErrorKind::ContextTooLong);
}
