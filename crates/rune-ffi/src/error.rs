//! Status codes, the thread-local last error, and the guard every exported function runs in.
//!
//! Every function of the ABI body is a closure passed to [`guard`]: it returns
//! `Result<(), FfiError>`; the guard catches any panic (nothing unwinds into C), turns an error
//! into its [`rune_status`] and records its message for `rune_last_error()`.

use std::cell::RefCell;
use std::ffi::{CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// What a call of the C ABI did. `RUNE_OK` is 0; every other value is a failure, described
/// in words by `rune_last_error()` on the same thread.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum rune_status {
    /// Success.
    RUNE_OK = 0,
    /// A pointer that must not be NULL was NULL.
    RUNE_ERROR_NULL_POINTER = 1,
    /// A string was not valid UTF-8.
    RUNE_ERROR_INVALID_UTF8 = 2,
    /// A string that must be JSON was not, or was not the JSON kind expected (for example
    /// arguments that are not an object).
    RUNE_ERROR_INVALID_JSON = 3,
    /// An argument was understood but refused: an unknown URL scheme, an empty command line,
    /// an empty tool name.
    RUNE_ERROR_INVALID_ARGUMENT = 4,
    /// The handle is not a live handle of that kind: never created, or already destroyed.
    RUNE_ERROR_INVALID_HANDLE = 5,
    /// Starting, reaching or talking to the peer failed (spawn, connect, HTTP status, I/O).
    RUNE_ERROR_TRANSPORT = 6,
    /// No answer came within the timeout; the request was cancelled at the server.
    RUNE_ERROR_TIMEOUT = 7,
    /// The connection is closed (the server exited, or the handle was destroyed meanwhile).
    RUNE_ERROR_CLOSED = 8,
    /// The server answered with a JSON-RPC error (an unknown tool, invalid params…).
    RUNE_ERROR_RPC = 9,
    /// The peer broke the protocol (an answer that does not decode, an unknown revision).
    RUNE_ERROR_PROTOCOL = 10,
    /// A local I/O failure: binding an address, reading stdin.
    RUNE_ERROR_IO = 11,
    /// The server already serves stdio (one `rune_server_run` at a time).
    RUNE_ERROR_BUSY = 12,
    /// A bug in Rune: a panic was caught at the boundary. The handle stays usable.
    RUNE_ERROR_PANIC = 13,
    /// Rune could not start its threads.
    RUNE_ERROR_RUNTIME = 14,
}

/// A failure on its way to C.
#[derive(Debug)]
pub(crate) struct FfiError {
    pub(crate) status: rune_status,
    pub(crate) message: String,
}

impl FfiError {
    pub(crate) fn new(status: rune_status, message: impl Into<String>) -> Self {
        FfiError {
            status,
            message: message.into(),
        }
    }
}

impl From<::rune_client::Error> for FfiError {
    fn from(e: ::rune_client::Error) -> Self {
        use ::rune_client::Error as E;
        let status = match &e {
            E::Rpc(_) => rune_status::RUNE_ERROR_RPC,
            E::Timeout(_) => rune_status::RUNE_ERROR_TIMEOUT,
            E::Closed(_) => rune_status::RUNE_ERROR_CLOSED,
            E::Protocol(_) | E::UnsupportedVersion(_) => rune_status::RUNE_ERROR_PROTOCOL,
            E::InvalidTarget(_) => rune_status::RUNE_ERROR_INVALID_ARGUMENT,
            E::Server { error, .. } => FfiError::from((**error).clone()).status,
            _ => rune_status::RUNE_ERROR_TRANSPORT,
        };
        FfiError::new(status, e.to_string())
    }
}

thread_local! {
    /// The message of the last failure on this thread (empty before the first one).
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `message` as this thread's last error.
pub(crate) fn set_last_error(message: &str) {
    // A C string cannot hold NUL: a message quoting one gets U+FFFD instead.
    let text = CString::new(message.replace('\0', "\u{FFFD}")).unwrap_or_default();
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = text);
}

/// This thread's last error, as a pointer valid until the next failing call on this thread.
pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR
        .try_with(|slot| slot.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}

/// Runs the body of an exported function: no panic leaves it, and a failure becomes a status
/// code plus this thread's last error.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), FfiError>) -> rune_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => rune_status::RUNE_OK,
        Ok(Err(e)) => {
            set_last_error(&e.message);
            e.status
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            set_last_error(&format!("internal error (a bug in Rune): {what}"));
            rune_status::RUNE_ERROR_PANIC
        }
    }
}

/// The name of a status, for messages: `"RUNE_ERROR_TIMEOUT"`.
pub(crate) fn status_name(status: rune_status) -> &'static std::ffi::CStr {
    use rune_status::*;
    match status {
        RUNE_OK => c"RUNE_OK",
        RUNE_ERROR_NULL_POINTER => c"RUNE_ERROR_NULL_POINTER",
        RUNE_ERROR_INVALID_UTF8 => c"RUNE_ERROR_INVALID_UTF8",
        RUNE_ERROR_INVALID_JSON => c"RUNE_ERROR_INVALID_JSON",
        RUNE_ERROR_INVALID_ARGUMENT => c"RUNE_ERROR_INVALID_ARGUMENT",
        RUNE_ERROR_INVALID_HANDLE => c"RUNE_ERROR_INVALID_HANDLE",
        RUNE_ERROR_TRANSPORT => c"RUNE_ERROR_TRANSPORT",
        RUNE_ERROR_TIMEOUT => c"RUNE_ERROR_TIMEOUT",
        RUNE_ERROR_CLOSED => c"RUNE_ERROR_CLOSED",
        RUNE_ERROR_RPC => c"RUNE_ERROR_RPC",
        RUNE_ERROR_PROTOCOL => c"RUNE_ERROR_PROTOCOL",
        RUNE_ERROR_IO => c"RUNE_ERROR_IO",
        RUNE_ERROR_BUSY => c"RUNE_ERROR_BUSY",
        RUNE_ERROR_PANIC => c"RUNE_ERROR_PANIC",
        RUNE_ERROR_RUNTIME => c"RUNE_ERROR_RUNTIME",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        let status = guard(|| panic!("boom"));
        assert_eq!(status, rune_status::RUNE_ERROR_PANIC);
        // SAFETY: last_error_ptr points at this thread's NUL-terminated message.
        let msg = unsafe { std::ffi::CStr::from_ptr(last_error_ptr()) };
        assert!(msg.to_string_lossy().contains("boom"), "{msg:?}");
    }

    #[test]
    fn a_message_with_nul_is_kept_readable() {
        let status = guard(|| Err(FfiError::new(rune_status::RUNE_ERROR_IO, "a\0b")));
        assert_eq!(status, rune_status::RUNE_ERROR_IO);
        // SAFETY: as above.
        let msg = unsafe { std::ffi::CStr::from_ptr(last_error_ptr()) };
        assert_eq!(msg.to_str().ok(), Some("a\u{FFFD}b"));
    }
}
