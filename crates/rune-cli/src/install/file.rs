//! Reading and replacing a client's configuration file: never half-written (temp file in the
//! same directory, fsync, rename), the previous version kept as `FILE.rune-backup`, a
//! read-only file refused, and a file that changed while we worked left alone.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

/// What was read: the file's text, or nothing when there is no file yet.
#[derive(Debug)]
pub(crate) struct Current {
    /// The file the name leads to (a symlink is followed, so a linked dotfile stays linked).
    pub(crate) real: PathBuf,
    pub(crate) text: Option<String>,
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, col)
}

/// Reads `path`; a missing file is `text: None`.
pub(crate) fn read(path: &Path) -> Result<Current, String> {
    let real = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path).map_err(|e| {
            format!(
                "{}: a symbolic link whose target cannot be read: {e}",
                path.display()
            )
        })?,
        _ => path.to_path_buf(),
    };
    match fs::read(&real) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes)
                .map_err(|_| format!("{}: not UTF-8 text; not changed", path.display()))?;
            Ok(Current {
                real,
                text: Some(text),
            })
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Current { real, text: None }),
        Err(e) if real.is_dir() => Err(format!("{}: is a directory ({e})", path.display())),
        Err(e) => Err(format!("{}: cannot read it: {e}", path.display())),
    }
}

/// The backup kept next to `path`.
pub(crate) fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".rune-backup");
    path.with_file_name(name)
}

/// Replaces the file read as `current` with `text`. Returns the backup's path when there was
/// a previous file.
pub(crate) fn replace(
    shown: &Path,
    current: &Current,
    text: &str,
) -> Result<Option<PathBuf>, String> {
    let path = &current.real;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let old_meta = match &current.text {
        Some(_) => Some(
            fs::metadata(path).map_err(|e| format!("{}: cannot read it: {e}", shown.display()))?,
        ),
        None => None,
    };
    if let Some(meta) = &old_meta {
        // The rename below would succeed on a read-only file (it needs only the directory), so
        // the file's own write permission is checked first; the open also catches a file that
        // belongs to someone else.
        let denied = meta.permissions().readonly()
            || matches!(
                OpenOptions::new().append(true).open(path),
                Err(e) if e.kind() == ErrorKind::PermissionDenied
            );
        if denied {
            return Err(format!(
                "{} is read-only; not changed (make it writable, or edit it by hand)",
                shown.display()
            ));
        }
    }
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;

    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.rune-tmp.{}", std::process::id()));
    let written = write_new(&tmp, text, old_meta.as_ref());
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(format!(
            "cannot write {} (in {}): {e}",
            shown.display(),
            dir.display()
        ));
    }

    // Someone (the client itself, often) may have rewritten the file meanwhile: then our
    // edit is of an old version, and is dropped rather than undoing theirs.
    let now = match fs::read(path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(format!("{}: cannot read it: {e}", shown.display()));
        }
    };
    if now.as_deref() != current.text.as_deref().map(str::as_bytes) {
        let _ = fs::remove_file(&tmp);
        return Err(format!(
            "{} changed while rune was editing it; not changed, run the command again",
            shown.display()
        ));
    }

    let backup = match &current.text {
        Some(_) => {
            let backup = backup_path(path);
            if let Err(e) = fs::copy(path, &backup) {
                let _ = fs::remove_file(&tmp);
                return Err(format!(
                    "cannot keep a backup of {} as {}: {e}; not changed",
                    shown.display(),
                    backup.display()
                ));
            }
            Some(backup)
        }
        None => None,
    };
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(format!("cannot replace {}: {e}", shown.display()));
    }
    // The rename itself is made durable by syncing the directory (not possible everywhere).
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(backup)
}

fn write_new(tmp: &Path, text: &str, like: Option<&fs::Metadata>) -> std::io::Result<()> {
    // A temp file of ours left by a crash under the same process id is stale.
    let _ = fs::remove_file(tmp);
    let mut f = OpenOptions::new().write(true).create_new(true).open(tmp)?;
    if let Some(meta) = like {
        f.set_permissions(meta.permissions())?;
    }
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// The change as a unified diff, with the file's name in the headers.
pub(crate) fn diff(path: &Path, old: Option<&str>, new: &str) -> String {
    let shown = path.display().to_string();
    let from = if old.is_some() {
        shown.as_str()
    } else {
        "/dev/null"
    };
    similar::TextDiff::from_lines(old.unwrap_or(""), new)
        .unified_diff()
        .context_radius(3)
        .header(from, &shown)
        .missing_newline_hint(true)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        assert_eq!(line_col("", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 3), (2, 1));
        assert_eq!(line_col("ab\ncé x", 7), (2, 4));
        assert_eq!(line_col("ab", 99), (1, 3));
    }

    #[test]
    fn diffs_name_the_file() {
        let d = diff(Path::new("f.json"), Some("a\nb\n"), "a\nc\n");
        assert!(d.starts_with("--- f.json\n+++ f.json\n@@"), "{d}");
        assert!(d.contains("-b\n+c\n"), "{d}");
        let d = diff(Path::new("f.json"), None, "x\n");
        assert!(d.starts_with("--- /dev/null\n+++ f.json\n"), "{d}");
    }
}
