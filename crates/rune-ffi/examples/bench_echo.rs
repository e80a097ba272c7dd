//! N sequential `tools/call` of `echo` from Rust with `rune-client`: the baseline of the
//! C ABI benchmark (`bench/bench_echo.c` makes the same calls through `librune`; `bench/run.sh`
//! runs both side by side).
//!
//! ```sh
//! cargo run --release -p rune-ffi --example bench_echo -- "target/release/echo_server" 20000
//! cargo run --release -p rune-ffi --example bench_echo -- "target/release/echo_server" 20000 --interleaved
//! ```
//!
//! The client runs as the C ABI runs it: a multi-thread runtime, each call awaited with
//! `block_on` from the main thread.
//!
//! `--interleaved` measures both paths in this one process, against two servers: blocks of
//! 500 calls alternate between `rune-client` and the exported `rune_client_call_tool` (the
//! very function C calls, reached here through the rlib), A B B A …, so that the noise of a
//! shared machine falls on both alike. It prints the totals and the ratio.

use std::time::Instant;

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF is always valid.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

type Result<T = (), E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

fn main() -> Result {
    let mut args = std::env::args().skip(1);
    let (Some(command), Some(calls)) = (args.next(), args.next()) else {
        eprintln!("usage: bench_echo SERVER_COMMAND CALLS [--interleaved]");
        std::process::exit(2);
    };
    let calls: u32 = calls.parse()?;
    let interleaved = args.next().as_deref() == Some("--interleaved");
    let argv = shlex::split(&command).ok_or("unbalanced quotes")?;
    let (program, rest) = argv.split_first().ok_or("empty command")?;
    let workers = std::thread::available_parallelism()
        .map(|n| n.get().min(4))
        .unwrap_or(2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    let mut cmd = std::process::Command::new(program);
    cmd.args(rest);
    let client = rt.block_on(rune_client::Client::builder().connect_stdio(cmd))?;
    let args = serde_json::json!({"message": "hello"});
    let call = |client: &rune_client::Client| -> Result {
        let r = rt.block_on(client.call_tool("echo", &args))?;
        let text = r.content.first().and_then(|c| c.as_text()).unwrap_or("");
        if text != "hello" {
            return Err(format!("unexpected answer {r:?}").into());
        }
        Ok(())
    };
    for _ in 0..calls / 10 {
        call(&client)?;
    }
    if interleaved {
        let abi = AbiClient::connect(&command)?;
        for _ in 0..calls / 10 {
            abi.call()?;
        }
        let block = 500;
        let (mut rust, mut c) = (Totals::default(), Totals::default());
        for i in 0..calls.div_ceil(block) {
            let mut run_rust = || measure(&mut rust, block, || call(&client));
            let mut run_c = || measure(&mut c, block, || abi.call());
            if i % 2 == 0 {
                run_rust()?;
                run_c()?;
            } else {
                run_c()?;
                run_rust()?;
            }
        }
        rust.print("rust (interleaved)");
        c.print("c-abi (interleaved)");
        println!(
            "c-abi / rust: time per call {:.3}, client CPU per call {:.3}",
            c.wall / rust.wall,
            c.cpu / rust.cpu
        );
        rt.block_on(client.close());
        return Ok(());
    }
    let (t0, c0) = (Instant::now(), cpu_seconds());
    for _ in 0..calls {
        call(&client)?;
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - c0;
    let n = f64::from(calls);
    println!(
        "rust   {:8.0} calls/s  {:6.2} us/call  client CPU {:6.2} us/call",
        n / wall,
        wall / n * 1e6,
        cpu / n * 1e6
    );
    rt.block_on(client.close());
    Ok(())
}

#[derive(Default)]
struct Totals {
    calls: u32,
    wall: f64,
    cpu: f64,
}

impl Totals {
    fn print(&self, name: &str) {
        let n = f64::from(self.calls);
        println!(
            "{name:20} {:8.0} calls/s  {:6.2} us/call  client CPU {:6.2} us/call",
            n / self.wall,
            self.wall / n * 1e6,
            self.cpu / n * 1e6
        );
    }
}

fn measure(totals: &mut Totals, n: u32, mut f: impl FnMut() -> Result) -> Result {
    let (t0, c0) = (Instant::now(), cpu_seconds());
    for _ in 0..n {
        f()?;
    }
    totals.wall += t0.elapsed().as_secs_f64();
    totals.cpu += cpu_seconds() - c0;
    totals.calls += n;
    Ok(())
}

/// The same calls through the C ABI's exported functions.
struct AbiClient(*mut rune::rune_client);

impl AbiClient {
    fn connect(command: &str) -> Result<Self> {
        let url = std::ffi::CString::new(format!("stdio:{command}"))?;
        let mut client = std::ptr::null_mut();
        // SAFETY: a valid C string and a writable out-pointer.
        let status = unsafe { rune::rune_client_create(url.as_ptr(), &mut client) };
        if status != rune::rune_status::RUNE_OK {
            return Err(format!("rune_client_create: {}", last_error()).into());
        }
        Ok(AbiClient(client))
    }

    fn call(&self) -> Result {
        let mut out = std::ptr::null_mut();
        // SAFETY: a live handle, valid C strings, a writable out-pointer.
        let status = unsafe {
            rune::rune_client_call_tool(
                self.0,
                c"echo".as_ptr(),
                c"{\"message\":\"hello\"}".as_ptr(),
                &mut out,
            )
        };
        if status != rune::rune_status::RUNE_OK {
            return Err(format!("rune_client_call_tool: {}", last_error()).into());
        }
        let needle = b"\"text\":\"hello\"";
        // SAFETY: on success `out` is a NUL-terminated string from Rune.
        let ok = unsafe { std::ffi::CStr::from_ptr(out) }
            .to_bytes()
            .windows(needle.len())
            .any(|w| w == needle);
        // SAFETY: `out` came from Rune and is freed once.
        unsafe { rune::rune_string_free(out) };
        if ok {
            Ok(())
        } else {
            Err("unexpected answer".into())
        }
    }
}

impl Drop for AbiClient {
    fn drop(&mut self) {
        // SAFETY: the handle is destroyed once, here.
        unsafe { rune::rune_client_destroy(self.0) };
    }
}

fn last_error() -> String {
    // SAFETY: rune_last_error returns this thread's NUL-terminated message.
    unsafe { std::ffi::CStr::from_ptr(rune::rune_last_error()) }
        .to_string_lossy()
        .into_owned()
}
