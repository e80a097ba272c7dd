//! Streamable HTTP (revisions 2025-03-26 … 2025-11-25, and the stateless 2026-07-28).
//!
//! On a 2026-07-28 connection every POST also carries `Mcp-Method` and, on `tools/call`,
//! `prompts/get` and `resources/read`, `Mcp-Name`; there is no session, no GET stream and no
//! DELETE (the server mints no session id, and the engine never calls `ready`).
//!
//! - Every message is one POST to the endpoint, with `Accept: application/json,
//!   text/event-stream`. A request's answer comes back as a JSON body or as an SSE stream that
//!   may carry the server's own requests and notifications before the response.
//! - `Mcp-Session-Id` from the `initialize` answer is sent on every later message, and
//!   `MCP-Protocol-Version` once the handshake chose one; closing DELETEs the session.
//! - After the handshake a GET opens the stream for server-initiated messages (a 405 means
//!   the server has none).
//! - Resumption (SEP-1699): each stream remembers its last event id and the server's
//!   `retry:`. When a POST's stream ends before its response, the client waits `retry` (1 s
//!   by default) and GETs with `Last-Event-ID`, until the response arrives.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Response, StatusCode, Url};
use rune_proto::headers::encode_value;
use rune_proto::{Era, Id, Message, ProtocolVersion};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::sse::Parser;
use super::{BoxFut, Kind, Outgoing, Sink, Transport};
use crate::error::Error;

const SESSION: HeaderName = HeaderName::from_static("mcp-session-id");
const VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
const METHOD: HeaderName = HeaderName::from_static("mcp-method");
const NAME: HeaderName = HeaderName::from_static("mcp-name");
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
const POST_ACCEPT: HeaderValue = HeaderValue::from_static("application/json, text/event-stream");
const SSE: HeaderValue = HeaderValue::from_static("text/event-stream");
const JSON: HeaderValue = HeaderValue::from_static("application/json");
/// The wait before reconnecting when the server gave no `retry:`.
const DEFAULT_RETRY: Duration = Duration::from_secs(1);

/// The HTTP settings a [`ClientBuilder`](crate::ClientBuilder) collects.
#[derive(Debug, Clone)]
pub(crate) struct HttpOptions {
    pub headers: HeaderMap,
    pub listen: bool,
    pub max_message_bytes: usize,
    pub connect_timeout: Duration,
    pub max_reconnects: u32,
}

struct Inner {
    client: reqwest::Client,
    url: Url,
    opts: HttpOptions,
    session: Mutex<Option<HeaderValue>>,
    version: Mutex<Option<HeaderValue>>,
    /// The connection speaks 2026-07-28: `Mcp-Method` and `Mcp-Name` go on every POST.
    stateless: AtomicBool,
    sink: Sink,
    stop: CancellationToken,
    /// The SSE streams of requests still waiting for their response, by request id.
    streams: Mutex<HashMap<Id, CancellationToken>>,
}

/// A Streamable HTTP connection.
pub(crate) struct Http(Arc<Inner>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An error with its chain of causes (reqwest's own text is terse).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Checks the URL and builds the HTTP client; the returned closure starts the transport.
pub(crate) fn connect(
    url: &str,
    opts: HttpOptions,
) -> Result<impl FnOnce(Sink) -> Arc<dyn Transport> + use<>, Error> {
    let url = Url::parse(url).map_err(|e| Error::InvalidTarget(format!("{url}: {e}").into()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::InvalidTarget(
            format!("{url}: not an http(s) URL").into(),
        ));
    }
    let client = reqwest::Client::builder()
        .connect_timeout(opts.connect_timeout)
        .build()
        .map_err(|e| Error::transport(chain(&e)))?;
    Ok(move |sink: Sink| {
        Arc::new(Http(Arc::new(Inner {
            client,
            url,
            opts,
            session: Mutex::new(None),
            version: Mutex::new(None),
            stateless: AtomicBool::new(false),
            sink,
            stop: CancellationToken::new(),
            streams: Mutex::new(HashMap::new()),
        }))) as Arc<dyn Transport>
    })
}

/// How reading one SSE response ended.
enum StreamEnd {
    /// The response we waited for arrived.
    Answered,
    /// The client is closing, or no longer waits.
    Stopped,
    /// The server ended the stream (or it broke); the count of events read.
    Ended(usize),
}

impl Inner {
    fn headers(&self, mut req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        req = req.headers(self.opts.headers.clone());
        if let Some(s) = lock(&self.session).clone() {
            req = req.header(SESSION, s);
        }
        if let Some(v) = lock(&self.version).clone() {
            req = req.header(VERSION, v);
        }
        req
    }

    async fn send_request(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<Response, Error> {
        tokio::select! {
            r = req.send() => r.map_err(|e| Error::transport(format!("{what} {}: {}", self.url, chain(&e)))),
            _ = self.stop.cancelled() => Err(Error::closed("the client closed the connection")),
        }
    }

    async fn post(self: &Arc<Self>, msg: Outgoing) -> Result<(), Error> {
        let had_session = lock(&self.session).is_some();
        let req = self
            .headers(self.client.post(self.url.clone()))
            .header(CONTENT_TYPE, JSON)
            .header(ACCEPT, POST_ACCEPT);
        let req = if self.stateless.load(Ordering::Acquire) {
            let mut req = mirror_headers(req, &msg.bytes);
            if let Kind::Request { headers, .. } = &msg.kind {
                for (name, value) in headers {
                    match (
                        HeaderName::from_bytes(name.as_bytes()),
                        HeaderValue::from_str(value),
                    ) {
                        (Ok(n), Ok(v)) => req = req.header(n, v),
                        _ => debug!("not a valid header, left out: {name}: {value}"),
                    }
                }
            }
            req
        } else {
            req
        }
        .body(msg.bytes);
        let resp = self.send_request(req, "POST").await?;
        let status = resp.status();
        if let Kind::Request {
            initialize: true, ..
        } = msg.kind
            && let Some(s) = resp.headers().get(SESSION)
        {
            *lock(&self.session) = Some(s.clone());
        }
        if !status.is_success() {
            let initialize = matches!(
                msg.kind,
                Kind::Request {
                    initialize: true,
                    ..
                }
            );
            return Err(self.status_error(resp, had_session, initialize).await);
        }
        let Kind::Request { id, .. } = msg.kind else {
            // A notification or an answer: 202, and nothing to read.
            return Ok(());
        };
        if status == StatusCode::ACCEPTED {
            return Err(Error::protocol(
                "the server accepted a request without answering it (HTTP 202)",
            ));
        }
        if is_sse(&resp) {
            let token = self.stop.child_token();
            lock(&self.streams).insert(id.clone(), token.clone());
            tokio::spawn(request_stream(self.clone(), resp, id, token));
            return Ok(());
        }
        let body = self
            .read_body(resp, self.opts.max_message_bytes, false)
            .await?;
        if self.sink.message(&body, Some(&id)) {
            Ok(())
        } else {
            Err(Error::protocol(format!(
                "the server's answer did not hold the response to request {id}"
            )))
        }
    }

    /// Reads a whole body. Past `max` bytes it fails, or with `truncate` keeps the start.
    async fn read_body(
        &self,
        resp: Response,
        max: usize,
        truncate: bool,
    ) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        let mut body = resp.bytes_stream();
        loop {
            let chunk = tokio::select! {
                c = body.next() => c,
                _ = self.stop.cancelled() => return Err(Error::closed("the client closed the connection")),
            };
            let Some(chunk) = chunk else { break };
            let chunk = chunk
                .map_err(|e| Error::transport(format!("reading the answer: {}", chain(&e))))?;
            if out.len() + chunk.len() > max {
                if truncate {
                    out.extend_from_slice(&chunk[..max - out.len()]);
                    break;
                }
                return Err(Error::protocol(format!(
                    "the server's answer is longer than {max} bytes"
                )));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// The error for a status that is not a success: the JSON-RPC error in the body if there
    /// is one, else the status and the start of the body.
    ///
    /// An `initialize` answered 400, 404 or 405 stays an [`Error::Http`] (the JSON-RPC error
    /// in its body, if any, becomes its message) unless the error lists the revisions the
    /// server speaks: that status is how a server without Streamable HTTP says so, and the
    /// builder falls back to the legacy HTTP+SSE transport on it.
    async fn status_error(&self, resp: Response, had_session: bool, initialize: bool) -> Error {
        let status = resp.status();
        if status == StatusCode::NOT_FOUND && had_session {
            return Error::SessionExpired;
        }
        let body = self
            .read_body(resp, 64 * 1024, true)
            .await
            .unwrap_or_default();
        if let Ok(Message::ErrorResponse { error, .. }) = Message::parse(&body) {
            let fallback = initialize && is_fallback_status(status.as_u16());
            let lists_versions = error
                .data
                .as_ref()
                .is_some_and(|d| d.get("supported").is_some());
            if !fallback || lists_versions {
                return Error::Rpc(error);
            }
            return Error::Http {
                status: status.as_u16(),
                message: error.to_string().into(),
            };
        }
        let text = String::from_utf8_lossy(&body[..body.len().min(300)])
            .trim()
            .to_owned();
        Error::Http {
            status: status.as_u16(),
            message: if text.is_empty() {
                status.canonical_reason().unwrap_or("").into()
            } else {
                text.into()
            },
        }
    }

    async fn get(&self, last_event_id: Option<&str>) -> Result<Response, Error> {
        let mut req = self
            .headers(self.client.get(self.url.clone()))
            .header(ACCEPT, SSE);
        if let Some(id) = last_event_id.and_then(|s| HeaderValue::from_str(s).ok()) {
            req = req.header(LAST_EVENT_ID, id);
        }
        self.send_request(req, "GET").await
    }

    /// Reads one SSE response, dispatching its messages, until it ends, `expect`'s response
    /// arrives, or `token` is cancelled.
    async fn read_stream(
        &self,
        resp: Response,
        parser: &mut Parser,
        expect: Option<&Id>,
        token: &CancellationToken,
    ) -> StreamEnd {
        parser.new_response();
        let mut body = resp.bytes_stream();
        let mut events = 0;
        let mut answered = false;
        loop {
            let chunk = tokio::select! {
                c = body.next() => c,
                _ = token.cancelled() => return StreamEnd::Stopped,
            };
            match chunk {
                None => return StreamEnd::Ended(events),
                Some(Err(e)) => {
                    debug!("an SSE stream from {} broke: {}", self.url, chain(&e));
                    return StreamEnd::Ended(events);
                }
                Some(Ok(bytes)) => {
                    parser.feed(&bytes, &mut |event| {
                        events += 1;
                        let is_message = event.kind.is_empty() || event.kind == "message";
                        if is_message && !event.data.iter().all(u8::is_ascii_whitespace) {
                            answered |= self.sink.message(&event.data, expect);
                        }
                    });
                    if answered {
                        return StreamEnd::Answered;
                    }
                    if self.sink.is_gone() {
                        return StreamEnd::Stopped;
                    }
                }
            }
        }
    }

    fn retry(parser: &Parser) -> Duration {
        parser
            .retry_ms()
            .map_or(DEFAULT_RETRY, Duration::from_millis)
    }

    /// Waits `delay`; false when the token was cancelled first.
    async fn pause(delay: Duration, token: &CancellationToken) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = token.cancelled() => false,
        }
    }

    async fn delete_session(&self) {
        let Some(session) = lock(&self.session).take() else {
            return;
        };
        let mut req = self
            .client
            .delete(self.url.clone())
            .headers(self.opts.headers.clone())
            .header(SESSION, session)
            .timeout(Duration::from_secs(5));
        if let Some(v) = lock(&self.version).clone() {
            req = req.header(VERSION, v);
        }
        match req.send().await {
            Ok(r) if r.status().is_success() || r.status() == StatusCode::METHOD_NOT_ALLOWED => {}
            Ok(r) => debug!("DELETE of the session answered {}", r.status()),
            Err(e) => debug!("DELETE of the session failed: {}", chain(&e)),
        }
    }
}

/// Adds the 2026-07-28 headers that mirror the body: `Mcp-Method` on every message,
/// `Mcp-Name` (`params.name`, or `params.uri` for `resources/read`) on the three methods that
/// name what they act on.
fn mirror_headers(mut req: reqwest::RequestBuilder, body: &[u8]) -> reqwest::RequestBuilder {
    let Ok(Value::Object(msg)) = serde_json::from_slice::<Value>(body) else {
        return req;
    };
    let Some(method) = msg.get("method").and_then(Value::as_str) else {
        return req;
    };
    if let Ok(v) = HeaderValue::from_str(&encode_value(method)) {
        req = req.header(METHOD, v);
    }
    let key = match method {
        "tools/call" | "prompts/get" => "name",
        "resources/read" => "uri",
        _ => return req,
    };
    if let Some(name) = msg
        .get("params")
        .and_then(|p| p.get(key))
        .and_then(Value::as_str)
        && let Ok(v) = HeaderValue::from_str(&encode_value(name))
    {
        req = req.header(NAME, v);
    }
    req
}

/// The statuses of an `initialize` POST after which the client tries the legacy HTTP+SSE
/// transport (a server that has no Streamable HTTP endpoint at the URL).
pub(crate) fn is_fallback_status(status: u16) -> bool {
    matches!(status, 400 | 404 | 405)
}

pub(crate) fn is_sse(resp: &Response) -> bool {
    resp.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("text/event-stream")
        })
}

/// Reads a request's SSE stream, resuming it with GET + `Last-Event-ID` until the response
/// arrives.
async fn request_stream(inner: Arc<Inner>, first: Response, id: Id, token: CancellationToken) {
    let mut parser = Parser::new(inner.opts.max_message_bytes);
    let mut resp = first;
    let mut failures = 0;
    let failure = 'outer: loop {
        match inner
            .read_stream(resp, &mut parser, Some(&id), &token)
            .await
        {
            StreamEnd::Answered | StreamEnd::Stopped => break None,
            StreamEnd::Ended(0) => failures += 1,
            StreamEnd::Ended(_) => failures = 0,
        }
        let Some(last) = parser.last_event_id().map(str::to_owned) else {
            break Some(Error::protocol(format!(
                "the server ended the stream of request {id} before answering, \
                 with no event id to resume from"
            )));
        };
        loop {
            if failures > inner.opts.max_reconnects {
                break 'outer Some(Error::protocol(format!(
                    "the stream of request {id} could not be resumed"
                )));
            }
            if !Inner::pause(Inner::retry(&parser), &token).await {
                break 'outer None;
            }
            debug!("resuming the stream of request {id} after event {last}");
            match inner.get(Some(&last)).await {
                Ok(r) if r.status().is_success() && is_sse(&r) => {
                    resp = r;
                    break;
                }
                Ok(r) if r.status() == StatusCode::METHOD_NOT_ALLOWED => {
                    break 'outer Some(Error::protocol(format!(
                        "the stream of request {id} ended before its response, and the \
                         server does not allow resuming it (GET answered 405)"
                    )));
                }
                Ok(r) => {
                    debug!(
                        "resuming the stream of request {id}: GET answered {}",
                        r.status()
                    );
                    failures += 1;
                }
                Err(Error::Closed(_)) => break 'outer None,
                Err(e) => {
                    debug!("resuming the stream of request {id}: {e}");
                    failures += 1;
                }
            }
        }
    };
    lock(&inner.streams).remove(&id);
    if let Some(e) = failure {
        inner.sink.fail(&id, e);
    }
}

/// The GET stream for server-initiated messages; reconnects while the server keeps it up.
async fn listen(inner: Arc<Inner>, mut opened: Option<oneshot::Sender<()>>) {
    let mut parser = Parser::new(inner.opts.max_message_bytes);
    let mut failures = 0;
    let token = inner.stop.clone();
    loop {
        let last = parser.last_event_id().map(str::to_owned);
        let answer = inner.get(last.as_deref()).await;
        if let Some(tx) = opened.take() {
            let _ = tx.send(());
        }
        match answer {
            Ok(r) if r.status().is_success() && is_sse(&r) => {
                match inner.read_stream(r, &mut parser, None, &token).await {
                    StreamEnd::Stopped | StreamEnd::Answered => return,
                    StreamEnd::Ended(0) => failures += 1,
                    StreamEnd::Ended(_) => failures = 0,
                }
            }
            Ok(r) if r.status() == StatusCode::METHOD_NOT_ALLOWED => {
                debug!("the server offers no stream for its own messages (GET answered 405)");
                return;
            }
            Ok(r) => {
                debug!(
                    "the server's GET stream is unavailable (HTTP {}); going on without it",
                    r.status()
                );
                return;
            }
            Err(Error::Closed(_)) => return,
            Err(e) => {
                debug!("the server's GET stream: {e}");
                failures += 1;
            }
        }
        if failures > inner.opts.max_reconnects {
            warn!("the server's GET stream keeps failing; going on without it");
            return;
        }
        if !Inner::pause(Inner::retry(&parser), &token).await {
            return;
        }
    }
}

impl Transport for Http {
    fn send(&self, msg: Outgoing) -> BoxFut<'_, Result<(), Error>> {
        Box::pin(self.0.post(msg))
    }

    fn negotiated(&self, version: ProtocolVersion) {
        *lock(&self.0.version) = Some(HeaderValue::from_static(version.as_str()));
        self.0
            .stateless
            .store(version.era() == Era::Stateless, Ordering::Release);
    }

    fn unnegotiated(&self) {
        *lock(&self.0.version) = None;
        self.0.stateless.store(false, Ordering::Release);
    }

    fn ready(&self) -> BoxFut<'_, ()> {
        Box::pin(async move {
            if !self.0.opts.listen {
                return;
            }
            let (tx, rx) = oneshot::channel();
            tokio::spawn(listen(self.0.clone(), Some(tx)));
            // A server that is slow to answer the GET does not hold the connection up long.
            let wait = self.0.opts.connect_timeout.min(Duration::from_secs(3));
            let _ = tokio::time::timeout(wait, rx).await;
        })
    }

    fn forget(&self, id: &Id) {
        if let Some(token) = lock(&self.0.streams).remove(id) {
            token.cancel();
        }
    }

    fn close(&self) -> BoxFut<'_, ()> {
        self.0.stop.cancel();
        Box::pin(self.0.delete_session())
    }

    fn shutdown(&self) {
        self.0.stop.cancel();
        if lock(&self.0.session).is_some() {
            let inner = self.0.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move { inner.delete_session().await });
            }
        }
    }
}
