//! In-process benchmarks of the file tools: `file_read` (a line+column selection on a 10 MB
//! file, a whole 4 KiB file) and `file_write` (a 4 KiB file), each called through the same
//! function the tool's handler runs on the blocking pool (path resolution, open, read or
//! atomic write, result building included; no MCP framing).
//!
//! ```sh
//! cargo bench -p rune-tools --bench file_tools
//! ```
//!
//! The files live in a temporary directory (under `TMPDIR`); the `tmpfs` cases use
//! `/dev/shm` when it exists. `file_write` syncs the file and its directory, so its cost is
//! mostly the file system's.

#![allow(clippy::unwrap_used, missing_docs)]

use std::fs::{File, FileTimes};
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, SystemTime};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rune_tools::read::{FileReadArgs, file_read};
use rune_tools::write::{FileWriteArgs, file_write};
use rune_tools::{Roots, WriteOptions};
use serde_json::json;

/// A ~10 MB text file like the one of the selection test: varying line lengths, multi-byte
/// characters, an occasional 3000-byte line. Returns its line count.
fn big_file(path: &Path) -> usize {
    let mut body = String::with_capacity(10_500_000);
    let mut i = 0u64;
    while body.len() < 10_000_000 {
        i += 1;
        let extra = "ßπ€".repeat((i % 17) as usize);
        let long = if i.is_multiple_of(5000) {
            "x".repeat(3000)
        } else {
            String::new()
        };
        body.push_str(&format!("{i:08} {extra} δ{long} end\n"));
    }
    std::fs::write(path, &body).unwrap();
    i as usize
}

fn small_text() -> String {
    let line = "The quick brown fox jumps over the lazy dog; 0123456789.\n";
    line.repeat(4096 / line.len() + 1)[..4096].to_owned()
}

fn read_args(v: serde_json::Value) -> FileReadArgs {
    serde_json::from_value(v).unwrap()
}

fn selection(path: &str, sl: usize, sc: usize, el: usize, ec: usize) -> FileReadArgs {
    read_args(json!({"path": path, "selection": {
        "start_line": sl, "start_column": sc, "end_line": el, "end_column": ec
    }}))
}

fn ok(r: Result<rune_server::proto::model::CallToolResult, rune_server::HandlerError>) {
    let r = r.unwrap();
    assert_ne!(r.is_error, Some(true));
    black_box(r);
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let lines = big_file(&root.join("big.txt"));
    big_file(&root.join("fresh.txt"));
    std::fs::write(root.join("small.txt"), small_text()).unwrap();
    // A file changed in the last two seconds is never taken from the line-index cache (its
    // timestamps could not tell a later change); let the files age past that.
    std::thread::sleep(Duration::from_millis(2100));
    let roots = Roots::new([root]).unwrap();

    let mut g = c.benchmark_group("selection_10mb");
    for (name, sl, el) in [
        ("start", 1, 3),
        ("middle", lines / 2, lines / 2 + 2),
        ("end", lines - 3, lines),
    ] {
        let args = selection("big.txt", sl, 3, el, 12);
        g.bench_function(name, |b| b.iter(|| ok(file_read(&roots, &args))));
    }
    // The same selection at the end of a file whose timestamps change before every call:
    // nothing is cached, the whole file is scanned for newlines each time.
    let fresh = root.join("fresh.txt");
    let args = selection("fresh.txt", lines - 3, 3, lines, 12);
    g.bench_function("end_uncached", |b| {
        b.iter_batched(
            || {
                let f = File::options().write(true).open(&fresh).unwrap();
                f.set_times(FileTimes::new().set_modified(SystemTime::now()))
                    .unwrap();
            },
            |()| ok(file_read(&roots, &args)),
            BatchSize::PerIteration,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("small_4k");
    let args = read_args(json!({"path": "small.txt"}));
    g.bench_function("file_read", |b| b.iter(|| ok(file_read(&roots, &args))));
    // The same, plus encoding the result as the server's reply does (the text is in the
    // reply twice: a text block and `structuredContent.text`).
    g.bench_function("file_read_and_encode", |b| {
        b.iter(|| {
            let r = file_read(&roots, &args).unwrap();
            black_box(serde_json::to_vec(&r).unwrap());
        })
    });
    let content = small_text();
    for (name, base) in [
        ("file_write", Some(root.to_path_buf())),
        (
            "file_write_tmpfs",
            Some(Path::new("/dev/shm").to_path_buf()),
        ),
    ] {
        let Some(base) = base.filter(|b| b.is_dir()) else {
            continue;
        };
        let wdir = tempfile::tempdir_in(base).unwrap();
        let wroots = Roots::new([wdir.path()]).unwrap();
        let opts = WriteOptions::default();
        let args: FileWriteArgs =
            serde_json::from_value(json!({"path": "w.txt", "content": content})).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| ok(file_write(&wroots, &opts, &args)));
        });
        let no_backup = WriteOptions {
            backup_keep: 0,
            ..WriteOptions::default()
        };
        g.bench_function(format!("{name}_no_backup"), |b| {
            b.iter(|| ok(file_write(&wroots, &no_backup, &args)));
        });
    }
    g.finish();
}

criterion_group!(file_tools, benches);
criterion_main!(file_tools);
