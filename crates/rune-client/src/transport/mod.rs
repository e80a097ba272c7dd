//! The transports behind one small trait, so the engine (`crate::engine`) is shared.
//!
//! A transport carries complete JSON-RPC messages. Outgoing messages go through
//! [`Transport::send`]; incoming ones are pushed by the transport's own tasks into a [`Sink`],
//! which dispatches them at once (responses to their callers, server requests to the host's
//! handlers, notifications to the host's callback). The engine never reads from a transport.
//!
//! - [`lines`]: newline-delimited JSON over any byte stream: the framing of stdio and TCP.
//! - [`stdio`]: a spawned server process.
//! - [`http`]: Streamable HTTP (POST, SSE, sessions, resumption), with [`sse`] for parsing.
//! - [`legacy_sse`]: the HTTP+SSE transport of 2024-11-05 (GET stream + POST endpoint).
//! - [`ws`]: WebSocket, one message per text frame.

pub(crate) mod http;
pub(crate) mod legacy_sse;
pub(crate) mod lines;
pub(crate) mod sse;
pub(crate) mod stdio;
pub(crate) mod ws;

use std::future::Future;
use std::pin::Pin;

use rune_proto::{Id, ProtocolVersion};

use crate::error::Error;

pub(crate) use crate::engine::Sink;

/// A boxed `Send` future (the trait must stay object safe).
pub(crate) type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What an outgoing message is, for transports that treat them differently (HTTP).
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// A request of ours: its answer is expected.
    Request {
        /// Its id.
        id: Id,
        /// True for `initialize` (its HTTP answer carries the session id).
        initialize: bool,
        /// HTTP headers that mirror the params (`Mcp-Param-*` of a 2026-07-28
        /// `tools/call`); other transports ignore them.
        headers: Vec<(String, String)>,
    },
    /// A notification or an answer to a server request: nothing comes back.
    OneWay,
}

/// One complete JSON-RPC message, without framing.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub bytes: Vec<u8>,
    pub kind: Kind,
}

/// A connection to a server, as the engine sees it.
pub(crate) trait Transport: Send + Sync + 'static {
    /// Sends one message. Returns once the transport took it: queued for a stream transport,
    /// accepted by the server (its HTTP status read) on HTTP. A request's answer arrives later
    /// through the [`Sink`]; an error here means it will not.
    fn send(&self, msg: Outgoing) -> BoxFut<'_, Result<(), Error>>;

    /// Takes a one-way message at once, without waiting, when the transport can (a stream
    /// transport queues it, keeping its order with what is sent next); gives it back if not.
    fn try_send(&self, msg: Outgoing) -> Result<(), Outgoing> {
        Err(msg)
    }

    /// The handshake chose this revision (HTTP sends it as `MCP-Protocol-Version` from now on).
    fn negotiated(&self, _version: ProtocolVersion) {}

    /// Forgets the revision `negotiated` set (a failed 2026-07-28 probe, before the
    /// `initialize` fallback).
    fn unnegotiated(&self) {}

    /// The handshake is over (`notifications/initialized` sent): HTTP opens its GET stream,
    /// and the returned future waits until the server answered that GET (so that what the
    /// server sends there right after is not lost).
    fn ready(&self) -> BoxFut<'_, ()> {
        Box::pin(async {})
    }

    /// The engine no longer waits for this request's answer (it was cancelled or timed out).
    fn forget(&self, _id: &Id) {}

    /// Closes the connection in an orderly way: ends the HTTP session, or closes the server's
    /// stdin and waits for it to exit (killing it after a grace period).
    fn close(&self) -> BoxFut<'_, ()>;

    /// Starts closing without waiting (called from `Drop`).
    fn shutdown(&self);
}
