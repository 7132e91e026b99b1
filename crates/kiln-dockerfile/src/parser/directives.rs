//! Parser directives (`# syntax=...`, `# escape=...`, `# check=...`).
//!
//! Directives are recognised only in an unbroken run of `# key=value` lines
//! at the top of the file; anything else ends the run for good.

use crate::ast::{Directive, Span};
use crate::ParseError;

/// The directive keys BuildKit knows.
const KNOWN_KEYS: [&str; 3] = ["syntax", "escape", "check"];

/// Tracks whether directives are still possible and which were seen.
#[derive(Debug, Default)]
pub(super) struct DirectiveParser {
    done: bool,
    seen: Vec<String>,
}

impl DirectiveParser {
    /// Looks at one physical line (leading whitespace and line ending
    /// already removed). Returns the directive it holds, if any; a repeated
    /// directive is an error.
    pub(super) fn parse_line(
        &mut self,
        line: &str,
        span: Span,
    ) -> Result<Option<Directive>, ParseError> {
        if self.done {
            return Ok(None);
        }
        let Some((key, value)) = match_directive(line) else {
            self.done = true;
            return Ok(None);
        };
        let key = key.to_ascii_lowercase();
        if !KNOWN_KEYS.contains(&key.as_str()) {
            self.done = true;
            return Ok(None);
        }
        if self.seen.contains(&key) {
            return Err(ParseError {
                message: format!("only one {key} parser directive can be used"),
                span: Some(span),
            });
        }
        self.seen.push(key.clone());
        Ok(Some(Directive {
            key,
            value: value.to_owned(),
            span,
        }))
    }
}

/// The escape character for an `escape` directive value, if it is valid.
pub(super) fn escape_token(value: &str) -> Option<char> {
    match value {
        "\\" => Some('\\'),
        "`" => Some('`'),
        _ => None,
    }
}

/// Go's `\s`: ASCII whitespace without `\v`.
fn is_regex_space(ch: char) -> bool {
    matches!(ch, ' ' | '\t' | '\n' | '\r' | '\x0c')
}

/// Matches `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` as Go's regexp does.
fn match_directive(line: &str) -> Option<(&str, &str)> {
    let after_hash = line.strip_prefix('#')?.trim_start_matches(is_regex_space);
    let key_end = after_hash
        .char_indices()
        .find(|&(index, ch)| !(ch.is_ascii_alphabetic() || (index > 0 && ch.is_ascii_digit())))
        .map_or(after_hash.len(), |(index, _)| index);
    if key_end == 0 {
        return None;
    }
    let (key, after_key) = after_hash.split_at(key_end);
    let after_equals = after_key
        .trim_start_matches(is_regex_space)
        .strip_prefix('=')?;
    // `\s*(.+?)\s*$`: the greedy `\s*` must leave at least one character.
    let value_start = after_equals.trim_start_matches(is_regex_space);
    let value = if value_start.is_empty() {
        let last = after_equals.chars().next_back()?;
        &after_equals[after_equals.len() - last.len_utf8()..]
    } else {
        value_start.trim_end_matches(is_regex_space)
    };
    Some((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_table() {
        let cases = [
            ("# escape=`", Some(("escape", "`"))),
            ("#escape=\\", Some(("escape", "\\"))),
            (
                "#  Syntax  =  docker/dockerfile:1  ",
                Some(("Syntax", "docker/dockerfile:1")),
            ),
            (
                "# check=skip=all;error=true",
                Some(("check", "skip=all;error=true")),
            ),
            ("# key2 = a b", Some(("key2", "a b"))),
            ("# key=   ", Some(("key", " "))),
            ("# key=", None),
            ("# 2key=a", None),
            ("# just a comment", None),
            ("#", None),
            ("FROM x", None),
            ("", None),
        ];
        for (line, want) in cases {
            assert_eq!(match_directive(line), want, "{line:?}");
        }
    }

    #[test]
    fn unknown_key_ends_directives() {
        let mut parser = DirectiveParser::default();
        let span = Span::default();
        assert!(parser.parse_line("# syntax=a", span).unwrap().is_some());
        assert!(parser.parse_line("# foo=bar", span).unwrap().is_none());
        assert!(parser.parse_line("# escape=`", span).unwrap().is_none());
    }

    #[test]
    fn duplicate_is_error() {
        let mut parser = DirectiveParser::default();
        let span = Span::default();
        parser.parse_line("# escape=`", span).unwrap();
        let err = parser.parse_line("# ESCAPE=\\", span).unwrap_err();
        assert_eq!(err.message, "only one escape parser directive can be used");
    }

    #[test]
    fn escape_values() {
        assert_eq!(escape_token("`"), Some('`'));
        assert_eq!(escape_token("\\"), Some('\\'));
        assert_eq!(escape_token("x"), None);
        assert_eq!(escape_token("``"), None);
    }
}
