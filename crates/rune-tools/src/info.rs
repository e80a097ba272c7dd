//! `file_info`: metadata of a file or directory, read from an open handle.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::sync::Arc;

use rune_server::proto::model::Content;
use rune_server::{HandlerError, RequestContext, ToolDef};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::guard::{Kind, ResolvedPath, Roots};
use crate::text;
use crate::util::{blocking, human_size, read_only_annotations, rfc3339_millis, with_structured};

/// Files up to this size get a line count.
pub const LINE_COUNT_MAX_BYTES: u64 = 10 * 1024 * 1024;

/// Arguments of `file_info`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileInfoArgs {
    /// The file or directory: relative to the first allowed root, or absolute inside a root.
    pub path: String,
}

/// The structured result of `file_info`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FileInfoOutput {
    /// The canonical absolute path (symbolic links resolved).
    pub path: String,
    /// `file` or `dir`.
    pub kind: String,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits in octal, e.g. `0644`.
    pub permissions: String,
    /// True when no one has write permission.
    pub readonly: bool,
    /// Last modification time, RFC 3339 UTC with milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    /// Creation time, where the file system records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// MIME type guessed from the name and contents (files only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// True for a binary file (files only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<bool>,
    /// Number of lines, for text files up to 10 MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_count: Option<u64>,
}

fn info(rp: &ResolvedPath) -> Result<FileInfoOutput, HandlerError> {
    let (md, extra) = match rp.kind() {
        Kind::Dir => (rp.metadata()?, None),
        Kind::File => {
            let f = rp.open_file()?;
            let md = f.metadata().map_err(|e| rp.io(e))?;
            let sniff = text::sniff_file(rp, &f)?;
            let lines = if !sniff.binary && md.len() <= LINE_COUNT_MAX_BYTES {
                Some(text::count_lines(&f, md.len()).map_err(|e| rp.io(e))?)
            } else {
                None
            };
            (md, Some((sniff.mime, sniff.binary, lines)))
        }
    };
    let mode = md.permissions().mode() & 0o7777;
    Ok(FileInfoOutput {
        path: rp.display(),
        kind: if rp.kind() == Kind::Dir {
            "dir"
        } else {
            "file"
        }
        .to_owned(),
        size: md.size(),
        permissions: format!("{mode:04o}"),
        readonly: mode & 0o222 == 0,
        modified: md.modified().ok().map(rfc3339_millis),
        created: md.created().ok().map(rfc3339_millis),
        mime_type: extra.map(|e| e.0.to_owned()),
        binary: extra.map(|e| e.1),
        line_count: extra.and_then(|e| e.2),
    })
}

/// The `file_info` tool.
pub fn file_info_tool(guard: Arc<Roots>) -> ToolDef {
    ToolDef::new(
        "file_info",
        "Metadata of a file or directory inside the allowed roots: kind, size, permissions \
         (octal), read-only flag, modification and creation times (RFC 3339), MIME type, and the \
         line count of text files up to 10 MiB.",
        move |args: FileInfoArgs, _cx: RequestContext| {
            let guard = guard.clone();
            async move {
                blocking(move || {
                    let rp = guard.resolve(&args.path)?;
                    let out = info(&rp)?;
                    let mut text = format!(
                        "{}\nkind: {}\nsize: {} bytes ({})\npermissions: {}{}\n",
                        out.path,
                        out.kind,
                        out.size,
                        human_size(out.size),
                        out.permissions,
                        if out.readonly { " (read-only)" } else { "" }
                    );
                    if let Some(m) = &out.modified {
                        text.push_str(&format!("modified: {m}\n"));
                    }
                    if let Some(c) = &out.created {
                        text.push_str(&format!("created: {c}\n"));
                    }
                    if let Some(m) = &out.mime_type {
                        text.push_str(&format!(
                            "mime type: {m}{}\n",
                            if out.binary == Some(true) {
                                " (binary)"
                            } else {
                                ""
                            }
                        ));
                    }
                    if let Some(l) = out.line_count {
                        text.push_str(&format!("lines: {l}\n"));
                    }
                    Ok(with_structured(vec![Content::text(text)], &out))
                })
                .await
            }
        },
    )
    .title("File info")
    .annotations(read_only_annotations("File info"))
    .output_schema::<FileInfoOutput>()
}
