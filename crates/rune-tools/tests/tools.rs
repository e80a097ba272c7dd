//! Each tool driven through a real `rune_server::Server` over an in-memory pipe: the text
//! content, `structuredContent` (checked against the declared `outputSchema` by the client)
//! and `isError`.

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;

use base64::Engine as _;
use common::{Client, Sandbox};
use serde_json::{Value, json};

const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

#[tokio::test]
async fn tools_are_listed_with_schemas_and_annotations() {
    let s = Sandbox::new();
    let c = Client::on(&s.root).await;
    let names: Vec<&str> = c
        .tools
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 5);
    for n in [
        "file_read",
        "file_read_many",
        "list_directory",
        "directory_tree",
        "file_info",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    for t in &c.tools {
        let name = t["name"].as_str().unwrap();
        assert!(
            !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
            "{name}"
        );
        let a = &t["annotations"];
        assert_eq!(a["readOnlyHint"], true, "{name}");
        assert_eq!(a["destructiveHint"], false, "{name}");
        assert_eq!(a["idempotentHint"], true, "{name}");
        assert_eq!(a["openWorldHint"], false, "{name}");
        assert!(t["description"].as_str().unwrap().len() > 40, "{name}");
        let input = &t["inputSchema"];
        assert_eq!(input["type"], "object");
        assert_eq!(
            input["additionalProperties"], false,
            "{name} must refuse unknown arguments"
        );
        assert!(input.get("$schema").is_none());
        for (field, schema) in input["properties"].as_object().unwrap() {
            assert!(
                schema["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{name}.{field} undocumented"
            );
            assert_ne!(
                schema["type"],
                json!(["integer", "null"]),
                "{name}.{field} should not admit null"
            );
        }
        let output = &t["outputSchema"];
        assert_eq!(output["type"], "object", "{name} declares an output schema");
        assert!(jsonschema::validator_for(output).is_ok());
    }
}

#[tokio::test]
async fn unknown_and_invalid_arguments_are_refused_by_schema() {
    let s = Sandbox::new();
    let mut c = Client::on(&s.root).await;
    c.call("file_read", json!({"path": "a.txt", "start_line": 2}))
        .await
        .err(&["start_line"]);
    c.call("file_read", json!({"path": "a.txt", "line_start": 0}))
        .await
        .err(&["line_start"]);
    c.call("file_read", json!({"path": "a.txt", "max_bytes": 10}))
        .await
        .err(&["max_bytes"]);
    c.call("directory_tree", json!({"max_depth": 99}))
        .await
        .err(&["max_depth"]);
    c.call("file_read", json!({})).await.err(&["path"]);
}

#[tokio::test]
async fn file_read_whole_file() {
    let s = Sandbox::new();
    std::fs::write(s.root.join("poem.md"), "one\ntwo\nthree\n").unwrap();
    let mut c = Client::on(&s.root).await;
    let r = c.call("file_read", json!({"path": "poem.md"})).await.ok();
    assert_eq!(r.content()[0]["text"], "one\ntwo\nthree\n");
    assert_eq!(r.content().len(), 1, "no note when nothing was cut");
    let st = r.structured();
    assert_eq!(st["text"], "one\ntwo\nthree\n");
    assert_eq!(st["path"], s.root.join("poem.md").to_str().unwrap());
    assert_eq!(st["mime_type"], "text/markdown");
    assert_eq!(st["encoding"], "utf8");
    assert_eq!(
        (
            st["line_start"].clone(),
            st["line_end"].clone(),
            st["total_lines"].clone()
        ),
        (json!(1), json!(3), json!(3))
    );
    assert_eq!(
        (
            st["byte_start"].clone(),
            st["byte_end"].clone(),
            st["size"].clone()
        ),
        (json!(0), json!(14), json!(14))
    );
    assert_eq!(st["truncated"], false);
    // Empty file.
    std::fs::write(s.root.join("empty"), "").unwrap();
    let r = c.call("file_read", json!({"path": "empty"})).await.ok();
    assert_eq!(r.structured()["text"], "");
    assert_eq!(r.structured()["total_lines"], 0);
    // A directory is not a file.
    c.call("file_read", json!({"path": "sub"}))
        .await
        .err(&["is a directory"]);
}

#[tokio::test]
async fn file_read_line_ranges_head_and_tail() {
    let s = Sandbox::new();
    let body: String = (1..=10).map(|i| format!("line {i}\n")).collect();
    std::fs::write(s.root.join("ten.txt"), &body).unwrap();
    std::fs::write(s.root.join("nofinal.txt"), "a\nb\nc").unwrap();
    let mut c = Client::on(&s.root).await;
    let r = c
        .call(
            "file_read",
            json!({"path": "ten.txt", "line_start": 3, "line_end": 5}),
        )
        .await
        .ok();
    assert_eq!(r.structured()["text"], "line 3\nline 4\nline 5\n");
    assert_eq!(r.structured()["line_start"], 3);
    assert_eq!(r.structured()["line_end"], 5);
    assert!(r.structured().get("total_lines").is_none());
    let r = c
        .call("file_read", json!({"path": "ten.txt", "line_start": 9}))
        .await
        .ok();
    assert_eq!(r.structured()["text"], "line 9\nline 10\n");
    assert_eq!(r.structured()["total_lines"], 10);
    let r = c
        .call(
            "file_read",
            json!({"path": "ten.txt", "line_start": 8, "line_end": 50}),
        )
        .await
        .ok();
    assert_eq!(r.structured()["text"], "line 8\nline 9\nline 10\n");
    let r = c
        .call("file_read", json!({"path": "ten.txt", "head": 2}))
        .await
        .ok();
    assert_eq!(r.structured()["text"], "line 1\nline 2\n");
    let r = c
        .call("file_read", json!({"path": "ten.txt", "tail": 2}))
        .await
        .ok();
    assert_eq!(r.structured()["text"], "line 9\nline 10\n");
    assert_eq!(r.structured()["line_start"], 9);
    assert_eq!(r.structured()["total_lines"], 10);
    let r = c
        .call("file_read", json!({"path": "ten.txt", "tail": 50}))
        .await
        .ok();
    assert_eq!(r.structured()["text"], body.as_str());
    let r = c
        .call("file_read", json!({"path": "nofinal.txt", "tail": 1}))
        .await
        .ok();
    assert_eq!(r.structured()["text"], "c");
    assert_eq!(r.structured()["line_start"], 3);
    let r = c
        .call(
            "file_read",
            json!({"path": "nofinal.txt", "line_start": 2, "line_end": 3}),
        )
        .await
        .ok();
    assert_eq!(r.structured()["text"], "b\nc");
    // Errors that say what is wrong.
    c.call("file_read", json!({"path": "ten.txt", "line_start": 11}))
        .await
        .err(&["past the end", "10 lines"]);
    c.call(
        "file_read",
        json!({"path": "ten.txt", "line_start": 5, "line_end": 4}),
    )
    .await
    .err(&["before line_start"]);
    c.call(
        "file_read",
        json!({"path": "ten.txt", "head": 1, "tail": 1}),
    )
    .await
    .err(&["only one", "head", "tail"]);
}

#[tokio::test]
async fn file_read_byte_ranges_keep_whole_characters() {
    let s = Sandbox::new();
    std::fs::write(s.root.join("u.txt"), "aé€b\n").unwrap(); // a=0, é=1..3, €=3..6, b=6
    let mut c = Client::on(&s.root).await;
    let r = c
        .call(
            "file_read",
            json!({"path": "u.txt", "byte_offset": 1, "byte_length": 2}),
        )
        .await
        .ok();
    assert_eq!(r.structured()["text"], "é");
    // Starting inside é moves to €; ending inside € moves back before it.
    let r = c
        .call(
            "file_read",
            json!({"path": "u.txt", "byte_offset": 2, "byte_length": 3}),
        )
        .await
        .ok();
    assert_eq!(r.structured()["text"], "");
    let r = c
        .call(
            "file_read",
            json!({"path": "u.txt", "byte_offset": 2, "byte_length": 5}),
        )
        .await
        .ok();
    assert_eq!(r.structured()["text"], "€b");
    assert_eq!(r.structured()["byte_start"], 3);
    assert!(
        r.structured()["note"]
            .as_str()
            .unwrap()
            .contains("whole character")
    );
    let r = c
        .call("file_read", json!({"path": "u.txt", "byte_offset": 6}))
        .await
        .ok();
    assert_eq!(r.structured()["text"], "b\n");
    c.call("file_read", json!({"path": "u.txt", "byte_offset": 99}))
        .await
        .err(&["past the end"]);
}

#[tokio::test]
async fn file_read_selection_by_line_and_column() {
    let s = Sandbox::new();
    std::fs::write(
        s.root.join("sel.txt"),
        "héllo wörld\r\nsecond line\nthird\n",
    )
    .unwrap();
    let mut c = Client::on(&s.root).await;
    let sel = |a, b, c2, d| json!({"path": "sel.txt", "selection": {"start_line": a, "start_column": b, "end_line": c2, "end_column": d}});
    let r = c.call("file_read", sel(1, 2, 1, 6)).await.ok();
    assert_eq!(r.structured()["text"], "éllo");
    let r = c.call("file_read", sel(1, 7, 2, 7)).await.ok();
    assert_eq!(r.structured()["text"], "wörld\r\nsecond");
    // Past the end of a line: the end of that line, before \r\n.
    let r = c.call("file_read", sel(1, 7, 1, 999)).await.ok();
    assert_eq!(r.structured()["text"], "wörld");
    // end_line past the end of the file: to the end.
    let r = c.call("file_read", sel(3, 1, 99, 1)).await.ok();
    assert_eq!(r.structured()["text"], "third\n");
    assert_eq!(r.structured()["line_start"], 3);
    c.call("file_read", sel(2, 5, 1, 1))
        .await
        .err(&["ends before it starts"]);
    c.call("file_read", sel(9, 1, 9, 2))
        .await
        .err(&["past the end"]);
}

/// A 10 MB file; selections at its start, middle and end, checked against a reference
/// computed here by splitting the same text.
#[tokio::test]
async fn file_read_selection_on_a_10_mb_file() {
    let s = Sandbox::new();
    let mut body = String::with_capacity(10_500_000);
    let mut i = 0u64;
    while body.len() < 10_000_000 {
        i += 1;
        // Varying lengths, multi-byte characters, an occasional long line.
        let extra = "ßπ€".repeat((i % 17) as usize);
        let long = if i.is_multiple_of(5000) {
            "x".repeat(3000)
        } else {
            String::new()
        };
        body.push_str(&format!("{i:08} {extra} δ{long} end\n"));
    }
    std::fs::write(s.root.join("big.txt"), &body).unwrap();
    let lines: Vec<&str> = body.split_inclusive('\n').collect();
    let reference = |sl: usize, sc: usize, el: usize, ec: usize| -> String {
        let start_line = lines[sl - 1].trim_end_matches('\n');
        let sb: usize = start_line
            .char_indices()
            .nth(sc - 1)
            .map_or(start_line.len(), |(b, _)| b);
        let end_line = lines[el - 1].trim_end_matches('\n');
        let eb: usize = end_line
            .char_indices()
            .nth(ec - 1)
            .map_or(end_line.len(), |(b, _)| b);
        let start_off: usize = lines[..sl - 1].iter().map(|l| l.len()).sum::<usize>() + sb;
        let end_off: usize = lines[..el - 1].iter().map(|l| l.len()).sum::<usize>() + eb;
        body[start_off..end_off].to_owned()
    };
    let n = lines.len();
    let mut c = Client::on(&s.root).await;
    for (sl, sc, el, ec) in [
        (1, 1, 1, 5),
        (1, 10, 3, 4),
        (n / 2, 3, n / 2 + 2, 12),
        (n - 3, 11, n, 200),
        (n, 1, n, 4),
        (4999, 2, 5001, 3000),
    ] {
        let r = c
            .call("file_read", json!({"path": "big.txt", "selection": {"start_line": sl, "start_column": sc, "end_line": el, "end_column": ec}}))
            .await
            .ok();
        assert_eq!(
            r.structured()["text"],
            reference(sl, sc, el, ec).as_str(),
            "selection {sl}:{sc}-{el}:{ec}"
        );
        assert_eq!(r.structured()["size"], body.len());
    }
    // Line ranges and tail on the same file.
    let r = c
        .call(
            "file_read",
            json!({"path": "big.txt", "line_start": n - 1, "line_end": n}),
        )
        .await
        .ok();
    assert_eq!(
        r.structured()["text"],
        format!("{}{}", lines[n - 2], lines[n - 1]).as_str()
    );
    let r = c
        .call("file_read", json!({"path": "big.txt", "tail": 3}))
        .await
        .ok();
    assert_eq!(r.structured()["line_start"], n - 2);
    assert_eq!(r.structured()["total_lines"], n);
    let r = c.call("file_info", json!({"path": "big.txt"})).await.ok();
    assert_eq!(r.structured()["line_count"], n);
}

/// A file larger than the cap is returned in pieces that say where to continue; following
/// `next_line` rebuilds the file exactly.
#[tokio::test]
async fn file_read_cap_says_how_to_continue() {
    let s = Sandbox::new();
    let body: String = (1..=40_000)
        .map(|i| format!("{i:06} some text on this line\n"))
        .collect();
    assert!(body.len() > 3 * 256 * 1024);
    std::fs::write(s.root.join("long.txt"), &body).unwrap();
    let mut c = Client::on(&s.root).await;
    let r = c.call("file_read", json!({"path": "long.txt"})).await.ok();
    let st = r.structured().clone();
    assert_eq!(st["truncated"], true);
    assert!(st["byte_end"].as_u64().unwrap() <= 32 * 1024);
    let note = r.content()[1]["text"].as_str().unwrap().to_owned();
    assert!(
        note.contains("capped at 32768 bytes")
            && note.contains(&format!("line_start: {}", st["next_line"])),
        "{note}"
    );
    let mut got = st["text"].as_str().unwrap().to_owned();
    let mut next = st["next_line"].as_u64().unwrap();
    assert_eq!(next, st["line_end"].as_u64().unwrap() + 1);
    let mut rounds = 1;
    loop {
        let r = c
            .call("file_read", json!({"path": "long.txt", "line_start": next}))
            .await
            .ok();
        let st = r.structured();
        got.push_str(st["text"].as_str().unwrap());
        rounds += 1;
        match st["next_line"].as_u64() {
            Some(n) => next = n,
            None => {
                assert_eq!(st["truncated"], false);
                assert_eq!(st["total_lines"], 40_000);
                break;
            }
        }
        assert!(rounds < 60, "{rounds} rounds for {} bytes", body.len());
    }
    assert_eq!(got, body);
    // A line range far longer than the cap is cut the same way (the scan for its end stops
    // at the cap).
    let r = c
        .call(
            "file_read",
            json!({"path": "long.txt", "line_start": 2, "line_end": 1_000_000_000u64}),
        )
        .await
        .ok();
    assert_eq!(r.structured()["truncated"], true);
    assert_eq!(r.structured()["line_start"], 2);
    assert!(
        r.structured()["next_line"].as_u64().unwrap() > 1000,
        "{}",
        r.structured()
    );
    let sel = json!({"start_line": 1, "start_column": 3, "end_line": 39_000, "end_column": 1});
    let r = c
        .call("file_read", json!({"path": "long.txt", "selection": sel}))
        .await
        .ok();
    assert_eq!(r.structured()["truncated"], true);
    assert_eq!(r.structured()["next_offset"], r.structured()["byte_end"]);
    assert!(body[2..].starts_with(r.structured()["text"].as_str().unwrap()));
    // A single line longer than the cap: cut on a character boundary, continue by offset.
    let line = "€".repeat(2000); // 6000 bytes
    std::fs::write(s.root.join("wide.txt"), &line).unwrap();
    let r = c
        .call("file_read", json!({"path": "wide.txt", "max_bytes": 1024}))
        .await
        .ok();
    let st = r.structured().clone();
    assert_eq!(st["byte_end"], 1023);
    assert!(st.get("next_line").is_none());
    assert_eq!(st["next_offset"], 1023);
    let r = c
        .call(
            "file_read",
            json!({"path": "wide.txt", "byte_offset": 1023, "max_bytes": 8192}),
        )
        .await
        .ok();
    assert_eq!(
        format!(
            "{}{}",
            st["text"].as_str().unwrap(),
            r.structured()["text"].as_str().unwrap()
        ),
        line
    );
}

#[tokio::test]
async fn file_read_checks_utf8_and_offers_lossy() {
    let s = Sandbox::new();
    std::fs::write(s.root.join("latin1.txt"), b"caf\xe9 au lait\n").unwrap();
    let mut c = Client::on(&s.root).await;
    c.call("file_read", json!({"path": "latin1.txt"}))
        .await
        .err(&["not valid UTF-8", "offset 3", "lossy"]);
    let r = c
        .call("file_read", json!({"path": "latin1.txt", "lossy": true}))
        .await
        .ok();
    assert_eq!(r.structured()["text"], "caf\u{FFFD} au lait\n");
    assert_eq!(r.structured()["encoding"], "utf8_lossy");
}

#[tokio::test]
async fn file_read_binary_as_image_or_blob() {
    let s = Sandbox::new();
    std::fs::write(s.root.join("dot.png"), PNG_1X1).unwrap();
    std::fs::write(s.root.join("mislabeled.dat"), PNG_1X1).unwrap();
    let blob: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    std::fs::write(s.root.join("data.bin"), &blob).unwrap();
    std::fs::write(s.root.join("nul.txt"), b"text\0with nul").unwrap();
    let mut c = Client::on(&s.root).await;
    for name in ["dot.png", "mislabeled.dat"] {
        let r = c.call("file_read", json!({"path": name})).await.ok();
        let img = r
            .content()
            .into_iter()
            .find(|b| b["type"] == "image")
            .unwrap();
        assert_eq!(img["mimeType"], "image/png");
        assert_eq!(b64(img["data"].as_str().unwrap()), PNG_1X1);
        assert_eq!(r.structured()["encoding"], "base64");
        assert!(r.structured().get("text").is_none());
        assert!(r.text().contains("binary file"));
    }
    for (name, bytes) in [
        ("data.bin", blob.as_slice()),
        ("nul.txt", b"text\0with nul".as_slice()),
    ] {
        let r = c.call("file_read", json!({"path": name})).await.ok();
        let res = r
            .content()
            .into_iter()
            .find(|b| b["type"] == "resource")
            .unwrap();
        assert_eq!(res["resource"]["mimeType"], "application/octet-stream");
        assert!(
            res["resource"]["uri"]
                .as_str()
                .unwrap()
                .starts_with("file:///")
        );
        assert_eq!(b64(res["resource"]["blob"].as_str().unwrap()), bytes);
    }
    // A byte range of a binary file is raw bytes.
    let r = c
        .call(
            "file_read",
            json!({"path": "data.bin", "byte_offset": 10, "byte_length": 4}),
        )
        .await
        .ok();
    let res = r
        .content()
        .into_iter()
        .find(|b| b["type"] == "resource")
        .unwrap();
    assert_eq!(
        b64(res["resource"]["blob"].as_str().unwrap()),
        &blob[10..14]
    );
    c.call("file_read", json!({"path": "dot.png", "head": 3}))
        .await
        .err(&["binary", "byte_offset"]);
}

#[tokio::test]
async fn file_read_many_reports_each_file() {
    let s = Sandbox::new();
    std::fs::write(s.root.join("dot.png"), PNG_1X1).unwrap();
    let mut c = Client::on(&s.root).await;
    let r = c
        .call(
            "file_read_many",
            json!({"paths": ["a.txt", "missing.txt", "sub/b.txt", "dot.png"]}),
        )
        .await
        .ok();
    let st = r.structured();
    assert_eq!(
        (
            st["read"].clone(),
            st["failed"].clone(),
            st["skipped"].clone()
        ),
        (json!(3), json!(1), json!(0))
    );
    let files = st["files"].as_array().unwrap();
    assert_eq!(files[0]["file"]["text"], "alpha\n");
    assert_eq!(files[1]["status"], "error");
    assert!(
        files[1]["error"]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );
    assert_eq!(files[2]["file"]["text"], "beta\n");
    assert_eq!(files[3]["file"]["mime_type"], "image/png");
    let t = r.text();
    assert!(
        t.contains("==> a.txt <==\nalpha\n") && t.contains("==> missing.txt <==\nerror:"),
        "{t}"
    );
    assert!(r.content().iter().any(|b| b["type"] == "image"));
    // Every file failing makes the call an error (still with per-file detail).
    let r = c
        .call(
            "file_read_many",
            json!({"paths": ["nope1", "../outside/secret.txt"]}),
        )
        .await;
    assert!(r.is_error());
    assert_eq!(r.structured()["failed"], 2);
    // A shared budget: later files are skipped with a note, not silently dropped.
    std::fs::write(s.root.join("big1.txt"), "x\n".repeat(1000)).unwrap();
    let r = c
        .call(
            "file_read_many",
            json!({"paths": ["big1.txt", "a.txt"], "max_bytes": 1500}),
        )
        .await
        .ok();
    let files = r.structured()["files"].as_array().unwrap().clone();
    assert_eq!(files[0]["file"]["truncated"], true);
    assert_eq!(files[1]["status"], "skipped");
    assert!(files[1]["error"].as_str().unwrap().contains("budget"));
}

#[tokio::test]
async fn list_directory_sorted_with_kinds_sizes_and_hidden() {
    let s = Sandbox::new();
    std::fs::write(s.root.join(".env"), "X=1").unwrap();
    std::fs::write(s.root.join("B.txt"), "12345").unwrap();
    std::os::unix::fs::symlink("a.txt", s.root.join("ln")).unwrap();
    let mut c = Client::on(&s.root).await;
    let r = c.call("list_directory", json!({})).await.ok();
    let st = r.structured();
    let names: Vec<&str> = st["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["B.txt", "a.txt", "ln", "sub"]);
    let e = &st["entries"][0];
    assert_eq!(
        (e["kind"].clone(), e["size"].clone()),
        (json!("file"), json!(5))
    );
    assert_eq!(st["entries"][2]["kind"], "symlink");
    assert_eq!(st["entries"][3]["kind"], "dir");
    assert_eq!(st["hidden"], 1);
    assert!(r.text().contains("sub/") && r.text().contains("1 hidden not shown"));
    let r = c
        .call(
            "list_directory",
            json!({"path": ".", "include_hidden": true}),
        )
        .await
        .ok();
    assert_eq!(r.structured()["entries"][0]["name"], ".env");
    // Capped, with a note.
    for i in 0..30 {
        std::fs::write(s.root.join(format!("sub/f{i:02}")), "").unwrap();
    }
    let r = c
        .call("list_directory", json!({"path": "sub", "max_entries": 10}))
        .await
        .ok();
    let st = r.structured();
    assert_eq!(st["entries"].as_array().unwrap().len(), 10);
    assert_eq!(
        (st["total"].clone(), st["truncated"].clone()),
        (json!(31), json!(true))
    );
    assert!(r.text().contains("capped at 10 of 31"), "{}", r.text());
    c.call("list_directory", json!({"path": "a.txt"}))
        .await
        .err(&["not a directory"]);
}

#[tokio::test]
async fn directory_tree_depth_entries_and_gitignore() {
    let s = Sandbox::new();
    let r = &s.root;
    for d in [
        "src/deep/deeper/deepest",
        "target/debug",
        ".git/objects",
        "docs",
    ] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    std::fs::write(r.join(".gitignore"), "target/\n*.log\n!keep.log\n").unwrap();
    std::fs::write(r.join("src/.gitignore"), "generated.rs\n").unwrap();
    for f in [
        "src/lib.rs",
        "src/generated.rs",
        "src/deep/x.rs",
        "src/deep/deeper/deepest/y.rs",
        "app.log",
        "keep.log",
        "target/debug/bin",
        "docs/a.md",
        ".git/HEAD",
    ] {
        std::fs::write(r.join(f), "x").unwrap();
    }
    let mut c = Client::on(&s.root).await;
    let res = c.call("directory_tree", json!({})).await.ok();
    let st = res.structured();
    let names: Vec<&str> = st["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "a.txt",
            "docs",
            "docs/a.md",
            "keep.log",
            "src",
            "src/deep",
            "src/deep/deeper",
            "src/deep/x.rs",
            "src/lib.rs",
            "sub",
            "sub/b.txt"
        ]
    );
    let deeper = st["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "src/deep/deeper")
        .unwrap();
    assert_eq!(deeper["depth_limited"], true);
    assert_eq!(deeper["depth"], 3);
    assert_eq!(st["ignored"], 3, "target/, app.log, src/generated.rs");
    assert!(st["note"].as_str().unwrap().contains("max_depth"));
    assert!(res.text().contains("    deep/\n"), "{}", res.text());
    // A subdirectory still honours the .gitignore above it.
    let res = c
        .call("directory_tree", json!({"path": "src", "max_depth": 10}))
        .await
        .ok();
    let names: Vec<&str> = res.structured()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "deep",
            "deep/deeper",
            "deep/deeper/deepest",
            "deep/deeper/deepest/y.rs",
            "deep/x.rs",
            "lib.rs"
        ]
    );
    // Without .gitignore, with hidden entries; .git is listed but never entered.
    let res = c
        .call(
            "directory_tree",
            json!({"respect_gitignore": false, "include_hidden": true, "max_depth": 2}),
        )
        .await
        .ok();
    let names: Vec<String> = res.structured()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    for n in [
        ".git",
        ".gitignore",
        "app.log",
        "target/debug",
        "src/generated.rs",
    ] {
        assert!(names.contains(&n.to_owned()), "{n} in {names:?}");
    }
    assert!(!names.iter().any(|n| n.starts_with(".git/")));
    // max_entries cuts the walk with a note.
    let res = c
        .call("directory_tree", json!({"max_entries": 3}))
        .await
        .ok();
    assert_eq!(res.structured()["entries"].as_array().unwrap().len(), 3);
    assert_eq!(res.structured()["truncated"], true);
    assert!(res.text().contains("Listing capped at 3 entries"));
}

#[tokio::test]
async fn file_info_reports_metadata() {
    let s = Sandbox::new();
    std::fs::write(s.root.join("f.rs"), "fn main() {}\n// two\n").unwrap();
    std::fs::set_permissions(s.root.join("f.rs"), std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::write(s.root.join("dot.png"), PNG_1X1).unwrap();
    let mut c = Client::on(&s.root).await;
    let r = c.call("file_info", json!({"path": "f.rs"})).await.ok();
    let st = r.structured();
    assert_eq!(st["kind"], "file");
    assert_eq!(st["size"], 20);
    assert_eq!(st["permissions"], "0444");
    assert_eq!(st["readonly"], true);
    assert_eq!(st["line_count"], 2);
    assert_eq!(st["mime_type"], "text/x-rust");
    assert_eq!(st["binary"], false);
    let m = st["modified"].as_str().unwrap();
    assert!(
        m.len() == 24 && m.ends_with('Z') && m.as_bytes()[10] == b'T',
        "{m}"
    );
    assert!(m.starts_with("20"), "{m}");
    assert!(r.text().contains("permissions: 0444 (read-only)"));
    let r = c.call("file_info", json!({"path": "sub"})).await.ok();
    assert_eq!(r.structured()["kind"], "dir");
    assert!(r.structured().get("line_count").is_none());
    let r = c.call("file_info", json!({"path": "dot.png"})).await.ok();
    assert_eq!(r.structured()["binary"], true);
    assert_eq!(r.structured()["mime_type"], "image/png");
    assert!(r.structured().get("line_count").is_none());
    let _: Value = r.structured().clone();
}
