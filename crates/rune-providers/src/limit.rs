//! A client-side rate limiter: requests per minute and tokens per minute.
//!
//! Two token buckets, each holding at most one minute's allowance and refilled continuously
//! (a limit of 60 requests per minute allows a burst of 60, then one per second). A request
//! takes one request token and its estimated token count (see [`estimate_tokens`]); it waits
//! until both buckets hold enough. Waiters are served in arrival order: the bucket state sits
//! behind tokio's fair mutex, held across the wait, so a large request is not starved by a
//! stream of small ones.
//!
//! The limiter also obeys the provider: when a successful response says a bucket is empty
//! (`x-ratelimit-remaining-requests: 0` with its reset time), the next request waits for the
//! reset ([`RateLimiter::pause_for`]).
//!
//! Time is tokio's (`tokio::time::Instant`), so tests run it with a paused clock.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::types::{ChatRequest, Part};

/// Limits requests and tokens per minute (see the module documentation).
#[derive(Debug)]
pub struct RateLimiter {
    requests_per_minute: Option<u32>,
    tokens_per_minute: Option<u32>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    requests: f64,
    tokens: f64,
    last: Instant,
    paused_until: Option<Instant>,
}

const MINUTE: f64 = 60.0;

impl RateLimiter {
    /// A limiter; `None` leaves that dimension unlimited.
    pub fn new(requests_per_minute: Option<u32>, tokens_per_minute: Option<u32>) -> Self {
        RateLimiter {
            requests_per_minute,
            tokens_per_minute,
            state: Mutex::new(State {
                requests: requests_per_minute.map_or(0.0, f64::from),
                tokens: tokens_per_minute.map_or(0.0, f64::from),
                last: Instant::now(),
                paused_until: None,
            }),
        }
    }

    /// Waits until a request of `tokens` estimated tokens may be sent, and takes its share.
    /// A request larger than the whole per-minute allowance waits for a full bucket.
    pub async fn acquire(&self, tokens: u32) {
        let mut s = self.state.lock().await;
        loop {
            let now = Instant::now();
            let elapsed = now.saturating_duration_since(s.last).as_secs_f64();
            s.last = now;
            let mut wait = Duration::ZERO;
            if let Some(until) = s.paused_until {
                if until > now {
                    wait = until - now;
                } else {
                    s.paused_until = None;
                }
            }
            let mut need_tokens = 0.0;
            if let Some(rpm) = self.requests_per_minute {
                let cap = f64::from(rpm.max(1));
                s.requests = (s.requests + elapsed * cap / MINUTE).min(cap);
                wait = wait.max(shortfall(s.requests, 1.0, cap));
            }
            if let Some(tpm) = self.tokens_per_minute {
                let cap = f64::from(tpm.max(1));
                need_tokens = f64::from(tokens).min(cap);
                s.tokens = (s.tokens + elapsed * cap / MINUTE).min(cap);
                wait = wait.max(shortfall(s.tokens, need_tokens, cap));
            }
            if wait.is_zero() {
                if self.requests_per_minute.is_some() {
                    s.requests -= 1.0;
                }
                if self.tokens_per_minute.is_some() {
                    s.tokens -= need_tokens;
                }
                return;
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Sends nothing more for `delay` (the provider said a bucket is empty).
    pub async fn pause_for(&self, delay: Duration) {
        let until = Instant::now() + delay;
        let mut s = self.state.lock().await;
        s.paused_until = Some(s.paused_until.map_or(until, |u| u.max(until)));
    }
}

/// How long until a bucket refilled at `cap` per minute holds `need`.
fn shortfall(have: f64, need: f64, cap: f64) -> Duration {
    if have >= need {
        return Duration::ZERO;
    }
    // Round up to the microsecond so the next check finds enough.
    let secs = (need - have) * MINUTE / cap;
    Duration::from_micros((secs * 1e6).ceil() as u64)
}

/// A rough token count of a request, for the tokens-per-minute budget: a quarter of the
/// characters of its text and tool definitions, plus its `max_tokens` (providers count the
/// requested output against the budget too), plus 1000 per image.
pub fn estimate_tokens(req: &ChatRequest) -> u32 {
    let mut chars = 0usize;
    let mut images = 0usize;
    for m in &req.messages {
        for p in &m.content {
            match p {
                Part::Text { text } => chars += text.len(),
                Part::Image { .. } => images += 1,
            }
        }
        for c in &m.tool_calls {
            chars += c.name.len() + c.arguments.to_string().len();
        }
    }
    for t in &req.tools {
        chars += t.name.len() + t.description.len() + t.input_schema.to_string().len();
    }
    let estimate = chars / 4 + images * 1000 + req.max_tokens.unwrap_or(0) as usize;
    u32::try_from(estimate).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn requests_per_minute_under_concurrency() {
        let limiter = Arc::new(RateLimiter::new(Some(60), None));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..65 {
            let l = limiter.clone();
            tasks.push(tokio::spawn(async move {
                l.acquire(0).await;
                Instant::now().duration_since(start)
            }));
        }
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.expect("task"));
        }
        times.sort();
        // A burst of 60, then one per second.
        assert!(times[..60].iter().all(|t| t.is_zero()), "{times:?}");
        for (i, t) in times[60..].iter().enumerate() {
            let want = Duration::from_secs(i as u64 + 1);
            assert!(
                *t >= want && *t < want + Duration::from_millis(5),
                "request {} at {t:?}, want {want:?}",
                60 + i
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_per_minute_and_fifo_order() {
        let limiter = Arc::new(RateLimiter::new(None, Some(6000)));
        let start = Instant::now();
        limiter.acquire(6000).await; // empties the bucket
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // A large request first, then small ones: the large one is served first.
        for (i, n) in [(0, 3000u32), (1, 100), (2, 100)] {
            let l = limiter.clone();
            let order = order.clone();
            tasks.push(tokio::spawn(async move {
                l.acquire(n).await;
                order
                    .lock()
                    .expect("lock")
                    .push((i, Instant::now().duration_since(start)));
            }));
            tokio::task::yield_now().await;
        }
        for t in tasks {
            t.await.expect("task");
        }
        let order = order.lock().expect("lock").clone();
        let ids: Vec<_> = order.iter().map(|(i, _)| *i).collect();
        assert_eq!(ids, vec![0, 1, 2]);
        // 3000 tokens at 100 per second: 30 s; then 1 s each for the small ones.
        let secs: Vec<u64> = order.iter().map(|(_, t)| t.as_secs()).collect();
        assert_eq!(secs, vec![30, 31, 32]);
    }

    #[tokio::test(start_paused = true)]
    async fn pause_for_delays_the_next_request() {
        let limiter = RateLimiter::new(Some(1000), None);
        limiter.pause_for(Duration::from_secs(7)).await;
        let start = Instant::now();
        limiter.acquire(0).await;
        assert_eq!(Instant::now().duration_since(start).as_secs(), 7);
    }
}
