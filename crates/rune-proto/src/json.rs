//! Writing JSON fast where the bytes are mostly string contents.
//!
//! Tool results are mostly text (a file's lines, a command's output, a page), often twice: in
//! a text block and again in `structuredContent`. `serde_json` escapes a string one byte at a
//! time through a lookup table; here [`write_str`] skips eight bytes at a time with word
//! arithmetic (SWAR: a word "has a byte below 0x20, a `"` or a `\`" is three subtractions and
//! masks) and copies whole runs with one `extend_from_slice`. Text with a newline every
//! 60 bytes is escaped several times faster; the output is byte for byte what `serde_json`
//! writes (the tests compare them on every byte value).
//!
//! [`write_value`] writes a [`serde_json::Value`] with that string writer, and
//! [`write_call_tool_result`] a `tools/call` result, the one large result on the hot path.
//! Everything else goes through `serde_json`.

use serde_json::Value;

use crate::model::{CallToolResult, Content};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The bytes of `w` that need escaping (below 0x20, `"` or `\`), as the high bit of each
/// byte lane; the lowest set bit marks the first such byte exactly.
///
/// `(x - 0x01…) & !x & 0x80…` marks every zero byte of `x`, and may also mark a byte just
/// above a zero byte (the borrow of the subtraction), never one below the first zero: so the
/// lowest mark is always a real one. With `0x20…` it marks bytes below 0x20 (bytes of 0x80
/// and up have their high bit cleared by `!x`).
#[inline]
fn escape_mask(w: u64) -> u64 {
    let ctrl = w.wrapping_sub(ONES * 0x20) & !w;
    let q = w ^ (ONES * u64::from(b'"'));
    let q = q.wrapping_sub(ONES) & !q;
    let b = w ^ (ONES * u64::from(b'\\'));
    let b = b.wrapping_sub(ONES) & !b;
    (ctrl | q | b) & HIGH
}

/// The escape of one byte, or `None` when it is written as it is.
#[inline]
fn escape(byte: u8) -> Option<&'static [u8]> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    static CONTROL: [[u8; 6]; 32] = {
        let mut t = [[0u8; 6]; 32];
        let mut i = 0;
        while i < 32 {
            t[i] = [b'\\', b'u', b'0', b'0', HEX[i >> 4], HEX[i & 0xf]];
            i += 1;
        }
        t
    };
    match byte {
        b'"' => Some(b"\\\""),
        b'\\' => Some(b"\\\\"),
        b'\n' => Some(b"\\n"),
        b'\r' => Some(b"\\r"),
        b'\t' => Some(b"\\t"),
        0x08 => Some(b"\\b"),
        0x0c => Some(b"\\f"),
        0..0x20 => Some(&CONTROL[byte as usize]),
        _ => None,
    }
}

/// Appends `s` as a JSON string (quotes included), escaped exactly as `serde_json` does.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut run = 0; // start of the bytes not yet copied
    let mut i = 0;
    while let Some(word) = bytes.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let mask = escape_mask(u64::from_le_bytes(w));
        if mask == 0 {
            i += 8;
            continue;
        }
        // The first byte to escape in this word; carry on right after it.
        let at = i + (mask.trailing_zeros() / 8) as usize;
        if let Some(e) = escape(bytes[at]) {
            out.extend_from_slice(&bytes[run..at]);
            out.extend_from_slice(e);
            run = at + 1;
        }
        i = at + 1;
    }
    for (at, &byte) in bytes.iter().enumerate().skip(i) {
        if let Some(e) = escape(byte) {
            out.extend_from_slice(&bytes[run..at]);
            out.extend_from_slice(e);
            run = at + 1;
        }
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

/// Appends a JSON value, strings written by [`write_str`]; objects keep their order.
pub fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (k, (key, item)) in map.iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                write_str(out, key);
                out.push(b':');
                write_value(out, item);
            }
            out.push(b'}');
        }
    }
}

/// Appends a `tools/call` result: the same JSON as its `Serialize` implementation, with text
/// blocks and `structuredContent` written by [`write_str`] / [`write_value`].
pub fn write_call_tool_result(out: &mut Vec<u8>, r: &CallToolResult) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"content\":[");
    for (k, c) in r.content.iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        match c {
            Content::Text(t) if t.annotations.is_none() && t.meta.is_none() => {
                out.extend_from_slice(b"{\"type\":\"text\",\"text\":");
                write_str(out, &t.text);
                out.push(b'}');
            }
            other => serde_json::to_writer(&mut *out, other)?,
        }
    }
    out.push(b']');
    if let Some(v) = &r.structured_content {
        out.extend_from_slice(b",\"structuredContent\":");
        write_value(out, v);
    }
    if let Some(e) = r.is_error {
        out.extend_from_slice(if e {
            b",\"isError\":true"
        } else {
            b",\"isError\":false"
        });
    }
    if let Some(meta) = &r.meta {
        out.extend_from_slice(b",\"_meta\":");
        serde_json::to_writer(&mut *out, meta)?;
    }
    out.push(b'}');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(s: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s);
        String::from_utf8(out).expect("utf-8")
    }

    fn theirs(s: &str) -> String {
        serde_json::to_string(s).expect("serializable")
    }

    #[test]
    fn every_byte_value_at_every_position_matches_serde_json() {
        // Each ASCII byte (and a multi-byte character) at every offset of a 19-byte string,
        // so it falls in a word at every lane and in the tail.
        let mut chars: Vec<String> = (0u8..0x80).map(|b| (b as char).to_string()).collect();
        chars.push("é".into());
        chars.push("\u{2028}".into());
        chars.push("😀".into());
        for c in &chars {
            for pos in 0..19 {
                let s = format!("{}{c}{}", "a".repeat(pos), "b".repeat(18 - pos));
                assert_eq!(ours(&s), theirs(&s), "{c:?} at {pos}");
            }
        }
        // Pairs of bytes next to each other, where a borrow in the word arithmetic could mark
        // a byte that needs no escape.
        let near = [
            0x00u8, 0x01, 0x1f, 0x20, 0x21, b'"', b'#', b'\\', b']', b'a',
        ];
        for a in near {
            for b in near {
                for pos in [0, 3, 6, 7, 12] {
                    let s = format!(
                        "{}{}{}{}",
                        "x".repeat(pos),
                        a as char,
                        b as char,
                        "y".repeat(9)
                    );
                    assert_eq!(ours(&s), theirs(&s), "{a:#x} {b:#x} at {pos}");
                }
            }
        }
        for s in [
            "",
            "\"",
            "\\\\",
            "\n\n\n\n\n\n\n\n\n",
            "\u{7f}\u{1f}\u{0}",
            "x\"y\\z\t",
        ] {
            assert_eq!(ours(s), theirs(s));
        }
    }

    #[test]
    fn values_and_tool_results_match_serde_json() {
        let v = serde_json::json!({
            "text": "line 1\nline \"2\"\t\\ end\u{1}",
            "n": 12, "f": 1.5, "neg": -3, "big": 18446744073709551615u64,
            "t": true, "no": false, "null": null,
            "list": ["a", 1, {"b": []}, {}],
        });
        let mut out = Vec::new();
        write_value(&mut out, &v);
        assert_eq!(String::from_utf8(out).expect("utf-8"), v.to_string());

        let mut r = CallToolResult::new(vec![
            Content::text("hello\nworld"),
            Content::image("AAAA", "image/png"),
        ])
        .with_structured(v);
        for is_error in [None, Some(true), Some(false)] {
            r.is_error = is_error;
            r.meta = is_error.map(|_| {
                let mut m = serde_json::Map::new();
                m.insert("k".into(), "v".into());
                m
            });
            let mut out = Vec::new();
            write_call_tool_result(&mut out, &r).expect("written");
            assert_eq!(
                String::from_utf8(out).expect("utf-8"),
                serde_json::to_string(&r).expect("serializable")
            );
        }
    }
}
