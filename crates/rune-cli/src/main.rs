//! The `rune` command. This crate is glue: argument parsing, configuration, logging set-up;
//! the work is done by the library crates.

mod chat;
mod client;
mod config;
mod doctor;
mod install;
mod mcp_server;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Rune: a fast, complete Model Context Protocol toolkit.
#[derive(Debug, Parser)]
#[command(name = "rune", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve Rune's built-in tools over MCP (stdio by default).
    McpServer(mcp_server::Args),
    /// Register Rune with MCP clients: `rune mcp install|uninstall|list`.
    Mcp(install::Args),
    /// Talk to any MCP server: `rune client --stdio CMD | --url URL | --server NAME ...`.
    Client(client::Args),
    /// Chat with a model that uses MCP servers' tools: `rune chat --provider P --model M`.
    Chat(chat::ChatArgs),
    /// List a provider's models: `rune models --provider P`.
    Models(chat::ModelsArgs),
    /// What this host offers shell_exec's sandbox (Landlock, seccomp, namespaces, cgroups).
    Doctor(doctor::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::McpServer(args) => match mcp_server::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rune mcp-server: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Mcp(args) => install::run(args),
        Command::Client(args) => client::run(args),
        Command::Chat(args) => chat::run_chat(args),
        Command::Models(args) => chat::run_models(args),
        Command::Doctor(args) => doctor::run(args),
    }
}
