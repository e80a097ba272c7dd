//! Configuring and opening a connection.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use rune_proto::jsonrpc::code;
use rune_proto::model::{
    ClientCapabilities, CreateMessageParams, CreateMessageResult, ElicitRequestParams,
    ElicitResult, Implementation, InitializeParams, InitializeResult, JsonObject, Root,
    UnsupportedVersionData,
};
use rune_proto::version::HANDSHAKE_VERSIONS;
use rune_proto::{Era, ErrorObject, ProtocolVersion};
use serde_json::json;

use crate::client::Client;
use crate::engine::{Handlers, RequestOpts, Shared};
use crate::error::Error;
use crate::notification::Notification;
use crate::transport::http::HttpOptions;
use crate::transport::{Sink, Transport, http, lines, stdio};

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
pub struct ClientBuilder {
    info: Implementation,
    version: ProtocolVersion,
    timeout: Option<Duration>,
    handlers: Handlers,
    http: HttpOptions,
    shutdown_grace: Duration,
    error: Option<Error>,
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
    pub fn protocol_version(mut self, version: ProtocolVersion) -> Self {
        self.version = version;
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

    /// Spawns `command` (with its args, env and working directory) and speaks MCP over its
    /// stdin and stdout. Its stderr is logged through `tracing`; the process is stopped and
    /// reaped when the client is closed or dropped.
    pub async fn connect_stdio(self, command: std::process::Command) -> Result<Client, Error> {
        self.check()?;
        let start = stdio::spawn(command, self.http.max_message_bytes, self.shutdown_grace)?;
        self.handshake(start).await
    }

    /// Connects to a Streamable HTTP endpoint (`http://…` or `https://…`).
    pub async fn connect_http(self, url: &str) -> Result<Client, Error> {
        self.check()?;
        let start = http::connect(url, self.http.clone())?;
        self.handshake(start).await
    }

    /// Connects to a server speaking newline-delimited JSON over TCP, at `host:port`.
    pub async fn connect_tcp(self, addr: &str) -> Result<Client, Error> {
        self.check()?;
        let start = lines::connect_tcp(addr, self.http.max_message_bytes).await?;
        self.handshake(start).await
    }

    /// Connects to a URL: `http://` and `https://` are Streamable HTTP, `tcp://host:port` is
    /// newline-delimited JSON over TCP. (A command to run is [`connect_stdio`](Self::connect_stdio).)
    pub async fn connect(self, target: &str) -> Result<Client, Error> {
        if let Some(addr) = target.strip_prefix("tcp://") {
            return self.connect_tcp(addr.trim_end_matches('/')).await;
        }
        if target.starts_with("http://") || target.starts_with("https://") {
            return self.connect_http(target).await;
        }
        Err(Error::InvalidTarget(
            format!("{target}: expected an http://, https:// or tcp:// URL").into(),
        ))
    }

    fn check(&self) -> Result<(), Error> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.version.era() != Era::Handshake {
            return Err(Error::UnsupportedVersion(
                format!(
                    "{} (this client opens connections with the initialize handshake)",
                    self.version
                )
                .into(),
            ));
        }
        Ok(())
    }

    fn capabilities(&self) -> ClientCapabilities {
        let obj = |v: serde_json::Value| match v {
            serde_json::Value::Object(o) => o,
            _ => JsonObject::new(),
        };
        ClientCapabilities {
            roots: self
                .handlers
                .roots
                .as_ref()
                .map(|_| obj(json!({"listChanged": true}))),
            sampling: self.handlers.sampling.as_ref().map(|_| JsonObject::new()),
            elicitation: self
                .handlers
                .elicitation
                .as_ref()
                .map(|_| obj(json!({"form": {}}))),
            ..ClientCapabilities::default()
        }
    }

    async fn handshake(
        self,
        start: impl FnOnce(Sink) -> Arc<dyn Transport>,
    ) -> Result<Client, Error> {
        let capabilities = self.capabilities();
        let shared = Shared::new(self.handlers, start);
        match initialize(&shared, self.version, capabilities, self.info, self.timeout).await {
            Ok((init, version)) => Ok(Client::new(shared, init, version, self.timeout)),
            Err(e) => {
                shared.mark_closed("the handshake failed");
                shared.transport().close().await;
                Err(e)
            }
        }
    }
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
