//! The path jail: one test per refusal, each checking the error and that nothing from
//! outside the root came back; both on `Roots` directly and through the tools over MCP.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::os::unix::fs::symlink;
use std::time::{Duration, Instant};

use common::{Client, SECRET, Sandbox, assert_no_secret, mkfifo};
use rune_tools::GuardError;
use serde_json::json;

fn refused(r: Result<rune_tools::ResolvedPath, GuardError>) -> GuardError {
    match r {
        Ok(p) => panic!("expected a refusal, got {}", p.absolute().display()),
        Err(e) => {
            assert_no_secret(&e.to_string());
            e
        }
    }
}

#[test]
fn relative_and_absolute_paths_inside_the_root_resolve() {
    let s = Sandbox::new();
    let roots = s.roots();
    let p = roots.resolve("sub/b.txt").unwrap();
    assert_eq!(p.absolute(), s.root.join("sub/b.txt"));
    assert_eq!(p.relative(), std::path::Path::new("sub/b.txt"));
    let p = roots
        .resolve(s.root.join("a.txt").to_str().unwrap())
        .unwrap();
    assert_eq!(p.relative(), std::path::Path::new("a.txt"));
    // `..` that stays inside is fine.
    let p = roots.resolve("sub/../a.txt").unwrap();
    assert_eq!(p.absolute(), s.root.join("a.txt"));
    let p = roots.resolve(".").unwrap();
    assert_eq!(p.absolute(), s.root);
    let mut text = String::new();
    roots
        .resolve("a.txt")
        .unwrap()
        .open_file()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "alpha\n");
}

#[test]
fn dotdot_escape_is_refused() {
    let s = Sandbox::new();
    let roots = s.roots();
    for p in [
        "../outside/secret.txt",
        "sub/../../outside/secret.txt",
        "..",
        "./../a.txt",
    ] {
        let e = refused(roots.resolve(p));
        assert!(matches!(e, GuardError::Outside { .. }), "{p}: {e}");
        assert!(e.to_string().contains("outside the allowed roots"), "{e}");
        assert!(
            e.to_string().contains(&s.root.display().to_string()),
            "names the roots: {e}"
        );
    }
}

#[test]
fn absolute_path_elsewhere_is_refused() {
    let s = Sandbox::new();
    let roots = s.roots();
    let secret = s.outside.join("secret.txt");
    for p in [secret.to_str().unwrap(), "/etc/passwd", "/"] {
        let e = refused(roots.resolve(p));
        assert!(matches!(e, GuardError::Outside { .. }), "{p}: {e}");
    }
}

#[test]
fn symlink_to_a_file_outside_is_refused() {
    let s = Sandbox::new();
    symlink(s.outside.join("secret.txt"), s.root.join("link.txt")).unwrap();
    symlink("../outside/secret.txt", s.root.join("rel-link.txt")).unwrap();
    let roots = s.roots();
    for p in ["link.txt", "rel-link.txt"] {
        let e = refused(roots.resolve(p));
        assert!(matches!(e, GuardError::SymlinkEscape { .. }), "{p}: {e}");
        assert!(e.to_string().contains("symbolic link"), "{e}");
    }
}

#[test]
fn symlinked_parent_directory_outside_is_refused() {
    let s = Sandbox::new();
    symlink(&s.outside, s.root.join("linkdir")).unwrap();
    let roots = s.roots();
    let e = refused(roots.resolve("linkdir/secret.txt"));
    assert!(matches!(e, GuardError::SymlinkEscape { .. }), "{e}");
    let e = refused(roots.resolve("linkdir"));
    assert!(matches!(e, GuardError::SymlinkEscape { .. }), "{e}");
    // `..` is folded lexically before links are followed: `linkdir/../a.txt` is the root's
    // a.txt, never the kernel's `<target>/../a.txt` (the sandbox's top, holding a secret).
    let p = roots.resolve("linkdir/../a.txt").unwrap();
    assert_eq!(p.absolute(), s.root.join("a.txt"));
    let mut t = String::new();
    p.open_file().unwrap().read_to_string(&mut t).unwrap();
    assert_eq!(t, "alpha\n");
}

#[test]
fn symlink_inside_the_root_is_followed() {
    let s = Sandbox::new();
    symlink("sub/b.txt", s.root.join("inside-link")).unwrap();
    symlink(s.root.join("sub"), s.root.join("abs-dir-link")).unwrap();
    let roots = s.roots();
    let p = roots.resolve("inside-link").unwrap();
    assert_eq!(p.relative(), std::path::Path::new("sub/b.txt"));
    let p = roots.resolve("abs-dir-link/b.txt").unwrap();
    assert_eq!(p.absolute(), s.root.join("sub/b.txt"));
    let mut t = String::new();
    p.open_file().unwrap().read_to_string(&mut t).unwrap();
    assert_eq!(t, "beta\n");
}

#[test]
fn nul_byte_is_refused() {
    let s = Sandbox::new();
    let e = refused(s.roots().resolve("a.txt\0../../outside/secret.txt"));
    assert!(matches!(e, GuardError::Nul), "{e}");
    assert!(e.to_string().contains("NUL"), "{e}");
}

#[test]
fn tilde_is_refused_not_expanded() {
    let s = Sandbox::new();
    std::fs::write(s.root.join("~notes"), "tilde file\n").unwrap();
    let roots = s.roots();
    for p in ["~", "~/.ssh/id_rsa", "~root/.bashrc", "~notes"] {
        let e = refused(roots.resolve(p));
        assert!(matches!(e, GuardError::Tilde { .. }), "{p}: {e}");
        let m = e.to_string();
        assert!(
            m.contains("not expanded") && m.contains("inside an allowed root"),
            "{m}"
        );
    }
    // The message's advice works for a file really named `~notes`.
    assert!(roots.resolve("./~notes").is_ok());
}

#[test]
fn overlong_path_is_refused() {
    let s = Sandbox::new();
    let long = "a/".repeat(2100);
    let e = refused(s.roots().resolve(&long));
    assert!(
        matches!(e, GuardError::TooLong { len } if len == 4200),
        "{e}"
    );
    assert!(e.to_string().contains("4096"), "{e}");
    // Short input that becomes too long once joined to the root.
    let near = "b".repeat(4090);
    let e = refused(s.roots().resolve(&near));
    assert!(matches!(e, GuardError::TooLong { .. }), "{e}");
}

#[test]
fn empty_path_is_refused() {
    let s = Sandbox::new();
    let e = refused(s.roots().resolve(""));
    assert!(matches!(e, GuardError::Empty { .. }), "{e}");
}

#[test]
fn root_that_is_a_string_prefix_of_a_sibling_does_not_admit_it() {
    let s = Sandbox::new();
    // The root is <tmp>/proj; <tmp>/projx starts with the same characters.
    assert!(
        s.sibling
            .to_str()
            .unwrap()
            .starts_with(s.root.to_str().unwrap())
    );
    let roots = s.roots();
    let abs = s.sibling.join("secret.txt");
    let e = refused(roots.resolve(abs.to_str().unwrap()));
    assert!(matches!(e, GuardError::Outside { .. }), "{e}");
    let e = refused(roots.resolve("../projx/secret.txt"));
    assert!(matches!(e, GuardError::Outside { .. }), "{e}");
    symlink(&abs, s.root.join("to-sibling")).unwrap();
    let e = refused(roots.resolve("to-sibling"));
    assert!(matches!(e, GuardError::SymlinkEscape { .. }), "{e}");
}

#[test]
fn case_variant_of_the_root_is_a_different_place() {
    let s = Sandbox::new();
    // On a case-sensitive file system <tmp>/PROJ is another directory; a path through it
    // must not pass for one inside <tmp>/proj.
    let upper = s.tmp.path().join("PROJ");
    std::fs::create_dir(&upper).unwrap();
    std::fs::write(upper.join("secret.txt"), SECRET).unwrap();
    let roots = s.roots();
    let e = refused(roots.resolve(upper.join("secret.txt").to_str().unwrap()));
    assert!(matches!(e, GuardError::Outside { .. }), "{e}");
    let e = refused(roots.resolve("../PROJ/secret.txt"));
    assert!(matches!(e, GuardError::Outside { .. }), "{e}");
}

#[test]
fn fifo_is_refused_without_blocking() {
    let s = Sandbox::new();
    mkfifo(&s.root.join("pipe"));
    let t = Instant::now();
    let e = refused(s.roots().resolve("pipe"));
    assert!(
        matches!(e, GuardError::Special { kind, .. } if kind.contains("FIFO")),
        "{e}"
    );
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn socket_is_refused() {
    let s = Sandbox::new();
    let _l = std::os::unix::net::UnixListener::bind(s.root.join("sock")).unwrap();
    let e = refused(s.roots().resolve("sock"));
    assert!(
        matches!(e, GuardError::Special { kind: "socket", .. }),
        "{e}"
    );
}

#[test]
fn device_file_is_refused() {
    // A root holding device files: /dev.
    let roots = rune_tools::Roots::new(["/dev"]).unwrap();
    let e = refused(roots.resolve("null"));
    assert!(
        matches!(
            e,
            GuardError::Special {
                kind: "character device",
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string().contains("only regular files and directories"),
        "{e}"
    );
    // A link in a root to a device elsewhere is outside the root.
    let s = Sandbox::new();
    symlink("/dev/zero", s.root.join("zero")).unwrap();
    let e = refused(s.roots().resolve("zero"));
    assert!(matches!(e, GuardError::SymlinkEscape { .. }), "{e}");
}

#[test]
fn missing_path_is_reported() {
    let s = Sandbox::new();
    let e = refused(s.roots().resolve("nope.txt"));
    assert!(matches!(e, GuardError::NotFound { .. }), "{e}");
    assert!(e.to_string().contains("does not exist"), "{e}");
}

#[test]
fn roots_that_do_not_exist_or_are_files_are_refused() {
    let s = Sandbox::new();
    let e = rune_tools::Roots::new([s.tmp.path().join("missing")]).unwrap_err();
    assert!(
        matches!(e, GuardError::BadRoot { .. }) && e.to_string().contains("does not exist"),
        "{e}"
    );
    let e = rune_tools::Roots::new([s.root.join("a.txt")]).unwrap_err();
    assert!(e.to_string().contains("not a directory"), "{e}");
    let e = rune_tools::Roots::new(Vec::<std::path::PathBuf>::new()).unwrap_err();
    assert!(matches!(e, GuardError::NoRoots), "{e}");
}

#[test]
fn several_roots_relative_to_the_first_absolute_in_any() {
    let s = Sandbox::new();
    let roots = rune_tools::Roots::new([&s.root, &s.sibling]).unwrap();
    assert!(roots.resolve("a.txt").is_ok());
    let p = roots
        .resolve(s.sibling.join("secret.txt").to_str().unwrap())
        .unwrap();
    assert_eq!(p.root(), s.sibling);
    // A root given through a symbolic link: both spellings work.
    symlink(&s.root, s.tmp.path().join("alias")).unwrap();
    let alias = s.tmp.path().join("alias");
    let roots = rune_tools::Roots::new([&alias]).unwrap();
    let p = roots
        .resolve(alias.join("a.txt").to_str().unwrap())
        .unwrap();
    assert_eq!(p.absolute(), s.root.join("a.txt"));
}

#[test]
fn read_only_flag_refuses_writes() {
    let s = Sandbox::new();
    let roots = s.roots().read_only(true);
    assert!(roots.is_read_only());
    let p = roots.resolve("a.txt").unwrap();
    let e = roots.check_writable(&p).unwrap_err();
    assert!(
        matches!(e, GuardError::ReadOnly { .. }) && e.to_string().contains("read-only"),
        "{e}"
    );
    let roots = s.roots();
    assert!(
        roots
            .check_writable(&roots.resolve("a.txt").unwrap())
            .is_ok()
    );
}

#[test]
fn parent_swapped_for_a_symlink_after_the_check_cannot_escape() {
    let s = Sandbox::new();
    let roots = s.roots();
    let p = roots.resolve("sub/b.txt").unwrap();
    // Between check and use, `sub` becomes a link to a directory outside holding b.txt.
    std::fs::rename(s.root.join("sub"), s.root.join("sub.orig")).unwrap();
    symlink(&s.outside, s.root.join("sub")).unwrap();
    let e = p.open_file().unwrap_err();
    assert!(matches!(e, GuardError::Changed { .. }), "{e}");
    assert!(
        e.to_string().contains("changed while it was being opened"),
        "{e}"
    );
    // Same with a relative link that climbs out.
    std::fs::remove_file(s.root.join("sub")).unwrap();
    symlink("../outside", s.root.join("sub")).unwrap();
    let e = p.open_file().unwrap_err();
    assert!(matches!(e, GuardError::Changed { .. }), "{e}");
}

#[test]
fn file_swapped_for_a_symlink_or_fifo_after_the_check_is_refused() {
    let s = Sandbox::new();
    let roots = s.roots();
    let p = roots.resolve("a.txt").unwrap();
    std::fs::remove_file(s.root.join("a.txt")).unwrap();
    symlink(s.outside.join("secret.txt"), s.root.join("a.txt")).unwrap();
    let e = p.open_file().unwrap_err();
    assert!(matches!(e, GuardError::Changed { .. }), "{e}");
    // A FIFO swapped in is neither waited on nor read.
    std::fs::remove_file(s.root.join("a.txt")).unwrap();
    mkfifo(&s.root.join("a.txt"));
    let t = Instant::now();
    let e = p.open_file().unwrap_err();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "opening a FIFO blocked"
    );
    assert!(
        matches!(e, GuardError::Special { kind, .. } if kind.contains("FIFO")),
        "{e}"
    );
    // A directory swapped for a link is refused as well.
    let d = roots.resolve("sub").unwrap();
    std::fs::rename(s.root.join("sub"), s.root.join("sub2")).unwrap();
    symlink(&s.outside, s.root.join("sub")).unwrap();
    assert!(matches!(
        d.open_dir().unwrap_err(),
        GuardError::Changed { .. }
    ));
}

// ---- The same refusals through the tools, over MCP ----

#[tokio::test]
async fn tools_refuse_escapes_with_clear_errors() {
    let s = Sandbox::new();
    symlink(s.outside.join("secret.txt"), s.root.join("link.txt")).unwrap();
    symlink(&s.outside, s.root.join("linkdir")).unwrap();
    mkfifo(&s.root.join("pipe"));
    let mut c = Client::on(&s.root).await;
    let secret = s.outside.join("secret.txt");
    let sib = s.sibling.join("secret.txt");
    let cases: Vec<(&str, &str)> = vec![
        ("../outside/secret.txt", "outside the allowed roots"),
        (secret.to_str().unwrap(), "outside the allowed roots"),
        (sib.to_str().unwrap(), "outside the allowed roots"),
        ("link.txt", "symbolic link"),
        ("linkdir/secret.txt", "symbolic link"),
        ("~/.bashrc", "not expanded"),
        ("a.txt\u{0}x", "NUL"),
        ("pipe", "FIFO"),
    ];
    for (path, needle) in &cases {
        for tool in ["file_read", "file_info"] {
            let t = Instant::now();
            c.call(tool, json!({"path": path})).await.err(&[needle]);
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "{tool} {path} took too long"
            );
        }
    }
    for tool in ["list_directory", "directory_tree"] {
        c.call(tool, json!({"path": "linkdir"}))
            .await
            .err(&["symbolic link"]);
        c.call(tool, json!({"path": "../outside"}))
            .await
            .err(&["outside the allowed roots"]);
    }
    let long = "a/".repeat(2100);
    c.call("file_read", json!({"path": long}))
        .await
        .err(&["4096"]);
    // file_read_many: each refusal reported on its own entry.
    let r = c
        .call(
            "file_read_many",
            json!({"paths": ["a.txt", "../outside/secret.txt", "link.txt", "pipe"]}),
        )
        .await
        .ok();
    assert_no_secret(&r.0.to_string());
    let files = r.structured()["files"].as_array().unwrap();
    assert_eq!(files[0]["status"], "ok");
    assert_eq!(files[1]["status"], "error");
    assert!(
        files[2]["error"]
            .as_str()
            .unwrap()
            .contains("symbolic link")
    );
    assert!(files[3]["error"].as_str().unwrap().contains("FIFO"));
}

#[tokio::test]
async fn listings_show_links_without_following_them() {
    let s = Sandbox::new();
    symlink(&s.outside, s.root.join("linkdir")).unwrap();
    mkfifo(&s.root.join("pipe"));
    let mut c = Client::on(&s.root).await;
    let r = c.call("directory_tree", json!({"max_depth": 5})).await.ok();
    assert_no_secret(&r.0.to_string());
    let names: Vec<&str> = r.structured()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"linkdir"));
    assert!(
        !names.iter().any(|n| n.contains("secret")),
        "walked through the link: {names:?}"
    );
    let r = c.call("list_directory", json!({})).await.ok();
    let entries = r.structured()["entries"].as_array().unwrap();
    let kind = |n: &str| {
        entries
            .iter()
            .find(|e| e["name"] == n)
            .map(|e| e["kind"].clone())
    };
    assert_eq!(kind("linkdir"), Some(json!("symlink")));
    assert_eq!(kind("pipe"), Some(json!("other")));
}

#[tokio::test]
async fn non_utf8_names_are_listed_lossily() {
    use std::os::unix::ffi::OsStrExt;
    let s = Sandbox::new();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
    std::fs::write(s.root.join(name), "latin-1 name\n").unwrap();
    std::fs::create_dir(s.root.join(std::ffi::OsStr::from_bytes(b"d\xff"))).unwrap();
    std::fs::write(
        s.root.join(std::ffi::OsStr::from_bytes(b"d\xff/inner.txt")),
        "x",
    )
    .unwrap();
    let mut c = Client::on(&s.root).await;
    let r = c.call("list_directory", json!({})).await.ok();
    let entries = r.structured()["entries"].as_array().unwrap();
    let e = entries
        .iter()
        .find(|e| e["name"] == "caf\u{FFFD}.txt")
        .unwrap();
    assert_eq!(e["non_utf8"], true);
    assert_eq!(e["kind"], "file");
    assert!(r.text().contains("caf\u{FFFD}.txt") && r.text().contains("not valid UTF-8"));
    let r = c.call("directory_tree", json!({})).await.ok();
    let entries = r.structured()["entries"].as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["name"] == "d\u{FFFD}/inner.txt"),
        "{entries:?}"
    );
    // The lossy name names no file; asking for it is a clean "does not exist".
    c.call("file_read", json!({"path": "caf\u{FFFD}.txt"}))
        .await
        .err(&["does not exist"]);
}
