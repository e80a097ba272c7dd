//! Helpers shared by the integration tests: paths, the official peers, free ports, bounds.

#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// Every test is bounded by this, so a hang fails instead of stalling the run.
pub const LIMIT: Duration = Duration::from_secs(60);

/// The names `tools/list` gives, in its order (every page).
pub async fn tool_names(client: &rune_client::Client) -> Vec<String> {
    client
        .list_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .map(|t| t.name)
        .collect()
}

/// The official peers, or `None` after saying why `test` skips (they could not be installed).
pub fn peers_or_skip(test: &str) -> Option<&'static Peers> {
    match peers() {
        Ok(p) => Some(p),
        Err(why) => {
            eprintln!("SKIPPED {test}: the official peers are not available: {why}");
            None
        }
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUNE_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .try_init();
}

/// Runs `fut` with the test bound.
pub async fn bounded<T>(fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(LIMIT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("the test did not finish within {LIMIT:?}"),
    }
}

/// A binary of this workspace, built in the same profile as this test.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` first (scripts/test.sh does)",
        path.display()
    );
    path
}

/// What `scripts/install-test-peers.sh` printed.
pub struct Peers {
    pub py: PathBuf,
    pub conformance: PathBuf,
}

/// The official peers, or why they are not available.
pub fn peers() -> Result<&'static Peers, String> {
    static PEERS: OnceLock<Result<Peers, String>> = OnceLock::new();
    PEERS
        .get_or_init(|| {
            let out = Command::new("bash")
                .arg(repo_root().join("scripts/install-test-peers.sh"))
                .output()
                .map_err(|e| format!("cannot run scripts/install-test-peers.sh: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "scripts/install-test-peers.sh failed:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let get = |key: &str| -> Result<PathBuf, String> {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("{key}=")))
                    .map(PathBuf::from)
                    .ok_or_else(|| format!("{key} missing from the install script's output"))
            };
            Ok(Peers {
                py: get("RUNE_PEERS_PY")?,
                conformance: get("RUNE_PEERS_CONFORMANCE")?,
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// Waits until something accepts connections on `127.0.0.1:port`.
pub async fn wait_for_port(port: u16) {
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on 127.0.0.1:{port} after 15 s");
}

/// A child process killed (and reaped) when the test ends, even by a panic.
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What `scripts/install-reference-servers.sh` printed: node and the servers' entry scripts.
pub struct ReferenceServers {
    pub node: PathBuf,
    pub everything: PathBuf,
    pub filesystem: PathBuf,
}

/// The npm reference servers, or why they are not available.
pub fn reference_servers() -> Result<&'static ReferenceServers, String> {
    static SERVERS: OnceLock<Result<ReferenceServers, String>> = OnceLock::new();
    SERVERS
        .get_or_init(|| {
            let out = Command::new("bash")
                .arg(repo_root().join("scripts/install-reference-servers.sh"))
                .output()
                .map_err(|e| format!("cannot run scripts/install-reference-servers.sh: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "scripts/install-reference-servers.sh failed:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let get = |key: &str| -> Result<PathBuf, String> {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("{key}=")))
                    .map(PathBuf::from)
                    .ok_or_else(|| format!("{key} missing from the install script's output"))
            };
            Ok(ReferenceServers {
                node: get("RUNE_REFSERVERS_NODE")?,
                everything: get("RUNE_REFSERVERS_EVERYTHING")?,
                filesystem: get("RUNE_REFSERVERS_FILESYSTEM")?,
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Starts `cmd` and waits until its stderr prints `listening on URL`; returns the URL.
pub fn spawn_listening(mut cmd: Command) -> (ChildGuard, String) {
    use std::io::BufRead;
    cmd.stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("spawn the server");
    let stderr = child.stderr.take().expect("stderr");
    let guard = ChildGuard(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if !sent && let Some(i) = line.find("listening on ") {
                let url = line[i + "listening on ".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                let _ = tx.send(url);
                sent = true;
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the server printed `listening on URL` within 20 s");
    (guard, url)
}

/// One request as a scripted HTTP/1.1 server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub headers: std::collections::HashMap<String, String>,
    pub body: serde_json::Value,
}

/// Reads one request (head and `Content-Length` body) from a scripted server's socket.
pub async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tokio::io::AsyncReadExt::read(stream, &mut chunk)
            .await
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let method = lines.next()?.split(' ').next()?.to_owned();
    let headers: std::collections::HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = tokio::io::AsyncReadExt::read(stream, &mut chunk)
            .await
            .ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    Some(Seen {
        method,
        headers,
        body,
    })
}
