//! What every HTTP request passes before it reaches MCP: the `Host`/`Origin` check (DNS
//! rebinding) and, when configured, a bearer token.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Bearer-token authentication.
#[derive(Clone, Default)]
pub struct BearerAuth {
    /// Tokens accepted (compared in constant time).
    pub tokens: Vec<String>,
    /// Served at `/.well-known/oauth-protected-resource` and named in the challenge.
    pub metadata: Option<ResourceMetadata>,
}

impl std::fmt::Debug for BearerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerAuth")
            .field("tokens", &self.tokens.len())
            .field("metadata", &self.metadata)
            .finish()
    }
}

/// OAuth 2.0 protected resource metadata (RFC 9728).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ResourceMetadata {
    /// The resource's identifier: the MCP endpoint's URL.
    pub resource: String,
    /// The authorization servers that issue tokens for it.
    pub authorization_servers: Vec<String>,
    /// Scopes, if any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// Always `["header"]`.
    pub bearer_methods_supported: Vec<String>,
}

impl ResourceMetadata {
    /// Metadata for `resource` served by `authorization_servers`.
    pub fn new(resource: impl Into<String>, authorization_servers: Vec<String>) -> Self {
        ResourceMetadata {
            resource: resource.into(),
            authorization_servers,
            scopes_supported: Vec::new(),
            bearer_methods_supported: vec!["header".into()],
        }
    }
}

/// The host name of a `Host` header value or of an origin URL's authority, lowercased,
/// without port or brackets.
fn host_name(authority: &str) -> String {
    let a = authority.trim().to_ascii_lowercase();
    if let Some(rest) = a.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("").to_owned();
    }
    match a.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h.to_owned(),
        _ => a,
    }
}

fn allowed(name: &str, hosts: &[String]) -> bool {
    hosts
        .iter()
        .any(|h| h == "*" || h.eq_ignore_ascii_case(name))
}

/// Refuses a request whose `Host` or `Origin` names a host that is not allowed (403).
pub(crate) fn check_host(headers: &HeaderMap, hosts: &[String]) -> Result<(), Response> {
    if hosts.iter().any(|h| h == "*") {
        return Ok(());
    }
    if let Some(host) = headers.get(header::HOST) {
        let name = host.to_str().map(host_name).unwrap_or_default();
        if !allowed(&name, hosts) {
            return Err(forbidden(&format!("Host {name:?} is not allowed")));
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let text = origin.to_str().unwrap_or("");
        // `null` (sandboxed documents, file:) is never a trusted origin.
        let authority = text
            .split_once("://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or(""))
            .unwrap_or("");
        let name = host_name(authority);
        if name.is_empty() || !allowed(&name, hosts) {
            return Err(forbidden(&format!("Origin {text:?} is not allowed")));
        }
    }
    Ok(())
}

fn forbidden(msg: &str) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": -32600, "message": format!("Forbidden: {msg} (DNS rebinding protection; allow it with --allowed-host)")}
    });
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // Compare digests, so neither the length nor the first difference leaks through timing.
    blake3::hash(a) == blake3::hash(b)
}

impl BearerAuth {
    /// Checks the `Authorization` header; the refusal is 401 with a `WWW-Authenticate`
    /// challenge that names the resource metadata URL.
    pub(crate) fn check(&self, headers: &HeaderMap, metadata_url: &str) -> Result<(), Response> {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            });
        let ok = given.is_some_and(|t| {
            self.tokens
                .iter()
                .any(|k| constant_time_eq(k.as_bytes(), t.as_bytes()))
        });
        if ok {
            return Ok(());
        }
        let mut challenge = String::from("Bearer");
        if given.is_some() {
            challenge.push_str(
                " error=\"invalid_token\", error_description=\"The access token is invalid\",",
            );
        }
        if self.metadata.is_some() {
            challenge.push_str(&format!(" resource_metadata=\"{metadata_url}\""));
        }
        let challenge = challenge.trim_end_matches(',').to_owned();
        let body = serde_json::json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": {"code": -32001, "message": "Unauthorized: a valid bearer token is required"}
        });
        let mut resp = (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        Err(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn hosts_and_origins() {
        let hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
        assert!(check_host(&headers(&[("host", "127.0.0.1:8080")]), &hosts).is_ok());
        assert!(check_host(&headers(&[("host", "[::1]:9")]), &hosts).is_ok());
        assert!(check_host(&headers(&[("host", "LOCALHOST")]), &hosts).is_ok());
        assert!(check_host(&headers(&[("host", "evil.example.com")]), &hosts).is_err());
        assert!(check_host(&headers(&[("host", "localhost.evil.com:80")]), &hosts).is_err());
        assert!(
            check_host(
                &headers(&[
                    ("host", "localhost:1"),
                    ("origin", "http://evil.example.com")
                ]),
                &hosts
            )
            .is_err()
        );
        assert!(
            check_host(
                &headers(&[("host", "localhost:1"), ("origin", "http://localhost:3000")]),
                &hosts
            )
            .is_ok()
        );
        assert!(check_host(&headers(&[("origin", "null")]), &hosts).is_err());
        assert!(check_host(&headers(&[("host", "anything")]), &["*".into()]).is_ok());
    }

    #[test]
    fn bearer() {
        let auth = BearerAuth {
            tokens: vec!["s3cret".into()],
            metadata: Some(ResourceMetadata::new("http://localhost/mcp", vec![])),
        };
        let url = "http://localhost/.well-known/oauth-protected-resource/mcp";
        assert!(
            auth.check(&headers(&[("authorization", "Bearer s3cret")]), url)
                .is_ok()
        );
        let r = auth
            .check(&headers(&[("authorization", "Bearer nope")]), url)
            .expect_err("refused");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let c = r.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .expect("ascii");
        assert!(c.starts_with("Bearer error=\"invalid_token\""), "{c}");
        assert!(c.contains(url), "{c}");
        let r = auth.check(&HeaderMap::new(), url).expect_err("refused");
        let c = r.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .expect("ascii");
        assert_eq!(c, format!("Bearer resource_metadata=\"{url}\""));
    }
}
