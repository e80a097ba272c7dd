//! Reading a server's CPU time and memory from `/proc` (Linux).
//!
//! CPU time comes from two sources. `/proc/<pid>/stat` (utime + stime) covers
//! every thread the process ever had but counts in clock ticks (10 ms
//! usually), too coarse for a server that spends under a microsecond per call.
//! The sum of `/proc/<pid>/task/*/schedstat` is in nanoseconds but only covers
//! the threads alive at the time of reading. A delta uses schedstat when every
//! thread seen before is still there and the tick counter does not show more
//! time than schedstat can account for; otherwise it falls back to ticks.

use std::fs;
use std::io;

/// A reading of a process's CPU time.
#[derive(Debug, Clone)]
pub struct CpuSample {
    /// utime + stime from `/proc/<pid>/stat`, in clock ticks.
    ticks: u64,
    /// Per-thread run time from schedstat: (tid, nanoseconds).
    threads: Option<Vec<(u32, u64)>>,
}

/// Where a CPU-time delta came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CpuSource {
    /// Nanosecond run times summed over threads.
    Schedstat,
    /// Clock ticks of `/proc/<pid>/stat`.
    Ticks,
}

/// Reads the CPU time of process `pid`.
pub fn cpu_sample(pid: u32) -> io::Result<CpuSample> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let ticks = parse_stat_cpu_ticks(&stat)
        .ok_or_else(|| io::Error::other(format!("cannot parse /proc/{pid}/stat")))?;
    Ok(CpuSample {
        ticks,
        threads: thread_run_times(pid).ok(),
    })
}

fn thread_run_times(pid: u32) -> io::Result<Vec<(u32, u64)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(format!("/proc/{pid}/task"))? {
        let entry = entry?;
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        // A thread may exit between listing and reading: skip it.
        let Ok(text) = fs::read_to_string(entry.path().join("schedstat")) else {
            continue;
        };
        let ns = text
            .split_whitespace()
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other("cannot parse schedstat"))?;
        out.push((tid, ns));
    }
    Ok(out)
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold anything.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // `rest` starts at field 3 (state): utime is field 14.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// CPU time used between two samples, in nanoseconds, and its source.
pub fn cpu_delta_ns(before: &CpuSample, after: &CpuSample) -> (u64, CpuSource) {
    let hz = rustix::param::clock_ticks_per_second().max(1);
    let tick_ns = 1_000_000_000 / hz;
    let ticks_ns = after.ticks.saturating_sub(before.ticks) * tick_ns;
    if let (Some(b), Some(a)) = (&before.threads, &after.threads) {
        let all_alive = b.iter().all(|(tid, _)| a.iter().any(|(t, _)| t == tid));
        if all_alive {
            let sum_a: u64 = a.iter().map(|(_, ns)| ns).sum();
            let sum_b: u64 = b.iter().map(|(_, ns)| ns).sum();
            let sched_ns = sum_a.saturating_sub(sum_b);
            // Ticks are sampled: allow two ticks of slack before deciding
            // that short-lived threads took time schedstat cannot see.
            if ticks_ns <= sched_ns + 2 * tick_ns {
                return (sched_ns, CpuSource::Schedstat);
            }
        }
    }
    (ticks_ns, CpuSource::Ticks)
}

/// Resident memory of a process, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Memory {
    /// VmRSS: resident now.
    pub rss_kib: u64,
    /// VmHWM: peak resident.
    pub hwm_kib: u64,
}

/// Reads VmRSS and VmHWM of process `pid`.
pub fn memory(pid: u32) -> io::Result<Memory> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_status_memory(&status)
        .ok_or_else(|| io::Error::other(format!("no VmRSS/VmHWM in /proc/{pid}/status")))
}

/// VmRSS and VmHWM from the text of `/proc/<pid>/status`.
pub fn parse_status_memory(status: &str) -> Option<Memory> {
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..].split_whitespace().next()?.parse().ok()
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_and_status() {
        let stat = "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 17 5 0 0 20 0 1 0 99";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(22));
        let status = "Name:\tx\nVmHWM:\t    5724 kB\nVmRSS:\t    5600 kB\n";
        assert_eq!(
            parse_status_memory(status),
            Some(Memory {
                rss_kib: 5600,
                hwm_kib: 5724
            })
        );
    }

    #[test]
    fn delta_prefers_schedstat_when_threads_survive() {
        let before = CpuSample {
            ticks: 10,
            threads: Some(vec![(1, 1_000), (2, 500)]),
        };
        let after = CpuSample {
            ticks: 10,
            threads: Some(vec![(1, 3_000), (2, 500), (3, 250)]),
        };
        assert_eq!(cpu_delta_ns(&before, &after), (2_250, CpuSource::Schedstat));
        let gone = CpuSample {
            ticks: 11,
            threads: Some(vec![(1, 3_000)]),
        };
        assert_eq!(cpu_delta_ns(&before, &gone).1, CpuSource::Ticks);
    }
}
