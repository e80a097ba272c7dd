//! One error type for every provider.
//!
//! Each provider reports failures its own way: Ollama as `{"error": "text"}`, OpenAI and
//! Azure as `{"error": {"message", "type", "code"}}`, Anthropic as
//! `{"type": "error", "error": {"type", "message"}}`, with HTTP statuses that mostly agree.
//! The provider modules read those bodies and produce an [`Error`] whose [`ErrorKind`] says
//! what a caller can do about it: fix the key, wait and retry, shorten the prompt, or give up.
//!
//! An error's message is what the provider said, cut to 500 characters, stripped of
//! terminal control sequences, and with the API key replaced by `[redacted]` wherever the
//! server echoed it. The request's headers are never part of an error.

use std::fmt;
use std::time::Duration;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The key is missing, malformed or revoked (401).
    Authentication,
    /// The key may not use this model or endpoint (403).
    PermissionDenied,
    /// No such model, deployment or endpoint (404).
    NotFound,
    /// Too many requests or tokens for now (429); retried after the server's delay.
    RateLimited,
    /// The account's quota or credit is used up (OpenAI's 429 `insufficient_quota`); not
    /// retried, waiting does not help.
    QuotaExceeded,
    /// The provider is overloaded (Anthropic 529, 503); retried.
    Overloaded,
    /// The prompt does not fit the model's context window (or the request body is too
    /// large, 413).
    ContextTooLong,
    /// The request is malformed, or failed validation before it was sent (400, 422).
    InvalidRequest,
    /// The provider failed (500, 502, 504, a mid-stream `api_error`); retried.
    Server,
    /// The connection failed or broke.
    Network,
    /// No answer in time (connect or read timeout, 408).
    Timeout,
    /// The provider answered something this crate cannot read.
    Protocol,
    /// The provider is not configured: a missing environment variable, a bad base URL.
    Config,
    /// The provider cannot do this (embeddings on Anthropic).
    Unsupported,
}

impl ErrorKind {
    fn describe(self) -> &'static str {
        match self {
            ErrorKind::Authentication => "authentication failed",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::NotFound => "not found",
            ErrorKind::RateLimited => "rate limited",
            ErrorKind::QuotaExceeded => "quota exceeded",
            ErrorKind::Overloaded => "provider overloaded",
            ErrorKind::ContextTooLong => "context too long",
            ErrorKind::InvalidRequest => "invalid request",
            ErrorKind::Server => "provider error",
            ErrorKind::Network => "network error",
            ErrorKind::Timeout => "timed out",
            ErrorKind::Protocol => "unreadable answer",
            ErrorKind::Config => "not configured",
            ErrorKind::Unsupported => "unsupported",
        }
    }
}

/// A provider failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    status: Option<u16>,
    message: String,
    retry_after: Option<Duration>,
}

/// A result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The longest message kept from a provider's answer.
const MAX_MESSAGE: usize = 500;

impl Error {
    /// An error of this kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            status: None,
            message: clean(&message.into()),
            retry_after: None,
        }
    }
    /// An invalid request (validation failed before sending).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }
    /// A configuration problem.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }
    /// An unreadable answer.
    pub fn protocol(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Protocol, message)
    }
    /// With the HTTP status it came with.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }
    /// With the delay the server asked for.
    pub fn with_retry_after(mut self, delay: Option<Duration>) -> Self {
        self.retry_after = delay;
        self
    }
    /// Replaces every occurrence of `secret` (at least 4 characters) in the message.
    pub fn redact(mut self, secret: &str) -> Self {
        if secret.len() >= 4 && self.message.contains(secret) {
            self.message = self.message.replace(secret, "[redacted]");
        }
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// The HTTP status, when the error came from one.
    pub fn status(&self) -> Option<u16> {
        self.status
    }
    /// The provider's message (cleaned; see the module documentation).
    pub fn message(&self) -> &str {
        &self.message
    }
    /// How long the server asked to wait before retrying (`Retry-After`, `retry-after-ms`,
    /// the rate-limit reset headers).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
    /// Whether sending the same request again may succeed: rate limits, overload, server
    /// errors, network failures and timeouts.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::RateLimited
                | ErrorKind::Overloaded
                | ErrorKind::Server
                | ErrorKind::Network
                | ErrorKind::Timeout
        )
    }

    /// The kind an HTTP status means when the body says nothing more precise.
    pub fn kind_for_status(status: u16) -> ErrorKind {
        match status {
            401 => ErrorKind::Authentication,
            402 => ErrorKind::QuotaExceeded,
            403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            408 => ErrorKind::Timeout,
            413 => ErrorKind::ContextTooLong,
            429 => ErrorKind::RateLimited,
            503 | 529 => ErrorKind::Overloaded,
            504 => ErrorKind::Timeout,
            500..=599 => ErrorKind::Server,
            _ => ErrorKind::InvalidRequest,
        }
    }

    /// Maps a transport failure of reqwest.
    pub(crate) fn from_reqwest(e: &reqwest::Error) -> Self {
        let kind = if e.is_timeout() {
            ErrorKind::Timeout
        } else if e.is_decode() {
            ErrorKind::Protocol
        } else {
            ErrorKind::Network
        };
        // reqwest's Display names the URL, which never holds a key in this crate; the
        // source chain says why (connection refused, reset, ...).
        let mut message = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        Error::new(kind, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.describe())?;
        if let Some(s) = self.status {
            write!(f, " (HTTP {s})")?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(d) = self.retry_after {
            write!(f, " (retry after {:.3}s)", d.as_secs_f64())?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// Cuts and sanitizes a message from a peer.
fn clean(message: &str) -> String {
    let cleaned = crate::sanitize::strip_controls(message, false);
    let trimmed = cleaned.trim();
    if trimmed.chars().count() <= MAX_MESSAGE {
        return trimmed.to_owned();
    }
    let mut out: String = trimmed.chars().take(MAX_MESSAGE).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_kinds() {
        let table = [
            (400, ErrorKind::InvalidRequest),
            (401, ErrorKind::Authentication),
            (402, ErrorKind::QuotaExceeded),
            (403, ErrorKind::PermissionDenied),
            (404, ErrorKind::NotFound),
            (408, ErrorKind::Timeout),
            (413, ErrorKind::ContextTooLong),
            (422, ErrorKind::InvalidRequest),
            (429, ErrorKind::RateLimited),
            (500, ErrorKind::Server),
            (502, ErrorKind::Server),
            (503, ErrorKind::Overloaded),
            (504, ErrorKind::Timeout),
            (529, ErrorKind::Overloaded),
        ];
        for (status, kind) in table {
            assert_eq!(Error::kind_for_status(status), kind, "{status}");
        }
    }

    #[test]
    fn messages_are_cut_cleaned_and_redacted() {
        let long = "x".repeat(2000);
        assert_eq!(
            Error::invalid(long).message().chars().count(),
            MAX_MESSAGE + 1
        );
        let e = Error::invalid("bad \u{1b}[31mkey sk-secret-1234\u{7}").redact("sk-secret-1234");
        assert_eq!(e.message(), "bad key [redacted]");
        assert!(!e.to_string().contains("sk-secret"));
    }

    #[test]
    fn only_transient_kinds_are_retryable() {
        assert!(Error::new(ErrorKind::RateLimited, "").is_retryable());
        assert!(Error::new(ErrorKind::Overloaded, "").is_retryable());
        assert!(!Error::new(ErrorKind::QuotaExceeded, "").is_retryable());
        assert!(!Error::new(ErrorKind::ContextTooLong, "").is_retryable());
        assert!(!Error::new(ErrorKind::Authentication, "").is_retryable());
    }
}
