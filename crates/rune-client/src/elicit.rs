//! Elicitation helpers.

use rune_proto::model::JsonObject;
use serde_json::Value;

/// Fills in, from the requested schema, the `default` of every field the answer left out
/// (SEP-1034, 2025-11-25).
///
/// The client applies this to every accepted form-mode answer before sending it, so a handler
/// may return only the fields the user changed. Fields the answer has are never touched.
///
/// ```
/// use serde_json::json;
/// let schema = json!({"type": "object", "properties": {
///     "name": {"type": "string", "default": "Ada"},
///     "age": {"type": "integer"}
/// }});
/// let mut content = serde_json::Map::new();
/// rune_client::apply_elicitation_defaults(schema.as_object().expect("an object"), &mut content);
/// assert_eq!(serde_json::Value::Object(content), json!({"name": "Ada"}));
/// ```
pub fn apply_defaults(schema: &JsonObject, content: &mut JsonObject) {
    let Some(Value::Object(properties)) = schema.get("properties") else {
        return;
    };
    for (name, property) in properties {
        if content.contains_key(name) {
            continue;
        }
        if let Some(default) = property.get("default") {
            content.insert(name.clone(), default.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> JsonObject {
        match v {
            Value::Object(o) => o,
            _ => JsonObject::new(),
        }
    }

    #[test]
    fn defaults_fill_only_missing_fields() {
        let schema = obj(json!({"type": "object", "properties": {
            "name": {"type": "string", "default": "John Doe"},
            "age": {"type": "integer", "default": 30},
            "score": {"type": "number", "default": 95.5},
            "status": {"type": "string", "enum": ["active", "inactive"], "default": "active"},
            "verified": {"type": "boolean", "default": true},
            "nickname": {"type": "string"}
        }}));
        let mut content = obj(json!({"age": 41}));
        apply_defaults(&schema, &mut content);
        assert_eq!(
            Value::Object(content),
            json!({"name": "John Doe", "age": 41, "score": 95.5, "status": "active", "verified": true})
        );
    }

    #[test]
    fn schema_without_properties_changes_nothing() {
        let mut content = obj(json!({"a": 1}));
        apply_defaults(&obj(json!({"type": "object"})), &mut content);
        apply_defaults(&obj(json!({"properties": 5})), &mut content);
        assert_eq!(Value::Object(content), json!({"a": 1}));
    }
}
