//! Escapes one of the texts of `benches/json.rs` 500 times with `rune_proto::json::write_str`
//! or with `serde_json`, for counting instructions under callgrind (repeatable, unlike time on
//! a shared machine). `none` does everything but the escaping (the baseline to subtract).
//!
//! ```sh
//! cargo build --release -p rune-proto --example json_escape
//! for case in lines code ascii; do for how in none rune serde; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/json_escape $case $how 2>&1 | grep Collected
//! done; done
//! ```

use std::hint::black_box;

fn main() {
    let mut args = std::env::args().skip(1);
    let (case, how) = match (args.next(), args.next()) {
        (Some(c), Some(h)) => (c, h),
        _ => {
            eprintln!("usage: json_escape lines|code|ascii none|rune|serde");
            std::process::exit(2);
        }
    };
    let text = match case.as_str() {
        "lines" => "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n".repeat(72)[..4096]
            .to_owned(),
        "code" => format!(
            "{}\n",
            r#"let s = "a \"quoted\" path\\to\\file"; // comment"#
        )
        .repeat(100)[..4096]
            .to_owned(),
        _ => "x".repeat(64 * 1024),
    };
    let mut out = Vec::with_capacity(1 << 20);
    for _ in 0..500 {
        out.clear();
        match how.as_str() {
            "rune" => rune_proto::json::write_str(&mut out, black_box(&text)),
            "serde" if serde_json::to_writer(&mut out, black_box(&text)).is_err() => {
                std::process::exit(1)
            }
            _ => {}
        }
        black_box(&out);
    }
}
