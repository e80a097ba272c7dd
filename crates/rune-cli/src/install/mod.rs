//! `rune mcp install | uninstall | list`: registering `rune mcp-server` with the MCP clients
//! people use, in each client's own file and format, without disturbing anything else there.
//!
//! `client.rs` knows the clients (paths, keys, entry shapes), `json.rs` and `toml.rs` edit the
//! two formats while keeping comments and layout, and `file.rs` replaces files atomically with
//! a backup.

mod client;
mod file;
mod json;
mod toml;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use client::{Client, Env, Found, Registration, Scope, Syntax};
use file::Current;

/// `rune mcp …`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Register `rune mcp-server` with an MCP client (in that client's own config file).
    Install(InstallArgs),
    /// Remove Rune's registration from an MCP client's config file (and nothing else).
    Uninstall(UninstallArgs),
    /// Show which clients on this machine have Rune registered, and with which command.
    List,
}

#[derive(Debug, clap::Args)]
struct Target {
    /// The MCP client.
    #[arg(long, value_enum)]
    client: Client,
    /// The client's user-wide configuration, or the project's (in the current directory).
    #[arg(long, value_enum, default_value = "user")]
    scope: Scope,
    /// The name of the server entry.
    #[arg(long, default_value = "rune", value_name = "NAME")]
    name: String,
    /// Print the change as a unified diff and write nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, clap::Args)]
struct InstallArgs {
    #[command(flatten)]
    target: Target,
    /// A directory the server may use (passed on as `--root`, made absolute); repeatable.
    /// Without it the server uses the directory the client starts it in (the project, for
    /// the clients that have projects; claude-desktop needs at least one).
    #[arg(long = "root", value_name = "DIR")]
    roots: Vec<PathBuf>,
    /// Replace an existing entry of that name that differs from this one.
    #[arg(long)]
    force: bool,
    /// Gemini CLI only: mark the server trusted (`"trust": true`), so its tools run without
    /// asking; headless `gemini -p` offers only trusted servers' tools.
    #[arg(long)]
    trust: bool,
}

#[derive(Debug, clap::Args)]
struct UninstallArgs {
    #[command(flatten)]
    target: Target,
    /// Remove the entry of that name even if it does not run `rune mcp-server`.
    #[arg(long)]
    force: bool,
}

pub(crate) fn run(args: Args) -> ExitCode {
    let (verb, result) = match args.command {
        Command::Install(a) => ("install", install(a)),
        Command::Uninstall(a) => ("uninstall", uninstall(a)),
        Command::List => ("list", list()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rune mcp {verb}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A parsed configuration file of either format.
#[derive(Debug)]
enum Doc {
    Json(json::JsonDoc),
    Toml(toml::TomlDoc),
}

impl Doc {
    fn parse(client: Client, path: &Path, text: &str) -> Result<Doc, String> {
        let parsed = match client.syntax() {
            Syntax::Json(dialect) => {
                json::JsonDoc::parse(text, dialect, &[client.servers_key()]).map(Doc::Json)
            }
            Syntax::Toml => toml::TomlDoc::parse(text).map(Doc::Toml),
        };
        parsed.map_err(|e| format!("{}:{e}\n(the file was not changed)", path.display()))
    }

    fn entries(&self) -> Vec<(String, Found)> {
        match self {
            Doc::Json(d) => d.entries(),
            Doc::Toml(d) => d.entries(),
        }
    }

    fn get(&self, name: &str) -> Option<Found> {
        match self {
            Doc::Json(d) => d.get(name),
            Doc::Toml(d) => d.get(name),
        }
    }

    fn set(&mut self, client: Client, name: &str, reg: &Registration) {
        match self {
            Doc::Json(d) => d.set(name, &client.json_entry(reg)),
            Doc::Toml(d) => d.set(name, reg),
        }
    }

    fn remove(&mut self, name: &str) -> bool {
        match self {
            Doc::Json(d) => d.remove(name),
            Doc::Toml(d) => d.remove(name),
        }
    }

    fn render(&self) -> String {
        match self {
            Doc::Json(d) => d.render(),
            Doc::Toml(d) => d.render(),
        }
    }
}

/// Server names every client accepts (Codex's rule is the narrowest).
fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "--name {name:?}: use 1 to 64 letters, digits, '_' or '-'"
        ))
    }
}

/// This binary's absolute path, as text.
fn this_exe() -> Result<String, String> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find the path of the running rune binary: {e}"))?;
    exe.into_os_string().into_string().map_err(|p| {
        format!(
            "the path of the rune binary is not UTF-8 ({}); clients' config files need text",
            PathBuf::from(p).display()
        )
    })
}

fn registration(roots: &[PathBuf], trust: bool) -> Result<Registration, String> {
    let mut args = vec!["mcp-server".to_owned()];
    for root in roots {
        let abs = root
            .canonicalize()
            .map_err(|e| format!("--root {}: {e}", root.display()))?;
        if !abs.is_dir() {
            return Err(format!("--root {}: not a directory", root.display()));
        }
        let text = abs
            .into_os_string()
            .into_string()
            .map_err(|p| format!("--root {}: not UTF-8", PathBuf::from(p).display()))?;
        args.push("--root".to_owned());
        args.push(text);
    }
    Ok(Registration {
        command: this_exe()?,
        args,
        trust,
    })
}

/// "claude-code (user scope)", or just the client when it has one scope.
fn place(client: Client, scope: Scope) -> String {
    if client.scopes().len() > 1 {
        format!("{} ({} scope)", client.name(), scope.name())
    } else {
        client.name().to_owned()
    }
}

/// Reads and parses the target's file.
fn open(client: Client, scope: Scope) -> Result<(PathBuf, Current, Doc), String> {
    let path = client.path(scope, &Env::from_process())?;
    let current = file::read(&path)?;
    let doc = Doc::parse(client, &path, current.text.as_deref().unwrap_or(""))?;
    Ok((path, current, doc))
}

/// Writes the edited text (or, with `--dry-run`, shows it) and says what happened.
fn finish(
    path: &Path,
    current: &Current,
    new: &str,
    dry_run: bool,
    done: &str,
) -> Result<(), String> {
    if dry_run {
        print!("{}", file::diff(path, current.text.as_deref(), new));
        println!("dry run: {} not written", path.display());
        return Ok(());
    }
    let backup = file::replace(path, current, new)?;
    println!("{done}: {}", path.display());
    if let Some(b) = backup {
        println!("previous version kept as {}", b.display());
    }
    Ok(())
}

fn install(a: InstallArgs) -> Result<(), String> {
    let t = &a.target;
    check_name(&t.name)?;
    let (path, current, mut doc) = open(t.client, t.scope)?;
    if a.roots.is_empty() && !t.client.starts_in_project() {
        return Err(format!(
            "{} does not start servers in a project directory, so Rune would serve whatever \
             directory it is started in (`/` on macOS): name the directories it may use with \
             --root DIR",
            t.client.name()
        ));
    }
    if a.trust && t.client != Client::Gemini {
        return Err(format!(
            "--trust is a Gemini CLI setting; {} has none",
            t.client.name()
        ));
    }
    let reg = registration(&a.roots, a.trust)?;
    let name = &t.name;
    let here = place(t.client, t.scope);
    match doc.get(name) {
        Some(found) if found.same_as(&reg) => {
            println!(
                "\"{name}\" is already registered in {here} with this command; nothing changed: {}",
                path.display()
            );
            return Ok(());
        }
        Some(found) if !a.force => {
            return Err(format!(
                "{} already has a server named \"{name}\" that differs from this one:\n  {}\n\
                 Left it alone. Use --force to replace it, or --name to register Rune under another name.",
                path.display(),
                found.describe()
            ));
        }
        _ => {}
    }
    doc.set(t.client, name, &reg);
    let new = doc.render();
    let done = format!("registered \"{name}\" in {here}");
    finish(&path, &current, &new, t.dry_run, &done)?;
    if !t.dry_run {
        println!(
            "command: {}",
            client::shell_words(std::iter::once(&reg.command).chain(&reg.args))
        );
    }
    Ok(())
}

fn uninstall(a: UninstallArgs) -> Result<(), String> {
    let t = &a.target;
    check_name(&t.name)?;
    let (path, current, mut doc) = open(t.client, t.scope)?;
    let name = &t.name;
    let here = place(t.client, t.scope);
    match doc.get(name) {
        None => {
            println!(
                "\"{name}\" is not registered in {here}; nothing changed: {}",
                path.display()
            );
            return Ok(());
        }
        Some(found) if !a.force && !found.is_rune(&this_exe()?) => {
            return Err(format!(
                "the server named \"{name}\" in {} is not Rune's:\n  {}\n\
                 Left it alone. Use --force to remove it anyway.",
                path.display(),
                found.describe()
            ));
        }
        Some(_) => {}
    }
    doc.remove(name);
    let new = doc.render();
    finish(
        &path,
        &current,
        &new,
        t.dry_run,
        &format!("removed \"{name}\" from {here}"),
    )
}

fn list() -> Result<(), String> {
    let env = Env::from_process();
    let exe = this_exe()?;
    let mut places = 0;
    let mut found = 0;
    for client in Client::ALL {
        for &scope in client.scopes() {
            places += 1;
            let head = format!("{:<15} {:<8}", client.name(), scope.name());
            let path = match client.path(scope, &env) {
                Ok(p) => p,
                Err(e) => {
                    println!("{head} unknown location: {e}");
                    continue;
                }
            };
            let shown = path.display();
            let current = match file::read(&path) {
                Ok(c) => c,
                Err(e) => {
                    println!("{head} error: {e}");
                    continue;
                }
            };
            let Some(text) = current.text.as_deref() else {
                println!("{head} no config file ({shown})");
                continue;
            };
            let doc = match Doc::parse(client, &path, text) {
                Ok(d) => d,
                Err(e) => {
                    let first = e.lines().next().unwrap_or_default();
                    println!("{head} unreadable: {first}");
                    continue;
                }
            };
            let ours: Vec<_> = doc
                .entries()
                .into_iter()
                .filter(|(_, f)| f.is_rune(&exe))
                .collect();
            if ours.is_empty() {
                println!("{head} not registered ({shown})");
            }
            if !ours.is_empty() {
                found += 1;
            }
            for (name, f) in ours {
                println!("{head} \"{name}\": {} ({shown})", f.describe());
            }
        }
    }
    println!("Rune is registered in {found} of {places} places.");
    Ok(())
}
