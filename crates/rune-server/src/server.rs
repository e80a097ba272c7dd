//! The server: what is registered, what it advertises, and the connections it serves.

use std::sync::{Arc, Mutex, RwLock, Weak};

use rune_proto::RawValue;
use rune_proto::model::{
    CacheScope, CompleteParams, CompleteResult, Implementation, JsonObject, ListChangedCapability,
    ResourcesCapability, ServerCapabilities,
};

use crate::conn::ConnShared;
use crate::prompt::{CompleteFn, erase_completion};
use crate::{HandlerError, PromptDef, RequestContext, ResourceDef, TemplateDef, ToolDef};

/// Limits and defaults of a server. The defaults suit a local stdio server.
#[derive(Debug, Clone)]
pub struct Options {
    /// Requests of one connection that may run at once; past it, input is not read
    /// (back-pressure) until one finishes. Default 256.
    pub max_in_flight: usize,
    /// The largest message accepted, in bytes; a larger one gets a parse error and is
    /// skipped. Default 64 MiB.
    pub max_message_bytes: usize,
    /// Items per page of `tools/list`, `resources/list`, … Default 500.
    pub page_size: usize,
    /// `ttlMs` of cacheable 2026 results. Default 0 (the lists may change at run time).
    pub list_ttl_ms: u64,
    /// `cacheScope` of cacheable 2026 results. Default private.
    pub cache_scope: CacheScope,
    /// Advertise and send log messages. Default true.
    pub logging: bool,
    /// How much output may wait for a peer that is not reading before progress and log
    /// notifications are dropped (and counted, with a warning) instead of queued. Responses
    /// and server requests are never dropped. Default 16 MiB. It counts what the engine
    /// holds: on a byte stream (stdio, TCP) that is all of it; a channel transport (HTTP,
    /// WebSocket) keeps queues of its own that are not counted yet.
    pub notification_backlog_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_in_flight: 256,
            max_message_bytes: 64 << 20,
            page_size: 500,
            list_ttl_ms: 0,
            cache_scope: CacheScope::Private,
            logging: true,
            notification_backlog_bytes: 16 << 20,
        }
    }
}

/// Everything registered, swapped as a whole when it changes (readers hold an `Arc`).
#[derive(Default, Clone)]
pub(crate) struct Registry {
    pub(crate) tools: Vec<Arc<ToolDef>>,
    pub(crate) resources: Vec<Arc<ResourceDef>>,
    pub(crate) templates: Vec<Arc<TemplateDef>>,
    pub(crate) prompts: Vec<Arc<PromptDef>>,
    pub(crate) completion: Option<Arc<CompleteFn>>,
}

impl Registry {
    /// The features served, as the capabilities advertise them (cheaper than building them).
    pub(crate) fn serves(&self, adv: Advertise) -> Serves {
        Serves {
            tools: adv.tools || !self.tools.is_empty(),
            resources: adv.resources || !self.resources.is_empty() || !self.templates.is_empty(),
            prompts: adv.prompts || !self.prompts.is_empty(),
            completions: self.completion.is_some(),
        }
    }

    pub(crate) fn tool(&self, name: &str) -> Option<&Arc<ToolDef>> {
        self.tools.iter().find(|t| t.tool.name == name)
    }
    pub(crate) fn prompt(&self, name: &str) -> Option<&Arc<PromptDef>> {
        self.prompts.iter().find(|p| p.prompt.name == name)
    }
}

pub(crate) struct ServerInner {
    pub(crate) info: Implementation,
    /// `{"io.modelcontextprotocol/serverInfo":…}`, ready to splice into 2026 results.
    pub(crate) info_meta: Box<RawValue>,
    pub(crate) info_value: serde_json::Value,
    pub(crate) instructions: Option<String>,
    pub(crate) registry: RwLock<Arc<Registry>>,
    pub(crate) options: Options,
    pub(crate) state_key: [u8; 32],
    pub(crate) advertise: Advertise,
    pub(crate) conns: Mutex<Vec<Weak<ConnShared>>>,
    pub(crate) warmed: std::sync::atomic::AtomicBool,
}

/// Which features a server serves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Serves {
    pub(crate) tools: bool,
    pub(crate) resources: bool,
    pub(crate) prompts: bool,
    pub(crate) completions: bool,
}

/// Features advertised even while nothing of that kind is registered (so tools added at run
/// time are still seen by clients).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Advertise {
    pub(crate) tools: bool,
    pub(crate) resources: bool,
    pub(crate) prompts: bool,
}

/// An MCP server: build it once, serve any number of connections.
///
/// ```no_run
/// use rune_server::{Server, ToolDef, RequestContext, HandlerError};
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Echo { message: String }
/// # async fn run() -> std::io::Result<()> {
/// let server = Server::builder("echo", "1.0.0")
///     .tool(ToolDef::new("echo", "Repeats the message", |a: Echo, _cx: RequestContext| async move {
///         Ok::<_, HandlerError>(a.message)
///     }))
///     .build();
/// server.serve_stdio().await
/// # }
/// ```
#[derive(Clone)]
pub struct Server {
    pub(crate) inner: Arc<ServerInner>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("info", &self.inner.info)
            .finish()
    }
}

/// Builds a [`Server`].
#[derive(Debug)]
pub struct ServerBuilder {
    info: Implementation,
    instructions: Option<String>,
    registry: RegistryBuilder,
    options: Options,
    state_key: Option<[u8; 32]>,
    advertise: Advertise,
}

#[derive(Default)]
struct RegistryBuilder(Registry);

impl std::fmt::Debug for RegistryBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("tools", &self.0.tools.len())
            .finish()
    }
}

impl ServerBuilder {
    /// Sets the server's identity beyond name and version.
    pub fn info(mut self, info: Implementation) -> Self {
        self.info = info;
        self
    }
    /// Instructions for the model on how to use the server.
    pub fn instructions(mut self, text: impl Into<String>) -> Self {
        self.instructions = Some(text.into());
        self
    }
    /// Registers a tool (a later one with the same name replaces it).
    pub fn tool(mut self, tool: ToolDef) -> Self {
        upsert(&mut self.registry.0.tools, tool, |t| t.tool.name.clone());
        self
    }
    /// Registers a resource.
    pub fn resource(mut self, r: ResourceDef) -> Self {
        upsert(&mut self.registry.0.resources, r, |r| {
            r.resource.uri.clone()
        });
        self
    }
    /// Registers a resource template.
    pub fn resource_template(mut self, t: TemplateDef) -> Self {
        upsert(&mut self.registry.0.templates, t, |t| {
            t.template.uri_template.clone()
        });
        self
    }
    /// Registers a prompt.
    pub fn prompt(mut self, p: PromptDef) -> Self {
        upsert(&mut self.registry.0.prompts, p, |p| p.prompt.name.clone());
        self
    }
    /// Answers `completion/complete`.
    pub fn completion<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(CompleteParams, RequestContext) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<CompleteResult, HandlerError>> + Send + 'static,
    {
        self.registry.0.completion = Some(erase_completion(f));
        self
    }
    /// Advertises tools even when none is registered yet.
    pub fn advertise_tools(mut self) -> Self {
        self.advertise.tools = true;
        self
    }
    /// Advertises resources even when none is registered yet.
    pub fn advertise_resources(mut self) -> Self {
        self.advertise.resources = true;
        self
    }
    /// Advertises prompts even when none is registered yet.
    pub fn advertise_prompts(mut self) -> Self {
        self.advertise.prompts = true;
        self
    }
    /// Sets limits and defaults.
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }
    /// The key that seals 2026 `requestState`. Servers behind a load balancer must share
    /// it; by default a random key is drawn per process.
    pub fn state_key(mut self, key: [u8; 32]) -> Self {
        self.state_key = Some(key);
        self
    }
    /// Builds the server.
    pub fn build(self) -> Server {
        let info_value = serde_json::to_value(&self.info).unwrap_or(serde_json::Value::Null);
        let info_meta = serde_json::value::to_raw_value(&serde_json::json!({
            rune_proto::model::meta_keys::SERVER_INFO: info_value
        }))
        .unwrap_or_else(|_| RawValue::from_string("{}".into()).unwrap_or_default());
        let state_key = self.state_key.unwrap_or_else(random_key);
        Server {
            inner: Arc::new(ServerInner {
                info: self.info,
                info_meta,
                info_value,
                instructions: self.instructions,
                registry: RwLock::new(Arc::new(self.registry.0)),
                options: self.options,
                state_key,
                advertise: self.advertise,
                conns: Mutex::new(Vec::new()),
                warmed: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }
}

/// Compiles the tools' input schemas on a background thread, once per server. The engine
/// calls it after its first answer is written, so neither that answer (`initialize`) nor,
/// usually, the first call waits for the compilation (milliseconds for the first schema).
pub(crate) fn warm_up_once(inner: &ServerInner) {
    if inner
        .warmed
        .swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        return;
    }
    let tools: Vec<_> = Server::registry_of(inner)
        .tools
        .iter()
        .filter(|t| !t.is_compiled())
        .cloned()
        .collect();
    if tools.is_empty() {
        return; // every schema was simple, and is compiled already
    }
    let spawned = std::thread::Builder::new()
        .name("rune-schema-warmup".into())
        .spawn(move || {
            for t in tools {
                t.validator();
            }
        });
    if let Err(e) = spawned {
        tracing::debug!("no warm-up thread ({e}); schemas compile on first use");
    }
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    if getrandom::fill(&mut key).is_err() {
        // No OS randomness: derive a per-process key from what is at hand. Tokens stay
        // unforgeable for anyone who cannot read this process's memory or guess its start.
        let seed = format!(
            "{:?}{:?}{}",
            std::time::SystemTime::now(),
            std::thread::current().id(),
            std::process::id()
        );
        key = *blake3::hash(seed.as_bytes()).as_bytes();
    }
    key
}

/// Removes the items that match; true if there were any.
fn remove_where<T>(v: &mut Vec<Arc<T>>, matches: impl Fn(&T) -> bool) -> bool {
    let before = v.len();
    v.retain(|x| !matches(x));
    v.len() != before
}

fn upsert<T>(v: &mut Vec<Arc<T>>, item: T, key: impl Fn(&T) -> String) {
    let k = key(&item);
    match v.iter().position(|x| key(x) == k) {
        Some(i) => v[i] = Arc::new(item),
        None => v.push(Arc::new(item)),
    }
}

/// Which list changed, for notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListKind {
    Tools,
    Resources,
    Prompts,
}

impl ListKind {
    pub(crate) fn method(self) -> &'static str {
        match self {
            ListKind::Tools => "notifications/tools/list_changed",
            ListKind::Resources => "notifications/resources/list_changed",
            ListKind::Prompts => "notifications/prompts/list_changed",
        }
    }
}

impl Server {
    /// Starts building a server with a name and a version.
    pub fn builder(name: impl Into<String>, version: impl Into<String>) -> ServerBuilder {
        ServerBuilder {
            info: Implementation::new(name, version),
            instructions: None,
            registry: RegistryBuilder::default(),
            options: Options::default(),
            state_key: None,
            advertise: Advertise::default(),
        }
    }

    pub(crate) fn registry(&self) -> Arc<Registry> {
        Self::registry_of(&self.inner)
    }

    pub(crate) fn registry_of(inner: &ServerInner) -> Arc<Registry> {
        match inner.registry.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn update(&self, kind: ListKind, f: impl FnOnce(&mut Registry) -> bool) -> bool {
        let changed = {
            let mut guard = match self.inner.registry.write() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            let mut next = Registry::clone(&guard);
            let changed = f(&mut next);
            if changed {
                *guard = Arc::new(next);
            }
            changed
        };
        if changed {
            self.broadcast_list_changed(kind);
        }
        changed
    }

    /// Adds or replaces a tool at run time; connected clients are told the list changed.
    pub fn add_tool(&self, tool: ToolDef) {
        self.update(ListKind::Tools, |r| {
            upsert(&mut r.tools, tool, |t| t.tool.name.clone());
            true
        });
    }

    /// The `Mcp-Param-*` headers of the tool named `name` ([`ToolDef::param_headers`]), for a
    /// transport that checks them; `None` when there is no such tool.
    pub fn param_headers(&self, name: &str) -> Option<Arc<rune_proto::headers::ParamHeaders>> {
        self.registry().tool(name).map(|t| t.param_headers.clone())
    }

    /// Removes a tool; true if it was there.
    pub fn remove_tool(&self, name: &str) -> bool {
        self.update(ListKind::Tools, |r| {
            remove_where(&mut r.tools, |t| t.tool.name == name)
        })
    }

    /// Adds or replaces a resource at run time.
    pub fn add_resource(&self, resource: ResourceDef) {
        self.update(ListKind::Resources, |r| {
            upsert(&mut r.resources, resource, |x| x.resource.uri.clone());
            true
        });
    }

    /// Removes a resource; true if it was there.
    pub fn remove_resource(&self, uri: &str) -> bool {
        self.update(ListKind::Resources, |r| {
            remove_where(&mut r.resources, |x| x.resource.uri == uri)
        })
    }

    /// Adds or replaces a prompt at run time.
    pub fn add_prompt(&self, prompt: PromptDef) {
        self.update(ListKind::Prompts, |r| {
            upsert(&mut r.prompts, prompt, |p| p.prompt.name.clone());
            true
        });
    }

    /// Removes a prompt; true if it was there.
    pub fn remove_prompt(&self, name: &str) -> bool {
        self.update(ListKind::Prompts, |r| {
            remove_where(&mut r.prompts, |p| p.prompt.name == name)
        })
    }

    /// Tells every client subscribed to `uri` that it changed.
    pub fn notify_resource_updated(&self, uri: &str) {
        for conn in self.live_conns() {
            conn.resource_updated(uri);
        }
    }

    fn broadcast_list_changed(&self, kind: ListKind) {
        for conn in self.live_conns() {
            conn.list_changed(kind);
        }
    }

    fn live_conns(&self) -> Vec<Arc<ConnShared>> {
        let mut conns = match self.inner.conns.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        conns.retain(|w| w.strong_count() > 0);
        conns.iter().filter_map(Weak::upgrade).collect()
    }

    pub(crate) fn track(&self, conn: &Arc<ConnShared>) {
        let mut conns = match self.inner.conns.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        conns.retain(|w| w.strong_count() > 0);
        conns.push(Arc::downgrade(conn));
    }

    /// The server's identity.
    pub fn info(&self) -> &Implementation {
        &self.inner.info
    }

    /// The capabilities the server advertises, derived from what is registered.
    pub fn capabilities(&self) -> ServerCapabilities {
        let serves = self.registry().serves(self.inner.advertise);
        let list_changed = || ListChangedCapability {
            list_changed: Some(true),
        };
        ServerCapabilities {
            tools: serves.tools.then(list_changed),
            prompts: serves.prompts.then(list_changed),
            resources: serves.resources.then_some(ResourcesCapability {
                subscribe: Some(true),
                list_changed: Some(true),
            }),
            completions: serves.completions.then(JsonObject::new),
            logging: self.inner.options.logging.then(JsonObject::new),
            experimental: None,
            extensions: None,
        }
    }
}
