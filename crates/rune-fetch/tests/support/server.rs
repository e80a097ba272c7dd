//! A small HTTP/1.1 server on 127.0.0.1 for the tests and the benchmark: keep-alive, and
//! replies that misbehave on purpose (slow, endless, stalled, raw bytes).

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request as the server read it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the server answers.
pub enum Reply {
    /// A complete response with `Content-Length`; the connection stays open.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Headers, then `count` chunks of `chunk` bytes, one every `every`.
    Slow {
        headers: Vec<(String, String)>,
        chunk: Vec<u8>,
        every: Duration,
        count: usize,
    },
    /// Headers, then a body that never ends.
    Endless { headers: Vec<(String, String)> },
    /// Reads the request and never answers.
    Stall,
    /// These bytes, then the connection is closed.
    Raw(Vec<u8>),
}

impl Reply {
    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply::Full {
            status: 200,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    pub fn status(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Reply {
        Reply::Full {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.into(),
        }
    }

    pub fn redirect(status: u16, to: &str) -> Reply {
        Reply::status(status, &[("Location", to)], Vec::new())
    }
}

pub type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// A running server: its address and what it was asked.
pub struct TestServer {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    pub async fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log: Arc<Mutex<Vec<Request>>> = Arc::default();
        let handler: Handler = Arc::new(handler);
        let log2 = log.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let handler = handler.clone();
                let log = log2.clone();
                tokio::spawn(async move {
                    let _ = serve(sock, handler, log).await;
                });
            }
        });
        TestServer { addr, log, task }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The requests received for `path`.
    pub fn requests(&self, path: &str) -> Vec<Request> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    pub fn hits(&self, path: &str) -> usize {
        self.requests(path).len()
    }

    pub fn total_hits(&self) -> usize {
        self.log.lock().unwrap().len()
    }
}

async fn read_head(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Request> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            let mut lines = head.split("\r\n");
            let mut first = lines.next()?.split(' ');
            let method = first.next()?.to_owned();
            let path = first.next()?.to_owned();
            let headers = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect();
            return Some(Request {
                method,
                path,
                headers,
            });
        }
        let mut chunk = [0u8; 4096];
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

fn head_bytes(status: u16, headers: &[(String, String)], extra: &str) -> Vec<u8> {
    let mut h = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str(extra);
    h.push_str("\r\n");
    h.into_bytes()
}

async fn serve(
    mut sock: TcpStream,
    handler: Handler,
    log: Arc<Mutex<Vec<Request>>>,
) -> std::io::Result<()> {
    let _ = sock.set_nodelay(true);
    let mut buf = Vec::new();
    while let Some(req) = read_head(&mut sock, &mut buf).await {
        log.lock().unwrap().push(req.clone());
        let head_only = req.method == "HEAD";
        match handler(&req) {
            Reply::Full {
                status,
                headers,
                body,
            } => {
                let mut out = head_bytes(
                    status,
                    &headers,
                    &format!("Content-Length: {}\r\n", body.len()),
                );
                if !head_only && status != 304 {
                    out.extend_from_slice(&body);
                }
                sock.write_all(&out).await?;
            }
            Reply::Slow {
                headers,
                chunk,
                every,
                count,
            } => {
                let len = chunk.len() * count;
                sock.write_all(&head_bytes(
                    200,
                    &headers,
                    &format!("Content-Length: {len}\r\nConnection: close\r\n"),
                ))
                .await?;
                for _ in 0..count {
                    tokio::time::sleep(every).await;
                    sock.write_all(&chunk).await?;
                }
                return Ok(());
            }
            Reply::Endless { headers } => {
                sock.write_all(&head_bytes(
                    200,
                    &headers,
                    "Transfer-Encoding: chunked\r\nConnection: close\r\n",
                ))
                .await?;
                let chunk = vec![b'a'; 16 * 1024];
                let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
                framed.extend_from_slice(&chunk);
                framed.extend_from_slice(b"\r\n");
                // Bounded all the same: stops after 1 GiB or when the client hangs up.
                for _ in 0..65_536 {
                    sock.write_all(&framed).await?;
                }
                return Ok(());
            }
            Reply::Stall => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                return Ok(());
            }
            Reply::Raw(bytes) => {
                sock.write_all(&bytes).await?;
                return Ok(());
            }
        }
    }
    Ok(())
}
