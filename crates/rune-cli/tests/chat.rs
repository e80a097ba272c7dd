//! `rune chat -p` end to end: the real `rune` binary, a real MCP server
//! (`rune mcp-server --root TMP`), and a scripted model on loopback (OpenAI-compatible SSE
//! or Ollama NDJSON) whose first answer calls a tool and whose second answers in text.

mod common;

use std::path::Path;
use std::process::Output;

use rune_providers::mock::{MockServer, Reply};
use serde_json::Value;

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rune-chat-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

async fn rune(args: Vec<String>) -> Output {
    tokio::process::Command::new(common::bin("rune"))
        .args(args)
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("OLLAMA_HOST")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run rune")
}

fn mcp_server(root: &Path, extra: &str) -> String {
    format!(
        "{} mcp-server --root {} --no-audit{extra}",
        common::bin("rune").display(),
        root.display()
    )
}

fn openai_sse(events: &[&str]) -> Reply {
    let mut body = String::new();
    for e in events {
        body.push_str("data: ");
        body.push_str(e);
        body.push_str("\n\n");
    }
    body.push_str("data: [DONE]\n\n");
    Reply::sse(vec![body.into_bytes()])
}

/// The tool message of a recorded request, by position from the end.
fn tool_message(body: &Value) -> Value {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "tool"))
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_runs_a_read_only_tool_and_prints_the_answer() {
    let root = temp_dir("read");
    std::fs::write(root.join("notes.txt"), "the secret number is 42\n").expect("write");
    let server = MockServer::start(vec![
        openai_sse(&[
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"rune__file_read","arguments":""}}]},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"path\":\"notes.txt\"}"}}]},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        ]),
        openai_sse(&[
            r#"{"choices":[{"index":0,"delta":{"content":"The file says "},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"42.\u001b[2J"},"finish_reason":"stop"}]}"#,
        ]),
    ])
    .await
    .expect("model server");
    let out = rune(vec![
        "chat".into(),
        "--provider".into(),
        "openai".into(),
        "--base-url".into(),
        format!("{}/v1", server.url()),
        "--model".into(),
        "scripted".into(),
        "--mcp".into(),
        mcp_server(&root, ""),
        "-p".into(),
        "What does notes.txt say?".into(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(stdout, "The file says 42.\n", "escape sequence stripped");
    assert!(
        stderr.contains("[tool] rune__file_read {\"path\":\"notes.txt\"}"),
        "{stderr}"
    );

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let first = reqs[0].json();
    let tools: Vec<&str> = first["tools"]
        .as_array()
        .expect("tools offered")
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert!(tools.contains(&"rune__file_read"), "{tools:?}");
    assert_eq!(first["messages"][0]["content"], "What does notes.txt say?");
    // The tool really ran: its output went back to the model.
    let second = reqs[1].json();
    let tool = tool_message(&second);
    assert_eq!(tool["tool_call_id"], "call_1");
    assert!(
        tool["content"]
            .as_str()
            .is_some_and(|c| c.contains("the secret number is 42")),
        "{tool}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

fn ollama_write_call() -> Reply {
    Reply::ndjson(vec![
        br#"{"model":"m","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"rune__file_write","arguments":{"path":"out.txt","content":"written"}}}]},"done":false}
{"model":"m","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop"}
"#
        .to_vec(),
    ])
}

fn ollama_text(t: &str) -> Reply {
    Reply::ndjson(vec![
        format!(
            "{{\"model\":\"m\",\"message\":{{\"role\":\"assistant\",\"content\":\"{t}\"}},\"done\":true,\"done_reason\":\"stop\"}}\n"
        )
        .into_bytes(),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writing_tools_need_consent() {
    for yes in [false, true] {
        let root = temp_dir(if yes { "yes" } else { "no" });
        let server = MockServer::start(vec![ollama_write_call(), ollama_text("Done.")])
            .await
            .expect("model server");
        let mut args = vec![
            "chat".into(),
            "--provider".into(),
            "ollama".into(),
            "--base-url".into(),
            server.url().to_owned(),
            "--model".into(),
            "m".into(),
            "--mcp".into(),
            mcp_server(&root, " --allow-write"),
            "-p".into(),
            "Write out.txt".into(),
        ];
        if yes {
            args.push("--yes".into());
        }
        let out = rune(args).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "Done.\n");
        let tool = tool_message(&server.requests()[1].json());
        if yes {
            assert_eq!(
                std::fs::read_to_string(root.join("out.txt"))
                    .ok()
                    .as_deref(),
                Some("written")
            );
            assert_eq!(tool["role"], "tool");
            assert!(
                !tool["content"].as_str().unwrap_or("").contains("denied"),
                "{tool}"
            );
        } else {
            assert!(!root.join("out.txt").exists(), "refused without --yes");
            assert!(stderr.contains("denied"), "{stderr}");
            assert_eq!(tool["content"], "Error: The user denied this tool call.");
        }
        let _ = std::fs::remove_dir_all(&root);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_lists_and_provider_errors_exit_1() {
    let server = MockServer::start(vec![
        Reply::json(
            200,
            r#"{"models":[{"name":"llama3.2:latest","model":"llama3.2:latest","details":{"family":"llama"}},{"name":"qwen3:8b","model":"qwen3:8b"}]}"#,
        ),
        Reply::json(404, r#"{"error":"model \"nope\" not found, try pulling it first"}"#),
    ])
    .await
    .expect("model server");
    let out = rune(vec![
        "models".into(),
        "--provider".into(),
        "ollama".into(),
        "--base-url".into(),
        server.url().to_owned(),
    ])
    .await;
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "llama3.2:latest\nqwen3:8b\n"
    );
    let out = rune(vec![
        "chat".into(),
        "--provider".into(),
        "ollama".into(),
        "--base-url".into(),
        server.url().to_owned(),
        "--model".into(),
        "nope".into(),
        "-p".into(),
        "hi".into(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not found (HTTP 404)"), "{stderr}");
}

/// A server's `sampling/createMessage`, sent while its tool runs, is answered by the chat's
/// own provider and model (with `--allow-sampling`) and refused without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampling_requests_are_answered_by_the_chat_model() {
    let call = || {
        Reply::ndjson(vec![
            br#"{"model":"m","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"conformance-server__test_sampling","arguments":{"prompt":"What is 2+2?"}}}]},"done":true,"done_reason":"stop"}
"#
            .to_vec(),
        ])
    };
    for allow in [true, false] {
        let mut script = vec![call()];
        if allow {
            // The sampling request: a whole (non-streamed) answer.
            script.push(Reply::json(
                200,
                r#"{"model":"m","message":{"role":"assistant","content":"Four."},"done":true,"done_reason":"stop"}"#,
            ));
        }
        script.push(ollama_text("Done."));
        let server = MockServer::start(script).await.expect("model server");
        let mut args = vec![
            "chat".into(),
            "--provider".into(),
            "ollama".into(),
            "--base-url".into(),
            server.url().to_owned(),
            "--model".into(),
            "m".into(),
            "--mcp".into(),
            common::bin("conformance_server").display().to_string(),
            "--yes".into(),
            "-p".into(),
            "Use the sampling tool".into(),
        ];
        if allow {
            args.push("--allow-sampling".into());
        }
        let out = rune(args).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let reqs = server.requests();
        let last = reqs.last().expect("requests").json();
        let tool = tool_message(&last);
        if allow {
            assert_eq!(reqs.len(), 3);
            let sampling = reqs[1].json();
            assert_eq!(sampling["stream"], false);
            assert_eq!(sampling["messages"][0]["content"], "What is 2+2?");
            assert_eq!(sampling["options"]["num_predict"], 100);
            assert_eq!(tool["content"], "LLM response: Four.");
        } else {
            assert_eq!(reqs.len(), 2, "no sampling request reached the model");
            let content = tool["content"].as_str().unwrap_or("");
            assert!(content.contains("rejected"), "{tool}");
        }
    }
}

/// Without `-p`, prompts are read from stdin one per line and the conversation is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_mode_keeps_the_conversation() {
    use tokio::io::AsyncWriteExt;
    let server = MockServer::start(vec![ollama_text("First answer."), ollama_text("Second.")])
        .await
        .expect("model server");
    let mut child = tokio::process::Command::new(common::bin("rune"))
        .args(["chat", "--provider", "ollama", "--model", "m", "--base-url"])
        .arg(server.url())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run rune");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"first question\n\n  second question  \n/exit\nnever sent\n")
        .await
        .expect("write");
    drop(stdin);
    let out = child.wait_with_output().await.expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "First answer.\nSecond.\n"
    );
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "/exit ends the session");
    assert_eq!(
        reqs[1].json()["messages"],
        serde_json::json!([
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "First answer."},
            {"role": "user", "content": "second question"}
        ])
    );
}

/// A failed answer in interactive mode is reported, and the conversation goes on without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_mode_survives_a_failed_answer() {
    use tokio::io::AsyncWriteExt;
    let server = MockServer::start(vec![
        Reply::json(400, r#"{"error":"invalid options"}"#),
        ollama_text("Fine."),
    ])
    .await
    .expect("model server");
    let mut child = tokio::process::Command::new(common::bin("rune"))
        .args(["chat", "--provider", "ollama", "--model", "m", "--base-url"])
        .arg(server.url())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run rune");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"bad\ngood\n").await.expect("write");
    drop(stdin);
    let out = child.wait_with_output().await.expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("invalid request (HTTP 400): invalid options"),
        "{stderr}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Fine.\n");
    assert_eq!(
        server.requests()[1].json()["messages"],
        serde_json::json!([{"role": "user", "content": "good"}])
    );
}

/// `--mcp-config`: the servers of an mcpServers file, tools named after their entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_config_servers_are_offered_by_entry_name() {
    let root = temp_dir("config");
    std::fs::write(root.join("a.txt"), "alpha").expect("write");
    let config = root.join("mcp.json");
    let servers = serde_json::json!({"mcpServers": {"files": {
        "command": common::bin("rune").display().to_string(),
        "args": ["mcp-server", "--root", root.display().to_string(), "--no-audit"]
    }}});
    std::fs::write(&config, servers.to_string()).expect("config");
    let server = MockServer::start(vec![
        Reply::ndjson(vec![
            br#"{"model":"m","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"files__file_read","arguments":{"path":"a.txt"}}}]},"done":true,"done_reason":"stop"}
"#
            .to_vec(),
        ]),
        ollama_text("It says alpha."),
    ])
    .await
    .expect("model server");
    let out = rune(vec![
        "chat".into(),
        "--provider".into(),
        "ollama".into(),
        "--base-url".into(),
        server.url().to_owned(),
        "--model".into(),
        "m".into(),
        "--mcp-config".into(),
        config.display().to_string(),
        "-p".into(),
        "Read a.txt".into(),
    ])
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "It says alpha.\n");
    let tool = tool_message(&server.requests()[1].json());
    assert!(
        tool["content"]
            .as_str()
            .is_some_and(|c| c.contains("alpha")),
        "{tool}"
    );
    let _ = std::fs::remove_dir_all(&root);
}
