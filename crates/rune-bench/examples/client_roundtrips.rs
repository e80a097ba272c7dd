//! Client-side round trips: Rune's MCP client (`rune-client`) and rmcp 3.11's client making
//! the same `tools/call` requests against the same stdio server, in the same run.
//!
//! Every client spawns the server command, does the `initialize` handshake, makes
//! `--warmup` unmeasured calls, then `--calls-1` calls with 1 in flight and `--calls-16`
//! calls with 16 in flight. The calls are `echo` with `{"message": "m<i>"}` (i numbers the
//! call), and every reply must be a result whose first content block is text equal to the
//! message. The k calls in flight are k tasks taking call numbers from one counter.
//!
//! Measured per case: calls/s (wall time) and the client's own CPU time per call
//! (`CLOCK_PROCESS_CPUTIME_ID` of this process, all its threads: the same as
//! `getrusage(RUSAGE_SELF)` user + system, in nanoseconds; the server is another process
//! and is not counted).
//!
//! Clients are given as `LIB:RUNTIME`, LIB `rune` or `rmcp`, RUNTIME `current` (a
//! current-thread tokio runtime) or `multi` (the default multi-thread runtime, as
//! `#[tokio::main]` builds it). With `--rounds N` every client runs N times, taking turns,
//! and the medians are reported; ratios are against the first client given.
//!
//! ```sh
//! cargo build --release -p echo_server -p rune-bench --example client_roundtrips
//! target/release/examples/client_roundtrips --rounds 3 \
//!   --client rune:current --client rmcp:multi --client rmcp:current --client rune:multi \
//!   -- target/release/echo_server
//! ```

use std::future::Future;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Round trips of Rune's MCP client and rmcp's client against one stdio server")]
struct Args {
    /// Client to run, `LIB:RUNTIME` (`rune` or `rmcp`, `current` or `multi`); repeat for
    /// several. Default: rune:current, rmcp:multi.
    #[arg(long = "client")]
    clients: Vec<String>,
    /// Runs of every client, taking turns; medians are reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Calls with 1 in flight.
    #[arg(long = "calls-1", default_value_t = 20_000)]
    calls_1: u64,
    /// Calls with 16 in flight.
    #[arg(long = "calls-16", default_value_t = 50_000)]
    calls_16: u64,
    /// Unmeasured calls (16 in flight) after the handshake.
    #[arg(long, default_value_t = 1_000)]
    warmup: u64,
    /// The server command and its arguments.
    #[arg(trailing_var_arg = true, required = true)]
    server: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Lib {
    Rune,
    Rmcp,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Runtime {
    Current,
    Multi,
}

#[derive(Clone, Debug)]
struct Spec {
    label: String,
    lib: Lib,
    runtime: Runtime,
}

fn parse_spec(s: &str) -> Result<Spec> {
    let (lib, runtime) = s.split_once(':').unwrap_or((s, "current"));
    let lib = match lib {
        "rune" => Lib::Rune,
        "rmcp" => Lib::Rmcp,
        other => bail!("unknown client library {other:?} (rune or rmcp)"),
    };
    let runtime = match runtime {
        "current" => Runtime::Current,
        "multi" => Runtime::Multi,
        other => bail!("unknown runtime {other:?} (current or multi)"),
    };
    Ok(Spec {
        label: s.to_owned(),
        lib,
        runtime,
    })
}

/// One measured case.
#[derive(Clone, Copy, Debug)]
struct Case {
    calls: u64,
    wall: Duration,
    cpu_ns: u64,
}

impl Case {
    fn rate(&self) -> f64 {
        self.calls as f64 / self.wall.as_secs_f64()
    }
    fn cpu_us_per_call(&self) -> f64 {
        self.cpu_ns as f64 / 1000.0 / self.calls as f64
    }
}

/// CPU time of this whole process (every thread, also those gone), in nanoseconds.
fn process_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// `n` calls with `k` in flight: `k` tasks taking call numbers from one counter.
async fn run_case<F, Fut>(call: F, k: usize, n: u64) -> Result<Case>
where
    F: Fn(String) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<String>> + Send + 'static,
{
    let next = Arc::new(AtomicU64::new(0));
    let cpu_before = process_cpu_ns();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..k {
        let call = call.clone();
        let next = Arc::clone(&next);
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(());
                }
                let message = format!("m{i}");
                let text = call(message.clone()).await?;
                ensure!(text == message, "call {i}: sent {message:?}, got {text:?}");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.context("a calling task panicked")??;
    }
    let wall = start.elapsed();
    let cpu_ns = process_cpu_ns().saturating_sub(cpu_before);
    Ok(Case {
        calls: n,
        wall,
        cpu_ns,
    })
}

/// Warm-up, then the two measured cases (1 and 16 in flight).
async fn cases<F, Fut>(call: F, args: &Args) -> Result<[Case; 2]>
where
    F: Fn(String) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<String>> + Send + 'static,
{
    if args.warmup > 0 {
        run_case(call.clone(), 16, args.warmup).await?;
    }
    let one = run_case(call.clone(), 1, args.calls_1).await?;
    let sixteen = run_case(call, 16, args.calls_16).await?;
    Ok([one, sixteen])
}

async fn rune(args: &Args) -> Result<[Case; 2]> {
    use rune_client::model::Content;

    let mut command = std::process::Command::new(&args.server[0]);
    command.args(&args.server[1..]);
    let client = Arc::new(
        rune_client::Client::builder()
            .connect_stdio(command)
            .await
            .context("rune-client: connecting")?,
    );
    let call = {
        let client = Arc::clone(&client);
        move |message: String| {
            let client = Arc::clone(&client);
            async move {
                let result = client
                    .call_tool("echo", serde_json::json!({ "message": message }))
                    .await?;
                ensure!(result.is_error != Some(true), "the tool failed: {result:?}");
                match result.content.into_iter().next() {
                    Some(Content::Text(t)) => Ok(t.text),
                    other => bail!("expected text content, got {other:?}"),
                }
            }
        }
    };
    let out = cases(call, args).await;
    if let Ok(client) = Arc::try_unwrap(client) {
        client.close().await;
    }
    out
}

async fn rmcp(args: &Args) -> Result<[Case; 2]> {
    use rmcp::ServiceExt;
    use rmcp::model::CallToolRequestParams;
    use rmcp::transport::TokioChildProcess;

    let mut command = tokio::process::Command::new(&args.server[0]);
    command.args(&args.server[1..]);
    let (transport, _) = TokioChildProcess::builder(command)
        .stderr(Stdio::null())
        .spawn()
        .context("rmcp: spawning the server")?;
    let service = ().serve(transport).await.context("rmcp: connecting")?;
    let peer = Arc::new(service.peer().clone());
    let call = move |message: String| {
        let peer = Arc::clone(&peer);
        async move {
            let mut arguments = serde_json::Map::new();
            arguments.insert("message".into(), serde_json::Value::String(message));
            let result = peer
                .call_tool(CallToolRequestParams::new("echo").with_arguments(arguments))
                .await?;
            ensure!(result.is_error != Some(true), "the tool failed: {result:?}");
            match result.content.into_iter().next() {
                Some(block) => match block.as_text() {
                    Some(t) => Ok(t.text.clone()),
                    None => bail!("expected text content, got {block:?}"),
                },
                None => bail!("no content"),
            }
        }
    };
    let out = cases(call, args).await;
    let _ = service.cancel().await;
    out
}

fn run(spec: &Spec, args: &Args) -> Result<[Case; 2]> {
    let runtime = match spec.runtime {
        Runtime::Current => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        Runtime::Multi => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
    };
    let out = runtime.block_on(async {
        match spec.lib {
            Lib::Rune => rune(args).await,
            Lib::Rmcp => rmcp(args).await,
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
    out.with_context(|| format!("client {}", spec.label))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let specs = if args.clients.is_empty() {
        vec![parse_spec("rune:current")?, parse_spec("rmcp:multi")?]
    } else {
        args.clients
            .iter()
            .map(|s| parse_spec(s))
            .collect::<Result<Vec<_>>>()?
    };
    ensure!(args.rounds > 0, "--rounds must be at least 1");

    // results[client][round] = [c=1, c=16]
    let mut results: Vec<Vec<[Case; 2]>> = vec![Vec::new(); specs.len()];
    for round in 1..=args.rounds {
        for (spec, out) in specs.iter().zip(&mut results) {
            let r = run(spec, &args)?;
            eprintln!(
                "round {round} {:<13} c=1 {:>8.0}/s {:>6.2} µs CPU/call   c=16 {:>8.0}/s {:>6.2} µs CPU/call",
                spec.label,
                r[0].rate(),
                r[0].cpu_us_per_call(),
                r[1].rate(),
                r[1].cpu_us_per_call(),
            );
            out.push(r);
        }
    }

    type Metric = (&'static str, fn(&[Case; 2]) -> f64, bool);
    let metrics: [Metric; 4] = [
        ("c=1 calls/s", |r| r[0].rate(), true),
        ("c=1 client CPU/call", |r| r[0].cpu_us_per_call(), false),
        ("c=16 calls/s", |r| r[1].rate(), true),
        ("c=16 client CPU/call", |r| r[1].cpu_us_per_call(), false),
    ];
    let width = 20;
    print!("{:<22}", "metric (median)");
    for spec in &specs {
        print!("{:>width$}", spec.label);
    }
    println!();
    println!("{}", "-".repeat(22 + width * specs.len()));
    for (name, get, is_rate) in metrics {
        print!("{name:<22}");
        let medians: Vec<f64> = results
            .iter()
            .map(|rounds| median(rounds.iter().map(get).collect()))
            .collect();
        for (i, m) in medians.iter().enumerate() {
            let value = if is_rate {
                format!("{:.1}k/s", m / 1000.0)
            } else {
                format!("{m:.2} µs")
            };
            let cell = if i == 0 {
                value
            } else {
                format!("{value} ({:.2}×)", m / medians[0])
            };
            print!("{cell:>width$}");
        }
        println!();
    }
    Ok(())
}
