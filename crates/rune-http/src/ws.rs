//! MCP over WebSocket: one JSON-RPC message (or batch) per text frame, on a connection served
//! by the same engine as stdio (the first request decides the era).

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use rune_server::Server;
use rune_server::channel::{ChannelOptions, Frame};

/// Accepts the upgrade (offering the `mcp` subprotocol when the client asks for it).
pub(crate) fn upgrade(ws: WebSocketUpgrade, server: Server) -> Response {
    ws.protocols(["mcp"])
        .on_upgrade(move |socket| serve_socket(server, socket))
}

async fn serve_socket(server: Server, socket: WebSocket) {
    let (tx, mut rx) = server.open_channel(ChannelOptions {
        lock_era: true,
        assume_initialized: None,
    });
    let (mut sink, mut stream) = socket.split();
    let mut input = Some(tx);
    loop {
        tokio::select! {
            msg = stream.next(), if input.is_some() => match msg {
                Some(Ok(Message::Text(t))) => {
                    if let Some(i) = &input && i.send(t.as_bytes()).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Binary(b))) => {
                    if let Some(i) = &input && i.send(&b).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                // Closed by the client: answer what is in flight, then end.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    input = None;
                }
            },
            frames = rx.recv() => match frames {
                Some(frames) => {
                    for f in frames {
                        if let Frame::Message { json, .. } = f {
                            let text = String::from_utf8_lossy(&json).into_owned();
                            if sink.send(Message::Text(text.into())).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                None => break,
            },
        }
    }
    let _ = sink.send(Message::Close(None)).await;
}
