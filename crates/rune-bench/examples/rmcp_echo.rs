//! The baseline: an MCP server built with the official Rust SDK (`rmcp`),
//! serving one tool, `echo`, over stdio.
//!
//! `echo` takes `{"message": string}` and returns the message as its single
//! text content. The server uses rmcp's documented tool macros and the
//! documented runtime setup (`#[tokio::main]`, i.e. a multi-threaded
//! runtime).
//!
//! `--transport stdio` (the default) uses `rmcp::transport::stdio()`, the
//! documented transport, whose reads and writes run on tokio's blocking
//! thread pool; `--transport pipes` uses `rmcp::transport::stdio_pipes()`,
//! which drives FIFO stdin/stdout through tokio's non-blocking pipe driver.
//! `--runtime current` switches to a single-threaded runtime.

use clap::{Parser, ValueEnum};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{ServerHandler, ServiceExt, schemars, tool, tool_handler, tool_router};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Transport {
    /// `rmcp::transport::stdio()`.
    Stdio,
    /// `rmcp::transport::stdio_pipes()`.
    Pipes,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Runtime {
    /// Multi-threaded, as `#[tokio::main]`.
    Multi,
    /// Single-threaded.
    Current,
}

#[derive(Debug, Parser)]
#[command(about = "rmcp echo server over stdio")]
struct Cli {
    /// Which rmcp stdio transport to use.
    #[arg(long, value_enum, default_value = "stdio")]
    transport: Transport,
    /// Which tokio runtime to use.
    #[arg(long, value_enum, default_value = "multi")]
    runtime: Runtime,
}

/// The arguments of `echo`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct EchoArgs {
    /// The text to send back.
    message: String,
}

#[derive(Debug, Clone)]
struct Echo {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Echo {
    fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Return the message unchanged")]
    fn echo(&self, Parameters(EchoArgs { message }): Parameters<EchoArgs>) -> String {
        message
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Echo {}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    let runtime = match cli.runtime {
        Runtime::Multi => tokio::runtime::Builder::new_multi_thread(),
        Runtime::Current => tokio::runtime::Builder::new_current_thread(),
    }
    .enable_all()
    .build()?;
    runtime.block_on(async {
        let service = match cli.transport {
            Transport::Stdio => Echo::new().serve(rmcp::transport::stdio()).await?,
            // Must be called inside the runtime: it registers the pipes with
            // tokio's IO driver.
            Transport::Pipes => Echo::new().serve(rmcp::transport::stdio_pipes()).await?,
        };
        service.waiting().await?;
        Ok(())
    })
}
