//! The C ABI used from C and C++, the way embedders use it: `tests/c/rune_test.c` compiled
//! with the system C compiler against `include/rune.h` and `librune.so`, run directly and
//! under valgrind; `tests/c/rune_test.cpp` compiled as C++17 and linked against `librune.a`.
//!
//! Needs a C and a C++ compiler (`cc`/`c++`, or `$CC`/`$CXX`), valgrind and coreutils'
//! `timeout`. What the C program checks is listed at the top of `tests/c/rune_test.c`.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use common::*;

/// `tests/c/rune_test.c`, compiled once per test run.
fn c_test_program() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let out = scratch("c").join("rune_test");
            let lib = lib_dir();
            let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
            let compiled = run(
                Command::new(&cc)
                    .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g"])
                    .arg("-I")
                    .arg(include_dir())
                    .arg(crate_dir().join("tests/c/rune_test.c"))
                    .arg("-L")
                    .arg(&lib)
                    .arg("-lrune")
                    .arg(format!("-Wl,-rpath,{}", lib.display()))
                    .arg("-lpthread")
                    .arg("-o")
                    .arg(&out),
                300,
            );
            assert_success(
                &format!("compiling tests/c/rune_test.c with {cc}"),
                &compiled,
            );
            out
        })
        .clone()
}

/// Runs the C test program (or valgrind on it) with the library of this test run.
///
/// The program's rpath names `lib_dir()`, but cargo runs tests with `LD_LIBRARY_PATH`
/// listing `target/<profile>` too, where an older `librune.so` from the last `cargo build`
/// may lie, and a DT_RUNPATH yields to `LD_LIBRARY_PATH`. So it is set to `lib_dir()` alone.
fn c_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("LD_LIBRARY_PATH", lib_dir());
    cmd
}

fn check_report(what: &str, stdout: &str) {
    let summary = stdout
        .lines()
        .find(|l| l.contains(" checks, "))
        .unwrap_or_else(|| panic!("{what} printed no summary:\n{stdout}"));
    assert!(summary.ends_with(" 0 failed"), "{what}: {summary}");
    let count: u32 = summary
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        count >= 150,
        "{what} ran only {count} checks: was part of it skipped?"
    );
}

/// A C server (this program in `serve` mode, started through `stdio:`) and a C client;
/// the same tools served in-process over TCP and HTTP; bad input everywhere.
#[test]
fn c_program_serves_and_calls_tools() {
    let out = run(&mut c_command(c_test_program()), 300);
    assert_success("tests/c/rune_test.c", &out);
    check_report("rune_test", &String::from_utf8_lossy(&out.stdout));
}

/// The same program under valgrind, children included (the stdio server is this program
/// too): no invalid access, no definite leak. `tests/c/valgrind.supp` lists the one glibc
/// allocation suppressed and why.
#[test]
fn c_program_is_clean_under_valgrind() {
    let supp = crate_dir().join("tests/c/valgrind.supp");
    let out = run(
        c_command("valgrind")
            .args([
                "--error-exitcode=1",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite",
                "--trace-children=yes",
                "--quiet",
            ])
            .arg(format!("--suppressions={}", supp.display()))
            .arg(c_test_program()),
        900,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_success("valgrind tests/c/rune_test.c", &out);
    check_report(
        "rune_test under valgrind",
        &String::from_utf8_lossy(&out.stdout),
    );
    // The exit status covers the main process; the traced child (the stdio server) reports
    // in the shared stderr only.
    for bad in [
        "definitely lost in loss record",
        "Invalid read",
        "Invalid write",
        "Invalid free",
        "uninitialised",
        "Mismatched free",
    ] {
        assert!(
            !stderr.contains(bad),
            "valgrind reported {bad:?}:\n{}",
            tail(&stderr, 300)
        );
    }
}

/// rune.h compiles as C++17 and `librune.a` links statically into a C++ program, whose
/// lambdas serve as callbacks.
#[test]
fn cpp_program_links_the_static_library() {
    let dir = scratch("cpp");
    let exe = dir.join("rune_test_cpp");
    let lib = lib_dir();
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".to_owned());
    let compiled = run(
        Command::new(&cxx)
            .args(["-std=c++17", "-Wall", "-Wextra", "-Werror", "-pedantic"])
            .arg("-I")
            .arg(include_dir())
            .arg(crate_dir().join("tests/c/rune_test.cpp"))
            .arg(lib.join("librune.a"))
            .args(["-lpthread", "-ldl", "-lm", "-Wl,--gc-sections", "-o"])
            .arg(&exe),
        600,
    );
    assert_success(
        &format!("compiling tests/c/rune_test.cpp with {cxx}"),
        &compiled,
    );
    let out = run(&mut Command::new(&exe), 120);
    // The statically linked debug binary is large: do not leave it behind.
    let _ = std::fs::remove_file(&exe);
    assert_success("tests/c/rune_test.cpp", &out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("4 concurrent calls through librune.a ok"),
        "{stdout}"
    );
}

/// `rune.pc.in`, filled in as docs/c-abi.md says, is a pkg-config file that names the
/// version, the header's directory and the library.
#[test]
fn pkg_config_file_describes_the_library() {
    let dir = scratch("pkgconfig");
    let template = std::fs::read_to_string(crate_dir().join("rune.pc.in")).expect("rune.pc.in");
    let version = env!("CARGO_PKG_VERSION");
    let pc = template
        .replace("@PREFIX@", "/opt/rune-test")
        .replace("@VERSION@", version);
    assert!(!pc.contains('@'), "a placeholder is left:\n{pc}");
    std::fs::write(dir.join("rune.pc"), pc).expect("write rune.pc");
    let query = |args: &[&str]| {
        let out = run(
            Command::new("pkg-config")
                .args(args)
                .arg("rune")
                .env("PKG_CONFIG_PATH", &dir)
                .env_remove("PKG_CONFIG_SYSROOT_DIR"),
            30,
        );
        assert_success(&format!("pkg-config {args:?} rune"), &out);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(query(&["--modversion"]), version);
    assert_eq!(query(&["--cflags"]), "-I/opt/rune-test/include");
    assert_eq!(query(&["--libs"]), "-L/opt/rune-test/lib -lrune");
    let static_libs = query(&["--libs", "--static"]);
    assert!(
        static_libs.contains("-lrune") && static_libs.contains("-lpthread"),
        "{static_libs}"
    );
}
