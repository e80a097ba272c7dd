//! `rune-bench`: a load generator for MCP servers over stdio.
//!
//! ```text
//! rune-bench stdio [OPTIONS] -- <server command> [args...]
//! rune-bench compare [OPTIONS] --server NAME=CMD [--server NAME=CMD ...]
//! rune-bench compare --tool NAME --args JSON [--expect-substring TEXT] [OPTIONS] --server ...
//! ```
//!
//! See the crate README for the method and an example run.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Parser, Subcommand};

use rune_bench::bench::{self, Plan, ServerSpec};
use rune_bench::client::{CaseSpec, StderrMode};
use rune_bench::report::{self, RunReport};
use rune_bench::wire::{self, ToolCall};

#[derive(Debug, Parser)]
#[command(name = "rune-bench", version, about = "Measure MCP servers over stdio")]
struct Cli {
    #[command(subcommand)]
    command: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Measure one server: rune-bench stdio [OPTIONS] -- CMD [ARGS...]
    Stdio {
        #[command(flatten)]
        options: Options,
        /// The server command and its arguments (after `--`).
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// Measure several servers one after another in one run.
    Compare {
        #[command(flatten)]
        options: Options,
        /// A server as NAME=CMD; CMD is split like a shell would. Ratios are
        /// against the first server given.
        #[arg(long = "server", value_name = "NAME=CMD", required = true)]
        servers: Vec<String>,
    },
}

#[derive(Debug, Args)]
struct Options {
    /// Requests in flight for a short-message case; repeat for several cases
    /// [default: 1 and 16].
    #[arg(short = 'c', long = "concurrency", value_name = "N")]
    concurrency: Vec<usize>,
    /// Calls per case [default: 5000 at c=1, 20000 at higher concurrency,
    /// 2000 for the payload case].
    #[arg(long, value_name = "N")]
    calls: Option<usize>,
    /// Message size of the payload case in bytes (0 to skip the case).
    #[arg(long, value_name = "BYTES", default_value_t = 65536)]
    payload: usize,
    /// Requests in flight in the payload case.
    #[arg(long, value_name = "N", default_value_t = 4)]
    payload_concurrency: usize,
    /// Unmeasured calls (at the highest concurrency) before the cases.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    warmup: usize,
    /// Stop sending calls in a case after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 20.0)]
    time_limit: f64,
    /// Run everything this many times (servers take turns) and report the
    /// median of each number: throughput here is noisy.
    #[arg(long, value_name = "N", default_value_t = 1)]
    rounds: usize,
    /// Extra server starts to take the median cold start over.
    #[arg(long, value_name = "N", default_value_t = 4)]
    cold_starts: usize,
    /// Protocol version to ask for; 2026-07-28 or later skips `initialize`
    /// and sends the version in each request's `_meta` instead.
    #[arg(long, value_name = "VERSION", default_value = wire::DEFAULT_PROTOCOL_VERSION)]
    protocol: String,
    /// Also count the server's syscalls per call (at the highest concurrency)
    /// by running it again under `strace -f -c`.
    #[arg(long)]
    strace: bool,
    /// Calls for the strace run [default: as in the case].
    #[arg(long, value_name = "N")]
    strace_calls: Option<usize>,
    /// Discard the servers' stderr instead of passing it through.
    #[arg(long)]
    quiet_server: bool,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Call this tool instead of `echo` in every case (the payload case is skipped), e.g.
    /// `--tool file_read --args '{"path":"a.txt"}'`.
    #[arg(long, value_name = "NAME")]
    tool: Option<String>,
    /// The arguments of `--tool`, a JSON object [default: {}].
    #[arg(long, value_name = "JSON", requires = "tool")]
    args: Option<String>,
    /// With `--tool`: a reply passes only if its first text block contains this text (a
    /// reply that is an error or has no text block always fails).
    #[arg(long, value_name = "TEXT", requires = "tool")]
    expect_substring: Option<String>,
}

impl Options {
    fn plan(&self) -> Result<Plan> {
        if !(self.time_limit > 0.0 && self.time_limit.is_finite()) {
            bail!("--time-limit must be a positive number of seconds");
        }
        let time_limit = Duration::from_secs_f64(self.time_limit);
        let concurrency = if self.concurrency.is_empty() {
            vec![1, 16]
        } else {
            self.concurrency.clone()
        };
        if concurrency.contains(&0) || self.payload_concurrency == 0 {
            bail!("concurrency must be at least 1");
        }
        if self.calls == Some(0) {
            bail!("--calls must be at least 1");
        }
        let tool = match &self.tool {
            Some(name) => Some(Arc::new(
                ToolCall::new(
                    name,
                    self.args.as_deref().unwrap_or("{}"),
                    self.expect_substring.clone(),
                )
                .map_err(anyhow::Error::msg)?,
            )),
            None => None,
        };
        let cases = bench::cases(
            &concurrency,
            self.calls,
            self.payload,
            self.payload_concurrency,
            time_limit,
            tool.as_ref(),
        );
        let max_c = concurrency.iter().copied().max().unwrap_or(1);
        let warmup = (self.warmup > 0).then(|| CaseSpec {
            label: "warm-up".into(),
            concurrency: max_c,
            calls: self.warmup,
            payload: None,
            tool: tool.clone(),
            time_limit,
        });
        let strace_case = if self.strace {
            let traced = cases
                .iter()
                .filter(|c| c.payload.is_none())
                .max_by_key(|c| c.concurrency)
                .context("--strace needs a short-message case")?;
            Some(CaseSpec {
                calls: self.strace_calls.unwrap_or(traced.calls),
                ..traced.clone()
            })
        } else {
            None
        };
        Ok(Plan {
            cases,
            warmup,
            cold_starts: self.cold_starts,
            protocol_version: self.protocol.clone(),
            stderr: if self.quiet_server {
                StderrMode::Null
            } else {
                StderrMode::Inherit
            },
            strace_case,
        })
    }
}

fn run(cli: Cli) -> Result<bool> {
    let (options, servers) = match cli.command {
        Mode::Stdio { options, command } => {
            let name = command
                .first()
                .and_then(|p| p.rsplit('/').next())
                .unwrap_or("server")
                .to_string();
            (
                options,
                vec![ServerSpec {
                    name,
                    argv: command,
                }],
            )
        }
        Mode::Compare { options, servers } => {
            let servers = servers
                .iter()
                .map(|s| ServerSpec::parse(s))
                .collect::<Result<Vec<_>>>()?;
            (options, servers)
        }
    };
    let plan = options.plan()?;
    let rounds = options.rounds.max(1);
    let mut by_server: Vec<Vec<bench::ServerReport>> = vec![Vec::new(); servers.len()];
    for round in 0..rounds {
        if rounds > 1 {
            eprintln!("round {} of {rounds}", round + 1);
        }
        for (spec, reports) in servers.iter().zip(&mut by_server) {
            // Syscall counts do not depend on timing: trace in the first round only.
            reports.push(bench::run_server(spec, &plan, round == 0));
        }
    }
    let reports: Vec<_> = by_server
        .into_iter()
        .filter_map(bench::merge_rounds)
        .collect();
    if options.json {
        let run = RunReport {
            tool: format!("rune-bench {}", env!("CARGO_PKG_VERSION")),
            protocol_version: &plan.protocol_version,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            servers: &reports,
        };
        println!("{}", serde_json::to_string_pretty(&run)?);
    } else {
        print!("{}", report::render_table(&reports));
    }
    Ok(reports.iter().all(|r| r.error.is_none()))
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("rune-bench: at least one server failed (see above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("rune-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
