//! The client half of the ABI: connect to an MCP server, list and call its tools.
//!
//! A `rune_client` is one connection made by [`::rune_client::ClientBuilder`]. Every call
//! blocks the calling thread until the answer arrives (or the timeout passes); several
//! threads may call on one client at once, and their requests run concurrently on the one
//! connection. Results are handed over as the server's JSON text, untouched: Rune does not
//! decode a tool's result into Rust types and back.

use std::ffi::c_char;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ::rune_client::{CallOptions, Client};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::error::{FfiError, guard, rune_status};
use crate::handles::Table;
use crate::strings::{give, optional, out_param, required};
use crate::{rune_client, runtime};

/// A live client.
struct ClientCore {
    /// Closed by `rune_client_destroy`, which fails the calls still waiting on other
    /// threads with `Error::Closed` (`RUNE_ERROR_CLOSED`).
    client: Client,
    /// Per-call timeout in milliseconds; `DEFAULT_TIMEOUT` means the builder's (60 s), 0 none.
    timeout_ms: AtomicU64,
}

const DEFAULT_TIMEOUT: u64 = u64::MAX;

static CLIENTS: Table<ClientCore> = Table::new("rune_client");

impl ClientCore {
    fn options(&self) -> CallOptions {
        match self.timeout_ms.load(Ordering::Relaxed) {
            DEFAULT_TIMEOUT => CallOptions::new(),
            0 => CallOptions::new().no_timeout(),
            ms => CallOptions::new().timeout(Duration::from_millis(ms)),
        }
    }

    /// Sends `method` and waits for its raw result.
    fn request<P: Serialize + ?Sized>(
        &self,
        method: &str,
        params: Option<&P>,
    ) -> Result<String, FfiError> {
        let rt = runtime::get()?;
        let raw = rt.block_on(self.client.request::<P, Box<RawValue>>(
            method,
            params,
            self.options(),
        ))?;
        Ok(String::from(Box::<str>::from(raw)))
    }
}

/// Opens a connection described by `url`.
fn connect(url: &str) -> Result<Client, FfiError> {
    let rt = runtime::get()?;
    let builder = Client::builder().client_info("rune-ffi", env!("CARGO_PKG_VERSION"));
    if let Some(command_line) = url.strip_prefix("stdio:") {
        let argv = shlex::split(command_line).ok_or_else(|| {
            FfiError::new(
                rune_status::RUNE_ERROR_INVALID_ARGUMENT,
                format!("{command_line:?}: unbalanced quotes in the command line"),
            )
        })?;
        let Some((program, args)) = argv.split_first() else {
            return Err(FfiError::new(
                rune_status::RUNE_ERROR_INVALID_ARGUMENT,
                "stdio: needs a command line, e.g. \"stdio:my-server --flag\"",
            ));
        };
        let mut command = std::process::Command::new(program);
        command.args(args);
        return Ok(rt.block_on(builder.connect_stdio(command))?);
    }
    let known = ["http://", "https://", "ws://", "tcp://"];
    if !known.iter().any(|scheme| url.starts_with(scheme)) {
        return Err(FfiError::new(
            rune_status::RUNE_ERROR_INVALID_ARGUMENT,
            format!(
                "{url:?}: expected \"stdio:COMMAND LINE\", http://, https://, ws:// or tcp:// URL"
            ),
        ));
    }
    Ok(rt.block_on(builder.connect(url))?)
}

fn handle(client: *mut rune_client) -> usize {
    client as usize
}

/// Connects to an MCP server and runs the handshake; on success `*out` is the new client.
///
/// `url` is one of:
/// - `stdio:COMMAND LINE`: starts the command (split like a POSIX shell does, with quotes and
///   backslashes; no variables, globs or pipes) and speaks MCP on its stdin/stdout. The child
///   inherits the environment and working directory; its stderr is read by Rune (shown with
///   `RUNE_LOG=info`). It is stopped when the client is destroyed.
/// - `http://HOST:PORT/PATH`, `https://…`: Streamable HTTP (falls back to the legacy
///   HTTP+SSE transport when the server asks for it).
/// - `ws://HOST:PORT/PATH`: WebSocket.
/// - `tcp://HOST:PORT`: newline-delimited JSON over TCP.
///
/// Blocks until the handshake is done (at most about 60 s). `*out` is NULL on failure.
///
/// # Safety
/// `url` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rune_client_create(
    url: *const c_char,
    out: *mut *mut rune_client,
) -> rune_status {
    guard(|| {
        // SAFETY: per this function's contract.
        unsafe { out_param(out, "out") }?;
        // SAFETY: per this function's contract.
        let url = unsafe { required(url, "url") }?;
        let client = connect(url)?;
        let h = CLIENTS.insert(ClientCore {
            client,
            timeout_ms: AtomicU64::new(DEFAULT_TIMEOUT),
        });
        // SAFETY: checked writable by out_param; the value is a handle, never dereferenced.
        unsafe { *out = h as *mut rune_client };
        Ok(())
    })
}

/// Sets how long each later call of this client waits for its answer, in milliseconds;
/// 0 waits forever. The default is 60 000. A call that times out fails with
/// `RUNE_ERROR_TIMEOUT`, and the server is told to cancel it.
///
/// # Safety
/// None: any handle value is accepted (an invalid one is refused with an error code).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rune_client_set_timeout(
    client: *mut rune_client,
    timeout_ms: u64,
) -> rune_status {
    guard(|| {
        let core = CLIENTS.get(handle(client))?;
        // u64::MAX is the "builder default" marker: a caller asking for it gets the longest
        // finite wait instead.
        core.timeout_ms
            .store(timeout_ms.min(DEFAULT_TIMEOUT - 1), Ordering::Relaxed);
        Ok(())
    })
}

#[derive(Serialize)]
struct CallParams<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a RawValue>,
}

/// Calls the tool `tool` with the arguments `params_json` (a JSON object; NULL means none)
/// and, on success, sets `*result_json` to the `CallToolResult` JSON, which the caller frees
/// with `rune_string_free`.
///
/// A tool that fails still returns `RUNE_OK`: its result has `"isError": true` and says why
/// in `content` (MCP reports tool failures to the model that way). An unknown tool or
/// arguments the server refuses are `RUNE_ERROR_RPC`.
///
/// # Safety
/// `tool` and `params_json` are NULL or NUL-terminated strings; `result_json` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rune_client_call_tool(
    client: *mut rune_client,
    tool: *const c_char,
    params_json: *const c_char,
    result_json: *mut *mut c_char,
) -> rune_status {
    guard(|| {
        // SAFETY: per this function's contract.
        unsafe { out_param(result_json, "result_json") }?;
        // SAFETY: per this function's contract.
        let tool = unsafe { required(tool, "tool") }?;
        // SAFETY: per this function's contract.
        let params = unsafe { optional(params_json, "params_json") }?;
        let arguments = match params {
            None => None,
            Some(text) => object_raw(text, "params_json")?,
        };
        let core = CLIENTS.get(handle(client))?;
        let result = core.request(
            "tools/call",
            Some(&CallParams {
                name: tool,
                arguments,
            }),
        )?;
        // SAFETY: checked writable by out_param.
        unsafe { give(result_json, result) }
    })
}

/// A JSON object checked for syntax without building a tree; `null` means none.
fn object_raw<'a>(text: &'a str, what: &str) -> Result<Option<&'a RawValue>, FfiError> {
    let raw: &RawValue = serde_json::from_str(text).map_err(|e| {
        FfiError::new(
            rune_status::RUNE_ERROR_INVALID_JSON,
            format!("{what} is not valid JSON: {e}"),
        )
    })?;
    let body = raw.get().trim_start();
    if body.starts_with('{') {
        Ok(Some(raw))
    } else if body == "null" {
        Ok(None)
    } else {
        Err(FfiError::new(
            rune_status::RUNE_ERROR_INVALID_JSON,
            format!("{what} must be a JSON object, not {body:.40}"),
        ))
    }
}

/// Sets `*tools_json` to a JSON array of every tool the server offers (each as `tools/list`
/// describes it: `name`, `description`, `inputSchema`, …), following every page. Free it with
/// `rune_string_free`.
///
/// # Safety
/// `tools_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rune_client_list_tools(
    client: *mut rune_client,
    tools_json: *mut *mut c_char,
) -> rune_status {
    guard(|| {
        // SAFETY: per this function's contract.
        unsafe { out_param(tools_json, "tools_json") }?;
        let core = CLIENTS.get(handle(client))?;
        let rt = runtime::get()?;
        let tools = rt.block_on(core.client.list_tools())?;
        let text = serde_json::to_string(&tools)
            .map_err(|e| FfiError::new(rune_status::RUNE_ERROR_PROTOCOL, format!("tools: {e}")))?;
        // SAFETY: checked writable by out_param.
        unsafe { give(tools_json, text) }
    })
}

/// Sends any request (`resources/read`, `prompts/get`, `ping`…) with `params_json` (a JSON
/// object, or NULL for none) and sets `*result_json` to the raw result JSON. Free it with
/// `rune_string_free`.
///
/// # Safety
/// `method` and `params_json` are NULL or NUL-terminated strings; `result_json` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rune_client_request(
    client: *mut rune_client,
    method: *const c_char,
    params_json: *const c_char,
    result_json: *mut *mut c_char,
) -> rune_status {
    guard(|| {
        // SAFETY: per this function's contract.
        unsafe { out_param(result_json, "result_json") }?;
        // SAFETY: per this function's contract.
        let method = unsafe { required(method, "method") }?;
        // SAFETY: per this function's contract.
        let params = unsafe { optional(params_json, "params_json") }?;
        let params = match params {
            None => None,
            Some(text) => object_raw(text, "params_json")?,
        };
        let core = CLIENTS.get(handle(client))?;
        let result = core.request(method, params)?;
        // SAFETY: checked writable by out_param.
        unsafe { give(result_json, result) }
    })
}

/// Sets `*info_json` to what the server said about itself at connect: `protocolVersion`,
/// `capabilities`, `serverInfo`, `instructions` (the `initialize` result). Free it with
/// `rune_string_free`.
///
/// # Safety
/// `info_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rune_client_server_info(
    client: *mut rune_client,
    info_json: *mut *mut c_char,
) -> rune_status {
    guard(|| {
        // SAFETY: per this function's contract.
        unsafe { out_param(info_json, "info_json") }?;
        let core = CLIENTS.get(handle(client))?;
        let text = serde_json::to_string(core.client.initialize_result()).map_err(|e| {
            FfiError::new(
                rune_status::RUNE_ERROR_PROTOCOL,
                format!("server info: {e}"),
            )
        })?;
        // SAFETY: checked writable by out_param.
        unsafe { give(info_json, text) }
    })
}

/// Closes the connection and invalidates the handle. Calls still waiting on other threads
/// return `RUNE_ERROR_CLOSED`; a stdio server gets its stdin closed and is waited for (killed
/// after 2 s). NULL is accepted and does nothing; a handle already destroyed gets
/// `RUNE_ERROR_INVALID_HANDLE` and nothing else happens.
///
/// # Safety
/// None: any handle value is accepted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rune_client_destroy(client: *mut rune_client) -> rune_status {
    guard(|| {
        if client.is_null() {
            return Ok(());
        }
        let core = CLIENTS.remove(handle(client))?;
        let rt = runtime::get()?;
        rt.block_on(core.client.clone().close());
        Ok(())
    })
}
