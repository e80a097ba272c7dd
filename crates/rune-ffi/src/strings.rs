//! C strings in and out.
//!
//! In: a `const char *` must be non-NULL (unless the function documents NULL as a default)
//! and valid UTF-8; anything else is an error code, never undefined behaviour. Out: strings
//! Rune returns are allocated by Rune (`CString::into_raw`) and given back to
//! `rune_string_free`, which is the only way to free them.

use std::ffi::{CStr, CString, c_char};

use crate::error::{FfiError, rune_status};

/// Reads a required string argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that stays valid during the call.
pub(crate) unsafe fn required<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, FfiError> {
    // SAFETY: forwarded from the caller's contract.
    unsafe { optional(ptr, what) }?.ok_or_else(|| {
        FfiError::new(
            rune_status::RUNE_ERROR_NULL_POINTER,
            format!("{what} is NULL"),
        )
    })
}

/// Reads a string argument that may be NULL.
///
/// # Safety
/// As [`required`].
pub(crate) unsafe fn optional<'a>(
    ptr: *const c_char,
    what: &str,
) -> Result<Option<&'a str>, FfiError> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL, and NUL-terminated and alive per the caller's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) };
    bytes.to_str().map(Some).map_err(|e| {
        FfiError::new(
            rune_status::RUNE_ERROR_INVALID_UTF8,
            format!("{what} is not valid UTF-8: {e}"),
        )
    })
}

/// Checks an out-parameter and clears it, so that it is NULL whenever the call fails.
///
/// # Safety
/// `out` is NULL or valid for writing one pointer.
pub(crate) unsafe fn out_param<T>(out: *mut *mut T, what: &str) -> Result<(), FfiError> {
    if out.is_null() {
        return Err(FfiError::new(
            rune_status::RUNE_ERROR_NULL_POINTER,
            format!("{what} is NULL"),
        ));
    }
    // SAFETY: non-NULL and writable per the caller's contract.
    unsafe { *out = std::ptr::null_mut() };
    Ok(())
}

/// Hands `text` to C through `out` (already checked by [`out_param`]).
///
/// # Safety
/// `out` is valid for writing one pointer.
pub(crate) unsafe fn give(out: *mut *mut c_char, text: String) -> Result<(), FfiError> {
    let c = CString::new(text).map_err(|_| {
        FfiError::new(
            rune_status::RUNE_ERROR_PROTOCOL,
            "the answer contains a NUL byte and cannot be a C string",
        )
    })?;
    // SAFETY: writable per the caller's contract; ownership goes to C until
    // rune_string_free takes it back.
    unsafe { *out = c.into_raw() };
    Ok(())
}

/// Parses a JSON argument that must be an object (or, when NULL, is `None`).
pub(crate) fn json_object(
    text: Option<&str>,
    what: &str,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, FfiError> {
    let Some(text) = text else { return Ok(None) };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(o)) => Ok(Some(o)),
        Ok(serde_json::Value::Null) => Ok(None),
        Ok(other) => Err(FfiError::new(
            rune_status::RUNE_ERROR_INVALID_JSON,
            format!("{what} must be a JSON object, not {}", kind(&other)),
        )),
        Err(e) => Err(FfiError::new(
            rune_status::RUNE_ERROR_INVALID_JSON,
            format!("{what} is not valid JSON: {e}"),
        )),
    }
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
