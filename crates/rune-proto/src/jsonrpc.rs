//! JSON-RPC 2.0: decoding that borrows from the input, encoding straight into a byte buffer.
//!
//! Decoding is two-step. [`Message::parse`] reads only the envelope (`jsonrpc`, `id`, `method`)
//! and keeps `params`, `result` and `error` as raw, unparsed slices of the input
//! ([`RawValue`]); the caller dispatches on the method name and only then decodes the params
//! into the one type that method takes. No `serde_json::Value` tree is built for the envelope.
//!
//! Encoding appends one message to a `Vec<u8>` ([`write_response`], [`write_error`],
//! [`write_notification`], [`write_request`]); framing (a newline on stdio, an SSE event on
//! HTTP) is the transport's business.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

/// The JSON-RPC error codes Rune emits or recognises.
pub mod code {
    /// Invalid JSON was received.
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON sent is not a valid request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The method does not exist or is not available.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Invalid method parameters.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Internal JSON-RPC error.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// Resource not found (revisions up to 2025-11-25; 2026-07-28 uses `INVALID_PARAMS`).
    pub const RESOURCE_NOT_FOUND: i64 = -32002;
    /// URL elicitation required (2025-11-25 only).
    pub const URL_ELICITATION_REQUIRED: i64 = -32042;
    /// 2026-07-28: a header disagrees with the body, or a required header is missing.
    pub const HEADER_MISMATCH: i64 = -32020;
    /// 2026-07-28: the request needs a client capability it did not declare.
    pub const MISSING_REQUIRED_CLIENT_CAPABILITY: i64 = -32021;
    /// 2026-07-28: the requested protocol version is not supported.
    pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
}

/// A request id: a string or an integer, echoed back exactly as its type was received.
///
/// `null` and fractional ids are rejected on requests (JSON-RPC and MCP both forbid them).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Id {
    /// An integer id.
    Int(i64),
    /// A string id.
    Str(Box<str>),
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Int(n) => write!(f, "{n}"),
            Id::Str(s) => write!(f, "{s:?}"),
        }
    }
}

impl From<i64> for Id {
    fn from(n: i64) -> Self {
        Id::Int(n)
    }
}

impl From<&str> for Id {
    fn from(s: &str) -> Self {
        Id::Str(s.into())
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Id::Int(n) => s.serialize_i64(*n),
            Id::Str(v) => s.serialize_str(v),
        }
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an integer id")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id, E> {
                Ok(Id::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
                i64::try_from(v)
                    .map(Id::Int)
                    .map_err(|_| E::custom("integer id out of range"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
                Ok(Id::Str(v.into()))
            }
        }
        d.deserialize_any(V)
    }
}

impl Id {
    /// Reads an id from its raw JSON text.
    pub fn from_raw(raw: &RawValue) -> Result<Id, &'static str> {
        let text = raw.get();
        if text == "null" {
            return Err("id must not be null");
        }
        serde_json::from_str::<Id>(text).map_err(|_| "id must be a string or an integer")
    }
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// The error code (see [`code`]).
    pub code: i64,
    /// A short description.
    pub message: String,
    /// Extra information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

impl ErrorObject {
    /// An error with a code and a message.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        ErrorObject {
            code,
            message: message.into(),
            data: None,
        }
    }
    /// Attaches `data`.
    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = Some(data);
        self
    }
    /// -32700.
    pub fn parse_error(message: impl Into<String>) -> Self {
        Self::new(code::PARSE_ERROR, message)
    }
    /// -32600.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(code::INVALID_REQUEST, message)
    }
    /// -32601.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            code::METHOD_NOT_FOUND,
            format!("Method not found: {method}"),
        )
    }
    /// -32602.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(code::INVALID_PARAMS, message)
    }
    /// -32603.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(code::INTERNAL_ERROR, message)
    }
}

impl fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for ErrorObject {}

/// The envelope as read from the wire; every field borrowed or raw.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default, deserialize_with = "cow_str")]
    jsonrpc: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "cow_str")]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "present")]
    params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

/// Borrows a string from the input when it has no escapes (serde does not borrow a
/// `Cow` nested in an `Option` by itself).
fn cow_str<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct V;
    impl<'de> de::Visitor<'de> for V {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

/// Keeps a field that is present with the value `null` apart from an absent one.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// One decoded JSON-RPC message, borrowing from the input buffer.
#[derive(Debug)]
pub enum Message<'a> {
    /// A request: it must be answered.
    Request {
        /// Its id.
        id: Id,
        /// The method name.
        method: Cow<'a, str>,
        /// The raw params, if any.
        params: Option<&'a RawValue>,
    },
    /// A notification: never answered.
    Notification {
        /// The method name.
        method: Cow<'a, str>,
        /// The raw params, if any.
        params: Option<&'a RawValue>,
    },
    /// A successful response to one of our requests.
    Response {
        /// The id of our request.
        id: Id,
        /// The raw result.
        result: &'a RawValue,
    },
    /// An error response to one of our requests (the id may be unknown).
    ErrorResponse {
        /// The id of our request, if the peer could read it.
        id: Option<Id>,
        /// The error.
        error: ErrorObject,
    },
}

/// Why a message could not be decoded, with the id to answer to when it could be read.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    /// The request id, when one was readable.
    pub id: Option<Id>,
    /// The error to send back.
    pub error: ErrorObject,
    /// False for a malformed *response*: it must not be answered (its id is one of ours, and
    /// the peer would take an answer for a reply to its own request of that id).
    pub reply: bool,
}

impl<'a> Message<'a> {
    /// Decodes one message (not a batch: see [`is_batch`]).
    pub fn parse(input: &'a [u8]) -> Result<Message<'a>, DecodeError> {
        let env: Envelope<'a> = match serde_json::from_slice(input) {
            Ok(env) => env,
            Err(e) => {
                let error = match e.classify() {
                    serde_json::error::Category::Data => {
                        ErrorObject::invalid_request(format!("Invalid JSON-RPC message: {e}"))
                    }
                    _ => ErrorObject::parse_error(format!("Parse error: {e}")),
                };
                return Err(DecodeError {
                    id: None,
                    error,
                    reply: true,
                });
            }
        };
        let id = match env.id {
            None => None,
            // An error response may carry `"id": null` when the peer could not read our id.
            Some(raw) if raw.get() == "null" && env.method.is_none() && env.error.is_some() => None,
            Some(raw) => match Id::from_raw(raw) {
                Ok(id) => Some(id),
                Err(why) => {
                    return Err(DecodeError {
                        id: None,
                        error: ErrorObject::invalid_request(format!("Invalid request: {why}")),
                        reply: true,
                    });
                }
            },
        };
        let bad = |id: Option<Id>, why: &str| DecodeError {
            id,
            error: ErrorObject::invalid_request(format!("Invalid request: {why}")),
            reply: true,
        };
        let no_reply = |e: DecodeError| DecodeError { reply: false, ..e };
        if env.jsonrpc.as_deref() != Some("2.0") {
            return Err(bad(id, "\"jsonrpc\" must be \"2.0\""));
        }
        // `"params": null` is read as absent (lenient reading).
        let params = env.params.filter(|p| p.get() != "null");
        if let Some(p) = params {
            let first = p.get().as_bytes().first().copied();
            if first != Some(b'{') && first != Some(b'[') {
                return Err(bad(id, "\"params\" must be an object or an array"));
            }
        }
        match (env.method, id) {
            (Some(method), Some(id)) => Ok(Message::Request { id, method, params }),
            (Some(method), None) => Ok(Message::Notification { method, params }),
            (None, id) => match (env.result, env.error) {
                (Some(result), None) => match id {
                    Some(id) => Ok(Message::Response { id, result }),
                    None => Err(no_reply(bad(None, "a response needs an id"))),
                },
                (None, Some(error)) => {
                    let error: ErrorObject = serde_json::from_str(error.get()).map_err(|e| {
                        no_reply(bad(id.clone(), &format!("malformed error object: {e}")))
                    })?;
                    Ok(Message::ErrorResponse { id, error })
                }
                (result, _) => {
                    let e = bad(id, "a message needs \"method\", \"result\" or \"error\"");
                    // With both `result` and `error` it claims to be a response: not answered.
                    if result.is_some() {
                        Err(no_reply(e))
                    } else {
                        Err(e)
                    }
                }
            },
        }
    }
}

/// True when the message text is a JSON array (a JSON-RPC batch).
pub fn is_batch(input: &[u8]) -> bool {
    input
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'[')
}

/// Splits a batch into its raw elements.
pub fn split_batch(input: &[u8]) -> Result<Vec<&RawValue>, ErrorObject> {
    serde_json::from_slice::<Vec<&RawValue>>(input)
        .map_err(|e| ErrorObject::parse_error(format!("Parse error: {e}")))
}

fn write_id(out: &mut Vec<u8>, id: Option<&Id>) {
    match id {
        None => out.extend_from_slice(b"null"),
        Some(Id::Int(n)) => out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes()),
        Some(Id::Str(s)) => {
            // Strings with nothing to escape are copied as they are.
            if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
                out.push(b'"');
                out.extend_from_slice(s.as_bytes());
                out.push(b'"');
            } else {
                let _ = serde_json::to_writer(&mut *out, &**s);
            }
        }
    }
}

/// Appends `{"jsonrpc":"2.0","id":ID,"result":` to `out`; the caller writes the result and
/// then calls [`finish`].
pub fn begin_response(out: &mut Vec<u8>, id: &Id) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    write_id(out, Some(id));
    out.extend_from_slice(b",\"result\":");
}

/// Closes a message begun with [`begin_response`].
pub fn finish(out: &mut Vec<u8>) {
    out.push(b'}');
}

/// Appends a success response.
pub fn write_response<T: Serialize + ?Sized>(out: &mut Vec<u8>, id: &Id, result: &T) {
    let start = out.len();
    begin_response(out, id);
    if serde_json::to_writer(&mut *out, result).is_err() {
        out.truncate(start);
        write_error(
            out,
            Some(id),
            &ErrorObject::internal("result could not be serialized"),
        );
        return;
    }
    finish(out);
}

/// Appends an error response (`"id": null` when the id is unknown).
pub fn write_error(out: &mut Vec<u8>, id: Option<&Id>, error: &ErrorObject) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    write_id(out, id);
    out.extend_from_slice(b",\"error\":");
    if serde_json::to_writer(&mut *out, error).is_err() {
        out.extend_from_slice(br#"{"code":-32603,"message":"error could not be serialized"}"#);
    }
    out.push(b'}');
}

/// Appends a notification.
pub fn write_notification<T: Serialize + ?Sized>(out: &mut Vec<u8>, method: &str, params: &T) {
    let start = out.len();
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"method\":");
    let _ = serde_json::to_writer(&mut *out, method);
    out.extend_from_slice(b",\"params\":");
    if serde_json::to_writer(&mut *out, params).is_err() {
        out.truncate(start);
        return;
    }
    out.push(b'}');
}

/// Appends a request.
pub fn write_request<T: Serialize + ?Sized>(out: &mut Vec<u8>, id: &Id, method: &str, params: &T) {
    let start = out.len();
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    write_id(out, Some(id));
    out.extend_from_slice(b",\"method\":");
    let _ = serde_json::to_writer(&mut *out, method);
    out.extend_from_slice(b",\"params\":");
    if serde_json::to_writer(&mut *out, params).is_err() {
        out.truncate(start);
        return;
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Message<'_>, DecodeError> {
        Message::parse(s.as_bytes())
    }

    #[test]
    fn request_borrows_method_and_keeps_params_raw() {
        let m = parse(r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x"}}"#)
            .expect("valid");
        match m {
            Message::Request { id, method, params } => {
                assert_eq!(id, Id::Int(7));
                assert!(matches!(method, Cow::Borrowed("tools/call")));
                assert_eq!(params.map(|p| p.get()), Some(r#"{"name":"x"}"#));
            }
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn string_and_number_ids_stay_apart() {
        let a = parse(r#"{"jsonrpc":"2.0","id":"1","method":"ping"}"#).expect("valid");
        let b = parse(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).expect("valid");
        let (Message::Request { id: ia, .. }, Message::Request { id: ib, .. }) = (a, b) else {
            panic!("requests expected")
        };
        assert_eq!(ia, Id::Str("1".into()));
        assert_eq!(ib, Id::Int(1));
        let mut out = Vec::new();
        write_response(&mut out, &ia, &serde_json::json!({}));
        assert_eq!(out, br#"{"jsonrpc":"2.0","id":"1","result":{}}"#);
    }

    #[test]
    fn null_and_fractional_ids_are_invalid_requests() {
        for text in [
            r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#,
        ] {
            let err = parse(text).expect_err(text);
            assert_eq!(err.error.code, code::INVALID_REQUEST, "{text}");
        }
    }

    #[test]
    fn notification_has_no_id() {
        let m = parse(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).expect("ok");
        assert!(matches!(m, Message::Notification { .. }));
    }

    #[test]
    fn malformed_json_is_a_parse_error_and_wrong_shape_an_invalid_request() {
        assert_eq!(
            parse("{\"jsonrpc\":").expect_err("eof").error.code,
            code::PARSE_ERROR
        );
        assert_eq!(
            parse("not json").expect_err("syntax").error.code,
            code::PARSE_ERROR
        );
        assert_eq!(
            parse("42").expect_err("number").error.code,
            code::INVALID_REQUEST
        );
        assert_eq!(
            parse(r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#)
                .expect_err("v")
                .error
                .code,
            code::INVALID_REQUEST
        );
        let e = parse(r#"{"jsonrpc":"2.0","id":3,"method":"x","params":5}"#).expect_err("p");
        assert_eq!(
            (e.id, e.error.code),
            (Some(Id::Int(3)), code::INVALID_REQUEST)
        );
    }

    #[test]
    fn responses_and_errors_decode() {
        let m = parse(r#"{"jsonrpc":"2.0","id":"s1","result":{"roots":[]}}"#).expect("ok");
        assert!(matches!(m, Message::Response { id: Id::Str(_), .. }));
        let m = parse(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"no"}}"#)
            .expect("an error response may have a null id");
        assert!(matches!(m, Message::ErrorResponse { id: None, .. }));
        let m =
            parse(r#"{"jsonrpc":"2.0","id":2,"error":{"code":-1,"message":"no"}}"#).expect("ok");
        assert!(matches!(
            m,
            Message::ErrorResponse {
                id: Some(Id::Int(2)),
                ..
            }
        ));
    }

    #[test]
    fn escaped_string_ids_round_trip() {
        let m = parse(r#"{"jsonrpc":"2.0","id":"a\"b\n","method":"ping"}"#).expect("ok");
        let Message::Request { id, .. } = m else {
            panic!("request expected")
        };
        let mut out = Vec::new();
        write_error(&mut out, Some(&id), &ErrorObject::method_not_found("ping"));
        let v: serde_json::Value = serde_json::from_slice(&out).expect("valid json");
        assert_eq!(v["id"], "a\"b\n");
        assert!(!out.contains(&b'\n'));
    }

    #[test]
    fn malformed_responses_are_not_answered_and_null_params_are_absent() {
        let e = parse(r#"{"jsonrpc":"2.0","id":3,"error":"boom"}"#).expect_err("bad error");
        assert!(!e.reply);
        let e = parse(r#"{"jsonrpc":"2.0","id":3,"result":1,"error":{"code":1,"message":"x"}}"#)
            .expect_err("both");
        assert!(!e.reply);
        let e = parse(r#"{"jsonrpc":"2.0","id":3}"#).expect_err("nothing");
        assert!(e.reply);
        let m = parse(r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":null}"#).expect("ok");
        assert!(matches!(m, Message::Request { params: None, .. }));
    }

    #[test]
    fn batch_detection() {
        assert!(is_batch(b"  [1,2]"));
        assert!(!is_batch(b"{}"));
        assert_eq!(split_batch(b"[{},{}]").expect("ok").len(), 2);
    }
}
