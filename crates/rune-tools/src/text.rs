//! Line arithmetic on open files with positional reads: newline counting with SIMD
//! (`bytecount`, `memchr`) over a reused buffer, never reading more than needed, and a small
//! cache of per-file line indexes so that a line deep in a large file is found without
//! counting from the start again.
//!
//! # The line index
//!
//! [`Lines`] counts newlines block by block (16 KiB blocks, larger for files over 128 MiB)
//! and remembers the running count at each block boundary. Finding line N is then a binary
//! search over the counts and one read of one block. The index grows only as far as a
//! request needed; the next request continues where it stopped.
//!
//! Indexes of files of 256 KiB or more are kept (32 files at most) and reused while the
//! file's device, inode, size, modification time and status-change time (`ctime`) are all
//! unchanged. A file whose `ctime` is less than two seconds old when it is scanned is not
//! kept: the kernel stamps `ctime` at a coarse granularity (a clock tick, or a second on
//! some file systems), so a second change within the same tick could keep every field equal.
//! Once `ctime` lies further back than that granularity, any later change to the file's
//! contents sets `ctime` to a later time, which the next request sees. (`ctime` cannot be
//! set by a program, unlike `mtime`.) The one known way around it is a process writing
//! through a shared memory mapping, whose changes reach the timestamps late; such files are
//! stale in every timestamp-based cache (make, git) too.

use std::cell::RefCell;
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Bytes read per positional read while scanning: small enough to stay in L2 cache between
/// the read and the count, and to stay below the allocator's mmap threshold (reads into a
/// freshly mmapped buffer measured several times slower).
const CHUNK: usize = 128 * 1024;

/// Smallest block of a line index. A block is a power of two, at most [`CHUNK`].
const MIN_BLOCK: u64 = 16 * 1024;
/// A line index aims for at most this many blocks (larger files get larger blocks).
const TARGET_BLOCKS: u64 = 8192;
/// Files smaller than this are not worth caching: counting them costs a few microseconds.
const MIN_CACHED_SIZE: u64 = 256 * 1024;
/// Line indexes kept at most.
const CACHE_FILES: usize = 32;
/// Block counts kept at most over all cached indexes (8 bytes each: 8 MiB).
const CACHE_COUNTS: usize = 1 << 20;
/// A file whose `ctime` is younger than this is not cached (see the module docs).
const RACY: Duration = Duration::from_secs(2);

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
        match crate::inline::read_at(file, &mut buf[done..], offset + done as u64) {
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

/// The error of a file that got shorter while it was being read.
fn shrank() -> io::Error {
    io::Error::other("the file changed (got shorter) while it was being read; try again")
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

/// What identifies one version of a file's contents (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileId {
    fn of(md: &Metadata) -> Self {
        FileId {
            dev: md.dev(),
            ino: md.ino(),
            size: md.size(),
            mtime: (md.mtime(), md.mtime_nsec()),
            ctime: (md.ctime(), md.ctime_nsec()),
        }
    }

    fn same_file(&self, other: &FileId) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }

    /// Whether `ctime` is too recent to tell a later change by (or in the future).
    fn racy(&self, now: SystemTime) -> bool {
        let (secs, nanos) = self.ctime;
        let Ok(secs) = u64::try_from(secs) else {
            return false; // before 1970: long ago
        };
        let ctime = UNIX_EPOCH + Duration::new(secs, u32::try_from(nanos).unwrap_or(0));
        ctime + RACY > now
    }
}

/// Newline counts of a file at block boundaries.
#[derive(Debug, Clone)]
struct LineIndex {
    /// Block size in bytes: a power of two, at most [`CHUNK`].
    block: u64,
    /// `cum[i]` is the number of newlines in the first `i` blocks; `cum[0] == 0`. The last
    /// block of the file may be short.
    cum: Vec<u64>,
    /// The whole file has been counted.
    done: bool,
    /// When `done`: the file's last byte is a newline.
    last_newline: bool,
}

impl LineIndex {
    fn new(size: u64) -> Self {
        let block = (size / TARGET_BLOCKS)
            .max(1)
            .next_power_of_two()
            .clamp(MIN_BLOCK, CHUNK as u64);
        LineIndex {
            block,
            cum: vec![0],
            done: size == 0,
            last_newline: false,
        }
    }

    /// Bytes counted, from the start of the file.
    fn covered(&self, size: u64) -> u64 {
        ((self.cum.len() as u64 - 1) * self.block).min(size)
    }

    /// Newlines counted so far.
    fn newlines(&self) -> u64 {
        self.cum.last().copied().unwrap_or(0)
    }
}

/// The cache of line indexes (see the module docs).
#[derive(Debug)]
struct Cache {
    tick: u64,
    entries: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    id: FileId,
    used: u64,
    index: Arc<LineIndex>,
}

static CACHE: Mutex<Cache> = Mutex::new(Cache {
    tick: 0,
    entries: Vec::new(),
});

fn cache() -> MutexGuard<'static, Cache> {
    // A panic while holding the lock leaves the cache consistent (entries are replaced
    // whole), so a poisoned lock is still usable.
    CACHE.lock().unwrap_or_else(|e| e.into_inner())
}

impl Cache {
    /// The index of this version of the file; drops the entry of an older version.
    fn get(&mut self, id: &FileId) -> Option<Arc<LineIndex>> {
        let i = self.entries.iter().position(|e| e.id.same_file(id))?;
        if self.entries[i].id != *id {
            self.entries.swap_remove(i);
            return None;
        }
        self.tick += 1;
        self.entries[i].used = self.tick;
        Some(self.entries[i].index.clone())
    }

    /// Keeps `index` for this version of the file (unless a fuller one is kept already),
    /// evicting the least recently used indexes beyond the limits.
    fn put(&mut self, id: FileId, index: Arc<LineIndex>) {
        self.tick += 1;
        let used = self.tick;
        match self.entries.iter_mut().find(|e| e.id.same_file(&id)) {
            Some(e) if e.id == id && e.index.cum.len() >= index.cum.len() => e.used = used,
            Some(e) => *e = Entry { id, used, index },
            None => self.entries.push(Entry { id, used, index }),
        }
        loop {
            let counts: usize = self.entries.iter().map(|e| e.index.cum.len()).sum();
            if self.entries.len() <= CACHE_FILES && counts <= CACHE_COUNTS {
                break;
            }
            let Some(oldest) = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.used)
                .map(|(i, _)| i)
            else {
                break;
            };
            self.entries.swap_remove(oldest);
        }
    }
}

/// Line arithmetic on one open file: where line N starts, which line an offset is on, how
/// many lines there are. Uses and extends the file's cached line index (see the module
/// docs); what it learned is kept when it is dropped.
#[derive(Debug)]
pub(crate) struct Lines<'f> {
    file: &'f File,
    size: u64,
    /// The file's identity when its index may be cached.
    id: Option<FileId>,
    index: Arc<LineIndex>,
    grown: bool,
}

impl<'f> Lines<'f> {
    /// Line arithmetic on `file`, whose metadata (from `fstat` on this handle) is `md`.
    pub(crate) fn new(file: &'f File, md: &Metadata) -> Self {
        let id = FileId::of(md);
        let cacheable = md.len() >= MIN_CACHED_SIZE && !id.racy(SystemTime::now());
        let cached = if cacheable { cache().get(&id) } else { None };
        Lines {
            file,
            size: md.len(),
            id: cacheable.then_some(id),
            index: cached.unwrap_or_else(|| Arc::new(LineIndex::new(md.len()))),
            grown: false,
        }
    }

    /// Counts blocks past the counted part until `enough` says the index holds what is
    /// looked for. Returns false if it stopped because it passed the byte offset `limit`
    /// first (it reads in chunks, so it may look a little further); true when `enough` or
    /// the whole file is counted.
    fn extend(&mut self, limit: u64, enough: impl Fn(&LineIndex) -> bool) -> io::Result<bool> {
        if self.index.done || enough(&self.index) {
            return Ok(true);
        }
        let (file, size) = (self.file, self.size);
        let index = Arc::make_mut(&mut self.index);
        self.grown = true;
        let block = usize::try_from(index.block).unwrap_or(CHUNK);
        with_buf(|buf| {
            loop {
                let pos = index.covered(size);
                if pos > limit {
                    return Ok(false);
                }
                if pos >= size {
                    // Cannot happen (reaching the end sets `done`); never loop on it.
                    return Err(io::Error::other("line index past the end of the file"));
                }
                let want = usize::try_from((size - pos).min(CHUNK as u64)).unwrap_or(CHUNK);
                let n = read_at_full(file, &mut buf[..want], pos)?;
                if n < want {
                    return Err(shrank());
                }
                for piece in buf[..n].chunks(block) {
                    let c = bytecount::count(piece, b'\n') as u64;
                    index.cum.push(index.newlines() + c);
                    if index.covered(size) >= size {
                        index.done = true;
                        index.last_newline = piece.last() == Some(&b'\n');
                        return Ok(true);
                    }
                    if enough(index) {
                        return Ok(true);
                    }
                }
            }
        })
    }

    /// Number of lines in the file.
    pub(crate) fn count(&mut self) -> io::Result<u64> {
        self.extend(u64::MAX, |_| false)?;
        Ok(lines_from_newlines(
            self.index.newlines(),
            self.size,
            self.index.last_newline,
        ))
    }

    /// Finds the start of line `line` (1-based). Gives up with [`LineStart::Beyond`] once
    /// the count has to go past the byte offset `limit` (the scan reads in chunks, so it may
    /// look a little further).
    pub(crate) fn line_start(&mut self, line: u64, limit: u64) -> io::Result<LineStart> {
        if line <= 1 {
            return Ok(if self.size > 0 {
                LineStart::At(0)
            } else {
                LineStart::Past(0)
            });
        }
        let n = line - 1; // the newline that ends the line before
        if !self.extend(limit, |ix| ix.newlines() >= n)? {
            return Ok(LineStart::Beyond);
        }
        let ix = &self.index;
        // The first boundary with at least n newlines before it: block i - 1 holds the n-th.
        let i = ix.cum.partition_point(|&c| c < n);
        if i >= ix.cum.len() {
            return Ok(LineStart::Past(lines_from_newlines(
                ix.newlines(),
                self.size,
                ix.last_newline,
            )));
        }
        let b = i.saturating_sub(1);
        let from = b as u64 * ix.block;
        let len = ix.block.min(self.size - from);
        let k = n - ix.cum[b];
        let file = self.file;
        let idx = with_buf(|buf| -> io::Result<usize> {
            let len = usize::try_from(len).unwrap_or(CHUNK).min(buf.len());
            let got = read_at_full(file, &mut buf[..len], from)?;
            if got < len {
                return Err(shrank());
            }
            memchr::memchr_iter(b'\n', &buf[..len])
                .nth(usize::try_from(k - 1).unwrap_or(usize::MAX))
                .ok_or_else(|| io::Error::other("the file changed while it was being read"))
        })?;
        let at = from + idx as u64 + 1;
        Ok(if at >= self.size {
            // The newline found is the file's last byte: no line starts after it.
            LineStart::Past(n)
        } else {
            LineStart::At(at)
        })
    }

    /// The 1-based number of the line that holds byte `offset` (one more than the newlines
    /// before it).
    pub(crate) fn line_of(&mut self, offset: u64) -> io::Result<u64> {
        let offset = offset.min(self.size);
        let b = usize::try_from(offset / self.index.block).unwrap_or(usize::MAX);
        self.extend(u64::MAX, |ix| ix.cum.len() > b)?;
        let ix = &self.index;
        let base = *ix
            .cum
            .get(b)
            .ok_or_else(|| io::Error::other("line index shorter than the file"))?;
        let from = b as u64 * ix.block;
        let partial = if offset > from {
            count_newlines(self.file, from, offset)?
        } else {
            0
        };
        Ok(base + partial + 1)
    }

    /// Start offset of the last `n` lines (n ≥ 1), and the 1-based number of the first of
    /// them. Scans backward from the end; the line number comes from the index.
    pub(crate) fn tail_start(&mut self, n: u64) -> io::Result<(u64, u64)> {
        let (file, size) = (self.file, self.size);
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
        Ok((start, self.line_of(start)?))
    }
}

impl Drop for Lines<'_> {
    fn drop(&mut self) {
        let Some(id) = self.id.filter(|_| self.grown) else {
            return;
        };
        // Kept only if the file did not change while it was counted.
        if self.file.metadata().is_ok_and(|md| FileId::of(&md) == id) {
            cache().put(id, self.index.clone());
        }
    }
}

/// Counts newlines in `[from, to)`.
fn count_newlines(file: &File, from: u64, to: u64) -> io::Result<u64> {
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

/// Number of lines in the first `size` bytes of the file: the whole file, through its line
/// index, unless the file's size changed since the caller looked.
pub(crate) fn count_lines(file: &File, size: u64) -> io::Result<u64> {
    let md = file.metadata()?;
    if md.len() == size {
        return Lines::new(file, &md).count();
    }
    if size == 0 {
        return Ok(0);
    }
    let newlines = count_newlines(file, 0, size)?;
    let mut last = [0u8; 1];
    read_at_full(file, &mut last, size - 1)?;
    Ok(lines_from_newlines(newlines, size, last[0] == b'\n'))
}

/// Byte offset of column `column` (1-based, counted in Unicode characters) of the line that
/// starts at `line_start`. A column past the end of the line gives the end of the line
/// (before `\r\n` or `\n`). Reads 4 KiB first, then larger pieces for long lines.
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
    let mut step = 4096usize;
    with_buf(|buf| {
        while pos < size {
            let want = usize::try_from((size - pos).min(step as u64)).unwrap_or(step);
            step = (step * 2).min(CHUNK);
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
    sniff_head(rp, file, SNIFF_BYTES as u64).map(|(s, _)| s)
}

/// Like [`sniff_file`], for a file of `size` bytes (as `fstat` said), also returning the
/// bytes read: the first [`SNIFF_BYTES`] of the file, or all of it when it is shorter (read
/// with one `pread` when the size is right).
pub(crate) fn sniff_head(
    rp: &crate::ResolvedPath,
    file: &File,
    size: u64,
) -> Result<(Sniff, Vec<u8>), crate::GuardError> {
    let want = usize::try_from(size).map_or(SNIFF_BYTES, |s| s.min(SNIFF_BYTES));
    let mut head = vec![0u8; want];
    let n = read_at_full(file, &mut head, 0).map_err(|e| rp.io(e))?;
    head.truncate(n);
    let name = rp
        .absolute()
        .file_name()
        .unwrap_or_default()
        .to_string_lossy();
    Ok((sniff(&name, &head), head))
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

    fn lines(f: &File) -> Lines<'_> {
        let md = f.metadata().expect("fstat");
        Lines::new(f, &md)
    }

    fn start(f: &File, line: u64) -> Option<LineStart> {
        lines(f).line_start(line, u64::MAX).ok()
    }

    #[test]
    fn line_starts() {
        let (_t, f, n) = file(b"a\nbb\n\nccc");
        assert_eq!(start(&f, 1), Some(LineStart::At(0)));
        assert_eq!(start(&f, 2), Some(LineStart::At(2)));
        assert_eq!(start(&f, 3), Some(LineStart::At(5)));
        assert_eq!(start(&f, 4), Some(LineStart::At(6)));
        assert_eq!(start(&f, 5), Some(LineStart::Past(4)));
        let mut l = lines(&f);
        assert_eq!(l.line_start(4, u64::MAX).ok(), Some(LineStart::At(6)));
        assert_eq!(l.line_start(2, u64::MAX).ok(), Some(LineStart::At(2)));
        assert_eq!(l.line_of(0).ok(), Some(1));
        assert_eq!(l.line_of(2).ok(), Some(2));
        assert_eq!(l.line_of(6).ok(), Some(4));
        assert_eq!(l.line_of(n).ok(), Some(4));
        assert_eq!(count_lines(&f, n).ok(), Some(4));
        let (_t, f, n) = file(b"a\nb\n");
        assert_eq!(start(&f, 3), Some(LineStart::Past(2)));
        assert_eq!(start(&f, 9), Some(LineStart::Past(2)));
        assert_eq!(count_lines(&f, n).ok(), Some(2));
        let (_t, f, n) = file(b"");
        assert_eq!(start(&f, 1), Some(LineStart::Past(0)));
        assert_eq!(start(&f, 2), Some(LineStart::Past(0)));
        assert_eq!(count_lines(&f, n).ok(), Some(0));
    }

    /// Line starts, line numbers and counts across many blocks agree with a direct split,
    /// whether the index is built in one go, piece by piece, or taken from the cache.
    #[test]
    fn line_index_matches_a_split() {
        let mut body = Vec::new();
        let mut i = 0u64;
        while body.len() < 700_000 {
            i += 1;
            // Lines of varying length, some longer than a block, some empty.
            let len = (i * 7919) % 300 + if i.is_multiple_of(997) { 40_000 } else { 0 };
            body.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, len as usize));
            body.push(b'\n');
        }
        body.extend_from_slice(b"no newline at the end");
        let starts: Vec<u64> = std::iter::once(0)
            .chain(memchr::memchr_iter(b'\n', &body).map(|i| i as u64 + 1))
            .collect();
        let total = starts.len() as u64; // the last line has no newline
        let (_t, f, n) = file(&body);
        let check = |l: &mut Lines<'_>, line: u64| {
            let want = starts[(line - 1) as usize];
            assert_eq!(
                l.line_start(line, u64::MAX).ok(),
                Some(LineStart::At(want)),
                "line {line}"
            );
            assert_eq!(l.line_of(want).ok(), Some(line), "offset {want}");
            if want > 0 {
                assert_eq!(l.line_of(want - 1).ok(), Some(line - 1));
            }
        };
        // Forward, one index growing.
        let mut l = lines(&f);
        for line in (1..=total).step_by(37) {
            check(&mut l, line);
        }
        assert_eq!(l.count().ok(), Some(total));
        assert_eq!(
            l.line_start(total + 1, u64::MAX).ok(),
            Some(LineStart::Past(total))
        );
        drop(l);
        // Backward, from scratch each time and (the file is new) never cached.
        for line in (1..=total).rev().step_by(911) {
            check(&mut lines(&f), line);
        }
        assert_eq!(count_lines(&f, n).ok(), Some(total));
        // A limit stops the count.
        assert_eq!(
            lines(&f).line_start(total, 100_000).ok(),
            Some(LineStart::Beyond)
        );
    }

    #[test]
    fn cached_indexes_follow_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("f.txt");
        let body: Vec<u8> = (0..60_000)
            .flat_map(|i| format!("{i:07}\n").into_bytes())
            .collect();
        std::fs::write(&path, &body).expect("write");
        // An old ctime cannot be made; pretend the scan happens three seconds later.
        let f = File::open(&path).expect("open");
        let md = f.metadata().expect("fstat");
        let id = FileId::of(&md);
        assert!(id.racy(SystemTime::now()));
        assert!(!id.racy(SystemTime::now() + Duration::from_secs(3)));
        let mut l = lines(&f);
        assert!(l.id.is_none(), "a new file is not cached");
        assert_eq!(
            l.line_start(50_001, u64::MAX).ok(),
            Some(LineStart::At(400_000))
        );
        // Stored by hand (as the drop of a non-racy Lines would) and found again.
        cache().put(id, l.index.clone());
        drop(l);
        let hit = cache().get(&id).expect("cached");
        assert!(hit.newlines() >= 50_000);
        // Same size, other contents: a new ctime, so the entry is not used.
        std::fs::write(&path, body.to_ascii_uppercase()).expect("rewrite");
        let md2 = File::open(&path).and_then(|f| f.metadata()).expect("fstat");
        let id2 = FileId::of(&md2);
        assert_eq!(id2.size, id.size);
        if id2 != id {
            assert!(cache().get(&id2).is_none());
            assert!(cache().get(&id).is_none(), "the stale entry was dropped");
        }
    }

    #[test]
    fn tails() {
        let (_t, f, _) = file(b"1\n2\n3\n");
        assert_eq!(lines(&f).tail_start(1).ok(), Some((4, 3)));
        assert_eq!(lines(&f).tail_start(2).ok(), Some((2, 2)));
        assert_eq!(lines(&f).tail_start(9).ok(), Some((0, 1)));
        let (_t, f, _) = file(b"1\n2\n3");
        assert_eq!(lines(&f).tail_start(1).ok(), Some((4, 3)));
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
        // A line longer than the first 4 KiB read.
        let long = format!("{}€end\nx", "é".repeat(5000));
        let (_t, f, n) = file(long.as_bytes());
        assert_eq!(column_offset(&f, n, 0, 5001).ok(), Some(10_000));
        assert_eq!(column_offset(&f, n, 0, 5002).ok(), Some(10_003));
        assert_eq!(column_offset(&f, n, 0, 9999).ok(), Some(10_006));
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
