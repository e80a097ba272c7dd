//! The `web_fetch` tool: arguments, result, and the text a model reads.

use std::collections::BTreeMap;
use std::sync::Arc;

use rune_server::proto::model::{CallToolResult, Content, ToolAnnotations};
use rune_server::{HandlerError, RequestContext, ToolDef};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::fetch::{CacheStatus, FetchError, FetchOptions, Fetched, Fetcher, Method, Progress};
use crate::render::{self, Format, Rendered};

/// Characters returned when `max_length` is not given: about 5k tokens, well under the
/// clients' output limits.
pub const DEFAULT_MAX_LENGTH: u64 = 20_000;
/// The most characters a caller may ask for at once.
pub const MAX_MAX_LENGTH: u64 = 200_000;

/// Bodies above this size are converted on the blocking pool.
const INLINE_RENDER_BYTES: usize = 256 * 1024;

fn default_max_length() -> u64 {
    DEFAULT_MAX_LENGTH
}

/// The schema of [`Method`] as clients like it: a plain string `enum` (documented variants
/// would make a `oneOf` of constants).
#[derive(JsonSchema)]
#[allow(dead_code, clippy::upper_case_acronyms)]
enum MethodName {
    GET,
    HEAD,
}

/// Arguments of `web_fetch`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebFetchArgs {
    /// The http:// or https:// URL to fetch.
    pub url: String,
    /// `GET` (default) for the content, `HEAD` for the status and headers only.
    #[serde(default)]
    #[schemars(with = "MethodName")]
    pub method: Method,
    /// Return the body as served instead of converting HTML to Markdown (default false).
    #[serde(default)]
    pub raw: bool,
    /// Most characters to return (default 20000, at most 200000). Past it the result says
    /// where to continue.
    #[serde(default = "default_max_length")]
    #[schemars(range(min = 1, max = 200000))]
    pub max_length: u64,
    /// Character offset to start at, to read a long page in parts (default 0).
    #[serde(default)]
    pub start_index: u64,
    /// Ask the server even when a cached copy is still fresh (default false).
    #[serde(default)]
    pub refresh: bool,
}

/// The structured result of `web_fetch`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct WebFetchOutput {
    /// The URL asked for.
    pub url: String,
    /// The URL of the response, after redirects.
    pub final_url: String,
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type` of the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The charset the text was decoded with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charset: Option<String>,
    /// `markdown` (converted HTML), `raw` (text as served) or `binary` (not shown).
    pub format: Format,
    /// The text, from `start_index` up to `end_index`.
    pub content: String,
    /// Character offset of the first character returned.
    pub start_index: u64,
    /// Character offset just past the last character returned.
    pub end_index: u64,
    /// Length of the whole text in characters.
    pub total_length: u64,
    /// True when more text follows `end_index`.
    pub truncated: bool,
    /// When truncated: the `start_index` to continue from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_index: Option<u64>,
    /// Size of the (decoded) body in bytes.
    pub body_bytes: u64,
    /// True when the body was larger than the server's download cap and was cut there.
    pub body_truncated: bool,
    /// `hit` (fresh cached copy, the server was not asked), `revalidated` (the server
    /// confirmed the cached copy), `miss` (fetched) or `off` (not cacheable).
    pub cache: CacheStatus,
    /// The URLs redirected from, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirects: Vec<String>,
    /// The response headers (HEAD only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    /// A note for the reader: binary content, replaced bytes, cut body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn reason(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

/// The result of a fetch as the tool returns it.
pub(crate) async fn output(
    url: &str,
    fetched: &Fetched,
    args: &WebFetchArgs,
) -> Result<(WebFetchOutput, Arc<Rendered>), HandlerError> {
    let entry = fetched.entry.clone();
    let raw = args.raw;
    let rendered = if entry.body.len() > INLINE_RENDER_BYTES
        && entry.rendered[usize::from(raw)].get().is_none()
    {
        tokio::task::spawn_blocking(move || render::rendered(&entry, raw))
            .await
            .map_err(|e| HandlerError::failed(format!("converting the page failed: {e}")))?
    } else {
        render::rendered(&entry, raw)
    };
    let start = usize::try_from(args.start_index).unwrap_or(usize::MAX);
    let max = usize::try_from(args.max_length.clamp(1, MAX_MAX_LENGTH)).unwrap_or(usize::MAX);
    let (slice, end) = render::page(&rendered.text, rendered.chars, start, max);
    let start = start.min(rendered.chars);
    let truncated = end < rendered.chars;
    let mut notes = Vec::new();
    if rendered.format == Format::Binary {
        notes.push(format!(
            "binary content ({}, {} bytes) is not shown",
            fetched.content_type().unwrap_or("no content type"),
            fetched.body().len()
        ));
    }
    if rendered.replaced {
        notes.push(format!(
            "bytes that are not valid {} were replaced with U+FFFD",
            rendered.charset.unwrap_or("UTF-8")
        ));
    }
    if fetched.body_truncated {
        notes.push(format!(
            "the body was cut at the server's download cap of {} bytes; the rest was not read",
            fetched.body().len()
        ));
    }
    if args.start_index > 0 && start as u64 >= rendered.chars as u64 && rendered.chars > 0 {
        notes.push(format!(
            "start_index {} is past the end of the text ({} characters)",
            args.start_index, rendered.chars
        ));
    }
    let out = WebFetchOutput {
        url: url.to_owned(),
        final_url: fetched.final_url.to_string(),
        status: fetched.status,
        content_type: fetched.content_type().map(str::to_owned),
        charset: rendered.charset.map(str::to_owned),
        format: rendered.format,
        content: slice.to_owned(),
        start_index: start as u64,
        end_index: end as u64,
        total_length: rendered.chars as u64,
        truncated,
        next_index: truncated.then_some(end as u64),
        body_bytes: fetched.body().len() as u64,
        body_truncated: fetched.body_truncated,
        cache: fetched.cache,
        redirects: fetched.redirects.clone(),
        headers: (!fetched.headers.is_empty()).then(|| fetched.headers.clone()),
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    };
    Ok((out, rendered))
}

/// The text block: a header line, the content, and how to go on.
fn text_of(out: &WebFetchOutput) -> String {
    let mut t = String::with_capacity(out.content.len() + 256);
    t.push_str(&format!(
        "{} (HTTP {} {}",
        out.final_url,
        out.status,
        reason(out.status)
    ));
    if let Some(ct) = &out.content_type {
        t.push_str(&format!(", {ct}"));
    }
    match out.cache {
        CacheStatus::Hit => t.push_str(", from cache"),
        CacheStatus::Revalidated => t.push_str(", from cache, revalidated"),
        _ => {}
    }
    t.push_str(")\n");
    if !out.redirects.is_empty() {
        t.push_str(&format!(
            "redirected from: {}\n",
            out.redirects.join(" -> ")
        ));
    }
    if let Some(h) = &out.headers {
        for (k, v) in h {
            t.push_str(&format!("{k}: {v}\n"));
        }
    }
    if let Some(n) = &out.note {
        t.push_str(&format!("note: {n}\n"));
    }
    if !out.content.is_empty() {
        t.push('\n');
        t.push_str(&out.content);
        if !out.content.ends_with('\n') {
            t.push('\n');
        }
    }
    if out.truncated {
        t.push_str(&format!(
            "\n[Content truncated: characters {}-{} of {} shown. To read more, call web_fetch \
             again with start_index={}.]\n",
            out.start_index, out.end_index, out.total_length, out.end_index
        ));
    }
    t
}

impl Fetcher {
    /// Runs one `web_fetch` call: what the tool's handler does, without a request context
    /// (progress goes to `progress`). For embedders and benchmarks.
    pub async fn call_tool(
        &self,
        args: WebFetchArgs,
        progress: Progress<'_>,
    ) -> Result<CallToolResult, HandlerError> {
        let fetched = self
            .fetch(&args.url, args.method, args.refresh, progress)
            .await
            .map_err(|e: FetchError| HandlerError::failed(e.to_string()))?;
        let (out, rendered) = output(&args.url, &fetched, &args).await?;
        if fetched.status >= 400 {
            let (excerpt, _) = render::page(&rendered.text, rendered.chars, 0, 1000);
            let mut msg = format!(
                "HTTP {} {} from {}",
                fetched.status,
                reason(fetched.status),
                out.final_url
            );
            if !excerpt.trim().is_empty() {
                msg.push_str(&format!("; the page says:\n{}", excerpt.trim()));
            }
            return Ok(CallToolResult::error(msg));
        }
        let text = text_of(&out);
        match serde_json::to_value(&out) {
            Ok(v) => Ok(CallToolResult::new(vec![Content::text(text)]).with_structured(v)),
            Err(e) => Err(HandlerError::failed(format!(
                "the result could not be serialized: {e}"
            ))),
        }
    }
}

/// The hints of `web_fetch`: it reads, changes nothing, and reaches the open web.
fn annotations() -> ToolAnnotations {
    ToolAnnotations {
        title: Some("Fetch a web page".to_owned()),
        read_only_hint: Some(true),
        destructive_hint: Some(false),
        // The same URL may answer differently each time.
        idempotent_hint: Some(false),
        open_world_hint: Some(true),
    }
}

/// The `web_fetch` tool over an existing fetcher (to share its connection pool and cache).
pub fn tool(fetcher: Arc<Fetcher>) -> ToolDef {
    ToolDef::new(
        "web_fetch",
        "Fetch a public http(s) URL and return its content: HTML as Markdown (or raw), other \
         text as is, with the final URL and content type. Long pages come in parts: \
         max_length characters from start_index (the result gives next_index). Private and \
         local addresses are refused; responses are cached per HTTP rules.",
        move |args: WebFetchArgs, cx: RequestContext| {
            let fetcher = fetcher.clone();
            async move {
                let report = |n: u64, total: Option<u64>| {
                    cx.progress(n as f64, total.map(|t| t as f64), Some("downloading"));
                };
                fetcher.call_tool(args, &report).await
            }
        },
    )
    .title("Fetch a web page")
    .annotations(annotations())
    .output_schema::<WebFetchOutput>()
}

/// The `web_fetch` tool with its own fetcher.
pub fn web_fetch_tool(opts: FetchOptions) -> Result<ToolDef, FetchError> {
    Ok(tool(Arc::new(Fetcher::new(opts)?)))
}
