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
