//! The connection handle and its typed calls.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rune_proto::ProtocolVersion;
use rune_proto::model::{
    CallToolParams, CallToolResult, CompleteParams, CompleteResult, Completion, CompletionArgument,
    CompletionContext, CompletionReference, GetPromptParams, GetPromptResult, Implementation,
    InitializeResult, JsonObject, ListPromptsResult, ListResourceTemplatesResult,
    ListResourcesResult, ListToolsResult, LoggingLevel, PaginatedParams, ProgressParams, Prompt,
    ReadResourceResult, Resource, ResourceTemplate, ServerCapabilities, SetLevelParams, Tool,
    UriParams,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::builder::ClientBuilder;
use crate::engine::{ProgressFn, RequestOpts, Shared};
use crate::error::Error;

/// The most pages one `list_*` call follows.
const MAX_PAGES: usize = 1000;

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

struct Inner {
    shared: Arc<Shared>,
    init: InitializeResult,
    version: ProtocolVersion,
    timeout: Option<Duration>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.mark_closed("the client was dropped");
        self.shared.transport().shutdown();
    }
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
            .field("closed", &self.inner.shared.closed_reason())
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
        shared: Arc<Shared>,
        init: InitializeResult,
        version: ProtocolVersion,
        timeout: Option<Duration>,
    ) -> Self {
        Client {
            inner: Arc::new(Inner {
                shared,
                init,
                version,
                timeout,
            }),
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
    /// Why the connection closed, once it has.
    pub fn closed_reason(&self) -> Option<Arc<str>> {
        self.inner.shared.closed_reason()
    }

    fn opts(&self, o: CallOptions) -> RequestOpts {
        RequestOpts {
            timeout: o.timeout.unwrap_or(self.inner.timeout),
            progress: o.progress,
            meta: o.meta,
        }
    }

    /// Sends any request and decodes its result into `R` (the typed methods are built on
    /// this). `params` is left out of the message when `None`.
    pub async fn request<P: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: &str,
        params: Option<&P>,
        options: CallOptions,
    ) -> Result<R, Error> {
        self.inner
            .shared
            .request(method, params, self.opts(options))
            .await
    }

    /// Sends any notification.
    pub async fn notify<P: Serialize + ?Sized>(
        &self,
        method: &str,
        params: Option<&P>,
    ) -> Result<(), Error> {
        self.inner.shared.notify(method, params).await
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
    pub async fn list_tools(&self) -> Result<Vec<Tool>, Error> {
        self.paginate("tools/list", |r: ListToolsResult| (r.tools, r.next_cursor))
            .await
    }
    /// One page of `tools/list`.
    pub async fn list_tools_page(&self, cursor: Option<&str>) -> Result<ListToolsResult, Error> {
        self.page("tools/list", cursor).await
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
        self.request("tools/call", Some(params), options).await
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
        self.inner
            .shared
            .mark_closed("the client closed the connection");
        self.inner.shared.transport().close().await;
    }
}
