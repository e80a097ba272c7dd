//! Running small file work on the async thread, when it cannot block.
//!
//! File system calls may block (a directory entry or a page not in memory means a disk read),
//! so the tools' file work normally runs on tokio's blocking pool. That hand-off costs more
//! than reading a small cached file: a trip to another thread and back, several `futex`
//! calls, and with many calls in flight many pool threads fighting for few CPUs.
//!
//! [`attempt`] runs a tool's work on the calling thread under two promises the kernel keeps
//! for us, so it never waits for a disk:
//!
//! - paths are opened with `openat2(RESOLVE_CACHED)`, which fails with `EAGAIN` instead of
//!   reading a directory from disk ([`crate::guard`]);
//! - files are read with `preadv2(RWF_NOWAIT)`, which fails with `EAGAIN` instead of waiting
//!   for a page that is not in the page cache ([`read_at`]);
//!
//! and a byte budget, so a large read (a scan of a big file for its line index) does not hold
//! the thread either. When any of these says no, the helper that hit it calls [`give_up`]; the
//! attempt's result is thrown away and the caller runs the same work again on the blocking
//! pool, where everything may block. The work must therefore be free of side effects that a
//! second run would repeat wrongly: reading tools only.

use std::cell::Cell;
use std::io;

thread_local! {
    /// Bytes the running attempt may still read; `None` outside an attempt.
    static BUDGET: Cell<Option<u64>> = const { Cell::new(None) };
    /// Set when the running attempt hit something that would block.
    static GAVE_UP: Cell<bool> = const { Cell::new(false) };
}

/// Bytes an attempt may read before it is moved to the blocking pool.
pub(crate) const BUDGET_BYTES: u64 = 256 * 1024;

/// Runs `f` on this thread in non-blocking mode. `None` when it would have blocked (its
/// result is discarded): run it again with blocking allowed.
pub(crate) fn attempt<T>(budget: u64, f: impl FnOnce() -> T) -> Option<T> {
    struct Restore(Option<u64>, bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            BUDGET.set(self.0);
            GAVE_UP.set(self.1);
        }
    }
    let _restore = Restore(BUDGET.replace(Some(budget)), GAVE_UP.replace(false));
    let out = f();
    if GAVE_UP.get() { None } else { Some(out) }
}

/// True inside [`attempt`]: helpers must not block.
pub(crate) fn active() -> bool {
    BUDGET.get().is_some()
}

/// Marks the running attempt as failed; returns the error for the helper to pass up.
pub(crate) fn give_up() -> io::Error {
    GAVE_UP.set(true);
    io::Error::from(io::ErrorKind::WouldBlock)
}

/// Reads at `offset` like `pread`; inside an attempt without waiting for the disk and within
/// the budget, else it gives up.
pub(crate) fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let Some(left) = BUDGET.get() else {
        return file.read_at(buf, offset);
    };
    if buf.len() as u64 > left {
        return Err(give_up());
    }
    let flags = rustix::io::ReadWriteFlags::NOWAIT;
    match rustix::io::preadv2(file, &mut [io::IoSliceMut::new(buf)], offset, flags) {
        Ok(n) => {
            BUDGET.set(Some(left - n as u64));
            Ok(n)
        }
        Err(rustix::io::Errno::INTR) => Err(io::ErrorKind::Interrupted.into()),
        // EAGAIN: not in the page cache; EOPNOTSUPP/ENOSYS: no RWF_NOWAIT here.
        Err(_) => Err(give_up()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cached_pages_and_gives_up_past_the_budget() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let p = dir.path().join("f");
        std::fs::write(&p, vec![b'x'; 10_000])?;
        let f = std::fs::File::open(&p)?;
        let mut buf = vec![0; 4096];
        // Just written: in the page cache.
        let n = attempt(8192, || read_at(&f, &mut buf, 0)).transpose()?;
        assert_eq!(n, Some(4096));
        // Two reads of 4 KiB fit a 6 KiB budget only once.
        let r = attempt(6144, || {
            read_at(&f, &mut buf, 0)?;
            read_at(&f, &mut buf, 4096)
        });
        assert!(r.is_none(), "the second read is over the budget");
        // Outside an attempt nothing is limited, and the state was restored.
        assert!(!active());
        assert_eq!(read_at(&f, &mut buf, 8192)?, 10_000 - 8192);
        Ok(())
    }

    fn text_of(r: &rune_server::proto::model::CallToolResult) -> String {
        match r.content.first() {
            Some(rune_server::proto::model::Content::Text(t)) => t.text.clone(),
            other => panic!("not text: {other:?}"),
        }
    }

    #[test]
    fn file_read_runs_inline_only_when_nothing_can_block() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let line = "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n";
        std::fs::write(dir.path().join("a.txt"), line.repeat(70))?;
        std::fs::write(dir.path().join("big.txt"), line.repeat(20_000))?;
        std::os::unix::fs::symlink("a.txt", dir.path().join("link.txt"))?;
        let roots = crate::Roots::new([dir.path()])?;
        let args = |v: serde_json::Value| -> crate::read::FileReadArgs {
            serde_json::from_value(v).expect("valid arguments")
        };
        let read = |a: &crate::read::FileReadArgs| {
            crate::read::file_read(&roots, a).map_err(|e| format!("{e:?}"))
        };

        // A small file just written (cached, no links): done inline, same answer as blocking.
        let a = args(serde_json::json!({"path": "a.txt"}));
        let inline = attempt(BUDGET_BYTES, || read(&a)).expect("ran inline")?;
        assert_eq!(text_of(&inline), line.repeat(70));
        assert_eq!(text_of(&read(&a)?), text_of(&inline));

        // A symbolic link needs the general resolution: given up inline, right when blocking.
        let l = args(serde_json::json!({"path": "link.txt"}));
        assert!(attempt(BUDGET_BYTES, || read(&l)).is_none());
        assert_eq!(text_of(&read(&l)?), line.repeat(70));

        // Line 15000 of a 1.1 MB file means counting lines through 850 KB: over the budget.
        let far =
            args(serde_json::json!({"path": "big.txt", "line_start": 15000, "line_end": 15000}));
        assert!(attempt(BUDGET_BYTES, || read(&far)).is_none());
        assert_eq!(text_of(&read(&far)?), line);

        // Errors found inline are real errors, reported inline.
        let missing = args(serde_json::json!({"path": "../outside.txt"}));
        let r = attempt(BUDGET_BYTES, || read(&missing)).expect("refused inline");
        assert!(r.is_err());
        Ok(())
    }
}
