//! The policy every tool call goes through, in one place: enable/disable, consent, the
//! client's roots, and the audit log.
//!
//! [`Policy::apply`] takes the tools and returns them with the disabled ones left out and
//! each of the others wrapped ([`ToolDef::wrap`]) so that a call, after the engine has
//! validated its arguments against the schema, goes through these steps:
//!
//! 1. **Scope.** With [`Policy::client_roots`] on and a client that offers roots, the
//!    client's roots (asked for with `roots/list`, cached per connection until the client
//!    says they changed) narrow the server's roots for this call ([`Roots::narrow`]): a
//!    client can narrow the jail, never widen it.
//! 2. **Consent.** Each tool has a [`Consent`]: `allow`, `deny`, or `ask`. Asking goes to the
//!    embedder's [`AskHook`] when one is set, else to the user through MCP elicitation (a
//!    form with an "always allow this tool" box). A client that cannot elicit gets a clear
//!    refusal that says how to allow the tool. The defaults: tools that say they only read
//!    (`readOnlyHint: true`) are allowed, the others ask.
//! 3. **The call**, and then one **audit** line ([`crate::audit`]), whatever happened:
//!    allowed or not, success, error, or cancellation (the future dropped).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use rune_server::proto::model::{
    CallToolResult, Content, ElicitAction, ElicitRequestParams, JsonObject,
};
use rune_server::{BoxFuture, HandlerError, Next, RequestContext, ToolDef};
use serde_json::Value;

use crate::audit::{AuditLog, AuditRecord, summarize};
use crate::guard::{Roots, with_scope};
use crate::util::rfc3339_millis;

/// What happens when a tool is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Consent {
    /// Run it.
    Allow,
    /// Refuse it.
    Deny,
    /// Ask the user first.
    Ask,
}

/// What the embedder's [`AskHook`] is asked.
#[derive(Debug, Clone)]
pub struct ConsentRequest {
    /// The tool.
    pub tool: String,
    /// Its arguments (validated).
    pub arguments: Value,
    /// The connection the call came on.
    pub connection: u64,
}

/// An embedder's way to ask: resolves to `true` to allow the call.
pub type AskHook = Arc<dyn Fn(ConsentRequest) -> BoxFuture<bool> + Send + Sync>;

/// Settings of one tool.
#[derive(Debug, Clone, Default)]
pub struct ToolPolicy {
    /// `Some(false)` leaves the tool out entirely.
    pub enabled: Option<bool>,
    /// Overrides the default consent.
    pub consent: Option<Consent>,
}

/// Client roots cached per connection: (connection, roots generation) → directories.
type RootsCache = Mutex<HashMap<u64, (u64, Arc<Vec<PathBuf>>)>>;

/// Connections whose roots are remembered; older entries are dropped beyond this.
const MAX_CACHED_CONNECTIONS: usize = 1024;

/// The policy (see the module docs).
#[derive(Clone)]
pub struct Policy {
    roots: Arc<Roots>,
    read_consent: Consent,
    write_consent: Consent,
    tools: HashMap<String, ToolPolicy>,
    ask: Option<AskHook>,
    audit: Option<Arc<AuditLog>>,
    client_roots: bool,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    roots_cache: RootsCache,
    /// (connection, tool) pairs the user allowed for the rest of the connection.
    always: Mutex<HashSet<(u64, String)>>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("read_consent", &self.read_consent)
            .field("write_consent", &self.write_consent)
            .field("tools", &self.tools)
            .field("audit", &self.audit)
            .field("client_roots", &self.client_roots)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Policy {
    /// The defaults: reading tools allowed, the others ask; no audit; client roots ignored.
    pub fn new(roots: Arc<Roots>) -> Self {
        Policy {
            roots,
            read_consent: Consent::Allow,
            write_consent: Consent::Ask,
            tools: HashMap::new(),
            ask: None,
            audit: None,
            client_roots: false,
            shared: Arc::default(),
        }
    }

    /// The consent of tools that say they only read.
    pub fn read_consent(mut self, c: Consent) -> Self {
        self.read_consent = c;
        self
    }

    /// The consent of the other tools.
    pub fn write_consent(mut self, c: Consent) -> Self {
        self.write_consent = c;
        self
    }

    /// Settings of one tool.
    pub fn tool(mut self, name: impl Into<String>, p: ToolPolicy) -> Self {
        self.tools.insert(name.into(), p);
        self
    }

    /// Asks through `hook` instead of MCP elicitation.
    pub fn ask_with(mut self, hook: AskHook) -> Self {
        self.ask = Some(hook);
        self
    }

    /// Logs every call to `log`.
    pub fn audit(mut self, log: Arc<AuditLog>) -> Self {
        self.audit = Some(log);
        self
    }

    /// Narrows the roots to the client's MCP roots when it offers them.
    pub fn client_roots(mut self, on: bool) -> Self {
        self.client_roots = on;
        self
    }

    /// The names in [`Policy::tool`] settings that are not among `tools`: typos to report.
    pub fn unknown_tools<'a>(&'a self, tools: &[ToolDef]) -> Vec<&'a str> {
        let mut v: Vec<&str> = self
            .tools
            .keys()
            .filter(|k| !tools.iter().any(|t| t.name() == k.as_str()))
            .map(String::as_str)
            .collect();
        v.sort_unstable();
        v
    }

    /// The tools, disabled ones left out, the others wrapped by this policy.
    pub fn apply(&self, tools: Vec<ToolDef>) -> Vec<ToolDef> {
        tools
            .into_iter()
            .filter(|t| {
                self.tools
                    .get(t.name())
                    .and_then(|p| p.enabled)
                    .unwrap_or(true)
            })
            .map(|t| {
                let reads = t
                    .tool()
                    .annotations
                    .as_ref()
                    .and_then(|a| a.read_only_hint)
                    .unwrap_or(false);
                let consent =
                    self.tools
                        .get(t.name())
                        .and_then(|p| p.consent)
                        .unwrap_or(if reads {
                            self.read_consent
                        } else {
                            self.write_consent
                        });
                let name: Arc<str> = t.name().into();
                let policy = self.clone();
                t.wrap(move |args, cx, next| {
                    policy.clone().call(name.clone(), consent, args, cx, next)
                })
            })
            .collect()
    }

    fn call(
        self,
        tool: Arc<str>,
        consent: Consent,
        args: Value,
        cx: RequestContext,
        next: Next,
    ) -> BoxFuture<Result<CallToolResult, HandlerError>> {
        Box::pin(async move {
            let started = Instant::now();
            let mut entry = self.audit.as_ref().map(|log| Pending {
                log: log.clone(),
                started,
                record: Some(AuditRecord {
                    ts: rfc3339_millis(SystemTime::now()),
                    connection: cx.connection_id(),
                    client: cx
                        .client_info()
                        .map(|i| format!("{}/{}", i.name, i.version)),
                    tool: tool.to_string(),
                    args: summarize(&args),
                    decision: "allow",
                    outcome: "cancelled",
                    error: None,
                    duration_ms: 0.0,
                    bytes: 0,
                }),
            });
            let scope = match self.scope(&cx).await {
                Ok(s) => s,
                Err(e) => return finish(&mut entry, Err(e)),
            };
            let decision = match self.decide(&tool, consent, &args, &cx).await {
                Ok(d) => d,
                Err(e) => return finish(&mut entry, Err(e)),
            };
            if let Some(p) = entry.as_mut().and_then(|p| p.record.as_mut()) {
                p.decision = decision.word();
            }
            if let Decision::Refused(why) | Decision::Declined(why) | Decision::Unavailable(why) =
                decision
            {
                if let Some(p) = entry.as_mut().and_then(|p| p.record.as_mut()) {
                    p.outcome = "denied";
                }
                return finish(&mut entry, Ok(CallToolResult::error(why)));
            }
            let out = match scope {
                Some(scope) => with_scope(scope, next.call(args, cx)).await,
                None => next.call(args, cx).await,
            };
            finish(&mut entry, out)
        })
    }

    /// The scope of the client's roots, when asked for and offered.
    async fn scope(
        &self,
        cx: &RequestContext,
    ) -> Result<Option<crate::guard::Scope>, HandlerError> {
        if !self.client_roots || !cx.client_capabilities().roots() {
            return Ok(None);
        }
        let handshake = cx.protocol_version().era() == rune_server::proto::Era::Handshake;
        let key = cx.connection_id();
        let generation = cx.roots_generation();
        if handshake
            && let Some((g, dirs)) = lock(&self.shared.roots_cache).get(&key)
            && *g == generation
        {
            return Ok(Some(self.roots.narrow(dirs)));
        }
        let listed = cx.list_roots().await?;
        let dirs: Vec<PathBuf> = listed
            .roots
            .iter()
            .filter_map(|r| file_uri_path(&r.uri))
            .collect();
        let dirs = Arc::new(dirs);
        if handshake {
            let mut cache = lock(&self.shared.roots_cache);
            if cache.len() >= MAX_CACHED_CONNECTIONS {
                cache.clear();
            }
            cache.insert(key, (generation, dirs.clone()));
        }
        Ok(Some(self.roots.narrow(&dirs)))
    }

    async fn decide(
        &self,
        tool: &str,
        consent: Consent,
        args: &Value,
        cx: &RequestContext,
    ) -> Result<Decision, HandlerError> {
        // The command-line switch that allows this tool, where there is one.
        let switch = match tool {
            "shell_exec" => " (or start rune with --allow-shell)",
            "file_write" | "file_edit" | "create_directory" | "move_path" => {
                " (or start rune with --allow-write)"
            }
            _ => "",
        };
        let config_hint = format!(
            "to allow it, set `consent = \"allow\"` under [tools.{tool}] in the configuration \
             file{switch}"
        );
        match consent {
            Consent::Allow => return Ok(Decision::Allowed),
            Consent::Deny => {
                return Ok(Decision::Refused(format!(
                    "`{tool}` is denied by the server's policy; nothing was done. ({config_hint})"
                )));
            }
            Consent::Ask => {}
        }
        let conn = cx.connection_id();
        if lock(&self.shared.always).contains(&(conn, tool.to_owned())) {
            return Ok(Decision::Approved);
        }
        if let Some(hook) = &self.ask {
            let ok = hook(ConsentRequest {
                tool: tool.to_owned(),
                arguments: args.clone(),
                connection: conn,
            })
            .await;
            return Ok(if ok {
                Decision::Approved
            } else {
                Decision::Declined(format!(
                    "the user declined `{tool}`; nothing was done. Do not retry it unless the \
                     user asks."
                ))
            });
        }
        let can_elicit =
            cx.protocol_version().has_elicitation() && cx.client_capabilities().elicitation_form();
        if !can_elicit {
            return Ok(Decision::Unavailable(format!(
                "`{tool}` needs the user's approval, and this client cannot ask for it (it does \
                 not support MCP elicitation); nothing was done. Ask the user to allow the tool \
                 in rune's configuration: {config_hint}."
            )));
        }
        let mut schema = JsonObject::new();
        schema.insert("type".into(), "object".into());
        schema.insert(
            "properties".into(),
            serde_json::json!({
                "always": {
                    "type": "boolean",
                    "title": "Always allow",
                    "description": format!("Allow `{tool}` without asking again on this connection"),
                    "default": false
                }
            }),
        );
        let message = format!(
            "Allow the tool `{tool}` with these arguments?\n{}",
            describe(args)
        );
        let answer = cx
            .elicit(ElicitRequestParams::form(message, schema))
            .await?;
        Ok(match answer.action {
            ElicitAction::Accept => {
                let always = answer
                    .content
                    .as_ref()
                    .and_then(|c| c.get("always"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                if always {
                    lock(&self.shared.always).insert((conn, tool.to_owned()));
                }
                Decision::Approved
            }
            ElicitAction::Decline | ElicitAction::Cancel => Decision::Declined(format!(
                "the user declined `{tool}`; nothing was done. Do not retry it unless the user \
                 asks."
            )),
        })
    }
}

enum Decision {
    Allowed,
    Approved,
    Declined(String),
    Unavailable(String),
    Refused(String),
}

impl Decision {
    fn word(&self) -> &'static str {
        match self {
            Decision::Allowed => "allow",
            Decision::Approved => "approved",
            Decision::Declined(_) => "declined",
            Decision::Unavailable(_) => "unavailable",
            Decision::Refused(_) => "deny",
        }
    }
}

/// An audit line being filled in; written when the call ends, or when its future is dropped
/// (then as `cancelled`).
struct Pending {
    log: Arc<AuditLog>,
    started: Instant,
    record: Option<AuditRecord>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(mut r) = self.record.take() {
            r.duration_ms = self.started.elapsed().as_secs_f64() * 1000.0;
            self.log.write(&r);
        }
    }
}

fn finish(
    entry: &mut Option<Pending>,
    out: Result<CallToolResult, HandlerError>,
) -> Result<CallToolResult, HandlerError> {
    let Some(p) = entry.as_mut() else {
        return out;
    };
    match &out {
        // A 2026 round trip: the call goes on in the client's retry, logged then.
        Err(HandlerError::InputRequired(_)) => {
            p.record = None;
            return out;
        }
        Err(e) => {
            if let Some(r) = p.record.as_mut() {
                r.outcome = "error";
                r.error = Some(shorten(&e.to_string()));
            }
        }
        Ok(res) => {
            if let Some(r) = p.record.as_mut() {
                if r.outcome != "denied" {
                    r.outcome = if res.is_error == Some(true) {
                        "error"
                    } else {
                        "ok"
                    };
                }
                if res.is_error == Some(true) {
                    r.error = res.content.iter().find_map(|c| match c {
                        Content::Text(t) => Some(shorten(&t.text)),
                        _ => None,
                    });
                }
                r.bytes = res.content.iter().map(content_bytes).sum();
            }
        }
    }
    // Dropping writes the line.
    entry.take();
    out
}

fn content_bytes(c: &Content) -> u64 {
    let n = match c {
        Content::Text(t) => t.text.len(),
        Content::Image(m) | Content::Audio(m) => m.data.len(),
        Content::Resource(r) => {
            r.resource.text.as_ref().map_or(0, String::len)
                + r.resource.blob.as_ref().map_or(0, String::len)
        }
        Content::ResourceLink(_) => 0,
    };
    n as u64
}

fn shorten(s: &str) -> String {
    const MAX: usize = 300;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The arguments as the user sees them in the consent question: each field on its line,
/// long values cut.
fn describe(args: &Value) -> String {
    let Value::Object(o) = args else {
        return shorten(&args.to_string());
    };
    o.iter()
        .map(|(k, v)| {
            let shown = match v {
                Value::String(s) if s.len() > 200 => {
                    format!(
                        "{} ({} bytes)",
                        shorten(&s[..s.floor_char_boundary(120)]),
                        s.len()
                    )
                }
                Value::String(s) => s.clone(),
                other => shorten(&other.to_string()),
            };
            format!("- {k}: {shown}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The local path of a `file://` URI (percent-decoded), or `None` for other URIs.
pub fn file_uri_path(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    // `file:///p` or `file://localhost/p`; other hosts are not local.
    let path = if rest.starts_with('/') {
        rest
    } else {
        rest.strip_prefix("localhost")?
    };
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    use std::os::unix::ffi::OsStringExt as _;
    let p = PathBuf::from(std::ffi::OsString::from_vec(out));
    p.is_absolute().then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris() {
        assert_eq!(
            file_uri_path("file:///home/a%20b/c"),
            Some(PathBuf::from("/home/a b/c"))
        );
        assert_eq!(
            file_uri_path("file://localhost/x"),
            Some(PathBuf::from("/x"))
        );
        assert_eq!(file_uri_path("file://server/share"), None);
        assert_eq!(file_uri_path("https://example.com/"), None);
        assert_eq!(file_uri_path("file:///bad%zz"), None);
        assert_eq!(
            file_uri_path("file:///cut%2"),
            Some(PathBuf::from("/cut%2"))
        );
    }
}
