//! The kernel's share of one `file_read` of a small file through MCP over stdio, measured
//! apart from everything else: what any server that reads the file with Rune's path jail and
//! writes the reply into a pipe must spend, however fast its own code.
//!
//! ```sh
//! cargo build --release -p rune-tools --example read_floor
//! target/release/examples/read_floor [--calls N] [--rounds R] [--size BYTES]
//! ```
//!
//! Cases (each the median of R rounds of N calls, per call):
//! - `jail syscalls`: the system calls `file_read` makes for a path without links: an
//!   `openat2(O_PATH)` beneath the root and its `fstat` (the kind is checked before anything
//!   is opened, so no device's driver is called), `close`, the `openat2` that opens the file,
//!   `statx` on it, one `preadv2` and `close`;
//! - `one openat2`: the least a reader can do: one `openat2` beneath the root, `fstat`,
//!   `pread`, `close` (no check before opening);
//! - `file_read in process`: `rune_tools::read::file_read`, the whole tool without MCP framing
//!   (the jail's system calls plus the result with its `structuredContent`);
//! - `reply into a pipe`: one `write` of a reply as large as `file_read`'s for this file (the
//!   text twice, JSON-escaped), into a pipe that another thread drains.

use std::io::Read;
use std::os::unix::fs::FileExt;
use std::time::Instant;

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags, StatxFlags};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut calls = 50_000usize;
    let mut rounds = 5usize;
    let mut size = 4096usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().and_then(|v| v.parse::<usize>().ok());
        match (a.as_str(), v) {
            ("--calls", Some(n)) if n > 0 => calls = n,
            ("--rounds", Some(n)) if n > 0 => rounds = n,
            ("--size", Some(n)) if n > 0 => size = n,
            _ => {
                eprintln!("usage: read_floor [--calls N] [--rounds R] [--size BYTES]");
                std::process::exit(2);
            }
        }
    }
    let dir = tempfile::tempdir()?;
    let line = "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n";
    let text: String = line.chars().cycle().take(size).collect();
    std::fs::write(dir.path().join("a.txt"), &text)?;
    let root = rustix::fs::open(
        dir.path(),
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let how = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    let roots = rune_tools::Roots::new([dir.path()])?;
    let read_args: rune_tools::read::FileReadArgs =
        serde_json::from_value(serde_json::json!({"path": "a.txt"}))?;
    let mut buf = vec![0u8; 8192];
    let mut buf2 = vec![0u8; 8192];

    // The reply as `file_read` sends it: encoded once here, written N times below.
    let result = rune_tools::read::file_read(&roots, &read_args).map_err(|e| format!("{e:?}"))?;
    let mut reply = br#"{"jsonrpc":"2.0","id":1,"result":"#.to_vec();
    rune_server::proto::json::write_call_tool_result(&mut reply, &result)?;
    reply.extend_from_slice(b"}\n");
    let (mut rx, tx) = std::io::pipe()?;
    let drain = std::thread::spawn(move || {
        let mut sink = vec![0u8; 64 * 1024];
        while matches!(rx.read(&mut sink), Ok(n) if n > 0) {}
    });

    type Case<'a> = (&'a str, Box<dyn FnMut() -> std::io::Result<()> + 'a>);
    let mut cases: Vec<Case<'_>> = vec![
        (
            "jail syscalls",
            Box::new(|| {
                let p = rustix::fs::openat2(
                    &root,
                    "a.txt",
                    OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                    how,
                )?;
                rustix::fs::fstat(&p)?;
                drop(p);
                let f = rustix::fs::openat2(
                    &root,
                    "a.txt",
                    OFlags::RDONLY
                        | OFlags::NOFOLLOW
                        | OFlags::NONBLOCK
                        | OFlags::NOCTTY
                        | OFlags::CLOEXEC,
                    Mode::empty(),
                    how,
                )?;
                rustix::fs::statx(&f, "", AtFlags::EMPTY_PATH, StatxFlags::BASIC_STATS)?;
                rustix::io::preadv2(
                    &f,
                    &mut [std::io::IoSliceMut::new(&mut buf)],
                    0,
                    rustix::io::ReadWriteFlags::NOWAIT,
                )?;
                Ok(())
            }),
        ),
        (
            "one openat2",
            Box::new(|| {
                let f = rustix::fs::openat2(
                    &root,
                    "a.txt",
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
                    Mode::empty(),
                    how,
                )?;
                rustix::fs::fstat(&f)?;
                std::fs::File::from(f).read_at(&mut buf2, 0)?;
                Ok(())
            }),
        ),
        (
            "file_read in process",
            Box::new(|| {
                rune_tools::read::file_read(&roots, &read_args)
                    .map(drop)
                    .map_err(|e| std::io::Error::other(format!("{e:?}")))
            }),
        ),
        (
            "reply into a pipe",
            Box::new(|| {
                use std::io::Write;
                (&tx).write_all(&reply)
            }),
        ),
    ];
    let mut samples = vec![Vec::new(); cases.len()];
    for _ in 0..rounds {
        for (k, (_, run)) in cases.iter_mut().enumerate() {
            let t = Instant::now();
            for _ in 0..calls {
                run()?;
            }
            samples[k].push(t.elapsed().as_nanos() as f64 / calls as f64 / 1000.0);
        }
    }
    println!(
        "{size}-byte file, reply of {} bytes; median of {rounds} rounds of {calls} calls",
        reply.len()
    );
    for ((name, _), s) in cases.iter().zip(&mut samples) {
        s.sort_by(f64::total_cmp);
        println!("{name:<24} {:>7.2} µs/call", s[s.len() / 2]);
    }
    drop(cases);
    drop(tx);
    let _ = drain.join();
    Ok(())
}
