//! `include/rune.h` is generated from this crate by cbindgen and committed, so that C users
//! need no Rust tooling. This test regenerates it in memory and fails when the committed
//! file differs: a change to the ABI must come with its header.
//!
//! To rewrite the header after changing the ABI:
//!
//! ```sh
//! RUNE_BLESS=1 cargo test -p rune-ffi --test header
//! ```

use std::path::{Path, PathBuf};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn header_path() -> PathBuf {
    crate_dir().join("../../include/rune.h")
}

fn generate() -> String {
    let dir = crate_dir();
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml"))
        .unwrap_or_else(|e| panic!("cbindgen.toml: {e}"));
    let bindings = cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
        .unwrap_or_else(|e| panic!("cbindgen could not read the crate: {e}"));
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).unwrap_or_else(|e| panic!("cbindgen wrote non-UTF-8: {e}"))
}

#[test]
fn header_is_up_to_date() {
    let generated = generate();
    let path = header_path();
    if std::env::var_os("RUNE_BLESS").is_some() {
        std::fs::write(&path, &generated)
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let first_difference = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "one is a prefix of the other".to_owned(),
                |i| format!("first difference at line {}", i + 1),
            );
        panic!(
            "{} is out of date ({first_difference}); regenerate it with\n  \
             RUNE_BLESS=1 cargo test -p rune-ffi --test header",
            rel(&path)
        );
    }
}

#[test]
fn header_declares_every_exported_function() {
    // Guards against an export cbindgen silently skipped (a typo in `#[unsafe(no_mangle)]`
    // placement, a function left out of the crate root): every `pub unsafe extern "C" fn` or
    // `pub extern "C" fn` in the sources must appear in the generated header.
    let generated = generate();
    let src = crate_dir().join("src");
    let mut missing = Vec::new();
    let mut count = 0;
    for entry in std::fs::read_dir(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display())) {
        let path = entry.map(|e| e.path()).unwrap_or_default();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for line in text.lines() {
            let line = line.trim_start();
            let Some(rest) = line
                .strip_prefix("pub unsafe extern \"C\" fn ")
                .or_else(|| line.strip_prefix("pub extern \"C\" fn "))
            else {
                continue;
            };
            let name: String = rest
                .chars()
                .take_while(|c| *c == '_' || c.is_ascii_alphanumeric())
                .collect();
            count += 1;
            if !generated.contains(&format!(" {name}("))
                && !generated.contains(&format!("*{name}("))
            {
                missing.push(name);
            }
        }
    }
    assert!(
        count >= 20,
        "found only {count} exported functions: is the scan broken?"
    );
    assert!(missing.is_empty(), "not in the header: {missing:?}");
}

fn rel(p: &Path) -> String {
    p.display().to_string()
}
