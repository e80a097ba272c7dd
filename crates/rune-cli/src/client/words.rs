//! Splits a command line into words the way a POSIX shell does for quoting (no expansion):
//! blanks separate words; `'…'` keeps everything literally; `"…"` keeps everything but
//! `\"`, `\\`, `\$` and `` \` ``, which lose their backslash; outside quotes a backslash
//! keeps the next character literally (and a backslash-newline is dropped).

/// The words of `line`, or why it cannot be split (an unterminated quote, a trailing
/// backslash).
pub fn split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    // A word was started (so `''` gives an empty word).
    let mut started = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            '\'' => {
                started = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                started = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(c) => {
                    started = true;
                    word.push(c);
                }
                None => return Err("a backslash ends the command".into()),
            },
            c => {
                started = true;
                word.push(c);
            }
        }
    }
    if started {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::split;

    fn ok(line: &str) -> Vec<String> {
        split(line).expect(line)
    }

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(ok("  npx -y  pkg\t. "), ["npx", "-y", "pkg", "."]);
        assert_eq!(ok("a 'b c' \"d e\""), ["a", "b c", "d e"]);
        assert_eq!(ok("'it'\"'\"'s'"), ["it's"]);
        assert_eq!(ok(r#""say \"hi\" \$HOME \n""#), [r#"say "hi" $HOME \n"#]);
        assert_eq!(ok(r"a\ b c\\d"), ["a b", r"c\d"]);
        assert_eq!(ok("x '' \"\""), ["x", "", ""]);
        assert_eq!(ok("--args='{\"a\": 1}'"), ["--args={\"a\": 1}"]);
        assert_eq!(ok("a\\\nb"), ["ab"]);
        assert!(ok("").is_empty());
        assert!(ok("   ").is_empty());
    }

    #[test]
    fn refuses_what_a_shell_refuses() {
        assert!(split("a 'b").is_err());
        assert!(split("a \"b").is_err());
        assert!(split("a \"b\\").is_err());
        assert!(split("a\\").is_err());
    }
}
