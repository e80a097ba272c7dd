//! One server process and the pipelined stdio client that drives it.
//!
//! The client is a single thread. Requests go into one buffer and are written
//! with one `write` per batch on a non-blocking pipe; responses are read with
//! one `read` per batch on a blocking pipe and split into lines with `memchr`.
//! While part of a batch is still unwritten the client `poll`s both pipes, so
//! a server that stops reading until its replies are read cannot deadlock it;
//! otherwise it reads directly, which costs one `write` and one `read` per
//! round trip at concurrency 1. A watchdog thread kills a server that stops
//! answering, so every phase is bounded in time.

use std::io::{self, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use rustix::event::{PollFd, PollFlags};

use crate::procfs::{self, CpuSource, Memory};
use crate::stats::Latency;
use crate::wire::{self, Incoming, Messages, ToolCall};

/// How long the handshake may take before the server is killed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// Extra time a case may take beyond its limit to drain calls in flight.
const DRAIN_GRACE: Duration = Duration::from_secs(10);
/// How long a server may take to exit after its stdin is closed.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// One measured case: `calls` calls (of `echo`, or of the case's tool) with `concurrency` in
/// flight.
#[derive(Debug, Clone)]
pub struct CaseSpec {
    /// Short name, e.g. `c=16`.
    pub label: String,
    /// Requests kept in flight.
    pub concurrency: usize,
    /// Calls to make (fewer if the time limit is reached first).
    pub calls: usize,
    /// Message size in bytes, or `None` for short messages.
    pub payload: Option<usize>,
    /// Call this tool instead of `echo` (then `payload` is not used).
    pub tool: Option<Arc<ToolCall>>,
    /// Stop sending new calls after this long.
    pub time_limit: Duration,
}

/// What one case measured.
#[derive(Debug, Clone)]
pub struct CaseOutcome {
    /// Calls completed and checked.
    pub calls: usize,
    /// From the first write to the last response read.
    pub elapsed: Duration,
    /// Round-trip times, if any call completed.
    pub latency: Option<Latency>,
    /// Server CPU time during the case, in nanoseconds.
    pub cpu_ns: u64,
    /// Where `cpu_ns` came from.
    pub cpu_source: CpuSource,
    /// This client's own CPU time during the case, in nanoseconds.
    pub client_cpu_ns: u64,
    /// Whether the time limit stopped the case before `calls` were made.
    pub hit_time_limit: bool,
}

/// What the handshake told us.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// From just before spawning to reading the first response.
    pub cold_start: Duration,
    /// The protocol version the server answered with, if any.
    pub protocol_version: Option<String>,
    /// `serverInfo.name` and `serverInfo.version`, if given.
    pub server_info: Option<String>,
}

/// How the server's stderr is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StderrMode {
    /// Passed through to ours.
    Inherit,
    /// Discarded.
    Null,
}

/// How to end a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Kill it at once.
    Kill,
    /// Close its stdin and wait for it to exit (needed for strace to write
    /// its summary); kill it if it does not exit in time.
    CloseAndWait,
}

/// A running server with its pipes.
#[derive(Debug)]
pub struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    reader: LineReader,
    wbuf: Vec<u8>,
    next_id: u64,
    meta: Option<String>,
    watchdog: Watchdog,
}

impl Server {
    /// Spawns `argv`, performs the MCP handshake with `protocol_version`,
    /// and measures the cold start.
    ///
    /// For protocol versions before 2026-07-28 the handshake is `initialize`
    /// (id 0) followed by `notifications/initialized`. From 2026-07-28 on
    /// there is no handshake: the session opens with `server/discover` and
    /// every request carries its protocol version in `_meta`.
    pub fn start(
        argv: &[String],
        protocol_version: &str,
        stderr: StderrMode,
    ) -> Result<(Self, Handshake)> {
        let (program, args) = argv.split_first().context("empty server command")?;
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(match stderr {
                StderrMode::Inherit => Stdio::inherit(),
                StderrMode::Null => Stdio::null(),
            });
        let spawned_at = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {program:?}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            bail!("child has no stdin/stdout pipes");
        };
        // Our write end only: the server's end of the pipe is unaffected.
        rustix::io::ioctl_fionbio(&stdin, true).context("cannot make stdin non-blocking")?;
        let watchdog = Watchdog::new(child.id(), HANDSHAKE_TIMEOUT);
        let inline = wire::is_inline_protocol(protocol_version);
        let mut server = Server {
            child,
            stdin: Some(stdin),
            stdout,
            reader: LineReader::new(),
            wbuf: Vec::with_capacity(1 << 16),
            next_id: 1,
            meta: inline.then(|| wire::inline_meta(protocol_version)),
            watchdog,
        };
        // On error, dropping `server` kills the child.
        match server.handshake(protocol_version, spawned_at) {
            Ok(handshake) => Ok((server, handshake)),
            Err(e) => Err(server.explain(e)),
        }
    }

    fn handshake(&mut self, protocol_version: &str, spawned_at: Instant) -> Result<Handshake> {
        let request = match &self.meta {
            Some(meta) => wire::discover_request(0, meta),
            None => wire::initialize_request(0, protocol_version),
        };
        self.write_all(&request)?;
        let result = self.read_response(0)?;
        let cold_start = spawned_at.elapsed();
        if self.meta.is_none() {
            self.write_all(wire::INITIALIZED_NOTIFICATION)?;
        }
        // `initialize` answers with one version; `server/discover` lists the
        // supported ones, and the session then uses the one we asked for.
        let protocol_version = match (result.get("protocolVersion"), &self.meta) {
            (Some(v), _) => Some(v.as_str().map_or_else(|| v.to_string(), str::to_string)),
            (None, Some(_)) => {
                let supported = result.get("supportedVersions").and_then(|v| v.as_array());
                let ours = supported.is_some_and(|list| list.iter().any(|v| v == protocol_version));
                if !ours {
                    bail!(
                        "server/discover does not list protocol {protocol_version}: {}",
                        result
                            .get("supportedVersions")
                            .unwrap_or(&serde_json::Value::Null)
                    );
                }
                Some(format!(
                    "{protocol_version} (no initialize; version in _meta)"
                ))
            }
            (None, None) => None,
        };
        let server_info = result
            .get("serverInfo")
            .or_else(|| result.pointer("/_meta/io.modelcontextprotocol~1serverInfo"))
            .map(|info| {
                let field = |k: &str| info.get(k).and_then(|v| v.as_str()).unwrap_or("?");
                format!("{} {}", field("name"), field("version"))
            });
        Ok(Handshake {
            cold_start,
            protocol_version,
            server_info,
        })
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reads the server's memory use.
    pub fn memory(&self) -> Result<Memory> {
        procfs::memory(self.pid()).context("cannot read the server's memory use")
    }

    /// Runs one case and checks every response.
    pub fn run_case(&mut self, spec: &CaseSpec) -> Result<CaseOutcome> {
        self.watchdog.arm(spec.time_limit + DRAIN_GRACE);
        let result = self.run_case_inner(spec);
        result.map_err(|e| self.explain(e))
    }

    fn run_case_inner(&mut self, spec: &CaseSpec) -> Result<CaseOutcome> {
        if spec.concurrency == 0 {
            bail!("concurrency must be at least 1");
        }
        let messages = match spec.payload {
            Some(bytes) => Messages::payload(bytes),
            None => Messages::short(),
        };
        let tool = spec.tool.as_deref();
        let pid = self.pid();
        let Server {
            stdin,
            stdout,
            reader,
            wbuf,
            next_id,
            meta,
            ..
        } = self;
        let stdin = stdin.as_mut().context("server stdin already closed")?;
        let meta = meta.as_deref();
        let first_id = *next_id;
        let calls = spec.calls;
        // Send time of each call, in nanoseconds since `t0`.
        let mut sent_at = vec![0u64; calls];
        let mut done = vec![false; calls];
        let mut latencies = Vec::with_capacity(calls);
        let (mut sent, mut stamped, mut received) = (0usize, 0usize, 0usize);
        let mut wpos = 0usize;
        let mut stop = false;
        let mut last_read_ns = 0u64;
        wbuf.clear();

        let me = std::process::id();
        let client_before = procfs::cpu_sample(me).context("cannot read our CPU time")?;
        let cpu_before = procfs::cpu_sample(pid).context("cannot read the server's CPU time")?;
        let t0 = Instant::now();
        loop {
            if !stop && sent < calls && sent - received < spec.concurrency {
                // Drop what has been written before appending, once that is
                // at least half the buffer: the buffer stays bounded and each
                // byte is moved about once.
                if wpos > 0 && wpos * 2 >= wbuf.len() {
                    wbuf.drain(..wpos);
                    wpos = 0;
                }
                while sent < calls && sent - received < spec.concurrency {
                    let id = first_id + sent as u64;
                    match tool {
                        Some(call) => call.push(wbuf, id, meta),
                        None => wire::push_echo_call(wbuf, id, &messages, meta),
                    }
                    sent += 1;
                }
            }
            if wpos < wbuf.len() {
                if stamped < sent {
                    let now = t0.elapsed().as_nanos() as u64;
                    sent_at[stamped..sent].fill(now);
                    stamped = sent;
                }
                match stdin.write(&wbuf[wpos..]) {
                    Ok(n) => wpos += n,
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                        ) => {}
                    Err(e) => return Err(e).context("cannot write to the server"),
                }
                if wpos == wbuf.len() {
                    wbuf.clear();
                    wpos = 0;
                }
            }
            if received == sent && (stop || sent == calls) {
                break;
            }
            if wpos < wbuf.len() {
                // Part of the batch is unwritten: wait until the server reads
                // more or has something for us.
                let (readable, _) = poll_pipes(stdout, stdin)?;
                if !readable {
                    continue;
                }
            }
            let n = reader.fill(stdout).context("cannot read from the server")?;
            if n == 0 {
                bail!(
                    "server closed its stdout after {received} of {sent} responses in case {}",
                    spec.label
                );
            }
            let now = t0.elapsed().as_nanos() as u64;
            while let Some(line) = reader.next_line() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let Incoming::Response { id, body } =
                    wire::parse_line(line).map_err(|e| anyhow!(e))?
                else {
                    continue;
                };
                let index = id
                    .checked_sub(first_id)
                    .map(|i| i as usize)
                    .filter(|&i| i < sent)
                    .ok_or_else(|| anyhow!("response with id {id}, which is not in flight"))?;
                if done[index] {
                    bail!("second response for id {id}");
                }
                match tool {
                    Some(call) => call.check(id, body),
                    None => wire::check_echo(id, body, &messages),
                }
                .map_err(|e| anyhow!(e))?;
                done[index] = true;
                received += 1;
                latencies.push(now.saturating_sub(sent_at[index]));
            }
            last_read_ns = now;
            if !stop && now >= spec.time_limit.as_nanos() as u64 {
                stop = true;
            }
        }
        let elapsed = Duration::from_nanos(last_read_ns);
        let cpu_after = procfs::cpu_sample(pid).context("cannot read the server's CPU time")?;
        let client_after = procfs::cpu_sample(me).context("cannot read our CPU time")?;
        *next_id += sent as u64;
        let (cpu_ns, cpu_source) = procfs::cpu_delta_ns(&cpu_before, &cpu_after);
        let (client_cpu_ns, _) = procfs::cpu_delta_ns(&client_before, &client_after);
        Ok(CaseOutcome {
            calls: received,
            elapsed,
            latency: Latency::from_samples(&mut latencies),
            cpu_ns,
            cpu_source,
            client_cpu_ns,
            hit_time_limit: received < calls,
        })
    }

    /// Writes all of `data`, waiting for the pipe as needed.
    fn write_all(&mut self, mut data: &[u8]) -> Result<()> {
        let stdin = self.stdin.as_mut().context("server stdin already closed")?;
        while !data.is_empty() {
            match stdin.write(data) {
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let mut fds = [PollFd::new(stdin, PollFlags::OUT)];
                    rustix::event::poll(&mut fds, None).context("poll failed")?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e).context("cannot write to the server"),
            }
        }
        Ok(())
    }

    /// Reads until the response with `id` and returns its result.
    fn read_response(&mut self, id: u64) -> Result<serde_json::Value> {
        loop {
            while let Some(line) = self.reader.next_line() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let mut msg: serde_json::Value = serde_json::from_slice(line).map_err(|e| {
                    anyhow!("invalid JSON from server ({e}): {}", wire::snippet(line))
                })?;
                if msg.get("method").is_some() || msg.get("id") != Some(&id.into()) {
                    continue;
                }
                if let Some(error) = msg.get("error") {
                    bail!("server answered request {id} with an error: {error}");
                }
                return msg
                    .get_mut("result")
                    .map(serde_json::Value::take)
                    .ok_or_else(|| anyhow!("response {id} has no result"));
            }
            if self.reader.fill(&mut self.stdout)? == 0 {
                bail!("server closed its stdout before answering request {id}");
            }
        }
    }

    /// Adds the watchdog's part to an error.
    fn explain(&self, e: anyhow::Error) -> anyhow::Error {
        if self.watchdog.fired() {
            e.context("server did not answer in time and was killed")
        } else {
            e
        }
    }

    /// Ends the server; returns whether it exited by itself.
    ///
    /// With [`Finish::CloseAndWait`] a server that does not exit in time gets
    /// SIGTERM (on which strace still writes its summary), then SIGKILL.
    pub fn finish(mut self, how: Finish) -> bool {
        self.watchdog.disarm();
        drop(self.stdin.take());
        if how == Finish::CloseAndWait {
            if self.wait_for_exit(EXIT_TIMEOUT) {
                return true;
            }
            let pid = i32::try_from(self.pid())
                .ok()
                .and_then(rustix::process::Pid::from_raw);
            if let Some(pid) = pid {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            self.wait_for_exit(Duration::from_secs(2));
        }
        // Drop kills and reaps the child if it is still there.
        false
    }

    fn wait_for_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Stop the watchdog before reaping, so it can never signal a reused pid.
        self.watchdog.disarm();
        // Both are no-ops on a child that has already been reaped.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the server has output or can take more input; returns
/// (readable, writable).
fn poll_pipes(stdout: &ChildStdout, stdin: &ChildStdin) -> Result<(bool, bool)> {
    let mut fds = [
        PollFd::new(stdout, PollFlags::IN),
        PollFd::new(stdin, PollFlags::OUT),
    ];
    loop {
        match rustix::event::poll(&mut fds, None) {
            Ok(_) => break,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(io::Error::from(e)).context("poll failed"),
        }
    }
    let gone = PollFlags::HUP | PollFlags::ERR;
    Ok((
        fds[0].revents().intersects(PollFlags::IN | gone),
        fds[1].revents().intersects(PollFlags::OUT | gone),
    ))
}

/// A growable read buffer split into newline-terminated lines.
#[derive(Debug)]
struct LineReader {
    buf: Vec<u8>,
    /// Start of the first unconsumed line.
    start: usize,
    /// End of the data read.
    end: usize,
    /// Bytes before this (and after `start`) hold no newline.
    scanned: usize,
}

impl LineReader {
    fn new() -> Self {
        Self {
            buf: vec![0; 256 * 1024],
            start: 0,
            end: 0,
            scanned: 0,
        }
    }

    /// Reads once from `src` into the free space; returns the bytes read.
    fn fill(&mut self, src: &mut impl Read) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            self.scanned = 0;
        } else if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.scanned -= self.start;
                self.start = 0;
            } else {
                let len = self.buf.len() * 2;
                self.buf.resize(len, 0);
            }
        }
        loop {
            match src.read(&mut self.buf[self.end..]) {
                Ok(n) => {
                    self.end += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The next complete line (without its newline), if one has been read.
    fn next_line(&mut self) -> Option<&[u8]> {
        match memchr::memchr(b'\n', &self.buf[self.scanned..self.end]) {
            Some(i) => {
                let line_end = self.scanned + i;
                let line = self.start..line_end;
                self.start = line_end + 1;
                self.scanned = self.start;
                Some(&self.buf[line])
            }
            None => {
                self.scanned = self.end;
                None
            }
        }
    }
}

/// Kills the server if a phase takes longer than its deadline.
#[derive(Debug)]
struct Watchdog {
    tx: Option<mpsc::Sender<Option<Instant>>>,
    fired: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    fn new(pid: u32, timeout: Duration) -> Self {
        let (tx, rx) = mpsc::channel::<Option<Instant>>();
        let fired = Arc::new(AtomicBool::new(false));
        let flag = fired.clone();
        let mut deadline = Some(Instant::now() + timeout);
        let thread = std::thread::spawn(move || {
            loop {
                let message = match deadline {
                    Some(at) => {
                        let now = Instant::now();
                        if now >= at {
                            flag.store(true, Ordering::SeqCst);
                            let pid = i32::try_from(pid)
                                .ok()
                                .and_then(rustix::process::Pid::from_raw);
                            if let Some(pid) = pid {
                                let _ = rustix::process::kill_process(
                                    pid,
                                    rustix::process::Signal::KILL,
                                );
                            }
                            return;
                        }
                        match rx.recv_timeout(at - now) {
                            Ok(m) => m,
                            Err(mpsc::RecvTimeoutError::Timeout) => continue,
                            Err(mpsc::RecvTimeoutError::Disconnected) => return,
                        }
                    }
                    None => match rx.recv() {
                        Ok(m) => m,
                        Err(_) => return,
                    },
                };
                deadline = message;
            }
        });
        Self {
            tx: Some(tx),
            fired,
            thread: Some(thread),
        }
    }

    /// Sets a new deadline, `timeout` from now.
    fn arm(&self, timeout: Duration) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Some(Instant::now() + timeout));
        }
    }

    /// Stops the watchdog (before the child is reaped, so it can never kill
    /// a reused pid).
    fn disarm(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.disarm();
    }
}
