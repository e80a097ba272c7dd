//! The common benchmark server: one tool, `echo`, that returns its `message` as text.
//!
//! Run with `cargo run --release -p echo_server` (stdio), or
//! `cargo run --release -p echo_server -- --listen tcp://127.0.0.1:9000` (newline-delimited
//! JSON over TCP, one connection per client).

use std::process::ExitCode;

use rune_server::proto::model::ToolAnnotations;
use rune_server::{HandlerError, RequestContext, Server, ToolDef};

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct EchoArgs {
    /// The text to send back.
    message: String,
}

fn server() -> Server {
    Server::builder("echo_server", env!("CARGO_PKG_VERSION"))
        .tool(
            ToolDef::new(
                "echo",
                "Returns the message it is given.",
                |a: EchoArgs, _cx: RequestContext| async move { Ok::<_, HandlerError>(a.message) },
            )
            .annotations(ToolAnnotations {
                read_only_hint: Some(true),
                idempotent_hint: Some(true),
                open_world_hint: Some(false),
                ..Default::default()
            }),
        )
        .build()
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUNE_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .init();
    rune_http::listen::main("echo_server", server())
}
