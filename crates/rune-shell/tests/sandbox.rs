//! `shell_exec` through a real server: what it runs, what it reports, and every escape
//! attempt of the issue, each contained (or, where this host lacks the mechanism, reported
//! as missing rather than pretended).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Sandbox, gone, group_members, live_with, quick};
use rune_shell::{Limits, ShellOptions, probe};
use serde_json::json;

fn missing(r: &common::Res) -> String {
    r.st()["sandbox"]["missing"].to_string()
}

#[test]
fn the_probe_reports_every_mechanism_of_this_host() {
    let p = probe();
    assert!(!p.kernel.is_empty() && p.kernel != "unknown", "{p:?}");
    for m in [
        "landlock",
        "seccomp",
        "user_namespace",
        "network_namespace",
        "pidfd",
        "rlimits",
        "no_new_privs",
    ] {
        assert!(
            p.mechanisms
                .iter()
                .any(|x| x.name == m && !x.detail.is_empty()),
            "{m} missing from {p:?}"
        );
    }
    assert_eq!(p.landlock_abi.is_some(), p.has("landlock"));
    eprintln!("{}", p.lines().join("\n"));
}

#[tokio::test]
async fn runs_argv_and_reports_exit_code_duration_and_sandbox() {
    let s = Sandbox::new();
    let mut c = s.client(quick()).await;
    let r = c.exec(json!({"argv": ["cat", "a.txt"]})).await.ran();
    assert!(!r.is_error(), "{}", r.text());
    assert_eq!(r.exit_code(), Some(0));
    assert_eq!(r.stdout(), "alpha\n");
    assert!(r.st()["duration_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(r.st()["cwd"], s.root.to_string_lossy().as_ref());
    let applied = r.st()["sandbox"]["applied"].to_string();
    assert!(
        applied.contains("no_new_privs") && applied.contains("rlimits"),
        "{applied}"
    );
    assert!(r.text().contains("exit code 0"), "{}", r.text());

    let r = c
        .exec(json!({"argv": ["sh", "-c", "echo oops >&2; exit 3"]}))
        .await
        .ran();
    assert_eq!(r.exit_code(), Some(3));
    assert_eq!(r.stderr(), "oops\n");
    // A non-zero exit is a result, not a tool failure.
    assert!(!r.is_error());

    let r = c
        .exec(json!({"argv": ["sh", "-c", "kill -SEGV $$"]}))
        .await
        .ran();
    assert_eq!(r.st()["signal"], 11);
    assert_eq!(r.st()["signal_name"], "SIGSEGV");
    assert_eq!(r.exit_code(), None);

    let r = c
        .exec(json!({"argv": ["cat"], "stdin": "fed through stdin"}))
        .await
        .ran();
    assert_eq!(r.stdout(), "fed through stdin");
}

#[tokio::test]
async fn refusals_name_the_reason_and_run_nothing() {
    let s = Sandbox::new();
    let opts = ShellOptions {
        deny_programs: vec!["rm".into()],
        ..quick()
    };
    let mut c = s.client(opts).await;
    let r = c.exec(json!({"argv": ["rm", "a.txt"]})).await;
    assert!(r.is_error() && r.text().contains("denied"), "{}", r.text());
    assert!(s.root.join("a.txt").exists());
    let r = c
        .exec(json!({"argv": ["ls"], "cwd": s.outside.to_str().unwrap()}))
        .await;
    assert!(
        r.is_error() && r.text().contains("outside the allowed roots"),
        "{}",
        r.text()
    );
    let r = c.exec(json!({"argv": ["no-such-program-9d2"]})).await;
    assert!(
        r.is_error() && r.text().contains("not found"),
        "{}",
        r.text()
    );
    // Shell strings are opt-in: without it, `command` is not even in the schema.
    let r = c
        .request(
            "tools/call",
            json!({"name": "shell_exec", "arguments": {"command": "ls"}}),
        )
        .await
        .0;
    assert!(r.to_string().contains("command"), "{r}");
    assert!(
        c.tools[0]["inputSchema"]["properties"]
            .get("command")
            .is_none()
    );

    let allow = ShellOptions {
        allow_programs: vec!["echo".into()],
        shell_strings: true,
        ..quick()
    };
    let mut c = s.client(allow).await;
    assert!(
        c.tools[0]["inputSchema"]["properties"]
            .get("command")
            .is_some()
    );
    let r = c.exec(json!({"argv": ["echo", "hi"]})).await.ran();
    assert_eq!(r.stdout(), "hi\n");
    // A shell string runs `sh`, which the allow-list does not name.
    let r = c.exec(json!({"command": "echo hi"})).await;
    assert!(
        r.is_error() && r.text().contains("allowed programs"),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn shell_strings_run_when_enabled() {
    let s = Sandbox::new();
    let mut c = s
        .client(ShellOptions {
            shell_strings: true,
            ..quick()
        })
        .await;
    let r = c
        .exec(json!({"command": "printf '%s\\n' a b | wc -l"}))
        .await
        .ran();
    assert_eq!(r.stdout().trim(), "2");
    assert_eq!(r.st()["argv"][1], "-c");
}

#[tokio::test]
async fn the_environment_carries_no_secret_of_the_server() {
    let s = Sandbox::new();
    let mut c = s.client(quick()).await;
    let r = c
        .exec(json!({"argv": ["env"], "env": {"CALL_VAR": "given"}}))
        .await
        .ran();
    let names: Vec<String> = r
        .stdout()
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.to_owned()))
        .collect();
    let allowed = |n: &str| {
        [
            "PATH", "LANG", "LANGUAGE", "TERM", "TZ", "HOME", "TMPDIR", "CALL_VAR",
        ]
        .contains(&n)
            || n.starts_with("LC_")
    };
    for n in &names {
        assert!(allowed(n), "{n} leaked into the command's environment");
    }
    assert!(names.iter().any(|n| n == "CALL_VAR"));
    // The test process has variables that are not on the list (cargo sets several): the
    // filter had something to remove.
    assert!(std::env::vars().any(|(k, _)| !allowed(&k)));
    let home = r
        .stdout()
        .lines()
        .find_map(|l| l.strip_prefix("HOME=").map(str::to_owned))
        .unwrap();
    assert!(
        home.contains("rune-shell-"),
        "HOME is the private temp dir: {home}"
    );
    // And the private temp dir is gone after the call.
    assert!(!std::path::Path::new(&home).exists());
}

#[tokio::test]
async fn writing_outside_the_roots_is_denied_inside_allowed() {
    let s = Sandbox::new();
    let mut c = s.client(quick()).await;
    let target = s.outside.join("pwned");
    let script = format!(
        "echo x > '{}'; echo in > inside.txt; echo t > \"$TMPDIR/t\" && cat \"$TMPDIR/t\"",
        target.display()
    );
    let r = c.exec(json!({"argv": ["sh", "-c", script]})).await.ran();
    assert_eq!(
        std::fs::read_to_string(s.root.join("inside.txt")).unwrap(),
        "in\n"
    );
    assert_eq!(r.stdout(), "t\n", "{}", r.text());
    if probe().has("landlock") {
        assert!(!target.exists(), "wrote outside the roots: {}", r.text());
        assert!(r.stderr().contains("Permission denied"), "{}", r.stderr());
    } else {
        assert!(missing(&r).contains("landlock"), "{}", missing(&r));
    }
}

#[tokio::test]
async fn read_only_roots_are_read_only_for_commands() {
    if !probe().has("landlock") {
        return; // without Landlock read-only roots cannot be enforced; reported per call
    }
    let s = Sandbox::new();
    let tool = rune_shell::shell_exec_tool(s.roots(true), quick());
    let mut c = common::Client::start(tool).await;
    let r = c
        .exec(json!({"argv": ["sh", "-c", "cat a.txt; echo x > new.txt"]}))
        .await
        .ran();
    assert_eq!(r.stdout(), "alpha\n");
    assert!(!s.root.join("new.txt").exists());
    assert!(r.stderr().contains("Permission denied"), "{}", r.stderr());
}

#[tokio::test]
async fn reading_outside_the_roots_is_denied() {
    let s = Sandbox::new();
    let mut c = s.client(quick()).await;
    let secret = s.outside.join("secret.txt");
    let r = c
        .exec(json!({"argv": ["cat", secret.to_str().unwrap()]}))
        .await
        .ran();
    if probe().has("landlock") {
        r.no_secret();
        assert_ne!(r.exit_code(), Some(0));
        // The server's own environment through /proc: Landlock forbids it (ptrace scoping).
        let me = std::process::id();
        let r = c
            .exec(json!({"argv": ["cat", format!("/proc/{me}/environ")]}))
            .await
            .ran();
        assert_ne!(r.exit_code(), Some(0), "read the server's environment");
        assert!(r.stdout().is_empty());
        // The home directory and /tmp are outside too.
        let r = c.exec(json!({"argv": ["ls", "/tmp"]})).await.ran();
        assert_ne!(r.exit_code(), Some(0), "{}", r.text());
    } else {
        assert!(missing(&r).contains("landlock"));
    }
}

#[tokio::test]
async fn the_server_cannot_be_signalled_from_the_sandbox() {
    if probe().landlock_abi.is_none_or(|v| v < 6) {
        return; // reported as missing per call (landlock scoping)
    }
    let s = Sandbox::new();
    let mut c = s.client(quick()).await;
    let me = std::process::id().to_string();
    let r = c.exec(json!({"argv": ["kill", "-0", me]})).await.ran();
    assert_ne!(r.exit_code(), Some(0), "{}", r.text());
    let r = c
        .exec(json!({"argv": ["sh", "-c", "kill -0 -1"]}))
        .await
        .ran();
    assert_ne!(r.exit_code(), Some(0), "{}", r.text());
}

#[tokio::test]
async fn opening_a_socket_is_refused_unless_the_network_is_allowed() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let s = Sandbox::new();
    let script = format!("echo hello > /dev/tcp/127.0.0.1/{port}");
    let mut c = s.client(quick()).await;
    let r = c.exec(json!({"argv": ["bash", "-c", &script]})).await.ran();
    let blocked = probe().has("seccomp") || probe().has("network_namespace");
    if blocked {
        assert_ne!(r.exit_code(), Some(0), "{}", r.text());
        assert!(listener.accept().is_err(), "a connection got through");
        assert_eq!(r.st()["sandbox"]["network"], false);
    } else {
        assert!(missing(&r).contains("network"), "{}", missing(&r));
    }
    // The control: with the network allowed, the same command connects.
    let mut c = s
        .client(ShellOptions {
            network: true,
            ..quick()
        })
        .await;
    let r = c.exec(json!({"argv": ["bash", "-c", &script]})).await.ran();
    assert_eq!(r.exit_code(), Some(0), "{}", r.text());
    assert!(
        listener.accept().is_ok(),
        "the control connection did not arrive"
    );
}

#[tokio::test]
async fn a_fork_bomb_is_contained() {
    let p = probe();
    let s = Sandbox::new();
    let opts = ShellOptions {
        limits: Limits {
            processes: 24,
            ..Limits::default()
        },
        timeout: Duration::from_secs(5),
        ..quick()
    };
    let mut c = s.client(opts).await;
    if p.root && !p.has("pids_cgroup") {
        // Root is exempt from RLIMIT_NPROC (in any user namespace): without a pids cgroup the
        // bomb would not be bounded, so it is not run; the result of every call says so.
        let r = c.exec(json!({"argv": ["true"]})).await.ran();
        assert!(missing(&r).contains("process limit"), "{}", missing(&r));
        return;
    }
    // First show the limit holds: 60 sleeps asked for, at most 24 processes get to exist.
    let started = Instant::now();
    let r = c
        .exec(json!({"argv": ["sh", "-c",
            "n=0; while [ $n -lt 60 ]; do sleep 30.25 & n=$((n+1)); done; \
             ls /proc | grep -c '^[0-9]' >/dev/null; wait"]}))
        .await
        .ran();
    assert!(
        r.stderr().to_lowercase().contains("fork") || r.stderr().contains("unavailable"),
        "no fork failed under the process limit: {}",
        r.text()
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(gone("30.25", Duration::from_secs(3)).await);
    // The bomb itself: it ends when its group is killed, leaving nothing behind.
    let r = c
        .exec(json!({"argv": ["bash", "-c", "b() { b | b & }; b; sleep 3"]}))
        .await
        .ran();
    let pgid = r.st()["pid"].as_u64().unwrap() as u32;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        group_members(pgid).is_empty(),
        "survivors: {:?}",
        group_members(pgid)
    );
}

#[tokio::test]
async fn huge_output_keeps_head_and_tail_with_a_marker() {
    let s = Sandbox::new();
    let mut c = s.client(quick()).await;
    let r = c
        .exec(json!({"argv": ["sh", "-c", "echo FIRST; yes 'filler line' | head -c 20000000; echo; echo LAST"]}))
        .await
        .ran();
    assert_eq!(r.st()["truncated"], true);
    let out = r.stdout();
    assert!(out.starts_with("FIRST\n"), "{}", &out[..100]);
    assert!(out.ends_with("LAST\n"));
    assert!(out.contains("bytes of stdout omitted"));
    assert!(out.len() < 17 * 1024, "{} bytes kept", out.len());
    assert_eq!(r.st()["stdout_bytes"], 6 + 20_000_000 + 1 + 5);
    assert!(r.text().contains("truncated"));
}

#[tokio::test]
async fn a_child_that_outlives_its_parent_is_killed_with_it() {
    let s = Sandbox::new();
    let mut c = s.client(quick()).await;
    let started = Instant::now();
    // The child keeps stdout open: without the group kill, reading would wait for it.
    let r = c
        .exec(json!({"argv": ["sh", "-c", "sleep 31.5 & echo parent leaves"]}))
        .await
        .ran();
    assert_eq!(r.stdout(), "parent leaves\n");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        gone("31.5", Duration::from_secs(3)).await,
        "the child survived"
    );
    // A daemon that tries to leave the group with setsid.
    let r = c
        .exec(json!({"argv": ["sh", "-c", "setsid sleep 32.5 > /dev/null 2>&1 < /dev/null & sleep 0.2; echo done"]}))
        .await
        .ran();
    assert_eq!(r.stdout(), "done\n");
    if probe().has("seccomp") {
        assert!(
            gone("32.5", Duration::from_secs(3)).await,
            "setsid escaped the group"
        );
    } else {
        assert!(missing(&r).contains("setsid"), "{}", missing(&r));
        for pid in live_with("32.5") {
            std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status()
                .ok();
        }
    }
}

#[tokio::test]
async fn a_command_that_ignores_sigterm_is_killed_after_the_grace() {
    let s = Sandbox::new();
    let mut c = s
        .client(ShellOptions {
            kill_grace: Duration::from_millis(700),
            ..quick()
        })
        .await;
    let started = Instant::now();
    let r = c
        .exec(json!({"argv": ["sh", "-c", "trap '' TERM; echo ready; sleep 33.5"], "timeout_secs": 1}))
        .await
        .ran();
    let took = started.elapsed();
    assert!(r.is_error(), "a timeout is reported as an error");
    assert_eq!(r.st()["timed_out"], true);
    assert_eq!(r.st()["signal"], 9, "{}", r.text());
    assert_eq!(r.stdout(), "ready\n");
    assert!(r.text().contains("TIMED OUT"));
    assert!(
        took >= Duration::from_millis(1600) && took < Duration::from_secs(6),
        "{took:?}"
    );
    assert!(gone("33.5", Duration::from_secs(3)).await);
}

#[tokio::test]
async fn limits_apply_to_every_process() {
    let s = Sandbox::new();
    let mut c = s
        .client(ShellOptions {
            limits: Limits {
                file_size_bytes: 1 << 20,
                ..Limits::default()
            },
            ..quick()
        })
        .await;
    let r = c
        .exec(json!({"argv": ["sh", "-c", "ulimit -f; ulimit -n; ulimit -v; head -c 3000000 /dev/zero > big.bin"]}))
        .await
        .ran();
    let lines: Vec<&str> = r.st()["stdout"].as_str().unwrap().lines().collect();
    assert_eq!(lines[..3], ["2048", "1024", "4194304"], "{}", r.text());
    let size = std::fs::metadata(s.root.join("big.bin")).unwrap().len();
    assert_eq!(size, 1 << 20, "the file size limit did not hold");
    assert_ne!(r.exit_code(), Some(0));
}

#[tokio::test]
async fn output_streams_as_progress_and_cancellation_kills_the_group() {
    let s = Sandbox::new();
    let mut c = s.client(quick()).await;
    let (resp, notes) = c
        .request(
            "tools/call",
            json!({"name": "shell_exec", "arguments": {"argv": ["sh", "-c", "echo one; sleep 0.3; echo two >&2"]},
                   "_meta": {"progressToken": "p1"}}),
        )
        .await;
    let res = c.check(resp).ran();
    assert_eq!(res.exit_code(), Some(0));
    let msgs: Vec<String> = notes
        .iter()
        .filter(|n| n["method"] == "notifications/progress")
        .map(|n| {
            n["params"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert!(msgs.iter().any(|m| m == "stdout: one\n"), "{msgs:?}");
    assert!(msgs.iter().any(|m| m == "stderr: two\n"), "{msgs:?}");

    // Cancel a running command once it has said something.
    let id = c
        .start_request(
            "tools/call",
            json!({"name": "shell_exec", "arguments": {"argv": ["sh", "-c", "echo started; sleep 34.5 & sleep 34.5"]},
                   "_meta": {"progressToken": "p2"}}),
        )
        .await;
    loop {
        let m = c.next_message().await;
        if m["method"] == "notifications/progress" {
            break;
        }
        assert_ne!(
            m.get("id"),
            Some(&json!(id)),
            "ended before the cancel: {m}"
        );
    }
    assert!(!live_with("34.5").is_empty());
    c.send(
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": id}}),
    )
    .await;
    assert!(
        gone("34.5", Duration::from_secs(3)).await,
        "cancel did not kill the group"
    );
}

#[tokio::test]
async fn the_result_names_what_was_applied_and_what_was_left_out() {
    let p = probe();
    let s = Sandbox::new();
    let mut c = s
        .client(ShellOptions {
            always_network_namespace: true,
            pids_cgroup: false,
            ..quick()
        })
        .await;
    let r = c.exec(json!({"argv": ["true"]})).await.ran();
    let applied = r.st()["sandbox"]["applied"].to_string();
    let missing = missing(&r);
    assert_eq!(
        applied.contains("network namespace"),
        p.has("network_namespace"),
        "{applied}"
    );
    assert_eq!(applied.contains("landlock"), p.has("landlock"), "{applied}");
    assert_eq!(
        missing.contains("landlock"),
        !p.has("landlock"),
        "{missing}"
    );
    assert_eq!(applied.contains("seccomp"), p.has("seccomp"), "{applied}");
    if p.root {
        // Root without the pids cgroup has no process limit: said, not hidden.
        assert!(missing.contains("process limit"), "{missing}");
        assert!(r.text().contains("process limit"), "{}", r.text());
    }
}

#[tokio::test]
async fn the_clients_roots_narrow_what_commands_may_touch() {
    if !probe().has("landlock") {
        return; // the narrowing of files is Landlock's; reported per call when missing
    }
    let s = Sandbox::new();
    std::fs::create_dir_all(s.root.join("sub")).unwrap();
    let roots = s.roots(false);
    let scope = roots.narrow(&[s.root.join("sub")]);
    let argv = ["sh", "-c", "echo in > here.txt; echo out > ../escaped.txt"]
        .map(String::from)
        .to_vec();
    let out = rune_tools::guard::with_scope(scope, rune_shell::run_argv(&roots, &quick(), argv))
        .await
        .unwrap();
    // The working directory defaults to the first of the client's roots.
    assert_eq!(out.cwd, s.root.join("sub").to_string_lossy());
    assert!(s.root.join("sub/here.txt").exists());
    assert!(!s.root.join("escaped.txt").exists(), "{}", out.stderr);
}

#[tokio::test]
async fn a_host_with_every_mechanism_runs_under_require_full_sandbox() {
    let p = probe();
    let full = p.has("landlock") && p.has("seccomp");
    let s = Sandbox::new();
    let mut c = s
        .client(ShellOptions {
            require_full_sandbox: true,
            ..quick()
        })
        .await;
    let r = c.exec(json!({"argv": ["true"]})).await;
    if full {
        assert_eq!(r.ran().exit_code(), Some(0));
    } else {
        assert!(r.is_error() && r.text().contains("requires the full sandbox"));
    }
}
