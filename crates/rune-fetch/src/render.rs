//! From a response's bytes to the text a model reads: kind, charset, Markdown, paging.
//!
//! - **Kind.** The `Content-Type` decides: HTML (`text/html`, `application/xhtml+xml`),
//!   text (`text/*`, JSON, XML, JavaScript, YAML, TOML and their `+json`/`+xml` kin), or
//!   binary (not shown). A missing or generic type (`application/octet-stream`) is sniffed:
//!   a document that opens like HTML is HTML, UTF-8 without NUL bytes is text.
//! - **Charset.** The `charset` parameter of `Content-Type`, else for HTML a `<meta charset>`
//!   or `<meta http-equiv="Content-Type">` in the first 1024 bytes, else UTF-8; a byte-order
//!   mark overrides all of them (as browsers do). Bytes that are not valid in the charset
//!   become U+FFFD and the result says so; an unknown charset label falls back to UTF-8.
//! - **Markdown.** HTML is converted with `htmd`, leaving out scripts, styles and other
//!   parts that are not text; `raw` skips the conversion.
//! - **Paging.** `start_index` and `max_length` count Unicode characters of the converted
//!   text, so a page boundary never splits a character.

use std::sync::Arc;

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};
use serde::{Deserialize, Serialize};

use crate::cache::Entry;

/// What the returned text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// HTML converted to Markdown.
    Markdown,
    /// The body's text as served (HTML too, when `raw` was asked for).
    Raw,
    /// A binary body: not shown.
    Binary,
}

/// A body made into text.
#[derive(Debug)]
pub(crate) struct Rendered {
    pub(crate) text: String,
    pub(crate) format: Format,
    /// The charset used to decode, for text.
    pub(crate) charset: Option<&'static str>,
    /// True when invalid bytes were replaced with U+FFFD.
    pub(crate) replaced: bool,
    /// Length of `text` in characters.
    pub(crate) chars: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Html,
    Text,
    Binary,
}

/// The media type without parameters, lowercased.
pub(crate) fn essence(content_type: Option<&str>) -> Option<String> {
    let ct = content_type?;
    let e = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    (!e.is_empty()).then_some(e)
}

fn kind(content_type: Option<&str>, body: &[u8]) -> Kind {
    let essence = essence(content_type);
    match essence.as_deref() {
        Some("text/html" | "application/xhtml+xml") => Kind::Html,
        Some(e)
            if e.starts_with("text/")
                || e.ends_with("+json")
                || e.ends_with("+xml")
                || matches!(
                    e,
                    "application/json"
                        | "application/xml"
                        | "application/javascript"
                        | "application/ecmascript"
                        | "application/x-javascript"
                        | "application/yaml"
                        | "application/x-yaml"
                        | "application/toml"
                        | "application/x-ndjson"
                        | "application/sql"
                        | "application/graphql"
                        | "application/x-sh"
                ) =>
        {
            Kind::Text
        }
        None | Some("application/octet-stream" | "binary/octet-stream") => sniff(body),
        Some(_) => Kind::Binary,
    }
}

fn sniff(body: &[u8]) -> Kind {
    let head = &body[..body.len().min(1024)];
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    let lower: Vec<u8> = head[start..]
        .iter()
        .take(14)
        .map(u8::to_ascii_lowercase)
        .collect();
    if lower.starts_with(b"<!doctype html") || lower.starts_with(b"<html") {
        return Kind::Html;
    }
    if head.contains(&0) {
        return Kind::Binary;
    }
    match std::str::from_utf8(head) {
        Ok(_) => Kind::Text,
        // A character cut at the 1024-byte boundary is fine.
        Err(e) if e.error_len().is_none() => Kind::Text,
        Err(_) => Kind::Binary,
    }
}

/// The `charset` parameter of a `Content-Type`.
fn header_charset(content_type: Option<&str>) -> Option<&'static Encoding> {
    let ct = content_type?;
    ct.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| Encoding::for_label(v.trim().trim_matches(['"', '\'']).as_bytes()))
            .flatten()
    })
}

/// A `<meta charset=…>` or `<meta http-equiv content="…; charset=…">` in the first 1024
/// bytes (a simplified form of the HTML prescan).
fn meta_charset(body: &[u8]) -> Option<&'static Encoding> {
    let head: Vec<u8> = body[..body.len().min(1024)]
        .iter()
        .map(u8::to_ascii_lowercase)
        .collect();
    let mut from = 0;
    while let Some(at) = memfind(&head[from..], b"<meta") {
        let tag_start = from + at;
        let tag_end = head[tag_start..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(head.len(), |e| tag_start + e);
        let tag = &head[tag_start..tag_end];
        if let Some(c) = memfind(tag, b"charset") {
            let rest = &tag[c + 7..];
            let rest = rest.trim_ascii_start();
            if let Some(rest) = rest.strip_prefix(b"=") {
                let rest = rest.trim_ascii_start();
                let rest = rest
                    .strip_prefix(b"\"")
                    .or_else(|| rest.strip_prefix(b"'"))
                    .unwrap_or(rest);
                let end = rest
                    .iter()
                    .position(|&b| {
                        matches!(b, b'"' | b'\'' | b';' | b'/' | b'>') || b.is_ascii_whitespace()
                    })
                    .unwrap_or(rest.len());
                if let Some(enc) = Encoding::for_label(&rest[..end]) {
                    // A page cannot declare UTF-16 in ASCII-compatible bytes; HTML says UTF-8.
                    return Some(if enc == UTF_16LE || enc == UTF_16BE {
                        UTF_8
                    } else {
                        enc
                    });
                }
            }
        }
        from = tag_end.min(head.len());
        if from >= head.len() {
            break;
        }
    }
    None
}

fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Makes the body of `entry` into text, once per entry and format.
pub(crate) fn rendered(entry: &Entry, raw: bool) -> Arc<Rendered> {
    entry.rendered[usize::from(raw)]
        .get_or_init(|| Arc::new(render(entry.meta.content_type.as_deref(), &entry.body, raw)))
        .clone()
}

/// Makes a body into text (see the module docs).
pub(crate) fn render(content_type: Option<&str>, body: &[u8], raw: bool) -> Rendered {
    let kind = kind(content_type, body);
    if kind == Kind::Binary {
        return Rendered {
            text: String::new(),
            format: Format::Binary,
            charset: None,
            replaced: false,
            chars: 0,
        };
    }
    let declared = header_charset(content_type).or_else(|| {
        if kind == Kind::Html {
            meta_charset(body)
        } else {
            None
        }
    });
    // `decode` lets a byte-order mark override the declared charset.
    let (text, used, replaced) = declared.unwrap_or(UTF_8).decode(body);
    let (text, format) = if kind == Kind::Html && !raw {
        (to_markdown(&text), Format::Markdown)
    } else {
        (text.into_owned(), Format::Raw)
    };
    let chars = if text.is_ascii() {
        text.len()
    } else {
        text.chars().count()
    };
    Rendered {
        text,
        format,
        charset: Some(used.name()),
        replaced,
        chars,
    }
}

thread_local! {
    static CONVERTER: htmd::HtmlToMarkdown = htmd::HtmlToMarkdown::builder()
        .skip_tags(vec![
            "script", "style", "noscript", "template", "iframe", "svg", "canvas", "object",
            "embed", "head",
        ])
        .build();
}

fn to_markdown(html: &str) -> String {
    let md = CONVERTER.with(|c| c.convert(html));
    match md {
        Ok(md) => md,
        // htmd's parser accepts any input; an error here is an I/O error of its writer.
        Err(e) => {
            tracing::debug!(error = %e, "HTML to Markdown failed; serving the HTML");
            html.to_owned()
        }
    }
}

/// The characters `[start, start + max)` of `text` (whose length in characters is `chars`),
/// and the character index where the slice ends.
pub(crate) fn page(text: &str, chars: usize, start: usize, max: usize) -> (&str, usize) {
    let start = start.min(chars);
    let end = start.saturating_add(max).min(chars);
    if text.len() == chars {
        // ASCII: characters are bytes.
        return (&text[start..end], end);
    }
    let byte_at = |n: usize| {
        if n >= chars {
            text.len()
        } else {
            text.char_indices().nth(n).map_or(text.len(), |(i, _)| i)
        }
    };
    let b0 = byte_at(start);
    let b1 = b0
        + text[b0..]
            .char_indices()
            .nth(end - start)
            .map_or(text.len() - b0, |(i, _)| i);
    (&text[b0..b1], end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_type_and_by_sniffing() {
        assert_eq!(kind(Some("text/html; charset=utf-8"), b""), Kind::Html);
        assert_eq!(kind(Some("Application/XHTML+XML"), b""), Kind::Html);
        assert_eq!(kind(Some("application/json"), b""), Kind::Text);
        assert_eq!(kind(Some("application/atom+xml"), b""), Kind::Text);
        assert_eq!(kind(Some("application/vnd.api+json"), b""), Kind::Text);
        assert_eq!(kind(Some("text/plain"), b""), Kind::Text);
        assert_eq!(kind(Some("image/png"), b"\x89PNG"), Kind::Binary);
        assert_eq!(kind(Some("application/pdf"), b"%PDF"), Kind::Binary);
        assert_eq!(kind(None, b"  <!DOCTYPE html><p>x"), Kind::Html);
        assert_eq!(kind(None, b"<HTML>"), Kind::Html);
        assert_eq!(
            kind(Some("application/octet-stream"), b"plain words"),
            Kind::Text
        );
        assert_eq!(kind(None, b"bin\0ary"), Kind::Binary);
        assert_eq!(kind(None, b"\xff\xfe\xfd"), Kind::Binary);
    }

    #[test]
    fn charsets_from_header_meta_and_bom() {
        // Header.
        let r = render(Some("text/plain; charset=ISO-8859-1"), b"caf\xe9", true);
        assert_eq!(r.text, "café");
        assert_eq!(r.charset, Some("windows-1252"));
        assert!(!r.replaced);
        // Quoted header value.
        let r = render(
            Some("text/plain; charset=\"koi8-r\""),
            b"\xf0\xd2\xc9",
            true,
        );
        assert_eq!(r.text, "При");
        // Meta, both forms.
        let html =
            b"<html><head><meta charset=\"windows-1251\"></head><body>\xcf\xf0\xe8</body></html>";
        let r = render(Some("text/html"), html, true);
        assert!(r.text.contains("При"), "{}", r.text);
        let html = b"<meta http-equiv=Content-Type content='text/html; charset=shift_jis'><p>\x93\xfa\x96\x7b</p>";
        let r = render(Some("text/html"), html, false);
        assert!(r.text.contains("日本"), "{}", r.text);
        assert_eq!(r.format, Format::Markdown);
        // The header wins over meta.
        let html = b"<meta charset=windows-1251><p>caf\xc3\xa9</p>";
        let r = render(Some("text/html; charset=utf-8"), html, true);
        assert!(r.text.contains("café"));
        // A BOM wins over the header.
        let r = render(
            Some("text/plain; charset=iso-8859-1"),
            b"\xef\xbb\xbfcaf\xc3\xa9",
            true,
        );
        assert_eq!(r.text, "café");
        let r = render(Some("text/plain"), b"\xff\xfeh\0i\0", true);
        assert_eq!(r.text, "hi");
        // Unknown label: UTF-8.
        let r = render(
            Some("text/plain; charset=no-such-thing"),
            "é".as_bytes(),
            true,
        );
        assert_eq!(r.text, "é");
    }

    #[test]
    fn invalid_bytes_are_replaced_and_reported() {
        let r = render(
            Some("text/plain; charset=utf-8"),
            b"ok \xff\xfe then \xc3",
            true,
        );
        assert!(r.replaced);
        assert_eq!(r.text, "ok \u{fffd}\u{fffd} then \u{fffd}");
        assert_eq!(r.chars, 12);
    }

    #[test]
    fn html_becomes_markdown_without_scripts() {
        let html = "<html><head><title>T</title><style>p{}</style></head><body>\
            <h1>Title</h1><p>Some <b>bold</b> and <a href=\"/x\">a link</a>.</p>\
            <script>alert('no')</script><ul><li>one</li><li>two</li></ul></body></html>";
        let r = render(Some("text/html"), html.as_bytes(), false);
        assert_eq!(r.format, Format::Markdown);
        assert!(r.text.contains("# Title"), "{}", r.text);
        assert!(r.text.contains("**bold**"), "{}", r.text);
        assert!(r.text.contains("[a link](/x)"), "{}", r.text);
        assert!(
            r.text.contains("one") && r.text.contains("two"),
            "{}",
            r.text
        );
        assert!(
            !r.text.contains("alert") && !r.text.contains("p{}"),
            "{}",
            r.text
        );
        let raw = render(Some("text/html"), html.as_bytes(), true);
        assert_eq!(raw.format, Format::Raw);
        assert!(raw.text.contains("<script>"));
    }

    #[test]
    fn pages_count_characters() {
        let t = "abcdef";
        assert_eq!(page(t, 6, 0, 4), ("abcd", 4));
        assert_eq!(page(t, 6, 4, 4), ("ef", 6));
        assert_eq!(page(t, 6, 9, 4), ("", 6));
        let t = "héllo wörld";
        let n = t.chars().count();
        assert_eq!(page(t, n, 0, 2), ("hé", 2));
        assert_eq!(page(t, n, 1, 4), ("éllo", 5));
        assert_eq!(page(t, n, 7, 100), ("örld", 11));
        assert_eq!(page(t, n, 11, 5), ("", 11));
    }
}
