//! Validating tool arguments against their JSON Schema.
//!
//! Most tool schemas (every one `schemars` derives for a plain struct) use a small set of
//! keywords: `type`, `properties`, `required`, `additionalProperties`, `items`, `enum`,
//! `const`, numeric and length bounds, and annotations. For those, [`Validator::Simple`]
//! checks arguments directly: it compiles in microseconds and costs no memory beyond the
//! schema. Any other keyword (`$ref`, `anyOf`, `pattern`, `format`, `$schema`, …) makes the
//! whole schema go to the `jsonschema` crate ([`Validator::Full`]), whose first compilation in
//! a process costs milliseconds and megabytes of meta-schemas. The two agree on every schema
//! the simple one accepts; `tests` below check that against `jsonschema` itself.

use serde_json::{Map, Value};

/// A compiled input schema.
#[derive(Debug)]
pub(crate) enum Validator {
    Simple(Box<Node>),
    Full(Box<jsonschema::Validator>),
}

impl Validator {
    /// The simple validator when the schema allows it, `None` otherwise.
    pub(crate) fn simple(schema: &Value) -> Option<Validator> {
        Node::compile(schema).map(|n| Validator::Simple(Box::new(n)))
    }

    /// Compiles with `jsonschema`.
    pub(crate) fn full(schema: &Value) -> Result<Validator, String> {
        jsonschema::validator_for(schema)
            .map(|v| Validator::Full(Box::new(v)))
            .map_err(|e| e.to_string())
    }

    /// `Ok` or up to five messages, each naming the offending location.
    pub(crate) fn check(&self, instance: &Value) -> Result<(), Vec<String>> {
        match self {
            Validator::Simple(node) => {
                let mut errors = Vec::new();
                node.check(instance, &mut String::new(), &mut errors);
                if errors.is_empty() {
                    Ok(())
                } else {
                    Err(errors)
                }
            }
            Validator::Full(v) => {
                if v.is_valid(instance) {
                    return Ok(());
                }
                Err(v
                    .iter_errors(instance)
                    .take(5)
                    .map(|e| {
                        let path = e.instance_path().to_string();
                        if path.is_empty() {
                            e.to_string()
                        } else {
                            format!("{path}: {e}")
                        }
                    })
                    .collect())
            }
        }
    }
}

/// A schema of the simple subset.
#[derive(Debug, Default)]
pub(crate) struct Node {
    /// `false` schema.
    never: bool,
    types: Option<Vec<String>>,
    properties: Vec<(String, Node)>,
    required: Vec<String>,
    additional: Option<Box<Additional>>,
    items: Option<Box<Node>>,
    enumeration: Option<Vec<Value>>,
    constant: Option<Value>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    exclusive_minimum: Option<f64>,
    exclusive_maximum: Option<f64>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    min_items: Option<u64>,
    max_items: Option<u64>,
}

#[derive(Debug)]
enum Additional {
    Forbidden,
    Schema(Box<Node>),
}

/// Keywords that only annotate.
/// (`format` too: without `$schema` both validators use draft 2020-12, where `format` is an
/// annotation unless asked otherwise; the differential test pins this.)
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$comment",
    "format",
];

impl Node {
    fn compile(schema: &Value) -> Option<Node> {
        let obj = match schema {
            Value::Bool(true) => return Some(Node::default()),
            Value::Bool(false) => {
                return Some(Node {
                    never: true,
                    ..Node::default()
                });
            }
            Value::Object(o) => o,
            _ => return None,
        };
        let mut n = Node::default();
        for (key, v) in obj {
            match key.as_str() {
                k if ANNOTATIONS.contains(&k) => {}
                "type" => n.types = Some(types(v)?),
                "properties" => {
                    for (name, sub) in v.as_object()? {
                        n.properties.push((name.clone(), Node::compile(sub)?));
                    }
                }
                "required" => {
                    for r in v.as_array()? {
                        n.required.push(r.as_str()?.to_owned());
                    }
                }
                "additionalProperties" => {
                    n.additional = Some(Box::new(match v {
                        Value::Bool(false) => Additional::Forbidden,
                        other => Additional::Schema(Box::new(Node::compile(other)?)),
                    }))
                }
                "items" => n.items = Some(Box::new(Node::compile(v)?)),
                "enum" => n.enumeration = Some(v.as_array()?.clone()),
                "const" => n.constant = Some(v.clone()),
                "minimum" => n.minimum = Some(v.as_f64()?),
                "maximum" => n.maximum = Some(v.as_f64()?),
                "exclusiveMinimum" => n.exclusive_minimum = Some(v.as_f64()?),
                "exclusiveMaximum" => n.exclusive_maximum = Some(v.as_f64()?),
                "minLength" => n.min_length = Some(v.as_u64()?),
                "maxLength" => n.max_length = Some(v.as_u64()?),
                "minItems" => n.min_items = Some(v.as_u64()?),
                "maxItems" => n.max_items = Some(v.as_u64()?),
                _ => return None, // anything else: the full validator
            }
        }
        Some(n)
    }

    fn check(&self, v: &Value, path: &mut String, errors: &mut Vec<String>) {
        if errors.len() >= 5 {
            return;
        }
        let mut fail = |msg: String| {
            if errors.len() < 5 {
                errors.push(if path.is_empty() {
                    msg
                } else {
                    format!("{path}: {msg}")
                });
            }
        };
        if self.never {
            return fail("no value is allowed here".into());
        }
        if let Some(types) = &self.types
            && !types.iter().any(|t| is_type(v, t))
        {
            let expected = if types.len() == 1 {
                format!("{:?}", types[0])
            } else {
                format!("one of {types:?}")
            };
            return fail(format!("{v} is not of type {expected}"));
        }
        if let Some(allowed) = &self.enumeration
            && !allowed.iter().any(|a| json_eq(a, v))
        {
            fail(format!(
                "{v} is not one of {}",
                Value::Array(allowed.clone())
            ));
        }
        if let Some(c) = &self.constant
            && !json_eq(c, v)
        {
            fail(format!("{c} was expected"));
        }
        if let Some(x) = v.as_f64() {
            let bounds = [
                (
                    self.minimum,
                    x < self.minimum.unwrap_or(f64::MIN),
                    "less than the minimum of",
                ),
                (
                    self.maximum,
                    x > self.maximum.unwrap_or(f64::MAX),
                    "greater than the maximum of",
                ),
                (
                    self.exclusive_minimum,
                    self.exclusive_minimum.is_some_and(|m| x <= m),
                    "less than or equal to the exclusive minimum of",
                ),
                (
                    self.exclusive_maximum,
                    self.exclusive_maximum.is_some_and(|m| x >= m),
                    "greater than or equal to the exclusive maximum of",
                ),
            ];
            for (bound, broken, what) in bounds {
                if let (Some(b), true) = (bound, broken) {
                    fail(format!("{v} is {what} {b}"));
                }
            }
        }
        if let Value::String(s) = v {
            let len = s.chars().count() as u64;
            if self.min_length.is_some_and(|m| len < m) {
                fail(format!(
                    "{v} is shorter than {} characters",
                    self.min_length.unwrap_or(0)
                ));
            }
            if self.max_length.is_some_and(|m| len > m) {
                fail(format!(
                    "{v} is longer than {} characters",
                    self.max_length.unwrap_or(0)
                ));
            }
        }
        if let Value::Array(items) = v {
            let len = items.len() as u64;
            if self.min_items.is_some_and(|m| len < m) {
                fail(format!(
                    "has fewer than {} items",
                    self.min_items.unwrap_or(0)
                ));
            }
            if self.max_items.is_some_and(|m| len > m) {
                fail(format!(
                    "has more than {} items",
                    self.max_items.unwrap_or(0)
                ));
            }
            if let Some(item) = &self.items {
                for (i, x) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("/{i}"));
                    item.check(x, path, errors);
                    path.truncate(len);
                }
            }
        }
        if let Value::Object(map) = v {
            self.check_object(map, path, errors);
        }
    }

    fn check_object(&self, map: &Map<String, Value>, path: &mut String, errors: &mut Vec<String>) {
        for r in &self.required {
            if !map.contains_key(r) && errors.len() < 5 {
                let msg = format!("{r:?} is a required property");
                errors.push(if path.is_empty() {
                    msg
                } else {
                    format!("{path}: {msg}")
                });
            }
        }
        for (key, value) in map {
            let len = path.len();
            path.push('/');
            path.push_str(&key.replace('~', "~0").replace('/', "~1"));
            match self.properties.iter().find(|(k, _)| k == key) {
                Some((_, sub)) => sub.check(value, path, errors),
                None => match self.additional.as_deref() {
                    None => {}
                    Some(Additional::Schema(sub)) => sub.check(value, path, errors),
                    Some(Additional::Forbidden) => {
                        path.truncate(len);
                        if errors.len() < 5 {
                            let msg = format!("additional property {key:?} is not allowed");
                            errors.push(if path.is_empty() {
                                msg
                            } else {
                                format!("{path}: {msg}")
                            });
                        }
                        continue;
                    }
                },
            }
            path.truncate(len);
        }
    }
}

fn types(v: &Value) -> Option<Vec<String>> {
    const KNOWN: &[&str] = &[
        "object", "array", "string", "number", "integer", "boolean", "null",
    ];
    let list: Vec<String> = match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .map(|t| t.as_str().map(str::to_owned))
            .collect::<Option<_>>()?,
        _ => return None,
    };
    list.iter()
        .all(|t| KNOWN.contains(&t.as_str()))
        .then_some(list)
}

fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        // JSON Schema: any number with a zero fractional part is an integer (1.0 included).
        "integer" => {
            v.is_i64()
                || v.is_u64()
                || v.as_f64()
                    .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
        }
        _ => false,
    }
}

/// JSON equality as JSON Schema defines it: numbers compare by value (1 == 1.0).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The simple validator must agree with `jsonschema` on every (schema, instance) pair.
    #[test]
    fn agrees_with_jsonschema() {
        let schemas = [
            json!({"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}),
            json!({"type": "object", "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 10}}}),
            json!({"type": "object", "properties": {"x": {"type": ["number", "null"], "exclusiveMinimum": 1.5, "exclusiveMaximum": 3}}}),
            json!({"type": "object", "properties": {"s": {"type": "string", "minLength": 2, "maxLength": 3}}, "additionalProperties": false}),
            json!({"type": "object", "properties": {"a": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 2}}}),
            json!({"type": "object", "properties": {"e": {"enum": ["a", 1, null, [1], {"k": 1}]}, "c": {"const": 2}}}),
            json!({"type": "object", "additionalProperties": {"type": "boolean"}}),
            json!({"type": "object", "properties": {"o": {"type": "object", "properties": {"deep": {"type": "string"}}, "required": ["deep"]}}}),
            json!({"type": "object", "properties": {"t": true, "f": false}}),
            json!({"type": "object", "properties": {"u": {"type": "integer", "description": "doc", "default": 3, "title": "U"}}}),
            json!({"type": "object", "properties": {"u": {"type": ["integer", "null"], "format": "uint32", "minimum": 0}, "m": {"type": "string", "format": "email"}}}),
        ];
        let instances = [
            json!({}),
            json!({"message": "hi"}),
            json!({"message": 5}),
            json!({"n": 3}),
            json!({"n": -1}),
            json!({"n": 11}),
            json!({"n": 2.0}),
            json!({"n": 2.5}),
            json!({"x": 1.5}),
            json!({"x": 2}),
            json!({"x": 3}),
            json!({"x": null}),
            json!({"x": "2"}),
            json!({"s": "é"}),
            json!({"s": "éé"}),
            json!({"s": "abcd"}),
            json!({"s": "ab", "z": 1}),
            json!({"a": []}),
            json!({"a": [1]}),
            json!({"a": [1, 2, 3]}),
            json!({"a": [1.0, 2]}),
            json!({"a": ["x"]}),
            json!({"e": "a"}),
            json!({"e": 1.0}),
            json!({"e": null}),
            json!({"e": [1]}),
            json!({"e": {"k": 1.0}}),
            json!({"e": "b"}),
            json!({"c": 2}),
            json!({"c": 2.0}),
            json!({"c": 3}),
            json!({"q": true}),
            json!({"q": 1}),
            json!({"o": {}}),
            json!({"o": {"deep": "x"}}),
            json!({"o": {"deep": 1}}),
            json!({"t": 1}),
            json!({"f": 1}),
            json!({"u": 1}),
            json!({"u": "1"}),
            json!({"u": null}),
            json!({"u": -1}),
            json!({"u": 5000000000u64}),
            json!({"m": "not an email"}),
            json!({"m": "a@b.c"}),
            json!([]),
            json!("str"),
            json!(null),
        ];
        for schema in &schemas {
            let simple = Validator::simple(schema).unwrap_or_else(|| panic!("simple: {schema}"));
            let full = jsonschema::validator_for(schema).expect("compiles");
            for instance in &instances {
                assert_eq!(
                    simple.check(instance).is_ok(),
                    full.is_valid(instance),
                    "schema {schema} instance {instance}: {:?}",
                    simple.check(instance)
                );
            }
        }
    }

    #[test]
    fn other_keywords_go_to_the_full_validator() {
        for schema in [
            json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"}),
            json!({"type": "object", "properties": {"a": {"$ref": "#/$defs/x"}}, "$defs": {"x": {}}}),
            json!({"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}]}}}),
            json!({"type": "object", "properties": {"a": {"type": "string", "pattern": "^x"}}}),
            json!({"type": "object", "properties": {"a": {"type": "strange"}}}),
        ] {
            assert!(Validator::simple(&schema).is_none(), "{schema}");
        }
    }

    #[test]
    fn messages_name_the_field() {
        let v = Validator::simple(&json!({
            "type": "object",
            "properties": {"message": {"type": "string"}, "list": {"type": "array", "items": {"type": "integer"}}},
            "required": ["message"], "additionalProperties": false
        }))
        .expect("simple");
        let errors = v
            .check(&json!({"message": 5, "list": [1, "x"], "extra/key": 1}))
            .expect_err("invalid");
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("/message: 5 is not of type \"string\"")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.starts_with("/list/1:")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("\"extra/key\" is not allowed")),
            "{errors:?}"
        );
        let errors = v.check(&json!({})).expect_err("missing");
        assert_eq!(errors, ["\"message\" is a required property"]);
    }
}
