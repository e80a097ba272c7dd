//! The threads Rune runs on inside a C program.
//!
//! One multi-threaded tokio runtime per process, started by the first call that needs it and
//! kept until the process ends: its worker threads (`rune-worker`, at most 4) drive every
//! connection's I/O; tool callbacks run on its blocking pool (threads of the same name), so a callback
//! may block without stalling any connection. A blocking ABI call (`rune_client_call_tool`,
//! `rune_server_run`) waits on the caller's own thread with `block_on`.
//!
//! When the environment variable `RUNE_LOG` is set (`RUNE_LOG=debug`, or any
//! `tracing_subscriber` filter), Rune's logs, including the stderr lines of stdio servers a
//! client started, go to the process's stderr. Without it Rune writes nothing.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

use crate::error::{FfiError, rune_status};

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// The process's runtime, started on first use.
pub(crate) fn get() -> Result<&'static Runtime, FfiError> {
    RUNTIME
        .get_or_init(start)
        .as_ref()
        .map_err(|e| FfiError::new(rune_status::RUNE_ERROR_RUNTIME, e.clone()))
}

fn start() -> Result<Runtime, String> {
    if let Ok(filter) = std::env::var("RUNE_LOG") {
        // The embedding program may have installed a subscriber of its own: keep it.
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .try_init();
    }
    ignore_sigpipe();
    let workers = std::thread::available_parallelism()
        .map(|n| n.get().min(4))
        .unwrap_or(2);
    Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("rune-worker")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start Rune's threads: {e}"))
}

/// A write to a pipe or socket whose reader is gone raises SIGPIPE, whose default action
/// kills the process. Rust programs ignore it from `main`; a C program usually does not, so a
/// stdio server that exits, or a client that hangs up, would kill the embedding program
/// instead of failing one call with `EPIPE`. When SIGPIPE still has its default action, Rune
/// ignores it (as the Rust runtime does); a handler or disposition the program chose is left
/// alone. Child processes Rune starts get the default action back (`std::process` resets it).
fn ignore_sigpipe() {
    #[cfg(unix)]
    {
        // SAFETY: sigaction with a NULL new action only reads the current one into `old`, a
        // zeroed sigaction the kernel fills in.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let read = unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) };
        if read == 0 && old.sa_sigaction == libc::SIG_DFL {
            // SAFETY: SIG_IGN is a valid disposition for SIGPIPE; nothing else is changed.
            unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        }
    }
}
