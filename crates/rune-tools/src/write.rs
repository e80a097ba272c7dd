//! `file_write`: create or overwrite a text file atomically, keeping a backup of the old one.
//!
//! The new contents go to a temporary file in the target's directory (opened through the
//! root's handle), which is synced, renamed over the target, and the directory synced: a
//! reader sees the old file or the new one, never a mix, even if the server is killed.
//!
//! The previous version is kept as a hard link in the backup directory when the file has no
//! other links (nothing is copied: after the rename the backup is the old file's only name);
//! otherwise, or across file systems, it is copied through a temporary file of its own.
//!
//! # Temporary files
//!
//! A temporary file is named `.<name>.rune-tmp-<pid>-<nanoseconds>` and its writer holds an
//! exclusive `flock` on it until it is renamed or removed. A writer killed in between leaves
//! it behind, unlocked (the kernel drops the locks of a dead process). The first write to a
//! directory in each 10 minutes of a process's life sweeps that directory (and the backup
//! directory) of such files: one is removed when nobody holds its lock, it has not been
//! modified for 2 seconds (a writer takes its lock right after creating the file), and either
//! the process named by its pid is gone or it has not been modified for an hour (the pid was
//! reused). A locked file is never removed.

use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cap_fs_ext::{FollowSymlinks, OpenOptionsFollowExt};
use cap_std::fs::{Dir, MetadataExt as _, OpenOptions};
use rune_server::proto::model::{CallToolResult, Content, ToolAnnotations};
use rune_server::{HandlerError, RequestContext, ToolDef};
use rustix::fs::FlockOperation;
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

/// What marks a temporary file of this module: `.<name>.rune-tmp-<pid>-<nanoseconds>`.
const TMP_MARK: &str = ".rune-tmp-";
/// An unlocked temporary file modified more recently than this may be a writer's that has
/// not taken its lock yet: it is left alone.
const TMP_GRACE: Duration = Duration::from_secs(2);
/// An unlocked temporary file untouched this long is stale even if a process with its pid
/// runs (the pid was reused).
const TMP_MAX_AGE: Duration = Duration::from_secs(3600);
/// A directory is swept at most this often by one process.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// A new temporary file's name, for a file called `name`.
fn tmp_name(name: &str) -> String {
    format!(".{name}{TMP_MARK}{}-{}", std::process::id(), nanos())
}

/// The pid in a temporary file's name, if `name` is one.
fn tmp_owner(name: &str) -> Option<u32> {
    if !name.starts_with('.') {
        return None;
    }
    let (_, rest) = name.rsplit_once(TMP_MARK)?;
    let (pid, stamp) = rest.split_once('-')?;
    stamp.parse::<u128>().ok()?;
    pid.parse().ok()
}

/// Creates a temporary file in `dir` (never following a link, never replacing anything) and
/// takes its lock, which says "a live writer owns this" to [`sweep`].
fn create_tmp(dir: &Dir, name: &str) -> io::Result<std::fs::File> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true).follow(FollowSymlinks::No);
    let f = dir.open_with(name, &o)?.into_std();
    // Nobody else can hold the lock of a file just created; if the lock cannot be taken at
    // all (a file system without locks), the grace period still protects the file.
    let _ = rustix::fs::flock(&f, FlockOperation::NonBlockingLockExclusive);
    Ok(f)
}

/// Whether a process with this pid exists (in our pid namespace). Unknown (no `/proc`):
/// assumed to exist, so only age decides.
fn pid_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// Removes stale temporary files of killed writers from `dir` (see the module docs);
/// returns how many were removed.
pub(crate) fn sweep(dir: &Dir) -> io::Result<usize> {
    let now = SystemTime::now();
    let me = std::process::id();
    let mut removed = 0;
    for entry in dir.entries()? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(pid) = tmp_owner(name) else { continue };
        // Not following links: only regular files are considered.
        let Ok(md) = entry.metadata() else { continue };
        if !md.is_file() {
            continue;
        }
        let age = md
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m.into_std()).ok())
            .unwrap_or(Duration::ZERO);
        if age < TMP_GRACE || (age < TMP_MAX_AGE && (pid == me || pid_alive(pid))) {
            continue;
        }
        // A live writer (in any pid namespace) holds the lock; a dead one holds nothing.
        let mut o = OpenOptions::new();
        o.read(true).follow(FollowSymlinks::No);
        let Ok(f) = dir.open_with(name, &o) else {
            continue;
        };
        if rustix::fs::flock(&f, FlockOperation::NonBlockingLockExclusive).is_err() {
            continue;
        }
        if dir.remove_file(name).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

/// [`sweep`]s `dir`, known as `path`, unless this process did in the last 10 minutes.
/// Failures are ignored: sweeping is housekeeping, never a reason to fail a write.
fn sweep_now_and_then(dir: &Dir, path: &Path) {
    static SWEPT: Mutex<Vec<(PathBuf, Instant)>> = Mutex::new(Vec::new());
    {
        let mut swept = SWEPT.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        swept.retain(|(_, at)| now.duration_since(*at) < SWEEP_EVERY);
        if swept.iter().any(|(p, _)| p == path) {
            return;
        }
        swept.push((path.to_owned(), now));
    }
    let _ = sweep(dir);
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

/// Keeps the current version of the target in the backup directory (a hard link, or a copy;
/// see the module docs) and prunes old ones. Returns the backup's absolute path.
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
    sweep_now_and_then(&bdir, &t.root().join(&opts.backup_dir));
    let name = format!("{flat}.{}", nanos());
    let only_link = dir
        .symlink_metadata(t.name())
        .is_ok_and(|md| md.is_file() && md.nlink() == 1);
    if !(only_link && dir.hard_link(t.name(), &bdir, &name).is_ok()) {
        copy_backup(t, dir, &bdir, &name).map_err(io)?;
    }
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

/// Copies the target into `bdir` as `name`, with the target's permissions, through a
/// temporary file (a crash leaves no partial backup under a backup's name).
fn copy_backup(t: &WriteTarget, dir: &Dir, bdir: &Dir, name: &str) -> io::Result<()> {
    let mut o = OpenOptions::new();
    o.read(true).follow(FollowSymlinks::No);
    let mut src = dir.open_with(t.name(), &o)?.into_std();
    let tmp = tmp_name(name);
    let result = (|| {
        let mut dst = create_tmp(bdir, &tmp)?;
        dst.set_permissions(src.metadata()?.permissions())?;
        io::copy(&mut src, &mut dst)?;
        dst.sync_all()?;
        bdir.rename(&tmp, bdir, name)
    })();
    if result.is_err() {
        let _ = bdir.remove_file(&tmp);
    }
    result
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
    sweep_now_and_then(&dir, t.parent().absolute());
    let existing = t.existing_mode(&dir)?;
    let tmp = tmp_name(&t.name().to_string_lossy());
    let result = (|| {
        let mut f = create_tmp(&dir, &tmp)?;
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

/// What `file_write` does, on the calling thread (it blocks on file I/O and fsync): the tool
/// without its async wrapper, for embedders that call it directly and for benchmarks.
pub fn file_write(
    guard: &Roots,
    opts: &WriteOptions,
    args: &FileWriteArgs,
) -> Result<CallToolResult, HandlerError> {
    let t = guard.resolve_for_write(&args.path, args.create_dirs)?;
    let (created, backup) = atomic_write(&t, args.content.as_bytes(), opts)?;
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
    Ok(with_structured(vec![Content::text(text)], &out))
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
            async move { blocking(move || file_write(&guard, &opts, &args)).await }
        },
    )
    .title("Write file")
    .annotations(write_annotations("Write file"))
    .output_schema::<FileWriteOutput>()
}
