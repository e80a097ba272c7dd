//! The rules real MCP clients impose on tools, checked over every built-in tool: Claude Code,
//! Gemini CLI, Codex, VS Code, Cursor and Zed each reject or degrade tools that break them.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{Client, Sandbox};
use serde_json::{Value, json};

/// Claude Code warns above 10k tokens of tool output (about 4 bytes a token).
const OUTPUT_BUDGET_BYTES: usize = 40 * 1024;

async fn every_tool(s: &Sandbox) -> Client {
    let roots = Arc::new(s.roots());
    let mut tools = rune_tools::read_tools(roots.clone());
    tools.extend(rune_tools::search_tools(roots.clone()));
    tools.extend(rune_tools::write_tools(
        roots.clone(),
        rune_tools::WriteOptions::default(),
    ));
    // shell_exec (crate rune-shell), with its default options.
    tools.push(rune_shell::shell_exec_tool(
        roots,
        rune_shell::ShellOptions::default(),
    ));
    // web_fetch (crate rune-fetch), allowed to reach the tests' loopback server.
    let fetch = rune_fetch::FetchOptions {
        allow_loopback: true,
        cache: rune_fetch::CacheOptions {
            dir: None,
            ..rune_fetch::CacheOptions::default()
        },
        ..rune_fetch::FetchOptions::default()
    };
    tools.push(rune_fetch::web_fetch_tool(fetch).unwrap());
    Client::start(tools).await
}

/// A web server on 127.0.0.1 for web_fetch: `/marker` is a small HTML page with a marker,
/// `/big` about 2 MB of text; the connection closes after each answer.
async fn local_web() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let (ctype, body) = if head.starts_with("GET /big ") {
                    let big: String = (0..40_000)
                        .map(|i| format!("line {i:06} of a long page, with padding\n"))
                        .collect();
                    ("text/plain", big)
                } else {
                    (
                        "text/html",
                        "<html><body><h1>marker-7f3a</h1><p>on the page</p></body></html>".into(),
                    )
                };
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(reply.as_bytes()).await;
            });
        }
    });
    base
}

const ALL: [&str; 12] = [
    "file_read",
    "file_read_many",
    "list_directory",
    "directory_tree",
    "file_info",
    "text_search",
    "file_write",
    "file_edit",
    "create_directory",
    "move_path",
    "web_fetch",
    "shell_exec",
];

#[tokio::test]
async fn every_tool_is_served_with_all_four_hints() {
    let s = Sandbox::new();
    let c = every_tool(&s).await;
    let names: Vec<&str> = c
        .tools
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), ALL.len(), "{names:?}");
    for t in &c.tools {
        let name = t["name"].as_str().unwrap();
        let a = &t["annotations"];
        for hint in [
            "readOnlyHint",
            "destructiveHint",
            "idempotentHint",
            "openWorldHint",
        ] {
            assert!(a[hint].is_boolean(), "{name}: {hint} missing in {a}");
        }
        // Local files only: never the open world; web_fetch and shell_exec (a program may do
        // anything its sandbox lets it) are the ones that reach it.
        assert_eq!(
            a["openWorldHint"],
            ["web_fetch", "shell_exec"].contains(&name),
            "{name}"
        );
        let writes = [
            "file_write",
            "file_edit",
            "create_directory",
            "move_path",
            "shell_exec",
        ]
        .contains(&name);
        if name == "shell_exec" {
            // Destructive, so every client asks before running a command.
            assert_eq!(a["destructiveHint"], true);
        }
        // Codex runs read-only tools without asking: only the true readers may say so.
        assert_eq!(a["readOnlyHint"], !writes, "{name}");
        if !writes {
            assert_eq!(a["destructiveHint"], false, "{name}");
        }
    }
}

#[tokio::test]
async fn names_and_descriptions_suit_every_client() {
    let s = Sandbox::new();
    let c = every_tool(&s).await;
    for t in &c.tools {
        let name = t["name"].as_str().unwrap();
        assert!(
            (1..=64).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
            "{name} must match ^[a-zA-Z0-9_-]{{1,64}}$"
        );
        let d = t["description"].as_str().unwrap();
        // Short and precise: Claude Code finds deferred tools by searching names and
        // descriptions, and every client shows them to the model on each turn.
        assert!((40..=600).contains(&d.len()), "{name}: {} chars", d.len());
        assert!(!d.contains("\n\n"), "{name}: one paragraph");
    }
}

/// What Gemini CLI's schema sanitizer and strict validators reject (`plain`: input schemas,
/// where Gemini wants one type per field).
fn check_schema(tool: &str, v: &Value, path: &str, plain: bool) {
    match v {
        Value::Object(o) => {
            assert!(!o.contains_key("$schema"), "{tool}: $schema at {path}");
            assert!(
                !o.contains_key("$ref")
                    && !o.contains_key("$defs")
                    && !o.contains_key("definitions"),
                "{tool}: references at {path}"
            );
            if let Some(t) = o.get("type")
                && plain
            {
                assert!(
                    t.is_string(),
                    "{tool}: type {t} at {path} (plain types only)"
                );
            }
            for key in ["anyOf", "oneOf", "allOf"] {
                if let Some(Value::Array(alts)) = o.get(key) {
                    for alt in alts {
                        assert!(
                            alt.get("default").is_none(),
                            "{tool}: default inside {key} at {path}"
                        );
                    }
                }
            }
            if let Some(f) = o.get("format").and_then(Value::as_str) {
                assert!(
                    !f.starts_with("int")
                        && !f.starts_with("uint")
                        && f != "double"
                        && f != "float",
                    "{tool}: non-standard format {f} at {path}"
                );
            }
            for (k, x) in o {
                check_schema(tool, x, &format!("{path}/{k}"), plain);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                check_schema(tool, x, &format!("{path}/{i}"), plain);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn schemas_survive_gemini_and_strict_validators() {
    let s = Sandbox::new();
    let c = every_tool(&s).await;
    for t in &c.tools {
        let name = t["name"].as_str().unwrap();
        let input = &t["inputSchema"];
        assert_eq!(input["type"], "object", "{name}");
        check_schema(name, input, "#", true);
        let output = t
            .get("outputSchema")
            .unwrap_or_else(|| panic!("{name}: no outputSchema"));
        assert_eq!(output["type"], "object", "{name}");
        check_schema(name, output, "#", false);
    }
}

fn json_len(v: &Value) -> usize {
    v.to_string().len()
}

#[tokio::test]
async fn structured_content_carries_the_payload_itself() {
    let s = Sandbox::new();
    std::fs::write(s.root.join("notes.txt"), "marker-7f3a in the file\n").unwrap();
    let mut c = every_tool(&s).await;
    // Codex shows the model structuredContent, not the text: the payload must be there.
    let r = c.call("file_read", json!({"path": "notes.txt"})).await.ok();
    assert!(
        r.structured().to_string().contains("marker-7f3a"),
        "{}",
        r.0
    );
    let r = c
        .call("file_read_many", json!({"paths": ["notes.txt", "a.txt"]}))
        .await
        .ok();
    let st = r.structured().to_string();
    assert!(st.contains("marker-7f3a") && st.contains("alpha"), "{st}");
    let r = c.call("list_directory", json!({"path": "."})).await.ok();
    assert!(r.structured().to_string().contains("notes.txt"));
    let r = c.call("directory_tree", json!({"path": "."})).await.ok();
    assert!(r.structured().to_string().contains("b.txt"));
    let r = c
        .call("text_search", json!({"pattern": "marker-7f3a"}))
        .await
        .ok();
    let st = r.structured().to_string();
    assert!(
        st.contains("notes.txt") && st.contains("in the file"),
        "{st}"
    );
    let r = c.call("file_info", json!({"path": "notes.txt"})).await.ok();
    assert_eq!(r.structured()["size"], 24);
    let web = local_web().await;
    let r = c
        .call("web_fetch", json!({"url": format!("{web}/marker")}))
        .await
        .ok();
    let st = r.structured().to_string();
    assert!(
        st.contains("marker-7f3a") && st.contains("on the page"),
        "{st}"
    );
    let r = c
        .call("shell_exec", json!({"argv": ["cat", "notes.txt"]}))
        .await
        .ok();
    assert_eq!(r.structured()["stdout"], "marker-7f3a in the file\n");
    assert_eq!(r.structured()["exit_code"], 0);
}

#[tokio::test]
async fn big_results_stay_under_the_clients_limits_and_say_how_to_continue() {
    let s = Sandbox::new();
    // A 2 MB file of numbered lines, 3000 files, and a match on every line of the big file.
    let big: String = (0..40_000)
        .map(|i| format!("line {i:06} needle and some padding text\n"))
        .collect();
    std::fs::write(s.root.join("big.txt"), &big).unwrap();
    let many = s.root.join("many");
    std::fs::create_dir_all(&many).unwrap();
    for i in 0..3000 {
        std::fs::write(
            many.join(format!("file-with-a-longish-name-{i:05}.txt")),
            "x",
        )
        .unwrap();
    }
    let mut c = every_tool(&s).await;
    let web = local_web().await;
    let calls = [
        ("file_read", json!({"path": "big.txt"})),
        (
            "text_search",
            json!({"pattern": "needle", "path": "big.txt"}),
        ),
        ("list_directory", json!({"path": "many"})),
        ("directory_tree", json!({"path": "."})),
        ("web_fetch", json!({"url": format!("{web}/big")})),
        ("shell_exec", json!({"argv": ["cat", "big.txt"]})),
    ];
    for (tool, args) in calls {
        let r = c.call(tool, args).await.ok();
        let text = r.text();
        eprintln!(
            "{tool}: text {} B, structured {} B",
            text.len(),
            json_len(r.structured())
        );
        assert!(
            text.len() <= OUTPUT_BUDGET_BYTES,
            "{tool}: {} bytes of text, over the ~10k-token budget",
            text.len()
        );
        assert!(
            json_len(r.structured()) <= OUTPUT_BUDGET_BYTES + 8 * 1024,
            "{tool}: structuredContent of {} bytes",
            json_len(r.structured())
        );
        // Never silent: the result says it was cut and how to go on.
        let st = r.structured();
        let said = st["truncated"] == true
            || st.get("next_offset").is_some_and(|v| !v.is_null())
            || st.get("next_line").is_some_and(|v| !v.is_null());
        assert!(
            said,
            "{tool}: cut without saying so: {}",
            &st.to_string()[..300.min(st.to_string().len())]
        );
        let lower = text.to_lowercase();
        assert!(
            [
                "next_",
                "truncated",
                "capped",
                "more",
                "read on",
                "continue"
            ]
            .iter()
            .any(|w| lower.contains(w)),
            "{tool}: the text does not say how to continue"
        );
    }
}
