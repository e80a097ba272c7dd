//! Where SSE events are kept so a client can resume a stream (`Last-Event-ID`).
//!
//! Every event a session sends on a stream is appended here first and gets the next
//! sequence number of that stream; its SSE id is `<stream>-<seq>`. A client that lost a
//! stream (or that the server closed on purpose, SEP-1699 polling) sends a GET with the last
//! id it saw and receives what followed. [`MemoryEventStore`] is the default; a deployment
//! with several replicas behind a load balancer plugs in a shared one by implementing
//! [`EventStore`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use rune_server::BoxFuture;

/// An event as stored: its sequence number in its stream and its JSON.
pub type StoredEvent = (u64, Arc<[u8]>);

/// Keeps the events of every session's streams.
pub trait EventStore: Send + Sync + 'static {
    /// Stores `data` as the next event of `stream` in `session`; returns its sequence
    /// number (1, 2, …; 0 is the stream's priming event, never stored).
    fn append(&self, session: &str, stream: u64, data: Arc<[u8]>) -> BoxFuture<u64>;
    /// The events of `stream` after `after`, oldest first. Events dropped for room are
    /// simply missing.
    fn replay(&self, session: &str, stream: u64, after: u64) -> BoxFuture<Vec<StoredEvent>>;
    /// Forgets one stream (its requests are answered and delivered).
    fn forget_stream(&self, session: &str, stream: u64) -> BoxFuture<()>;
    /// Forgets a whole session.
    fn forget_session(&self, session: &str) -> BoxFuture<()>;
}

impl std::fmt::Debug for dyn EventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventStore")
    }
}

/// The default store: in memory, bounded per session (oldest events dropped first).
#[derive(Debug)]
pub struct MemoryEventStore {
    max_events: usize,
    max_bytes: usize,
    sessions: Mutex<HashMap<String, SessionEvents>>,
}

#[derive(Debug, Default)]
struct SessionEvents {
    /// (stream, seq, data), oldest first.
    events: VecDeque<(u64, u64, Arc<[u8]>)>,
    bytes: usize,
    next_seq: HashMap<u64, u64>,
}

impl Default for MemoryEventStore {
    fn default() -> Self {
        MemoryEventStore::new(10_000, 32 << 20)
    }
}

impl MemoryEventStore {
    /// A store keeping at most `max_events` events and `max_bytes` bytes per session.
    pub fn new(max_events: usize, max_bytes: usize) -> Self {
        MemoryEventStore {
            max_events: max_events.max(1),
            max_bytes,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, SessionEvents>) -> T) -> T {
        let mut g = match self.sessions.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&mut g)
    }
}

impl EventStore for MemoryEventStore {
    fn append(&self, session: &str, stream: u64, data: Arc<[u8]>) -> BoxFuture<u64> {
        let seq = self.with(|m| {
            let s = m.entry(session.to_owned()).or_default();
            let seq = s.next_seq.entry(stream).or_insert(0);
            *seq += 1;
            let seq = *seq;
            s.bytes += data.len();
            s.events.push_back((stream, seq, data));
            while s.events.len() > self.max_events
                || (s.bytes > self.max_bytes && s.events.len() > 1)
            {
                if let Some((_, _, d)) = s.events.pop_front() {
                    s.bytes -= d.len();
                }
            }
            seq
        });
        Box::pin(async move { seq })
    }

    fn replay(&self, session: &str, stream: u64, after: u64) -> BoxFuture<Vec<StoredEvent>> {
        let out = self.with(|m| {
            m.get(session)
                .map(|s| {
                    s.events
                        .iter()
                        .filter(|(st, seq, _)| *st == stream && *seq > after)
                        .map(|(_, seq, d)| (*seq, d.clone()))
                        .collect()
                })
                .unwrap_or_default()
        });
        Box::pin(async move { out })
    }

    fn forget_stream(&self, session: &str, stream: u64) -> BoxFuture<()> {
        self.with(|m| {
            if let Some(s) = m.get_mut(session) {
                let mut freed = 0;
                s.events.retain(|(st, _, d)| {
                    let keep = *st != stream;
                    if !keep {
                        freed += d.len();
                    }
                    keep
                });
                s.bytes -= freed;
                s.next_seq.remove(&stream);
            }
        });
        Box::pin(async {})
    }

    fn forget_session(&self, session: &str) -> BoxFuture<()> {
        self.with(|m| {
            m.remove(session);
        });
        Box::pin(async {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(s: &str) -> Arc<[u8]> {
        Arc::from(s.as_bytes())
    }

    #[tokio::test]
    async fn numbers_per_stream_replays_after_and_bounds() {
        let st = MemoryEventStore::new(4, 1 << 20);
        assert_eq!(st.append("s", 1, data("a")).await, 1);
        assert_eq!(st.append("s", 2, data("x")).await, 1);
        assert_eq!(st.append("s", 1, data("b")).await, 2);
        assert_eq!(st.append("s", 1, data("c")).await, 3);
        let r = st.replay("s", 1, 1).await;
        assert_eq!(r.iter().map(|e| e.0).collect::<Vec<_>>(), [2, 3]);
        // A fifth event drops the oldest ("a").
        st.append("s", 1, data("d")).await;
        let r = st.replay("s", 1, 0).await;
        assert_eq!(r.iter().map(|e| e.0).collect::<Vec<_>>(), [2, 3, 4]);
        st.forget_stream("s", 1).await;
        assert!(st.replay("s", 1, 0).await.is_empty());
        assert_eq!(st.replay("s", 2, 0).await.len(), 1);
        st.forget_session("s").await;
        assert!(st.replay("s", 2, 0).await.is_empty());
    }
}
