//! Physical lines: the scanner (with the line-length limit), comment and
//! continuation tests.

use crate::ast::Span;
use crate::ParseError;

use super::MAX_LINE_LENGTH;

/// Splits the input into physical lines, each with its line ending kept
/// (BuildKit's `scanLines`), and counts them.
pub(super) struct Scanner<'a> {
    rest: &'a [u8],
    line_number: usize,
    last_line_length: usize,
}

impl<'a> Scanner<'a> {
    pub(super) fn new(text: &'a [u8]) -> Self {
        Scanner {
            rest: text,
            line_number: 0,
            last_line_length: 0,
        }
    }

    /// The next line, lossily decoded, line ending included; `None` at the end.
    ///
    /// A line longer than [`MAX_LINE_LENGTH`] bytes (line feed excluded) is an error.
    pub(super) fn next_line(&mut self) -> Result<Option<String>, ParseError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let (raw, rest) = match self.rest.iter().position(|&byte| byte == b'\n') {
            Some(newline) => self.rest.split_at(newline + 1),
            None => (self.rest, &[][..]),
        };
        self.rest = rest;
        self.line_number += 1;
        let without_feed = raw.strip_suffix(b"\n").unwrap_or(raw);
        let content_length = without_feed.len();
        let mut visible = without_feed;
        while let Some(shorter) = visible.strip_suffix(b"\r") {
            visible = shorter;
        }
        self.last_line_length = visible.len();
        if content_length > MAX_LINE_LENGTH {
            return Err(ParseError {
                message: format!(
                    "dockerfile line {} is longer than the maximum of {MAX_LINE_LENGTH} bytes",
                    self.line_number
                ),
                span: Some(Span {
                    start_line: self.line_number,
                    start_col: 1,
                    end_line: self.line_number,
                    end_col: self.last_line_length + 1,
                }),
            });
        }
        Ok(Some(String::from_utf8_lossy(raw).into_owned()))
    }

    /// The 1-based number of the line returned last (0 before the first).
    pub(super) fn line_number(&self) -> usize {
        self.line_number
    }

    /// The length in bytes of the line returned last, line ending excluded.
    pub(super) fn last_line_length(&self) -> usize {
        self.last_line_length
    }
}

/// Removes trailing `\r` and `\n` characters (BuildKit's `trimNewline`).
pub(super) fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// True when the line, leading whitespace aside, starts with `#`.
pub(super) fn is_comment(line: &str) -> bool {
    trim_newline(line).trim_start().starts_with('#')
}

/// Strips a line-continuation escape token (and the blanks after it).
///
/// Returns the remaining text and whether the logical line ends here. The
/// line continues when its last non-blank character is the escape token and
/// the character before it is not the escape token too (or there is none).
pub(super) fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let without_blanks = line.trim_end_matches([' ', '\t']);
    let Some(before_escape) = without_blanks.strip_suffix(escape) else {
        return (line, true);
    };
    if before_escape.ends_with(escape) {
        return (line, true);
    }
    (before_escape, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_table() {
        let cases = [
            ("RUN a \\", '\\', "RUN a ", false),
            ("RUN a \\  \t", '\\', "RUN a ", false),
            ("RUN a \\\\", '\\', "RUN a \\\\", true),
            ("\\", '\\', "", false),
            ("\\ ", '\\', "", false),
            ("RUN a", '\\', "RUN a", true),
            ("RUN a `", '`', "RUN a ", false),
            ("RUN a \\", '`', "RUN a \\", true),
            ("RUN a ``", '`', "RUN a ``", true),
            ("", '\\', "", true),
        ];
        for (line, escape, want, want_end) in cases {
            assert_eq!(
                trim_continuation(line, escape),
                (want, want_end),
                "{line:?}"
            );
        }
    }

    #[test]
    fn scanner_keeps_line_endings_and_counts() {
        let mut scanner = Scanner::new(b"a\r\nbb\nccc");
        assert_eq!(scanner.next_line().unwrap().as_deref(), Some("a\r\n"));
        assert_eq!((scanner.line_number(), scanner.last_line_length()), (1, 1));
        assert_eq!(scanner.next_line().unwrap().as_deref(), Some("bb\n"));
        assert_eq!(scanner.next_line().unwrap().as_deref(), Some("ccc"));
        assert_eq!((scanner.line_number(), scanner.last_line_length()), (3, 3));
        assert_eq!(scanner.next_line().unwrap(), None);
    }

    #[test]
    fn scanner_line_length_limit() {
        let mut ok = vec![b'a'; MAX_LINE_LENGTH];
        ok.push(b'\n');
        assert!(Scanner::new(&ok).next_line().unwrap().is_some());
        let long = vec![b'a'; MAX_LINE_LENGTH + 1];
        let err = Scanner::new(&long).next_line().unwrap_err();
        assert_eq!(err.span.map(|span| span.start_line), Some(1));
        assert!(err.message.contains("65535"), "{}", err.message);
    }

    #[test]
    fn comments() {
        assert!(is_comment("  # x\n"));
        assert!(is_comment("#"));
        assert!(!is_comment("RUN # x"));
        assert!(!is_comment(""));
    }
}
