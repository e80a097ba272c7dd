//! `rune mcp-server`: the built-in tools over MCP.

use std::path::PathBuf;
use std::sync::Arc;

use rune_server::Server;
use rune_tools::{Consent, Policy, Roots};

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
    /// Serve on an address instead of stdio: http://127.0.0.1:8080/mcp (Streamable HTTP,
    /// legacy SSE at /sse, WebSocket upgrades), ws://…, or tcp://127.0.0.1:9000.
    #[arg(long, value_name = "URL")]
    listen: Option<String>,
    /// HTTP: a host name clients may use in Host/Origin (besides localhost, 127.0.0.1, ::1);
    /// repeat for several, `*` for any (DNS rebinding protection off).
    #[arg(long = "allowed-host", value_name = "NAME")]
    allowed_hosts: Vec<String>,
    /// HTTP: no sessions, so replicas can sit behind any load balancer.
    #[arg(long)]
    stateless: bool,
    /// HTTP: require `Authorization: Bearer TOKEN`, the tokens read (comma-separated) from
    /// this environment variable.
    #[arg(long, value_name = "VAR")]
    auth_token_env: Option<String>,
    /// HTTP: an OAuth authorization server named in the protected resource metadata
    /// (/.well-known/oauth-protected-resource); repeatable.
    #[arg(long = "auth-server", value_name = "URL")]
    auth_servers: Vec<String>,
    /// Let the writing tools (file_write, file_edit, create_directory, move_path) run without
    /// asking. Without it each call asks the user through MCP elicitation, and is refused
    /// when the client cannot ask.
    #[arg(long, conflicts_with = "read_only")]
    allow_write: bool,
    /// Leave the writing tools out entirely, and shell_exec too (unless --allow-shell or
    /// `[shell] enabled = true`: then its commands see the roots read-only).
    #[arg(long)]
    read_only: bool,
    /// Narrow the roots to the client's MCP roots when it offers them (they can only narrow:
    /// a client root outside every --root is ignored).
    #[arg(long)]
    client_roots: bool,
    /// Append one JSON line per tool call to this file (default:
    /// $XDG_STATE_HOME/rune/audit.jsonl, or ~/.local/state/rune/audit.jsonl).
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    /// Do not write the audit log.
    #[arg(long, conflicts_with = "audit_log")]
    no_audit: bool,
    /// Let shell_exec run commands without asking (by default each call asks the user;
    /// --allow-write does not cover it). Also serves it under --read-only, with the roots
    /// read-only for the commands.
    #[arg(long)]
    allow_shell: bool,
    /// Serve web_fetch: fetch public http(s) URLs, HTML as Markdown, cached. Private and
    /// local addresses are refused (see [fetch] in the configuration file).
    #[arg(long)]
    web_fetch: bool,
}

/// The settings after merging the file and the flags.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) roots: Vec<PathBuf>,
    pub(crate) log_level: String,
    pub(crate) listen: Option<String>,
    pub(crate) allow_write: bool,
    pub(crate) read_only: bool,
    pub(crate) client_roots: bool,
    pub(crate) audit: Option<rune_tools::audit::AuditConfig>,
    pub(crate) tools: Vec<(String, rune_tools::ToolPolicy)>,
    pub(crate) http: rune_http::HttpOptions,
    /// web_fetch, when served.
    pub(crate) fetch: Option<rune_fetch::FetchOptions>,
    /// shell_exec, when served.
    pub(crate) shell: Option<rune_shell::ShellOptions>,
    /// shell_exec runs without asking.
    pub(crate) allow_shell: bool,
}

/// shell_exec's options from `[shell]`: served by default, except under read-only (unless
/// asked for with `enabled = true` or `--allow-shell`).
fn shell_options(
    file: crate::config::ShellSection,
    read_only: bool,
    allow_shell: bool,
) -> Option<rune_shell::ShellOptions> {
    use std::time::Duration;
    let serve = allow_shell || file.enabled.unwrap_or(!read_only);
    if !serve {
        return None;
    }
    let mut o = rune_shell::ShellOptions {
        allow_programs: file.allow_programs,
        deny_programs: file.deny_programs,
        env_set: file.env.into_iter().collect(),
        read_paths: file.read_paths,
        ..rune_shell::ShellOptions::default()
    };
    if let Some(v) = file.shell_strings {
        o.shell_strings = v;
    }
    if let Some(v) = file.env_allow {
        o.env_allow = v;
    }
    if let Some(v) = file.timeout_secs {
        o.timeout = Duration::from_secs(v.max(1));
    }
    if let Some(v) = file.max_timeout_secs {
        o.max_timeout = Duration::from_secs(v.max(1));
    }
    o.max_timeout = o.max_timeout.max(o.timeout);
    if let Some(v) = file.network {
        o.network = v;
    }
    if let Some(v) = file.require_full_sandbox {
        o.require_full_sandbox = v;
    }
    if let Some(v) = file.max_output_bytes {
        o.max_output_bytes = v.max(256);
    }
    let l = file.limits;
    if let Some(v) = l.cpu_secs {
        o.limits.cpu_secs = v;
    }
    if let Some(v) = l.memory_mb {
        o.limits.address_space_bytes = v.saturating_mul(1 << 20);
    }
    if let Some(v) = l.processes {
        o.limits.processes = v;
    }
    if let Some(v) = l.file_size_mb {
        o.limits.file_size_bytes = v.saturating_mul(1 << 20);
    }
    if let Some(v) = l.open_files {
        o.limits.open_files = v;
    }
    Some(o)
}

/// Where the audit log goes when nothing says.
fn default_audit_path() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("state"))
        })?;
    Some(state.join("rune").join("audit.jsonl"))
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
    let read_only = args.read_only || file.read_only.unwrap_or(false);
    let allow_write = args.allow_write || file.allow_write.unwrap_or(false);
    if read_only && allow_write {
        return Err("read_only and allow_write contradict each other; choose one".into());
    }
    let audit = if args.no_audit || file.audit.enabled == Some(false) {
        None
    } else {
        let path = args
            .audit_log
            .or(file.audit.path)
            .or_else(default_audit_path);
        match path {
            Some(path) => {
                let mut c = rune_tools::audit::AuditConfig::new(path);
                if let Some(n) = file.audit.max_bytes {
                    c.max_bytes = n;
                }
                if let Some(n) = file.audit.keep {
                    c.keep = n;
                }
                Some(c)
            }
            None => {
                eprintln!(
                    "rune mcp-server: no audit log (neither XDG_STATE_HOME nor HOME is set; \
                     give --audit-log FILE)"
                );
                None
            }
        }
    };
    let tools = file
        .tools
        .into_iter()
        .map(|(name, t)| {
            (
                name,
                rune_tools::ToolPolicy {
                    enabled: t.enabled,
                    consent: t.consent,
                },
            )
        })
        .collect();
    let mut http = rune_http::HttpOptions::default();
    http.allowed_hosts.extend(file.http.allowed_hosts);
    http.allowed_hosts.extend(args.allowed_hosts);
    http.stateless = args.stateless || file.http.stateless.unwrap_or(false);
    let listen = args.listen.or(file.listen);
    if let Some(var) = args.auth_token_env.or(file.http.auth_token_env) {
        let value = std::env::var(&var)
            .map_err(|_| format!("--auth-token-env {var}: the variable is not set"))?;
        let tokens: Vec<String> = value
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        if tokens.is_empty() {
            return Err(format!("--auth-token-env {var}: the variable holds no token").into());
        }
        let mut servers = file.http.authorization_servers;
        servers.extend(args.auth_servers);
        let metadata = (!servers.is_empty()).then(|| {
            let resource = listen.clone().unwrap_or_default();
            rune_http::ResourceMetadata::new(resource, servers)
        });
        http.auth = Some(rune_http::BearerAuth { tokens, metadata });
    }
    // Served when asked for, by the flag or the file; the file's settings apply either way.
    let fetch = if args.web_fetch || file.fetch.enabled.unwrap_or(false) {
        Some(file.fetch.options()?)
    } else {
        None
    };
    let shell = shell_options(file.shell, read_only, args.allow_shell);
    Ok(Settings {
        roots,
        log_level,
        listen,
        allow_write,
        read_only,
        client_roots: args.client_roots || file.client_roots.unwrap_or(false),
        audit,
        tools,
        http,
        fetch,
        shell,
        allow_shell: args.allow_shell,
    })
}

fn server(settings: &Settings) -> Result<Server, Box<dyn std::error::Error>> {
    let guard = Arc::new(Roots::new(&settings.roots)?.read_only(settings.read_only));
    let roots: Vec<String> = settings
        .roots
        .iter()
        .map(|r| r.display().to_string())
        .collect();
    let mut instructions = format!(
        "Rune's built-in file tools. Files are accessible only inside these roots: {}. \
         Relative paths are relative to the first root.",
        roots.join(", ")
    );
    let mut tools = rune_tools::read_tools(guard.clone());
    tools.extend(rune_tools::search_tools(guard.clone()));
    if let Some(opts) = &settings.fetch {
        tools.push(rune_fetch::web_fetch_tool(opts.clone())?);
        instructions.push_str(
            " web_fetch fetches public http(s) URLs (private and local addresses are refused).",
        );
    }
    if let Some(opts) = &settings.shell {
        tools.push(rune_shell::shell_exec_tool(guard.clone(), opts.clone()));
        instructions.push_str(
            " shell_exec runs a program (argv) in a sandbox inside the roots, with no network \
             by default; each call may ask the user first.",
        );
    }
    let mut builder = Server::builder("rune", env!("CARGO_PKG_VERSION"))
        .instructions(instructions)
        .advertise_tools();
    let writers = rune_tools::write_tools(guard.clone(), rune_tools::WriteOptions::default());
    let mut policy = Policy::new(guard).client_roots(settings.client_roots);
    if settings.allow_write {
        policy = policy.write_consent(Consent::Allow);
    }
    for (name, p) in &settings.tools {
        policy = policy.tool(name.clone(), p.clone());
    }
    // shell_exec asks unless --allow-shell or its own [tools.shell_exec] consent says
    // otherwise: --allow-write (the writing tools' consent) does not reach it.
    {
        let own = settings
            .tools
            .iter()
            .find(|(n, _)| n == "shell_exec")
            .map(|(_, p)| p.clone())
            .unwrap_or_default();
        let consent = if settings.allow_shell {
            Consent::Allow
        } else {
            own.consent.unwrap_or(Consent::Ask)
        };
        policy = policy.tool(
            "shell_exec",
            rune_tools::ToolPolicy {
                enabled: own.enabled,
                consent: Some(consent),
            },
        );
    }
    {
        let mut all = tools.clone();
        all.extend(writers.iter().cloned());
        let mut unknown = policy.unknown_tools(&all);
        // Configurable whether or not it is served.
        unknown.retain(|t| *t != "web_fetch" && *t != "shell_exec");
        if !unknown.is_empty() {
            let known: Vec<&str> = all.iter().map(|t| t.name()).collect();
            return Err(format!(
                "the configuration names unknown tools: {} (the tools are: {})",
                unknown.join(", "),
                known.join(", ")
            )
            .into());
        }
    }
    if !settings.read_only {
        tools.extend(writers);
    }
    if let Some(audit) = &settings.audit {
        let log = rune_tools::audit::AuditLog::open(audit.clone())?;
        tracing::info!(path = %log.path().display(), "audit log");
        policy = policy.audit(Arc::new(log));
    }
    for tool in policy.apply(tools) {
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
            Some(url) => {
                rune_http::listen::serve_url_with(&server, url, settings.http.clone()).await
            }
        }
    })?;
    Ok(())
}
