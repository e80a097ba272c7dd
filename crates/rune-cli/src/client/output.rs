//! Human-readable renderings of MCP results, from their JSON (so every field a server sends
//! is shown the same way whatever revision it speaks).

use std::fmt::Write as _;

use serde_json::Value;

fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|t| !t.is_empty())
}

/// The first line of a description, for lists.
fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

fn indent(out: &mut String, text: &str) {
    for line in text.lines() {
        let _ = writeln!(out, "    {line}");
    }
}

/// `name(a, b?)`: a tool's name and its arguments, the optional ones marked.
fn tool_signature(tool: &Value) -> String {
    let name = s(tool, "name").unwrap_or("?");
    let schema = tool.get("inputSchema");
    let required: Vec<&str> = schema
        .and_then(|s| s.get("required"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let args: Vec<String> = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|props| {
            props
                .iter()
                .map(|(k, v)| {
                    let ty = v.get("type").and_then(Value::as_str).unwrap_or("any");
                    let opt = if required.contains(&k.as_str()) {
                        ""
                    } else {
                        "?"
                    };
                    format!("{k}{opt}: {ty}")
                })
                .collect()
        })
        .unwrap_or_default();
    format!("{name}({})", args.join(", "))
}

/// `tools/list`.
pub fn tools(tools: &[Value]) -> String {
    let mut out = String::new();
    if tools.is_empty() {
        out.push_str("(no tools)\n");
    }
    for t in tools {
        let _ = writeln!(out, "{}", tool_signature(t));
        let title = s(t, "title").or_else(|| t.get("annotations").and_then(|a| s(a, "title")));
        if let Some(title) = title {
            indent(&mut out, title);
        }
        if let Some(d) = s(t, "description") {
            indent(&mut out, first_line(d));
        }
    }
    out
}

/// One content block of a tool result or prompt message.
fn content(out: &mut String, c: &Value) {
    let kind = s(c, "type").unwrap_or("?");
    match kind {
        "text" => {
            let text = s(c, "text").unwrap_or("");
            out.push_str(text);
            if !text.ends_with('\n') {
                out.push('\n');
            }
        }
        "image" | "audio" => {
            let mime = s(c, "mimeType").unwrap_or("?");
            let len = s(c, "data").map_or(0, |d| d.len() / 4 * 3);
            let _ = writeln!(out, "[{kind} {mime}, about {len} bytes]");
        }
        "resource_link" => {
            let uri = s(c, "uri").unwrap_or("?");
            match s(c, "name") {
                Some(n) => {
                    let _ = writeln!(out, "[link {uri} ({n})]");
                }
                None => {
                    let _ = writeln!(out, "[link {uri}]");
                }
            }
        }
        "resource" => {
            let r = c.get("resource").unwrap_or(&Value::Null);
            resource_contents(out, r);
        }
        other => {
            let _ = writeln!(out, "[{other} content] {c}");
        }
    }
}

/// A resource's contents: its text, or a note on its blob.
fn resource_contents(out: &mut String, r: &Value) {
    let uri = s(r, "uri").unwrap_or("?");
    let mime = s(r, "mimeType")
        .map(|m| format!(" {m}"))
        .unwrap_or_default();
    if let Some(text) = r.get("text").and_then(Value::as_str) {
        let _ = writeln!(out, "[resource {uri}{mime}]");
        out.push_str(text);
        if !text.ends_with('\n') {
            out.push('\n');
        }
    } else if let Some(blob) = s(r, "blob") {
        let _ = writeln!(
            out,
            "[resource {uri}{mime}: binary, about {} bytes; --json shows the base64]",
            blob.len() / 4 * 3
        );
    } else {
        let _ = writeln!(out, "[resource {uri}{mime}]");
    }
}

/// `tools/call`.
pub fn call_result(r: &Value) -> String {
    let mut out = String::new();
    let blocks = r.get("content").and_then(Value::as_array);
    for c in blocks.into_iter().flatten() {
        content(&mut out, c);
    }
    if let Some(sc) = r.get("structuredContent")
        && !sc.is_null()
    {
        // Shown when the blocks did not already carry it as text.
        let text = serde_json::to_string_pretty(sc).unwrap_or_default();
        let shown = blocks.is_some_and(|b| {
            b.iter().any(|c| {
                s(c, "text")
                    .is_some_and(|t| serde_json::from_str::<Value>(t).is_ok_and(|v| &v == sc))
            })
        });
        if !shown {
            let _ = writeln!(out, "structured content:\n{text}");
        }
    }
    if out.is_empty() {
        out.push_str("(empty result)\n");
    }
    out
}

/// `resources/list`.
pub fn resources(list: &[Value]) -> String {
    let mut out = String::new();
    if list.is_empty() {
        out.push_str("(no resources)\n");
    }
    for r in list {
        let uri = s(r, "uri").unwrap_or("?");
        let name = s(r, "title").or_else(|| s(r, "name")).unwrap_or("");
        let mime = s(r, "mimeType")
            .map(|m| format!(" ({m})"))
            .unwrap_or_default();
        let _ = writeln!(out, "{uri}  {name}{mime}");
        if let Some(d) = s(r, "description") {
            indent(&mut out, first_line(d));
        }
    }
    out
}

/// `resources/templates/list`.
pub fn templates(list: &[Value]) -> String {
    let mut out = String::new();
    if list.is_empty() {
        out.push_str("(no resource templates)\n");
    }
    for r in list {
        let uri = s(r, "uriTemplate").unwrap_or("?");
        let name = s(r, "title").or_else(|| s(r, "name")).unwrap_or("");
        let _ = writeln!(out, "{uri}  {name}");
        if let Some(d) = s(r, "description") {
            indent(&mut out, first_line(d));
        }
    }
    out
}

/// `resources/read`.
pub fn read_result(r: &Value) -> String {
    let mut out = String::new();
    let contents = r.get("contents").and_then(Value::as_array);
    let many = contents.is_some_and(|c| c.len() > 1);
    for c in contents.into_iter().flatten() {
        match c.get("text").and_then(Value::as_str) {
            // One text resource prints as it is, so it can be piped.
            Some(text) if !many => {
                out.push_str(text);
                if !text.ends_with('\n') {
                    out.push('\n');
                }
            }
            _ => resource_contents(&mut out, c),
        }
    }
    if out.is_empty() {
        out.push_str("(no contents)\n");
    }
    out
}

/// `prompts/list`.
pub fn prompts(list: &[Value]) -> String {
    let mut out = String::new();
    if list.is_empty() {
        out.push_str("(no prompts)\n");
    }
    for p in list {
        let name = s(p, "name").unwrap_or("?");
        let args: Vec<String> = p
            .get("arguments")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|arg| {
                        let n = s(arg, "name").unwrap_or("?");
                        let req = arg.get("required").and_then(Value::as_bool) == Some(true);
                        if req { n.to_owned() } else { format!("{n}?") }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let _ = writeln!(out, "{name}({})", args.join(", "));
        if let Some(d) = s(p, "description") {
            indent(&mut out, first_line(d));
        }
    }
    out
}

/// `prompts/get`.
pub fn prompt(r: &Value) -> String {
    let mut out = String::new();
    if let Some(d) = s(r, "description") {
        let _ = writeln!(out, "{d}\n");
    }
    for m in r
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let role = s(m, "role").unwrap_or("?");
        let _ = writeln!(out, "[{role}]");
        match m.get("content") {
            Some(Value::Array(blocks)) => blocks.iter().for_each(|c| content(&mut out, c)),
            Some(c) => content(&mut out, c),
            None => {}
        }
    }
    out
}

/// The connection: who the server is and what it offers.
pub fn info(init: &Value) -> String {
    let mut out = String::new();
    let si = init.get("serverInfo").unwrap_or(&Value::Null);
    let _ = writeln!(
        out,
        "server:   {} {}",
        s(si, "name").unwrap_or("?"),
        s(si, "version").unwrap_or("")
    );
    if let Some(v) = s(init, "protocolVersion") {
        let _ = writeln!(out, "protocol: {v}");
    }
    if let Some(caps) = init.get("capabilities").and_then(Value::as_object) {
        let names: Vec<&str> = caps.keys().map(String::as_str).collect();
        let _ = writeln!(out, "offers:   {}", names.join(", "));
    }
    if let Some(i) = s(init, "instructions") {
        let _ = writeln!(out, "instructions:");
        indent(&mut out, i);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_tools_with_their_arguments() {
        let t = json!({"name": "add", "description": "Adds.\nMore.", "inputSchema": {
            "type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            "required": ["a"]}});
        assert_eq!(tools(&[t]), "add(a: number, b?: number)\n    Adds.\n");
        assert_eq!(tools(&[]), "(no tools)\n");
    }

    #[test]
    fn renders_every_content_kind() {
        let r = json!({"content": [
            {"type": "text", "text": "hello"},
            {"type": "image", "data": "AAAA", "mimeType": "image/png"},
            {"type": "resource_link", "uri": "file:///x", "name": "x"},
            {"type": "resource", "resource": {"uri": "test://r", "text": "inside"}}
        ], "structuredContent": {"n": 1}});
        let text = call_result(&r);
        assert_eq!(
            text,
            "hello\n[image image/png, about 3 bytes]\n[link file:///x (x)]\n[resource test://r]\ninside\nstructured content:\n{\n  \"n\": 1\n}\n"
        );
        let r = json!({"content": [{"type": "text", "text": "{\"n\":1}"}], "structuredContent": {"n": 1}});
        assert_eq!(call_result(&r), "{\"n\":1}\n");
    }

    #[test]
    fn renders_prompts_and_reads() {
        let p = json!({"name": "greet", "arguments": [{"name": "who", "required": true}, {"name": "tone"}]});
        assert_eq!(prompts(&[p]), "greet(who, tone?)\n");
        let g = json!({"messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}]});
        assert_eq!(prompt(&g), "[user]\nhi\n");
        let r = json!({"contents": [{"uri": "a", "text": "body"}]});
        assert_eq!(read_result(&r), "body\n");
        let r = json!({"contents": [{"uri": "a", "blob": "AAAA", "mimeType": "x/y"}]});
        assert!(read_result(&r).contains("binary"));
    }
}
