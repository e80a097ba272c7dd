//! What the host supports ([`probe`]) and the per-call sandbox plan (`prepare`).
//!
//! Every mechanism is detected, never assumed. [`probe`] runs once per process (the result is
//! cached): it asks the kernel for its Landlock ABI, checks that seccomp answers, and starts
//! one throw-away child that enters a new user and network namespace. `prepare` then builds,
//! in the parent and before any fork, everything the child will apply: the Landlock ruleset
//! (a file descriptor), the seccomp program, the resource limits and the user namespace's id
//! maps. What could not be applied is listed in [`Applied::missing`], and the tool says so in
//! every result.

use std::ffi::CString;
use std::fs::OpenOptions;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::options::{Limits, ShellOptions};
use crate::seccomp;
use crate::sys::{self, ChildSetup, Rlimit, landlock as ll};

/// One sandboxing mechanism and whether this host has it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
pub struct Mechanism {
    /// Its name: `landlock`, `seccomp`, `user_namespace`, `network_namespace`, `pidfd`.
    pub name: String,
    /// True when it works here.
    pub available: bool,
    /// What was found (a version, or why it is missing).
    pub detail: String,
}

/// What the host supports, for `rune doctor` and for each call's plan.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SandboxReport {
    /// The kernel release (`uname -r`).
    pub kernel: String,
    /// The Landlock ABI version, when Landlock is enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landlock_abi: Option<u32>,
    /// True when Rune runs as root (rlimits on processes then need a user namespace).
    pub root: bool,
    /// Each mechanism.
    pub mechanisms: Vec<Mechanism>,
}

impl SandboxReport {
    /// True when the mechanism `name` is available.
    pub fn has(&self, name: &str) -> bool {
        self.mechanisms
            .iter()
            .any(|m| m.name == name && m.available)
    }

    /// One line per mechanism, for people.
    pub fn lines(&self) -> Vec<String> {
        let mut v = vec![format!("kernel {}", self.kernel)];
        for m in &self.mechanisms {
            v.push(format!(
                "{:<18} {}  {}",
                m.name,
                if m.available { "yes" } else { "NO " },
                m.detail
            ));
        }
        v
    }
}

/// What the host supports (probed once, then cached for the life of the process).
pub fn probe() -> SandboxReport {
    static REPORT: OnceLock<SandboxReport> = OnceLock::new();
    REPORT.get_or_init(probe_now).clone()
}

fn probe_now() -> SandboxReport {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned());
    let mut mechanisms = Vec::new();
    let abi = match sys::landlock_abi() {
        Ok(v) => {
            mechanisms.push(Mechanism {
                name: "landlock".into(),
                available: true,
                detail: format!(
                    "ABI {v}: files{}{}",
                    if v >= 4 { ", TCP bind/connect" } else { "" },
                    if v >= 6 {
                        ", signal and abstract-socket scoping"
                    } else {
                        ""
                    }
                ),
            });
            Some(v)
        }
        Err(e) => {
            let why = match e.raw_os_error() {
                Some(libc::ENOSYS) => {
                    "not built into this kernel (Linux 5.13+ with CONFIG_SECURITY_LANDLOCK)"
                        .to_owned()
                }
                Some(libc::EOPNOTSUPP) => {
                    "built in but not enabled (add `landlock` to the kernel's lsm= boot parameter)"
                        .to_owned()
                }
                _ => e.to_string(),
            };
            mechanisms.push(Mechanism {
                name: "landlock".into(),
                available: false,
                detail: format!("{why}: no file system confinement"),
            });
            None
        }
    };
    let seccomp_ok = sys::seccomp_available() && seccomp::supported();
    mechanisms.push(Mechanism {
        name: "seccomp".into(),
        available: seccomp_ok,
        detail: if seccomp_ok {
            "filter: no setsid/setpgid, no io_uring, no kill(-1), sockets limited to AF_UNIX when the network is off".into()
        } else if !seccomp::supported() {
            "no filter for this CPU architecture in this build".into()
        } else {
            "the kernel has no seccomp filter support".into()
        },
    });
    let (userns, netns) = probe_namespaces();
    mechanisms.push(userns);
    mechanisms.push(netns);
    mechanisms.push(match pids_cgroup_base() {
        Some(base) => Mechanism {
            name: "pids_cgroup".into(),
            available: true,
            detail: format!("one pids cgroup per call under {}", base.display()),
        },
        None => Mechanism {
            name: "pids_cgroup".into(),
            available: false,
            detail: "no writable pids cgroup (needs root or a delegated cgroup)".into(),
        },
    });
    let pidfd = probe_pidfd();
    mechanisms.push(pidfd);
    mechanisms.push(Mechanism {
        name: "rlimits".into(),
        available: true,
        detail: "CPU seconds, address space, processes, file size, open files".into(),
    });
    mechanisms.push(Mechanism {
        name: "no_new_privs".into(),
        available: true,
        detail: "set-user-ID and file capabilities are ignored by exec".into(),
    });
    SandboxReport {
        kernel,
        landlock_abi: abi,
        root: sys::ids().0 == 0,
        mechanisms,
    }
}

/// Starts `true` in a new user + network namespace, to see whether this host allows it.
fn probe_namespaces() -> (Mechanism, Mechanism) {
    let mech = |name: &str, ok: bool, detail: String| Mechanism {
        name: name.into(),
        available: ok,
        detail,
    };
    let Some(truth) = ["/usr/bin/true", "/bin/true"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
    else {
        let d = "not probed: no /usr/bin/true or /bin/true to start".to_owned();
        return (
            mech("user_namespace", false, d.clone()),
            mech("network_namespace", false, d),
        );
    };
    let try_flags = |flags: libc::c_int| -> Result<(), String> {
        let setup = ChildSetup {
            cgroup_procs: None,
            unshare: flags,
            id_maps: id_maps(),
            rlimits_before: Vec::new(),
            rlimits_after: Vec::new(),
            landlock: None,
            seccomp: None,
            diag: None,
        };
        let mut cmd = std::process::Command::new(truth);
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        sys::install_pre_exec(&mut cmd, setup);
        match cmd.status() {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(format!("the probe exited with {s}")),
            Err(e) => Err(e.to_string()),
        }
    };
    let user = try_flags(libc::CLONE_NEWUSER);
    let net = if user.is_ok() {
        try_flags(libc::CLONE_NEWUSER | libc::CLONE_NEWNET)
    } else {
        Err("needs a user namespace".to_owned())
    };
    (
        match user {
            Ok(()) => mech(
                "user_namespace",
                true,
                "no capabilities outside it; for users other than root, the process limit counts only the call's processes".into(),
            ),
            Err(e) => mech(
                "user_namespace",
                false,
                format!("cannot create one ({e}); as root, process limits are not enforced"),
            ),
        },
        match net {
            Ok(()) => mech(
                "network_namespace",
                true,
                "a new network namespace: no interface but a loopback that is down".into(),
            ),
            Err(e) => mech("network_namespace", false, format!("cannot create one ({e})")),
        },
    )
}

fn probe_pidfd() -> Mechanism {
    let ok = sys::pidfd_open(std::process::id()).is_ok();
    Mechanism {
        name: "pidfd".into(),
        available: ok,
        detail: if ok {
            "exit noticed at once".into()
        } else {
            "exit polled every 5 ms (Linux < 5.3)".into()
        },
    }
}

/// The id maps of a user namespace that keeps the caller's own uid and gid.
fn id_maps() -> Vec<(CString, Vec<u8>)> {
    let (uid, gid) = sys::ids();
    let c = |s: &str| CString::new(s).unwrap_or_default();
    vec![
        (c("/proc/self/setgroups"), b"deny".to_vec()),
        (
            c("/proc/self/uid_map"),
            format!("{uid} {uid} 1").into_bytes(),
        ),
        (
            c("/proc/self/gid_map"),
            format!("{gid} {gid} 1").into_bytes(),
        ),
    ]
}

/// The directories every command may read and run programs from (when they exist).
pub const SYSTEM_EXEC_DIRS: [&str; 9] = [
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/opt",
    "/nix/store",
];
/// Directories every command may read (no running programs from them).
pub const SYSTEM_READ_DIRS: [&str; 2] = ["/etc", "/proc"];
/// Device files every command may read and write.
pub const DEVICES: [&str; 5] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];

/// What one call's sandbox consists of: the child's setup and, for the result, what it
/// applies and what it lacks.
pub(crate) struct Prepared {
    pub setup: ChildSetup,
    pub applied: Applied,
    /// The call's pids cgroup, removed when dropped (after the call).
    pub cgroup: Option<PidsCgroup>,
}

/// Where this process may create pids cgroups (probed once): its own cgroup in the pids
/// hierarchy (v1) or in the unified hierarchy when it has the pids controller (v2).
fn pids_cgroup_base() -> Option<PathBuf> {
    static BASE: OnceLock<Option<PathBuf>> = OnceLock::new();
    BASE.get_or_init(|| {
        let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let mut candidates = Vec::new();
        for line in own.lines() {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let rel = path.trim_start_matches('/');
            if controllers.split(',').any(|c| c == "pids") {
                candidates.push(Path::new("/sys/fs/cgroup/pids").join(rel));
            } else if controllers.is_empty() {
                candidates.push(Path::new("/sys/fs/cgroup").join(rel));
                candidates.push(Path::new("/sys/fs/cgroup/unified").join(rel));
            }
        }
        candidates.into_iter().find(|base| {
            let probe = base.join(format!("rune-shell-probe-{}", std::process::id()));
            let ok = std::fs::create_dir(&probe).is_ok()
                && std::fs::write(probe.join("pids.max"), "8").is_ok();
            let _ = std::fs::remove_dir(&probe);
            ok
        })
    })
    .clone()
}

/// One call's pids cgroup: `pids.max` processes at most, whoever the user is.
pub(crate) struct PidsCgroup {
    dir: PathBuf,
}

impl PidsCgroup {
    fn create(limit: u64) -> Option<PidsCgroup> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let base = pids_cgroup_base()?;
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("rune-shell-{}-{n}", std::process::id()));
        std::fs::create_dir(&dir).ok()?;
        let cg = PidsCgroup { dir };
        std::fs::write(cg.dir.join("pids.max"), limit.to_string()).ok()?;
        Some(cg)
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        // Killed processes may take a moment to leave; remove the directory once empty.
        if std::fs::remove_dir(&self.dir).is_ok() {
            return;
        }
        let dir = std::mem::take(&mut self.dir);
        std::thread::spawn(move || {
            for _ in 0..100 {
                std::thread::sleep(std::time::Duration::from_millis(20));
                if std::fs::remove_dir(&dir).is_ok() {
                    return;
                }
            }
            tracing::warn!(dir = %dir.display(), "a pids cgroup of shell_exec could not be removed");
        });
    }
}

/// The sandbox of one call, as reported in its result.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Applied {
    /// The mechanisms in force for this call.
    pub applied: Vec<String>,
    /// What this host could not provide (each with the reason); empty when nothing is missing.
    pub missing: Vec<String>,
    /// True when the command could reach the network.
    pub network: bool,
}

/// Builds one call's sandbox. `roots` are the directories the command may use (read-only
/// when `writable` is false); `tmp` is its private temporary directory.
pub(crate) fn prepare(
    opts: &ShellOptions,
    roots: &[PathBuf],
    writable: bool,
    tmp: &Path,
) -> Result<Prepared, String> {
    let report = probe();
    let mut applied = Applied {
        network: opts.network,
        ..Applied::default()
    };
    let block_net = !opts.network;

    // Landlock.
    let landlock = match report.landlock_abi {
        Some(abi) => {
            let fd = landlock_ruleset(abi, opts, roots, writable, tmp, block_net)
                .map_err(|e| format!("the Landlock ruleset could not be built: {e}"))?;
            let mut what = format!(
                "landlock (ABI {abi}): roots {}, private temp dir read-write, system dirs read-only",
                if writable { "read-write" } else { "read-only" }
            );
            if abi >= 4 && block_net {
                what.push_str(", TCP bind/connect denied");
            }
            if abi >= 6 {
                what.push_str(", signals and abstract sockets scoped");
            } else {
                applied.missing.push(format!(
                    "landlock scoping (ABI 6+; this kernel has ABI {abi}): the command may signal processes outside its group"
                ));
            }
            applied.applied.push(what);
            Some(fd)
        }
        None => {
            applied
                .missing
                .push("landlock: not available; files outside the roots are NOT protected".into());
            None
        }
    };

    // Namespaces.
    let userns = report.has("user_namespace");
    // A new network namespace costs milliseconds per call (its creation and teardown). It
    // adds nothing when seccomp already refuses every non-Unix socket and Landlock (ABI 6+)
    // scopes abstract Unix sockets, so it is used only when one of those is missing, or when
    // asked for.
    let redundant = report.has("seccomp") && report.landlock_abi.is_some_and(|a| a >= 6);
    let netns = block_net
        && report.has("network_namespace")
        && (opts.always_network_namespace || !redundant);
    let mut unshare = 0;
    if userns {
        unshare |= libc::CLONE_NEWUSER;
        applied
            .applied
            .push("user namespace (no capabilities outside it)".into());
    } else {
        applied
            .missing
            .push("user namespace: not available on this host".into());
    }
    if netns {
        unshare |= libc::CLONE_NEWNET;
        applied
            .applied
            .push("network namespace (no network interfaces)".into());
    } else if block_net && !report.has("network_namespace") {
        applied
            .missing
            .push("network namespace: not available on this host".into());
    }

    // seccomp.
    let filter = if report.has("seccomp") {
        seccomp::filter(block_net)
    } else {
        None
    };
    if filter.is_some() {
        applied.applied.push(format!(
            "seccomp (setsid/setpgid, io_uring, kill(-1){} refused)",
            if block_net { ", non-Unix sockets" } else { "" }
        ));
        applied
            .applied
            .push("own session and process group, which no descendant can leave".into());
    } else {
        applied.missing.push(
            "seccomp: not available; a descendant can leave the process group with setsid".into(),
        );
        applied.applied.push("own session and process group".into());
    }
    if block_net && !netns && filter.is_none() && report.landlock_abi.is_none_or(|a| a < 4) {
        applied.missing.push(
            "network: NOT blocked (no namespace, seccomp or Landlock network support)".into(),
        );
    }

    // Resource limits.
    let l = &opts.limits;
    let (before, after) = rlimits(l, userns);
    // RLIMIT_NPROC never applies to root (uid 0 is exempt, in any user namespace): root
    // needs a pids cgroup. Others do not (joining a cgroup costs a few milliseconds).
    let cgroup = if report.root && opts.pids_cgroup {
        PidsCgroup::create(l.processes)
    } else {
        None
    };
    let nproc = if cgroup.is_some() {
        format!("{} processes (pids cgroup)", l.processes)
    } else if report.root {
        applied.missing.push(
            "process limit: not enforced (root is exempt from RLIMIT_NPROC, and no pids cgroup was made)".into(),
        );
        "processes unlimited (root)".into()
    } else if userns {
        format!("{} processes", l.processes)
    } else {
        format!("{} processes of this user in total", l.processes)
    };
    applied.applied.push(format!(
        "rlimits: {} s CPU, {} MiB address space, {nproc}, {} MiB per file, {} open files",
        l.cpu_secs,
        l.address_space_bytes >> 20,
        l.file_size_bytes >> 20,
        l.open_files
    ));
    applied.applied.push("no_new_privs".into());

    Ok(Prepared {
        setup: ChildSetup {
            cgroup_procs: cgroup.as_ref().and_then(|c| {
                CString::new(
                    c.dir
                        .join("cgroup.procs")
                        .into_os_string()
                        .into_encoded_bytes(),
                )
                .ok()
            }),
            unshare,
            id_maps: if userns { id_maps() } else { Vec::new() },
            rlimits_before: before,
            rlimits_after: after,
            landlock,
            seccomp: filter,
            diag: None,
        },
        applied,
        cgroup,
    })
}

fn rlimits(l: &Limits, userns: bool) -> (Vec<Rlimit>, Vec<Rlimit>) {
    let r = |resource, soft: u64, hard: u64| Rlimit {
        resource,
        soft,
        hard,
    };
    let before = vec![
        // SIGXCPU at the soft limit, SIGKILL one second later.
        r(libc::RLIMIT_CPU, l.cpu_secs, l.cpu_secs.saturating_add(1)),
        r(
            libc::RLIMIT_AS,
            l.address_space_bytes,
            l.address_space_bytes,
        ),
        r(libc::RLIMIT_FSIZE, l.file_size_bytes, l.file_size_bytes),
        r(libc::RLIMIT_NOFILE, l.open_files, l.open_files),
        r(libc::RLIMIT_CORE, 0, 0),
    ];
    // In a new user namespace the process count starts from zero; the limit is set after
    // entering it, so that the namespace's own ceiling (taken from the creator's limit at
    // creation) stays unlimited.
    let nproc = vec![r(libc::RLIMIT_NPROC, l.processes, l.processes)];
    if userns {
        (before, nproc)
    } else {
        let mut b = before;
        b.extend(nproc);
        (b, Vec::new())
    }
}

/// Accesses a rule on a single file (not a directory) may name.
const FILE_ACCESS: u64 =
    ll::FS_EXECUTE | ll::FS_WRITE_FILE | ll::FS_READ_FILE | ll::FS_TRUNCATE | ll::FS_IOCTL_DEV;

/// The file system accesses Landlock handles at this ABI (everything it knows).
fn handled_fs(abi: u32) -> u64 {
    let mut a = ll::FS_EXECUTE
        | ll::FS_WRITE_FILE
        | ll::FS_READ_FILE
        | ll::FS_READ_DIR
        | ll::FS_REMOVE_DIR
        | ll::FS_REMOVE_FILE
        | ll::FS_MAKE_CHAR
        | ll::FS_MAKE_DIR
        | ll::FS_MAKE_REG
        | ll::FS_MAKE_SOCK
        | ll::FS_MAKE_FIFO
        | ll::FS_MAKE_BLOCK
        | ll::FS_MAKE_SYM;
    if abi >= 2 {
        a |= ll::FS_REFER;
    }
    if abi >= 3 {
        a |= ll::FS_TRUNCATE;
    }
    if abi >= 5 {
        a |= ll::FS_IOCTL_DEV;
    }
    a
}

fn landlock_ruleset(
    abi: u32,
    opts: &ShellOptions,
    roots: &[PathBuf],
    writable: bool,
    tmp: &Path,
    block_net: bool,
) -> std::io::Result<OwnedFd> {
    let fs = handled_fs(abi);
    let net = if abi >= 4 && block_net {
        ll::NET_BIND_TCP | ll::NET_CONNECT_TCP
    } else {
        0
    };
    let scoped = if abi >= 6 {
        ll::SCOPE_ABSTRACT_UNIX_SOCKET | ll::SCOPE_SIGNAL
    } else {
        0
    };
    let ruleset = sys::landlock_create_ruleset(fs, net, scoped, abi)?;
    let read_exec = ll::FS_READ_FILE | ll::FS_READ_DIR | ll::FS_EXECUTE;
    for (fd, access) in system_rules() {
        sys::landlock_add_path(&ruleset, fd, access & fs)?;
    }
    let add = |path: &Path, access: u64, required: bool| -> std::io::Result<()> {
        match rule_target(path, access, required)? {
            Some((fd, access)) => sys::landlock_add_path(&ruleset, &fd, access & fs),
            None => Ok(()),
        }
    };
    for p in &opts.read_paths {
        add(p, read_exec, false)?;
    }
    for r in roots {
        add(r, if writable { fs } else { read_exec }, true)?;
    }
    add(tmp, fs, true)?;
    Ok(ruleset)
}

/// The system directories and devices, opened once per process (`O_PATH`) with the accesses
/// granted on them: each call's ruleset then only adds rules, without opening them again.
fn system_rules() -> &'static [(OwnedFd, u64)] {
    static RULES: OnceLock<Vec<(OwnedFd, u64)>> = OnceLock::new();
    RULES.get_or_init(|| {
        let read_exec = ll::FS_READ_FILE | ll::FS_READ_DIR | ll::FS_EXECUTE;
        let read = ll::FS_READ_FILE | ll::FS_READ_DIR;
        let dev = ll::FS_READ_FILE | ll::FS_WRITE_FILE | ll::FS_TRUNCATE | ll::FS_IOCTL_DEV;
        let all = SYSTEM_EXEC_DIRS
            .iter()
            .map(|d| (*d, read_exec))
            .chain(SYSTEM_READ_DIRS.iter().map(|d| (*d, read)))
            .chain(DEVICES.iter().map(|d| (*d, dev)));
        // A system path that cannot be opened is simply not granted.
        all.filter_map(|(p, a)| rule_target(Path::new(p), a, false).ok().flatten())
            .collect()
    })
}

/// Opens `path` for a rule (`O_PATH`): the handle and the accesses, narrowed to those a rule
/// on a file may carry when it is not a directory. `None` when it does not exist and is not
/// `required`.
fn rule_target(
    path: &Path,
    access: u64,
    required: bool,
) -> std::io::Result<Option<(OwnedFd, u64)>> {
    let f = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", path.display()),
            ));
        }
    };
    // fstat on the O_PATH descriptor: the kind of what was opened, not of a later path.
    let is_dir = f.metadata().is_ok_and(|m| m.is_dir());
    let access = if is_dir { access } else { access & FILE_ACCESS };
    Ok(Some((OwnedFd::from(f), access)))
}
