//! An MCP client: connect to a server, call its tools, read its resources, answer its
//! requests.
//!
//! - [`Client`]: one connection after the `initialize` handshake; typed calls for every
//!   server feature (tools, resources, templates, prompts, completion, logging, ping), list
//!   calls that follow every page, and [`Client::request`] for anything else.
//! - [`ClientBuilder`]: who the client is, the handlers it offers the server (`roots/list`,
//!   `sampling/createMessage`, `elicitation/create`), the notification callback, timeouts;
//!   then `connect_stdio` (a child process), `connect_http` (Streamable HTTP, falling back to
//!   the legacy HTTP+SSE transport), `connect_sse` (legacy HTTP+SSE), `connect_ws`
//!   (WebSocket) or `connect_tcp` (newline-delimited JSON); `keep_alive` pings, and
//!   `reconnect` makes network connections again with backoff.
//! - The stateless 2026-07-28 revision: [`ClientBuilder::protocol_version`] with
//!   [`ProtocolVersion::V2026_07_28`] (or [`ClientBuilder::era`] with
//!   [`EraPreference::Auto`], which probes with `server/discover` and falls back to
//!   `initialize`). No handshake: every request carries the protocol version, the client's
//!   capabilities and info in `_meta`; `input_required` results are answered with the same
//!   handlers and the request retried; over HTTP there is no session, and the
//!   `Mcp-Method`/`Mcp-Name` headers go with every request, and `Mcp-Param-*` with a
//!   `tools/call` whose tool annotates arguments with `x-mcp-header` (learnt from
//!   `tools/list`, which drops tools whose annotations break the rules; a call refused with
//!   `-32020` lists the tools again and is retried once).
//! - [`Client::listen`] (2026-07-28): a `subscriptions/listen` stream for list changes and
//!   resource updates, which arrive at the notification callback; a [`Subscription`] ends it
//!   when dropped.
//! - [`McpServers`], [`ServerConfig`]: the `mcpServers` configuration format hosts share;
//!   [`ClientBuilder::connect_server`] connects to one entry.
//! - [`ClientPool`]: several named connections at once, their tools namespaced
//!   (`server__tool`) and calls routed to the right server.
//! - [`CallOptions`]: per call timeout, progress callback and `_meta`.
//! - [`Notification`]: what the server sends unasked.
//! - [`Error`]: every failure, with the server's JSON-RPC error kept whole.
//!
//! Calls run concurrently on one connection. Dropping a call's future sends
//! `notifications/cancelled`; a call that outlives its timeout is cancelled the same way.
//! The wire types are [`rune_proto`]'s, re-exported as [`model`].
//!
//! # Example
//!
//! ```no_run
//! # async fn run() -> rune_client::Result<()> {
//! use rune_client::{CallOptions, Client};
//! use std::time::Duration;
//!
//! let client = Client::builder().connect_http("http://127.0.0.1:8000/mcp").await?;
//! println!("connected to {} ({})", client.server_info().name, client.protocol_version());
//! let result = client.call_tool("add", serde_json::json!({"a": 1, "b": 2})).await?;
//! println!("{:?}", result.content);
//!
//! let params = rune_client::model::CallToolParams {
//!     name: "slow".into(), arguments: None, input_responses: None, request_state: None, meta: None,
//! };
//! let options = CallOptions::new()
//!     .timeout(Duration::from_secs(5))
//!     .on_progress(|p| eprintln!("{} / {:?}", p.progress, p.total));
//! client.call_tool_with(&params, options).await?;
//! client.close().await;
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod builder;
mod client;
mod config;
mod elicit;
mod engine;
mod error;
mod notification;
mod pool;
mod subscription;
mod transport;

pub use builder::{ClientBuilder, EraPreference, ReconnectPolicy};
pub use client::{CallOptions, Client};
pub use config::{McpServers, RemoteServer, ServerConfig, StdioServer};
pub use elicit::apply_defaults as apply_elicitation_defaults;
pub use engine::{BoxFuture, ProgressFn};
pub use error::{Error, Result};
pub use notification::Notification;
pub use pool::{ClientPool, DEFAULT_SEPARATOR, PoolTool};
pub use rune_proto::model;
pub use rune_proto::{ErrorObject, Id, ProtocolVersion};
pub use subscription::Subscription;
