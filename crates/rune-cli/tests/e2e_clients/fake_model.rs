//! A fake model API on a loopback port, for driving real agent clients offline.
//!
//! It speaks the three wire formats the clients use:
//! - Anthropic Messages (`POST /v1/messages`, SSE when `stream` is true): Claude Code with
//!   `ANTHROPIC_BASE_URL`;
//! - Gemini (`POST /v1beta/models/M:streamGenerateContent?alt=sse` and `:generateContent`):
//!   Gemini CLI with `GOOGLE_GEMINI_BASE_URL`;
//! - OpenAI Responses (`POST /v1/responses`, SSE): Codex with a `[model_providers.X]` whose
//!   `base_url` points here and `wire_api = "responses"`.
//!
//! Every request is answered from what it carries, never from a script of turns: when it
//! holds the result of a call this server asked for, the answer is a text quoting that result;
//! otherwise, when the planned Rune tool is in the request's tool list, the answer is a call to
//! it with the planned arguments; when Claude Code lists the tool as deferred, the answer is a
//! call to its `ToolSearch` tool to load it first. Anything else (a client's side requests:
//! titles, routing, summaries) gets a short neutral text. The server never learns the test's
//! markers: a marker in the final answer can only have come from the tool result.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// Which Rune tool to call, and with what.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The tool's own name (`file_read`); clients show it prefixed (`mcp__rune__file_read`).
    pub tool: String,
    pub args: Value,
}

/// One request, as the log shows it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub api: &'static str,
    pub path: String,
    /// What the server answered, in a few words.
    pub answer: String,
}

#[derive(Debug, Default)]
struct State {
    plan: Mutex<Option<Plan>>,
    seen: Mutex<Vec<Seen>>,
    /// The text of every tool result the clients sent back for a call this server made.
    results: Mutex<Vec<String>>,
    serial: AtomicUsize,
    /// `RUNE_E2E_DUMP=DIR`: every request body is written there, for debugging.
    dump: Option<PathBuf>,
}

#[derive(Debug)]
pub struct FakeModel {
    pub addr: SocketAddr,
    state: Arc<State>,
}

/// Prefix of the ids of the calls this server makes, so their results can be told apart.
const CALL_PREFIX: &str = "rune_e2e_call_";
const SEARCH_PREFIX: &str = "rune_e2e_search_";
/// The text of side answers (and of a turn that found no Rune tool).
const NEUTRAL: &str = "fake model: nothing to do";

impl FakeModel {
    pub fn start() -> FakeModel {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake model API");
        let addr = listener.local_addr().expect("address");
        let state = Arc::new(State {
            dump: std::env::var_os("RUNE_E2E_DUMP").map(PathBuf::from),
            ..State::default()
        });
        let st = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let st = st.clone();
                std::thread::spawn(move || serve(stream, &st));
            }
        });
        FakeModel { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_plan(&self, plan: Plan) {
        *lock(&self.state.plan) = Some(plan);
        lock(&self.state.results).clear();
    }

    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.state.seen).clone()
    }

    pub fn results(&self) -> Vec<String> {
        lock(&self.state.results).clone()
    }

    /// The log, one line a request, for failure messages.
    pub fn report(&self) -> String {
        let mut out = String::new();
        for s in self.seen() {
            out.push_str(&format!("  [{}] {} -> {}\n", s.api, s.path, s.answer));
        }
        out
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---- HTTP/1.1, just enough ------------------------------------------------------------------

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_request(r: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 {
            return Ok(None);
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let mut req = Request {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    if req
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk)?;
            chunk.truncate(n);
            req.body.extend_from_slice(&chunk);
            if n == 0 {
                // Trailers, if any, end with an empty line.
                loop {
                    let mut t = String::new();
                    if r.read_line(&mut t)? == 0 || t.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
        }
    } else if let Some(n) = req.header("content-length").and_then(|v| v.parse().ok()) {
        req.body = vec![0; n];
        r.read_exact(&mut req.body)?;
    }
    Ok(Some(req))
}

fn serve(stream: TcpStream, st: &State) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(300)));
    let Ok(mut w) = stream.try_clone() else {
        return;
    };
    let mut r = BufReader::new(stream);
    while let Ok(Some(req)) = read_request(&mut r) {
        let close = req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let (status, content_type, body) = respond(&req, st);
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
             cache-control: no-cache\r\nconnection: {}\r\n\r\n",
            body.len(),
            if close { "close" } else { "keep-alive" }
        );
        if w.write_all(head.as_bytes()).is_err() || w.write_all(body.as_bytes()).is_err() {
            return;
        }
        let _ = w.flush();
        if close {
            return;
        }
    }
}

const SSE: &str = "text/event-stream";
const JSON: &str = "application/json";

fn respond(req: &Request, st: &State) -> (&'static str, &'static str, String) {
    let n = st.serial.fetch_add(1, Ordering::Relaxed);
    if let Some(dir) = &st.dump {
        let _ = std::fs::create_dir_all(dir);
        let mut text = format!("{} {}\n", req.method, req.path);
        for (k, v) in &req.headers {
            text.push_str(&format!("{k}: {v}\n"));
        }
        text.push('\n');
        text.push_str(&String::from_utf8_lossy(&req.body));
        let _ = std::fs::write(
            dir.join(format!("{:03}-{}.txt", n, std::process::id())),
            text,
        );
    }
    let record = |api: &'static str, answer: String| {
        lock(&st.seen).push(Seen {
            api,
            path: req.path.clone(),
            answer,
        });
    };
    if let Some(enc) = req.header("content-encoding")
        && !enc.eq_ignore_ascii_case("identity")
    {
        record("?", format!("415: body encoded as {enc}"));
        return (
            "415 Unsupported Media Type",
            JSON,
            error_body("encoded body"),
        );
    }
    let path = req.path.split('?').next().unwrap_or_default();
    let body: Value = if req.method == "POST" {
        match serde_json::from_slice(&req.body) {
            Ok(v) => v,
            Err(e) => {
                record("?", format!("400: body is not JSON ({e})"));
                return ("400 Bad Request", JSON, error_body("body is not JSON"));
            }
        }
    } else {
        Value::Null
    };
    let plan = lock(&st.plan).clone();
    let mut results = |text: String| lock(&st.results).push(text);

    if req.method == "POST" && path.ends_with("/v1/messages") {
        let (turn, answer) = anthropic_turn(&body, plan.as_ref(), &mut results);
        record("anthropic", answer);
        return if body["stream"] == true {
            ("200 OK", SSE, anthropic_sse(&body, &turn, n))
        } else {
            ("200 OK", JSON, anthropic_json(&body, &turn, n).to_string())
        };
    }
    if req.method == "POST" && path.ends_with("/v1/messages/count_tokens") {
        record("anthropic", "count_tokens".into());
        return ("200 OK", JSON, json!({"input_tokens": 1}).to_string());
    }
    if req.method == "POST"
        && path.contains("/models/")
        && (path.ends_with(":streamGenerateContent") || path.ends_with(":generateContent"))
    {
        let model = path
            .rsplit('/')
            .next()
            .and_then(|m| m.split(':').next())
            .unwrap_or("gemini");
        let (turn, answer) = gemini_turn(&body, plan.as_ref(), &mut results);
        record("gemini", answer);
        let chunk = gemini_chunk(model, &turn);
        return if path.ends_with(":streamGenerateContent") {
            ("200 OK", SSE, format!("data: {chunk}\r\n\r\n"))
        } else {
            ("200 OK", JSON, chunk.to_string())
        };
    }
    if req.method == "POST" && path.ends_with(":countTokens") {
        record("gemini", "countTokens".into());
        return ("200 OK", JSON, json!({"totalTokens": 1}).to_string());
    }
    if req.method == "POST" && path.ends_with("/responses") {
        let (turn, answer) = responses_turn(&body, plan.as_ref(), &mut results);
        record("responses", answer);
        return ("200 OK", SSE, responses_sse(&body, &turn, n));
    }
    let excerpt: String = String::from_utf8_lossy(&req.body)
        .chars()
        .take(300)
        .collect();
    record(
        "unexpected",
        format!("404 for {} {} {excerpt}", req.method, req.path),
    );
    (
        "404 Not Found",
        JSON,
        error_body("not served by the fake model"),
    )
}

fn error_body(message: &str) -> String {
    json!({"error": {"type": "not_found_error", "message": message}}).to_string()
}

/// What one turn of the model says.
#[derive(Debug)]
enum Turn {
    Text(String),
    Call {
        name: String,
        args: Value,
    },
    /// Claude Code's tool search, to load a deferred tool.
    Search {
        name: String,
        tool: String,
    },
}

/// The final answer: the tool result, quoted.
fn quote(tool: &str, result: &str) -> String {
    let mut r: String = result.chars().take(6000).collect();
    if r.len() < result.len() {
        r.push_str(" …");
    }
    format!("Rune's {tool} returned: {r}")
}

/// `mcp__rune__file_read`, `mcp_rune_file_read`, … : a name that ends with the tool's name
/// after a separator and mentions the server.
fn is_rune_tool(name: &str, tool: &str) -> bool {
    name.contains("rune")
        && name
            .strip_suffix(tool)
            .is_some_and(|head| head.ends_with('_') || head.ends_with('.'))
}

/// The text of a tool result in any of the shapes the clients send: a string, an array of
/// blocks with `text`, or any other JSON (written out).
fn result_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(|i| i.get("text").is_some()) => items
            .iter()
            .filter_map(|i| i["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    }
}

// ---- Anthropic Messages ----------------------------------------------------------------------

fn anthropic_turn(
    body: &Value,
    plan: Option<&Plan>,
    results: &mut dyn FnMut(String),
) -> (Turn, String) {
    let Some(plan) = plan else {
        return (Turn::Text(NEUTRAL.into()), "no plan: neutral text".into());
    };
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    // The newest result of one of our calls wins.
    for m in messages.iter().rev() {
        for block in m["content"].as_array().into_iter().flatten() {
            if block["type"] == "tool_result"
                && block["tool_use_id"]
                    .as_str()
                    .is_some_and(|id| id.starts_with(CALL_PREFIX))
            {
                let text = result_text(&block["content"]);
                results(text.clone());
                let error = if block["is_error"] == true {
                    " (is_error)"
                } else {
                    ""
                };
                return (
                    Turn::Text(quote(&plan.tool, &text)),
                    format!("text quoting the tool result{error}"),
                );
            }
        }
    }
    let tools = body["tools"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    // A deferred tool (`defer_loading`) is callable once a tool search has returned a
    // `tool_reference` to it.
    let referenced =
        |name: &str| {
            messages.iter().any(|m| {
                m["content"].as_array().into_iter().flatten().any(|b| {
                    b["content"].as_array().into_iter().flatten().any(|c| {
                        c["type"] == "tool_reference" && c["tool_name"].as_str() == Some(name)
                    })
                })
            })
        };
    let loaded = tools.iter().find(|t| {
        t["name"].as_str().is_some_and(|n| {
            is_rune_tool(n, &plan.tool) && (t["defer_loading"] != true || referenced(n))
        })
    });
    if let Some(t) = loaded {
        let name = t["name"].as_str().unwrap_or_default().to_owned();
        let answer = format!("call {name}");
        return (
            Turn::Call {
                name,
                args: plan.args.clone(),
            },
            answer,
        );
    }
    // A deferred MCP tool: its name is in the request (a system text or a deferred entry), and
    // `ToolSearch` loads it. Ask once per conversation.
    let text = body.to_string();
    let searched = messages.iter().any(|m| {
        m["content"].as_array().into_iter().flatten().any(|b| {
            b["type"] == "tool_use"
                && b["id"]
                    .as_str()
                    .is_some_and(|id| id.starts_with(SEARCH_PREFIX))
        })
    });
    let deferred = ["mcp__rune__", "mcp__rune_"]
        .iter()
        .map(|p| format!("{p}{}", plan.tool))
        .find(|n| text.contains(n.as_str()));
    if let (Some(name), Some(search), false) = (
        deferred,
        names.iter().find(|n| **n == "ToolSearch"),
        searched,
    ) {
        let answer = format!("{search} to load {name}");
        return (
            Turn::Search {
                name: (*search).to_owned(),
                tool: name,
            },
            answer,
        );
    }
    (
        Turn::Text(NEUTRAL.into()),
        format!(
            "neutral text: no {} among {} tools: {names:?}",
            plan.tool,
            names.len()
        ),
    )
}

fn anthropic_blocks(turn: &Turn, n: usize) -> Vec<Value> {
    match turn {
        Turn::Text(t) => vec![json!({"type": "text", "text": t})],
        Turn::Call { name, args } => vec![json!({
            "type": "tool_use", "id": format!("{CALL_PREFIX}{n}"), "name": name, "input": args
        })],
        Turn::Search { name, tool } => vec![json!({
            "type": "tool_use", "id": format!("{SEARCH_PREFIX}{n}"), "name": name,
            "input": {"query": format!("select:{tool}"), "max_results": 5}
        })],
    }
}

fn stop_reason(turn: &Turn) -> &'static str {
    match turn {
        Turn::Text(_) => "end_turn",
        _ => "tool_use",
    }
}

fn anthropic_json(body: &Value, turn: &Turn, n: usize) -> Value {
    json!({
        "id": format!("msg_rune_e2e_{n}"),
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": anthropic_blocks(turn, n),
        "stop_reason": stop_reason(turn),
        "stop_sequence": null,
        "usage": {"input_tokens": 10, "output_tokens": 10}
    })
}

fn anthropic_sse(body: &Value, turn: &Turn, n: usize) -> String {
    let mut out = String::new();
    let mut event = |name: &str, data: Value| {
        out.push_str(&format!("event: {name}\ndata: {data}\n\n"));
    };
    event(
        "message_start",
        json!({"type": "message_start", "message": {
            "id": format!("msg_rune_e2e_{n}"), "type": "message", "role": "assistant",
            "model": body["model"], "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 1}
        }}),
    );
    for (index, block) in anthropic_blocks(turn, n).into_iter().enumerate() {
        if block["type"] == "text" {
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": index,
                       "content_block": {"type": "text", "text": ""}}),
            );
            event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index,
                       "delta": {"type": "text_delta", "text": block["text"]}}),
            );
        } else {
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": index, "content_block": {
                    "type": "tool_use", "id": block["id"], "name": block["name"], "input": {}
                }}),
            );
            event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index, "delta": {
                    "type": "input_json_delta", "partial_json": block["input"].to_string()
                }}),
            );
        }
        event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        );
    }
    event(
        "message_delta",
        json!({"type": "message_delta",
               "delta": {"stop_reason": stop_reason(turn), "stop_sequence": null},
               "usage": {"output_tokens": 10}}),
    );
    event("message_stop", json!({"type": "message_stop"}));
    out
}

// ---- Gemini ----------------------------------------------------------------------------------

fn gemini_turn(
    body: &Value,
    plan: Option<&Plan>,
    results: &mut dyn FnMut(String),
) -> (Turn, String) {
    // Gemini CLI's own side requests (model routing, next-speaker checks) want JSON back.
    let side = json!({
        "complexity_reasoning": "fake model", "complexity_score": 10,
        "reasoning": "fake model", "next_speaker": "user"
    })
    .to_string();
    let Some(plan) = plan else {
        return (Turn::Text(side), "no plan: side JSON".into());
    };
    let contents = body["contents"].as_array().cloned().unwrap_or_default();
    for c in contents.iter().rev() {
        for part in c["parts"].as_array().into_iter().flatten() {
            let r = &part["functionResponse"];
            if r["name"]
                .as_str()
                .is_some_and(|n| is_rune_tool(n, &plan.tool))
            {
                let text = result_text(&r["response"]);
                results(text.clone());
                return (
                    Turn::Text(quote(&plan.tool, &text)),
                    "text quoting the tool result".into(),
                );
            }
        }
    }
    let names: Vec<&str> = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["functionDeclarations"].as_array().into_iter().flatten())
        .filter_map(|f| f["name"].as_str())
        .collect();
    if let Some(name) = names.iter().find(|n| is_rune_tool(n, &plan.tool)) {
        return (
            Turn::Call {
                name: (*name).to_owned(),
                args: plan.args.clone(),
            },
            format!("call {name}"),
        );
    }
    if names.is_empty() {
        return (Turn::Text(side), "side request: JSON text".into());
    }
    (
        Turn::Text(NEUTRAL.into()),
        format!("neutral text: no {} among {names:?}", plan.tool),
    )
}

fn gemini_chunk(model: &str, turn: &Turn) -> Value {
    let part = match turn {
        Turn::Call { name, args } => json!({"functionCall": {"name": name, "args": args}}),
        Turn::Text(t) => json!({"text": t}),
        Turn::Search { .. } => json!({"text": NEUTRAL}),
    };
    json!({
        "candidates": [{
            "content": {"role": "model", "parts": [part]},
            "finishReason": "STOP",
            "index": 0
        }],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 10, "totalTokenCount": 20},
        "modelVersion": model
    })
}

// ---- OpenAI Responses ------------------------------------------------------------------------

fn responses_turn(
    body: &Value,
    plan: Option<&Plan>,
    results: &mut dyn FnMut(String),
) -> (Turn, String) {
    let Some(plan) = plan else {
        return (Turn::Text(NEUTRAL.into()), "no plan: neutral text".into());
    };
    let input = body["input"].as_array().cloned().unwrap_or_default();
    for item in input.iter().rev() {
        if item["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("_call_output"))
            && item["call_id"]
                .as_str()
                .is_some_and(|id| id.starts_with(CALL_PREFIX))
        {
            let text = result_text(&item["output"]);
            results(text.clone());
            return (
                Turn::Text(quote(&plan.tool, &text)),
                "text quoting the tool result".into(),
            );
        }
    }
    // Tools are functions, or namespaces of functions (`mcp__rune` holding `file_read`).
    let mut names = Vec::new();
    for t in body["tools"].as_array().into_iter().flatten() {
        let name = t["name"].as_str().unwrap_or_default();
        if t["type"] == "namespace" {
            for f in t["tools"].as_array().into_iter().flatten() {
                let inner = f["name"].as_str().unwrap_or_default();
                names.push(format!("{name}/{inner}"));
            }
        } else if !name.is_empty() {
            names.push(name.to_owned());
        }
    }
    let found = names.iter().find(|n| match n.split_once('/') {
        Some((ns, inner)) => ns.contains("rune") && inner == plan.tool,
        None => is_rune_tool(n, &plan.tool),
    });
    if let Some(name) = found {
        return (
            Turn::Call {
                name: name.clone(),
                args: plan.args.clone(),
            },
            format!("call {name}"),
        );
    }
    (
        Turn::Text(NEUTRAL.into()),
        format!("neutral text: no {} among {names:?}", plan.tool),
    )
}

fn responses_sse(body: &Value, turn: &Turn, n: usize) -> String {
    let id = format!("resp_rune_e2e_{n}");
    let mut out = String::new();
    let mut event = |data: Value| {
        let name = data["type"].as_str().unwrap_or_default().to_owned();
        out.push_str(&format!("event: {name}\ndata: {data}\n\n"));
    };
    event(json!({"type": "response.created", "response": {
        "id": id, "object": "response", "status": "in_progress", "model": body["model"], "output": []
    }}));
    let item = match turn {
        Turn::Call { name, args } => {
            let mut item = json!({
                "type": "function_call", "id": format!("fc_rune_e2e_{n}"),
                "call_id": format!("{CALL_PREFIX}{n}"), "arguments": args.to_string(),
                "status": "completed"
            });
            match name.split_once('/') {
                Some((ns, inner)) => {
                    item["namespace"] = json!(ns);
                    item["name"] = json!(inner);
                }
                None => item["name"] = json!(name),
            }
            item
        }
        Turn::Text(t) => {
            event(
                json!({"type": "response.output_item.added", "output_index": 0, "item": {
                    "type": "message", "id": format!("msg_rune_e2e_{n}"), "role": "assistant",
                    "status": "in_progress", "content": []
                }}),
            );
            event(
                json!({"type": "response.output_text.delta", "item_id": format!("msg_rune_e2e_{n}"),
                         "output_index": 0, "content_index": 0, "delta": t}),
            );
            json!({
                "type": "message", "id": format!("msg_rune_e2e_{n}"), "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": t, "annotations": []}]
            })
        }
        Turn::Search { .. } => json!({
            "type": "message", "id": format!("msg_rune_e2e_{n}"), "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": NEUTRAL, "annotations": []}]
        }),
    };
    event(json!({"type": "response.output_item.done", "output_index": 0, "item": item}));
    event(json!({"type": "response.completed", "response": {
        "id": id, "object": "response", "status": "completed", "model": body["model"],
        "output": [item],
        "usage": {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0},
                  "output_tokens": 10, "output_tokens_details": {"reasoning_tokens": 0},
                  "total_tokens": 20}
    }}));
    out
}
