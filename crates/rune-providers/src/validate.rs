//! Checking a request before it is sent.
//!
//! A malformed request costs a round trip and, with retries, several; some providers answer
//! it with a vague 400 or a 500. [`check`] catches what can be known locally and names the
//! offending part:
//!
//! - a model name and at least one non-system message;
//! - `max_tokens`, when given, between 1 and [`MAX_TOKENS_LIMIT`];
//! - tool messages answer a call id made by an earlier assistant message, assistant tool
//!   calls have ids and names, and only assistant messages make calls;
//! - images: an allowed media type and non-empty base64 data, or an `http(s)` URL;
//! - tools: names of `[A-Za-z0-9_-]{1,64}`, unique, and an input schema that is a JSON object
//!   with `type: "object"` whose `properties` (if any) is an object of objects and whose
//!   `required` (if any) is a list of strings naming properties.
//!
//! Unknown roles cannot be built in Rust ([`crate::Role`] is closed); text that names one is
//! refused when parsed (`"critic".parse::<Role>()`).

use std::collections::HashSet;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::types::{ChatRequest, ImageSource, Part, Role};

/// The largest `max_tokens` accepted.
pub const MAX_TOKENS_LIMIT: u32 = 1_000_000;

const IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Checks a request (see the module documentation).
pub fn check(req: &ChatRequest) -> Result<()> {
    if req.model.trim().is_empty() {
        return Err(Error::invalid("no model given"));
    }
    if !req.messages.iter().any(|m| m.role != Role::System) {
        return Err(Error::invalid(
            "the conversation has no user or assistant message",
        ));
    }
    if let Some(n) = req.max_tokens
        && !(1..=MAX_TOKENS_LIMIT).contains(&n)
    {
        return Err(Error::invalid(format!(
            "max_tokens must be between 1 and {MAX_TOKENS_LIMIT}, not {n}"
        )));
    }
    let mut call_ids = HashSet::new();
    for (i, m) in req.messages.iter().enumerate() {
        let at = |what: &str| Error::invalid(format!("message {i} ({}): {what}", m.role));
        if !m.tool_calls.is_empty() && m.role != Role::Assistant {
            return Err(at("only assistant messages make tool calls"));
        }
        for c in &m.tool_calls {
            if c.id.is_empty() || c.name.is_empty() {
                return Err(at("a tool call without id or name"));
            }
            call_ids.insert(c.id.as_str());
        }
        if m.role == Role::Tool {
            match m.tool_call_id.as_deref() {
                None | Some("") => return Err(at("a tool result needs the id of its call")),
                Some(id) if !call_ids.contains(id) => {
                    return Err(at(&format!(
                        "answers call {id:?}, which no earlier message made"
                    )));
                }
                Some(_) => {}
            }
        }
        if m.role == Role::Assistant && m.content.is_empty() && m.tool_calls.is_empty() {
            return Err(at("empty"));
        }
        for p in &m.content {
            if let Part::Image { source } = p {
                if m.role != Role::User && m.role != Role::Tool {
                    return Err(at("images are for user messages"));
                }
                match source {
                    ImageSource::Base64 { media_type, data } => {
                        if !IMAGE_TYPES.contains(&media_type.as_str()) {
                            return Err(at(&format!(
                                "image type {media_type:?} is not one of {IMAGE_TYPES:?}"
                            )));
                        }
                        if data.is_empty() {
                            return Err(at("an image without data"));
                        }
                    }
                    ImageSource::Url { url } => {
                        if !(url.starts_with("https://") || url.starts_with("http://")) {
                            return Err(at("an image URL must be http(s)"));
                        }
                    }
                }
            }
        }
    }
    let mut names = HashSet::new();
    for t in &req.tools {
        check_tool_name(&t.name)?;
        if !names.insert(t.name.as_str()) {
            return Err(Error::invalid(format!(
                "tool {:?} is defined twice",
                t.name
            )));
        }
        check_schema(&t.name, &t.input_schema)?;
    }
    if let crate::types::ToolChoice::Tool(name) = &req.tool_choice
        && !names.contains(name.as_str())
    {
        return Err(Error::invalid(format!(
            "tool_choice names unknown tool {name:?}"
        )));
    }
    Ok(())
}

/// `[A-Za-z0-9_-]{1,64}`.
pub fn check_tool_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "tool name {name:?} must be 1 to 64 characters of A-Z a-z 0-9 _ -"
        )))
    }
}

fn check_schema(tool: &str, schema: &Value) -> Result<()> {
    let bad = |why: &str| Err(Error::invalid(format!("tool {tool:?}: input schema {why}")));
    let Some(obj) = schema.as_object() else {
        return bad("is not a JSON object");
    };
    if obj.get("type").and_then(Value::as_str) != Some("object") {
        return bad("must have \"type\": \"object\"");
    }
    let props = match obj.get("properties") {
        None => None,
        Some(Value::Object(p)) => {
            if let Some((k, _)) = p.iter().find(|(_, v)| !v.is_object() && !v.is_boolean()) {
                return bad(&format!("property {k:?} is not a schema"));
            }
            Some(p)
        }
        Some(_) => return bad("has \"properties\" that is not an object"),
    };
    match obj.get("required") {
        None => {}
        Some(Value::Array(req)) => {
            for r in req {
                let Some(name) = r.as_str() else {
                    return bad("has a \"required\" entry that is not a string");
                };
                if props.is_some_and(|p| !p.contains_key(name)) {
                    return bad(&format!("requires {name:?}, which is not a property"));
                }
            }
        }
        Some(_) => return bad("has \"required\" that is not a list"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Message, ToolCall, ToolChoice, ToolSpec};
    use serde_json::json;

    fn ok_request() -> ChatRequest {
        ChatRequest::new("m", vec![Message::system("s"), Message::user("hi")]).tools(vec![
            ToolSpec {
                name: "read_file".into(),
                description: "reads".into(),
                input_schema: json!({"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}),
            },
        ])
    }

    fn refused(req: &ChatRequest, needle: &str) {
        let e = check(req).expect_err(needle);
        assert_eq!(e.kind(), crate::ErrorKind::InvalidRequest);
        assert!(e.message().contains(needle), "{e} lacks {needle:?}");
    }

    #[test]
    fn a_good_request_passes() {
        check(&ok_request()).expect("valid");
    }

    #[test]
    fn an_empty_answer_kept_in_the_conversation_stays_valid() {
        let mut r = ok_request();
        r.messages.push(Message::assistant_calls("", vec![]));
        r.messages.push(Message::user("again"));
        check(&r).expect("an empty answer is still a message");
    }

    #[test]
    fn malformed_requests_are_refused_with_the_reason() {
        let mut r = ok_request();
        r.messages = vec![];
        refused(&r, "no user or assistant message");
        let mut r = ok_request();
        r.messages = vec![Message::system("only")];
        refused(&r, "no user or assistant message");
        let mut r = ok_request();
        r.model = " ".into();
        refused(&r, "no model");
        refused(&ok_request().max_tokens(0), "max_tokens");
        refused(&ok_request().max_tokens(MAX_TOKENS_LIMIT + 1), "max_tokens");

        let call = ToolCall {
            id: "c1".into(),
            name: "read_file".into(),
            arguments: json!({}),
        };
        let mut r = ok_request();
        r.messages.push(Message::tool_result(&call, "x", false));
        refused(&r, "which no earlier message made");
        let mut r = ok_request();
        r.messages
            .push(Message::assistant_calls("", vec![call.clone()]));
        r.messages.push(Message::tool_result(&call, "x", false));
        check(&r).expect("answered call");

        let mut r = ok_request();
        r.messages
            .push(Message::user("look").with_image(ImageSource::Base64 {
                media_type: "image/bmp".into(),
                data: "AA==".into(),
            }));
        refused(&r, "image type");

        for (schema, why) in [
            (json!("string"), "not a JSON object"),
            (json!({"type":"array"}), "\"type\": \"object\""),
            (json!({"type":"object","properties":[]}), "\"properties\""),
            (
                json!({"type":"object","properties":{"a":3}}),
                "\"a\" is not a schema",
            ),
            (
                json!({"type":"object","properties":{"a":{}},"required":["b"]}),
                "requires \"b\"",
            ),
            (json!({"type":"object","required":[1]}), "not a string"),
        ] {
            let mut r = ok_request();
            r.tools[0].input_schema = schema;
            refused(&r, why);
        }
        let mut r = ok_request();
        r.tools[0].name = "files/read".into();
        refused(&r, "tool name");
        let mut r = ok_request();
        r.tools.push(r.tools[0].clone());
        refused(&r, "defined twice");
        let mut r = ok_request();
        r.tool_choice = ToolChoice::Tool("nope".into());
        refused(&r, "unknown tool");
        assert!("critic".parse::<Role>().is_err());
    }
}
