//! Tools: a name, a JSON Schema for the arguments, and an async handler.
//!
//! [`ToolDef::new`] takes a typed handler: the argument type's schema is derived with
//! `schemars`, every call's arguments are validated against that schema before the handler
//! runs (a violation becomes an `isError` result naming the field), then decoded into the
//! type. [`ToolDef::raw`] takes a schema you wrote and hands the handler the JSON itself.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use rune_proto::headers::ParamHeaders;
use rune_proto::model::{CallToolResult, Content, JsonObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::schema::Validator;
use crate::{HandlerError, RequestContext};

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

pub(crate) type ToolFn =
    dyn Fn(Value, RequestContext) -> BoxFuture<Result<CallToolResult, HandlerError>> + Send + Sync;

/// A tool the server offers: its description and its handler.
#[derive(Clone)]
pub struct ToolDef {
    pub(crate) tool: Tool,
    /// Compiled on first use (or by the server's warm-up thread): compiling the first schema
    /// of a process costs milliseconds, which must not delay the first answer.
    pub(crate) validator: Arc<OnceLock<Option<Validator>>>,
    pub(crate) handler: Arc<ToolFn>,
    pub(crate) spawn: bool,
    /// The arguments mirrored into `Mcp-Param-*` headers over HTTP (`x-mcp-header`).
    pub(crate) param_headers: Arc<ParamHeaders>,
}

impl std::fmt::Debug for ToolDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolDef")
            .field("tool", &self.tool)
            .field("spawn", &self.spawn)
            .finish()
    }
}

/// The handler a [`ToolDef::wrap`] layer wraps.
#[derive(Clone)]
pub struct Next(Arc<ToolFn>);

impl std::fmt::Debug for Next {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Next")
    }
}

impl Next {
    /// Runs the wrapped handler.
    pub fn call(
        &self,
        args: Value,
        cx: RequestContext,
    ) -> BoxFuture<Result<CallToolResult, HandlerError>> {
        (self.0)(args, cx)
    }
}

/// Arguments of a tool that takes none.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize, JsonSchema)]
pub struct NoArgs {}

/// What a tool handler may return: anything that becomes a [`CallToolResult`].
pub trait IntoCallToolResult {
    /// The conversion.
    fn into_call_tool_result(self) -> CallToolResult;
}

impl IntoCallToolResult for CallToolResult {
    fn into_call_tool_result(self) -> CallToolResult {
        self
    }
}

impl IntoCallToolResult for String {
    fn into_call_tool_result(self) -> CallToolResult {
        CallToolResult::text(self)
    }
}

impl IntoCallToolResult for &'static str {
    fn into_call_tool_result(self) -> CallToolResult {
        CallToolResult::text(self)
    }
}

impl IntoCallToolResult for Content {
    fn into_call_tool_result(self) -> CallToolResult {
        CallToolResult::new(vec![self])
    }
}

impl IntoCallToolResult for Vec<Content> {
    fn into_call_tool_result(self) -> CallToolResult {
        CallToolResult::new(self)
    }
}

/// A structured result: serialized into `structuredContent`, and as JSON text into `content`
/// for clients that read only text.
#[derive(Debug, Clone)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoCallToolResult for Json<T> {
    fn into_call_tool_result(self) -> CallToolResult {
        match serde_json::to_value(&self.0) {
            Ok(v) => CallToolResult::text(v.to_string()).with_structured(v),
            Err(e) => CallToolResult::error(format!("result could not be serialized: {e}")),
        }
    }
}

/// The JSON Schema of `T` as MCP clients want it: draft 2020-12, subschemas inlined, no
/// `$schema` key (Gemini CLI rejects it).
pub fn schema_for<T: JsonSchema>() -> JsonObject {
    let settings = schemars::generate::SchemaSettings::draft2020_12().with(|s| {
        s.inline_subschemas = true;
        s.meta_schema = None;
    });
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut obj = match schema.to_value() {
        Value::Object(o) => o,
        _ => JsonObject::new(),
    };
    obj.remove("$schema");
    obj.remove("title");
    if !obj.contains_key("type") {
        obj.insert("type".into(), Value::String("object".into()));
    }
    for v in obj.values_mut() {
        strip_numeric_formats(v);
    }
    obj
}

/// Removes the `format` values schemars puts on numbers (`uint64`, `int32`, `double`, …): they
/// are not JSON Schema formats, and clients warn about each (Gemini CLI prints a line per
/// field); the range is already said by `minimum`/`maximum`.
fn strip_numeric_formats(v: &mut Value) {
    match v {
        Value::Object(o) => {
            let numeric = o.get("format").and_then(Value::as_str).is_some_and(|f| {
                matches!(f, "float" | "double" | "int" | "uint")
                    || f.strip_prefix("int")
                        .or_else(|| f.strip_prefix("uint"))
                        .is_some_and(|bits| bits.parse::<u32>().is_ok())
            });
            if numeric {
                o.remove("format");
            }
            for x in o.values_mut() {
                strip_numeric_formats(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip_numeric_formats),
        _ => {}
    }
}

impl ToolDef {
    /// A tool whose arguments are the typed `A`.
    ///
    /// ```
    /// use rune_server::{ToolDef, RequestContext, HandlerError};
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct Echo { message: String }
    /// let tool = ToolDef::new("echo", "Repeats the message", |a: Echo, _cx: RequestContext| async move {
    ///     Ok::<_, HandlerError>(a.message)
    /// });
    /// assert_eq!(tool.name(), "echo");
    /// ```
    pub fn new<A, F, Fut, R>(name: impl Into<String>, description: impl Into<String>, f: F) -> Self
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        F: Fn(A, RequestContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, HandlerError>> + Send + 'static,
        R: IntoCallToolResult,
    {
        let f = Arc::new(f);
        Self::raw(
            name,
            description,
            schema_for::<A>(),
            move |args: Value, cx| {
                let f = f.clone();
                async move {
                    let args: A = serde_json::from_value(args)
                        .map_err(|e| HandlerError::failed(format!("Invalid arguments: {e}")))?;
                    f(args, cx).await
                }
            },
        )
    }

    /// A tool with a hand-written input schema; the handler receives the validated JSON.
    pub fn raw<F, Fut, R>(
        name: impl Into<String>,
        description: impl Into<String>,
        input_schema: JsonObject,
        f: F,
    ) -> Self
    where
        F: Fn(Value, RequestContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, HandlerError>> + Send + 'static,
        R: IntoCallToolResult,
    {
        let f = Arc::new(f);
        let handler: Arc<ToolFn> = Arc::new(move |args: Value, cx: RequestContext| {
            let f = f.clone();
            Box::pin(async move {
                f(args, cx)
                    .await
                    .map(IntoCallToolResult::into_call_tool_result)
            }) as BoxFuture<_>
        });
        Self::build(name.into(), description.into(), input_schema, handler)
    }

    fn build(name: String, description: String, schema: JsonObject, handler: Arc<ToolFn>) -> Self {
        let validator = Arc::new(simple_validator(&schema));
        // Clients drop a tool whose annotations break the rules, so say so at once; such a
        // tool has no headers to check.
        let param_headers = ParamHeaders::from_schema(&schema).unwrap_or_else(|e| {
            tracing::warn!("tool {name:?}: {e}; 2026-07-28 clients will not list it");
            ParamHeaders::default()
        });
        ToolDef {
            tool: Tool {
                name,
                title: None,
                description: Some(description).filter(|d| !d.is_empty()),
                input_schema: Arc::new(schema),
                output_schema: None,
                annotations: None,
                icons: None,
                execution: None,
                meta: None,
            },
            validator,
            handler,
            spawn: false,
            param_headers: Arc::new(param_headers),
        }
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.tool.name
    }

    /// The tool as `tools/list` shows it.
    pub fn tool(&self) -> &Tool {
        &self.tool
    }

    /// The arguments a 2026-07-28 HTTP request mirrors into `Mcp-Param-*` headers: the
    /// properties of the input schema annotated `"x-mcp-header": "Name"` (with schemars,
    /// `#[schemars(extend("x-mcp-header" = "Name"))]`). The HTTP transport refuses a call
    /// whose headers disagree with its arguments.
    pub fn param_headers(&self) -> &ParamHeaders {
        &self.param_headers
    }

    /// Sets the display title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.tool.title = Some(title.into());
        self
    }

    /// Sets the behaviour hints.
    pub fn annotations(mut self, annotations: ToolAnnotations) -> Self {
        self.tool.annotations = Some(annotations);
        self
    }

    /// Declares the schema of `structuredContent` from a type.
    pub fn output_schema<T: JsonSchema>(mut self) -> Self {
        self.tool.output_schema = Some(Arc::new(schema_for::<T>()));
        self
    }

    /// Declares the schema of `structuredContent`.
    pub fn output_schema_json(mut self, schema: JsonObject) -> Self {
        self.tool.output_schema = Some(Arc::new(schema));
        self
    }

    /// Sets `_meta` on the tool's description.
    pub fn meta(mut self, meta: JsonObject) -> Self {
        self.tool.meta = Some(meta);
        self
    }

    /// Runs each call as its own runtime task, so CPU-heavy work runs in parallel with the
    /// connection. By default a call runs on the connection's task, which is cheaper: an
    /// `async` handler that awaits never blocks other calls, but one that computes for long
    /// without awaiting does.
    pub fn spawn(mut self) -> Self {
        self.spawn = true;
        self
    }

    /// Puts a layer around the handler: `layer` receives each call's (already validated)
    /// arguments, its context and the handler it wraps, which it may call or not. This is
    /// how a policy that applies to many tools (consent, auditing) lives in one place.
    ///
    /// ```
    /// use rune_server::{ToolDef, RequestContext, HandlerError};
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct Echo { message: String }
    /// let tool = ToolDef::new("echo", "Repeats", |a: Echo, _cx: RequestContext| async move {
    ///     Ok::<_, HandlerError>(a.message)
    /// })
    /// .wrap(|args, cx, next| async move {
    ///     if args["message"] == "forbidden" {
    ///         return Err(HandlerError::failed("refused"));
    ///     }
    ///     next.call(args, cx).await
    /// });
    /// # let _ = tool;
    /// ```
    pub fn wrap<F, Fut>(mut self, layer: F) -> Self
    where
        F: Fn(Value, RequestContext, Next) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<CallToolResult, HandlerError>> + Send + 'static,
    {
        let inner = Next(self.handler.clone());
        self.handler = Arc::new(move |args: Value, cx: RequestContext| {
            Box::pin(layer(args, cx, inner.clone())) as BoxFuture<_>
        });
        self
    }

    /// The compiled input schema (compiled now if it was not yet).
    pub(crate) fn validator(&self) -> Option<&Validator> {
        self.validator
            .get_or_init(|| compile(&self.tool.input_schema))
            .as_ref()
    }

    /// True once the schema is compiled.
    pub(crate) fn is_compiled(&self) -> bool {
        self.validator.get().is_some()
    }

    /// Checks arguments against the input schema; the error names the offending field.
    pub(crate) fn validate(&self, args: &Value) -> Result<(), String> {
        let Some(v) = self.validator() else {
            return Ok(());
        };
        v.check(args).map_err(|msgs| {
            format!(
                "Invalid arguments for tool `{}`: {}",
                self.tool.name,
                msgs.join("; ")
            )
        })
    }
}

/// A schema of the simple subset is compiled at once (microseconds); others wait.
fn simple_validator(schema: &JsonObject) -> OnceLock<Option<Validator>> {
    let cell = OnceLock::new();
    if let Some(v) = Validator::simple(&Value::Object(schema.clone())) {
        let _ = cell.set(Some(v));
    }
    cell
}

/// Compiles a schema; one that does not compile is reported and left unchecked rather than
/// making the tool unusable.
fn compile(schema: &JsonObject) -> Option<Validator> {
    match Validator::full(&Value::Object(schema.clone())) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!("tool input schema does not compile, arguments are not validated: {e}");
            None
        }
    }
}
