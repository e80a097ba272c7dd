//! Editing a client's JSON (or JSON-with-comments) file in place: the concrete syntax tree of
//! `jsonc-parser` keeps every comment, blank line, indentation and trailing comma of the parts
//! not touched; only the one server entry is added, replaced or removed.

use jsonc_parser::ast;
use jsonc_parser::cst::{CstInputValue, CstObject, CstRootNode};
use jsonc_parser::{CollectOptions, ParseOptions};
use serde_json::Value;

use super::client::{Dialect, Found};
use super::file::line_col;

/// A parsed JSON file and the path of keys to its table of servers.
#[derive(Debug)]
pub(crate) struct JsonDoc {
    bom: bool,
    root: CstRootNode,
    keys: Vec<String>,
}

fn options(dialect: Dialect) -> ParseOptions {
    let jsonc = dialect == Dialect::Jsonc;
    ParseOptions {
        allow_comments: dialect != Dialect::Strict,
        allow_trailing_commas: jsonc,
        allow_loose_object_property_names: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    }
}

fn kind(v: &ast::Value<'_>) -> &'static str {
    match v {
        ast::Value::StringLit(_) => "a string",
        ast::Value::NumberLit(_) => "a number",
        ast::Value::BooleanLit(_) => "a boolean",
        ast::Value::Object(_) => "an object",
        ast::Value::Array(_) => "an array",
        ast::Value::NullKeyword(_) => "null",
    }
}

fn range(v: &ast::Value<'_>) -> jsonc_parser::common::Range {
    match v {
        ast::Value::StringLit(x) => x.range,
        ast::Value::NumberLit(x) => x.range,
        ast::Value::BooleanLit(x) => x.range,
        ast::Value::Object(x) => x.range,
        ast::Value::Array(x) => x.range,
        ast::Value::NullKeyword(x) => x.range,
    }
}

impl JsonDoc {
    /// Parses `text`; `keys` leads from the top-level object to the object of servers.
    /// Errors are `LINE:COLUMN: what` (the caller adds the file name).
    pub(crate) fn parse(text: &str, dialect: Dialect, keys: &[&str]) -> Result<JsonDoc, String> {
        let (bom, text) = match text.strip_prefix('\u{feff}') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let opts = options(dialect);
        let parsed =
            jsonc_parser::parse_to_ast(text, &CollectOptions::default(), &opts).map_err(|e| {
                let mut msg = format!("{}:{}: {}", e.line_display(), e.column_display(), e.kind());
                match e.kind() {
                    jsonc_parser::errors::ParseErrorKind::CommentsNotAllowed => {
                        msg.push_str(" (this client reads the file as plain JSON)");
                    }
                    jsonc_parser::errors::ParseErrorKind::TrailingCommasNotAllowed => {
                        msg.push_str(" (this client does not accept trailing commas)");
                    }
                    _ => {}
                }
                msg
            })?;
        // The shape must be objects down to the table of servers; anything else is the user's
        // and is not replaced.
        let mut at = parsed.value.as_ref();
        let mut what = "the top-level value".to_owned();
        for key in std::iter::once(None).chain(keys.iter().map(Some)) {
            if let Some(key) = key {
                let Some(ast::Value::Object(obj)) = at else {
                    break;
                };
                at = obj.get(key).map(|p| &p.value);
                what = format!("\"{key}\"");
            }
            match at {
                None | Some(ast::Value::Object(_)) => {}
                Some(v) => {
                    let (line, col) = line_col(text, range(v).start);
                    return Err(format!(
                        "{line}:{col}: {what} is {}, expected an object",
                        kind(v)
                    ));
                }
            }
        }
        let root = CstRootNode::parse(text, &opts)
            .map_err(|e| format!("{}:{}: {}", e.line_display(), e.column_display(), e.kind()))?;
        Ok(JsonDoc {
            bom,
            root,
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
        })
    }

    fn servers(&self) -> Option<CstObject> {
        let mut obj = self.root.object_value()?;
        for key in &self.keys {
            obj = obj.object_value(key)?;
        }
        Some(obj)
    }

    fn servers_or_create(&self) -> CstObject {
        let mut obj = self.root.object_value_or_set();
        for key in &self.keys {
            obj = obj.object_value_or_set(key);
        }
        obj
    }

    /// Every entry, in file order.
    pub(crate) fn entries(&self) -> Vec<(String, Found)> {
        let Some(servers) = self.servers() else {
            return Vec::new();
        };
        servers
            .properties()
            .into_iter()
            .filter_map(|p| {
                let name = p.decoded_name()?;
                let value = p.value().and_then(|v| v.to_serde_value())?;
                Some((name, Found::from_json(&value)))
            })
            .collect()
    }

    /// The entry called `name`.
    pub(crate) fn get(&self, name: &str) -> Option<Found> {
        let prop = self.servers()?.get(name)?;
        let value = prop.value().and_then(|v| v.to_serde_value())?;
        Some(Found::from_json(&value))
    }

    /// Adds or replaces the entry called `name` (a replaced entry keeps its place).
    pub(crate) fn set(&mut self, name: &str, entry: &[(&str, Value)]) {
        let servers = self.servers_or_create();
        let value = CstInputValue::Object(
            entry
                .iter()
                .map(|(k, v)| ((*k).to_owned(), to_input(v)))
                .collect(),
        );
        match servers.get(name) {
            Some(prop) => prop.set_value(value),
            None => {
                servers.append(name, value);
            }
        }
    }

    /// Removes the entry called `name`; says whether there was one.
    pub(crate) fn remove(&mut self, name: &str) -> bool {
        match self.servers().and_then(|s| s.get(name)) {
            Some(prop) => {
                prop.remove();
                true
            }
            None => false,
        }
    }

    /// The text of the file.
    pub(crate) fn render(&self) -> String {
        let mut text = self.root.to_string();
        if self.bom {
            text.insert(0, '\u{feff}');
        }
        text
    }
}

fn to_input(v: &Value) -> CstInputValue {
    match v {
        Value::Null => CstInputValue::Null,
        Value::Bool(b) => CstInputValue::Bool(*b),
        Value::Number(n) => CstInputValue::Number(n.to_string()),
        Value::String(s) => CstInputValue::String(s.clone()),
        Value::Array(a) => CstInputValue::Array(a.iter().map(to_input).collect()),
        Value::Object(o) => {
            CstInputValue::Object(o.iter().map(|(k, v)| (k.clone(), to_input(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry() -> Vec<(&'static str, Value)> {
        vec![
            ("command", json!("/bin/rune")),
            ("args", json!(["mcp-server"])),
        ]
    }

    #[test]
    fn keeps_comments_and_other_entries() {
        let text = "// top\n{\n  // servers\n  \"servers\": {\n    \"other\": {\"command\": \"x\"}, // mine\n  },\n  \"inputs\": [],\n}\n";
        let mut doc = JsonDoc::parse(text, Dialect::Jsonc, &["servers"]).expect("parse");
        assert!(doc.get("rune").is_none());
        doc.set("rune", &entry());
        let out = doc.render();
        assert!(out.starts_with("// top\n{\n  // servers\n"), "{out}");
        assert!(
            out.contains("\"other\": {\"command\": \"x\"}, // mine\n"),
            "{out}"
        );
        assert!(out.contains("\"inputs\": [],\n}"), "{out}");
        let mut again = JsonDoc::parse(&out, Dialect::Jsonc, &["servers"]).expect("reparse");
        assert_eq!(
            again.get("rune").map(|f| f.command),
            Some(Some("/bin/rune".into()))
        );
        assert!(again.remove("rune"));
        assert_eq!(again.render(), text);
    }

    #[test]
    fn errors_name_the_position() {
        let e = JsonDoc::parse("{\n  \"a\": 1,,\n}", Dialect::Strict, &["mcpServers"])
            .expect_err("malformed");
        assert!(e.starts_with("2:"), "{e}");
        let e =
            JsonDoc::parse("{\n// c\n}", Dialect::Strict, &["mcpServers"]).expect_err("comment");
        assert!(e.starts_with("2:1: Comments are not allowed"), "{e}");
        let e = JsonDoc::parse(
            "{\n  \"mcpServers\": [1]\n}",
            Dialect::Strict,
            &["mcpServers"],
        )
        .expect_err("shape");
        assert_eq!(e, "2:17: \"mcpServers\" is an array, expected an object");
        let e = JsonDoc::parse("[]", Dialect::Strict, &["mcpServers"]).expect_err("root");
        assert_eq!(
            e,
            "1:1: the top-level value is an array, expected an object"
        );
        assert!(JsonDoc::parse("{\"a\": 1,}", Dialect::Comments, &["x"]).is_err());
        assert!(JsonDoc::parse("{\"a\": 1,}", Dialect::Jsonc, &["x"]).is_ok());
    }

    #[test]
    fn empty_text_becomes_an_object() {
        let mut doc = JsonDoc::parse("", Dialect::Strict, &["mcpServers"]).expect("parse");
        doc.set("rune", &entry());
        let out = doc.render();
        let v: Value = serde_json::from_str(&out).expect("valid JSON");
        assert_eq!(
            v["mcpServers"]["rune"],
            json!({"command": "/bin/rune", "args": ["mcp-server"]})
        );
        assert!(out.contains("\"command\": \"/bin/rune\",\n"), "{out}");
    }

    #[test]
    fn strings_are_escaped() {
        let mut doc = JsonDoc::parse("{}", Dialect::Strict, &["mcpServers"]).expect("parse");
        let odd = r#"C:\Program Files\"rune"\rune.exe"#;
        doc.set("rune", &[("command", json!(odd))]);
        let v: Value = serde_json::from_str(&doc.render()).expect("valid JSON");
        assert_eq!(v["mcpServers"]["rune"]["command"], odd);
    }

    #[test]
    fn a_byte_order_mark_stays() {
        let mut doc =
            JsonDoc::parse("\u{feff}{}\n", Dialect::Strict, &["mcpServers"]).expect("parse");
        doc.set("rune", &entry());
        assert!(doc.render().starts_with("\u{feff}{"));
    }
}
