//! `librune.so` from Python's `ctypes` (`tests/python/rune_ctypes.py`): a client to the
//! `rune mcp-server` binary over stdio reads a file through the `file_read` tool.
//!
//! Needs `python3`, and the `rune` binary built beforehand (`cargo build --workspace --bins`,
//! as scripts/test.sh does).

mod common;

use std::process::Command;

use common::*;

#[test]
fn python_ctypes_reads_a_file_through_rune_mcp_server() {
    let root = scratch("python-root");
    let text = format!("written by the ctypes test, pid {}", std::process::id());
    std::fs::write(root.join("hello.txt"), &text).expect("write the file to read");
    let out = run(
        Command::new("python3")
            .arg(crate_dir().join("tests/python/rune_ctypes.py"))
            .arg(lib_dir().join(shared_lib_name()))
            .arg(workspace_bin("rune"))
            .arg(&root)
            .arg("hello.txt")
            .arg(&text),
        120,
    );
    assert_success("tests/python/rune_ctypes.py", &out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("file_read through librune ok"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
