//! `rune doctor`: what this host offers the sandbox of `shell_exec`, and what it lacks.
//!
//! Each mechanism is probed, not assumed (`rune_shell::probe`): the kernel's Landlock ABI,
//! whether seccomp filters are accepted, whether a user and a network namespace can be made,
//! whether a pids cgroup can be created. A missing mechanism is named with the reason and
//! what it means for commands; the same list appears in every `shell_exec` result.

use std::process::ExitCode;

/// Flags of `rune doctor`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> ExitCode {
    let report = rune_shell::probe();
    if args.json {
        return match serde_json::to_string_pretty(&report) {
            Ok(s) => {
                println!("{s}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("rune doctor: {e}");
                ExitCode::FAILURE
            }
        };
    }
    println!("shell_exec sandbox on this host:");
    for line in report.lines() {
        println!("  {line}");
    }
    let mut gaps = Vec::new();
    if !report.has("landlock") {
        gaps.push("files outside the roots are NOT protected (no Landlock)");
    }
    if !report.has("seccomp") {
        gaps.push("a command can leave its process group with setsid (no seccomp)");
    }
    if !report.has("network_namespace") && !report.has("seccomp") {
        gaps.push("commands can reach the network (no network namespace, no seccomp)");
    }
    if report.root && !report.has("pids_cgroup") {
        gaps.push("the process limit is not enforced (root, and no pids cgroup)");
    }
    if gaps.is_empty() {
        println!("every mechanism is available: shell_exec runs fully sandboxed");
    } else {
        println!("shell_exec runs with less here:");
        for g in gaps {
            println!("  - {g}");
        }
        println!("  ([shell] require_full_sandbox = true refuses to run commands on such a host)");
    }
    ExitCode::SUCCESS
}
