//! Finding heredoc words (`<<EOF`, `<<-EOF`, `3<<"EOF"`) in an instruction
//! line (BuildKit's `heredocsFromLine` and `heredocFromMatch`).
//!
//! The bodies are read by the caller; this only finds the delimiters.

use crate::ast::Heredoc;

/// The heredocs named on `line`, in order, with empty bodies.
///
/// The line is split into shell words (quotes and escapes kept); every word
/// of the form `[digits]<<[-]delimiter` names a heredoc. A line that does not
/// lex (an unterminated quote) names none.
pub(super) fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, String> {
    let Ok(words) = shell_words(line, true, true) else {
        return Ok(Vec::new());
    };
    let mut heredocs = Vec::new();
    for word in words {
        if let Some(heredoc) = heredoc_from_word(&word)? {
            heredocs.push(heredoc);
        }
    }
    Ok(heredocs)
}

/// Matches `^(\d*)<<(-?)([^<]*)$` and checks the delimiter is one word.
fn heredoc_from_word(word: &str) -> Result<Option<Heredoc>, String> {
    let digits_end = word
        .find(|ch: char| !ch.is_ascii_digit())
        .unwrap_or(word.len());
    let (digits, after_digits) = word.split_at(digits_end);
    let Some(after_marker) = after_digits.strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, delimiter) = match after_marker.strip_prefix('-') {
        Some(delimiter) => (true, delimiter),
        None => (false, after_marker),
    };
    if delimiter.is_empty() || delimiter.contains('<') {
        return Ok(None);
    }
    let unquoted = shell_words(delimiter, false, false)?;
    let [name] = &unquoted[..] else {
        return Ok(None);
    };
    let raw = shell_words(delimiter, true, false)?;
    let [raw_name] = &raw[..] else {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {delimiter}"
        ));
    };
    let quotes = |text: &str| text.chars().filter(|&ch| ch == '\'' || ch == '"').count();
    Ok(Some(Heredoc {
        name: name.clone(),
        fd: digits.parse().unwrap_or(0),
        expand: quotes(name) == quotes(raw_name),
        chomp,
        content: String::new(),
    }))
}

/// Splits `text` into shell words the way BuildKit's lexer does with escape
/// token `\`, leaving `$` alone (no variables are set while looking for
/// heredocs). `raw_quotes` keeps quote characters in the words, `raw_escapes`
/// keeps the escape characters. An unterminated quote is an error.
fn shell_words(text: &str, raw_quotes: bool, raw_escapes: bool) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            _ if ch.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                if raw_quotes {
                    word.push('\'');
                }
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(inner) => word.push(inner),
                        None => return Err(
                            "unexpected end of statement while looking for matching single-quote"
                                .into(),
                        ),
                    }
                }
                if raw_quotes {
                    word.push('\'');
                }
            }
            '"' => {
                in_word = true;
                if raw_quotes {
                    word.push('"');
                }
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.peek() {
                            Some(&next @ ('"' | '$' | '\\')) => {
                                if raw_escapes {
                                    word.push('\\');
                                }
                                word.push(next);
                                chars.next();
                            }
                            Some(_) => word.push('\\'),
                            None => {}
                        },
                        Some(inner) => word.push(inner),
                        None => return Err(
                            "unexpected end of statement while looking for matching double-quote"
                                .into(),
                        ),
                    }
                }
                if raw_quotes {
                    word.push('"');
                }
            }
            '\\' => {
                in_word = true;
                if raw_escapes {
                    word.push('\\');
                }
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            _ => {
                in_word = true;
                word.push(ch);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(line: &str) -> Vec<(String, u32, bool, bool)> {
        heredocs_from_line(line)
            .unwrap()
            .into_iter()
            .map(|doc| (doc.name, doc.fd, doc.expand, doc.chomp))
            .collect()
    }

    #[test]
    fn heredoc_table() {
        let own = |name: &str, fd, expand, chomp| (name.to_owned(), fd, expand, chomp);
        let cases = [
            ("RUN <<EOF", vec![own("EOF", 0, true, false)]),
            ("RUN <<-EOF bash", vec![own("EOF", 0, true, true)]),
            ("RUN <<'EOF'", vec![own("EOF", 0, false, false)]),
            ("RUN <<\"EOF\"", vec![own("EOF", 0, false, false)]),
            ("RUN <<eo'f'", vec![own("eof", 0, false, false)]),
            (
                "COPY <<a <<b /dst/",
                vec![own("a", 0, true, false), own("b", 0, true, false)],
            ),
            (
                "RUN cat 3<<FD3 4<<-FD4",
                vec![own("FD3", 3, true, false), own("FD4", 4, true, true)],
            ),
            ("RUN cat<<EOF", vec![]),
            ("RUN echo '<<EOF'", vec![]),
            ("RUN echo \"<<EOF", vec![]),
            ("RUN echo <<", vec![]),
            ("RUN echo a<<<b", vec![]),
        ];
        for (line, want) in cases {
            assert_eq!(names(line), want, "{line:?}");
        }
    }

    #[test]
    fn words() {
        assert_eq!(
            shell_words(r#"a "b c" d\ e"#, false, false).unwrap(),
            ["a", "b c", "d e"]
        );
        assert_eq!(
            shell_words(r#"a "b c" d\ e"#, true, true).unwrap(),
            ["a", "\"b c\"", "d\\ e"]
        );
        assert!(shell_words("'a", false, false).is_err());
    }
}
