//! AI model providers behind one async interface.
//!
//! - [`Provider`]: chat (whole or streamed), tool calling, embeddings, model listing and
//!   [`Capabilities`], implemented by [`ollama::Ollama`], [`openai::OpenAi`] (OpenAI, every
//!   server that speaks Chat Completions, and Azure OpenAI) and [`anthropic::Anthropic`].
//!   [`from_env`] builds one from the variables users already set (`OLLAMA_HOST`,
//!   `OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, `AZURE_OPENAI_*`).
//! - The neutral vocabulary ([`types`]): [`Message`]s with [`Role`]s and text/image
//!   [`Part`]s, [`ToolSpec`]s, [`ChatRequest`], [`ChatResponse`], and the [`StreamEvent`]s of
//!   a [`ChatStream`]: text and thinking deltas, tool-call deltas with the arguments
//!   assembled so far, complete tool calls, usage, stop reason.
//! - [`Error`] with an [`ErrorKind`] mapped from each provider's statuses and error bodies,
//!   the server's retry delay, and the key never in it.
//! - Resilience ([`http`], [`retry`], [`limit`]): one pooled HTTP client, connect and read
//!   timeouts, retries with jittered exponential backoff that honour `Retry-After` and the
//!   rate-limit headers (never once a stream has started), a requests- and tokens-per-minute
//!   [`RateLimiter`].
//! - Safety: [`validate`] checks a request before it is sent; [`sanitize`] strips terminal
//!   escape sequences and control characters from every text a provider returns.
//! - [`sampling`]: answers an MCP server's `sampling/createMessage` with a provider.
//!
//! How a stream is read, layer by layer, is in [`stream`] and [`decode`].
//!
//! # Example
//!
//! ```no_run
//! # async fn run() -> rune_providers::Result<()> {
//! use futures_util::StreamExt;
//! use rune_providers::{ChatRequest, Http, Message, ProviderKind, StreamEvent, from_env};
//!
//! let provider = from_env(ProviderKind::Ollama, None, &|k| std::env::var(k).ok(), Http::new())?;
//! let req = ChatRequest::new("llama3.2", vec![Message::user("Why is the sky blue?")]);
//! let mut stream = provider.chat_stream(&req).await?;
//! while let Some(event) = stream.next().await {
//!     if let StreamEvent::TextDelta(t) = event? {
//!         print!("{t}");
//!     }
//! }
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

pub mod anthropic;
pub mod decode;
mod error;
pub mod http;
pub mod limit;
#[cfg(feature = "mock")]
pub mod mock;
pub mod ollama;
pub mod openai;
mod provider;
pub mod retry;
pub mod sampling;
pub mod sanitize;
pub mod stream;
pub mod types;
pub mod validate;

pub use error::{Error, ErrorKind, Result};
pub use http::Http;
pub use limit::RateLimiter;
pub use provider::{Provider, ProviderKind, Secret, from_env};
pub use retry::RetryPolicy;
pub use stream::{ChatStream, collect};
pub use types::{
    Capabilities, ChatRequest, ChatResponse, Embeddings, ImageSource, Message, ModelInfo, Part,
    Role, StopReason, StreamEvent, ToolCall, ToolChoice, ToolSpec, Usage,
};
