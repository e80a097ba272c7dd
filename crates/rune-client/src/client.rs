//! The connection handle and its typed calls.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use std::collections::HashMap;

use rune_proto::headers::ParamHeaders;
use rune_proto::jsonrpc::code::HEADER_MISMATCH;
use rune_proto::model::{
    CallToolParams, CallToolResult, CompleteParams, CompleteResult, Completion, CompletionArgument,
    CompletionContext, CompletionReference, GetPromptParams, GetPromptResult, Implementation,
    InitializeResult, JsonObject, ListPromptsResult, ListResourceTemplatesResult,
    ListResourcesResult, ListToolsResult, LoggingLevel, PaginatedParams, ProgressParams, Prompt,
    ReadResourceResult, Resource, ResourceTemplate, ServerCapabilities, SetLevelParams, Tool,
    UriParams,
};
use rune_proto::model::{InputRequest, InputRequiredResult, ListenFilter, ListenParams};
use rune_proto::{Era, ProtocolVersion};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use tracing::{debug, info, warn};

use crate::builder::{ClientBuilder, ReconnectPolicy};
use crate::engine::{BoxFuture, ProgressFn, RequestOpts, Shared};
use crate::error::Error;
use crate::subscription::Subscription;

/// The most pages one `list_*` call follows.
const MAX_PAGES: usize = 1000;
/// The most `input_required` rounds one 2026-07-28 request goes through.
const MAX_INPUT_ROUNDS: usize = 16;

/// Options of one call: its timeout, a progress callback, extra `_meta`.
#[derive(Clone, Default)]
pub struct CallOptions {
    timeout: Option<Option<Duration>>,
    progress: Option<ProgressFn>,
    meta: Option<JsonObject>,
}

impl fmt::Debug for CallOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallOptions")
            .field("timeout", &self.timeout)
            .field("progress", &self.progress.is_some())
            .field("meta", &self.meta)
            .finish()
    }
}

impl CallOptions {
    /// The client's defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Waits at most `timeout` for the answer; then sends `notifications/cancelled` and fails
    /// with [`Error::Timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(Some(timeout));
        self
    }
    /// Waits for the answer as long as it takes.
    pub fn no_timeout(mut self) -> Self {
        self.timeout = Some(None);
        self
    }
    /// Asks for progress (a `progressToken` in `_meta`) and hands each
    /// `notifications/progress` of this call to `f`. It runs on the connection's reading
    /// task: it must not block.
    pub fn on_progress(mut self, f: impl Fn(ProgressParams) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }
    /// Extra `_meta` entries, merged key by key into the request's params.
    pub fn meta(mut self, meta: JsonObject) -> Self {
        self.meta = Some(meta);
        self
    }
}

/// A connection after its handshake, as the builder makes it.
pub(crate) struct Connected {
    pub shared: Arc<Shared>,
    pub init: InitializeResult,
    pub version: ProtocolVersion,
}

/// Makes a new connection to the same server (for reconnection).
pub(crate) type Connector = Arc<dyn Fn() -> BoxFuture<Result<Connected, Error>> + Send + Sync>;

/// What reconnection needs: the policy, and how to connect again.
#[derive(Clone)]
pub(crate) struct Reconnect {
    pub policy: ReconnectPolicy,
    pub connector: Connector,
}

struct Inner {
    /// The live connection; replaced by a reconnection.
    shared: Mutex<Arc<Shared>>,
    /// The first handshake's answer (a reconnection to the same server normally repeats it).
    init: InitializeResult,
    version: ProtocolVersion,
    timeout: Option<Duration>,
    reconnect: Option<Reconnect>,
    /// Held while reconnecting, so concurrent calls make one new connection, not many.
    reconnecting: tokio::sync::Mutex<()>,
    /// Set by [`Client::close`]: no reconnection after that.
    closed_by_user: AtomicBool,
    /// 2026-07-28: the `x-mcp-header` arguments of each tool `tools/list` showed, by name.
    param_headers: Mutex<HashMap<String, Arc<ParamHeaders>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let shared = lock(&self.shared).clone();
        shared.mark_closed("the client was dropped");
        shared.transport().shutdown();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A connection to one MCP server, after the handshake.
///
/// Cheap to clone; every clone shares the connection, which closes when the last one is
/// dropped (or at once with [`close`](Self::close)). Calls may run concurrently. Dropping a
/// call's future before its answer sends `notifications/cancelled` to the server.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.inner.init.server_info)
            .field("protocol_version", &self.inner.version)
            .field("closed", &self.closed_reason())
            .finish_non_exhaustive()
    }
}

fn object(value: Value, what: &str) -> Result<Option<JsonObject>, Error> {
    match value {
        Value::Null => Ok(None),
        Value::Object(o) => Ok(Some(o)),
        other => Err(Error::protocol(format!(
            "{what} must be a JSON object, not {other}"
        ))),
    }
}

impl Client {
    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    pub(crate) fn new(
        connected: Connected,
        timeout: Option<Duration>,
        reconnect: Option<Reconnect>,
        keep_alive: Option<Duration>,
    ) -> Self {
        let client = Client {
            inner: Arc::new(Inner {
                shared: Mutex::new(connected.shared),
                init: connected.init,
                version: connected.version,
                timeout,
                reconnect,
                reconnecting: tokio::sync::Mutex::new(()),
                closed_by_user: AtomicBool::new(false),
                param_headers: Mutex::new(HashMap::new()),
            }),
        };
        if let Some(interval) = keep_alive {
            tokio::spawn(keep_alive_loop(Arc::downgrade(&client.inner), interval));
        }
        client
    }

    fn current(&self) -> Arc<Shared> {
        lock(&self.inner.shared).clone()
    }

    /// The connection to send on: the current one, or a new one when it closed and
    /// reconnection is on.
    async fn live(&self) -> Result<Arc<Shared>, Error> {
        let shared = self.current();
        if shared.closed_reason().is_some() && self.can_reconnect() {
            return self.reconnect_from(&shared).await;
        }
        Ok(shared)
    }

    fn can_reconnect(&self) -> bool {
        self.inner.reconnect.is_some() && !self.inner.closed_by_user.load(Ordering::Acquire)
    }

    /// Replaces `stale` with a new connection (unless another call already did), retrying
    /// with backoff.
    async fn reconnect_from(&self, stale: &Arc<Shared>) -> Result<Arc<Shared>, Error> {
        let Some(rc) = self.inner.reconnect.clone() else {
            return Err(Error::closed("the connection closed"));
        };
        let _one_at_a_time = self.inner.reconnecting.lock().await;
        let now = self.current();
        if !Arc::ptr_eq(&now, stale) && now.closed_reason().is_none() {
            return Ok(now);
        }
        let mut delay = rc.policy.initial_backoff;
        let mut attempt = 1;
        loop {
            if self.inner.closed_by_user.load(Ordering::Acquire) {
                return Err(Error::closed("the client closed the connection"));
            }
            match (rc.connector)().await {
                Ok(c) => {
                    info!(
                        "reconnected to {} (attempt {attempt})",
                        c.init.server_info.name
                    );
                    let old = std::mem::replace(&mut *lock(&self.inner.shared), c.shared.clone());
                    old.mark_closed("replaced by a new connection");
                    old.transport().shutdown();
                    return Ok(c.shared);
                }
                Err(e) if attempt >= rc.policy.max_attempts => {
                    warn!("reconnecting failed after {attempt} attempts: {e}");
                    return Err(e);
                }
                Err(e) => {
                    debug!("reconnecting (attempt {attempt}) failed: {e}; next try in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(rc.policy.max_backoff);
                    attempt += 1;
                }
            }
        }
    }

    /// What the server answered to `initialize`.
    pub fn initialize_result(&self) -> &InitializeResult {
        &self.inner.init
    }
    /// The server's name and version.
    pub fn server_info(&self) -> &Implementation {
        &self.inner.init.server_info
    }
    /// What the server declared it can do.
    pub fn server_capabilities(&self) -> &ServerCapabilities {
        &self.inner.init.capabilities
    }
    /// The server's instructions for the model, if it gave any.
    pub fn instructions(&self) -> Option<&str> {
        self.inner.init.instructions.as_deref()
    }
    /// The revision the handshake settled on.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.inner.version
    }
    /// Why the connection closed, once it has. With [`reconnect`](ClientBuilder::reconnect)
    /// the next call may open a new one.
    pub fn closed_reason(&self) -> Option<Arc<str>> {
        self.current().closed_reason()
    }

    fn opts(&self, o: CallOptions) -> RequestOpts {
        RequestOpts {
            timeout: o.timeout.unwrap_or(self.inner.timeout),
            progress: o.progress,
            meta: o.meta,
            headers: Vec::new(),
        }
    }

    /// True on a 2026-07-28 connection.
    fn is_stateless(&self) -> bool {
        self.inner.version.era() == Era::Stateless
    }

    /// Sends any request and decodes its result into `R` (the typed methods are built on
    /// this). `params` is left out of the message when `None`.
    pub async fn request<P: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: &str,
        params: Option<&P>,
        options: CallOptions,
    ) -> Result<R, Error> {
        self.request_opts(method, params, self.opts(options)).await
    }

    async fn request_opts<P: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: &str,
        params: Option<&P>,
        opts: RequestOpts,
    ) -> Result<R, Error> {
        let shared = self.live().await?;
        if shared.is_stateless() {
            return stateless_request(&shared, method, params, opts).await;
        }
        match shared.request(method, params, opts.clone()).await {
            // The server never ran it: send it again on a new connection.
            Err(Error::SessionExpired) if self.can_reconnect() => {
                let fresh = self.reconnect_from(&shared).await?;
                fresh.request(method, params, opts).await
            }
            other => other,
        }
    }

    /// Sends any notification.
    pub async fn notify<P: Serialize + ?Sized>(
        &self,
        method: &str,
        params: Option<&P>,
    ) -> Result<(), Error> {
        self.live().await?.notify(method, params).await
    }

    /// `ping`.
    pub async fn ping(&self) -> Result<(), Error> {
        let _: Value = self
            .request::<(), _>("ping", None, CallOptions::new())
            .await?;
        Ok(())
    }

    async fn paginate<R, T>(
        &self,
        method: &str,
        split: impl Fn(R) -> (Vec<T>, Option<String>),
    ) -> Result<Vec<T>, Error>
    where
        R: DeserializeOwned,
    {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let params = cursor.take().map(|c| PaginatedParams {
                cursor: Some(c),
                meta: None,
            });
            let page: R = self
                .request(method, params.as_ref(), CallOptions::new())
                .await?;
            let (items, next) = split(page);
            out.extend(items);
            match next.filter(|c| !c.is_empty()) {
                None => return Ok(out),
                Some(c) if !seen.insert(c.clone()) => {
                    return Err(Error::protocol(format!(
                        "{method}: the server sent the cursor {c:?} twice"
                    )));
                }
                Some(c) => cursor = Some(c),
            }
        }
        Err(Error::protocol(format!(
            "{method}: more than {MAX_PAGES} pages"
        )))
    }

    async fn page<R: DeserializeOwned>(
        &self,
        method: &str,
        cursor: Option<&str>,
    ) -> Result<R, Error> {
        let params = cursor.map(|c| PaginatedParams {
            cursor: Some(c.to_owned()),
            meta: None,
        });
        self.request(method, params.as_ref(), CallOptions::new())
            .await
    }

    /// Every tool, following `nextCursor` through all pages.
    ///
    /// On a 2026-07-28 connection a tool whose `x-mcp-header` annotations break the spec's
    /// rules is left out, with a warning (the spec requires it: such a tool cannot be called
    /// over HTTP), and the annotated arguments of the others are remembered so that
    /// [`call_tool`](Self::call_tool) sends their `Mcp-Param-*` headers.
    pub async fn list_tools(&self) -> Result<Vec<Tool>, Error> {
        let tools = self
            .paginate("tools/list", |r: ListToolsResult| (r.tools, r.next_cursor))
            .await?;
        Ok(self.absorb_tools(tools, true))
    }
    /// One page of `tools/list` (filtered as [`list_tools`](Self::list_tools) says).
    pub async fn list_tools_page(&self, cursor: Option<&str>) -> Result<ListToolsResult, Error> {
        let mut page: ListToolsResult = self.page("tools/list", cursor).await?;
        page.tools = self.absorb_tools(std::mem::take(&mut page.tools), false);
        Ok(page)
    }

    /// Drops the tools with broken `x-mcp-header` annotations and remembers the others'
    /// (2026-07-28 only). `complete`: this is the whole list, so forget tools not in it.
    fn absorb_tools(&self, tools: Vec<Tool>, complete: bool) -> Vec<Tool> {
        if !self.is_stateless() {
            return tools;
        }
        // The schemas are read before the lock is taken: calls look headers up under it.
        let read: Vec<_> = tools
            .into_iter()
            .map(|tool| {
                let headers = ParamHeaders::from_schema(&tool.input_schema);
                (tool, headers)
            })
            .collect();
        let mut known = lock(&self.inner.param_headers);
        if complete {
            known.clear();
        }
        read.into_iter()
            .filter_map(|(tool, headers)| match headers {
                Ok(p) => {
                    if p.is_empty() {
                        known.remove(&tool.name);
                    } else {
                        known.insert(tool.name.clone(), Arc::new(p));
                    }
                    Some(tool)
                }
                Err(e) => {
                    warn!("tool {:?} left out: {e}", tool.name);
                    known.remove(&tool.name);
                    None
                }
            })
            .collect()
    }

    /// Calls a tool. `arguments` must serialize to a JSON object (or `null` for none). A tool
    /// that fails answers `Ok` with `is_error: Some(true)`; `Err` is a protocol failure.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: impl Serialize,
    ) -> Result<CallToolResult, Error> {
        let arguments = serde_json::to_value(arguments)
            .map_err(|e| Error::protocol(format!("tool arguments: {e}")))?;
        let params = CallToolParams {
            name: name.to_owned(),
            arguments: object(arguments, "tool arguments")?,
            input_responses: None,
            request_state: None,
            meta: None,
        };
        self.call_tool_with(&params, CallOptions::new()).await
    }

    /// Calls a tool with full params and options (progress, timeout, `_meta`).
    pub async fn call_tool_with(
        &self,
        params: &CallToolParams,
        options: CallOptions,
    ) -> Result<CallToolResult, Error> {
        if !self.is_stateless() {
            return self.request("tools/call", Some(params), options).await;
        }
        let first = self.call_mirrored(params, options.clone()).await;
        match first {
            // The headers were not what the server expects (the tool was never listed, or
            // its schema changed): learn the tools again and retry once.
            Err(e) if e.rpc().is_some_and(|r| r.code == HEADER_MISMATCH) => {
                debug!(
                    "tools/call {:?} refused ({e}); listing the tools again",
                    params.name
                );
                if self.list_tools().await.is_err() {
                    return Err(e);
                }
                self.call_mirrored(params, options).await
            }
            other => other,
        }
    }

    /// A 2026-07-28 `tools/call` with the `Mcp-Param-*` headers of its tool's arguments.
    async fn call_mirrored(
        &self,
        params: &CallToolParams,
        options: CallOptions,
    ) -> Result<CallToolResult, Error> {
        let mut opts = self.opts(options);
        let known = lock(&self.inner.param_headers).get(&params.name).cloned();
        if let Some(p) = known {
            let arguments = params.arguments.clone().map(Value::Object);
            opts.headers = p.headers_for(arguments.as_ref());
        }
        self.request_opts("tools/call", Some(params), opts).await
    }

    /// Opens a `subscriptions/listen` stream (2026-07-28) and returns once the server
    /// acknowledged it, with what it agreed to send. The notifications (list changes,
    /// `notifications/resources/updated`) arrive at the
    /// [`on_notification`](ClientBuilder::on_notification) callback until the
    /// [`Subscription`] is dropped or the server ends it. Several may be open at once.
    ///
    /// On a handshake connection this is an error: there, servers send list changes
    /// unasked, and resources are followed with [`subscribe_resource`](Self::subscribe_resource).
    pub async fn listen(&self, filter: ListenFilter) -> Result<Subscription, Error> {
        let shared = self.live().await?;
        if !shared.is_stateless() {
            return Err(Error::protocol(
                "subscriptions/listen is part of protocol revision 2026-07-28; on a handshake \
                 connection list changes come unasked and resources are followed with \
                 resources/subscribe",
            ));
        }
        let id = shared.next_id();
        let (ack_tx, ack_rx) = tokio::sync::oneshot::channel();
        let params = ListenParams {
            notifications: filter,
            meta: None,
        };
        let task = {
            let (shared, id) = (shared.clone(), id.clone());
            tokio::spawn(async move { shared.listen(id, &params, ack_tx).await })
        };
        let mut subscription = Subscription {
            id,
            acknowledged: ListenFilter::default(),
            task: Some(task),
        };
        let limit = self.inner.timeout.unwrap_or(Duration::from_secs(60));
        let ack = tokio::select! {
            ack = ack_rx => ack.ok(),
            ended = subscription.ended() => {
                // The server answered before acknowledging: an error, or an odd server.
                ended?;
                return Err(Error::protocol(
                    "subscriptions/listen ended before the server acknowledged it",
                ));
            }
            _ = tokio::time::sleep(limit) => return Err(Error::Timeout(limit)),
        };
        match ack {
            Some(filter) => {
                subscription.acknowledged = filter;
                Ok(subscription)
            }
            None => {
                // The waiter is gone: the request ended; say how.
                subscription.ended().await?;
                Err(Error::protocol(
                    "subscriptions/listen ended before the server acknowledged it",
                ))
            }
        }
    }

    /// Every resource, through all pages.
    pub async fn list_resources(&self) -> Result<Vec<Resource>, Error> {
        self.paginate("resources/list", |r: ListResourcesResult| {
            (r.resources, r.next_cursor)
        })
        .await
    }
    /// One page of `resources/list`.
    pub async fn list_resources_page(
        &self,
        cursor: Option<&str>,
    ) -> Result<ListResourcesResult, Error> {
        self.page("resources/list", cursor).await
    }

    /// Every resource template, through all pages.
    pub async fn list_resource_templates(&self) -> Result<Vec<ResourceTemplate>, Error> {
        self.paginate(
            "resources/templates/list",
            |r: ListResourceTemplatesResult| (r.resource_templates, r.next_cursor),
        )
        .await
    }

    fn uri(uri: &str) -> UriParams {
        UriParams {
            uri: uri.to_owned(),
            input_responses: None,
            request_state: None,
            meta: None,
        }
    }

    /// Reads a resource.
    pub async fn read_resource(&self, uri: &str) -> Result<ReadResourceResult, Error> {
        self.request("resources/read", Some(&Self::uri(uri)), CallOptions::new())
            .await
    }

    /// Asks for `notifications/resources/updated` when `uri` changes.
    pub async fn subscribe_resource(&self, uri: &str) -> Result<(), Error> {
        let _: Value = self
            .request(
                "resources/subscribe",
                Some(&Self::uri(uri)),
                CallOptions::new(),
            )
            .await?;
        Ok(())
    }

    /// Stops the updates of `uri`.
    pub async fn unsubscribe_resource(&self, uri: &str) -> Result<(), Error> {
        let _: Value = self
            .request(
                "resources/unsubscribe",
                Some(&Self::uri(uri)),
                CallOptions::new(),
            )
            .await?;
        Ok(())
    }

    /// Every prompt, through all pages.
    pub async fn list_prompts(&self) -> Result<Vec<Prompt>, Error> {
        self.paginate("prompts/list", |r: ListPromptsResult| {
            (r.prompts, r.next_cursor)
        })
        .await
    }

    /// Gets a prompt with its arguments.
    pub async fn get_prompt<K: Into<String>, V: Into<String>>(
        &self,
        name: &str,
        arguments: impl IntoIterator<Item = (K, V)>,
    ) -> Result<GetPromptResult, Error> {
        let arguments: BTreeMap<String, String> = arguments
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let params = GetPromptParams {
            name: name.to_owned(),
            arguments: (!arguments.is_empty()).then_some(arguments),
            input_responses: None,
            request_state: None,
            meta: None,
        };
        self.request("prompts/get", Some(&params), CallOptions::new())
            .await
    }

    /// `completion/complete`: values for an argument of a prompt or resource template.
    pub async fn complete(
        &self,
        reference: CompletionReference,
        argument: CompletionArgument,
        context: Option<CompletionContext>,
    ) -> Result<Completion, Error> {
        let params = CompleteParams {
            reference,
            argument,
            context,
        };
        let r: CompleteResult = self
            .request("completion/complete", Some(&params), CallOptions::new())
            .await?;
        Ok(r.completion)
    }

    /// `logging/setLevel`: the lowest level of log messages the server should send.
    pub async fn set_logging_level(&self, level: LoggingLevel) -> Result<(), Error> {
        let _: Value = self
            .request(
                "logging/setLevel",
                Some(&SetLevelParams { level }),
                CallOptions::new(),
            )
            .await?;
        Ok(())
    }

    /// Tells the server the roots changed (`notifications/roots/list_changed`).
    pub async fn notify_roots_changed(&self) -> Result<(), Error> {
        self.notify::<()>("notifications/roots/list_changed", None)
            .await
    }

    /// Closes the connection: calls still waiting fail, an HTTP session is deleted, a stdio
    /// server's stdin is closed and the process waited for (killed after the grace period).
    pub async fn close(self) {
        self.inner.closed_by_user.store(true, Ordering::Release);
        let shared = self.current();
        shared.mark_closed("the client closed the connection");
        shared.transport().close().await;
    }
}

/// A 2026-07-28 request: honours `resultType`. An `input_required` result is answered with
/// the host's handlers, then the same request is sent again (with a new id) carrying
/// `inputResponses` under the server's keys and its `requestState` unchanged, for at most
/// [`MAX_INPUT_ROUNDS`] rounds.
async fn stateless_request<P: Serialize + ?Sized, R: DeserializeOwned>(
    shared: &Arc<Shared>,
    method: &str,
    params: Option<&P>,
    opts: RequestOpts,
) -> Result<R, Error> {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "resultType", default)]
        result_type: Option<String>,
    }
    let bad = |what: String| Error::protocol(format!("{method}: {what}"));
    let mut current: Option<Value> = match params {
        Some(p) => Some(
            serde_json::to_value(p).map_err(|e| bad(format!("the params do not encode: {e}")))?,
        ),
        None => None,
    };
    for round in 0..MAX_INPUT_ROUNDS {
        let raw = shared
            .request_raw(method, current.as_ref(), opts.clone())
            .await?;
        let head: Head = serde_json::from_str(raw.get())
            .map_err(|e| bad(format!("the result does not decode: {e}")))?;
        match head.result_type.as_deref() {
            None | Some("complete") => {
                return serde_json::from_str(raw.get())
                    .map_err(|e| bad(format!("the result does not decode: {e}")));
            }
            Some("input_required") => {}
            Some(other) => return Err(bad(format!("unknown resultType {other:?}"))),
        }
        let interim: InputRequiredResult = serde_json::from_str(raw.get())
            .map_err(|e| bad(format!("the input_required result does not decode: {e}")))?;
        if interim.input_requests.is_none() && interim.request_state.is_none() {
            return Err(bad(
                "an input_required result with neither inputRequests nor requestState".into(),
            ));
        }
        let mut responses = JsonObject::new();
        let asked = interim.input_requests.is_some();
        for (key, request) in interim.input_requests.unwrap_or_default() {
            let request: InputRequest = serde_json::from_value(request)
                .map_err(|e| bad(format!("input request {key:?} does not decode: {e}")))?;
            debug!("{method}: the server asks for {} ({key})", request.method);
            let answer = shared.fulfil(&request.method, request.params).await?;
            responses.insert(key, answer);
        }
        let mut next = match current.take() {
            Some(Value::Object(o)) => o,
            None => JsonObject::new(),
            Some(_) => return Err(bad("the params must be a JSON object".into())),
        };
        next.remove("inputResponses");
        next.remove("requestState");
        if asked {
            next.insert("inputResponses".into(), Value::Object(responses));
        }
        if let Some(state) = interim.request_state {
            next.insert("requestState".into(), Value::String(state));
        }
        if !asked {
            // Only state to hand back: the server is still working; back off a little.
            let wait = 50u64.saturating_mul(1 << round.min(2)).min(250);
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
        current = Some(Value::Object(next));
    }
    Err(bad(format!(
        "still input_required after {MAX_INPUT_ROUNDS} rounds"
    )))
}

/// Pings the server every `interval` while the client lives; a failed ping closes the
/// connection (or makes a new one, with reconnection on).
async fn keep_alive_loop(inner: Weak<Inner>, interval: Duration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let client = Client { inner };
        if client.inner.closed_by_user.load(Ordering::Acquire) {
            return;
        }
        let shared = client.current();
        if shared.closed_reason().is_some() {
            if client.can_reconnect() {
                let _ = client.reconnect_from(&shared).await;
            }
            continue;
        }
        let opts = RequestOpts {
            timeout: Some(interval),
            ..RequestOpts::default()
        };
        match shared.request::<(), Value>("ping", None, opts).await {
            // An answer, even an error, means the server is there.
            Ok(_) | Err(Error::Rpc(_)) => {}
            Err(e) => {
                warn!("keep-alive ping failed: {e}");
                if client.can_reconnect() {
                    let _ = client.reconnect_from(&shared).await;
                } else {
                    shared.mark_closed(&format!("the keep-alive ping failed: {e}"));
                    shared.transport().shutdown();
                }
            }
        }
    }
}
