//! `text_search` through a real server, checked against a straightforward reference search.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{Client, Sandbox};
use serde_json::{Value, json};

async fn searcher(root: &Path) -> Client {
    let roots = Arc::new(rune_tools::Roots::new([root]).unwrap());
    Client::start(rune_tools::search_tools(roots)).await
}

/// A tree of 300 files with known contents.
fn tree(root: &Path) {
    for d in 0..10 {
        let dir = root.join(format!("d{d}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..30 {
            let mut s = String::new();
            for l in 0..40 {
                let k = d * 1000 + f * 40 + l;
                if k % 7 == 0 {
                    s.push_str(&format!("line {l} has Needle {k}\n"));
                } else if k % 11 == 0 {
                    s.push_str(&format!("line {l} has needles {k}\n"));
                } else {
                    s.push_str(&format!("line {l} plain {k}\n"));
                }
            }
            std::fs::write(dir.join(format!("f{f}.txt")), s).unwrap();
        }
    }
}

/// Reference: every (path, line, column) where `pred` finds a column.
fn reference(root: &Path, find: impl Fn(&str) -> Option<usize>) -> Vec<(String, u64, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let text = std::fs::read_to_string(&p).unwrap();
                for (i, line) in text.lines().enumerate() {
                    if let Some(c) = find(line) {
                        out.push((p.to_str().unwrap().to_owned(), i as u64 + 1, c as u64 + 1));
                    }
                }
            }
        }
    }
    out.sort();
    out
}

fn got(st: &Value) -> Vec<(String, u64, u64)> {
    let mut v: Vec<_> = st["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["path"].as_str().unwrap().to_owned(),
                m["line"].as_u64().unwrap(),
                m["column"].as_u64().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn search_matches_a_reference_search() {
    let s = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(s.path()).unwrap();
    tree(&root);
    let mut c = searcher(&root).await;
    // Literal, case-sensitive.
    let r = c
        .call(
            "text_search",
            json!({"pattern": "Needle", "max_results": 10000, "max_bytes": 4194304}),
        )
        .await
        .ok();
    let want = reference(&root, |l| l.find("Needle"));
    assert!(want.len() > 100);
    assert_eq!(got(r.structured()), want);
    assert_eq!(r.structured()["truncated"], false);
    assert_eq!(r.structured()["files_searched"], 300);
    // Case-insensitive.
    let r = c
        .call(
            "text_search",
            json!({"pattern": "needle", "case_insensitive": true, "max_results": 10000, "max_bytes": 4194304}),
        )
        .await
        .ok();
    assert_eq!(
        got(r.structured()),
        reference(&root, |l| l.to_lowercase().find("needle"))
    );
    // Whole word: "needles" does not count.
    let r = c
        .call(
            "text_search",
            json!({"pattern": "needle", "case_insensitive": true, "whole_word": true, "max_results": 10000, "max_bytes": 4194304}),
        )
        .await
        .ok();
    assert_eq!(got(r.structured()), reference(&root, |l| l.find("Needle ")));
    // Regex.
    let r = c
        .call(
            "text_search",
            json!({"pattern": "has needles [0-9]*5$", "regex": true, "max_results": 10000, "max_bytes": 4194304}),
        )
        .await
        .ok();
    let want = reference(&root, |l| {
        (l.contains("has needles ") && l.ends_with('5')).then(|| l.find("has").unwrap())
    });
    assert!(!want.is_empty());
    assert_eq!(got(r.structured()), want);
    // Include / exclude globs and a sub path.
    let r = c
        .call(
            "text_search",
            json!({"pattern": "Needle", "path": "d3", "include": ["f1*.txt"], "exclude": ["f10.txt"], "max_results": 10000, "max_bytes": 4194304}),
        )
        .await
        .ok();
    let want: Vec<_> = reference(&root.join("d3"), |l| l.find("Needle"))
        .into_iter()
        .filter(|(p, _, _)| {
            let n = Path::new(p).file_name().unwrap().to_str().unwrap();
            n.starts_with("f1") && n != "f10.txt"
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got(r.structured()), want);
    // The text shows path:line:column:line.
    let first = &r.structured()["matches"][0];
    assert!(r.text().contains(&format!(
        "{}:{}:{}:{}",
        first["path"].as_str().unwrap(),
        first["line"],
        first["column"],
        first["text"].as_str().unwrap()
    )));
}

#[tokio::test]
async fn search_honours_gitignore_hidden_and_skips_binary() {
    let s = Sandbox::new();
    std::fs::write(s.root.join(".gitignore"), "ignored/\n*.log\n").unwrap();
    std::fs::create_dir(s.root.join("ignored")).unwrap();
    std::fs::write(s.root.join("ignored/x.txt"), "findme\n").unwrap();
    std::fs::write(s.root.join("app.log"), "findme\n").unwrap();
    std::fs::write(s.root.join(".hidden.txt"), "findme\n").unwrap();
    std::fs::write(s.root.join("bin.dat"), b"findme\0\x01\x02").unwrap();
    std::fs::write(s.root.join("ok.txt"), "x\nfindme here\n").unwrap();
    std::os::unix::fs::symlink(&s.outside, s.root.join("out")).unwrap();
    std::fs::write(s.outside.join("f.txt"), "findme\n").unwrap();
    let mut c = searcher(&s.root).await;
    let r = c
        .call("text_search", json!({"pattern": "findme"}))
        .await
        .ok();
    let paths: Vec<String> = got(r.structured()).into_iter().map(|m| m.0).collect();
    assert_eq!(paths, [s.root.join("ok.txt").to_str().unwrap()]);
    assert_eq!(r.structured()["binary_files_skipped"], 1);
    assert_eq!(got(r.structured())[0].1, 2);
    let r = c
        .call("text_search", json!({"pattern": "findme", "hidden": true}))
        .await
        .ok();
    let paths: Vec<String> = got(r.structured()).into_iter().map(|m| m.0).collect();
    assert!(paths.contains(&s.root.join(".hidden.txt").to_str().unwrap().to_owned()));
    assert!(
        !paths
            .iter()
            .any(|p| p.contains("ignored") || p.ends_with(".log"))
    );
    // Outside the roots.
    c.call("text_search", json!({"pattern": "x", "path": "../outside"}))
        .await
        .err(&["outside"]);
    c.call("text_search", json!({"pattern": "x", "path": "out"}))
        .await
        .err(&["symbolic link"]);
}

#[tokio::test]
async fn search_context_and_truncation() {
    let s = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(s.path()).unwrap();
    std::fs::write(root.join("a.txt"), "one\ntwo\nhit\nfour\nfive\n").unwrap();
    let mut c = searcher(&root).await;
    let r = c
        .call("text_search", json!({"pattern": "hit", "context": 2}))
        .await
        .ok();
    let m = &r.structured()["matches"][0];
    assert_eq!(m["before"], json!(["one", "two"]));
    assert_eq!(m["after"], json!(["four", "five"]));
    tree(&root);
    let r = c
        .call(
            "text_search",
            json!({"pattern": "Needle", "max_results": 5}),
        )
        .await
        .ok();
    assert_eq!(r.structured()["matches"].as_array().unwrap().len(), 5);
    assert_eq!(r.structured()["truncated"], true);
    assert!(r.text().contains("truncated"), "{}", r.text());
    assert!(
        r.structured()["note"]
            .as_str()
            .unwrap()
            .contains("max_results")
    );
    let r = c
        .call(
            "text_search",
            json!({"pattern": "Needle", "max_results": 10000, "max_bytes": 2048}),
        )
        .await
        .ok();
    assert_eq!(r.structured()["truncated"], true);
    let n = r.structured()["matches"].as_array().unwrap().len();
    assert!(n > 0 && n < 60, "{n}");
    c.call("text_search", json!({"pattern": "(", "regex": true}))
        .await
        .err(&["invalid regular expression"]);
}

#[tokio::test]
async fn long_searches_report_progress() {
    let s = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(s.path()).unwrap();
    for d in 0..5 {
        let dir = root.join(format!("d{d}"));
        std::fs::create_dir(&dir).unwrap();
        for f in 0..500 {
            std::fs::write(dir.join(format!("{f}.txt")), "nothing here\n").unwrap();
        }
    }
    let mut c = searcher(&root).await;
    let (resp, notes) = c
        .request_with_notes(
            "tools/call",
            json!({"name": "text_search", "arguments": {"pattern": "zzz"},
                   "_meta": {"progressToken": "p1"}}),
        )
        .await;
    assert_eq!(resp["result"]["structuredContent"]["files_searched"], 2500);
    let progress: Vec<&Value> = notes
        .iter()
        .filter(|n| n["method"] == "notifications/progress")
        .collect();
    assert!(progress.len() >= 2, "{notes:?}");
    assert_eq!(progress[0]["params"]["progressToken"], "p1");
}

fn big_limits(mut v: Value) -> Value {
    v["max_results"] = json!(10000);
    v["max_bytes"] = json!(4194304);
    v
}

/// Reference: the first column where any of `needles` occurs in the line.
fn first_of<'a>(needles: &'a [&'a str], fold: bool) -> impl Fn(&str) -> Option<usize> + 'a {
    move |l: &str| {
        let hay = if fold {
            l.to_ascii_lowercase()
        } else {
            l.to_owned()
        };
        needles
            .iter()
            .filter_map(|n| {
                if fold {
                    hay.find(&n.to_ascii_lowercase())
                } else {
                    hay.find(n)
                }
            })
            .min()
    }
}

#[tokio::test]
async fn several_literals_at_once() {
    let s = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(s.path()).unwrap();
    tree(&root);
    let mut c = searcher(&root).await;
    // Case-sensitive: one Aho-Corasick pass.
    let r = c
        .call(
            "text_search",
            big_limits(json!({"patterns": ["Needle", "needles", "plain 1234"]})),
        )
        .await
        .ok();
    let want = reference(&root, first_of(&["Needle", "needles", "plain 1234"], false));
    assert!(want.len() > 200);
    assert_eq!(got(r.structured()), want);
    // `pattern` and `patterns` together, case-insensitive (ASCII folding).
    let r = c
        .call(
            "text_search",
            big_limits(
                json!({"pattern": "NEEDLE 7", "patterns": ["PLAIN 99"], "case_insensitive": true}),
            ),
        )
        .await
        .ok();
    let want = reference(&root, first_of(&["needle 7", "plain 99"], true));
    assert!(!want.is_empty());
    assert_eq!(got(r.structured()), want);
    // Case-insensitive with an `s` (Unicode folding, through the regex engine).
    let r = c
        .call(
            "text_search",
            big_limits(json!({"patterns": ["NEEDLES 5", "plain 98"], "case_insensitive": true})),
        )
        .await
        .ok();
    assert_eq!(
        got(r.structured()),
        reference(&root, first_of(&["needles 5", "plain 98"], true))
    );
    // Whole words: "Needle" and "plain", not "needles".
    let r = c
        .call(
            "text_search",
            big_limits(json!({"patterns": ["needle", "plain 12"], "whole_word": true})),
        )
        .await
        .ok();
    let want = reference(&root, |l| {
        l.find("plain 12 ")
            .or_else(|| l.ends_with("plain 12").then(|| l.find("plain 12").unwrap()))
    });
    assert_eq!(got(r.structured()), want);
    // Several regular expressions.
    let r = c
        .call(
            "text_search",
            big_limits(json!({"patterns": ["Needle [0-9]*3$", "^line 39 plain"], "regex": true})),
        )
        .await
        .ok();
    let want = reference(&root, |l| {
        if l.starts_with("line 39 plain") {
            Some(0)
        } else if l.contains("has Needle ") && l.ends_with('3') {
            l.find("Needle")
        } else {
            None
        }
    });
    assert!(!want.is_empty());
    assert_eq!(got(r.structured()), want);
    // Neither pattern nor patterns; an empty one; a line break without multiline.
    c.call("text_search", json!({"path": "."}))
        .await
        .err(&["pattern"]);
    c.call("text_search", json!({"patterns": ["a", ""]}))
        .await
        .err(&["patterns"]);
    c.call("text_search", json!({"pattern": "a\nb"}))
        .await
        .err(&["multiline"]);
}

#[tokio::test]
async fn multiline_matches_span_lines() {
    let s = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(s.path()).unwrap();
    let src = "fn alpha() {\n    return 1;\n}\nfn beta()\n{\n    return 2;\n}\nfn gamma() { return 3; }\n";
    std::fs::write(root.join("a.rs"), src).unwrap();
    let mut block = String::from("intro\nBEGIN here\n");
    for i in 0..28 {
        block.push_str(&format!("body {i}\n"));
    }
    block.push_str("END\nafter\n");
    std::fs::write(root.join("b.txt"), &block).unwrap();
    let mut c = searcher(&root).await;
    let a = root.join("a.rs").to_str().unwrap().to_owned();
    // Without multiline, `\s*` cannot cross a line break: only the one-line function.
    let pat = r"fn \w+\(\)\s*\{\s*return";
    let r = c
        .call("text_search", json!({"pattern": pat, "regex": true}))
        .await
        .ok();
    assert_eq!(got(r.structured()), [(a.clone(), 8, 1)]);
    let r = c
        .call(
            "text_search",
            json!({"pattern": pat, "regex": true, "multiline": true, "context": 1}),
        )
        .await
        .ok();
    assert_eq!(
        got(r.structured()),
        [(a.clone(), 1, 1), (a.clone(), 4, 1), (a.clone(), 8, 1)]
    );
    let m = &r.structured()["matches"];
    assert_eq!(m[0]["text"], "fn alpha() {\n    return 1;");
    assert_eq!(m[0]["end_line"], 2);
    assert_eq!(m[0]["after"], json!(["}"]));
    assert_eq!(m[1]["text"], "fn beta()\n{\n    return 2;");
    assert_eq!(m[1]["end_line"], 6);
    assert_eq!(m[1]["before"], json!(["}"]));
    assert_eq!(m[1]["after"], json!(["}"]));
    assert!(m[2].get("end_line").is_none());
    let text = r.text();
    assert!(text.contains(&format!(
        "{a}:4:1:fn beta()\n{a}:5:{{\n{a}:6:    return 2;\n{a}-7-}}"
    )));
    // A literal with a line break, in multiline mode; the column of the match.
    let r = c
        .call(
            "text_search",
            json!({"pattern": ";\n}\nfn beta", "multiline": true}),
        )
        .await
        .ok();
    assert_eq!(got(r.structured()), [(a.clone(), 2, 13)]);
    assert_eq!(r.structured()["matches"][0]["end_line"], 4);
    // A long match: its first 20 lines, then how many more.
    let r = c
        .call(
            "text_search",
            json!({"pattern": "(?s)BEGIN.*?END", "regex": true, "multiline": true}),
        )
        .await
        .ok();
    let m = &r.structured()["matches"][0];
    assert_eq!(m["line"], 2);
    assert_eq!(m["end_line"], 31);
    let lines: Vec<&str> = m["text"].as_str().unwrap().split('\n').collect();
    assert_eq!(lines.len(), 21);
    assert_eq!(lines[0], "BEGIN here");
    assert_eq!(lines[19], "body 18");
    assert_eq!(lines[20], "… 10 more lines");
}

/// A file over the size that is searched in parallel slices: same lines, columns and context
/// as a reference, and a cut keeps the first matches of the file.
#[tokio::test]
async fn large_files_are_searched_in_parallel_slices() {
    let s = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(s.path()).unwrap();
    let mut text = String::new();
    let mut i = 0u64;
    while text.len() < 6 << 20 {
        if i.is_multiple_of(37) {
            text.push_str(&format!("row {i} with a needle at {}\n", i * 7 % 1000));
        } else {
            text.push_str(&format!("row {i} of filler text, nothing to see\n"));
        }
        i += 1;
    }
    std::fs::write(root.join("big.txt"), &text).unwrap();
    let roots = Arc::new(rune_tools::Roots::new([&root]).unwrap());
    let opts = rune_tools::search::SearchOptions {
        threads: 4,
        ..Default::default()
    };
    let mut c = Client::start(vec![rune_tools::search::text_search_tool_with(roots, opts)]).await;
    let r = c
        .call(
            "text_search",
            big_limits(json!({"pattern": "needle", "context": 1})),
        )
        .await
        .ok();
    let want = reference(&root, |l| l.find("needle"));
    assert!(want.len() > 3000, "{}", want.len());
    assert_eq!(got(r.structured()), want);
    let lines: Vec<&str> = text.lines().collect();
    for m in r.structured()["matches"].as_array().unwrap() {
        let n = m["line"].as_u64().unwrap() as usize;
        assert_eq!(m["text"], lines[n - 1]);
        if n > 1 {
            assert_eq!(m["before"], json!([lines[n - 2]]), "line {n}");
        } else {
            assert!(m.get("before").is_none());
        }
        assert_eq!(m["after"], json!([lines[n]]), "line {n}");
    }
    let r = c
        .call(
            "text_search",
            json!({"pattern": "needle", "max_results": 10}),
        )
        .await
        .ok();
    assert_eq!(got(r.structured()), want[..10]);
    assert_eq!(r.structured()["truncated"], true);
    // A regex, case-insensitive.
    let r = c
        .call(
            "text_search",
            big_limits(
                json!({"pattern": "NEEDLE AT [0-9]*5$", "regex": true, "case_insensitive": true}),
            ),
        )
        .await
        .ok();
    let want = reference(&root, |l| {
        (l.contains("needle at ") && l.ends_with('5')).then(|| l.find("needle").unwrap())
    });
    assert!(!want.is_empty());
    assert_eq!(got(r.structured()), want);
}

/// A large file searched in chunks with a small `max_results`: the cut is reported however the
/// chunks were scheduled (one thread, then later chunks are never searched; several threads),
/// and a file with exactly `max_results` matches is not called cut.
#[tokio::test]
async fn large_file_cuts_are_reported_whatever_the_threads() {
    let s = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(s.path()).unwrap();
    // 6 MiB: a match every 37 lines (many per 256 KiB chunk) in one file; exactly ten
    // matches, all near the start, in the other.
    let mut many = String::new();
    let mut exact = String::new();
    let mut i = 0u64;
    while many.len() < 6 << 20 {
        let hit = i.is_multiple_of(37);
        many.push_str(if hit {
            "a needle here\n"
        } else {
            "filler text, nothing\n"
        });
        exact.push_str(if hit && i < 370 {
            "a needle here\n"
        } else {
            "filler text, nothing\n"
        });
        i += 1;
    }
    std::fs::write(root.join("many.txt"), &many).unwrap();
    std::fs::write(root.join("exact.txt"), &exact).unwrap();
    for threads in [1, 2, 4] {
        let roots = Arc::new(rune_tools::Roots::new([&root]).unwrap());
        let opts = rune_tools::search::SearchOptions {
            threads,
            ..Default::default()
        };
        let mut c =
            Client::start(vec![rune_tools::search::text_search_tool_with(roots, opts)]).await;
        for _ in 0..3 {
            let r = c
                .call(
                    "text_search",
                    json!({"pattern": "needle", "path": "many.txt", "max_results": 10}),
                )
                .await
                .ok();
            let st = r.structured();
            assert_eq!(
                st["matches"].as_array().unwrap().len(),
                10,
                "{threads} threads"
            );
            assert_eq!(st["truncated"], true, "{threads} threads: {st}");
            assert_eq!(st["matches"][0]["line"], 1);
            assert_eq!(st["matches"][9]["line"], 1 + 9 * 37);
        }
        let r = c
            .call(
                "text_search",
                json!({"pattern": "needle", "path": "exact.txt", "max_results": 10}),
            )
            .await
            .ok();
        let st = r.structured();
        assert_eq!(
            st["matches"].as_array().unwrap().len(),
            10,
            "{threads} threads"
        );
        assert_eq!(st["truncated"], false, "{threads} threads: {st}");
    }
}

#[tokio::test]
async fn no_progress_without_a_token() {
    let s = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(s.path()).unwrap();
    for f in 0..2500 {
        std::fs::write(root.join(format!("{f}.txt")), "nothing here\n").unwrap();
    }
    let mut c = searcher(&root).await;
    let (resp, notes) = c
        .request_with_notes(
            "tools/call",
            json!({"name": "text_search", "arguments": {"pattern": "zzz"}}),
        )
        .await;
    assert_eq!(resp["result"]["structuredContent"]["files_searched"], 2500);
    assert!(notes.is_empty(), "{notes:?}");
}

/// Progress also comes by time, when files are few but slow.
#[tokio::test]
async fn progress_is_also_reported_by_time() {
    let s = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(s.path()).unwrap();
    for f in 0..300 {
        std::fs::write(root.join(format!("{f}.txt")), "nothing here\n").unwrap();
    }
    let roots = Arc::new(rune_tools::Roots::new([&root]).unwrap());
    let opts = rune_tools::search::SearchOptions {
        progress_interval: std::time::Duration::ZERO,
        progress_every_files: u64::MAX,
        ..Default::default()
    };
    let mut c = Client::start(vec![rune_tools::search::text_search_tool_with(roots, opts)]).await;
    let (_, notes) = c
        .request_with_notes(
            "tools/call",
            json!({"name": "text_search", "arguments": {"pattern": "zzz"},
                   "_meta": {"progressToken": 9}}),
        )
        .await;
    let progress: Vec<f64> = notes
        .iter()
        .filter(|n| n["method"] == "notifications/progress")
        .map(|n| n["params"]["progress"].as_f64().unwrap())
        .collect();
    assert!(!progress.is_empty());
    assert!(progress.windows(2).all(|w| w[0] < w[1]), "{progress:?}");
    assert!(progress.iter().all(|&p| p <= 300.0));
}

/// A server on a pipe, driven message by message (for cancellation).
struct Raw {
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>>,
    w: tokio::io::WriteHalf<tokio::io::DuplexStream>,
}

impl Raw {
    async fn start(tool: rune_server::ToolDef) -> Raw {
        use tokio::io::AsyncBufReadExt as _;
        let server = rune_server::Server::builder("search-test", "0.0.0")
            .tool(tool)
            .build();
        let (client, server_end) = tokio::io::duplex(1 << 20);
        tokio::spawn(async move {
            let (r, w) = tokio::io::split(server_end);
            server.serve(r, w).await
        });
        let (r, w) = tokio::io::split(client);
        let mut raw = Raw {
            lines: tokio::io::BufReader::new(r).lines(),
            w,
        };
        raw.send(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"}}}),
        )
        .await;
        let init = raw.read().await;
        assert_eq!(init["id"], 1, "{init}");
        raw.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        raw
    }

    async fn send(&mut self, v: Value) {
        use tokio::io::AsyncWriteExt as _;
        let mut line = v.to_string().into_bytes();
        line.push(b'\n');
        self.w.write_all(&line).await.unwrap();
        self.w.flush().await.unwrap();
    }

    async fn read(&mut self) -> Value {
        let line = tokio::time::timeout(std::time::Duration::from_secs(20), self.lines.next_line())
            .await
            .expect("the server said something within 20 s")
            .unwrap()
            .expect("the server closed the connection");
        serde_json::from_str(&line).unwrap()
    }
}

/// `notifications/cancelled` stops the walk: no answer is written, and the search ends
/// having read a small part of the tree.
#[tokio::test]
async fn cancellation_stops_the_walk() {
    let s = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(s.path()).unwrap();
    const FILES: u64 = 2000;
    for d in 0..40 {
        let dir = root.join(format!("d{d:02}"));
        std::fs::create_dir(&dir).unwrap();
        for f in 0..FILES / 40 {
            std::fs::write(
                dir.join(format!("{f}.txt")),
                "some text that does not match\n".repeat(20),
            )
            .unwrap();
        }
    }
    let roots = Arc::new(rune_tools::Roots::new([&root]).unwrap());
    let stats = Arc::new(rune_tools::search::SearchStats::default());
    let opts = rune_tools::search::SearchOptions {
        threads: 1,
        progress_every_files: 20,
        stats: Some(stats.clone()),
        ..Default::default()
    };
    let mut p = Raw::start(rune_tools::search::text_search_tool_with(roots, opts)).await;
    p.send(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "text_search", "arguments": {"pattern": "zzz"},
        "_meta": {"progressToken": "walk"}}}),
    )
    .await;
    // The search is under way once it reports progress; then cancel it.
    loop {
        let m = p.read().await;
        assert_ne!(
            m["id"], 2,
            "the search ended before it could be cancelled: {m}"
        );
        if m["method"] == "notifications/progress" {
            break;
        }
    }
    p.send(
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                  "params": {"requestId": 2, "reason": "test"}}),
    )
    .await;
    let started = std::time::Instant::now();
    while stats.finished() == 0 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the walk did not stop"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(stats.cancelled(), 1);
    assert!(
        stats.files_searched() < FILES / 2,
        "{} of {FILES} files searched after cancellation",
        stats.files_searched()
    );
    // The connection goes on, and the cancelled request was never answered.
    p.send(json!({"jsonrpc": "2.0", "id": 3, "method": "ping"}))
        .await;
    loop {
        let m = p.read().await;
        assert_ne!(m["id"], 2, "a cancelled request got an answer: {m}");
        if m["id"] == 3 {
            break;
        }
    }
}

/// In-process: an observer that is already cancelled stops the search before any file.
#[test]
fn a_cancelled_search_reads_nothing() {
    let s = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(s.path()).unwrap();
    tree(&root);
    let roots = rune_tools::Roots::new([&root]).unwrap();
    let mut args = rune_tools::search::TextSearchArgs::new("Needle");
    args.max_results = 10000;
    args.max_bytes = 4 << 20;
    let opts = rune_tools::search::SearchOptions::default();
    let out =
        rune_tools::search::search(&roots, &args, &opts, &rune_tools::search::Unobserved).unwrap();
    assert_eq!(out.files_searched, 300);
    assert!(!out.cancelled);
    let cancel = std::sync::atomic::AtomicBool::new(true);
    let out = rune_tools::search::search(&roots, &args, &opts, &cancel).unwrap();
    assert_eq!(out.files_searched, 0);
    assert!(out.cancelled && out.truncated);
    assert!(out.matches.is_empty());
    assert!(out.note.unwrap().contains("cancelled"));
}

/// A directory swapped for a symbolic link to the outside while searches run: files are
/// opened beneath the root, so nothing from outside is ever read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_swapped_for_a_link_never_leads_outside() {
    let s = Sandbox::new();
    let inside = s.root.join("d");
    let moved = s.root.join("d.moved");
    std::fs::create_dir(&inside).unwrap();
    let decoy = s.outside.join("d");
    std::fs::create_dir(&decoy).unwrap();
    for f in 0..200 {
        std::fs::write(inside.join(format!("{f}.txt")), "findme inside\n").unwrap();
        std::fs::write(
            decoy.join(format!("{f}.txt")),
            format!("findme {}\n", common::SECRET),
        )
        .unwrap();
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        let (inside, moved, decoy) = (inside.clone(), moved.clone(), decoy.clone());
        std::thread::spawn(move || {
            let mut swaps = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::fs::rename(&inside, &moved).unwrap();
                std::os::unix::fs::symlink(&decoy, &inside).unwrap();
                std::thread::sleep(std::time::Duration::from_micros(300));
                std::fs::remove_file(&inside).unwrap();
                std::fs::rename(&moved, &inside).unwrap();
                std::thread::sleep(std::time::Duration::from_micros(300));
                swaps += 1;
            }
            swaps
        })
    };
    let mut c = searcher(&s.root).await;
    let mut seen = 0;
    for _ in 0..60 {
        let r = c
            .call(
                "text_search",
                json!({"pattern": "findme", "path": ".", "max_results": 10000, "max_bytes": 4194304}),
            )
            .await;
        if r.is_error() {
            continue; // the search path itself may be caught mid-swap
        }
        common::assert_no_secret(&r.0.to_string());
        seen += r.structured()["matches"].as_array().unwrap().len();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(swaps > 0 && seen > 0, "swaps {swaps}, matches {seen}");
}

/// A tree like a small project: nested directories, a `.gitignore` (a directory and a glob),
/// hidden files and directories, a binary file, lines made from a small vocabulary.
fn project(root: &Path) {
    let words = [
        "needle", "Needle", "NEEDLE", "needles", "needle_x", "xneedle", "fn", "let", "foo_12(",
        "bar_7(", "Alpha", "beta", "return", "{", "}", "42", "needle.", "(needle)", "haystack",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let dirs = [
        "src",
        "src/a",
        "src/a/b",
        "lib",
        "docs",
        "target/debug",
        ".hidden",
        "logs",
    ];
    for d in dirs {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join(".gitignore"), "target/\n*.log\n").unwrap();
    for i in 0..320 {
        let dir = dirs[i % dirs.len()];
        let ext = ["rs", "txt", "md", "log"][i % 4];
        let mut text = String::new();
        for _ in 0..(next() % 40) {
            let n = next() % 9;
            let line: Vec<&str> = (0..n)
                .map(|_| words[(next() % words.len() as u64) as usize])
                .collect();
            text.push_str(&line.join(" "));
            text.push('\n');
        }
        std::fs::write(root.join(dir).join(format!("f{i}.{ext}")), text).unwrap();
    }
    std::fs::write(root.join(".env"), "needle in a hidden file\n").unwrap();
    std::fs::write(root.join("src/blob.bin"), b"\0\x01needle\nNeedle\n").unwrap();
}

/// (path, line) of every match, from `path:line:text` lines.
fn parse_grep(out: &[u8]) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = String::from_utf8_lossy(out)
        .lines()
        .filter_map(|l| {
            let (path, rest) = l.split_once(':')?;
            let (line, _) = rest.split_once(':')?;
            Some((path.to_owned(), line.parse().ok()?))
        })
        .collect();
    v.sort();
    v
}

/// The same matches as `grep -rn` (told to skip what `.gitignore`, hidden-file and binary
/// rules skip) and, when it is installed, as ripgrep.
#[tokio::test]
async fn same_matches_as_grep_and_ripgrep() {
    let s = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(s.path()).unwrap().join("project");
    std::fs::create_dir(&root).unwrap();
    project(&root);
    let mut c = searcher(&root).await;
    let rg = std::process::Command::new("rg")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !rg {
        eprintln!("rg is not installed: only grep is compared (scripts/install-bench-tools.sh)");
    }
    // (text_search arguments, grep flags, rg flags)
    let cases: [(Value, &[&str], &[&str]); 6] = [
        (json!({"pattern": "needle"}), &["-F"], &["-F"]),
        (
            json!({"pattern": "needle", "case_insensitive": true}),
            &["-F", "-i"],
            &["-F", "-i"],
        ),
        (
            json!({"pattern": "needle", "whole_word": true}),
            &["-F", "-w"],
            &["-F", "-w"],
        ),
        (
            json!({"pattern": "(foo|bar)_[0-9]+\\(", "regex": true}),
            &["-E"],
            &[],
        ),
        (
            json!({"pattern": "^Needle [a-z]+$", "regex": true}),
            &["-E"],
            &[],
        ),
        (
            json!({"pattern": "NEEDLE", "patterns": ["haystack 42", "return }"]}),
            &["-F", "-e", "haystack 42", "-e", "return }"],
            &["-F", "-e", "haystack 42", "-e", "return }"],
        ),
    ];
    let mut visible: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_str().unwrap().to_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    visible.sort();
    for (args, grep_flags, rg_flags) in cases {
        let r = c.call("text_search", big_limits(args.clone())).await.ok();
        assert_eq!(r.structured()["truncated"], false);
        let mut mine: Vec<(String, u64)> = got(r.structured())
            .into_iter()
            .map(|(p, l, _)| (p, l))
            .collect();
        mine.dedup();
        let pattern = args["pattern"].as_str().unwrap();
        // grep runs in the root on its visible entries (its `--exclude-dir=.*` would also
        // match a hidden parent of an absolute path).
        let grep = std::process::Command::new("grep")
            .env("LC_ALL", "C")
            .current_dir(&root)
            .args(["-r", "-n", "-I", "--exclude-dir=target", "--exclude=*.log"])
            .args(["--exclude-dir=.*", "--exclude=.*"])
            .args(grep_flags)
            .args(["-e", pattern])
            .args(&visible)
            .output()
            .unwrap();
        assert!(grep.status.code().unwrap() <= 1, "{grep:?}");
        let mut want: Vec<(String, u64)> = parse_grep(&grep.stdout)
            .into_iter()
            .map(|(p, l)| (root.join(p).to_str().unwrap().to_owned(), l))
            .collect();
        want.sort();
        assert!(!want.is_empty(), "{args}: grep found nothing");
        assert_eq!(mine, want, "text_search vs grep for {args}");
        if rg {
            let out = std::process::Command::new("rg")
                .args(["--no-config", "-n", "--no-heading", "--with-filename"])
                .args(["--color", "never", "--no-require-git", "--no-ignore-global"])
                .args(rg_flags)
                .args(["-e", pattern])
                .arg(&root)
                .output()
                .unwrap();
            assert!(out.status.code().unwrap() <= 1, "{out:?}");
            assert_eq!(
                mine,
                parse_grep(&out.stdout),
                "text_search vs rg for {args}"
            );
        }
    }
}

/// Streamed chunks of a large file: a line longer than a chunk, lines ending exactly at
/// chunk edges, a last line without a line break.
#[tokio::test]
async fn large_files_with_long_lines_and_odd_edges() {
    let s = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(s.path()).unwrap();
    let mut text = String::new();
    text.push_str("needle first\n");
    let mut long = "x".repeat(2_500_000);
    long.push_str(" needle at the end of a long line");
    text.push_str(&long);
    text.push('\n');
    // Pad so that a line ends exactly at the 3 MiB and 4 MiB edges.
    for edge in [3usize << 20, 4 << 20] {
        let pad = edge - text.len() - 1;
        text.push_str(&"y".repeat(pad));
        text.push('\n');
        text.push_str("needle right after an edge\n");
    }
    while text.len() < 5 << 20 {
        text.push_str("filler line\n");
    }
    text.push_str("last needle, no line break");
    std::fs::write(root.join("big.txt"), &text).unwrap();
    let want = reference(&root, |l| l.find("needle"));
    assert_eq!(want.len(), 5);
    for threads in [1, 3] {
        let roots = Arc::new(rune_tools::Roots::new([&root]).unwrap());
        let opts = rune_tools::search::SearchOptions {
            threads,
            ..Default::default()
        };
        let mut c =
            Client::start(vec![rune_tools::search::text_search_tool_with(roots, opts)]).await;
        for context in [0, 1] {
            let r = c
                .call(
                    "text_search",
                    json!({"pattern": "needle", "context": context, "max_bytes": 4194304}),
                )
                .await
                .ok();
            assert_eq!(
                got(r.structured()),
                want,
                "threads {threads}, context {context}"
            );
            let m = &r.structured()["matches"];
            assert!(m[1]["text"].as_str().unwrap().ends_with('…'));
            assert_eq!(m[4]["text"], "last needle, no line break");
        }
    }
}

#[tokio::test]
async fn the_schema_documents_patterns_and_multiline() {
    let s = tempfile::tempdir().unwrap();
    let c = searcher(s.path()).await;
    let tool = &c.tools[0];
    let input = &tool["inputSchema"];
    assert_eq!(input["additionalProperties"], false);
    let required = input["required"].as_array().cloned().unwrap_or_default();
    assert!(required.is_empty(), "{required:?}");
    let props = &input["properties"];
    assert_eq!(props["pattern"]["type"], "string");
    assert_eq!(props["pattern"]["minLength"], 1);
    assert_eq!(props["patterns"]["type"], "array");
    assert_eq!(props["patterns"]["maxItems"], 1000);
    assert_eq!(props["patterns"]["items"]["minLength"], 1);
    assert_eq!(props["multiline"]["type"], "boolean");
    for field in ["pattern", "patterns", "multiline"] {
        assert!(
            props[field]["description"].as_str().unwrap().len() > 40,
            "{field}"
        );
    }
    assert_eq!(
        tool["outputSchema"]["properties"]["matches"]["items"]["properties"]["end_line"]["type"],
        "integer"
    );
}
