//! `create_directory` and `move_path`.

use std::sync::Arc;

use cap_std::fs::Dir;
use rune_server::proto::model::{Content, ToolAnnotations};
use rune_server::{HandlerError, RequestContext, ToolDef};
use rustix::fs::{Mode, OFlags, RenameFlags};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::guard::{GuardError, Kind, Roots, WriteTarget};
use crate::util::{blocking, fail, with_structured};

fn annotations(title: &str, destructive: bool, idempotent: bool) -> ToolAnnotations {
    ToolAnnotations {
        title: Some(title.to_owned()),
        read_only_hint: Some(false),
        destructive_hint: Some(destructive),
        idempotent_hint: Some(idempotent),
        open_world_hint: Some(false),
    }
}

fn read_only(guard: &Roots, path: &str) -> Result<(), GuardError> {
    if guard.is_read_only() {
        return Err(GuardError::ReadOnly {
            path: path.to_owned(),
        });
    }
    Ok(())
}

fn sync_dir(t: &WriteTarget, dir: &Dir) -> Result<(), GuardError> {
    let d = rustix::fs::openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| t.io(e.into()))?;
    rustix::fs::fsync(&d).map_err(|e| t.io(e.into()))
}

/// Arguments of `create_directory`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDirectoryArgs {
    /// The directory to create, with any missing parents: relative to the first allowed root,
    /// or absolute inside a root.
    pub path: String,
}

/// The structured result of `create_directory`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CreateDirectoryOutput {
    /// The absolute path of the directory.
    pub path: String,
    /// False when it already existed.
    pub created: bool,
}

/// The `create_directory` tool.
pub fn create_directory_tool(guard: Arc<Roots>) -> ToolDef {
    ToolDef::new(
        "create_directory",
        "Create a directory inside the allowed roots, with any missing parent directories. \
         Succeeds without change when the directory already exists; refused when a file is in \
         the way.",
        move |args: CreateDirectoryArgs, _cx: RequestContext| {
            let guard = guard.clone();
            async move {
                blocking(move || {
                    read_only(&guard, &args.path)?;
                    let out = match guard.resolve(&args.path) {
                        Ok(rp) if rp.kind() == Kind::Dir => CreateDirectoryOutput {
                            path: rp.display(),
                            created: false,
                        },
                        Ok(_) => {
                            return Err(fail(format!(
                                "{} exists and is a file, not a directory",
                                args.path
                            )));
                        }
                        Err(GuardError::NotFound { .. }) => {
                            let t = guard.resolve_entry(&args.path, true)?;
                            let dir = t.open_parent()?;
                            dir.create_dir(t.name()).map_err(|e| t.io(e))?;
                            sync_dir(&t, &dir)?;
                            CreateDirectoryOutput {
                                path: t.display(),
                                created: true,
                            }
                        }
                        Err(e) => return Err(e.into()),
                    };
                    let text = if out.created {
                        format!("created directory {}", out.path)
                    } else {
                        format!("directory {} already exists", out.path)
                    };
                    Ok::<_, HandlerError>(with_structured(vec![Content::text(text)], &out))
                })
                .await
            }
        },
    )
    .title("Create directory")
    .annotations(annotations("Create directory", false, true))
    .output_schema::<CreateDirectoryOutput>()
}

/// Arguments of `move_path`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MovePathArgs {
    /// The file or directory to move (a symbolic link is moved itself, never followed).
    pub source: String,
    /// The new path, in the same root. Its parent directory must exist.
    pub destination: String,
    /// Replace an existing destination (a file, or an empty directory). Default false.
    #[serde(default)]
    pub overwrite: bool,
}

/// The structured result of `move_path`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MovePathOutput {
    /// The absolute path moved from.
    pub source: String,
    /// The absolute path moved to.
    pub destination: String,
    /// True when an existing destination was replaced.
    pub replaced: bool,
}

/// The `move_path` tool.
pub fn move_path_tool(guard: Arc<Roots>) -> ToolDef {
    ToolDef::new(
        "move_path",
        "Move or rename a file or directory inside an allowed root, atomically (one rename). \
         An existing destination is refused unless overwrite is set. Moves between different \
         roots are refused.",
        move |args: MovePathArgs, _cx: RequestContext| {
            let guard = guard.clone();
            async move {
                blocking(move || {
                    read_only(&guard, &args.source)?;
                    let src = guard.resolve_entry(&args.source, false)?;
                    let dst = guard.resolve_entry(&args.destination, false)?;
                    if src.root() != dst.root() {
                        return Err(fail(format!(
                            "{} and {} are in different roots; moves between roots are not \
                             supported (copy with file_read and file_write instead)",
                            args.source, args.destination
                        )));
                    }
                    let sdir = src.open_parent()?;
                    let ddir = dst.open_parent()?;
                    if let Err(e) = sdir.symlink_metadata(src.name()) {
                        return Err(src.io(e).into());
                    }
                    let exists = ddir.symlink_metadata(dst.name()).is_ok();
                    if exists && !args.overwrite {
                        return Err(fail(format!(
                            "{} already exists; set overwrite to replace it",
                            args.destination
                        )));
                    }
                    let flags = if args.overwrite {
                        RenameFlags::empty()
                    } else {
                        RenameFlags::NOREPLACE
                    };
                    rustix::fs::renameat_with(&sdir, src.name(), &ddir, dst.name(), flags)
                        .map_err(|e| {
                            if e == rustix::io::Errno::EXIST && !args.overwrite {
                                fail(format!(
                                    "{} already exists; set overwrite to replace it",
                                    args.destination
                                ))
                            } else {
                                src.io(e.into()).into()
                            }
                        })?;
                    sync_dir(&dst, &ddir)?;
                    sync_dir(&src, &sdir)?;
                    let out = MovePathOutput {
                        source: src.display(),
                        destination: dst.display(),
                        replaced: exists,
                    };
                    let text = format!(
                        "moved {} to {}{}",
                        out.source,
                        out.destination,
                        if exists {
                            " (replaced the old one)"
                        } else {
                            ""
                        }
                    );
                    Ok::<_, HandlerError>(with_structured(vec![Content::text(text)], &out))
                })
                .await
            }
        },
    )
    .title("Move path")
    .annotations(annotations("Move path", true, false))
    .output_schema::<MovePathOutput>()
}
