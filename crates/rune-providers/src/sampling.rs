//! Answering an MCP server's `sampling/createMessage` with a provider.
//!
//! An MCP server may ask its client to run the model for it. [`SamplingBridge::handle`] is
//! the client's answer, ready for `rune_client::ClientBuilder::on_sampling`:
//!
//! 1. **Consent.** The [`Consent`] policy decides first: allow, deny, or ask (a callback that
//!    sees the whole request, so a host can show the prompt to the user). A refusal is the
//!    JSON-RPC error the specification suggests (code `-1`, "User rejected sampling
//!    request"), and the provider is never called.
//! 2. **Model.** `modelPreferences.hints` are tried in order; a hint picks the first
//!    configured model whose name contains it (case-insensitive). Without a match the
//!    bridge's default model answers. Priorities (cost, speed, intelligence) are not used:
//!    the bridge has no price or speed table to weigh them against.
//! 3. **Request.** Messages (text, image, `tool_use`, `tool_result` blocks, single or in
//!    arrays), `systemPrompt`, `maxTokens` (capped by [`SamplingBridge::max_tokens_cap`]),
//!    `temperature`, `stopSequences`, `tools` and `toolChoice` become a [`ChatRequest`].
//!    `includeContext` is ignored (the bridge holds no other context). Audio is refused.
//! 4. **Result.** Text becomes a `text` block; tool calls become `tool_use` blocks with
//!    `stopReason: "toolUse"`; the stop reasons are renamed to the MCP spelling (`endTurn`,
//!    `maxTokens`, `stopSequence`).

use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use rune_proto::ErrorObject;
use rune_proto::model::{CreateMessageParams, CreateMessageResult, Role as McpRole};
use serde_json::{Value, json};

use crate::provider::Provider;
use crate::types::{
    ChatRequest, ChatResponse, ImageSource, Message, Part, Role, StopReason, ToolCall, ToolChoice,
    ToolSpec,
};

/// The JSON-RPC code of a refused sampling request.
pub const USER_REJECTED: i64 = -1;

/// A function that asks whether a sampling request may run.
pub type AskFn = Arc<dyn Fn(&CreateMessageParams) -> BoxFuture<'static, bool> + Send + Sync>;

/// Whether sampling requests may run.
#[derive(Clone)]
pub enum Consent {
    /// Every request runs.
    Allow,
    /// No request runs.
    Deny,
    /// The callback decides, request by request.
    Ask(AskFn),
}

impl fmt::Debug for Consent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Consent::Allow => "Allow",
            Consent::Deny => "Deny",
            Consent::Ask(_) => "Ask(..)",
        })
    }
}

/// Answers `sampling/createMessage` with a provider (see the module documentation).
#[derive(Debug, Clone)]
pub struct SamplingBridge {
    provider: Arc<dyn Provider>,
    default_model: String,
    models: Vec<String>,
    consent: Consent,
    max_tokens_cap: u32,
}

impl SamplingBridge {
    /// A bridge to `provider`, answering with `default_model`; consent is [`Consent::Deny`]
    /// until said otherwise.
    pub fn new(provider: Arc<dyn Provider>, default_model: impl Into<String>) -> Self {
        SamplingBridge {
            provider,
            default_model: default_model.into(),
            models: Vec::new(),
            consent: Consent::Deny,
            max_tokens_cap: 4096,
        }
    }
    /// The models hints may choose from.
    pub fn models(mut self, models: Vec<String>) -> Self {
        self.models = models;
        self
    }
    /// The consent policy.
    pub fn consent(mut self, consent: Consent) -> Self {
        self.consent = consent;
        self
    }
    /// The most tokens a server may ask for (default 4096).
    pub fn max_tokens_cap(mut self, cap: u32) -> Self {
        self.max_tokens_cap = cap.max(1);
        self
    }

    /// The model for these preferences.
    pub fn choose_model(&self, preferences: Option<&Value>) -> String {
        let hints = preferences
            .and_then(|p| p.get("hints"))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for hint in hints {
            let Some(name) = hint.get("name").and_then(Value::as_str) else {
                continue;
            };
            let name = name.to_ascii_lowercase();
            if name.is_empty() {
                continue;
            }
            if self.default_model.to_ascii_lowercase().contains(&name) {
                return self.default_model.clone();
            }
            if let Some(m) = self
                .models
                .iter()
                .find(|m| m.to_ascii_lowercase().contains(&name))
            {
                return m.clone();
            }
        }
        self.default_model.clone()
    }

    /// The provider request for a sampling request.
    pub fn to_request(&self, p: &CreateMessageParams) -> Result<ChatRequest, ErrorObject> {
        let mut messages = Vec::new();
        if let Some(s) = p.system_prompt.as_deref().filter(|s| !s.is_empty()) {
            messages.push(Message::system(s));
        }
        for m in &p.messages {
            let role = match m.role {
                McpRole::User => Role::User,
                McpRole::Assistant => Role::Assistant,
            };
            convert_message(role, &m.content, &mut messages)?;
        }
        let mut req = ChatRequest::new(self.choose_model(p.model_preferences.as_ref()), messages);
        req.max_tokens = Some(p.max_tokens.clamp(1, self.max_tokens_cap));
        req.temperature = p.temperature;
        req.stop = p.stop_sequences.clone().unwrap_or_default();
        if let Some(tools) = p.tools.as_ref().and_then(Value::as_array) {
            for t in tools {
                let name = t.get("name").and_then(Value::as_str).unwrap_or("");
                req.tools.push(ToolSpec {
                    name: name.to_owned(),
                    description: t
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    input_schema: t
                        .get("inputSchema")
                        .cloned()
                        .unwrap_or_else(|| json!({"type": "object"})),
                });
            }
        }
        req.tool_choice = match p
            .tool_choice
            .as_ref()
            .and_then(|c| c.get("mode"))
            .and_then(Value::as_str)
        {
            Some("required") => ToolChoice::Required,
            Some("none") => ToolChoice::None,
            _ => ToolChoice::Auto,
        };
        crate::validate::check(&req).map_err(|e| ErrorObject::invalid_params(e.to_string()))?;
        Ok(req)
    }

    /// Answers one sampling request.
    pub async fn handle(&self, p: CreateMessageParams) -> Result<CreateMessageResult, ErrorObject> {
        let allowed = match &self.consent {
            Consent::Allow => true,
            Consent::Deny => false,
            Consent::Ask(ask) => ask(&p).await,
        };
        if !allowed {
            return Err(ErrorObject::new(
                USER_REJECTED,
                "User rejected sampling request",
            ));
        }
        let req = self.to_request(&p)?;
        let resp = self
            .provider
            .chat(&req)
            .await
            .map_err(|e| ErrorObject::new(-32603, format!("the model failed: {e}")))?;
        Ok(to_result(resp))
    }
}

/// A sampling answer from a provider's answer.
pub fn to_result(resp: ChatResponse) -> CreateMessageResult {
    let stop = resp.stop_reason.as_ref().map(|s| {
        match s {
            StopReason::EndTurn => "endTurn",
            StopReason::MaxTokens => "maxTokens",
            StopReason::StopSequence => "stopSequence",
            StopReason::ToolUse => "toolUse",
            StopReason::ContentFilter => "refusal",
            StopReason::Other(o) => o.as_str(),
        }
        .to_owned()
    });
    let content = if resp.tool_calls.is_empty() {
        json!({"type": "text", "text": resp.text})
    } else {
        let mut blocks = Vec::new();
        if !resp.text.is_empty() {
            blocks.push(json!({"type": "text", "text": resp.text}));
        }
        for c in &resp.tool_calls {
            blocks.push(
                json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}),
            );
        }
        Value::Array(blocks)
    };
    CreateMessageResult {
        role: McpRole::Assistant,
        content,
        model: resp.model,
        stop_reason: if resp.tool_calls.is_empty() {
            stop
        } else {
            Some("toolUse".to_owned())
        },
        meta: None,
    }
}

fn convert_message(role: Role, content: &Value, out: &mut Vec<Message>) -> Result<(), ErrorObject> {
    let blocks: Vec<&Value> = match content {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let mut msg = Message {
        role,
        content: Vec::new(),
        tool_calls: Vec::new(),
        tool_call_id: None,
        tool_name: None,
        is_error: false,
    };
    let mut results = Vec::new();
    for b in blocks {
        let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        match b.get("type").and_then(Value::as_str) {
            Some("text") => msg.content.push(Part::Text { text: s("text") }),
            Some("image") => msg.content.push(Part::Image {
                source: ImageSource::Base64 {
                    media_type: s("mimeType"),
                    data: s("data"),
                },
            }),
            Some("tool_use") => msg.tool_calls.push(ToolCall {
                id: s("id"),
                name: s("name"),
                arguments: b.get("input").cloned().unwrap_or_else(|| json!({})),
            }),
            Some("tool_result") => {
                let text = match b.get("content") {
                    Some(Value::Array(parts)) => parts
                        .iter()
                        .filter_map(|p| p.get("text").and_then(Value::as_str))
                        .collect::<Vec<_>>()
                        .join("\n"),
                    Some(Value::String(t)) => t.clone(),
                    _ => String::new(),
                };
                let mut r = Message::tool_result(
                    &ToolCall {
                        id: s("toolUseId"),
                        name: String::new(),
                        arguments: Value::Null,
                    },
                    text,
                    b.get("isError").and_then(Value::as_bool) == Some(true),
                );
                r.tool_name = None;
                results.push(r);
            }
            Some(other) => {
                return Err(ErrorObject::invalid_params(format!(
                    "sampling content of type {other:?} is not supported"
                )));
            }
            None => return Err(ErrorObject::invalid_params("a content block without type")),
        }
    }
    // Tool results answer the previous assistant turn; the rest of the message follows them.
    out.extend(results);
    if !msg.content.is_empty() || !msg.tool_calls.is_empty() {
        out.push(msg);
    }
    Ok(())
}
