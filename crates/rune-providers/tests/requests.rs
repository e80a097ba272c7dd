//! What each provider sends (paths, headers, bodies) and how it reads whole answers, model
//! lists and embeddings; plus the sampling bridge end to end against a loopback provider.

use std::sync::Arc;

use rune_proto::model::{CreateMessageParams, SamplingMessage};
use rune_providers::mock::{MockServer, Reply};
use rune_providers::sampling::{Consent, SamplingBridge};
use rune_providers::{
    ChatRequest, ErrorKind, Http, ImageSource, Message, Provider, RetryPolicy, Secret, StopReason,
    ToolCall, ToolSpec, anthropic, ollama, openai,
};
use serde_json::json;

fn http() -> Http {
    Http::new().with_retry(RetryPolicy::none())
}

/// A conversation with every kind of message: system, user with an image, an assistant tool
/// call, its result, and a tool definition.
fn conversation() -> ChatRequest {
    let call = ToolCall {
        id: "call_1".into(),
        name: "get_weather".into(),
        arguments: json!({"location": "Paris"}),
    };
    let mut req = ChatRequest::new(
        "model-x",
        vec![
            Message::system("Be brief."),
            Message::user("What is this and the weather?").with_image(ImageSource::Base64 {
                media_type: "image/png".into(),
                data: "iVBORw0KGgo=".into(),
            }),
            Message::assistant_calls("", vec![call.clone()]),
            Message::tool_result(&call, "18°C", false),
        ],
    )
    .tools(vec![ToolSpec {
        name: "get_weather".into(),
        description: "Weather by city".into(),
        input_schema: json!({"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}),
    }])
    .max_tokens(100);
    req.temperature = Some(0.5);
    req
}

#[tokio::test]
async fn openai_request_shape_and_whole_answer_with_tool_calls() {
    let answer = r#"{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_9","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Rome\"}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":50,"completion_tokens":10,"total_tokens":60}}"#;
    let server = MockServer::start(vec![Reply::json(200, answer)])
        .await
        .expect("server");
    let p = openai::OpenAi::new(
        format!("{}/v1", server.url()),
        Some(Secret::new("sk-k")),
        http(),
    );
    let r = p.chat(&conversation()).await.expect("answer");
    assert_eq!(r.model, "gpt-4o-2024-08-06");
    assert_eq!(r.stop_reason, Some(StopReason::ToolUse));
    assert_eq!(
        r.tool_calls,
        vec![ToolCall {
            id: "call_9".into(),
            name: "get_weather".into(),
            arguments: json!({"location": "Rome"})
        }]
    );
    let sent = &server.requests()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.header("authorization"), Some("Bearer sk-k"));
    assert_eq!(
        sent.json(),
        json!({
            "model": "model-x",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [
                    {"type": "text", "text": "What is this and the weather?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
                ]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}}
                ]},
                {"role": "tool", "content": "18°C", "tool_call_id": "call_1"}
            ],
            "tools": [{"type": "function", "function": {
                "name": "get_weather", "description": "Weather by city",
                "parameters": {"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}}],
            "tool_choice": "auto",
            "max_tokens": 100,
            "temperature": 0.5
        })
    );
}

#[tokio::test]
async fn anthropic_request_shape_and_whole_answer() {
    let answer = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"thinking","thinking":"hmm","signature":"x"},{"type":"text","text":"It is \u001b]0;pwned\u0007sunny."},{"type":"tool_use","id":"toolu_2","name":"get_weather","input":{"location":"Oslo"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":30,"output_tokens":20}}"#;
    let server = MockServer::start(vec![Reply::json(200, answer)])
        .await
        .expect("server");
    let p = anthropic::Anthropic::new(
        format!("{}/v1", server.url()),
        Secret::new("sk-ant"),
        http(),
    );
    let r = p.chat(&conversation()).await.expect("answer");
    assert_eq!(r.text, "It is sunny.", "OSC title sequence stripped");
    assert_eq!(r.thinking, "hmm");
    assert_eq!(r.tool_calls[0].arguments, json!({"location": "Oslo"}));
    assert_eq!(r.stop_reason, Some(StopReason::ToolUse));
    let sent = &server.requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some("sk-ant"));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(
        sent.json(),
        json!({
            "model": "model-x",
            "max_tokens": 100,
            "system": "Be brief.",
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "What is this and the weather?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
                ]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"location": "Paris"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "18°C"}
                ]}
            ],
            "tools": [{"name": "get_weather", "description": "Weather by city",
                       "input_schema": {"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}],
            "tool_choice": {"type": "auto"},
            "temperature": 0.5
        })
    );
}

#[tokio::test]
async fn ollama_request_shape_models_and_embeddings() {
    let answer = r#"{"model":"llama3.2","created_at":"2024-07-22T20:33:28Z","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather","arguments":{"location":"Lima"}}}]},"done_reason":"stop","done":true,"prompt_eval_count":40,"eval_count":12}"#;
    let tags = r#"{"models":[{"name":"llama3.2:latest","model":"llama3.2:latest","modified_at":"2024-07-22T20:33:28Z","size":2019393189,"digest":"a80c4f17acd5","details":{"format":"gguf","family":"llama","parameter_size":"3.2B","quantization_level":"Q4_K_M"}}]}"#;
    let embed = r#"{"model":"all-minilm","embeddings":[[0.1,-0.2],[0.3,0.4]],"total_duration":14143917,"prompt_eval_count":8}"#;
    let server = MockServer::start(vec![
        Reply::json(200, answer),
        Reply::json(200, tags),
        Reply::json(200, embed),
    ])
    .await
    .expect("server");
    let p = ollama::Ollama::new(server.url(), http());
    let r = p.chat(&conversation()).await.expect("answer");
    assert_eq!(r.tool_calls[0].name, "get_weather");
    assert_eq!(r.tool_calls[0].arguments, json!({"location": "Lima"}));
    assert_eq!(r.stop_reason, Some(StopReason::ToolUse));
    let models = p.list_models().await.expect("models");
    assert_eq!(models[0].id, "llama3.2:latest");
    assert_eq!(models[0].owned_by.as_deref(), Some("llama"));
    let e = p
        .embed("all-minilm", &["a".into(), "b".into()])
        .await
        .expect("embeddings");
    assert_eq!(e.vectors, vec![vec![0.1f32, -0.2], vec![0.3, 0.4]]);
    assert_eq!(e.input_tokens, Some(8));
    let reqs = server.requests();
    assert_eq!(
        reqs.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
        ["/api/chat", "/api/tags", "/api/embed"]
    );
    assert_eq!(
        reqs[0].json(),
        json!({
            "model": "model-x",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What is this and the weather?", "images": ["iVBORw0KGgo="]},
                {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather", "arguments": {"location": "Paris"}}}]},
                {"role": "tool", "content": "18°C", "tool_name": "get_weather"}
            ],
            "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather by city",
                        "parameters": {"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}}],
            "stream": false,
            "options": {"num_predict": 100, "temperature": 0.5}
        })
    );
    assert_eq!(
        reqs[2].json(),
        json!({"model": "all-minilm", "input": ["a", "b"]})
    );
}

#[tokio::test]
async fn openai_and_anthropic_models_and_embeddings() {
    let server = MockServer::start(vec![
        Reply::json(200, r#"{"object":"list","data":[{"id":"gpt-4o","object":"model","created":1686935002,"owned_by":"openai"}]}"#),
        Reply::json(200, r#"{"object":"list","data":[{"object":"embedding","index":1,"embedding":[0.5]},{"object":"embedding","index":0,"embedding":[0.25]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":4,"total_tokens":4}}"#),
        Reply::json(200, r#"{"data":[{"type":"model","id":"claude-a","display_name":"Claude A","created_at":"2025-02-19T00:00:00Z"}],"has_more":true,"first_id":"claude-a","last_id":"claude-a"}"#),
        Reply::json(200, r#"{"data":[{"type":"model","id":"claude-b","display_name":"Claude B","created_at":"2025-02-19T00:00:00Z"}],"has_more":false,"first_id":"claude-b","last_id":"claude-b"}"#),
    ])
    .await
    .expect("server");
    let oa = openai::OpenAi::new(format!("{}/v1", server.url()), None, http());
    assert_eq!(oa.list_models().await.expect("models")[0].id, "gpt-4o");
    let e = oa
        .embed("text-embedding-3-small", &["x".into(), "y".into()])
        .await
        .expect("embed");
    assert_eq!(e.vectors, vec![vec![0.25f32], vec![0.5]], "sorted by index");
    let an = anthropic::Anthropic::new(server.url(), Secret::new("k"), http());
    let ids: Vec<String> = an
        .list_models()
        .await
        .expect("models")
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, ["claude-a", "claude-b"], "follows pages");
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            "/v1/models",
            "/v1/embeddings",
            "/v1/models?limit=1000",
            "/v1/models?limit=1000&after_id=claude-a"
        ]
    );
    let e = an.embed("m", &["x".into()]).await.expect_err("none");
    assert_eq!(e.kind(), ErrorKind::Unsupported);
}

fn sampling_params() -> CreateMessageParams {
    CreateMessageParams {
        messages: vec![SamplingMessage::user_text("Summarize: the sky is blue.")],
        max_tokens: 100_000,
        model_preferences: Some(
            json!({"hints": [{"name": "nonexistent"}, {"name": "SONNET"}], "speedPriority": 0.9}),
        ),
        system_prompt: Some("You summarize.".into()),
        include_context: None,
        temperature: Some(0.2),
        stop_sequences: None,
        metadata: None,
        tools: None,
        tool_choice: None,
        meta: None,
    }
}

#[tokio::test]
async fn sampling_bridge_maps_preferences_and_honours_consent() {
    let answer = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Blue sky."}],"stop_reason":"end_turn","usage":{"input_tokens":5,"output_tokens":2}}"#;
    let server = MockServer::start(vec![Reply::json(200, answer)])
        .await
        .expect("server");
    let provider: Arc<dyn Provider> = Arc::new(anthropic::Anthropic::new(
        server.url(),
        Secret::new("k"),
        http(),
    ));
    let bridge = SamplingBridge::new(provider.clone(), "claude-haiku-4-5")
        .models(vec!["claude-opus-4-1".into(), "claude-sonnet-4-5".into()])
        .max_tokens_cap(2048);

    // Denied by default: nothing is sent.
    let e = bridge.handle(sampling_params()).await.expect_err("denied");
    assert_eq!(e.code, -1);
    assert!(server.requests().is_empty());

    // An asking policy sees the request.
    let bridge = bridge.consent(Consent::Ask(Arc::new(|p: &CreateMessageParams| {
        let ok = p.system_prompt.as_deref() == Some("You summarize.");
        Box::pin(async move { ok })
    })));
    let r = bridge.handle(sampling_params()).await.expect("allowed");
    assert_eq!(r.text(), Some("Blue sky."));
    assert_eq!(r.model, "claude-sonnet-4-5");
    assert_eq!(r.stop_reason.as_deref(), Some("endTurn"));
    let sent = server.requests()[0].json();
    assert_eq!(
        sent["model"],
        json!("claude-sonnet-4-5"),
        "hint matched case-insensitively"
    );
    assert_eq!(sent["max_tokens"], json!(2048), "capped");
    assert_eq!(sent["system"], json!("You summarize."));
    assert_eq!(sent["temperature"], json!(0.2));

    // No matching hint: the default model.
    let mut p = sampling_params();
    p.model_preferences = Some(json!({"hints": [{"name": "gpt"}]}));
    assert_eq!(
        bridge.choose_model(p.model_preferences.as_ref()),
        "claude-haiku-4-5"
    );
}

#[tokio::test]
async fn sampling_bridge_tool_use_round_trip() {
    let answer = r#"{"model":"llama3.2","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"lookup","arguments":{"q":"x"}}}]},"done_reason":"stop","done":true}"#;
    let server = MockServer::start(vec![Reply::json(200, answer)])
        .await
        .expect("server");
    let provider: Arc<dyn Provider> = Arc::new(ollama::Ollama::new(server.url(), http()));
    let bridge = SamplingBridge::new(provider, "llama3.2").consent(Consent::Allow);
    let mut p = sampling_params();
    p.messages = vec![
        SamplingMessage::user_text("find x"),
        SamplingMessage {
            role: rune_proto::model::Role::Assistant,
            content: json!([{"type": "tool_use", "id": "t1", "name": "lookup", "input": {"q": "w"}}]),
            meta: None,
        },
        SamplingMessage {
            role: rune_proto::model::Role::User,
            content: json!([{"type": "tool_result", "toolUseId": "t1", "content": [{"type": "text", "text": "nothing"}]}]),
            meta: None,
        },
    ];
    p.tools = Some(
        json!([{"name": "lookup", "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}}}}]),
    );
    let r = bridge.handle(p).await.expect("answer");
    assert_eq!(r.stop_reason.as_deref(), Some("toolUse"));
    assert_eq!(
        r.content,
        json!([{"type": "tool_use", "id": "call_1", "name": "lookup", "input": {"q": "x"}}])
    );
    let sent = server.requests()[0].json();
    assert_eq!(
        sent["messages"][2],
        json!({"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "lookup", "arguments": {"q": "w"}}}]})
    );
    assert_eq!(
        sent["messages"][3],
        json!({"role": "tool", "content": "nothing"})
    );
    assert_eq!(sent["tools"][0]["function"]["name"], json!("lookup"));

    // Audio is refused before anything is sent.
    let mut p = sampling_params();
    p.messages[0].content = json!({"type": "audio", "data": "AA==", "mimeType": "audio/wav"});
    let e = bridge.handle(p).await.expect_err("audio");
    assert_eq!(e.code, -32602);
    assert_eq!(server.requests().len(), 1);
}
