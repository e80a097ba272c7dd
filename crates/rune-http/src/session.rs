//! A session: one engine connection ([`rune_server::channel`]) and the routing of its output
//! to HTTP streams.
//!
//! Every POST that carries requests opens a *stream* (a number, unique in the session); its
//! requests' ids point to it. Each frame the engine sends goes to one stream:
//!
//! - a frame marked with the request it belongs to (a handler's progress, log message or
//!   server→client request) → that request's stream;
//! - a response → the stream of the request it answers (batches: their first id);
//! - anything else (list_changed, resource updates, …) → stream 0, the standalone GET stream.
//!
//! Before it is sent, an event is appended to the [`EventStore`] (resumable sessions only),
//! which numbers it. The stream's live HTTP response, if one is attached, receives it as an
//! [`Item`]. When the last outstanding request of a stream is answered, that response is the
//! stream's [`Item::Final`] and the stream is done. A stream whose live response went away
//! keeps collecting events; a GET with `Last-Event-ID` re-attaches and replays what was missed.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rune_proto::{Id, Message, ProtocolVersion};
use rune_server::channel::{ChannelReceiver, ChannelSender, Frame};
use tokio::sync::mpsc;

use crate::events::EventStore;

/// Done streams remembered per session (for late resumption); older ones are forgotten.
const MAX_DONE_STREAMS: usize = 256;

/// What a stream's live HTTP response receives.
#[derive(Debug)]
pub(crate) enum Item {
    /// An event (its sequence number is 0 when the session is not resumable).
    Event { seq: u64, data: Arc<[u8]> },
    /// The stream's last event: the response that answered its last request.
    Final { seq: u64, data: Arc<[u8]> },
    /// The handler closed the stream (SSE polling); the client will resume.
    Close,
    /// The connection ended before the stream was done.
    End,
}

struct Stream {
    outstanding: usize,
    live: Option<mpsc::UnboundedSender<Item>>,
    done: bool,
}

struct Routes {
    next_stream: u64,
    by_request: HashMap<Id, u64>,
    streams: HashMap<u64, Stream>,
    done: VecDeque<u64>,
    ended: bool,
}

/// Why a stream could not be attached.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AttachError {
    #[error("a request id in this message is already in use in this session")]
    DuplicateId,
    #[error("the session has ended")]
    Ended,
    #[error("no stream of this session has that event id")]
    UnknownStream,
    #[error("a standalone SSE stream is already open for this session")]
    StandaloneTaken,
}

/// One engine connection and its streams.
pub(crate) struct Session {
    /// The `Mcp-Session-Id` (empty for a one-request connection).
    pub(crate) id: Arc<str>,
    /// Events are stored and carry ids (sessions); not for one-request connections.
    pub(crate) resumable: bool,
    /// A one-request connection: its input closes when its stream is done.
    ephemeral: bool,
    input: Mutex<Option<ChannelSender>>,
    routes: Mutex<Routes>,
    store: Arc<dyn EventStore>,
    /// What `initialize` negotiated, read off its response.
    version: Mutex<Option<ProtocolVersion>>,
    init_request: Mutex<Option<Id>>,
    last_active: Mutex<Instant>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("id", &self.id).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// The ids of the responses in a frame (one, or several in a batch); empty for requests and
/// notifications.
fn response_ids(json: &[u8]) -> Vec<Id> {
    if rune_proto::jsonrpc::is_batch(json) {
        let Ok(items) = rune_proto::jsonrpc::split_batch(json) else {
            return Vec::new();
        };
        return items
            .iter()
            .filter_map(|i| response_id(i.get().as_bytes()))
            .collect();
    }
    response_id(json).into_iter().collect()
}

fn response_id(json: &[u8]) -> Option<Id> {
    match Message::parse(json) {
        Ok(Message::Response { id, .. }) => Some(id),
        Ok(Message::ErrorResponse { id, .. }) => id,
        _ => None,
    }
}

impl Session {
    /// A session on an engine connection; spawns the task that routes its output.
    pub(crate) fn start(
        id: Arc<str>,
        resumable: bool,
        ephemeral: bool,
        input: ChannelSender,
        output: ChannelReceiver,
        store: Arc<dyn EventStore>,
    ) -> Arc<Session> {
        let mut streams = HashMap::new();
        streams.insert(
            0,
            Stream {
                outstanding: 0,
                live: None,
                done: false,
            },
        );
        let s = Arc::new(Session {
            id,
            resumable,
            ephemeral,
            input: Mutex::new(Some(input)),
            routes: Mutex::new(Routes {
                next_stream: 1,
                by_request: HashMap::new(),
                streams,
                done: VecDeque::new(),
                ended: false,
            }),
            store,
            version: Mutex::new(None),
            init_request: Mutex::new(None),
            last_active: Mutex::new(Instant::now()),
        });
        tokio::spawn(route(s.clone(), output));
        s
    }

    /// What `initialize` negotiated, once it has answered.
    pub(crate) fn version(&self) -> Option<ProtocolVersion> {
        *lock(&self.version)
    }

    /// True once the engine connection has ended.
    pub(crate) fn is_ended(&self) -> bool {
        lock(&self.routes).ended
    }

    pub(crate) fn touch(&self) {
        *lock(&self.last_active) = Instant::now();
    }

    pub(crate) fn idle_for(&self) -> std::time::Duration {
        lock(&self.last_active).elapsed()
    }

    /// True while some HTTP response is attached or a request is unanswered.
    pub(crate) fn busy(&self) -> bool {
        let r = lock(&self.routes);
        !r.by_request.is_empty()
            || r.streams
                .values()
                .any(|s| s.live.as_ref().is_some_and(|l| !l.is_closed()))
    }

    pub(crate) fn set_init_request(&self, id: &Id) {
        *lock(&self.init_request) = Some(id.clone());
    }

    /// Delivers a POST body to the engine.
    pub(crate) async fn send(&self, body: &[u8]) -> bool {
        let input = lock(&self.input).clone();
        match input {
            Some(i) => i.send(body).await.is_ok(),
            None => false,
        }
    }

    /// Ends the input: the engine answers what is in flight, then the session ends.
    pub(crate) fn close(&self) {
        lock(&self.input).take();
    }

    /// Opens a stream for a POST's requests; its live response receives the items.
    pub(crate) fn open_stream(
        &self,
        request_ids: &[Id],
    ) -> Result<(u64, mpsc::UnboundedReceiver<Item>), AttachError> {
        let mut r = lock(&self.routes);
        if r.ended {
            return Err(AttachError::Ended);
        }
        if request_ids.iter().any(|id| r.by_request.contains_key(id)) {
            return Err(AttachError::DuplicateId);
        }
        let stream = r.next_stream;
        r.next_stream += 1;
        for id in request_ids {
            r.by_request.insert(id.clone(), stream);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        r.streams.insert(
            stream,
            Stream {
                outstanding: request_ids.len(),
                live: Some(tx),
                done: false,
            },
        );
        Ok((stream, rx))
    }

    /// Attaches a GET to the standalone stream.
    pub(crate) fn attach_standalone(&self) -> Result<mpsc::UnboundedReceiver<Item>, AttachError> {
        let mut r = lock(&self.routes);
        if r.ended {
            return Err(AttachError::Ended);
        }
        let Some(st) = r.streams.get_mut(&0) else {
            return Err(AttachError::Ended);
        };
        if st.live.as_ref().is_some_and(|l| !l.is_closed()) {
            return Err(AttachError::StandaloneTaken);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        st.live = Some(tx);
        Ok(rx)
    }

    /// Re-attaches a GET to `stream` after event `after`: the events missed, whether the
    /// stream is already done, and the live items to follow.
    pub(crate) async fn resume(&self, stream: u64, after: u64) -> Result<Resumed, AttachError> {
        let (rx, done) = {
            let mut r = lock(&self.routes);
            let ended = r.ended;
            let Some(st) = r.streams.get_mut(&stream) else {
                return Err(AttachError::UnknownStream);
            };
            if st.done || ended {
                (None, true)
            } else {
                let (tx, rx) = mpsc::unbounded_channel();
                // A previous response of this stream, if still there, is replaced.
                st.live = Some(tx);
                (Some(rx), false)
            }
        };
        let missed = self.store.replay(&self.id, stream, after).await;
        Ok(Resumed { missed, done, rx })
    }

    async fn deliver(&self, frame: Frame) {
        match frame {
            Frame::CloseStream { related } => {
                let mut r = lock(&self.routes);
                if let Some(s) = r.by_request.get(&related).copied()
                    && let Some(st) = r.streams.get_mut(&s)
                    && let Some(live) = st.live.take()
                {
                    let _ = live.send(Item::Close);
                }
            }
            Frame::Message { related, json } => {
                let answered = if related.is_some() {
                    Vec::new()
                } else {
                    response_ids(&json)
                };
                let key = related.as_ref().or(answered.first());
                let stream = {
                    let r = lock(&self.routes);
                    key.and_then(|k| r.by_request.get(k).copied()).unwrap_or(0)
                };
                let init = lock(&self.init_request).clone();
                if let Some(init) = init
                    && answered.contains(&init)
                {
                    self.note_version(&json);
                }
                let data: Arc<[u8]> = Arc::from(json);
                let seq = if self.resumable {
                    self.store.append(&self.id, stream, data.clone()).await
                } else {
                    0
                };
                let forget = {
                    let mut r = lock(&self.routes);
                    self.push(&mut r, stream, &answered, seq, data)
                };
                if let Some(old) = forget {
                    self.store.forget_stream(&self.id, old).await;
                }
            }
        }
    }

    /// Sends one event to its stream; returns a done stream to forget, if any.
    fn push(
        &self,
        r: &mut Routes,
        stream: u64,
        answered: &[Id],
        seq: u64,
        data: Arc<[u8]>,
    ) -> Option<u64> {
        let st = r.streams.get_mut(&stream)?;
        st.outstanding = st.outstanding.saturating_sub(answered.len());
        let last = stream != 0 && !answered.is_empty() && st.outstanding == 0;
        let item = if last {
            Item::Final { seq, data }
        } else {
            Item::Event { seq, data }
        };
        if let Some(live) = &st.live
            && live.send(item).is_err()
        {
            st.live = None;
        }
        if !last {
            return None;
        }
        st.done = true;
        st.live = None;
        r.by_request.retain(|_, s| *s != stream);
        if self.ephemeral {
            lock(&self.input).take();
        }
        r.done.push_back(stream);
        if r.done.len() > MAX_DONE_STREAMS {
            let old = r.done.pop_front()?;
            r.streams.remove(&old);
            return Some(old);
        }
        None
    }

    fn note_version(&self, json: &[u8]) {
        #[derive(serde::Deserialize)]
        struct R {
            result: Option<V>,
        }
        #[derive(serde::Deserialize)]
        struct V {
            #[serde(rename = "protocolVersion")]
            protocol_version: String,
        }
        if let Ok(R { result: Some(v) }) = serde_json::from_slice::<R>(json) {
            *lock(&self.version) = ProtocolVersion::parse(&v.protocol_version);
        }
    }

    fn ended(&self) {
        let mut r = lock(&self.routes);
        r.ended = true;
        for st in r.streams.values_mut() {
            if let Some(live) = st.live.take() {
                let _ = live.send(Item::End);
            }
        }
    }
}

/// What a resuming GET gets.
#[derive(Debug)]
pub(crate) struct Resumed {
    pub(crate) missed: Vec<crate::events::StoredEvent>,
    pub(crate) done: bool,
    pub(crate) rx: Option<mpsc::UnboundedReceiver<Item>>,
}

async fn route(session: Arc<Session>, mut output: ChannelReceiver) {
    while let Some(frames) = output.recv().await {
        for f in frames {
            session.deliver(f).await;
        }
    }
    session.ended();
    if session.resumable {
        session.store.forget_session(&session.id).await;
    }
}
