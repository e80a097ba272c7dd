//! The HTTP layer every provider shares: one pooled client, timeouts, the rate limiter and
//! the retry loop.
//!
//! [`shared_client`] is built once per process (rustls, keep-alive connections pooled per
//! host, TCP keep-alive, connect and read timeouts), so every provider object reuses warm
//! connections. `Http::send` sends one request: it waits for the [`RateLimiter`], sends,
//! and on an error status reads the body (64 KiB at most), asks the provider to map it to an
//! [`Error`], adds the server's delay from the headers, removes the key from the message, and
//! retries per the [`RetryPolicy`]. A 2xx response is handed back as it is: the body, a
//! stream perhaps, is read by the caller and never retried.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, Response, StatusCode};

use crate::error::{Error, Result};
use crate::limit::RateLimiter;
use crate::retry::{RetryPolicy, Sleeper, exhausted_reset, retry_after, tokio_sleeper};

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest silence between two reads of a response (a slow model's first token counts).
pub const READ_TIMEOUT: Duration = Duration::from_secs(300);
/// How much of an error body is read.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The process-wide pooled client with the default timeouts.
pub fn shared_client() -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| build_client(CONNECT_TIMEOUT, READ_TIMEOUT))
        .clone()
}

/// A client with other timeouts (same pooling).
pub fn build_client(connect_timeout: Duration, read_timeout: Duration) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .read_timeout(read_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(16)
        .tcp_keepalive(Duration::from_secs(60))
        .tcp_nodelay(true)
        .user_agent(concat!("rune-providers/", env!("CARGO_PKG_VERSION")));
    match builder.build() {
        Ok(c) => c,
        Err(e) => {
            // Only a broken TLS backend fails here; a default client still works for http.
            tracing::warn!("cannot build the HTTP client ({e}); using defaults");
            reqwest::Client::new()
        }
    }
}

/// A provider's view of the network: client, retries, limiter, sleeper.
#[derive(Clone)]
pub struct Http {
    pub(crate) client: reqwest::Client,
    pub(crate) retry: RetryPolicy,
    pub(crate) limiter: Option<Arc<RateLimiter>>,
    pub(crate) sleeper: Sleeper,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("retry", &self.retry)
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl Default for Http {
    fn default() -> Self {
        Http {
            client: shared_client(),
            retry: RetryPolicy::default(),
            limiter: None,
            sleeper: tokio_sleeper(),
        }
    }
}

/// Maps an error response: status, headers and body (lossily decoded) to an [`Error`].
pub(crate) type ErrorMapper = fn(StatusCode, &str) -> Error;

impl Http {
    /// The shared client, default retries, no limiter.
    pub fn new() -> Self {
        Self::default()
    }
    /// Another client (other timeouts, a proxy).
    pub fn with_client(mut self, client: reqwest::Client) -> Self {
        self.client = client;
        self
    }
    /// Another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
    /// A rate limiter (shared by every provider given the same `Arc`).
    pub fn with_limiter(mut self, limiter: Arc<RateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }
    /// Another sleeper (tests: record the waits instead of sleeping).
    pub fn with_sleeper(mut self, sleeper: Sleeper) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// Sends the request `build` makes (once per attempt), retrying as the module
    /// documentation says; `secret` is removed from error messages.
    pub(crate) async fn send(
        &self,
        build: &(dyn Fn() -> RequestBuilder + Send + Sync),
        tokens: u32,
        map: ErrorMapper,
        secret: Option<&str>,
    ) -> Result<Response> {
        let mut attempt = 0;
        loop {
            if let Some(l) = &self.limiter {
                l.acquire(tokens).await;
            }
            let error = match build().send().await {
                Ok(resp) if resp.status().is_success() => {
                    self.observe(resp.headers()).await;
                    return Ok(resp);
                }
                Ok(resp) => error_from_response(resp, map).await,
                Err(e) => Error::from_reqwest(&e),
            };
            let error = match secret {
                Some(s) => error.redact(s),
                None => error,
            };
            let Some(delay) = self.retry.delay(attempt, &error, fastrand::f64()) else {
                return Err(error);
            };
            tracing::debug!(attempt, ?delay, %error, "retrying");
            (self.sleeper)(delay).await;
            attempt += 1;
        }
    }

    /// A success that says a rate-limit bucket is empty pauses the limiter until it resets.
    async fn observe(&self, headers: &HeaderMap) {
        let Some(l) = &self.limiter else { return };
        let any_zero = headers.iter().any(|(k, v)| {
            let k = k.as_str();
            (k.starts_with("x-ratelimit-remaining-") || k.starts_with("anthropic-ratelimit-"))
                && k.contains("remaining")
                && v.as_bytes() == b"0"
        });
        if any_zero && let Some(d) = exhausted_reset(headers, SystemTime::now()) {
            l.pause_for(d).await;
        }
    }
}

/// Reads an error response into an [`Error`] (status, mapped body, server delay).
async fn error_from_response(resp: Response, map: ErrorMapper) -> Error {
    let status = resp.status();
    let delay = retry_after(resp.headers(), SystemTime::now());
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => {
                let room = MAX_ERROR_BODY - body.len();
                body.extend_from_slice(&c[..c.len().min(room)]);
                if body.len() >= MAX_ERROR_BODY {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&body);
    map(status, &text)
        .with_status(status.as_u16())
        .with_retry_after(delay)
}

/// Reads a whole successful body as JSON (invalid UTF-8 replaced first).
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(resp: Response) -> Result<T> {
    let bytes = resp.bytes().await.map_err(|e| Error::from_reqwest(&e))?;
    let text = String::from_utf8_lossy(&bytes);
    serde_json::from_str(&text)
        .map_err(|e| Error::protocol(format!("the answer is not the expected JSON: {e}")))
}

/// Joins a base URL and a path with exactly one slash.
pub(crate) fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}
