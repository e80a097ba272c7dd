//! From response bytes to [`StreamEvent`]s.
//!
//! Three layers: the network delivers chunks; a framing decoder ([`crate::decode`]) turns
//! them into SSE events or NDJSON lines; a provider's [`EventParser`] turns each of those into
//! typed events. [`StreamDecoder`] ties the last two together without any I/O, so tests and
//! the benchmark can drive it with bytes cut anywhere; [`from_response`] puts it behind a
//! `Stream` over a reqwest body.
//!
//! The guarantees a caller gets, whatever the provider:
//!
//! - text is sanitized ([`crate::sanitize`]) before it is yielded;
//! - a tool call is announced by [`StreamEvent::ToolCallDelta`]s carrying the arguments
//!   assembled so far, then once as a complete [`StreamEvent::ToolCall`];
//! - [`StreamEvent::Stop`] is the last event of a complete answer;
//! - an error event from the provider, or a body that ends before the answer does, is an
//!   `Err` item, after which the stream ends.

use std::collections::{BTreeMap, VecDeque};
use std::pin::Pin;

use futures_util::{Stream, StreamExt};
use serde_json::Value;

use crate::decode::{LineDecoder, SseDecoder};
use crate::error::{Error, ErrorKind, Result};
use crate::types::{ChatResponse, StopReason, StreamEvent, ToolCall, Usage};

/// A streamed answer.
pub type ChatStream = Pin<Box<dyn Stream<Item = Result<StreamEvent>> + Send>>;

/// Whether the answer is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// More to come.
    Continue,
    /// The provider said the answer is complete.
    Done,
}

/// A provider's reading of its stream, one framed unit at a time.
pub trait EventParser: Send + 'static {
    /// One unit: an SSE event (`event` name, possibly empty, and `data`) or an NDJSON line
    /// (`event` empty, `data` the line).
    fn event(&mut self, event: &str, data: &str, out: &mut Vec<StreamEvent>) -> Result<Flow>;
    /// The body ended without [`Flow::Done`]: flush what can be, or say it was cut short.
    fn end(&mut self, out: &mut Vec<StreamEvent>) -> Result<()> {
        let _ = out;
        Err(Error::new(
            ErrorKind::Network,
            "the stream ended before the answer was complete",
        ))
    }
}

/// How a body is framed.
#[derive(Debug)]
pub enum Framing {
    /// Server-sent events.
    Sse(SseDecoder),
    /// Newline-delimited JSON.
    Lines(LineDecoder),
}

/// Framing plus a provider parser, fed bytes (see the module documentation).
pub struct StreamDecoder {
    framing: Framing,
    parser: Box<dyn EventParser>,
    done: bool,
    sse: Vec<crate::decode::SseEvent>,
    lines: Vec<String>,
    events: Vec<StreamEvent>,
}

impl std::fmt::Debug for StreamDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamDecoder")
            .field("framing", &self.framing)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl StreamDecoder {
    /// A decoder over this framing and parser.
    pub fn new(framing: Framing, parser: Box<dyn EventParser>) -> Self {
        StreamDecoder {
            framing,
            parser,
            done: false,
            sse: Vec::new(),
            lines: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Whether the answer is complete or failed (later bytes are ignored).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Feeds a chunk; events (and at most one error, the last item) go to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Result<StreamEvent>>) {
        if self.done {
            return;
        }
        match &mut self.framing {
            Framing::Sse(d) => {
                d.feed(bytes, &mut self.sse);
                let units = std::mem::take(&mut self.sse);
                for u in &units {
                    self.unit(&u.event, &u.data, out);
                    if self.done {
                        break;
                    }
                }
                self.sse = units;
                self.sse.clear();
            }
            Framing::Lines(d) => {
                d.feed(bytes, &mut self.lines);
                self.drain_lines(out);
            }
        }
    }

    fn drain_lines(&mut self, out: &mut Vec<Result<StreamEvent>>) {
        let units = std::mem::take(&mut self.lines);
        for l in &units {
            self.unit("", l, out);
            if self.done {
                break;
            }
        }
        self.lines = units;
        self.lines.clear();
    }

    fn unit(&mut self, event: &str, data: &str, out: &mut Vec<Result<StreamEvent>>) {
        let flow = self.parser.event(event, data, &mut self.events);
        out.extend(self.events.drain(..).map(Ok));
        match flow {
            Ok(Flow::Continue) => {}
            Ok(Flow::Done) => self.done = true,
            Err(e) => {
                out.push(Err(e));
                self.done = true;
            }
        }
    }

    /// The body ended.
    pub fn finish(&mut self, out: &mut Vec<Result<StreamEvent>>) {
        if let Framing::Lines(d) = &mut self.framing
            && !self.done
        {
            d.finish(&mut self.lines);
            self.drain_lines(out);
        }
        if self.done {
            return;
        }
        self.done = true;
        let r = self.parser.end(&mut self.events);
        out.extend(self.events.drain(..).map(Ok));
        if let Err(e) = r {
            out.push(Err(e));
        }
    }
}

/// A stream of events over a successful response's body. Errors have `secret` (the key)
/// removed from their messages, as errors before the stream do.
pub fn from_response(
    resp: reqwest::Response,
    decoder: StreamDecoder,
    secret: Option<&str>,
) -> ChatStream {
    let secret: Option<String> = secret.map(str::to_owned);
    struct State {
        body: Pin<Box<dyn Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
        decoder: StreamDecoder,
        queue: VecDeque<Result<StreamEvent>>,
        scratch: Vec<Result<StreamEvent>>,
        finished: bool,
        secret: Option<String>,
    }
    let state = State {
        body: Box::pin(resp.bytes_stream()),
        decoder,
        queue: VecDeque::new(),
        scratch: Vec::new(),
        finished: false,
        secret,
    };
    Box::pin(futures_util::stream::unfold(state, |mut s| async move {
        loop {
            if let Some(item) = s.queue.pop_front() {
                return Some((item, s));
            }
            if s.finished {
                return None;
            }
            if s.decoder.is_done() {
                s.finished = true;
                continue;
            }
            match s.body.next().await {
                Some(Ok(chunk)) => s.decoder.feed(&chunk, &mut s.scratch),
                Some(Err(e)) => {
                    s.scratch.push(Err(Error::from_reqwest(&e)));
                    s.finished = true;
                }
                None => {
                    s.decoder.finish(&mut s.scratch);
                    s.finished = true;
                }
            }
            let secret = s.secret.as_deref();
            s.queue
                .extend(s.scratch.drain(..).map(|item| match (item, secret) {
                    (Err(e), Some(k)) => Err(e.redact(k)),
                    (item, _) => item,
                }));
        }
    }))
}

/// Reads a whole stream into one answer (text and thinking joined, the tool calls, the last
/// usage and the stop reason). `model` is reported as given.
pub async fn collect(mut stream: ChatStream, model: &str) -> Result<ChatResponse> {
    let mut r = ChatResponse {
        model: model.to_owned(),
        text: String::new(),
        thinking: String::new(),
        tool_calls: Vec::new(),
        usage: None,
        stop_reason: None,
    };
    while let Some(ev) = stream.next().await {
        match ev? {
            StreamEvent::TextDelta(t) => r.text.push_str(&t),
            StreamEvent::ThinkingDelta(t) => r.thinking.push_str(&t),
            StreamEvent::ToolCallDelta { .. } => {}
            StreamEvent::ToolCall(c) => r.tool_calls.push(c),
            StreamEvent::Usage(u) => r.usage = Some(u),
            StreamEvent::Stop(s) => r.stop_reason = Some(s),
        }
    }
    Ok(r)
}

/// Assembles tool calls from argument fragments, keyed by the provider's index.
#[derive(Debug, Default)]
pub struct ToolAssembler {
    calls: BTreeMap<usize, Pending>,
    next_id: usize,
}

#[derive(Debug, Default)]
struct Pending {
    id: String,
    name: String,
    arguments: String,
}

impl ToolAssembler {
    /// A fragment of call `index`: its id and name (when this fragment carries them) and more
    /// argument text. Emits a [`StreamEvent::ToolCallDelta`].
    pub fn delta(
        &mut self,
        index: usize,
        id: Option<&str>,
        name: Option<&str>,
        fragment: &str,
        out: &mut Vec<StreamEvent>,
    ) {
        let p = self.calls.entry(index).or_default();
        if let Some(id) = id.filter(|s| !s.is_empty()) {
            p.id = id.to_owned();
        }
        // The name comes whole with the first fragment; later repeats are ignored.
        if let Some(name) = name.filter(|s| !s.is_empty())
            && p.name.is_empty()
        {
            p.name = name.to_owned();
        }
        p.arguments.push_str(fragment);
        out.push(StreamEvent::ToolCallDelta {
            index,
            id: p.id.clone(),
            name: p.name.clone(),
            delta: fragment.to_owned(),
            arguments: p.arguments.clone(),
        });
    }

    /// Whether any call is pending.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Completes call `index` (Anthropic's `content_block_stop`).
    pub fn finish_one(&mut self, index: usize, out: &mut Vec<StreamEvent>) {
        if let Some(p) = self.calls.remove(&index) {
            let call = self.complete(p);
            out.push(StreamEvent::ToolCall(call));
        }
    }

    /// Completes every pending call, in index order.
    pub fn finish_all(&mut self, out: &mut Vec<StreamEvent>) {
        let calls = std::mem::take(&mut self.calls);
        for (_, p) in calls {
            let call = self.complete(p);
            out.push(StreamEvent::ToolCall(call));
        }
    }

    fn complete(&mut self, p: Pending) -> ToolCall {
        let id = if p.id.is_empty() {
            self.next_id += 1;
            format!("call_{}", self.next_id)
        } else {
            p.id
        };
        ToolCall {
            id,
            name: p.name,
            arguments: parse_arguments(&p.arguments),
        }
    }
}

/// A call's argument text as JSON: blank is `{}`; text that is not JSON stays a JSON string,
/// for the caller to report back to the model.
pub fn parse_arguments(text: &str) -> Value {
    if text.trim().is_empty() {
        return Value::Object(Default::default());
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Parses one unit's JSON, naming the provider in the error.
pub(crate) fn json(data: &str, who: &str) -> Result<Value> {
    serde_json::from_str(data)
        .map_err(|e| Error::protocol(format!("{who} sent an unreadable stream event: {e}")))
}

/// Adds usage and stop to the output (the common ending).
pub(crate) fn end_with(out: &mut Vec<StreamEvent>, usage: Option<Usage>, stop: StopReason) {
    if let Some(u) = usage {
        out.push(StreamEvent::Usage(u));
    }
    out.push(StreamEvent::Stop(stop));
}
