//! Helpers shared by the integration tests: the official peers (installed by
//! `scripts/install-test-peers.sh`) and this workspace's binaries.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub struct Peers {
    pub py: PathBuf,
    pub node: PathBuf,
    pub node_modules: PathBuf,
    pub inspector: PathBuf,
    pub conformance: PathBuf,
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn peers() -> &'static Peers {
    static PEERS: OnceLock<Peers> = OnceLock::new();
    PEERS.get_or_init(|| {
        let out = Command::new("bash")
            .arg(repo_root().join("scripts/install-test-peers.sh"))
            .output()
            .expect("run scripts/install-test-peers.sh");
        assert!(
            out.status.success(),
            "installing the test peers failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let get = |key: &str| -> PathBuf {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    panic!("{key} missing from the install script's output:\n{text}")
                })
        };
        Peers {
            py: get("RUNE_PEERS_PY"),
            node: get("RUNE_PEERS_NODE"),
            node_modules: get("RUNE_PEERS_NODE_MODULES"),
            inspector: get("RUNE_PEERS_INSPECTOR"),
            conformance: get("RUNE_PEERS_CONFORMANCE"),
        }
    })
}

/// A binary of this workspace, built in the same profile as this test.
pub fn bin(name: &str) -> PathBuf {
    if name == "rune" {
        return PathBuf::from(env!("CARGO_BIN_EXE_rune"));
    }
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` first (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A server process listening on a loopback port; killed when dropped.
pub struct Listening {
    pub child: std::process::Child,
    /// What it printed: `http://127.0.0.1:PORT/mcp`, `tcp://…`.
    pub url: String,
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `program args…` (which must print `listening on URL` to stderr) and waits for the
/// address.
pub fn listen(program: &Path, args: &[&str], envs: &[(&str, &Path)]) -> Listening {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start the server");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stderr).lines();
        let mut sent = false;
        while let Some(Ok(line)) = lines.next() {
            if !sent && let Some(url) = line.strip_prefix("listening on ") {
                let _ = tx.send(url.trim().to_owned());
                sent = true;
            }
            // Keep draining so the server never blocks on a full pipe.
        }
    });
    let url = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the server did not print `listening on URL` within 20 s");
    Listening { child, url }
}
