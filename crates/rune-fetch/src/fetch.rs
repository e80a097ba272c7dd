//! [`Fetcher`]: one HTTP request as `web_fetch` makes it, redirects and cache included.
//!
//! Redirects are followed here, one hop at a time, rather than by the HTTP client, so that
//! each hop is treated like a first request: its URL is checked (scheme, and the address
//! when the host is an IP literal), the cache is asked about it, and its connection goes
//! through the guarded resolver (names) and is checked again once connected (the peer's
//! address). A hop that fails any check ends the whole fetch with the reason.
//!
//! The whole fetch, redirects and body included, runs under one deadline
//! ([`FetchOptions::timeout`]); reading the body stops at [`FetchOptions::max_bytes`] of
//! decoded content, so neither a slow server nor an endless or highly compressed body can
//! hold a call or the memory for long.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Url;
use reqwest::header::{self, HeaderMap};
use serde::{Deserialize, Serialize};

use crate::addr::url_host::host_ip;
use crate::addr::{AddressPolicy, Refused};
use crate::cache::{self, Cache, CacheOptions, Entry, Meta};
use crate::resolve::{GuardedResolver, Lookup, SystemLookup, refused_in};

/// Settings of the fetcher.
#[derive(Clone)]
pub struct FetchOptions {
    /// Allow loopback addresses (`127/8`, `::1`). Off by default; tests against a local
    /// server turn it on.
    pub allow_loopback: bool,
    /// Allow private networks (`10/8`, `172.16/12`, `192.168/16`, `100.64/10`,
    /// `fc00::/7`). Link-local and cloud metadata addresses are refused regardless.
    pub allow_private: bool,
    /// Time to establish a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of a response.
    pub read_timeout: Duration,
    /// Deadline of a whole call: every redirect, and the body.
    pub timeout: Duration,
    /// Most bytes of (decoded) body read; the rest is left unread and the result says so.
    pub max_bytes: u64,
    /// Most redirects followed.
    pub max_redirects: usize,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// The response cache.
    pub cache: CacheOptions,
    /// Where host names are resolved (the system's resolver by default).
    pub lookup: Arc<dyn Lookup>,
}

impl fmt::Debug for FetchOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchOptions")
            .field("allow_loopback", &self.allow_loopback)
            .field("allow_private", &self.allow_private)
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("timeout", &self.timeout)
            .field("max_bytes", &self.max_bytes)
            .field("max_redirects", &self.max_redirects)
            .field("user_agent", &self.user_agent)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// The default `User-Agent`.
pub const USER_AGENT: &str = concat!(
    "Rune-web_fetch/",
    env!("CARGO_PKG_VERSION"),
    " (Model Context Protocol tool)"
);

impl Default for FetchOptions {
    /// Public addresses only; 10 s to connect, 20 s between reads, 30 s in all; 10 MiB of
    /// body; 10 redirects; the default cache.
    fn default() -> Self {
        FetchOptions {
            allow_loopback: false,
            allow_private: false,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(20),
            timeout: Duration::from_secs(30),
            max_bytes: 10 << 20,
            max_redirects: 10,
            user_agent: USER_AGENT.to_owned(),
            cache: CacheOptions::default(),
            lookup: Arc::new(SystemLookup),
        }
    }
}

impl FetchOptions {
    /// The options with the cache in memory only, or in `dir`.
    pub fn cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.cache.dir = dir;
        self
    }
}

/// The HTTP method of a fetch.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum Method {
    /// The resource itself.
    #[default]
    #[serde(rename = "GET")]
    Get,
    /// Only its status and headers.
    #[serde(rename = "HEAD")]
    Head,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
        }
    }
}

/// Where a result came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CacheStatus {
    /// A fresh cached copy; the origin was not asked.
    Hit,
    /// A cached copy the origin confirmed unchanged (`304 Not Modified`).
    Revalidated,
    /// Fetched from the origin.
    Miss,
    /// Not cacheable: the cache is off, or the method is HEAD.
    Off,
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL does not parse.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The text given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Not http or https.
    #[error("unsupported URL scheme {0:?}: web_fetch fetches http:// and https:// URLs only")]
    Scheme(String),
    /// The address policy refused a host.
    #[error("{0}")]
    Refused(Refused),
    /// More redirects than allowed.
    #[error("too many redirects (more than {0}); the last went to {1}")]
    TooManyRedirects(usize, String),
    /// A time limit passed: the whole call's deadline, the wait for a connection, or the
    /// wait between reads.
    #[error("timed out fetching {url} (after {secs:.1} s)", url = .1, secs = .0.as_secs_f64())]
    Timeout(Duration, String),
    /// No connection, or the request failed before a response.
    #[error("could not fetch {url}: {message}")]
    Request {
        /// The URL of the hop that failed.
        url: String,
        /// What the HTTP client said.
        message: String,
    },
    /// The body could not be read or decoded.
    #[error("the response from {url} could not be read: {message}")]
    Body {
        /// The URL.
        url: String,
        /// What went wrong (a malformed gzip/br/zstd stream, a connection reset, …).
        message: String,
    },
    /// A `Content-Encoding` that is not decoded here.
    #[error(
        "the response from {url} uses the content encoding {encoding:?}, which web_fetch \
         cannot decode (it decodes gzip, br and zstd)"
    )]
    UnsupportedEncoding {
        /// The URL.
        url: String,
        /// The encoding.
        encoding: String,
    },
    /// The HTTP client could not be built.
    #[error("the HTTP client could not be set up: {0}")]
    Setup(String),
}

/// The result of a fetch.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub(crate) final_url: Url,
    pub(crate) status: u16,
    pub(crate) entry: Arc<Entry>,
    pub(crate) cache: CacheStatus,
    pub(crate) redirects: Vec<String>,
    pub(crate) body_truncated: bool,
    pub(crate) headers: BTreeMap<String, String>,
}

impl Fetched {
    /// The URL of the response, after redirects.
    pub fn final_url(&self) -> &Url {
        &self.final_url
    }
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }
    /// The body, content-decoded.
    pub fn body(&self) -> &[u8] {
        &self.entry.body
    }
    /// The `Content-Type` header.
    pub fn content_type(&self) -> Option<&str> {
        self.entry.meta.content_type.as_deref()
    }
    /// Where the result came from.
    pub fn cache(&self) -> CacheStatus {
        self.cache
    }
    /// The URLs redirected from, in order.
    pub fn redirects(&self) -> &[String] {
        &self.redirects
    }
    /// True when the body was cut at the size cap.
    pub fn body_truncated(&self) -> bool {
        self.body_truncated
    }
}

/// Reports download progress: bytes so far and the expected total when known.
pub type Progress<'a> = &'a (dyn Fn(u64, Option<u64>) + Send + Sync);

/// Fetches URLs (see the module docs). Cheap to share: one pooled client and one cache.
#[derive(Debug)]
pub struct Fetcher {
    client: reqwest::Client,
    policy: AddressPolicy,
    opts: FetchOptions,
    cache: Option<Cache>,
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = s.source();
    }
    parts.join(": ")
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// Parses a URL as a fetch target.
pub(crate) fn parse_url(text: &str) -> Result<Url, FetchError> {
    let url = Url::parse(text.trim()).map_err(|e| FetchError::InvalidUrl {
        url: text.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(url)
}

impl Fetcher {
    /// A fetcher with these options.
    pub fn new(opts: FetchOptions) -> Result<Fetcher, FetchError> {
        let policy = AddressPolicy {
            allow_loopback: opts.allow_loopback,
            allow_private: opts.allow_private,
        };
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                lookup: opts.lookup.clone(),
                policy,
            }))
            // Redirects are followed by `follow`, one checked hop at a time.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would connect on our behalf to addresses we never check.
            .no_proxy()
            .connect_timeout(opts.connect_timeout)
            .read_timeout(opts.read_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(8)
            .user_agent(opts.user_agent.clone())
            .referer(false)
            .gzip(true)
            .brotli(true)
            .zstd(true)
            .build()
            .map_err(|e| FetchError::Setup(chain(&e)))?;
        let cache = opts.cache.enabled.then(|| Cache::new(&opts.cache));
        Ok(Fetcher {
            client,
            policy,
            opts,
            cache,
        })
    }

    /// The options.
    pub fn options(&self) -> &FetchOptions {
        &self.opts
    }

    /// Forgets the cache's memory tier (the disk store stays): for tests and benchmarks.
    pub fn clear_memory_cache(&self) {
        if let Some(c) = &self.cache {
            c.clear_memory();
        }
    }

    /// Bytes in the disk store, when there is one.
    pub fn disk_cache_bytes(&self) -> Option<u64> {
        self.cache.as_ref().and_then(Cache::disk_bytes)
    }

    /// Fetches `url`. With `refresh`, a fresh cached copy is revalidated instead of served.
    pub async fn fetch(
        &self,
        url: &str,
        method: Method,
        refresh: bool,
        progress: Progress<'_>,
    ) -> Result<Fetched, FetchError> {
        let url = parse_url(url)?;
        let shown = url.to_string();
        match tokio::time::timeout(
            self.opts.timeout,
            self.follow(url, method, refresh, progress),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout(self.opts.timeout, shown)),
        }
    }

    /// Checks a hop's URL before anything is sent: scheme, host, and an IP-literal host's
    /// address (names are checked by the resolver).
    fn check_url(&self, url: &Url) -> Result<(), FetchError> {
        match url.scheme() {
            "http" | "https" => {}
            other => return Err(FetchError::Scheme(other.to_owned())),
        }
        let Some(host) = url.host_str() else {
            return Err(FetchError::InvalidUrl {
                url: url.to_string(),
                reason: "no host".into(),
            });
        };
        if let Some(ip) = host_ip(url) {
            self.policy.check(ip).map_err(|range| {
                FetchError::Refused(Refused {
                    host: host.to_owned(),
                    addr: ip,
                    range,
                })
            })?;
        }
        Ok(())
    }

    fn request_error(&self, url: &Url, e: &reqwest::Error, started: Instant) -> FetchError {
        if let Some(r) = refused_in(e) {
            return FetchError::Refused(r);
        }
        if e.is_timeout() {
            return FetchError::Timeout(started.elapsed(), url.to_string());
        }
        FetchError::Request {
            url: url.to_string(),
            message: chain(e),
        }
    }

    async fn follow(
        &self,
        mut url: Url,
        method: Method,
        refresh: bool,
        progress: Progress<'_>,
    ) -> Result<Fetched, FetchError> {
        let started = Instant::now();
        let mut redirects: Vec<String> = Vec::new();
        let gets = self.cache.as_ref().filter(|_| method == Method::Get);
        loop {
            self.check_url(&url)?;
            // The fragment is never sent; it must not split the cache either.
            url.set_fragment(None);
            // A URL with credentials is personal: neither served from nor kept in the cache
            // (whose files would hold it in clear).
            let cache = gets.filter(|_| url.username().is_empty() && url.password().is_none());
            let key = cache::key(method.as_str(), url.as_str());
            let cached = match cache {
                Some(c) => c.get(&key).await,
                None => None,
            };
            let done =
                |entry: Arc<Entry>, status: CacheStatus, url: Url, redirects, truncated| Fetched {
                    final_url: url,
                    status: entry.meta.status,
                    entry,
                    cache: status,
                    redirects,
                    body_truncated: truncated,
                    headers: BTreeMap::new(),
                };
            if let Some(e) = &cached
                && !refresh
                && e.is_fresh(cache::unix_now())
            {
                if let Some(to) = e.meta.location.clone() {
                    url = self.next_hop(&url, &to, &mut redirects)?;
                    continue;
                }
                return Ok(done(e.clone(), CacheStatus::Hit, url, redirects, false));
            }
            let mut req = self
                .client
                .request(
                    match method {
                        Method::Get => reqwest::Method::GET,
                        Method::Head => reqwest::Method::HEAD,
                    },
                    url.clone(),
                )
                .header(
                    header::ACCEPT,
                    "text/html,application/xhtml+xml,text/markdown;q=0.9,text/plain;q=0.9,\
                     application/json;q=0.9,*/*;q=0.8",
                );
            if let Some(e) = &cached {
                if let Some(etag) = &e.meta.etag {
                    req = req.header(header::IF_NONE_MATCH, etag);
                }
                if let Some(lm) = &e.meta.last_modified {
                    req = req.header(header::IF_MODIFIED_SINCE, lm);
                }
            }
            let mut resp = req
                .send()
                .await
                .map_err(|e| self.request_error(&url, &e, started))?;
            // The resolver only returned checked addresses; this confirms the connection
            // really went to one (and covers IP literals the same way).
            if let Some(peer) = resp.remote_addr()
                && let Err(range) = self.policy.check(peer.ip())
            {
                return Err(FetchError::Refused(Refused {
                    host: url.host_str().unwrap_or_default().to_owned(),
                    addr: peer.ip(),
                    range,
                }));
            }
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            if status == 304
                && let Some(old) = cached
            {
                let renewed = Entry::new(cache::renewed(&old.meta, &headers), old.body.clone());
                // Same body, same type: the text already made from it still holds.
                for (new, was) in renewed.rendered.iter().zip(&old.rendered) {
                    if let Some(r) = was.get() {
                        let _ = new.set(r.clone());
                    }
                }
                let entry = Arc::new(renewed);
                if let Some(c) = cache {
                    c.put(key, entry.clone()).await;
                }
                if let Some(to) = entry.meta.location.clone() {
                    url = self.next_hop(&url, &to, &mut redirects)?;
                    continue;
                }
                return Ok(done(entry, CacheStatus::Revalidated, url, redirects, false));
            }
            if is_redirect(status)
                && let Some(to) = headers.get(header::LOCATION).and_then(|v| v.to_str().ok())
            {
                if let Some(c) = cache
                    && let Some(meta) = cache::storable_meta(url.as_str(), status, &headers)
                {
                    c.put(key, Arc::new(Entry::new(meta, Vec::new()))).await;
                }
                url = self.next_hop(&url, to, &mut redirects)?;
                continue;
            }
            if let Some(enc) = headers
                .get(header::CONTENT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case("identity"))
            {
                return Err(FetchError::UnsupportedEncoding {
                    url: url.to_string(),
                    encoding: enc.to_owned(),
                });
            }
            let (body, truncated) = match method {
                Method::Head => (Vec::new(), false),
                Method::Get => self.read_body(&url, &mut resp, progress, started).await?,
            };
            let stored = if truncated {
                None
            } else {
                cache.and_then(|_| cache::storable_meta(url.as_str(), status, &headers))
            };
            let status_word = if cache.is_some() {
                CacheStatus::Miss
            } else {
                CacheStatus::Off
            };
            let entry = match stored {
                Some(meta) => {
                    let e = Arc::new(Entry::new(meta, body));
                    if let Some(c) = cache {
                        c.put(key, e.clone()).await;
                    }
                    e
                }
                None => Arc::new(Entry::new(plain_meta(&url, status, &headers), body)),
            };
            let mut out = done(entry, status_word, url, redirects, truncated);
            if method == Method::Head {
                out.headers = header_map(&headers);
            }
            return Ok(out);
        }
    }

    fn next_hop(
        &self,
        from: &Url,
        location: &str,
        redirects: &mut Vec<String>,
    ) -> Result<Url, FetchError> {
        let to = from.join(location).map_err(|e| FetchError::InvalidUrl {
            url: location.to_owned(),
            reason: format!("bad redirect from {from}: {e}"),
        })?;
        redirects.push(from.to_string());
        if redirects.len() > self.opts.max_redirects {
            return Err(FetchError::TooManyRedirects(
                self.opts.max_redirects,
                to.to_string(),
            ));
        }
        Ok(to)
    }

    async fn read_body(
        &self,
        url: &Url,
        resp: &mut reqwest::Response,
        progress: Progress<'_>,
        started: Instant,
    ) -> Result<(Vec<u8>, bool), FetchError> {
        let max = usize::try_from(self.opts.max_bytes).unwrap_or(usize::MAX);
        let total = resp.content_length();
        let hint = total
            .and_then(|t| usize::try_from(t).ok())
            .unwrap_or(0)
            .min(max)
            .min(4 << 20);
        let mut body = Vec::with_capacity(hint);
        let mut reported = 0usize;
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    let room = max - body.len();
                    if c.len() > room {
                        body.extend_from_slice(&c[..room]);
                        return Ok((body, true));
                    }
                    body.extend_from_slice(&c);
                    if body.len() - reported >= 64 * 1024 {
                        reported = body.len();
                        progress(reported as u64, total);
                    }
                }
                Ok(None) => return Ok((body, false)),
                Err(e) if e.is_timeout() => {
                    return Err(FetchError::Timeout(started.elapsed(), url.to_string()));
                }
                Err(e) => {
                    return Err(FetchError::Body {
                        url: url.to_string(),
                        message: chain(&e),
                    });
                }
            }
        }
    }
}

/// The meta of a response that is not stored (it still tells the tool the type and status).
fn plain_meta(url: &Url, status: u16, headers: &HeaderMap) -> Meta {
    Meta {
        url: url.to_string(),
        status,
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        location: None,
        etag: None,
        last_modified: None,
        stored_at: cache::unix_now(),
        fresh_until: 0,
        no_cache: true,
    }
}

fn header_map(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in headers {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        out.entry(k.as_str().to_owned())
            .and_modify(|e: &mut String| {
                e.push_str(", ");
                e.push_str(&v);
            })
            .or_insert(v);
    }
    out
}
