//! Pieces every tool shares: annotations, running file work off the async runtime, results.

use rune_server::HandlerError;
use rune_server::proto::model::{CallToolResult, Content, ToolAnnotations};
use serde::Serialize;

/// The hints of a tool that only reads local files.
pub(crate) fn read_only_annotations(title: &str) -> ToolAnnotations {
    ToolAnnotations {
        title: Some(title.to_owned()),
        read_only_hint: Some(true),
        destructive_hint: Some(false),
        idempotent_hint: Some(true),
        open_world_hint: Some(false),
    }
}

/// Runs blocking file work on the runtime's blocking pool.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, HandlerError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, HandlerError> + Send + 'static,
{
    // The call's scope (the client's roots) goes along to the blocking thread.
    let scope = crate::guard::current_scope();
    tokio::task::spawn_blocking(move || crate::guard::in_scope(scope, f))
        .await
        .map_err(|e| HandlerError::failed(format!("the tool's task failed: {e}")))?
}

/// A result of content blocks plus `structuredContent`.
pub(crate) fn with_structured<T: Serialize>(
    content: Vec<Content>,
    structured: &T,
) -> CallToolResult {
    match serde_json::to_value(structured) {
        Ok(v) => CallToolResult::new(content).with_structured(v),
        Err(e) => CallToolResult::error(format!("the result could not be serialized: {e}")),
    }
}

/// A failure with a message.
pub(crate) fn fail(msg: impl Into<String>) -> HandlerError {
    HandlerError::failed(msg)
}

/// Formats seconds + nanoseconds since the Unix epoch (negative before it) as RFC 3339 UTC
/// with milliseconds, e.g. `2024-05-01T12:00:00.250Z`. Never panics.
pub(crate) fn rfc3339_millis(time: std::time::SystemTime) -> String {
    let (secs, nanos) = match time.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i128, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let mut s = -(d.as_secs() as i128);
            let mut n = d.subsec_nanos();
            if n > 0 {
                s -= 1;
                n = 1_000_000_000 - n;
            }
            (s, n)
        }
    };
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i128::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60,
        nanos / 1_000_000
    )
}

/// A byte count for people: `512 B`, `1.5 KiB`, `3.2 MiB`.
pub(crate) fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.1} {}", UNITS[i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::new(1_714_564_800, 250_000_000);
        assert_eq!(rfc3339_millis(t), "2024-05-01T12:00:00.250Z");
        let t = UNIX_EPOCH + Duration::new(951_782_400, 0); // leap day
        assert_eq!(rfc3339_millis(t), "2000-02-29T00:00:00.000Z");
        let before = UNIX_EPOCH - Duration::new(1, 500_000_000);
        assert_eq!(rfc3339_millis(before), "1969-12-31T23:59:58.500Z");
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(10), "10 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(3 * 1024 * 1024), "3.0 MiB");
    }
}
