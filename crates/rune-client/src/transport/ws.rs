//! MCP over WebSocket (`ws://`): one JSON-RPC message per text frame, both ways.
//!
//! The client asks for the `mcp` subprotocol (a server that does not offer it is still
//! accepted) and sends the builder's HTTP headers with the upgrade. One task reads frames and
//! dispatches each into the [`Sink`]; one task writes the queued messages, a frame each. A
//! close frame, a broken socket or the end of the stream closes the connection.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use reqwest::header::HeaderValue;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::http::HttpOptions;
use super::{BoxFut, Outgoing, Sink, Transport, lines};
use crate::error::Error;

/// How many messages may wait for the writer before `send` waits.
const QUEUE: usize = 1024;

/// A WebSocket connection.
pub(crate) struct Ws {
    tx: mpsc::Sender<Vec<u8>>,
    stop: CancellationToken,
}

/// Opens the WebSocket (the upgrade is done here, so a refused one fails the connect); the
/// returned closure starts the transport.
pub(crate) async fn connect(
    url: &str,
    opts: &HttpOptions,
) -> Result<impl FnOnce(Sink) -> Arc<dyn Transport> + use<>, Error> {
    let mut request = url
        .into_client_request()
        .map_err(|e| Error::InvalidTarget(format!("{url}: {e}").into()))?;
    if request.uri().scheme_str() != Some("ws") {
        return Err(Error::InvalidTarget(
            format!("{url}: only ws:// URLs are supported for WebSocket").into(),
        ));
    }
    for (name, value) in &opts.headers {
        request.headers_mut().insert(name.clone(), value.clone());
    }
    request
        .headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static("mcp"));
    let config = WebSocketConfig::default()
        .max_message_size(Some(opts.max_message_bytes))
        .max_frame_size(Some(opts.max_message_bytes));
    let connecting = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
    let (socket, _response) = tokio::time::timeout(opts.connect_timeout, connecting)
        .await
        .map_err(|_| {
            Error::transport(format!(
                "cannot connect to {url}: no answer within {:?}",
                opts.connect_timeout
            ))
        })?
        .map_err(|e| Error::transport(format!("cannot connect to {url}: {e}")))?;
    Ok(move |sink: Sink| {
        let (mut write, mut read) = socket.split();
        let stop = CancellationToken::new();
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(QUEUE);
        let (closing, reader_stop) = (stop.clone(), stop.clone());
        let writer_sink = sink.clone();
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    biased;
                    m = rx.recv() => m,
                    _ = closing.cancelled() => None,
                };
                let Some(bytes) = next else { break };
                let text = match String::from_utf8(bytes) {
                    Ok(t) => t,
                    Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
                };
                if let Err(e) = write.send(Message::text(text)).await {
                    writer_sink.closed(&format!("writing to the WebSocket failed: {e}"));
                    return;
                }
            }
            // What was queued before the stop still goes out, then the close frame.
            while let Ok(bytes) = rx.try_recv() {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                if write.feed(Message::text(text)).await.is_err() {
                    break;
                }
            }
            let _ = write.send(Message::Close(None)).await;
            let _ = write.close().await;
        });
        tokio::spawn(async move {
            let reason = loop {
                let frame = tokio::select! {
                    biased;
                    _ = reader_stop.cancelled() => break "the client closed the connection".to_owned(),
                    f = read.next() => f,
                };
                match frame {
                    Some(Ok(Message::Text(t))) => {
                        sink.message(t.as_bytes(), None);
                    }
                    Some(Ok(Message::Binary(b))) => {
                        sink.message(&b, None);
                    }
                    Some(Ok(Message::Close(frame))) => {
                        break match frame {
                            Some(f) if !f.reason.is_empty() => {
                                format!("the server closed the WebSocket ({})", f.reason)
                            }
                            _ => "the server closed the WebSocket".to_owned(),
                        };
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break format!("reading from the WebSocket failed: {e}"),
                    None => break "the WebSocket ended".to_owned(),
                }
            };
            debug!("{reason}");
            // The writer stops too (sending the close frame if the socket still takes it).
            reader_stop.cancel();
            sink.closed(&reason);
        });
        Arc::new(Ws { tx, stop }) as Arc<dyn Transport>
    })
}

impl Transport for Ws {
    fn send(&self, msg: Outgoing) -> BoxFut<'_, Result<(), Error>> {
        lines::queue(&self.tx, msg)
    }
    fn try_send(&self, msg: Outgoing) -> Result<(), Outgoing> {
        lines::try_queue(&self.tx, msg)
    }
    fn close(&self) -> BoxFut<'_, ()> {
        self.stop.cancel();
        Box::pin(async {})
    }
    fn shutdown(&self) {
        self.stop.cancel();
    }
}
