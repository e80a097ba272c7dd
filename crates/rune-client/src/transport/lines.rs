//! Newline-delimited JSON over a byte stream: the framing of stdio and of `tcp://`.
//!
//! One task reads lines and dispatches each into the [`Sink`]; one task writes: it takes
//! every message that is queued and writes them with one call.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::{BoxFut, Outgoing, Sink, Transport};
use crate::error::Error;

/// How many messages may wait for the writer before `send` waits.
const QUEUE: usize = 1024;
/// The writer stops gathering queued messages into one write past this size.
const WRITE_BATCH: usize = 1 << 20;

/// Reads lines until end of input (or `stop`), dispatching each complete one.
///
/// A line longer than `max` is skipped up to its newline, with a warning, instead of growing
/// the buffer without bound.
pub(crate) async fn read_lines<R: AsyncRead + Unpin>(
    mut reader: R,
    max: usize,
    stop: &CancellationToken,
    mut on_line: impl FnMut(&[u8]),
) -> io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut scanned = 0;
    let mut skipping = false;
    loop {
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(64 * 1024);
        }
        let n = tokio::select! {
            biased;
            _ = stop.cancelled() => return Ok(()),
            n = reader.read_buf(&mut buf) => n?,
        };
        if n == 0 {
            if !skipping && !buf.iter().all(u8::is_ascii_whitespace) {
                // The last message may lack its newline.
                on_line(trim_cr(&buf));
            }
            return Ok(());
        }
        let mut start = 0;
        while let Some(i) = memchr::memchr(b'\n', &buf[scanned..]) {
            let end = scanned + i;
            if skipping {
                skipping = false;
            } else {
                let line = trim_cr(&buf[start..end]);
                if !line.iter().all(u8::is_ascii_whitespace) {
                    on_line(line);
                }
            }
            start = end + 1;
            scanned = start;
        }
        if start > 0 {
            buf.drain(..start);
        }
        scanned = buf.len();
        if buf.len() > max {
            if !skipping {
                warn!("the server sent a message longer than {max} bytes; skipped");
            }
            skipping = true;
            buf.clear();
            scanned = 0;
        }
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// How long a failed write waits for the reader to say why the connection ended.
const READER_GRACE: Duration = Duration::from_secs(2);

/// Writes queued messages, one line each, gathering what is ready into one write. On `stop`
/// it writes what is already queued, then closes the stream (the server sees end of input).
///
/// A write fails when the server has gone (a broken pipe). The reader then sees the end of
/// the server's output and knows more (a child's exit status), so the writer lets the reader
/// close the connection first, up to [`READER_GRACE`] after `read_done` has not fired.
pub(crate) async fn write_lines<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut rx: mpsc::Receiver<Vec<u8>>,
    stop: CancellationToken,
    sink: Sink,
    read_done: CancellationToken,
) {
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        let first = tokio::select! {
            biased;
            m = rx.recv() => m,
            _ = stop.cancelled() => None,
        };
        let Some(first) = first else { break };
        buf.clear();
        buf.extend_from_slice(&first);
        buf.push(b'\n');
        while buf.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(m) => {
                    buf.extend_from_slice(&m);
                    buf.push(b'\n');
                }
                Err(_) => break,
            }
        }
        let written = async {
            writer.write_all(&buf).await?;
            writer.flush().await
        };
        if let Err(e) = written.await {
            debug!("writing to the server failed: {e}");
            let _ = tokio::time::timeout(READER_GRACE, read_done.cancelled()).await;
            // A no-op when the reader closed the connection first.
            sink.closed(&format!("writing to the server failed: {e}"));
            return;
        }
    }
    // Whatever was queued before the stop still goes out.
    buf.clear();
    while let Ok(m) = rx.try_recv() {
        buf.extend_from_slice(&m);
        buf.push(b'\n');
    }
    if !buf.is_empty() {
        let _ = writer.write_all(&buf).await;
    }
    let _ = writer.shutdown().await;
}

/// Starts the reader and writer tasks of a line transport. `eof` says why the input ended.
pub(crate) fn start<R, W, E>(
    reader: R,
    writer: W,
    sink: Sink,
    stop: CancellationToken,
    max: usize,
    eof: impl FnOnce() -> E + Send + 'static,
) -> mpsc::Sender<Vec<u8>>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
    E: Future<Output = String> + Send,
{
    let (tx, rx) = mpsc::channel(QUEUE);
    let read_done = CancellationToken::new();
    tokio::spawn(write_lines(
        writer,
        rx,
        stop.clone(),
        sink.clone(),
        read_done.clone(),
    ));
    tokio::spawn(async move {
        let read = read_lines(reader, max, &stop, |line| {
            sink.message(line, None);
        })
        .await;
        let reason = match read {
            Ok(()) if stop.is_cancelled() => "the client closed the connection".to_owned(),
            Ok(()) => eof().await,
            Err(e) => format!("reading from the server failed: {e}"),
        };
        debug!("{reason}");
        sink.closed(&reason);
        read_done.cancel();
    });
    tx
}

/// A line transport whose far end is a socket (`tcp://`).
pub(crate) struct Tcp {
    tx: mpsc::Sender<Vec<u8>>,
    stop: CancellationToken,
}

/// Connects to `host:port`; the returned closure starts the transport.
pub(crate) async fn connect_tcp(
    addr: &str,
    max: usize,
) -> Result<impl FnOnce(Sink) -> Arc<dyn Transport> + use<>, Error> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| Error::transport(format!("cannot connect to {addr}: {e}")))?;
    let _ = stream.set_nodelay(true);
    Ok(move |sink: Sink| {
        let (r, w) = stream.into_split();
        let stop = CancellationToken::new();
        let tx = start(r, w, sink, stop.clone(), max, || async {
            "the server closed the connection".to_owned()
        });
        Arc::new(Tcp { tx, stop }) as Arc<dyn Transport>
    })
}

pub(crate) fn try_queue(tx: &mpsc::Sender<Vec<u8>>, msg: Outgoing) -> Result<(), Outgoing> {
    match tx.try_send(msg.bytes) {
        Ok(()) => Ok(()),
        Err(mpsc::error::TrySendError::Full(bytes)) => Err(Outgoing {
            bytes,
            kind: msg.kind,
        }),
        // The connection is gone; so is the message.
        Err(mpsc::error::TrySendError::Closed(_)) => Ok(()),
    }
}

pub(crate) fn queue(tx: &mpsc::Sender<Vec<u8>>, msg: Outgoing) -> BoxFut<'_, Result<(), Error>> {
    Box::pin(async move {
        tx.send(msg.bytes)
            .await
            .map_err(|_| Error::closed("the connection is closed"))
    })
}

impl Transport for Tcp {
    fn send(&self, msg: Outgoing) -> BoxFut<'_, Result<(), Error>> {
        queue(&self.tx, msg)
    }
    fn try_send(&self, msg: Outgoing) -> Result<(), Outgoing> {
        try_queue(&self.tx, msg)
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

    async fn lines_of(input: &[u8], max: usize) -> Vec<String> {
        let mut out = Vec::new();
        let stop = CancellationToken::new();
        read_lines(input, max, &stop, |l| {
            out.push(String::from_utf8_lossy(l).into_owned())
        })
        .await
        .expect("read");
        out
    }

    #[tokio::test]
    async fn splits_lines_trims_cr_and_skips_blank_ones() {
        let got = lines_of(b"{\"a\":1}\r\n\n  \n{\"b\":2}\n{\"c\":3}", 1024).await;
        assert_eq!(got, [r#"{"a":1}"#, r#"{"b":2}"#, r#"{"c":3}"#]);
    }

    #[tokio::test]
    async fn overlong_lines_are_skipped_and_reading_goes_on() {
        let mut input = vec![b'x'; 300_000];
        input.extend_from_slice(b"\n{\"ok\":true}\n");
        let got = lines_of(&input, 1000).await;
        assert_eq!(got, [r#"{"ok":true}"#]);
    }
}
