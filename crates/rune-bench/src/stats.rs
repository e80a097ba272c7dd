//! Latency statistics: percentiles over the per-call round-trip times.

/// The value at percentile `p` (0–100) of `sorted` (ascending), by the
/// nearest-rank method: the smallest value such that at least `p`% of the
/// values are at or below it. `None` for an empty slice.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let p = p.clamp(0.0, 100.0);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    Some(sorted[index])
}

/// Summary of a set of latencies in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest value.
    pub max: u64,
}

impl Latency {
    /// Sorts `samples` in place and summarises them; `None` if empty.
    pub fn from_samples(samples: &mut [u64]) -> Option<Self> {
        samples.sort_unstable();
        Some(Self {
            p50: percentile(samples, 50.0)?,
            p99: percentile(samples, 99.0)?,
            max: *samples.last()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
        let v = [10, 20, 30, 40];
        assert_eq!(percentile(&v, 50.0), Some(20));
        assert_eq!(percentile(&v, 75.1), Some(40));
    }

    #[test]
    fn summary_sorts() {
        let mut v = vec![5, 1, 4, 2, 3];
        let l = Latency::from_samples(&mut v).expect("non-empty");
        assert_eq!((l.p50, l.p99, l.max), (3, 5, 5));
        assert!(Latency::from_samples(&mut []).is_none());
    }
}
