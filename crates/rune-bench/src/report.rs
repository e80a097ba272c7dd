//! Rendering the results: a table with one column per server and ratios
//! against the first server, or JSON.

use std::fmt::Write as _;

use serde::Serialize;

use crate::bench::{CaseReport, ServerReport};

/// The whole run, as written with `--json`.
#[derive(Debug, Serialize)]
pub struct RunReport<'a> {
    /// Tool name and version.
    pub tool: String,
    /// The protocol version asked for.
    pub protocol_version: &'a str,
    /// Logical CPUs on this machine.
    pub cpus: usize,
    /// One entry per server, in the order given.
    pub servers: &'a [ServerReport],
}

/// How a metric is shown.
#[derive(Clone, Copy)]
enum Unit {
    Rate,
    Micros,
    Millis,
    MegabytesPerSec,
    Kib,
    PerCall,
}

fn format_value(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Rate if value >= 1e6 => format!("{:.2}M/s", value / 1e6),
        Unit::Rate if value >= 1e4 => format!("{:.1}k/s", value / 1e3),
        Unit::Rate if value >= 1e3 => format!("{:.2}k/s", value / 1e3),
        Unit::Rate => format!("{value:.0}/s"),
        Unit::Micros if value >= 1000.0 => format!("{:.2} ms", value / 1e3),
        Unit::Micros if value >= 100.0 => format!("{value:.0} µs"),
        Unit::Micros if value >= 10.0 => format!("{value:.1} µs"),
        Unit::Micros => format!("{value:.2} µs"),
        Unit::Millis if value >= 100.0 => format!("{value:.0} ms"),
        Unit::Millis => format!("{value:.2} ms"),
        Unit::MegabytesPerSec => format!("{value:.0} MB/s"),
        Unit::Kib => format!("{:.1} MiB", value / 1024.0),
        Unit::PerCall if value >= 10.0 => format!("{value:.1}"),
        Unit::PerCall => format!("{value:.2}"),
    }
}

struct Row {
    label: String,
    unit: Unit,
    values: Vec<Option<f64>>,
}

fn case_of<'a>(server: &'a ServerReport, label: &str) -> Option<&'a CaseReport> {
    server.cases.iter().find(|c| c.label == label)
}

fn rows(servers: &[ServerReport]) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut add = |label: String, unit: Unit, f: &dyn Fn(&ServerReport) -> Option<f64>| {
        rows.push(Row {
            label,
            unit,
            values: servers.iter().map(f).collect(),
        });
    };
    add("cold start (median)".into(), Unit::Millis, &|s| {
        s.cold_start_ms
    });
    // Case labels in first-seen order across servers.
    let mut labels: Vec<(String, usize, bool)> = Vec::new();
    for case in servers.iter().flat_map(|s| &s.cases) {
        if !labels.iter().any(|(l, _, _)| *l == case.label) {
            labels.push((
                case.label.clone(),
                case.concurrency,
                case.payload_bytes.is_some(),
            ));
        }
    }
    for (label, concurrency, payload) in &labels {
        let l = label.as_str();
        if *payload {
            add(format!("{l} throughput"), Unit::MegabytesPerSec, &|s| {
                case_of(s, l).and_then(|c| c.mb_per_s)
            });
        } else {
            add(format!("{l} calls/s"), Unit::Rate, &|s| {
                case_of(s, l).map(|c| c.calls_per_s)
            });
        }
        if *concurrency == 1 {
            add(format!("{l} p50"), Unit::Micros, &|s| {
                case_of(s, l).and_then(|c| c.p50_us)
            });
            add(format!("{l} p99"), Unit::Micros, &|s| {
                case_of(s, l).and_then(|c| c.p99_us)
            });
        }
        add(format!("{l} server CPU/call"), Unit::Micros, &|s| {
            case_of(s, l).and_then(|c| c.cpu_us_per_call)
        });
    }
    add("RSS after run".into(), Unit::Kib, &|s| {
        s.memory.map(|m| m.rss_kib as f64)
    });
    add("peak RSS (VmHWM)".into(), Unit::Kib, &|s| {
        s.memory.map(|m| m.hwm_kib as f64)
    });
    if let Some(case) = servers
        .iter()
        .find_map(|s| s.syscalls.as_ref().map(|r| r.case.clone()))
    {
        add(format!("syscalls/call ({case})"), Unit::PerCall, &|s| {
            s.syscalls.as_ref().map(|r| r.per_call)
        });
        // The syscalls that matter for any server, most frequent first.
        let mut names: Vec<(String, f64)> = Vec::new();
        for sys in servers.iter().filter_map(|s| s.syscalls.as_ref()) {
            for (name, per_call) in &sys.top {
                match names.iter_mut().find(|(n, _)| n == name) {
                    Some((_, max)) => *max = max.max(*per_call),
                    None => names.push((name.clone(), *per_call)),
                }
            }
        }
        names.retain(|(_, max)| *max >= 0.05);
        names.sort_by(|a, b| b.1.total_cmp(&a.1));
        for (name, _) in names.iter().take(6) {
            add(format!("  {name}/call"), Unit::PerCall, &|s| {
                s.syscalls.as_ref().map(|r| r.get(name))
            });
        }
    }
    rows
}

/// The human-readable report: a table (one column per server, each value
/// followed by its ratio to the first server's), then the details.
pub fn render_table(servers: &[ServerReport]) -> String {
    let mut cells: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["metric".to_string()];
    header.extend(servers.iter().map(|s| s.name.clone()));
    cells.push(header);
    for row in rows(servers) {
        let first = row.values.first().copied().flatten();
        let mut line = vec![row.label.clone()];
        for (i, value) in row.values.iter().enumerate() {
            line.push(match value {
                None => "—".to_string(),
                Some(v) => {
                    let mut cell = format_value(*v, row.unit);
                    if let Some(f) = first.filter(|f| i > 0 && *f > 0.0) {
                        let _ = write!(cell, " ({:.2}×)", v / f);
                    }
                    cell
                }
            });
        }
        cells.push(line);
    }
    let columns = cells.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            cells
                .iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (r, row) in cells.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let pad = widths[c].saturating_sub(cell.chars().count());
            if c == 0 {
                let _ = write!(out, "{cell}{}", " ".repeat(pad));
            } else {
                let _ = write!(out, "  {}{cell}", " ".repeat(pad));
            }
        }
        out.push('\n');
        if r == 0 {
            let total = widths.iter().sum::<usize>() + 2 * columns.saturating_sub(1);
            out.push_str(&"-".repeat(total));
            out.push('\n');
        }
    }
    out.push_str("\n(ratios are against the first server; CPU is the server's, per call)\n");
    for s in servers {
        let _ = write!(out, "\n{}: {}", s.name, shell_words(&s.command));
        if let Some(info) = &s.server_info {
            let _ = write!(out, "\n  server {info}");
        }
        if let Some(v) = &s.protocol_version {
            let _ = write!(out, ", protocol {v}");
        }
        if s.rounds > 1 {
            let _ = write!(out, "\n  median of {} rounds", s.rounds);
        }
        for c in &s.cases {
            let spread = if c.calls_per_s_by_round.len() > 1 {
                let fmt: Vec<String> = c
                    .calls_per_s_by_round
                    .iter()
                    .map(|v| format_value(*v, Unit::Rate))
                    .collect();
                format!(" (rounds: {})", fmt.join(", "))
            } else {
                String::new()
            };
            let _ = write!(
                out,
                "\n  {}: {} calls in {:.2} s{}{spread}, client CPU/call {}, server CPU from {:?}",
                c.label,
                c.calls,
                c.elapsed_s,
                if c.hit_time_limit {
                    " (stopped by the time limit)"
                } else {
                    ""
                },
                c.client_cpu_us_per_call
                    .map_or("—".to_string(), |v| format_value(v, Unit::Micros)),
                c.cpu_source
            );
        }
        if let Some(sys) = &s.syscalls {
            let top: Vec<String> = sys
                .top
                .iter()
                .take(6)
                .map(|(n, v)| format!("{n} {v:.2}"))
                .collect();
            let _ = write!(
                out,
                "\n  syscalls per call under strace ({} calls): {}",
                sys.calls,
                top.join(", ")
            );
        }
        if let Some(e) = &s.error {
            let _ = write!(out, "\n  FAILED: {e}");
        }
        out.push('\n');
    }
    out
}

fn shell_words(argv: &[String]) -> String {
    shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_units() {
        assert_eq!(format_value(441_000.0, Unit::Rate), "441.0k/s");
        assert_eq!(format_value(5_200.0, Unit::Rate), "5.20k/s");
        assert_eq!(format_value(17.24, Unit::Micros), "17.2 µs");
        assert_eq!(format_value(0.81, Unit::Micros), "0.81 µs");
        assert_eq!(format_value(1843.2, Unit::Kib), "1.8 MiB");
    }
}
