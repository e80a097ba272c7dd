//! The server half of the ABI: tools implemented by C callbacks, served on stdio or a URL.
//!
//! A `rune_server` wraps a [`::rune_server::Server`]. Each registered tool is a
//! [`ToolDef::raw`] whose handler hands the (already schema-validated) arguments to the C
//! callback on Rune's blocking pool, so a callback may block, sleep or do I/O without holding
//! up other requests, and several callbacks (of one tool or of several) may run at once on
//! different threads.
//!
//! The callback answers through the `rune_tool_call *` it is given, with
//! `rune_tool_call_set_result` / `_set_text` / `_set_error`. Those copy the string before
//! returning, so the callback keeps ownership of its buffers (stack, static or heap) and
//! there is no allocator contract to get wrong. A `rune_tool_call *` is valid only on the
//! callback's thread and only until the callback returns; a setter called with any other
//! pointer gets `RUNE_ERROR_INVALID_HANDLE` and touches nothing.
//!
//! Lifetimes: a [`Gate`] counts the callbacks running. `rune_server_destroy` closes the gate
//! (no callback starts afterwards) and waits until the count is zero, so once it returns the
//! embedder may free whatever the callbacks use. Called from inside one of the server's own
//! callbacks it cannot wait for itself, and returns at once.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::ffi::{CString, c_char, c_void};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use ::rune_server::{HandlerError, RequestContext, Server, ToolDef};
use rune_proto::model::CallToolResult;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::error::{FfiError, guard, rune_status};
use crate::handles::Table;
use crate::strings::{give, json_object, optional, out_param, required};
use crate::{rune_server, rune_tool_call, runtime};

/// A tool implemented in C.
///
/// It runs on one of Rune's threads, never the one that called `rune_server_run`.
/// `arguments_json` is the call's arguments as a JSON object (already checked against the
/// tool's input schema), valid until the callback returns. The callback answers through
/// `call` (see `rune_tool_call_set_result`); if it sets nothing the client gets an error
/// result. It must not unwind (a C++ callback catches its exceptions) and must not call
/// `longjmp` out of itself.
#[allow(non_camel_case_types)]
pub type rune_tool_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        arguments_json: *const c_char,
        call: *mut rune_tool_call,
    ),
>;

/// Frees a tool's `user_data`; called once, on any thread, when Rune no longer needs it.
/// It may run on one of Rune's I/O threads: it should only release memory and must not call
/// Rune's blocking functions (there they fail with `RUNE_ERROR_PANIC`).
#[allow(non_camel_case_types)]
pub type rune_free_callback = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// A callback with its data.
struct Callback {
    f: unsafe extern "C" fn(*mut c_void, *const c_char, *mut rune_tool_call),
    user_data: *mut c_void,
    free: rune_free_callback,
}

// SAFETY: the embedder promises (rune.h, threading rules) that the callback and its
// user_data may be used from any thread, by several threads at once.
unsafe impl Send for Callback {}
// SAFETY: as above.
unsafe impl Sync for Callback {}

impl Drop for Callback {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            // SAFETY: the embedder gave this function for this pointer; Rune holds the last
            // reference, so this is the one call.
            unsafe { free(self.user_data) };
        }
    }
}

/// Counts the callbacks of one server that are running; closed by destroy.
struct Gate {
    id: usize,
    state: Mutex<GateState>,
    idle: Condvar,
}

#[derive(Default)]
struct GateState {
    running: usize,
    closed: bool,
}

static NEXT_GATE: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    /// The gates of the callbacks this thread is inside (innermost last).
    static INSIDE: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
    /// The call this thread is answering, if any: the only `rune_tool_call *` the setters
    /// accept on this thread.
    static CURRENT_CALL: Cell<*const CallSlot> = const { Cell::new(std::ptr::null()) };
}

impl Gate {
    fn new() -> Self {
        Gate {
            id: NEXT_GATE.fetch_add(1, Ordering::Relaxed),
            state: Mutex::new(GateState::default()),
            idle: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one more running callback, unless the gate is closed.
    fn enter(&self) -> bool {
        let mut s = self.lock();
        if s.closed {
            return false;
        }
        s.running += 1;
        true
    }

    fn exit(&self) {
        let mut s = self.lock();
        s.running -= 1;
        if s.running == 0 {
            self.idle.notify_all();
        }
    }

    /// Closes the gate and waits for the running callbacks, unless this thread is one.
    fn close_and_wait(&self) {
        let mut s = self.lock();
        s.closed = true;
        let inside = INSIDE.with(|v| v.borrow().contains(&self.id));
        if inside {
            return;
        }
        while s.running > 0 {
            s = self.idle.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// What `rune_tool_call *` points at: the call being answered, on the callback's stack.
struct CallSlot {
    outcome: RefCell<Option<CallToolResult>>,
    cancel: CancellationToken,
    gate: Arc<Gate>,
}

/// A live server.
struct ServerCore {
    server: Server,
    gate: Arc<Gate>,
    /// Cancelled by `rune_server_stop` (then replaced): ends every run and listener started
    /// before.
    stop: Mutex<CancellationToken>,
    stdio_running: AtomicBool,
    tools: Mutex<HashSet<String>>,
}

impl ServerCore {
    fn stop_token(&self) -> CancellationToken {
        self.stop.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn stop(&self) {
        let mut token = self.stop.lock().unwrap_or_else(|p| p.into_inner());
        token.cancel();
        *token = CancellationToken::new();
    }
}

static SERVERS: Table<ServerCore> = Table::new("rune_server");

fn handle(server: *mut rune_server) -> usize {
    server as usize
}

/// Runs the callback for one call on this (blocking) thread.
fn invoke(
    cb: &Callback,
    gate: &Arc<Gate>,
    args: Value,
    cancel: CancellationToken,
) -> CallToolResult {
    if !gate.enter() {
        return CallToolResult::error("the server is shutting down");
    }
    struct Exit<'a>(&'a Gate);
    impl Drop for Exit<'_> {
        fn drop(&mut self) {
            INSIDE.with(|v| v.borrow_mut().pop());
            self.0.exit();
        }
    }
    INSIDE.with(|v| v.borrow_mut().push(gate.id));
    let _exit = Exit(gate);
    // Serialized JSON escapes control characters, so it never holds a NUL byte.
    let Ok(args) = CString::new(args.to_string()) else {
        return CallToolResult::error("the arguments cannot be passed as a C string");
    };
    let slot = CallSlot {
        outcome: RefCell::new(None),
        cancel,
        gate: gate.clone(),
    };
    let previous = CURRENT_CALL.with(|c| c.replace(&slot));
    // SAFETY: `f` and `user_data` come from the embedder, who promised they may be called
    // from any thread; `args` outlives the call; `slot` outlives the call and is accepted
    // by the setters only on this thread while CURRENT_CALL points at it.
    unsafe {
        (cb.f)(
            cb.user_data,
            args.as_ptr(),
            (&raw const slot).cast_mut().cast(),
        )
    };
    CURRENT_CALL.with(|c| c.set(previous));
    slot.outcome.into_inner().unwrap_or_else(|| {
        CallToolResult::error("the tool's callback returned without setting a result")
    })
}

/// Creates a server that will introduce itself as `name` `version` (NULL: `"rune-ffi"` and
/// Rune's version). `*out` is the new server, or NULL on failure.
///
/// # Safety
/// `name` and `version` are NULL or NUL-terminated strings; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rune_server_create(
    name: *const c_char,
    version: *const c_char,
    out: *mut *mut rune_server,
) -> rune_status {
    guard(|| {
        // SAFETY: per this function's contract.
        unsafe { out_param(out, "out") }?;
        // SAFETY: per this function's contract.
        let name = unsafe { optional(name, "name") }?.unwrap_or("rune-ffi");
        // SAFETY: per this function's contract.
        let version = unsafe { optional(version, "version") }?.unwrap_or(env!("CARGO_PKG_VERSION"));
        let server = Server::builder(name, version).advertise_tools().build();
        let h = SERVERS.insert(ServerCore {
            server,
            gate: Arc::new(Gate::new()),
            stop: Mutex::new(CancellationToken::new()),
            stdio_running: AtomicBool::new(false),
            tools: Mutex::new(HashSet::new()),
        });
        // SAFETY: checked writable by out_param; the value is a handle, never dereferenced.
        unsafe { *out = h as *mut rune_server };
        Ok(())
    })
}

/// Registers (or replaces) the tool `name`, see `rune_server_register_tool_ex`; here
/// `user_data` is never freed by Rune.
///
/// # Safety
/// As `rune_server_register_tool_ex`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rune_server_register_tool(
    server: *mut rune_server,
    name: *const c_char,
    description: *const c_char,
    input_schema_json: *const c_char,
    callback: rune_tool_callback,
    user_data: *mut c_void,
) -> rune_status {
    // SAFETY: forwarded under the same contract.
    unsafe {
        rune_server_register_tool_ex(
            server,
            name,
            description,
            input_schema_json,
            callback,
            user_data,
            None,
        )
    }
}

/// Registers (or replaces) the tool `name`.
///
/// - `description`: shown to the model; NULL for none.
/// - `input_schema_json`: the JSON Schema of the arguments, a JSON object; NULL means
///   `{"type":"object"}` (any object). Calls whose arguments violate it get an error result
///   and never reach the callback.
/// - `callback`: runs each call (see `rune_tool_callback`), with `user_data`.
/// - `free_user_data`: NULL, or called with `user_data` exactly once when Rune no longer needs
///   it (the tool was replaced or unregistered and its last call ended, or the server was
///   destroyed). When registration fails it is not called: `user_data` stays the caller's.
///
/// May be called while the server runs: connected clients are told the tool list changed.
///
/// # Safety
/// Strings are NULL or NUL-terminated; `callback` and `user_data` may be used from any
/// thread, by several threads at once, until `free_user_data` is called (or, without it,
/// until the tool is replaced or unregistered and its calls ended, or `rune_server_destroy`
/// returned).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rune_server_register_tool_ex(
    server: *mut rune_server,
    name: *const c_char,
    description: *const c_char,
    input_schema_json: *const c_char,
    callback: rune_tool_callback,
    user_data: *mut c_void,
    free_user_data: rune_free_callback,
) -> rune_status {
    guard(|| {
        // SAFETY: per this function's contract.
        let name = unsafe { required(name, "name") }?;
        // SAFETY: per this function's contract.
        let description = unsafe { optional(description, "description") }?.unwrap_or("");
        // SAFETY: per this function's contract.
        let schema = unsafe { optional(input_schema_json, "input_schema_json") }?;
        let Some(f) = callback else {
            return Err(FfiError::new(
                rune_status::RUNE_ERROR_NULL_POINTER,
                "callback is NULL",
            ));
        };
        if name.is_empty() {
            return Err(FfiError::new(
                rune_status::RUNE_ERROR_INVALID_ARGUMENT,
                "the tool name is empty",
            ));
        }
        let mut schema = json_object(schema, "input_schema_json")?.unwrap_or_default();
        if !schema.contains_key("type") {
            schema.insert("type".into(), Value::String("object".into()));
        }
        let core = SERVERS.get(handle(server))?;
        // From here on nothing fails: the callback (and with it the duty to free
        // user_data) belongs to Rune.
        let cb = Arc::new(Callback {
            f,
            user_data,
            free: free_user_data,
        });
        let gate = core.gate.clone();
        let tool = ToolDef::raw(
            name,
            description,
            schema,
            move |args: Value, cx: RequestContext| {
                let cb = cb.clone();
                let gate = gate.clone();
                async move {
                    let cancel = cx.cancellation_token();
                    let run = tokio::task::spawn_blocking(move || invoke(&cb, &gate, args, cancel));
                    match run.await {
                        Ok(result) => Ok::<_, HandlerError>(result),
                        Err(e) => Ok(CallToolResult::error(format!(
                            "the tool's callback did not complete: {e}"
                        ))),
                    }
                }
            },
        );
        core.server.add_tool(tool);
        core.tools
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned());
        Ok(())
    })
}

/// Removes the tool `name`; `RUNE_ERROR_INVALID_ARGUMENT` if there is none. Calls already
/// running finish; connected clients are told the list changed.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rune_server_unregister_tool(
    server: *mut rune_server,
    name: *const c_char,
) -> rune_status {
    guard(|| {
        // SAFETY: per this function's contract.
        let name = unsafe { required(name, "name") }?;
        let core = SERVERS.get(handle(server))?;
        core.tools
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        if core.server.remove_tool(name) {
            Ok(())
        } else {
            Err(FfiError::new(
                rune_status::RUNE_ERROR_INVALID_ARGUMENT,
                format!("no tool named {name:?}"),
            ))
        }
    })
}

/// Puts a file descriptor's status flags back as they were when dropped: serving stdio makes
/// stdin and stdout non-blocking, which the rest of the C program must not inherit.
struct RestoreFlags(Vec<(i32, i32)>);

impl RestoreFlags {
    fn save(fds: &[i32]) -> Self {
        RestoreFlags(
            fds.iter()
                // SAFETY: F_GETFL only reads the flags of a descriptor number; a closed one
                // returns -1, which is skipped.
                .map(|&fd| (fd, unsafe { libc::fcntl(fd, libc::F_GETFL) }))
                .filter(|&(_, flags)| flags >= 0)
                .collect(),
        )
    }
}

impl Drop for RestoreFlags {
    fn drop(&mut self) {
        for &(fd, flags) in &self.0 {
            // SAFETY: F_SETFL with flags read from the same descriptor.
            unsafe { libc::fcntl(fd, libc::F_SETFL, flags) };
        }
    }
}

/// Serves MCP on the process's stdin and stdout, on the calling thread, until stdin ends (the
/// client went away) or `rune_server_stop` / `rune_server_destroy` is called from another
/// thread. Returns `RUNE_OK` in both cases, after answering what was in flight when stdin
/// ended. Nothing else may write to stdout meanwhile. One stdio run at a time per server
/// (`RUNE_ERROR_BUSY` otherwise); stdin/stdout get their blocking mode back on return.
///
/// # Safety
/// None: any handle value is accepted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rune_server_run(server: *mut rune_server) -> rune_status {
    guard(|| {
        let core = SERVERS.get(handle(server))?;
        if core.stdio_running.swap(true, Ordering::AcqRel) {
            return Err(FfiError::new(
                rune_status::RUNE_ERROR_BUSY,
                "this server already serves stdio",
            ));
        }
        struct Running<'a>(&'a AtomicBool);
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let _running = Running(&core.stdio_running);
        let stop = core.stop_token();
        let rt = runtime::get()?;
        let _restore = RestoreFlags::save(&[0, 1]);
        let served = rt.block_on(async {
            tokio::select! {
                r = core.server.serve_stdio() => r,
                _ = stop.cancelled() => Ok(()),
            }
        });
        served.map_err(|e| FfiError::new(rune_status::RUNE_ERROR_IO, format!("stdio: {e}")))
    })
}

/// Starts serving on `url` in the background and returns once the address is bound:
///
/// - `tcp://HOST:PORT`: newline-delimited JSON, one MCP connection per TCP client;
/// - `http://HOST:PORT/PATH` (PATH defaults to `/mcp`): Streamable HTTP, the legacy HTTP+SSE
///   transport at `/sse`, and WebSocket upgrades on PATH; `ws://…` is the same endpoint.
///
/// Port 0 picks a free port: `*bound_url` (when `bound_url` is not NULL) receives the URL
/// clients can use, e.g. `tcp://127.0.0.1:40123`; free it with `rune_string_free`. Serving
/// goes on until `rune_server_stop` or `rune_server_destroy`. Call it several times to listen
/// on several addresses.
///
/// # Safety
/// `url` is NULL or a NUL-terminated string; `bound_url` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rune_server_listen(
    server: *mut rune_server,
    url: *const c_char,
    bound_url: *mut *mut c_char,
) -> rune_status {
    guard(|| {
        if !bound_url.is_null() {
            // SAFETY: per this function's contract.
            unsafe { out_param(bound_url, "bound_url") }?;
        }
        // SAFETY: per this function's contract.
        let url = unsafe { required(url, "url") }?;
        let core = SERVERS.get(handle(server))?;
        let parsed = rune_http::listen::parse_url(url)
            .map_err(|e| FfiError::new(rune_status::RUNE_ERROR_INVALID_ARGUMENT, e.to_string()))?;
        let rt = runtime::get()?;
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(&parsed.addr))
            .map_err(|e| {
                FfiError::new(
                    rune_status::RUNE_ERROR_IO,
                    format!("cannot listen on {}: {e}", parsed.addr),
                )
            })?;
        let local = listener
            .local_addr()
            .map_err(|e| FfiError::new(rune_status::RUNE_ERROR_IO, e.to_string()))?;
        let stop = core.stop_token();
        let server = core.server.clone();
        let bound = if parsed.scheme == "tcp" {
            rt.spawn(serve_tcp(server, listener, stop));
            format!("tcp://{local}")
        } else {
            let mut opts = rune_http::HttpOptions {
                path: parsed.path.clone(),
                ..Default::default()
            };
            let ip = local.ip();
            if !ip.is_loopback() && !ip.is_unspecified() {
                opts.allowed_hosts.push(ip.to_string());
            }
            rt.spawn(async move {
                let shutdown = stop.cancelled_owned();
                if let Err(e) =
                    rune_http::listen::serve_http(&server, listener, opts, shutdown).await
                {
                    tracing::warn!("serving HTTP ended: {e}");
                }
            });
            format!("{}://{local}{}", parsed.scheme, parsed.path)
        };
        if !bound_url.is_null() {
            // SAFETY: checked writable above.
            unsafe { give(bound_url, bound) }?;
        }
        Ok(())
    })
}

/// One MCP connection per TCP client until `stop`; then the connections are dropped.
async fn serve_tcp(server: Server, listener: tokio::net::TcpListener, stop: CancellationToken) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let server = server.clone();
                    conns.spawn(async move {
                        let (r, w) = stream.into_split();
                        if let Err(e) = server.serve(r, w).await {
                            tracing::debug!(%peer, "connection ended: {e}");
                        }
                    });
                }
                Err(e) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
        }
    }
    conns.shutdown().await;
}

/// Ends every `rune_server_run` and `rune_server_listen` of this server in progress. It does
/// not wait: `rune_server_run` returns on its own thread, listeners close their sockets
/// (HTTP sessions are closed, requests in flight get up to 10 s). The server can be run
/// again afterwards. Safe from any thread, including a tool callback; not from a signal
/// handler (it takes a lock): a signal handler should wake a thread that calls it.
///
/// # Safety
/// None: any handle value is accepted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rune_server_stop(server: *mut rune_server) -> rune_status {
    guard(|| {
        SERVERS.get(handle(server))?.stop();
        Ok(())
    })
}

/// Stops the server (as `rune_server_stop`), invalidates the handle, and waits until no
/// callback of this server runs; none starts afterwards. After it returns the caller may free
/// what the callbacks use, except when it is called from inside one of this server's own
/// callbacks: then it cannot wait for that callback and returns at once. NULL is accepted and
/// does nothing; a handle already destroyed gets `RUNE_ERROR_INVALID_HANDLE`.
///
/// # Safety
/// None: any handle value is accepted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rune_server_destroy(server: *mut rune_server) -> rune_status {
    guard(|| {
        if server.is_null() {
            return Ok(());
        }
        let core = SERVERS.remove(handle(server))?;
        core.stop();
        core.gate.close_and_wait();
        // Drop the tools now, so that their user_data is freed without waiting for the last
        // connection task to let go of the server.
        let names: Vec<String> = core
            .tools
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .collect();
        for name in names {
            core.server.remove_tool(&name);
        }
        Ok(())
    })
}

fn with_call(
    call: *mut rune_tool_call,
    body: impl FnOnce(&CallSlot) -> Result<(), FfiError>,
) -> Result<(), FfiError> {
    if call.is_null() {
        return Err(FfiError::new(
            rune_status::RUNE_ERROR_NULL_POINTER,
            "call is NULL",
        ));
    }
    let current = CURRENT_CALL.with(Cell::get);
    if current.is_null() || current != call.cast_const().cast::<CallSlot>() {
        return Err(FfiError::new(
            rune_status::RUNE_ERROR_INVALID_HANDLE,
            "this rune_tool_call is not the call being answered on this thread \
             (it is valid only inside its callback, on the callback's thread)",
        ));
    }
    // SAFETY: `current` is the slot `invoke` is running the callback with, on this thread,
    // on invoke's stack until the callback returns: alive and only used from here.
    let slot = unsafe { &*current };
    body(slot)
}

/// Answers the call with a whole `CallToolResult` JSON object: `{"content":[…]}`, optionally
/// with `structuredContent`, `isError`, `_meta`. The text is copied before this returns.
/// JSON that is invalid or not such an object turns the call's answer into an error result
/// saying so, and returns `RUNE_ERROR_INVALID_JSON` (or `RUNE_ERROR_INVALID_UTF8`).
///
/// # Safety
/// `result_json` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rune_tool_call_set_result(
    call: *mut rune_tool_call,
    result_json: *const c_char,
) -> rune_status {
    guard(|| {
        with_call(call, |slot| {
            // SAFETY: per this function's contract.
            let text = unsafe { required(result_json, "result_json") };
            let parsed = text.and_then(|t| {
                let obj = json_object(Some(t), "the tool's result")?;
                let obj = obj.filter(|o| o.get("content").is_some_and(Value::is_array));
                let obj = obj.ok_or_else(|| {
                    FfiError::new(
                        rune_status::RUNE_ERROR_INVALID_JSON,
                        "the tool's result must be an object with a \"content\" array",
                    )
                })?;
                serde_json::from_value::<CallToolResult>(Value::Object(obj)).map_err(|e| {
                    FfiError::new(
                        rune_status::RUNE_ERROR_INVALID_JSON,
                        format!("the tool's result is not a CallToolResult: {e}"),
                    )
                })
            });
            let (outcome, status) = match parsed {
                Ok(r) => (r, Ok(())),
                Err(e) => (
                    CallToolResult::error(format!(
                        "the tool returned an invalid result: {}",
                        e.message
                    )),
                    Err(e),
                ),
            };
            *slot.outcome.borrow_mut() = Some(outcome);
            status
        })
    })
}

/// Answers the call with one text block. The text is copied before this returns. Text that
/// is not UTF-8 turns the answer into an error result and returns `RUNE_ERROR_INVALID_UTF8`.
///
/// # Safety
/// `text` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rune_tool_call_set_text(
    call: *mut rune_tool_call,
    text: *const c_char,
) -> rune_status {
    guard(|| {
        with_call(call, |slot| {
            // SAFETY: per this function's contract.
            let (outcome, status) = match unsafe { required(text, "text") } {
                Ok(t) => (CallToolResult::text(t), Ok(())),
                Err(e) => (
                    CallToolResult::error(format!("the tool returned bad text: {}", e.message)),
                    Err(e),
                ),
            };
            *slot.outcome.borrow_mut() = Some(outcome);
            status
        })
    })
}

/// Answers the call with an error result (`isError: true`) carrying `message`, which the
/// model sees. The message is copied before this returns.
///
/// # Safety
/// `message` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rune_tool_call_set_error(
    call: *mut rune_tool_call,
    message: *const c_char,
) -> rune_status {
    guard(|| {
        with_call(call, |slot| {
            // SAFETY: per this function's contract.
            let (message, status) = match unsafe { required(message, "message") } {
                Ok(m) => (m.to_owned(), Ok(())),
                Err(e) => (format!("the tool failed: {}", e.message), Err(e)),
            };
            *slot.outcome.borrow_mut() = Some(CallToolResult::error(message));
            status
        })
    })
}

/// True once the client cancelled this call (explicitly, or because it timed out), or the
/// server is being destroyed: a long callback may poll it and give up early; its answer is
/// then discarded. (A client that merely disconnects does not cancel: calls in flight run to
/// the end.) False for an invalid `call`.
///
/// # Safety
/// None: any pointer value is accepted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rune_tool_call_is_cancelled(call: *mut rune_tool_call) -> bool {
    let mut cancelled = false;
    let _ = guard(|| {
        with_call(call, |slot| {
            cancelled = slot.cancel.is_cancelled() || slot.gate.lock().closed;
            Ok(())
        })
    });
    cancelled
}
