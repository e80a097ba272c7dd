//! The [`Provider`] trait, the key type and choosing a provider from the environment.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::error::{Error, Result};
use crate::http::Http;
use crate::stream::ChatStream;
use crate::types::{Capabilities, ChatRequest, ChatResponse, Embeddings, ModelInfo};

/// A model API: chat (whole or streamed), tools, embeddings, models.
///
/// Every method validates its request first ([`crate::validate`]) and fails with
/// [`crate::ErrorKind::InvalidRequest`] without sending anything when it is malformed. The
/// methods return boxed futures so the trait can be used as `Arc<dyn Provider>`.
pub trait Provider: Send + Sync + fmt::Debug {
    /// `ollama`, `openai`, `anthropic` or `azure`.
    fn name(&self) -> &'static str;
    /// What it can do.
    fn capabilities(&self) -> Capabilities;
    /// One whole answer (the provider's non-streaming endpoint).
    fn chat<'a>(&'a self, req: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse>>;
    /// A streamed answer. Errors before the first event (including retries) come from the
    /// future; errors after it are items of the stream, and are never retried.
    fn chat_stream<'a>(&'a self, req: &'a ChatRequest) -> BoxFuture<'a, Result<ChatStream>>;
    /// The models it offers.
    fn list_models(&self) -> BoxFuture<'_, Result<Vec<ModelInfo>>>;
    /// Embeddings of `inputs` (unsupported where the API has none).
    fn embed<'a>(
        &'a self,
        model: &'a str,
        inputs: &'a [String],
    ) -> BoxFuture<'a, Result<Embeddings>>;
}

/// An API key. Its `Debug` and `Display` never show it, and error messages have it removed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Secret(key.into())
    }
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The four kinds of provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// Ollama's native API.
    Ollama,
    /// OpenAI Chat Completions, or any server that speaks it (`--base-url`).
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
    /// Azure OpenAI.
    Azure,
}

impl ProviderKind {
    /// Every kind.
    pub const ALL: [ProviderKind; 4] = [
        ProviderKind::Ollama,
        ProviderKind::OpenAi,
        ProviderKind::Anthropic,
        ProviderKind::Azure,
    ];
    /// Its name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Ollama => "ollama",
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Azure => "azure",
        }
    }
}

impl FromStr for ProviderKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "ollama" => Ok(ProviderKind::Ollama),
            "openai" | "openai-compatible" | "openai_compatible" => Ok(ProviderKind::OpenAi),
            "anthropic" | "claude" => Ok(ProviderKind::Anthropic),
            "azure" | "azure-openai" | "azure_openai" => Ok(ProviderKind::Azure),
            other => Err(Error::config(format!(
                "unknown provider {other:?} (ollama, openai, anthropic, azure)"
            ))),
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Builds a provider from environment variables (read through `env`, normally
/// `|k| std::env::var(k).ok()`), with `base_url` overriding the variable that names the
/// server. See `docs/providers.md` for the variables of each kind.
pub fn from_env(
    kind: ProviderKind,
    base_url: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    http: Http,
) -> Result<Arc<dyn Provider>> {
    let env = |k: &str| {
        env(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    Ok(match kind {
        ProviderKind::Ollama => {
            let url = match base_url {
                Some(u) => u.to_owned(),
                None => crate::ollama::host_url(env("OLLAMA_HOST").as_deref()),
            };
            Arc::new(crate::ollama::Ollama::new(url, http))
        }
        ProviderKind::OpenAi => {
            let url = base_url
                .map(str::to_owned)
                .or_else(|| env("OPENAI_BASE_URL"))
                .unwrap_or_else(|| crate::openai::OPENAI_BASE_URL.to_owned());
            let key = env("OPENAI_API_KEY").map(Secret::new);
            if key.is_none() && url.trim_end_matches('/') == crate::openai::OPENAI_BASE_URL {
                return Err(Error::config(
                    "OPENAI_API_KEY is not set (needed for api.openai.com; a compatible server \
                     given by OPENAI_BASE_URL or --base-url may do without)",
                ));
            }
            Arc::new(crate::openai::OpenAi::new(url, key, http))
        }
        ProviderKind::Anthropic => {
            let url = base_url
                .map(str::to_owned)
                .or_else(|| env("ANTHROPIC_BASE_URL"))
                .unwrap_or_else(|| crate::anthropic::ANTHROPIC_BASE_URL.to_owned());
            let key = env("ANTHROPIC_API_KEY")
                .map(Secret::new)
                .ok_or_else(|| Error::config("ANTHROPIC_API_KEY is not set"))?;
            Arc::new(crate::anthropic::Anthropic::new(url, key, http))
        }
        ProviderKind::Azure => {
            let endpoint = base_url
                .map(str::to_owned)
                .or_else(|| env("AZURE_OPENAI_ENDPOINT"))
                .ok_or_else(|| {
                    Error::config(
                        "AZURE_OPENAI_ENDPOINT is not set (https://RESOURCE.openai.azure.com)",
                    )
                })?;
            let key = env("AZURE_OPENAI_API_KEY")
                .map(Secret::new)
                .ok_or_else(|| Error::config("AZURE_OPENAI_API_KEY is not set"))?;
            let api = crate::openai::AzureApi::from_version(env("OPENAI_API_VERSION"));
            Arc::new(crate::openai::OpenAi::azure(endpoint, key, api, http))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("sk-live-abcdef");
        assert_eq!(format!("{s:?} {s}"), "Secret([redacted]) [redacted]");
    }

    #[test]
    fn kinds_parse() {
        assert_eq!(
            "Ollama".parse::<ProviderKind>().ok(),
            Some(ProviderKind::Ollama)
        );
        assert_eq!(
            "azure-openai".parse::<ProviderKind>().ok(),
            Some(ProviderKind::Azure)
        );
        assert!("gemini".parse::<ProviderKind>().is_err());
    }

    #[test]
    fn environment_is_honoured_and_keys_stay_hidden() {
        let vars = |k: &str| match k {
            "OPENAI_API_KEY" => Some("sk-test-key-123".to_owned()),
            "OPENAI_BASE_URL" => Some("http://127.0.0.1:9/v1".to_owned()),
            "ANTHROPIC_API_KEY" => Some("sk-ant-test-456".to_owned()),
            "AZURE_OPENAI_API_KEY" => Some("azure-key-789".to_owned()),
            "AZURE_OPENAI_ENDPOINT" => Some("https://res.openai.azure.com".to_owned()),
            "OPENAI_API_VERSION" => Some("2024-10-21".to_owned()),
            "OLLAMA_HOST" => Some("0.0.0.0:4321".to_owned()),
            _ => None,
        };
        for kind in ProviderKind::ALL {
            let p = from_env(kind, None, &vars, Http::new()).expect("configured");
            let shown = format!("{p:?}");
            for key in ["sk-test-key-123", "sk-ant-test-456", "azure-key-789"] {
                assert!(!shown.contains(key), "{kind}: {shown}");
            }
            assert_eq!(p.name(), kind.as_str());
        }
        let ollama = from_env(ProviderKind::Ollama, None, &vars, Http::new()).expect("ollama");
        assert!(format!("{ollama:?}").contains("http://0.0.0.0:4321"));
        let none = |_: &str| None;
        let e = from_env(ProviderKind::Anthropic, None, &none, Http::new()).expect_err("no key");
        assert_eq!(e.kind(), crate::ErrorKind::Config);
        let e = from_env(ProviderKind::OpenAi, None, &none, Http::new()).expect_err("no key");
        assert!(e.message().contains("OPENAI_API_KEY"));
        // A compatible server needs no key.
        assert!(
            from_env(
                ProviderKind::OpenAi,
                Some("http://127.0.0.1:9/v1"),
                &none,
                Http::new()
            )
            .is_ok()
        );
    }
}
