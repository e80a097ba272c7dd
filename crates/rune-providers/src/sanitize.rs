//! Making model output safe to print on a terminal.
//!
//! A model's text is attacker-influenced (a prompt injection in a tool result can make it say
//! anything), and a terminal obeys escape sequences: `ESC ] 52` writes the clipboard, `ESC [ 2J`
//! clears the screen, a lone `\r` lets a line overwrite what came before it. So every piece of
//! text a provider returns passes through [`strip_controls`] before it reaches a caller:
//!
//! - ANSI/VT escape sequences are removed whole: CSI (`ESC [` … final byte), OSC (`ESC ]` …
//!   `BEL` or `ESC \`), DCS/SOS/PM/APC strings (`ESC P`, `ESC X`, `ESC ^`, `ESC _` … `ESC \`),
//!   and two-character escapes;
//! - the other C0 controls, DEL and the C1 controls (U+0080–U+009F) are dropped; `\n` and
//!   `\t` stay in text (they become spaces in one-line messages), `\r\n` becomes `\n`;
//! - the bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069) are dropped,
//!   since they make a terminal show text in another order than it is.
//!
//! Invalid UTF-8 never gets this far: the stream decoders read lines with
//! `String::from_utf8_lossy`, so a broken byte sequence becomes U+FFFD.
//!
//! A stream is sanitized delta by delta. An escape sequence split across two deltas loses its
//! `ESC` in the first; the rest (`[31m`) is then printed as plain, harmless characters.

use std::borrow::Cow;

const ESC: char = '\u{1b}';
const BEL: char = '\u{7}';

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn needs_work(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c)
}

/// Removes terminal escape sequences and control characters (see the module documentation).
/// With `keep_newlines` false, `\n` and `\t` become spaces (for one-line messages).
pub fn strip_controls(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| needs_work(c) || (!keep_newlines && c.is_control()))
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\t' => out.push(if keep_newlines { c } else { ' ' }),
            ESC => match chars.next() {
                // CSI: parameters and intermediates up to a final byte in @..~.
                Some('[') => {
                    for n in chars.by_ref() {
                        if ('@'..='~').contains(&n) {
                            break;
                        }
                    }
                }
                // OSC: up to BEL or ST (ESC \).
                Some(']') => skip_string(&mut chars, true),
                // DCS, SOS, PM, APC: up to ST.
                Some('P' | 'X' | '^' | '_') => skip_string(&mut chars, false),
                // A two-character escape (or a lone ESC at the end).
                _ => {}
            },
            c if needs_work(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, bel_ends: bool) {
    while let Some(n) = chars.next() {
        if bel_ends && n == BEL {
            return;
        }
        if n == ESC && chars.peek() == Some(&'\\') {
            chars.next();
            return;
        }
    }
}

/// [`strip_controls`] keeping newlines and tabs, as an owned `String`: the form every
/// provider applies to answer text.
pub fn text(s: &str) -> String {
    strip_controls(s, true).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        let s = "héllo\n\tworld ✓";
        assert!(matches!(strip_controls(s, true), Cow::Borrowed(_)));
    }

    #[test]
    fn escape_sequences_are_removed_whole() {
        let cases = [
            ("a\u{1b}[31mred\u{1b}[0m b", "ared b"),
            ("\u{1b}[2J\u{1b}[Hclear", "clear"),
            ("x\u{1b}]52;c;aGVsbG8=\u{7}y", "xy"),
            (
                "x\u{1b}]8;;http://evil\u{1b}\\link\u{1b}]8;;\u{1b}\\y",
                "xlinky",
            ),
            ("x\u{1b}Pq#0;2;0;0;0\u{1b}\\y", "xy"),
            ("x\u{1b}cy", "xy"),
            ("tail\u{1b}", "tail"),
            (
                "bell\u{7} nul\u{0} del\u{7f} c1\u{9b}31m",
                "bell nul del c131m",
            ),
            ("over\rwrite", "overwrite"),
            ("crlf\r\nline", "crlf\nline"),
            ("bidi\u{202e}txt\u{2066}", "biditxt"),
        ];
        for (input, want) in cases {
            assert_eq!(strip_controls(input, true), want, "{input:?}");
        }
    }

    #[test]
    fn one_line_form_turns_newlines_into_spaces() {
        assert_eq!(strip_controls("a\nb\tc", false), "a b c");
    }
}
