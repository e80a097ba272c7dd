//! `text_search`: literal or regex search over the files beneath a path inside a root, with
//! a parallel, `.gitignore`-aware walk that never follows symbolic links.

use std::fs::OpenOptions;
use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use globset::{Glob, GlobSet, GlobSetBuilder};
use ignore::{WalkBuilder, WalkState};
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

fn default_path() -> String {
    ".".to_owned()
}
fn default_max_results() -> usize {
    200
}
fn default_max_bytes() -> usize {
    64 * 1024
}

/// Arguments of `text_search`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TextSearchArgs {
    /// The text to find (a literal unless `regex` is set).
    #[schemars(length(min = 1))]
    pub pattern: String,
    /// Where to search: a directory or file, relative to the first allowed root or absolute
    /// inside a root. Default: the first root.
    #[serde(default = "default_path")]
    pub path: String,
    /// Treat the pattern as a regular expression (Rust `regex` syntax). Default false.
    #[serde(default)]
    pub regex: bool,
    /// Ignore case. Default false.
    #[serde(default)]
    pub case_insensitive: bool,
    /// Match whole words only. Default false.
    #[serde(default)]
    pub whole_word: bool,
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
    /// At most this many bytes of matched and context lines (1 KiB to 4 MiB). Default 64 KiB.
    #[serde(default = "default_max_bytes")]
    #[schemars(range(min = 1024, max = 4194304))]
    pub max_bytes: usize,
}

/// One matching line.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SearchMatch {
    /// The file, absolute.
    pub path: String,
    /// Line number, 1-based.
    pub line: u64,
    /// Column of the first match on the line, 1-based, in bytes.
    pub column: u64,
    /// The line (without its line break; cut after 500 characters).
    pub text: String,
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
    /// Why the results are incomplete, and how to get the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn clip(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let s = String::from_utf8_lossy(line);
    if s.chars().count() > SEARCH_MAX_LINE_CHARS {
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

struct Shared {
    found: AtomicUsize,
    bytes: AtomicUsize,
    files: AtomicU64,
    binary: AtomicU64,
    cut: AtomicBool,
    cancelled: AtomicBool,
    out: Mutex<Vec<SearchMatch>>,
}

/// Searches one file's bytes; returns false when the walk should stop.
fn search_bytes(
    re: &regex::bytes::Regex,
    data: &[u8],
    path: &str,
    context: usize,
    a: &TextSearchArgs,
    sh: &Shared,
) -> bool {
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let n = if data.ends_with(b"\n") {
        lines.len() - 1
    } else {
        lines.len()
    };
    let mut local = Vec::new();
    let mut go_on = true;
    for i in 0..n {
        let Some(m) = re.find(lines[i]) else {
            continue;
        };
        let text = clip(lines[i]);
        let before: Vec<String> = lines[i.saturating_sub(context)..i]
            .iter()
            .map(|l| clip(l))
            .collect();
        let after: Vec<String> = lines[i + 1..(i + 1 + context).min(n)]
            .iter()
            .map(|l| clip(l))
            .collect();
        let size = path.len()
            + text.len()
            + before
                .iter()
                .chain(&after)
                .map(|s| s.len() + 1)
                .sum::<usize>()
            + 24;
        if sh.found.fetch_add(1, Ordering::SeqCst) >= a.max_results
            || sh.bytes.fetch_add(size, Ordering::SeqCst) + size > a.max_bytes
        {
            sh.cut.store(true, Ordering::SeqCst);
            go_on = false;
            break;
        }
        local.push(SearchMatch {
            path: path.to_owned(),
            line: i as u64 + 1,
            column: m.start() as u64 + 1,
            text,
            before,
            after,
        });
    }
    if !local.is_empty()
        && let Ok(mut o) = sh.out.lock()
    {
        o.extend(local);
    }
    go_on
}

/// The `text_search` tool.
pub fn text_search_tool(guard: Arc<Roots>) -> ToolDef {
    ToolDef::new(
        "text_search",
        "Search file contents inside the allowed roots, like ripgrep: a literal (default) or a \
         regular expression, optionally case-insensitive or whole-word, with include/exclude \
         globs. Honours .gitignore, skips hidden files unless asked, skips binary files, never \
         follows symbolic links. Results are path:line:column with the line, capped by \
         max_results and max_bytes.",
        move |args: TextSearchArgs, cx: RequestContext| {
            let guard = guard.clone();
            async move {
                blocking(move || {
                    let rp = guard.resolve(&args.path)?;
                    let pat = if args.regex {
                        args.pattern.clone()
                    } else {
                        regex::escape(&args.pattern)
                    };
                    let pat = if args.whole_word {
                        format!(r"\b(?:{pat})\b")
                    } else {
                        pat
                    };
                    let re = regex::bytes::RegexBuilder::new(&pat)
                        .case_insensitive(args.case_insensitive)
                        .build()
                        .map_err(|e| fail(format!("invalid regular expression: {e}")))?;
                    let include = globs(&args.include)?;
                    let exclude = globs(&args.exclude)?;
                    let base = rp.absolute().to_path_buf();
                    let sh = Arc::new(Shared {
                        found: AtomicUsize::new(0),
                        bytes: AtomicUsize::new(0),
                        files: AtomicU64::new(0),
                        binary: AtomicU64::new(0),
                        cut: AtomicBool::new(false),
                        cancelled: AtomicBool::new(false),
                        out: Mutex::new(Vec::new()),
                    });
                    let context = args.context as usize;
                    let walker = WalkBuilder::new(&base)
                        .hidden(!args.hidden)
                        .git_ignore(true)
                        .git_exclude(true)
                        .git_global(false)
                        .ignore(true)
                        .parents(true)
                        .require_git(false)
                        .follow_links(false)
                        .build_parallel();
                    let args = Arc::new(args);
                    walker.run(|| {
                        let re = re.clone();
                        let sh = sh.clone();
                        let args = args.clone();
                        let include = include.clone();
                        let exclude = exclude.clone();
                        let base = base.clone();
                        let cx = cx.clone();
                        Box::new(move |entry| {
                            if cx.is_cancelled() {
                                sh.cancelled.store(true, Ordering::SeqCst);
                                return WalkState::Quit;
                            }
                            let Ok(entry) = entry else {
                                return WalkState::Continue;
                            };
                            if !entry.file_type().is_some_and(|t| t.is_file()) {
                                return WalkState::Continue;
                            }
                            let p = entry.path();
                            let rel = p.strip_prefix(&base).unwrap_or(p);
                            let rel = if rel.as_os_str().is_empty() {
                                p.file_name().map(std::path::Path::new).unwrap_or(rel)
                            } else {
                                rel
                            };
                            if include.as_ref().is_some_and(|g| !g.is_match(rel))
                                || exclude.as_ref().is_some_and(|g| g.is_match(rel))
                            {
                                return WalkState::Continue;
                            }
                            let Ok(f) = OpenOptions::new()
                                .read(true)
                                .custom_flags(libc_flags())
                                .open(p)
                            else {
                                return WalkState::Continue;
                            };
                            let Ok(md) = f.metadata() else {
                                return WalkState::Continue;
                            };
                            if !md.is_file() || md.len() > SEARCH_MAX_FILE_BYTES {
                                return WalkState::Continue;
                            }
                            let mut data = Vec::with_capacity(md.len() as usize);
                            if (&f).read_to_end(&mut data).is_err() {
                                return WalkState::Continue;
                            }
                            let k = sh.files.fetch_add(1, Ordering::Relaxed) + 1;
                            if k.is_multiple_of(1000) {
                                cx.progress(k as f64, None, Some(&format!("{k} files searched")));
                            }
                            if memchr::memchr(0, &data[..data.len().min(8192)]).is_some() {
                                sh.binary.fetch_add(1, Ordering::Relaxed);
                                return WalkState::Continue;
                            }
                            let shown = p.to_string_lossy();
                            if search_bytes(&re, &data, &shown, context, &args, &sh) {
                                WalkState::Continue
                            } else {
                                WalkState::Quit
                            }
                        })
                    });
                    let mut matches = std::mem::take(
                        &mut *sh.out.lock().map_err(|_| fail("search state poisoned"))?,
                    );
                    matches.sort_by(|a, b| a.path.cmp(&b.path).then(a.line.cmp(&b.line)));
                    let cut = sh.cut.load(Ordering::SeqCst);
                    let cancelled = sh.cancelled.load(Ordering::SeqCst);
                    let note = if cancelled {
                        Some("the search was cancelled; the results are partial".to_owned())
                    } else if cut {
                        Some(format!(
                            "results truncated at {} matches (max_results {}, max_bytes {}): \
                             narrow the pattern, path or globs, or raise the limits",
                            matches.len(),
                            args.max_results,
                            args.max_bytes
                        ))
                    } else {
                        None
                    };
                    let out = TextSearchOutput {
                        files_searched: sh.files.load(Ordering::SeqCst),
                        binary_files_skipped: sh.binary.load(Ordering::SeqCst),
                        truncated: cut || cancelled,
                        note,
                        matches,
                    };
                    let mut text = String::new();
                    for m in &out.matches {
                        for (j, b) in m.before.iter().enumerate() {
                            let ln = m.line as usize - m.before.len() + j;
                            text.push_str(&format!("{}-{ln}-{b}\n", m.path));
                        }
                        text.push_str(&format!("{}:{}:{}:{}\n", m.path, m.line, m.column, m.text));
                        for (j, a) in m.after.iter().enumerate() {
                            text.push_str(&format!("{}-{}-{a}\n", m.path, m.line as usize + 1 + j));
                        }
                    }
                    if out.matches.is_empty() {
                        text.push_str("no matches\n");
                    }
                    text.push_str(&format!(
                        "{} matches in {} files searched",
                        out.matches.len(),
                        out.files_searched
                    ));
                    if let Some(n) = &out.note {
                        text.push_str(&format!("\nnote: {n}"));
                    }
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

fn libc_flags() -> i32 {
    (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32
}
