//! The baseline for `file_read`: the same tool written on the official Rust SDK (`rmcp`),
//! served over stdio.
//!
//! `file_read` takes `{"path": string}` (relative to the root, or absolute inside it) and
//! returns the file's text as its single text content; a path outside the root, a missing
//! file or a file that is not UTF-8 is a tool error (`isError`). Like Rune's tool it resolves
//! the path (following links) and checks that it stays inside the root, then reads the file
//! on tokio's blocking pool (`--io inline` reads on the runtime's own thread instead).
//!
//! ```sh
//! rmcp_file_read --root DIR [--transport stdio|pipes] [--runtime multi|current] [--io blocking|inline]
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

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

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Io {
    /// Read on tokio's blocking pool (`spawn_blocking`), as Rune's tools do.
    Blocking,
    /// Read on the runtime thread that runs the handler.
    Inline,
}

#[derive(Debug, Parser)]
#[command(about = "rmcp file_read server over stdio")]
struct Cli {
    /// The directory files are read from.
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Which rmcp stdio transport to use.
    #[arg(long, value_enum, default_value = "stdio")]
    transport: Transport,
    /// Which tokio runtime to use.
    #[arg(long, value_enum, default_value = "multi")]
    runtime: Runtime,
    /// Where the file is read.
    #[arg(long, value_enum, default_value = "blocking")]
    io: Io,
}

/// The arguments of `file_read`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct FileReadArgs {
    /// The file: relative to the root, or absolute inside it.
    path: String,
}

#[derive(Debug, Clone)]
struct Files {
    root: Arc<PathBuf>,
    io: Io,
    tool_router: ToolRouter<Self>,
}

/// Resolves `path` inside `root` (canonical) and reads it as UTF-8 text.
fn read(root: &Path, path: &str) -> Result<String, String> {
    let real = std::fs::canonicalize(root.join(path)).map_err(|e| format!("{path}: {e}"))?;
    if !real.starts_with(root) {
        return Err(format!("{path} is outside the root {}", root.display()));
    }
    std::fs::read_to_string(&real).map_err(|e| format!("{path}: {e}"))
}

#[tool_router]
impl Files {
    fn new(root: PathBuf, io: Io) -> Self {
        Self {
            root: Arc::new(root),
            io,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Read a UTF-8 text file inside the root and return its text")]
    async fn file_read(
        &self,
        Parameters(FileReadArgs { path }): Parameters<FileReadArgs>,
    ) -> Result<String, String> {
        match self.io {
            Io::Inline => read(&self.root, &path),
            Io::Blocking => {
                let root = self.root.clone();
                tokio::task::spawn_blocking(move || read(&root, &path))
                    .await
                    .map_err(|e| format!("the read failed: {e}"))?
            }
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Files {}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    let root = std::fs::canonicalize(&cli.root)?;
    let runtime = match cli.runtime {
        Runtime::Multi => tokio::runtime::Builder::new_multi_thread(),
        Runtime::Current => tokio::runtime::Builder::new_current_thread(),
    }
    .enable_all()
    .build()?;
    runtime.block_on(async {
        let files = Files::new(root, cli.io);
        let service = match cli.transport {
            Transport::Stdio => files.serve(rmcp::transport::stdio()).await?,
            // Must be called inside the runtime: it registers the pipes with
            // tokio's IO driver.
            Transport::Pipes => files.serve(rmcp::transport::stdio_pipes()).await?,
        };
        service.waiting().await?;
        Ok(())
    })
}
