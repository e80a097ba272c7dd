//! The path jail: every path a tool receives is resolved here, and nowhere else.
//!
//! [`Roots`] holds the allowed root directories. Each is canonicalized and opened once as a
//! directory handle ([`cap_std::fs::Dir`]) when the set is built. [`Roots::resolve`] turns a
//! user's path into a [`ResolvedPath`] in three steps:
//!
//! 1. **Text checks**, before the file system is touched: empty paths, NUL bytes, paths
//!    longer than [`MAX_PATH_BYTES`] and a leading `~` (never expanded) are refused.
//! 2. **Lexical check**: the path (relative paths are taken relative to the first root) is
//!    normalized (`.` and `..` folded) and must lie inside a root, compared component by
//!    component (so root `/a/b` does not admit `/a/bc`). Paths such as `/etc/passwd` or
//!    `../../x` are refused here without any system call on them. `..` keeps this lexical
//!    meaning from then on: `link/../f` is `f` next to `link`, as in a shell's `cd`, never the
//!    `..` of the link's target.
//! 3. **Resolution**: the normalized path is canonicalized (symbolic links followed) and the result must
//!    again lie inside a root; a link, or a linked parent directory, that leads out is
//!    refused. Device files, FIFOs and sockets are refused too. The common case goes faster:
//!    one `openat2(O_PATH, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` beneath the innermost
//!    root's handle proves that no component is a link (so the normalized path is already
//!    canonical) and `fstat` on that handle tells the kind, without opening the file itself
//!    (a device's driver is not called; only a device renamed into the path between this
//!    check and the open below could be, and it is refused before any read); any failure
//!    there (a link, a missing path, a special file) falls back to the general path, which
//!    gives the precise answer.
//!
//! The result remembers the root it belongs to and the symlink-free path relative to it.
//! Opening goes through the root's directory handle ([`ResolvedPath::open_file`],
//! [`ResolvedPath::open_dir`]): `cap-std` resolves the relative path *beneath* that handle
//! (openat2 `RESOLVE_BENEATH` on Linux), so a component swapped for a symbolic link between
//! the check and the open cannot lead outside. Files are opened with `O_NOFOLLOW` and
//! `O_NONBLOCK` (a FIFO swapped in cannot block) and checked again with `fstat` after
//! opening: only regular files are ever read.
//!
//! A call may run in a narrower [`Scope`]: the client's MCP roots that lie inside the
//! server's roots ([`Roots::narrow`]). Within [`with_scope`], every resolution is checked
//! against the scope's directories as well (relative paths are then relative to the first
//! of them), so a client can narrow the jail, never widen it.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::fmt;
use std::future::Future;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt, OpenOptionsSyncExt};
use cap_std::ambient_authority;
use cap_std::fs::{Dir, FileTypeExt, OpenOptions};

/// The longest path accepted, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH_BYTES: usize = 4096;

/// Why a path was refused or could not be used. The messages are written for the person (or
/// model) who gave the path: they say what was wrong and what to do instead.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// No roots were given.
    #[error("no allowed roots are configured; at least one root directory is required")]
    NoRoots,
    /// A root could not be used.
    #[error("root {path} cannot be used: {reason}")]
    BadRoot {
        /// The root as given.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The path is empty.
    #[error("the path is empty; give a path inside an allowed root ({roots})")]
    Empty {
        /// The allowed roots, for the message.
        roots: String,
    },
    /// The path contains a NUL byte.
    #[error("the path contains a NUL byte, which no file name can contain")]
    Nul,
    /// The path is longer than [`MAX_PATH_BYTES`].
    #[error("the path is {len} bytes long; the limit is {MAX_PATH_BYTES} bytes")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The path starts with `~`.
    #[error(
        "`~` is not expanded: {path:?} would name a home directory. Give a path inside an allowed \
         root ({roots}), relative to the first root or absolute (for a file whose name really starts \
         with `~`, prefix it with `./`)"
    )]
    Tilde {
        /// The path as given.
        path: String,
        /// The allowed roots, for the message.
        roots: String,
    },
    /// The path lies outside every root.
    #[error("{path} is outside the allowed roots ({roots}); only paths inside them can be used")]
    Outside {
        /// The path as given.
        path: String,
        /// The allowed roots, for the message.
        roots: String,
    },
    /// The path resolves, through a symbolic link, to a place outside every root.
    #[error(
        "{path} goes through a symbolic link that leads outside the allowed roots ({roots}); \
         refused"
    )]
    SymlinkEscape {
        /// The path as given.
        path: String,
        /// The allowed roots, for the message.
        roots: String,
    },
    /// The path changed between its check and its use.
    #[error(
        "{path} changed while it was being opened (a component was replaced, for example by a \
         symbolic link); refused"
    )]
    Changed {
        /// The path as given.
        path: String,
    },
    /// Nothing exists at the path.
    #[error("{path} does not exist")]
    NotFound {
        /// The path as given.
        path: String,
    },
    /// A device file, FIFO or socket.
    #[error("{path} is a {kind}; only regular files and directories can be used")]
    Special {
        /// The path as given.
        path: String,
        /// What it is ("FIFO (named pipe)", "character device", ...).
        kind: &'static str,
    },
    /// A file was needed.
    #[error("{path} is a directory, not a file")]
    IsADirectory {
        /// The path as given.
        path: String,
    },
    /// A directory was needed.
    #[error("{path} is not a directory")]
    NotADirectory {
        /// The path as given.
        path: String,
    },
    /// Writing is disabled.
    #[error("the server is in read-only mode; writing to {path} is refused")]
    ReadOnly {
        /// The path as given.
        path: String,
    },
    /// Another I/O error.
    #[error("{path}: {source}")]
    Io {
        /// The path as given.
        path: String,
        /// The error.
        source: io::Error,
    },
}

/// A narrowing of the roots for one call: directories inside the roots (canonical).
#[derive(Debug, Clone)]
pub struct Scope {
    dirs: Arc<Vec<PathBuf>>,
    listing: Arc<str>,
}

impl Scope {
    /// The directories, first one first (the base of relative paths).
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    fn admits(&self, path: &Path) -> bool {
        self.dirs.iter().any(|d| path.starts_with(d))
    }
}

tokio::task_local! {
    static TASK_SCOPE: Scope;
}

thread_local! {
    static THREAD_SCOPE: RefCell<Option<Scope>> = const { RefCell::new(None) };
}

/// Runs `f` with every path resolution narrowed to `scope` (also inside blocking work that
/// the tools start from it).
pub async fn with_scope<F: Future>(scope: Scope, f: F) -> F::Output {
    TASK_SCOPE.scope(scope, f).await
}

/// The scope of the running call, if it has one.
pub fn current_scope() -> Option<Scope> {
    THREAD_SCOPE
        .with(|s| s.borrow().clone())
        .or_else(|| TASK_SCOPE.try_with(Scope::clone).ok())
}

/// Runs blocking `f` on this thread inside `scope` (restored afterwards, even on panic).
pub(crate) fn in_scope<T>(scope: Option<Scope>, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Scope>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let old = self.0.take();
            THREAD_SCOPE.with(|s| *s.borrow_mut() = old);
        }
    }
    let old = THREAD_SCOPE.with(|s| std::mem::replace(&mut *s.borrow_mut(), scope));
    let _restore = Restore(old);
    f()
}

/// One allowed root: its canonical path, the path as given, and an open handle.
#[derive(Debug)]
struct Root {
    canonical: PathBuf,
    given: PathBuf,
    dir: Dir,
}

/// The set of allowed root directories, and whether writing is allowed.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let tmp = tempfile::tempdir()?;
/// std::fs::write(tmp.path().join("a.txt"), "hi")?;
/// let roots = rune_tools::guard::Roots::new([tmp.path()])?;
/// let p = roots.resolve("a.txt")?;
/// assert!(p.absolute().ends_with("a.txt"));
/// assert!(roots.resolve("../outside").is_err());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Roots {
    roots: Vec<Arc<Root>>,
    read_only: bool,
    listing: String,
}

impl Roots {
    /// Opens the roots. Each must exist and be a directory; duplicates are dropped. The first
    /// root is the base of relative paths.
    pub fn new<I, P>(roots: I) -> Result<Self, GuardError>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        let mut out: Vec<Arc<Root>> = Vec::new();
        for r in roots {
            let given = r.as_ref();
            let shown = given.display().to_string();
            let bad = |reason: String| GuardError::BadRoot {
                path: shown.clone(),
                reason,
            };
            let canonical = std::fs::canonicalize(given).map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => bad("it does not exist".into()),
                _ => bad(e.to_string()),
            })?;
            if !canonical.is_dir() {
                return Err(bad("it is not a directory".into()));
            }
            let dir = Dir::open_ambient_dir(&canonical, ambient_authority())
                .map_err(|e| bad(e.to_string()))?;
            if out.iter().any(|o| o.canonical == canonical) {
                continue;
            }
            let given = if given.is_absolute() {
                normalize(given)
            } else {
                canonical.clone()
            };
            out.push(Arc::new(Root {
                canonical,
                given,
                dir,
            }));
        }
        if out.is_empty() {
            return Err(GuardError::NoRoots);
        }
        let listing = out
            .iter()
            .map(|r| r.canonical.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        Ok(Roots {
            roots: out,
            read_only: false,
            listing,
        })
    }

    /// Sets read-only mode: [`Roots::check_writable`] then refuses every path.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// True in read-only mode.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The canonical root directories, first one first.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.roots.iter().map(|r| r.canonical.as_path())
    }

    /// The scope of a client's roots: each directory that exists and lies inside one of these
    /// roots is kept (canonicalized); the others are dropped. The scope may be empty, and
    /// then every path is refused with a message naming the client's roots.
    pub fn narrow<P: AsRef<Path>>(&self, client_roots: &[P]) -> Scope {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for r in client_roots {
            let Ok(c) = std::fs::canonicalize(r.as_ref()) else {
                continue;
            };
            if c.is_dir()
                && self.roots.iter().any(|root| c.starts_with(&root.canonical))
                && !dirs.contains(&c)
            {
                dirs.push(c);
            }
        }
        let listing = if dirs.is_empty() {
            let given: Vec<String> = client_roots
                .iter()
                .map(|r| r.as_ref().display().to_string())
                .collect();
            format!(
                "none: the client's roots ({}) are not inside the server's roots ({})",
                given.join(", "),
                self.listing
            )
        } else {
            let shown: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            format!("the client's roots: {}", shown.join(", "))
        };
        Scope {
            dirs: Arc::new(dirs),
            listing: listing.into(),
        }
    }

    /// Refuses in read-only mode; writing tools call it before touching anything.
    pub fn check_writable(&self, path: &ResolvedPath) -> Result<(), GuardError> {
        if self.read_only {
            return Err(GuardError::ReadOnly {
                path: path.input.clone(),
            });
        }
        Ok(())
    }

    /// Resolves a user's path: relative to the first root, or absolute inside any root. The
    /// path must exist and be a regular file or a directory.
    pub fn resolve(&self, user_path: &str) -> Result<ResolvedPath, GuardError> {
        let input = user_path.to_owned();
        let scope = current_scope();
        let roots = || match &scope {
            Some(s) => s.listing.to_string(),
            None => self.listing.clone(),
        };
        if user_path.is_empty() {
            return Err(GuardError::Empty { roots: roots() });
        }
        if user_path.len() > MAX_PATH_BYTES {
            return Err(GuardError::TooLong {
                len: user_path.len(),
            });
        }
        if user_path.contains('\0') {
            return Err(GuardError::Nul);
        }
        if user_path.starts_with('~') {
            return Err(GuardError::Tilde {
                path: input,
                roots: roots(),
            });
        }
        let base = match scope.as_ref().map(|s| s.dirs.first()) {
            Some(Some(d)) => d.as_path(),
            Some(None) => {
                return Err(GuardError::Outside {
                    path: input,
                    roots: roots(),
                });
            }
            None => self.roots[0].canonical.as_path(),
        };
        let p = Path::new(user_path);
        let joined = if p.is_absolute() {
            normalize(p)
        } else {
            normalize(&base.join(p))
        };
        if joined.as_os_str().len() > MAX_PATH_BYTES {
            return Err(GuardError::TooLong {
                len: joined.as_os_str().len(),
            });
        }
        // Lexical check: nothing outside the roots is looked at.
        let lexical = self
            .roots
            .iter()
            .any(|r| joined.starts_with(&r.canonical) || joined.starts_with(&r.given));
        if !lexical || scope.as_ref().is_some_and(|s| !s.admits(&joined)) {
            return Err(GuardError::Outside {
                path: input,
                roots: roots(),
            });
        }
        // The common case first: a path without symbolic links, confirmed by the kernel in
        // one walk beneath the root's handle.
        if let Some(found) = self.resolve_plain(&joined, scope.as_ref(), &input) {
            return found;
        }
        if crate::inline::active() {
            // The slow path below may block; the caller retries on the blocking pool.
            return Err(GuardError::Io {
                path: input,
                source: crate::inline::give_up(),
            });
        }
        // Resolution: follow symbolic links; the real place must be inside a root too.
        let canonical = match std::fs::canonicalize(&joined) {
            Ok(c) => c,
            Err(e) => {
                return Err(match e.kind() {
                    io::ErrorKind::NotFound => GuardError::NotFound { path: input },
                    _ => GuardError::Io {
                        path: input,
                        source: e,
                    },
                });
            }
        };
        let Some(root) = self
            .roots
            .iter()
            .filter(|r| canonical.starts_with(&r.canonical))
            .max_by_key(|r| r.canonical.as_os_str().len())
            .filter(|_| scope.as_ref().is_none_or(|s| s.admits(&canonical)))
        else {
            return Err(GuardError::SymlinkEscape {
                path: input,
                roots: roots(),
            });
        };
        let rel = match canonical.strip_prefix(&root.canonical) {
            Ok(r) if r.as_os_str().is_empty() => PathBuf::from("."),
            Ok(r) => r.to_path_buf(),
            Err(_) => {
                return Err(GuardError::SymlinkEscape {
                    path: input,
                    roots: roots(),
                });
            }
        };
        // The kind, looked up beneath the root handle without following links.
        let md = root
            .dir
            .symlink_metadata(&rel)
            .map_err(|e| open_error(&input, e))?;
        let ft = md.file_type();
        let kind = if ft.is_file() {
            Kind::File
        } else if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            // Canonical paths hold no links: one appeared since canonicalization.
            return Err(GuardError::Changed { path: input });
        } else {
            return Err(GuardError::Special {
                path: input,
                kind: special_kind(&ft),
            });
        };
        Ok(ResolvedPath {
            root: root.clone(),
            rel,
            absolute: canonical,
            input,
            kind,
        })
    }
}

impl Roots {
    /// The fast path of [`Roots::resolve`], for a `joined` path that passed the lexical
    /// checks: when no component of it is a symbolic link (which `openat2` with
    /// `RESOLVE_NO_SYMLINKS` beneath the innermost root's handle confirms in one call) its
    /// canonical form is the root's canonical path joined with the rest, with no
    /// `canonicalize` (a `readlink` per component) and no second lookup. `None` sends the
    /// caller to the general path: a link somewhere, a path that does not exist, a special
    /// file, a scope to check against canonical paths, a kernel without `openat2`, or (in a
    /// non-blocking [`crate::inline`] attempt) a directory entry not in memory.
    fn resolve_plain(
        &self,
        joined: &Path,
        scope: Option<&Scope>,
        input: &str,
    ) -> Option<Result<ResolvedPath, GuardError>> {
        use rustix::fs::{FileType, Mode, OFlags};
        let (root, rel) = self
            .roots
            .iter()
            .filter_map(|r| {
                joined
                    .strip_prefix(&r.canonical)
                    .or_else(|_| joined.strip_prefix(&r.given))
                    .ok()
                    .map(|rel| (r, rel))
            })
            .min_by_key(|(_, rel)| rel.as_os_str().len())?;
        let rel = if rel.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            rel.to_path_buf()
        };
        // O_PATH: nothing is opened for reading, so a device's driver is never called.
        let fd = rustix::fs::openat2(
            &root.dir,
            &rel,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            beneath_flags(),
        )
        .ok()?;
        let st = rustix::fs::fstat(&fd).ok()?;
        drop(fd);
        let kind = match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => Kind::File,
            FileType::Directory => Kind::Dir,
            _ => return None,
        };
        let absolute = if rel == Path::new(".") {
            root.canonical.clone()
        } else {
            root.canonical.join(&rel)
        };
        if scope.is_some_and(|s| !s.admits(&absolute)) {
            return None;
        }
        Some(Ok(ResolvedPath {
            root: root.clone(),
            rel,
            absolute,
            input: input.to_owned(),
            kind,
        }))
    }

    /// Resolves a path to write, which may not exist yet: its parent must resolve to a
    /// directory inside a root, and its last component must be a plain name (no `.` or
    /// `..`). With `create_dirs`, missing parent directories are created beneath the root.
    /// An existing target must be a regular file, not a symbolic link. Refused in read-only
    /// mode, like [`Roots::check_writable`].
    pub fn resolve_for_write(
        &self,
        user_path: &str,
        create_dirs: bool,
    ) -> Result<WriteTarget, GuardError> {
        let t = self.resolve_entry(user_path, create_dirs)?;
        let dir = t.open_parent()?;
        t.existing_mode(&dir)?;
        Ok(t)
    }

    /// Like [`Roots::resolve_for_write`], but whatever the last component names (if
    /// anything) is accepted: it is never followed. For renames and directory creation.
    pub fn resolve_entry(
        &self,
        user_path: &str,
        create_dirs: bool,
    ) -> Result<WriteTarget, GuardError> {
        let input = user_path.to_owned();
        // Refused before anything (even a parent directory) is created.
        if self.read_only {
            return Err(GuardError::ReadOnly { path: input });
        }
        if user_path.contains('\0') {
            return Err(GuardError::Nul);
        }
        let p = Path::new(user_path);
        let name = match p.components().next_back() {
            Some(Component::Normal(n)) if !user_path.ends_with('/') => n.to_os_string(),
            _ => {
                return Err(GuardError::Io {
                    path: input,
                    source: io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "the path must end with a file name (not `.`, `..` or `/`)",
                    ),
                });
            }
        };
        let parent_text = match p.parent() {
            Some(pp) if !pp.as_os_str().is_empty() => pp.to_string_lossy().into_owned(),
            _ => ".".to_owned(),
        };
        let parent = match self.resolve(&parent_text) {
            Ok(r) => r,
            Err(GuardError::NotFound { .. }) if create_dirs => {
                // The nearest existing ancestor must resolve inside a root; the rest is
                // created beneath it, through its handle.
                let mut missing: Vec<std::ffi::OsString> = Vec::new();
                let mut cur = Path::new(&parent_text).to_path_buf();
                let base = loop {
                    match cur.components().next_back() {
                        Some(Component::Normal(n)) => missing.push(n.to_os_string()),
                        _ => {
                            return Err(GuardError::NotFound { path: input });
                        }
                    }
                    cur.pop();
                    let text = if cur.as_os_str().is_empty() {
                        ".".to_owned()
                    } else {
                        cur.to_string_lossy().into_owned()
                    };
                    match self.resolve(&text) {
                        Ok(r) => break r,
                        Err(GuardError::NotFound { .. }) => continue,
                        Err(e) => return Err(e),
                    }
                };
                let dir = base.open_dir()?;
                let rest: PathBuf = missing.iter().rev().collect();
                dir.create_dir_all(&rest)
                    .map_err(|e| open_error(&input, e))?;
                self.resolve(&parent_text)?
            }
            Err(e) => return Err(e),
        };
        if parent.kind != Kind::Dir {
            return Err(GuardError::NotADirectory { path: parent_text });
        }
        let rel = if parent.rel == Path::new(".") {
            PathBuf::from(&name)
        } else {
            parent.rel.join(&name)
        };
        Ok(WriteTarget {
            absolute: parent.absolute.join(&name),
            parent,
            name,
            rel,
            input,
        })
    }
}

/// A path to write: its parent directory (resolved inside a root) and a plain file name.
#[derive(Debug, Clone)]
pub struct WriteTarget {
    parent: ResolvedPath,
    name: std::ffi::OsString,
    rel: PathBuf,
    absolute: PathBuf,
    input: String,
}

impl WriteTarget {
    /// The absolute path (parent canonical, plus the name).
    pub fn absolute(&self) -> &Path {
        &self.absolute
    }
    /// The path relative to its root.
    pub fn relative(&self) -> &Path {
        &self.rel
    }
    /// The file name.
    pub fn name(&self) -> &OsStr {
        &self.name
    }
    /// The root it lies in.
    pub fn root(&self) -> &Path {
        self.parent.root()
    }
    /// The parent directory.
    pub fn parent(&self) -> &ResolvedPath {
        &self.parent
    }
    pub(crate) fn root_dir(&self) -> &Dir {
        self.parent.root_dir()
    }
    /// The path as the user gave it.
    pub fn input(&self) -> &str {
        &self.input
    }
    /// The absolute path as text.
    pub fn display(&self) -> String {
        self.absolute.to_string_lossy().into_owned()
    }
    /// Opens the parent directory beneath the root.
    pub fn open_parent(&self) -> Result<Dir, GuardError> {
        self.parent.open_dir()
    }
    /// The permission bits of the existing target, or `None` when it does not exist; refuses
    /// a symbolic link, a directory or a special file.
    pub fn existing_mode(&self, dir: &Dir) -> Result<Option<u32>, GuardError> {
        use cap_std::fs::PermissionsExt as _;
        match dir.symlink_metadata(&self.name) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(open_error(&self.input, e)),
            Ok(md) => {
                let ft = md.file_type();
                if ft.is_file() {
                    Ok(Some(md.permissions().mode() & 0o7777))
                } else if ft.is_dir() {
                    Err(GuardError::IsADirectory {
                        path: self.input.clone(),
                    })
                } else if ft.is_symlink() {
                    Err(GuardError::Special {
                        path: self.input.clone(),
                        kind: "symbolic link (writes never follow links)",
                    })
                } else {
                    Err(GuardError::Special {
                        path: self.input.clone(),
                        kind: special_kind(&ft),
                    })
                }
            }
        }
    }
    /// Wraps an I/O error with the path.
    pub fn io(&self, source: io::Error) -> GuardError {
        GuardError::Io {
            path: self.input.clone(),
            source,
        }
    }
}

/// What a resolved path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
}

/// A path that passed every check: its root, its symlink-free path relative to that root,
/// and what it named when resolved. Open it only through its methods.
#[derive(Debug, Clone)]
pub struct ResolvedPath {
    root: Arc<Root>,
    rel: PathBuf,
    absolute: PathBuf,
    input: String,
    kind: Kind,
}

impl ResolvedPath {
    /// The canonical absolute path.
    pub fn absolute(&self) -> &Path {
        &self.absolute
    }

    /// The path relative to its root (`.` for the root itself).
    pub fn relative(&self) -> &Path {
        &self.rel
    }

    /// The root it lies in.
    pub fn root(&self) -> &Path {
        &self.root.canonical
    }

    /// The handle of its root directory.
    pub(crate) fn root_dir(&self) -> &Dir {
        &self.root.dir
    }

    /// The path as the user gave it.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What it named when it was resolved.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The canonical absolute path as text (lossy for non-UTF-8 names).
    pub fn display(&self) -> String {
        self.absolute.to_string_lossy().into_owned()
    }

    /// Opens the regular file for reading, beneath its root, without following a final
    /// symbolic link and without blocking; anything but a regular file is refused after
    /// opening (checked on the open handle).
    pub fn open_file(&self) -> Result<std::fs::File, GuardError> {
        self.open_file_with_metadata().map(|(f, _)| f)
    }

    /// [`ResolvedPath::open_file`], also returning the metadata read from the open handle.
    pub fn open_file_with_metadata(
        &self,
    ) -> Result<(std::fs::File, std::fs::Metadata), GuardError> {
        if self.kind == Kind::Dir {
            return Err(GuardError::IsADirectory {
                path: self.input.clone(),
            });
        }
        let f = self.open_beneath()?;
        let md = f.metadata().map_err(|e| self.io(e))?;
        let ft = md.file_type();
        if ft.is_dir() {
            return Err(GuardError::IsADirectory {
                path: self.input.clone(),
            });
        }
        if !ft.is_file() {
            return Err(GuardError::Special {
                path: self.input.clone(),
                kind: std_special_kind(&ft),
            });
        }
        Ok((f, md))
    }

    /// Opens the file for reading beneath the root: `openat2` with `RESOLVE_BENEATH` and
    /// `RESOLVE_NO_SYMLINKS` (the relative path is symlink-free, so a link found now was
    /// swapped in), `O_NOFOLLOW | O_NONBLOCK | O_NOCTTY`; through `cap-std` where the kernel
    /// has no `openat2`.
    fn open_beneath(&self) -> Result<std::fs::File, GuardError> {
        use rustix::fs::{Mode, OFlags};
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        match rustix::fs::openat2(
            &self.root.dir,
            &self.rel,
            flags,
            Mode::empty(),
            beneath_flags(),
        ) {
            Ok(fd) => Ok(std::fs::File::from(fd)),
            // In a non-blocking attempt every failure is left to the blocking run, which
            // reports it properly (EAGAIN: the entry is not in memory).
            Err(_) if crate::inline::active() => Err(self.io(crate::inline::give_up())),
            Err(rustix::io::Errno::NOSYS) => {
                let mut o = OpenOptions::new();
                o.read(true).follow(FollowSymlinks::No).nonblock(true);
                Ok(self
                    .root
                    .dir
                    .open_with(&self.rel, &o)
                    .map_err(|e| open_error(&self.input, e))?
                    .into_std())
            }
            Err(e) => Err(open_error(&self.input, e.into())),
        }
    }

    /// Opens the directory, beneath its root, without following a final symbolic link.
    pub fn open_dir(&self) -> Result<Dir, GuardError> {
        if self.kind != Kind::Dir {
            return Err(GuardError::NotADirectory {
                path: self.input.clone(),
            });
        }
        if self.rel == Path::new(".") {
            return self.root.dir.try_clone().map_err(|e| self.io(e));
        }
        self.root
            .dir
            .open_dir_nofollow(&self.rel)
            .map_err(|e| open_error(&self.input, e))
    }

    /// Metadata of the file or directory, read from an open handle.
    pub fn metadata(&self) -> Result<std::fs::Metadata, GuardError> {
        match self.kind {
            Kind::File => self.open_file()?.metadata().map_err(|e| self.io(e)),
            Kind::Dir => self
                .open_dir()?
                .into_std_file()
                .metadata()
                .map_err(|e| self.io(e)),
        }
    }

    /// Wraps an I/O error with the path.
    pub fn io(&self, source: io::Error) -> GuardError {
        GuardError::Io {
            path: self.input.clone(),
            source,
        }
    }
}

impl fmt::Display for ResolvedPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.absolute.to_string_lossy())
    }
}

/// How paths are looked up beneath a root's handle: never above it, through no symbolic or
/// "magic" (`/proc`) link, and inside a non-blocking [`crate::inline`] attempt only from the
/// kernel's caches (`RESOLVE_CACHED`: `EAGAIN` rather than a disk read).
fn beneath_flags() -> rustix::fs::ResolveFlags {
    use rustix::fs::ResolveFlags;
    let mut how = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    if crate::inline::active() {
        how |= ResolveFlags::CACHED;
    }
    how
}

/// Folds `.` and `..` without touching the file system (`..` at the top stays at the top).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Prefix(x) => out.push(x.as_os_str()),
            Component::RootDir => out.push(Component::RootDir.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
        }
    }
    out
}

/// Maps an error from an open beneath a root.
fn open_error(input: &str, e: io::Error) -> GuardError {
    let path = input.to_owned();
    if e.kind() == io::ErrorKind::NotFound {
        return GuardError::NotFound { path };
    }
    // cap-std's refusal of an escape, openat2's EXDEV, or O_NOFOLLOW's ELOOP: the path was
    // changed under us.
    let raw = e.raw_os_error();
    if raw == Some(rustix::io::Errno::LOOP.raw_os_error())
        || raw == Some(rustix::io::Errno::XDEV.raw_os_error())
        || (raw.is_none() && e.kind() == io::ErrorKind::PermissionDenied)
    {
        return GuardError::Changed { path };
    }
    if raw == Some(rustix::io::Errno::NOTDIR.raw_os_error()) {
        return GuardError::Changed { path };
    }
    GuardError::Io { path, source: e }
}

fn special_kind(ft: &cap_std::fs::FileType) -> &'static str {
    if ft.is_fifo() {
        "FIFO (named pipe)"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_char_device() {
        "character device"
    } else if ft.is_block_device() {
        "block device"
    } else {
        "special file"
    }
}

fn std_special_kind(ft: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if ft.is_fifo() {
        "FIFO (named pipe)"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_char_device() {
        "character device"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_symlink() {
        "symbolic link"
    } else {
        "special file"
    }
}

/// The name of a directory entry as text, and whether it had to be converted lossily
/// (it is not valid UTF-8).
pub fn name_lossy(name: &OsStr) -> (String, bool) {
    match name.to_str() {
        Some(s) => (s.to_owned(), false),
        None => (name.to_string_lossy().into_owned(), true),
    }
}
