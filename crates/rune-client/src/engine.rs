//! The engine every transport shares: ids, the table of calls waiting for an answer, dispatch
//! of what the server sends, and the host's handlers for server requests.
//!
//! Incoming messages are dispatched on the transport's own task, without a hop: a response
//! completes its caller's `oneshot`, a progress notification runs its call's callback, a
//! server request starts a task that runs the host's handler and sends the answer.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use futures_util::FutureExt;
use rune_proto::jsonrpc::{self, code};
use rune_proto::model::{
    CancelledParams, CreateMessageParams, CreateMessageResult, ElicitAction, ElicitRequestParams,
    ElicitResult, EmptyResult, JsonObject, ListRootsResult, ListenFilter, ListenParams,
    ProgressParams, Root, meta_keys,
};
use rune_proto::{ErrorObject, Id, Message, RawValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::AbortHandle;
use tracing::{debug, warn};

use crate::error::Error;
use crate::notification::Notification;
use crate::transport::{Kind, Outgoing, Transport};

/// A boxed `Send + 'static` future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
/// A handler for one kind of server request.
pub(crate) type Handler<P, R> = Arc<dyn Fn(P) -> BoxFuture<Result<R, ErrorObject>> + Send + Sync>;
/// The `roots/list` handler.
pub(crate) type RootsHandler =
    Arc<dyn Fn() -> BoxFuture<Result<Vec<Root>, ErrorObject>> + Send + Sync>;
/// The host's notification callback.
pub(crate) type NotificationFn = Arc<dyn Fn(Notification) + Send + Sync>;
/// A call's progress callback.
pub type ProgressFn = Arc<dyn Fn(ProgressParams) + Send + Sync>;

/// What the host provides for server→client requests and notifications.
#[derive(Clone, Default)]
pub(crate) struct Handlers {
    pub roots: Option<RootsHandler>,
    pub sampling: Option<Handler<CreateMessageParams, CreateMessageResult>>,
    pub elicitation: Option<Handler<ElicitRequestParams, ElicitResult>>,
    pub notification: Option<NotificationFn>,
}

struct Pending {
    tx: oneshot::Sender<Result<Box<RawValue>, Error>>,
    progress: Option<ProgressFn>,
}

#[derive(Default)]
struct State {
    pending: HashMap<Id, Pending>,
    /// Set once: why the connection closed. Checked under the same lock as `pending`, so a
    /// call never waits on a connection that closed while it was being registered.
    closed: Option<Arc<str>>,
}

/// One connection's engine.
pub(crate) struct Shared {
    transport: Arc<dyn Transport>,
    next_id: AtomicI64,
    state: Mutex<State>,
    /// Server requests being served, by id, so `notifications/cancelled` can abort them.
    served: Mutex<HashMap<Id, AbortHandle>>,
    handlers: Handlers,
    /// The `_meta` every request carries on a 2026-07-28 connection (protocol version,
    /// client capabilities, client info); `None` on a handshake connection.
    envelope: Mutex<Option<JsonObject>>,
    /// Open `subscriptions/listen` requests (2026-07-28), with the waiter for their
    /// `notifications/subscriptions/acknowledged` until it came.
    listens: Mutex<HashMap<Id, Option<oneshot::Sender<ListenFilter>>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while a lock was held cannot leave these maps half-updated; go on.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The handle a transport pushes incoming messages into. It does not keep the engine alive.
#[derive(Clone)]
pub(crate) struct Sink(Weak<Shared>);

impl Sink {
    /// Dispatches one message (or batch). Returns true when it held the response to `expect`.
    pub(crate) fn message(&self, bytes: &[u8], expect: Option<&Id>) -> bool {
        match self.0.upgrade() {
            Some(shared) => shared.dispatch(bytes, expect),
            None => false,
        }
    }
    /// The request will get no answer from this transport.
    pub(crate) fn fail(&self, id: &Id, error: Error) {
        if let Some(shared) = self.0.upgrade() {
            shared.complete(id, Err(error));
        }
    }
    /// The connection is gone; every waiting call fails with `reason`.
    pub(crate) fn closed(&self, reason: &str) {
        if let Some(shared) = self.0.upgrade() {
            shared.mark_closed(reason);
        }
    }
    /// The engine is gone (the client was dropped).
    pub(crate) fn is_gone(&self) -> bool {
        self.0.strong_count() == 0
    }
}

/// The parts of a request the engine needs beyond its method and params.
#[derive(Default, Clone)]
pub(crate) struct RequestOpts {
    pub timeout: Option<Duration>,
    pub progress: Option<ProgressFn>,
    pub meta: Option<JsonObject>,
    /// HTTP headers that mirror the params (see [`Kind::Request`]).
    pub headers: Vec<(String, String)>,
}

impl Shared {
    /// Builds the engine and its transport together (the transport gets a [`Sink`] to it).
    pub(crate) fn new(
        handlers: Handlers,
        start: impl FnOnce(Sink) -> Arc<dyn Transport>,
    ) -> Arc<Shared> {
        Arc::new_cyclic(|weak| Shared {
            transport: start(Sink(weak.clone())),
            next_id: AtomicI64::new(0),
            state: Mutex::new(State::default()),
            served: Mutex::new(HashMap::new()),
            handlers,
            envelope: Mutex::new(None),
            listens: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn transport(&self) -> &dyn Transport {
        &*self.transport
    }

    /// Makes every later request carry `envelope` in its `_meta` (2026-07-28), or stops it.
    pub(crate) fn set_envelope(&self, envelope: Option<JsonObject>) {
        *lock(&self.envelope) = envelope;
    }

    /// Whether this connection speaks the stateless revision (2026-07-28).
    pub(crate) fn is_stateless(&self) -> bool {
        lock(&self.envelope).is_some()
    }

    /// Fulfils one MRTR input request (2026-07-28) with the host's handler, returning the
    /// whole result object the server gets back in `inputResponses`.
    pub(crate) async fn fulfil(&self, method: &str, params: Option<Value>) -> Result<Value, Error> {
        let missing = || {
            Error::protocol(format!(
                "the server asked for {method}, which this client has no handler for"
            ))
        };
        let out = match method {
            "roots/list" => {
                let h = self.handlers.roots.clone().ok_or_else(missing)?;
                let roots = h().await.map_err(Error::Rpc)?;
                serde_json::to_value(ListRootsResult { roots, meta: None })
            }
            "sampling/createMessage" => {
                let h = self.handlers.sampling.clone().ok_or_else(missing)?;
                let p = decode_value::<CreateMessageParams>(params).map_err(Error::Rpc)?;
                serde_json::to_value(h(p).await.map_err(Error::Rpc)?)
            }
            "elicitation/create" => {
                let h = self.handlers.elicitation.clone().ok_or_else(missing)?;
                let p = decode_value::<ElicitRequestParams>(params).map_err(Error::Rpc)?;
                let form = p.mode.as_deref().is_none_or(|m| m == "form");
                let schema = if form {
                    p.requested_schema.clone()
                } else {
                    None
                };
                let mut r = h(p).await.map_err(Error::Rpc)?;
                if let (Some(schema), ElicitAction::Accept) = (schema, r.action) {
                    let content = r.content.get_or_insert_with(JsonObject::new);
                    crate::elicit::apply_defaults(&schema, content);
                }
                serde_json::to_value(r)
            }
            other => {
                return Err(Error::protocol(format!(
                    "the server asked for input with an unknown method {other:?}"
                )));
            }
        };
        out.map_err(|e| Error::protocol(format!("the answer to {method} does not encode: {e}")))
    }

    /// The id of the next request.
    pub(crate) fn next_id(&self) -> Id {
        Id::Int(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Sends a request and waits for its answer, raw.
    pub(crate) async fn request_raw<P: Serialize + ?Sized>(
        self: &Arc<Self>,
        method: &str,
        params: Option<&P>,
        opts: RequestOpts,
    ) -> Result<Box<RawValue>, Error> {
        self.request_raw_as(self.next_id(), method, params, opts)
            .await
    }

    /// Opens a `subscriptions/listen` request under `id` and runs it until it ends (no
    /// timeout); `ack` gets the filter the server acknowledged. Dropping the future ends the
    /// subscription (`notifications/cancelled`, or the HTTP response closed).
    pub(crate) async fn listen(
        self: &Arc<Self>,
        id: Id,
        params: &ListenParams,
        ack: oneshot::Sender<ListenFilter>,
    ) -> Result<(), Error> {
        lock(&self.listens).insert(id.clone(), Some(ack));
        struct Unlisten<'a>(&'a Shared, &'a Id);
        impl Drop for Unlisten<'_> {
            fn drop(&mut self) {
                lock(&self.0.listens).remove(self.1);
            }
        }
        let _unlisten = Unlisten(self, &id);
        let opts = RequestOpts::default();
        self.request_raw_as(id.clone(), "subscriptions/listen", Some(params), opts)
            .await
            .map(|_| ())
    }

    async fn request_raw_as<P: Serialize + ?Sized>(
        self: &Arc<Self>,
        id: Id,
        method: &str,
        params: Option<&P>,
        opts: RequestOpts,
    ) -> Result<Box<RawValue>, Error> {
        let envelope = lock(&self.envelope).clone();
        let bytes = encode_request(&id, method, params, &opts, envelope.as_ref())?;
        let (tx, rx) = oneshot::channel();
        {
            let mut st = lock(&self.state);
            if let Some(why) = &st.closed {
                return Err(Error::Closed(why.clone()));
            }
            st.pending.insert(
                id.clone(),
                Pending {
                    tx,
                    progress: opts.progress,
                },
            );
        }
        let initialize = method == "initialize";
        let mut guard = CallGuard {
            shared: self,
            id: &id,
            // `initialize` and `server/discover` must never be cancelled.
            cancel: !initialize && method != "server/discover",
            reason: "the caller dropped the request",
            armed: true,
        };
        let work = async {
            let msg = Outgoing {
                bytes,
                kind: Kind::Request {
                    id: id.clone(),
                    initialize,
                    headers: opts.headers,
                },
            };
            if let Err(e) = self.transport.send(msg).await {
                // The server did not take it: forget it, nothing to cancel.
                lock(&self.state).pending.remove(&id);
                return Err(e);
            }
            match rx.await {
                Ok(r) => r,
                Err(_) => Err(Error::closed("the connection closed")),
            }
        };
        let out = match opts.timeout {
            Some(limit) => match tokio::time::timeout(limit, work).await {
                Ok(r) => r,
                Err(_) => {
                    guard.reason = "timed out";
                    return Err(Error::Timeout(limit));
                }
            },
            None => work.await,
        };
        // Every way `work` ends has removed the entry already.
        guard.armed = false;
        out
    }

    /// Sends a request and decodes its result.
    pub(crate) async fn request<P: Serialize + ?Sized, R: DeserializeOwned>(
        self: &Arc<Self>,
        method: &str,
        params: Option<&P>,
        opts: RequestOpts,
    ) -> Result<R, Error> {
        let raw = self.request_raw(method, params, opts).await?;
        serde_json::from_str(raw.get())
            .map_err(|e| Error::protocol(format!("the result of {method} does not decode: {e}")))
    }

    /// Sends a notification.
    pub(crate) async fn notify<P: Serialize + ?Sized>(
        &self,
        method: &str,
        params: Option<&P>,
    ) -> Result<(), Error> {
        if let Some(why) = &lock(&self.state).closed {
            return Err(Error::Closed(why.clone()));
        }
        let mut bytes = Vec::with_capacity(64);
        match params {
            Some(p) => {
                jsonrpc::write_notification(&mut bytes, method, p);
                if bytes.is_empty() {
                    return Err(Error::protocol(format!(
                        "the params of {method} could not be serialized"
                    )));
                }
            }
            None => {
                bytes.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"method\":");
                write_json(&mut bytes, method);
                bytes.push(b'}');
            }
        }
        self.transport
            .send(Outgoing {
                bytes,
                kind: Kind::OneWay,
            })
            .await
    }

    /// Sends without waiting, from synchronous code (answers, cancellations). A stream
    /// transport queues it at once, ahead of anything sent after; HTTP posts it from a task.
    fn spawn_send(self: &Arc<Self>, bytes: Vec<u8>) {
        let msg = Outgoing {
            bytes,
            kind: Kind::OneWay,
        };
        let Err(msg) = self.transport.try_send(msg) else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            debug!("no runtime to send a message on; dropped");
            return;
        };
        let shared = self.clone();
        rt.spawn(async move {
            if let Err(e) = shared.transport.send(msg).await {
                debug!("sending a message failed: {e}");
            }
        });
    }

    /// Marks the connection closed: every waiting call fails, served requests are aborted.
    pub(crate) fn mark_closed(&self, reason: &str) {
        let pending = {
            let mut st = lock(&self.state);
            if st.closed.is_none() {
                st.closed = Some(reason.into());
            }
            std::mem::take(&mut st.pending)
        };
        let why: Arc<str> = reason.into();
        for (_, p) in pending {
            let _ = p.tx.send(Err(Error::Closed(why.clone())));
        }
        for (_, task) in lock(&self.served).drain() {
            task.abort();
        }
    }

    /// Why the connection closed, if it did.
    pub(crate) fn closed_reason(&self) -> Option<Arc<str>> {
        lock(&self.state).closed.clone()
    }

    /// Hands an answer to the call waiting for it. Returns false for an unknown id.
    fn complete(&self, id: &Id, result: Result<Box<RawValue>, Error>) -> bool {
        let entry = lock(&self.state).pending.remove(id);
        match entry {
            Some(p) => {
                let _ = p.tx.send(result);
                true
            }
            None => false,
        }
    }

    fn dispatch(self: &Arc<Self>, bytes: &[u8], expect: Option<&Id>) -> bool {
        if jsonrpc::is_batch(bytes) {
            let items = match jsonrpc::split_batch(bytes) {
                Ok(items) => items,
                Err(e) => {
                    warn!("the server sent a malformed batch, ignored: {e}");
                    return false;
                }
            };
            let mut hit = false;
            for item in items {
                hit |= self.dispatch_one(item.get().as_bytes(), expect);
            }
            return hit;
        }
        self.dispatch_one(bytes, expect)
    }

    fn dispatch_one(self: &Arc<Self>, bytes: &[u8], expect: Option<&Id>) -> bool {
        match Message::parse(bytes) {
            Ok(Message::Response { id, result }) => {
                let hit = expect == Some(&id);
                if !self.complete(&id, Ok(result.to_owned())) {
                    warn!("the server answered an unknown request id {id}; ignored");
                }
                hit
            }
            Ok(Message::ErrorResponse {
                id: Some(id),
                error,
            }) => {
                let hit = expect == Some(&id);
                if !self.complete(&id, Err(Error::Rpc(error))) {
                    warn!("the server sent an error for an unknown request id {id}; ignored");
                }
                hit
            }
            Ok(Message::ErrorResponse { id: None, error }) => {
                warn!("the server sent an error without a request id: {error}");
                false
            }
            Ok(Message::Request { id, method, params }) => {
                self.serve(id, &method, params);
                false
            }
            Ok(Message::Notification { method, params }) => {
                self.on_notification(&method, params);
                false
            }
            Err(e) => {
                let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]);
                warn!(
                    "the server sent a message that is not JSON-RPC ({}): {text}",
                    e.error
                );
                // A request whose id could be read gets its error back; anything else is
                // only logged (an answer with a null id would confuse the server).
                if let (true, Some(id)) = (e.reply, e.id) {
                    let mut out = Vec::new();
                    jsonrpc::write_error(&mut out, Some(&id), &e.error);
                    self.spawn_send(out);
                }
                false
            }
        }
    }

    fn reply_error(self: &Arc<Self>, id: &Id, error: &ErrorObject) {
        let mut out = Vec::new();
        jsonrpc::write_error(&mut out, Some(id), error);
        self.spawn_send(out);
    }

    /// Serves a server→client request with the host's handler.
    fn serve(self: &Arc<Self>, id: Id, method: &str, params: Option<&RawValue>) {
        match method {
            "ping" => {
                let mut out = Vec::new();
                jsonrpc::write_response(&mut out, &id, &EmptyResult::default());
                self.spawn_send(out);
            }
            "roots/list" => match self.handlers.roots.clone() {
                Some(h) => self.spawn_handler(id, async move {
                    h().await.map(|roots| ListRootsResult { roots, meta: None })
                }),
                None => self.reply_error(&id, &ErrorObject::method_not_found(method)),
            },
            "sampling/createMessage" => match self.handlers.sampling.clone() {
                Some(h) => match decode::<CreateMessageParams>(params) {
                    Ok(p) => self.spawn_handler(id, h(p)),
                    Err(e) => self.reply_error(&id, &e),
                },
                None => self.reply_error(&id, &ErrorObject::method_not_found(method)),
            },
            "elicitation/create" => match self.handlers.elicitation.clone() {
                Some(h) => match decode::<ElicitRequestParams>(params) {
                    Ok(p) => {
                        let form = p.mode.as_deref().is_none_or(|m| m == "form");
                        let schema = if form {
                            p.requested_schema.clone()
                        } else {
                            None
                        };
                        self.spawn_handler(id, async move {
                            let mut r = h(p).await?;
                            if let (Some(schema), ElicitAction::Accept) = (schema, r.action) {
                                let content = r.content.get_or_insert_with(JsonObject::new);
                                crate::elicit::apply_defaults(&schema, content);
                            }
                            Ok(r)
                        })
                    }
                    Err(e) => self.reply_error(&id, &e),
                },
                None => self.reply_error(&id, &ErrorObject::method_not_found(method)),
            },
            _ => self.reply_error(&id, &ErrorObject::method_not_found(method)),
        }
    }

    fn spawn_handler<R, F>(self: &Arc<Self>, id: Id, fut: F)
    where
        R: Serialize + Send + 'static,
        F: Future<Output = Result<R, ErrorObject>> + Send + 'static,
    {
        let shared = self.clone();
        let key = id.clone();
        // Held across the spawn, so the task's own removal cannot run before the insert.
        let mut served = lock(&self.served);
        let task = tokio::spawn(async move {
            let out = AssertUnwindSafe(fut).catch_unwind().await;
            lock(&shared.served).remove(&id);
            let mut bytes = Vec::new();
            match out {
                Ok(Ok(r)) => jsonrpc::write_response(&mut bytes, &id, &r),
                Ok(Err(e)) => jsonrpc::write_error(&mut bytes, Some(&id), &e),
                Err(_) => {
                    warn!("the host's handler for request {id} panicked");
                    jsonrpc::write_error(
                        &mut bytes,
                        Some(&id),
                        &ErrorObject::internal("the client's handler failed"),
                    )
                }
            }
            let msg = Outgoing {
                bytes,
                kind: Kind::OneWay,
            };
            if let Err(e) = shared.transport.send(msg).await {
                debug!("sending the answer to server request {id} failed: {e}");
            }
        });
        served.insert(key, task.abort_handle());
    }

    fn on_notification(self: &Arc<Self>, method: &str, params: Option<&RawValue>) {
        let n = match method {
            "notifications/progress" => {
                let Ok(p) = decode::<ProgressParams>(params) else {
                    warn!("malformed progress notification ignored");
                    return;
                };
                let callback = lock(&self.state)
                    .pending
                    .get(&p.progress_token)
                    .and_then(|e| e.progress.clone());
                match callback {
                    Some(cb) => {
                        if std::panic::catch_unwind(AssertUnwindSafe(|| cb(p))).is_err() {
                            warn!("a progress callback panicked");
                        }
                        return;
                    }
                    None => Notification::Progress(p),
                }
            }
            "notifications/cancelled" => {
                let Ok(CancelledParams {
                    request_id: Some(id),
                    reason,
                }) = decode::<CancelledParams>(params)
                else {
                    return;
                };
                let reason = reason.as_deref().unwrap_or("no reason given");
                if let Some(task) = lock(&self.served).remove(&id) {
                    debug!("the server cancelled its request {id}: {reason}");
                    task.abort();
                } else if lock(&self.listens).contains_key(&id) {
                    // A server may end a subscription this way instead of with its result:
                    // an end all the same.
                    debug!("the server ended subscription {id}: {reason}");
                    let pending = lock(&self.state).pending.remove(&id);
                    // Its stream (an HTTP response) is no longer wanted either.
                    self.transport.forget(&id);
                    if let (Some(p), Ok(empty)) = (pending, RawValue::from_string("{}".into())) {
                        let _ = p.tx.send(Ok(empty));
                    }
                }
                return;
            }
            "notifications/subscriptions/acknowledged" => {
                #[derive(serde::Deserialize)]
                struct Ack {
                    #[serde(rename = "_meta", default)]
                    meta: Option<JsonObject>,
                    #[serde(default)]
                    notifications: ListenFilter,
                }
                if let Ok(ack) = decode::<Ack>(params)
                    && let Some(id) = ack
                        .meta
                        .as_ref()
                        .and_then(|m| m.get(meta_keys::SUBSCRIPTION_ID))
                        .and_then(|v| serde_json::from_value::<Id>(v.clone()).ok())
                    && let Some(waiter) = lock(&self.listens).get_mut(&id).and_then(Option::take)
                {
                    let _ = waiter.send(ack.notifications);
                }
                match Notification::decode(method, params) {
                    Ok(n) => n,
                    Err(_) => return,
                }
            }
            other => match Notification::decode(other, params) {
                Ok(n) => n,
                Err(e) => {
                    warn!("malformed {other} notification ignored: {e}");
                    return;
                }
            },
        };
        match &self.handlers.notification {
            Some(cb) => {
                if std::panic::catch_unwind(AssertUnwindSafe(|| cb(n))).is_err() {
                    warn!("the notification callback panicked");
                }
            }
            None => debug!("notification without a callback: {n:?}"),
        }
    }
}

/// Removes an abandoned call, and tells the server when it was under way.
struct CallGuard<'a> {
    shared: &'a Arc<Shared>,
    id: &'a Id,
    cancel: bool,
    reason: &'static str,
    armed: bool,
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let was_pending = lock(&self.shared.state).pending.remove(self.id).is_some();
        self.shared.transport.forget(self.id);
        if self.cancel && was_pending {
            let params = CancelledParams {
                request_id: Some(self.id.clone()),
                reason: Some(self.reason.to_owned()),
            };
            let mut out = Vec::new();
            jsonrpc::write_notification(&mut out, "notifications/cancelled", &params);
            self.shared.spawn_send(out);
        }
    }
}

fn write_json(out: &mut Vec<u8>, s: &str) {
    // Writing a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn encode_request<P: Serialize + ?Sized>(
    id: &Id,
    method: &str,
    params: Option<&P>,
    opts: &RequestOpts,
    envelope: Option<&JsonObject>,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(128);
    let bad = || Error::protocol(format!("the params of {method} could not be serialized"));
    if opts.progress.is_some() || opts.meta.is_some() || envelope.is_some() {
        let mut v = match params {
            Some(p) => serde_json::to_value(p).map_err(|_| bad())?,
            None => Value::Object(JsonObject::new()),
        };
        let Value::Object(obj) = &mut v else {
            return Err(Error::protocol(format!(
                "the params of {method} must be an object to carry _meta"
            )));
        };
        let meta = obj
            .entry("_meta")
            .or_insert_with(|| Value::Object(JsonObject::new()));
        if !meta.is_object() {
            *meta = Value::Object(JsonObject::new());
        }
        if let Value::Object(meta) = meta {
            for (k, v) in envelope.into_iter().flatten() {
                meta.insert(k.clone(), v.clone());
            }
            // Merged key by key: what the caller put in `_meta` stays.
            if let Some(extra) = &opts.meta {
                for (k, v) in extra {
                    meta.insert(k.clone(), v.clone());
                }
            }
            if opts.progress.is_some() {
                let token = serde_json::to_value(id).map_err(|_| bad())?;
                meta.insert("progressToken".into(), token);
            }
        }
        jsonrpc::write_request(&mut out, id, method, &v);
    } else if let Some(p) = params {
        jsonrpc::write_request(&mut out, id, method, p);
    } else {
        out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
        let _ = serde_json::to_writer(&mut out, id);
        out.extend_from_slice(b",\"method\":");
        write_json(&mut out, method);
        out.push(b'}');
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

fn decode<T: DeserializeOwned>(params: Option<&RawValue>) -> Result<T, ErrorObject> {
    let text = params.map_or("{}", RawValue::get);
    serde_json::from_str(text)
        .map_err(|e| ErrorObject::new(code::INVALID_PARAMS, format!("Invalid params: {e}")))
}

fn decode_value<T: DeserializeOwned>(params: Option<Value>) -> Result<T, ErrorObject> {
    serde_json::from_value(params.unwrap_or_else(|| Value::Object(JsonObject::new())))
        .map_err(|e| ErrorObject::new(code::INVALID_PARAMS, format!("Invalid params: {e}")))
}
