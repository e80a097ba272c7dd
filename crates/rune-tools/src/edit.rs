//! `file_edit`: exact-text replacements in a text file, with a dry run that returns a
//! unified diff; the file is written atomically like `file_write`, with the same backups.

use std::io::Read as _;
use std::sync::Arc;

use rune_server::proto::model::{Content, ToolAnnotations};
use rune_server::{HandlerError, RequestContext, ToolDef};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::guard::Roots;
use crate::util::{blocking, fail, with_structured};
use crate::write::{WriteOptions, atomic_write};

/// The largest file `file_edit` works on.
pub const EDIT_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// One replacement.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Edit {
    /// The exact text to replace (whitespace and line breaks included). It must occur exactly
    /// once unless `all` is set.
    #[schemars(length(min = 1))]
    pub old: String,
    /// The replacement text.
    pub new: String,
    /// Replace every occurrence instead of requiring exactly one. Default false.
    #[serde(default)]
    pub all: bool,
}

/// Arguments of `file_edit`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileEditArgs {
    /// The file: relative to the first allowed root, or absolute inside a root.
    pub path: String,
    /// The replacements, applied in order (each to the result of the previous ones).
    #[schemars(length(min = 1))]
    pub edits: Vec<Edit>,
    /// Only return the unified diff; change nothing. Default false.
    #[serde(default)]
    pub dry_run: bool,
}

/// The structured result of `file_edit`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FileEditOutput {
    /// The absolute path of the file.
    pub path: String,
    /// True when nothing was written.
    pub dry_run: bool,
    /// Number of occurrences replaced, over all edits.
    pub replacements: u64,
    /// Unified diff of the change.
    pub diff: String,
    /// The backup of the previous version, if one was kept.
    pub backup: Option<String>,
}

/// Applies the edits to `text`; returns the new text and the number of replacements.
pub(crate) fn apply_edits(text: &str, edits: &[Edit]) -> Result<(String, u64), String> {
    let mut cur = text.to_owned();
    let mut total = 0u64;
    for (i, e) in edits.iter().enumerate() {
        let n = i + 1;
        if e.old.is_empty() {
            return Err(format!(
                "edit {n}: `old` is empty; give the exact text to replace"
            ));
        }
        let count = cur.matches(e.old.as_str()).count();
        if count == 0 {
            return Err(format!(
                "edit {n}: `old` text not found (it must match exactly, including whitespace \
                 and line breaks); nothing was changed"
            ));
        }
        if count > 1 && !e.all {
            return Err(format!(
                "edit {n}: `old` text found {count} times: give more context so that it matches \
                 once, or set all to replace every occurrence; nothing was changed"
            ));
        }
        cur = if e.all {
            cur.replace(e.old.as_str(), &e.new)
        } else {
            cur.replacen(e.old.as_str(), &e.new, 1)
        };
        total += count as u64;
    }
    Ok((cur, total))
}

/// A unified diff between two texts.
pub(crate) fn unified_diff(path: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}

/// The `file_edit` tool.
pub fn file_edit_tool(guard: Arc<Roots>, opts: WriteOptions) -> ToolDef {
    let opts = Arc::new(opts);
    ToolDef::new(
        "file_edit",
        "Edit a text file inside the allowed roots by exact-text replacements: each `old` must \
         occur exactly once (or set `all`). Returns a unified diff; with dry_run nothing is \
         changed. The file is written atomically, keeping its permissions and a backup of the \
         previous version.",
        move |args: FileEditArgs, _cx: RequestContext| {
            let guard = guard.clone();
            let opts = opts.clone();
            async move {
                blocking(move || {
                    let rp = guard.resolve(&args.path)?;
                    if !args.dry_run {
                        guard.check_writable(&rp)?;
                    }
                    let mut f = rp.open_file()?;
                    let len = f.metadata().map_err(|e| rp.io(e))?.len();
                    if len > EDIT_MAX_BYTES {
                        return Err(fail(format!(
                            "{} is {len} bytes; file_edit works on files up to {EDIT_MAX_BYTES} \
                             bytes",
                            args.path
                        )));
                    }
                    let mut bytes = Vec::with_capacity(len as usize);
                    f.read_to_end(&mut bytes).map_err(|e| rp.io(e))?;
                    let old = String::from_utf8(bytes).map_err(|_| {
                        fail(format!(
                            "{} is not valid UTF-8 text; file_edit only edits UTF-8 files",
                            args.path
                        ))
                    })?;
                    let (new, replacements) = apply_edits(&old, &args.edits)
                        .map_err(|m| fail(format!("{}: {m}", args.path)))?;
                    let shown = rp.relative().to_string_lossy().into_owned();
                    let diff = unified_diff(&shown, &old, &new);
                    let backup = if args.dry_run || new == old {
                        None
                    } else {
                        let t = guard.resolve_for_write(&args.path, false)?;
                        atomic_write(&t, new.as_bytes(), &opts)?.1
                    };
                    let out = FileEditOutput {
                        path: rp.display(),
                        dry_run: args.dry_run,
                        replacements,
                        diff,
                        backup,
                    };
                    let head = if args.dry_run {
                        format!(
                            "dry run: {replacements} replacement(s) in {} (nothing written)",
                            out.path
                        )
                    } else {
                        format!("{replacements} replacement(s) in {}", out.path)
                    };
                    let text = if out.diff.is_empty() {
                        format!("{head}; the contents are unchanged")
                    } else {
                        format!("{head}\n{}", out.diff)
                    };
                    Ok::<_, HandlerError>(with_structured(vec![Content::text(text)], &out))
                })
                .await
            }
        },
    )
    .title("Edit file")
    .annotations(ToolAnnotations {
        title: Some("Edit file".to_owned()),
        read_only_hint: Some(false),
        destructive_hint: Some(true),
        idempotent_hint: Some(false),
        open_world_hint: Some(false),
    })
    .output_schema::<FileEditOutput>()
}
