//! The provider-neutral vocabulary: messages, tools, requests, responses and stream events.
//!
//! Every provider translates these to its own wire format and back. They are deliberately
//! smaller than any one API: what all four providers can express, plus `extra` on the request
//! for the rest.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;

/// Who speaks a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the model (Anthropic puts them in `system`, the others in a message).
    System,
    /// The human side.
    User,
    /// The model.
    Assistant,
    /// The result of a tool call, answering an assistant message's [`ToolCall`].
    Tool,
}

impl Role {
    /// Its lowercase name, as every provider spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

impl FromStr for Role {
    type Err = Error;
    /// `system`, `user`, `assistant` or `tool`; any other name is an invalid request.
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "system" => Ok(Role::System),
            "user" => Ok(Role::User),
            "assistant" => Ok(Role::Assistant),
            "tool" => Ok(Role::Tool),
            other => Err(Error::invalid(format!("unknown message role {other:?}"))),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an image's bytes are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ImageSource {
    /// Inline, base64-encoded (no `data:` prefix).
    Base64 {
        /// `image/png`, `image/jpeg`, `image/gif` or `image/webp`.
        media_type: String,
        /// The base64 text.
        data: String,
    },
    /// A URL the provider fetches itself (OpenAI and Anthropic; Ollama cannot).
    Url {
        /// An `https://` URL.
        url: String,
    },
}

/// One part of a message's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image (user messages).
    Image {
        /// Its bytes or URL.
        source: ImageSource,
    },
}

/// A call the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The id the answering [`Role::Tool`] message refers to (made up as `call_N` when the
    /// provider gives none, as Ollama may).
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, a JSON object.
    pub arguments: Value,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// Text and image parts (may be empty for an assistant message made only of tool calls).
    #[serde(default)]
    pub content: Vec<Part>,
    /// The calls an assistant message makes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a [`Role::Tool`] message: the id of the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// For a [`Role::Tool`] message: the name of the tool (Ollama wants it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// For a [`Role::Tool`] message: the tool reported an error.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
}

impl Message {
    fn new(role: Role, text: impl Into<String>) -> Self {
        Message {
            role,
            content: vec![Part::Text { text: text.into() }],
            tool_calls: Vec::new(),
            tool_call_id: None,
            tool_name: None,
            is_error: false,
        }
    }
    /// A system message.
    pub fn system(text: impl Into<String>) -> Self {
        Self::new(Role::System, text)
    }
    /// A user message of text.
    pub fn user(text: impl Into<String>) -> Self {
        Self::new(Role::User, text)
    }
    /// An assistant message of text.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::new(Role::Assistant, text)
    }
    /// An assistant message: its text (possibly empty) and the calls it made.
    pub fn assistant_calls(text: impl Into<String>, calls: Vec<ToolCall>) -> Self {
        let text = text.into();
        let mut m = Self::new(Role::Assistant, text);
        // An empty text part is dropped when calls carry the message; an answer with neither
        // keeps it, so the message is never empty.
        if !calls.is_empty() && matches!(&m.content[..], [Part::Text { text }] if text.is_empty()) {
            m.content.clear();
        }
        m.tool_calls = calls;
        m
    }
    /// The answer to a tool call.
    pub fn tool_result(call: &ToolCall, text: impl Into<String>, is_error: bool) -> Self {
        let mut m = Self::new(Role::Tool, text);
        m.tool_call_id = Some(call.id.clone());
        m.tool_name = Some(call.name.clone());
        m.is_error = is_error;
        m
    }
    /// Adds an image part.
    pub fn with_image(mut self, source: ImageSource) -> Self {
        self.content.push(Part::Image { source });
        self
    }
    /// The text parts joined.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for p in &self.content {
            if let Part::Text { text } = p {
                out.push_str(text);
            }
        }
        out
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// `^[A-Za-z0-9_-]{1,64}$` (the strictest provider's rule).
    pub name: String,
    /// What it does, for the model.
    #[serde(default)]
    pub description: String,
    /// A JSON Schema whose `type` is `object`.
    pub input_schema: Value,
}

/// Whether and which tool the model must call.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides.
    #[default]
    Auto,
    /// No tool calls.
    None,
    /// Some tool call.
    Required,
    /// This tool.
    Tool(String),
}

/// A chat request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model (for Azure deployments: the deployment name).
    pub model: String,
    /// The conversation, in order; system messages anywhere are gathered in front.
    pub messages: Vec<Message>,
    /// Tools the model may call.
    #[serde(default)]
    pub tools: Vec<ToolSpec>,
    /// Tool choice (only sent when there are tools).
    #[serde(default)]
    pub tool_choice: ToolChoice,
    /// The most tokens to generate (Anthropic requires it: 4096 when `None`).
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Stop sequences.
    #[serde(default)]
    pub stop: Vec<String>,
    /// Provider-specific fields merged into the top level of the JSON body last.
    #[serde(default)]
    pub extra: serde_json::Map<String, Value>,
}

impl ChatRequest {
    /// A request for `model` with these messages.
    pub fn new(model: impl Into<String>, messages: Vec<Message>) -> Self {
        ChatRequest {
            model: model.into(),
            messages,
            ..Default::default()
        }
    }
    /// Sets the tools.
    pub fn tools(mut self, tools: Vec<ToolSpec>) -> Self {
        self.tools = tools;
        self
    }
    /// Sets the token limit.
    pub fn max_tokens(mut self, n: u32) -> Self {
        self.max_tokens = Some(n);
        self
    }
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// It finished its turn.
    EndTurn,
    /// It hit the token limit.
    MaxTokens,
    /// It wants its tool calls answered.
    ToolUse,
    /// It produced a stop sequence.
    StopSequence,
    /// The provider's content filter or a refusal ended it.
    ContentFilter,
    /// Something else, as the provider named it.
    Other(String),
}

impl StopReason {
    /// The neutral name (`end_turn`, `max_tokens`, `tool_use`, `stop_sequence`,
    /// `content_filter`) or the provider's own.
    pub fn as_str(&self) -> &str {
        match self {
            StopReason::EndTurn => "end_turn",
            StopReason::MaxTokens => "max_tokens",
            StopReason::ToolUse => "tool_use",
            StopReason::StopSequence => "stop_sequence",
            StopReason::ContentFilter => "content_filter",
            StopReason::Other(s) => s,
        }
    }
}

/// Token counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens (including cached ones).
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
}

/// A whole answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    /// The model that answered, as the provider names it.
    pub model: String,
    /// The assistant's text (sanitized: no terminal control sequences).
    pub text: String,
    /// Reasoning text, for models and providers that expose it.
    pub thinking: String,
    /// The calls it made.
    pub tool_calls: Vec<ToolCall>,
    /// Token counts, when reported.
    pub usage: Option<Usage>,
    /// Why it stopped, when reported.
    pub stop_reason: Option<StopReason>,
}

impl ChatResponse {
    /// The answer as a message to append to the conversation.
    pub fn to_message(&self) -> Message {
        Message::assistant_calls(self.text.clone(), self.tool_calls.clone())
    }
}

/// One event of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// More answer text (sanitized).
    TextDelta(String),
    /// More reasoning text (Anthropic `thinking`, Ollama `thinking`, OpenAI-compatible
    /// `reasoning_content`).
    ThinkingDelta(String),
    /// A piece of a tool call's arguments; `arguments` is everything received so far for
    /// this call. `id` and `name` are known from the call's first delta on.
    ToolCallDelta {
        /// The call's position in the answer.
        index: usize,
        /// Its id.
        id: String,
        /// The tool's name.
        name: String,
        /// The new JSON text.
        delta: String,
        /// All JSON text so far.
        arguments: String,
    },
    /// A complete tool call, its arguments parsed.
    ToolCall(ToolCall),
    /// Token counts (may come more than once; later ones supersede earlier ones).
    Usage(Usage),
    /// The answer ended for this reason; the last event before the stream ends.
    Stop(StopReason),
}

/// A model a provider offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The id to put in [`ChatRequest::model`].
    pub id: String,
    /// A display name, when the provider has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Who owns it, or its family, when the provider says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owned_by: Option<String>,
}

/// What a provider can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Streaming answers.
    pub streaming: bool,
    /// Tool calling.
    pub tools: bool,
    /// Image inputs.
    pub images: bool,
    /// Image inputs by URL (not only inline).
    pub image_urls: bool,
    /// Embeddings.
    pub embeddings: bool,
    /// Model listing.
    pub list_models: bool,
    /// Reasoning text in the stream.
    pub thinking: bool,
}

/// Embeddings of several inputs, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    /// The model that made them.
    pub model: String,
    /// One vector per input.
    pub vectors: Vec<Vec<f32>>,
    /// Prompt tokens, when reported.
    pub input_tokens: Option<u64>,
}
