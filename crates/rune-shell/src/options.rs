//! The settings of `shell_exec`: what may run, with which environment, for how long, within
//! which limits.

use std::path::PathBuf;
use std::time::Duration;

/// Resource limits of every process a command starts (`setrlimit`, inherited by children).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// CPU seconds per process (`RLIMIT_CPU`: SIGXCPU, then SIGKILL a second later).
    pub cpu_secs: u64,
    /// Address space per process in bytes (`RLIMIT_AS`).
    pub address_space_bytes: u64,
    /// Processes (`RLIMIT_NPROC`). In a user namespace this counts the call's processes;
    /// without one it counts every process of the user, and root is exempt.
    pub processes: u64,
    /// Largest file a process may write, in bytes (`RLIMIT_FSIZE`: SIGXFSZ beyond).
    pub file_size_bytes: u64,
    /// Open file descriptors per process (`RLIMIT_NOFILE`).
    pub open_files: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_secs: 120,
            address_space_bytes: 4 << 30,
            processes: 256,
            file_size_bytes: 1 << 30,
            open_files: 1024,
        }
    }
}

/// The settings of the `shell_exec` tool.
#[derive(Debug, Clone)]
pub struct ShellOptions {
    /// Programs that may run (names such as `git`, matched against the name given and the
    /// resolved file's name, or absolute paths). Empty: any program not denied.
    pub allow_programs: Vec<String>,
    /// Programs that may not run, matched like `allow_programs`; checked first.
    pub deny_programs: Vec<String>,
    /// Accept `command` (a shell string run with `sh -c`) besides `argv`.
    pub shell_strings: bool,
    /// The shell for `command`.
    pub shell: PathBuf,
    /// Names of Rune's environment variables the command inherits; `PREFIX*` matches a
    /// prefix. Nothing else of Rune's environment reaches it.
    pub env_allow: Vec<String>,
    /// Variables set for every command (after the inherited ones).
    pub env_set: Vec<(String, String)>,
    /// The timeout when a call does not give one.
    pub timeout: Duration,
    /// The longest timeout a call may ask for.
    pub max_timeout: Duration,
    /// After the timeout, SIGTERM to the group; after this grace, SIGKILL.
    pub kill_grace: Duration,
    /// Per-process resource limits.
    pub limits: Limits,
    /// Bytes of each stream (stdout, stderr) kept in the result: the first half and the last
    /// half; the middle of a longer output is replaced by a marker.
    pub max_output_bytes: usize,
    /// Bytes of output streamed as progress notifications, per call.
    pub max_streamed_bytes: usize,
    /// The largest `stdin` a call may give, in bytes.
    pub max_stdin_bytes: usize,
    /// Let commands use the network (off by default).
    pub network: bool,
    /// Enter a new network namespace even when seccomp and Landlock already cut the network
    /// off (defense in depth, at a cost of milliseconds per call). Without seccomp or
    /// Landlock ABI 6, a network namespace is always used when the host allows it.
    pub always_network_namespace: bool,
    /// When Rune runs as root (exempt from `RLIMIT_NPROC`), bound the number of processes
    /// with a pids cgroup made for each call, where one can be made. Joining it costs a few
    /// milliseconds per call; without it, root's commands have no process limit (reported).
    pub pids_cgroup: bool,
    /// Extra directories commands may read and run programs from (toolchains such as
    /// `~/.cargo`); the roots, the system directories and a private temp dir are always
    /// granted.
    pub read_paths: Vec<PathBuf>,
    /// Refuse to run when Landlock or seccomp (which also cuts the network off) is missing on
    /// this host, instead of running with what there is.
    pub require_full_sandbox: bool,
}

impl Default for ShellOptions {
    fn default() -> Self {
        ShellOptions {
            allow_programs: Vec::new(),
            deny_programs: Vec::new(),
            shell_strings: false,
            shell: PathBuf::from("/bin/sh"),
            env_allow: DEFAULT_ENV_ALLOW.iter().map(|s| (*s).to_owned()).collect(),
            env_set: Vec::new(),
            timeout: Duration::from_secs(60),
            max_timeout: Duration::from_secs(600),
            kill_grace: Duration::from_secs(2),
            limits: Limits::default(),
            max_output_bytes: 16 * 1024,
            max_streamed_bytes: 256 * 1024,
            max_stdin_bytes: 1 << 20,
            network: false,
            always_network_namespace: false,
            pids_cgroup: true,
            read_paths: Vec::new(),
            require_full_sandbox: false,
        }
    }
}

/// The variables inherited by default: the search path, the locale, the terminal type and
/// the time zone. No tokens, no keys, no `HOME`.
pub const DEFAULT_ENV_ALLOW: [&str; 6] = ["PATH", "LANG", "LANGUAGE", "LC_*", "TERM", "TZ"];

/// The search path when Rune's own has none (or it is not inherited).
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";
