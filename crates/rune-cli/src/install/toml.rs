//! Editing Codex's `config.toml` in place with `toml_edit`: comments, key order and formatting
//! of everything else stay as they are; only `[mcp_servers.NAME]` is added, replaced or removed.

use serde_json::{Value, json};
use toml_edit::{Array, DocumentMut, Item, Table, TableLike};

use super::client::{Found, Registration};
use super::file::line_col;

const SERVERS: &str = "mcp_servers";

/// A parsed `config.toml`.
#[derive(Debug)]
pub(crate) struct TomlDoc {
    doc: DocumentMut,
    /// The file's lines end in CR LF (`toml_edit` writes LF; they are put back).
    crlf: bool,
}

fn kind(item: &Item) -> &'static str {
    match item {
        Item::None => "nothing",
        Item::Value(v) => v.type_name(),
        Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
    }
}

impl TomlDoc {
    /// Parses `text`; errors are `LINE:COLUMN: what`.
    pub(crate) fn parse(text: &str) -> Result<TomlDoc, String> {
        // Parsed with spans first, so a wrong shape can be pointed at.
        let spanned = toml_edit::Document::parse(text).map_err(|e| {
            let (line, col) = line_col(text, e.span().map_or(0, |s| s.start));
            format!("{line}:{col}: {}", e.message().trim_end())
        })?;
        if let Some(item) = spanned.get(SERVERS)
            && !item.is_table_like()
        {
            let at = item.span().map_or(0, |s| s.start);
            let (line, col) = line_col(text, at);
            return Err(format!(
                "{line}:{col}: \"{SERVERS}\" is {}, expected a table",
                kind(item)
            ));
        }
        let doc = spanned.into_mut();
        Ok(TomlDoc {
            doc,
            crlf: text.contains("\r\n"),
        })
    }

    fn servers(&self) -> Option<&dyn TableLike> {
        self.doc.get(SERVERS).and_then(Item::as_table_like)
    }

    /// Every entry, in file order.
    pub(crate) fn entries(&self) -> Vec<(String, Found)> {
        let Some(servers) = self.servers() else {
            return Vec::new();
        };
        servers
            .iter()
            .map(|(name, item)| (name.to_owned(), Found::from_json(&to_json(item))))
            .collect()
    }

    /// The entry called `name`.
    pub(crate) fn get(&self, name: &str) -> Option<Found> {
        let item = self.servers()?.get(name)?;
        Some(Found::from_json(&to_json(item)))
    }

    /// Adds `[mcp_servers.NAME]`, or rewrites its keys in place (its comments and position
    /// stay).
    pub(crate) fn set(&mut self, name: &str, reg: &Registration) {
        let root = self.doc.as_table_mut();
        if !root.contains_key(SERVERS) {
            let mut t = Table::new();
            // No bare `[mcp_servers]` header: the entries' own headers say it.
            t.set_implicit(true);
            root.insert(SERVERS, Item::Table(t));
        }
        let Some(servers) = root.get_mut(SERVERS).and_then(Item::as_table_like_mut) else {
            // `parse` refused any other shape.
            return;
        };
        let mut args = Array::new();
        for a in &reg.args {
            args.push(a.as_str());
        }
        if let Some(existing) = servers.get_mut(name)
            && let Some(t) = existing.as_table_like_mut()
        {
            t.clear();
            t.insert("command", toml_edit::value(reg.command.as_str()));
            t.insert("args", toml_edit::value(args));
            return;
        }
        let mut t = Table::new();
        t.insert("command", toml_edit::value(reg.command.as_str()));
        t.insert("args", toml_edit::value(args));
        if servers.is_dotted() {
            // `mcp_servers.x.command = …` at the top: keep writing dotted keys there.
            t.set_dotted(true);
        }
        servers.insert(name, Item::Table(t));
    }

    /// Removes the entry called `name`; says whether there was one.
    pub(crate) fn remove(&mut self, name: &str) -> bool {
        self.doc
            .get_mut(SERVERS)
            .and_then(Item::as_table_like_mut)
            .and_then(|s| s.remove(name))
            .is_some()
    }

    /// The text of the file.
    pub(crate) fn render(&self) -> String {
        let text = self.doc.to_string();
        if self.crlf {
            text.replace("\r\n", "\n").replace('\n', "\r\n")
        } else {
            text
        }
    }
}

/// An entry as JSON, enough to read `command`, `args`, `url` and `type` from it.
fn to_json(item: &Item) -> Value {
    match item {
        Item::Value(v) => value_to_json(v),
        Item::Table(t) => table_to_json(t),
        Item::None | Item::ArrayOfTables(_) => Value::Null,
    }
}

fn table_to_json(t: &dyn TableLike) -> Value {
    Value::Object(
        t.iter()
            .map(|(k, item)| (k.to_owned(), to_json(item)))
            .collect(),
    )
}

fn value_to_json(v: &toml_edit::Value) -> Value {
    use toml_edit::Value as V;
    match v {
        V::String(s) => Value::String(s.value().clone()),
        V::Integer(i) => json!(*i.value()),
        V::Float(f) => json!(*f.value()),
        V::Boolean(b) => Value::Bool(*b.value()),
        V::Datetime(d) => Value::String(d.value().to_string()),
        V::Array(a) => Value::Array(a.iter().map(value_to_json).collect()),
        V::InlineTable(t) => table_to_json(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg() -> Registration {
        Registration {
            command: "/bin/rune".into(),
            args: vec!["mcp-server".into(), "--root".into(), "/w".into()],
            trust: false,
        }
    }

    #[test]
    fn adds_and_removes_keeping_the_rest() {
        let text = "# mine\nmodel = \"o3\" # inline\n\n[mcp_servers.other]\ncommand = \"x\"\n\n# profiles\n[profiles.a]\nmodel = \"y\"\n";
        let mut doc = TomlDoc::parse(text).expect("parse");
        doc.set("rune", &reg());
        let out = doc.render();
        assert!(out.contains("[mcp_servers.rune]\ncommand = \"/bin/rune\"\nargs = [\"mcp-server\", \"--root\", \"/w\"]\n"), "{out}");
        assert!(
            out.starts_with("# mine\nmodel = \"o3\" # inline\n"),
            "{out}"
        );
        assert!(out.contains("# profiles\n[profiles.a]"), "{out}");
        let mut again = TomlDoc::parse(&out).expect("reparse");
        assert!(again.get("rune").is_some_and(|f| f.same_as(&reg())));
        assert!(again.remove("rune"));
        assert_eq!(again.render(), text);
    }

    #[test]
    fn inline_and_dotted_tables() {
        let mut doc =
            TomlDoc::parse("mcp_servers = { other = { command = \"x\" } }\n").expect("parse");
        doc.set("rune", &reg());
        let again = TomlDoc::parse(&doc.render()).expect("reparse");
        assert!(again.get("rune").is_some_and(|f| f.same_as(&reg())));
        assert!(again.get("other").is_some());

        let mut doc = TomlDoc::parse("mcp_servers.other.command = \"x\"\n").expect("parse");
        doc.set("rune", &reg());
        let out = doc.render();
        let again = TomlDoc::parse(&out).expect("reparse");
        assert!(
            again.get("rune").is_some_and(|f| f.same_as(&reg())),
            "{out}"
        );
    }

    #[test]
    fn crlf_lines_stay_crlf() {
        let text = "# c\r\nmodel = \"x\"\r\n";
        let mut doc = TomlDoc::parse(text).expect("parse");
        doc.set("rune", &reg());
        let out = doc.render();
        assert!(out.starts_with(text), "{out:?}");
        assert!(!out.replace("\r\n", "").contains('\n'), "{out:?}");
        let mut again = TomlDoc::parse(&out).expect("reparse");
        again.remove("rune");
        assert_eq!(again.render(), text);
    }

    #[test]
    fn errors_name_the_position() {
        let e = TomlDoc::parse("a = 1\nb = [\n").expect_err("malformed");
        assert!(e.starts_with("3:1: ") || e.starts_with("2:"), "{e}");
        let e = TomlDoc::parse("x = 1\nmcp_servers = 3\n").expect_err("shape");
        assert_eq!(e, "2:15: \"mcp_servers\" is integer, expected a table");
    }
}
