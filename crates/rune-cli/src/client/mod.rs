//! `rune client`: talk to any MCP server from the command line, through `rune-client`.
//!
//! The target is one of `--stdio "CMD ARGS"` (split with shell quoting), `--url URL`
//! (`http(s)://` Streamable HTTP with the legacy HTTP+SSE fallback, `ws://`, `tcp://`),
//! `--server NAME` (an entry of an `mcpServers` file: `--config FILE` or `./.mcp.json`), or
//! `--all` (every server of that file at once, tools namespaced `server__tool`).

mod output;
pub(crate) mod words;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args as ClapArgs, Subcommand};
use rune_client::model::{CallToolParams, JsonObject, ListenFilter};
use rune_client::{
    CallOptions, Client, ClientBuilder, ClientPool, EraPreference, Error, McpServers, Notification,
    ProtocolVersion,
};
use rune_proto::Era;
use serde::Serialize;
use serde_json::Value;

/// The exit code of a tool call that returned an error result (`isError`).
const EXIT_TOOL_ERROR: u8 = 1;
/// The exit code of bad arguments (also clap's).
const EXIT_USAGE: u8 = 2;
/// The exit code of a connection or protocol failure (including JSON-RPC errors).
const EXIT_FAILURE: u8 = 3;

const AFTER_HELP: &str = "\
Exit status: 0 on success; 1 when a tool returned an error result (isError); 2 on bad \
arguments; 3 when the server could not be reached, broke the protocol, or answered with a \
JSON-RPC error.

Examples:
  rune client --stdio \"npx -y @modelcontextprotocol/server-everything\" tools list
  rune client --url http://127.0.0.1:8080/mcp tools call echo --args '{\"message\":\"hi\"}'
  rune client --server files resources read file:///etc/hostname
  rune client --all tools list --json";

/// Talk to an MCP server: list and call its tools, read its resources, get its prompts.
#[derive(Debug, ClapArgs)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// Run this server command and speak MCP over its stdin/stdout (quoted like a shell
    /// command: "npx -y pkg 'a b'").
    #[arg(long, value_name = "COMMAND", group = "target")]
    stdio: Option<String>,
    /// Connect to this URL: http(s):// (Streamable HTTP, legacy HTTP+SSE fallback), ws://,
    /// tcp://host:port.
    #[arg(long, value_name = "URL", group = "target")]
    url: Option<String>,
    /// Connect to the server of this name in an mcpServers file (--config, or ./.mcp.json).
    #[arg(long, value_name = "NAME", group = "target")]
    server: Option<String>,
    /// Connect to every server of the mcpServers file; tools are named SERVER__TOOL.
    #[arg(long, group = "target")]
    all: bool,
    /// The mcpServers JSON file for --server and --all (default: ./.mcp.json).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Use the legacy HTTP+SSE transport for --url (the URL of its SSE stream).
    #[arg(long, requires = "url")]
    sse: bool,
    /// An HTTP header for --url, as "Name: value" (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// An environment variable for --stdio, as KEY=VALUE (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// The working directory of the --stdio command.
    #[arg(long, value_name = "DIR")]
    cwd: Option<PathBuf>,
    /// The protocol revision to speak: 2024-11-05 … 2025-11-25 (the `initialize` handshake),
    /// 2026-07-28 (stateless), or auto (ask the server with `server/discover`, fall back to
    /// the handshake).
    #[arg(long, value_name = "VERSION", default_value = "2025-11-25")]
    protocol: String,
    /// How long to wait for each answer, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    timeout: f64,
    /// Print the results as JSON (for scripts) instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Show the server's stderr and the client's debug log on stderr.
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Tools: list, call.
    #[command(subcommand)]
    Tools(ToolsCmd),
    /// Resources: list, templates, read.
    #[command(subcommand)]
    Resources(ResourcesCmd),
    /// Prompts: list, get.
    #[command(subcommand)]
    Prompts(PromptsCmd),
    /// Check that the server answers.
    Ping,
    /// Who the server is, its protocol revision and what it offers.
    Info,
    /// Print the server's change notifications as they come, one per line, until the server
    /// ends the stream, --count or --duration is reached, or Ctrl-C. In 2026-07-28 this opens
    /// a subscriptions/listen stream; in the handshake era the list changes come unasked and
    /// --resource subscribes with resources/subscribe. Without --tools, --prompts, --resources
    /// or --resource, all three lists are followed.
    Listen(ListenArgs),
}

#[derive(Debug, ClapArgs)]
struct ListenArgs {
    /// Changes of the tool list.
    #[arg(long)]
    tools: bool,
    /// Changes of the prompt list.
    #[arg(long)]
    prompts: bool,
    /// Changes of the resource list.
    #[arg(long)]
    resources: bool,
    /// Updates of this resource (repeatable).
    #[arg(long = "resource", value_name = "URI")]
    resource: Vec<String>,
    /// Stop after this many notifications.
    #[arg(long, value_name = "N")]
    count: Option<usize>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
}

#[derive(Debug, Subcommand)]
enum ToolsCmd {
    /// List every tool (all pages).
    List,
    /// Call a tool.
    Call {
        /// The tool's name (SERVER__TOOL with --all).
        name: String,
        /// Its arguments: a JSON object ("-" reads it from stdin).
        #[arg(long, value_name = "JSON")]
        args: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ResourcesCmd {
    /// List every resource (all pages).
    List,
    /// List the resource templates.
    Templates,
    /// Read a resource.
    Read {
        /// Its URI.
        uri: String,
    },
}

#[derive(Debug, Subcommand)]
enum PromptsCmd {
    /// List every prompt (all pages).
    List,
    /// Get a prompt.
    Get {
        /// The prompt's name.
        name: String,
        /// Its arguments: a JSON object of strings ("-" reads it from stdin).
        #[arg(long, value_name = "JSON")]
        args: Option<String>,
    },
}

/// A failure, with the exit code it maps to.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }
    fn client(context: &str, e: &Error) -> Self {
        Failure {
            code: EXIT_FAILURE,
            message: format!("{context}: {e}"),
        }
    }
}

/// Runs `rune client`.
pub fn run(args: Args) -> ExitCode {
    init_logging(args.verbose);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rune client: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match runtime.block_on(run_async(args)) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("rune client: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

pub(crate) fn init_logging(verbose: bool) {
    let default = if verbose { "debug" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUNE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}

fn builder(args: &Args) -> Result<ClientBuilder, Failure> {
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        return Err(Failure::usage(
            "--timeout must be a positive number of seconds",
        ));
    }
    let timeout = Duration::from_secs_f64(args.timeout);
    let mut b = Client::builder()
        .client_info("rune-client-cli", env!("CARGO_PKG_VERSION"))
        .request_timeout(Some(timeout))
        .connect_timeout(timeout.min(Duration::from_secs(30)));
    b = match args.protocol.as_str() {
        "auto" => b.era(EraPreference::Auto),
        v => match ProtocolVersion::parse(v) {
            Some(v) => b.protocol_version(v),
            None => {
                let known: Vec<&str> = ProtocolVersion::ALL.iter().map(|v| v.as_str()).collect();
                return Err(Failure::usage(format!(
                    "--protocol {v:?}: expected auto or one of {}",
                    known.join(", ")
                )));
            }
        },
    };
    for h in &args.headers {
        let Some((name, value)) = h.split_once(':') else {
            return Err(Failure::usage(format!(
                "--header {h:?}: expected \"Name: value\""
            )));
        };
        b = b.http_header(name.trim(), value.trim());
    }
    Ok(b)
}

fn load_config(args: &Args) -> Result<McpServers, Failure> {
    let path = match &args.config {
        Some(p) => p.clone(),
        None => {
            let p = PathBuf::from(".mcp.json");
            if !p.exists() {
                return Err(Failure::usage(
                    "no --config FILE given and no .mcp.json in the current directory",
                ));
            }
            p
        }
    };
    McpServers::load(&path).map_err(config_failure)
}

/// A configuration problem: a usage error, said without the library's "invalid target".
fn config_failure(e: Error) -> Failure {
    let message = match e {
        Error::InvalidTarget(m) => m.to_string(),
        other => other.to_string(),
    };
    Failure::usage(message)
}

async fn connect(args: &Args) -> Result<Client, Failure> {
    connect_with(args, builder(args)?).await
}

async fn connect_with(args: &Args, b: ClientBuilder) -> Result<Client, Failure> {
    if let Some(line) = &args.stdio {
        let words =
            words::split(line).map_err(|e| Failure::usage(format!("--stdio {line:?}: {e}")))?;
        let Some((program, rest)) = words.split_first() else {
            return Err(Failure::usage("--stdio: the command is empty"));
        };
        let mut cmd = std::process::Command::new(program);
        cmd.args(rest);
        for kv in &args.env {
            let Some((k, v)) = kv.split_once('=') else {
                return Err(Failure::usage(format!("--env {kv:?}: expected KEY=VALUE")));
            };
            cmd.env(k, v);
        }
        if let Some(dir) = &args.cwd {
            cmd.current_dir(dir);
        }
        let verbose = args.verbose;
        return b.connect_stdio(cmd).await.map_err(|e| {
            let mut f = Failure::client(&format!("cannot start or talk to {program:?}"), &e);
            if !verbose && matches!(e, Error::Closed(_) | Error::Timeout(_)) {
                f.message.push_str(" (-v shows the server's stderr)");
            }
            f
        });
    }
    if let Some(url) = &args.url {
        let connected = if args.sse {
            b.connect_sse(url).await
        } else {
            b.connect(url).await
        };
        return connected.map_err(|e| Failure::client(&format!("cannot connect to {url}"), &e));
    }
    if let Some(name) = &args.server {
        let config = load_config(args)?;
        let server = config.get(name).map_err(config_failure)?;
        return b
            .connect_server(server)
            .await
            .map_err(|e| Failure::client(&format!("cannot connect to server {name:?}"), &e));
    }
    Err(Failure::usage(
        "say which server: --stdio \"CMD ARGS\", --url URL, --server NAME or --all",
    ))
}

/// Parses `--args`: a JSON object, or `-` for stdin.
fn json_object(text: Option<&str>, what: &str) -> Result<Option<JsonObject>, Failure> {
    let Some(text) = text else { return Ok(None) };
    let owned;
    let text = if text == "-" {
        let mut buf = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut buf)
            .map_err(|e| Failure::usage(format!("{what}: reading stdin: {e}")))?;
        owned = buf;
        owned.as_str()
    } else {
        text
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(o)) => Ok(Some(o)),
        Ok(Value::Null) => Ok(None),
        Ok(other) => Err(Failure::usage(format!(
            "{what}: expected a JSON object, got {other}"
        ))),
        Err(e) => Err(Failure::usage(format!("{what}: not valid JSON: {e}"))),
    }
}

fn print_json(v: &impl Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(v).map_err(|e| Failure {
        code: EXIT_FAILURE,
        message: format!("cannot print the result: {e}"),
    })?;
    println!("{text}");
    Ok(())
}

fn to_value(v: &impl Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn values<T: Serialize>(items: &[T]) -> Vec<Value> {
    items.iter().map(to_value).collect()
}

fn show(args: &Args, json: Value, text: impl FnOnce(&Value) -> String) -> Result<(), Failure> {
    if args.json {
        print_json(&json)
    } else {
        print!("{}", text(&json));
        Ok(())
    }
}

async fn run_async(args: Args) -> Result<u8, Failure> {
    if args.all {
        return run_pool(&args).await;
    }
    if let Command::Listen(l) = &args.command {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let b = builder(&args)?.on_notification(move |n| {
            let _ = tx.send(n);
        });
        let client = connect_with(&args, b).await?;
        let out = listen(&args, l, &client, rx).await;
        client.close().await;
        return out;
    }
    let client = connect(&args).await?;
    let out = run_command(&args, &client).await;
    client.close().await;
    out
}

/// `listen`: follows the changes asked for and prints each notification as one line.
async fn listen(
    args: &Args,
    l: &ListenArgs,
    client: &Client,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Notification>,
) -> Result<u8, Failure> {
    let all = !(l.tools || l.prompts || l.resources || !l.resource.is_empty());
    let limit = match l.duration {
        Some(s) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s)),
        Some(_) => {
            return Err(Failure::usage(
                "--duration must be a positive number of seconds",
            ));
        }
        None => None,
    };
    let filter = ListenFilter {
        tools_list_changed: (all || l.tools).then_some(true),
        prompts_list_changed: (all || l.prompts).then_some(true),
        resources_list_changed: (all || l.resources).then_some(true),
        resource_subscriptions: (!l.resource.is_empty()).then(|| l.resource.clone()),
    };
    let mut subscription = None;
    if client.protocol_version().era() == Era::Stateless {
        let sub = client
            .listen(filter.clone())
            .await
            .map_err(|e| Failure::client("subscriptions/listen", &e))?;
        eprintln!(
            "rune client: listening (the server acknowledged {})",
            serde_json::to_string(sub.acknowledged()).unwrap_or_default()
        );
        subscription = Some(sub);
    } else {
        for uri in &l.resource {
            client
                .subscribe_resource(uri)
                .await
                .map_err(|e| Failure::client(&format!("resources/subscribe {uri}"), &e))?;
        }
        eprintln!("rune client: listening (handshake era: the server sends list changes unasked)");
    }
    let wanted = |n: &Notification| match n {
        Notification::ToolsListChanged => filter.tools_list_changed.is_some(),
        Notification::PromptsListChanged => filter.prompts_list_changed.is_some(),
        Notification::ResourcesListChanged => filter.resources_list_changed.is_some(),
        Notification::ResourceUpdated(p) => l.resource.contains(&p.uri),
        _ => false,
    };
    let deadline = limit.map(|d| tokio::time::Instant::now() + d);
    // Nothing else tells of a lost connection in the handshake era: look every 200 ms.
    let mut check = tokio::time::interval(Duration::from_millis(200));
    let mut seen = 0usize;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        if l.count.is_some_and(|c| seen >= c) {
            return Ok(0);
        }
        let ended = async {
            match subscription.as_mut() {
                Some(sub) => sub.ended().await,
                None => std::future::pending().await,
            }
        };
        let until = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            n = rx.recv() => {
                let Some(n) = n else { return Ok(0) };
                if !wanted(&n) {
                    continue;
                }
                seen += 1;
                print_notification(args, &n);
            }
            r = ended => {
                // Print what arrived before the end.
                while let Ok(n) = rx.try_recv() {
                    if wanted(&n) {
                        print_notification(args, &n);
                    }
                }
                return match r {
                    Ok(()) => {
                        eprintln!("rune client: the server ended the subscription");
                        Ok(0)
                    }
                    Err(e) => Err(Failure::client("subscriptions/listen", &e)),
                };
            }
            _ = check.tick() => {
                if let Some(why) = client.closed_reason() {
                    while let Ok(n) = rx.try_recv() {
                        if wanted(&n) {
                            print_notification(args, &n);
                        }
                    }
                    return Err(Failure {
                        code: EXIT_FAILURE,
                        message: format!("listen: the connection is closed: {why}"),
                    });
                }
            }
            _ = until => return Ok(0),
            _ = &mut ctrl_c => return Ok(0),
        }
    }
}

/// One notification, as a line: `method [uri]`, or its JSON with `--json`.
fn print_notification(args: &Args, n: &Notification) {
    let (method, uri) = match n {
        Notification::ToolsListChanged => ("notifications/tools/list_changed", None),
        Notification::PromptsListChanged => ("notifications/prompts/list_changed", None),
        Notification::ResourcesListChanged => ("notifications/resources/list_changed", None),
        Notification::ResourceUpdated(p) => ("notifications/resources/updated", Some(&p.uri)),
        _ => return,
    };
    if args.json {
        let params = match uri {
            Some(u) => serde_json::json!({ "uri": u }),
            None => serde_json::json!({}),
        };
        println!(
            "{}",
            serde_json::json!({ "method": method, "params": params })
        );
    } else {
        match uri {
            Some(u) => println!("{method} {u}"),
            None => println!("{method}"),
        }
    }
}

/// Prints a tool list, as JSON or as text.
fn print_tools(args: &Args, tools: &[Value]) -> Result<(), Failure> {
    if args.json {
        print_json(&serde_json::json!({ "tools": tools }))
    } else {
        print!("{}", output::tools(tools));
        Ok(())
    }
}

/// The `tools/call` params of `tools call NAME --args JSON`.
fn call_params(name: &str, arguments: Option<&str>) -> Result<CallToolParams, Failure> {
    Ok(CallToolParams {
        name: name.to_owned(),
        arguments: json_object(arguments, "--args")?,
        input_responses: None,
        request_state: None,
        meta: None,
    })
}

/// Shows a call's result; the exit code says whether the tool reported an error.
fn report_call<T: Serialize>(
    args: &Args,
    name: &str,
    result: Result<T, rune_client::Error>,
) -> Result<u8, Failure> {
    let r = result.map_err(|e| Failure::client(&format!("tools/call {name}"), &e))?;
    let v = to_value(&r);
    show(args, v.clone(), output::call_result)?;
    let code = tool_code(&v);
    if code != 0 {
        eprintln!("rune client: the tool {name} returned an error result");
    }
    Ok(code)
}

fn tool_code(result: &Value) -> u8 {
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        EXIT_TOOL_ERROR
    } else {
        0
    }
}

async fn run_command(args: &Args, client: &Client) -> Result<u8, Failure> {
    match &args.command {
        // Served by `listen`, which needs the notification callback set when connecting.
        Command::Listen(_) => return Err(Failure::usage("listen: internal dispatch error")),
        Command::Ping => {
            let started = std::time::Instant::now();
            client
                .ping()
                .await
                .map_err(|e| Failure::client("ping", &e))?;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            if args.json {
                print_json(&serde_json::json!({"ok": true, "ms": ms}))?;
            } else {
                println!("pong ({ms:.1} ms)");
            }
        }
        Command::Info => {
            show(args, to_value(client.initialize_result()), output::info)?;
        }
        Command::Tools(ToolsCmd::List) => {
            let tools = client
                .list_tools()
                .await
                .map_err(|e| Failure::client("tools/list", &e))?;
            let tools = values(&tools);
            print_tools(args, &tools)?;
        }
        Command::Tools(ToolsCmd::Call { name, args: a }) => {
            let params = call_params(name, a.as_deref())?;
            let r = client.call_tool_with(&params, CallOptions::new()).await;
            return report_call(args, name, r);
        }
        Command::Resources(ResourcesCmd::List) => {
            let list = client
                .list_resources()
                .await
                .map_err(|e| Failure::client("resources/list", &e))?;
            let list = values(&list);
            if args.json {
                print_json(&serde_json::json!({ "resources": list }))?;
            } else {
                print!("{}", output::resources(&list));
            }
        }
        Command::Resources(ResourcesCmd::Templates) => {
            let list = client
                .list_resource_templates()
                .await
                .map_err(|e| Failure::client("resources/templates/list", &e))?;
            let list = values(&list);
            if args.json {
                print_json(&serde_json::json!({ "resourceTemplates": list }))?;
            } else {
                print!("{}", output::templates(&list));
            }
        }
        Command::Resources(ResourcesCmd::Read { uri }) => {
            let r = client
                .read_resource(uri)
                .await
                .map_err(|e| Failure::client(&format!("resources/read {uri}"), &e))?;
            show(args, to_value(&r), output::read_result)?;
        }
        Command::Prompts(PromptsCmd::List) => {
            let list = client
                .list_prompts()
                .await
                .map_err(|e| Failure::client("prompts/list", &e))?;
            let list = values(&list);
            if args.json {
                print_json(&serde_json::json!({ "prompts": list }))?;
            } else {
                print!("{}", output::prompts(&list));
            }
        }
        Command::Prompts(PromptsCmd::Get { name, args: a }) => {
            let mut pairs = Vec::new();
            for (k, v) in json_object(a.as_deref(), "--args")?.unwrap_or_default() {
                let v = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                pairs.push((k, v));
            }
            let r = client
                .get_prompt(name, pairs)
                .await
                .map_err(|e| Failure::client(&format!("prompts/get {name}"), &e))?;
            show(args, to_value(&r), output::prompt)?;
        }
    }
    Ok(0)
}

/// `--all`: every server of the configuration in one pool.
async fn run_pool(args: &Args) -> Result<u8, Failure> {
    let config = load_config(args)?;
    if config.servers.is_empty() && config.errors.is_empty() {
        return Err(Failure::usage("the configuration lists no server"));
    }
    let b = builder(args)?;
    let (pool, failures) = ClientPool::connect_all(&config, b).await;
    for (name, e) in &failures {
        eprintln!("rune client: server {name}: {e}");
    }
    let out = run_pool_command(args, &pool, failures.len()).await;
    pool.close().await;
    out
}

async fn run_pool_command(args: &Args, pool: &ClientPool, failed: usize) -> Result<u8, Failure> {
    let partial = if failed > 0 { EXIT_FAILURE } else { 0 };
    match &args.command {
        Command::Tools(ToolsCmd::List) => {
            let mut tools = Vec::new();
            let mut code = partial;
            for (server, listed) in pool.list_tools_by_server().await {
                match listed {
                    Ok(list) => tools.extend(list.into_iter().map(|mut t| {
                        t.name = pool.qualified_name(&server, &t.name);
                        to_value(&t)
                    })),
                    Err(e) => {
                        eprintln!("rune client: server {server}: tools/list: {e}");
                        code = EXIT_FAILURE;
                    }
                }
            }
            print_tools(args, &tools)?;
            Ok(code)
        }
        Command::Tools(ToolsCmd::Call { name, args: a }) => {
            let params = call_params(name, a.as_deref())?;
            let r = pool.call_tool_with(&params, CallOptions::new()).await;
            report_call(args, name, r)
        }
        Command::Ping => {
            let mut code = partial;
            let mut report = serde_json::Map::new();
            for name in pool.names() {
                let Some(client) = pool.get(&name) else {
                    continue;
                };
                let ok = match client.ping().await {
                    Ok(()) => true,
                    Err(e) => {
                        eprintln!("rune client: server {name}: ping: {e}");
                        code = EXIT_FAILURE;
                        false
                    }
                };
                if !args.json && ok {
                    println!("{name}: pong");
                }
                report.insert(name, Value::Bool(ok));
            }
            if args.json {
                print_json(&report)?;
            }
            Ok(code)
        }
        _ => Err(Failure::usage(
            "--all supports tools list, tools call and ping; use --server NAME for the rest",
        )),
    }
}
