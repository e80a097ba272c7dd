//! Rune's built-in file tools, and the path jail that confines them.
//!
//! # The security model
//!
//! Every tool here takes paths from a client, that is from a model, and a model may be
//! confused or steered by what it reads. So no tool touches a path itself: each hands the
//! user's text to one place, [`guard::Roots::resolve`], and works only with the
//! [`guard::ResolvedPath`] it returns.
//!
//! - **Allowed roots.** A [`Roots`] is a set of directories, canonicalized and opened once
//!   as directory handles when it is built (a root that does not exist is an error then, not
//!   later). Relative paths are relative to the first root; absolute paths must lie inside one.
//! - **Refused before any system call**: empty paths, NUL bytes, paths over 4096 bytes, a
//!   leading `~` (never expanded; the message says to give a path inside a root), and paths
//!   that, with `.` and `..` folded, lie outside every root. The comparison is component by
//!   component, so root `/a/b` does not admit its sibling `/a/bc`.
//! - **Refused after resolution**: a path whose symbolic links (the last component or any
//!   parent directory) lead outside every root, and device files, FIFOs and sockets.
//! - **Opened beneath the root.** Files and directories are opened through the root's handle
//!   with `cap-std` (openat2 `RESOLVE_BENEATH` on Linux), using the symlink-free path found
//!   at resolution. A component swapped for a symbolic link between the check and the open
//!   cannot lead outside; the open fails and the tool says the path changed. Files are opened
//!   with `O_NOFOLLOW | O_NONBLOCK` (a FIFO swapped in cannot block the server) and checked
//!   with `fstat` on the open handle: only regular files are read.
//! - **Listings never follow links**: directories are walked through handles, symbolic links
//!   are reported as such, and names that are not UTF-8 are shown lossily and flagged.
//! - **Read-only mode**: [`Roots::read_only`]; writing tools refuse through
//!   [`Roots::check_writable`] and [`Roots::resolve_for_write`] before touching anything.
//!   Reading tools say so in their annotations (`readOnlyHint: true`); writing tools say
//!   `readOnlyHint: false`, `destructiveHint: true`.
//! - **Writes**: a path to write ([`Roots::resolve_for_write`]) needs a parent directory that
//!   resolves inside a root and a plain last component (no `.`/`..`, never a symbolic link).
//!   Files are written atomically (temporary file in the same directory, fsync, rename, fsync
//!   of the directory), keeping permissions and a backup ([`WriteOptions`]).
//! - **Bounded output.** Every result is capped (bytes or entries), and a capped result says
//!   so and how to continue; nothing is cut silently.
//!
//! Each refusal is a tool error (`isError: true`) whose message says what was wrong and what
//! to do instead. Arguments are checked against each tool's JSON Schema by the server engine
//! before a handler runs; unknown fields are refused.
//!
//! # The tools
//!
//! | tool | what it does |
//! | --- | --- |
//! | `file_read` ([`file_read_tool`]) | a text file whole, or a line range, head/tail N lines, a byte range, or a line+column selection; capped (32 KiB by default, under the clients' output limits) with `next_line`/`next_offset` to continue; UTF-8 checked (`lossy` to replace invalid bytes); images as image content, other binary files as base64 blob resources |
//! | `file_read_many` ([`file_read_many_tool`]) | several whole files in one call with one shared output budget; each file succeeds or fails on its own, and the call is an error only when all fail |
//! | `list_directory` ([`list_directory_tool`]) | a directory's entries with kind and size, sorted by name, hidden entries on request, capped |
//! | `directory_tree` ([`directory_tree_tool`]) | a recursive listing with `max_depth` (3) and `max_entries` (500), honouring `.gitignore` |
//! | `file_info` ([`file_info_tool`]) | kind, size, octal permissions, read-only flag, RFC 3339 times, MIME type, line count of text files up to 10 MiB |
//! | `file_write` ([`file_write_tool`]) | create or overwrite a text file atomically, permissions kept, previous version backed up (`.rune-backup/`, last 3), `create_dirs` |
//! | `file_edit` ([`file_edit_tool`]) | exact-text replacements (each unique unless `all`), unified diff, `dry_run` |
//! | `create_directory` ([`create_directory_tool`]) | a directory with its missing parents |
//! | `move_path` ([`move_path_tool`]) | one atomic rename within a root; no overwrite unless asked |
//! | `text_search` ([`text_search_tool`]) | a literal (memmem), several literals at once (`patterns`, aho-corasick) or a regex, case-insensitive, whole word, `multiline`; parallel `.gitignore`-aware walk, files opened beneath the root, large files streamed in chunks on every CPU; globs, context, progress, cancellation; capped |
//!
//! Every tool returns text content for people and models plus `structuredContent` matching
//! its declared `outputSchema`.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let roots = Arc::new(rune_tools::Roots::new(["."])?.read_only(true));
//! let mut builder = rune_server::Server::builder("files", "1.0.0");
//! for tool in rune_tools::read_tools(roots) {
//!     builder = builder.tool(tool);
//! }
//! let server = builder.build();
//! # let _ = server; Ok(()) }
//! ```
//!
//! This crate is for Unix systems (it relies on `O_NOFOLLOW`, `O_NONBLOCK` and Unix
//! permissions).

#![deny(missing_docs)]

pub mod audit;
pub mod dir;
pub mod edit;
pub mod guard;
pub mod info;
mod inline;
pub mod manage;
pub mod policy;
pub mod read;
pub mod search;
mod text;
mod util;
pub mod write;

use std::sync::Arc;

pub use dir::{directory_tree_tool, list_directory_tool};
pub use edit::file_edit_tool;
pub use guard::{GuardError, ResolvedPath, Roots, WriteTarget};
pub use info::file_info_tool;
pub use manage::{create_directory_tool, move_path_tool};
pub use policy::{Consent, Policy, ToolPolicy};
pub use read::{file_read_many_tool, file_read_tool};
use rune_server::ToolDef;
pub use search::{SearchOptions, SearchStats, search, text_search_tool};
pub use write::{WriteOptions, file_write_tool};

/// Every read-only tool of this crate, sharing one set of roots.
pub fn read_tools(guard: Arc<Roots>) -> Vec<ToolDef> {
    vec![
        file_read_tool(guard.clone()),
        file_read_many_tool(guard.clone()),
        list_directory_tool(guard.clone()),
        directory_tree_tool(guard.clone()),
        file_info_tool(guard),
    ]
}

/// Every writing tool of this crate (they refuse in read-only mode).
pub fn write_tools(guard: Arc<Roots>, opts: WriteOptions) -> Vec<ToolDef> {
    vec![
        file_write_tool(guard.clone(), opts.clone()),
        file_edit_tool(guard.clone(), opts),
        create_directory_tool(guard.clone()),
        move_path_tool(guard),
    ]
}

/// The search tools of this crate.
pub fn search_tools(guard: Arc<Roots>) -> Vec<ToolDef> {
    vec![text_search_tool(guard)]
}
