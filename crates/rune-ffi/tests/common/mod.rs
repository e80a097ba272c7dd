//! Finding what the tests link and run: the library this very `cargo test` built, the
//! header, the workspace's binaries, a scratch directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The crate's directory.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directory holding `rune.h`.
pub fn include_dir() -> PathBuf {
    crate_dir().join("../../include")
}

/// Where cargo put `librune.so` and `librune.a` for this test run. Integration tests run from
/// `target/<profile>/deps/`, where cargo writes the crate's cdylib and staticlib when it
/// builds the library for the tests (the copies in `target/<profile>/` are refreshed only by
/// `cargo build`, so they may be stale).
pub fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let deps = exe
        .parent()
        .expect("the test binary's directory")
        .to_path_buf();
    for candidate in [deps.clone(), deps.join("..")] {
        if candidate.join(shared_lib_name()).exists() {
            return candidate;
        }
    }
    panic!(
        "{} is not in {} or its parent: was the crate built with crate-type cdylib?",
        shared_lib_name(),
        deps.display()
    );
}

pub fn shared_lib_name() -> &'static str {
    if cfg!(target_os = "macos") {
        "librune.dylib"
    } else {
        "librune.so"
    }
}

/// A binary of this workspace (`rune`, `echo_server`), built by `cargo build --workspace
/// --bins` in the same profile as this test.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("the target profile directory");
    let path = profile.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` first (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A directory for what the tests compile, inside cargo's target directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("rune-ffi")
        .join(name);
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir
}

/// Runs a command to the end, at most `seconds` (through coreutils' `timeout`, which kills
/// it then), and returns what it printed.
pub fn run(cmd: &mut Command, seconds: u32) -> Output {
    let program = cmd.get_program().to_owned();
    let mut wrapped = Command::new("timeout");
    wrapped
        .arg("--kill-after=5")
        .arg(seconds.to_string())
        .arg(&program);
    wrapped.args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program:?}: {e}"))
}

/// Panics with everything the command printed unless it succeeded.
pub fn assert_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        tail(&String::from_utf8_lossy(&out.stderr), 200),
    );
}

/// The last `lines` lines of a text.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
