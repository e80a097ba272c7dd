//! `file_write`: create or overwrite a text file atomically, keeping a backup of the old one.
//!
//! The new contents go to a temporary file in the target's directory (opened through the
//! root's handle), which is synced, renamed over the target, and the directory synced: a
//! reader sees the old file or the new one, never a mix, even if the server is killed.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use cap_fs_ext::{FollowSymlinks, OpenOptionsFollowExt};
use cap_std::fs::{Dir, OpenOptions};
use rune_server::proto::model::{Content, ToolAnnotations};
use rune_server::{HandlerError, RequestContext, ToolDef};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::guard::{GuardError, Roots, WriteTarget};
use crate::util::{blocking, with_structured};

/// Where and how many previous versions a writing tool keeps.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// The backup directory, relative to the root of the file written. Default `.rune-backup`.
    pub backup_dir: PathBuf,
    /// How many previous versions to keep per file; 0 disables backups. Default 3.
    pub backup_keep: usize,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            backup_dir: PathBuf::from(".rune-backup"),
            backup_keep: 3,
        }
    }
}

/// Arguments of `file_write`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileWriteArgs {
    /// The file: relative to the first allowed root, or absolute inside a root.
    pub path: String,
    /// The new contents (UTF-8 text).
    pub content: String,
    /// Create missing parent directories (inside the root only). Default false.
    #[serde(default)]
    pub create_dirs: bool,
}

/// The structured result of `file_write`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FileWriteOutput {
    /// The absolute path written.
    pub path: String,
    /// Bytes written.
    pub bytes_written: u64,
    /// True when the file did not exist before.
    pub created: bool,
    /// The backup of the previous version, if one was kept.
    pub backup: Option<String>,
}

fn nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn write_annotations(title: &str) -> ToolAnnotations {
    ToolAnnotations {
        title: Some(title.to_owned()),
        read_only_hint: Some(false),
        destructive_hint: Some(true),
        idempotent_hint: Some(true),
        open_world_hint: Some(false),
    }
}

/// Copies the current version of the target into the backup directory and prunes old ones.
/// Returns the backup's absolute path.
fn backup(t: &WriteTarget, dir: &Dir, opts: &WriteOptions) -> Result<Option<String>, GuardError> {
    if opts.backup_keep == 0 {
        return Ok(None);
    }
    let io = |e| t.io(e);
    let rel = t.relative();
    let flat = rel.to_string_lossy().replace('/', "%");
    let root = t.root_dir();
    root.create_dir_all(&opts.backup_dir).map_err(io)?;
    let bdir = root.open_dir(&opts.backup_dir).map_err(io)?;
    let mut o = OpenOptions::new();
    o.read(true).follow(FollowSymlinks::No);
    let mut src = dir.open_with(t.name(), &o).map_err(io)?;
    let name = format!("{flat}.{}", nanos());
    let mut w = OpenOptions::new();
    w.write(true).create_new(true).follow(FollowSymlinks::No);
    let mut dst = bdir.open_with(&name, &w).map_err(io)?;
    std::io::copy(&mut src, &mut dst).map_err(io)?;
    dst.sync_all().map_err(io)?;
    // Prune: keep the newest `backup_keep`.
    let prefix = format!("{flat}.");
    let mut olds: Vec<(u128, String)> = Vec::new();
    for e in bdir.entries().map_err(io)? {
        let e = e.map_err(io)?;
        let n = e.file_name().to_string_lossy().into_owned();
        if let Some(stamp) = n.strip_prefix(&prefix)
            && let Ok(s) = stamp.parse::<u128>()
        {
            olds.push((s, n));
        }
    }
    olds.sort();
    let excess = olds.len().saturating_sub(opts.backup_keep);
    for (_, n) in olds.into_iter().take(excess) {
        let _ = bdir.remove_file(&n);
    }
    Ok(Some(
        t.root()
            .join(&opts.backup_dir)
            .join(name)
            .to_string_lossy()
            .into_owned(),
    ))
}

/// Writes `data` to the target atomically (temp file, fsync, rename, fsync of the directory),
/// keeping the existing permissions and a backup. Returns (created, backup).
pub(crate) fn atomic_write(
    t: &WriteTarget,
    data: &[u8],
    opts: &WriteOptions,
) -> Result<(bool, Option<String>), GuardError> {
    let io = |e| t.io(e);
    let dir = t.open_parent()?;
    let existing = t.existing_mode(&dir)?;
    let tmp = format!(
        ".{}.rune-tmp-{}-{}",
        t.name().to_string_lossy(),
        std::process::id(),
        nanos()
    );
    let mut o = OpenOptions::new();
    o.write(true).create_new(true).follow(FollowSymlinks::No);
    let result = (|| {
        let f = dir.open_with(&tmp, &o)?;
        let mut f = f.into_std();
        let mode = existing.unwrap_or(0o644);
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(data)?;
        f.sync_all()?;
        Ok::<(), std::io::Error>(())
    })();
    if let Err(e) = result {
        let _ = dir.remove_file(&tmp);
        return Err(io(e));
    }
    let b = if existing.is_some() {
        match backup(t, &dir, opts) {
            Ok(b) => b,
            Err(e) => {
                let _ = dir.remove_file(&tmp);
                return Err(e);
            }
        }
    } else {
        None
    };
    if let Err(e) = dir.rename(&tmp, &dir, t.name()) {
        let _ = dir.remove_file(&tmp);
        return Err(io(e));
    }
    // The directory handle may be an `O_PATH` one, which cannot be synced: open it for
    // reading, beneath itself.
    use rustix::fs::{Mode, OFlags};
    let d = rustix::fs::openat(
        &dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io(e.into()))?;
    rustix::fs::fsync(&d).map_err(|e| io(e.into()))?;
    Ok((existing.is_none(), b))
}

/// The `file_write` tool.
pub fn file_write_tool(guard: Arc<Roots>, opts: WriteOptions) -> ToolDef {
    let opts = Arc::new(opts);
    ToolDef::new(
        "file_write",
        "Create or overwrite a text file inside the allowed roots, atomically (a reader sees the \
         old or the new contents, never a mix). Permissions of an existing file are kept and its \
         previous version is saved as a backup. Set create_dirs to create missing parent \
         directories.",
        move |args: FileWriteArgs, _cx: RequestContext| {
            let guard = guard.clone();
            let opts = opts.clone();
            async move {
                blocking(move || {
                    let t = guard.resolve_for_write(&args.path, args.create_dirs)?;
                    let (created, backup) = atomic_write(&t, args.content.as_bytes(), &opts)?;
                    let out = FileWriteOutput {
                        path: t.display(),
                        bytes_written: args.content.len() as u64,
                        created,
                        backup,
                    };
                    let mut text = format!(
                        "{} {} ({} bytes)",
                        if created { "created" } else { "wrote" },
                        out.path,
                        out.bytes_written
                    );
                    if let Some(b) = &out.backup {
                        text.push_str(&format!("; previous version saved to {b}"));
                    }
                    Ok::<_, HandlerError>(with_structured(vec![Content::text(text)], &out))
                })
                .await
            }
        },
    )
    .title("Write file")
    .annotations(write_annotations("Write file"))
    .output_schema::<FileWriteOutput>()
}
