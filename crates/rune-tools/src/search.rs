//! `text_search`: literal or regex search over the files beneath a path inside a root, with
//! a parallel, `.gitignore`-aware walk that never follows symbolic links.
//!
//! # How a search runs
//!
//! - **Matchers.** One case-sensitive literal is found with `memchr::memmem` (SIMD); several
//!   literals (`patterns`) with one `aho-corasick` automaton, in one pass; everything else
//!   (regular expressions, case-insensitive single literals, whole words) with the `regex`
//!   crate. Every matcher runs over the whole file buffer, never line by line: line
//!   boundaries are looked up (memchr) only around a match, and line numbers are counted
//!   (`bytecount`, SIMD) only up to the matches.
//! - **Lines.** Without `multiline`, a match must lie inside one line, as in grep and
//!   ripgrep: a regular expression whose whole-buffer match crosses a line break (through
//!   `\s` or `[^x]`, say) is tried again on that line alone. With `multiline`, matches may
//!   span lines; the result gives the first line, column and the matched lines.
//! - **Walk.** `ignore`'s parallel walker (work stealing, `.gitignore`-aware, no links
//!   followed). Each walker thread keeps one read buffer for small files. A file of at least
//!   [`SEARCH_PARALLEL_FILE_BYTES`] (one such file at a time) is streamed in 256 KiB chunks
//!   through per-thread buffers that stay in the CPU's cache, several threads at once, each
//!   chunk searched for the lines that start in it. With context lines it is read whole
//!   (parallel positioned reads) and searched in slices cut at line starts; with
//!   `multiline`, read whole and searched in one pass (a match may span any slice).
//!   Files are read, never memory-mapped: a file truncated under a mapping would kill the
//!   server with `SIGBUS` (the price is one copy from the page cache).
//! - **Confinement.** Files are opened beneath the root's directory handle with openat2
//!   (`RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, `O_NOFOLLOW | O_NONBLOCK`; through `cap-std`
//!   where openat2 is missing) and checked with `fstat` on the handle: a directory swapped
//!   for a symbolic link during the walk cannot make the search read outside the root.
//! - **Binary files** (a NUL byte in the first 8 KiB, as ripgrep decides) are skipped.
//! - **Cancellation and progress.** The walk checks the request's cancellation before every
//!   file (and every slice of a large file) and stops; progress is reported every
//!   [`SearchOptions::progress_interval`] or [`SearchOptions::progress_every_files`] files,
//!   whichever comes first, when the request carried a `progressToken`.

use std::fs::File;
use std::io::Read as _;
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aho_corasick::{AhoCorasick, MatchKind};
use globset::{Glob, GlobSet, GlobSetBuilder};
use ignore::{WalkBuilder, WalkState};
use memchr::memmem;
use rune_server::proto::model::Content;
use rune_server::{HandlerError, RequestContext, ToolDef};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::guard::Roots;
use crate::util::{blocking, fail, read_only_annotations, with_structured};

/// Files larger than this are skipped.
pub const SEARCH_MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// Longest line text returned; longer lines are cut (and marked with `…`).
pub const SEARCH_MAX_LINE_CHARS: usize = 500;
/// Most lines of one multiline match returned in its `text`.
pub const SEARCH_MAX_MATCH_LINES: usize = 20;
/// Files at least this large are read and searched by several threads at once.
pub const SEARCH_PARALLEL_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Most patterns in one call.
pub const SEARCH_MAX_PATTERNS: usize = 1000;
/// How much of a file's start is checked for a NUL byte (binary files are skipped).
const BINARY_SNIFF_BYTES: usize = 8192;

fn default_path() -> String {
    ".".to_owned()
}
fn default_max_results() -> usize {
    200
}
fn default_max_bytes() -> usize {
    32 * 1024
}

/// Arguments of `text_search`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TextSearchArgs {
    /// The text to find (a literal unless `regex` is set). Give `pattern`, `patterns`, or
    /// both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", length(min = 1))]
    pub pattern: Option<String>,
    /// Several texts to find at once (1 to 1000): a line matches when it contains any of
    /// them. Literals are searched in one pass (Aho-Corasick); with `regex`, each is a
    /// regular expression. Combined with `pattern` when both are given.
    #[serde(default)]
    #[schemars(length(max = 1000), inner(length(min = 1)))]
    pub patterns: Vec<String>,
    /// Where to search: a directory or file, relative to the first allowed root or absolute
    /// inside a root. Default: the first root.
    #[serde(default = "default_path")]
    pub path: String,
    /// Treat the pattern(s) as regular expressions (Rust `regex` syntax). Default false.
    #[serde(default)]
    pub regex: bool,
    /// Ignore case (Unicode simple case folding). Default false.
    #[serde(default)]
    pub case_insensitive: bool,
    /// Match whole words only. Default false.
    #[serde(default)]
    pub whole_word: bool,
    /// Let matches span lines: `^` and `$` still match at line boundaries, `\n` and `\s`
    /// match line breaks, `.` does not unless the pattern starts with `(?s)`. A match is
    /// reported at its first line and column, with its lines (at most 20) and `end_line`.
    /// Default false: every match lies within one line, and a literal containing a line
    /// break is refused.
    #[serde(default)]
    pub multiline: bool,
    /// Only files whose path (relative to the search path) matches one of these globs.
    #[serde(default)]
    pub include: Vec<String>,
    /// Skip files whose path (relative to the search path) matches one of these globs.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Also search hidden files and directories. Default false.
    #[serde(default)]
    pub hidden: bool,
    /// Lines of context before and after each match (0 to 10). Default 0.
    #[serde(default)]
    #[schemars(range(max = 10))]
    pub context: u32,
    /// At most this many matches (1 to 10000). Default 200.
    #[serde(default = "default_max_results")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_results: usize,
    /// At most this many bytes of matched and context lines (1 KiB to 4 MiB). Default 32 KiB.
    #[serde(default = "default_max_bytes")]
    #[schemars(range(min = 1024, max = 4194304))]
    pub max_bytes: usize,
}

impl TextSearchArgs {
    /// Arguments with one literal pattern and every other field at its default.
    pub fn new(pattern: impl Into<String>) -> Self {
        TextSearchArgs {
            pattern: Some(pattern.into()),
            patterns: Vec::new(),
            path: default_path(),
            regex: false,
            case_insensitive: false,
            whole_word: false,
            multiline: false,
            include: Vec::new(),
            exclude: Vec::new(),
            hidden: false,
            context: 0,
            max_results: default_max_results(),
            max_bytes: default_max_bytes(),
        }
    }
}

/// One matching line (or, with `multiline`, one match and the lines it spans).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SearchMatch {
    /// The file, absolute.
    pub path: String,
    /// Line number, 1-based (the first line of the match).
    pub line: u64,
    /// Column of the first match on the line, 1-based, in bytes.
    pub column: u64,
    /// The line (without its line break; cut after 500 characters). For a multiline match,
    /// its lines joined with `\n` (at most 20; then a last line says how many were left out).
    pub text: String,
    /// The last line of a match that spans several lines (multiline search only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u64")]
    pub end_line: Option<u64>,
    /// Lines before, oldest first (with `context`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before: Vec<String>,
    /// Lines after (with `context`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
}

/// The structured result of `text_search`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TextSearchOutput {
    /// The matches, sorted by path and line.
    pub matches: Vec<SearchMatch>,
    /// Files searched.
    pub files_searched: u64,
    /// Binary files skipped.
    pub binary_files_skipped: u64,
    /// True when results were cut by `max_results` or `max_bytes`, or the search was cancelled.
    pub truncated: bool,
    /// True when the search was cancelled (the results are partial).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancelled: bool,
    /// Why the results are incomplete, and how to get the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Tuning and observation of the `text_search` tool.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// Threads for the walk and for large files; 0 picks the number of CPUs (at most 12).
    pub threads: usize,
    /// Progress is reported at least this often during a search (when asked for).
    pub progress_interval: Duration,
    /// ... and after every this many files, whichever comes first.
    pub progress_every_files: u64,
    /// Counters shared by every search of the tool, if wanted.
    pub stats: Option<Arc<SearchStats>>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            threads: 0,
            progress_interval: Duration::from_millis(250),
            progress_every_files: 1000,
            stats: None,
        }
    }
}

/// Counters over all searches that share them (see [`SearchOptions::stats`]): for metrics,
/// and for tests that watch a search they cannot see the result of (a cancelled one).
#[derive(Debug, Default)]
pub struct SearchStats {
    started: AtomicU64,
    finished: AtomicU64,
    cancelled: AtomicU64,
    files: AtomicU64,
}

impl SearchStats {
    /// Searches started.
    pub fn started(&self) -> u64 {
        self.started.load(Ordering::SeqCst)
    }
    /// Searches finished (completed, cut or cancelled; not those refused before the walk).
    pub fn finished(&self) -> u64 {
        self.finished.load(Ordering::SeqCst)
    }
    /// Searches that stopped because they were cancelled.
    pub fn cancelled(&self) -> u64 {
        self.cancelled.load(Ordering::SeqCst)
    }
    /// Files searched, over all finished searches.
    pub fn files_searched(&self) -> u64 {
        self.files.load(Ordering::SeqCst)
    }
}

/// What a search reports to, and asks, its caller while it runs.
pub trait SearchObserver: Sync {
    /// True when the search should stop now.
    fn is_cancelled(&self) -> bool {
        false
    }
    /// Progress: files searched so far, and a message for people.
    fn progress(&self, _files_searched: u64, _message: &str) {}
}

/// An observer that never cancels and ignores progress.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unobserved;

impl SearchObserver for Unobserved {}

impl SearchObserver for RequestContext {
    fn is_cancelled(&self) -> bool {
        RequestContext::is_cancelled(self)
    }
    fn progress(&self, files_searched: u64, message: &str) {
        RequestContext::progress(self, files_searched as f64, None, Some(message));
    }
}

impl SearchObserver for AtomicBool {
    fn is_cancelled(&self) -> bool {
        self.load(Ordering::Relaxed)
    }
}

fn clip(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let s = String::from_utf8_lossy(line);
    if s.len() > SEARCH_MAX_LINE_CHARS && s.chars().count() > SEARCH_MAX_LINE_CHARS {
        let mut t: String = s.chars().take(SEARCH_MAX_LINE_CHARS).collect();
        t.push('…');
        t
    } else {
        s.into_owned()
    }
}

fn globs(list: &[String]) -> Result<Option<GlobSet>, HandlerError> {
    if list.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for g in list {
        b.add(Glob::new(g).map_err(|e| fail(format!("bad glob {g:?}: {e}")))?);
    }
    Ok(Some(b.build().map_err(|e| fail(e.to_string()))?))
}

/// The compiled pattern(s).
#[derive(Debug)]
enum Matcher {
    /// One case-sensitive literal.
    Literal(Box<memmem::Finder<'static>>),
    /// Several literals, one pass.
    Literals(AhoCorasick),
    /// A regular expression (with `multi_line`, so `^`/`$` match at line boundaries).
    Regex(regex::bytes::Regex),
}

impl Matcher {
    fn new(a: &TextSearchArgs) -> Result<Matcher, HandlerError> {
        let mut pats: Vec<&str> = Vec::with_capacity(a.patterns.len() + 1);
        pats.extend(a.pattern.as_deref());
        pats.extend(a.patterns.iter().map(String::as_str));
        if pats.is_empty() {
            return Err(fail(
                "give `pattern` (one text to find) or `patterns` (several at once)",
            ));
        }
        if pats.len() > SEARCH_MAX_PATTERNS {
            return Err(fail(format!(
                "{} patterns given; at most {SEARCH_MAX_PATTERNS} are searched at once",
                pats.len()
            )));
        }
        if let Some(p) = pats.iter().find(|p| p.is_empty()) {
            return Err(fail(format!(
                "empty pattern {p:?}: every pattern must have at least one character"
            )));
        }
        if !a.multiline && pats.iter().any(|p| p.contains('\n')) {
            return Err(fail(
                "a pattern contains a line break, which cannot match inside one line; set \
                 `multiline: true` to match across lines, or give each line as one of `patterns`",
            ));
        }
        if !a.regex && !a.whole_word {
            if !a.case_insensitive && pats.len() == 1 {
                let needle = pats[0].as_bytes().to_vec();
                return Ok(Matcher::Literal(Box::new(
                    memmem::Finder::new(&needle).into_owned(),
                )));
            }
            // ASCII case folding equals Unicode simple case folding unless a pattern has
            // `k` or `s` (KELVIN SIGN, LONG S) or non-ASCII text: those go to the regex engine.
            let ascii_fold_exact = pats
                .iter()
                .all(|p| p.is_ascii() && !p.bytes().any(|b| matches!(b | 0x20, b'k' | b's')));
            if pats.len() > 1 && (!a.case_insensitive || ascii_fold_exact) {
                let ac = AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostFirst)
                    .ascii_case_insensitive(a.case_insensitive)
                    .build(&pats)
                    .map_err(|e| fail(format!("the patterns cannot be searched: {e}")))?;
                return Ok(Matcher::Literals(ac));
            }
        }
        let alts: Vec<String> = pats
            .iter()
            .map(|p| {
                if a.regex {
                    (*p).to_owned()
                } else {
                    regex::escape(p)
                }
            })
            .collect();
        let mut pat = if alts.len() == 1 {
            alts.into_iter().next().unwrap_or_default()
        } else {
            alts.iter()
                .map(|p| format!("(?:{p})"))
                .collect::<Vec<_>>()
                .join("|")
        };
        if a.whole_word {
            pat = format!(r"\b(?:{pat})\b");
        }
        let re = regex::bytes::RegexBuilder::new(&pat)
            .case_insensitive(a.case_insensitive)
            .multi_line(true)
            .build()
            .map_err(|e| fail(format!("invalid regular expression: {e}")))?;
        Ok(Matcher::Regex(re))
    }

    /// The leftmost match starting at or after `at`, as (start, end).
    #[inline]
    fn find_at(&self, hay: &[u8], at: usize) -> Option<(usize, usize)> {
        match self {
            Matcher::Literal(f) => f
                .find(&hay[at..])
                .map(|s| (at + s, at + s + f.needle().len())),
            Matcher::Literals(ac) => ac
                .find(aho_corasick::Input::new(hay).span(at..hay.len()))
                .map(|m| (m.start(), m.end())),
            Matcher::Regex(re) => re.find_at(hay, at).map(|m| (m.start(), m.end())),
        }
    }
}

/// One reported match, in offsets of the searched slice.
#[derive(Debug, Clone, Copy)]
struct Hit {
    /// Start of the match's first line.
    start: usize,
    /// End of its last line (the offset of its line break, or the slice's end).
    end: usize,
    /// Offset of the match in its first line.
    col: usize,
    /// Line breaks before `start` in the slice (the 0-based line number there).
    line: u64,
}

/// Finds the matching lines of `hay`, a slice that starts at a line start and ends at a line
/// end (or the end of the data). Calls `on_hit` for each, in order, until it returns false.
/// Returns the number of line breaks counted, and up to which offset.
fn scan(
    m: &Matcher,
    multiline: bool,
    hay: &[u8],
    mut on_hit: impl FnMut(Hit) -> bool,
) -> (u64, usize) {
    let mut pos = 0;
    let mut lines = 0u64;
    let mut counted_to = 0;
    while pos < hay.len() {
        let Some((ms, me)) = m.find_at(hay, pos) else {
            break;
        };
        let ls = memchr::memrchr(b'\n', &hay[pos..ms]).map_or(pos, |i| pos + i + 1);
        if ls >= hay.len() {
            break; // an empty match after the last line break: no line there
        }
        let le = memchr::memchr(b'\n', &hay[ms..]).map_or(hay.len(), |i| ms + i);
        let (col, end) = if me <= le {
            (ms - ls, le)
        } else if multiline {
            // The line holding the match's last byte.
            let last = me - 1;
            let end = memchr::memchr(b'\n', &hay[last..]).map_or(hay.len(), |i| last + i);
            (ms - ls, end)
        } else {
            // The whole-buffer match crosses a line break (a regex through `\s`, `[^x]`, ...);
            // a line matches only if the pattern matches inside it alone.
            match m.find_at(&hay[ls..le], 0) {
                Some((s, _)) => (s, le),
                None => {
                    pos = le + 1;
                    continue;
                }
            }
        };
        lines += bytecount::count(&hay[counted_to..ls], b'\n') as u64;
        counted_to = ls;
        if !on_hit(Hit {
            start: ls,
            end,
            col,
            line: lines,
        }) {
            break;
        }
        pos = end + 1;
    }
    (lines, counted_to)
}

/// The hits of one slice of a large file and its line breaks, once searched.
type SliceResult = Mutex<Option<(Vec<Hit>, u64)>>;

/// The matches of one chunk of a large file and its line breaks, once searched.
type ChunkResult = Mutex<Option<(Vec<SearchMatch>, u64)>>;

/// The size of the chunks a large file is streamed in.
const CHUNK_BYTES: usize = 1 << 18;

/// The state shared by the walker threads of one search.
struct Shared<'a> {
    args: &'a TextSearchArgs,
    matcher: &'a Matcher,
    opts: &'a SearchOptions,
    obs: &'a dyn SearchObserver,
    threads: usize,
    found: AtomicUsize,
    bytes: AtomicUsize,
    files: AtomicU64,
    binary: AtomicU64,
    cut: AtomicBool,
    cancelled: AtomicBool,
    out: Mutex<Vec<SearchMatch>>,
    /// One large file is in memory at a time.
    large: Mutex<()>,
    start: Instant,
    /// Milliseconds since `start`, and files, at the last progress report.
    progress_at: AtomicU64,
    progress_files: AtomicU64,
    /// The last count reported; held while reporting.
    progress_sent: Mutex<u64>,
}

impl Shared<'_> {
    fn stop(&self) -> bool {
        if self.cut.load(Ordering::Relaxed) || self.cancelled.load(Ordering::Relaxed) {
            return true;
        }
        if self.obs.is_cancelled() {
            self.cancelled.store(true, Ordering::SeqCst);
            return true;
        }
        false
    }

    fn file_done(&self) {
        let k = self.files.fetch_add(1, Ordering::Relaxed) + 1;
        let last_files = self.progress_files.load(Ordering::Relaxed);
        let by_count = k.saturating_sub(last_files) >= self.opts.progress_every_files.max(1);
        let now = self.start.elapsed().as_millis() as u64;
        let last_at = self.progress_at.load(Ordering::Relaxed);
        let by_time = now.saturating_sub(last_at) >= self.opts.progress_interval.as_millis() as u64;
        // One thread reports at a time, and only a count larger than the last one sent, so
        // that the notifications leave in increasing order; a busy lock means someone is
        // reporting right now, and this file's count can wait for the next report.
        if (by_count || by_time)
            && let Ok(mut sent) = self.progress_sent.try_lock()
            && k > *sent
        {
            *sent = k;
            self.progress_files.store(k, Ordering::Relaxed);
            self.progress_at.store(now, Ordering::Relaxed);
            let found = self
                .found
                .load(Ordering::Relaxed)
                .min(self.args.max_results);
            self.obs
                .progress(k, &format!("{k} files searched, {found} matches so far"));
        }
    }

    /// Reserves room for one match of `size` bytes; false (and the search is cut) when the
    /// limits are reached.
    fn reserve(&self, size: usize) -> bool {
        if self.found.fetch_add(1, Ordering::SeqCst) >= self.args.max_results
            || self.bytes.fetch_add(size, Ordering::SeqCst) + size > self.args.max_bytes
        {
            self.cut.store(true, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Turns a hit (absolute offsets in `data`) into a match; `None` when the limits are
    /// reached.
    fn to_match(&self, data: &[u8], hit: Hit, path: &str) -> Option<SearchMatch> {
        let (m, size) = self.build(data, hit, path);
        self.reserve(size).then_some(m)
    }

    /// A hit (absolute offsets in `data`) as a match, and its size against `max_bytes`.
    fn build(&self, data: &[u8], hit: Hit, path: &str) -> (SearchMatch, usize) {
        let context = self.args.context as usize;
        let first_end = memchr::memchr(b'\n', &data[hit.start..hit.end]).map(|i| hit.start + i);
        let (text, end_line) = match first_end {
            None => (clip(&data[hit.start..hit.end]), None),
            Some(_) => {
                let span = &data[hit.start..hit.end];
                let total = bytecount::count(span, b'\n') + 1;
                let mut lines: Vec<String> = span
                    .split(|&b| b == b'\n')
                    .take(SEARCH_MAX_MATCH_LINES)
                    .map(clip)
                    .collect();
                if total > SEARCH_MAX_MATCH_LINES {
                    lines.push(format!("… {} more lines", total - SEARCH_MAX_MATCH_LINES));
                }
                (lines.join("\n"), Some(hit.line + total as u64))
            }
        };
        let mut before = Vec::new();
        let mut after = Vec::new();
        if context > 0 {
            let mut s = hit.start;
            while before.len() < context && s > 0 {
                let e = s - 1; // the line break ending the previous line
                let b = memchr::memrchr(b'\n', &data[..e]).map_or(0, |i| i + 1);
                before.push(clip(&data[b..e]));
                s = b;
            }
            before.reverse();
            let mut s = hit.end + 1;
            while after.len() < context && s < data.len() {
                let e = memchr::memchr(b'\n', &data[s..]).map_or(data.len(), |i| s + i);
                after.push(clip(&data[s..e]));
                s = e + 1;
            }
        }
        let size = path.len()
            + text.len()
            + before
                .iter()
                .chain(&after)
                .map(|s| s.len() + 1)
                .sum::<usize>()
            + 24;
        let m = SearchMatch {
            path: path.to_owned(),
            line: hit.line + 1,
            column: hit.col as u64 + 1,
            text,
            end_line,
            before,
            after,
        };
        (m, size)
    }

    /// Searches one file's bytes in this thread; returns false when the walk should stop.
    fn search_small(&self, data: &[u8], path: &str) -> bool {
        let mut local = Vec::new();
        let mut go_on = true;
        scan(self.matcher, self.args.multiline, data, |hit| {
            match self.to_match(data, hit, path) {
                Some(m) => {
                    local.push(m);
                    true
                }
                None => {
                    go_on = false;
                    false
                }
            }
        });
        self.publish(local);
        go_on
    }

    fn publish(&self, local: Vec<SearchMatch>) {
        if !local.is_empty()
            && let Ok(mut o) = self.out.lock()
        {
            o.extend(local);
        }
    }

    /// Searches a large file: in chunks streamed through small per-thread buffers (they stay
    /// in the CPU's cache), several threads at once; with context lines or multiline
    /// matches, which may reach across chunks, whole. Returns false when the walk should stop.
    fn search_large(&self, f: &File, len: usize, path: &str) -> bool {
        if self.args.multiline || self.args.context > 0 {
            let Ok(data) = read_parallel(f, len, self.threads) else {
                return true;
            };
            return self.search_whole(&data, path);
        }
        let chunks = len.div_ceil(CHUNK_BYTES);
        let cap = self.args.max_results;
        // Per chunk: the hits found (`usize::MAX` until searched), and what was found.
        let found: Vec<AtomicUsize> = (0..chunks).map(|_| AtomicUsize::new(usize::MAX)).collect();
        let results: Vec<ChunkResult> = (0..chunks).map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let work = || {
            let mut buf = Vec::new();
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= chunks || self.stop() || failed.load(Ordering::Relaxed) {
                    break;
                }
                // Chunks before this one that already hold more matches than the cap make it
                // useless: merging them cuts the results (and says so) before this one.
                // Exactly `cap` is not enough, as nobody would then know there were more.
                let before: usize = found[..k]
                    .iter()
                    .map(|n| n.load(Ordering::Relaxed))
                    .filter(|&n| n != usize::MAX)
                    .sum();
                if before > cap {
                    break;
                }
                match self.search_chunk(f, len, k, &mut buf, path) {
                    Ok(r) => {
                        found[k].store(r.0.len(), Ordering::Relaxed);
                        if let Ok(mut slot) = results[k].lock() {
                            *slot = Some(r);
                        }
                    }
                    Err(_) => failed.store(true, Ordering::Relaxed),
                }
            }
        };
        let threads = self.threads.min(chunks).max(1);
        if threads == 1 {
            work();
        } else {
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(work);
                }
            });
        }
        let mut base = 0u64;
        let mut local = Vec::new();
        let mut go_on = true;
        'chunks: for r in results {
            let Some((matches, lines)) = r.into_inner().ok().flatten() else {
                break; // not searched: stopped, enough matches before, or a read failed
            };
            for mut m in matches {
                let size = m.text.len() + m.path.len() + 24;
                if !self.reserve(size) {
                    go_on = false;
                    break 'chunks;
                }
                m.line += base;
                local.push(m);
            }
            base += lines;
        }
        self.publish(local);
        go_on
    }

    /// Searches chunk `k` of a file: the lines that start in its byte range (the last one
    /// read to its end). Returns its matches, with line numbers counted from the chunk's
    /// start, and the line breaks in its range.
    fn search_chunk(
        &self,
        f: &File,
        len: usize,
        k: usize,
        buf: &mut Vec<u8>,
        path: &str,
    ) -> std::io::Result<(Vec<SearchMatch>, u64)> {
        let lo = k * CHUNK_BYTES;
        let hi = (lo + CHUNK_BYTES).min(len);
        // One byte before the range says whether a line starts at `lo`.
        let from = lo.saturating_sub(1);
        // The buffer only grows (it is never cleared, so never zeroed again).
        let need = hi - from;
        if buf.len() < need {
            buf.resize(need, 0);
        }
        let mut have = read_full_at(f, &mut buf[..need], from as u64)?;
        // Read on to the end of the last line (unless the file shrank).
        if have == need {
            const MORE: usize = 64 * 1024;
            while have > 0 && buf[have - 1] != b'\n' {
                if buf.len() < have + MORE {
                    buf.resize(have + MORE, 0);
                }
                let n = read_full_at(f, &mut buf[have..have + MORE], (from + have) as u64)?;
                if let Some(i) = memchr::memchr(b'\n', &buf[have..have + n]) {
                    have += i + 1;
                    break;
                }
                have += n;
                if n == 0 {
                    break;
                }
            }
        }
        let buf = &buf[..have];
        let range_end = (hi - from).min(buf.len());
        let skip = if lo == 0 { 0 } else { 1 }; // the byte before `lo`
        // The first line that starts in the range, and the line breaks before it there.
        let (first, mut lines) = if lo == 0 || buf.first() == Some(&b'\n') {
            (skip, 0)
        } else {
            match memchr::memchr(b'\n', &buf[skip.min(range_end)..range_end]) {
                Some(i) => (skip + i + 1, 1),
                None => (range_end, 0), // a line that started before covers the whole range
            }
        };
        let hay = &buf[first.min(buf.len())..];
        let cap = self.args.max_results;
        let mut matches = Vec::new();
        let (counted, counted_to) = if first < range_end {
            // One more than the cap: a chunk that stopped early is then sure to cut.
            scan(self.matcher, false, hay, |h| {
                let (m, _) = self.build(hay, h, path);
                matches.push(m);
                matches.len() <= cap
            })
        } else {
            (0, 0)
        };
        for m in &mut matches {
            m.line += lines;
        }
        // Line breaks in [lo, hi): before the first line, in the scan, and the rest.
        let rest_from = (first + counted_to).min(range_end);
        lines += counted + bytecount::count(&buf[rest_from..range_end], b'\n') as u64;
        Ok((matches, lines))
    }

    /// Searches a whole large file's bytes, in parallel slices cut at line starts unless
    /// matches may span lines; returns false when the walk should stop.
    fn search_whole(&self, data: &[u8], path: &str) -> bool {
        if self.args.multiline || self.threads < 2 {
            return self.search_small(data, path);
        }
        // Slices of about 1 MiB or more, a few per thread so that they balance.
        let parts = (self.threads * 4).min(data.len() / (1 << 20)).max(1);
        let mut bounds = vec![0usize];
        for i in 1..parts {
            let nominal = data.len() / parts * i;
            let prev = bounds.last().copied().unwrap_or(0);
            if nominal <= prev {
                continue;
            }
            let b = memchr::memchr(b'\n', &data[nominal..]).map_or(data.len(), |j| nominal + j + 1);
            if b > prev && b < data.len() {
                bounds.push(b);
            }
        }
        bounds.push(data.len());
        let slices = bounds.len() - 1;
        let cap = self.args.max_results;
        let results: Vec<SliceResult> = (0..slices).map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..self.threads.min(slices) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= slices || self.stop() {
                            break;
                        }
                        let (a, b) = (bounds[i], bounds[i + 1]);
                        let hay = &data[a..b];
                        let mut hits = Vec::new();
                        let (mut lines, counted_to) = scan(self.matcher, false, hay, |h| {
                            hits.push(Hit {
                                start: a + h.start,
                                end: a + h.end,
                                ..h
                            });
                            // One more than the cap: a slice that stopped early cuts.
                            hits.len() <= cap
                        });
                        if hits.len() <= cap {
                            lines += bytecount::count(&hay[counted_to..], b'\n') as u64;
                        }
                        if let Ok(mut r) = results[i].lock() {
                            *r = Some((hits, lines));
                        }
                    }
                });
            }
        });
        let mut base = 0u64;
        let mut local = Vec::new();
        let mut go_on = true;
        'slices: for r in results {
            let Some((hits, lines)) = r.into_inner().ok().flatten() else {
                break; // stopped (cancelled or cut elsewhere)
            };
            for h in hits {
                let hit = Hit {
                    line: base + h.line,
                    ..h
                };
                match self.to_match(data, hit, path) {
                    Some(m) => local.push(m),
                    None => {
                        go_on = false;
                        break 'slices;
                    }
                }
            }
            base += lines;
        }
        self.publish(local);
        go_on
    }
}

/// Opens a file beneath the root's directory handle: no `..`, no symbolic link anywhere on
/// the way, no final link followed, no blocking on a FIFO. Only regular files are returned.
fn open_beneath(root: &cap_std::fs::Dir, rel: &Path) -> std::io::Result<File> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{Mode, OFlags, ResolveFlags};
        static NO_OPENAT2: AtomicBool = AtomicBool::new(false);
        if !NO_OPENAT2.load(Ordering::Relaxed) {
            match rustix::fs::openat2(
                root,
                rel,
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
            ) {
                Ok(fd) => return Ok(File::from(fd)),
                Err(rustix::io::Errno::NOSYS) => NO_OPENAT2.store(true, Ordering::Relaxed),
                Err(e) => return Err(e.into()),
            }
        }
    }
    use cap_fs_ext::{FollowSymlinks, OpenOptionsFollowExt as _, OpenOptionsSyncExt as _};
    let mut o = cap_std::fs::OpenOptions::new();
    o.read(true).follow(FollowSymlinks::No).nonblock(true);
    Ok(root.open_with(rel, &o)?.into_std())
}

/// Reads `len` bytes of `f` into a fresh buffer with parallel positioned reads; the buffer is
/// shorter if the file shrank.
fn read_parallel(f: &File, len: usize, threads: usize) -> std::io::Result<Vec<u8>> {
    let mut data = vec![0u8; len];
    let chunk = len.div_ceil(threads.max(1)).max(1);
    let results: Vec<std::io::Result<usize>> = std::thread::scope(|s| {
        let handles: Vec<_> = data
            .chunks_mut(chunk)
            .enumerate()
            .map(|(i, buf)| {
                s.spawn(move || {
                    let mut off = 0;
                    while off < buf.len() {
                        match f.read_at(&mut buf[off..], (i * chunk + off) as u64) {
                            Ok(0) => break,
                            Ok(n) => off += n,
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            Err(e) => return Err(e),
                        }
                    }
                    Ok(off)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("a read thread panicked")))
            })
            .collect()
    });
    // A short chunk means the file shrank: keep the prefix that was read without a gap.
    let mut total = 0;
    for (i, r) in results.into_iter().enumerate() {
        let n = r?;
        total = i * chunk + n;
        if n < chunk {
            break;
        }
    }
    data.truncate(total.min(len));
    Ok(data)
}

/// Reads into all of `buf` from `off`, unless the file ends first; returns the bytes read.
fn read_full_at(f: &File, buf: &mut [u8], off: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], off + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads a small file whole into `buf` (reused between files; only grown, never zeroed
/// again); returns the number of bytes read.
fn read_small(mut f: &File, len: usize, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    if buf.len() < len + 1 {
        buf.resize(len + 1, 0);
    }
    let mut n = 0;
    loop {
        if n == buf.len() {
            // The file grew since fstat: read on, within the size limit.
            if n as u64 >= SEARCH_MAX_FILE_BYTES {
                return Ok(n);
            }
            buf.resize(buf.len() * 2, 0);
        }
        match f.read(&mut buf[n..]) {
            Ok(0) => return Ok(n),
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Runs one search in this thread (the walk uses more threads), reporting to `obs`.
///
/// This is what the `text_search` tool runs, without the MCP framing.
pub fn search(
    roots: &Roots,
    args: &TextSearchArgs,
    opts: &SearchOptions,
    obs: &dyn SearchObserver,
) -> Result<TextSearchOutput, HandlerError> {
    let rp = roots.resolve(&args.path)?;
    let matcher = Matcher::new(args)?;
    let include = globs(&args.include)?;
    let exclude = globs(&args.exclude)?;
    let base = rp.absolute().to_path_buf();
    let root_path = rp.root().to_path_buf();
    let root_dir = rp.root_dir();
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(12))
    } else {
        opts.threads
    };
    if let Some(st) = &opts.stats {
        st.started.fetch_add(1, Ordering::SeqCst);
    }
    let sh = Shared {
        args,
        matcher: &matcher,
        opts,
        obs,
        threads,
        found: AtomicUsize::new(0),
        bytes: AtomicUsize::new(0),
        files: AtomicU64::new(0),
        binary: AtomicU64::new(0),
        cut: AtomicBool::new(false),
        cancelled: AtomicBool::new(false),
        out: Mutex::new(Vec::new()),
        large: Mutex::new(()),
        start: Instant::now(),
        progress_at: AtomicU64::new(0),
        progress_files: AtomicU64::new(0),
        progress_sent: Mutex::new(0),
    };
    let walker = WalkBuilder::new(&base)
        .hidden(!args.hidden)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(false)
        .ignore(true)
        .parents(true)
        .require_git(false)
        .follow_links(false)
        .threads(threads)
        .build_parallel();
    walker.run(|| {
        let sh = &sh;
        let (include, exclude) = (&include, &exclude);
        let (base, root_path) = (&base, &root_path);
        let mut buf: Vec<u8> = Vec::new();
        Box::new(move |entry| {
            if sh.stop() {
                return WalkState::Quit;
            }
            let Ok(entry) = entry else {
                return WalkState::Continue;
            };
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                return WalkState::Continue;
            }
            let p = entry.path();
            let rel = p.strip_prefix(base).unwrap_or(p);
            let rel = if rel.as_os_str().is_empty() {
                p.file_name().map(Path::new).unwrap_or(rel)
            } else {
                rel
            };
            if include.as_ref().is_some_and(|g| !g.is_match(rel))
                || exclude.as_ref().is_some_and(|g| g.is_match(rel))
            {
                return WalkState::Continue;
            }
            // The walk's paths all start with the root; they are opened beneath its handle.
            let Ok(in_root) = p.strip_prefix(root_path) else {
                return WalkState::Continue;
            };
            let in_root = if in_root.as_os_str().is_empty() {
                Path::new(".")
            } else {
                in_root
            };
            let Ok(f) = open_beneath(root_dir, in_root) else {
                return WalkState::Continue;
            };
            let Ok(md) = f.metadata() else {
                return WalkState::Continue;
            };
            if !md.is_file() || md.len() > SEARCH_MAX_FILE_BYTES {
                return WalkState::Continue;
            }
            let shown = p.to_string_lossy();
            let go_on = if md.len() >= SEARCH_PARALLEL_FILE_BYTES {
                let mut head = [0u8; BINARY_SNIFF_BYTES];
                let n = f.read_at(&mut head, 0).unwrap_or(0);
                if memchr::memchr(0, &head[..n]).is_some() {
                    sh.binary.fetch_add(1, Ordering::Relaxed);
                    sh.file_done();
                    return WalkState::Continue;
                }
                let _one = sh.large.lock();
                sh.search_large(&f, md.len() as usize, &shown)
            } else {
                let Ok(n) = read_small(&f, md.len() as usize, &mut buf) else {
                    return WalkState::Continue;
                };
                let data = &buf[..n];
                if memchr::memchr(0, &data[..n.min(BINARY_SNIFF_BYTES)]).is_some() {
                    sh.binary.fetch_add(1, Ordering::Relaxed);
                    sh.file_done();
                    return WalkState::Continue;
                }
                let go_on = sh.search_small(data, &shown);
                if buf.len() > (16 << 20) {
                    buf = Vec::new(); // do not keep a large buffer for small files
                }
                go_on
            };
            sh.file_done();
            if go_on {
                WalkState::Continue
            } else {
                WalkState::Quit
            }
        })
    });
    let mut matches =
        std::mem::take(&mut *sh.out.lock().map_err(|_| fail("search state poisoned"))?);
    matches.sort_by(|a, b| a.path.cmp(&b.path).then(a.line.cmp(&b.line)));
    let cut = sh.cut.load(Ordering::SeqCst);
    let cancelled = sh.cancelled.load(Ordering::SeqCst);
    let files = sh.files.load(Ordering::SeqCst);
    if let Some(st) = &opts.stats {
        st.files.fetch_add(files, Ordering::SeqCst);
        if cancelled {
            st.cancelled.fetch_add(1, Ordering::SeqCst);
        }
        st.finished.fetch_add(1, Ordering::SeqCst);
    }
    let note = if cancelled {
        Some("the search was cancelled; the results are partial".to_owned())
    } else if cut {
        Some(format!(
            "results truncated at {} matches (max_results {}, max_bytes {}): narrow the \
             pattern, path or globs, or raise the limits",
            matches.len(),
            args.max_results,
            args.max_bytes
        ))
    } else {
        None
    };
    Ok(TextSearchOutput {
        files_searched: files,
        binary_files_skipped: sh.binary.load(Ordering::SeqCst),
        truncated: cut || cancelled,
        cancelled,
        note,
        matches,
    })
}

/// The text content of a result: `path:line:column:text` per match (continuation lines of a
/// multiline match as `path:line:text`), context lines as `path-line-text`, then a summary.
pub fn render_text(out: &TextSearchOutput) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    for m in &out.matches {
        for (j, b) in m.before.iter().enumerate() {
            let ln = m.line as usize - m.before.len() + j;
            let _ = writeln!(text, "{}-{ln}-{b}", m.path);
        }
        let mut lines = m.text.split('\n');
        let first = lines.next().unwrap_or("");
        let _ = writeln!(text, "{}:{}:{}:{first}", m.path, m.line, m.column);
        for (j, l) in lines.enumerate() {
            let _ = writeln!(text, "{}:{}:{l}", m.path, m.line as usize + 1 + j);
        }
        let last = m.end_line.unwrap_or(m.line) as usize;
        for (j, a) in m.after.iter().enumerate() {
            let _ = writeln!(text, "{}-{}-{a}", m.path, last + 1 + j);
        }
    }
    if out.matches.is_empty() {
        text.push_str("no matches\n");
    }
    let _ = write!(
        text,
        "{} matches in {} files searched",
        out.matches.len(),
        out.files_searched
    );
    if let Some(n) = &out.note {
        let _ = write!(text, "\nnote: {n}");
    }
    text
}

/// The `text_search` tool.
pub fn text_search_tool(guard: Arc<Roots>) -> ToolDef {
    text_search_tool_with(guard, SearchOptions::default())
}

/// The `text_search` tool, tuned or observed with `opts`.
pub fn text_search_tool_with(guard: Arc<Roots>, opts: SearchOptions) -> ToolDef {
    let opts = Arc::new(opts);
    ToolDef::new(
        "text_search",
        "Search file contents inside the allowed roots, like ripgrep: a literal (default) or a \
         regular expression, several at once with `patterns`, optionally case-insensitive, \
         whole-word or multiline, with include/exclude globs. Honours .gitignore, skips hidden \
         files unless asked, skips binary files, never follows symbolic links. Results are \
         path:line:column with the line, capped by max_results and max_bytes.",
        move |args: TextSearchArgs, cx: RequestContext| {
            let guard = guard.clone();
            let opts = opts.clone();
            async move {
                blocking(move || {
                    let out = search(&guard, &args, &opts, &cx)?;
                    let text = render_text(&out);
                    Ok::<_, HandlerError>(with_structured(vec![Content::text(text)], &out))
                })
                .await
            }
        },
    )
    .title("Text search")
    .annotations(read_only_annotations("Text search"))
    .output_schema::<TextSearchOutput>()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn lit(p: &str) -> TextSearchArgs {
        TextSearchArgs::new(p)
    }

    fn lines_of(m: &Matcher, multiline: bool, hay: &[u8]) -> Vec<(u64, usize, usize)> {
        let mut v = Vec::new();
        scan(m, multiline, hay, |h| {
            v.push((h.line + 1, h.col + 1, h.end));
            true
        });
        v
    }

    #[test]
    fn matchers_are_chosen_by_the_arguments() {
        assert!(matches!(
            Matcher::new(&lit("x")).unwrap(),
            Matcher::Literal(_)
        ));
        let mut a = lit("x");
        a.patterns = vec!["y".into(), "z".into()];
        assert!(matches!(Matcher::new(&a).unwrap(), Matcher::Literals(_)));
        a.case_insensitive = true;
        assert!(matches!(Matcher::new(&a).unwrap(), Matcher::Literals(_)));
        a.patterns.push("ks".into()); // KELVIN SIGN, LONG S: Unicode folding
        assert!(matches!(Matcher::new(&a).unwrap(), Matcher::Regex(_)));
        let mut a = lit("x");
        a.whole_word = true;
        assert!(matches!(Matcher::new(&a).unwrap(), Matcher::Regex(_)));
        let mut a = lit("a\nb");
        assert!(Matcher::new(&a).is_err());
        a.multiline = true;
        assert!(matches!(Matcher::new(&a).unwrap(), Matcher::Literal(_)));
        let mut a = lit("x");
        a.pattern = None;
        assert!(Matcher::new(&a).is_err());
    }

    #[test]
    fn regex_matches_stay_in_their_line() {
        let mut a = lit(r"a\s+b");
        a.regex = true;
        let m = Matcher::new(&a).unwrap();
        // "a\nb" would match across the break; lines 1-2 do not match alone; line 3 does.
        assert_eq!(lines_of(&m, false, b"xa\nb\na  b\n"), [(3, 1, 9)]);
        let mut a = lit(r"[^x]+$");
        a.regex = true;
        let m = Matcher::new(&a).unwrap();
        assert_eq!(lines_of(&m, false, b"xx\nxab\n"), [(2, 2, 6)]);
        // An empty match after the last line break is no line.
        let mut a = lit("z*");
        a.regex = true;
        let m = Matcher::new(&a).unwrap();
        assert_eq!(lines_of(&m, false, b"a\nb\n").len(), 2);
        assert_eq!(lines_of(&m, false, b"a\nb").len(), 2);
        assert!(lines_of(&m, false, b"").is_empty());
    }

    #[test]
    fn open_beneath_refuses_links_and_escapes() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        let out = t.path().join("out");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(root.join("sub/a.txt"), "in").unwrap();
        std::fs::write(out.join("a.txt"), "out").unwrap();
        std::os::unix::fs::symlink(&out, root.join("link")).unwrap();
        std::os::unix::fs::symlink(root.join("sub/a.txt"), root.join("inner")).unwrap();
        let dir = cap_std::fs::Dir::open_ambient_dir(&root, cap_std::ambient_authority()).unwrap();
        let mut s = String::new();
        open_beneath(&dir, Path::new("sub/a.txt"))
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "in");
        assert!(open_beneath(&dir, Path::new("link/a.txt")).is_err());
        assert!(open_beneath(&dir, Path::new("../out/a.txt")).is_err());
        assert!(open_beneath(&dir, Path::new("inner")).is_err());
        assert!(open_beneath(&dir, &out.join("a.txt")).is_err());
    }

    #[test]
    fn large_buffers_are_read_whole() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("f");
        let data: Vec<u8> = (0..3_000_001u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let f = File::open(&p).unwrap();
        assert_eq!(read_parallel(&f, data.len(), 3).unwrap(), data);
        assert_eq!(read_parallel(&f, data.len(), 1).unwrap(), data);
        // Asked for more than there is (the file shrank): what exists, no zeros.
        assert_eq!(read_parallel(&f, data.len() + 100, 4).unwrap(), data);
        let mut buf = Vec::new();
        let n = read_small(&f, 10, &mut buf).unwrap();
        assert_eq!(&buf[..n], &data[..]);
    }
}
