//! The HTTP headers that mirror a 2026-07-28 request's body (SEP-2243).
//!
//! Over Streamable HTTP a 2026-07-28 request carries `Mcp-Method`, `Mcp-Name` (the tool or
//! prompt name, or the resource URI) and one `Mcp-Param-{X}` header for each tool argument
//! whose schema property is annotated `"x-mcp-header": "X"`. A proxy or a load balancer can
//! route on them without reading the body, so both ends keep them honest: the client derives
//! them from the body, and the server compares them with the body and answers any
//! disagreement with `-32020` (HeaderMismatch) and HTTP 400.
//!
//! - [`encode_value`] / [`decode_value`]: the value codec. Plain visible ASCII goes as is;
//!   anything else (other bytes, surrounding whitespace, text that looks like the sentinel)
//!   goes as `=?base64?{base64 of the UTF-8}?=`.
//! - [`ParamHeaders::from_schema`] reads a tool's annotations and enforces the spec's rules: the
//!   property is reached from the root through `properties` keys only (not `items`, `*Of`,
//!   `$ref`…), its type is `string`, `integer` or `boolean`, and the name is an RFC 9110 token,
//!   unique without regard to case. A client drops a tool that breaks them.
//! - [`ParamHeaders::headers_for`] is what a client sends for some arguments;
//!   [`ParamHeaders::check`] is what a server verifies.
//!
//! ```
//! use rune_proto::headers::ParamHeaders;
//! use serde_json::json;
//!
//! let schema = json!({"type": "object", "properties": {
//!     "region": {"type": "string", "x-mcp-header": "Region"},
//!     "limit": {"type": "integer", "x-mcp-header": "Limit"},
//!     "query": {"type": "string"}
//! }});
//! let params = ParamHeaders::from_schema(schema.as_object().unwrap())?;
//! let args = json!({"region": "eu-west1", "limit": 5, "query": "x"});
//! let mut sent = params.headers_for(Some(&args));
//! sent.sort();
//! assert_eq!(sent, [
//!     ("Mcp-Param-Limit".to_owned(), "5".to_owned()),
//!     ("Mcp-Param-Region".to_owned(), "eu-west1".to_owned()),
//! ]);
//! // The server looks headers up without regard to case; integers compare as numbers.
//! let got = |name: &str| match name.to_ascii_lowercase().as_str() {
//!     "mcp-param-region" => vec!["eu-west1"],
//!     "mcp-param-limit" => vec!["5.0"],
//!     _ => vec![],
//! };
//! assert!(params.check(Some(&args), got).is_ok());
//! assert!(params.check(Some(&json!({"region": "us-east1", "limit": 5})), got).is_err());
//! # Ok::<(), rune_proto::headers::InvalidAnnotation>(())
//! ```

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::model::JsonObject;

/// The schema keyword that names a property's header.
pub const ANNOTATION: &str = "x-mcp-header";
/// What the annotation's token is appended to, to make the header's name.
pub const PARAM_PREFIX: &str = "Mcp-Param-";

const SENTINEL_START: &str = "=?base64?";
const SENTINEL_END: &str = "?=";

/// A header value as it goes on the wire: `text` itself when it is plain visible ASCII
/// without surrounding spaces (and does not look like the sentinel), else
/// `=?base64?…?=`.
pub fn encode_value(text: &str) -> Cow<'_, str> {
    let plain = text.bytes().all(|b| (0x20..0x7f).contains(&b))
        && text.trim_matches(' ') == text
        && !text.starts_with(SENTINEL_START);
    if plain {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(format!(
            "{SENTINEL_START}{}{SENTINEL_END}",
            STANDARD.encode(text)
        ))
    }
}

/// The text a header value stands for: the value itself, or the decoded `=?base64?…?=`.
/// `None` when the sentinel holds bad base64 (or base64 in a form no encoder writes) or bytes
/// that are not UTF-8, so a corrupt header never matches anything.
pub fn decode_value(value: &str) -> Option<Cow<'_, str>> {
    let Some(payload) = value
        .strip_prefix(SENTINEL_START)
        .and_then(|rest| rest.strip_suffix(SENTINEL_END))
    else {
        return Some(Cow::Borrowed(value));
    };
    // The standard engine insists on canonical padding and zero trailing bits.
    let bytes = STANDARD.decode(payload).ok()?;
    String::from_utf8(bytes).ok().map(Cow::Owned)
}

/// Whether `s` is an RFC 9110 token: the characters a header's name may hold.
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The JSON type of an annotated property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// `"type": "string"`.
    String,
    /// `"type": "integer"`: compared as a number (`42` matches `42.0`).
    Integer,
    /// `"type": "boolean"`: `true` / `false`.
    Boolean,
}

/// One annotated argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamHeader {
    /// The `properties` keys from the schema's root to the property.
    pub path: Vec<String>,
    /// The annotation: the header is `Mcp-Param-{token}`.
    pub token: String,
    /// The property's type.
    pub ty: ParamType,
}

impl ParamHeader {
    /// The header's name, `Mcp-Param-{token}`.
    pub fn header_name(&self) -> String {
        format!("{PARAM_PREFIX}{}", self.token)
    }
    fn argument(&self) -> String {
        self.path.join(".")
    }
}

/// Why a tool's `x-mcp-header` annotations break the spec's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid x-mcp-header annotation: {0}")]
pub struct InvalidAnnotation(pub String);

/// The annotated arguments of one tool (often none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParamHeaders(Vec<ParamHeader>);

/// Schema keywords whose value is one subschema.
const SINGLE: &[&str] = &[
    "items",
    "contains",
    "unevaluatedItems",
    "additionalProperties",
    "propertyNames",
    "unevaluatedProperties",
    "not",
    "if",
    "then",
    "else",
    "contentSchema",
];
/// Schema keywords whose value is an array of subschemas.
const LIST: &[&str] = &["allOf", "anyOf", "oneOf", "prefixItems"];
/// Schema keywords whose value maps names to subschemas (other than `properties`).
const MAP: &[&str] = &[
    "patternProperties",
    "dependentSchemas",
    "$defs",
    "definitions",
];

impl ParamHeaders {
    /// Reads the annotations of a tool's `inputSchema`.
    ///
    /// Every subschema is visited (instance data such as `default` or `enum` is not, and
    /// `$ref` is not followed), so an annotation where the spec does not allow one is found
    /// and reported rather than ignored.
    pub fn from_schema(schema: &JsonObject) -> Result<Self, InvalidAnnotation> {
        let mut found: Vec<ParamHeader> = Vec::new();
        // Lowercased tokens seen, with their argument, for the uniqueness rule.
        let mut seen: std::collections::HashMap<String, String> = Default::default();
        // (the `properties` path, or None once another keyword was crossed; the subschema)
        let mut stack: Vec<(Option<Vec<String>>, &JsonObject)> = vec![(Some(Vec::new()), schema)];
        while let Some((path, node)) = stack.pop() {
            if let Some(token) = node.get(ANNOTATION) {
                let p = annotation(path.as_deref(), token, node)?;
                if let Some(other) = seen.insert(p.token.to_ascii_lowercase(), p.argument()) {
                    return Err(InvalidAnnotation(format!(
                        "{ANNOTATION} {:?} on property {:?} repeats the one on {other:?}",
                        p.token,
                        p.argument()
                    )));
                }
                found.push(p);
            }
            for (keyword, value) in node {
                let k = keyword.as_str();
                if k == "properties" {
                    for (name, sub) in value.as_object().into_iter().flatten() {
                        if let Some(sub) = sub.as_object() {
                            let p = path.as_ref().map(|p| {
                                let mut p = p.clone();
                                p.push(name.clone());
                                p
                            });
                            stack.push((p, sub));
                        }
                    }
                } else if SINGLE.contains(&k) {
                    stack.extend(value.as_object().map(|s| (None, s)));
                } else if LIST.contains(&k) {
                    let subs = value.as_array().into_iter().flatten();
                    stack.extend(subs.filter_map(Value::as_object).map(|s| (None, s)));
                } else if MAP.contains(&k) {
                    let subs = value.as_object().into_iter().flatten().map(|(_, s)| s);
                    stack.extend(subs.filter_map(Value::as_object).map(|s| (None, s)));
                }
            }
        }
        Ok(Self(found))
    }

    /// True when no argument is annotated.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The annotated arguments.
    pub fn iter(&self) -> impl Iterator<Item = &ParamHeader> {
        self.0.iter()
    }

    /// The `Mcp-Param-*` headers a client sends with `arguments`, values encoded. An argument
    /// that is absent, `null`, or not a string, number or boolean sends no header.
    pub fn headers_for(&self, arguments: Option<&Value>) -> Vec<(String, String)> {
        self.0
            .iter()
            .filter_map(|p| {
                let rendered = render(value_at(arguments, &p.path)?)?;
                Some((p.header_name(), encode_value(&rendered).into_owned()))
            })
            .collect()
    }

    /// Checks the headers a request came with against its `arguments`. `values` returns every
    /// value of the named header, looked up without regard to case.
    ///
    /// Each annotated argument and its header must go together: both absent (`null` counts
    /// as absent), or both present and equal once the header is decoded. A header given twice
    /// is refused, as readers of the first and of the last copy would disagree. The error says
    /// which header and why, for a `-32020` reply.
    pub fn check<'h>(
        &self,
        arguments: Option<&Value>,
        mut values: impl FnMut(&str) -> Vec<&'h str>,
    ) -> Result<(), String> {
        for p in &self.0 {
            let name = p.header_name();
            let given = values(&name);
            if given.len() > 1 {
                return Err(format!("{name} appears more than once"));
            }
            let raw = given.first().copied();
            let Some(value) = value_at(arguments, &p.path) else {
                if raw.is_some() {
                    return Err(format!(
                        "{name} is present but the body's {:?} argument is absent",
                        p.argument()
                    ));
                }
                continue;
            };
            let Some(rendered) = render(value) else {
                // A client sends no header for such a value, so none can match it.
                if raw.is_some() {
                    return Err(mismatch(&name, p));
                }
                continue;
            };
            let Some(raw) = raw else {
                return Err(format!(
                    "{name} is missing but the body's {:?} argument is present",
                    p.argument()
                ));
            };
            let Some(decoded) = decode_value(raw) else {
                return Err(format!("{name} holds a malformed =?base64?…?= value"));
            };
            if !same(p.ty, value, &rendered, &decoded) {
                return Err(mismatch(&name, p));
            }
        }
        Ok(())
    }
}

fn mismatch(name: &str, p: &ParamHeader) -> String {
    format!(
        "{name} does not match the body's {:?} argument",
        p.argument()
    )
}

/// Checks one annotation and turns it into a [`ParamHeader`].
fn annotation(
    path: Option<&[String]>,
    token: &Value,
    node: &JsonObject,
) -> Result<ParamHeader, InvalidAnnotation> {
    let bad = |why: String| Err(InvalidAnnotation(why));
    let path = match path {
        Some(p) if !p.is_empty() => p,
        _ => {
            return bad(format!(
                "{ANNOTATION} sits where only a chain of `properties` keys may lead"
            ));
        }
    };
    let at = path.join(".");
    let Some(token) = token.as_str() else {
        return bad(format!("property {at:?}: {ANNOTATION} must be a string"));
    };
    if !is_token(token) {
        return bad(format!(
            "property {at:?}: {ANNOTATION} {token:?} is not an RFC 9110 token"
        ));
    }
    let ty = match node.get("type").and_then(Value::as_str) {
        Some("string") => ParamType::String,
        Some("integer") => ParamType::Integer,
        Some("boolean") => ParamType::Boolean,
        _ => {
            return bad(format!(
                "property {at:?}: {ANNOTATION} is allowed on a property of type string, \
                 integer or boolean only"
            ));
        }
    };
    Ok(ParamHeader {
        path: path.to_vec(),
        token: token.to_owned(),
        ty,
    })
}

/// The argument at `path`, if present and not `null`.
fn value_at<'v>(arguments: Option<&'v Value>, path: &[String]) -> Option<&'v Value> {
    let mut node = arguments?;
    for key in path {
        node = node.as_object()?.get(key)?;
    }
    (!node.is_null()).then_some(node)
}

/// An argument as its header carries it: booleans as `true`/`false`, numbers in decimal.
fn render(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

/// Whether a decoded header agrees with the argument. An integer property holding a whole
/// number compares numerically with a header in plain decimal (`42`, `-7`, `42.0`); anything
/// else compares as text with the argument's rendering.
fn same(ty: ParamType, value: &Value, rendered: &str, decoded: &str) -> bool {
    if ty == ParamType::Integer
        && let Some(want) = whole_number(value)
        && let Some(got) = decimal_integer(decoded)
    {
        return got == want;
    }
    decoded == rendered
}

/// A whole number's digits, normalized: no leading zeros, `-` only on a non-zero value.
fn whole_number(value: &Value) -> Option<String> {
    let n = value.as_number()?;
    let text = if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        let f = n.as_f64()?;
        if !f.is_finite() || f.fract() != 0.0 {
            return None;
        }
        // Exact: an integral f64 is printed with all its digits.
        format!("{f:.0}")
    };
    normalize(&text)
}

/// A header in plain decimal (`-?digits(.digits)?`) that is a whole number, normalized like
/// [`whole_number`]. Exponents and other forms are not numbers here.
fn decimal_integer(text: &str) -> Option<String> {
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (text, None),
    };
    if let Some(f) = fraction
        && (f.is_empty() || !f.bytes().all(|b| b == b'0'))
    {
        return None;
    }
    normalize(whole)
}

fn normalize(text: &str) -> Option<String> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = digits.trim_start_matches('0');
    Some(match (negative, digits.is_empty()) {
        (_, true) => "0".to_owned(),
        (true, false) => format!("-{digits}"),
        (false, false) => digits.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(schema: Value) -> Result<ParamHeaders, InvalidAnnotation> {
        ParamHeaders::from_schema(schema.as_object().expect("object"))
    }

    fn lookup<'a>(headers: &'a [(&'a str, &'a str)]) -> impl FnMut(&str) -> Vec<&'a str> {
        move |name| {
            headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
                .collect()
        }
    }

    #[test]
    fn values_round_trip_through_the_codec() {
        for text in [
            "eu-west1",
            "a b",
            "",
            " padded ",
            "tab\there",
            "naïve",
            "=?base64?x?=",
            "=?base64?",
            "日本",
        ] {
            let sent = encode_value(text);
            assert!(sent.bytes().all(|b| (0x20..0x7f).contains(&b)), "{sent}");
            assert_eq!(decode_value(&sent).as_deref(), Some(text), "{text:?}");
        }
        assert_eq!(encode_value("eu-west1"), "eu-west1");
        assert_eq!(encode_value("naïve"), "=?base64?bmHDr3Zl?=");
        assert_eq!(encode_value(" x"), "=?base64?IHg=?=");
    }

    #[test]
    fn malformed_sentinels_decode_to_nothing() {
        assert_eq!(decode_value("=?base64?!!!?="), None);
        // Non-zero trailing bits and missing padding: not what an encoder writes.
        assert_eq!(decode_value("=?base64?IHh=?="), None);
        assert_eq!(decode_value("=?base64?IHg?="), None);
        // Not UTF-8.
        assert_eq!(decode_value("=?base64?/w==?="), None);
        // Not a sentinel at all: taken as is.
        assert_eq!(
            decode_value("=?base64?abc").as_deref(),
            Some("=?base64?abc")
        );
    }

    #[test]
    fn annotations_are_read_from_nested_properties() {
        let p = params(json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "opts": {"type": "object", "properties": {
                "dry": {"type": "boolean", "x-mcp-header": "Dry-Run"}
            }},
            "plain": {"type": "string"}
        }}))
        .expect("valid");
        let mut got: Vec<_> = p
            .iter()
            .map(|h| (h.path.join("."), h.token.clone()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("opts.dry".to_owned(), "Dry-Run".to_owned()),
                ("region".to_owned(), "Region".to_owned())
            ]
        );
        assert!(params(json!({"type": "object"})).expect("valid").is_empty());
    }

    #[test]
    fn annotations_that_break_the_rules_are_refused() {
        let cases = [
            // Under items, anyOf, $defs: not a chain of `properties` keys.
            json!({"properties": {"xs": {"type": "array",
                "items": {"type": "string", "x-mcp-header": "X"}}}}),
            json!({"properties": {"a": {"anyOf": [{"type": "string", "x-mcp-header": "X"}]}}}),
            json!({"$defs": {"a": {"type": "string", "x-mcp-header": "X"}}}),
            // On the root.
            json!({"type": "object", "x-mcp-header": "X"}),
            // Not a token, not a string, empty.
            json!({"properties": {"a": {"type": "string", "x-mcp-header": "Has Space"}}}),
            json!({"properties": {"a": {"type": "string", "x-mcp-header": 7}}}),
            json!({"properties": {"a": {"type": "string", "x-mcp-header": ""}}}),
            // Types other than string, integer, boolean.
            json!({"properties": {"a": {"type": "number", "x-mcp-header": "A"}}}),
            json!({"properties": {"a": {"x-mcp-header": "A"}}}),
            json!({"properties": {"a": {"type": ["string", "null"], "x-mcp-header": "A"}}}),
            // The same name twice, in different case.
            json!({"properties": {
                "a": {"type": "string", "x-mcp-header": "Zone"},
                "b": {"type": "string", "x-mcp-header": "zone"}}}),
        ];
        for schema in cases {
            assert!(params(schema.clone()).is_err(), "{schema}");
        }
        // Instance data is not schema: an annotation-looking default is no annotation.
        let p = params(json!({"properties": {"a": {"type": "object",
            "default": {"x-mcp-header": "A"}}}}))
        .expect("valid");
        assert!(p.is_empty());
    }

    fn sample() -> ParamHeaders {
        params(json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "limit": {"type": "integer", "x-mcp-header": "Limit"},
            "dry": {"type": "boolean", "x-mcp-header": "Dry"}
        }}))
        .expect("valid")
    }

    #[test]
    fn a_client_sends_what_the_arguments_hold() {
        let p = sample();
        let mut sent = p.headers_for(Some(&json!({
            "region": "zürich", "limit": 3, "dry": false
        })));
        sent.sort();
        assert_eq!(
            sent,
            [
                ("Mcp-Param-Dry".to_owned(), "false".to_owned()),
                ("Mcp-Param-Limit".to_owned(), "3".to_owned()),
                (
                    "Mcp-Param-Region".to_owned(),
                    "=?base64?esO8cmljaA==?=".to_owned()
                ),
            ]
        );
        // Absent and null arguments, and values of other kinds, send nothing.
        let sent = p.headers_for(Some(&json!({"region": null, "limit": [1]})));
        assert!(sent.is_empty(), "{sent:?}");
        assert!(p.headers_for(None).is_empty());
    }

    #[test]
    fn a_server_accepts_headers_that_agree_with_the_body() {
        let p = sample();
        let args = json!({"region": "zürich", "limit": 42, "dry": true});
        let ok = [
            ("mcp-param-region", "=?base64?esO8cmljaA==?="),
            ("MCP-PARAM-LIMIT", "42.00"),
            ("Mcp-Param-Dry", "true"),
        ];
        assert_eq!(p.check(Some(&args), lookup(&ok)), Ok(()));
        // An integral float in the body matches a plain integer header.
        let args = json!({"limit": 42.0});
        assert_eq!(
            p.check(Some(&args), lookup(&[("Mcp-Param-Limit", "42")])),
            Ok(())
        );
        // Big integers compare exactly, without going through f64.
        let args = json!({"limit": 18446744073709551615_u64});
        let h = [("Mcp-Param-Limit", "018446744073709551615")];
        assert_eq!(p.check(Some(&args), lookup(&h)), Ok(()));
        // Nothing annotated given, nothing sent.
        assert_eq!(p.check(Some(&json!({})), lookup(&[])), Ok(()));
    }

    #[test]
    fn a_server_refuses_headers_that_disagree() {
        let p = sample();
        let args = json!({"region": "eu", "limit": 42});
        let refused = |headers: &[(&str, &str)]| p.check(Some(&args), lookup(headers)).err();
        let both = [("Mcp-Param-Region", "eu"), ("Mcp-Param-Limit", "42")];
        assert_eq!(refused(&both), None);
        let why = refused(&[("Mcp-Param-Limit", "42")]).expect("missing");
        assert!(why.contains("Mcp-Param-Region is missing"), "{why}");
        let why = refused(&[("Mcp-Param-Region", "EU"), ("Mcp-Param-Limit", "42")]);
        assert!(why.expect("case").contains("does not match"));
        for limit in ["42.5", "4.2e1", "0x2a", "+42", " 42", "42."] {
            let h = [("Mcp-Param-Region", "eu"), ("Mcp-Param-Limit", limit)];
            assert!(refused(&h).is_some(), "{limit}");
        }
        let twice = [
            ("Mcp-Param-Region", "eu"),
            ("mcp-param-region", "eu"),
            ("Mcp-Param-Limit", "42"),
        ];
        assert!(refused(&twice).expect("twice").contains("more than once"));
        let bad64 = [
            ("Mcp-Param-Region", "=?base64?ZX=?="),
            ("Mcp-Param-Limit", "42"),
        ];
        assert!(refused(&bad64).expect("bad base64").contains("malformed"));
        // A header for an argument the body does not hold.
        let extra = [
            ("Mcp-Param-Region", "eu"),
            ("Mcp-Param-Limit", "42"),
            ("Mcp-Param-Dry", "true"),
        ];
        assert!(refused(&extra).expect("extra").contains("absent"));
        // A header for an argument no header can carry.
        let args = json!({"region": {"nested": 1}});
        let h = [("Mcp-Param-Region", "x")];
        assert!(p.check(Some(&args), lookup(&h)).is_err());
        // A string property compares as text: "042" is not "42".
        let p = params(json!({"properties": {"v": {"type": "string", "x-mcp-header": "V"}}}))
            .expect("valid");
        let h = [("Mcp-Param-V", "042")];
        assert!(p.check(Some(&json!({"v": "42"})), lookup(&h)).is_err());
    }
}
