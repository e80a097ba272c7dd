//! The client under test of the official MCP conformance suite's client mode, built on
//! `rune-client`.
//!
//! The suite runs it as `conformance_client <server url>` with the scenario to play in
//! `MCP_CONFORMANCE_SCENARIO` (and, for some, JSON in `MCP_CONFORMANCE_CONTEXT`). It exits 0
//! when every step worked; the suite judges what it saw on the wire.
//!
//! Run with `cargo run -p conformance_client -- http://127.0.0.1:PORT/mcp` (the scenario
//! defaults to `initialize`), or through the suite:
//! `conformance client --command target/debug/conformance_client --scenario sse-retry`.

use std::process::ExitCode;
use std::time::Duration;

use rune_client::model::{ElicitAction, ElicitResult};
use rune_client::{Client, ClientBuilder};
use serde_json::json;
use tracing::info;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn builder() -> ClientBuilder {
    Client::builder()
        .client_info("rune-conformance-client", env!("CARGO_PKG_VERSION"))
        .request_timeout(Some(Duration::from_secs(20)))
}

/// `initialize`: the handshake, then a look at the tools.
async fn initialize(url: &str) -> Result<(), BoxError> {
    let client = builder().connect(url).await?;
    info!(
        "connected to {} {} ({})",
        client.server_info().name,
        client.server_info().version,
        client.protocol_version()
    );
    let tools = client.list_tools().await?;
    info!("{} tools", tools.len());
    client.close().await;
    Ok(())
}

/// `tools_call`: call `add_numbers` with two numbers.
async fn tools_call(url: &str) -> Result<(), BoxError> {
    let client = builder().connect(url).await?;
    let tools = client.list_tools().await?;
    if !tools.iter().any(|t| t.name == "add_numbers") {
        return Err("the server has no add_numbers tool".into());
    }
    let result = client
        .call_tool("add_numbers", json!({"a": 5, "b": 3}))
        .await?;
    info!("add_numbers: {:?}", result.content);
    client.close().await;
    if result.is_error() {
        return Err("add_numbers failed".into());
    }
    Ok(())
}

/// `elicitation-sep1034-client-defaults`: accept every elicitation with no fields of our own;
/// the client fills in the schema's defaults.
async fn elicitation_defaults(url: &str) -> Result<(), BoxError> {
    let client = builder()
        .on_elicitation(|p| async move {
            info!("elicitation: {}", p.message);
            Ok(ElicitResult {
                action: ElicitAction::Accept,
                content: None,
                meta: None,
            })
        })
        .connect(url)
        .await?;
    let tools = client.list_tools().await?;
    for tool in tools {
        let result = client.call_tool(&tool.name, json!({})).await?;
        info!("{}: {:?}", tool.name, result.content);
    }
    client.close().await;
    Ok(())
}

/// `sse-retry`: call the tool whose stream the server closes early; the client resumes it.
async fn sse_retry(url: &str) -> Result<(), BoxError> {
    let client = builder().connect(url).await?;
    let tools = client.list_tools().await?;
    for tool in tools {
        let result = client.call_tool(&tool.name, json!({})).await?;
        info!("{}: {:?}", tool.name, result.content);
    }
    client.close().await;
    Ok(())
}

async fn run(scenario: &str, url: &str) -> Result<(), BoxError> {
    match scenario {
        "initialize" => initialize(url).await,
        "tools_call" => tools_call(url).await,
        "elicitation-sep1034-client-defaults" => elicitation_defaults(url).await,
        "sse-retry" => sse_retry(url).await,
        other => Err(format!("unknown scenario {other:?}").into()),
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUNE_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let Some(url) = std::env::args().nth(1).filter(|a| !a.starts_with('-')) else {
        eprintln!(
            "usage: conformance_client <server url>   (scenario in MCP_CONFORMANCE_SCENARIO)"
        );
        return ExitCode::from(64);
    };
    let scenario =
        std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_else(|_| "initialize".to_owned());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("conformance_client: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&scenario, &url)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("conformance_client: {scenario}: {e}");
            ExitCode::FAILURE
        }
    }
}
