//! The baseline for `file_read`: the same tool written on the official Rust SDK (`rmcp`),
//! served over stdio.
//!
//! `file_read` takes `{"path": string}` (relative to the root, or absolute inside it) and
//! returns the file's text as its single text content; a path outside the root, a missing
//! file or a file that is not UTF-8 is a tool error (`isError`). Like Rune's tool it resolves
//! the path (following links) and checks that it stays inside the root, then reads the file
//! on tokio's blocking pool (`--io inline` reads on the runtime's own thread instead).
//!
//! With `--tool-impl rune-tools` the handler is Rune's own tool code instead
//! (`rune_tools::read::file_read`: the same path jail, the same reads, the same result with
//! its `structuredContent`), so the two servers differ only by the framework around it.
//!
//! ```sh
//! rmcp_file_read --root DIR [--transport stdio|pipes] [--runtime multi|current] [--io blocking|inline]
//!                [--tool-impl simple|rune-tools]
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Parser, ValueEnum};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock as Content};
use rmcp::{ServerHandler, ServiceExt, tool, tool_handler, tool_router};

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

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ToolImpl {
    /// canonicalize + `read_to_string`, the text as the only content block.
    Simple,
    /// Rune's `file_read` code (`rune_tools::read::file_read`), result converted to rmcp's
    /// types (text blocks and `structuredContent` moved, not re-encoded).
    RuneTools,
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
    /// Which code reads the file.
    #[arg(long, value_enum, default_value = "simple")]
    tool_impl: ToolImpl,
}

/// The arguments of `file_read`: Rune's own (`path` plus the optional ranges), so both
/// servers publish the same schema.
type FileReadArgs = rune_tools::read::FileReadArgs;

#[derive(Debug, Clone)]
struct Files {
    root: Arc<PathBuf>,
    roots: Arc<rune_tools::Roots>,
    io: Io,
    tool_impl: ToolImpl,
    tool_router: ToolRouter<Self>,
}

/// Rune's tool code, its result in rmcp's types.
fn read_rune(roots: &rune_tools::Roots, args: &FileReadArgs) -> CallToolResult {
    use rune_server::proto::model::Content as RuneContent;
    match rune_tools::read::file_read(roots, args) {
        Ok(r) => {
            let content = r
                .content
                .into_iter()
                .filter_map(|c| match c {
                    RuneContent::Text(t) => Some(Content::text(t.text)),
                    _ => None,
                })
                .collect();
            let mut out = if r.is_error == Some(true) {
                CallToolResult::error(content)
            } else {
                CallToolResult::success(content)
            };
            out.structured_content = r.structured_content;
            out
        }
        Err(e) => CallToolResult::error(vec![Content::text(e.to_string())]),
    }
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
    fn new(root: PathBuf, io: Io, tool_impl: ToolImpl) -> Result<Self, rune_tools::GuardError> {
        Ok(Self {
            roots: Arc::new(rune_tools::Roots::new([&root])?),
            root: Arc::new(root),
            io,
            tool_impl,
            tool_router: Self::tool_router(),
        })
    }

    #[tool(description = "Read a UTF-8 text file inside the root and return its text")]
    async fn file_read(&self, Parameters(args): Parameters<FileReadArgs>) -> CallToolResult {
        let text = match self.tool_impl {
            ToolImpl::Simple => self.read_simple(args.path).await,
            ToolImpl::RuneTools => {
                return match self.io {
                    Io::Inline => read_rune(&self.roots, &args),
                    Io::Blocking => {
                        let roots = self.roots.clone();
                        tokio::task::spawn_blocking(move || read_rune(&roots, &args))
                            .await
                            .unwrap_or_else(|e| {
                                CallToolResult::error(vec![Content::text(format!(
                                    "the read failed: {e}"
                                ))])
                            })
                    }
                };
            }
        };
        match text {
            Ok(t) => CallToolResult::success(vec![Content::text(t)]),
            Err(e) => CallToolResult::error(vec![Content::text(e)]),
        }
    }
}

impl Files {
    async fn read_simple(&self, path: String) -> Result<String, String> {
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
        let files = Files::new(root, cli.io, cli.tool_impl)?;
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
