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
