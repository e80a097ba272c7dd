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

/// The bytes of `w` that may need escaping (below 0x20, `"` or a backslash), as the high
/// bit of each byte lane: every such byte is marked, and a few others may be.
///
/// `(x - 0x01…) & !x & 0x80…` marks every zero byte of `x`, and may also mark a byte just
/// above a zero byte (the borrow of the subtraction); the caller checks each mark. With
/// `0x20…` it marks bytes below 0x20 (bytes of 0x80 and up have their high bit cleared by
/// `!x`).
#[inline]
fn escape_mask(w: u64) -> u64 {
    let ctrl = w.wrapping_sub(ONES * 0x20) & !w;
    let q = w ^ (ONES * u64::from(b'"'));
    let q = q.wrapping_sub(ONES) & !q;
    let b = w ^ (ONES * u64::from(b'\\'));
    let b = b.wrapping_sub(ONES) & !b;
    (ctrl | q | b) & HIGH
}

/// The second byte of each byte's escape (`\n` → `n`), `u` for `\u00XX`, 0 for none.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[0x08] = b'b';
    t[0x0c] = b'f';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Appends the escape of `byte` (one that needs it).
#[inline]
fn push_escape(out: &mut Vec<u8>, byte: u8, code: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if code == b'u' {
        out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(byte >> 4)],
            HEX[usize::from(byte & 0xf)],
        ]);
    } else {
        out.push(b'\\');
        out.push(code);
    }
}

/// Appends `s` as a JSON string (quotes included), escaped exactly as `serde_json` does.
///
/// Sparse escapes (prose, code, logs) go word by word. Where a block of 32 bytes holds four
/// escapes or more (JSON inside a string, say) the word arithmetic no longer pays, and the
/// rest of the string is left to `serde_json`'s byte-by-byte loop.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut run = 0; // start of the bytes not yet copied
    let mut i = 0;
    while let Some(block) = bytes.get(i..i + 32) {
        let mut masks = [0u64; 4];
        for (m, word) in masks.iter_mut().zip(block.chunks_exact(8)) {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            *m = escape_mask(u64::from_le_bytes(w));
        }
        let mut escaped = 0;
        if masks != [0; 4] {
            for (k, &m) in masks.iter().enumerate() {
                escaped += escape_marked(out, bytes, i + 8 * k, m, &mut run);
            }
        }
        i += 32;
        if escaped >= 4 && dense_rest(out, s, i, &mut run) {
            return;
        }
    }
    while let Some(word) = bytes.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        escape_marked(out, bytes, i, escape_mask(u64::from_le_bytes(w)), &mut run);
        i += 8;
    }
    for (at, &byte) in bytes.iter().enumerate().skip(i) {
        let code = ESCAPE[usize::from(byte)];
        if code != 0 {
            out.extend_from_slice(&bytes[run..at]);
            push_escape(out, byte, code);
            run = at + 1;
        }
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

/// Writes the rest of `s`, from `i` on (everything before it is escaped up to `run`), with
/// `serde_json`, closing quote included. False when that was not possible (nothing written).
fn dense_rest(out: &mut Vec<u8>, s: &str, i: usize, run: &mut usize) -> bool {
    // The next character boundary: the bytes skipped are inside a character, never escaped.
    let Some(cut) = (i..=s.len()).find(|&c| s.is_char_boundary(c)) else {
        return false;
    };
    let Some(rest) = s.get(cut..) else {
        return false;
    };
    out.extend_from_slice(&s.as_bytes()[*run..cut]);
    *run = cut;
    let quote = out.len();
    if serde_json::to_writer(&mut *out, rest).is_err() {
        out.truncate(quote); // cannot happen with a Vec; escaped by the caller then
        return false;
    }
    // serde_json opened the string again: drop that quote.
    out.copy_within(quote + 1.., quote);
    out.pop();
    true
}

/// Escapes the marked bytes of the word at `i` (every byte to escape is marked, and perhaps a
/// few that are not: each mark is checked), copying the plain bytes before each. Returns how
/// many were escaped.
#[inline]
fn escape_marked(
    out: &mut Vec<u8>,
    bytes: &[u8],
    i: usize,
    mut mask: u64,
    run: &mut usize,
) -> usize {
    let mut n = 0;
    while mask != 0 {
        let at = i + (mask.trailing_zeros() / 8) as usize;
        let code = ESCAPE[usize::from(bytes[at])];
        if code != 0 {
            out.extend_from_slice(&bytes[*run..at]);
            push_escape(out, bytes[at], code);
            *run = at + 1;
            n += 1;
        }
        mask &= mask - 1;
    }
    n
}

/// Appends a JSON value, strings written by [`write_str`]; objects keep their order.
pub fn write_value(out: &mut Vec<u8>, v: &Value) {
    write_value_reusing(out, v, &[]);
}

/// Strings at least this long are looked up among those already written (see
/// [`write_call_tool_result`]); shorter ones cost less to escape than to compare.
const REUSE_MIN: usize = 256;

/// A string already written into `out`: its text, and where its escaped form (quotes
/// included) stands in `out`.
type Written<'a> = (&'a str, std::ops::Range<usize>);

/// [`write_value`], copying the escaped form of a string that equals one in `written`
/// instead of escaping it again.
fn write_value_reusing(out: &mut Vec<u8>, v: &Value, written: &[Written<'_>]) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => {
            let again = (s.len() >= REUSE_MIN)
                .then(|| written.iter().find(|(w, _)| *w == s.as_str()))
                .flatten();
            match again {
                Some((_, range)) => out.extend_from_within(range.clone()),
                None => write_str(out, s),
            }
        }
        Value::Array(items) => {
            out.push(b'[');
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                write_value_reusing(out, item, written);
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
                write_value_reusing(out, item, written);
            }
            out.push(b'}');
        }
    }
}

/// Appends a `tools/call` result: the same JSON as its `Serialize` implementation, with text
/// blocks and `structuredContent` written by [`write_str`] / [`write_value`].
///
/// A long string of `structuredContent` that is also the text of a block (a tool returning
/// its text in both places, as MCP asks of tools with structured output) is escaped once:
/// the second time its escaped bytes are copied.
pub fn write_call_tool_result(out: &mut Vec<u8>, r: &CallToolResult) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"content\":[");
    let mut written: Vec<Written<'_>> = Vec::new();
    for (k, c) in r.content.iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        match c {
            Content::Text(t) if t.annotations.is_none() && t.meta.is_none() => {
                out.extend_from_slice(b"{\"type\":\"text\",\"text\":");
                let at = out.len();
                write_str(out, &t.text);
                if t.text.len() >= REUSE_MIN && r.structured_content.is_some() {
                    written.push((&t.text, at..out.len()));
                }
                out.push(b'}');
            }
            other => serde_json::to_writer(&mut *out, other)?,
        }
    }
    out.push(b']');
    if let Some(v) = &r.structured_content {
        out.extend_from_slice(b",\"structuredContent\":");
        write_value_reusing(out, v, &written);
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
    fn long_strings_sparse_and_dense_match_serde_json() {
        // Deterministic pseudo-random strings up to 300 bytes: plain text with escapes from
        // rare to every other character, and multi-byte characters that fall across the
        // 8- and 32-byte boundaries (also where the dense path takes over).
        let alphabet: Vec<&str> = vec![
            "a", "b", " ", "x", "\"", "\\", "\n", "\t", "\u{1}", "\u{1f}", "\u{7f}", "é", "€", "😀",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..3000 {
            let len = (next() % 300) as usize;
            // Escapes among the first 4 symbols' worth of plain text: from none to most.
            let density = round % 10;
            let mut s = String::new();
            while s.len() < len {
                let r = next() as usize;
                let pick = if r % 10 < density {
                    alphabet[4 + (r / 10) % (alphabet.len() - 4)]
                } else {
                    alphabet[(r / 10) % 4]
                };
                s.push_str(pick);
            }
            assert_eq!(ours(&s), theirs(&s), "{s:?}");
        }
    }

    #[test]
    fn text_repeated_in_structured_content_is_written_the_same() {
        let long = "line \"one\"\n\tline two \u{1}\n".repeat(40);
        let other = "another text, as long\n".repeat(40);
        let v = serde_json::json!({
            "path": "/x", "text": long, "nested": [{"same": long}, other],
            "short": "line \"one\"\n",
        });
        let r = CallToolResult::new(vec![
            Content::text(long.clone()),
            Content::text("note"),
            Content::text(other.clone()),
        ])
        .with_structured(v);
        let mut out = Vec::new();
        write_call_tool_result(&mut out, &r).expect("written");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            serde_json::to_string(&r).expect("serializable")
        );
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
