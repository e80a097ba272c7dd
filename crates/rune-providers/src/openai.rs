//! OpenAI Chat Completions, the servers that copy it, and Azure OpenAI.
//!
//! One implementation, three flavours that differ only in URLs, authentication and the name
//! of the token limit:
//!
//! | flavour | chat URL | key header | token limit field |
//! | --- | --- | --- | --- |
//! | OpenAI (`https://api.openai.com/v1`) | `{base}/chat/completions` | `Authorization: Bearer` | `max_completion_tokens` |
//! | compatible (any other base URL) | `{base}/chat/completions` | `Authorization: Bearer`, if a key is set | `max_tokens` |
//! | Azure, v1 API | `{endpoint}/openai/v1/chat/completions` | `api-key` | `max_completion_tokens` |
//! | Azure, deployments | `{endpoint}/openai/deployments/{model}/chat/completions?api-version=V` | `api-key` | `max_completion_tokens` |
//!
//! Streaming is SSE: each `data:` is a `chat.completion.chunk` whose `choices[0].delta`
//! carries `content`, `reasoning_content` (DeepSeek, vLLM) or `tool_calls` fragments keyed by
//! `index` (the first with `id` and `function.name`, the rest with pieces of
//! `function.arguments`); `finish_reason` ends the choice; with
//! `stream_options.include_usage` a last chunk with empty `choices` carries `usage`; `data:
//! [DONE]` ends the stream. An error mid-stream is a `data:` (or `event: error`) whose JSON
//! has an `error` object.

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
    Capabilities, ChatRequest, ChatResponse, Embeddings, ImageSource, Message, ModelInfo, Part,
    Role, StopReason, StreamEvent, ToolChoice, Usage,
};
use crate::validate;

/// OpenAI's API.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// Which Azure OpenAI API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AzureApi {
    /// `/openai/v1/...`, the model in the body names the deployment; no api-version.
    V1,
    /// `/openai/deployments/{deployment}/...?api-version=V`.
    Deployments {
        /// For example `2024-10-21`.
        api_version: String,
    },
}

impl AzureApi {
    /// From `OPENAI_API_VERSION`: unset, `v1`, `latest` or `preview` → [`AzureApi::V1`];
    /// a dated version → [`AzureApi::Deployments`].
    pub fn from_version(version: Option<String>) -> Self {
        match version {
            None => AzureApi::V1,
            Some(v) if matches!(v.as_str(), "v1" | "latest" | "preview") => AzureApi::V1,
            Some(api_version) => AzureApi::Deployments { api_version },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Flavor {
    OpenAi,
    Compatible,
    Azure(AzureApi),
}

/// An OpenAI-style provider (see the module documentation).
#[derive(Clone)]
pub struct OpenAi {
    base: String,
    key: Option<Secret>,
    flavor: Flavor,
    http: Http,
}

impl fmt::Debug for OpenAi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAi")
            .field("base", &self.base)
            .field("key", &self.key)
            .field("flavor", &self.flavor)
            .finish_non_exhaustive()
    }
}

impl OpenAi {
    /// OpenAI itself (when `base` is [`OPENAI_BASE_URL`]) or a compatible server at `base`
    /// (the URL that precedes `/chat/completions`, usually ending in `/v1`).
    pub fn new(base: impl Into<String>, key: Option<Secret>, http: Http) -> Self {
        let base = base.into().trim_end_matches('/').to_owned();
        let flavor = if base == OPENAI_BASE_URL {
            Flavor::OpenAi
        } else {
            Flavor::Compatible
        };
        OpenAi {
            base,
            key,
            flavor,
            http,
        }
    }

    /// Azure OpenAI at `endpoint` (`https://RESOURCE.openai.azure.com`).
    pub fn azure(endpoint: impl Into<String>, key: Secret, api: AzureApi, http: Http) -> Self {
        let mut base = endpoint.into().trim_end_matches('/').to_owned();
        for suffix in ["/openai/v1", "/openai"] {
            if let Some(b) = base.strip_suffix(suffix) {
                base = b.to_owned();
                break;
            }
        }
        OpenAi {
            base,
            key: Some(key),
            flavor: Flavor::Azure(api),
            http,
        }
    }

    fn url(&self, op: &str, model: &str) -> Result<String> {
        Ok(match &self.flavor {
            Flavor::OpenAi | Flavor::Compatible => join(&self.base, op),
            Flavor::Azure(AzureApi::V1) => join(&self.base, &format!("openai/v1/{op}")),
            Flavor::Azure(AzureApi::Deployments { api_version }) => {
                let version = encode_query(api_version);
                if op == "models" {
                    join(&self.base, &format!("openai/models?api-version={version}"))
                } else {
                    if model.is_empty()
                        || !model
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                    {
                        return Err(Error::invalid(format!(
                            "{model:?} is not an Azure deployment name"
                        )));
                    }
                    join(
                        &self.base,
                        &format!("openai/deployments/{model}/{op}?api-version={version}"),
                    )
                }
            }
        })
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let rb = self.http.client.request(method, url);
        match (&self.key, &self.flavor) {
            (Some(k), Flavor::Azure(_)) => rb.header("api-key", k.expose()),
            (Some(k), _) => rb.bearer_auth(k.expose()),
            (None, _) => rb,
        }
    }

    fn secret(&self) -> Option<&str> {
        self.key.as_ref().map(Secret::expose)
    }

    /// The JSON body of a chat request.
    pub fn body(&self, req: &ChatRequest, stream: bool) -> Value {
        let mut body = Map::new();
        body.insert("model".into(), json!(req.model));
        body.insert(
            "messages".into(),
            Value::Array(req.messages.iter().map(message).collect()),
        );
        if !req.tools.is_empty() {
            let tools: Vec<Value> = req
                .tools
                .iter()
                .map(|t| {
                    json!({"type": "function", "function": {
                        "name": t.name, "description": t.description, "parameters": t.input_schema}})
                })
                .collect();
            body.insert("tools".into(), Value::Array(tools));
            let choice = match &req.tool_choice {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::None => json!("none"),
                ToolChoice::Required => json!("required"),
                ToolChoice::Tool(n) => json!({"type": "function", "function": {"name": n}}),
            };
            body.insert("tool_choice".into(), choice);
        }
        if let Some(n) = req.max_tokens {
            let field = match self.flavor {
                Flavor::Compatible => "max_tokens",
                _ => "max_completion_tokens",
            };
            body.insert(field.into(), json!(n));
        }
        if let Some(t) = req.temperature {
            body.insert("temperature".into(), json!(t));
        }
        if !req.stop.is_empty() {
            body.insert("stop".into(), json!(req.stop));
        }
        if stream {
            body.insert("stream".into(), json!(true));
            body.insert("stream_options".into(), json!({"include_usage": true}));
        }
        for (k, v) in &req.extra {
            body.insert(k.clone(), v.clone());
        }
        Value::Object(body)
    }

    async fn post(&self, url: String, body: Value, tokens: u32) -> Result<reqwest::Response> {
        let body = serde_json::to_vec(&body)
            .map_err(|e| Error::invalid(format!("cannot encode the request: {e}")))?;
        let build = || {
            self.request(reqwest::Method::POST, &url)
                .header("content-type", "application/json")
                .body(body.clone())
        };
        self.http
            .send(&build, tokens, map_error, self.secret())
            .await
    }

    async fn chat_impl(&self, req: &ChatRequest) -> Result<ChatResponse> {
        validate::check(req)?;
        let url = self.url("chat/completions", &req.model)?;
        let resp = self
            .post(url, self.body(req, false), estimate_tokens(req))
            .await?;
        let v: Value = read_json(resp).await?;
        parse_response(&v, &req.model)
    }

    async fn stream_impl(&self, req: &ChatRequest) -> Result<ChatStream> {
        validate::check(req)?;
        let url = self.url("chat/completions", &req.model)?;
        let resp = self
            .post(url, self.body(req, true), estimate_tokens(req))
            .await?;
        Ok(stream::from_response(resp, decoder(), self.secret()))
    }

    async fn models_impl(&self) -> Result<Vec<ModelInfo>> {
        let url = self.url("models", "")?;
        let build = || self.request(reqwest::Method::GET, &url);
        let resp = self.http.send(&build, 0, map_error, self.secret()).await?;
        let v: Value = read_json(resp).await?;
        let data = v
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::protocol("the model list has no \"data\""))?;
        Ok(data
            .iter()
            .filter_map(|m| {
                Some(ModelInfo {
                    id: m.get("id")?.as_str()?.to_owned(),
                    display_name: None,
                    owned_by: m.get("owned_by").and_then(Value::as_str).map(str::to_owned),
                })
            })
            .collect())
    }

    async fn embed_impl(&self, model: &str, inputs: &[String]) -> Result<Embeddings> {
        if inputs.is_empty() {
            return Err(Error::invalid("nothing to embed"));
        }
        let url = self.url("embeddings", model)?;
        let tokens = inputs.iter().map(|s| s.len() / 4).sum::<usize>();
        let body = json!({"model": model, "input": inputs});
        let resp = self
            .post(url, body, u32::try_from(tokens).unwrap_or(u32::MAX))
            .await?;
        let v: Value = read_json(resp).await?;
        let mut rows: Vec<(u64, Vec<f32>)> = Vec::new();
        for (i, d) in v
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::protocol("the embeddings answer has no \"data\""))?
            .iter()
            .enumerate()
        {
            let index = d.get("index").and_then(Value::as_u64).unwrap_or(i as u64);
            rows.push((index, floats(d.get("embedding"))?));
        }
        rows.sort_by_key(|(i, _)| *i);
        Ok(Embeddings {
            model: v
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or(model)
                .to_owned(),
            vectors: rows.into_iter().map(|(_, e)| e).collect(),
            input_tokens: v.pointer("/usage/prompt_tokens").and_then(Value::as_u64),
        })
    }
}

/// A JSON array of numbers as `f32`s.
pub(crate) fn floats(v: Option<&Value>) -> Result<Vec<f32>> {
    let arr = v
        .and_then(Value::as_array)
        .ok_or_else(|| Error::protocol("an embedding is not a list of numbers"))?;
    arr.iter()
        .map(|x| {
            x.as_f64()
                .map(|f| f as f32)
                .ok_or_else(|| Error::protocol("an embedding is not a list of numbers"))
        })
        .collect()
}

fn encode_query(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn image_url(source: &ImageSource) -> String {
    match source {
        ImageSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        ImageSource::Url { url } => url.clone(),
    }
}

/// One message in Chat Completions form.
fn message(m: &Message) -> Value {
    let has_images = m.content.iter().any(|p| matches!(p, Part::Image { .. }));
    let content = if has_images {
        Value::Array(
            m.content
                .iter()
                .map(|p| match p {
                    Part::Text { text } => json!({"type": "text", "text": text}),
                    Part::Image { source } => {
                        json!({"type": "image_url", "image_url": {"url": image_url(source)}})
                    }
                })
                .collect(),
        )
    } else {
        let text = m.text();
        if m.role == Role::Tool && m.is_error && !text.starts_with("Error") {
            json!(format!("Error: {text}"))
        } else if m.role == Role::Assistant && text.is_empty() && !m.tool_calls.is_empty() {
            Value::Null
        } else {
            json!(text)
        }
    };
    let mut out = Map::new();
    out.insert("role".into(), json!(m.role.as_str()));
    out.insert("content".into(), content);
    if !m.tool_calls.is_empty() {
        let calls: Vec<Value> = m
            .tool_calls
            .iter()
            .map(|c| {
                json!({"id": c.id, "type": "function",
                       "function": {"name": c.name, "arguments": c.arguments.to_string()}})
            })
            .collect();
        out.insert("tool_calls".into(), Value::Array(calls));
    }
    if let Some(id) = &m.tool_call_id {
        out.insert("tool_call_id".into(), json!(id));
    }
    Value::Object(out)
}

/// `finish_reason` as a [`StopReason`].
pub(crate) fn stop_reason(s: &str) -> StopReason {
    match s {
        "stop" => StopReason::EndTurn,
        "length" => StopReason::MaxTokens,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "content_filter" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_owned()),
    }
}

fn usage(v: &Value) -> Option<Usage> {
    let u = v.get("usage").filter(|u| u.is_object())?;
    Some(Usage {
        input_tokens: u.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0),
        output_tokens: u
            .get("completion_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    })
}

/// A non-streamed `chat.completion`.
fn parse_response(v: &Value, model: &str) -> Result<ChatResponse> {
    if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
        return Err(error_object(None, e));
    }
    let choice = v
        .pointer("/choices/0")
        .ok_or_else(|| Error::protocol("the answer has no choices"))?;
    let msg = choice.get("message").unwrap_or(&Value::Null);
    let text = msg.get("content").and_then(Value::as_str).unwrap_or("");
    let thinking = msg
        .get("reasoning_content")
        .or_else(|| msg.get("reasoning"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut tools = ToolAssembler::default();
    let mut sink = Vec::new();
    if let Some(calls) = msg.get("tool_calls").and_then(Value::as_array) {
        for (i, c) in calls.iter().enumerate() {
            tools.delta(
                i,
                c.get("id").and_then(Value::as_str),
                c.pointer("/function/name").and_then(Value::as_str),
                &arguments_text(c.pointer("/function/arguments")),
                &mut sink,
            );
        }
    }
    tools.finish_all(&mut sink);
    let tool_calls = sink
        .into_iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCall(c) => Some(c),
            _ => None,
        })
        .collect();
    let refusal = msg.get("refusal").and_then(Value::as_str).unwrap_or("");
    Ok(ChatResponse {
        model: v
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or(model)
            .to_owned(),
        text: sanitize::text(if text.is_empty() { refusal } else { text }),
        thinking: sanitize::text(thinking),
        tool_calls,
        usage: usage(v),
        stop_reason: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(stop_reason),
    })
}

/// `function.arguments`: a JSON string normally; some compatible servers send an object.
fn arguments_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => String::new(),
        Some(other) => other.to_string(),
    }
}

/// The error kind of an OpenAI-style error object.
fn classify(status: Option<u16>, kind: &str, code: &str, message: &str) -> ErrorKind {
    let lower = message.to_ascii_lowercase();
    if code == "context_length_exceeded"
        || code == "string_above_max_length"
        || lower.contains("maximum context length")
        || lower.contains("context window")
    {
        return ErrorKind::ContextTooLong;
    }
    match (code, kind) {
        ("insufficient_quota", _) | (_, "insufficient_quota") => ErrorKind::QuotaExceeded,
        ("invalid_api_key", _) | (_, "authentication_error") => ErrorKind::Authentication,
        ("model_not_found" | "DeploymentNotFound" | "NotFound", _) => ErrorKind::NotFound,
        ("rate_limit_exceeded", _) | (_, "rate_limit_exceeded" | "rate_limit_error") => {
            ErrorKind::RateLimited
        }
        (_, "server_error" | "api_error") => ErrorKind::Server,
        _ => match status {
            Some(s) => Error::kind_for_status(s),
            // An error event inside a 200 stream without a better clue.
            None => match code.parse::<u16>() {
                Ok(s) => Error::kind_for_status(s),
                Err(_) => ErrorKind::Server,
            },
        },
    }
}

/// An `error` value: an object with `message`/`type`/`code`, or a bare string.
fn error_object(status: Option<u16>, e: &Value) -> Error {
    if let Some(s) = e.as_str() {
        return Error::new(classify(status, "", "", s), s);
    }
    let text = |k: &str| match e.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let message = text("message");
    let kind = classify(status, &text("type"), &text("code"), &message);
    Error::new(kind, message)
}

/// Maps an error response of an OpenAI-style server.
pub(crate) fn map_error(status: StatusCode, body: &str) -> Error {
    let s = status.as_u16();
    match serde_json::from_str::<Value>(body) {
        Ok(v) => {
            if let Some(e) = v.get("error") {
                return error_object(Some(s), e);
            }
            // FastAPI-style servers (`detail`) and others (`message`).
            let msg = v
                .get("message")
                .or_else(|| v.get("detail"))
                .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned))
                .unwrap_or_else(|| body.to_owned());
            Error::new(classify(Some(s), "", "", &msg), msg)
        }
        Err(_) => Error::new(Error::kind_for_status(s), body),
    }
}

/// The streaming parser (see the module documentation).
#[derive(Debug, Default)]
pub struct OpenAiParser {
    tools: ToolAssembler,
    finish: Option<StopReason>,
    usage: Option<Usage>,
}

impl OpenAiParser {
    fn done(&mut self, out: &mut Vec<StreamEvent>) {
        self.tools.finish_all(out);
        let stop = self.finish.take().unwrap_or(StopReason::EndTurn);
        end_with(out, self.usage.take(), stop);
    }
}

impl EventParser for OpenAiParser {
    fn event(&mut self, event: &str, data: &str, out: &mut Vec<StreamEvent>) -> Result<Flow> {
        if data.trim() == "[DONE]" {
            self.done(out);
            return Ok(Flow::Done);
        }
        let v = stream::json(data, "the OpenAI-compatible server")?;
        if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
            return Err(error_object(None, e));
        }
        if event == "error" {
            return Err(error_object(None, &v));
        }
        if let Some(u) = usage(&v) {
            self.usage = Some(u);
        }
        let Some(choices) = v.get("choices").and_then(Value::as_array) else {
            return Ok(Flow::Continue);
        };
        for choice in choices {
            if choice.get("index").and_then(Value::as_u64).unwrap_or(0) != 0 {
                continue;
            }
            let delta = choice.get("delta").unwrap_or(&Value::Null);
            if let Some(t) = delta
                .get("reasoning_content")
                .or_else(|| delta.get("reasoning"))
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            {
                out.push(StreamEvent::ThinkingDelta(sanitize::text(t)));
            }
            if let Some(t) = delta
                .get("content")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            {
                out.push(StreamEvent::TextDelta(sanitize::text(t)));
            }
            if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
                for (pos, c) in calls.iter().enumerate() {
                    let index = c
                        .get("index")
                        .and_then(Value::as_u64)
                        .map_or(pos, |i| i as usize);
                    self.tools.delta(
                        index,
                        c.get("id").and_then(Value::as_str),
                        c.pointer("/function/name").and_then(Value::as_str),
                        &arguments_text(c.pointer("/function/arguments")),
                        out,
                    );
                }
            }
            if let Some(f) = choice.get("finish_reason").and_then(Value::as_str) {
                self.finish = Some(stop_reason(f));
                self.tools.finish_all(out);
            }
        }
        Ok(Flow::Continue)
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) -> Result<()> {
        // Some compatible servers close without `[DONE]`; a finished choice is enough.
        if self.finish.is_some() {
            self.done(out);
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Network,
            "the stream ended before the answer was complete",
        ))
    }
}

/// A decoder for an OpenAI-style stream.
pub fn decoder() -> StreamDecoder {
    StreamDecoder::new(
        Framing::Sse(Default::default()),
        Box::new(OpenAiParser::default()),
    )
}

impl Provider for OpenAi {
    fn name(&self) -> &'static str {
        match self.flavor {
            Flavor::Azure(_) => "azure",
            _ => "openai",
        }
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            streaming: true,
            tools: true,
            images: true,
            image_urls: true,
            embeddings: true,
            list_models: true,
            thinking: self.flavor == Flavor::Compatible,
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
    fn embed<'a>(
        &'a self,
        model: &'a str,
        inputs: &'a [String],
    ) -> BoxFuture<'a, Result<Embeddings>> {
        self.embed_impl(model, inputs).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_map_to_kinds() {
        let cases = [
            (
                401,
                r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
                ErrorKind::Authentication,
            ),
            (
                403,
                r#"{"error":{"message":"You are not allowed to sample from this model","type":"invalid_request_error","param":null,"code":null}}"#,
                ErrorKind::PermissionDenied,
            ),
            (
                404,
                r#"{"error":{"message":"The model `gpt-9` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#,
                ErrorKind::NotFound,
            ),
            (
                404,
                r#"{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}"#,
                ErrorKind::NotFound,
            ),
            (
                429,
                r#"{"error":{"message":"Rate limit reached for gpt-4o","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
                ErrorKind::RateLimited,
            ),
            (
                429,
                r#"{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation have exceeded token rate limit. Please retry after 6 seconds."}}"#,
                ErrorKind::RateLimited,
            ),
            (
                429,
                r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
                ErrorKind::QuotaExceeded,
            ),
            (
                400,
                r#"{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
                ErrorKind::ContextTooLong,
            ),
            (
                400,
                r#"{"error":{"message":"Invalid type for 'messages[0].content'","type":"invalid_request_error","param":"messages[0].content","code":"invalid_type"}}"#,
                ErrorKind::InvalidRequest,
            ),
            (
                400,
                r#"{"error":{"code":"content_filter","message":"The response was filtered"}}"#,
                ErrorKind::InvalidRequest,
            ),
            (
                500,
                r#"{"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}"#,
                ErrorKind::Server,
            ),
            (502, "<html>Bad Gateway</html>", ErrorKind::Server),
            (
                503,
                r#"{"error":{"message":"The engine is currently overloaded","type":"server_error"}}"#,
                ErrorKind::Server,
            ),
            (503, "Service Unavailable", ErrorKind::Overloaded),
            (
                422,
                r#"{"detail":[{"loc":["body","messages"],"msg":"field required"}]}"#,
                ErrorKind::InvalidRequest,
            ),
            (
                400,
                r#"{"error":"model 'x' not found"}"#,
                ErrorKind::InvalidRequest,
            ),
            (404, r#"{"message":"no such route"}"#, ErrorKind::NotFound),
        ];
        for (status, body, kind) in cases {
            let e = map_error(StatusCode::from_u16(status).expect("status"), body);
            assert_eq!(e.kind(), kind, "{status} {body}");
            assert!(!e.message().is_empty(), "{status} {body}");
        }
    }

    #[test]
    fn azure_urls() {
        let key = Secret::new("k");
        let dep = OpenAi::azure(
            "https://res.openai.azure.com/",
            key.clone(),
            AzureApi::Deployments {
                api_version: "2024-10-21".into(),
            },
            Http::new(),
        );
        assert_eq!(
            dep.url("chat/completions", "gpt4o-prod").expect("url"),
            "https://res.openai.azure.com/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
        );
        assert!(dep.url("chat/completions", "../admin").is_err());
        let v1 = OpenAi::azure(
            "https://res.openai.azure.com/openai/v1",
            key,
            AzureApi::V1,
            Http::new(),
        );
        assert_eq!(
            v1.url("chat/completions", "x").expect("url"),
            "https://res.openai.azure.com/openai/v1/chat/completions"
        );
        assert_eq!(AzureApi::from_version(None), AzureApi::V1);
        assert_eq!(AzureApi::from_version(Some("v1".into())), AzureApi::V1);
    }
}
