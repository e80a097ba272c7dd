//! Ollama's native API: `/api/chat`, `/api/generate`, `/api/embed`, `/api/tags`.
//!
//! Streaming is newline-delimited JSON: each line is an object with `message.content` (or
//! `response` for `/api/generate`), perhaps `message.thinking`, and `message.tool_calls`
//! (Ollama sends each call whole, with its arguments as an object, not in fragments); the
//! last line has `"done": true`, `done_reason` and the token counts `prompt_eval_count` and
//! `eval_count`. An error, before or during the stream, is `{"error": "text"}`; Ollama
//! says nothing more structured, so the kind comes from the status and the text (`not found`,
//! `context`).
//!
//! Images travel as a list of base64 strings beside the message text (no URLs). A tool result
//! is a `tool` message with `tool_name`. Tokens and temperature go in `options`
//! (`num_predict`, `temperature`, `stop`).
//!
//! The server is `OLLAMA_HOST`, read the way Ollama's own command line reads it: a missing
//! scheme is `http`, a missing host `127.0.0.1`, a missing port `11434` (`80`/`443` when the
//! scheme is given), so `0.0.0.0`, `:11435`, `box:1234` and `https://ollama.example` all work.

use std::fmt;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

use crate::error::{Error, ErrorKind, Result};
use crate::http::{Http, join, read_json};
use crate::limit::estimate_tokens;
use crate::provider::Provider;
use crate::sanitize;
use crate::stream::{
    self, ChatStream, EventParser, Flow, Framing, StreamDecoder, ToolAssembler, end_with,
};
use crate::types::{
    Capabilities, ChatRequest, ChatResponse, Embeddings, ImageSource, ModelInfo, Part, Role,
    StopReason, StreamEvent, Usage,
};
use crate::validate;

/// The server Ollama's clients use when `OLLAMA_HOST` is unset.
pub const DEFAULT_HOST: &str = "http://127.0.0.1:11434";

/// The base URL an `OLLAMA_HOST` value means (see the module documentation).
pub fn host_url(value: Option<&str>) -> String {
    let v = value.map(str::trim).unwrap_or("");
    if v.is_empty() {
        return DEFAULT_HOST.to_owned();
    }
    let (scheme, rest, default_port) = match v.split_once("://") {
        Some(("https", r)) => ("https", r, "443"),
        Some(("http", r)) => ("http", r, "80"),
        Some((s, r)) => (s, r, "11434"),
        None => ("http", v, "11434"),
    };
    let (hostport, path) = match rest.split_once('/') {
        Some((h, p)) if !p.trim_matches('/').is_empty() => {
            (h, format!("/{}", p.trim_end_matches('/')))
        }
        Some((h, _)) => (h, String::new()),
        None => (rest, String::new()),
    };
    let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
        // [v6] or [v6]:port
        match inner.split_once(']') {
            Some((h, p)) => (
                format!("[{h}]"),
                p.strip_prefix(':').unwrap_or("").to_owned(),
            ),
            None => (hostport.to_owned(), String::new()),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h.to_owned(), p.to_owned()),
            _ if hostport.matches(':').count() > 1 => (format!("[{hostport}]"), String::new()),
            _ => (hostport.to_owned(), String::new()),
        }
    };
    let host = if host.is_empty() {
        "127.0.0.1".to_owned()
    } else {
        host
    };
    let port = if port.is_empty() {
        default_port.to_owned()
    } else {
        port
    };
    format!("{scheme}://{host}:{port}{path}")
}

/// The Ollama provider.
#[derive(Clone)]
pub struct Ollama {
    base: String,
    http: Http,
}

impl fmt::Debug for Ollama {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ollama")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Ollama {
    /// Ollama at `base` (`http://127.0.0.1:11434`).
    pub fn new(base: impl Into<String>, http: Http) -> Self {
        Ollama {
            base: base.into().trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// The JSON body of a `/api/chat` request.
    pub fn body(&self, req: &ChatRequest, stream: bool) -> Value {
        let mut body = Map::new();
        body.insert("model".into(), json!(req.model));
        let messages: Vec<Value> = req.messages.iter().map(message).collect();
        body.insert("messages".into(), Value::Array(messages));
        if !req.tools.is_empty() {
            let tools: Vec<Value> = req
                .tools
                .iter()
                .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.input_schema}}))
                .collect();
            body.insert("tools".into(), Value::Array(tools));
        }
        body.insert("stream".into(), json!(stream));
        let opts = options(req);
        if !opts.is_empty() {
            body.insert("options".into(), Value::Object(opts));
        }
        for (k, v) in &req.extra {
            body.insert(k.clone(), v.clone());
        }
        Value::Object(body)
    }

    async fn post(&self, path: &str, body: &Value, tokens: u32) -> Result<reqwest::Response> {
        let url = join(&self.base, path);
        let body = serde_json::to_vec(body)
            .map_err(|e| Error::invalid(format!("cannot encode the request: {e}")))?;
        let build = || {
            self.http
                .client
                .post(&url)
                .header("content-type", "application/json")
                .body(body.clone())
        };
        self.http.send(&build, tokens, map_error, None).await
    }

    async fn chat_impl(&self, req: &ChatRequest) -> Result<ChatResponse> {
        validate::check(req)?;
        let resp = self
            .post("api/chat", &self.body(req, false), estimate_tokens(req))
            .await?;
        // A whole answer is the stream's last line with everything in it.
        let v: Value = read_json(resp).await?;
        let mut parser = OllamaParser::default();
        let mut events = Vec::new();
        parser.event("", &v.to_string(), &mut events)?;
        let mut r = ChatResponse {
            model: v
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or(&req.model)
                .to_owned(),
            text: String::new(),
            thinking: String::new(),
            tool_calls: Vec::new(),
            usage: None,
            stop_reason: None,
        };
        for e in events {
            match e {
                StreamEvent::TextDelta(t) => r.text.push_str(&t),
                StreamEvent::ThinkingDelta(t) => r.thinking.push_str(&t),
                StreamEvent::ToolCall(c) => r.tool_calls.push(c),
                StreamEvent::Usage(u) => r.usage = Some(u),
                StreamEvent::Stop(s) => r.stop_reason = Some(s),
                StreamEvent::ToolCallDelta { .. } => {}
            }
        }
        Ok(r)
    }

    async fn stream_impl(&self, req: &ChatRequest) -> Result<ChatStream> {
        validate::check(req)?;
        let resp = self
            .post("api/chat", &self.body(req, true), estimate_tokens(req))
            .await?;
        Ok(stream::from_response(resp, decoder(), None))
    }

    /// `/api/generate`: a completion of `prompt` (with an optional system prompt), streamed.
    pub async fn generate_stream(
        &self,
        model: &str,
        prompt: &str,
        system: Option<&str>,
    ) -> Result<ChatStream> {
        if model.trim().is_empty() {
            return Err(Error::invalid("no model given"));
        }
        let mut body = json!({"model": model, "prompt": prompt, "stream": true});
        if let Some(s) = system {
            body["system"] = json!(s);
        }
        let tokens = u32::try_from(prompt.len() / 4).unwrap_or(u32::MAX);
        let resp = self.post("api/generate", &body, tokens).await?;
        Ok(stream::from_response(resp, decoder(), None))
    }

    async fn models_impl(&self) -> Result<Vec<ModelInfo>> {
        let url = join(&self.base, "api/tags");
        let build = || self.http.client.get(&url);
        let resp = self.http.send(&build, 0, map_error, None).await?;
        let v: Value = read_json(resp).await?;
        let models = v
            .get("models")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::protocol("the model list has no \"models\""))?;
        Ok(models
            .iter()
            .filter_map(|m| {
                let id = m
                    .get("model")
                    .or_else(|| m.get("name"))?
                    .as_str()?
                    .to_owned();
                Some(ModelInfo {
                    display_name: m.get("name").and_then(Value::as_str).map(str::to_owned),
                    owned_by: m
                        .pointer("/details/family")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    id,
                })
            })
            .collect())
    }

    async fn embed_impl(&self, model: &str, inputs: &[String]) -> Result<Embeddings> {
        if inputs.is_empty() {
            return Err(Error::invalid("nothing to embed"));
        }
        let tokens = inputs.iter().map(|s| s.len() / 4).sum::<usize>();
        let body = json!({"model": model, "input": inputs});
        let resp = self
            .post(
                "api/embed",
                &body,
                u32::try_from(tokens).unwrap_or(u32::MAX),
            )
            .await?;
        let v: Value = read_json(resp).await?;
        let rows = v
            .get("embeddings")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::protocol("the answer has no \"embeddings\""))?;
        let vectors = rows
            .iter()
            .map(|r| crate::openai::floats(Some(r)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Embeddings {
            model: v
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or(model)
                .to_owned(),
            vectors,
            input_tokens: v.get("prompt_eval_count").and_then(Value::as_u64),
        })
    }
}

fn options(req: &ChatRequest) -> Map<String, Value> {
    let mut o = Map::new();
    if let Some(n) = req.max_tokens {
        o.insert("num_predict".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        o.insert("temperature".into(), json!(t));
    }
    if !req.stop.is_empty() {
        o.insert("stop".into(), json!(req.stop));
    }
    o
}

fn message(m: &crate::types::Message) -> Value {
    let mut out = Map::new();
    out.insert("role".into(), json!(m.role.as_str()));
    let mut text = m.text();
    if m.role == Role::Tool && m.is_error && !text.starts_with("Error") {
        text = format!("Error: {text}");
    }
    out.insert("content".into(), json!(text));
    let images: Vec<&str> = m
        .content
        .iter()
        .filter_map(|p| match p {
            Part::Image {
                source: ImageSource::Base64 { data, .. },
            } => Some(data.as_str()),
            _ => None,
        })
        .collect();
    if !images.is_empty() {
        out.insert("images".into(), json!(images));
    }
    if !m.tool_calls.is_empty() {
        let calls: Vec<Value> = m
            .tool_calls
            .iter()
            .map(|c| json!({"function": {"name": c.name, "arguments": c.arguments}}))
            .collect();
        out.insert("tool_calls".into(), Value::Array(calls));
    }
    if let Some(n) = &m.tool_name {
        out.insert("tool_name".into(), json!(n));
    }
    Value::Object(out)
}

fn classify(status: Option<u16>, message: &str) -> ErrorKind {
    let lower = message.to_ascii_lowercase();
    if lower.contains("not found") {
        ErrorKind::NotFound
    } else if lower.contains("context") && (lower.contains("exceed") || lower.contains("too long"))
    {
        ErrorKind::ContextTooLong
    } else if lower.contains("does not support tools") || lower.contains("invalid") {
        ErrorKind::InvalidRequest
    } else {
        status.map_or(ErrorKind::Server, Error::kind_for_status)
    }
}

/// Maps an Ollama error response (`{"error": "text"}`).
pub(crate) fn map_error(status: StatusCode, body: &str) -> Error {
    let s = status.as_u16();
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| body.to_owned());
    // The status wins where it is precise; the text refines 400 and 500.
    let kind = match s {
        400 | 500 => classify(Some(s), &message),
        _ => Error::kind_for_status(s),
    };
    Error::new(kind, message)
}

/// The streaming parser (see the module documentation).
#[derive(Debug, Default)]
pub struct OllamaParser {
    tools: ToolAssembler,
    calls: usize,
}

impl EventParser for OllamaParser {
    fn event(&mut self, _: &str, data: &str, out: &mut Vec<StreamEvent>) -> Result<Flow> {
        let v = stream::json(data, "Ollama")?;
        if let Some(e) = v.get("error") {
            let message = e.as_str().map_or_else(|| e.to_string(), str::to_owned);
            return Err(Error::new(classify(None, &message), message));
        }
        let msg = v.get("message").unwrap_or(&Value::Null);
        let s = |k: &str| msg.get(k).and_then(Value::as_str).filter(|t| !t.is_empty());
        if let Some(t) = s("thinking").or_else(|| {
            v.get("thinking")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
        }) {
            out.push(StreamEvent::ThinkingDelta(sanitize::text(t)));
        }
        if let Some(t) = s("content").or_else(|| {
            v.get("response")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
        }) {
            out.push(StreamEvent::TextDelta(sanitize::text(t)));
        }
        if let Some(calls) = msg.get("tool_calls").and_then(Value::as_array) {
            for c in calls {
                let index = self.calls;
                self.calls += 1;
                let args = match c.pointer("/function/arguments") {
                    Some(Value::String(s)) => s.clone(),
                    Some(a) => a.to_string(),
                    None => String::new(),
                };
                self.tools.delta(
                    index,
                    c.get("id").and_then(Value::as_str),
                    c.pointer("/function/name").and_then(Value::as_str),
                    &args,
                    out,
                );
                self.tools.finish_one(index, out);
            }
        }
        if v.get("done").and_then(Value::as_bool) == Some(true) {
            let usage = match (
                v.get("prompt_eval_count").and_then(Value::as_u64),
                v.get("eval_count").and_then(Value::as_u64),
            ) {
                (None, None) => None,
                (i, o) => Some(Usage {
                    input_tokens: i.unwrap_or(0),
                    output_tokens: o.unwrap_or(0),
                }),
            };
            let stop = match v.get("done_reason").and_then(Value::as_str) {
                Some("length") => StopReason::MaxTokens,
                _ if self.calls > 0 => StopReason::ToolUse,
                None | Some("stop") => StopReason::EndTurn,
                Some(other) => StopReason::Other(other.to_owned()),
            };
            end_with(out, usage, stop);
            return Ok(Flow::Done);
        }
        Ok(Flow::Continue)
    }
}

/// A decoder for an Ollama stream.
pub fn decoder() -> StreamDecoder {
    StreamDecoder::new(
        Framing::Lines(Default::default()),
        Box::new(OllamaParser::default()),
    )
}

impl Provider for Ollama {
    fn name(&self) -> &'static str {
        "ollama"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            streaming: true,
            tools: true,
            images: true,
            image_urls: false,
            embeddings: true,
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
    fn ollama_host_is_read_like_ollama_reads_it() {
        let cases = [
            (None, "http://127.0.0.1:11434"),
            (Some(""), "http://127.0.0.1:11434"),
            (Some("0.0.0.0"), "http://0.0.0.0:11434"),
            (Some(":11435"), "http://127.0.0.1:11435"),
            (Some("box:1234"), "http://box:1234"),
            (Some("http://box"), "http://box:80"),
            (
                Some("https://ollama.example/"),
                "https://ollama.example:443",
            ),
            (
                Some("https://proxy.example/ollama/"),
                "https://proxy.example:443/ollama",
            ),
            (Some("[::1]:5000"), "http://[::1]:5000"),
            (Some("::1"), "http://[::1]:11434"),
        ];
        for (input, want) in cases {
            assert_eq!(host_url(input), want, "{input:?}");
        }
    }

    #[test]
    fn error_bodies_map_to_kinds() {
        let cases = [
            (
                404,
                r#"{"error":"model \"llama9\" not found, try pulling it first"}"#,
                ErrorKind::NotFound,
            ),
            (
                400,
                r#"{"error":"registry.ollama.ai/library/gemma:2b does not support tools"}"#,
                ErrorKind::InvalidRequest,
            ),
            (
                400,
                r#"{"error":"input length exceeds the context length"}"#,
                ErrorKind::ContextTooLong,
            ),
            (
                500,
                r#"{"error":"llama runner process has terminated: signal: killed"}"#,
                ErrorKind::Server,
            ),
            (
                401,
                r#"{"error":"unauthorized"}"#,
                ErrorKind::Authentication,
            ),
            (403, "Forbidden", ErrorKind::PermissionDenied),
            (
                429,
                r#"{"error":"too many requests"}"#,
                ErrorKind::RateLimited,
            ),
            (
                503,
                r#"{"error":"server busy, please try again.  maximum pending requests exceeded"}"#,
                ErrorKind::Overloaded,
            ),
        ];
        for (status, body, kind) in cases {
            let e = map_error(StatusCode::from_u16(status).expect("status"), body);
            assert_eq!(e.kind(), kind, "{status} {body}");
        }
    }
}
