//! The HTTP endpoint: Streamable HTTP (both eras), the legacy HTTP+SSE transport, and the
//! protected resource metadata. See the crate docs for what each request does.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rune_proto::{Era, Id, Message, ProtocolVersion, RawValue};
use rune_server::Server;
use rune_server::channel::ChannelOptions;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::HttpOptions;
use crate::security::check_host;
use crate::session::{AttachError, Item, Session};
use crate::sse::{self, CloseOnDrop};

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";
const METHOD_HEADER: &str = "mcp-method";
const NAME_HEADER: &str = "mcp-name";
const LAST_EVENT_HEADER: &str = "last-event-id";

/// State shared by the endpoint's handlers.
pub(crate) struct Shared {
    pub(crate) server: Server,
    pub(crate) opts: HttpOptions,
    sessions: Mutex<HashMap<Arc<str>, Arc<Session>>>,
    /// The one-request connections (2026-07-28, stateless mode) still open, so a shutdown
    /// can end them too (a `subscriptions/listen` stream gets its result); dead entries are
    /// swept when the list has doubled since the last sweep.
    ephemeral: Mutex<Ephemeral>,
    shutdown: CancellationToken,
}

#[derive(Default)]
struct Ephemeral {
    open: Vec<std::sync::Weak<Session>>,
    sweep_at: usize,
}

impl Shared {
    fn register_ephemeral(&self, session: &Arc<Session>) {
        let mut e = lock(&self.ephemeral);
        if e.open.len() >= e.sweep_at {
            e.open.retain(|w| w.strong_count() > 0);
            e.sweep_at = (e.open.len() * 2).max(64);
        }
        e.open.push(Arc::downgrade(session));
    }
}

/// A handle on a running endpoint: [`HttpService::close_all`] ends every session (for a
/// graceful shutdown).
#[derive(Clone)]
pub struct HttpService {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for HttpService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpService")
            .field("sessions", &self.session_count())
            .finish()
    }
}

impl HttpService {
    /// Ends every session: their requests in flight are answered, then their streams close.
    /// New sessions are refused from now on.
    pub fn close_all(&self) {
        self.shared.shutdown.cancel();
        let all: Vec<Arc<Session>> = lock(&self.shared.sessions)
            .drain()
            .map(|(_, s)| s)
            .collect();
        for s in all {
            s.close();
        }
        let open = std::mem::take(&mut lock(&self.shared.ephemeral).open);
        for s in open.iter().filter_map(std::sync::Weak::upgrade) {
            s.close();
        }
    }

    /// Sessions open now.
    pub fn session_count(&self) -> usize {
        lock(&self.shared.sessions).len()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// The endpoint as an axum router (to serve, or to nest in an application), and its handle.
/// Must be called inside a tokio runtime (it starts the idle-session reaper).
pub fn router(server: Server, opts: HttpOptions) -> (Router, HttpService) {
    let path = if opts.path.starts_with('/') {
        opts.path.clone()
    } else {
        format!("/{}", opts.path)
    };
    let shared = Arc::new(Shared {
        server,
        opts,
        sessions: Mutex::new(HashMap::new()),
        ephemeral: Mutex::new(Ephemeral::default()),
        shutdown: CancellationToken::new(),
    });
    tokio::spawn(reap(Arc::downgrade(&shared)));
    let mut r = Router::new().route(
        &path,
        post(post_mcp)
            .get(get_mcp)
            .delete(delete_mcp)
            .options(options_mcp),
    );
    if shared
        .opts
        .auth
        .as_ref()
        .is_some_and(|a| a.metadata.is_some())
    {
        r = r
            .route(
                "/.well-known/oauth-protected-resource",
                get(resource_metadata),
            )
            .route(
                &format!("/.well-known/oauth-protected-resource{path}"),
                get(resource_metadata),
            );
    }
    if shared.opts.legacy_sse {
        r = r
            .route("/sse", get(legacy_get))
            .route("/messages", post(legacy_post));
    }
    let service = HttpService {
        shared: shared.clone(),
    };
    (r.with_state(shared), service)
}

/// Closes sessions idle for longer than the timeout, and forgets ended ones.
async fn reap(shared: std::sync::Weak<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        tick.tick().await;
        let Some(sh) = shared.upgrade() else {
            return;
        };
        let timeout = sh.opts.session_idle_timeout;
        let gone: Vec<Arc<Session>> = {
            let mut map = lock(&sh.sessions);
            let ids: Vec<Arc<str>> = map
                .iter()
                .filter(|(_, s)| s.is_ended() || (!s.busy() && s.idle_for() > timeout))
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter().filter_map(|id| map.remove(id)).collect()
        };
        for s in gone {
            tracing::debug!(session = %s.id, "session closed (idle or ended)");
            s.close();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Responses

fn rpc_error(status: StatusCode, code: i64, message: &str) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": code, "message": message}
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn rpc_error_for(status: StatusCode, id: Option<&Id>, code: i64, message: &str) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": code, "message": message}
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A JSON response; in 2026 an error's code picks the status (-32601 → 404; -32602, -32020,
/// -32021, -32022 → 400).
fn json_response(data: &[u8], modern: bool) -> Response {
    let mut status = StatusCode::OK;
    if modern && let Ok(Message::ErrorResponse { error, .. }) = Message::parse(data) {
        status = match error.code {
            -32601 => StatusCode::NOT_FOUND,
            -32602 | -32600 | -32020 | -32021 | -32022 => StatusCode::BAD_REQUEST,
            _ => StatusCode::OK,
        };
    }
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(data.to_vec()),
    )
        .into_response()
}

fn sse_response(body: Body) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        body,
    )
        .into_response()
}

/// What the client's `Accept` allows.
#[derive(Debug, Clone, Copy)]
struct Accept {
    json: bool,
    sse: bool,
}

fn accept(headers: &HeaderMap) -> Accept {
    let values: Vec<String> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .collect();
    if values.is_empty() {
        return Accept {
            json: true,
            sse: true,
        };
    }
    let any = values.iter().any(|v| v == "*/*");
    Accept {
        json: any
            || values
                .iter()
                .any(|v| v == "application/json" || v == "application/*"),
        sse: any
            || values
                .iter()
                .any(|v| v == "text/event-stream" || v == "text/*"),
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The guards every request passes: Host/Origin, then the bearer token.
fn guard(sh: &Shared, headers: &HeaderMap) -> Result<(), Response> {
    check_host(headers, &sh.opts.allowed_hosts)?;
    if let Some(auth) = &sh.opts.auth {
        let host = header_str(headers, "host").unwrap_or("localhost");
        let url = format!(
            "http://{host}/.well-known/oauth-protected-resource{}",
            sh.opts.path
        );
        auth.check(headers, &url)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Reading a POST body

/// What the HTTP layer needs to know of a POST body.
#[derive(Debug, Default)]
struct Classified {
    requests: Vec<Id>,
    initialize: Option<Id>,
    batch: bool,
    /// The 2026 `_meta` version key of the first request that has one.
    modern_version: Option<String>,
    /// The first request's method and `params.name`/`params.uri` (for the 2026 headers).
    method: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct ParamsPeek<'a> {
    #[serde(rename = "_meta", default, borrow)]
    meta: Option<MetaPeek<'a>>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    uri: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct MetaPeek<'a> {
    #[serde(rename = "io.modelcontextprotocol/protocolVersion", default, borrow)]
    version: Option<Cow<'a, str>>,
}

fn classify(body: &[u8]) -> Result<Classified, Response> {
    let mut c = Classified::default();
    let items: Vec<&[u8]> = if rune_proto::jsonrpc::is_batch(body) {
        c.batch = true;
        match rune_proto::jsonrpc::split_batch(body) {
            Ok(items) => items.iter().map(|i| i.get().as_bytes()).collect(),
            Err(e) => return Err(rpc_error(StatusCode::BAD_REQUEST, e.code, &e.message)),
        }
    } else {
        vec![body]
    };
    if c.batch && items.is_empty() {
        return Err(rpc_error(
            StatusCode::BAD_REQUEST,
            -32600,
            "Invalid Request: empty batch",
        ));
    }
    for item in items {
        match Message::parse(item) {
            Ok(Message::Request { id, method, params }) => {
                let peek = params
                    .map(|p: &RawValue| serde_json::from_str::<ParamsPeek<'_>>(p.get()))
                    .and_then(Result::ok);
                if c.method.is_none() {
                    c.method = Some(method.to_string());
                    c.name = peek
                        .as_ref()
                        .and_then(|p| p.name.as_deref().or(p.uri.as_deref()))
                        .map(str::to_owned);
                }
                if c.modern_version.is_none() {
                    c.modern_version = peek
                        .and_then(|p| p.meta)
                        .and_then(|m| m.version)
                        .map(|v| v.into_owned());
                }
                if method == "initialize" {
                    c.initialize = Some(id.clone());
                }
                c.requests.push(id);
            }
            Ok(Message::Notification { method, .. }) => {
                if c.method.is_none() {
                    c.method = Some(method.to_string());
                }
            }
            Ok(_) => {}
            Err(e) if e.reply => {
                return Err(rpc_error_for(
                    StatusCode::BAD_REQUEST,
                    e.id.as_ref(),
                    e.error.code,
                    &e.error.message,
                ));
            }
            // A malformed response: the engine logs and drops it.
            Err(_) => {}
        }
    }
    Ok(c)
}

// ---------------------------------------------------------------------------------------
// POST

async fn post_mcp(State(sh): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = guard(&sh, &headers) {
        return r;
    }
    let ct = header_str(&headers, "content-type").unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("application/json") {
        return rpc_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            -32600,
            "Unsupported Media Type: Content-Type must be application/json",
        );
    }
    let acc = accept(&headers);
    if !acc.json && !acc.sse {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            -32600,
            "Not Acceptable: Accept must include application/json or text/event-stream",
        );
    }
    if body.len() > sh.opts.max_body_bytes {
        return rpc_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            -32600,
            &format!(
                "Payload Too Large: the limit is {} bytes",
                sh.opts.max_body_bytes
            ),
        );
    }
    let c = match classify(&body) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let header_version = header_str(&headers, VERSION_HEADER);
    let header_modern = header_version
        .and_then(ProtocolVersion::parse)
        .is_some_and(|v| v.era() == Era::Stateless)
        || header_version.is_some_and(|v| v > "2025-11-25" && ProtocolVersion::parse(v).is_none());
    if c.modern_version.is_some() || (header_modern && c.initialize.is_none()) {
        return post_modern(&sh, &headers, &body, c, acc).await;
    }
    if let Some(v) = header_version
        && c.initialize.is_none()
        && ProtocolVersion::parse(v).is_none()
    {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            -32600,
            &format!("Bad Request: unsupported MCP-Protocol-Version {v:?}"),
        );
    }
    let assume = header_version
        .and_then(ProtocolVersion::parse)
        .unwrap_or(ProtocolVersion::V2025_03_26);
    if sh.opts.stateless {
        let opts = ChannelOptions {
            lock_era: true,
            assume_initialized: c.initialize.is_none().then_some(assume),
        };
        return post_ephemeral(&sh, &body, c, acc, opts, false).await;
    }
    let session = match header_str(&headers, SESSION_HEADER) {
        Some(sid) => {
            if c.initialize.is_some() {
                return rpc_error(
                    StatusCode::BAD_REQUEST,
                    -32600,
                    "Bad Request: initialize must not carry an Mcp-Session-Id (it starts a new session)",
                );
            }
            match lock(&sh.sessions).get(sid).cloned() {
                Some(s) => s,
                None => {
                    return rpc_error(
                        StatusCode::NOT_FOUND,
                        -32001,
                        "Session not found: initialize a new session",
                    );
                }
            }
        }
        None => {
            let Some(init) = &c.initialize else {
                return rpc_error(
                    StatusCode::BAD_REQUEST,
                    -32600,
                    "Bad Request: Mcp-Session-Id header is required (send initialize first)",
                );
            };
            if c.batch {
                return rpc_error(
                    StatusCode::BAD_REQUEST,
                    -32600,
                    "Invalid Request: initialize must not be part of a batch",
                );
            }
            match new_session(&sh) {
                Ok(s) => {
                    s.set_init_request(init);
                    s
                }
                Err(r) => return r,
            }
        }
    };
    session.touch();
    let sid = session.id.clone();
    let mut resp = post_to(&sh, &session, &body, &c, acc, false, None).await;
    if c.initialize.is_some()
        && let Ok(v) = HeaderValue::from_str(&sid)
    {
        resp.headers_mut().insert(SESSION_HEADER, v);
    }
    resp
}

fn new_session(sh: &Arc<Shared>) -> Result<Arc<Session>, Response> {
    if sh.shutdown.is_cancelled() {
        return Err(rpc_error(
            StatusCode::SERVICE_UNAVAILABLE,
            -32603,
            "The server is shutting down",
        ));
    }
    let mut map = lock(&sh.sessions);
    if map.len() >= sh.opts.max_sessions {
        return Err(rpc_error(
            StatusCode::SERVICE_UNAVAILABLE,
            -32603,
            "Too many sessions; try again later",
        ));
    }
    let id: Arc<str> = new_session_id().into();
    let (tx, rx) = sh.server.open_channel(ChannelOptions {
        lock_era: true,
        assume_initialized: None,
    });
    let s = Session::start(id.clone(), true, false, tx, rx, sh.opts.event_store.clone());
    map.insert(id, s.clone());
    Ok(s)
}

/// A session id nobody can guess: 128 random bits from the OS, as hex.
fn new_session_id() -> String {
    let mut seed = [0u8; 32];
    // Time, address entropy and a counter, hashed; the OS's random source when available.
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read as _;
        let _ = f.read_exact(&mut seed);
    }
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut h = blake3::Hasher::new();
    h.update(&seed);
    h.update(&n.to_le_bytes());
    h.update(
        &std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            .to_le_bytes(),
    );
    h.finalize().to_hex()[..32].to_owned()
}

/// A 2026-07-28 request: headers checked against the body, then a one-request connection.
async fn post_modern(
    sh: &Arc<Shared>,
    headers: &HeaderMap,
    body: &[u8],
    c: Classified,
    acc: Accept,
) -> Response {
    if c.batch {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            -32600,
            "Invalid Request: batches are not part of protocol revision 2026-07-28",
        );
    }
    let id = c.requests.first();
    let mismatch = |what: String| {
        rpc_error_for(
            StatusCode::BAD_REQUEST,
            id,
            -32020,
            &format!("Header mismatch: {what}"),
        )
    };
    let hv = header_str(headers, VERSION_HEADER);
    match (&c.modern_version, hv) {
        (Some(body_v), Some(h)) if h != body_v => {
            return mismatch(format!(
                "MCP-Protocol-Version is {h:?} but _meta names {body_v:?}"
            ));
        }
        (Some(_), None) => {
            return mismatch("the MCP-Protocol-Version header is missing".into());
        }
        (None, _) if !c.requests.is_empty() => {
            return rpc_error_for(
                StatusCode::BAD_REQUEST,
                id,
                -32602,
                "Invalid params: _meta must name io.modelcontextprotocol/protocolVersion",
            );
        }
        _ => {}
    }
    if let Some(method) = &c.method {
        match header_str(headers, METHOD_HEADER) {
            Some(h) if h == method => {}
            Some(h) => {
                return mismatch(format!(
                    "Mcp-Method is {h:?} but the body's method is {method:?}"
                ));
            }
            None => return mismatch("the Mcp-Method header is missing".into()),
        }
        if matches!(
            method.as_str(),
            "tools/call" | "prompts/get" | "resources/read"
        ) && let Some(name) = &c.name
        {
            let given = header_str(headers, NAME_HEADER).map(rune_proto::headers::decode_value);
            match given {
                Some(Some(h)) if h == name.as_str() => {}
                Some(_) => {
                    return mismatch(format!("Mcp-Name does not match {name:?}"));
                }
                None => return mismatch("the Mcp-Name header is missing".into()),
            }
        }
        if method == "tools/call"
            && let Some(name) = &c.name
            && let Some(params) = sh.server.param_headers(name)
            && !params.is_empty()
        {
            let args = tool_arguments(body);
            let values = |name: &str| {
                headers
                    .get_all(name)
                    .iter()
                    // Bytes that are not visible ASCII match nothing.
                    .map(|v| v.to_str().unwrap_or("\0"))
                    .collect()
            };
            if let Err(why) = params.check(args.as_ref(), values) {
                return mismatch(why);
            }
        }
    }
    let opts = ChannelOptions {
        lock_era: false,
        assume_initialized: None,
    };
    post_ephemeral(sh, body, c, acc, opts, true).await
}

/// The `arguments` of a `tools/call` body (parsed only for a tool with `Mcp-Param-*`
/// headers to check).
fn tool_arguments(body: &[u8]) -> Option<serde_json::Value> {
    #[derive(Deserialize)]
    struct Call {
        params: Option<Params>,
    }
    #[derive(Deserialize)]
    struct Params {
        arguments: Option<serde_json::Value>,
    }
    serde_json::from_slice::<Call>(body).ok()?.params?.arguments
}

/// Serves a POST on a connection of its own, closed when the POST is answered.
async fn post_ephemeral(
    sh: &Arc<Shared>,
    body: &[u8],
    c: Classified,
    acc: Accept,
    opts: ChannelOptions,
    modern: bool,
) -> Response {
    if sh.shutdown.is_cancelled() {
        return rpc_error(
            StatusCode::SERVICE_UNAVAILABLE,
            -32603,
            "The server is shutting down",
        );
    }
    let (tx, rx) = sh.server.open_channel(opts);
    let session = Session::start(
        Arc::from(""),
        false,
        true,
        tx,
        rx,
        sh.opts.event_store.clone(),
    );
    sh.register_ephemeral(&session);
    if sh.shutdown.is_cancelled() {
        session.close(); // the shutdown began since the check above: end at once
    }
    let guard = CloseOnDrop(session.clone());
    post_to(sh, &session, body, &c, acc, modern, Some(guard)).await
}

/// Delivers a body to a session and answers the POST.
async fn post_to(
    sh: &Arc<Shared>,
    session: &Arc<Session>,
    body: &[u8],
    c: &Classified,
    acc: Accept,
    modern: bool,
    guard: Option<CloseOnDrop>,
) -> Response {
    if c.requests.is_empty() {
        if !session.send(body).await {
            return rpc_error(StatusCode::NOT_FOUND, -32001, "Session not found");
        }
        drop(guard);
        return StatusCode::ACCEPTED.into_response();
    }
    let (stream, rx) = match session.open_stream(&c.requests) {
        Ok(x) => x,
        Err(AttachError::DuplicateId) => {
            return rpc_error_for(
                StatusCode::BAD_REQUEST,
                c.requests.first(),
                -32600,
                "Invalid Request: this request id is already in use in this session",
            );
        }
        Err(_) => return rpc_error(StatusCode::NOT_FOUND, -32001, "Session not found"),
    };
    if !session.send(body).await {
        return rpc_error(StatusCode::NOT_FOUND, -32001, "Session not found");
    }
    let priming = session.resumable
        && session
            .version()
            .is_some_and(|v| v >= ProtocolVersion::V2025_11_25);
    respond(sh, session, stream, rx, acc, priming, modern, guard).await
}

/// Waits for the first item of a stream, then answers with JSON (the result came first) or
/// with an SSE stream (anything else came first).
#[allow(clippy::too_many_arguments)]
async fn respond(
    sh: &Arc<Shared>,
    session: &Arc<Session>,
    stream: u64,
    mut rx: mpsc::UnboundedReceiver<Item>,
    acc: Accept,
    priming: bool,
    modern: bool,
    guard: Option<CloseOnDrop>,
) -> Response {
    let ended = || {
        rpc_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            -32603,
            "The connection ended before the request was answered",
        )
    };
    let Some(first) = rx.recv().await else {
        return ended();
    };
    if let Item::Final { data, .. } = &first
        && acc.json
    {
        return json_response(data, modern);
    }
    if !acc.sse {
        // JSON only: everything before the result is dropped.
        let mut item = Some(first);
        loop {
            match item {
                Some(Item::Final { data, .. }) => return json_response(&data, modern),
                Some(Item::End) | None => return ended(),
                Some(_) => {}
            }
            item = rx.recv().await;
        }
    }
    let ids = session.resumable.then_some(stream);
    let mut first_bytes = VecDeque::new();
    if priming && let Some(s) = ids {
        first_bytes.push_back(sse::priming(&sse::event_id(s, 0), sh.opts.sse_retry));
    }
    let encode = |seq: u64, data: &[u8]| {
        let id = ids.map(|s| sse::event_id(s, seq));
        sse::event(id.as_deref(), None, data)
    };
    let rx = match first {
        Item::Event { seq, data } => {
            first_bytes.push_back(encode(seq, &data));
            Some(rx)
        }
        Item::Final { seq, data } => {
            first_bytes.push_back(encode(seq, &data));
            None
        }
        Item::Close | Item::End => None,
    };
    let body = sse::Stream {
        first: first_bytes,
        rx,
        ids,
        skip_upto: 0,
        _guard: guard,
    }
    .into_body();
    sse_response(body)
}

// ---------------------------------------------------------------------------------------
// GET, DELETE, OPTIONS

async fn get_mcp(State(sh): State<Arc<Shared>>, req: axum::extract::Request) -> Response {
    let (mut parts, _) = req.into_parts();
    let headers = parts.headers.clone();
    if let Err(r) = guard(&sh, &headers) {
        return r;
    }
    let upgrade =
        header_str(&headers, "upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    if upgrade {
        if !sh.opts.websocket {
            return rpc_error(StatusCode::BAD_REQUEST, -32600, "WebSocket is not enabled");
        }
        use axum::extract::FromRequestParts as _;
        return match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(ws) => crate::ws::upgrade(ws, sh.server.clone()),
            Err(e) => e.into_response(),
        };
    }
    let modern = header_str(&headers, VERSION_HEADER)
        .and_then(ProtocolVersion::parse)
        .is_some_and(|v| v.era() == Era::Stateless);
    if sh.opts.stateless || modern {
        return method_not_allowed("GET");
    }
    if !accept(&headers).sse {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            -32600,
            "Not Acceptable: Accept must include text/event-stream",
        );
    }
    let session = match session_of(&sh, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    session.touch();
    if let Some(last) = header_str(&headers, LAST_EVENT_HEADER) {
        let Some((stream, after)) = sse::parse_event_id(last) else {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                -32600,
                &format!("Bad Request: Last-Event-ID {last:?} is not an event id of this server"),
            );
        };
        let resumed = match session.resume(stream, after).await {
            Ok(r) => r,
            Err(e) => {
                return rpc_error(
                    StatusCode::NOT_FOUND,
                    -32600,
                    &format!("Cannot resume: {e}"),
                );
            }
        };
        let mut first = VecDeque::new();
        let mut upto = after;
        for (seq, data) in &resumed.missed {
            first.push_back(sse::event(Some(&sse::event_id(stream, *seq)), None, data));
            upto = upto.max(*seq);
        }
        let rx = if resumed.done { None } else { resumed.rx };
        return sse_response(
            sse::Stream {
                first,
                rx,
                ids: Some(stream),
                skip_upto: upto,
                _guard: None,
            }
            .into_body(),
        );
    }
    match session.attach_standalone() {
        Ok(rx) => sse_response(
            sse::Stream {
                first: VecDeque::new(),
                rx: Some(rx),
                ids: Some(0),
                skip_upto: 0,
                _guard: None,
            }
            .into_body(),
        ),
        Err(AttachError::StandaloneTaken) => rpc_error(
            StatusCode::CONFLICT,
            -32600,
            "Conflict: only one standalone SSE stream is allowed per session",
        ),
        Err(e) => rpc_error(StatusCode::NOT_FOUND, -32001, &e.to_string()),
    }
}

fn method_not_allowed(method: &str) -> Response {
    let mut r = rpc_error(
        StatusCode::METHOD_NOT_ALLOWED,
        -32600,
        &format!("Method Not Allowed: {method} is not served in this mode"),
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    r
}

fn session_of(sh: &Shared, headers: &HeaderMap) -> Result<Arc<Session>, Response> {
    let Some(sid) = header_str(headers, SESSION_HEADER) else {
        return Err(rpc_error(
            StatusCode::BAD_REQUEST,
            -32600,
            "Bad Request: Mcp-Session-Id header is required",
        ));
    };
    lock(&sh.sessions).get(sid).cloned().ok_or_else(|| {
        rpc_error(
            StatusCode::NOT_FOUND,
            -32001,
            "Session not found: initialize a new session",
        )
    })
}

async fn delete_mcp(State(sh): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(r) = guard(&sh, &headers) {
        return r;
    }
    if sh.opts.stateless {
        return method_not_allowed("DELETE");
    }
    let session = match session_of(&sh, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    lock(&sh.sessions).remove(&session.id);
    session.close();
    StatusCode::OK.into_response()
}

async fn options_mcp(State(sh): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(r) = check_host(&headers, &sh.opts.allowed_hosts) {
        return r;
    }
    let allow = if sh.opts.stateless {
        "POST, OPTIONS"
    } else {
        "GET, POST, DELETE, OPTIONS"
    };
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    let _ = Method::OPTIONS;
    r
}

async fn resource_metadata(State(sh): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(r) = check_host(&headers, &sh.opts.allowed_hosts) {
        return r;
    }
    match sh.opts.auth.as_ref().and_then(|a| a.metadata.as_ref()) {
        Some(m) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_string(m).unwrap_or_default(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

// ---------------------------------------------------------------------------------------
// Legacy HTTP+SSE (2024-11-05)

#[derive(Deserialize)]
struct SessionQuery {
    #[serde(rename = "sessionId")]
    session_id: String,
}

async fn legacy_get(State(sh): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(r) = guard(&sh, &headers) {
        return r;
    }
    let session = match new_session(&sh) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let rx = match session.attach_standalone() {
        Ok(rx) => rx,
        Err(e) => return rpc_error(StatusCode::INTERNAL_SERVER_ERROR, -32603, &e.to_string()),
    };
    let mut first = VecDeque::new();
    first.push_back(sse::named(
        "endpoint",
        &format!("/messages?sessionId={}", session.id),
    ));
    // The session lives as long as this stream.
    let guard = CloseOnDrop(session.clone());
    sse_response(
        sse::Stream {
            first,
            rx: Some(rx),
            ids: None,
            skip_upto: 0,
            _guard: Some(guard),
        }
        .into_body(),
    )
}

async fn legacy_post(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<SessionQuery>,
    body: Bytes,
) -> Response {
    if let Err(r) = guard(&sh, &headers) {
        return r;
    }
    let Some(session) = lock(&sh.sessions).get(q.session_id.as_str()).cloned() else {
        return rpc_error(StatusCode::NOT_FOUND, -32001, "Session not found");
    };
    if body.len() > sh.opts.max_body_bytes {
        return rpc_error(StatusCode::PAYLOAD_TOO_LARGE, -32600, "Payload Too Large");
    }
    if let Err(r) = classify(&body) {
        return r;
    }
    session.touch();
    if !session.send(&body).await {
        return rpc_error(StatusCode::NOT_FOUND, -32001, "Session not found");
    }
    StatusCode::ACCEPTED.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_header_parsing() {
        let mut h = HeaderMap::new();
        let a = accept(&h);
        assert!(a.json && a.sse);
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        let a = accept(&h);
        assert!(!a.json && a.sse);
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json;q=0.9, text/event-stream"),
        );
        let a = accept(&h);
        assert!(a.json && a.sse);
        h.insert(header::ACCEPT, HeaderValue::from_static("text/html"));
        let a = accept(&h);
        assert!(!a.json && !a.sse);
    }

    #[test]
    fn classification() {
        let c = classify(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#)
            .expect("valid");
        assert_eq!(c.modern_version.as_deref(), Some("2026-07-28"));
        assert_eq!(c.name.as_deref(), Some("x"));
        assert_eq!(c.requests, [Id::Int(1)]);
        let c = classify(br#"[{"jsonrpc":"2.0","id":"a","method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"}]"#)
            .expect("valid");
        assert!(c.batch && c.modern_version.is_none());
        assert_eq!(c.requests, [Id::Str("a".into())]);
        assert!(classify(b"{nope").is_err());
        assert!(classify(b"[]").is_err());
    }
}
