//! Anthropic Messages (`POST {base}/v1/messages`, `x-api-key`, `anthropic-version`).
//!
//! The request: system messages are gathered into `system`; tool results become
//! `tool_result` blocks of a user message (consecutive ones merged, as the API wants all
//! results of a turn together); assistant calls become `tool_use` blocks; `max_tokens` is
//! required (4096 when the request has none).
//!
//! The stream is SSE with a named event per step, and a `type` field in every `data` that
//! repeats it: `message_start` (input tokens), `content_block_start` (a `text`, `tool_use`
//! with id and name, or `thinking` block at an `index`), `content_block_delta`
//! (`text_delta`, `input_json_delta` with `partial_json`, `thinking_delta`,
//! `signature_delta`), `content_block_stop`, `message_delta` (`stop_reason`, output tokens),
//! `message_stop`, `ping`, and `error` (`{"type":"error","error":{"type":"overloaded_error",
//! ...}}`), which can arrive after a 200. Unknown events and block types are skipped, as the
//! API's versioning policy asks.

use std::collections::HashMap;
use std::fmt;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

use crate::error::{Error, ErrorKind, Result};
use crate::http::{Http, join, read_json};
use crate::limit::estimate_tokens;
use crate::provider::{Provider, Secret};
use crate::sanitize;
use crate::stream::{
    self, ChatStream, EventParser, Flow, Framing, StreamDecoder, ToolAssembler, end_with,
};
use crate::types::{
    Capabilities, ChatRequest, ChatResponse, Embeddings, ImageSource, ModelInfo, Part, Role,
    StopReason, StreamEvent, ToolChoice, Usage,
};
use crate::validate;

/// Anthropic's API.
pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";
/// The `anthropic-version` header sent.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// `max_tokens` when the request gives none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The Anthropic provider.
#[derive(Clone)]
pub struct Anthropic {
    base: String,
    key: Secret,
    http: Http,
}

impl fmt::Debug for Anthropic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Anthropic")
            .field("base", &self.base)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Anthropic {
    /// Anthropic at `base` (`https://api.anthropic.com`; a trailing `/v1` is accepted).
    pub fn new(base: impl Into<String>, key: Secret, http: Http) -> Self {
        let base = base.into();
        let base = base.trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base).to_owned();
        Anthropic { base, key, http }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .client
            .request(method, join(&self.base, path))
            .header("x-api-key", self.key.expose())
            .header("anthropic-version", ANTHROPIC_VERSION)
    }

    /// The JSON body of a request.
    pub fn body(&self, req: &ChatRequest, stream: bool) -> Value {
        let mut body = Map::new();
        body.insert("model".into(), json!(req.model));
        body.insert(
            "max_tokens".into(),
            json!(req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
        );
        let system: Vec<String> = req
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| m.text())
            .collect();
        if !system.is_empty() {
            body.insert("system".into(), json!(system.join("\n\n")));
        }
        let mut messages: Vec<(Role, Vec<Value>)> = Vec::new();
        for m in &req.messages {
            let (role, blocks) = match m.role {
                Role::System => continue,
                Role::Tool => {
                    let mut block = json!({
                        "type": "tool_result",
                        "tool_use_id": m.tool_call_id.clone().unwrap_or_default(),
                        "content": m.text(),
                    });
                    if m.is_error {
                        block["is_error"] = json!(true);
                    }
                    (Role::User, vec![block])
                }
                role => {
                    let mut blocks: Vec<Value> = m.content.iter().filter_map(part).collect();
                    for c in &m.tool_calls {
                        let input = if c.arguments.is_object() {
                            c.arguments.clone()
                        } else {
                            json!({})
                        };
                        blocks.push(
                            json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}),
                        );
                    }
                    // An empty assistant answer has no block to send; the API refuses empty
                    // content, so the message is left out.
                    if blocks.is_empty() {
                        continue;
                    }
                    (role, blocks)
                }
            };
            match messages.last_mut() {
                Some((last, b)) if *last == role && role == Role::User => b.extend(blocks),
                _ => messages.push((role, blocks)),
            }
        }
        let messages: Vec<Value> = messages
            .into_iter()
            .map(|(role, content)| json!({"role": role.as_str(), "content": content}))
            .collect();
        body.insert("messages".into(), Value::Array(messages));
        if !req.tools.is_empty() {
            let tools: Vec<Value> = req
                .tools
                .iter()
                .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.input_schema}))
                .collect();
            body.insert("tools".into(), Value::Array(tools));
            let choice = match &req.tool_choice {
                ToolChoice::Auto => json!({"type": "auto"}),
                ToolChoice::None => json!({"type": "none"}),
                ToolChoice::Required => json!({"type": "any"}),
                ToolChoice::Tool(n) => json!({"type": "tool", "name": n}),
            };
            body.insert("tool_choice".into(), choice);
        }
        if let Some(t) = req.temperature {
            body.insert("temperature".into(), json!(t));
        }
        if !req.stop.is_empty() {
            body.insert("stop_sequences".into(), json!(req.stop));
        }
        if stream {
            body.insert("stream".into(), json!(true));
        }
        for (k, v) in &req.extra {
            body.insert(k.clone(), v.clone());
        }
        Value::Object(body)
    }

    async fn post(&self, req: &ChatRequest, stream: bool) -> Result<reqwest::Response> {
        validate::check(req)?;
        let body = serde_json::to_vec(&self.body(req, stream))
            .map_err(|e| Error::invalid(format!("cannot encode the request: {e}")))?;
        let build = || {
            self.request(reqwest::Method::POST, "v1/messages")
                .header("content-type", "application/json")
                .body(body.clone())
        };
        self.http
            .send(
                &build,
                estimate_tokens(req),
                map_error,
                Some(self.key.expose()),
            )
            .await
    }

    async fn chat_impl(&self, req: &ChatRequest) -> Result<ChatResponse> {
        let resp = self.post(req, false).await?;
        let v: Value = read_json(resp).await?;
        parse_response(&v, &req.model)
    }

    async fn stream_impl(&self, req: &ChatRequest) -> Result<ChatStream> {
        let resp = self.post(req, true).await?;
        Ok(stream::from_response(
            resp,
            decoder(),
            Some(self.key.expose()),
        ))
    }

    async fn models_impl(&self) -> Result<Vec<ModelInfo>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                Some(a) => format!("v1/models?limit=1000&after_id={a}"),
                None => "v1/models?limit=1000".to_owned(),
            };
            let build = || self.request(reqwest::Method::GET, &path);
            let resp = self
                .http
                .send(&build, 0, map_error, Some(self.key.expose()))
                .await?;
            let v: Value = read_json(resp).await?;
            let data = v
                .get("data")
                .and_then(Value::as_array)
                .ok_or_else(|| Error::protocol("the model list has no \"data\""))?;
            out.extend(data.iter().filter_map(|m| {
                Some(ModelInfo {
                    id: m.get("id")?.as_str()?.to_owned(),
                    display_name: m
                        .get("display_name")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    owned_by: Some("anthropic".to_owned()),
                })
            }));
            let more = v.get("has_more").and_then(Value::as_bool) == Some(true);
            let last = v.get("last_id").and_then(Value::as_str);
            match (more, last) {
                (true, Some(l))
                    if after.as_deref() != Some(l)
                        && l.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) =>
                {
                    after = Some(l.to_owned())
                }
                _ => return Ok(out),
            }
        }
    }
}

fn part(p: &Part) -> Option<Value> {
    Some(match p {
        Part::Text { text } if text.is_empty() => return None,
        Part::Text { text } => json!({"type": "text", "text": text}),
        Part::Image {
            source: ImageSource::Base64 { media_type, data },
        } => {
            json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}})
        }
        Part::Image {
            source: ImageSource::Url { url },
        } => json!({"type": "image", "source": {"type": "url", "url": url}}),
    })
}

fn stop_reason(s: &str) -> StopReason {
    match s {
        "end_turn" => StopReason::EndTurn,
        "max_tokens" => StopReason::MaxTokens,
        "tool_use" => StopReason::ToolUse,
        "stop_sequence" => StopReason::StopSequence,
        "refusal" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_owned()),
    }
}

fn input_tokens(u: &Value) -> u64 {
    [
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ]
    .iter()
    .filter_map(|k| u.get(*k).and_then(Value::as_u64))
    .sum()
}

fn parse_response(v: &Value, model: &str) -> Result<ChatResponse> {
    if v.get("type").and_then(Value::as_str) == Some("error") {
        return Err(error_object(v.get("error").unwrap_or(&Value::Null)));
    }
    let blocks = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::protocol("the answer has no content"))?;
    let mut text = String::new();
    let mut thinking = String::new();
    let mut tool_calls = Vec::new();
    for b in blocks {
        match b.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(b.get("text").and_then(Value::as_str).unwrap_or("")),
            Some("thinking") => {
                thinking.push_str(b.get("thinking").and_then(Value::as_str).unwrap_or(""))
            }
            Some("tool_use") => tool_calls.push(crate::types::ToolCall {
                id: b.get("id").and_then(Value::as_str).unwrap_or("").to_owned(),
                name: b
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                arguments: b.get("input").cloned().unwrap_or_else(|| json!({})),
            }),
            _ => {}
        }
    }
    let usage = v.get("usage").map(|u| Usage {
        input_tokens: input_tokens(u),
        output_tokens: u.get("output_tokens").and_then(Value::as_u64).unwrap_or(0),
    });
    Ok(ChatResponse {
        model: v
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or(model)
            .to_owned(),
        text: sanitize::text(&text),
        thinking: sanitize::text(&thinking),
        tool_calls,
        usage,
        stop_reason: v
            .get("stop_reason")
            .and_then(Value::as_str)
            .map(stop_reason),
    })
}

/// The kind of an Anthropic error `type`.
fn classify(kind: &str, message: &str, status: Option<u16>) -> ErrorKind {
    let lower = message.to_ascii_lowercase();
    match kind {
        "invalid_request_error"
            if lower.contains("prompt is too long") || lower.contains("context window") =>
        {
            ErrorKind::ContextTooLong
        }
        "invalid_request_error" => ErrorKind::InvalidRequest,
        "authentication_error" => ErrorKind::Authentication,
        "permission_error" => ErrorKind::PermissionDenied,
        "not_found_error" => ErrorKind::NotFound,
        "request_too_large" => ErrorKind::ContextTooLong,
        "rate_limit_error" => ErrorKind::RateLimited,
        "billing_error" => ErrorKind::QuotaExceeded,
        "timeout_error" => ErrorKind::Timeout,
        "api_error" => ErrorKind::Server,
        "overloaded_error" => ErrorKind::Overloaded,
        _ => status.map_or(ErrorKind::Server, Error::kind_for_status),
    }
}

fn error_object(e: &Value) -> Error {
    let message = e.get("message").and_then(Value::as_str).unwrap_or("");
    let kind = e.get("type").and_then(Value::as_str).unwrap_or("");
    Error::new(classify(kind, message, None), message)
}

/// Maps an Anthropic error response.
pub(crate) fn map_error(status: StatusCode, body: &str) -> Error {
    let s = status.as_u16();
    match serde_json::from_str::<Value>(body) {
        Ok(v) if v.get("error").is_some_and(Value::is_object) => {
            let e = &v["error"];
            let message = e.get("message").and_then(Value::as_str).unwrap_or("");
            let kind = e.get("type").and_then(Value::as_str).unwrap_or("");
            Error::new(classify(kind, message, Some(s)), message)
        }
        _ => Error::new(Error::kind_for_status(s), body),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    Tool,
    Other,
}

/// The streaming parser (see the module documentation).
#[derive(Debug, Default)]
pub struct AnthropicParser {
    blocks: HashMap<usize, Block>,
    tools: ToolAssembler,
    usage: Usage,
    saw_usage: bool,
    stop: Option<StopReason>,
}

impl EventParser for AnthropicParser {
    fn event(&mut self, event: &str, data: &str, out: &mut Vec<StreamEvent>) -> Result<Flow> {
        let v = stream::json(data, "Anthropic")?;
        let ty = v
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(event)
            .to_owned();
        let index = v.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
        match ty.as_str() {
            "message_start" => {
                if let Some(u) = v.pointer("/message/usage") {
                    self.usage.input_tokens = input_tokens(u);
                    self.usage.output_tokens =
                        u.get("output_tokens").and_then(Value::as_u64).unwrap_or(0);
                    self.saw_usage = true;
                }
            }
            "content_block_start" => {
                let b = v.get("content_block").unwrap_or(&Value::Null);
                let kind = match b.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        if let Some(t) = b
                            .get("text")
                            .and_then(Value::as_str)
                            .filter(|t| !t.is_empty())
                        {
                            out.push(StreamEvent::TextDelta(sanitize::text(t)));
                        }
                        Block::Text
                    }
                    Some("thinking") => {
                        if let Some(t) = b
                            .get("thinking")
                            .and_then(Value::as_str)
                            .filter(|t| !t.is_empty())
                        {
                            out.push(StreamEvent::ThinkingDelta(sanitize::text(t)));
                        }
                        Block::Thinking
                    }
                    Some("tool_use") => {
                        // `input` is `{}` here; the arguments come as `input_json_delta`s.
                        let initial = b
                            .get("input")
                            .filter(|i| i.as_object().is_some_and(|o| !o.is_empty()))
                            .map(Value::to_string)
                            .unwrap_or_default();
                        self.tools.delta(
                            index,
                            b.get("id").and_then(Value::as_str),
                            b.get("name").and_then(Value::as_str),
                            &initial,
                            out,
                        );
                        Block::Tool
                    }
                    _ => Block::Other,
                };
                self.blocks.insert(index, kind);
            }
            "content_block_delta" => {
                let d = v.get("delta").unwrap_or(&Value::Null);
                let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("");
                match d.get("type").and_then(Value::as_str) {
                    Some("text_delta") if !s("text").is_empty() => {
                        out.push(StreamEvent::TextDelta(sanitize::text(s("text"))))
                    }
                    Some("thinking_delta") if !s("thinking").is_empty() => {
                        out.push(StreamEvent::ThinkingDelta(sanitize::text(s("thinking"))))
                    }
                    Some("input_json_delta") => {
                        self.tools.delta(index, None, None, s("partial_json"), out)
                    }
                    _ => {}
                }
            }
            "content_block_stop" if self.blocks.remove(&index) == Some(Block::Tool) => {
                self.tools.finish_one(index, out);
            }
            "message_delta" => {
                if let Some(r) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop = Some(stop_reason(r));
                }
                if let Some(u) = v.get("usage") {
                    if let Some(o) = u.get("output_tokens").and_then(Value::as_u64) {
                        self.usage.output_tokens = o;
                    }
                    if u.get("input_tokens").and_then(Value::as_u64).is_some() {
                        self.usage.input_tokens = input_tokens(u);
                    }
                    self.saw_usage = true;
                }
            }
            "message_stop" => {
                self.tools.finish_all(out);
                let usage = self.saw_usage.then_some(self.usage);
                end_with(out, usage, self.stop.take().unwrap_or(StopReason::EndTurn));
                return Ok(Flow::Done);
            }
            "error" => return Err(error_object(v.get("error").unwrap_or(&Value::Null))),
            _ => {} // ping, and event types added later
        }
        Ok(Flow::Continue)
    }
}

/// A decoder for an Anthropic stream.
pub fn decoder() -> StreamDecoder {
    StreamDecoder::new(
        Framing::Sse(Default::default()),
        Box::new(AnthropicParser::default()),
    )
}

impl Provider for Anthropic {
    fn name(&self) -> &'static str {
        "anthropic"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            streaming: true,
            tools: true,
            images: true,
            image_urls: true,
            embeddings: false,
            list_models: true,
            thinking: true,
        }
    }
    fn chat<'a>(&'a self, req: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse>> {
        self.chat_impl(req).boxed()
    }
    fn chat_stream<'a>(&'a self, req: &'a ChatRequest) -> BoxFuture<'a, Result<ChatStream>> {
        self.stream_impl(req).boxed()
    }
    fn list_models(&self) -> BoxFuture<'_, Result<Vec<ModelInfo>>> {
        self.models_impl().boxed()
    }
    fn embed<'a>(&'a self, _: &'a str, _: &'a [String]) -> BoxFuture<'a, Result<Embeddings>> {
        async {
            Err(Error::new(
                ErrorKind::Unsupported,
                "Anthropic has no embeddings API",
            ))
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Message;

    #[test]
    fn an_empty_answer_is_left_out_and_user_turns_merge() {
        let p = Anthropic::new("http://127.0.0.1:9", Secret::new("k"), Http::new());
        let req = ChatRequest::new(
            "m",
            vec![
                Message::user("one"),
                Message::assistant_calls("", vec![]),
                Message::user("two"),
            ],
        );
        assert_eq!(
            p.body(&req, false)["messages"],
            json!([{"role": "user", "content": [
                {"type": "text", "text": "one"}, {"type": "text", "text": "two"}]}])
        );
    }

    #[test]
    fn error_bodies_map_to_kinds() {
        let body = |t: &str, m: &str| {
            format!(
                r#"{{"type":"error","error":{{"type":"{t}","message":"{m}"}},"request_id":"req_011"}}"#
            )
        };
        let cases = [
            (
                400,
                body(
                    "invalid_request_error",
                    "messages: at least one message is required",
                ),
                ErrorKind::InvalidRequest,
            ),
            (
                400,
                body(
                    "invalid_request_error",
                    "prompt is too long: 215000 tokens > 200000 maximum",
                ),
                ErrorKind::ContextTooLong,
            ),
            (
                401,
                body("authentication_error", "invalid x-api-key"),
                ErrorKind::Authentication,
            ),
            (
                402,
                body("billing_error", "Your credit balance is too low"),
                ErrorKind::QuotaExceeded,
            ),
            (
                403,
                body("permission_error", "Your API key does not have permission"),
                ErrorKind::PermissionDenied,
            ),
            (
                404,
                body("not_found_error", "model: claude-9"),
                ErrorKind::NotFound,
            ),
            (
                413,
                body(
                    "request_too_large",
                    "Request exceeds the maximum allowed number of bytes",
                ),
                ErrorKind::ContextTooLong,
            ),
            (
                429,
                body(
                    "rate_limit_error",
                    "Number of request tokens has exceeded your per-minute rate limit",
                ),
                ErrorKind::RateLimited,
            ),
            (
                500,
                body("api_error", "Internal server error"),
                ErrorKind::Server,
            ),
            (
                504,
                body("timeout_error", "Request timed out"),
                ErrorKind::Timeout,
            ),
            (
                529,
                body("overloaded_error", "Overloaded"),
                ErrorKind::Overloaded,
            ),
            (502, "upstream connect error".to_owned(), ErrorKind::Server),
        ];
        for (status, body, kind) in cases {
            let e = map_error(StatusCode::from_u16(status).expect("status"), &body);
            assert_eq!(e.kind(), kind, "{status} {body}");
        }
    }
}
