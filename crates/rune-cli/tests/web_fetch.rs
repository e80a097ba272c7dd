//! `rune mcp-server` and web_fetch: left out unless asked for; `--web-fetch` serves it with
//! public addresses only; `[fetch]` in the configuration file opens loopback and sets the
//! cache.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// A web server on 127.0.0.1 answering every request with one small page, in a thread.
fn local_page() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { return };
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let body = "<html><body><h1>served-by-the-test</h1></body></html>";
            let _ = write!(
                sock,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nCache-Control: max-age=60\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    base
}

fn session(args: &[&str], home: &Path, calls: &[Value]) -> Vec<Value> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rune"))
        .arg("mcp-server")
        .args(args)
        .arg("--no-audit")
        .arg("--root")
        .arg(home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start rune");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"2025-11-25","capabilities":{{}},"clientInfo":{{"name":"t","version":"1"}}}}}}"#).expect("send");
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
    )
    .expect("send");
    for c in calls {
        writeln!(stdin, "{c}").expect("send");
    }
    drop(stdin);
    let out = BufReader::new(child.stdout.take().expect("stdout"));
    let replies: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(&l.expect("line")).expect("json"))
        .collect();
    assert!(child.wait().expect("exit").success());
    replies
}

fn reply(replies: &[Value], id: u64) -> &Value {
    replies
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no reply {id} in {replies:?}"))
}

fn served(replies: &[Value]) -> bool {
    reply(replies, 1)["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .any(|t| t["name"] == "web_fetch")
}

#[test]
fn web_fetch_is_opt_in_and_reaches_loopback_only_when_configured() {
    let tmp = std::env::temp_dir().join(format!("rune-web-fetch-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let base = local_page();
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let fetch = |id: u64, url: &str| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": "web_fetch", "arguments": {"url": url}}})
    };

    // Not asked for: not served.
    let r = session(&[], &tmp, std::slice::from_ref(&list));
    assert!(!served(&r));

    // --web-fetch: served, public addresses only.
    let r = session(&["--web-fetch"], &tmp, &[list.clone(), fetch(2, &base)]);
    assert!(served(&r));
    let res = &reply(&r, 2)["result"];
    assert_eq!(res["isError"], true, "{res}");
    let msg = res["content"][0]["text"].as_str().expect("text");
    assert!(
        msg.contains("loopback") && msg.contains("allow_loopback"),
        "{msg}"
    );

    // [fetch] enabled with loopback allowed and a cache directory next to the file.
    let config = tmp.join("rune.toml");
    std::fs::write(
        &config,
        "[fetch]\nenabled = true\nallow_loopback = true\ncache_dir = \"web-cache\"\n\
         timeout_secs = 5\n",
    )
    .expect("write config");
    let cfg = config.to_str().expect("utf-8 path");
    let r = session(
        &["--config", cfg],
        &tmp,
        &[list.clone(), fetch(2, &format!("{base}/p"))],
    );
    let res = &reply(&r, 2)["result"];
    assert_ne!(res["isError"], true, "{res}");
    assert!(
        res["structuredContent"]["content"]
            .as_str()
            .expect("content")
            .contains("served-by-the-test"),
        "{res}"
    );
    let cached = std::fs::read_dir(tmp.join("web-cache"))
        .expect("the cache directory from the file")
        .count();
    assert_eq!(cached, 1);
    // A second process finds the page in the disk cache.
    let r = session(&["--config", cfg], &tmp, &[fetch(2, &format!("{base}/p"))]);
    assert_eq!(reply(&r, 2)["result"]["structuredContent"]["cache"], "hit");

    // A typo in [fetch] is an error that names it.
    std::fs::write(&config, "[fetch]\nallow_loopbak = true\n").expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_rune"))
        .args(["mcp-server", "--config", cfg])
        .stdin(Stdio::null())
        .output()
        .expect("run rune");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("allow_loopbak"));
    let _ = std::fs::remove_dir_all(&tmp);
}
