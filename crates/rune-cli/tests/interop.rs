//! Interop with official MCP peers that we did not write: the Python SDK client (both eras),
//! the TypeScript SDK client (every handshake revision) and the MCP Inspector CLI, each
//! talking over stdio to `rune mcp-server` and to the conformance fixture server.
//!
//! The peers are installed by `scripts/install-test-peers.sh` into a cache outside the
//! repository; these tests run it (a no-op once installed). The server binaries must be built
//! first (`cargo build --workspace --bins`, as `scripts/test.sh` does).

mod common;

use std::process::Command;

use common::{bin, peers, repo_root};
use serde_json::{Value, json};

fn run(cmd: &mut Command) -> Value {
    // Servers started by the peers write their audit log here, not in the user's home.
    let state = std::env::temp_dir().join(format!("rune-interop-state-{}", std::process::id()));
    let out = cmd
        .env("XDG_STATE_HOME", &state)
        .output()
        .expect("start the peer");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "the peer printed no JSON ({e}); exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        out.status.success(),
        "the peer failed (exit {:?}): {v}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    v
}

fn python(mode: &str, scenario: &str, server: &[&str]) -> Value {
    let p = peers();
    run(Command::new(&p.py)
        .arg(repo_root().join("tests/peers/py_client.py"))
        .args(["--mode", mode, "--scenario", scenario, "--"])
        .args(server))
}

fn typescript(version: &str, scenario: &str, server: &[&str]) -> Value {
    let p = peers();
    run(Command::new(&p.node)
        .env("RUNE_PEERS_NODE_MODULES", &p.node_modules)
        .arg(repo_root().join("tests/peers/ts_client.mjs"))
        .args(["--version", version, "--scenario", scenario, "--"])
        .args(server))
}

fn inspector(args: &[&str], server: &[&str]) -> Value {
    run(Command::new(&peers().inspector)
        .args(["--format", "json"])
        .args(args)
        .arg("--")
        .args(server))
}

fn texts(report: &Value, tool: &str) -> Vec<String> {
    serde_json::from_value(report["tool_calls"][tool]["texts"].clone())
        .unwrap_or_else(|_| panic!("no texts for {tool} in {}", report["tool_calls"][tool]))
}

/// What every client must have seen from the fixture server, whatever its revision.
fn check_fixture(r: &Value, elicitation: bool) {
    assert_eq!(r["server_name"], "rune-conformance-server");
    assert_eq!(
        texts(r, "test_simple_text"),
        ["This is a simple text response for testing."]
    );
    let image = &r["tool_calls"]["test_image_content"]["result"]["content"][0];
    assert_eq!(
        (image["type"].as_str(), image["mimeType"].as_str()),
        (Some("image"), Some("image/png"))
    );
    let res = &r["tool_calls"]["test_embedded_resource"]["result"]["content"][0];
    assert_eq!(res["resource"]["uri"], "test://embedded-resource");
    assert_eq!(r["tool_calls"]["test_error_handling"]["is_error"], true);
    assert_eq!(
        texts(r, "test_error_handling"),
        ["This tool intentionally returns an error for testing"]
    );
    let logs: Vec<&str> = r["tool_calls"]["test_tool_with_logging"]["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .filter_map(|l| l["data"].as_str())
        .collect();
    assert_eq!(
        logs,
        [
            "Tool execution started",
            "Tool processing data",
            "Tool execution completed"
        ]
    );
    assert_eq!(texts(r, "test_sampling"), ["LLM response: sampled answer"]);
    if elicitation {
        let t = texts(r, "test_elicitation");
        assert!(
            t[0].contains("accept") && t[0].contains("ada@example.com"),
            "{t:?}"
        );
    } else {
        assert_eq!(
            r["tool_calls"]["test_elicitation"]["is_error"], true,
            "no elicitation before 2025-06-18"
        );
    }
    let reads = &r["resource_reads"];
    assert_eq!(
        reads["test://static-text"]["result"]["contents"][0]["text"],
        "This is the content of the static text resource."
    );
    let blob = reads["test://static-binary"]["result"]["contents"][0]["blob"]
        .as_str()
        .expect("blob");
    assert!(blob.starts_with("iVBOR"), "a PNG");
    let data = reads["test://template/42/data"]["result"]["contents"][0]["text"]
        .as_str()
        .expect("text");
    let data: Value = serde_json::from_str(data).expect("json");
    assert_eq!(
        data,
        json!({"id": "42", "templateTest": true, "data": "Data for ID: 42"})
    );
    let prompt =
        &r["prompt_gets"]["test_prompt_with_arguments"]["result"]["messages"][0]["content"]["text"];
    assert_eq!(prompt, "Prompt with arguments: arg1='a', arg2='b'");
    assert_eq!(
        r["prompt_gets"]["test_simple_prompt"]["result"]["messages"][0]["content"]["text"],
        "This is a simple prompt for testing."
    );
    assert_eq!(
        r["steps"]["completion/complete"]["values"],
        json!(["alpha", "apple"])
    );
}

/// The `files` scenario against `rune mcp-server` rooted at the repository.
fn check_files(r: &Value) {
    assert_eq!(texts(r, "file_read"), ["# Rune\n"], "{r}");
    let entries = &r["tool_calls"]["list_directory"]["result"]["structuredContent"];
    assert!(entries.to_string().contains("Cargo.toml"), "{entries}");
    assert_eq!(
        r["tool_calls"]["file_info"]["is_error"], true,
        "outside the root: {r}"
    );
    assert!(texts(r, "file_info")[0].contains("outside the allowed roots"));
}

#[test]
fn python_client_every_mode_against_the_fixture_server() {
    let server = bin("conformance_server");
    let server = server.to_str().expect("utf-8 path");
    for (mode, version) in [
        ("legacy", "2025-11-25"),
        ("2026-07-28", "2026-07-28"),
        ("auto", "2026-07-28"),
    ] {
        let r = python(mode, "fixture", &[server]);
        assert_eq!(r["protocol_version"], version, "mode {mode}");
        check_fixture(&r, true);
        let progress: Vec<f64> = r["tool_calls"]["test_tool_with_progress"]["progress"]
            .as_array()
            .expect("progress")
            .iter()
            .filter_map(|p| p["progress"].as_f64())
            .collect();
        assert_eq!(progress, [0.0, 50.0, 100.0], "mode {mode}");
        if version == "2026-07-28" {
            // The elicitation went through an input_required round trip.
            let result = &r["tool_calls"]["test_simple_text"]["result"];
            assert_eq!(result["resultType"], "complete");
            assert_eq!(
                result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
                "rune-conformance-server"
            );
        }
    }
    check_listen(&python("2026-07-28", "listen", &[server]));
}

/// The SDK's `subscriptions/listen` saw both changes `test_trigger_changes` makes, as its
/// typed events, on the stream the server acknowledged.
fn check_listen(r: &Value) {
    let step = &r["steps"]["subscriptions/listen"];
    assert_eq!(
        step["honored"],
        json!({"toolsListChanged": true, "resourceSubscriptions": ["test://static-text"]}),
        "{r}"
    );
    assert_eq!(
        step["events"],
        json!(["ResourceUpdated:test://static-text", "ToolsListChanged"]),
        "{r}"
    );
}

#[test]
fn typescript_client_every_handshake_revision_against_the_fixture_server() {
    let server = bin("conformance_server");
    let server = server.to_str().expect("utf-8 path");
    for version in ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"] {
        let r = typescript(version, "fixture", &[server]);
        assert_eq!(r["protocol_version"], version);
        check_fixture(&r, version >= "2025-06-18");
        // SDK 1.32 drops a progress notification that arrives with the response; the wire
        // record shows what Rune sent.
        let wire: Vec<f64> = r["tool_calls"]["test_tool_with_progress"]["progress_wire"]
            .as_array()
            .expect("progress_wire")
            .iter()
            .filter_map(|p| p["progress"].as_f64())
            .collect();
        assert_eq!(wire, [0.0, 50.0, 100.0], "revision {version}");
    }
}

/// A writing tool asks for consent: a real elicitation request (handshake era) or an
/// `input_required` round trip (2026-07-28); the Python client's callback accepts.
#[test]
fn python_client_consents_to_a_write_in_both_eras() {
    let rune = bin("rune");
    let rune = rune.to_str().expect("utf-8 path");
    for mode in ["legacy", "2026-07-28"] {
        let root = std::env::temp_dir().join(format!("rune-consent-{}-{mode}", std::process::id()));
        std::fs::create_dir_all(&root).expect("temp root");
        let root_s = root.to_str().expect("utf-8 path");
        let r = python(mode, "consent", &[rune, "mcp-server", "--root", root_s]);
        let write = &r["tool_calls"]["file_write"];
        assert_eq!(write["is_error"], false, "mode {mode}: {r}");
        let asked = write["elicitation_requests"].as_array().expect("asked");
        assert_eq!(asked.len(), 1, "mode {mode}: {r}");
        assert!(
            asked[0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("file_write") && m.contains("consent.txt")),
            "{r}"
        );
        assert_eq!(texts(&r, "file_read"), ["approved\n"], "mode {mode}");
        let _ = std::fs::remove_dir_all(&root);
    }
}

#[test]
fn python_and_typescript_clients_against_rune_mcp_server() {
    let rune = bin("rune");
    let rune = rune.to_str().expect("utf-8 path");
    let root = repo_root();
    let root = root.to_str().expect("utf-8 path");
    let server = [rune, "mcp-server", "--root", root];
    // (In its pinned 2026-07-28 mode the Python client skips discovery and lists prompts and
    // resources too, which this server rightly answers with -32601: it advertises neither.)
    for mode in ["legacy", "auto"] {
        let r = python(mode, "list", &server);
        assert_eq!(r["server_name"], "rune", "mode {mode}");
        let tools: Vec<&str> = r["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for t in [
            "file_read",
            "file_read_many",
            "list_directory",
            "directory_tree",
            "file_info",
        ] {
            assert!(
                tools.contains(&t),
                "mode {mode}: {t} missing from {tools:?}"
            );
        }
    }
    for mode in ["legacy", "2026-07-28"] {
        check_files(&python(mode, "files", &server));
    }
    check_files(&typescript("2025-06-18", "files", &server));
    let r = typescript("2025-06-18", "list", &server);
    assert_eq!(
        (r["server_name"].as_str(), r["protocol_version"].as_str()),
        (Some("rune"), Some("2025-06-18"))
    );
    assert!(r["server_capabilities"]["tools"].is_object());
}

#[test]
fn python_and_typescript_clients_call_the_echo_server() {
    let echo = bin("echo_server");
    let echo = echo.to_str().expect("utf-8 path");
    let r = python("auto", "echo", &[echo]);
    assert_eq!(texts(&r, "echo"), ["hello from python"]);
    let r = typescript("2025-11-25", "echo", &[echo]);
    assert_eq!(texts(&r, "echo"), ["hello from typescript"]);
}

#[test]
fn inspector_cli_lists_calls_reads_and_gets_in_both_eras() {
    let server = bin("conformance_server");
    let server = server.to_str().expect("utf-8 path");
    for era in ["legacy", "modern"] {
        let e = ["--protocol-era", era];
        let init = inspector(&[&e[..], &["--method", "initialize"]].concat(), &[server]);
        let expected = if era == "modern" {
            "2026-07-28"
        } else {
            "2025-11-25"
        };
        assert_eq!(
            init["result"]["protocolVersion"], expected,
            "era {era}: {init}"
        );
        let tools = inspector(&[&e[..], &["--method", "tools/list"]].concat(), &[server]);
        assert_eq!(
            tools["result"]["tools"].as_array().map(Vec::len),
            Some(16),
            "era {era}"
        );
        let call = inspector(
            &[
                &e[..],
                &["--method", "tools/call", "--tool-name", "test_simple_text"],
            ]
            .concat(),
            &[server],
        );
        assert_eq!(
            call["result"]["content"][0]["text"],
            "This is a simple text response for testing."
        );
        let read = inspector(
            &[
                &e[..],
                &[
                    "--method",
                    "resources/read",
                    "--uri",
                    "test://template/7/data",
                ],
            ]
            .concat(),
            &[server],
        );
        assert!(
            read["result"]["contents"][0]["text"]
                .as_str()
                .expect("text")
                .contains("Data for ID: 7")
        );
        let templates = inspector(
            &[&e[..], &["--method", "resources/templates/list"]].concat(),
            &[server],
        );
        assert_eq!(
            templates["result"]["resourceTemplates"][0]["uriTemplate"],
            "test://template/{id}/data"
        );
        let prompt = inspector(
            &[
                &e[..],
                &[
                    "--method",
                    "prompts/get",
                    "--prompt-name",
                    "test_prompt_with_arguments",
                    "--prompt-args",
                    "arg1=x",
                    "arg2=y",
                ],
            ]
            .concat(),
            &[server],
        );
        assert_eq!(
            prompt["result"]["messages"][0]["content"]["text"],
            "Prompt with arguments: arg1='x', arg2='y'"
        );
    }
    let rune = bin("rune");
    let tools = inspector(
        &["--method", "tools/list"],
        &[rune.to_str().expect("utf-8"), "mcp-server"],
    );
    assert!(tools["result"]["tools"].is_array());
}

/// The same official clients over Streamable HTTP: the fixture server (progress, logging,
/// elicitation, sampling on the POST's SSE stream; 2026 requests with their headers) and
/// `rune mcp-server --listen http://…`.
#[test]
fn python_and_typescript_clients_over_streamable_http() {
    let fixture = common::listen(
        &bin("conformance_server"),
        &["--listen", "http://127.0.0.1:0/mcp"],
        &[],
    );
    for (mode, version) in [
        ("legacy", "2025-11-25"),
        ("2026-07-28", "2026-07-28"),
        ("auto", "2026-07-28"),
    ] {
        let r = python(mode, "fixture", &[&fixture.url]);
        assert_eq!(r["protocol_version"], version, "mode {mode}: {r}");
        check_fixture(&r, true);
        // In 2026-07-28 the SDK sends `Mcp-Param-Region` (base64) and `Mcp-Param-Limit`,
        // which Rune checks against the arguments.
        assert_eq!(
            texts(&r, "test_param_headers"),
            ["region=zürich limit=3"],
            "mode {mode}: {}",
            r["tool_calls"]["test_param_headers"]
        );
    }
    for version in ["2025-11-25", "2025-06-18", "2025-03-26"] {
        let r = typescript(version, "fixture", &[&fixture.url]);
        assert_eq!(r["protocol_version"], version);
        check_fixture(&r, version >= "2025-06-18");
    }
    // subscriptions/listen over HTTP: acknowledgment and notifications on the listen POST's
    // own SSE stream (after the runs above: it adds a tool to the fixture).
    check_listen(&python("2026-07-28", "listen", &[&fixture.url]));
    // The legacy HTTP+SSE transport (2024-11-05), with the TypeScript SDK's SSE client.
    let sse = fixture.url.replace("/mcp", "/sse");
    let r = typescript("2024-11-05", "fixture", &[&sse]);
    assert_eq!(r["protocol_version"], "2024-11-05");
    check_fixture(&r, false);
    let root = repo_root();
    let state = std::env::temp_dir().join(format!("rune-interop-http-{}", std::process::id()));
    let rune = common::listen(
        &bin("rune"),
        &[
            "mcp-server",
            "--listen",
            "http://127.0.0.1:0/mcp",
            "--root",
            root.to_str().expect("utf-8 path"),
        ],
        &[("XDG_STATE_HOME", &state)],
    );
    for mode in ["legacy", "2026-07-28"] {
        check_files(&python(mode, "files", &[&rune.url]));
    }
    check_files(&typescript("2025-11-25", "files", &[&rune.url]));
    let _ = std::fs::remove_dir_all(&state);
}
