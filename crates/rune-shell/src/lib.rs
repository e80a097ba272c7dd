//! The sandboxed `shell_exec` tool: run a program for a model, inside the allowed roots,
//! with the strongest confinement the host offers, and say exactly what that was.
//!
//! # What a call goes through
//!
//! 1. **Checks, before anything runs** ([`tool`]). The command is `argv` (the program and
//!    its arguments; no shell), or, when the server opts in ([`ShellOptions::shell_strings`]),
//!    a `command` line for `sh -c`. The program is found on `PATH` and checked against the
//!    deny-list and the allow-list (by the name given, the file found, and the file its links
//!    lead to). The working directory goes through the same path jail as the file tools
//!    ([`rune_tools::Roots::resolve`], narrowed to the client's roots when the policy does so).
//! 2. **A clean environment.** Nothing of Rune's environment is inherited but the names on
//!    [`ShellOptions::env_allow`] (by default `PATH`, the locale, `TERM`, `TZ`); `HOME` and
//!    `TMPDIR` point at a private temporary directory made for the call and removed after it.
//! 3. **The sandbox** ([`sandbox`]), built in the parent and applied in the child between
//!    `fork` and `exec` (module `sys`), in this order:
//!    - its own **session and process group** (`setsid`);
//!    - **rlimits**: CPU seconds, address space, file size, open files, no core dumps;
//!    - when Rune runs as root, the call's own **pids cgroup** (root is exempt from
//!      `RLIMIT_NPROC`, in every user namespace; [`ShellOptions::pids_cgroup`]);
//!    - a new **user namespace** (the caller's uid and gid mapped to themselves; no
//!      capability outside it, and for users other than root the process limit counts only
//!      the call's processes) and, with the network off where seccomp or Landlock ABI 6 is
//!      missing (or with [`ShellOptions::always_network_namespace`]), a new **network
//!      namespace** (no interface but a loopback that is down); then `RLIMIT_NPROC`;
//!    - **`no_new_privs`**: set-user-ID bits and file capabilities are ignored by `exec`;
//!    - **Landlock**: everything the kernel's ABI can restrict is restricted, then granted
//!      back only here:
//!      read + execute beneath `/usr`, `/bin`, `/sbin`, `/lib`, `/lib32`, `/lib64`, `/libx32`,
//!      `/opt`, `/nix/store` and [`ShellOptions::read_paths`]; read beneath `/etc` and `/proc`;
//!      read + write on `/dev/null`, `/dev/zero`, `/dev/full`, `/dev/random`, `/dev/urandom`;
//!      every access beneath the roots (read + execute only when the roots are read-only) and
//!      the private temp dir. Nothing else: not `/tmp`, not the home directory, not `/sys`.
//!      With ABI 4+ and the network off, TCP bind and connect are denied; with ABI 6+,
//!      signals and abstract Unix sockets are scoped to the sandbox (it cannot signal Rune
//!      or any process outside it);
//!    - **seccomp** (module `seccomp`): `setsid`/`setpgid` refused, so no descendant leaves the
//!      process group; `io_uring` and `kill(-1)` refused; with the network off, sockets of
//!      any family but `AF_UNIX` refused with `EACCES`.
//! 4. **Running** (module `run`): stdout and stderr are read as they come, streamed as progress
//!    notifications (up to [`ShellOptions::max_streamed_bytes`]) and kept within
//!    [`ShellOptions::max_output_bytes`] per stream (head and tail, a marker in between). The
//!    timeout sends SIGTERM to the group, then SIGKILL after [`ShellOptions::kill_grace`].
//!    When the command exits, whatever it left running is killed with it. Cancellation kills
//!    the group at once.
//! 5. **The result**: exit code or signal, duration, the output, and the sandbox: what was
//!    applied and what this host lacks ([`Applied`]). A mechanism that is missing is named,
//!    never papered over; [`ShellOptions::require_full_sandbox`] refuses to run instead.
//!
//! # Why `pre_exec` and not a helper process
//!
//! The sandbox is applied in the forked child, before `exec`, rather than by re-executing a
//! helper binary: it works for any embedder of the library (no helper to find or install),
//! costs one `fork` + `exec` per call, and the only work done in the child is a fixed list of
//! system calls on data prepared before the fork (the Landlock ruleset is a file descriptor,
//! the seccomp filter an array), which is what async-signal safety asks.
//!
//! # Policy
//!
//! Consent, audit and the client's roots are not this crate's business: the tool says
//! `readOnlyHint: false`, `destructiveHint: true`, `openWorldHint: true`, so
//! [`rune_tools::Policy`] asks the user before each call by default.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let roots = Arc::new(rune_tools::Roots::new(["."])?);
//! let tool = rune_shell::shell_exec_tool(roots, rune_shell::ShellOptions::default());
//! let server = rune_server::Server::builder("shell", "1.0.0").tool(tool).build();
//! for line in rune_shell::probe().lines() {
//!     eprintln!("{line}");
//! }
//! # let _ = server; Ok(()) }
//! ```
//!
//! This crate is for Linux.

#![deny(missing_docs)]

mod capture;
pub mod options;
mod run;
pub mod sandbox;
mod seccomp;
mod sys;
pub mod tool;

pub use options::{Limits, ShellOptions};
pub use sandbox::{Applied, Mechanism, SandboxReport, probe};
pub use tool::{ShellExecOutput, run_argv, shell_exec_tool};
