//! `rune mcp-server`: the built-in tools over MCP.

use std::path::PathBuf;
use std::sync::Arc;

use rune_server::Server;
use rune_tools::Roots;

use crate::config::Config;

/// Flags of `rune mcp-server`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A TOML configuration file (flags given here override it).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// A directory the tools may use; repeat for several (default: the current directory).
    #[arg(long = "root", value_name = "DIR")]
    roots: Vec<PathBuf>,
    /// Log level for stderr: error, warn, info, debug or trace (stdout carries only MCP).
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Serve on an address instead of stdio, e.g. tcp://127.0.0.1:9000.
    #[arg(long, value_name = "URL")]
    listen: Option<String>,
    /// Also serve the writing tools (file_write, file_edit, create_directory, move_path).
    /// Off by default: without it the server only reads.
    #[arg(long)]
    allow_write: bool,
}

/// The settings after merging the file and the flags.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) roots: Vec<PathBuf>,
    pub(crate) log_level: String,
    pub(crate) listen: Option<String>,
    pub(crate) allow_write: bool,
}

pub(crate) fn settings(args: Args) -> Result<Settings, Box<dyn std::error::Error>> {
    let file = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let mut roots = if args.roots.is_empty() {
        file.roots
    } else {
        args.roots
    };
    if roots.is_empty() {
        roots.push(std::env::current_dir()?);
    }
    let roots = roots
        .into_iter()
        .map(|r| {
            let canon = r
                .canonicalize()
                .map_err(|e| format!("root {}: {e}", r.display()))?;
            if !canon.is_dir() {
                return Err(format!("root {} is not a directory", r.display()));
            }
            Ok(canon)
        })
        .collect::<Result<Vec<_>, String>>()?;
    let log_level = args
        .log_level
        .or(file.log_level)
        .unwrap_or_else(|| "warn".into());
    if !["error", "warn", "info", "debug", "trace", "off"].contains(&log_level.as_str()) {
        return Err(format!(
            "unknown log level {log_level:?} (error, warn, info, debug, trace, off)"
        )
        .into());
    }
    Ok(Settings {
        roots,
        log_level,
        listen: args.listen.or(file.listen),
        allow_write: args.allow_write || file.allow_write.unwrap_or(false),
    })
}

fn server(settings: &Settings) -> Result<Server, Box<dyn std::error::Error>> {
    let guard = Arc::new(Roots::new(&settings.roots)?.read_only(!settings.allow_write));
    let roots: Vec<String> = settings
        .roots
        .iter()
        .map(|r| r.display().to_string())
        .collect();
    let mut builder = Server::builder("rune", env!("CARGO_PKG_VERSION"))
        .instructions(format!(
            "Rune's built-in file tools. Files are accessible only inside these roots: {}. \
             Relative paths are relative to the first root.",
            roots.join(", ")
        ))
        .advertise_tools();
    let mut tools = rune_tools::read_tools(guard.clone());
    tools.extend(rune_tools::search_tools(guard.clone()));
    if settings.allow_write {
        tools.extend(rune_tools::write_tools(
            guard,
            rune_tools::WriteOptions::default(),
        ));
    }
    for tool in tools {
        builder = builder.tool(tool);
    }
    Ok(builder.build())
}

pub(crate) fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let settings = settings(args)?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUNE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&settings.log_level));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .init();
    tracing::info!(roots = ?settings.roots, "starting rune mcp-server");
    let server = server(&settings)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match &settings.listen {
            None => server.serve_stdio().await,
            Some(url) => rune_server::listen::serve_url(&server, url).await,
        }
    })?;
    Ok(())
}
