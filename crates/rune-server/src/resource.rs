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

/// A parsed URI template: literal parts and `{name}` variables (also `{+name}`, which may
/// match `/`).
#[derive(Debug)]
pub(crate) struct UriTemplate {
    parts: Vec<Part>,
}

#[derive(Debug)]
enum Part {
    Lit(String),
    Var { name: String, reserved: bool },
}

impl UriTemplate {
    pub(crate) fn parse(t: &str) -> UriTemplate {
        let mut parts = Vec::new();
        let mut rest = t;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}').map(|c| open + c) else {
                break;
            };
            if open > 0 {
                parts.push(Part::Lit(rest[..open].to_owned()));
            }
            let inner = &rest[open + 1..close];
            let (reserved, name) = match inner.strip_prefix('+') {
                Some(n) => (true, n),
                None => (false, inner),
            };
            parts.push(Part::Var {
                name: name.to_owned(),
                reserved,
            });
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_owned()));
        }
        UriTemplate { parts }
    }

    /// Matches a URI; variables match at least one character, `/` only for `{+var}`.
    pub(crate) fn matches(&self, uri: &str) -> Option<BTreeMap<String, String>> {
        let mut vars = BTreeMap::new();
        if self.match_from(0, uri, &mut vars) {
            Some(vars)
        } else {
            None
        }
    }

    fn match_from(&self, i: usize, s: &str, vars: &mut BTreeMap<String, String>) -> bool {
        match self.parts.get(i) {
            None => s.is_empty(),
            Some(Part::Lit(l)) => s
                .strip_prefix(l.as_str())
                .is_some_and(|r| self.match_from(i + 1, r, vars)),
            Some(Part::Var { name, reserved }) => {
                // Try the shortest value first so a following literal anchors the match.
                let limit = if *reserved {
                    s.len()
                } else {
                    s.find('/').unwrap_or(s.len())
                };
                for end in (1..=limit).filter(|&e| s.is_char_boundary(e)) {
                    if self.match_from(i + 1, &s[end..], vars) {
                        vars.insert(name.clone(), s[..end].to_owned());
                        return true;
                    }
                }
                false
            }
        }
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
    }
}
