//! Incremental decoders for the two streaming formats: Server-Sent Events (OpenAI, Azure,
//! Anthropic) and newline-delimited JSON (Ollama).
//!
//! Both take the body in whatever pieces the network delivers ([`SseDecoder::feed`],
//! [`LineDecoder::feed`]) and hold back an incomplete line until the rest arrives, so a chunk
//! boundary may fall anywhere: inside a UTF-8 sequence, between `\r` and `\n`, in the middle
//! of `data:`. A line is turned into text with `String::from_utf8_lossy` only once complete.
//!
//! The SSE decoder is `rune_proto::sse` (shared with the MCP client) and follows the WHATWG
//! event-stream rules: lines end with `\r\n`, `\n` or `\r`;
//! a leading byte-order mark is skipped; `:` starts a comment (keep-alives); `data` lines of
//! one event are joined with `\n`; one space after the colon is dropped; a blank line
//! dispatches the event, and an event without data is no event. An unfinished event at the
//! end of the body is dropped, as the standard says.

use memchr::memchr2;

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field (empty when absent; the standard's default is `message`).
    pub event: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    /// The last `id:` field seen, if any.
    pub id: Option<String>,
}

/// The SSE decoder (see the module documentation): `rune_proto::sse`'s parser, the one the
/// MCP client's HTTP transports use, with no size limit (a provider's events are small, and the
/// whole response is capped elsewhere) and text decoded lossily.
#[derive(Debug)]
pub struct SseDecoder {
    parser: rune_proto::sse::Parser,
}

impl Default for SseDecoder {
    fn default() -> Self {
        SseDecoder {
            parser: rune_proto::sse::Parser::new(usize::MAX),
        }
    }
}

impl SseDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next piece of the body; complete events are appended to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) {
        self.parser.feed(bytes, &mut |e| {
            out.push(SseEvent {
                event: e.kind,
                data: match String::from_utf8(e.data) {
                    Ok(s) => s,
                    Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
                },
                id: e.id,
            })
        });
    }
}

/// Splits a byte stream into lines ending with `\n`, `\r\n` or `\r` (a leading byte-order
/// mark skipped), for the NDJSON decoder.
#[derive(Debug, Default)]
struct LineSplitter {
    partial: Vec<u8>,
    /// The last byte fed was a `\r`: a `\n` right after it ends nothing.
    after_cr: bool,
    /// The byte-order mark check is done.
    started: bool,
}

impl LineSplitter {
    fn feed(&mut self, mut bytes: &[u8], mut line: impl FnMut(&[u8])) {
        if !self.started {
            // Wait for three bytes (or a byte that cannot start a BOM) to decide.
            const BOM: &[u8] = b"\xEF\xBB\xBF";
            let have = self.partial.len();
            let take = (3 - have).min(bytes.len());
            self.partial.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            let p = &self.partial[..];
            if p.len() < 3 && BOM.starts_with(p) {
                return;
            }
            self.started = true;
            let held = std::mem::take(&mut self.partial);
            let held = held.strip_prefix(BOM).unwrap_or(&held);
            self.split(held, &mut line);
        }
        self.split(bytes, &mut line);
    }

    fn split(&mut self, mut bytes: &[u8], line: &mut impl FnMut(&[u8])) {
        if self.after_cr && !bytes.is_empty() {
            self.after_cr = false;
            if bytes[0] == b'\n' {
                bytes = &bytes[1..];
            }
        }
        while let Some(i) = memchr2(b'\n', b'\r', bytes) {
            if self.partial.is_empty() {
                line(&bytes[..i]);
            } else {
                self.partial.extend_from_slice(&bytes[..i]);
                line(&self.partial);
                self.partial.clear();
            }
            let cr = bytes[i] == b'\r';
            bytes = &bytes[i + 1..];
            if cr {
                match bytes.first() {
                    Some(b'\n') => bytes = &bytes[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.partial.extend_from_slice(bytes);
    }

    /// What is left after the last line end.
    fn rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.partial)
    }
}

/// Splits newline-delimited JSON into non-blank lines.
#[derive(Debug, Default)]
pub struct LineDecoder {
    lines: LineSplitter,
}

impl LineDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next piece; each complete non-blank line (without its line end) is appended
    /// to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<String>) {
        self.lines.feed(bytes, |l| {
            if !l.iter().all(u8::is_ascii_whitespace) {
                out.push(String::from_utf8_lossy(l).into_owned());
            }
        });
    }

    /// The end of the body: a last line without a line end still counts.
    pub fn finish(&mut self, out: &mut Vec<String>) {
        let rest = self.lines.rest();
        if !rest.iter().all(u8::is_ascii_whitespace) {
            out.push(String::from_utf8_lossy(&rest).into_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            d.feed(c, &mut out);
        }
        out
    }

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
            id: None,
        }
    }

    /// Every way of cutting the input in two (and byte by byte) gives the same events.
    fn every_split(input: &[u8]) -> Vec<SseEvent> {
        let whole = sse_all(&[input]);
        for k in 0..=input.len() {
            assert_eq!(sse_all(&[&input[..k], &input[k..]]), whole, "split at {k}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(sse_all(&bytes), whole, "byte by byte");
        whole
    }

    #[test]
    fn sse_fields_comments_and_line_ends() {
        let input = "\u{feff}: keep-alive\r\nevent: a\r\ndata: one\r\ndata:two\r\n\r\n\
                     data: x\rdata:  y\r\r: ping\n\nevent: empty\n\ndata\n\nid: 7\ndata: é→\n\n\
                     data: unfinished";
        let events = every_split(input.as_bytes());
        assert_eq!(
            events,
            vec![
                ev("a", "one\ntwo"),
                ev("", "x\n y"),
                ev("", ""),
                SseEvent {
                    event: String::new(),
                    data: "é→".into(),
                    id: Some("7".into())
                },
            ]
        );
    }

    #[test]
    fn sse_invalid_utf8_becomes_replacement_characters() {
        let events = every_split(b"data: ok\xff\xfe\xe2\x82\n\n");
        assert_eq!(events, vec![ev("", "ok\u{fffd}\u{fffd}\u{fffd}")]);
    }

    #[test]
    fn ndjson_lines_at_every_split() {
        let input = b"{\"a\":1}\n\r\n  \n{\"b\":\"\xc3\xa9\"}\r\n{\"c\":3}";
        let run = |chunks: &[&[u8]]| {
            let mut d = LineDecoder::new();
            let mut out = Vec::new();
            for c in chunks {
                d.feed(c, &mut out);
            }
            d.finish(&mut out);
            out
        };
        let want = vec!["{\"a\":1}", "{\"b\":\"é\"}", "{\"c\":3}"];
        for k in 0..=input.len() {
            assert_eq!(run(&[&input[..k], &input[k..]]), want, "split at {k}");
        }
    }
}
