//! Configuring and opening a connection.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use rune_proto::jsonrpc::code;
use rune_proto::model::{
    ClientCapabilities, CreateMessageParams, CreateMessageResult, DiscoverResult,
    ElicitRequestParams, ElicitResult, Implementation, InitializeParams, InitializeResult,
    JsonObject, Root, UnsupportedVersionData, meta_keys,
};
use rune_proto::version::HANDSHAKE_VERSIONS;
use rune_proto::{Era, ErrorObject, ProtocolVersion};
use serde_json::json;

use crate::client::{Client, Connected, Connector, Reconnect};
use crate::engine::{BoxFuture, Handlers, RequestOpts, Shared};
use crate::error::Error;
use crate::notification::Notification;
use crate::transport::http::{HttpOptions, is_fallback_status};
use crate::transport::{Sink, Transport, http, legacy_sse, lines, stdio, ws};

/// Builds a [`Client`]: who the client is, what it can do for the server, and how long it
/// waits; then one of the `connect_*` methods opens the connection and runs the handshake.
///
/// ```no_run
/// # async fn run() -> rune_client::Result<()> {
/// use rune_client::{Client, model::{ElicitAction, ElicitResult}};
///
/// let mut cmd = std::process::Command::new("my-mcp-server");
/// cmd.arg("--verbose");
/// let client = Client::builder()
///     .client_info("my-host", "1.0.0")
///     .on_elicitation(|_params| async {
///         Ok(ElicitResult { action: ElicitAction::Decline, content: None, meta: None })
///     })
///     .on_notification(|n| println!("{n:?}"))
///     .connect_stdio(cmd)
///     .await?;
/// for tool in client.list_tools().await? {
///     println!("{}", tool.name);
/// }
/// client.close().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientBuilder {
    info: Implementation,
    version: ProtocolVersion,
    timeout: Option<Duration>,
    handlers: Handlers,
    http: HttpOptions,
    shutdown_grace: Duration,
    legacy_fallback: bool,
    keep_alive: Option<Duration>,
    reconnect: Option<ReconnectPolicy>,
    auto: bool,
    error: Option<Error>,
}

/// Which era of the protocol a client speaks (see [`ClientBuilder::era`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EraPreference {
    /// The `initialize` handshake (revisions up to 2025-11-25).
    Handshake,
    /// The stateless 2026-07-28 revision: no handshake, `_meta` on every request.
    Stateless,
    /// Probe with `server/discover` at 2026-07-28; on any error but `-32022`, or no answer
    /// within 10 s, fall back to `initialize`.
    Auto,
}

/// How long the `server/discover` probe of [`EraPreference::Auto`] waits.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// `UnsupportedProtocolVersion` (2026-07-28).
const UNSUPPORTED_VERSION: i64 = -32022;

/// How a network connection is made again after it broke (see
/// [`ClientBuilder::reconnect`]): up to `max_attempts` handshakes, waiting `initial_backoff`
/// before the second and doubling the wait each time, up to `max_backoff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// How many connection attempts one reconnection makes before it fails (at least 1).
    pub max_attempts: u32,
    /// The wait after the first failed attempt.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
}

impl Default for ReconnectPolicy {
    /// 5 attempts, 200 ms doubling up to 5 s.
    fn default() -> Self {
        ReconnectPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Where a network connection goes, as chosen by the first connect (so a reconnection uses
/// the transport that worked: after a fallback, the legacy one).
#[derive(Debug, Clone)]
enum Target {
    Http(String),
    LegacySse(String),
    Ws(String),
    Tcp(String),
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("info", &self.info)
            .field("version", &self.version)
            .field("timeout", &self.timeout)
            .field("roots", &self.handlers.roots.is_some())
            .field("sampling", &self.handlers.sampling.is_some())
            .field("elicitation", &self.handlers.elicitation.is_some())
            .field("http", &self.http)
            .field("legacy_fallback", &self.legacy_fallback)
            .field("keep_alive", &self.keep_alive)
            .field("reconnect", &self.reconnect)
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            info: Implementation::new("rune-client", env!("CARGO_PKG_VERSION")),
            version: ProtocolVersion::LATEST_HANDSHAKE,
            timeout: Some(Duration::from_secs(60)),
            handlers: Handlers::default(),
            http: HttpOptions {
                headers: HeaderMap::new(),
                listen: true,
                max_message_bytes: 64 << 20,
                connect_timeout: Duration::from_secs(10),
                max_reconnects: 3,
            },
            shutdown_grace: Duration::from_secs(2),
            legacy_fallback: true,
            keep_alive: None,
            reconnect: None,
            auto: false,
            error: None,
        }
    }
}

impl ClientBuilder {
    /// A builder with the defaults: client info `rune-client`, protocol `2025-11-25`, a 60 s
    /// timeout per request, no handlers.
    pub fn new() -> Self {
        Self::default()
    }

    /// The name and version the client gives in `initialize`.
    pub fn client_info(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.info = Implementation::new(name, version);
        self
    }

    /// The full `clientInfo` (title, description, icons…).
    pub fn implementation(mut self, info: Implementation) -> Self {
        self.info = info;
        self
    }

    /// The revision to ask for in `initialize` (default: the newest handshake revision,
    /// 2025-11-25). The server may answer with another one; the client accepts any handshake
    /// revision it speaks.
    ///
    /// [`ProtocolVersion::V2026_07_28`] makes the client stateless: no `initialize`, every
    /// request carries the protocol version, the client's capabilities and its info in
    /// `_meta`, `server/discover` fetches the server's info at connect, and
    /// `input_required` results are answered with the handlers and retried.
    pub fn protocol_version(mut self, version: ProtocolVersion) -> Self {
        self.version = version;
        self.auto = false;
        self
    }

    /// Which era to speak. `Stateless` is `protocol_version(V2026_07_28)`; `Handshake` goes
    /// back to the newest handshake revision if a stateless one was chosen; `Auto` probes
    /// with `server/discover` and falls back to `initialize` (with the handshake revision
    /// set by [`protocol_version`](Self::protocol_version), 2025-11-25 by default).
    pub fn era(mut self, era: EraPreference) -> Self {
        match era {
            EraPreference::Stateless => {
                self.version = ProtocolVersion::V2026_07_28;
                self.auto = false;
            }
            EraPreference::Handshake | EraPreference::Auto => {
                if self.version.era() != Era::Handshake {
                    self.version = ProtocolVersion::LATEST_HANDSHAKE;
                }
                self.auto = era == EraPreference::Auto;
            }
        }
        self
    }

    /// How long a request waits for its answer unless its [`CallOptions`](crate::CallOptions)
    /// say otherwise (`None`: forever). Default 60 s.
    pub fn request_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest message accepted from the server (default 64 MiB); longer ones are skipped.
    pub fn max_message_bytes(mut self, max: usize) -> Self {
        self.http.max_message_bytes = max.max(1024);
        self
    }

    /// How long a stdio server gets to exit after its stdin closed before it is killed
    /// (default 2 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Answers `roots/list` with what `f` returns (and declares the `roots` capability, with
    /// `listChanged`: call [`Client::notify_roots_changed`] when they change).
    pub fn on_roots<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<Root>, ErrorObject>> + Send + 'static,
    {
        self.handlers.roots = Some(Arc::new(move || Box::pin(f())));
        self
    }

    /// Answers `roots/list` with a fixed list.
    pub fn roots(self, roots: Vec<Root>) -> Self {
        let roots = Arc::new(roots);
        self.on_roots(move || {
            let roots = roots.clone();
            async move { Ok(roots.to_vec()) }
        })
    }

    /// Answers `sampling/createMessage` (and declares the `sampling` capability).
    pub fn on_sampling<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(CreateMessageParams) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<CreateMessageResult, ErrorObject>> + Send + 'static,
    {
        self.handlers.sampling = Some(Arc::new(move |p| Box::pin(f(p))));
        self
    }

    /// Answers `elicitation/create` (and declares the `elicitation` capability, form mode).
    ///
    /// When the handler accepts a form, the `default` of every field it left out is filled in
    /// from the requested schema before the answer is sent (SEP-1034).
    pub fn on_elicitation<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(ElicitRequestParams) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ElicitResult, ErrorObject>> + Send + 'static,
    {
        self.handlers.elicitation = Some(Arc::new(move |p| Box::pin(f(p))));
        self
    }

    /// Receives the server's notifications (list changes, resource updates, log messages,
    /// progress of calls without their own callback).
    ///
    /// It runs on the connection's reading task: it must not block. Forward to a channel for
    /// slow work.
    pub fn on_notification<F>(mut self, f: F) -> Self
    where
        F: Fn(Notification) + Send + Sync + 'static,
    {
        self.handlers.notification = Some(Arc::new(f));
        self
    }

    /// A header sent with every HTTP request (for example `Authorization`).
    pub fn http_header(mut self, name: &str, value: &str) -> Self {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => {
                self.http.headers.insert(n, v);
            }
            _ => {
                self.error = Some(Error::InvalidTarget(
                    format!("invalid HTTP header {name:?}").into(),
                ))
            }
        }
        self
    }

    /// Whether to open the GET stream for server-initiated messages over HTTP (default true).
    pub fn http_listen(mut self, listen: bool) -> Self {
        self.http.listen = listen;
        self
    }

    /// How many times in a row an HTTP stream may fail to resume before the client gives up
    /// on it (default 3).
    pub fn http_max_reconnects(mut self, n: u32) -> Self {
        self.http.max_reconnects = n;
        self
    }

    /// How long connecting may take: the TCP connection of HTTP, WebSocket and TCP targets,
    /// the WebSocket upgrade, and the legacy SSE stream's `endpoint` event (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.http.connect_timeout = timeout;
        self
    }

    /// Whether [`connect_http`](Self::connect_http) tries the legacy HTTP+SSE transport
    /// (revision 2024-11-05: GET for an `endpoint` event, then POST to it) when the server
    /// answers the Streamable HTTP `initialize` with 400, 404 or 405 (default true).
    pub fn legacy_sse_fallback(mut self, fallback: bool) -> Self {
        self.legacy_fallback = fallback;
        self
    }

    /// Pings the server every `interval` while the client lives (default: never). A ping
    /// that fails (no answer within the interval, or a broken transport) closes the
    /// connection, so the next call fails at once instead of waiting for its timeout; with
    /// [`reconnect`](Self::reconnect), the connection is made again instead.
    pub fn keep_alive(mut self, interval: Option<Duration>) -> Self {
        self.keep_alive = interval.filter(|d| !d.is_zero());
        self
    }

    /// Makes network connections (HTTP, legacy SSE, WebSocket, TCP; not stdio) again when
    /// they break: a call that finds the connection closed, or whose HTTP session the server
    /// forgot ([`Error::SessionExpired`]), first reconnects (a new `initialize`), waiting
    /// with exponential backoff between failed attempts. A call that got `SessionExpired` is
    /// sent again on the new connection (the server never ran it); a call under way when the
    /// connection broke fails with [`Error::Closed`], and the next one reconnects.
    /// Default: off.
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.reconnect = Some(ReconnectPolicy {
            max_attempts: policy.max_attempts.max(1),
            ..policy
        });
        self
    }

    /// Spawns `command` (with its args, env and working directory) and speaks MCP over its
    /// stdin and stdout. Its stderr is logged through `tracing`; the process is stopped and
    /// reaped when the client is closed or dropped.
    pub async fn connect_stdio(self, command: std::process::Command) -> Result<Client, Error> {
        self.check()?;
        let start = stdio::spawn(command, self.http.max_message_bytes, self.shutdown_grace)?;
        let connected = self.open(start).await?;
        Ok(Client::new(connected, self.timeout, None, self.keep_alive))
    }

    /// Connects to a Streamable HTTP endpoint (`http://…` or `https://…`).
    ///
    /// When the server answers the `initialize` POST with 400, 404 or 405, the client tries
    /// the legacy HTTP+SSE transport at the same URL (see
    /// [`legacy_sse_fallback`](Self::legacy_sse_fallback)).
    pub async fn connect_http(self, url: &str) -> Result<Client, Error> {
        self.connect_target(Target::Http(url.to_owned())).await
    }

    /// Connects with the legacy HTTP+SSE transport of revision 2024-11-05: `url` is the SSE
    /// stream (often `…/sse`); its `endpoint` event names where to POST.
    pub async fn connect_sse(self, url: &str) -> Result<Client, Error> {
        self.connect_target(Target::LegacySse(url.to_owned())).await
    }

    /// Connects to a WebSocket endpoint (`ws://…`): one JSON-RPC message per text frame.
    pub async fn connect_ws(self, url: &str) -> Result<Client, Error> {
        self.connect_target(Target::Ws(url.to_owned())).await
    }

    /// Connects to a server speaking newline-delimited JSON over TCP, at `host:port`.
    pub async fn connect_tcp(self, addr: &str) -> Result<Client, Error> {
        self.connect_target(Target::Tcp(addr.to_owned())).await
    }

    /// Connects to a URL: `http://` and `https://` are Streamable HTTP (with the legacy
    /// HTTP+SSE fallback), `ws://` is WebSocket, `tcp://host:port` is newline-delimited JSON
    /// over TCP. (A command to run is [`connect_stdio`](Self::connect_stdio).)
    pub async fn connect(self, target: &str) -> Result<Client, Error> {
        if let Some(addr) = target.strip_prefix("tcp://") {
            return self.connect_tcp(addr.trim_end_matches('/')).await;
        }
        if target.starts_with("http://") || target.starts_with("https://") {
            return self.connect_http(target).await;
        }
        if target.starts_with("ws://") {
            return self.connect_ws(target).await;
        }
        Err(Error::InvalidTarget(
            format!("{target}: expected an http://, https://, ws:// or tcp:// URL").into(),
        ))
    }

    async fn connect_target(self, target: Target) -> Result<Client, Error> {
        self.check()?;
        let (connected, target) = self.open_target(target).await?;
        let reconnect = self.reconnect.map(|policy| {
            let builder = self.clone();
            let connector: Connector = Arc::new(move || {
                let builder = builder.clone();
                let target = target.clone();
                Box::pin(async move { builder.open_target(target).await.map(|(c, _)| c) })
                    as BoxFuture<Result<Connected, Error>>
            });
            Reconnect { policy, connector }
        });
        Ok(Client::new(
            connected,
            self.timeout,
            reconnect,
            self.keep_alive,
        ))
    }

    /// Opens a connection to `target` and runs the handshake; says which transport worked.
    async fn open_target(&self, target: Target) -> Result<(Connected, Target), Error> {
        match target {
            Target::Http(url) => {
                let start = http::connect(&url, self.http.clone())?;
                match self.open(start).await {
                    Ok(c) => Ok((c, Target::Http(url))),
                    Err(Error::Http { status, message })
                        if self.legacy_fallback
                            && self.version.era() == Era::Handshake
                            && is_fallback_status(status) =>
                    {
                        tracing::debug!(
                            "{url}: initialize answered HTTP {status}; trying the legacy HTTP+SSE transport"
                        );
                        let legacy = async {
                            let start = legacy_sse::connect(&url, self.http.clone()).await?;
                            self.open(start).await
                        };
                        match legacy.await {
                            Ok(c) => Ok((c, Target::LegacySse(url))),
                            Err(e) => Err(Error::Http {
                                status,
                                message: format!(
                                    "{message} (and the legacy HTTP+SSE transport failed too: {e})"
                                )
                                .into(),
                            }),
                        }
                    }
                    Err(e) => Err(e),
                }
            }
            Target::LegacySse(url) => {
                let start = legacy_sse::connect(&url, self.http.clone()).await?;
                Ok((self.open(start).await?, Target::LegacySse(url)))
            }
            Target::Ws(url) => {
                let start = ws::connect(&url, &self.http).await?;
                Ok((self.open(start).await?, Target::Ws(url)))
            }
            Target::Tcp(addr) => {
                let start = lines::connect_tcp(&addr, self.http.max_message_bytes).await?;
                Ok((self.open(start).await?, Target::Tcp(addr)))
            }
        }
    }

    fn check(&self) -> Result<(), Error> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        Ok(())
    }

    /// The capabilities the handlers make; in 2026-07-28 `roots` has no `listChanged`.
    fn capabilities(&self, stateless: bool) -> ClientCapabilities {
        let roots = if stateless {
            json!({})
        } else {
            json!({"listChanged": true})
        };
        let obj = |v: serde_json::Value| match v {
            serde_json::Value::Object(o) => o,
            _ => JsonObject::new(),
        };
        ClientCapabilities {
            roots: self.handlers.roots.as_ref().map(|_| obj(roots)),
            sampling: self.handlers.sampling.as_ref().map(|_| JsonObject::new()),
            elicitation: self
                .handlers
                .elicitation
                .as_ref()
                .map(|_| obj(json!({"form": {}}))),
            ..ClientCapabilities::default()
        }
    }

    /// Starts the transport and runs the handshake on it.
    async fn open(
        &self,
        start: impl FnOnce(Sink) -> Arc<dyn Transport>,
    ) -> Result<Connected, Error> {
        let shared = Shared::new(self.handlers.clone(), start);
        let info = self.info.clone();
        let opened = if self.version.era() == Era::Stateless {
            discover(&shared, self.capabilities(true), info, self.timeout).await
        } else if self.auto {
            let limit = self.timeout.map_or(PROBE_TIMEOUT, |t| t.min(PROBE_TIMEOUT));
            match discover(&shared, self.capabilities(true), info.clone(), Some(limit)).await {
                Ok(r) => Ok(r),
                Err(Error::Rpc(e)) if e.code == UNSUPPORTED_VERSION => Err(Error::Rpc(e)),
                Err(e) => {
                    tracing::debug!("server/discover failed ({e}); falling back to initialize");
                    shared.set_envelope(None);
                    shared.transport().unnegotiated();
                    let caps = self.capabilities(false);
                    initialize(&shared, self.version, caps, info, self.timeout).await
                }
            }
        } else {
            let caps = self.capabilities(false);
            initialize(&shared, self.version, caps, info, self.timeout).await
        };
        match opened {
            Ok((init, version)) => Ok(Connected {
                shared,
                init,
                version,
            }),
            Err(e) => {
                shared.mark_closed("the handshake failed");
                shared.transport().close().await;
                Err(e)
            }
        }
    }
}

/// Opens a 2026-07-28 connection: every later request carries the `_meta` envelope, and
/// `server/discover` says who the server is and what it can do.
async fn discover(
    shared: &Arc<Shared>,
    capabilities: ClientCapabilities,
    client_info: Implementation,
    timeout: Option<Duration>,
) -> Result<(InitializeResult, ProtocolVersion), Error> {
    let version = ProtocolVersion::V2026_07_28;
    let encode = |v: Result<serde_json::Value, serde_json::Error>| {
        v.map_err(|e| Error::protocol(format!("the request envelope does not encode: {e}")))
    };
    let mut envelope = JsonObject::new();
    envelope.insert(meta_keys::PROTOCOL_VERSION.into(), version.as_str().into());
    envelope.insert(
        meta_keys::CLIENT_CAPABILITIES.into(),
        encode(serde_json::to_value(capabilities))?,
    );
    envelope.insert(
        meta_keys::CLIENT_INFO.into(),
        encode(serde_json::to_value(client_info))?,
    );
    shared.set_envelope(Some(envelope));
    shared.transport().negotiated(version);
    let opts = RequestOpts {
        timeout,
        ..RequestOpts::default()
    };
    let result: DiscoverResult = shared
        .request::<(), _>("server/discover", None, opts)
        .await?;
    if !result
        .supported_versions
        .iter()
        .any(|v| v == version.as_str())
    {
        return Err(Error::UnsupportedVersion(
            format!(
                "the server speaks {:?}, not {version}",
                result.supported_versions
            )
            .into(),
        ));
    }
    let server_info = result
        .meta
        .as_ref()
        .and_then(|m| m.get(meta_keys::SERVER_INFO))
        .and_then(|v| serde_json::from_value::<Implementation>(v.clone()).ok())
        .unwrap_or_else(|| Implementation::new("unknown", ""));
    let init = InitializeResult {
        protocol_version: version.as_str().to_owned(),
        capabilities: result.capabilities,
        server_info,
        instructions: result.instructions,
        meta: result.meta,
    };
    Ok((init, version))
}

async fn initialize(
    shared: &Arc<Shared>,
    version: ProtocolVersion,
    capabilities: ClientCapabilities,
    client_info: Implementation,
    timeout: Option<Duration>,
) -> Result<(InitializeResult, ProtocolVersion), Error> {
    let mut params = InitializeParams {
        protocol_version: version.as_str().to_owned(),
        capabilities,
        client_info,
        meta: None,
    };
    let opts = RequestOpts {
        timeout,
        ..RequestOpts::default()
    };
    let mut retried = false;
    let result: InitializeResult = loop {
        match shared
            .request("initialize", Some(&params), opts.clone())
            .await
        {
            Ok(r) => break r,
            // A server that rejects the revision may list what it speaks: retry once with the
            // newest handshake revision both sides know.
            Err(Error::Rpc(e)) if !retried && e.code == code::INVALID_PARAMS => {
                let mutual = e
                    .data
                    .clone()
                    .and_then(|d| serde_json::from_value::<UnsupportedVersionData>(d).ok())
                    .and_then(|d| {
                        HANDSHAKE_VERSIONS
                            .into_iter()
                            .find(|v| d.supported.iter().any(|s| s == v.as_str()))
                    });
                match mutual {
                    Some(v) if v.as_str() != params.protocol_version => {
                        retried = true;
                        params.protocol_version = v.as_str().to_owned();
                    }
                    _ => return Err(Error::Rpc(e)),
                }
            }
            Err(e) => return Err(e),
        }
    };
    let negotiated = ProtocolVersion::parse(&result.protocol_version)
        .filter(|v| v.era() == Era::Handshake)
        .ok_or_else(|| Error::UnsupportedVersion(result.protocol_version.as_str().into()))?;
    shared.transport().negotiated(negotiated);
    shared
        .notify::<()>("notifications/initialized", None)
        .await?;
    shared.transport().ready().await;
    Ok((result, negotiated))
}
