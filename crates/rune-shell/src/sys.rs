//! Every system call of this crate that needs `unsafe`, each behind a small safe function with
//! its `SAFETY` argument. Nothing else in the crate uses `unsafe`.
//!
//! The most delicate part is [`install_pre_exec`]: the closure it installs runs in the child
//! between `fork` and `exec`. A multi-threaded parent may have been holding any lock (the
//! allocator's included) at the moment of the fork, so the child may only make
//! async-signal-safe calls: raw system calls on data prepared before the fork. It allocates
//! nothing, takes no lock, and reports a failure as an errno plus one byte naming the step
//! that failed, written to a pipe the parent reads.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Landlock's user-space ABI (include/uapi/linux/landlock.h), as far as Rune uses it.
pub(crate) mod landlock {
    /// `landlock_create_ruleset` flag: return the highest supported ABI version.
    pub const CREATE_RULESET_VERSION: u32 = 1 << 0;
    /// `landlock_add_rule` rule type: a file hierarchy.
    pub const RULE_PATH_BENEATH: u32 = 1;

    pub const FS_EXECUTE: u64 = 1 << 0;
    pub const FS_WRITE_FILE: u64 = 1 << 1;
    pub const FS_READ_FILE: u64 = 1 << 2;
    pub const FS_READ_DIR: u64 = 1 << 3;
    pub const FS_REMOVE_DIR: u64 = 1 << 4;
    pub const FS_REMOVE_FILE: u64 = 1 << 5;
    pub const FS_MAKE_CHAR: u64 = 1 << 6;
    pub const FS_MAKE_DIR: u64 = 1 << 7;
    pub const FS_MAKE_REG: u64 = 1 << 8;
    pub const FS_MAKE_SOCK: u64 = 1 << 9;
    pub const FS_MAKE_FIFO: u64 = 1 << 10;
    pub const FS_MAKE_BLOCK: u64 = 1 << 11;
    pub const FS_MAKE_SYM: u64 = 1 << 12;
    /// ABI 2.
    pub const FS_REFER: u64 = 1 << 13;
    /// ABI 3.
    pub const FS_TRUNCATE: u64 = 1 << 14;
    /// ABI 5.
    pub const FS_IOCTL_DEV: u64 = 1 << 15;

    /// ABI 4.
    pub const NET_BIND_TCP: u64 = 1 << 0;
    /// ABI 4.
    pub const NET_CONNECT_TCP: u64 = 1 << 1;

    /// ABI 6.
    pub const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
    /// ABI 6.
    pub const SCOPE_SIGNAL: u64 = 1 << 1;

    #[repr(C)]
    pub(super) struct RulesetAttr {
        pub handled_access_fs: u64,
        pub handled_access_net: u64,
        pub scoped: u64,
    }

    #[repr(C, packed)]
    pub(super) struct PathBeneathAttr {
        pub allowed_access: u64,
        pub parent_fd: i32,
    }
}

fn check(r: libc::c_long) -> io::Result<libc::c_long> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// The highest Landlock ABI the kernel supports (an error when Landlock is missing or off).
pub(crate) fn landlock_abi() -> io::Result<u32> {
    // SAFETY: with a null attribute, size 0 and the VERSION flag the kernel reads no memory.
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<landlock::RulesetAttr>(),
            0usize,
            landlock::CREATE_RULESET_VERSION,
        )
    };
    check(r).map(|v| v as u32)
}

/// Creates a ruleset handling these accesses. `abi` decides how much of the attribute the
/// kernel is shown: older kernels refuse fields they do not know unless they are absent.
pub(crate) fn landlock_create_ruleset(
    fs: u64,
    net: u64,
    scoped: u64,
    abi: u32,
) -> io::Result<OwnedFd> {
    let attr = landlock::RulesetAttr {
        handled_access_fs: fs,
        handled_access_net: net,
        scoped,
    };
    let size: usize = match abi {
        0..=3 => 8,
        4 | 5 => 16,
        _ => 24,
    };
    // SAFETY: `attr` is a live, properly laid out `landlock_ruleset_attr`, and `size` is at
    // most its size; the kernel only reads it during the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            &attr as *const landlock::RulesetAttr,
            size,
            0u32,
        )
    };
    let fd = check(r)? as RawFd;
    // SAFETY: the kernel just returned this descriptor (close-on-exec); nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds "these accesses beneath `dir`" to a ruleset.
pub(crate) fn landlock_add_path(ruleset: &OwnedFd, dir: &OwnedFd, access: u64) -> io::Result<()> {
    let attr = landlock::PathBeneathAttr {
        allowed_access: access,
        parent_fd: dir.as_raw_fd(),
    };
    // SAFETY: `attr` is a live `landlock_path_beneath_attr`, read by the kernel during the
    // call only; both descriptors are open for its duration.
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset.as_raw_fd(),
            landlock::RULE_PATH_BENEATH,
            &attr as *const landlock::PathBeneathAttr,
            0u32,
        )
    };
    check(r).map(drop)
}

/// True when this kernel accepts seccomp filters (`prctl(PR_GET_SECCOMP)` answers).
pub(crate) fn seccomp_available() -> bool {
    // SAFETY: PR_GET_SECCOMP takes no pointer arguments and changes nothing.
    let r = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    r >= 0
}

/// A pidfd for `pid` (Linux 5.3+): readable once the process has exited, and never confused
/// with a later process that reuses the number.
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: plain integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0u32) };
    let fd = check(r)? as RawFd;
    // SAFETY: a descriptor the kernel just returned (close-on-exec by default); we own it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Registers a pidfd with the tokio reactor (must be called inside a runtime).
pub(crate) fn async_pidfd(fd: OwnedFd) -> io::Result<tokio::io::unix::AsyncFd<OwnedFd>> {
    // SAFETY: `OwnedFd` owns an open descriptor and always returns that same descriptor from
    // `as_raw_fd`; it is closed only when the `AsyncFd` (its owner) is dropped.
    unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
            .map_err(io::Error::from)
    }
}

/// True when process `pid`, a child of ours, has exited (it is left a zombie: not reaped, so
/// its number, and the process group named after it, cannot be reused yet).
pub(crate) fn has_exited(pid: u32) -> bool {
    // SAFETY: `info` is a zeroed `siginfo_t` the kernel fills; plain integer arguments.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        r == 0 && info.si_pid() != 0
    }
}

/// Sends `sig` to every process of group `pgid`. Errors (the group is gone) are ignored.
pub(crate) fn killpg(pgid: u32, sig: libc::c_int) {
    if pgid <= 1 {
        return; // never 0 (our own group) or 1
    }
    // SAFETY: plain integer arguments.
    unsafe {
        libc::killpg(pgid as libc::pid_t, sig);
    }
}

/// The effective user and group ids of this process.
pub(crate) fn ids() -> (u32, u32) {
    // SAFETY: these calls cannot fail and touch no memory of ours.
    unsafe { (libc::geteuid(), libc::getegid()) }
}

/// One resource limit, set in the child.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rlimit {
    pub resource: libc::__rlimit_resource_t,
    pub soft: u64,
    pub hard: u64,
}

/// What the child does between `fork` and `exec`, prepared in the parent.
#[derive(Debug)]
pub(crate) struct ChildSetup {
    /// A pids cgroup's `cgroup.procs` file, which the child joins first.
    pub cgroup_procs: Option<CString>,
    /// `unshare` flags (CLONE_NEWUSER, CLONE_NEWNET), 0 for none.
    pub unshare: libc::c_int,
    /// With CLONE_NEWUSER: the `/proc/self/...` files and what to write to each.
    pub id_maps: Vec<(CString, Vec<u8>)>,
    /// Limits set before the user namespace is entered (they also bound its creation).
    pub rlimits_before: Vec<Rlimit>,
    /// Limits set after (RLIMIT_NPROC: counted per user namespace from then on).
    pub rlimits_after: Vec<Rlimit>,
    /// A Landlock ruleset to enforce.
    pub landlock: Option<OwnedFd>,
    /// A seccomp filter to install, last.
    pub seccomp: Option<Vec<libc::sock_filter>>,
    /// Where a failing step writes its number.
    pub diag: Option<OwnedFd>,
}

/// The steps of [`ChildSetup`], as reported through the diagnostic pipe.
pub(crate) const STEPS: [&str; 10] = [
    "",
    "setsid",
    "setrlimit",
    "unshare (user/network namespace)",
    "writing the user namespace's id maps",
    "setrlimit (processes)",
    "prctl(PR_SET_NO_NEW_PRIVS)",
    "landlock_restrict_self",
    "seccomp filter",
    "joining the pids cgroup",
];

/// Installs the child-side setup on `cmd`.
pub(crate) fn install_pre_exec(cmd: &mut Command, setup: ChildSetup) {
    let hook = move || -> io::Result<()> { child_setup(&setup) };
    // SAFETY: `child_setup` runs in the forked child, where only async-signal-safe work is
    // allowed. It makes raw system calls only (setsid, setrlimit, unshare, open, write,
    // close, prctl, landlock_restrict_self, seccomp, close_range) on data that was prepared
    // before the fork (`setup` is only read); it allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(hook);
    }
}

/// Runs in the child after `fork`: see [`install_pre_exec`] for the rules it keeps.
fn child_setup(s: &ChildSetup) -> io::Result<()> {
    let fail = |step: u8| -> io::Error {
        let err = io::Error::last_os_error();
        if let Some(d) = &s.diag {
            // SAFETY: write(2) of one byte from a live stack variable.
            unsafe {
                libc::write(d.as_raw_fd(), (&step as *const u8).cast(), 1);
            }
        }
        err
    };
    // SAFETY (for every call in this block): raw system calls with integer arguments or
    // pointers to data owned by `s`, which outlives the calls; async-signal-safe.
    unsafe {
        // Every descriptor above stderr that is still open becomes close-on-exec: nothing of
        // the server's leaks into the command. (Errors mean an old kernel; std already opens
        // its own descriptors close-on-exec.)
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
        // The call's pids cgroup, which bounds the number of processes even for root.
        if let Some(procs) = &s.cgroup_procs {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 {
                return Err(fail(9));
            }
            let n = libc::write(fd, b"0".as_ptr().cast(), 1);
            libc::close(fd);
            if n != 1 {
                return Err(fail(9));
            }
        }
        // Its own session and process group: the whole tree is killed with one killpg.
        if libc::setsid() < 0 {
            return Err(fail(1));
        }
        for l in &s.rlimits_before {
            let lim = libc::rlimit {
                rlim_cur: l.soft,
                rlim_max: l.hard,
            };
            if libc::setrlimit(l.resource, &lim) != 0 {
                return Err(fail(2));
            }
        }
        if s.unshare != 0 {
            if libc::unshare(s.unshare) != 0 {
                return Err(fail(3));
            }
            for (path, content) in &s.id_maps {
                let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(fail(4));
                }
                let n = libc::write(fd, content.as_ptr().cast(), content.len());
                libc::close(fd);
                if n != content.len() as isize {
                    return Err(fail(4));
                }
            }
        }
        for l in &s.rlimits_after {
            let lim = libc::rlimit {
                rlim_cur: l.soft,
                rlim_max: l.hard,
            };
            if libc::setrlimit(l.resource, &lim) != 0 {
                return Err(fail(5));
            }
        }
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(fail(6));
        }
        if let Some(rs) = &s.landlock
            && libc::syscall(libc::SYS_landlock_restrict_self, rs.as_raw_fd(), 0u32) != 0
        {
            return Err(fail(7));
        }
        if let Some(prog) = &s.seccomp {
            let fprog = libc::sock_fprog {
                len: prog.len() as libc::c_ushort,
                filter: prog.as_ptr().cast_mut(),
            };
            if libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0u32,
                &fprog as *const libc::sock_fprog,
            ) != 0
            {
                return Err(fail(8));
            }
        }
    }
    Ok(())
}

/// A close-on-exec pipe: (read end, write end).
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a live array of two ints that the kernel fills.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: two fresh descriptors returned by the kernel, owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}
