//! An incremental parser of `text/event-stream` (the WHATWG server-sent events format).
//!
//! It keeps what resumption needs: the last event id (set by an `id:` field even on an event
//! without data, as the priming event of SEP-1699 is) and the server's `retry:` value.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    /// `event:`; empty means `message`.
    pub kind: String,
    /// The `data:` lines joined with `\n`.
    pub data: Vec<u8>,
}

/// The parser's state between chunks.
#[derive(Debug, Default)]
pub(crate) struct Parser {
    line: Vec<u8>,
    /// The previous chunk ended with `\r`: a `\n` at the start of the next one belongs to it.
    after_cr: bool,
    data: Vec<u8>,
    has_data: bool,
    kind: String,
    last_event_id: Option<String>,
    retry_ms: Option<u64>,
    max: usize,
    oversized: bool,
}

impl Parser {
    /// A parser that drops events whose data is longer than `max` bytes.
    pub(crate) fn new(max: usize) -> Self {
        Parser {
            max,
            ..Parser::default()
        }
    }

    /// Starts reading a new response of the same stream (after a reconnection): a partial
    /// line or event of the broken response is dropped; the last event id and `retry` stay.
    pub(crate) fn new_response(&mut self) {
        self.line.clear();
        self.after_cr = false;
        self.data.clear();
        self.has_data = false;
        self.kind.clear();
        self.oversized = false;
    }

    /// The last event id the stream set, if any.
    pub(crate) fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref().filter(|s| !s.is_empty())
    }

    /// The stream's last `retry:` value, in milliseconds.
    pub(crate) fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    /// Feeds bytes; complete events are handed to `on_event`.
    pub(crate) fn feed(&mut self, mut chunk: &[u8], on_event: &mut impl FnMut(Event)) {
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        while let Some(i) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
            let (head, tail) = chunk.split_at(i);
            if self.line.is_empty() {
                self.field(head, on_event);
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(head);
                self.field(&line, on_event);
                line.clear();
                self.line = line;
            }
            let cr = tail[0] == b'\r';
            chunk = &tail[1..];
            if cr {
                match chunk.first() {
                    Some(b'\n') => chunk = &chunk[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        if self.line.len() + chunk.len() > self.max.saturating_add(64) {
            // A line this long can only be oversized data: drop it.
            self.oversized = true;
            self.line.clear();
        } else {
            self.line.extend_from_slice(chunk);
        }
    }

    fn field(&mut self, line: &[u8], on_event: &mut impl FnMut(Event)) {
        if line.is_empty() {
            self.dispatch(on_event);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match name {
            b"data" => {
                if self.data.len() + value.len() + 1 > self.max {
                    self.oversized = true;
                } else {
                    self.data.extend_from_slice(value);
                    self.data.push(b'\n');
                }
                self.has_data = true;
            }
            b"event" => self.kind = String::from_utf8_lossy(value).into_owned(),
            b"id" if !value.contains(&0) => {
                self.last_event_id = Some(String::from_utf8_lossy(value).into_owned());
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                self.retry_ms = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok());
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, on_event: &mut impl FnMut(Event)) {
        let kind = std::mem::take(&mut self.kind);
        let oversized = std::mem::replace(&mut self.oversized, false);
        if !self.has_data {
            return;
        }
        self.has_data = false;
        let mut data = std::mem::take(&mut self.data);
        if oversized {
            tracing::warn!(
                "the server sent an event longer than {} bytes; skipped",
                self.max
            );
            return;
        }
        if data.last() == Some(&b'\n') {
            data.pop();
        }
        on_event(Event { kind, data });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&[u8]]) -> (Vec<Event>, Parser) {
        let mut p = Parser::new(1 << 20);
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut |e| out.push(e));
        }
        (out, p)
    }

    fn ev(kind: &str, data: &str) -> Event {
        Event {
            kind: kind.into(),
            data: data.as_bytes().to_vec(),
        }
    }

    #[test]
    fn priming_event_sets_id_and_retry() {
        let (events, p) = parse_chunks(&[b"id: event-1\nretry: 500\ndata: \n\n"]);
        assert_eq!(events, [ev("", "")]);
        assert_eq!(p.last_event_id(), Some("event-1"));
        assert_eq!(p.retry_ms(), Some(500));
    }

    #[test]
    fn messages_split_anywhere_and_any_line_ending() {
        let text =
            b"event: message\r\nid: 7\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n: comment\rdata:x\r\r";
        for split in 0..text.len() {
            let (a, b) = text.split_at(split);
            let (events, p) = parse_chunks(&[a, b]);
            assert_eq!(
                events,
                [ev("message", "{\"a\":\n1}"), ev("", "x")],
                "split {split}"
            );
            assert_eq!(p.last_event_id(), Some("7"));
        }
    }

    #[test]
    fn id_without_data_is_kept_and_bad_retry_ignored() {
        let (events, p) = parse_chunks(&[b"id: 3\nretry: soon\n\nid\n"]);
        assert!(events.is_empty());
        assert_eq!(p.last_event_id(), None, "an empty id resets it");
        assert_eq!(p.retry_ms(), None);
    }

    #[test]
    fn a_new_response_drops_the_partial_event_and_keeps_the_id() {
        let mut p = Parser::new(1 << 20);
        let mut out = Vec::new();
        p.feed(b"id: 5\nretry: 20\n\ndata: {\"half", &mut |e| out.push(e));
        p.new_response();
        p.feed(b"data: whole\n\n", &mut |e| out.push(e));
        assert_eq!(out, [ev("", "whole")]);
        assert_eq!(p.last_event_id(), Some("5"));
        assert_eq!(p.retry_ms(), Some(20));
    }

    #[test]
    fn oversized_events_are_dropped() {
        let mut p = Parser::new(8);
        let mut out = Vec::new();
        p.feed(b"data: 0123456789abcdef\n\ndata: ok\n\n", &mut |e| {
            out.push(e)
        });
        assert_eq!(out, [ev("", "ok")]);
    }
}
