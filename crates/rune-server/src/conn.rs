//! One connection: reading frames, deciding the era, dispatching, and writing replies.
//!
//! The loop owns every request future of its connection in a `FuturesUnordered` and polls
//! them itself (no task per request, no cross-thread wake-ups). Each turn it reads what the
//! peer sent, starts a future per request, drives every future that is ready, and then writes
//! everything queued in the outbox (responses, progress, logs, server→client requests) with
//! one write. A tool marked `spawn` runs on its own runtime task instead.
//!
//! The era is decided per request from evidence, and on a stream transport (stdio, TCP) the
//! first request locks it for the connection: `initialize` → handshake era; a request whose
//! `_meta` names `io.modelcontextprotocol/protocolVersion` → 2026-07-28; anything else →
//! handshake era, waiting for `initialize`.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use futures_util::FutureExt;
use futures_util::future::{AbortHandle, Abortable};
use futures_util::stream::{FuturesUnordered, StreamExt};
use rune_proto::jsonrpc::{self, code};
use rune_proto::model::{
    CacheScope, CallToolResult, ClientCapabilities, CompleteParams, DiscoverResult, EmptyResult,
    GetPromptResult, Implementation, InitializeParams, InitializeResult, InputRequiredResult,
    JsonObject, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult,
    ListToolsResult, ListenFilter, ListenParams, LoggingLevel, ReadResourceResult,
    ResourceUpdatedParams, SetLevelParams, meta_keys,
};
use rune_proto::version::{HANDSHAKE_VERSIONS, STATELESS_VERSIONS};
use rune_proto::{Era, ErrorObject, Id, Message, ProtocolVersion, RawValue};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, oneshot};
use tokio_util::sync::CancellationToken;

use crate::context::CtxInner;
use crate::error::{HandlerError, panic_message};
use crate::server::{ListKind, Registry, ServerInner, Serves};
use crate::tool::BoxFuture;
use crate::{RequestContext, Server, mrtr};

/// Resource subscriptions one handshake connection may hold.
const MAX_SUBSCRIPTIONS: usize = 10_000;

type Pending = oneshot::Sender<Result<Box<RawValue>, ErrorObject>>;

/// What the handshake (or its absence) established.
struct Session {
    era: Option<Era>,
    version: Option<ProtocolVersion>,
    initialized: bool,
    caps: Arc<ClientCapabilities>,
    client_info: Option<Arc<Implementation>>,
    log_level: Option<LoggingLevel>,
    subscriptions: HashSet<String>,
    /// What `initialize` announced.
    advertised: Option<Serves>,
}

/// The part of a connection that handlers and the server share.
pub(crate) struct ConnShared {
    pub(crate) server: Arc<ServerInner>,
    out: Mutex<Outbox>,
    /// A channel connection (HTTP, WebSocket): each frame is marked with the request it
    /// belongs to, so the transport can route it.
    routed: bool,
    wake: Notify,
    closed: AtomicBool,
    lock_era: bool,
    session: Mutex<Session>,
    next_id: AtomicI64,
    pending: Mutex<HashMap<Id, Pending>>,
    listeners: Mutex<HashMap<Id, ListenFilter>>,
    shutdown: CancellationToken,
    /// Unique in the process: lets handlers keep per-connection state.
    pub(crate) id: u64,
    /// Bumped by each `notifications/roots/list_changed`.
    pub(crate) roots_generation: std::sync::atomic::AtomicU64,
    /// Progress and log notifications dropped because the peer was not reading.
    dropped: std::sync::atomic::AtomicU64,
    /// The size of the write the loop is making (it no longer sits in `out`).
    writing: std::sync::atomic::AtomicUsize,
}

static NEXT_CONN_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// What the loop writes next: the bytes, and on a routed connection where each frame ends.
#[derive(Default)]
pub(crate) struct Outbox {
    pub(crate) buf: Vec<u8>,
    pub(crate) marks: Vec<Mark>,
}

/// The end of one frame in [`Outbox::buf`] (routed connections only).
#[derive(Debug, Clone)]
pub(crate) struct Mark {
    pub(crate) end: usize,
    /// The request this frame belongs to (a handler's notification or request), if any.
    pub(crate) related: Option<Id>,
    /// Not a message: the request's handler asked to close its stream (SSE polling).
    pub(crate) close_stream: bool,
}

/// How a connection starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnMode {
    /// The first request decides the era for the whole connection (stream transports).
    pub(crate) lock_era: bool,
    /// Frames are marked for routing.
    pub(crate) routed: bool,
    /// Starts as if `initialize` had negotiated this revision (stateless HTTP serving
    /// handshake clients: each POST is a new connection).
    pub(crate) assume: Option<ProtocolVersion>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl ConnShared {
    fn new(server: Arc<ServerInner>, mode: ConnMode) -> Self {
        let advertised = mode
            .assume
            .map(|_| Server::registry_of(&server).serves(server.advertise));
        ConnShared {
            out: Mutex::new(Outbox {
                buf: Vec::with_capacity(16 * 1024),
                marks: Vec::new(),
            }),
            server,
            routed: mode.routed,
            wake: Notify::new(),
            closed: AtomicBool::new(false),
            lock_era: mode.lock_era,
            session: Mutex::new(Session {
                era: mode.assume.map(|_| Era::Handshake),
                version: mode.assume,
                initialized: mode.assume.is_some(),
                caps: Arc::new(ClientCapabilities::default()),
                client_info: None,
                log_level: None,
                subscriptions: HashSet::new(),
                advertised,
            }),
            next_id: AtomicI64::new(1),
            pending: Mutex::new(HashMap::new()),
            listeners: Mutex::new(HashMap::new()),
            shutdown: CancellationToken::new(),
            id: NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed),
            roots_generation: std::sync::atomic::AtomicU64::new(0),
            dropped: std::sync::atomic::AtomicU64::new(0),
            writing: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Appends one frame (a message and its newline) to the outbox.
    pub(crate) fn push(&self, write: impl FnOnce(&mut Vec<u8>)) {
        self.push_related(None, write);
    }

    /// Appends one frame that belongs to request `related` (on a routed connection it goes
    /// where that request's response goes).
    pub(crate) fn push_related(&self, related: Option<&Id>, write: impl FnOnce(&mut Vec<u8>)) {
        let was_empty = {
            let mut out = lock(&self.out);
            let was_empty = out.buf.is_empty() && out.marks.is_empty();
            let start = out.buf.len();
            write(&mut out.buf);
            if out.buf.len() == start {
                return;
            }
            out.buf.push(b'\n');
            if self.routed {
                let end = out.buf.len();
                out.marks.push(Mark {
                    end,
                    related: related.cloned(),
                    close_stream: false,
                });
            }
            was_empty
        };
        if was_empty {
            self.wake.notify_one();
        }
    }

    /// Asks the transport to close the stream that carries request `related`'s messages
    /// (Streamable HTTP: the client reconnects and resumes). Nothing on other transports.
    pub(crate) fn close_stream(&self, related: &Id) {
        if !self.routed {
            return;
        }
        let was_empty = {
            let mut out = lock(&self.out);
            let was_empty = out.buf.is_empty() && out.marks.is_empty();
            let end = out.buf.len();
            out.marks.push(Mark {
                end,
                related: Some(related.clone()),
                close_stream: true,
            });
            was_empty
        };
        if was_empty {
            self.wake.notify_one();
        }
    }

    pub(crate) fn notify<P: Serialize + ?Sized>(&self, method: &str, params: &P) {
        self.notify_related(None, method, params);
    }

    pub(crate) fn notify_related<P: Serialize + ?Sized>(
        &self,
        related: Option<&Id>,
        method: &str,
        params: &P,
    ) {
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        self.push_related(related, |out| {
            jsonrpc::write_notification(out, method, params)
        });
    }

    /// Sends a notification the peer can do without (progress, log messages). When more
    /// than [`Options::notification_backlog_bytes`](crate::Options) of output already wait
    /// behind a write the peer is not taking, it is dropped instead, so a peer that stops
    /// reading cannot make a chatty handler grow the outbox without bound. Returns whether it
    /// was queued.
    pub(crate) fn notify_droppable<P: Serialize + ?Sized>(
        &self,
        related: Option<&Id>,
        method: &str,
        params: &P,
    ) -> bool {
        let waiting = lock(&self.out).buf.len() + self.writing.load(Ordering::Relaxed);
        if waiting >= self.server.options.notification_backlog_bytes {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(
                    "the client is not reading: {waiting} bytes wait to be sent; \
                     {n} progress and log notifications dropped so far on this connection"
                );
            }
            return false;
        }
        self.notify_related(related, method, params);
        true
    }

    pub(crate) fn log_level(&self) -> Option<LoggingLevel> {
        lock(&self.session).log_level
    }

    /// Sends a request to the client and waits for its answer (handshake era only).
    pub(crate) async fn request<P: Serialize + ?Sized>(
        &self,
        related: Option<&Id>,
        method: &str,
        params: &P,
    ) -> Result<Box<RawValue>, ErrorObject> {
        if self.closed.load(Ordering::Relaxed) || self.shutdown.is_cancelled() {
            return Err(ErrorObject::internal("the connection is closed"));
        }
        let id = Id::Int(self.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id.clone(), tx);
        self.push_related(related, |out| {
            jsonrpc::write_request(out, &id, method, params)
        });
        // Removes the entry if the handler is dropped (cancelled) while waiting.
        // If the handler is dropped (its request cancelled) while the client still works on
        // our request, tell the client to stop (for example, to close an elicitation form).
        struct Forget<'a>(&'a ConnShared, Id, Option<Id>);
        impl Drop for Forget<'_> {
            fn drop(&mut self) {
                let still_pending = lock(&self.0.pending).remove(&self.1).is_some();
                if still_pending {
                    self.0.notify_related(
                        self.2.as_ref(),
                        "notifications/cancelled",
                        &serde_json::json!({
                            "requestId": self.1,
                            "reason": "the request that asked for this was cancelled"
                        }),
                    );
                }
            }
        }
        let _forget = Forget(self, id, related.cloned());
        match rx.await {
            Ok(r) => r,
            Err(_) => Err(ErrorObject::internal(
                "the connection closed before the client answered",
            )),
        }
    }

    pub(crate) fn resource_updated(&self, uri: &str) {
        let legacy = {
            let s = lock(&self.session);
            s.era == Some(Era::Handshake) && s.subscriptions.contains(uri)
        };
        if legacy {
            self.notify(
                "notifications/resources/updated",
                &ResourceUpdatedParams {
                    uri: uri.to_owned(),
                    meta: None,
                },
            );
        }
        let listeners: Vec<Id> = lock(&self.listeners)
            .iter()
            .filter(|(_, f)| f.resource_subscriptions.iter().flatten().any(|u| u == uri))
            .map(|(id, _)| id.clone())
            .collect();
        // Each on its listen request's stream (over HTTP, that request's SSE response).
        for id in listeners {
            self.notify_related(
                Some(&id),
                "notifications/resources/updated",
                &ResourceUpdatedParams {
                    uri: uri.to_owned(),
                    meta: Some(subscription_meta(&id)),
                },
            );
        }
    }

    pub(crate) fn list_changed(&self, kind: ListKind) {
        // Handshake clients hear only of lists whose capability `initialize` announced.
        let legacy = {
            let s = lock(&self.session);
            s.era == Some(Era::Handshake)
                && s.initialized
                && s.advertised.is_some_and(|a| match kind {
                    ListKind::Tools => a.tools,
                    ListKind::Resources => a.resources,
                    ListKind::Prompts => a.prompts,
                })
        };
        if legacy {
            self.notify(kind.method(), &serde_json::json!({}));
        }
        let listeners: Vec<Id> = lock(&self.listeners)
            .iter()
            .filter(|(_, f)| match kind {
                ListKind::Tools => f.tools_list_changed == Some(true),
                ListKind::Resources => f.resources_list_changed == Some(true),
                ListKind::Prompts => f.prompts_list_changed == Some(true),
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in listeners {
            self.notify_related(
                Some(&id),
                kind.method(),
                &serde_json::json!({ "_meta": subscription_meta(&id) }),
            );
        }
    }

    /// The input ended: no answer to our requests can come any more.
    fn input_closed(&self) {
        for (_, tx) in lock(&self.pending).drain() {
            let _ = tx.send(Err(ErrorObject::internal(
                "the client closed the connection",
            )));
        }
        self.shutdown.cancel();
    }
}

fn subscription_meta(id: &Id) -> JsonObject {
    let mut m = JsonObject::new();
    m.insert(
        meta_keys::SUBSCRIPTION_ID.into(),
        serde_json::to_value(id).unwrap_or(serde_json::Value::Null),
    );
    m
}

/// Where a request's response goes: straight to the outbox, or into its batch's array.
#[derive(Clone)]
enum Sink {
    Conn(Arc<ConnShared>),
    Batch(Arc<Batch>),
}

/// Collects a batch's responses; writes them as one array when its last request is done.
struct Batch {
    conn: Arc<ConnShared>,
    parts: Mutex<Vec<u8>>,
}

impl Drop for Batch {
    fn drop(&mut self) {
        let parts = std::mem::take(&mut *lock(&self.parts));
        if !parts.is_empty() {
            self.conn.push(|out| {
                out.push(b'[');
                out.extend_from_slice(&parts);
                out.push(b']');
            });
        }
    }
}

impl Sink {
    fn conn(&self) -> &Arc<ConnShared> {
        match self {
            Sink::Conn(c) => c,
            Sink::Batch(b) => &b.conn,
        }
    }
    fn respond(&self, write: impl FnOnce(&mut Vec<u8>)) {
        match self {
            Sink::Conn(c) => c.push(write),
            Sink::Batch(b) => {
                let mut parts = lock(&b.parts);
                if !parts.is_empty() {
                    parts.push(b',');
                }
                write(&mut parts);
            }
        }
    }
    fn error(&self, id: Option<&Id>, e: &ErrorObject) {
        self.respond(|out| jsonrpc::write_error(out, id, e));
    }
}

/// Results that carry `_meta`, so the engine can stamp the server's identity on 2026 ones.
pub(crate) trait WireResult: Serialize {
    fn meta_mut(&mut self) -> &mut Option<JsonObject>;
    /// Appends the result's JSON.
    fn encode(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        serde_json::to_writer(out, self)
    }
}

macro_rules! wire_result {
    ($($t:ty),*) => {$(
        impl WireResult for $t {
            fn meta_mut(&mut self) -> &mut Option<JsonObject> { &mut self.meta }
        }
    )*};
}

/// Tool results are mostly text: written with `rune_proto::json`'s word-at-a-time escaper.
impl WireResult for CallToolResult {
    fn meta_mut(&mut self) -> &mut Option<JsonObject> {
        &mut self.meta
    }
    fn encode(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        rune_proto::json::write_call_tool_result(out, self)
    }
}

wire_result!(
    InitializeResult,
    DiscoverResult,
    ListToolsResult,
    ListResourcesResult,
    ListResourceTemplatesResult,
    ReadResourceResult,
    ListPromptsResult,
    GetPromptResult,
    rune_proto::model::CompleteResult,
    EmptyResult,
    InputRequiredResult
);

/// How a result is dressed for its era.
#[derive(Clone, Copy)]
struct Dress {
    modern: bool,
    cacheable: bool,
    result_type: &'static str,
}

impl Dress {
    fn of(version: ProtocolVersion) -> Self {
        Dress {
            modern: version.era() == Era::Stateless,
            cacheable: false,
            result_type: "complete",
        }
    }
    fn cacheable(mut self) -> Self {
        self.cacheable = true;
        self
    }
}

fn write_result<T: WireResult>(
    server: &ServerInner,
    out: &mut Vec<u8>,
    id: &Id,
    mut result: T,
    d: Dress,
) {
    let start = out.len();
    let mut splice_meta = false;
    if d.modern {
        match result.meta_mut() {
            Some(meta) => {
                meta.insert(meta_keys::SERVER_INFO.into(), server.info_value.clone());
            }
            None => splice_meta = true,
        }
    }
    jsonrpc::begin_response(out, id);
    let body = out.len();
    if result.encode(out).is_err() {
        out.truncate(start);
        jsonrpc::write_error(
            out,
            Some(id),
            &ErrorObject::internal("result could not be serialized"),
        );
        return;
    }
    if d.modern && out.last() == Some(&b'}') {
        out.pop();
        if out.len() > body + 1 {
            out.push(b',');
        }
        out.extend_from_slice(b"\"resultType\":\"");
        out.extend_from_slice(d.result_type.as_bytes());
        out.push(b'"');
        if d.cacheable && d.result_type == "complete" {
            out.extend_from_slice(b",\"ttlMs\":");
            out.extend_from_slice(
                itoa::Buffer::new()
                    .format(server.options.list_ttl_ms)
                    .as_bytes(),
            );
            out.extend_from_slice(match server.options.cache_scope {
                CacheScope::Public => b",\"cacheScope\":\"public\"",
                CacheScope::Private => b",\"cacheScope\":\"private\"",
            });
        }
        if splice_meta {
            out.extend_from_slice(b",\"_meta\":");
            out.extend_from_slice(server.info_meta.get().as_bytes());
        }
        out.push(b'}');
    }
    jsonrpc::finish(out);
}

/// The params every request may carry.
#[derive(Deserialize, Default)]
struct Envelope<'a> {
    #[serde(rename = "_meta", borrow, default)]
    meta: Option<&'a RawValue>,
    // The fields of `tools/call`, read in the same pass (kept raw: other methods may use
    // these names with other types).
    #[serde(borrow, default)]
    name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    arguments: Option<&'a RawValue>,
    #[serde(rename = "inputResponses", borrow, default)]
    input_responses: Option<&'a RawValue>,
    #[serde(rename = "requestState", borrow, default)]
    request_state: Option<&'a RawValue>,
}

/// The `_meta` keys the engine reads.
#[derive(Deserialize, Default)]
struct MetaKeys<'a> {
    #[serde(rename = "io.modelcontextprotocol/protocolVersion", borrow, default)]
    version: Option<&'a RawValue>,
    #[serde(rename = "io.modelcontextprotocol/clientCapabilities", borrow, default)]
    caps: Option<&'a RawValue>,
    #[serde(rename = "io.modelcontextprotocol/logLevel", borrow, default)]
    log_level: Option<&'a RawValue>,
    #[serde(rename = "progressToken", default)]
    progress_token: Option<Id>,
}

fn params<'a, T: Deserialize<'a>>(raw: Option<&'a RawValue>) -> Result<T, ErrorObject> {
    let text = raw.map_or("{}", |r| r.get());
    serde_json::from_str(text)
        .map_err(|e| ErrorObject::invalid_params(format!("Invalid params: {e}")))
}

/// Everything the engine knows about one request before dispatch.
struct Req<'a> {
    id: Id,
    method: &'a str,
    params: Option<&'a RawValue>,
    env: Envelope<'a>,
    keys: MetaKeys<'a>,
    version: ProtocolVersion,
}

#[derive(Deserialize)]
struct ReadParams {
    uri: String,
    #[serde(rename = "inputResponses", default)]
    input_responses: Option<JsonObject>,
    #[serde(rename = "requestState", default)]
    request_state: Option<String>,
}

#[derive(Deserialize)]
struct PromptParams {
    name: String,
    #[serde(default)]
    arguments: Option<BTreeMap<String, String>>,
    #[serde(rename = "inputResponses", default)]
    input_responses: Option<JsonObject>,
    #[serde(rename = "requestState", default)]
    request_state: Option<String>,
}

#[derive(Deserialize, Default)]
struct CursorParams {
    #[serde(default)]
    cursor: Option<String>,
}

/// `tools/call` params, read from the [`Envelope`].
struct CallParams<'a> {
    name: Cow<'a, str>,
    arguments: Option<&'a RawValue>,
    input_responses: Option<JsonObject>,
    request_state: Option<Cow<'a, str>>,
}

/// A JSON string, borrowed when it has no escapes; `None` when it is not a string.
fn raw_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    match serde_json::from_str::<&str>(text) {
        Ok(s) => Some(Cow::Borrowed(s)),
        Err(_) => serde_json::from_str::<String>(text).ok().map(Cow::Owned),
    }
}

/// What a 2026 request's `requestState` is bound to; computed only when a state is opened
/// or sealed, so an ordinary call pays nothing for it.
enum Binding {
    None,
    Ready([u8; 32]),
    /// `tools/call`: the tool and its arguments' raw text, made canonical on demand.
    Tool {
        name: String,
        args: Option<Box<RawValue>>,
    },
}

impl Binding {
    fn digest(&self) -> [u8; 32] {
        match self {
            Binding::None => [0; 32],
            Binding::Ready(d) => *d,
            Binding::Tool { name, args } => {
                let value = args
                    .as_ref()
                    .and_then(|r| serde_json::from_str(r.get()).ok())
                    .filter(|v: &serde_json::Value| !v.is_null())
                    .unwrap_or_else(|| serde_json::Value::Object(JsonObject::new()));
                tool_binding(name, &value)
            }
        }
    }
}

/// The binding of a `tools/call`: its arguments as canonical text (object keys sorted), so a
/// retry that re-serializes the same arguments differently still matches.
fn tool_binding(name: &str, args: &serde_json::Value) -> [u8; 32] {
    mrtr::binding("tools/call", name, &args.to_string())
}

/// Evaluates a `Result`; on `Err`, answers the request with that error and returns `None`
/// from the dispatching function.
macro_rules! or_reply {
    ($sink:expr, $id:expr, $result:expr) => {
        match $result {
            Ok(v) => v,
            Err(e) => {
                $sink.error(Some($id), &e);
                return None;
            }
        }
    };
}

/// A request future and the token that cancels it.
type Started = (BoxFuture<()>, CancellationToken);

/// The loop's own state.
struct Engine {
    conn: Arc<ConnShared>,
    tasks: FuturesUnordered<BoxFuture<Done>>,
    inflight: HashMap<Id, Flight>,
    /// Numbers the requests, so a finished request never removes a newer one with its id.
    serial: u64,
    /// Requests in flight that count against `max_in_flight` (listen streams do not).
    counted: usize,
    max_in_flight: usize,
    /// Request lines read while at the in-flight limit, served in order as slots free up.
    /// Responses and notifications are never held back: a handler waiting for the client's
    /// answer, or a cancellation, must get through.
    backlog: VecDeque<Vec<u8>>,
    backlog_bytes: usize,
}

/// A request in flight.
struct Flight {
    abort: AbortHandle,
    token: CancellationToken,
    serial: u64,
    counted: bool,
}

/// What a finished request future returns.
struct Done {
    id: Id,
    serial: u64,
}

/// Where a connection's output goes.
pub(crate) trait Output {
    /// Sends everything queued in one turn: `buf` holds whole frames; on a routed
    /// connection `marks` says where each ends and what it belongs to.
    fn send(
        &mut self,
        buf: &[u8],
        marks: &[Mark],
    ) -> impl std::future::Future<Output = io::Result<()>>;
}

/// A byte stream: one write per turn.
struct StreamOutput<W>(W);

impl<W: AsyncWrite + Unpin> Output for StreamOutput<W> {
    async fn send(&mut self, buf: &[u8], _marks: &[Mark]) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        self.0.write_all(buf).await?;
        self.0.flush().await
    }
}

/// Output queued past this many bytes is written before more ready requests are driven.
/// Small replies (hundreds of bytes) still share one write per turn; replies of several KiB
/// go out a few at a time, so the peer starts on them while the engine works on the rest.
const FLUSH_BYTES: usize = 32 * 1024;

/// Serves one connection until the peer closes its input and every request is answered.
pub(crate) async fn run<R, O>(
    server: &Server,
    mut reader: R,
    mut output: O,
    mode: ConnMode,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    O: Output,
{
    let conn = Arc::new(ConnShared::new(server.inner.clone(), mode));
    server.track(&conn);
    let opts = server.inner.options.clone();
    let mut eng = Engine {
        conn: conn.clone(),
        tasks: FuturesUnordered::new(),
        inflight: HashMap::new(),
        serial: 0,
        counted: 0,
        max_in_flight: opts.max_in_flight.max(1),
        backlog: VecDeque::new(),
        backlog_bytes: 0,
    };
    // Past these, input is not read at all (back-pressure on the peer).
    let backlog_lines = (4 * eng.max_in_flight).max(64);
    let backlog_bytes = opts.max_message_bytes;
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut scanned = 0usize;
    let mut discarding = false;
    let mut eof = false;
    let mut outbox = Outbox {
        buf: Vec::with_capacity(16 * 1024),
        marks: Vec::new(),
    };
    let result = loop {
        // 1. Requests held back earlier go first, as far as the in-flight limit allows.
        eng.drain_backlog();
        // 2. Every complete line becomes a message (or joins the backlog).
        let mut start = 0;
        while let Some(pos) = memchr::memchr(b'\n', &buf[scanned..]) {
            let end = scanned + pos;
            if discarding {
                discarding = false;
            } else {
                eng.on_frame(&buf[start..end]);
            }
            start = end + 1;
            scanned = start;
        }
        if start > 0 {
            buf.drain(..start);
        }
        scanned = buf.len();
        if eof && !buf.is_empty() {
            if !discarding {
                let rest = std::mem::take(&mut buf);
                eng.on_frame(&rest);
            }
            buf.clear();
            scanned = 0;
        }
        // What is left is one partial line.
        if buf.len() > opts.max_message_bytes {
            if !discarding {
                conn.push(|out| {
                    jsonrpc::write_error(
                        out,
                        None,
                        &ErrorObject::parse_error(format!(
                            "Message larger than the limit of {} bytes; skipped",
                            opts.max_message_bytes
                        )),
                    )
                });
            }
            discarding = true;
            buf.clear();
            scanned = 0;
        }
        if buf.capacity() > 4 << 20 && buf.len() < 64 * 1024 {
            buf.shrink_to(64 * 1024);
        }
        // 3. Drive every request that can make progress now, until enough output is
        //    queued to be worth a write of its own: the peer can then read those replies
        //    while the rest are being worked on (large replies would otherwise all wait for
        //    the last one, and the two sides would take turns instead of working together).
        let mut more = false;
        while let Some(Some(done)) = eng.tasks.next().now_or_never() {
            eng.finished(done);
            if lock(&conn.out).buf.len() >= FLUSH_BYTES {
                more = true;
                break;
            }
        }
        // 4. One write for everything queued.
        std::mem::swap(&mut *lock(&conn.out), &mut outbox);
        if !outbox.buf.is_empty() || !outbox.marks.is_empty() {
            conn.writing.store(outbox.buf.len(), Ordering::Relaxed);
            let sent = output.send(&outbox.buf, &outbox.marks).await;
            conn.writing.store(0, Ordering::Relaxed);
            if let Err(e) = sent {
                break if e.kind() == io::ErrorKind::BrokenPipe {
                    Ok(())
                } else {
                    Err(e)
                };
            }
            outbox.buf.clear();
            outbox.marks.clear();
            crate::server::warm_up_once(&conn.server);
            if outbox.buf.capacity() > 1 << 20 {
                outbox.buf.shrink_to(64 * 1024);
            }
        }
        if more {
            continue; // requests that were ready are still waiting for their turn
        }
        if eof && eng.tasks.is_empty() && eng.backlog.is_empty() {
            break Ok(());
        }
        if !eng.backlog.is_empty() && !eng.busy() {
            continue; // held-back requests can start now
        }
        // 5. Wait for input, a finished request, or output from a handler.
        let can_read =
            !eof && eng.backlog.len() < backlog_lines && eng.backlog_bytes < backlog_bytes;
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(64 * 1024);
        }
        tokio::select! {
            biased;
            done = eng.tasks.next(), if !eng.tasks.is_empty() => {
                if let Some(done) = done { eng.finished(done) }
            }
            _ = conn.wake.notified() => {}
            r = reader.read_buf(&mut buf), if can_read => match r {
                Ok(0) => { eof = true; conn.input_closed(); }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => { conn.input_closed(); break Err(e); }
            },
        }
    };
    conn.closed.store(true, Ordering::Relaxed);
    conn.shutdown.cancel();
    for (_, f) in eng.inflight.drain() {
        f.token.cancel();
        f.abort.abort();
    }
    result
}

/// True when a line is a request (or a batch), read only while requests are being held back.
fn is_request(line: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Shape<'a> {
        #[serde(borrow, default)]
        method: Option<&'a RawValue>,
        #[serde(borrow, default)]
        id: Option<&'a RawValue>,
    }
    if jsonrpc::is_batch(line) {
        return true;
    }
    matches!(
        serde_json::from_slice::<Shape<'_>>(line),
        Ok(Shape {
            method: Some(_),
            id: Some(_)
        })
    )
}

impl Engine {
    fn busy(&self) -> bool {
        self.counted >= self.max_in_flight
    }

    fn finished(&mut self, done: Done) {
        if self
            .inflight
            .get(&done.id)
            .is_some_and(|f| f.serial == done.serial)
        {
            self.forget(&done.id);
        }
    }

    /// Removes a request from the in-flight table; returns it.
    fn forget(&mut self, id: &Id) -> Option<Flight> {
        let f = self.inflight.remove(id)?;
        if f.counted {
            self.counted -= 1;
        }
        Some(f)
    }

    fn drain_backlog(&mut self) {
        while !self.busy() {
            let Some(line) = self.backlog.pop_front() else {
                break;
            };
            self.backlog_bytes -= line.len();
            self.process(&line);
        }
    }

    fn on_frame(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        if (self.busy() || !self.backlog.is_empty()) && is_request(line) {
            self.backlog_bytes += line.len();
            self.backlog.push_back(line.to_vec());
            return;
        }
        self.process(line);
    }

    fn process(&mut self, line: &[u8]) {
        if jsonrpc::is_batch(line) {
            return self.on_batch(line);
        }
        let sink = Sink::Conn(self.conn.clone());
        self.on_message(line, &sink);
    }

    fn on_batch(&mut self, line: &[u8]) {
        let allowed = {
            let s = lock(&self.conn.session);
            s.era == Some(Era::Handshake) && s.version.is_some_and(ProtocolVersion::allows_batches)
        };
        let sink = Sink::Conn(self.conn.clone());
        if !allowed {
            return sink.error(
                None,
                &ErrorObject::invalid_request(
                    "JSON-RPC batches are only allowed in protocol revision 2025-03-26",
                ),
            );
        }
        let items = match jsonrpc::split_batch(line) {
            Ok(items) => items,
            Err(e) => return sink.error(None, &e),
        };
        if items.len() > self.max_in_flight {
            return sink.error(
                None,
                &ErrorObject::invalid_request(format!(
                    "A batch may hold at most {} messages",
                    self.max_in_flight
                )),
            );
        }
        if items.is_empty() {
            return sink.error(None, &ErrorObject::invalid_request("empty batch"));
        }
        let batch = Sink::Batch(Arc::new(Batch {
            conn: self.conn.clone(),
            parts: Mutex::new(Vec::new()),
        }));
        for item in items {
            self.on_message(item.get().as_bytes(), &batch);
        }
    }

    fn on_message(&mut self, text: &[u8], sink: &Sink) {
        match Message::parse(text) {
            Err(e) if !e.reply => tracing::debug!(error = %e.error, "malformed response ignored"),
            Err(e) => sink.error(e.id.as_ref(), &e.error),
            Ok(Message::Request { id, method, params }) => {
                if self.inflight.contains_key(&id) {
                    return sink.error(
                        Some(&id),
                        &ErrorObject::invalid_request(format!("Request id {id} is already in use")),
                    );
                }
                let counted = method != "subscriptions/listen";
                if let Some((fut, token)) = self.on_request(id.clone(), &method, params, sink) {
                    let (abort, reg) = AbortHandle::new_pair();
                    self.serial += 1;
                    let serial = self.serial;
                    self.inflight.insert(
                        id.clone(),
                        Flight {
                            abort,
                            token,
                            serial,
                            counted,
                        },
                    );
                    if counted {
                        self.counted += 1;
                    }
                    let fut = Abortable::new(fut, reg);
                    self.tasks.push(Box::pin(async move {
                        let _ = fut.await;
                        Done { id, serial }
                    }));
                }
            }
            Ok(Message::Notification { method, params }) => self.on_notification(&method, params),
            Ok(Message::Response { id, result }) => {
                if let Some(tx) = lock(&self.conn.pending).remove(&id) {
                    let _ = tx.send(Ok(result.to_owned()));
                } else {
                    tracing::debug!(%id, "response to an unknown request ignored");
                }
            }
            Ok(Message::ErrorResponse { id, error }) => {
                match id.and_then(|id| lock(&self.conn.pending).remove(&id)) {
                    Some(tx) => {
                        let _ = tx.send(Err(error));
                    }
                    None => tracing::debug!(%error, "error response to an unknown request ignored"),
                }
            }
        }
    }

    fn on_notification(&mut self, method: &str, raw: Option<&RawValue>) {
        match method {
            "notifications/initialized" => {
                let mut s = lock(&self.conn.session);
                if s.era == Some(Era::Handshake) {
                    s.initialized = true;
                }
            }
            "notifications/cancelled" => {
                #[derive(Deserialize)]
                struct P {
                    #[serde(rename = "requestId", default)]
                    request_id: Option<Id>,
                }
                let Ok(P {
                    request_id: Some(id),
                }) = params::<P>(raw)
                else {
                    return;
                };
                if let Some(f) = self.forget(&id) {
                    tracing::debug!(%id, "request cancelled by the client");
                    f.token.cancel();
                    f.abort.abort();
                }
            }
            "notifications/roots/list_changed" => {
                self.conn.roots_generation.fetch_add(1, Ordering::Relaxed);
            }
            _ => tracing::debug!(method, "notification ignored"),
        }
    }

    /// Checks the era and the envelope, then dispatches. Returns a future for requests that
    /// do not finish at once.
    fn on_request(
        &mut self,
        id: Id,
        method: &str,
        raw: Option<&RawValue>,
        sink: &Sink,
    ) -> Option<Started> {
        let env: Envelope<'_> = or_reply!(sink, &id, params(raw));
        let keys: MetaKeys<'_> = match env.meta.map(|m| serde_json::from_str(m.get())) {
            None => MetaKeys::default(),
            Some(Ok(k)) => k,
            Some(Err(e)) => {
                sink.error(
                    Some(&id),
                    &ErrorObject::invalid_params(format!("Invalid _meta: {e}")),
                );
                return None;
            }
        };
        let modern_evidence = keys.version.is_some();
        let era = {
            let mut s = lock(&self.conn.session);
            let evidence = if method == "initialize" {
                Era::Handshake
            } else if modern_evidence {
                Era::Stateless
            } else {
                Era::Handshake
            };
            if self.conn.lock_era {
                *s.era.get_or_insert(evidence)
            } else {
                evidence
            }
        };
        match era {
            Era::Stateless => self.modern(id, method, raw, env, keys, sink),
            Era::Handshake => self.legacy(id, method, raw, env, keys, sink),
        }
    }

    fn legacy<'a>(
        &mut self,
        id: Id,
        method: &'a str,
        raw: Option<&'a RawValue>,
        env: Envelope<'a>,
        keys: MetaKeys<'a>,
        sink: &Sink,
    ) -> Option<Started> {
        if keys.version.is_some() && method != "initialize" {
            sink.error(
                Some(&id),
                &ErrorObject::invalid_request(
                    "This connection was opened with initialize (handshake era); a 2026-07-28 \
                     request needs a new connection",
                ),
            );
            return None;
        }
        let (initialized, version) = {
            let s = lock(&self.conn.session);
            (s.version.is_some(), s.version)
        };
        match method {
            "initialize" => {
                self.initialize(&id, raw, sink);
                None
            }
            "ping" => {
                sink.respond(|out| jsonrpc::write_response(out, &id, &serde_json::json!({})));
                None
            }
            _ if !initialized => {
                sink.error(
                    Some(&id),
                    &ErrorObject::invalid_request(format!(
                        "Server not initialized: send initialize before {method}"
                    )),
                );
                None
            }
            "logging/setLevel" if self.conn.server.options.logging => {
                match params::<SetLevelParams>(raw) {
                    Ok(p) => {
                        lock(&self.conn.session).log_level = Some(p.level);
                        sink.respond(|out| {
                            jsonrpc::write_response(out, &id, &serde_json::json!({}))
                        });
                    }
                    Err(e) => sink.error(Some(&id), &e),
                }
                None
            }
            "resources/subscribe" | "resources/unsubscribe" if self.has_resources() => {
                #[derive(Deserialize)]
                struct P {
                    uri: String,
                }
                match params::<P>(raw) {
                    Ok(P { uri }) => {
                        let mut s = lock(&self.conn.session);
                        if method == "resources/subscribe" {
                            if s.subscriptions.len() >= MAX_SUBSCRIPTIONS {
                                drop(s);
                                sink.error(
                                    Some(&id),
                                    &ErrorObject::invalid_params(format!(
                                        "Too many subscriptions (at most {MAX_SUBSCRIPTIONS})"
                                    )),
                                );
                                return None;
                            }
                            s.subscriptions.insert(uri);
                        } else {
                            s.subscriptions.remove(&uri);
                        }
                        drop(s);
                        sink.respond(|out| {
                            jsonrpc::write_response(out, &id, &serde_json::json!({}))
                        });
                    }
                    Err(e) => sink.error(Some(&id), &e),
                }
                None
            }
            _ => {
                let version = version.unwrap_or(ProtocolVersion::LATEST_HANDSHAKE);
                let req = Req {
                    id,
                    method,
                    params: raw,
                    env,
                    keys,
                    version,
                };
                self.feature(req, sink)
            }
        }
    }

    fn initialize(&mut self, id: &Id, raw: Option<&RawValue>, sink: &Sink) {
        let p: InitializeParams = match params(raw) {
            Ok(p) => p,
            Err(e) => return sink.error(Some(id), &e),
        };
        let mut s = lock(&self.conn.session);
        if s.version.is_some() {
            drop(s);
            return sink.error(
                Some(id),
                &ErrorObject::invalid_request("initialize was already called"),
            );
        }
        // Echo the client's version when we speak it; otherwise offer our newest.
        let version = ProtocolVersion::parse(&p.protocol_version)
            .filter(|v| v.era() == Era::Handshake)
            .unwrap_or(ProtocolVersion::LATEST_HANDSHAKE);
        s.era = Some(Era::Handshake);
        s.version = Some(version);
        s.caps = Arc::new(p.capabilities);
        s.client_info = Some(Arc::new(p.client_info));
        s.advertised =
            Some(Server::registry_of(&self.conn.server).serves(self.conn.server.advertise));
        drop(s);
        let server = Server {
            inner: self.conn.server.clone(),
        };
        let result = InitializeResult {
            protocol_version: version.as_str().to_owned(),
            capabilities: server.capabilities(),
            server_info: self.conn.server.info.clone(),
            instructions: self.conn.server.instructions.clone(),
            meta: None,
        };
        sink.respond(|out| write_result(&self.conn.server, out, id, result, Dress::of(version)));
    }

    fn modern<'a>(
        &mut self,
        id: Id,
        method: &'a str,
        raw: Option<&'a RawValue>,
        env: Envelope<'a>,
        keys: MetaKeys<'a>,
        sink: &Sink,
    ) -> Option<Started> {
        // A stream locked to 2026-07-28 serves nothing else; on a transport that decides per
        // request, the handshake revisions are available too.
        let locked = self.conn.lock_era;
        let all_versions = || -> Vec<String> {
            let handshake: &[ProtocolVersion] = if locked { &[] } else { &HANDSHAKE_VERSIONS };
            STATELESS_VERSIONS
                .iter()
                .chain(handshake)
                .map(|v| v.as_str().to_owned())
                .collect()
        };
        if method == "initialize" {
            let requested = params::<InitializeParams>(raw)
                .map(|p| serde_json::Value::String(p.protocol_version))
                .unwrap_or(serde_json::Value::Null);
            sink.error(
                Some(&id),
                &ErrorObject::new(
                    code::UNSUPPORTED_PROTOCOL_VERSION,
                    "This connection speaks 2026-07-28 (no initialize); start a new connection for the handshake revisions",
                )
                .with_data(serde_json::json!({ "supported": all_versions(), "requested": requested })),
            );
            return None;
        }
        let Some(requested) = &keys.version else {
            sink.error(
                Some(&id),
                &ErrorObject::invalid_params(format!(
                    "Missing _meta[\"{}\"]: every 2026-07-28 request must carry it",
                    meta_keys::PROTOCOL_VERSION
                )),
            );
            return None;
        };
        if keys.caps.is_none_or(|c| !c.get().starts_with('{')) {
            sink.error(
                Some(&id),
                &ErrorObject::invalid_params(format!(
                    "Missing or malformed _meta[\"{}\"]: every 2026-07-28 request must carry it (an object)",
                    meta_keys::CLIENT_CAPABILITIES
                )),
            );
            return None;
        }
        let version = raw_str(requested)
            .and_then(|v| ProtocolVersion::parse(&v))
            .filter(|v| v.era() == Era::Stateless);
        let Some(version) = version else {
            sink.error(
                Some(&id),
                &ErrorObject::new(
                    code::UNSUPPORTED_PROTOCOL_VERSION,
                    "Unsupported protocol version",
                )
                .with_data(serde_json::json!({
                    "supported": all_versions(),
                    "requested": serde_json::from_str::<serde_json::Value>(requested.get())
                        .unwrap_or(serde_json::Value::Null),
                })),
            );
            return None;
        };
        if let Some(level) = keys.log_level
            && serde_json::from_str::<LoggingLevel>(level.get()).is_err()
        {
            sink.error(
                Some(&id),
                &ErrorObject::invalid_params(format!(
                    "Invalid _meta[\"{}\"]: {}",
                    meta_keys::LOG_LEVEL,
                    level.get()
                )),
            );
            return None;
        }
        match method {
            "server/discover" => {
                let server = Server {
                    inner: self.conn.server.clone(),
                };
                let result = DiscoverResult {
                    supported_versions: all_versions(),
                    capabilities: server.capabilities(),
                    instructions: self.conn.server.instructions.clone(),
                    meta: None,
                };
                sink.respond(|out| {
                    write_result(
                        &self.conn.server,
                        out,
                        &id,
                        result,
                        Dress::of(version).cacheable(),
                    )
                });
                None
            }
            "subscriptions/listen" => self.listen(id, raw, sink),
            _ => {
                let req = Req {
                    id,
                    method,
                    params: raw,
                    env,
                    keys,
                    version,
                };
                self.feature(req, sink)
            }
        }
    }

    fn has_resources(&self) -> bool {
        let server = &self.conn.server;
        Server::registry_of(server)
            .serves(server.advertise)
            .resources
    }

    /// The methods both eras share.
    fn feature(&mut self, req: Req<'_>, sink: &Sink) -> Option<Started> {
        let reg = Server::registry_of(&self.conn.server);
        let serves = reg.serves(self.conn.server.advertise);
        let dress = Dress::of(req.version);
        let not_found = |sink: &Sink, req: &Req<'_>| {
            sink.error(Some(&req.id), &ErrorObject::method_not_found(req.method));
        };
        match req.method {
            "tools/list" if serves.tools => {
                // Before 2025-06-18 there is no structured output: no outputSchema either
                // (a client would wait for structuredContent that never comes).
                let structured = req.version.has_structured_content();
                self.page(
                    &req,
                    sink,
                    &reg.tools,
                    |t| {
                        let mut tool = t.tool.clone();
                        if !structured {
                            tool.output_schema = None;
                        }
                        tool
                    },
                    |tools, next| ListToolsResult {
                        tools,
                        next_cursor: next,
                        meta: None,
                    },
                );
                None
            }
            "resources/list" if serves.resources => {
                self.page(
                    &req,
                    sink,
                    &reg.resources,
                    |r| r.resource.clone(),
                    |resources, next| ListResourcesResult {
                        resources,
                        next_cursor: next,
                        meta: None,
                    },
                );
                None
            }
            "resources/templates/list" if serves.resources => {
                self.page(
                    &req,
                    sink,
                    &reg.templates,
                    |t| t.template.clone(),
                    |resource_templates, next| ListResourceTemplatesResult {
                        resource_templates,
                        next_cursor: next,
                        meta: None,
                    },
                );
                None
            }
            "prompts/list" if serves.prompts => {
                self.page(
                    &req,
                    sink,
                    &reg.prompts,
                    |p| p.prompt.clone(),
                    |prompts, next| ListPromptsResult {
                        prompts,
                        next_cursor: next,
                        meta: None,
                    },
                );
                None
            }
            "tools/call" if serves.tools => self.call_tool(req, sink, &reg),
            "resources/read" if serves.resources => self.read_resource(req, sink, &reg),
            "prompts/get" if serves.prompts => self.get_prompt(req, sink, &reg),
            "completion/complete" if serves.completions => {
                let p: CompleteParams = or_reply!(sink, &req.id, params(req.params));
                let f = reg.completion.clone()?;
                let (cx, token) = self.context(&req, None);
                let fut = f(p, cx);
                Some(self.respond_later(req.id, sink, token, dress, fut, Ok))
            }
            _ => {
                not_found(sink, &req);
                None
            }
        }
    }

    fn page<T, W: WireResult + PageResult>(
        &self,
        req: &Req<'_>,
        sink: &Sink,
        items: &[Arc<T>],
        view: impl Fn(&T) -> W::Item,
        build: impl FnOnce(Vec<W::Item>, Option<String>) -> W,
    ) {
        let p: CursorParams = match params(req.params) {
            Ok(p) => p,
            Err(e) => return sink.error(Some(&req.id), &e),
        };
        let start = match p.cursor.as_deref().map(decode_cursor) {
            None => 0,
            Some(Some(n)) if n <= items.len() => n,
            Some(_) => {
                return sink.error(
                    Some(&req.id),
                    &ErrorObject::invalid_params("Invalid cursor"),
                );
            }
        };
        let size = self.conn.server.options.page_size.max(1);
        let end = (start + size).min(items.len());
        let page: Vec<W::Item> = items[start..end].iter().map(|i| view(i)).collect();
        let next = (end < items.len()).then(|| encode_cursor(end));
        let result = build(page, next);
        let dress = Dress::of(req.version).cacheable();
        sink.respond(|out| write_result(&self.conn.server, out, &req.id, result, dress));
    }

    fn context(
        &self,
        req: &Req<'_>,
        answers: Option<JsonObject>,
    ) -> (RequestContext, CancellationToken) {
        let token = CancellationToken::new();
        let caps = OnceLock::new();
        let client_info = OnceLock::new();
        let log_level = match req.version.era() {
            Era::Handshake => {
                let s = lock(&self.conn.session);
                let _ = caps.set(s.caps.clone());
                let _ = client_info.set(s.client_info.clone());
                None
            }
            // Capabilities and client info are read from `_meta` only if a handler asks.
            Era::Stateless => req
                .keys
                .log_level
                .and_then(|l| serde_json::from_str(l.get()).ok()),
        };
        let cx = RequestContext {
            inner: Arc::new(CtxInner {
                conn: self.conn.clone(),
                id: req.id.clone(),
                version: req.version,
                meta_raw: req.env.meta.map(|r| r.to_owned()),
                meta: OnceLock::new(),
                progress_token: req.keys.progress_token.clone(),
                log_level,
                caps,
                client_info,
                answers,
                input_seq: AtomicUsize::new(0),
                last_progress: Mutex::new(None),
                cancel: token.clone(),
            }),
        };
        (cx, token)
    }

    /// Reads the 2026 `inputResponses` / `requestState` of a retry into one answer map: the
    /// sealed answers of earlier rounds, plus the answer to the one request the state was
    /// issued with. Without a state nothing was asked, and `inputResponses` is ignored.
    fn answers(
        &self,
        req: &Req<'_>,
        binding: &Binding,
        responses: Option<JsonObject>,
        state: Option<&str>,
    ) -> Result<Option<JsonObject>, ErrorObject> {
        let (Era::Stateless, Some(state)) = (req.version.era(), state) else {
            return Ok(None);
        };
        let digest = binding.digest();
        let (mut answers, pending) = mrtr::open(&self.conn.server.state_key, &digest, state)?;
        if let Some(answer) = responses.and_then(|mut r| r.remove(&pending)) {
            answers.insert(pending, answer);
        }
        Ok(Some(answers))
    }

    /// The context of a request that may be a 2026 retry (`tools/call`, `resources/read`,
    /// `prompts/get`): its answers so far are read from the sealed state, and kept to seal
    /// again if the handler asks for more.
    fn retry_context(
        &self,
        req: &Req<'_>,
        binding: &Binding,
        responses: Option<JsonObject>,
        state: Option<&str>,
    ) -> Result<(RequestContext, CancellationToken, Option<JsonObject>), ErrorObject> {
        let answers = self.answers(req, binding, responses, state)?;
        let (cx, token) = self.context(req, answers.clone());
        Ok((cx, token, answers))
    }

    fn call_tool(&mut self, req: Req<'_>, sink: &Sink, reg: &Registry) -> Option<Started> {
        let name = match req.env.name.map(raw_str) {
            Some(Some(n)) => n,
            _ => {
                sink.error(
                    Some(&req.id),
                    &ErrorObject::invalid_params("Invalid params: `name` must be a string"),
                );
                return None;
            }
        };
        let input_responses = match req
            .env
            .input_responses
            .map(|r| serde_json::from_str::<JsonObject>(r.get()))
        {
            None => None,
            Some(Ok(o)) => Some(o),
            Some(Err(e)) => {
                sink.error(
                    Some(&req.id),
                    &ErrorObject::invalid_params(format!("Invalid inputResponses: {e}")),
                );
                return None;
            }
        };
        let request_state = req.env.request_state.and_then(raw_str);
        let p = CallParams {
            name,
            arguments: req.env.arguments,
            input_responses,
            request_state,
        };
        let Some(tool) = reg.tool(&p.name).cloned() else {
            sink.error(
                Some(&req.id),
                &ErrorObject::invalid_params(format!("Unknown tool: {}", p.name)),
            );
            return None;
        };
        let args: serde_json::Value = match p.arguments {
            None => serde_json::Value::Object(JsonObject::new()),
            Some(raw) if raw.get() == "null" => serde_json::Value::Object(JsonObject::new()),
            Some(raw) => match serde_json::from_str(raw.get()) {
                Ok(v) => v,
                Err(e) => {
                    sink.error(
                        Some(&req.id),
                        &ErrorObject::invalid_params(format!("Invalid arguments: {e}")),
                    );
                    return None;
                }
            },
        };
        let dress = Dress::of(req.version);
        if let Err(msg) = tool.validate(&args) {
            let r = CallToolResult::error(msg);
            sink.respond(|out| write_result(&self.conn.server, out, &req.id, r, dress));
            return None;
        }
        let binding = match (req.version.era(), &p.request_state) {
            (Era::Handshake, _) => Binding::None,
            // A retry: its state is checked against these arguments now.
            (Era::Stateless, Some(_)) => Binding::Ready(tool_binding(&p.name, &args)),
            // Hashed only if the handler asks for input (rarely): keep the raw text.
            (Era::Stateless, None) => Binding::Tool {
                name: p.name.to_string(),
                args: p.arguments.map(|r| r.to_owned()),
            },
        };
        let (cx, token, answers) = or_reply!(
            sink,
            &req.id,
            self.retry_context(
                &req,
                &binding,
                p.input_responses,
                p.request_state.as_deref()
            )
        );
        let handler = tool.handler.clone();
        let fut: BoxFuture<Result<CallToolResult, HandlerError>> = if tool.spawn {
            let task =
                tokio::spawn(
                    async move { AssertUnwindSafe(handler(args, cx)).catch_unwind().await },
                );
            // Built before the future, so dropping it unpolled (a cancel in the same read)
            // still aborts the task.
            let guard = AbortOnDrop(task.abort_handle());
            Box::pin(async move {
                let _guard = guard;
                match task.await {
                    Ok(Ok(r)) => r,
                    Ok(Err(panic)) => Err(HandlerError::Failed(format!(
                        "tool panicked: {}",
                        panic_message(&*panic)
                    ))),
                    Err(e) => Err(HandlerError::Failed(format!("tool task failed: {e}"))),
                }
            })
        } else {
            match std::panic::catch_unwind(AssertUnwindSafe(|| handler(args, cx))) {
                Ok(f) => f,
                Err(panic) => {
                    let msg = panic_message(&*panic);
                    Box::pin(
                        async move { Err(HandlerError::Failed(format!("tool panicked: {msg}"))) },
                    )
                }
            }
        };
        let version = req.version;
        let structured_ok = version.has_structured_content();
        let object_only = version.era() == Era::Handshake;
        Some(self.mrtr_later(
            req.id,
            sink,
            token,
            dress,
            binding,
            answers,
            fut,
            move |mut r: CallToolResult| {
                if !structured_ok
                    || (object_only
                        && r.structured_content
                            .as_ref()
                            .is_some_and(|v| !v.is_object()))
                {
                    r.structured_content = None;
                }
                Ok(r)
            },
            |e| match e {
                HandlerError::Failed(m) => Ok(CallToolResult::error(m)),
                other => Err(other),
            },
        ))
    }

    fn read_resource(&mut self, req: Req<'_>, sink: &Sink, reg: &Registry) -> Option<Started> {
        let p: ReadParams = or_reply!(sink, &req.id, params(req.params));
        let found = reg
            .resources
            .iter()
            .find(|r| r.resource.uri == p.uri)
            .map(|r| (r.read.clone(), BTreeMap::new()))
            .or_else(|| {
                reg.templates
                    .iter()
                    .find_map(|t| t.pattern.matches(&p.uri).map(|v| (t.read.clone(), v)))
            });
        let Some((read, vars)) = found else {
            sink.error(
                Some(&req.id),
                &ErrorObject::new(
                    req.version.resource_not_found_code(),
                    format!("Resource not found: {}", p.uri),
                )
                .with_data(serde_json::json!({ "uri": p.uri })),
            );
            return None;
        };
        let binding = Binding::Ready(mrtr::binding("resources/read", &p.uri, ""));
        let (cx, token, answers) = or_reply!(
            sink,
            &req.id,
            self.retry_context(
                &req,
                &binding,
                p.input_responses,
                p.request_state.as_deref()
            )
        );
        let fut = guard_call(|| read(p.uri, vars, cx));
        let dress = Dress::of(req.version).cacheable();
        Some(self.mrtr_later(req.id, sink, token, dress, binding, answers, fut, Ok, Err))
    }

    fn get_prompt(&mut self, req: Req<'_>, sink: &Sink, reg: &Registry) -> Option<Started> {
        let p: PromptParams = or_reply!(sink, &req.id, params(req.params));
        let Some(prompt) = reg.prompt(&p.name).cloned() else {
            sink.error(
                Some(&req.id),
                &ErrorObject::invalid_params(format!("Unknown prompt: {}", p.name)),
            );
            return None;
        };
        let args = p.arguments.unwrap_or_default();
        if let Some(missing) = prompt.missing_required(&args) {
            sink.error(
                Some(&req.id),
                &ErrorObject::invalid_params(format!(
                    "Missing required argument `{missing}` of prompt `{}`",
                    p.name
                )),
            );
            return None;
        }
        let args_text = serde_json::to_string(&args).unwrap_or_default();
        let binding = Binding::Ready(mrtr::binding("prompts/get", &p.name, &args_text));
        let (cx, token, answers) = or_reply!(
            sink,
            &req.id,
            self.retry_context(
                &req,
                &binding,
                p.input_responses,
                p.request_state.as_deref()
            )
        );
        let get = prompt.get.clone();
        let fut = guard_call(|| get(args, cx));
        Some(self.mrtr_later(
            req.id,
            sink,
            token,
            Dress::of(req.version),
            binding,
            answers,
            fut,
            Ok,
            Err,
        ))
    }

    /// A future that answers a request once its handler finishes.
    fn respond_later<T: Send + 'static, R: WireResult + Send + 'static>(
        &self,
        id: Id,
        sink: &Sink,
        token: CancellationToken,
        dress: Dress,
        fut: BoxFuture<Result<T, HandlerError>>,
        map: impl FnOnce(T) -> Result<R, HandlerError> + Send + 'static,
    ) -> Started {
        // Only tools/call, prompts/get and resources/read may answer input_required.
        let recover = |e| match e {
            HandlerError::InputRequired(_) => Err(HandlerError::Protocol(ErrorObject::internal(
                "this method cannot ask the client for input",
            ))),
            other => Err(other),
        };
        self.mrtr_later(
            id,
            sink,
            token,
            dress,
            Binding::None,
            None,
            fut,
            map,
            recover,
        )
    }

    /// Like `respond_later`, and turns `InputRequired` into a 2026 interim result.
    #[allow(clippy::too_many_arguments)]
    fn mrtr_later<T: Send + 'static, R: WireResult + Send + 'static>(
        &self,
        id: Id,
        sink: &Sink,
        token: CancellationToken,
        dress: Dress,
        binding: Binding,
        answers: Option<JsonObject>,
        fut: BoxFuture<Result<T, HandlerError>>,
        map: impl FnOnce(T) -> Result<R, HandlerError> + Send + 'static,
        recover: impl FnOnce(HandlerError) -> Result<R, HandlerError> + Send + 'static,
    ) -> Started {
        let sink = sink.clone();
        let fut = async move {
            let outcome = match AssertUnwindSafe(fut).catch_unwind().await {
                Ok(Ok(v)) => map(v),
                Ok(Err(e)) => recover(e),
                Err(panic) => recover(HandlerError::Failed(format!(
                    "handler panicked: {}",
                    panic_message(&*panic)
                ))),
            };
            let server = sink.conn().server.clone();
            match outcome {
                Ok(r) => sink.respond(|out| write_result(&server, out, &id, r, dress)),
                Err(HandlerError::InputRequired(need)) if dress.modern => {
                    let state = mrtr::seal(
                        &server.state_key,
                        &binding.digest(),
                        &answers.unwrap_or_default(),
                        &need.key,
                    );
                    let mut requests = serde_json::Map::new();
                    requests.insert(
                        need.key,
                        serde_json::to_value(need.request).unwrap_or_default(),
                    );
                    let r = InputRequiredResult {
                        input_requests: Some(requests),
                        request_state: Some(state),
                        meta: None,
                    };
                    let d = Dress {
                        result_type: "input_required",
                        ..dress
                    };
                    sink.respond(|out| write_result(&server, out, &id, r, d));
                }
                Err(HandlerError::InputRequired(_)) => sink.error(
                    Some(&id),
                    &ErrorObject::internal("handler asked for input outside a 2026-07-28 request"),
                ),
                Err(HandlerError::Protocol(e)) => sink.error(Some(&id), &e),
                Err(HandlerError::Failed(m)) => sink.error(Some(&id), &ErrorObject::internal(m)),
            }
        };
        (Box::pin(fut), token)
    }

    fn listen(&mut self, id: Id, raw: Option<&RawValue>, sink: &Sink) -> Option<Started> {
        let p: ListenParams = or_reply!(sink, &id, params(raw));
        let caps = Server {
            inner: self.conn.server.clone(),
        }
        .capabilities();
        // Honour only what the server can send.
        let f = p.notifications;
        let filter = ListenFilter {
            tools_list_changed: f.tools_list_changed.filter(|_| caps.tools.is_some()),
            prompts_list_changed: f.prompts_list_changed.filter(|_| caps.prompts.is_some()),
            resources_list_changed: f
                .resources_list_changed
                .filter(|_| caps.resources.is_some()),
            resource_subscriptions: f
                .resource_subscriptions
                .filter(|_| caps.resources.is_some()),
        };
        self.conn.notify_related(
            Some(&id),
            "notifications/subscriptions/acknowledged",
            &serde_json::json!({ "_meta": subscription_meta(&id), "notifications": filter }),
        );
        lock(&self.conn.listeners).insert(id.clone(), filter);
        let conn = self.conn.clone();
        let sink = sink.clone();
        let token = CancellationToken::new();
        let guard = Unlisten(conn.clone(), id.clone());
        let fut = async move {
            let _guard = guard;
            conn.shutdown.cancelled().await;
            // A graceful end from the server: the listen request's result.
            let r = EmptyResult {
                meta: Some(subscription_meta(&id)),
            };
            let d = Dress {
                modern: true,
                cacheable: false,
                result_type: "complete",
            };
            sink.respond(|out| write_result(&conn.server, out, &id, r, d));
        };
        Some((Box::pin(fut), token))
    }
}

/// Aborts a spawned tool's task when its request future is dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Unregisters a listen stream when its request future is dropped.
struct Unlisten(Arc<ConnShared>, Id);

impl Drop for Unlisten {
    fn drop(&mut self) {
        lock(&self.0.listeners).remove(&self.1);
    }
}

/// Calls a handler, turning a panic in its synchronous part into an error future.
fn guard_call<T: Send + 'static>(
    f: impl FnOnce() -> BoxFuture<Result<T, HandlerError>>,
) -> BoxFuture<Result<T, HandlerError>> {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(fut) => fut,
        Err(panic) => {
            let msg = panic_message(&*panic);
            Box::pin(async move { Err(HandlerError::Failed(format!("handler panicked: {msg}"))) })
        }
    }
}

/// A list result with items, for pagination.
pub(crate) trait PageResult {
    type Item;
}
impl PageResult for ListToolsResult {
    type Item = rune_proto::model::Tool;
}
impl PageResult for ListResourcesResult {
    type Item = rune_proto::model::Resource;
}
impl PageResult for ListResourceTemplatesResult {
    type Item = rune_proto::model::ResourceTemplate;
}
impl PageResult for ListPromptsResult {
    type Item = rune_proto::model::Prompt;
}

fn encode_cursor(n: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("rune:{n}"))
}

fn decode_cursor(c: &str) -> Option<usize> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()?;
    std::str::from_utf8(&bytes)
        .ok()?
        .strip_prefix("rune:")?
        .parse()
        .ok()
}

/// Serves any byte stream with newline-delimited JSON (stdio, TCP, a Unix socket, a test pipe).
pub(crate) async fn serve_stream<R, W>(server: &Server, reader: R, writer: W) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mode = ConnMode {
        lock_era: true,
        routed: false,
        assume: None,
    };
    run(server, reader, StreamOutput(writer), mode).await
}
