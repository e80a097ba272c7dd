//! The one error type of the client.

use std::sync::Arc;
use std::time::Duration;

use rune_proto::ErrorObject;

/// What can go wrong with a connection or a call.
///
/// The type is `Clone` so that one failure (a closed connection) can be handed to every call
/// that was waiting on it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered the request with a JSON-RPC error.
    #[error("the server returned an error: {0}")]
    Rpc(ErrorObject),
    /// No answer came within the request's timeout; `notifications/cancelled` was sent.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection is closed (the server exited, closed its output, or the client was
    /// closed); the text says why.
    #[error("the connection is closed: {0}")]
    Closed(Arc<str>),
    /// Starting the server or talking to it failed (spawn, connect, read, write).
    #[error("transport error: {0}")]
    Transport(Arc<str>),
    /// The HTTP server answered with a status that is not a success, and no JSON-RPC error.
    #[error("HTTP status {status}: {message}")]
    Http {
        /// The status code.
        status: u16,
        /// The start of the body, or a description.
        message: Arc<str>,
    },
    /// The HTTP server no longer knows the session (404 on a request that carried
    /// `Mcp-Session-Id`); a new connection must be made.
    #[error("the server ended the session (HTTP 404)")]
    SessionExpired,
    /// The server broke the protocol: a result that does not decode, a stream that ended
    /// without the response, an answer that is not JSON-RPC.
    #[error("protocol error: {0}")]
    Protocol(Arc<str>),
    /// The server chose a protocol revision this client does not speak.
    #[error("the server chose protocol version {0:?}, which this client does not speak")]
    UnsupportedVersion(Arc<str>),
    /// The target could not be understood (a URL scheme this client does not know, a
    /// configuration entry, a server or namespaced tool name a pool does not know).
    #[error("invalid target: {0}")]
    InvalidTarget(Arc<str>),
    /// A call through a [`ClientPool`](crate::ClientPool) failed on one of its servers.
    #[error("server {server}: {error}")]
    Server {
        /// The server's name in the pool.
        server: Arc<str>,
        /// What went wrong there.
        error: Box<Error>,
    },
}

impl Error {
    pub(crate) fn closed(why: impl Into<Arc<str>>) -> Self {
        Error::Closed(why.into())
    }
    pub(crate) fn transport(why: impl std::fmt::Display) -> Self {
        Error::Transport(why.to_string().into())
    }
    pub(crate) fn protocol(why: impl std::fmt::Display) -> Self {
        Error::Protocol(why.to_string().into())
    }

    pub(crate) fn server(name: &str, error: Error) -> Self {
        Error::Server {
            server: name.into(),
            error: Box::new(error),
        }
    }

    /// The JSON-RPC error, when the server answered with one.
    pub fn rpc(&self) -> Option<&ErrorObject> {
        match self {
            Error::Rpc(e) => Some(e),
            Error::Server { error, .. } => error.rpc(),
            _ => None,
        }
    }
}

/// `Result<T, rune_client::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
