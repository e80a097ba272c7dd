//! [`RequestContext`]: what a handler can see and do while it serves one request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rune_proto::model::{
    ClientCapabilities, CreateMessageParams, CreateMessageResult, ElicitRequestParams,
    ElicitResult, Implementation, InputRequest, JsonObject, ListRootsResult, LoggingLevel,
    LoggingMessageParams, ProgressParams,
};
use rune_proto::{Era, Id, ProtocolVersion, RawValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::conn::ConnShared;
use crate::error::{HandlerError, InputNeeded};

/// The context of one request: its id, revision and `_meta`, and the ways back to the client
/// (progress, logging, elicitation, sampling, roots).
///
/// The same handler serves both eras: on a handshake connection [`elicit`](Self::elicit)
/// sends a real `elicitation/create` request and awaits the answer; on a 2026-07-28 request
/// it returns [`HandlerError::InputRequired`] (pass it on with `?`), the client retries with
/// the answer, and the handler runs again from the start, this time getting the answer.
#[derive(Clone)]
pub struct RequestContext {
    pub(crate) inner: Arc<CtxInner>,
}

impl std::fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestContext")
            .field("id", &self.inner.id)
            .field("version", &self.inner.version)
            .finish()
    }
}

pub(crate) struct CtxInner {
    pub(crate) conn: Arc<ConnShared>,
    pub(crate) id: Id,
    pub(crate) version: ProtocolVersion,
    pub(crate) meta_raw: Option<Box<RawValue>>,
    pub(crate) meta: OnceLock<Option<JsonObject>>,
    pub(crate) progress_token: Option<Id>,
    /// 2026: the level asked for by this request; `None` means no log messages.
    pub(crate) log_level: Option<LoggingLevel>,
    /// Handshake: the connection's, set at once. 2026: read from `_meta` when first asked.
    pub(crate) caps: OnceLock<Arc<ClientCapabilities>>,
    pub(crate) client_info: OnceLock<Option<Arc<Implementation>>>,
    /// 2026: answers from earlier rounds and this retry.
    pub(crate) answers: Option<JsonObject>,
    pub(crate) input_seq: AtomicUsize,
    pub(crate) last_progress: Mutex<Option<f64>>,
    pub(crate) cancel: CancellationToken,
}

/// The keys of a 2026 request's `_meta` that are read only when a handler asks for them.
#[derive(serde::Deserialize)]
struct LazyMeta {
    #[serde(rename = "io.modelcontextprotocol/clientCapabilities", default)]
    caps: Option<ClientCapabilities>,
    #[serde(rename = "io.modelcontextprotocol/clientInfo", default)]
    client_info: Option<serde_json::Value>,
}

impl CtxInner {
    fn lazy_meta(&self) -> Option<LazyMeta> {
        self.meta_raw
            .as_ref()
            .and_then(|r| serde_json::from_str(r.get()).ok())
    }
}

impl RequestContext {
    /// The request's id.
    pub fn id(&self) -> &Id {
        &self.inner.id
    }

    /// The connection this request came on: unique in the process, never reused. On a
    /// stateless (2026-07-28) request there is no session, and two requests of one client
    /// may arrive on different connections.
    pub fn connection_id(&self) -> u64 {
        self.inner.conn.id
    }

    /// Closes the stream that carries this request's messages, on transports that have one
    /// per request (Streamable HTTP's SSE response to a POST): the client reconnects with
    /// `Last-Event-ID` and receives the rest, including the result, on the new stream
    /// (SSE polling, SEP-1699). Does nothing on stdio, TCP and WebSocket.
    pub fn close_sse_stream(&self) {
        self.inner.conn.close_stream(&self.inner.id);
    }

    /// How many times the client announced that its roots changed
    /// (`notifications/roots/list_changed`) on this connection: a cache of the roots keyed
    /// by ([`connection_id`](Self::connection_id), this) is current.
    pub fn roots_generation(&self) -> u64 {
        self.inner
            .conn
            .roots_generation
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The revision this request is served in.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.inner.version
    }

    /// The client's capabilities for this request.
    pub fn client_capabilities(&self) -> Arc<ClientCapabilities> {
        self.inner
            .caps
            .get_or_init(|| {
                Arc::new(
                    self.inner
                        .lazy_meta()
                        .and_then(|m| m.caps)
                        .unwrap_or_default(),
                )
            })
            .clone()
    }

    /// The client's identity, when it gave one.
    pub fn client_info(&self) -> Option<&Implementation> {
        self.inner
            .client_info
            .get_or_init(|| {
                // Display only: a malformed one is ignored, not an error.
                self.inner
                    .lazy_meta()
                    .and_then(|m| m.client_info)
                    .and_then(|v| serde_json::from_value(v).ok())
                    .map(Arc::new)
            })
            .as_deref()
    }

    /// The request's whole `_meta`, as the client sent it.
    pub fn meta(&self) -> Option<&JsonObject> {
        self.inner
            .meta
            .get_or_init(|| {
                self.inner
                    .meta_raw
                    .as_ref()
                    .and_then(|r| serde_json::from_str(r.get()).ok())
            })
            .as_ref()
    }

    /// True once the client cancelled the request (or the connection ended).
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }

    /// Resolves when the request is cancelled; for work handed to other tasks or threads.
    pub async fn cancelled(&self) {
        self.inner.cancel.cancelled().await
    }

    /// A token that is cancelled with the request, to hand to spawned work.
    pub fn cancellation_token(&self) -> CancellationToken {
        self.inner.cancel.clone()
    }

    /// Reports progress, if the request asked for it (`_meta.progressToken`). Values that do
    /// not increase are dropped, as the protocol requires progress to grow; so are reports
    /// made while a client that stopped reading has too much output waiting
    /// ([`Options::notification_backlog_bytes`](crate::Options)).
    pub fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        let Some(token) = &self.inner.progress_token else {
            return;
        };
        if self.is_cancelled() {
            return; // nothing more is sent for a cancelled request
        }
        // The check and the push happen under one lock: handlers that report from several
        // threads must not have an older value overtake a newer one on the way out.
        let mut last = match self.inner.last_progress.lock() {
            Ok(l) => l,
            Err(p) => p.into_inner(),
        };
        if last.is_some_and(|l| progress <= l) {
            tracing::debug!(progress, "progress did not increase; not sent");
            return;
        }
        *last = Some(progress);
        let params = ProgressParams {
            progress_token: token.clone(),
            progress,
            total,
            message: message.map(str::to_owned),
        };
        self.inner
            .conn
            .notify_droppable(Some(&self.inner.id), "notifications/progress", &params);
        drop(last);
    }

    /// Sends a log message to the client, if it wants messages of this level.
    pub fn log(&self, level: LoggingLevel, data: impl Serialize) {
        self.log_to(level, None, data)
    }

    /// Sends a log message with a logger name.
    pub fn log_to(&self, level: LoggingLevel, logger: Option<&str>, data: impl Serialize) {
        if !self.inner.conn.server.options.logging || self.is_cancelled() {
            return;
        }
        let wanted = match self.inner.version.era() {
            Era::Stateless => self.inner.log_level.is_some_and(|min| level >= min),
            Era::Handshake => self.inner.conn.log_level().is_none_or(|min| level >= min),
        };
        if !wanted {
            return;
        }
        let data = serde_json::to_value(data).unwrap_or(serde_json::Value::Null);
        let params = LoggingMessageParams {
            level,
            logger: logger.map(str::to_owned),
            data,
        };
        self.inner
            .conn
            .notify_droppable(Some(&self.inner.id), "notifications/message", &params);
    }

    /// Asks the user for input (elicitation).
    pub async fn elicit(&self, params: ElicitRequestParams) -> Result<ElicitResult, HandlerError> {
        if !self.inner.version.has_elicitation() {
            return Err(HandlerError::failed(format!(
                "elicitation is not part of protocol revision {} (it needs 2025-06-18 or newer)",
                self.inner.version
            )));
        }
        let caps = self.client_capabilities();
        let url = params.mode.as_deref() == Some("url");
        let ok = if url {
            caps.elicitation_url()
        } else {
            caps.elicitation_form()
        };
        if !ok {
            let mode = if url { "url" } else { "form" };
            return Err(self.missing(serde_json::json!({ "elicitation": { mode: {} } })));
        }
        self.ask("elicitation/create", &params).await
    }

    /// Asks the client's model for a completion (sampling).
    pub async fn create_message(
        &self,
        params: CreateMessageParams,
    ) -> Result<CreateMessageResult, HandlerError> {
        if !self.client_capabilities().sampling() {
            return Err(self.missing(serde_json::json!({ "sampling": {} })));
        }
        self.ask("sampling/createMessage", &params).await
    }

    /// Asks the client for its roots.
    pub async fn list_roots(&self) -> Result<ListRootsResult, HandlerError> {
        if !self.client_capabilities().roots() {
            return Err(self.missing(serde_json::json!({ "roots": {} })));
        }
        self.ask("roots/list", &serde_json::json!({})).await
    }

    /// The client did not declare a capability this request needs: `-32021` in 2026-07-28;
    /// a failure (an `isError` tool result) in the handshake revisions, which lack that code.
    fn missing(&self, capabilities: serde_json::Value) -> HandlerError {
        match self.inner.version.era() {
            Era::Stateless => HandlerError::missing_capability(capabilities),
            Era::Handshake => HandlerError::failed(format!(
                "this needs a client capability the client did not declare: {capabilities}"
            )),
        }
    }

    async fn ask<P: Serialize, R: DeserializeOwned>(
        &self,
        method: &str,
        params: &P,
    ) -> Result<R, HandlerError> {
        match self.inner.version.era() {
            Era::Handshake => {
                let raw = self
                    .inner
                    .conn
                    .request(Some(&self.inner.id), method, params)
                    .await
                    .map_err(HandlerError::Protocol)?;
                serde_json::from_str(raw.get()).map_err(|e| {
                    HandlerError::failed(format!(
                        "the client's answer to {method} is malformed: {e}"
                    ))
                })
            }
            Era::Stateless => {
                let n = self.inner.input_seq.fetch_add(1, Ordering::Relaxed);
                let key = format!("r{n}");
                if let Some(answer) = self.inner.answers.as_ref().and_then(|a| a.get(&key)) {
                    return serde_json::from_value(answer.clone()).map_err(|e| {
                        HandlerError::invalid_params(format!(
                            "inputResponses[{key}] is malformed: {e}"
                        ))
                    });
                }
                let params = serde_json::to_value(params)
                    .map_err(|e| HandlerError::failed(e.to_string()))?;
                Err(HandlerError::InputRequired(Box::new(InputNeeded {
                    key,
                    request: InputRequest {
                        method: method.to_owned(),
                        params: Some(params),
                    },
                })))
            }
        }
    }
}
