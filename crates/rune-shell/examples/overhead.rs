//! What `shell_exec` adds to running a program: `true` run N times directly
//! (`std::process::Command`), directly with a no-op `pre_exec` (which makes std fork instead
//! of vfork/posix_spawn, as the sandbox must), and through `rune_shell::run_argv` with the
//! whole sandbox of this host (also with a network namespace added, and, as root, without
//! the pids cgroup). The runs are interleaved, so load on the machine hits all alike. Prints the median, mean and 95th percentile of each, in µs.
//!
//! `cargo run --release -p rune-shell --example overhead -- [N]`

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

fn stats(name: &str, mut v: Vec<Duration>) -> f64 {
    v.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mean = v.iter().map(|d| us(*d)).sum::<f64>() / v.len() as f64;
    let median = us(v[v.len() / 2]);
    let p95 = us(v[v.len() * 95 / 100]);
    println!("{name:<44} median {median:8.0} µs   mean {mean:8.0} µs   p95 {p95:8.0} µs");
    median
}

/// CPU time used so far by this process and its reaped children (user + system).
#[allow(unsafe_code)]
fn cpu_now() -> Duration {
    let get = |who| {
        // SAFETY: `ru` is a zeroed `rusage` the kernel fills.
        let ru = unsafe {
            let mut ru: libc::rusage = std::mem::zeroed();
            libc::getrusage(who, &mut ru);
            ru
        };
        let tv = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        tv(ru.ru_utime) + tv(ru.ru_stime)
    };
    get(libc::RUSAGE_SELF) + get(libc::RUSAGE_CHILDREN)
}

/// Runs `program` with a no-op `pre_exec` hook, which makes std fork instead of vfork.
#[allow(unsafe_code)]
fn forked_status(program: &str) -> std::process::ExitStatus {
    use std::os::unix::process::CommandExt;
    let mut c = std::process::Command::new(program);
    // SAFETY: the hook does nothing at all, so it is trivially async-signal-safe.
    unsafe {
        c.pre_exec(|| Ok(()));
    }
    c.status().unwrap()
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let roots = rune_tools::Roots::new([dir.path()]).unwrap();
    let opts = rune_shell::ShellOptions::default();
    let truth = ["/usr/bin/true", "/bin/true"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap();
    for line in rune_shell::probe().lines() {
        println!("# {line}");
    }
    // Warm up (the probe above has already run once).
    for _ in 0..20 {
        std::process::Command::new(truth).status().unwrap();
        rt.block_on(rune_shell::run_argv(&roots, &opts, vec!["true".into()]))
            .unwrap();
    }
    let mut direct = Vec::with_capacity(n);
    let mut forked = Vec::with_capacity(n);
    let mut sandboxed = Vec::with_capacity(n);
    let mut netns = Vec::with_capacity(n);
    let with_netns = rune_shell::ShellOptions {
        always_network_namespace: true,
        ..rune_shell::ShellOptions::default()
    };
    let mut nocg = Vec::with_capacity(n);
    let without_cgroup = rune_shell::ShellOptions {
        pids_cgroup: false,
        ..rune_shell::ShellOptions::default()
    };
    let mut applied = Vec::new();
    let (mut cpu_direct, mut cpu_sandboxed) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..n {
        let (t, c) = (Instant::now(), cpu_now());
        let s = std::process::Command::new(truth).status().unwrap();
        direct.push(t.elapsed());
        cpu_direct += cpu_now() - c;
        assert!(s.success());

        let t = Instant::now();
        let s = forked_status(truth);
        forked.push(t.elapsed());
        assert!(s.success());

        let (t, c) = (Instant::now(), cpu_now());
        let out = rt
            .block_on(rune_shell::run_argv(&roots, &opts, vec!["true".into()]))
            .unwrap();
        sandboxed.push(t.elapsed());
        cpu_sandboxed += cpu_now() - c;
        assert_eq!(out.exit_code, Some(0));
        applied = out.sandbox.applied;

        let t = Instant::now();
        let out = rt
            .block_on(rune_shell::run_argv(
                &roots,
                &with_netns,
                vec!["true".into()],
            ))
            .unwrap();
        netns.push(t.elapsed());
        assert_eq!(out.exit_code, Some(0));

        let t = Instant::now();
        let out = rt
            .block_on(rune_shell::run_argv(
                &roots,
                &without_cgroup,
                vec!["true".into()],
            ))
            .unwrap();
        nocg.push(t.elapsed());
        assert_eq!(out.exit_code, Some(0));
    }
    println!(
        "# {n} runs of `true` each; sandbox applied: {}",
        applied.join(" | ")
    );
    let d = stats("direct (std::process::Command)", direct);
    let f = stats("direct, forked (no-op pre_exec)", forked);
    let s = stats("shell_exec (run_argv, full sandbox)", sandboxed);
    stats("shell_exec + a network namespace too", netns);
    if rune_shell::probe().root {
        stats("shell_exec, root without the pids cgroup", nocg);
    }
    println!(
        "added by shell_exec: {:.0} µs over direct, {:.0} µs over a plain fork+exec (medians)",
        s - d,
        s - f
    );
    let per = |c: Duration| c.as_secs_f64() * 1e6 / n as f64;
    println!(
        "CPU time per call (this process + children): direct {:.0} µs, shell_exec {:.0} µs, added {:.0} µs",
        per(cpu_direct),
        per(cpu_sandboxed),
        per(cpu_sandboxed) - per(cpu_direct)
    );
}
