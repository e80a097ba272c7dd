//! When to try again, and how long to wait first.
//!
//! A failed request is sent again only when its error [is retryable](crate::Error::is_retryable)
//! (rate limits, overload, 5xx, network failures, timeouts), at most
//! [`RetryPolicy::max_retries`] times, and only before a response has been accepted: once a
//! stream has delivered its first event, a failure ends the stream (the caller already saw
//! part of an answer; repeating the request would repeat it).
//!
//! The wait is the server's when it gave one, from the first of these headers present:
//! `retry-after-ms` (OpenAI, Azure), `Retry-After` (seconds or an HTTP date), the reset time
//! of an exhausted rate-limit bucket (`x-ratelimit-reset-requests`/`-tokens` as `6m0s`-style
//! durations; `anthropic-ratelimit-*-reset` as RFC 3339 times). A server delay longer than
//! [`RetryPolicy::max_retry_after`] is not waited for: the error is returned at once. Without
//! a server delay the wait is exponential, `initial_backoff × 2^attempt` capped at
//! `max_backoff`, with "equal jitter": half of it fixed, half random, so that clients that
//! failed together do not come back together.
//!
//! Sleeping goes through a [`Sleeper`], tokio's timer by default; tests inject one that
//! records the delays and returns at once.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;
use reqwest::header::HeaderMap;

use crate::error::Error;

/// How a request is retried (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: never retry).
    pub max_retries: u32,
    /// The first computed wait (before jitter).
    pub initial_backoff: Duration,
    /// The longest computed wait.
    pub max_backoff: Duration,
    /// The longest server-requested wait that is honoured; beyond it the error is returned.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// 3 retries, 500 ms doubling up to 20 s; server delays up to 60 s.
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The wait before retry number `attempt + 1` after `error`, or `None` when it must not
    /// be retried. `random` is in `[0, 1)` (the jitter).
    pub fn delay(&self, attempt: u32, error: &Error, random: f64) -> Option<Duration> {
        if !error.is_retryable() || attempt >= self.max_retries {
            return None;
        }
        if let Some(d) = error.retry_after() {
            return (d <= self.max_retry_after).then_some(d);
        }
        let exp = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(attempt.min(30)))
            .min(self.max_backoff);
        let half = exp / 2;
        Some(half + half.mul_f64(random.clamp(0.0, 1.0)))
    }
}

/// Sleeps for a duration; tokio's timer unless a test injects another.
pub type Sleeper = Arc<dyn Fn(Duration) -> BoxFuture<'static, ()> + Send + Sync>;

/// The default sleeper: `tokio::time::sleep`.
pub fn tokio_sleeper() -> Sleeper {
    Arc::new(|d| Box::pin(tokio::time::sleep(d)))
}

/// The server's requested delay, from the headers of an error response (see the module
/// documentation for the order). `now` is the wall clock, for headers that name a time.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    if let Some(v) = get("retry-after") {
        if let Ok(secs) = v.parse::<f64>() {
            if secs.is_finite() && secs >= 0.0 {
                return Some(Duration::from_secs_f64(secs));
            }
        } else if let Some(at) = parse_http_date(v) {
            return Some(at.duration_since(now).unwrap_or_default());
        }
    }
    exhausted_reset(headers, now)
}

/// The latest reset time among the rate-limit buckets whose remaining count is 0 (a bucket
/// without a remaining header counts as exhausted when its reset header is present).
pub(crate) fn exhausted_reset(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let exhausted = |remaining: &str| get(remaining).is_none_or(|v| v == "0");
    let mut best: Option<Duration> = None;
    let mut consider = |d: Option<Duration>| {
        if let Some(d) = d {
            best = Some(best.map_or(d, |b| b.max(d)));
        }
    };
    for bucket in ["requests", "tokens"] {
        if exhausted(&format!("x-ratelimit-remaining-{bucket}")) {
            consider(get(&format!("x-ratelimit-reset-{bucket}")).and_then(parse_go_duration));
        }
    }
    for bucket in ["requests", "tokens", "input-tokens", "output-tokens"] {
        if exhausted(&format!("anthropic-ratelimit-{bucket}-remaining")) {
            consider(
                get(&format!("anthropic-ratelimit-{bucket}-reset"))
                    .and_then(parse_rfc3339)
                    .map(|at| at.duration_since(now).unwrap_or_default()),
            );
        }
    }
    best
}

/// `1s`, `6m0s`, `20ms`, `1h2m3.5s`, `250us` (the duration format of OpenAI's rate-limit
/// headers); a bare number is seconds.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    if let Ok(secs) = s.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let mut total = 0.0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * scale;
    }
    total.is_finite().then(|| Duration::from_secs_f64(total))
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn time_at(
    y: i64,
    mo: u32,
    d: u32,
    h: u32,
    mi: u32,
    s: f64,
    offset_secs: i64,
) -> Option<SystemTime> {
    if !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || h > 23
        || mi > 59
        || !(0.0..61.0).contains(&s)
    {
        return None;
    }
    let secs =
        days_from_civil(y, mo, d) * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 - offset_secs;
    let whole = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(whole) + Duration::from_secs_f64(s))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (the IMF-fixdate form of HTTP dates).
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    let rest = s.split_once(", ")?.1;
    let mut it = rest.split(' ');
    let day: u32 = it.next()?.parse().ok()?;
    let month = match it.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':');
    let h = hms.next()?.parse().ok()?;
    let mi = hms.next()?.parse().ok()?;
    let sec: u32 = hms.next()?.parse().ok()?;
    if it.next()? != "GMT" {
        return None;
    }
    time_at(year, month, day, h, mi, f64::from(sec), 0)
}

/// `2024-05-01T12:00:30Z`, `2024-05-01T12:00:30.5+02:00` (RFC 3339).
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let (date, time) = s.split_once(['T', 't', ' '])?;
    let mut d = date.split('-');
    let y: i64 = d.next()?.parse().ok()?;
    let mo: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    let (clock, offset) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else {
        let i = time.rfind(['+', '-'])?;
        let (c, off) = time.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':')?;
        let oh: i64 = oh.parse().ok()?;
        let om: i64 = om.parse().ok()?;
        (c, sign * (oh * 3600 + om * 60))
    };
    let mut c = clock.split(':');
    let h = c.next()?.parse().ok()?;
    let mi = c.next()?.parse().ok()?;
    let sec: f64 = c.next()?.parse().ok()?;
    time_at(y, mo, day, h, mi, sec, offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    const NOW: Duration = Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT

    #[test]
    fn dates_parse() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(UNIX_EPOCH + NOW)
        );
        assert_eq!(
            parse_rfc3339("1994-11-06T08:49:37Z"),
            Some(UNIX_EPOCH + NOW)
        );
        assert_eq!(
            parse_rfc3339("1994-11-06T10:49:37.5+02:00"),
            Some(UNIX_EPOCH + NOW + Duration::from_millis(500))
        );
        assert_eq!(parse_http_date("yesterday"), None);
        assert_eq!(parse_rfc3339("1994-13-06T08:49:37Z"), None);
    }

    #[test]
    fn go_durations_parse() {
        let cases = [
            ("1s", 1000),
            ("6m0s", 360_000),
            ("20ms", 20),
            ("1h2m3.5s", 3_723_500),
            ("0.25", 250),
        ];
        for (s, ms) in cases {
            assert_eq!(parse_go_duration(s), Some(Duration::from_millis(ms)), "{s}");
        }
        assert_eq!(parse_go_duration("5 parsecs"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn retry_after_headers_in_order() {
        let now = UNIX_EPOCH + NOW;
        let at = |h: &[(&'static str, &str)]| retry_after(&headers(h), now);
        assert_eq!(at(&[("retry-after", "7")]), Some(Duration::from_secs(7)));
        assert_eq!(
            at(&[("retry-after", "7"), ("retry-after-ms", "1500")]),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            at(&[("retry-after", "Sun, 06 Nov 1994 08:50:07 GMT")]),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            at(&[("retry-after", "Sun, 06 Nov 1994 08:00:00 GMT")]),
            Some(Duration::ZERO)
        );
        // Only exhausted buckets count; the longest reset wins.
        assert_eq!(
            at(&[
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", "2s"),
                ("x-ratelimit-remaining-tokens", "100"),
                ("x-ratelimit-reset-tokens", "6m0s"),
            ]),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            at(&[
                ("anthropic-ratelimit-tokens-remaining", "0"),
                ("anthropic-ratelimit-tokens-reset", "1994-11-06T08:49:49Z"),
            ]),
            Some(Duration::from_secs(12))
        );
        assert_eq!(at(&[("x-ratelimit-remaining-requests", "3")]), None);
    }

    #[test]
    fn delays_follow_the_policy() {
        let p = RetryPolicy::default();
        let server = Error::new(ErrorKind::Server, "");
        // Equal jitter: between half and all of the exponential step.
        assert_eq!(p.delay(0, &server, 0.0), Some(Duration::from_millis(250)));
        assert_eq!(
            p.delay(0, &server, 0.999_999).map(|d| d.as_millis()),
            Some(499)
        );
        assert_eq!(p.delay(2, &server, 0.0), Some(Duration::from_millis(1000)));
        assert_eq!(p.delay(3, &server, 0.0), None, "max_retries reached");
        let capped = RetryPolicy {
            max_retries: 40,
            ..p
        };
        assert_eq!(
            capped.delay(30, &server, 0.0),
            Some(Duration::from_secs(10))
        );
        let limited =
            Error::new(ErrorKind::RateLimited, "").with_retry_after(Some(Duration::from_secs(42)));
        assert_eq!(p.delay(0, &limited, 0.5), Some(Duration::from_secs(42)));
        let too_long = limited
            .clone()
            .with_retry_after(Some(Duration::from_secs(61)));
        assert_eq!(p.delay(0, &too_long, 0.5), None);
        let auth = Error::new(ErrorKind::Authentication, "");
        assert_eq!(p.delay(0, &auth, 0.5), None);
    }
}
