//! A scripted HTTP/1.1 server on loopback, for tests (feature `mock`).
//!
//! [`MockServer::start`] listens on `127.0.0.1:0` and answers each request with the next
//! [`Reply`] of its script: a status, headers, and a body sent as HTTP chunks exactly as
//! given (one `write` and flush per chunk, optionally with a pause between them), so a test
//! controls where the client's reads can split the stream. Every request is recorded
//! (method, path with query, headers, body) for assertions. Connections are kept alive, as
//! real providers keep them. When the script is empty the server answers 500.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body, chunk by chunk.
    pub chunks: Vec<Vec<u8>>,
    /// A pause after each chunk.
    pub pause: Duration,
    /// After the chunks, keep the connection open and send nothing more.
    pub stall: bool,
}

impl Reply {
    /// A JSON body.
    pub fn json(status: u16, body: &str) -> Self {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            chunks: vec![body.as_bytes().to_vec()],
            pause: Duration::ZERO,
            stall: false,
        }
    }
    /// A streamed body of this content type, in these chunks.
    pub fn stream(content_type: &str, chunks: Vec<Vec<u8>>) -> Self {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            chunks,
            pause: Duration::ZERO,
            stall: false,
        }
    }
    /// An SSE body, in these chunks.
    pub fn sse(chunks: Vec<Vec<u8>>) -> Self {
        Self::stream("text/event-stream", chunks)
    }
    /// An NDJSON body, in these chunks.
    pub fn ndjson(chunks: Vec<Vec<u8>>) -> Self {
        Self::stream("application/x-ndjson", chunks)
    }
    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// Pauses after each chunk.
    pub fn pause(mut self, pause: Duration) -> Self {
        self.pause = pause;
        self
    }
    /// Stalls after the chunks.
    pub fn stall(mut self) -> Self {
        self.stall = true;
        self
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `GET`, `POST`.
    pub method: String,
    /// The path and query.
    pub path: String,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Recorded {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// The server (see the module documentation). It stops when dropped.
#[derive(Debug)]
pub struct MockServer {
    url: String,
    script: Arc<Mutex<VecDeque<Reply>>>,
    seen: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockServer {
    /// Starts a server with this script (on the current tokio runtime).
    pub async fn start(script: Vec<Reply>) -> std::io::Result<MockServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (script.clone(), seen.clone());
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let _ = sock.set_nodelay(true);
                tokio::spawn(serve(sock, s.clone(), r.clone()));
            }
        });
        Ok(MockServer {
            url,
            script,
            seen,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Adds replies to the end of the script.
    pub fn push(&self, reply: Reply) {
        lock(&self.script).push_back(reply);
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.seen).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn serve(
    mut sock: TcpStream,
    script: Arc<Mutex<VecDeque<Reply>>>,
    seen: Arc<Mutex<Vec<Recorded>>>,
) {
    let mut buf = Vec::new();
    loop {
        let Some(req) = read_request(&mut sock, &mut buf).await else {
            return;
        };
        lock(&seen).push(req);
        let reply = lock(&script).pop_front().unwrap_or_else(|| {
            Reply::json(
                500,
                r#"{"error":{"message":"no scripted reply","type":"server_error"}}"#,
            )
        });
        if write_reply(&mut sock, &reply).await.is_err() {
            return;
        }
        if reply.stall {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return;
        }
    }
}

async fn read_request(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Recorded> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 4096];
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let path = first.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let body_start = head_end + 4;
    while buf.len() < body_start + len {
        let mut chunk = [0u8; 65536];
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[body_start..body_start + len].to_vec();
    buf.drain(..body_start + len);
    Some(Recorded {
        method,
        path,
        headers,
        body,
    })
}

async fn write_reply(sock: &mut TcpStream, reply: &Reply) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} Scripted\r\n", reply.status);
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("transfer-encoding: chunked\r\n\r\n");
    sock.write_all(head.as_bytes()).await?;
    sock.flush().await?;
    for c in &reply.chunks {
        if c.is_empty() {
            continue;
        }
        let mut frame = format!("{:x}\r\n", c.len()).into_bytes();
        frame.extend_from_slice(c);
        frame.extend_from_slice(b"\r\n");
        sock.write_all(&frame).await?;
        sock.flush().await?;
        if !reply.pause.is_zero() {
            tokio::time::sleep(reply.pause).await;
        }
    }
    if reply.stall {
        return Ok(());
    }
    sock.write_all(b"0\r\n\r\n").await?;
    sock.flush().await
}
