//! `list_directory` and `directory_tree`: listings walked through directory handles beneath
//! the root (no symbolic link is followed), with `.gitignore` rules for the tree.

use std::ffi::OsString;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt, OpenOptionsSyncExt};
use cap_std::fs::{Dir, OpenOptions};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use rune_server::proto::model::Content;
use rune_server::{CancellationToken, HandlerError, RequestContext, ToolDef};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::guard::{ResolvedPath, Roots, name_lossy};
use crate::util::{blocking, fail, human_size, read_only_annotations, with_structured};

/// Default number of entries a listing returns.
pub const DEFAULT_MAX_ENTRIES: usize = 500;
/// Default depth of `directory_tree`.
pub const DEFAULT_MAX_DEPTH: usize = 3;
/// Largest `.gitignore` read.
const MAX_GITIGNORE_BYTES: u64 = 1024 * 1024;

/// What a directory entry is. Symbolic links are reported, never followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (not followed).
    Symlink,
    /// Anything else: FIFO, socket, device.
    Other,
}

/// One entry of a listing.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DirEntryInfo {
    /// The name (`list_directory`) or the path relative to the listed directory, with `/`
    /// separators (`directory_tree`). A name that is not valid UTF-8 is shown with U+FFFD
    /// replacing the invalid bytes, and `non_utf8` is set.
    pub name: String,
    /// What it is.
    pub kind: EntryKind,
    /// Size in bytes, for files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Depth below the listed directory (1 = a direct child); `directory_tree` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<usize>,
    /// True when the name is not valid UTF-8 (shown lossily, so it cannot be used as a path).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub non_utf8: bool,
    /// For `directory_tree`: a directory whose contents were not listed because of
    /// `max_depth`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub depth_limited: bool,
}

/// Arguments of `list_directory`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListDirectoryArgs {
    /// The directory: relative to the first allowed root, or absolute inside a root
    /// (default `.`, the first root).
    #[serde(default = "dot")]
    pub path: String,
    /// Include entries whose names start with `.` (default false).
    #[serde(default)]
    pub include_hidden: bool,
    /// Most entries to return (default 500, at most 10000).
    #[serde(default = "default_max_entries")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_entries: usize,
}

fn default_max_entries() -> usize {
    DEFAULT_MAX_ENTRIES
}

fn default_max_depth() -> usize {
    DEFAULT_MAX_DEPTH
}

fn dot() -> String {
    ".".to_owned()
}

/// The structured result of `list_directory`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ListDirectoryOutput {
    /// The directory's canonical absolute path.
    pub path: String,
    /// The entries, sorted by name (byte order).
    pub entries: Vec<DirEntryInfo>,
    /// Entries that matched (before `max_entries`).
    pub total: usize,
    /// Hidden entries left out.
    pub hidden: usize,
    /// True when `max_entries` cut the list.
    pub truncated: bool,
    /// A note for the reader (truncation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Reads a directory's entries (not following links), sorted by name.
fn read_entries(dir: &Dir) -> std::io::Result<Vec<(OsString, EntryKind, Option<u64>)>> {
    let mut out = Vec::new();
    for e in dir.entries()? {
        let e = e?;
        let name = e.file_name();
        let kind = match e.file_type() {
            Ok(t) if t.is_symlink() => EntryKind::Symlink,
            Ok(t) if t.is_dir() => EntryKind::Dir,
            Ok(t) if t.is_file() => EntryKind::File,
            _ => EntryKind::Other,
        };
        let size = if kind == EntryKind::File {
            e.metadata().ok().map(|m| m.len())
        } else {
            None
        };
        out.push((name, kind, size));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn is_hidden(name: &OsString) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

fn list(
    rp: &ResolvedPath,
    include_hidden: bool,
    max: usize,
) -> Result<ListDirectoryOutput, HandlerError> {
    let dir = rp.open_dir()?;
    let all = read_entries(&dir).map_err(|e| rp.io(e))?;
    let mut hidden = 0;
    let mut entries = Vec::new();
    let mut total = 0;
    for (name, kind, size) in all {
        if !include_hidden && is_hidden(&name) {
            hidden += 1;
            continue;
        }
        total += 1;
        if entries.len() < max {
            let (name, non_utf8) = name_lossy(&name);
            entries.push(DirEntryInfo {
                name,
                kind,
                size,
                depth: None,
                non_utf8,
                depth_limited: false,
            });
        }
    }
    let truncated = total > entries.len();
    let note = truncated.then(|| {
        format!(
            "Listing capped at {max} of {total} entries; raise max_entries (at most 10000) or list \
             a subdirectory."
        )
    });
    Ok(ListDirectoryOutput {
        path: rp.display(),
        entries,
        total,
        hidden,
        truncated,
        note,
    })
}

fn render_entry(e: &DirEntryInfo, indent: usize) -> String {
    let pad = "  ".repeat(indent);
    let name = match indent {
        0 => e.name.as_str(),
        _ => e.name.rsplit('/').next().unwrap_or(&e.name),
    };
    let mut s = match e.kind {
        EntryKind::Dir => format!("{pad}{name}/"),
        EntryKind::File => match e.size {
            Some(n) => format!("{pad}{name}  ({})", human_size(n)),
            None => format!("{pad}{name}"),
        },
        EntryKind::Symlink => format!("{pad}{name}@  (symbolic link)"),
        EntryKind::Other => format!("{pad}{name}  (special file)"),
    };
    if e.depth_limited {
        s.push_str("  …");
    }
    if e.non_utf8 {
        s.push_str("  [name is not valid UTF-8]");
    }
    s
}

/// The `list_directory` tool.
pub fn list_directory_tool(guard: Arc<Roots>) -> ToolDef {
    ToolDef::new(
        "list_directory",
        "List a directory inside the allowed roots: each entry's name, kind (file, dir, symlink, \
         other) and size, sorted by name. Hidden entries (names starting with '.') are left out \
         unless include_hidden is set. Capped at max_entries (default 500), with a note when \
         cut. Symbolic links are shown, not followed.",
        move |args: ListDirectoryArgs, _cx: RequestContext| {
            let guard = guard.clone();
            async move {
                blocking(move || {
                    let rp = guard.resolve(&args.path)?;
                    let max = args.max_entries.clamp(1, 10_000);
                    let out = list(&rp, args.include_hidden, max)?;
                    let mut text =
                        format!("{}/ ({} entries", out.path.trim_end_matches('/'), out.total);
                    if out.hidden > 0 {
                        text.push_str(&format!(", {} hidden not shown", out.hidden));
                    }
                    text.push_str(")\n");
                    for e in &out.entries {
                        text.push_str(&render_entry(e, 0));
                        text.push('\n');
                    }
                    if let Some(n) = &out.note {
                        text.push_str(n);
                        text.push('\n');
                    }
                    Ok(with_structured(vec![Content::text(text)], &out))
                })
                .await
            }
        },
    )
    .title("List directory")
    .annotations(read_only_annotations("List directory"))
    .output_schema::<ListDirectoryOutput>()
}

/// Arguments of `directory_tree`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectoryTreeArgs {
    /// The directory: relative to the first allowed root, or absolute inside a root
    /// (default `.`, the first root).
    #[serde(default = "dot")]
    pub path: String,
    /// How deep to go: 1 lists the directory's own entries (default 3, at most 32).
    #[serde(default = "default_max_depth")]
    #[schemars(range(min = 1, max = 32))]
    pub max_depth: usize,
    /// Most entries to return (default 500, at most 10000).
    #[serde(default = "default_max_entries")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_entries: usize,
    /// Include entries whose names start with `.` (default false). `.git` is never entered.
    #[serde(default)]
    pub include_hidden: bool,
    /// Leave out what `.gitignore` files (in the directory, below it, and above it up to its
    /// root) ignore (default true).
    #[serde(default = "yes")]
    pub respect_gitignore: bool,
}

fn yes() -> bool {
    true
}

/// The structured result of `directory_tree`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DirectoryTreeOutput {
    /// The directory's canonical absolute path.
    pub path: String,
    /// The entries, depth first, each directory's entries sorted by name; `name` is the path
    /// relative to the listed directory.
    pub entries: Vec<DirEntryInfo>,
    /// True when `max_entries` stopped the walk.
    pub truncated: bool,
    /// Entries left out because `.gitignore` ignores them.
    pub ignored: usize,
    /// Hidden entries left out.
    pub hidden: usize,
    /// A note for the reader (truncation, depth limit, unreadable directories).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

struct Walk {
    max_depth: usize,
    max_entries: usize,
    include_hidden: bool,
    gitignore: bool,
    cancel: CancellationToken,
    entries: Vec<DirEntryInfo>,
    ignores: Vec<Gitignore>,
    truncated: bool,
    ignored: usize,
    hidden: usize,
    depth_limited: usize,
    unreadable: Vec<String>,
}

/// Reads a small regular file beneath `dir`, without following links or blocking.
fn read_small(dir: &Dir, name: &Path, max: u64) -> Option<String> {
    let mut o = OpenOptions::new();
    o.read(true).follow(FollowSymlinks::No).nonblock(true);
    let f = dir.open_with(name, &o).ok()?.into_std();
    let md = f.metadata().ok()?;
    if !md.is_file() || md.len() > max {
        return None;
    }
    let mut s = Vec::new();
    f.take(max).read_to_end(&mut s).ok()?;
    Some(String::from_utf8_lossy(&s).into_owned())
}

fn gitignore_of(dir: &Dir, abs: &Path) -> Option<Gitignore> {
    let text = read_small(dir, Path::new(".gitignore"), MAX_GITIGNORE_BYTES)?;
    let mut b = GitignoreBuilder::new(abs);
    let from = Some(abs.join(".gitignore"));
    for line in text.lines() {
        // A line that is not a valid glob is skipped, as git does.
        let _ = b.add_line(from.clone(), line);
    }
    b.build().ok().filter(|g| !g.is_empty())
}

impl Walk {
    fn ignored_by_git(&self, abs: &Path, is_dir: bool) -> bool {
        for g in self.ignores.iter().rev() {
            let m = g.matched(abs, is_dir);
            if m.is_ignore() {
                return true;
            }
            if m.is_whitelist() {
                return false;
            }
        }
        false
    }

    /// Walks `dir` (at `abs`, named `rel` relative to the listed directory) at `depth`.
    fn walk(&mut self, dir: &Dir, abs: &Path, rel: &str, depth: usize) {
        if self.cancel.is_cancelled() || self.truncated {
            return;
        }
        let pushed = self.gitignore && {
            match gitignore_of(dir, abs) {
                Some(g) => {
                    self.ignores.push(g);
                    true
                }
                None => false,
            }
        };
        let entries = match read_entries(dir) {
            Ok(e) => e,
            Err(e) => {
                self.unreadable
                    .push(format!("{}: {e}", if rel.is_empty() { "." } else { rel }));
                if pushed {
                    self.ignores.pop();
                }
                return;
            }
        };
        for (name, kind, size) in entries {
            if self.entries.len() >= self.max_entries {
                self.truncated = true;
                break;
            }
            if !self.include_hidden && is_hidden(&name) {
                self.hidden += 1;
                continue;
            }
            let child_abs = abs.join(&name);
            if self.gitignore && self.ignored_by_git(&child_abs, kind == EntryKind::Dir) {
                self.ignored += 1;
                continue;
            }
            let (shown, non_utf8) = name_lossy(&name);
            let child_rel = if rel.is_empty() {
                shown
            } else {
                format!("{rel}/{shown}")
            };
            let descend = kind == EntryKind::Dir && name != ".git";
            let limited = descend && depth >= self.max_depth;
            if limited {
                self.depth_limited += 1;
            }
            self.entries.push(DirEntryInfo {
                name: child_rel.clone(),
                kind,
                size,
                depth: Some(depth),
                non_utf8,
                depth_limited: limited,
            });
            if descend && !limited {
                match dir.open_dir_nofollow(&name) {
                    Ok(sub) => self.walk(&sub, &child_abs, &child_rel, depth + 1),
                    Err(e) => self.unreadable.push(format!("{child_rel}: {e}")),
                }
            }
        }
        if pushed {
            self.ignores.pop();
        }
    }
}

fn tree(
    rp: &ResolvedPath,
    args: &DirectoryTreeArgs,
    cancel: CancellationToken,
) -> Result<DirectoryTreeOutput, HandlerError> {
    let dir = rp.open_dir()?;
    let mut w = Walk {
        max_depth: args.max_depth.clamp(1, 32),
        max_entries: args.max_entries.clamp(1, 10_000),
        include_hidden: args.include_hidden,
        gitignore: args.respect_gitignore,
        cancel,
        entries: Vec::new(),
        ignores: Vec::new(),
        truncated: false,
        ignored: 0,
        hidden: 0,
        depth_limited: 0,
        unreadable: Vec::new(),
    };
    if w.gitignore {
        // .gitignore files above the listed directory, from its root down.
        if let Ok(root) = rp.root_dir().try_clone() {
            let mut abs = PathBuf::from(rp.root());
            let mut cur = root;
            let parents: Vec<_> = rp.relative().components().collect();
            let n = if rp.relative() == Path::new(".") {
                0
            } else {
                parents.len()
            };
            for (i, c) in parents.iter().take(n).enumerate() {
                if let Some(g) = gitignore_of(&cur, &abs) {
                    w.ignores.push(g);
                }
                if i + 1 == n {
                    break;
                }
                match cur.open_dir_nofollow(c.as_os_str()) {
                    Ok(d) => cur = d,
                    Err(_) => break,
                }
                abs.push(c.as_os_str());
            }
        }
    }
    w.walk(&dir, rp.absolute(), "", 1);
    if w.cancel.is_cancelled() {
        return Err(fail("cancelled"));
    }
    let mut notes = Vec::new();
    if w.truncated {
        notes.push(format!(
            "Listing capped at {} entries (max_entries); list a subdirectory or raise max_entries (at most \
             10000).",
            w.max_entries
        ));
    }
    if w.depth_limited > 0 {
        notes.push(format!(
            "{} director{} at depth {} not expanded (marked …); raise max_depth or list them.",
            w.depth_limited,
            if w.depth_limited == 1 { "y" } else { "ies" },
            w.max_depth
        ));
    }
    if !w.unreadable.is_empty() {
        notes.push(format!("Could not read: {}.", w.unreadable.join("; ")));
    }
    Ok(DirectoryTreeOutput {
        path: rp.display(),
        entries: w.entries,
        truncated: w.truncated,
        ignored: w.ignored,
        hidden: w.hidden,
        note: (!notes.is_empty()).then(|| notes.join(" ")),
    })
}

/// The `directory_tree` tool.
pub fn directory_tree_tool(guard: Arc<Roots>) -> ToolDef {
    ToolDef::new(
        "directory_tree",
        "List a directory inside the allowed roots recursively, depth first and sorted by name, \
         as paths relative to it with kind and size. Limited by max_depth (default 3) and \
         max_entries (default 500), with a note when either cuts the listing. Skips what \
         .gitignore files ignore (unless respect_gitignore is false) and hidden entries (unless \
         include_hidden). Symbolic links are shown, not followed.",
        move |args: DirectoryTreeArgs, cx: RequestContext| {
            let guard = guard.clone();
            async move {
                let cancel = cx.cancellation_token();
                blocking(move || {
                    let rp = guard.resolve(&args.path)?;
                    let out = tree(&rp, &args, cancel)?;
                    let mut text = format!("{}/\n", out.path.trim_end_matches('/'));
                    for e in &out.entries {
                        text.push_str(&render_entry(e, e.depth.unwrap_or(1)));
                        text.push('\n');
                    }
                    let mut skipped = Vec::new();
                    if out.hidden > 0 {
                        skipped.push(format!("{} hidden", out.hidden));
                    }
                    if out.ignored > 0 {
                        skipped.push(format!("{} ignored by .gitignore", out.ignored));
                    }
                    if !skipped.is_empty() {
                        text.push_str(&format!(
                            "({} entries; not shown: {})\n",
                            out.entries.len(),
                            skipped.join(", ")
                        ));
                    } else {
                        text.push_str(&format!("({} entries)\n", out.entries.len()));
                    }
                    if let Some(n) = &out.note {
                        text.push_str(n);
                        text.push('\n');
                    }
                    Ok(with_structured(vec![Content::text(text)], &out))
                })
                .await
            }
        },
    )
    .title("Directory tree")
    .annotations(read_only_annotations("Directory tree"))
    .output_schema::<DirectoryTreeOutput>()
}
