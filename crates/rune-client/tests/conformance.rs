//! The official MCP conformance suite (`@modelcontextprotocol/conformance`) in client mode,
//! run against `examples/conformance_client` for the client scenarios Rune passes:
//! `initialize`, `tools_call`, `elicitation-sep1034-client-defaults` and `sse-retry`.
//!
//! The suite is installed by `scripts/install-test-peers.sh`; when that script cannot run,
//! these tests say so and pass without running. The client binary must be built first
//! (`cargo build --workspace --bins`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{bin, peers};
use serde_json::Value;

/// One scenario at a time: `sse-retry` measures the client's timing.
static SERIAL: Mutex<()> = Mutex::new(());

fn checks_in(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let file = entry.path().join("checks.json");
        if let Ok(text) = std::fs::read_to_string(&file) {
            let v: Value = serde_json::from_str(&text).expect("checks.json is JSON");
            out.extend(v.as_array().cloned().unwrap_or_default());
        }
    }
    out
}

fn run(scenario: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let peers = match peers() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("SKIPPED conformance scenario {scenario}: the suite is not available: {why}");
            return;
        }
    };
    let client = bin("conformance_client");
    let client_text = client.to_string_lossy().into_owned();
    assert!(
        !client_text.contains(' '),
        "the suite splits --command on spaces; the path {client_text} has one"
    );
    let results: PathBuf = std::env::temp_dir().join(format!(
        "rune-client-conformance-{}-{scenario}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&results);
    let mut child = Command::new(&peers.conformance)
        .args([
            "client",
            "--command",
            &client_text,
            "--scenario",
            scenario,
            "-o",
        ])
        .arg(&results)
        .env("RUNE_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the conformance suite");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the suite") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the conformance suite did not finish {scenario} within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("the suite's output");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let checks = checks_in(&results);
    let bad: Vec<_> = checks
        .iter()
        .filter(|c| matches!(c["status"].as_str(), Some("FAILURE" | "WARNING")))
        .collect();
    assert!(
        status.success() && bad.is_empty() && checks.iter().any(|c| c["status"] == "SUCCESS"),
        "conformance scenario {scenario}: exit {status}, failing checks {bad:#?}\n{log}"
    );
    let _ = std::fs::remove_dir_all(&results);
}

#[test]
fn initialize() {
    run("initialize");
}

#[test]
fn tools_call() {
    run("tools_call");
}

#[test]
fn elicitation_sep1034_client_defaults() {
    run("elicitation-sep1034-client-defaults");
}

#[test]
fn sse_retry() {
    run("sse-retry");
}
