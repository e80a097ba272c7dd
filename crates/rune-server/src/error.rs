//! What a handler returns when it does not succeed.

use std::fmt;

use rune_proto::ErrorObject;
use rune_proto::jsonrpc::code;
use rune_proto::model::InputRequest;

/// The error type of every handler (tools, resources, prompts, completion).
///
/// - [`HandlerError::Failed`]: the operation failed. For a tool this becomes a result with
///   `isError: true` (the model sees the message and can react); for the other features a
///   JSON-RPC internal error.
/// - [`HandlerError::Protocol`]: a JSON-RPC error with a code of your choice (for example
///   `-32602` for arguments a handler rejects).
/// - [`HandlerError::InputRequired`]: raised by [`crate::RequestContext::elicit`] and friends
///   on 2026-07-28 requests; the engine answers `resultType: "input_required"`. Let it pass
///   with `?`.
///
/// Any `std::error::Error` converts into `Failed`, so `?` works on I/O and parse errors.
#[derive(Debug)]
pub enum HandlerError {
    /// The operation failed; the message is shown to the client.
    Failed(String),
    /// A JSON-RPC error.
    Protocol(ErrorObject),
    /// More input is needed from the client (2026-07-28 MRTR).
    InputRequired(Box<InputNeeded>),
}

/// The input a handler asked for, and the answers it already had.
#[derive(Debug)]
pub struct InputNeeded {
    pub(crate) key: String,
    pub(crate) request: InputRequest,
}

impl HandlerError {
    /// A failure with a message.
    pub fn failed(message: impl Into<String>) -> Self {
        HandlerError::Failed(message.into())
    }
    /// A `-32602` invalid-params error.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        HandlerError::Protocol(ErrorObject::invalid_params(message))
    }
    /// A JSON-RPC error with any code.
    pub fn protocol(code: i64, message: impl Into<String>) -> Self {
        HandlerError::Protocol(ErrorObject::new(code, message))
    }
    /// The client lacks a capability this request needs (`-32021`).
    pub fn missing_capability(capabilities: serde_json::Value) -> Self {
        HandlerError::Protocol(
            ErrorObject::new(
                code::MISSING_REQUIRED_CLIENT_CAPABILITY,
                "Missing required client capability",
            )
            .with_data(serde_json::json!({ "requiredCapabilities": capabilities })),
        )
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(e: E) -> Self {
        HandlerError::Failed(e.to_string())
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandlerError::Failed(m) => f.write_str(m),
            HandlerError::Protocol(e) => write!(f, "{e}"),
            HandlerError::InputRequired(n) => write!(f, "input required: {}", n.request.method),
        }
    }
}

/// Text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}
