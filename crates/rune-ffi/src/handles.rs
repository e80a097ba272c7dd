//! Handles: what C holds instead of pointers to Rust memory.
//!
//! A `rune_client *` or `rune_server *` is never dereferenced. Its value is a number, drawn
//! from a counter that never repeats, and the key of a table of live objects. Looking a
//! handle up clones an `Arc` out of the table, so:
//!
//! - a handle that was destroyed, or never made (a stray pointer, garbage), is simply not in
//!   the table: the call fails with `RUNE_ERROR_INVALID_HANDLE` instead of reading freed
//!   memory. Destroying twice is therefore harmless;
//! - destroying a handle while another thread uses it is safe: that thread holds its own
//!   `Arc` until its call returns, and the object is freed by whoever drops the last one.
//!
//! The cost is one uncontended mutex and a hash lookup per call, nanoseconds next to a tool
//! call's microseconds.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{FfiError, rune_status};

/// The next handle value, shared by every table so that a client handle is never a valid
/// server handle either. Steps of 16 keep the values looking like aligned pointers.
static NEXT: AtomicUsize = AtomicUsize::new(0x1000);

/// The live objects of one kind.
pub(crate) struct Table<T> {
    kind: &'static str,
    live: Mutex<Option<Map<T>>>,
}

type Map<T> = HashMap<usize, Arc<T>, BuildHasherDefault<HandleHasher>>;

/// Handles are distinct multiples of 16 drawn from a counter, not chosen by an attacker: a
/// multiplicative hash spreads them well enough, at a fraction of SipHash's cost.
#[derive(Default)]
struct HandleHasher(u64);

impl Hasher for HandleHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64 >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl<T> Table<T> {
    pub(crate) const fn new(kind: &'static str) -> Self {
        Table {
            kind,
            live: Mutex::new(None),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Map<T>>> {
        // A panic while holding the lock cannot leave the map half-changed (insert and
        // remove are single operations), so a poisoned lock is still good.
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores `value` and returns its new handle.
    pub(crate) fn insert(&self, value: T) -> usize {
        let handle = NEXT.fetch_add(16, Ordering::Relaxed);
        self.lock()
            .get_or_insert_with(Map::default)
            .insert(handle, Arc::new(value));
        handle
    }

    /// The object behind `handle`.
    pub(crate) fn get(&self, handle: usize) -> Result<Arc<T>, FfiError> {
        self.lock()
            .as_ref()
            .and_then(|m| m.get(&handle).cloned())
            .ok_or_else(|| self.invalid(handle))
    }

    /// Takes the object out: later lookups of `handle` fail.
    pub(crate) fn remove(&self, handle: usize) -> Result<Arc<T>, FfiError> {
        self.lock()
            .as_mut()
            .and_then(|m| m.remove(&handle))
            .ok_or_else(|| self.invalid(handle))
    }

    fn invalid(&self, handle: usize) -> FfiError {
        if handle == 0 {
            return FfiError::new(
                rune_status::RUNE_ERROR_NULL_POINTER,
                format!("the {} handle is NULL", self.kind),
            );
        }
        FfiError::new(
            rune_status::RUNE_ERROR_INVALID_HANDLE,
            format!(
                "{handle:#x} is not a live {} handle (never created, or already destroyed)",
                self.kind
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_and_foreign_handles_are_refused() {
        let a: Table<u32> = Table::new("test");
        let b: Table<u32> = Table::new("other");
        let h = a.insert(7);
        assert_eq!(a.get(h).map(|v| *v).ok(), Some(7));
        assert!(
            b.get(h).is_err(),
            "a handle of one table is not valid in another"
        );
        let held = a.get(h).ok();
        assert!(a.remove(h).is_ok());
        let again = a.remove(h).err().map(|e| e.status);
        assert_eq!(again, Some(rune_status::RUNE_ERROR_INVALID_HANDLE));
        assert!(a.get(h).is_err());
        assert_eq!(held.map(|v| *v), Some(7), "a holder keeps the object alive");
        assert_ne!(a.insert(1), h, "handles are not reused");
    }
}
