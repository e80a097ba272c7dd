//! The JSON-RPC side of the benchmark client.
//!
//! Requests are written by hand into a reusable byte buffer (the messages the
//! client sends are fixed and need no escaping), and responses are parsed with
//! `serde_json` borrowing from the read buffer, so the client spends as little
//! as possible per call.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// The protocol version the client asks for in `initialize` by default.
pub const DEFAULT_PROTOCOL_VERSION: &str = "2025-06-18";

/// The first protocol version without the `initialize` handshake: every
/// request carries its protocol version and client capabilities in `_meta`.
pub const INLINE_PROTOCOL_VERSION: &str = "2026-07-28";

/// The `notifications/initialized` notification, newline-terminated.
pub const INITIALIZED_NOTIFICATION: &[u8] =
    b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n";

/// Filler for payload messages: characters that need no JSON escaping.
const FILLER: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// The decimal digits of `id`, written into `buf`.
fn id_digits(mut id: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (id % 10) as u8;
        id /= 10;
        if id == 0 {
            return &buf[i..];
        }
    }
}

/// Returns true for protocol versions that have no `initialize` handshake.
pub fn is_inline_protocol(version: &str) -> bool {
    // Protocol versions are dates, so they compare as strings.
    version >= INLINE_PROTOCOL_VERSION
}

/// The `_meta` object that an inline-lifecycle request carries.
pub fn inline_meta(version: &str) -> String {
    format!(
        "{{\"io.modelcontextprotocol/protocolVersion\":\"{version}\",\
         \"io.modelcontextprotocol/clientCapabilities\":{{}},\
         \"io.modelcontextprotocol/clientInfo\":{{\"name\":\"rune-bench\",\"version\":\"{}\"}}}}",
        env!("CARGO_PKG_VERSION")
    )
}

/// The `initialize` request with the given id, newline-terminated.
pub fn initialize_request(id: u64, protocol_version: &str) -> Vec<u8> {
    format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"initialize\",\"params\":{{\
         \"protocolVersion\":\"{protocol_version}\",\"capabilities\":{{}},\
         \"clientInfo\":{{\"name\":\"rune-bench\",\"version\":\"{}\"}}}}}}\n",
        env!("CARGO_PKG_VERSION")
    )
    .into_bytes()
}

/// The `server/discover` request that opens an inline-lifecycle session.
pub fn discover_request(id: u64, meta: &str) -> Vec<u8> {
    format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"server/discover\",\
         \"params\":{{\"_meta\":{meta}}}}}\n"
    )
    .into_bytes()
}

/// The message that each `echo` call sends, derived from the call's id so
/// that a reply given to the wrong request is caught.
#[derive(Debug, Clone)]
pub struct Messages {
    /// `None` for short messages, else filler of the payload size.
    filler: Option<Vec<u8>>,
}

impl Messages {
    /// Short messages: `hello <id>`.
    pub fn short() -> Self {
        Self { filler: None }
    }

    /// Messages of `bytes` bytes: `<id>:` followed by filler (longer only if
    /// `bytes` is too small to hold the id).
    pub fn payload(bytes: usize) -> Self {
        let filler = FILLER.iter().copied().cycle().take(bytes).collect();
        Self {
            filler: Some(filler),
        }
    }

    /// Appends the message text for `id` (no quotes, no escaping needed).
    pub fn write(&self, id: u64, out: &mut Vec<u8>) {
        let mut digits = [0; 20];
        let digits = id_digits(id, &mut digits);
        match &self.filler {
            None => {
                out.extend_from_slice(b"hello ");
                out.extend_from_slice(digits);
            }
            Some(filler) => {
                out.extend_from_slice(digits);
                out.push(b':');
                let rest = filler.len().saturating_sub(digits.len() + 1);
                out.extend_from_slice(&filler[..rest]);
            }
        }
    }

    /// Whether `text` is the message for `id` (compared without allocating).
    pub fn matches(&self, id: u64, text: &str) -> bool {
        let text = text.as_bytes();
        let mut digits = [0u8; 20];
        let digits = id_digits(id, &mut digits);
        match &self.filler {
            None => text.strip_prefix(b"hello ".as_slice()) == Some(digits),
            Some(filler) => {
                let rest = filler.len().saturating_sub(digits.len() + 1);
                text.strip_prefix(digits)
                    .and_then(|t| t.strip_prefix(b":".as_slice()))
                    == Some(&filler[..rest])
            }
        }
    }

    /// The size of a message in bytes (for ids up to the given one).
    pub fn len_for(&self, id: u64) -> usize {
        let mut buf = Vec::new();
        self.write(id, &mut buf);
        buf.len()
    }
}

/// Appends a `tools/call` request of tool `echo`, newline-terminated.
pub fn push_echo_call(out: &mut Vec<u8>, id: u64, messages: &Messages, meta: Option<&str>) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id_digits(id, &mut [0; 20]));
    out.extend_from_slice(
        b",\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"message\":\"",
    );
    messages.write(id, out);
    out.extend_from_slice(b"\"}");
    if let Some(meta) = meta {
        out.extend_from_slice(b",\"_meta\":");
        out.extend_from_slice(meta.as_bytes());
    }
    out.extend_from_slice(b"}}\n");
}

/// A fixed `tools/call` that every request of a case sends instead of `echo`: the tool's
/// name and arguments, and what a good reply's first text block must contain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// The tool's name, as given.
    name: String,
    /// `"name"` as a JSON string.
    name_json: String,
    /// The arguments: a JSON object, compact.
    arguments: String,
    /// A reply passes only if its first text block contains this.
    expect: Option<String>,
}

impl ToolCall {
    /// A call of tool `name` with `arguments` (JSON text: an object).
    pub fn new(name: &str, arguments: &str, expect: Option<String>) -> Result<Self, String> {
        if name.is_empty() {
            return Err("the tool name is empty".into());
        }
        let value: serde_json::Value = serde_json::from_str(arguments)
            .map_err(|e| format!("the tool arguments are not JSON ({e}): {arguments}"))?;
        if !value.is_object() {
            return Err(format!(
                "the tool arguments must be a JSON object: {arguments}"
            ));
        }
        Ok(Self {
            name: name.to_string(),
            name_json: serde_json::Value::from(name).to_string(),
            arguments: value.to_string(),
            expect,
        })
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Appends this call as a `tools/call` request with `id`, newline-terminated.
    pub fn push(&self, out: &mut Vec<u8>, id: u64, meta: Option<&str>) {
        out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
        out.extend_from_slice(id_digits(id, &mut [0; 20]));
        out.extend_from_slice(b",\"method\":\"tools/call\",\"params\":{\"name\":");
        out.extend_from_slice(self.name_json.as_bytes());
        out.extend_from_slice(b",\"arguments\":");
        out.extend_from_slice(self.arguments.as_bytes());
        if let Some(meta) = meta {
            out.extend_from_slice(b",\"_meta\":");
            out.extend_from_slice(meta.as_bytes());
        }
        out.extend_from_slice(b"}}\n");
    }

    /// Checks a reply: a result, not a tool error, whose first block is text (containing the
    /// expected text, if any).
    pub fn check(&self, id: u64, body: Result<CallResult<'_>, String>) -> Result<(), String> {
        let result = body.map_err(|e| format!("call {id}: {e}"))?;
        let first = result.content.first();
        if result.is_error == Some(true) {
            let text = first.and_then(|c| c.text.as_deref()).unwrap_or("");
            return Err(format!("call {id}: tool error: {}", clip(text)));
        }
        let Some(first) = first else {
            return Err(format!("call {id}: result has no content"));
        };
        if first.kind != "text" {
            return Err(format!(
                "call {id}: content[0] has type {:?}, expected \"text\"",
                first.kind
            ));
        }
        let text = first.text.as_deref().unwrap_or("");
        match &self.expect {
            Some(want) if !text.contains(want.as_str()) => Err(format!(
                "call {id}: content[0].text does not contain {want:?}: {:?}",
                clip(text)
            )),
            _ => Ok(()),
        }
    }
}

/// One message read from the server.
#[derive(Debug)]
pub enum Incoming<'a> {
    /// A response (it has an id and no method).
    Response {
        /// The integer id.
        id: u64,
        /// The result, or a description of what was wrong with the response.
        body: Result<CallResult<'a>, String>,
    },
    /// A notification or a server-to-client request: not ours to match.
    Other,
}

/// The parts of a `tools/call` result that the benchmark checks.
#[derive(Debug, Default, Deserialize)]
pub struct CallResult<'a> {
    /// The content blocks.
    #[serde(default, borrow)]
    pub content: Vec<Content<'a>>,
    /// Set on a tool error.
    #[serde(default, rename = "isError")]
    pub is_error: Option<bool>,
}

/// One content block of a result.
#[derive(Debug, Deserialize)]
pub struct Content<'a> {
    /// The block type (`text` is expected).
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    /// The text of a text block.
    #[serde(default, borrow)]
    pub text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default, borrow)]
    id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    result: Option<CallResult<'a>>,
    #[serde(default, borrow)]
    error: Option<&'a RawValue>,
}

/// Parses one line from the server as a `tools/call` response.
///
/// A line that is not valid JSON-RPC, or a response whose id is not an
/// unsigned integer, is an error; an error response or a response without a
/// result comes back as `Incoming::Response` with `body` set to `Err`.
pub fn parse_line(line: &[u8]) -> Result<Incoming<'_>, String> {
    let env: Envelope<'_> = serde_json::from_slice(line)
        .map_err(|e| format!("invalid JSON-RPC from server ({e}): {}", snippet(line)))?;
    if env.method.is_some() {
        return Ok(Incoming::Other);
    }
    let raw_id = env
        .id
        .ok_or_else(|| format!("response without id: {}", snippet(line)))?;
    let id: u64 = raw_id
        .get()
        .parse()
        .map_err(|_| format!("response id {} is not an integer we sent", raw_id.get()))?;
    let body = match (env.result, env.error) {
        (_, Some(error)) => Err(format!("error response: {}", error.get())),
        (Some(result), None) => Ok(result),
        (None, None) => Err(format!("response without result: {}", snippet(line))),
    };
    Ok(Incoming::Response { id, body })
}

/// Checks that a `tools/call` result echoes the message of call `id`.
pub fn check_echo(
    id: u64,
    body: Result<CallResult<'_>, String>,
    messages: &Messages,
) -> Result<(), String> {
    let result = body.map_err(|e| format!("call {id}: {e}"))?;
    let first = result.content.first();
    if result.is_error == Some(true) {
        let text = first.and_then(|c| c.text.as_deref()).unwrap_or("");
        return Err(format!("call {id}: tool error: {}", clip(text)));
    }
    let Some(first) = first else {
        return Err(format!("call {id}: result has no content"));
    };
    if first.kind != "text" {
        return Err(format!(
            "call {id}: content[0] has type {:?}, expected \"text\"",
            first.kind
        ));
    }
    let text = first.text.as_deref().unwrap_or("");
    if !messages.matches(id, text) {
        return Err(format!(
            "call {id}: content[0].text {:?} is not the message sent",
            clip(text)
        ));
    }
    Ok(())
}

fn clip(text: &str) -> &str {
    match text.char_indices().nth(120) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// The start of a line, lossily decoded, for error messages.
pub fn snippet(line: &[u8]) -> String {
    let end = line.len().min(200);
    let mut s = String::from_utf8_lossy(&line[..end]).into_owned();
    if end < line.len() {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(line: &str) -> (u64, Result<CallResult<'_>, String>) {
        match parse_line(line.as_bytes()) {
            Ok(Incoming::Response { id, body }) => (id, body),
            other => panic!("not a response: {other:?}"),
        }
    }

    #[test]
    fn request_is_valid_json_with_the_message() {
        for messages in [Messages::short(), Messages::payload(100)] {
            let mut out = Vec::new();
            push_echo_call(&mut out, 42, &messages, Some(&inline_meta("2026-07-28")));
            assert_eq!(out.last(), Some(&b'\n'));
            let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
            assert_eq!(v["id"], 42);
            assert_eq!(v["method"], "tools/call");
            let msg = v["params"]["arguments"]["message"]
                .as_str()
                .expect("message");
            assert!(messages.matches(42, msg));
            assert!(!messages.matches(43, msg));
        }
        assert_eq!(Messages::payload(65536).len_for(7), 65536);
    }

    #[test]
    fn matching_response_passes() {
        let m = Messages::short();
        let (id, b) = body(
            r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hello 7"}],"isError":false}}"#,
        );
        assert_eq!(id, 7);
        assert_eq!(check_echo(id, b, &m), Ok(()));
        // Escaped text is decoded before comparing.
        let (id, b) =
            body(r#"{"id":8,"result":{"content":[{"text":"hello \u0038","type":"text"}]}}"#);
        assert_eq!(check_echo(id, b, &m), Ok(()));
    }

    #[test]
    fn tool_calls_are_sent_and_checked() {
        assert!(ToolCall::new("t", "[1]", None).is_err());
        assert!(ToolCall::new("t", "{", None).is_err());
        assert!(ToolCall::new("", "{}", None).is_err());
        let call = ToolCall::new(
            "file_read",
            r#"{ "path": "a \"b\".txt" }"#,
            Some("hello".into()),
        )
        .expect("valid");
        let mut out = Vec::new();
        call.push(&mut out, 9, Some(&inline_meta("2026-07-28")));
        assert_eq!(out.last(), Some(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(v["id"], 9);
        assert_eq!(v["params"]["name"], "file_read");
        assert_eq!(v["params"]["arguments"]["path"], "a \"b\".txt");
        assert!(v["params"]["_meta"].is_object());
        let good =
            r#"{"jsonrpc":"2.0","id":9,"result":{"content":[{"type":"text","text":"say hello"}]}}"#;
        let (id, b) = body(good);
        assert_eq!(call.check(id, b), Ok(()));
        for bad in [
            r#"{"jsonrpc":"2.0","id":9,"result":{"content":[{"type":"text","text":"bye"}]}}"#,
            r#"{"jsonrpc":"2.0","id":9,"result":{"content":[{"type":"text","text":"hello"}],"isError":true}}"#,
            r#"{"jsonrpc":"2.0","id":9,"result":{"content":[]}}"#,
            r#"{"jsonrpc":"2.0","id":9,"error":{"code":-32602,"message":"no"}}"#,
        ] {
            let (id, b) = body(bad);
            assert!(call.check(id, b).is_err(), "accepted {bad}");
        }
        let any = ToolCall::new("x", "{}", None).expect("valid");
        let (id, b) = body(r#"{"id":1,"result":{"content":[{"type":"text","text":""}]}}"#);
        assert_eq!(any.check(id, b), Ok(()));
    }

    #[test]
    fn wrong_responses_fail() {
        let m = Messages::short();
        let cases = [
            r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hello 8"}]}}"#,
            r#"{"jsonrpc":"2.0","id":7,"result":{"content":[]}}"#,
            r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"image","data":"x","mimeType":"image/png"}]}}"#,
            r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hello 7"}],"isError":true}}"#,
            r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32601,"message":"no"}}"#,
            r#"{"jsonrpc":"2.0","id":7}"#,
        ];
        for line in cases {
            let (id, b) = body(line);
            assert!(check_echo(id, b, &m).is_err(), "accepted {line}");
        }
        assert!(parse_line(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#).is_err());
        assert!(parse_line(b"not json").is_err());
        assert!(matches!(
            parse_line(br#"{"jsonrpc":"2.0","method":"notifications/message","params":{}}"#),
            Ok(Incoming::Other)
        ));
    }
}
