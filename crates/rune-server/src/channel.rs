//! Connections whose messages travel as messages, not as one byte stream: Streamable HTTP,
//! legacy HTTP+SSE, WebSocket. The transport crate (`rune-http`) builds on this.
//!
//! [`Server::open_channel`] starts the same engine that serves stdio, on its own task, fed
//! by a [`ChannelSender`] and read through a [`ChannelReceiver`]. Each turn of the engine
//! yields a batch of [`Frame`]s; each frame says which request it belongs to, so a transport
//! can send a request's progress, log messages and server→client requests on that
//! request's own stream (an HTTP POST's SSE response) and everything else on a standalone
//! stream.
//!
//! Dropping the sender is the end of input: the engine finishes the requests in flight,
//! sends their responses, and the receiver then yields `None`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use rune_proto::{Id, ProtocolVersion};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;

use crate::Server;
use crate::conn::{self, ConnMode, Mark, Output};

/// How a channel connection behaves.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChannelOptions {
    /// The first request decides the era for the whole connection (a session).
    pub lock_era: bool,
    /// Starts as if `initialize` had negotiated this revision: stateless HTTP serving
    /// handshake-era clients, where each request is a new connection.
    pub assume_initialized: Option<ProtocolVersion>,
}

/// One message, or a control event, from the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A JSON-RPC message (one line of JSON, no newline).
    Message {
        /// The request it belongs to: the request a handler's notification or
        /// server→client request was sent for. `None` for responses (their `id` says it)
        /// and for messages that belong to no request.
        related: Option<Id>,
        /// The message.
        json: Vec<u8>,
    },
    /// The handler of request `related` asked to close the stream carrying its messages
    /// (SSE polling, SEP-1699): the client reconnects and resumes from its last event.
    CloseStream {
        /// The request.
        related: Id,
    },
}

/// Feeds client messages to a channel connection.
#[derive(Debug, Clone)]
pub struct ChannelSender {
    tx: mpsc::Sender<Vec<u8>>,
}

impl ChannelSender {
    /// Delivers one JSON text (a message or a batch). Newlines inside it (pretty-printed
    /// JSON) are harmless: JSON strings cannot contain raw newlines, so they are whitespace
    /// and become spaces. Fails when the connection has ended.
    pub async fn send(&self, json: &[u8]) -> Result<(), ChannelClosed> {
        let mut line = Vec::with_capacity(json.len() + 1);
        line.extend(
            json.iter()
                .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
        );
        line.push(b'\n');
        self.tx.send(line).await.map_err(|_| ChannelClosed)
    }
}

/// The connection has ended.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the connection has ended")]
pub struct ChannelClosed;

/// Reads what a channel connection sends.
#[derive(Debug)]
pub struct ChannelReceiver {
    rx: mpsc::Receiver<Vec<Frame>>,
}

impl ChannelReceiver {
    /// The next batch of frames (at least one), or `None` once the connection has ended.
    pub async fn recv(&mut self) -> Option<Vec<Frame>> {
        self.rx.recv().await
    }
}

impl Server {
    /// Starts a connection on the current tokio runtime, fed and read through channels.
    pub fn open_channel(&self, options: ChannelOptions) -> (ChannelSender, ChannelReceiver) {
        let (in_tx, in_rx) = mpsc::channel::<Vec<u8>>(64);
        let (out_tx, out_rx) = mpsc::channel::<Vec<Frame>>(64);
        let server = self.clone();
        let mode = ConnMode {
            lock_era: options.lock_era,
            routed: true,
            assume: options.assume_initialized,
        };
        tokio::spawn(async move {
            let reader = ChannelReader {
                rx: in_rx,
                pending: Vec::new(),
                pos: 0,
            };
            let output = FrameOutput { tx: out_tx };
            if let Err(e) = conn::run(&server, reader, output, mode).await {
                tracing::debug!("channel connection ended: {e}");
            }
        });
        (ChannelSender { tx: in_tx }, ChannelReceiver { rx: out_rx })
    }
}

/// The engine's input: the lines the sender delivered, in order.
struct ChannelReader {
    rx: mpsc::Receiver<Vec<u8>>,
    pending: Vec<u8>,
    pos: usize,
}

impl AsyncRead for ChannelReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if self.pos < self.pending.len() {
                let n = buf.remaining().min(self.pending.len() - self.pos);
                let start = self.pos;
                buf.put_slice(&self.pending[start..start + n]);
                self.pos += n;
                return Poll::Ready(Ok(()));
            }
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(chunk)) => {
                    self.pending = chunk;
                    self.pos = 0;
                }
                // End of input.
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// The engine's output: each turn's frames, split at their marks.
struct FrameOutput {
    tx: mpsc::Sender<Vec<Frame>>,
}

impl Output for FrameOutput {
    async fn send(&mut self, buf: &[u8], marks: &[Mark]) -> io::Result<()> {
        let mut frames = Vec::with_capacity(marks.len());
        let mut start = 0;
        for m in marks {
            if m.close_stream {
                if let Some(related) = &m.related {
                    frames.push(Frame::CloseStream {
                        related: related.clone(),
                    });
                }
                continue;
            }
            let end = m.end.min(buf.len());
            let mut json = buf[start..end].to_vec();
            if json.last() == Some(&b'\n') {
                json.pop();
            }
            start = end;
            frames.push(Frame::Message {
                related: m.related.clone(),
                json,
            });
        }
        if frames.is_empty() {
            return Ok(());
        }
        self.tx
            .send(frames)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the transport went away"))
    }
}
