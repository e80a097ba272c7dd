//! Rune's MCP server engine.
//!
//! Build a [`Server`] with [`Server::builder`], register [`ToolDef`]s, [`ResourceDef`]s,
//! [`TemplateDef`]s and [`PromptDef`]s (each an async handler receiving a
//! [`RequestContext`]), then serve a connection: [`Server::serve_stdio`] or
//! [`Server::serve`] on any byte stream.
//!
//! One engine speaks every MCP revision. A connection opened with `initialize` is served in
//! the handshake revision it negotiates (2024-11-05 … 2025-11-25); requests that carry
//! `_meta["io.modelcontextprotocol/protocolVersion"]` are served statelessly as 2026-07-28.
//! Handlers do not care: [`RequestContext::elicit`] sends a request to the client in the first
//! case and makes the engine answer `input_required` in the second.
//!
//! What the engine does for every handler:
//! - tools' arguments are validated against their JSON Schema before the handler runs; a
//!   violation is an `isError` result naming the field;
//! - a handler's error or panic becomes an error result, never a dead server;
//! - `notifications/cancelled` drops the running handler and nothing is answered;
//! - capabilities are derived from what is registered; lists are paginated;
//! - requests run concurrently; input stops being read past `max_in_flight` (back-pressure);
//!   a client that stops reading makes progress and log notifications drop past
//!   `notification_backlog_bytes` of waiting output, never responses.
//!
//! # Example
//!
//! ```
//! use rune_server::{Server, ToolDef, RequestContext, HandlerError};
//! use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Echo { message: String }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let server = Server::builder("echo", "1.0.0")
//!     .tool(ToolDef::new("echo", "Repeats the message", |a: Echo, _cx: RequestContext| async move {
//!         Ok::<_, HandlerError>(a.message)
//!     }))
//!     .build();
//!
//! // A client on the other end of an in-memory pipe.
//! let (client, server_end) = tokio::io::duplex(4096);
//! let (r, w) = tokio::io::split(server_end);
//! tokio::spawn(async move { server.serve(r, w).await });
//! let (cr, mut cw) = tokio::io::split(client);
//! cw.write_all(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}
//! "#).await?;
//! let mut line = String::new();
//! BufReader::new(cr).read_line(&mut line).await?;
//! assert!(line.contains(r#""text":"hi""#));
//! assert!(line.contains(r#""resultType":"complete""#));
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

pub mod channel;
mod conn;
mod context;
mod error;
pub mod listen;
mod mrtr;
mod prompt;
mod resource;
mod schema;
mod server;
pub mod stdio;
mod tool;

pub use context::RequestContext;
pub use error::HandlerError;
pub use prompt::{IntoGetPromptResult, PromptDef};
pub use resource::{IntoReadResourceResult, ResourceDef, TemplateDef};
pub use rune_proto as proto;
pub use server::{Options, Server, ServerBuilder};
pub use tokio_util::sync::CancellationToken;
pub use tool::{BoxFuture, IntoCallToolResult, Json, Next, NoArgs, ToolDef, schema_for};

impl Server {
    /// Serves one connection on a byte stream of newline-delimited JSON, until the peer
    /// closes it and every request has been answered.
    pub async fn serve<R, W>(&self, reader: R, writer: W) -> std::io::Result<()>
    where
        R: tokio::io::AsyncRead + Unpin,
        W: tokio::io::AsyncWrite + Unpin,
    {
        conn::serve_stream(self, reader, writer).await
    }

    /// Serves stdin/stdout until stdin ends.
    pub async fn serve_stdio(&self) -> std::io::Result<()> {
        let (r, w) = stdio::open()?;
        self.serve(r, w).await
    }
}
