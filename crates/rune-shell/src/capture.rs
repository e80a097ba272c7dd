//! Output capture with a fixed budget: the first half and the last half of a stream are kept,
//! whatever its length, and the middle is replaced by a marker that says how much is missing.
//!
//! Memory stays at the budget however much a command prints: bytes past the head go into a
//! ring buffer that keeps only the most recent ones.

use std::collections::VecDeque;

/// One stream's kept bytes.
#[derive(Debug)]
pub(crate) struct Capture {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    head_cap: usize,
    tail_cap: usize,
    total: u64,
}

impl Capture {
    /// A capture keeping at most `budget` bytes (half head, half tail).
    pub(crate) fn new(budget: usize) -> Self {
        let head_cap = budget / 2;
        Capture {
            head: Vec::with_capacity(head_cap.min(64 * 1024)),
            tail: VecDeque::new(),
            head_cap,
            tail_cap: budget - head_cap,
            total: 0,
        }
    }

    pub(crate) fn push(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        let room = self.head_cap - self.head.len();
        if room > 0 {
            let n = room.min(data.len());
            self.head.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        if data.len() >= self.tail_cap {
            self.tail.clear();
            self.tail
                .extend(data[data.len() - self.tail_cap..].iter().copied());
            return;
        }
        let overflow = (self.tail.len() + data.len()).saturating_sub(self.tail_cap);
        self.tail.drain(..overflow);
        self.tail.extend(data.iter().copied());
    }

    /// Bytes seen in all.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// Bytes left out of [`Capture::render`].
    pub(crate) fn omitted(&self) -> u64 {
        self.total - (self.head.len() + self.tail.len()) as u64
    }

    /// The kept text (invalid UTF-8 replaced), with a marker where bytes were left out.
    pub(crate) fn render(&self, name: &str) -> String {
        let tail: Vec<u8> = self.tail.iter().copied().collect();
        let omitted = self.omitted();
        if omitted == 0 {
            let mut all = self.head.clone();
            all.extend_from_slice(&tail);
            return String::from_utf8_lossy(&all).into_owned();
        }
        // Cut at character boundaries: drop a partial character at the end of the head and
        // at the start of the tail rather than show a replacement character.
        let head = trim_end_partial(&self.head);
        let tail = trim_start_partial(&tail);
        format!(
            "{}\n[… {} bytes of {name} omitted: {} in all, the first {} and the last {} are shown. \
             To see everything, redirect the output to a file inside a root and read it with \
             file_read …]\n{}",
            String::from_utf8_lossy(head),
            omitted,
            self.total,
            self.head.len(),
            self.tail.len(),
            String::from_utf8_lossy(tail)
        )
    }
}

/// `b` without an incomplete UTF-8 sequence at its end.
fn trim_end_partial(b: &[u8]) -> &[u8] {
    for back in 1..=3.min(b.len()) {
        let i = b.len() - back;
        let c = b[i];
        if c & 0xC0 != 0x80 {
            // A lead byte (or ASCII): complete if its sequence fits.
            let need = if c >= 0xF0 {
                4
            } else if c >= 0xE0 {
                3
            } else if c >= 0xC0 {
                2
            } else {
                1
            };
            return if need > back { &b[..i] } else { b };
        }
    }
    b
}

/// `b` without continuation bytes at its start (the end of a character cut in two).
fn trim_start_partial(b: &[u8]) -> &[u8] {
    let skip = b.iter().take(3).take_while(|&&c| c & 0xC0 == 0x80).count();
    &b[skip..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_output_is_kept_whole() {
        let mut c = Capture::new(10);
        c.push(b"abc");
        c.push(b"defgh");
        assert_eq!(c.render("stdout"), "abcdefgh");
        assert_eq!(c.omitted(), 0);
        let mut c = Capture::new(10);
        c.push(b"0123456789");
        assert_eq!(c.render("stdout"), "0123456789");
    }

    #[test]
    fn long_output_keeps_head_and_tail_with_a_marker() {
        let mut c = Capture::new(8);
        for chunk in [&b"HEAD"[..], b"middle-that-goes", b"-away-", b"TAIL"] {
            c.push(chunk);
        }
        let r = c.render("stdout");
        assert!(r.starts_with("HEAD\n[… "), "{r}");
        assert!(r.ends_with("\nTAIL"), "{r}");
        assert!(r.contains("22 bytes of stdout omitted: 30 in all"), "{r}");
        // One push bigger than the whole budget.
        let mut c = Capture::new(4);
        c.push(&[b'x'; 1000]);
        c.push(b"yz");
        assert_eq!(c.total(), 1002);
        assert!(c.render("stderr").ends_with("\nyz"));
    }

    #[test]
    fn cuts_never_split_a_character() {
        let mut c = Capture::new(6);
        c.push("aé€é€é€b".as_bytes());
        let r = c.render("stdout");
        assert!(!r.contains('\u{FFFD}'), "{r}");
        assert_eq!(trim_end_partial("a€".as_bytes()), "a€".as_bytes());
        assert_eq!(trim_end_partial(&"a€".as_bytes()[..3]), b"a");
        assert_eq!(trim_start_partial(&"€b".as_bytes()[1..]), b"b");
    }
}
