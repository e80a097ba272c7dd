//! 2026-07-28 multi-round-trip requests (MRTR): sealing the answers a handler already has.
//!
//! A handler that needs input (an elicitation, a sampling, the roots) on a stateless request
//! ends with `resultType: "input_required"`; the client fulfils the requests and retries the
//! same call with `inputResponses` and the `requestState` we sent. The server keeps nothing in
//! between: `requestState` carries every answer of earlier rounds, sealed with a keyed BLAKE3
//! MAC bound to the originating request (method, name or URI, arguments) and stamped with its
//! issue time, so a client can neither forge answers nor replay them on another request.
//!
//! The token also names the one input request it was issued with (`k`); a retry's
//! `inputResponses` is read only for that key, so a client cannot pre-answer questions the
//! handler has not asked, nor overwrite sealed answers.
//!
//! Token layout:
//! `v1.<base64url(JSON {"t": unix seconds, "a": answers, "k": pending key})>.<base64url(MAC)>`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rune_proto::ErrorObject;
use rune_proto::model::JsonObject;

/// How long a sealed state stays valid.
const MAX_AGE_SECS: u64 = 3600;

/// A digest of what a request asks for, to bind its state to it.
pub(crate) fn binding(method: &str, name: &str, args: &str) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    for part in [method, name, args] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    *h.finalize().as_bytes()
}

fn mac(key: &[u8; 32], binding: &[u8; 32], body: &str) -> blake3::Hash {
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(binding);
    h.update(body.as_bytes());
    h.finalize()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Seals `answers` into a `requestState` token.
pub(crate) fn seal(
    key: &[u8; 32],
    binding: &[u8; 32],
    answers: &JsonObject,
    pending: &str,
) -> String {
    let payload = serde_json::json!({ "t": now(), "a": answers, "k": pending });
    let body = URL_SAFE_NO_PAD.encode(payload.to_string());
    let tag = URL_SAFE_NO_PAD.encode(mac(key, binding, &body).as_bytes());
    format!("v1.{body}.{tag}")
}

/// Opens a token sealed by [`seal`] for the same request: the answers and the pending key.
pub(crate) fn open(
    key: &[u8; 32],
    binding: &[u8; 32],
    token: &str,
) -> Result<(JsonObject, String), ErrorObject> {
    let bad = |why: &str| ErrorObject::invalid_params(format!("Invalid requestState: {why}"));
    let rest = token
        .strip_prefix("v1.")
        .ok_or_else(|| bad("unknown format"))?;
    let (body, tag) = rest.rsplit_once('.').ok_or_else(|| bad("unknown format"))?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| bad("bad signature"))?;
    let tag: [u8; 32] = tag.try_into().map_err(|_| bad("bad signature"))?;
    // blake3::Hash compares in constant time.
    if mac(key, binding, body) != blake3::Hash::from_bytes(tag) {
        return Err(bad("signature does not match this request"));
    }
    let payload = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| bad("bad encoding"))?;
    let payload: serde_json::Value =
        serde_json::from_slice(&payload).map_err(|_| bad("bad encoding"))?;
    let issued = payload
        .get("t")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    if now().saturating_sub(issued) > MAX_AGE_SECS {
        return Err(bad("expired"));
    }
    match (
        payload.get("a"),
        payload.get("k").and_then(serde_json::Value::as_str),
    ) {
        (Some(serde_json::Value::Object(a)), Some(k)) => Ok((a.clone(), k.to_owned())),
        _ => Err(bad("bad encoding")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip_and_reject_tampering() {
        let key = [7u8; 32];
        let b = binding("tools/call", "deploy", r#"{"env":"prod"}"#);
        let mut answers = JsonObject::new();
        answers.insert("r0".into(), serde_json::json!({"action": "accept"}));
        let token = seal(&key, &b, &answers, "r1");
        assert_eq!(
            open(&key, &b, &token).expect("opens"),
            (answers, "r1".to_owned())
        );

        let other = binding("tools/call", "deploy", r#"{"env":"dev"}"#);
        assert!(
            open(&key, &other, &token).is_err(),
            "bound to the arguments"
        );
        assert!(open(&[8u8; 32], &b, &token).is_err(), "bound to the key");
        let mut forged = token.clone();
        forged.insert(5, 'A');
        assert!(open(&key, &b, &forged).is_err());
        assert!(open(&key, &b, "garbage").is_err());
    }
}
