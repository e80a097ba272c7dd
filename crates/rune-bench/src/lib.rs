//! `rune-bench`: measure MCP servers over stdio, side by side in one run.
//!
//! For each server the benchmark spawns the process with piped stdin and
//! stdout, measures the cold start (spawn to the first response), performs
//! the MCP handshake, and then runs `tools/call` of an `echo` tool with a
//! fixed number of requests in flight on the one stdio connection, checking
//! every reply. It reports calls per second, round-trip percentiles, the
//! server's CPU time per call and its memory, and optionally (under strace)
//! its syscalls per call.
//!
//! Modules:
//! - [`wire`]: request encoding and borrowed response parsing.
//! - [`client`]: the server process and the pipelined client loop.
//! - [`bench`]: the plan run against each server, and its report.
//! - [`report`]: table and JSON output.
//! - [`procfs`], [`strace`], [`stats`]: measurements and statistics.

pub mod bench;
pub mod client;
pub mod procfs;
pub mod report;
pub mod stats;
pub mod strace;
pub mod wire;
