//! An incremental parser of `text/event-stream`, the WHATWG server-sent events format, shared
//! by the MCP client's HTTP transports and the AI providers' streams.
//!
//! Bytes come in whatever pieces the network delivers and a boundary may fall anywhere. Lines
//! end with `\r\n`, `\n` or `\r`; a leading byte-order mark is skipped; `:` starts a comment
//! (keep-alives); the `data` lines of one event are joined with `\n` and one space after the
//! colon is dropped; a blank line dispatches the event, and an event without data is no event.
//! An unfinished event at the end of the body is never dispatched.
//!
//! It keeps what resumption needs: the last event id (set by an `id:` field even on an event
//! without data, as the priming event of SEP-1699 is) and the server's `retry:` value. Events
//! with more than a given number of bytes of data are dropped and counted, never buffered.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `event:`; empty means `message`.
    pub kind: String,
    /// The `data:` lines joined with `\n`.
    pub data: Vec<u8>,
    /// The last `id:` the stream set before this event was dispatched (as sent, possibly
    /// empty), if any.
    pub id: Option<String>,
}

/// The parser's state between chunks.
#[derive(Debug, Default)]
pub struct Parser {
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
    /// Events dropped for being longer than `max`.
    dropped: u64,
    /// The start of the stream (a possible byte-order mark) is behind us.
    started: bool,
    /// The first bytes, held until they tell whether they are a byte-order mark.
    head: Vec<u8>,
}

impl Parser {
    /// A parser that drops events whose data is longer than `max` bytes.
    pub fn new(max: usize) -> Self {
        Parser {
            max,
            ..Parser::default()
        }
    }

    /// Starts reading a new response of the same stream (after a reconnection): a partial
    /// line or event of the broken response is dropped; the last event id and `retry` stay.
    pub fn new_response(&mut self) {
        self.line.clear();
        self.after_cr = false;
        self.data.clear();
        self.has_data = false;
        self.kind.clear();
        self.oversized = false;
        self.started = false;
        self.head.clear();
    }

    /// The last event id the stream set, if any.
    /// (An empty `id:` resets it, and reads as none.)
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref().filter(|s| !s.is_empty())
    }

    /// The stream's last `retry:` value, in milliseconds.
    pub fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    /// How many events were dropped so far for being longer than the limit.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Feeds bytes; complete events are handed to `on_event`. A chunk boundary may fall
    /// anywhere (inside a UTF-8 sequence, between `\r` and `\n`, in a field name).
    pub fn feed(&mut self, mut chunk: &[u8], on_event: &mut impl FnMut(Event)) {
        if !self.started {
            // A byte-order mark at the very start is skipped: wait for three bytes (or one
            // that cannot start it) to decide.
            const BOM: &[u8] = b"\xEF\xBB\xBF";
            let take = (3 - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.head.len() < 3 && BOM.starts_with(&self.head) {
                return;
            }
            self.started = true;
            let head = std::mem::take(&mut self.head);
            self.lines(head.strip_prefix(BOM).unwrap_or(&head), on_event);
        }
        self.lines(chunk, on_event);
    }

    fn lines(&mut self, mut chunk: &[u8], on_event: &mut impl FnMut(Event)) {
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
            self.dropped += 1;
            return;
        }
        if data.last() == Some(&b'\n') {
            data.pop();
        }
        on_event(Event {
            kind,
            data,
            id: self.last_event_id.clone(),
        });
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
            id: None,
        }
    }

    #[test]
    fn priming_event_sets_id_and_retry() {
        let (events, p) = parse_chunks(&[b"id: event-1\nretry: 500\ndata: \n\n"]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, b"");
        assert_eq!(events[0].id.as_deref(), Some("event-1"));
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
            let mut want = [ev("message", "{\"a\":\n1}"), ev("", "x")];
            for w in &mut want {
                w.id = Some("7".into());
            }
            assert_eq!(events, want, "split {split}");
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
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data, b"whole");
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
        assert_eq!(p.dropped(), 1);
    }

    #[test]
    fn a_byte_order_mark_is_skipped_however_it_is_cut() {
        let text = "\u{feff}data: a\n\n".as_bytes();
        for split in 0..text.len() {
            let (a, b) = text.split_at(split);
            let (events, _) = parse_chunks(&[a, b]);
            assert_eq!(events, [ev("", "a")], "split {split}");
        }
        // Not a mark: kept as the start of the first line.
        let (events, _) = parse_chunks(&[b"\xEF", b"data: b\n\n"]);
        assert!(events.is_empty(), "{events:?}");
        let (events, _) = parse_chunks(&[b"da", b"ta: c\n\n"]);
        assert_eq!(events, [ev("", "c")]);
    }
}
