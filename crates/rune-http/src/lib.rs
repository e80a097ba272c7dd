//! Rune's network transports for MCP servers.
//!
//! One HTTP endpoint (default `/mcp`) serves every kind of client a [`rune_server::Server`]
//! can meet on the network:
//!
//! - **Streamable HTTP, handshake era** (2025-03-26 … 2025-11-25): `initialize` opens a session
//!   (`Mcp-Session-Id`); each POST's requests are answered with JSON, or with an SSE stream when
//!   the handler sends progress, log messages or requests of its own before its result; a GET
//!   opens the standalone SSE stream for everything that belongs to no request; DELETE ends the
//!   session. Events carry ids and are kept in an [`EventStore`], so a client that lost a
//!   stream (or whose stream the server closed on purpose, SEP-1699) resumes it with a GET and
//!   `Last-Event-ID`. The priming event and `retry` field are sent to 2025-11-25 sessions.
//! - **Streamable HTTP, 2026-07-28**: each POST is one request on a fresh, stateless
//!   connection (no session), with the `MCP-Protocol-Version` / `Mcp-Method` / `Mcp-Name`
//!   headers checked against the body.
//! - **Stateless mode** ([`HttpOptions::stateless`]): no sessions at all, so replicas can sit
//!   behind any load balancer; handshake-era requests are served as if initialized with the
//!   revision their `MCP-Protocol-Version` header names.
//! - **Legacy HTTP+SSE** (2024-11-05): `GET /sse` opens a stream whose first event names the
//!   POST endpoint (`/messages?sessionId=…`).
//! - **WebSocket**: a GET with `Upgrade: websocket` on the endpoint; one JSON-RPC message per
//!   text frame.
//!
//! Protection: requests whose `Host` or `Origin` is not an allowed host get 403 (DNS
//! rebinding; by default only `localhost`, `127.0.0.1` and `::1`), and an optional bearer
//! token ([`BearerAuth`]) with OAuth protected resource metadata at
//! `/.well-known/oauth-protected-resource` and a `WWW-Authenticate` challenge.
//!
//! [`listen::serve_url`] starts whichever transport a URL names (`http://`, `ws://`,
//! `tcp://`) and shuts down gracefully on SIGINT/SIGTERM.

// Guards return the HTTP refusal itself (`Result<_, Response>`): a cold path, handed straight
// to axum, so boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::Duration;

pub mod events;
pub mod listen;
mod security;
mod session;
mod sse;
mod streamable;
mod ws;

pub use events::{EventStore, MemoryEventStore};
pub use security::{BearerAuth, ResourceMetadata};
pub use streamable::{HttpService, router};

/// How the HTTP endpoint behaves.
#[derive(Clone)]
pub struct HttpOptions {
    /// The MCP endpoint's path (default `/mcp`).
    pub path: String,
    /// No sessions: every POST is served on its own connection (GET and DELETE get 405).
    pub stateless: bool,
    /// Host names (without port) accepted in `Host` and `Origin` headers; `*` accepts any.
    /// Default: `localhost`, `127.0.0.1`, `::1`.
    pub allowed_hosts: Vec<String>,
    /// The `retry` value sent to clients that may resume (default 1 s).
    pub sse_retry: Duration,
    /// A session with no request and no open stream for this long is closed (default 30 min).
    pub session_idle_timeout: Duration,
    /// Sessions open at once; an `initialize` beyond it gets 503 (default 10 000).
    pub max_sessions: usize,
    /// The largest request body, in bytes (default 16 MiB).
    pub max_body_bytes: usize,
    /// Where events are kept for resumption.
    pub event_store: Arc<dyn EventStore>,
    /// Bearer-token authentication, when set.
    pub auth: Option<BearerAuth>,
    /// Serve the 2024-11-05 HTTP+SSE transport at `/sse` and `/messages` (default true).
    pub legacy_sse: bool,
    /// Accept WebSocket upgrades on the endpoint (default true).
    pub websocket: bool,
}

impl std::fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpOptions")
            .field("path", &self.path)
            .field("stateless", &self.stateless)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("sse_retry", &self.sse_retry)
            .field("session_idle_timeout", &self.session_idle_timeout)
            .field("max_sessions", &self.max_sessions)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("auth", &self.auth.is_some())
            .field("legacy_sse", &self.legacy_sse)
            .field("websocket", &self.websocket)
            .finish()
    }
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            path: "/mcp".into(),
            stateless: false,
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            sse_retry: Duration::from_secs(1),
            session_idle_timeout: Duration::from_secs(30 * 60),
            max_sessions: 10_000,
            max_body_bytes: 16 << 20,
            event_store: Arc::new(MemoryEventStore::default()),
            auth: None,
            legacy_sse: true,
            websocket: true,
        }
    }
}
