//! `rune chat` and `rune models`: a model from `rune-providers` driving the tools of MCP
//! servers reached through `rune-client`.
//!
//! `rune chat` is an agent loop. Each turn streams the model's answer to stdout as it comes;
//! when the model asks for tools, each call is shown on stderr, run on its MCP server (after
//! consent, for tools that are not marked `readOnlyHint: true`), and its result goes back to
//! the model, until the model answers without calling anything (or `--max-turns` rounds have
//! run). With `-p PROMPT` it answers that one prompt and exits; without, it reads prompts
//! from stdin, one per line, keeping the conversation.
//!
//! The MCP servers come from `--mcp "CMD ARGS"` (repeatable; named after the program) or
//! `--mcp-config FILE` (an `mcpServers` file); their tools are offered to the model as
//! `server__tool`. A server's `sampling/createMessage` requests are answered with the same
//! provider and model: always with `--allow-sampling`; otherwise after a question on the
//! terminal (`/dev/tty`, showing the last message the server would send), or refused when
//! there is no terminal.
//!
//! Consent for writing tools: `--yes` allows them all; otherwise, when stdin is a terminal,
//! the user is asked; otherwise the call is refused and the model is told so.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args as ClapArgs;
use futures_util::StreamExt;
use rune_client::model::{CallToolResult, Tool};
use rune_client::{CallOptions, Client, ClientBuilder, ClientPool, McpServers};
use rune_providers::sampling::{Consent, SamplingBridge};
use rune_providers::sanitize::strip_controls;
use rune_providers::{
    ChatRequest, Http, Message, Provider, ProviderKind, RateLimiter, StreamEvent, ToolCall,
    ToolSpec,
};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines, Stdin};

use crate::client::words;

/// Exit status when the model or provider failed.
const EXIT_MODEL: u8 = 1;
/// Exit status of bad arguments.
const EXIT_USAGE: u8 = 2;
/// Exit status when an MCP server could not be reached.
const EXIT_MCP: u8 = 3;
/// The most characters of one tool result sent to the model.
const MAX_RESULT_CHARS: usize = 100_000;

const CHAT_HELP: &str = "\
Providers and their environment variables:
  ollama     OLLAMA_HOST (default http://127.0.0.1:11434)
  openai     OPENAI_API_KEY, OPENAI_BASE_URL (any OpenAI-compatible server)
  anthropic  ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL
  azure      AZURE_OPENAI_API_KEY, AZURE_OPENAI_ENDPOINT, OPENAI_API_VERSION (unset: the v1 API;
             a dated version: deployment URLs, --model is the deployment)

Exit status: 0 on success; 1 when the model or provider failed; 2 on bad arguments; 3 when an
MCP server could not be reached.

Examples:
  rune chat --provider ollama --model llama3.2 --mcp \"rune mcp-server --root .\" -p \"What is in README.md?\"
  rune chat --provider anthropic --model claude-sonnet-4-5 --mcp-config .mcp.json";

/// Provider selection, shared by `rune chat` and `rune models`.
#[derive(Debug, ClapArgs)]
pub struct ProviderArgs {
    /// ollama, openai (or any OpenAI-compatible server), anthropic, azure.
    #[arg(long, value_name = "NAME", default_value = "ollama")]
    provider: String,
    /// The provider's base URL (overrides OLLAMA_HOST, OPENAI_BASE_URL, ANTHROPIC_BASE_URL,
    /// AZURE_OPENAI_ENDPOINT).
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// Client-side limit of requests per minute.
    #[arg(long, value_name = "N")]
    rpm: Option<u32>,
    /// Client-side limit of tokens per minute (estimated).
    #[arg(long, value_name = "N")]
    tpm: Option<u32>,
    /// Show debug logs on stderr.
    #[arg(short, long)]
    verbose: bool,
}

/// Chat with a model that can use the tools of MCP servers.
#[derive(Debug, ClapArgs)]
#[command(after_help = CHAT_HELP)]
pub struct ChatArgs {
    #[command(flatten)]
    provider: ProviderArgs,
    /// The model (for Azure deployments: the deployment name).
    #[arg(long, short = 'm', value_name = "MODEL")]
    model: String,
    /// Answer this prompt and exit (otherwise read prompts from stdin, one per line).
    #[arg(short = 'p', long = "prompt", value_name = "PROMPT")]
    prompt: Option<String>,
    /// An MCP server to run, as a shell-quoted command (repeatable).
    #[arg(long = "mcp", value_name = "COMMAND")]
    mcp: Vec<String>,
    /// An mcpServers JSON file whose servers are all connected.
    #[arg(long, value_name = "FILE")]
    mcp_config: Option<PathBuf>,
    /// A system prompt.
    #[arg(long, value_name = "TEXT")]
    system: Option<String>,
    /// The most tokens per answer.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    max_tokens: u32,
    /// Sampling temperature.
    #[arg(long, value_name = "T")]
    temperature: Option<f64>,
    /// The most tool rounds per prompt.
    #[arg(long, value_name = "N", default_value_t = 16)]
    max_turns: u32,
    /// Run tools without readOnlyHint without asking.
    #[arg(long)]
    yes: bool,
    /// Answer the servers' sampling requests with this model without asking (otherwise:
    /// ask on the terminal, or refuse when there is none).
    #[arg(long)]
    allow_sampling: bool,
    /// Show the model's reasoning text on stderr.
    #[arg(long)]
    show_thinking: bool,
    /// How long one tool call may take, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 120.0)]
    tool_timeout: f64,
}

/// List the models of a provider.
#[derive(Debug, ClapArgs)]
#[command(after_help = CHAT_HELP)]
pub struct ModelsArgs {
    #[command(flatten)]
    provider: ProviderArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }
}

fn runtime(name: &str, verbose: bool) -> Option<tokio::runtime::Runtime> {
    crate::client::init_logging(verbose);
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("rune {name}: cannot start the runtime: {e}");
            None
        }
    }
}

fn finish(name: &str, r: Result<(), Failure>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("rune {name}: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn provider(args: &ProviderArgs) -> Result<Arc<dyn Provider>, Failure> {
    let kind: ProviderKind = args
        .provider
        .parse()
        .map_err(|e: rune_providers::Error| Failure::new(EXIT_USAGE, e.message().to_owned()))?;
    let mut http = Http::new();
    if args.rpm.is_some() || args.tpm.is_some() {
        http = http.with_limiter(Arc::new(RateLimiter::new(args.rpm, args.tpm)));
    }
    rune_providers::from_env(
        kind,
        args.base_url.as_deref(),
        &|k| std::env::var(k).ok(),
        http,
    )
    .map_err(|e| Failure::new(EXIT_USAGE, e.to_string()))
}

/// Runs `rune models`.
pub fn run_models(args: ModelsArgs) -> ExitCode {
    let Some(rt) = runtime("models", args.provider.verbose) else {
        return ExitCode::from(EXIT_MODEL);
    };
    finish(
        "models",
        rt.block_on(async {
            let p = provider(&args.provider)?;
            let models = p
                .list_models()
                .await
                .map_err(|e| Failure::new(EXIT_MODEL, e.to_string()))?;
            if args.json {
                let v = serde_json::to_string_pretty(&models)
                    .map_err(|e| Failure::new(EXIT_MODEL, e.to_string()))?;
                println!("{v}");
            } else {
                for m in models {
                    let id = strip_controls(&m.id, false).into_owned();
                    match m.display_name.filter(|d| *d != m.id) {
                        Some(d) => println!("{id}\t{}", strip_controls(&d, false)),
                        None => println!("{id}"),
                    }
                }
            }
            Ok(())
        }),
    )
}

/// Runs `rune chat`.
pub fn run_chat(args: ChatArgs) -> ExitCode {
    let Some(rt) = runtime("chat", args.provider.verbose) else {
        return ExitCode::from(EXIT_MODEL);
    };
    finish("chat", rt.block_on(chat(args)))
}

/// A tool offered to the model, and whether it needs consent.
struct Offered {
    spec: ToolSpec,
    read_only: bool,
}

async fn chat(args: ChatArgs) -> Result<(), Failure> {
    if !(args.tool_timeout.is_finite() && args.tool_timeout > 0.0) {
        return Err(Failure::new(EXIT_USAGE, "--tool-timeout must be positive"));
    }
    let provider = provider(&args.provider)?;
    let consent = if args.allow_sampling {
        Consent::Allow
    } else if std::io::stdin().is_terminal() {
        Consent::Ask(Arc::new(|p| Box::pin(ask_sampling(p))))
    } else {
        Consent::Deny
    };
    let bridge = SamplingBridge::new(provider.clone(), args.model.clone())
        .consent(consent)
        .max_tokens_cap(args.max_tokens);
    let builder = Client::builder()
        .client_info("rune-chat", env!("CARGO_PKG_VERSION"))
        .request_timeout(Some(Duration::from_secs_f64(args.tool_timeout)))
        .on_sampling(move |p| {
            let b = bridge.clone();
            async move { b.handle(p).await }
        });
    let pool = connect(&args, builder).await?;
    let out = session(&args, provider.as_ref(), &pool).await;
    pool.close().await;
    out
}

/// Asks on the terminal whether a server may use the model, showing what it would send.
/// The question goes to `/dev/tty`, not stdin, since the agent loop may be reading stdin.
fn ask_sampling(
    p: &rune_client::model::CreateMessageParams,
) -> impl std::future::Future<Output = bool> + Send + 'static {
    let last = p
        .messages
        .last()
        .map(|m| match m.content.get("text").and_then(Value::as_str) {
            Some(t) => t.to_owned(),
            None => m.content.to_string(),
        })
        .unwrap_or_default();
    let shown = shorten(&strip_controls(&last, false), 300);
    async move {
        tokio::task::spawn_blocking(move || {
            use std::io::BufRead;
            let Ok(tty) = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/tty")
            else {
                return false;
            };
            let mut w = &tty;
            let _ = write!(
                w,
                "[sampling] an MCP server asks the model: {shown}\n[sampling] Allow? [y/N] "
            );
            let mut answer = String::new();
            let _ = std::io::BufReader::new(&tty).read_line(&mut answer);
            matches!(answer.trim(), "y" | "Y" | "yes")
        })
        .await
        .unwrap_or(false)
    }
}

/// A server name from a command: its program's file name, letters, digits and `-`.
fn server_name(program: &str, taken: &HashMap<String, ()>) -> String {
    let base = std::path::Path::new(program)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name: String = base
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    name = name.trim_matches('-').to_owned();
    if name.is_empty() {
        name = "mcp".into();
    }
    let mut candidate = name.clone();
    let mut n = 2;
    while taken.contains_key(&candidate) {
        candidate = format!("{name}-{n}");
        n += 1;
    }
    candidate
}

async fn connect(args: &ChatArgs, builder: ClientBuilder) -> Result<ClientPool, Failure> {
    let pool = match &args.mcp_config {
        Some(path) => {
            let config =
                McpServers::load(path).map_err(|e| Failure::new(EXIT_USAGE, e.to_string()))?;
            let (pool, failures) = ClientPool::connect_all(&config, builder.clone()).await;
            if let Some((name, e)) = failures.first() {
                pool.close().await;
                return Err(Failure::new(
                    EXIT_MCP,
                    format!("cannot connect to MCP server {name:?}: {e}"),
                ));
            }
            pool
        }
        None => ClientPool::new(),
    };
    let mut taken: HashMap<String, ()> = pool.names().into_iter().map(|n| (n, ())).collect();
    for line in &args.mcp {
        let argv = words::split(line)
            .map_err(|e| Failure::new(EXIT_USAGE, format!("--mcp {line:?}: {e}")))?;
        let Some((program, rest)) = argv.split_first() else {
            return Err(Failure::new(EXIT_USAGE, "--mcp: the command is empty"));
        };
        let mut cmd = std::process::Command::new(program);
        cmd.args(rest);
        let name = server_name(program, &taken);
        let client = match builder.clone().connect_stdio(cmd).await {
            Ok(c) => c,
            Err(e) => {
                pool.close().await;
                return Err(Failure::new(
                    EXIT_MCP,
                    format!("cannot start or talk to {program:?}: {e}"),
                ));
            }
        };
        pool.insert(&name, client)
            .map_err(|e| Failure::new(EXIT_USAGE, e.to_string()))?;
        taken.insert(name, ());
    }
    Ok(pool)
}

async fn tools(pool: &ClientPool) -> Result<HashMap<String, Offered>, Failure> {
    let mut out = HashMap::new();
    if pool.is_empty() {
        return Ok(out);
    }
    let listed = pool
        .list_tools()
        .await
        .map_err(|e| Failure::new(EXIT_MCP, format!("tools/list: {e}")))?;
    for t in listed {
        let Tool {
            name,
            description,
            input_schema,
            annotations,
            ..
        } = t.tool;
        if let Err(e) = rune_providers::validate::check_tool_name(&name) {
            eprintln!(
                "rune chat: not offering {name:?} to the model: {}",
                e.message()
            );
            continue;
        }
        let read_only = annotations.and_then(|a| a.read_only_hint) == Some(true);
        let spec = ToolSpec {
            name: name.clone(),
            description: description.unwrap_or_default(),
            input_schema: Value::Object((*input_schema).clone()),
        };
        out.insert(name, Offered { spec, read_only });
    }
    Ok(out)
}

/// Where prompts and consent answers come from.
struct Input {
    lines: Lines<BufReader<Stdin>>,
    terminal: bool,
}

impl Input {
    async fn line(&mut self) -> Option<String> {
        self.lines.next_line().await.ok().flatten()
    }
}

async fn session(
    args: &ChatArgs,
    provider: &dyn Provider,
    pool: &ClientPool,
) -> Result<(), Failure> {
    let offered = tools(pool).await?;
    let mut specs: Vec<ToolSpec> = offered.values().map(|o| o.spec.clone()).collect();
    specs.sort_by(|a, b| a.name.cmp(&b.name));
    let mut input = Input {
        lines: BufReader::new(tokio::io::stdin()).lines(),
        terminal: std::io::stdin().is_terminal(),
    };
    let mut messages = Vec::new();
    if let Some(s) = &args.system {
        messages.push(Message::system(s.clone()));
    }
    if let Some(p) = &args.prompt {
        messages.push(Message::user(p.clone()));
        return turn(
            args,
            provider,
            pool,
            &offered,
            &specs,
            &mut messages,
            &mut input,
        )
        .await;
    }
    loop {
        if input.terminal {
            eprint!("> ");
            let _ = std::io::stderr().flush();
        }
        let Some(line) = input.line().await else {
            return Ok(());
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line == "/exit" || line == "/quit" {
            return Ok(());
        }
        let before = messages.len();
        messages.push(Message::user(line));
        if let Err(f) = turn(
            args,
            provider,
            pool,
            &offered,
            &specs,
            &mut messages,
            &mut input,
        )
        .await
        {
            // One failed answer does not end an interactive session; the conversation goes
            // back to where it was before the prompt, so no call is left without its result.
            eprintln!("rune chat: {}", f.message);
            messages.truncate(before);
        }
    }
}

/// Answers the last user message, running tools until the model stops calling them.
async fn turn(
    args: &ChatArgs,
    provider: &dyn Provider,
    pool: &ClientPool,
    offered: &HashMap<String, Offered>,
    specs: &[ToolSpec],
    messages: &mut Vec<Message>,
    input: &mut Input,
) -> Result<(), Failure> {
    for _ in 0..=args.max_turns {
        let mut req = ChatRequest::new(args.model.clone(), messages.clone()).tools(specs.to_vec());
        req.max_tokens = Some(args.max_tokens);
        req.temperature = args.temperature;
        let (text, calls) = stream_answer(args, provider, &req).await?;
        messages.push(Message::assistant_calls(text, calls.clone()));
        if calls.is_empty() {
            return Ok(());
        }
        for call in &calls {
            let (result, is_error) = run_tool(args, pool, offered, call, input).await;
            messages.push(Message::tool_result(call, result, is_error));
        }
    }
    Err(Failure::new(
        EXIT_MODEL,
        format!(
            "the model was still calling tools after {} rounds (--max-turns)",
            args.max_turns
        ),
    ))
}

/// Streams one answer to stdout; gives back its text and tool calls.
async fn stream_answer(
    args: &ChatArgs,
    provider: &dyn Provider,
    req: &ChatRequest,
) -> Result<(String, Vec<ToolCall>), Failure> {
    let mut stream = provider
        .chat_stream(req)
        .await
        .map_err(|e| Failure::new(EXIT_MODEL, e.to_string()))?;
    let mut text = String::new();
    let mut calls = Vec::new();
    let mut stdout = std::io::stdout();
    while let Some(ev) = stream.next().await {
        let ev = ev.map_err(|e| {
            if !text.is_empty() {
                println!();
            }
            Failure::new(EXIT_MODEL, e.to_string())
        })?;
        match ev {
            StreamEvent::TextDelta(t) => {
                text.push_str(&t);
                let _ = stdout.write_all(t.as_bytes());
                let _ = stdout.flush();
            }
            StreamEvent::ThinkingDelta(t) if args.show_thinking => eprint!("{t}"),
            StreamEvent::ToolCall(c) => calls.push(c),
            StreamEvent::Stop(rune_providers::StopReason::MaxTokens) => {
                eprintln!("\nrune chat: the answer hit --max-tokens");
            }
            _ => {}
        }
    }
    if !text.is_empty() && !text.ends_with('\n') {
        println!();
    }
    Ok((text, calls))
}

/// Runs one tool call (after consent); gives back the text for the model and whether it
/// failed.
async fn run_tool(
    args: &ChatArgs,
    pool: &ClientPool,
    offered: &HashMap<String, Offered>,
    call: &ToolCall,
    input: &mut Input,
) -> (String, bool) {
    let shown_args = strip_controls(&call.arguments.to_string(), false).into_owned();
    eprintln!("[tool] {} {}", call.name, shorten(&shown_args, 200));
    let Some(tool) = offered.get(&call.name) else {
        eprintln!("[tool] unknown tool");
        return (format!("There is no tool named {:?}.", call.name), true);
    };
    let Value::Object(arguments) = &call.arguments else {
        eprintln!("[tool] arguments are not a JSON object");
        return (
            "The arguments were not a JSON object; call the tool again with valid JSON.".into(),
            true,
        );
    };
    if !tool.read_only && !args.yes {
        let allowed = if input.terminal {
            eprint!("[tool] {} may change things. Allow? [y/N] ", call.name);
            let _ = std::io::stderr().flush();
            matches!(
                input.line().await.as_deref().map(str::trim),
                Some("y" | "Y" | "yes")
            )
        } else {
            false
        };
        if !allowed {
            eprintln!("[tool] denied (not read-only; --yes allows it)");
            return ("The user denied this tool call.".into(), true);
        }
    }
    let result = pool
        .call_tool_with(
            &rune_client::model::CallToolParams {
                name: call.name.clone(),
                arguments: Some(arguments.clone()),
                input_responses: None,
                request_state: None,
                meta: None,
            },
            CallOptions::new(),
        )
        .await;
    match result {
        Ok(r) => {
            let is_error = r.is_error == Some(true);
            let text = result_text(&r);
            eprintln!(
                "[tool] {} ({} chars)",
                if is_error { "error" } else { "ok" },
                text.chars().count()
            );
            (text, is_error)
        }
        Err(e) => {
            eprintln!("[tool] failed: {e}");
            (format!("The tool call failed: {e}"), true)
        }
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

/// A tool result as text for the model: text blocks, embedded text resources, links and
/// placeholders for media; the structured content when there is no text.
fn result_text(r: &CallToolResult) -> String {
    let mut parts = Vec::new();
    for c in &r.content {
        let v = serde_json::to_value(c).unwrap_or(Value::Null);
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
        match s("type") {
            "text" => parts.push(s("text").to_owned()),
            "image" | "audio" => parts.push(format!("[{} {}]", s("type"), s("mimeType"))),
            "resource_link" => parts.push(format!("[resource {}]", s("uri"))),
            "resource" => {
                let res = v.get("resource").unwrap_or(&Value::Null);
                match res.get("text").and_then(Value::as_str) {
                    Some(t) => parts.push(t.to_owned()),
                    None => parts.push(format!(
                        "[resource {}]",
                        res.get("uri").and_then(Value::as_str).unwrap_or("")
                    )),
                }
            }
            _ => {}
        }
    }
    if parts.is_empty()
        && let Some(s) = &r.structured_content
    {
        parts.push(s.to_string());
    }
    shorten(&parts.join("\n"), MAX_RESULT_CHARS)
}
