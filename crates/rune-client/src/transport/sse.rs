//! Server-sent events for the HTTP transports: `rune_proto::sse`'s parser, with a warning in
//! the log for each event dropped as too long.

pub(crate) use rune_proto::sse::Event;

/// The shared parser, logging the events it drops.
#[derive(Debug)]
pub(crate) struct Parser {
    inner: rune_proto::sse::Parser,
    max: usize,
}

impl Parser {
    /// A parser that drops events whose data is longer than `max` bytes.
    pub(crate) fn new(max: usize) -> Self {
        Parser {
            inner: rune_proto::sse::Parser::new(max),
            max,
        }
    }

    /// Starts reading a new response of the same stream (after a reconnection).
    pub(crate) fn new_response(&mut self) {
        self.inner.new_response();
    }

    /// The last event id the stream set, if any.
    pub(crate) fn last_event_id(&self) -> Option<&str> {
        self.inner.last_event_id()
    }

    /// The stream's last `retry:` value, in milliseconds.
    pub(crate) fn retry_ms(&self) -> Option<u64> {
        self.inner.retry_ms()
    }

    /// Feeds bytes; complete events are handed to `on_event`.
    pub(crate) fn feed(&mut self, chunk: &[u8], on_event: &mut impl FnMut(Event)) {
        let before = self.inner.dropped();
        self.inner.feed(chunk, on_event);
        if self.inner.dropped() > before {
            tracing::warn!(
                "the server sent an event longer than {} bytes; skipped",
                self.max
            );
        }
    }
}
