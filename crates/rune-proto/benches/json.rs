//! `rune_proto::json::write_str` against `serde_json` on the text tool results carry: a 4 KiB
//! file of 57-byte lines (a newline to escape every 57 bytes), 64 KiB of plain ASCII (the echo
//! benchmark's payload), and text with many quotes and backslashes (source code, JSON).
//!
//! ```sh
//! cargo bench -p rune-proto --bench json
//! ```

#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn cases() -> Vec<(&'static str, String)> {
    let lines = "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n".repeat(72);
    let code = format!(
        "{}\n",
        r#"let s = "a \"quoted\" path\\to\\file"; // comment"#
    )
    .repeat(100);
    vec![
        ("lines_4k", lines[..4096].to_owned()),
        ("ascii_64k", "x".repeat(64 * 1024)),
        ("code_4k", code[..4096].to_owned()),
    ]
}

fn escape(c: &mut Criterion) {
    let mut g = c.benchmark_group("json_string");
    for (name, text) in cases() {
        g.throughput(Throughput::Bytes(text.len() as u64));
        let mut out = Vec::with_capacity(256 * 1024);
        g.bench_function(format!("{name}/rune_proto"), |b| {
            b.iter(|| {
                out.clear();
                rune_proto::json::write_str(&mut out, black_box(&text));
                black_box(out.len())
            })
        });
        g.bench_function(format!("{name}/serde_json"), |b| {
            b.iter(|| {
                out.clear();
                serde_json::to_writer(&mut out, black_box(&text)).unwrap();
                black_box(out.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, escape);
criterion_main!(benches);
