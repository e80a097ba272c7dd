//! Rune's read-only file tools (`rune_tools::read_tools`: `file_read`, `file_read_many`,
//! `list_directory`, `directory_tree`, `file_info`) over stdio, on a current-thread runtime
//! like the other Rune benchmark servers: the library alone, without `rune mcp-server`'s
//! policy layer and audit log.
//!
//! ```sh
//! rune_file_read [--root DIR] [--blocking-threads N]
//! ```
//!
//! The tools do their file work on tokio's blocking pool; `--blocking-threads` caps that
//! pool (tokio's default is 512 threads).

use std::process::ExitCode;
use std::sync::Arc;

use rune_server::Server;
use rune_tools::Roots;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut root = String::from(".");
    let mut blocking_threads = None;
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--root", Some(dir)) => root = dir,
            ("--blocking-threads", Some(n)) if n.parse::<usize>().is_ok_and(|n| n > 0) => {
                blocking_threads = n.parse().ok();
            }
            _ => {
                eprintln!("usage: rune_file_read [--root DIR] [--blocking-threads N]");
                return ExitCode::from(2);
            }
        }
    }
    let roots = match Roots::new([&root]) {
        Ok(r) => Arc::new(r.read_only(true)),
        Err(e) => {
            eprintln!("rune_file_read: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut builder = Server::builder("rune_file_read", env!("CARGO_PKG_VERSION"));
    for tool in rune_tools::read_tools(roots) {
        builder = builder.tool(tool);
    }
    let server = builder.build();
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_all();
    if let Some(n) = blocking_threads {
        builder.max_blocking_threads(n);
    }
    let runtime = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rune_file_read: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(server.serve_stdio()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rune_file_read: {e}");
            ExitCode::FAILURE
        }
    }
}
