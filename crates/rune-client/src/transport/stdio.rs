//! A server run as a child process, spoken to over its stdin and stdout.
//!
//! The child's stderr goes to `tracing` (target `rune_client::stderr`), one event per line.
//! The child belongs to the connection: closing the client closes its stdin and waits for it
//! to exit, killing it after a grace period; dropping the client does the same in the
//! background. Either way the child is reaped (tokio's `kill_on_drop` covers a runtime that
//! shuts down first).

use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{BoxFut, Outgoing, Sink, Transport, lines};
use crate::error::Error;

/// The server process behind a connection.
pub(crate) struct ChildServer {
    tx: mpsc::Sender<Vec<u8>>,
    stop: CancellationToken,
    exited: watch::Receiver<Option<String>>,
}

/// Spawns the server; the returned closure starts the transport.
pub(crate) fn spawn(
    command: std::process::Command,
    max: usize,
    grace: Duration,
) -> Result<impl FnOnce(Sink) -> Arc<dyn Transport> + use<>, Error> {
    let label = command.get_program().to_string_lossy().into_owned();
    let mut command = Command::from(command);
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|e| Error::transport(format!("cannot start {label}: {e}")))?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(Error::transport(format!("{label}: no pipes to the child")));
    };
    Ok(move |sink: Sink| {
        let stop = CancellationToken::new();
        let (exit_tx, exited) = watch::channel(None);
        tokio::spawn(watch_child(
            child,
            stop.clone(),
            grace,
            exit_tx,
            label.clone(),
        ));
        tokio::spawn(log_stderr(stderr, label, stop.clone()));
        let mut on_exit = exited.clone();
        let tx = lines::start(stdout, stdin, sink, stop.clone(), max, move || async move {
            // Say how the server ended when it exits soon after closing its output.
            let status = tokio::time::timeout(Duration::from_millis(500), async {
                on_exit
                    .wait_for(Option::is_some)
                    .await
                    .ok()
                    .and_then(|s| s.clone())
            })
            .await
            .ok()
            .flatten();
            match status {
                Some(status) => format!("the server exited ({status})"),
                None => "the server closed its stdout".to_owned(),
            }
        });
        Arc::new(ChildServer { tx, stop, exited }) as Arc<dyn Transport>
    })
}

fn describe(status: std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(s) => s.to_string(),
        Err(e) => format!("waiting for it failed: {e}"),
    }
}

/// Owns the child: reports its exit, and on `stop` gives it `grace` to exit after its stdin
/// closed (the writer closes it), then kills it. Always waits for it, so no zombie is left.
async fn watch_child(
    mut child: Child,
    stop: CancellationToken,
    grace: Duration,
    exit_tx: watch::Sender<Option<String>>,
    label: String,
) {
    let status = tokio::select! {
        s = child.wait() => Some(s),
        _ = stop.cancelled() => None,
    };
    let status = match status {
        Some(s) => s,
        None => match tokio::time::timeout(grace, child.wait()).await {
            Ok(s) => s,
            Err(_) => {
                debug!("{label} did not exit within {grace:?} of its stdin closing; killing it");
                if let Err(e) = child.start_kill() {
                    warn!("killing {label} failed: {e}");
                }
                child.wait().await
            }
        },
    };
    let text = describe(status);
    debug!("{label} exited ({text})");
    let _ = exit_tx.send(Some(text));
}

async fn log_stderr(stderr: tokio::process::ChildStderr, label: String, stop: CancellationToken) {
    let result = lines::read_lines(stderr, 64 * 1024, &stop, |line| {
        info!(target: "rune_client::stderr", server = %label, "{}", String::from_utf8_lossy(line));
    })
    .await;
    if let Err(e) = result {
        debug!("reading the stderr of {label} failed: {e}");
    }
}

impl Transport for ChildServer {
    fn send(&self, msg: Outgoing) -> BoxFut<'_, Result<(), Error>> {
        lines::queue(&self.tx, msg)
    }
    fn try_send(&self, msg: Outgoing) -> Result<(), Outgoing> {
        lines::try_queue(&self.tx, msg)
    }
    fn close(&self) -> BoxFut<'_, ()> {
        self.stop.cancel();
        let mut exited = self.exited.clone();
        Box::pin(async move {
            let _ = exited.wait_for(Option::is_some).await;
        })
    }
    fn shutdown(&self) {
        self.stop.cancel();
    }
}
