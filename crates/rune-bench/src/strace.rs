//! Counting a server's system calls with `strace -f -c`.
//!
//! The server runs under `strace -f -c -o FILE`; when it exits, strace writes
//! a summary table to FILE. Counting a run with calls and a run without (just
//! the handshake) and taking the difference gives the syscalls per call
//! without the cost of starting the process.

use std::collections::BTreeMap;

/// System call counts from one strace summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Calls per system call name.
    pub by_name: BTreeMap<String, u64>,
}

impl Counts {
    /// All calls.
    pub fn total(&self) -> u64 {
        self.by_name.values().sum()
    }

    /// Calls of one system call.
    pub fn get(&self, name: &str) -> u64 {
        self.by_name.get(name).copied().unwrap_or(0)
    }
}

/// Parses the table that `strace -c` writes.
///
/// Rows look like `45.00 0.000123 12 10 [errors] write`: the fourth column is
/// the count and the last is the name. Header, rule and `total` rows are
/// skipped.
pub fn parse_summary(text: &str) -> Counts {
    let mut counts = Counts::default();
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if !(5..=6).contains(&cols.len()) {
            continue;
        }
        let Some(&name) = cols.last() else { continue };
        if name == "total" || cols[0].parse::<f64>().is_err() {
            continue;
        }
        if let Ok(calls) = cols[3].parse::<u64>() {
            *counts.by_name.entry(name.to_string()).or_default() += calls;
        }
    }
    counts
}

/// The argument vector that runs `server` under strace, writing to `out`.
pub fn wrap_command(server: &[String], out: &str) -> Vec<String> {
    let mut argv = vec![
        "strace".to_string(),
        "-f".to_string(),
        "-c".to_string(),
        "-o".to_string(),
        out.to_string(),
        "--".to_string(),
    ];
    argv.extend(server.iter().cloned());
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_strace_summary() {
        let text = "\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 60.00    0.000600          30        20           write
 30.00    0.000300          15        20         2 futex
 10.00    0.000100          10        10           read
------ ----------- ----------- --------- --------- ----------------
100.00    0.001000          20        50         2 total
";
        let c = parse_summary(text);
        assert_eq!(c.total(), 50);
        assert_eq!(c.get("futex"), 20);
        assert_eq!(c.get("epoll_wait"), 0);
    }
}
