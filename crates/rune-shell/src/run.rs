//! Running one command: spawn with the sandbox applied, stream its output, enforce the
//! timeout, and make sure that nothing it started survives the call.
//!
//! # Lifetime of a call
//!
//! - **Spawn.** `std::process::Command` forks; the child applies the prepared
//!   [`ChildSetup`](crate::sys::ChildSetup) (session, limits, namespaces, `no_new_privs`,
//!   Landlock, seccomp) and execs. The command is the leader of its own session and process
//!   group, whose id is its pid.
//! - **Wait.** The exit is noticed through a pidfd (or a `waitid(WNOWAIT)` poll on kernels
//!   without one) *without reaping*: while the leader is a zombie its pid, and so the group's
//!   id, cannot be reused by an unrelated process, so `killpg` can never hit a stranger.
//! - **End.** As soon as the leader exits, the group gets SIGKILL: a background child, a
//!   daemon it forked, a grandchild that kept the pipes open — none outlives the call. Then
//!   the pipes are read to their end (bounded by a short drain deadline, in case a process
//!   outside the group holds them) and the leader is reaped.
//! - **Timeout.** SIGTERM to the group, SIGKILL after the grace period, whether or not the
//!   processes exit or close their pipes; reading stops when the leader is gone.
//! - **Cancellation.** The client's `notifications/cancelled` ends the call: SIGKILL to the
//!   group. If the handler's future is dropped instead (the server aborts it), a guard does
//!   the same from `Drop` and reaps the leader on a helper thread.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rune_server::RequestContext;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;

use crate::capture::Capture;
use crate::sys::{self, ChildSetup};

/// How long the pipes are read after the leader exited and its group was killed.
const DRAIN: Duration = Duration::from_millis(500);
/// How often a long quiet command reports that it is still running.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// What to run.
#[derive(Debug)]
pub(crate) struct Spec {
    pub program: PathBuf,
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    pub env: Vec<(OsString, OsString)>,
    pub stdin: Option<Vec<u8>>,
    pub timeout: Duration,
    pub grace: Duration,
    pub max_output: usize,
    pub max_streamed: usize,
}

/// How it ended.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The leader's pid, which is also its process group's id.
    pub pid: u32,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub duration: Duration,
    pub stdout: Capture,
    pub stderr: Capture,
    /// The pipes were still open at the drain deadline (held by a process outside the group).
    pub pipes_held_open: bool,
}

/// Why it did not run to an outcome.
#[derive(Debug)]
pub(crate) enum RunError {
    /// It could not start (the message says why).
    Spawn(String),
    /// The client cancelled the call; the group was killed.
    Cancelled,
}

/// Kills the group and reaps the leader if the call ends without doing so itself.
struct Reaper {
    pid: u32,
    child: Option<Child>,
}

impl Reaper {
    /// Reaps the leader (which has exited) and returns its status.
    fn reap(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        child.wait().ok()
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Not reaped yet: the group id is still ours.
            sys::killpg(self.pid, libc::SIGKILL);
            std::thread::spawn(move || {
                let _ = child.wait();
            });
        }
    }
}

/// Progress notifications: output chunks while the budget lasts, then a note now and then.
struct Streamer {
    cx: Option<RequestContext>,
    seq: u64,
    streamed: usize,
    max: usize,
    total: u64,
    last_note: Instant,
}

impl Streamer {
    fn send(&mut self, message: &str) {
        if let Some(cx) = &self.cx {
            self.seq += 1;
            cx.progress(self.seq as f64, None, Some(message));
        }
        self.last_note = Instant::now();
    }

    fn chunk(&mut self, stream: &str, data: &[u8]) {
        self.total += data.len() as u64;
        if self.cx.is_none() {
            return;
        }
        if self.streamed < self.max {
            let n = data.len().min(self.max - self.streamed);
            self.streamed += n;
            let text = String::from_utf8_lossy(&data[..n]);
            self.send(&format!("{stream}: {text}"));
        } else if self.last_note.elapsed() >= Duration::from_secs(1) {
            let note = format!(
                "{} bytes of output so far (no longer streamed; the result keeps its start and end)",
                self.total
            );
            self.send(&note);
        }
    }
}

/// Runs `spec` in the sandbox of `setup`.
pub(crate) async fn run(
    spec: Spec,
    mut setup: ChildSetup,
    cx: Option<RequestContext>,
) -> Result<Outcome, RunError> {
    let (diag_read, diag_write) =
        sys::pipe().map_err(|e| RunError::Spawn(format!("a pipe could not be made: {e}")))?;
    setup.diag = Some(diag_write);
    let mut cmd = Command::new(&spec.program);
    if let Some((first, rest)) = spec.argv.split_first() {
        cmd.arg0(first).args(rest);
    }
    cmd.current_dir(&spec.cwd)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(if spec.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    sys::install_pre_exec(&mut cmd, setup);
    let started = Instant::now();
    let spawned = cmd.spawn();
    // Closes the parent's copies of the ruleset and of the diagnostic pipe's write end.
    drop(cmd);
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return Err(RunError::Spawn(spawn_error(&spec, &e, diag_read))),
    };
    let pid = child.id();
    let stdout = child.stdout.take().map(OwnedFd::from);
    let stderr = child.stderr.take().map(OwnedFd::from);
    let stdin = child.stdin.take().map(OwnedFd::from);
    let mut reaper = Reaper {
        pid,
        child: Some(child),
    };
    let open = |fd: Option<OwnedFd>| fd.and_then(|fd| pipe::Receiver::from_owned_fd(fd).ok());
    let mut stdout = open(stdout);
    let mut stderr = open(stderr);
    let stdin = stdin.and_then(|fd| pipe::Sender::from_owned_fd(fd).ok());

    let exit = wait_exit(pid);
    let stdin_data = spec.stdin;
    let feed = async move {
        if let (Some(mut tx), Some(data)) = (stdin, stdin_data) {
            // A command that exits without reading makes this fail (EPIPE): not an error.
            let _ = tx.write_all(&data).await;
        }
    };
    let cancelled = async {
        match &cx {
            Some(c) => c.cancelled().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(exit, feed, cancelled);

    let mut out = Capture::new(spec.max_output);
    let mut err = Capture::new(spec.max_output);
    let mut streamer = Streamer {
        cx: cx.clone(),
        seq: 0,
        streamed: 0,
        max: spec.max_streamed,
        total: 0,
        last_note: Instant::now(),
    };
    let mut obuf = vec![0u8; 16 * 1024];
    let mut ebuf = vec![0u8; 16 * 1024];
    let deadline = started + spec.timeout;
    let mut kill_at: Option<Instant> = None;
    let mut killed = false;
    let mut timed_out = false;
    let mut exited = false;
    let mut drain_until: Option<Instant> = None;
    let mut fed = false;
    let mut pipes_held_open = false;
    let mut heartbeat = tokio::time::interval_at((started + HEARTBEAT).into(), HEARTBEAT);

    loop {
        if exited && stdout.is_none() && stderr.is_none() {
            break;
        }
        let wake = match (drain_until, kill_at, killed) {
            (Some(d), _, _) => Some(d),
            (None, _, true) => None,
            (None, Some(k), false) => Some(k),
            (None, None, false) => Some(deadline),
        };
        let sleep = async {
            match wake {
                Some(w) => tokio::time::sleep_until(w.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = read_some(&mut stdout, &mut obuf) => match r {
                Some(n) => {
                    out.push(&obuf[..n]);
                    streamer.chunk("stdout", &obuf[..n]);
                }
                None => stdout = None,
            },
            r = read_some(&mut stderr, &mut ebuf) => match r {
                Some(n) => {
                    err.push(&ebuf[..n]);
                    streamer.chunk("stderr", &ebuf[..n]);
                }
                None => stderr = None,
            },
            () = &mut exit, if !exited => {
                exited = true;
                // Whatever the command left running goes with it.
                sys::killpg(pid, libc::SIGKILL);
                drain_until = Some(Instant::now() + DRAIN);
            }
            () = &mut feed, if !fed => fed = true,
            () = sleep => {
                if drain_until.is_some() {
                    pipes_held_open = true;
                    break;
                }
                if kill_at.is_some() {
                    sys::killpg(pid, libc::SIGKILL);
                    killed = true;
                } else {
                    timed_out = true;
                    sys::killpg(pid, libc::SIGTERM);
                    kill_at = Some(Instant::now() + spec.grace);
                }
            }
            _ = heartbeat.tick() => {
                let secs = started.elapsed().as_secs();
                streamer.send(&format!("still running after {secs} s"));
            }
            () = &mut cancelled => {
                sys::killpg(pid, libc::SIGKILL);
                return Err(RunError::Cancelled);
            }
        }
    }
    let status = reaper.reap();
    let duration = started.elapsed();
    Ok(Outcome {
        pid,
        exit_code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        timed_out,
        duration,
        stdout: out,
        stderr: err,
        pipes_held_open,
    })
}

/// One read from a pipe still open: `Some(n)` bytes, or `None` at its end (or on an error).
/// Never resolves for a closed pipe, so a `select!` simply stops polling it.
async fn read_some(rx: &mut Option<pipe::Receiver>, buf: &mut [u8]) -> Option<usize> {
    match rx {
        Some(r) => match r.read(buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(n),
        },
        None => std::future::pending().await,
    }
}

/// Resolves when process `pid` has exited, without reaping it.
async fn wait_exit(pid: u32) {
    if let Ok(fd) = sys::pidfd_open(pid)
        && let Ok(afd) = sys::async_pidfd(fd)
    {
        let _ = afd.readable().await;
        return;
    }
    while !sys::has_exited(pid) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The message for a command that could not start.
fn spawn_error(spec: &Spec, e: &std::io::Error, diag: OwnedFd) -> String {
    let mut step = [0u8; 1];
    let f = std::fs::File::from(diag);
    let step = match std::io::Read::read(&mut &f, &mut step) {
        Ok(1) => sys::STEPS.get(usize::from(step[0])).copied(),
        _ => None,
    };
    let program = spec.program.display();
    match step {
        Some(s) if !s.is_empty() => {
            format!("the sandbox could not be set up for {program}: {s} failed: {e}")
        }
        _ if e.raw_os_error() == Some(libc::EACCES) => format!(
            "{program} could not be run: {e}. The sandbox runs programs only from the system \
             directories (/usr, /bin, /lib…, /opt), the roots and the configured read paths"
        ),
        _ => format!("{program} could not be run: {e}"),
    }
}
