//! The seccomp filter: a short classic-BPF program, written out here rather than generated,
//! because it is a *deny-list* and must therefore close every side door itself.
//!
//! Most seccomp filters (Firecracker's, for instance) are allow-lists: a system call the
//! filter does not name is refused, so an unknown calling convention is refused too. This one
//! lets everything through except a few calls, so it must look at the calling convention
//! first:
//!
//! 1. **Architecture.** A call made through another ABI of the same CPU (the 32-bit `int 0x80`
//!    entry on x86-64) carries another `arch` value and other system call numbers; every such
//!    call is refused (`EPERM`).
//! 2. **x32.** On x86-64, the x32 ABI shares the `arch` value and sets bit 30 of the number;
//!    numbers with that bit are refused.
//! 3. **Process containment.** `setsid` and `setpgid` are refused (`EPERM`): the command runs
//!    in its own session and process group (made before the filter is installed), and no
//!    descendant can leave it, so killing the group kills every process the command started.
//! 4. **Signals to everyone.** `kill(-1, …)` is refused (`EPERM`).
//! 5. **io_uring** is refused (`ENOSYS`, so programs fall back to plain system calls): its
//!    operations (sockets included) are not system calls and would pass the filter unseen.
//! 6. **Network** (when it is blocked): `socket` for any family but `AF_UNIX` fails with
//!    `EACCES`. Local Unix sockets keep working; no IP, raw, packet or netlink socket can be
//!    made.
//!
//! Everything else is allowed. The filter is built once per call in the parent and installed
//! in the child last, after Landlock, just before `exec`.

/// The `arch` value of this build's native system call ABI, when Rune has a filter for it.
#[cfg(target_arch = "x86_64")]
const NATIVE_ARCH: Option<u32> = Some(0xC000_003E); // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const NATIVE_ARCH: Option<u32> = Some(0xC000_00B7); // AUDIT_ARCH_AARCH64
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const NATIVE_ARCH: Option<u32> = None;

/// True when this build knows how to write a filter for the CPU it runs on.
pub(crate) fn supported() -> bool {
    NATIVE_ARCH.is_some()
}

// Classic BPF opcodes (linux/filter.h, linux/bpf_common.h).
const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD (0) | BPF_W (0) | BPF_ABS (0x20)
const BPF_JEQ_K: u16 = 0x05 | 0x10; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_JGE_K: u16 = 0x05 | 0x30; // BPF_JMP | BPF_JGE | BPF_K
const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K

// Offsets in `struct seccomp_data`.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
/// The low 32 bits of `args[0]` (little-endian: every architecture this filter supports).
const OFF_ARG0_LO: u32 = 16;

const RET_ALLOW: u32 = 0x7fff_0000; // SECCOMP_RET_ALLOW
const RET_ERRNO: u32 = 0x0005_0000; // SECCOMP_RET_ERRNO

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Label {
    Allow,
    Eperm,
    Enosys,
    Eacces,
    KillArg,
    SocketArg,
}

enum Op {
    Load(u32),
    Jump {
        code: u16,
        k: u32,
        yes: Option<Label>,
        no: Option<Label>,
    },
    Ret(u32),
    Here(Label),
}

/// Builds the filter; `block_network` adds the `socket` rule. `None` on a CPU this build has
/// no filter for.
pub(crate) fn filter(block_network: bool) -> Option<Vec<libc::sock_filter>> {
    let arch = NATIVE_ARCH?;
    use Label::*;
    let jeq = |k: u32, yes: Label| Op::Jump {
        code: BPF_JEQ_K,
        k,
        yes: Some(yes),
        no: None,
    };
    let mut ops = vec![
        Op::Load(OFF_ARCH),
        Op::Jump {
            code: BPF_JEQ_K,
            k: arch,
            yes: None,
            no: Some(Eperm),
        },
        Op::Load(OFF_NR),
    ];
    if cfg!(target_arch = "x86_64") {
        ops.push(Op::Jump {
            code: BPF_JGE_K,
            k: 0x4000_0000, // __X32_SYSCALL_BIT
            yes: Some(Eperm),
            no: None,
        });
    }
    ops.push(jeq(libc::SYS_setsid as u32, Eperm));
    ops.push(jeq(libc::SYS_setpgid as u32, Eperm));
    ops.push(jeq(libc::SYS_io_uring_setup as u32, Enosys));
    ops.push(jeq(libc::SYS_kill as u32, KillArg));
    if block_network {
        ops.push(jeq(libc::SYS_socket as u32, SocketArg));
    }
    ops.push(Op::Ret(RET_ALLOW));
    ops.push(Op::Here(KillArg));
    ops.push(Op::Load(OFF_ARG0_LO));
    ops.push(jeq(u32::MAX, Eperm)); // pid -1
    ops.push(Op::Ret(RET_ALLOW));
    if block_network {
        ops.push(Op::Here(SocketArg));
        ops.push(Op::Load(OFF_ARG0_LO));
        ops.push(jeq(libc::AF_UNIX as u32, Allow));
        ops.push(Op::Here(Eacces));
        ops.push(Op::Ret(RET_ERRNO | libc::EACCES as u32));
    }
    ops.push(Op::Here(Allow));
    ops.push(Op::Ret(RET_ALLOW));
    ops.push(Op::Here(Eperm));
    ops.push(Op::Ret(RET_ERRNO | libc::EPERM as u32));
    ops.push(Op::Here(Enosys));
    ops.push(Op::Ret(RET_ERRNO | libc::ENOSYS as u32));
    assemble(&ops)
}

/// Resolves labels into relative jumps; `None` if a jump would not fit (a bug, tested).
fn assemble(ops: &[Op]) -> Option<Vec<libc::sock_filter>> {
    let mut at = std::collections::HashMap::new();
    let mut n = 0usize;
    for op in ops {
        match op {
            Op::Here(l) => {
                at.insert(*l, n);
            }
            _ => n += 1,
        }
    }
    let mut out = Vec::with_capacity(n);
    for op in ops {
        let i = out.len();
        let rel = |l: Option<Label>| -> Option<u8> {
            match l {
                None => Some(0),
                Some(l) => {
                    let target = *at.get(&l)?;
                    u8::try_from(target.checked_sub(i + 1)?).ok()
                }
            }
        };
        let insn = match op {
            Op::Here(_) => continue,
            Op::Load(off) => stmt(BPF_LD_W_ABS, *off),
            Op::Ret(v) => stmt(BPF_RET_K, *v),
            Op::Jump { code, k, yes, no } => libc::sock_filter {
                code: *code,
                jt: rel(*yes)?,
                jf: rel(*no)?,
                k: *k,
            },
        };
        out.push(insn);
    }
    Some(out)
}

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny interpreter of the instructions this module emits, to test the program's logic
    /// without installing it.
    fn run(prog: &[libc::sock_filter], arch: u32, nr: u32, arg0: u32) -> u32 {
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            match i.code {
                BPF_LD_W_ABS => {
                    acc = match i.k {
                        OFF_NR => nr,
                        OFF_ARCH => arch,
                        OFF_ARG0_LO => arg0,
                        other => panic!("load of offset {other}"),
                    };
                    pc += 1;
                }
                BPF_JEQ_K | BPF_JGE_K => {
                    let hit = if i.code == BPF_JEQ_K {
                        acc == i.k
                    } else {
                        acc >= i.k
                    };
                    pc += 1 + usize::from(if hit { i.jt } else { i.jf });
                }
                BPF_RET_K => return i.k,
                other => panic!("opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn the_filter_refuses_what_it_says_and_nothing_else() {
        let Some(arch) = NATIVE_ARCH else { return };
        let p = filter(true).expect("assembles");
        let nr = |n: libc::c_long| n as u32;
        let eperm = RET_ERRNO | libc::EPERM as u32;
        assert_eq!(run(&p, arch, nr(libc::SYS_setsid), 0), eperm);
        assert_eq!(run(&p, arch, nr(libc::SYS_setpgid), 0), eperm);
        assert_eq!(
            run(&p, arch, nr(libc::SYS_io_uring_setup), 0),
            RET_ERRNO | libc::ENOSYS as u32
        );
        assert_eq!(run(&p, arch, nr(libc::SYS_kill), u32::MAX), eperm);
        assert_eq!(run(&p, arch, nr(libc::SYS_kill), 1234), RET_ALLOW);
        assert_eq!(
            run(&p, arch, nr(libc::SYS_socket), libc::AF_INET as u32),
            RET_ERRNO | libc::EACCES as u32
        );
        assert_eq!(
            run(&p, arch, nr(libc::SYS_socket), libc::AF_INET6 as u32),
            RET_ERRNO | libc::EACCES as u32
        );
        assert_eq!(
            run(&p, arch, nr(libc::SYS_socket), libc::AF_UNIX as u32),
            RET_ALLOW
        );
        assert_eq!(run(&p, arch, nr(libc::SYS_read), 0), RET_ALLOW);
        // Another ABI of the CPU: refused whatever the call.
        assert_eq!(run(&p, 0x4000_0003, nr(libc::SYS_read), 0), eperm);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(run(&p, arch, 0x4000_0000 | 41, 2), eperm);
        }
        // Without the network rule, sockets pass.
        let open = filter(false).expect("assembles");
        assert_eq!(
            run(&open, arch, nr(libc::SYS_socket), libc::AF_INET as u32),
            RET_ALLOW
        );
        assert_eq!(run(&open, arch, nr(libc::SYS_setsid), 0), eperm);
    }
}
