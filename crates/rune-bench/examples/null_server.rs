//! The floor: a stdio "MCP server" with no MCP library and no allocation per
//! call beyond its buffers.
//!
//! It reads stdin in large chunks and answers every complete line it has with
//! a canned reply carrying the request's id: a minimal `InitializeResult` for
//! `initialize`, a one-tool list for `tools/list`, an empty result for `ping`,
//! and for `tools/call` the argument `message` echoed back as
//! `{"content":[{"type":"text","text":...}]}`. Requests are parsed with
//! `serde_json` borrowing from the read buffer; the id and the message are
//! copied into the reply as their raw JSON text, so nothing is unescaped or
//! re-escaped. All replies for one read go out with one write.
//! Notifications get no reply.

use std::borrow::Cow;
use std::io::{self, Read, Write};

use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(default, borrow)]
    id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    params: Option<Params<'a>>,
}

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(default, borrow)]
    arguments: Option<Arguments<'a>>,
}

#[derive(Deserialize)]
struct Arguments<'a> {
    #[serde(default, borrow)]
    message: Option<&'a RawValue>,
}

const INITIALIZE_RESULT: &str = r#"{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"null-server","version":"0.1.0"}}"#;
const DISCOVER_RESULT: &str = r#"{"resultType":"complete","supportedVersions":["2025-06-18","2026-07-28"],"capabilities":{"tools":{}},"_meta":{"io.modelcontextprotocol/serverInfo":{"name":"null-server","version":"0.1.0"}}}"#;
const TOOLS_LIST_RESULT: &str = r#"{"tools":[{"name":"echo","description":"Return the message unchanged","inputSchema":{"type":"object","properties":{"message":{"type":"string"}},"required":["message"]}}]}"#;

fn reply(out: &mut Vec<u8>, id: &[u8], result: &[&[u8]]) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id);
    out.extend_from_slice(b",\"result\":");
    for part in result {
        out.extend_from_slice(part);
    }
    out.extend_from_slice(b"}\n");
}

fn error(out: &mut Vec<u8>, id: &[u8], code: i32, message: &str) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id);
    out.extend_from_slice(
        format!(",\"error\":{{\"code\":{code},\"message\":\"{message}\"}}}}\n").as_bytes(),
    );
}

/// Appends the reply to one request line (nothing for a notification).
fn respond(line: &[u8], out: &mut Vec<u8>) {
    let request: Request<'_> = match serde_json::from_slice(line) {
        Ok(r) => r,
        Err(_) => return error(out, b"null", -32700, "parse error"),
    };
    let Some(id) = request.id else { return };
    let id = id.get().as_bytes();
    match request.method.as_deref() {
        Some("tools/call") => {
            let message = request
                .params
                .and_then(|p| p.arguments)
                .and_then(|a| a.message)
                .map(RawValue::get)
                .filter(|m| m.starts_with('"'));
            match message {
                Some(m) => reply(
                    out,
                    id,
                    &[
                        b"{\"content\":[{\"type\":\"text\",\"text\":",
                        m.as_bytes(),
                        b"}]}",
                    ],
                ),
                None => error(out, id, -32602, "message must be a string"),
            }
        }
        Some("initialize") => reply(out, id, &[INITIALIZE_RESULT.as_bytes()]),
        Some("server/discover") => reply(out, id, &[DISCOVER_RESULT.as_bytes()]),
        Some("tools/list") => reply(out, id, &[TOOLS_LIST_RESULT.as_bytes()]),
        Some("ping") => reply(out, id, &[b"{}"]),
        _ => error(out, id, -32601, "method not found"),
    }
}

fn main() -> io::Result<()> {
    let mut stdin = io::stdin().lock();
    // A LineWriter, but a buffer ending in a newline goes straight through
    // with one write.
    let mut stdout = io::stdout().lock();
    let mut buf = vec![0u8; 256 * 1024];
    let mut out = Vec::with_capacity(256 * 1024);
    let (mut start, mut end, mut scanned) = (0usize, 0usize, 0usize);
    loop {
        if start == end {
            (start, end, scanned) = (0, 0, 0);
        } else if end == buf.len() {
            if start > 0 {
                buf.copy_within(start..end, 0);
                (end, scanned, start) = (end - start, scanned - start, 0);
            } else {
                buf.resize(buf.len() * 2, 0);
            }
        }
        let n = match stdin.read(&mut buf[end..]) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        end += n;
        while let Some(i) = memchr::memchr(b'\n', &buf[scanned..end]) {
            let line_end = scanned + i;
            let line = &buf[start..line_end];
            if !line.iter().all(u8::is_ascii_whitespace) {
                respond(line, &mut out);
            }
            start = line_end + 1;
            scanned = start;
        }
        scanned = end;
        if !out.is_empty() {
            stdout.write_all(&out)?;
            stdout.flush()?;
            out.clear();
        }
    }
}
