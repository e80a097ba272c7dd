//! Serving on an address given as a URL (`--listen`), with a graceful shutdown.
//!
//! - `http://HOST:PORT/PATH` (default path `/mcp`): the HTTP endpoint of this crate
//!   (Streamable HTTP, legacy HTTP+SSE at `/sse`, WebSocket upgrades on PATH).
//! - `ws://HOST:PORT/PATH`: the same endpoint; the scheme only says how clients connect.
//! - `tcp://HOST:PORT`: newline-delimited JSON per TCP connection, as on stdio.
//!
//! Port 0 picks a free port; the bound address is printed to stderr as `listening on URL`.
//! A host that is not a loopback address is added to the allowed `Host` names, and a warning
//! says to list the DNS names clients use (`HttpOptions::allowed_hosts`).
//!
//! SIGINT or SIGTERM stops accepting connections; requests in flight are answered, sessions
//! are closed, and the process ends (after at most 10 s).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use rune_server::Server;

use crate::HttpOptions;

/// TCP connections served at once; more wait in the kernel's accept queue.
const MAX_TCP_CONNECTIONS: usize = 1024;

/// How long a shutdown waits for requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Resolves when the process receives SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// The parts of a listen URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenUrl {
    /// `http`, `ws` or `tcp`.
    pub scheme: String,
    /// `HOST:PORT`.
    pub addr: String,
    /// The path (`/mcp` when none is given; unused for tcp).
    pub path: String,
}

/// Parses `scheme://HOST:PORT[/PATH]`.
pub fn parse_url(url: &str) -> io::Result<ListenUrl> {
    let bad = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{url:?}: {why} (expected http://HOST:PORT/PATH, ws://HOST:PORT/PATH or tcp://HOST:PORT)"
            ),
        )
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("not a URL"))?;
    let scheme = scheme.to_ascii_lowercase();
    if !["http", "ws", "tcp"].contains(&scheme.as_str()) {
        if scheme == "https" || scheme == "wss" {
            return Err(bad(
                "TLS is not served directly; put a TLS proxy in front and listen on http://127.0.0.1",
            ));
        }
        return Err(bad("unknown scheme"));
    }
    let (addr, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if addr.is_empty() {
        return Err(bad("no host:port"));
    }
    let path = if path.is_empty() || path == "/" {
        "/mcp".to_owned()
    } else {
        path.trim_end_matches('/').to_owned()
    };
    Ok(ListenUrl {
        scheme,
        addr: addr.to_owned(),
        path,
    })
}

/// Serves `server` on `url` until SIGINT/SIGTERM, with default HTTP options.
pub async fn serve_url(server: &Server, url: &str) -> io::Result<()> {
    serve_url_with(server, url, HttpOptions::default()).await
}

/// Serves `server` on `url` until SIGINT/SIGTERM. For HTTP URLs, `opts.path` is replaced by
/// the URL's path.
pub async fn serve_url_with(server: &Server, url: &str, mut opts: HttpOptions) -> io::Result<()> {
    let u = parse_url(url)?;
    let listener = tokio::net::TcpListener::bind(&u.addr).await?;
    let local = listener.local_addr()?;
    if u.scheme == "tcp" {
        eprintln!("listening on tcp://{local}");
        return serve_tcp(server, listener).await;
    }
    opts.path = u.path.clone();
    allow_bound_host(&mut opts, &u.addr, local);
    eprintln!("listening on {}://{local}{}", u.scheme, u.path);
    serve_http(server, listener, opts, shutdown_signal()).await
}

/// Adds the address a server is bound to (unless loopback or unspecified) to the allowed
/// hosts, and warns when clients may use names that are not allowed.
fn allow_bound_host(opts: &mut HttpOptions, given: &str, local: SocketAddr) {
    let ip = local.ip();
    if ip.is_loopback() {
        return;
    }
    let host = given
        .rsplit_once(':')
        .map(|(h, _)| h.trim_matches(['[', ']']))
        .unwrap_or(given);
    if !ip.is_unspecified() && !opts.allowed_hosts.iter().any(|h| h == host) {
        opts.allowed_hosts.push(host.to_owned());
    }
    if !opts.allowed_hosts.iter().any(|h| h == "*") {
        tracing::warn!(
            "serving on {local}: requests are accepted only with Host/Origin among {:?}; add the names clients use",
            opts.allowed_hosts
        );
    }
}

/// Serves the HTTP endpoint on `listener` until `shutdown` resolves, then closes every
/// session and waits (at most 10 s) for requests in flight.
pub async fn serve_http(
    server: &Server,
    listener: tokio::net::TcpListener,
    opts: HttpOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (router, service) = crate::router(server.clone(), opts);
    let closing = tokio_util::sync::CancellationToken::new();
    let notify = closing.clone();
    let svc = service.clone();
    let graceful = async move {
        shutdown.await;
        tracing::info!("shutting down: closing sessions");
        svc.close_all();
        notify.cancel();
    };
    let serve = axum::serve(listener, router).with_graceful_shutdown(graceful);
    let serve = std::pin::pin!(serve.into_future());
    let mut serve = serve;
    tokio::select! {
        r = &mut serve => r,
        _ = async {
            closing.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            tracing::warn!("shutdown: streams still open after {SHUTDOWN_GRACE:?}; exiting");
            Ok(())
        }
    }
}

async fn serve_tcp(server: &Server, listener: tokio::net::TcpListener) -> io::Result<()> {
    let tracker = tokio_util::task::TaskTracker::new();
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_TCP_CONNECTIONS));
    let stop = shutdown_signal();
    tokio::pin!(stop);
    loop {
        // At the connection limit, wait for one to end before accepting more.
        let permit = tokio::select! {
            _ = &mut stop => break,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let server = server.clone();
                tracker.spawn(async move {
                    let _permit = permit;
                    let (r, w) = stream.into_split();
                    if let Err(e) = server.serve(r, w).await {
                        tracing::debug!(%peer, "connection ended: {e}");
                    }
                });
            }
        }
    }
    tracker.close();
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait()).await;
    Ok(())
}

/// A whole `main` for a server program: `--listen URL` (stdio without it), `--stateless`,
/// `--allowed-host NAME` (repeatable), `--help`.
///
/// ```no_run
/// # fn build() -> rune_server::Server { rune_server::Server::builder("x", "1").build() }
/// fn main() -> std::process::ExitCode {
///     rune_http::listen::main("my_server", build())
/// }
/// ```
pub fn main(program: &str, server: Server) -> std::process::ExitCode {
    use std::process::ExitCode;
    let mut args = std::env::args().skip(1);
    let mut listen = None;
    let mut opts = HttpOptions::default();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => match args.next() {
                Some(url) => listen = Some(url),
                None => {
                    eprintln!("{program}: --listen needs a URL, e.g. http://127.0.0.1:8080/mcp");
                    return ExitCode::from(2);
                }
            },
            "--stateless" => opts.stateless = true,
            "--allowed-host" => match args.next() {
                Some(h) => opts.allowed_hosts.push(h),
                None => {
                    eprintln!("{program}: --allowed-host needs a host name");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!(
                    "usage: {program} [--listen URL] [--stateless] [--allowed-host NAME]...\n\
                     URL: http://HOST:PORT/PATH, ws://HOST:PORT/PATH or tcp://HOST:PORT (stdio without --listen)"
                );
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("{program}: unknown argument {other:?} (try --help)");
                return ExitCode::from(2);
            }
        }
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{program}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match listen {
            None => server.serve_stdio().await,
            Some(url) => serve_url_with(&server, &url, opts).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("http://127.0.0.1:8080/mcp").expect("ok");
        assert_eq!(
            (u.scheme.as_str(), u.addr.as_str(), u.path.as_str()),
            ("http", "127.0.0.1:8080", "/mcp")
        );
        assert_eq!(parse_url("http://localhost:1").expect("ok").path, "/mcp");
        assert_eq!(parse_url("ws://[::1]:9/a/b/").expect("ok").path, "/a/b");
        assert_eq!(parse_url("tcp://127.0.0.1:0").expect("ok").scheme, "tcp");
        assert!(parse_url("https://x:1/").is_err());
        assert!(parse_url("127.0.0.1:80").is_err());
        assert!(parse_url("ftp://x:1").is_err());
    }
}
