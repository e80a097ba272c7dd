//! The response cache: HTTP freshness rules, an in-memory LRU, and an on-disk store.
//!
//! # What is stored, and for how long
//!
//! `web_fetch` is a private cache in the sense of RFC 9111: one user's responses, reused
//! only for that user's later requests. A GET response is stored when it is complete (not cut
//! by the size cap), its status is 200 or a permanent redirect, or any redirect with an
//! explicit lifetime, and nothing forbids it (`Cache-Control: no-store`, `Vary: *`). It must
//! also be worth keeping: either fresh for a while or revalidatable (an `ETag` or a
//! `Last-Modified`).
//!
//! Its freshness lifetime is `max-age` (less `Age`), else `Expires` − `Date`, else a tenth of
//! the time since `Last-Modified` (at most a day), else zero. While fresh it is served
//! without asking the origin (`cache: "hit"`). Once stale, or always with `no-cache`, the
//! next request carries `If-None-Match` / `If-Modified-Since`; a `304 Not Modified` renews
//! the stored entry with the new headers and serves it (`"revalidated"`), any other answer
//! replaces it.
//!
//! # Where
//!
//! Entries live in a memory LRU bounded by bytes, and in a directory bounded by bytes, where
//! each entry is one file named by the BLAKE3 hash of its method and URL: a small JSON header,
//! then the body compressed with LZ4. A memory miss reads the file and promotes the entry.
//! Writes go to a temporary file renamed into place, so a reader never sees half an entry; a
//! file that does not decode is deleted and counts as a miss. The directory's least recently
//! used files are deleted past its budget; at start the files' modification times give the
//! order.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::render::Rendered;

/// A cache key: BLAKE3 of the method and the URL.
pub(crate) type Key = [u8; 32];

/// The key of a request.
pub(crate) fn key(method: &str, url: &str) -> Key {
    let mut h = blake3::Hasher::new();
    h.update(method.as_bytes());
    h.update(b" ");
    h.update(url.as_bytes());
    *h.finalize().as_bytes()
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What is kept about a response besides its body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Meta {
    /// The URL this response answers.
    pub(crate) url: String,
    pub(crate) status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) content_type: Option<String>,
    /// A redirect's target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_modified: Option<String>,
    /// When it was stored or last revalidated (Unix seconds).
    pub(crate) stored_at: u64,
    /// Fresh until then (Unix seconds).
    pub(crate) fresh_until: u64,
    /// `Cache-Control: no-cache`: revalidate on every use.
    #[serde(default)]
    pub(crate) no_cache: bool,
}

/// A response as the cache keeps it; also the form a fresh response takes.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) meta: Meta,
    /// The body, content-decoded (gzip/br/zstd undone).
    pub(crate) body: Vec<u8>,
    /// The text made from the body, kept with the entry so a cache hit does not convert
    /// again: `[markdown, raw]`.
    pub(crate) rendered: [OnceLock<Arc<Rendered>>; 2],
}

impl Entry {
    pub(crate) fn new(meta: Meta, body: Vec<u8>) -> Self {
        Entry {
            meta,
            body,
            rendered: [OnceLock::new(), OnceLock::new()],
        }
    }

    pub(crate) fn is_fresh(&self, now: u64) -> bool {
        !self.meta.no_cache && now < self.meta.fresh_until
    }

    /// Bytes it takes, roughly, in memory.
    fn weight(&self) -> u64 {
        let rendered: usize = self
            .rendered
            .iter()
            .filter_map(|r| r.get())
            .map(|r| r.text.len())
            .sum();
        (self.body.len() + rendered + self.meta.url.len() + 256) as u64
    }
}

/// The directives of `Cache-Control` that matter to a private cache.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Directives {
    pub(crate) no_store: bool,
    pub(crate) no_cache: bool,
    pub(crate) max_age: Option<u64>,
}

pub(crate) fn directives(headers: &HeaderMap) -> Directives {
    let mut d = Directives::default();
    let mut seen_cache_control = false;
    for v in headers.get_all(reqwest::header::CACHE_CONTROL) {
        seen_cache_control = true;
        let Ok(v) = v.to_str() else { continue };
        for part in v.split(',') {
            let part = part.trim();
            let (name, value) = match part.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (part, None),
            };
            match name.to_ascii_lowercase().as_str() {
                "no-store" => d.no_store = true,
                // `no-cache="field"` only restricts those fields; treat it as the whole.
                "no-cache" => d.no_cache = true,
                "max-age" => {
                    // A malformed max-age makes the response stale (RFC 9111 §4.2.1).
                    let age = value.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
                    d.max_age = Some(d.max_age.map_or(age, |a| a.min(age)));
                }
                _ => {}
            }
        }
    }
    if !seen_cache_control
        && headers
            .get(reqwest::header::PRAGMA)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("no-cache"))
    {
        d.no_cache = true;
    }
    d
}

fn header_time(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<SystemTime> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
}

fn header_string(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// How long a response stays fresh, from now, per RFC 9111 §4.2.
pub(crate) fn freshness_lifetime(headers: &HeaderMap, explicit_only: bool) -> Option<u64> {
    let d = directives(headers);
    let age = headers
        .get(reqwest::header::AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let lifetime = if let Some(max_age) = d.max_age {
        Some(max_age)
    } else if let Some(expires) = headers.get(reqwest::header::EXPIRES) {
        // An invalid Expires (e.g. "0") means already expired.
        let date = header_time(headers, reqwest::header::DATE).unwrap_or_else(SystemTime::now);
        let expires = expires
            .to_str()
            .ok()
            .and_then(|v| httpdate::parse_http_date(v).ok());
        Some(
            expires
                .and_then(|e| e.duration_since(date).ok())
                .map_or(0, |d| d.as_secs()),
        )
    } else if explicit_only {
        None
    } else {
        // Heuristic: a tenth of the time since the last modification, at most a day.
        let date = header_time(headers, reqwest::header::DATE).unwrap_or_else(SystemTime::now);
        header_time(headers, reqwest::header::LAST_MODIFIED).map(|lm| {
            date.duration_since(lm)
                .map_or(0, |d| (d.as_secs() / 10).min(86_400))
        })
    };
    lifetime.map(|l| l.saturating_sub(age))
}

/// The cache's view of a response: `None` when it must not or need not be stored.
pub(crate) fn storable_meta(url: &str, status: u16, headers: &HeaderMap) -> Option<Meta> {
    let d = directives(headers);
    if d.no_store {
        return None;
    }
    if headers.get_all(reqwest::header::VARY).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|p| p.trim() == "*"))
    }) {
        return None;
    }
    let redirect = matches!(status, 301 | 302 | 303 | 307 | 308);
    // Permanent redirects and 200 may be cached heuristically; temporary redirects only
    // with an explicit lifetime.
    let lifetime = match status {
        200 | 301 | 308 => freshness_lifetime(headers, false),
        302 | 303 | 307 => freshness_lifetime(headers, true),
        _ => return None,
    };
    let meta = Meta {
        url: url.to_owned(),
        status,
        content_type: header_string(headers, reqwest::header::CONTENT_TYPE),
        location: if redirect {
            header_string(headers, reqwest::header::LOCATION)
        } else {
            None
        },
        etag: header_string(headers, reqwest::header::ETAG),
        last_modified: header_string(headers, reqwest::header::LAST_MODIFIED),
        stored_at: unix_now(),
        fresh_until: unix_now().saturating_add(lifetime.unwrap_or(0)),
        no_cache: d.no_cache,
    };
    let useful = lifetime.unwrap_or(0) > 0 && !d.no_cache
        || (!redirect && (meta.etag.is_some() || meta.last_modified.is_some()));
    useful.then_some(meta)
}

/// The stored meta renewed by a `304 Not Modified`.
pub(crate) fn renewed(old: &Meta, headers: &HeaderMap) -> Meta {
    let mut m = old.clone();
    let d = directives(headers);
    let lifetime = freshness_lifetime(headers, false).unwrap_or(0);
    m.stored_at = unix_now();
    m.fresh_until = m.stored_at.saturating_add(lifetime);
    if d.no_cache || headers.contains_key(reqwest::header::CACHE_CONTROL) {
        m.no_cache = d.no_cache;
    }
    if let Some(e) = header_string(headers, reqwest::header::ETAG) {
        m.etag = Some(e);
    }
    if let Some(l) = header_string(headers, reqwest::header::LAST_MODIFIED) {
        m.last_modified = Some(l);
    }
    m
}

/// An LRU of keys to values with a byte budget.
#[derive(Debug)]
struct Lru<V> {
    map: HashMap<Key, (V, u64, u64)>,
    order: BTreeMap<u64, Key>,
    tick: u64,
    bytes: u64,
    budget: u64,
}

impl<V> Lru<V> {
    fn new(budget: u64) -> Self {
        Lru {
            map: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            bytes: 0,
            budget,
        }
    }

    fn get(&mut self, key: &Key) -> Option<&V> {
        self.tick += 1;
        let tick = self.tick;
        let (_, t, _) = self.map.get_mut(key)?;
        self.order.remove(t);
        *t = tick;
        self.order.insert(tick, *key);
        self.map.get(key).map(|(v, _, _)| v)
    }

    /// Inserts, returning what was pushed out (the value itself when it exceeds the budget).
    fn insert(&mut self, key: Key, value: V, size: u64) -> Vec<(Key, V)> {
        let mut out = Vec::new();
        if let Some(old) = self.remove(&key) {
            out.push((key, old));
        }
        if size > self.budget {
            out.push((key, value));
            return out;
        }
        self.tick += 1;
        self.map.insert(key, (value, self.tick, size));
        self.order.insert(self.tick, key);
        self.bytes += size;
        while self.bytes > self.budget {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some((v, _, s)) = self.map.remove(&oldest) {
                self.bytes -= s;
                out.push((oldest, v));
            }
        }
        out
    }

    fn remove(&mut self, key: &Key) -> Option<V> {
        let (v, t, s) = self.map.remove(key)?;
        self.order.remove(&t);
        self.bytes -= s;
        Some(v)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Settings of the cache.
#[derive(Debug, Clone)]
pub struct CacheOptions {
    /// Off: every call goes to the origin.
    pub enabled: bool,
    /// The directory of the on-disk store; `None` keeps entries in memory only.
    pub dir: Option<PathBuf>,
    /// Budget of the memory LRU, in bytes.
    pub memory_bytes: u64,
    /// Budget of the directory, in bytes (compressed sizes).
    pub disk_bytes: u64,
}

impl Default for CacheOptions {
    /// Enabled; 32 MiB in memory, 256 MiB on disk in [`default_cache_dir`].
    fn default() -> Self {
        CacheOptions {
            enabled: true,
            dir: default_cache_dir(),
            memory_bytes: 32 << 20,
            disk_bytes: 256 << 20,
        }
    }
}

/// `$XDG_CACHE_HOME/rune/fetch`, else `~/.cache/rune/fetch`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("rune").join("fetch"))
}

const MAGIC: &[u8; 8] = b"RUNEFC1\n";
const SUFFIX: &str = "rfc";

/// The cache (see the module docs).
#[derive(Debug)]
pub(crate) struct Cache {
    memory: Mutex<Lru<Arc<Entry>>>,
    disk: Option<Disk>,
}

#[derive(Debug)]
struct Disk {
    dir: PathBuf,
    index: Mutex<Lru<()>>,
}

impl Cache {
    pub(crate) fn new(opts: &CacheOptions) -> Cache {
        let disk = opts
            .dir
            .as_ref()
            .and_then(|dir| match Disk::open(dir, opts.disk_bytes) {
                Ok(d) => Some(d),
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "web_fetch: no disk cache");
                    None
                }
            });
        Cache {
            memory: Mutex::new(Lru::new(opts.memory_bytes)),
            disk,
        }
    }

    /// The entry of `key`, from memory or else from disk.
    pub(crate) async fn get(&self, key: &Key) -> Option<Arc<Entry>> {
        if let Some(e) = lock(&self.memory).get(key) {
            return Some(e.clone());
        }
        let disk = self.disk.as_ref()?;
        // Known to this process's index (which also keeps its recency)?
        lock(&disk.index).get(key)?;
        let path = disk.path(key);
        let read = tokio::task::spawn_blocking(move || read_entry(&path)).await;
        match read {
            Ok(Ok(entry)) => {
                let entry = Arc::new(entry);
                self.put_memory(*key, entry.clone());
                Some(entry)
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "web_fetch: unreadable cache entry dropped");
                lock(&disk.index).remove(key);
                let _ = std::fs::remove_file(disk.path(key));
                None
            }
            Err(_) => None,
        }
    }

    /// Stores `entry` in memory and on disk.
    pub(crate) async fn put(&self, key: Key, entry: Arc<Entry>) {
        self.put_memory(key, entry.clone());
        let Some(disk) = &self.disk else { return };
        let dir = disk.dir.clone();
        let path = disk.path(&key);
        let written = tokio::task::spawn_blocking(move || write_entry(&dir, &path, &entry)).await;
        match written {
            Ok(Ok(size)) => {
                let evicted = lock(&disk.index).insert(key, (), size);
                for (k, ()) in evicted {
                    if k != key || size > disk.budget() {
                        let _ = std::fs::remove_file(disk.path(&k));
                    }
                }
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "web_fetch: cache entry not written"),
            Err(_) => {}
        }
    }

    fn put_memory(&self, key: Key, entry: Arc<Entry>) {
        let w = entry.weight();
        lock(&self.memory).insert(key, entry, w);
    }

    /// Forgets everything held in memory (the disk store stays): for tests and benchmarks.
    pub(crate) fn clear_memory(&self) {
        let mut m = lock(&self.memory);
        let budget = m.budget;
        *m = Lru::new(budget);
    }

    /// Bytes held on disk, by this process's count.
    pub(crate) fn disk_bytes(&self) -> Option<u64> {
        self.disk.as_ref().map(|d| lock(&d.index).bytes)
    }
}

impl Disk {
    fn open(dir: &Path, budget: u64) -> std::io::Result<Disk> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        // What was fetched is kept in clear: the directories made here are the user's alone.
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
        let mut files = Vec::new();
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let Ok(md) = e.metadata() else { continue };
            let mtime = md.modified().unwrap_or(UNIX_EPOCH);
            if name.starts_with(".tmp-") {
                // Left by a writer that died; another process may be writing a fresh one.
                if mtime.elapsed().is_ok_and(|d| d > Duration::from_secs(3600)) {
                    let _ = std::fs::remove_file(e.path());
                }
                continue;
            }
            let Some(hex) = name.strip_suffix(&format!(".{SUFFIX}")) else {
                continue;
            };
            let Some(key) = parse_hex(hex) else { continue };
            files.push((mtime, key, md.len()));
        }
        files.sort_by_key(|f| f.0);
        let mut index = Lru::new(budget);
        for (_, key, size) in files {
            for (k, ()) in index.insert(key, (), size) {
                let _ = std::fs::remove_file(dir.join(file_name(&k)));
            }
        }
        Ok(Disk {
            dir: dir.to_owned(),
            index: Mutex::new(index),
        })
    }

    fn path(&self, key: &Key) -> PathBuf {
        self.dir.join(file_name(key))
    }

    fn budget(&self) -> u64 {
        lock(&self.index).budget
    }
}

fn file_name(key: &Key) -> String {
    let mut s = String::with_capacity(68);
    for b in key {
        s.push_str(&format!("{b:02x}"));
    }
    s.push('.');
    s.push_str(SUFFIX);
    s
}

fn parse_hex(s: &str) -> Option<Key> {
    if s.len() != 64 {
        return None;
    }
    let mut k = [0u8; 32];
    for (i, b) in k.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(k)
}

fn invalid(msg: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.to_owned())
}

/// Writes `entry` atomically; returns the file's size.
fn write_entry(dir: &Path, path: &Path, entry: &Entry) -> std::io::Result<u64> {
    let meta = serde_json::to_vec(&entry.meta).map_err(|e| invalid(&e.to_string()))?;
    let body = lz4_flex::compress_prepend_size(&entry.body);
    let mut buf = Vec::with_capacity(MAGIC.len() + 4 + meta.len() + body.len());
    buf.extend_from_slice(MAGIC);
    let meta_len = u32::try_from(meta.len()).map_err(|_| invalid("header too long"))?;
    buf.extend_from_slice(&meta_len.to_le_bytes());
    buf.extend_from_slice(&meta);
    buf.extend_from_slice(&body);
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let mut f = std::fs::File::create(&tmp)?;
    let res = f.write_all(&buf).and_then(|()| std::fs::rename(&tmp, path));
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res?;
    Ok(buf.len() as u64)
}

fn read_entry(path: &Path) -> std::io::Result<Entry> {
    let buf = std::fs::read(path)?;
    let rest = buf
        .strip_prefix(MAGIC)
        .ok_or_else(|| invalid("bad magic"))?;
    let (len, rest) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| invalid("truncated"))?;
    let len = u32::from_le_bytes(*len) as usize;
    if rest.len() < len {
        return Err(invalid("truncated header"));
    }
    let (meta, body) = rest.split_at(len);
    let meta: Meta = serde_json::from_slice(meta).map_err(|e| invalid(&e.to_string()))?;
    let body = lz4_flex::decompress_size_prepended(body).map_err(|e| invalid(&e.to_string()))?;
    Ok(Entry::new(meta, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn freshness_follows_rfc_9111() {
        let h = headers(&[("cache-control", "public, max-age=600"), ("age", "100")]);
        assert_eq!(freshness_lifetime(&h, false), Some(500));
        let h = headers(&[("cache-control", "max-age=60, max-age=30")]);
        assert_eq!(freshness_lifetime(&h, false), Some(30));
        let h = headers(&[("cache-control", "max-age=abc")]);
        assert_eq!(freshness_lifetime(&h, false), Some(0));
        let h = headers(&[
            ("date", "Mon, 01 Jan 2024 00:00:00 GMT"),
            ("expires", "Mon, 01 Jan 2024 01:00:00 GMT"),
        ]);
        assert_eq!(freshness_lifetime(&h, false), Some(3600));
        let h = headers(&[("expires", "0")]);
        assert_eq!(freshness_lifetime(&h, false), Some(0));
        let h = headers(&[
            ("date", "Mon, 11 Jan 2024 00:00:00 GMT"),
            ("last-modified", "Mon, 01 Jan 2024 00:00:00 GMT"),
        ]);
        assert_eq!(freshness_lifetime(&h, false), Some(86_400));
        assert_eq!(freshness_lifetime(&h, true), None);
        let h = headers(&[
            ("date", "Mon, 01 Jan 2024 10:00:00 GMT"),
            ("last-modified", "Mon, 01 Jan 2024 00:00:00 GMT"),
        ]);
        assert_eq!(freshness_lifetime(&h, false), Some(3600));
    }

    #[test]
    fn what_is_stored() {
        let u = "http://x/";
        assert!(storable_meta(u, 200, &headers(&[("cache-control", "max-age=60")])).is_some());
        assert!(
            storable_meta(
                u,
                200,
                &headers(&[("cache-control", "no-store, max-age=60")])
            )
            .is_none()
        );
        assert!(
            storable_meta(
                u,
                200,
                &headers(&[("cache-control", "max-age=60"), ("vary", "*")])
            )
            .is_none()
        );
        // Nothing to go on: not worth keeping.
        assert!(storable_meta(u, 200, &HeaderMap::new()).is_none());
        // Revalidatable: kept even with no lifetime.
        let m = storable_meta(
            u,
            200,
            &headers(&[("etag", "\"v1\""), ("cache-control", "no-cache")]),
        )
        .expect("stored");
        assert!(m.no_cache);
        assert_eq!(m.etag.as_deref(), Some("\"v1\""));
        // Errors are not kept; temporary redirects only with an explicit lifetime.
        assert!(storable_meta(u, 404, &headers(&[("cache-control", "max-age=60")])).is_none());
        assert!(storable_meta(u, 302, &headers(&[("location", "/a")])).is_none());
        let m = storable_meta(
            u,
            302,
            &headers(&[("location", "/a"), ("cache-control", "max-age=60")]),
        )
        .expect("stored");
        assert_eq!(m.location.as_deref(), Some("/a"));
        let h = headers(&[("pragma", "no-cache"), ("etag", "\"x\"")]);
        assert!(storable_meta(u, 200, &h).expect("stored").no_cache);
    }

    #[test]
    fn lru_evicts_the_least_recently_used_by_bytes() {
        let mut l: Lru<u32> = Lru::new(100);
        let k = |n: u8| [n; 32];
        assert!(l.insert(k(1), 1, 40).is_empty());
        assert!(l.insert(k(2), 2, 40).is_empty());
        assert_eq!(l.get(&k(1)), Some(&1)); // 1 is now the most recent
        let out = l.insert(k(3), 3, 40);
        assert_eq!(out.iter().map(|(_, v)| *v).collect::<Vec<_>>(), vec![2]);
        assert_eq!(l.bytes, 80);
        let out = l.insert(k(4), 4, 101);
        assert_eq!(out.len(), 1, "too big for the budget: refused");
        assert!(l.get(&k(4)).is_none());
        assert_eq!(l.remove(&k(1)), Some(1));
        assert_eq!(l.bytes, 40);
    }

    #[test]
    fn disk_entries_round_trip_and_garbage_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let meta = storable_meta("http://x/", 200, &headers(&[("etag", "\"e\"")])).expect("m");
        let body = b"hello hello hello hello hello".repeat(100);
        let e = Entry::new(meta, body.clone());
        let path = dir.path().join(file_name(&key("GET", "http://x/")));
        let size = write_entry(dir.path(), &path, &e).expect("write");
        assert!(size < body.len() as u64, "compressed: {size}");
        let back = read_entry(&path).expect("read");
        assert_eq!(back.body, body);
        assert_eq!(back.meta.etag.as_deref(), Some("\"e\""));
        std::fs::write(&path, b"RUNEFC1\n\x05\x00\x00\x00{}").expect("write");
        assert!(read_entry(&path).is_err());
        std::fs::write(&path, b"garbage").expect("write");
        assert!(read_entry(&path).is_err());
        assert_eq!(parse_hex(&file_name(&[7; 32])[..64]), Some([7; 32]));
    }
}
