//! The Model Context Protocol on the wire: JSON-RPC 2.0 and MCP's types, every revision.
//!
//! This crate has no I/O and no async runtime; it is shared by Rune's server, client and
//! transports.
//!
//! - [`jsonrpc`]: [`Message::parse`] decodes one message borrowing from the input (method name
//!   and params stay slices of the buffer); `write_*` functions encode into a `Vec<u8>`.
//! - [`json`]: a JSON writer for string-heavy results (tool results), several times faster
//!   than `serde_json` on text and byte-identical to it.
//! - [`headers`]: the HTTP headers that mirror a 2026-07-28 request (`Mcp-Param-*` from a
//!   tool's `x-mcp-header` annotations, the `=?base64?…?=` value codec).
//! - [`sse`]: the incremental `text/event-stream` parser (HTTP transports, model streams).
//! - [`version`]: [`ProtocolVersion`], the revisions 2024-11-05 … 2026-07-28, and the
//!   questions the engine asks of them (batches allowed? `resultType`? which not-found code?).
//! - [`model`]: the wire types (tools, resources, prompts, content, capabilities, sampling,
//!   elicitation, roots, MRTR, subscriptions).
//!
//! # Example
//!
//! ```
//! use rune_proto::{Message, Id, jsonrpc, model::CallToolResult};
//!
//! let line = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#;
//! let Ok(Message::Request { id, method, params }) = Message::parse(line) else { panic!() };
//! assert_eq!(method, "tools/call");
//! assert_eq!(params.unwrap().get(), r#"{"name":"echo"}"#);
//!
//! let mut out = Vec::new();
//! jsonrpc::write_response(&mut out, &id, &CallToolResult::text("hi"));
//! assert_eq!(
//!     std::str::from_utf8(&out)?,
//!     r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi"}]}}"#
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod headers;
pub mod json;
pub mod jsonrpc;
pub mod model;
pub mod sse;
pub mod version;

pub use jsonrpc::{DecodeError, ErrorObject, Id, Message};
pub use serde_json::value::RawValue;
pub use version::{Era, ProtocolVersion};
