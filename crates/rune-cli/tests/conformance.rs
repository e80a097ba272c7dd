//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, installed by
//! `scripts/install-test-peers.sh`), server mode, every scenario (`--suite all`), against the
//! fixture server (`examples/conformance_server`) over Streamable HTTP. Every check must be a
//! success: no failure, no warning, and no expected-failures baseline.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{bin, listen, peers};
use serde_json::Value;

/// Scenarios of the pinned suite (0.1.16, `--suite all`).
const SERVER_SCENARIOS: usize = 32;

fn checks_of(dir: &std::path::Path) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("results dir") {
        let path = entry.expect("entry").path();
        let checks = path.join("checks.json");
        if !checks.exists() {
            continue;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let v: Value = serde_json::from_slice(&std::fs::read(&checks).expect("read"))
            .expect("checks.json is JSON");
        for c in v.as_array().cloned().unwrap_or_default() {
            out.push((name.clone(), c));
        }
    }
    out
}

#[test]
fn conformance_suite_server_mode_all_scenarios_pass() {
    let p = peers();
    let server = listen(
        &bin("conformance_server"),
        &["--listen", "http://127.0.0.1:0/mcp"],
        &[],
    );
    let results = std::env::temp_dir().join(format!("rune-conformance-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&results);
    let mut child = Command::new(&p.conformance)
        .args(["server", "--url", &server.url, "--suite", "all", "-o"])
        .arg(&results)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the conformance suite");
    // Bounded: the whole suite takes seconds; give it two minutes.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the conformance suite did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let checks = checks_of(&results);
    let bad: Vec<String> = checks
        .iter()
        .filter(|(_, c)| !matches!(c["status"].as_str(), Some("SUCCESS" | "INFO")))
        .map(|(n, c)| format!("{n}: {} {} {}", c["id"], c["status"], c["errorMessage"]))
        .collect();
    assert!(
        status.success() && bad.is_empty(),
        "conformance failures:\n{}\n\nsuite output:\n{stdout}\n{}",
        bad.join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Total:") && stdout.contains(" 0 failed"),
        "{stdout}"
    );
    // Every scenario ran and reported (a directory per scenario).
    let dirs: Vec<String> = std::fs::read_dir(&results)
        .expect("results")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(dirs.len(), SERVER_SCENARIOS, "scenarios run: {dirs:?}");
    let _ = std::fs::remove_dir_all(&results);
}
