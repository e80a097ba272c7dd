//! `file_read` and `file_read_many`: text (whole, line range, head, tail, byte range, or a
//! line+column selection) and binary files (base64 image or blob content).

use std::fs::{File, Metadata};
use std::sync::Arc;

use base64::Engine as _;
use rune_server::proto::model::{CallToolResult, Content, ResourceContents};
use rune_server::{HandlerError, RequestContext, ToolDef};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::guard::{ResolvedPath, Roots};
use crate::text::{self, LineStart, Lines};
use crate::util::{blocking, fail, read_only_annotations, with_structured};

/// Default cap on the text one call returns, in bytes.
pub const DEFAULT_MAX_BYTES: u64 = 32 * 1024;
/// Largest cap a caller may ask for, in bytes.
pub const MAX_MAX_BYTES: u64 = 4 * 1024 * 1024;
/// Cap on the raw bytes of a binary file returned as base64.
pub const BINARY_MAX_BYTES: u64 = 4 * 1024 * 1024;
fn default_max_bytes() -> u64 {
    DEFAULT_MAX_BYTES
}

/// Arguments of `file_read`. Give at most one of: `line_start`/`line_end`, `head`, `tail`,
/// `byte_offset`/`byte_length`, `selection`; with none, the whole file is read.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileReadArgs {
    /// The file: a path relative to the first allowed root, or an absolute path inside an
    /// allowed root.
    pub path: String,
    /// First line to return, 1-based and inclusive (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u64", range(min = 1))]
    pub line_start: Option<u64>,
    /// Last line to return, 1-based and inclusive (default: the last line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u64", range(min = 1))]
    pub line_end: Option<u64>,
    /// Return only the first N lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u64", range(min = 1))]
    pub head: Option<u64>,
    /// Return only the last N lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u64", range(min = 1))]
    pub tail: Option<u64>,
    /// Return bytes from this 0-based offset. For text, a start inside a multi-byte character
    /// moves forward to the next whole character.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u64")]
    pub byte_offset: Option<u64>,
    /// How many bytes to return from `byte_offset` (default: up to `max_bytes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u64", range(min = 1))]
    pub byte_length: Option<u64>,
    /// Return the text between two line+column positions, as an editor selection covers it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Selection")]
    pub selection: Option<Selection>,
    /// Replace invalid UTF-8 with U+FFFD instead of failing (default false).
    #[serde(default)]
    pub lossy: bool,
    /// Most bytes of text to return (default 32768 = 32 KiB, at most 4194304). Past it the
    /// result says where to continue; nothing is cut silently.
    #[serde(default = "default_max_bytes")]
    #[schemars(range(min = 1024, max = 4194304))]
    pub max_bytes: u64,
}

/// A line+column range. Positions are cursor positions: column 1 is before a line's first
/// character, and columns count Unicode characters. The range covers the text from the start
/// position up to, not including, the end position. A column past the end of its line means
/// the end of that line (before the newline); an `end_line` past the end of the file means
/// the end of the file.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    /// Line of the start position, 1-based.
    #[schemars(range(min = 1))]
    pub start_line: u64,
    /// Column of the start position, 1-based, in characters.
    #[schemars(range(min = 1))]
    pub start_column: u64,
    /// Line of the end position, 1-based.
    #[schemars(range(min = 1))]
    pub end_line: u64,
    /// Column of the end position, 1-based, in characters (exclusive).
    #[schemars(range(min = 1))]
    pub end_column: u64,
}

/// How the returned bytes are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Valid UTF-8 text, in `text`.
    Utf8,
    /// Text with invalid UTF-8 replaced by U+FFFD (asked for with `lossy`), in `text`.
    Utf8Lossy,
    /// Binary data, base64 in the result's image or resource content block.
    Base64,
}

/// The structured result of `file_read` (one file of `file_read_many`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FileReadOutput {
    /// The file's canonical absolute path.
    pub path: String,
    /// Size of the whole file in bytes.
    pub size: u64,
    /// MIME type, from the contents and the file name.
    pub mime_type: String,
    /// How the returned bytes are encoded.
    pub encoding: Encoding,
    /// The text returned (absent for binary files, whose data is in a content block).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Offset of the first byte returned (0-based).
    pub byte_start: u64,
    /// Offset just past the last byte returned.
    pub byte_end: u64,
    /// Line of the first byte returned (1-based), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_start: Option<u64>,
    /// Line of the last byte returned (1-based, inclusive), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_end: Option<u64>,
    /// Number of lines in the file, when the read reached its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_lines: Option<u64>,
    /// True when the size cap stopped the read before the requested end.
    pub truncated: bool,
    /// When truncated: the `byte_offset` to continue from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<u64>,
    /// When truncated at a line boundary: the `line_start` to continue from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_line: Option<u64>,
    /// A note for the reader: truncation, adjusted ranges, binary data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What to read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    Whole,
    Lines { start: u64, end: Option<u64> },
    Tail(u64),
    Bytes { offset: u64, len: Option<u64> },
    Selection(Selection),
}

impl FileReadArgs {
    fn mode(&self) -> Result<Mode, HandlerError> {
        // The schema says so too; checked again so no caller can reach the arithmetic with 0.
        for (name, v) in [
            ("line_start", self.line_start),
            ("line_end", self.line_end),
            ("head", self.head),
            ("tail", self.tail),
            ("byte_length", self.byte_length),
        ] {
            if v == Some(0) {
                return Err(fail(format!("{name} must be at least 1")));
            }
        }
        let mut given = Vec::new();
        if self.line_start.is_some() || self.line_end.is_some() {
            given.push("line_start/line_end");
        }
        if self.head.is_some() {
            given.push("head");
        }
        if self.tail.is_some() {
            given.push("tail");
        }
        if self.byte_offset.is_some() || self.byte_length.is_some() {
            given.push("byte_offset/byte_length");
        }
        if self.selection.is_some() {
            given.push("selection");
        }
        if given.len() > 1 {
            return Err(fail(format!(
                "give only one way to choose what to read; got {}",
                given.join(" and ")
            )));
        }
        if let Some(n) = self.head {
            return Ok(Mode::Lines {
                start: 1,
                end: Some(n),
            });
        }
        if let Some(n) = self.tail {
            return Ok(Mode::Tail(n));
        }
        if let Some(s) = self.selection {
            return Ok(Mode::Selection(s));
        }
        if self.byte_offset.is_some() || self.byte_length.is_some() {
            return Ok(Mode::Bytes {
                offset: self.byte_offset.unwrap_or(0),
                len: self.byte_length,
            });
        }
        if self.line_start.is_some() || self.line_end.is_some() {
            let start = self.line_start.unwrap_or(1);
            if let Some(end) = self.line_end
                && end < start
            {
                return Err(fail(format!(
                    "line_end ({end}) is before line_start ({start})"
                )));
            }
            return Ok(Mode::Lines {
                start,
                end: self.line_end,
            });
        }
        Ok(Mode::Whole)
    }
}

/// How to read one file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadOptions {
    pub(crate) mode: Mode,
    pub(crate) lossy: bool,
    /// Cap on returned text, bytes.
    pub(crate) max_text: u64,
    /// Cap on returned binary data, raw bytes.
    pub(crate) max_binary: u64,
}

/// Reads one resolved file: the structured output and the content blocks.
pub(crate) fn read_file(
    rp: &ResolvedPath,
    opts: &ReadOptions,
) -> Result<(FileReadOutput, Vec<Content>), HandlerError> {
    let (file, md) = rp.open_file_with_metadata()?;
    let (sniff, head) = text::sniff_head(rp, &file, md.len())?;
    if sniff.binary {
        return read_binary(rp, &file, md.len(), sniff.mime, sniff.image, opts);
    }
    read_text(rp, &file, &md, head, sniff.mime, opts)
}

fn read_binary(
    rp: &ResolvedPath,
    file: &File,
    size: u64,
    mime: &str,
    is_image: bool,
    opts: &ReadOptions,
) -> Result<(FileReadOutput, Vec<Content>), HandlerError> {
    let path = rp.display();
    let cap = opts.max_binary;
    let (start, want) = match opts.mode {
        Mode::Whole => {
            if is_image && size > cap {
                return Err(fail(format!(
                    "{path} is a {mime} image of {size} bytes, more than the {cap}-byte limit for \
                     binary content; it cannot be returned as an image (byte_offset/byte_length \
                     return raw parts of it)"
                )));
            }
            (0, size)
        }
        Mode::Bytes { offset, len } => {
            if offset > size {
                return Err(fail(format!(
                    "byte_offset {offset} is past the end of {path} ({size} bytes)"
                )));
            }
            (offset, len.unwrap_or(size - offset).min(size - offset))
        }
        _ => {
            return Err(fail(format!(
                "{path} is a binary file ({mime}, {size} bytes); line, head, tail and selection \
                 reads apply to text only. Read it whole, or raw bytes with byte_offset/byte_length \
                 (returned as base64)"
            )));
        }
    };
    let take = want.min(cap);
    let data = text::read_range(file, start, take).map_err(|e| rp.io(e))?;
    let end = start + data.len() as u64;
    let whole = start == 0 && end == size;
    let truncated = take < want;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&data);
    let shown_mime = if whole {
        mime
    } else {
        "application/octet-stream"
    };
    let mut note = format!(
        "{path}: binary file ({mime}, {size} bytes); bytes {start}..{end} returned as base64 {}.",
        if whole && is_image {
            "image content"
        } else {
            "resource content"
        }
    );
    if truncated {
        note.push_str(&format!(
            " Capped at {cap} bytes: continue with byte_offset: {end} to read the rest."
        ));
    }
    let block = if whole && is_image {
        Content::image(b64, mime)
    } else {
        Content::resource(ResourceContents::blob(
            text::file_uri(rp.absolute()),
            Some(shown_mime),
            b64,
        ))
    };
    let out = FileReadOutput {
        path,
        size,
        mime_type: mime.to_owned(),
        encoding: Encoding::Base64,
        text: None,
        byte_start: start,
        byte_end: end,
        line_start: None,
        line_end: None,
        total_lines: None,
        truncated,
        next_offset: truncated.then_some(end),
        next_line: None,
        note: Some(note.clone()),
    };
    Ok((out, vec![Content::text(note), block]))
}

/// Reads text. `head` is the start of the file as read when sniffing it (all of it when
/// shorter than [`text::SNIFF_BYTES`]): a range inside it is not read again.
fn read_text(
    rp: &ResolvedPath,
    file: &File,
    md: &Metadata,
    head: Vec<u8>,
    mime: &str,
    opts: &ReadOptions,
) -> Result<(FileReadOutput, Vec<Content>), HandlerError> {
    let size = md.len();
    let path = rp.display();
    let io = |e| rp.io(e);
    let past_end = |what: &str, line: u64, total: u64| {
        fail(format!(
            "{what} {line} is past the end of {path}, which has {total} lines"
        ))
    };
    // The requested byte range, the line it starts on (when it starts a line), whether a cap
    // cut should fall on a line boundary, and what is known of the line count.
    let cap = opts.max_text;
    let mut total_lines = None;
    let mut lines_reported = None;
    let mut lines = Lines::new(file, md);
    let (start, end, first_line, cut_at_lines) = match opts.mode {
        Mode::Whole => (0, size, Some(1), true),
        Mode::Lines { start: l, end: m } => {
            let s = match lines.line_start(l, u64::MAX).map_err(io)? {
                LineStart::At(o) => o,
                LineStart::Past(0) if l == 1 => 0, // an empty file
                LineStart::Past(t) => return Err(past_end("line_start", l, t)),
                LineStart::Beyond => return Err(fail("line scan stopped early")),
            };
            let e = match m {
                None => size,
                // Past the cap the end does not matter: the read stops there anyway.
                Some(m) => match lines
                    .line_start(m.saturating_add(1), s.saturating_add(cap))
                    .map_err(io)?
                {
                    LineStart::At(o) => o,
                    LineStart::Past(t) => {
                        total_lines = Some(t);
                        size
                    }
                    LineStart::Beyond => size,
                },
            };
            (s, e, Some(l), true)
        }
        Mode::Tail(n) => {
            let (s, first) = lines.tail_start(n).map_err(io)?;
            (s, size, Some(first), true)
        }
        Mode::Bytes { offset, len } => {
            if offset > size {
                return Err(fail(format!(
                    "byte_offset {offset} is past the end of {path} ({size} bytes)"
                )));
            }
            let end = match len {
                Some(len) => offset.saturating_add(len).min(size),
                None => size,
            };
            (offset, end, None, false)
        }
        Mode::Selection(sel) => {
            if sel.start_line == 0
                || sel.start_column == 0
                || sel.end_line == 0
                || sel.end_column == 0
            {
                return Err(fail("selection lines and columns are 1-based"));
            }
            if (sel.end_line, sel.end_column) < (sel.start_line, sel.start_column) {
                return Err(fail("the selection ends before it starts"));
            }
            let sl = match lines.line_start(sel.start_line, u64::MAX).map_err(io)? {
                LineStart::At(o) => o,
                LineStart::Past(0) if sel.start_line == 1 => 0,
                LineStart::Past(t) => {
                    return Err(past_end("selection start_line", sel.start_line, t));
                }
                LineStart::Beyond => return Err(fail("line scan stopped early")),
            };
            let s = text::column_offset(file, size, sl, sel.start_column).map_err(io)?;
            let (e, last_line) = match lines
                .line_start(sel.end_line, s.saturating_add(cap))
                .map_err(io)?
            {
                LineStart::At(el) => (
                    text::column_offset(file, size, el, sel.end_column).map_err(io)?,
                    Some(sel.end_line),
                ),
                LineStart::Past(t) => {
                    total_lines = Some(t);
                    (size, Some(t.max(sel.start_line)))
                }
                // Longer than the cap: cut there, where the end line is not known.
                LineStart::Beyond => (size, None),
            };
            lines_reported = Some((sel.start_line, last_line));
            (s, e.max(s), None, false)
        }
    };

    drop(lines);

    let want = end - start;
    let take = want.min(cap);
    let mut buf = match usize::try_from(start.saturating_add(take)) {
        // All of what was sniffed (a small file read whole): no copy.
        Ok(stop) if start == 0 && stop == head.len() => head,
        Ok(stop) if stop <= head.len() => head[start as usize..stop].to_vec(),
        _ => text::read_range(file, start, take).map_err(io)?,
    };
    let mut start = start;
    let mut notes = Vec::new();
    if matches!(opts.mode, Mode::Bytes { .. }) {
        let k = text::utf8_leading_continuations(&buf);
        if k > 0 {
            buf.drain(..k);
            start += k as u64;
            notes.push(format!(
                "The range was moved forward {k} bytes to start on a whole character."
            ));
        }
    }
    let truncated = take < want && (buf.len() as u64) == take;
    if truncated {
        let cut = if cut_at_lines {
            memchr::memrchr(b'\n', &buf).map(|i| i + 1)
        } else {
            None
        };
        let keep = cut.unwrap_or_else(|| text::utf8_complete_len(&buf));
        buf.truncate(keep);
    } else if start + (buf.len() as u64) < size {
        let keep = text::utf8_complete_len(&buf);
        if keep < buf.len() {
            notes.push(format!(
                "The range was shortened {} bytes to end on a whole character.",
                buf.len() - keep
            ));
            buf.truncate(keep);
        }
    }
    let byte_end = start + buf.len() as u64;

    let (line_start, line_end, next_line) = match (lines_reported, first_line) {
        (Some((a, b)), _) => (Some(a), b, None),
        (None, Some(first)) if !buf.is_empty() => {
            let inner = bytecount::count(&buf[..buf.len() - 1], b'\n') as u64;
            let last = first + inner;
            let next = (truncated && buf.last() == Some(&b'\n')).then_some(last + 1);
            (Some(first), Some(last), next)
        }
        _ => (None, None, None),
    };
    if byte_end == size && first_line.is_some() && lines_reported.is_none() {
        total_lines = line_end.or(Some(0));
    }

    let (text, encoding) = match String::from_utf8(buf) {
        Ok(s) => (s, Encoding::Utf8),
        Err(e) if opts.lossy => (
            String::from_utf8_lossy(e.as_bytes()).into_owned(),
            Encoding::Utf8Lossy,
        ),
        Err(e) => {
            let at = start + e.utf8_error().valid_up_to() as u64;
            return Err(fail(format!(
                "{path} is not valid UTF-8 (invalid byte at offset {at}); it may be in another \
                 encoding. Pass lossy: true to read it with invalid bytes replaced by U+FFFD"
            )));
        }
    };
    let next_offset = truncated.then_some(byte_end);
    if truncated {
        let lines = match (line_start, line_end) {
            (Some(a), Some(b)) => format!("lines {a}-{b}, "),
            _ => String::new(),
        };
        let how = match next_line {
            Some(l) => format!("line_start: {l} (or byte_offset: {byte_end})"),
            None => format!("byte_offset: {byte_end}"),
        };
        notes.insert(
            0,
            format!(
                "Output capped at {cap} bytes: returned {lines}bytes {start}..{byte_end} of {size}. \
                 To read on, call file_read again with {how}."
            ),
        );
    }
    let note = (!notes.is_empty()).then(|| notes.join(" "));
    let mut content = vec![Content::text(text.clone())];
    if let Some(n) = &note {
        content.push(Content::text(n.clone()));
    }
    let out = FileReadOutput {
        path,
        size,
        mime_type: mime.to_owned(),
        encoding,
        text: Some(text),
        byte_start: start,
        byte_end,
        line_start,
        line_end,
        total_lines,
        truncated,
        next_offset,
        next_line,
        note,
    };
    Ok((out, content))
}

/// What `file_read` does, on the calling thread (it blocks on file I/O): the tool without its
/// async wrapper, for embedders that call it directly and for benchmarks.
pub fn file_read(guard: &Roots, args: &FileReadArgs) -> Result<CallToolResult, HandlerError> {
    let mode = args.mode()?;
    let rp = guard.resolve(&args.path)?;
    let opts = ReadOptions {
        mode,
        lossy: args.lossy,
        max_text: args.max_bytes.clamp(1024, MAX_MAX_BYTES),
        max_binary: BINARY_MAX_BYTES,
    };
    let (mut out, content) = read_file(&rp, &opts)?;
    // The text goes into `structuredContent` moved, not serialized into a copy.
    let text = out.text.take();
    let mut result = with_structured(content, &out);
    if let (Some(text), Some(serde_json::Value::Object(map))) =
        (text, result.structured_content.as_mut())
    {
        map.insert("text".into(), serde_json::Value::String(text));
    }
    Ok(result)
}

/// The `file_read` tool: reads one file inside the allowed roots.
pub fn file_read_tool(guard: Arc<Roots>) -> ToolDef {
    ToolDef::new(
        "file_read",
        "Read a file inside the allowed roots. Text is returned whole or in part: a line range \
         (line_start/line_end, 1-based inclusive), head or tail N lines, a byte range \
         (byte_offset/byte_length), or a line+column selection. Output is capped (max_bytes, \
         default 32 KiB, about 8k tokens, under what MCP clients accept); a capped result says where to continue. Invalid UTF-8 is an error \
         unless lossy is set. Images (PNG, JPEG, GIF, WebP) come back as image content, other \
         binary files as base64 blob resources.",
        move |args: FileReadArgs, _cx: RequestContext| {
            let guard = guard.clone();
            async move {
                // A small cached file is read right here (see `crate::inline`); anything
                // that could wait for the disk goes to the blocking pool.
                if let Some(done) =
                    crate::inline::attempt(crate::inline::BUDGET_BYTES, || file_read(&guard, &args))
                {
                    return done;
                }
                blocking(move || file_read(&guard, &args)).await
            }
        },
    )
    .title("Read file")
    .annotations(read_only_annotations("Read file"))
    .output_schema::<FileReadOutput>()
}

/// Arguments of `file_read_many`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileReadManyArgs {
    /// The files, each a path relative to the first allowed root or absolute inside a root.
    #[schemars(length(min = 1, max = 100))]
    pub paths: Vec<String>,
    /// Replace invalid UTF-8 with U+FFFD instead of failing (default false).
    #[serde(default)]
    pub lossy: bool,
    /// Most bytes to return for all files together (default 32768 = 32 KiB, at most
    /// 4194304). Files are read in order; each gets what the ones before left.
    #[serde(default = "default_max_bytes")]
    #[schemars(range(min = 1024, max = 4194304))]
    pub max_bytes: u64,
}

/// How one file of `file_read_many` went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadStatus {
    /// Read (possibly truncated; see `file.truncated`).
    Ok,
    /// Failed; see `error`.
    Error,
    /// Not read: the output budget was used up by the files before it.
    Skipped,
}

/// One file of `file_read_many`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FileReadManyEntry {
    /// The path as given.
    pub path: String,
    /// How it went.
    pub status: ReadStatus,
    /// Why it failed or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The result, when read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileReadOutput>,
}

/// The structured result of `file_read_many`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FileReadManyOutput {
    /// One entry per requested path, in order.
    pub files: Vec<FileReadManyEntry>,
    /// How many were read.
    pub read: usize,
    /// How many failed.
    pub failed: usize,
    /// How many were skipped for lack of budget.
    pub skipped: usize,
}

/// Smallest budget worth starting a file with.
const MIN_FILE_BUDGET: u64 = 1024;

fn read_many(guard: &Roots, args: &FileReadManyArgs) -> CallToolResult {
    let mut budget = args.max_bytes.clamp(1024, MAX_MAX_BYTES);
    let mut content = Vec::new();
    let mut files = Vec::with_capacity(args.paths.len());
    for p in &args.paths {
        let header = format!("==> {p} <==");
        if budget < MIN_FILE_BUDGET {
            let msg = "skipped: the output budget (max_bytes) was used up by the files before it; \
                       read it with file_read or a larger max_bytes"
                .to_owned();
            content.push(Content::text(format!("{header}\n{msg}")));
            files.push(FileReadManyEntry {
                path: p.clone(),
                status: ReadStatus::Skipped,
                error: Some(msg),
                file: None,
            });
            continue;
        }
        let opts = ReadOptions {
            mode: Mode::Whole,
            lossy: args.lossy,
            max_text: budget,
            max_binary: budget,
        };
        let res = guard
            .resolve(p)
            .map_err(HandlerError::from)
            .and_then(|rp| read_file(&rp, &opts));
        match res {
            Ok((out, blocks)) => {
                budget = budget.saturating_sub(out.byte_end - out.byte_start);
                let mut blocks = blocks.into_iter();
                if let Some(first) = blocks.next() {
                    match first.as_text() {
                        Some(t) => content.push(Content::text(format!("{header}\n{t}"))),
                        None => {
                            content.push(Content::text(header));
                            content.push(first);
                        }
                    }
                }
                content.extend(blocks);
                files.push(FileReadManyEntry {
                    path: p.clone(),
                    status: ReadStatus::Ok,
                    error: None,
                    file: Some(out),
                });
            }
            Err(e) => {
                let msg = e.to_string();
                content.push(Content::text(format!("{header}\nerror: {msg}")));
                files.push(FileReadManyEntry {
                    path: p.clone(),
                    status: ReadStatus::Error,
                    error: Some(msg),
                    file: None,
                });
            }
        }
    }
    let count = |s| files.iter().filter(|f| f.status == s).count();
    let out = FileReadManyOutput {
        read: count(ReadStatus::Ok),
        failed: count(ReadStatus::Error),
        skipped: count(ReadStatus::Skipped),
        files,
    };
    let mut r = with_structured(content, &out);
    if out.read == 0 && out.failed > 0 && out.skipped == 0 {
        r.is_error = Some(true);
    }
    r
}

/// The `file_read_many` tool: reads several whole files in one call. Each file succeeds or
/// fails on its own (its entry says which); the call is an error only when every file
/// failed.
pub fn file_read_many_tool(guard: Arc<Roots>) -> ToolDef {
    ToolDef::new(
        "file_read_many",
        "Read several files inside the allowed roots in one call, whole, in order. Each file \
         succeeds or fails on its own (its entry says which); the call fails only if every file \
         failed. All files share one output budget (max_bytes, default 32 KiB); files past it \
         are skipped with a note, and a file cut by it says where to continue with file_read.",
        move |args: FileReadManyArgs, _cx: RequestContext| {
            let guard = guard.clone();
            async move {
                if let Some(done) =
                    crate::inline::attempt(crate::inline::BUDGET_BYTES, || read_many(&guard, &args))
                {
                    return Ok(done);
                }
                blocking(move || Ok(read_many(&guard, &args))).await
            }
        },
    )
    .title("Read several files")
    .annotations(read_only_annotations("Read several files"))
    .output_schema::<FileReadManyOutput>()
}
