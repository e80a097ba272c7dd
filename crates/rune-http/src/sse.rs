//! Server-sent events: encoding, and the body of a stream fed by a session's [`Item`]s.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use tokio::sync::mpsc;

use crate::session::{Item, Session};

/// Comments sent on an idle stream so proxies do not close it.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One SSE event: `id:` when given, `retry:` when given, then the data (JSON has no raw
/// newlines, so it is one `data:` line).
pub(crate) fn event(id: Option<&str>, retry: Option<Duration>, data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(data.len() + 48);
    if let Some(id) = id {
        out.extend_from_slice(b"id: ");
        out.extend_from_slice(id.as_bytes());
        out.push(b'\n');
    }
    if let Some(r) = retry {
        out.extend_from_slice(format!("retry: {}\n", r.as_millis()).as_bytes());
    }
    out.extend_from_slice(b"event: message\n");
    out.extend_from_slice(b"data: ");
    out.extend(
        data.iter()
            .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// The priming event of a resumable stream (SEP-1699): an id and empty data, so the client
/// has an id to resume from, and the reconnection delay.
pub(crate) fn priming(id: &str, retry: Duration) -> Bytes {
    Bytes::from(format!(
        "id: {id}\nretry: {}\ndata: \n\n",
        retry.as_millis()
    ))
}

/// A named event (legacy HTTP+SSE's `endpoint`).
pub(crate) fn named(name: &str, data: &str) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// The SSE id of event `seq` of `stream`.
pub(crate) fn event_id(stream: u64, seq: u64) -> String {
    format!("{stream}-{seq}")
}

/// Parses an SSE id made by [`event_id`].
pub(crate) fn parse_event_id(id: &str) -> Option<(u64, u64)> {
    let (s, n) = id.trim().split_once('-')?;
    Some((s.parse().ok()?, n.parse().ok()?))
}

/// Closes a one-request session when its response goes away (the client hung up).
pub(crate) struct CloseOnDrop(pub(crate) std::sync::Arc<Session>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// A live stream: what to send first, then the session's items.
pub(crate) struct Stream {
    pub(crate) first: VecDeque<Bytes>,
    pub(crate) rx: Option<mpsc::UnboundedReceiver<Item>>,
    /// The stream's number, for event ids; `None`: events carry no id.
    pub(crate) ids: Option<u64>,
    /// Items up to this sequence number were already sent (replayed).
    pub(crate) skip_upto: u64,
    /// Kept for its `Drop`: closes a one-request session when the response goes away.
    pub(crate) _guard: Option<CloseOnDrop>,
}

enum Next {
    Send(Bytes),
    SendLast(Bytes),
    Stop,
}

impl Stream {
    fn encode(&self, seq: u64, data: &[u8]) -> Bytes {
        let id = self.ids.map(|s| event_id(s, seq));
        event(id.as_deref(), None, data)
    }

    /// The response body.
    pub(crate) fn into_body(self) -> Body {
        let ticker = tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
        let state = (self, ticker, false);
        let s = futures_util::stream::unfold(state, |(mut st, mut ticker, finished)| async move {
            if let Some(b) = st.first.pop_front() {
                return Some((Ok::<_, Infallible>(b), (st, ticker, finished)));
            }
            if finished {
                return None;
            }
            let next = loop {
                let Some(rx) = st.rx.as_mut() else {
                    break Next::Stop;
                };
                tokio::select! {
                    item = rx.recv() => match item {
                        Some(Item::Event { seq, data }) => {
                            if st.ids.is_some() && seq <= st.skip_upto {
                                continue;
                            }
                            break Next::Send(st.encode(seq, &data));
                        }
                        Some(Item::Final { seq, data }) => {
                            if st.ids.is_some() && seq <= st.skip_upto {
                                break Next::Stop;
                            }
                            break Next::SendLast(st.encode(seq, &data));
                        }
                        Some(Item::Close) | Some(Item::End) | None => break Next::Stop,
                    },
                    _ = ticker.tick() => break Next::Send(Bytes::from_static(b": keep-alive\n\n")),
                }
            };
            match next {
                Next::Send(b) => Some((Ok(b), (st, ticker, false))),
                Next::SendLast(b) => Some((Ok(b), (st, ticker, true))),
                Next::Stop => None,
            }
        });
        Body::from_stream(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_and_ids() {
        let e = event(Some("3-7"), Some(Duration::from_millis(1500)), b"{\"a\":1}");
        assert_eq!(
            &e[..],
            b"id: 3-7\nretry: 1500\nevent: message\ndata: {\"a\":1}\n\n"
        );
        assert_eq!(&event(None, None, b"")[..], b"event: message\ndata: \n\n");
        assert_eq!(parse_event_id("3-7"), Some((3, 7)));
        assert_eq!(parse_event_id(&event_id(0, 12)), Some((0, 12)));
        assert_eq!(parse_event_id("x-1"), None);
        assert_eq!(parse_event_id("37"), None);
    }
}
