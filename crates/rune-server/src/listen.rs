//! Serving on an address given as a URL (`--listen`).
//!
//! `tcp://HOST:PORT` serves newline-delimited JSON to each TCP client, one connection per
//! client, exactly like stdio. Port 0 picks a free port; the bound address is logged to
//! stderr as `listening on tcp://…`. HTTP (Streamable HTTP, legacy SSE) and WebSocket live in
//! the `rune-http` crate, whose `listen::serve_url` takes every scheme and whose
//! `listen::main` is a whole `main` for a server program.

use std::io;

use crate::Server;

/// Serves `server` on `url` until the process ends.
pub async fn serve_url(server: &Server, url: &str) -> io::Result<()> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{url:?} is not a URL (expected tcp://HOST:PORT)"),
        )
    })?;
    match scheme {
        "tcp" => serve_tcp(server, rest.trim_end_matches('/')).await,
        "http" | "https" | "ws" | "wss" => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{scheme}:// is served by the rune-http crate (rune_http::listen::serve_url)"),
        )),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unknown scheme {other:?} in {url:?} (expected tcp://HOST:PORT)"),
        )),
    }
}

async fn serve_tcp(server: &Server, addr: &str) -> io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("listening on tcp://{}", listener.local_addr()?);
    // At the connection limit, wait for one to end before accepting more.
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(1024));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return Ok(());
        };
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of descriptors and the like: back off instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let server = server.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let (r, w) = stream.into_split();
            if let Err(e) = server.serve(r, w).await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
}
