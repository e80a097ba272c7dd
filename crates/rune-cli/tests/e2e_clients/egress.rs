//! Proof that a client run stays on loopback, two ways:
//!
//! - a local HTTP proxy that every client is pointed at (`HTTP(S)_PROXY`, loopback excepted by
//!   `NO_PROXY`): it records every request and refuses any whose target is not a loopback
//!   address, so a proxy-aware client that tries to reach the internet is caught and stopped;
//! - `strace` (when it can trace here) on the client and every process it starts, recording the
//!   address of every `connect`/`sendto`/`sendmsg`: anything that is not loopback (a DNS query
//!   to the resolver included) is reported, proxy or not.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

#[derive(Debug)]
pub struct Proxy {
    pub addr: SocketAddr,
    /// `CONNECT host:port` or `GET http://…` lines, one a request.
    requests: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    pub fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let seen = seen.clone();
                std::thread::spawn(move || handle(stream, &seen));
            }
        });
        Proxy { addr, requests }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests for targets off loopback (all refused).
    pub fn refused(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|l| l.starts_with("REFUSED"))
            .cloned()
            .collect()
    }

    /// The environment that sends a client's traffic through the proxy (both spellings, as
    /// tools differ), loopback excepted.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let url = self.url();
        let no = "127.0.0.1,localhost,::1".to_owned();
        vec![
            ("HTTP_PROXY", url.clone()),
            ("HTTPS_PROXY", url.clone()),
            ("http_proxy", url.clone()),
            ("https_proxy", url),
            ("NO_PROXY", no.clone()),
            ("no_proxy", no),
        ]
    }
}

fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `host:port` (or `[v6]:port`) → host.
fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

fn handle(stream: TcpStream, seen: &Mutex<Vec<String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let Ok(mut w) = stream.try_clone() else {
        return;
    };
    let mut r = BufReader::new(stream);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let end = line == "\r\n" || line == "\n";
        head.push(line);
        if end {
            break;
        }
    }
    let first = head[0].trim().to_owned();
    let mut parts = first.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let (authority, origin_form) = if method == "CONNECT" {
        (target.clone(), None)
    } else if let Some(rest) = target.strip_prefix("http://") {
        let (auth, path) = rest.split_once('/').unwrap_or((rest, ""));
        (auth.to_owned(), Some(format!("/{path}")))
    } else {
        (target.clone(), None)
    };
    let loopback = is_loopback_host(host_of(&authority));
    let mut log = seen.lock().unwrap_or_else(|e| e.into_inner());
    log.push(format!(
        "{} {first}",
        if loopback { "TUNNELED" } else { "REFUSED" }
    ));
    drop(log);
    if !loopback {
        let _ = w
            .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        return;
    }
    // A loopback target (a client that ignores NO_PROXY): pass it through.
    let authority = if authority.contains(':') {
        authority
    } else {
        format!("{authority}:80")
    };
    let Ok(mut up) = TcpStream::connect(&authority) else {
        let _ = w.write_all(
            b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        );
        return;
    };
    if method == "CONNECT" {
        let _ = w.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n");
    } else {
        let mut rewritten = format!(
            "{method} {} {}\r\n",
            origin_form.unwrap_or_else(|| "/".into()),
            parts.next().unwrap_or("HTTP/1.1")
        );
        for h in &head[1..] {
            rewritten.push_str(h);
        }
        if up.write_all(rewritten.as_bytes()).is_err() {
            return;
        }
    }
    let buffered = r.buffer().to_vec();
    if !buffered.is_empty() && up.write_all(&buffered).is_err() {
        return;
    }
    let Ok(mut up_r) = up.try_clone() else {
        return;
    };
    let mut client_r = r.into_inner();
    let t = std::thread::spawn(move || {
        let _ = std::io::copy(&mut up_r, &mut w);
    });
    let mut buf = [0u8; 16384];
    loop {
        match client_r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if up.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = up.shutdown(std::net::Shutdown::Write);
    let _ = t.join();
}

/// Whether `strace -f` works here (it needs ptrace).
pub fn strace_available() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        Command::new("strace")
            .args([
                "-f",
                "-qq",
                "-e",
                "trace=connect",
                "-o",
                "/dev/null",
                "true",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// `strace` arguments that record the network calls of `program` and its children in `log`.
pub fn strace_prefix(log: &Path) -> Vec<std::ffi::OsString> {
    let mut v: Vec<std::ffi::OsString> = ["-f", "-qq", "-s", "0", "-e", "signal=none", "-e"]
        .iter()
        .map(Into::into)
        .collect();
    v.push("trace=connect,sendto,sendmsg,sendmmsg".into());
    v.push("-o".into());
    v.push(log.as_os_str().to_owned());
    v.push("--".into());
    v
}

/// The lines of a strace log that name an address off loopback.
pub fn off_loopback(log: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for line in log.lines() {
        for (open, close) in [("inet_addr(\"", "\")"), ("inet_pton(AF_INET6, \"", "\"")] {
            let mut rest = line;
            while let Some(i) = rest.find(open) {
                let after = &rest[i + open.len()..];
                let addr = after.split(close).next().unwrap_or_default();
                rest = &after[addr.len()..];
                let Ok(ip) = addr.parse::<IpAddr>() else {
                    continue;
                };
                let mapped_loopback = match ip {
                    IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
                    IpAddr::V4(_) => false,
                };
                // `0.0.0.0` / `::` with AF_UNSPEC are disconnects, not destinations.
                if !(ip.is_loopback() || ip.is_unspecified() || mapped_loopback) {
                    bad.push(line.to_owned());
                }
            }
        }
    }
    bad
}
