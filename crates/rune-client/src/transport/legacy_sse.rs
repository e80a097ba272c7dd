//! The HTTP+SSE transport of revision 2024-11-05, for servers that predate Streamable HTTP.
//!
//! The client GETs the SSE URL and keeps the stream open: its first event, `endpoint`, names
//! the URL to POST messages to (relative URLs are resolved against the SSE URL, and it must
//! be on the same origin). Every message of the server, answers included, comes on the
//! stream; each POST is only accepted (202). The session lives as long as the stream: closing
//! the client drops it.
//!
//! [`ClientBuilder::connect_http`](crate::ClientBuilder::connect_http) falls back to this
//! when the server answers the Streamable HTTP `initialize` POST with 400, 404 or 405.

use std::sync::Arc;

use futures_util::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use reqwest::{Response, StatusCode, Url};
use rune_proto::Message;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::http::{HttpOptions, chain, is_sse};
use super::sse::Parser;
use super::{BoxFut, Outgoing, Sink, Transport};
use crate::error::Error;

const SSE: HeaderValue = HeaderValue::from_static("text/event-stream");
const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// A legacy HTTP+SSE connection.
pub(crate) struct LegacySse {
    client: reqwest::Client,
    endpoint: Url,
    opts: HttpOptions,
    stop: CancellationToken,
}

/// Opens the SSE stream and waits for its `endpoint` event; the returned closure starts the
/// transport.
pub(crate) async fn connect(
    url: &str,
    opts: HttpOptions,
) -> Result<impl FnOnce(Sink) -> Arc<dyn Transport> + use<>, Error> {
    let url = Url::parse(url).map_err(|e| Error::InvalidTarget(format!("{url}: {e}").into()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::InvalidTarget(
            format!("{url}: not an http(s) URL").into(),
        ));
    }
    let client = reqwest::Client::builder()
        .connect_timeout(opts.connect_timeout)
        .build()
        .map_err(|e| Error::transport(chain(&e)))?;
    let stop = CancellationToken::new();
    // Until the transport starts, a failure (or a dropped connect) ends the stream's task.
    let guard = stop.clone().drop_guard();
    let req = client
        .get(url.clone())
        .headers(opts.headers.clone())
        .header(ACCEPT, SSE);
    let resp = tokio::time::timeout(opts.connect_timeout, req.send())
        .await
        .map_err(|_| {
            Error::transport(format!(
                "GET {url}: no answer within {:?}",
                opts.connect_timeout
            ))
        })?
        .map_err(|e| Error::transport(format!("GET {url}: {}", chain(&e))))?;
    let status = resp.status();
    if !status.is_success() || !is_sse(&resp) {
        return Err(Error::Http {
            status: status.as_u16(),
            message: format!("GET {url} did not open an SSE stream").into(),
        });
    }
    let (endpoint_tx, endpoint_rx) = oneshot::channel();
    let (sink_tx, sink_rx) = oneshot::channel();
    tokio::spawn(read_stream(
        resp,
        url.clone(),
        opts.max_message_bytes,
        endpoint_tx,
        sink_rx,
        stop.clone(),
    ));
    let endpoint = tokio::time::timeout(opts.connect_timeout, endpoint_rx)
        .await
        .map_err(|_| {
            Error::protocol(format!(
                "{url}: the SSE stream sent no endpoint event within {:?}",
                opts.connect_timeout
            ))
        })?
        .map_err(|_| Error::protocol(format!("{url}: the SSE stream ended")))??;
    debug!("legacy HTTP+SSE: posting to {endpoint}");
    let stop = guard.disarm();
    Ok(move |sink: Sink| {
        let _ = sink_tx.send(sink);
        Arc::new(LegacySse {
            client,
            endpoint,
            opts,
            stop,
        }) as Arc<dyn Transport>
    })
}

/// The endpoint event's URL, resolved against the SSE URL; it must be on the same origin.
fn resolve_endpoint(base: &Url, data: &[u8]) -> Result<Url, Error> {
    let text = String::from_utf8_lossy(data);
    let text = text.trim();
    let endpoint = base
        .join(text)
        .map_err(|e| Error::protocol(format!("the endpoint event {text:?} is not a URL: {e}")))?;
    if endpoint.origin() != base.origin() {
        return Err(Error::protocol(format!(
            "the endpoint event names another origin ({endpoint}); refused"
        )));
    }
    Ok(endpoint)
}

/// Reads the stream: first the endpoint event (reported to `connect`), then, once the
/// transport started, every message into the sink.
async fn read_stream(
    resp: Response,
    base: Url,
    max: usize,
    endpoint_tx: oneshot::Sender<Result<Url, Error>>,
    sink_rx: oneshot::Receiver<Sink>,
    stop: CancellationToken,
) {
    let mut parser = Parser::new(max);
    let mut body = resp.bytes_stream();
    let mut early: Vec<Vec<u8>> = Vec::new();
    let mut endpoint_tx = Some(endpoint_tx);
    let mut sink_rx = Some(sink_rx);
    let mut sink: Option<Sink> = None;
    let reason = loop {
        let chunk = tokio::select! {
            c = body.next() => c,
            _ = stop.cancelled() => return,
        };
        let bytes = match chunk {
            None => break "the server closed the SSE stream".to_owned(),
            Some(Err(e)) => break format!("the SSE stream broke: {}", chain(&e)),
            Some(Ok(b)) => b,
        };
        let mut messages: Vec<Vec<u8>> = Vec::new();
        parser.feed(&bytes, &mut |event| match event.kind.as_str() {
            "endpoint" => {
                if let Some(tx) = endpoint_tx.take() {
                    let _ = tx.send(resolve_endpoint(&base, &event.data));
                }
            }
            "" | "message" if !event.data.iter().all(u8::is_ascii_whitespace) => {
                messages.push(event.data);
            }
            _ => {}
        });
        match &sink {
            Some(s) => {
                for m in &messages {
                    s.message(m, None);
                }
                if s.is_gone() {
                    return;
                }
            }
            None => {
                early.extend(messages);
                if endpoint_tx.is_none()
                    && let Some(rx) = sink_rx.take()
                {
                    // Wait for the transport to start (or for the connect to be abandoned).
                    let started = tokio::select! {
                        s = rx => s.ok(),
                        _ = stop.cancelled() => None,
                    };
                    let Some(s) = started else { return };
                    for m in early.drain(..) {
                        s.message(&m, None);
                    }
                    sink = Some(s);
                }
            }
        }
    };
    debug!("{reason}");
    if let Some(s) = sink {
        s.closed(&reason);
    }
}

impl LegacySse {
    async fn post(&self, msg: Outgoing) -> Result<(), Error> {
        let req = self
            .client
            .post(self.endpoint.clone())
            .headers(self.opts.headers.clone())
            .header(CONTENT_TYPE, JSON)
            .body(msg.bytes);
        let resp = tokio::select! {
            r = req.send() => r.map_err(|e| Error::transport(format!("POST {}: {}", self.endpoint, chain(&e))))?,
            _ = self.stop.cancelled() => return Err(Error::closed("the client closed the connection")),
        };
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        if status == StatusCode::NOT_FOUND {
            return Err(Error::SessionExpired);
        }
        let body = resp.bytes().await.unwrap_or_default();
        if let Ok(Message::ErrorResponse { error, .. }) = Message::parse(&body) {
            return Err(Error::Rpc(error));
        }
        let text = String::from_utf8_lossy(&body[..body.len().min(300)])
            .trim()
            .to_owned();
        Err(Error::Http {
            status: status.as_u16(),
            message: if text.is_empty() {
                status.canonical_reason().unwrap_or("").into()
            } else {
                text.into()
            },
        })
    }
}

impl Transport for LegacySse {
    fn send(&self, msg: Outgoing) -> BoxFut<'_, Result<(), Error>> {
        Box::pin(self.post(msg))
    }
    fn close(&self) -> BoxFut<'_, ()> {
        self.stop.cancel();
        Box::pin(async {})
    }
    fn shutdown(&self) {
        self.stop.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_resolve_relative_and_stay_on_the_origin() {
        let base = Url::parse("http://127.0.0.1:9/sse").expect("url");
        let e = resolve_endpoint(&base, b"/messages?sessionId=abc\n").expect("relative");
        assert_eq!(e.as_str(), "http://127.0.0.1:9/messages?sessionId=abc");
        let e = resolve_endpoint(&base, b"http://127.0.0.1:9/m").expect("absolute");
        assert_eq!(e.path(), "/m");
        assert!(resolve_endpoint(&base, b"http://127.0.0.2:9/m").is_err());
        assert!(resolve_endpoint(&base, b"https://127.0.0.1:9/m").is_err());
    }
}
