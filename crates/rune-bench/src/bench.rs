//! Running the plan (cold starts, warm-up, cases, memory, strace) against
//! each server, and the report that results.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

use crate::client::{CaseOutcome, CaseSpec, Finish, Server, StderrMode};
use crate::procfs::{CpuSource, Memory};
use crate::stats;
use crate::strace;
use crate::wire::ToolCall;

/// A server to measure.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// Name shown in the report.
    pub name: String,
    /// Program and arguments.
    pub argv: Vec<String>,
}

impl ServerSpec {
    /// Parses `NAME=CMD`, splitting CMD like a POSIX shell.
    pub fn parse(text: &str) -> Result<Self> {
        let Some((name, command)) = text.split_once('=') else {
            bail!("expected NAME=COMMAND, got {text:?}");
        };
        let argv = shlex::split(command)
            .with_context(|| format!("cannot split command {command:?} (unbalanced quotes?)"))?;
        if name.is_empty() || argv.is_empty() {
            bail!("expected NAME=COMMAND, got {text:?}");
        }
        Ok(Self {
            name: name.to_string(),
            argv,
        })
    }
}

/// What to run against every server.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Measured cases, in order.
    pub cases: Vec<CaseSpec>,
    /// Warm-up before the cases (not measured).
    pub warmup: Option<CaseSpec>,
    /// Extra spawn-to-first-response measurements for the cold start.
    pub cold_starts: usize,
    /// Protocol version to ask for.
    pub protocol_version: String,
    /// Server stderr handling.
    pub stderr: StderrMode,
    /// Count syscalls of this case under strace, if set.
    pub strace_case: Option<CaseSpec>,
}

/// Everything measured for one server.
#[derive(Debug, Clone, Serialize)]
pub struct ServerReport {
    /// Name given on the command line.
    pub name: String,
    /// Program and arguments.
    pub command: Vec<String>,
    /// `serverInfo` from the handshake.
    pub server_info: Option<String>,
    /// Protocol version the server answered with.
    pub protocol_version: Option<String>,
    /// Median spawn-to-first-response time, in milliseconds.
    pub cold_start_ms: Option<f64>,
    /// Every cold-start sample, in milliseconds.
    pub cold_start_samples_ms: Vec<f64>,
    /// The measured cases.
    pub cases: Vec<CaseReport>,
    /// Memory after the cases.
    pub memory: Option<Memory>,
    /// Syscall counts, with `--strace`.
    pub syscalls: Option<SyscallReport>,
    /// Why the run of this server failed, if it did.
    pub error: Option<String>,
    /// Rounds the numbers are the median of.
    pub rounds: usize,
}

/// One case's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    /// Case name, e.g. `c=16`.
    pub label: String,
    /// Requests in flight.
    pub concurrency: usize,
    /// Message size, for payload cases.
    pub payload_bytes: Option<usize>,
    /// Calls completed.
    pub calls: usize,
    /// Whether the time limit ended the case early.
    pub hit_time_limit: bool,
    /// Wall time in seconds.
    pub elapsed_s: f64,
    /// Completed calls per second.
    pub calls_per_s: f64,
    /// Message bytes echoed per second, in MB/s (10^6 bytes), for payload cases.
    pub mb_per_s: Option<f64>,
    /// Median round trip, in microseconds.
    pub p50_us: Option<f64>,
    /// 99th percentile round trip, in microseconds.
    pub p99_us: Option<f64>,
    /// Slowest round trip, in microseconds.
    pub max_us: Option<f64>,
    /// Calls per second in each round (the spread behind the median).
    pub calls_per_s_by_round: Vec<f64>,
    /// Server CPU time per call, in microseconds.
    pub cpu_us_per_call: Option<f64>,
    /// Where the CPU time came from.
    pub cpu_source: CpuSource,
    /// The benchmark client's own CPU time per call, in microseconds (if it
    /// approaches the wall time per call, the client is the bottleneck).
    pub client_cpu_us_per_call: Option<f64>,
}

impl CaseReport {
    fn new(spec: &CaseSpec, outcome: &CaseOutcome) -> Self {
        let secs = outcome.elapsed.as_secs_f64();
        let calls = outcome.calls as f64;
        let per_s = |x: f64| if secs > 0.0 { x / secs } else { 0.0 };
        let us = |ns: u64| ns as f64 / 1_000.0;
        Self {
            label: spec.label.clone(),
            concurrency: spec.concurrency,
            payload_bytes: spec.payload,
            calls: outcome.calls,
            hit_time_limit: outcome.hit_time_limit,
            elapsed_s: secs,
            calls_per_s: per_s(calls),
            calls_per_s_by_round: vec![per_s(calls)],
            mb_per_s: spec.payload.map(|b| per_s(calls * b as f64) / 1e6),
            p50_us: outcome.latency.map(|l| us(l.p50)),
            p99_us: outcome.latency.map(|l| us(l.p99)),
            max_us: outcome.latency.map(|l| us(l.max)),
            cpu_us_per_call: (outcome.calls > 0).then(|| us(outcome.cpu_ns) / calls),
            cpu_source: outcome.cpu_source,
            client_cpu_us_per_call: (outcome.calls > 0).then(|| us(outcome.client_cpu_ns) / calls),
        }
    }
}

/// Syscalls the server made per call in one case, from strace.
#[derive(Debug, Clone, Serialize)]
pub struct SyscallReport {
    /// The case that was traced.
    pub case: String,
    /// Calls made under strace.
    pub calls: usize,
    /// All syscalls per call (handshake-only run subtracted).
    pub per_call: f64,
    /// The most frequent syscalls, per call.
    pub top: Vec<(String, f64)>,
}

impl SyscallReport {
    /// Per-call counts of `syscall`.
    pub fn get(&self, syscall: &str) -> f64 {
        self.top
            .iter()
            .find(|(name, _)| name == syscall)
            .map_or(0.0, |(_, n)| *n)
    }
}

/// Runs the plan against one server (with strace only if `strace` is set).
/// Progress goes to stderr; a failure is recorded in the report rather than
/// returned, so other servers still run.
pub fn run_server(spec: &ServerSpec, plan: &Plan, strace: bool) -> ServerReport {
    let mut report = ServerReport {
        name: spec.name.clone(),
        command: spec.argv.clone(),
        server_info: None,
        protocol_version: None,
        cold_start_ms: None,
        cold_start_samples_ms: Vec::new(),
        cases: Vec::new(),
        memory: None,
        syscalls: None,
        error: None,
        rounds: 1,
    };
    if let Err(e) = measure(spec, plan, strace, &mut report) {
        report.error = Some(format!("{e:#}"));
    }
    report
}

fn measure(spec: &ServerSpec, plan: &Plan, strace: bool, report: &mut ServerReport) -> Result<()> {
    let name = &spec.name;
    eprintln!("[{name}] cold starts");
    let mut samples = Vec::new();
    for _ in 0..plan.cold_starts {
        let (server, hs) = Server::start(&spec.argv, &plan.protocol_version, plan.stderr)?;
        server.finish(Finish::Kill);
        samples.push(hs.cold_start);
    }
    let (mut server, hs) = Server::start(&spec.argv, &plan.protocol_version, plan.stderr)?;
    samples.push(hs.cold_start);
    report.server_info = hs.server_info;
    report.protocol_version = hs.protocol_version;
    let mut ns: Vec<u64> = samples.iter().map(|d| d.as_nanos() as u64).collect();
    report.cold_start_samples_ms = ns.iter().map(|&n| n as f64 / 1e6).collect();
    ns.sort_unstable();
    report.cold_start_ms = stats::percentile(&ns, 50.0).map(|n| n as f64 / 1e6);

    if let Some(warmup) = &plan.warmup {
        eprintln!("[{name}] warm-up: {} calls", warmup.calls);
        server.run_case(warmup).context("warm-up")?;
    }
    for case in &plan.cases {
        eprintln!("[{name}] case {}", case.label);
        let outcome = server
            .run_case(case)
            .with_context(|| format!("case {}", case.label))?;
        report.cases.push(CaseReport::new(case, &outcome));
    }
    report.memory = Some(server.memory()?);
    server.finish(Finish::Kill);

    if let Some(case) = plan.strace_case.as_ref().filter(|_| strace) {
        eprintln!(
            "[{name}] strace: {} calls at c={}",
            case.calls, case.concurrency
        );
        report.syscalls = Some(count_syscalls(spec, plan, case)?);
    }
    Ok(())
}

/// Counts syscalls for `case` under strace: a run with the case minus a run
/// with only the handshake, divided by the calls made.
fn count_syscalls(spec: &ServerSpec, plan: &Plan, case: &CaseSpec) -> Result<SyscallReport> {
    let base = strace_run(spec, plan, None)?.0;
    let (loaded, calls) = strace_run(spec, plan, Some(case))?;
    if calls == 0 {
        bail!("no calls completed under strace");
    }
    let mut top: Vec<(String, f64)> = loaded
        .by_name
        .iter()
        .map(|(name, &n)| {
            let extra = n.saturating_sub(base.get(name));
            (name.clone(), extra as f64 / calls as f64)
        })
        .filter(|(_, per)| *per >= 0.005)
        .collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(SyscallReport {
        case: case.label.clone(),
        calls,
        per_call: loaded.total().saturating_sub(base.total()) as f64 / calls as f64,
        top,
    })
}

fn strace_run(
    spec: &ServerSpec,
    plan: &Plan,
    case: Option<&CaseSpec>,
) -> Result<(strace::Counts, usize)> {
    let out = std::env::temp_dir().join(format!(
        "rune-bench-strace-{}-{}.txt",
        std::process::id(),
        case.is_some()
    ));
    let out_str = out.to_str().context("temporary path is not UTF-8")?;
    let _ = std::fs::remove_file(&out);
    let argv = strace::wrap_command(&spec.argv, out_str);
    let (mut server, _) = Server::start(&argv, &plan.protocol_version, plan.stderr)
        .context("cannot start the server under strace")?;
    let calls = match case {
        Some(case) => server.run_case(case)?.calls,
        None => 0,
    };
    if !server.finish(Finish::CloseAndWait) {
        eprintln!(
            "[{}] server did not exit on EOF within the timeout; strace counts may be incomplete",
            spec.name
        );
    }
    let text = std::fs::read_to_string(&out).context("strace wrote no summary")?;
    let _ = std::fs::remove_file(&out);
    Ok((strace::parse_summary(&text), calls))
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// Combines the reports of several rounds of one server: each number is the
/// median over the rounds, memory is the largest seen, cold-start samples
/// are pooled, and the first error (if any) is kept.
pub fn merge_rounds(mut rounds: Vec<ServerReport>) -> Option<ServerReport> {
    if rounds.len() <= 1 {
        return rounds.pop();
    }
    let mut merged = rounds.first()?.clone();
    merged.rounds = rounds.len();
    merged.error = rounds
        .iter()
        .enumerate()
        .find_map(|(i, r)| r.error.as_ref().map(|e| format!("round {}: {e}", i + 1)));
    merged.syscalls = rounds.iter().find_map(|r| r.syscalls.clone());
    merged.memory = rounds
        .iter()
        .filter_map(|r| r.memory)
        .max_by_key(|m| m.hwm_kib);
    merged.cold_start_samples_ms = rounds
        .iter()
        .flat_map(|r| r.cold_start_samples_ms.iter().copied())
        .collect();
    merged.cold_start_ms = median(&mut merged.cold_start_samples_ms.clone());
    for case in &mut merged.cases {
        let same: Vec<&CaseReport> = rounds
            .iter()
            .filter_map(|r| r.cases.iter().find(|c| c.label == case.label))
            .collect();
        let med = |f: &dyn Fn(&CaseReport) -> Option<f64>| {
            median(&mut same.iter().filter_map(|c| f(c)).collect::<Vec<_>>())
        };
        case.calls_per_s = med(&|c| Some(c.calls_per_s)).unwrap_or(case.calls_per_s);
        case.elapsed_s = med(&|c| Some(c.elapsed_s)).unwrap_or(case.elapsed_s);
        case.mb_per_s = med(&|c| c.mb_per_s);
        case.p50_us = med(&|c| c.p50_us);
        case.p99_us = med(&|c| c.p99_us);
        case.max_us = med(&|c| c.max_us);
        case.cpu_us_per_call = med(&|c| c.cpu_us_per_call);
        case.client_cpu_us_per_call = med(&|c| c.client_cpu_us_per_call);
        case.calls_per_s_by_round = same.iter().map(|c| c.calls_per_s).collect();
        case.hit_time_limit = same.iter().any(|c| c.hit_time_limit);
        if same.iter().any(|c| c.cpu_source == CpuSource::Ticks) {
            case.cpu_source = CpuSource::Ticks;
        }
    }
    Some(merged)
}

/// Default call count of a case.
pub fn default_calls(concurrency: usize, payload: bool) -> usize {
    match (payload, concurrency) {
        (true, _) => 2_000,
        (false, 1) => 5_000,
        (false, _) => 20_000,
    }
}

/// Builds the case list: one short case per concurrency, then the payload case (`echo`
/// only). With `tool`, every case calls it instead of `echo` and is labelled with its name.
pub fn cases(
    concurrencies: &[usize],
    calls: Option<usize>,
    payload: usize,
    payload_concurrency: usize,
    time_limit: Duration,
    tool: Option<&Arc<ToolCall>>,
) -> Vec<CaseSpec> {
    let prefix = tool.map_or(String::new(), |t| format!("{} ", t.name()));
    let mut out: Vec<CaseSpec> = concurrencies
        .iter()
        .map(|&c| CaseSpec {
            label: format!("{prefix}c={c}"),
            concurrency: c,
            calls: calls.unwrap_or_else(|| default_calls(c, false)),
            payload: None,
            tool: tool.cloned(),
            time_limit,
        })
        .collect();
    if payload > 0 && tool.is_none() {
        out.push(CaseSpec {
            label: format!("{} c={payload_concurrency}", size_label(payload)),
            concurrency: payload_concurrency,
            calls: calls.unwrap_or_else(|| default_calls(payload_concurrency, true)),
            payload: Some(payload),
            tool: None,
            time_limit,
        });
    }
    out
}

/// `65536` → `64 KiB`.
pub fn size_label(bytes: usize) -> String {
    if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_server_specs() {
        let s = ServerSpec::parse(r#"rmcp=target/release/examples/rmcp_echo --transport "pipes""#)
            .expect("valid");
        assert_eq!(s.name, "rmcp");
        assert_eq!(
            s.argv,
            ["target/release/examples/rmcp_echo", "--transport", "pipes"]
        );
        assert!(ServerSpec::parse("noequals").is_err());
        assert!(ServerSpec::parse("x=").is_err());
        assert!(ServerSpec::parse("x=a 'b").is_err());
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }

    #[test]
    fn default_cases() {
        let c = cases(&[1, 16], None, 65536, 4, Duration::from_secs(20), None);
        let summary: Vec<_> = c
            .iter()
            .map(|c| (c.label.as_str(), c.concurrency, c.calls, c.payload))
            .collect();
        assert_eq!(
            summary,
            [
                ("c=1", 1, 5000, None),
                ("c=16", 16, 20000, None),
                ("64 KiB c=4", 4, 2000, Some(65536)),
            ]
        );
        let tool = Arc::new(ToolCall::new("file_read", "{}", None).expect("valid"));
        let c = cases(
            &[1, 16],
            Some(10),
            65536,
            4,
            Duration::from_secs(20),
            Some(&tool),
        );
        let summary: Vec<_> = c
            .iter()
            .map(|c| (c.label.as_str(), c.calls, c.tool.is_some()))
            .collect();
        assert_eq!(
            summary,
            [("file_read c=1", 10, true), ("file_read c=16", 10, true)]
        );
    }
}
