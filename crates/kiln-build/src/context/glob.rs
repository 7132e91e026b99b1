//! Glob patterns with Go `path.Match` semantics: `*` (any run of characters
//! except `/`), `?` (one character except `/`), `[...]` classes with ranges and
//! `^` or `!` negation, and `\` escapes. A pattern is validated completely
//! before it is matched, so a malformed pattern is an error even when an
//! earlier part already fails to match (as in Go).

use super::error::ContextError;

/// One element of a parsed glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// A character that must appear as is (escaped characters included).
    Literal(char),
    /// `?`: any one character except `/`.
    AnyChar,
    /// `*`: any run of characters except `/`.
    Star,
    /// `[...]`: one character in (or, negated, not in) the inclusive ranges.
    Class {
        /// `[^...]` or `[!...]`.
        negated: bool,
        /// Inclusive `(low, high)` ranges; a single character is `(c, c)`.
        ranges: Vec<(char, char)>,
    },
}

impl Token {
    /// Whether this single-character token accepts `c` (`Star` never does).
    fn accepts(&self, c: char) -> bool {
        match self {
            Token::Literal(l) => *l == c,
            Token::AnyChar => c != '/',
            Token::Star => false,
            Token::Class { negated, ranges } => {
                let inside = ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi);
                inside != *negated
            }
        }
    }
}

/// A validated glob, ready to match names.
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    tokens: Vec<Token>,
}

impl Glob {
    /// Parses `pattern`, failing with [`ContextError::BadPattern`] when it is malformed.
    pub(crate) fn parse(pattern: &str) -> Result<Glob, ContextError> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while let Some(&c) = chars.get(i) {
            i += 1;
            let token = match c {
                '*' => Token::Star,
                '?' => Token::AnyChar,
                '\\' => match chars.get(i) {
                    Some(&escaped) => {
                        i += 1;
                        Token::Literal(escaped)
                    }
                    None => return Err(ContextError::bad_pattern(pattern, "trailing backslash")),
                },
                '[' => parse_class(pattern, &chars, &mut i)?,
                other => Token::Literal(other),
            };
            tokens.push(token);
        }
        Ok(Glob { tokens })
    }

    /// The parsed tokens, in order.
    pub(crate) fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// Whether the whole of `name` matches the whole pattern.
    pub(crate) fn matches(&self, name: &str) -> bool {
        let chars: Vec<char> = name.chars().collect();
        let len = chars.len();
        // `next[j]`: the tokens after the current one match `chars[j..]`.
        let mut next = vec![false; len + 1];
        next[len] = true;
        for token in self.tokens.iter().rev() {
            let mut current = vec![false; len + 1];
            if *token == Token::Star {
                for j in (0..=len).rev() {
                    current[j] = next[j] || (j < len && chars[j] != '/' && current[j + 1]);
                }
            } else {
                for j in 0..len {
                    current[j] = token.accepts(chars[j]) && next[j + 1];
                }
            }
            next = current;
        }
        next[0]
    }
}

/// Parses a character class; `i` points just after the `[` and is left just after the `]`.
fn parse_class(pattern: &str, chars: &[char], i: &mut usize) -> Result<Token, ContextError> {
    let mut negated = false;
    if matches!(chars.get(*i), Some('^') | Some('!')) {
        negated = true;
        *i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        if chars.get(*i) == Some(&']') && !ranges.is_empty() {
            *i += 1;
            return Ok(Token::Class { negated, ranges });
        }
        let low = class_char(pattern, chars, i)?;
        let mut high = low;
        if chars.get(*i) == Some(&'-') {
            *i += 1;
            high = class_char(pattern, chars, i)?;
        }
        ranges.push((low, high));
    }
}

/// Reads one (possibly escaped) character of a class; the class must go on after it.
fn class_char(pattern: &str, chars: &[char], i: &mut usize) -> Result<char, ContextError> {
    let unterminated = || ContextError::bad_pattern(pattern, "unterminated character class");
    let mut c = *chars.get(*i).ok_or_else(unterminated)?;
    if c == '-' || c == ']' {
        return Err(ContextError::bad_pattern(
            pattern,
            format!("unexpected {c:?} in character class"),
        ));
    }
    if c == '\\' {
        *i += 1;
        c = *chars.get(*i).ok_or_else(unterminated)?;
    }
    *i += 1;
    if *i >= chars.len() {
        return Err(unterminated());
    }
    Ok(c)
}

/// Reports whether `name` matches the shell pattern `pattern`, with Go
/// `path.Match` semantics (plus `[!...]` as a negated class). A malformed
/// pattern is an error ([`ContextError::BadPattern`]).
pub fn match_glob(pattern: &str, name: &str) -> Result<bool, ContextError> {
    Ok(Glob::parse(pattern)?.matches(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `None` means "the pattern is malformed".
    const CASES: &[(&str, &str, Option<bool>)] = &[
        ("abc", "abc", Some(true)),
        ("*", "abc", Some(true)),
        ("*", "", Some(true)),
        ("*c", "abc", Some(true)),
        ("a*", "a", Some(true)),
        ("a*", "abc", Some(true)),
        ("a*", "ab/c", Some(false)),
        ("a*/b", "abc/b", Some(true)),
        ("a*/b", "a/c/b", Some(false)),
        ("a*b*c*d*e*/f", "axbxcxdxe/f", Some(true)),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Some(true)),
        ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Some(false)),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Some(false)),
        ("a*b?c*x", "abxbbxdbxebxczzx", Some(true)),
        ("a*b?c*x", "abxbbxdbxebxczzy", Some(false)),
        ("ab[c]", "abc", Some(true)),
        ("ab[b-d]", "abc", Some(true)),
        ("ab[e-g]", "abc", Some(false)),
        ("ab[^c]", "abc", Some(false)),
        ("ab[^b-d]", "abc", Some(false)),
        ("ab[^e-g]", "abc", Some(true)),
        ("ab[!e-g]", "abc", Some(true)),
        ("ab[!c]", "abc", Some(false)),
        ("a\\*b", "a*b", Some(true)),
        ("a\\*b", "ab", Some(false)),
        ("a?b", "a☺b", Some(true)),
        ("a[^a]b", "a☺b", Some(true)),
        ("a???b", "a☺b", Some(false)),
        ("[a-ζ]*", "α", Some(true)),
        ("*[a-ζ]", "A", Some(false)),
        ("a?b", "a/b", Some(false)),
        ("a*b", "a/b", Some(false)),
        ("[\\]a]", "]", Some(true)),
        ("[\\-]", "-", Some(true)),
        ("[x\\-]", "-", Some(true)),
        ("[x\\-]", "z", Some(false)),
        ("[\\-x]", "x", Some(true)),
        ("*x", "xxx", Some(true)),
        ("a]b", "a]b", Some(true)),
        ("*.go", ".go", Some(true)),
        ("*.go", "dir/x.go", Some(false)),
        ("", "", Some(true)),
        ("", "a", Some(false)),
        ("[]a]", "]", None),
        ("[-]", "-", None),
        ("[x-]", "x", None),
        ("[-x]", "x", None),
        ("\\", "a", None),
        ("a\\", "a", None),
        ("[a-b-c]", "a", None),
        ("[", "a", None),
        ("[^", "a", None),
        ("[^bc", "a", None),
        ("[^]", "a", None),
        ("a[", "x", None),
        ("a/b[", "x", None),
        ("x*[", "y", None),
    ];

    #[test]
    fn match_glob_table() {
        for &(pattern, name, expected) in CASES {
            let got = match_glob(pattern, name);
            match expected {
                Some(want) => assert_eq!(
                    got.as_ref().ok(),
                    Some(&want),
                    "pattern {pattern:?} name {name:?}: {got:?}"
                ),
                None => assert!(
                    matches!(&got, Err(ContextError::BadPattern { pattern: p, .. }) if p == pattern),
                    "pattern {pattern:?} should be rejected, got {got:?}"
                ),
            }
        }
    }

    #[test]
    fn bad_pattern_message_names_the_pattern() {
        let err = match_glob("ab[", "x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid pattern \"ab[\": unterminated character class"
        );
    }
}
