//! Line arithmetic on open files with positional reads: newline counting with SIMD
//! (`bytecount`, `memchr`) over a reused buffer, never reading more than needed.

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Bytes read per positional read while scanning: small enough to stay in L2 cache between
/// the read and the count, and to stay below the allocator's mmap threshold (reads into a
/// freshly mmapped buffer measured several times slower).
const CHUNK: usize = 64 * 1024;

thread_local! {
    /// The scan buffer, reused across calls on the same (blocking-pool) thread.
    static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with the thread's scan buffer, sized to [`CHUNK`].
fn with_buf<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    BUF.with(|b| match b.try_borrow_mut() {
        Ok(mut b) => {
            if b.len() < CHUNK {
                b.resize(CHUNK, 0);
            }
            f(&mut b[..CHUNK])
        }
        // Re-entered (cannot happen today): use a fresh buffer.
        Err(_) => f(&mut vec![0; CHUNK]),
    })
}

/// Reads as much of `buf` as the file has at `offset`; returns the count (short only at EOF).
pub(crate) fn read_at_full(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Reads `len` bytes at `offset` (fewer if the file ends first).
pub(crate) fn read_range(file: &File, offset: u64, len: u64) -> io::Result<Vec<u8>> {
    let len = usize::try_from(len).map_err(|_| io::Error::other("range too large"))?;
    let mut v = vec![0; len];
    let n = read_at_full(file, &mut v, offset)?;
    v.truncate(n);
    Ok(v)
}

/// Where a line search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineStart {
    /// The line starts at this byte offset.
    At(u64),
    /// The file ends first; it has this many lines.
    Past(u64),
    /// The scan passed the byte limit first.
    Beyond,
}

/// Number of lines in a file of `size` bytes whose last byte is `last`, given the number of
/// newlines: a final line without a newline counts, an empty file has none.
fn lines_from_newlines(newlines: u64, size: u64, last_is_newline: bool) -> u64 {
    if size == 0 {
        0
    } else if last_is_newline {
        newlines
    } else {
        newlines + 1
    }
}

/// Finds the start of line `target` (1-based), scanning forward from `from`, a byte offset
/// at which line `from_line` starts. Gives up with [`LineStart::Beyond`] once past the byte
/// offset `limit` (the scan reads in chunks, so it may look a little further).
pub(crate) fn find_line_start(
    file: &File,
    size: u64,
    from: u64,
    from_line: u64,
    target: u64,
    limit: u64,
) -> io::Result<LineStart> {
    debug_assert!(target >= from_line);
    if target <= from_line {
        return Ok(if from < size {
            LineStart::At(from)
        } else {
            LineStart::Past(from_line.saturating_sub(1))
        });
    }
    let mut need = target - from_line; // newlines still to pass
    let mut pos = from;
    let mut line = from_line;
    with_buf(|buf| {
        let mut last_newline = false;
        while pos < size {
            if pos > limit {
                return Ok(LineStart::Beyond);
            }
            let want = usize::try_from((size - pos).min(CHUNK as u64)).unwrap_or(CHUNK);
            let n = read_at_full(file, &mut buf[..want], pos)?;
            if n == 0 {
                break;
            }
            let chunk = &buf[..n];
            let c = bytecount::count(chunk, b'\n') as u64;
            if c < need {
                need -= c;
                line += c;
                last_newline = chunk[n - 1] == b'\n';
                pos += n as u64;
                continue;
            }
            let idx = memchr::memchr_iter(b'\n', chunk)
                .nth(usize::try_from(need - 1).unwrap_or(usize::MAX))
                .ok_or_else(|| io::Error::other("newline count mismatch"))?;
            let at = pos + idx as u64 + 1;
            if at >= size {
                // The newline found is the file's last byte: no line starts after it.
                return Ok(LineStart::Past(target - 1));
            }
            return Ok(LineStart::At(at));
        }
        // EOF: `line` is the number of the line containing `pos`.
        let newlines = line - 1;
        Ok(LineStart::Past(lines_from_newlines(
            newlines,
            size,
            last_newline || size == from,
        )))
    })
}

/// Counts newlines in `[from, to)`.
pub(crate) fn count_newlines(file: &File, from: u64, to: u64) -> io::Result<u64> {
    let mut pos = from;
    let mut total = 0u64;
    with_buf(|buf| {
        while pos < to {
            let want = usize::try_from((to - pos).min(CHUNK as u64)).unwrap_or(CHUNK);
            let n = read_at_full(file, &mut buf[..want], pos)?;
            if n == 0 {
                break;
            }
            total += bytecount::count(&buf[..n], b'\n') as u64;
            pos += n as u64;
        }
        Ok(total)
    })
}

/// Number of lines in the whole file.
pub(crate) fn count_lines(file: &File, size: u64) -> io::Result<u64> {
    if size == 0 {
        return Ok(0);
    }
    let newlines = count_newlines(file, 0, size)?;
    let mut last = [0u8; 1];
    read_at_full(file, &mut last, size - 1)?;
    Ok(lines_from_newlines(newlines, size, last[0] == b'\n'))
}

/// Start offset of the last `n` lines (n ≥ 1), and the 1-based number of the first of them.
pub(crate) fn tail_start(file: &File, size: u64, n: u64) -> io::Result<(u64, u64)> {
    if size == 0 || n == 0 {
        return Ok((0, 1));
    }
    let mut last = [0u8; 1];
    read_at_full(file, &mut last, size - 1)?;
    // A final newline ends the last line; it does not start another.
    let mut end = if last[0] == b'\n' { size - 1 } else { size };
    let mut need = n; // newlines to find going backward
    let start = with_buf(|buf| -> io::Result<u64> {
        while end > 0 {
            let len = (end.min(CHUNK as u64)) as usize;
            let off = end - len as u64;
            let got = read_at_full(file, &mut buf[..len], off)?;
            let chunk = &buf[..got];
            let c = bytecount::count(chunk, b'\n') as u64;
            if c < need {
                need -= c;
                end = off;
                continue;
            }
            let idx = memchr::memrchr_iter(b'\n', chunk)
                .nth(usize::try_from(need - 1).unwrap_or(usize::MAX))
                .ok_or_else(|| io::Error::other("newline count mismatch"))?;
            return Ok(off + idx as u64 + 1);
        }
        Ok(0)
    })?;
    let first_line = 1 + count_newlines(file, 0, start)?;
    Ok((start, first_line))
}

/// Byte offset of column `column` (1-based, counted in Unicode characters) of the line that
/// starts at `line_start`. A column past the end of the line gives the end of the line
/// (before `\r\n` or `\n`).
pub(crate) fn column_offset(
    file: &File,
    size: u64,
    line_start: u64,
    column: u64,
) -> io::Result<u64> {
    if column <= 1 {
        return Ok(line_start);
    }
    let mut pos = line_start;
    let mut chars = 0u64;
    let mut prev_cr = false;
    with_buf(|buf| {
        while pos < size {
            let want = usize::try_from((size - pos).min(CHUNK as u64)).unwrap_or(CHUNK);
            let n = read_at_full(file, &mut buf[..want], pos)?;
            if n == 0 {
                break;
            }
            for (i, &b) in buf[..n].iter().enumerate() {
                if b == b'\n' {
                    let at = pos + i as u64;
                    return Ok(if prev_cr { at - 1 } else { at });
                }
                if b & 0xC0 != 0x80 {
                    chars += 1;
                    if chars == column {
                        return Ok(pos + i as u64);
                    }
                }
                prev_cr = b == b'\r';
            }
            pos += n as u64;
        }
        Ok(if prev_cr { size - 1 } else { size })
    })
}

/// The length of the longest prefix of `buf` that does not end inside a UTF-8 sequence.
pub(crate) fn utf8_complete_len(buf: &[u8]) -> usize {
    let len = buf.len();
    for back in 1..=len.min(4) {
        let i = len - back;
        let b = buf[i];
        if b & 0xC0 == 0x80 {
            continue; // continuation byte: keep looking for the lead byte
        }
        let need = match b {
            0x00..=0x7F => 1,
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            _ => 4,
        };
        return if back < need { i } else { len };
    }
    len
}

/// The number of leading continuation bytes (at most 3): where the first whole character
/// starts when a range begins inside one.
pub(crate) fn utf8_leading_continuations(buf: &[u8]) -> usize {
    buf.iter()
        .take(3)
        .take_while(|&&b| b & 0xC0 == 0x80)
        .count()
}

/// Image formats recognized by their first bytes, with their MIME type.
pub(crate) fn image_mime(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if head.starts_with(b"\xFF\xD8\xFF") {
        Some("image/jpeg")
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// What a file's name and first bytes say about it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sniff {
    /// The MIME type.
    pub(crate) mime: &'static str,
    /// Binary (not to be read as text).
    pub(crate) binary: bool,
    /// An image format clients can show (PNG, JPEG, GIF, WebP), recognized by its bytes.
    pub(crate) image: bool,
}

/// How many leading bytes [`sniff_file`] looks at.
pub(crate) const SNIFF_BYTES: usize = 8192;

/// Reads the first [`SNIFF_BYTES`] of an open file and sniffs them with its name.
pub(crate) fn sniff_file(
    rp: &crate::ResolvedPath,
    file: &File,
) -> Result<Sniff, crate::GuardError> {
    let mut head = vec![0u8; SNIFF_BYTES];
    let n = read_at_full(file, &mut head, 0).map_err(|e| rp.io(e))?;
    head.truncate(n);
    let name = rp
        .absolute()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(sniff(&name, &head))
}

/// Tells binary from text: a NUL byte in `head` (the first 8 KiB), an image signature, or a
/// binary format's extension.
pub(crate) fn sniff(name: &str, head: &[u8]) -> Sniff {
    let (name_mime, name_binary) = mime_from_name(name);
    if let Some(m) = image_mime(head) {
        return Sniff {
            mime: m,
            binary: true,
            image: true,
        };
    }
    if name_binary {
        return Sniff {
            mime: name_mime,
            binary: true,
            image: false,
        };
    }
    if memchr::memchr(0, head).is_some() {
        return Sniff {
            mime: "application/octet-stream",
            binary: true,
            image: false,
        };
    }
    Sniff {
        mime: name_mime,
        binary: false,
        image: false,
    }
}

/// A MIME type guessed from the file name's extension, and whether that extension means a
/// binary format.
pub(crate) fn mime_from_name(name: &str) -> (&'static str, bool) {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "png" => ("image/png", true),
        "jpg" | "jpeg" => ("image/jpeg", true),
        "gif" => ("image/gif", true),
        "webp" => ("image/webp", true),
        "bmp" => ("image/bmp", true),
        "ico" => ("image/vnd.microsoft.icon", true),
        "tif" | "tiff" => ("image/tiff", true),
        "avif" => ("image/avif", true),
        "pdf" => ("application/pdf", true),
        "zip" | "jar" => ("application/zip", true),
        "gz" | "tgz" => ("application/gzip", true),
        "zst" => ("application/zstd", true),
        "xz" => ("application/x-xz", true),
        "bz2" => ("application/x-bzip2", true),
        "7z" => ("application/x-7z-compressed", true),
        "tar" => ("application/x-tar", true),
        "wasm" => ("application/wasm", true),
        "mp3" => ("audio/mpeg", true),
        "wav" => ("audio/wav", true),
        "ogg" => ("audio/ogg", true),
        "flac" => ("audio/flac", true),
        "mp4" => ("video/mp4", true),
        "webm" => ("video/webm", true),
        "woff" => ("font/woff", true),
        "woff2" => ("font/woff2", true),
        "ttf" => ("font/ttf", true),
        "otf" => ("font/otf", true),
        "exe" | "dll" | "so" | "dylib" | "o" | "a" | "rlib" | "class" | "pyc" | "bin" => {
            ("application/octet-stream", true)
        }
        "sqlite" | "db" => ("application/vnd.sqlite3", true),
        "svg" => ("image/svg+xml", false),
        "json" => ("application/json", false),
        "toml" => ("application/toml", false),
        "yaml" | "yml" => ("application/yaml", false),
        "xml" => ("application/xml", false),
        "html" | "htm" => ("text/html", false),
        "css" => ("text/css", false),
        "csv" => ("text/csv", false),
        "md" | "markdown" => ("text/markdown", false),
        "js" | "mjs" | "cjs" => ("text/javascript", false),
        "ts" | "tsx" => ("text/x-typescript", false),
        "rs" => ("text/x-rust", false),
        "py" => ("text/x-python", false),
        "go" => ("text/x-go", false),
        "c" | "h" => ("text/x-c", false),
        "cc" | "cpp" | "cxx" | "hpp" => ("text/x-c++", false),
        "java" => ("text/x-java", false),
        "sh" | "bash" => ("application/x-sh", false),
        _ => ("text/plain", false),
    }
}

/// A `file://` URI for an absolute path, percent-encoding what URIs do not allow.
pub(crate) fn file_uri(path: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut s = String::from("file://");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(content: &[u8]) -> (tempfile::NamedTempFile, File, u64) {
        let mut t = tempfile::NamedTempFile::new().expect("temp");
        t.write_all(content).expect("write");
        let f = t.reopen().expect("reopen");
        (t, f, content.len() as u64)
    }

    #[test]
    fn line_starts() {
        let (_t, f, n) = file(b"a\nbb\n\nccc");
        assert_eq!(
            find_line_start(&f, n, 0, 1, 1, u64::MAX).ok(),
            Some(LineStart::At(0))
        );
        assert_eq!(
            find_line_start(&f, n, 0, 1, 2, u64::MAX).ok(),
            Some(LineStart::At(2))
        );
        assert_eq!(
            find_line_start(&f, n, 0, 1, 3, u64::MAX).ok(),
            Some(LineStart::At(5))
        );
        assert_eq!(
            find_line_start(&f, n, 0, 1, 4, u64::MAX).ok(),
            Some(LineStart::At(6))
        );
        assert_eq!(
            find_line_start(&f, n, 0, 1, 5, u64::MAX).ok(),
            Some(LineStart::Past(4))
        );
        assert_eq!(
            find_line_start(&f, n, 2, 2, 4, u64::MAX).ok(),
            Some(LineStart::At(6))
        );
        assert_eq!(count_lines(&f, n).ok(), Some(4));
        let (_t, f, n) = file(b"a\nb\n");
        assert_eq!(
            find_line_start(&f, n, 0, 1, 3, u64::MAX).ok(),
            Some(LineStart::Past(2))
        );
        assert_eq!(
            find_line_start(&f, n, 0, 1, 9, u64::MAX).ok(),
            Some(LineStart::Past(2))
        );
        assert_eq!(count_lines(&f, n).ok(), Some(2));
        let (_t, f, n) = file(b"");
        assert_eq!(
            find_line_start(&f, n, 0, 1, 1, u64::MAX).ok(),
            Some(LineStart::Past(0))
        );
        assert_eq!(count_lines(&f, n).ok(), Some(0));
    }

    #[test]
    fn tails() {
        let (_t, f, n) = file(b"1\n2\n3\n");
        assert_eq!(tail_start(&f, n, 1).ok(), Some((4, 3)));
        assert_eq!(tail_start(&f, n, 2).ok(), Some((2, 2)));
        assert_eq!(tail_start(&f, n, 9).ok(), Some((0, 1)));
        let (_t, f, n) = file(b"1\n2\n3");
        assert_eq!(tail_start(&f, n, 1).ok(), Some((4, 3)));
    }

    #[test]
    fn columns() {
        let (_t, f, n) = file("aé€x\r\nzz".as_bytes());
        assert_eq!(column_offset(&f, n, 0, 1).ok(), Some(0));
        assert_eq!(column_offset(&f, n, 0, 2).ok(), Some(1));
        assert_eq!(column_offset(&f, n, 0, 3).ok(), Some(3));
        assert_eq!(column_offset(&f, n, 0, 4).ok(), Some(6));
        assert_eq!(column_offset(&f, n, 0, 5).ok(), Some(7)); // end of line, before \r
        assert_eq!(column_offset(&f, n, 0, 99).ok(), Some(7));
        assert_eq!(column_offset(&f, n, 9, 2).ok(), Some(10));
        assert_eq!(column_offset(&f, n, 9, 9).ok(), Some(11));
    }

    #[test]
    fn utf8_edges() {
        let s = "a€".as_bytes(); // 61 E2 82 AC
        assert_eq!(utf8_complete_len(&s[..2]), 1);
        assert_eq!(utf8_complete_len(&s[..3]), 1);
        assert_eq!(utf8_complete_len(s), 4);
        assert_eq!(utf8_leading_continuations(&s[2..]), 2);
        assert_eq!(utf8_leading_continuations(s), 0);
    }
}
