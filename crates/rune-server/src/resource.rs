//! Resources (fixed URIs) and resource templates (RFC 6570 level-1 URI templates).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use rune_proto::model::{ReadResourceResult, Resource, ResourceContents, ResourceTemplate};

use crate::tool::BoxFuture;
use crate::{HandlerError, RequestContext};

pub(crate) type ReadFn = dyn Fn(
        String,
        BTreeMap<String, String>,
        RequestContext,
    ) -> BoxFuture<Result<ReadResourceResult, HandlerError>>
    + Send
    + Sync;

/// What a resource handler may return.
pub trait IntoReadResourceResult {
    /// The conversion.
    fn into_read_result(self) -> ReadResourceResult;
}

impl IntoReadResourceResult for ReadResourceResult {
    fn into_read_result(self) -> ReadResourceResult {
        self
    }
}

impl IntoReadResourceResult for ResourceContents {
    fn into_read_result(self) -> ReadResourceResult {
        ReadResourceResult {
            contents: vec![self],
            meta: None,
        }
    }
}

impl IntoReadResourceResult for Vec<ResourceContents> {
    fn into_read_result(self) -> ReadResourceResult {
        ReadResourceResult {
            contents: self,
            meta: None,
        }
    }
}

fn erase<F, Fut, R>(f: F) -> Arc<ReadFn>
where
    F: Fn(String, BTreeMap<String, String>, RequestContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, HandlerError>> + Send + 'static,
    R: IntoReadResourceResult,
{
    let f = Arc::new(f);
    Arc::new(move |uri, vars, cx| {
        let f = f.clone();
        Box::pin(async move {
            f(uri, vars, cx)
                .await
                .map(IntoReadResourceResult::into_read_result)
        })
    })
}

/// A resource with a fixed URI.
#[derive(Clone)]
pub struct ResourceDef {
    pub(crate) resource: Resource,
    pub(crate) read: Arc<ReadFn>,
}

impl std::fmt::Debug for ResourceDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceDef")
            .field("resource", &self.resource)
            .finish()
    }
}

impl ResourceDef {
    /// A resource; the handler receives the URI.
    pub fn new<F, Fut, R>(uri: impl Into<String>, name: impl Into<String>, read: F) -> Self
    where
        F: Fn(String, RequestContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, HandlerError>> + Send + 'static,
        R: IntoReadResourceResult,
    {
        ResourceDef {
            resource: Resource {
                uri: uri.into(),
                name: name.into(),
                title: None,
                description: None,
                mime_type: None,
                size: None,
                annotations: None,
                icons: None,
                meta: None,
            },
            read: erase(move |uri, _vars, cx| read(uri, cx)),
        }
    }
    /// Sets the description.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.resource.description = Some(d.into());
        self
    }
    /// Sets the MIME type.
    pub fn mime_type(mut self, m: impl Into<String>) -> Self {
        self.resource.mime_type = Some(m.into());
        self
    }
    /// Sets the display title.
    pub fn title(mut self, t: impl Into<String>) -> Self {
        self.resource.title = Some(t.into());
        self
    }
    /// The URI.
    pub fn uri(&self) -> &str {
        &self.resource.uri
    }
}

/// A family of resources matched by a URI template such as `file:///{path}`.
#[derive(Clone)]
pub struct TemplateDef {
    pub(crate) template: ResourceTemplate,
    pub(crate) pattern: Arc<UriTemplate>,
    pub(crate) read: Arc<ReadFn>,
}

impl std::fmt::Debug for TemplateDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateDef")
            .field("template", &self.template)
            .finish()
    }
}

impl TemplateDef {
    /// A template; the handler receives the URI and the values of its variables.
    pub fn new<F, Fut, R>(uri_template: impl Into<String>, name: impl Into<String>, read: F) -> Self
    where
        F: Fn(String, BTreeMap<String, String>, RequestContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, HandlerError>> + Send + 'static,
        R: IntoReadResourceResult,
    {
        let uri_template = uri_template.into();
        TemplateDef {
            pattern: Arc::new(UriTemplate::parse(&uri_template)),
            template: ResourceTemplate {
                uri_template,
                name: name.into(),
                title: None,
                description: None,
                mime_type: None,
                annotations: None,
                icons: None,
                meta: None,
            },
            read: erase(read),
        }
    }
    /// Sets the description.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.template.description = Some(d.into());
        self
    }
    /// Sets the MIME type.
    pub fn mime_type(mut self, m: impl Into<String>) -> Self {
        self.template.mime_type = Some(m.into());
        self
    }
}

/// A parsed URI template (`{name}` variables, and `{+name}`, which may match `/`), compiled
/// to a regular expression: the `regex` crate matches in linear time, so no URI a client
/// sends can make matching slow.
#[derive(Debug)]
pub(crate) struct UriTemplate {
    re: Option<regex::Regex>,
    names: Vec<String>,
}

impl UriTemplate {
    pub(crate) fn parse(t: &str) -> UriTemplate {
        let mut pattern = String::from("^");
        let mut names = Vec::new();
        let mut rest = t;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}').map(|c| open + c) else {
                break;
            };
            pattern.push_str(&regex::escape(&rest[..open]));
            let inner = &rest[open + 1..close];
            match inner.strip_prefix('+') {
                Some(name) => {
                    pattern.push_str("(.+?)");
                    names.push(name.to_owned());
                }
                None => {
                    pattern.push_str("([^/]+?)");
                    names.push(inner.to_owned());
                }
            }
            rest = &rest[close + 1..];
        }
        pattern.push_str(&regex::escape(rest));
        pattern.push('$');
        let re = match regex::Regex::new(&pattern) {
            Ok(re) => Some(re),
            Err(e) => {
                tracing::warn!("URI template {t:?} cannot be matched: {e}");
                None
            }
        };
        UriTemplate { re, names }
    }

    /// Matches a URI, returning the variables' values.
    pub(crate) fn matches(&self, uri: &str) -> Option<BTreeMap<String, String>> {
        let caps = self.re.as_ref()?.captures(uri)?;
        Some(
            self.names
                .iter()
                .enumerate()
                .filter_map(|(i, n)| Some((n.clone(), caps.get(i + 1)?.as_str().to_owned())))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_matching() {
        let t = UriTemplate::parse("test://template/{id}/data");
        let vars = t.matches("test://template/42/data").expect("matches");
        assert_eq!(vars.get("id").map(String::as_str), Some("42"));
        assert!(t.matches("test://template//data").is_none());
        assert!(t.matches("test://template/a/b/data").is_none());
        assert!(t.matches("test://other/42/data").is_none());
        let t = UriTemplate::parse("file:///{+path}");
        let vars = t.matches("file:///a/b/c.txt").expect("matches");
        assert_eq!(vars["path"], "a/b/c.txt");
        // A URI built to make naive backtracking blow up is answered at once.
        let t = UriTemplate::parse("mem://{+a}.{+b}.{+c}/x");
        let hostile = format!("mem://{}", ".".repeat(1 << 20));
        assert!(t.matches(&hostile).is_none());
        let t = UriTemplate::parse("x://{a}.({b})");
        assert_eq!(
            t.matches("x://1.(2)")
                .expect("literal regex characters are escaped")["b"],
            "2"
        );
    }
}
