//! The writing tools driven through a real `rune_server::Server` over an in-memory pipe.

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{Client, Sandbox, assert_no_secret};
use rune_tools::WriteOptions;
use serde_json::json;

async fn writer(root: &Path, opts: WriteOptions) -> Client {
    let roots = Arc::new(rune_tools::Roots::new([root]).unwrap());
    Client::start(rune_tools::write_tools(roots, opts)).await
}

fn backups(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(root.join(".rune-backup")) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

#[tokio::test]
async fn file_write_is_listed_with_write_annotations() {
    let s = Sandbox::new();
    let c = writer(&s.root, WriteOptions::default()).await;
    let t = c.tools.iter().find(|t| t["name"] == "file_write").unwrap();
    let a = &t["annotations"];
    assert_eq!(a["readOnlyHint"], false);
    assert_eq!(a["destructiveHint"], true);
    assert_eq!(a["idempotentHint"], true);
    assert_eq!(a["openWorldHint"], false);
    assert_eq!(t["inputSchema"]["additionalProperties"], false);
    assert_eq!(t["outputSchema"]["type"], "object");
}

#[tokio::test]
async fn file_write_creates_and_overwrites() {
    let s = Sandbox::new();
    let mut c = writer(&s.root, WriteOptions::default()).await;
    let r = c
        .call(
            "file_write",
            json!({"path": "new.txt", "content": "hello\n"}),
        )
        .await
        .ok();
    let st = r.structured();
    assert_eq!(st["created"], true);
    assert_eq!(st["bytes_written"], 6);
    assert_eq!(st["backup"], json!(null));
    assert_eq!(st["path"], s.root.join("new.txt").to_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(s.root.join("new.txt")).unwrap(),
        "hello\n"
    );
    assert!(backups(&s.root).is_empty(), "no backup of a new file");

    let r = c
        .call("file_write", json!({"path": "a.txt", "content": "ALPHA"}))
        .await
        .ok();
    let st = r.structured();
    assert_eq!(st["created"], false);
    let b = st["backup"].as_str().unwrap();
    assert!(
        b.starts_with(s.root.join(".rune-backup/a.txt.").to_str().unwrap()),
        "{b}"
    );
    assert_eq!(std::fs::read_to_string(b).unwrap(), "alpha\n");
    assert_eq!(
        std::fs::read_to_string(s.root.join("a.txt")).unwrap(),
        "ALPHA"
    );
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(&s.root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("rune-tmp")), "{names:?}");
}

#[tokio::test]
async fn backups_keep_the_last_three_versions_per_file() {
    let s = Sandbox::new();
    let mut c = writer(&s.root, WriteOptions::default()).await;
    for i in 0..6 {
        c.call(
            "file_write",
            json!({"path": "sub/b.txt", "content": format!("v{i}")}),
        )
        .await
        .ok();
    }
    c.call("file_write", json!({"path": "a.txt", "content": "x"}))
        .await
        .ok();
    let all = backups(&s.root);
    let b: Vec<&String> = all.iter().filter(|n| n.starts_with("sub%b.txt.")).collect();
    assert_eq!(b.len(), 3, "{all:?}");
    let contents: Vec<String> = b
        .iter()
        .map(|n| std::fs::read_to_string(s.root.join(".rune-backup").join(n)).unwrap())
        .collect();
    assert_eq!(contents, ["v2", "v3", "v4"]);
    assert_eq!(all.iter().filter(|n| n.starts_with("a.txt.")).count(), 1);
    assert_eq!(
        std::fs::read_to_string(s.root.join("sub/b.txt")).unwrap(),
        "v5"
    );
}

#[tokio::test]
async fn backup_location_and_count_are_configurable() {
    let s = Sandbox::new();
    let opts = WriteOptions {
        backup_dir: ".bk/files".into(),
        backup_keep: 1,
    };
    let mut c = writer(&s.root, opts).await;
    for i in 0..3 {
        c.call(
            "file_write",
            json!({"path": "a.txt", "content": format!("v{i}")}),
        )
        .await
        .ok();
    }
    let names: Vec<_> = std::fs::read_dir(s.root.join(".bk/files"))
        .unwrap()
        .collect();
    assert_eq!(names.len(), 1);
    let p = names.into_iter().next().unwrap().unwrap().path();
    assert_eq!(std::fs::read_to_string(p).unwrap(), "v1");
    assert!(!s.root.join(".rune-backup").exists());

    let opts = WriteOptions {
        backup_keep: 0,
        ..WriteOptions::default()
    };
    let mut c = writer(&s.root, opts).await;
    let r = c
        .call("file_write", json!({"path": "a.txt", "content": "z"}))
        .await
        .ok();
    assert_eq!(r.structured()["backup"], json!(null));
    assert!(!s.root.join(".rune-backup").exists());
}

#[tokio::test]
async fn permissions_are_preserved() {
    let s = Sandbox::new();
    let p = s.root.join("run.sh");
    std::fs::write(&p, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o750)).unwrap();
    let mut c = writer(&s.root, WriteOptions::default()).await;
    c.call(
        "file_write",
        json!({"path": "run.sh", "content": "#!/bin/sh\necho hi\n"}),
    )
    .await
    .ok();
    let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o750);
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "#!/bin/sh\necho hi\n");
}

#[tokio::test]
async fn create_dirs_creates_missing_parents_inside_the_root_only() {
    let s = Sandbox::new();
    let mut c = writer(&s.root, WriteOptions::default()).await;
    c.call(
        "file_write",
        json!({"path": "x/y/z.txt", "content": "deep"}),
    )
    .await
    .err(&["does not exist"]);
    assert!(!s.root.join("x").exists());
    let r = c
        .call(
            "file_write",
            json!({"path": "x/y/z.txt", "content": "deep", "create_dirs": true}),
        )
        .await
        .ok();
    assert_eq!(r.structured()["created"], true);
    assert_eq!(
        std::fs::read_to_string(s.root.join("x/y/z.txt")).unwrap(),
        "deep"
    );
    // Missing parents outside the root are never created.
    let out = s.outside.join("made/f.txt");
    c.call(
        "file_write",
        json!({"path": out.to_str().unwrap(), "content": "x", "create_dirs": true}),
    )
    .await
    .err(&["outside the allowed roots"]);
    assert!(!s.outside.join("made").exists());
    // Nor through a symbolic link leading out.
    std::os::unix::fs::symlink(&s.outside, s.root.join("out")).unwrap();
    c.call(
        "file_write",
        json!({"path": "out/made/f.txt", "content": "x", "create_dirs": true}),
    )
    .await
    .err(&["symbolic link"]);
    assert!(!s.outside.join("made").exists());
}

#[tokio::test]
async fn writes_outside_the_roots_are_refused() {
    let s = Sandbox::new();
    std::os::unix::fs::symlink(&s.outside, s.root.join("out")).unwrap();
    std::os::unix::fs::symlink(s.outside.join("secret.txt"), s.root.join("link.txt")).unwrap();
    let mut c = writer(&s.root, WriteOptions::default()).await;
    let secret_before = std::fs::read_to_string(s.outside.join("secret.txt")).unwrap();
    let cases: Vec<(String, &str)> = vec![
        ("../outside/secret.txt".into(), "outside the allowed roots"),
        ("../outside/new.txt".into(), "outside the allowed roots"),
        (
            s.outside.join("new.txt").to_str().unwrap().into(),
            "outside",
        ),
        (
            s.sibling.join("new.txt").to_str().unwrap().into(),
            "outside",
        ),
        ("sub/../../outside/new.txt".into(), "outside"),
        ("out/secret.txt".into(), "symbolic link"),
        ("out/new.txt".into(), "symbolic link"),
        ("link.txt".into(), "symbolic link"),
        ("sub/..".into(), "file name"),
        ("sub".into(), "directory"),
        ("a.txt\u{0}x".into(), "NUL"),
        ("~/x.txt".into(), "~"),
    ];
    for (p, needle) in cases {
        let r = c
            .call("file_write", json!({"path": p, "content": "PWNED"}))
            .await;
        assert!(r.is_error(), "{p} was accepted");
        r.err(&[needle]);
    }
    assert_eq!(
        std::fs::read_to_string(s.outside.join("secret.txt")).unwrap(),
        secret_before
    );
    assert!(!s.outside.join("new.txt").exists());
    assert!(!s.sibling.join("new.txt").exists());
    assert!(
        std::fs::symlink_metadata(s.root.join("link.txt"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(s.root.join("sub").is_dir());
    assert_no_secret(&format!("{:?}", backups(&s.root)));
}

#[tokio::test]
async fn read_only_mode_refuses_writes() {
    let s = Sandbox::new();
    let roots = Arc::new(rune_tools::Roots::new([&s.root]).unwrap().read_only(true));
    let mut c = Client::start(rune_tools::write_tools(roots, WriteOptions::default())).await;
    c.call("file_write", json!({"path": "a.txt", "content": "x"}))
        .await
        .err(&["read-only"]);
    c.call(
        "file_write",
        json!({"path": "n/m.txt", "content": "x", "create_dirs": true}),
    )
    .await
    .err(&["read-only"]);
    assert_eq!(
        std::fs::read_to_string(s.root.join("a.txt")).unwrap(),
        "alpha\n"
    );
    assert!(!s.root.join("n").exists());
    assert!(!s.root.join(".rune-backup").exists());
}

#[tokio::test]
async fn a_failed_write_leaves_the_old_file_intact() {
    let s = Sandbox::new();
    // The directory is not writable: the temporary file cannot be created.
    let d = s.root.join("locked");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("f.txt"), "old").unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o555)).unwrap();
    let mut c = writer(
        &s.root,
        WriteOptions {
            backup_keep: 0,
            ..Default::default()
        },
    )
    .await;
    let r = c
        .call(
            "file_write",
            json!({"path": "locked/f.txt", "content": "new"}),
        )
        .await;
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    if rustix::process::geteuid().is_root() {
        return; // root ignores permissions
    }
    r.err(&["locked/f.txt"]);
    assert_eq!(std::fs::read_to_string(d.join("f.txt")).unwrap(), "old");
    let names: Vec<_> = std::fs::read_dir(&d).unwrap().collect();
    assert_eq!(names.len(), 1);
}

#[tokio::test]
async fn concurrent_readers_never_see_a_torn_file() {
    let s = Sandbox::new();
    let p = s.root.join("big.txt");
    let a = "a".repeat(1 << 20);
    let b = "b".repeat(1 << 20);
    std::fs::write(&p, &a).unwrap();
    let opts = WriteOptions {
        backup_keep: 0,
        ..Default::default()
    };
    let mut c = writer(&s.root, opts).await;
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        let p = p.clone();
        std::thread::spawn(move || {
            let mut reads = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let got = std::fs::read(&p).unwrap();
                assert_eq!(got.len(), 1 << 20, "a reader saw a partial file");
                assert!(
                    got.iter().all(|&x| x == b'a') || got.iter().all(|&x| x == b'b'),
                    "a reader saw a mix of old and new contents"
                );
                reads += 1;
            }
            reads
        })
    };
    for i in 0..20 {
        let content = if i % 2 == 0 { &b } else { &a };
        c.call("file_write", json!({"path": "big.txt", "content": content}))
            .await
            .ok();
    }
    stop.store(true, Ordering::Relaxed);
    let reads = reader.join().unwrap();
    assert!(reads > 0);
    assert_eq!(std::fs::read(&p).unwrap(), a.as_bytes());
}

#[tokio::test]
async fn a_write_failing_midway_leaves_the_old_file_and_no_temp_file() {
    let s = Sandbox::new();
    // The backup directory cannot be created (a file is in its place): the write fails after
    // the temporary file was written, before the rename.
    std::fs::write(s.root.join(".rune-backup"), "not a directory").unwrap();
    let mut c = writer(&s.root, WriteOptions::default()).await;
    c.call("file_write", json!({"path": "a.txt", "content": "new"}))
        .await
        .err(&["a.txt"]);
    assert_eq!(
        std::fs::read_to_string(s.root.join("a.txt")).unwrap(),
        "alpha\n"
    );
    let names: Vec<String> = std::fs::read_dir(&s.root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("rune-tmp")), "{names:?}");
}

#[tokio::test]
async fn file_edit_replaces_exact_text_and_returns_a_diff() {
    let s = Sandbox::new();
    let p = s.root.join("code.rs");
    std::fs::write(&p, "fn a() {}\nfn b() {}\nlet x = 1;\nlet x = 1;\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut c = writer(&s.root, WriteOptions::default()).await;
    let t = c.tools.iter().find(|t| t["name"] == "file_edit").unwrap();
    assert_eq!(t["annotations"]["readOnlyHint"], false);
    assert_eq!(t["annotations"]["destructiveHint"], true);
    let r = c
        .call(
            "file_edit",
            json!({"path": "code.rs", "edits": [
                {"old": "fn b() {}", "new": "fn b() { 2 }"},
                {"old": "let x = 1;", "new": "let x = 2;", "all": true}
            ]}),
        )
        .await
        .ok();
    let st = r.structured();
    assert_eq!(st["replacements"], 3);
    assert_eq!(st["dry_run"], false);
    let diff = st["diff"].as_str().unwrap();
    assert!(diff.contains("--- a/code.rs\n+++ b/code.rs\n"), "{diff}");
    assert!(
        diff.contains("-fn b() {}\n-let x = 1;\n-let x = 1;\n+fn b() { 2 }\n"),
        "{diff}"
    );
    assert!(diff.contains("+let x = 2;\n"), "{diff}");
    assert!(r.text().contains("+fn b() { 2 }"));
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        "fn a() {}\nfn b() { 2 }\nlet x = 2;\nlet x = 2;\n"
    );
    let b = st["backup"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(b).unwrap(),
        "fn a() {}\nfn b() {}\nlet x = 1;\nlet x = 1;\n"
    );
    assert_eq!(
        std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
        0o600
    );
}

#[tokio::test]
async fn file_edit_requires_unique_matches() {
    let s = Sandbox::new();
    let p = s.root.join("t.txt");
    std::fs::write(&p, "x = 1\nx = 1\ny = 2\n").unwrap();
    let mut c = writer(&s.root, WriteOptions::default()).await;
    c.call(
        "file_edit",
        json!({"path": "t.txt", "edits": [{"old": "x = 1", "new": "x = 3"}]}),
    )
    .await
    .err(&["edit 1", "found 2 times", "more context", "all"]);
    c.call(
        "file_edit",
        json!({"path": "t.txt", "edits": [{"old": "z = 9", "new": "q"}]}),
    )
    .await
    .err(&["edit 1", "not found"]);
    // A later failing edit leaves the file untouched, earlier ones included.
    c.call(
        "file_edit",
        json!({"path": "t.txt", "edits": [
            {"old": "y = 2", "new": "y = 5"},
            {"old": "nope", "new": "q"}
        ]}),
    )
    .await
    .err(&["edit 2", "not found"]);
    c.call(
        "file_edit",
        json!({"path": "t.txt", "edits": [{"old": "", "new": "q"}]}),
    )
    .await
    .err(&["old"]);
    c.call("file_edit", json!({"path": "t.txt", "edits": []}))
        .await
        .err(&["edits"]);
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        "x = 1\nx = 1\ny = 2\n"
    );
    assert!(backups(&s.root).is_empty());
}

#[tokio::test]
async fn file_edit_dry_run_changes_nothing() {
    let s = Sandbox::new();
    let mut c = writer(&s.root, WriteOptions::default()).await;
    let before = std::fs::metadata(s.root.join("a.txt"))
        .unwrap()
        .modified()
        .unwrap();
    let r = c
        .call(
            "file_edit",
            json!({"path": "a.txt", "dry_run": true, "edits": [{"old": "alpha", "new": "omega"}]}),
        )
        .await
        .ok();
    let st = r.structured();
    assert_eq!(st["dry_run"], true);
    assert_eq!(st["backup"], json!(null));
    assert_eq!(
        st["diff"],
        "--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-alpha\n+omega\n"
    );
    assert_eq!(
        std::fs::read_to_string(s.root.join("a.txt")).unwrap(),
        "alpha\n"
    );
    assert_eq!(
        std::fs::metadata(s.root.join("a.txt"))
            .unwrap()
            .modified()
            .unwrap(),
        before
    );
    assert!(backups(&s.root).is_empty());
}

#[tokio::test]
async fn file_edit_refuses_read_only_mode_and_paths_outside() {
    let s = Sandbox::new();
    std::os::unix::fs::symlink(s.outside.join("secret.txt"), s.root.join("link.txt")).unwrap();
    let roots = Arc::new(rune_tools::Roots::new([&s.root]).unwrap().read_only(true));
    let mut c = Client::start(rune_tools::write_tools(roots, WriteOptions::default())).await;
    c.call(
        "file_edit",
        json!({"path": "a.txt", "edits": [{"old": "alpha", "new": "b"}]}),
    )
    .await
    .err(&["read-only"]);
    assert_eq!(
        std::fs::read_to_string(s.root.join("a.txt")).unwrap(),
        "alpha\n"
    );
    let mut c = writer(&s.root, WriteOptions::default()).await;
    for p in ["../outside/secret.txt", "link.txt"] {
        c.call(
            "file_edit",
            json!({"path": p, "edits": [{"old": "TOP", "new": "X"}]}),
        )
        .await
        .err(&[]);
    }
    assert_eq!(
        std::fs::read_to_string(s.outside.join("secret.txt")).unwrap(),
        common::SECRET
    );
}

#[tokio::test]
async fn create_directory_creates_parents_and_refuses_outside() {
    let s = Sandbox::new();
    std::os::unix::fs::symlink(&s.outside, s.root.join("out")).unwrap();
    let mut c = writer(&s.root, WriteOptions::default()).await;
    let r = c
        .call("create_directory", json!({"path": "p/q/r"}))
        .await
        .ok();
    assert_eq!(r.structured()["created"], true);
    assert!(s.root.join("p/q/r").is_dir());
    let r = c
        .call("create_directory", json!({"path": "p/q/r"}))
        .await
        .ok();
    assert_eq!(r.structured()["created"], false);
    c.call("create_directory", json!({"path": "a.txt"}))
        .await
        .err(&["is a file"]);
    c.call("create_directory", json!({"path": "../outside/d"}))
        .await
        .err(&["outside"]);
    c.call("create_directory", json!({"path": "out/d/e"}))
        .await
        .err(&["symbolic link"]);
    assert!(!s.outside.join("d").exists());
    let roots = Arc::new(rune_tools::Roots::new([&s.root]).unwrap().read_only(true));
    let mut ro = Client::start(rune_tools::write_tools(roots, WriteOptions::default())).await;
    ro.call("create_directory", json!({"path": "n"}))
        .await
        .err(&["read-only"]);
    assert!(!s.root.join("n").exists());
}

#[tokio::test]
async fn move_path_renames_and_refuses_overwrite_and_escapes() {
    let s = Sandbox::new();
    std::os::unix::fs::symlink(&s.outside, s.root.join("out")).unwrap();
    let mut c = writer(&s.root, WriteOptions::default()).await;
    let r = c
        .call(
            "move_path",
            json!({"source": "a.txt", "destination": "sub/c.txt"}),
        )
        .await
        .ok();
    assert_eq!(r.structured()["replaced"], false);
    assert!(!s.root.join("a.txt").exists());
    assert_eq!(
        std::fs::read_to_string(s.root.join("sub/c.txt")).unwrap(),
        "alpha\n"
    );
    // An existing destination needs overwrite.
    c.call(
        "move_path",
        json!({"source": "sub/c.txt", "destination": "sub/b.txt"}),
    )
    .await
    .err(&["already exists", "overwrite"]);
    assert_eq!(
        std::fs::read_to_string(s.root.join("sub/b.txt")).unwrap(),
        "beta\n"
    );
    let r = c
        .call(
            "move_path",
            json!({"source": "sub/c.txt", "destination": "sub/b.txt", "overwrite": true}),
        )
        .await
        .ok();
    assert_eq!(r.structured()["replaced"], true);
    assert_eq!(
        std::fs::read_to_string(s.root.join("sub/b.txt")).unwrap(),
        "alpha\n"
    );
    // Directories move too.
    c.call("move_path", json!({"source": "sub", "destination": "sub2"}))
        .await
        .ok();
    assert!(s.root.join("sub2/b.txt").is_file());
    // Nothing leaves the root, and nothing outside is moved in.
    for (from, to) in [
        ("sub2/b.txt", "../outside/b2.txt"),
        ("sub2/b.txt", "out/b2.txt"),
        ("../outside/secret.txt", "stolen.txt"),
        ("out/secret.txt", "stolen.txt"),
        ("missing.txt", "x.txt"),
        ("sub2/b.txt", "nodir/x.txt"),
    ] {
        let r = c
            .call("move_path", json!({"source": from, "destination": to}))
            .await;
        assert!(r.is_error(), "{from} -> {to} was accepted");
        r.err(&[]);
    }
    assert!(s.outside.join("secret.txt").is_file());
    assert!(!s.outside.join("b2.txt").exists());
    assert!(!s.root.join("stolen.txt").exists());
    // A symbolic link is moved itself, not its target.
    c.call("move_path", json!({"source": "out", "destination": "out2"}))
        .await
        .ok();
    assert!(
        std::fs::symlink_metadata(s.root.join("out2"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(s.outside.join("secret.txt").is_file());
    // Read-only mode.
    let roots = Arc::new(rune_tools::Roots::new([&s.root]).unwrap().read_only(true));
    let mut ro = Client::start(rune_tools::write_tools(roots, WriteOptions::default())).await;
    ro.call(
        "move_path",
        json!({"source": "sub2", "destination": "sub3"}),
    )
    .await
    .err(&["read-only"]);
    assert!(s.root.join("sub2").is_dir());
}

#[tokio::test]
async fn move_path_between_roots_is_refused() {
    let s = Sandbox::new();
    let roots = Arc::new(rune_tools::Roots::new([&s.root, &s.sibling]).unwrap());
    let mut c = Client::start(rune_tools::write_tools(roots, WriteOptions::default())).await;
    let to = s.sibling.join("a.txt");
    c.call(
        "move_path",
        json!({"source": "a.txt", "destination": to.to_str().unwrap()}),
    )
    .await
    .err(&["different roots"]);
    assert!(s.root.join("a.txt").is_file());
}

/// Set in the environment of `crash_writer_child`: the directory it writes in.
const CRASH_CHILD_DIR: &str = "RUNE_TEST_CRASH_WRITER_DIR";

/// The two versions the crash test's writer alternates between: different sizes and bytes,
/// so a truncated file, a mix of both or a partly written one equals neither.
fn crash_versions() -> (String, String) {
    let a = format!("{}\n", "a".repeat(63)).repeat(8 << 14); // 8 MiB
    let b = format!("{}\n", "B".repeat(99)).repeat(60_000); // 6 MB
    (a, b)
}

fn write_args(path: &str, content: &str) -> rune_tools::write::FileWriteArgs {
    serde_json::from_value(json!({"path": path, "content": content})).unwrap()
}

/// Temporary files of the writing tools in `dir`.
fn temp_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".rune-tmp-"))
        .collect();
    v.sort();
    v
}

fn set_age(path: &Path, age: std::time::Duration) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    let t = std::time::SystemTime::now() - age;
    f.set_times(std::fs::FileTimes::new().set_modified(t))
        .unwrap();
}

/// Not a test by itself: the writer process of the crash test below (this test binary run
/// again with `CRASH_CHILD_DIR` set). It overwrites `f.txt` with the two versions in turn,
/// through `file_write`'s own code, until it is killed (or 30 s pass).
#[test]
fn crash_writer_child() {
    let Some(dir) = std::env::var_os(CRASH_CHILD_DIR) else {
        return;
    };
    let roots = rune_tools::Roots::new([&dir]).unwrap();
    let opts = WriteOptions {
        backup_keep: 1,
        ..Default::default()
    };
    let (a, b) = crash_versions();
    let (a, b) = (write_args("f.txt", &a), write_args("f.txt", &b));
    println!("ready");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        for args in [&b, &a] {
            let r = rune_tools::write::file_write(&roots, &opts, args).unwrap();
            assert_ne!(r.is_error, Some(true));
        }
    }
}

/// kill -9 of a process in the middle of large writes: the file is always exactly the old or
/// the new version, never truncated or mixed; the temporary files the killed writers leave
/// behind are removed by the next write to the directory.
#[test]
fn kill_9_during_large_writes_leaves_the_old_or_the_new_file() {
    use std::io::BufRead as _;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let tmp = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(tmp.path()).unwrap();
    let f = dir.join("f.txt");
    let (a, b) = crash_versions();
    std::fs::write(&f, &a).unwrap();
    let exe = std::env::current_exe().unwrap();
    // A small xorshift generator, seeded from the clock: each run kills at other moments.
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let started = Instant::now();
    let (mut kills, mut saw_a, mut saw_b) = (0, 0, 0);
    while kills < 10 && started.elapsed() < Duration::from_secs(4) {
        let mut child = Command::new(&exe)
            .args([
                "crash_writer_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CRASH_CHILD_DIR, &dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until it writes, then kill it at a random moment of the next 150 ms.
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        // The harness may print "test crash_writer_child ... " on the same line.
        while !line.trim_end().ends_with("ready") {
            line.clear();
            if out.read_line(&mut line).unwrap() == 0 {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the writer process ended before it was ready");
            }
        }
        std::thread::sleep(Duration::from_micros(next() % 150_000));
        assert!(
            child.try_wait().unwrap().is_none(),
            "the writer process ended by itself"
        );
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        let got = std::fs::read(&f).unwrap();
        if got == a.as_bytes() {
            saw_a += 1;
        } else if got == b.as_bytes() {
            saw_b += 1;
        } else {
            panic!(
                "after kill {kills} the file is neither version: {} bytes, starting {:?}",
                got.len(),
                String::from_utf8_lossy(&got[..got.len().min(40)])
            );
        }
    }
    eprintln!(
        "{kills} kills: the file was the 8 MiB version {saw_a} times, the 6 MB one {saw_b} times"
    );
    assert!(kills >= 3, "only {kills} kills in the time given");

    // The killed writers left their temporary files (a kill mid-write is the common case).
    let left = temp_files(&dir);
    assert!(!left.is_empty(), "no kill landed during a write");
    // Once they are older than the grace period, the next write removes them.
    for n in &left {
        set_age(&dir.join(n), Duration::from_secs(10));
    }
    let roots = rune_tools::Roots::new([&dir]).unwrap();
    let r = rune_tools::write::file_write(
        &roots,
        &WriteOptions::default(),
        &write_args("f.txt", "done\n"),
    )
    .unwrap();
    assert_ne!(r.is_error, Some(true));
    assert_eq!(temp_files(&dir), Vec::<String>::new(), "left: {left:?}");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "done\n");
}

/// The sweep of stale temporary files removes exactly those of dead writers: unlocked, not
/// just created, and either of a process that is gone or untouched for over an hour; in the
/// target's directory and in the backup directory.
#[tokio::test]
async fn stale_temp_files_are_swept_by_the_next_write() {
    use std::time::Duration;
    let s = Sandbox::new();
    let me = std::process::id();
    let dead = u32::MAX; // never a pid
    let root = &s.root;
    let minute = Duration::from_secs(60);
    let hours = Duration::from_secs(2 * 3600);
    let make = |name: &str, age: Option<Duration>| {
        std::fs::write(root.join(name), "partial").unwrap();
        if let Some(age) = age {
            set_age(&root.join(name), age);
        }
    };
    let dead_old = format!(".f.txt.rune-tmp-{dead}-1");
    let dead_new = format!(".g.txt.rune-tmp-{dead}-2");
    let locked_old = format!(".h.txt.rune-tmp-{dead}-3");
    let mine_recent = format!(".i.txt.rune-tmp-{me}-4");
    let mine_old = format!(".j.txt.rune-tmp-{me}-5");
    make(&dead_old, Some(minute));
    make(&dead_new, None);
    make(&locked_old, Some(hours));
    make(&mine_recent, Some(minute));
    make(&mine_old, Some(hours));
    make("notes.rune-tmp-1-2", Some(hours)); // no leading dot: not ours
    make(".k.rune-tmp-x-y", Some(hours)); // no pid and time: not ours
    std::fs::create_dir(root.join(format!(".d.rune-tmp-{dead}-6"))).unwrap();
    // A live writer holds the lock of its temporary file.
    let held = std::fs::File::open(root.join(&locked_old)).unwrap();
    rustix::fs::flock(&held, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
    // A killed backup copy.
    std::fs::create_dir(root.join(".rune-backup")).unwrap();
    let backup_tmp = format!(".a.txt.1.rune-tmp-{dead}-7");
    make(&format!(".rune-backup/{backup_tmp}"), Some(minute));

    let mut c = writer(root, WriteOptions::default()).await;
    c.call("file_write", json!({"path": "a.txt", "content": "new\n"}))
        .await
        .ok();
    let mut kept = vec![
        dead_new,
        locked_old,
        mine_recent,
        format!(".d.rune-tmp-{dead}-6"),
        ".k.rune-tmp-x-y".to_owned(),
        "notes.rune-tmp-1-2".to_owned(),
    ];
    kept.sort();
    assert_eq!(temp_files(root), kept);
    assert_eq!(temp_files(&root.join(".rune-backup")), Vec::<String>::new());
    assert_eq!(backups(root).len(), 1);
    drop(held);
}

/// A backup has the old file's permissions, whether it is the old file itself (a hard link)
/// or a copy (the old file has another link, so linking would share it).
#[tokio::test]
async fn backups_keep_the_old_permissions() {
    use std::os::unix::fs::MetadataExt as _;
    let s = Sandbox::new();
    let linked = s.root.join("linked.txt");
    let copied = s.root.join("copied.txt");
    for p in [&linked, &copied] {
        std::fs::write(p, "secret v1\n").unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    // A second name for copied.txt, outside the backups.
    std::fs::hard_link(&copied, s.root.join("copied-alias.txt")).unwrap();
    let old_inode = |p: &Path| std::fs::metadata(p).unwrap().ino();
    let inodes = [old_inode(&linked), old_inode(&copied)];
    let mut c = writer(&s.root, WriteOptions::default()).await;
    for (name, old) in ["linked.txt", "copied.txt"].into_iter().zip(inodes) {
        let r = c
            .call("file_write", json!({"path": name, "content": "v2\n"}))
            .await
            .ok();
        let b = r.structured()["backup"].as_str().unwrap().to_owned();
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "secret v1\n");
        let md = std::fs::metadata(&b).unwrap();
        assert_eq!(md.permissions().mode() & 0o777, 0o600, "{name}");
        // linked.txt had one name: its backup is the old file itself; copied.txt had two.
        assert_eq!(md.ino() == old, name == "linked.txt", "{name}");
        assert_eq!(std::fs::read_to_string(s.root.join(name)).unwrap(), "v2\n");
    }
    // The other name of copied.txt still has the old contents.
    assert_eq!(
        std::fs::read_to_string(s.root.join("copied-alias.txt")).unwrap(),
        "secret v1\n"
    );
}
