//! Shell patterns for `${v#p}`, `${v%p}` and `${v/p/r}`: `*` and `?`
//! wildcards, `\*`, `\?`, `\\` escapes, everything else literal (no bracket
//! expressions, as in BuildKit).
//!
//! BuildKit compiles a pattern to a Go regular expression and takes the match
//! that a backtracking engine would find first (leftmost, then by wildcard
//! preference). [`Matcher`] finds that same match directly by backtracking
//! with memoisation. As in Go's `.`, wildcards do not match a newline.

use super::ExpandError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// `*`: any run of characters.
    Star,
    /// `?`: any one character.
    Any,
    /// A literal character.
    Literal(char),
}

fn compile(pattern: &str) -> Result<Vec<Token>, ExpandError> {
    let mut tokens = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(ch) = chars.next() {
        let token = match ch {
            '*' => Token::Star,
            '?' => Token::Any,
            '\\' => {
                // `\}` and `\/` were escapes of `${...}` syntax: drop the `\`.
                if matches!(chars.peek(), Some('}' | '/')) {
                    continue;
                }
                match chars.next() {
                    Some(escaped @ ('*' | '?' | '\\')) => Token::Literal(escaped),
                    other => {
                        return Err(ExpandError::InvalidPattern {
                            pattern: pattern.to_owned(),
                            escaped: other.unwrap_or(char::REPLACEMENT_CHARACTER),
                        })
                    }
                }
            }
            literal => Token::Literal(literal),
        };
        tokens.push(token);
    }
    Ok(tokens)
}

/// Finds matches of compiled tokens in one text.
struct Matcher<'a> {
    tokens: &'a [Token],
    text: &'a [char],
    greedy: bool,
    /// Memo of `match_from(token, position)`, indexed `token * (len + 1) + position`.
    memo: Vec<Option<Option<usize>>>,
}

impl<'a> Matcher<'a> {
    fn new(tokens: &'a [Token], text: &'a [char], greedy: bool) -> Self {
        let memo = vec![None; (tokens.len() + 1) * (text.len() + 1)];
        Matcher {
            tokens,
            text,
            greedy,
            memo,
        }
    }

    /// The end of the preferred match of `tokens[token..]` starting at `position`.
    fn match_from(&mut self, token: usize, position: usize) -> Option<usize> {
        let Some(&current) = self.tokens.get(token) else {
            return Some(position);
        };
        let slot = token * (self.text.len() + 1) + position;
        if let Some(known) = self.memo[slot] {
            return known;
        }
        let next_char = self.text.get(position).copied();
        let found = match current {
            Token::Literal(literal) if next_char == Some(literal) => {
                self.match_from(token + 1, position + 1)
            }
            Token::Literal(_) => None,
            Token::Any => match next_char {
                Some(ch) if ch != '\n' => self.match_from(token + 1, position + 1),
                _ => None,
            },
            Token::Star => {
                let run = self.text[position..]
                    .iter()
                    .take_while(|ch| **ch != '\n')
                    .count();
                if self.greedy {
                    (0..=run)
                        .rev()
                        .find_map(|len| self.match_from(token + 1, position + len))
                } else {
                    (0..=run).find_map(|len| self.match_from(token + 1, position + len))
                }
            }
        };
        self.memo[slot] = Some(found);
        found
    }

    /// The leftmost match starting at or after `from`: `(start, end)`.
    fn find(&mut self, from: usize) -> Option<(usize, usize)> {
        (from..=self.text.len()).find_map(|start| self.match_from(0, start).map(|end| (start, end)))
    }
}

/// `${v#p}` / `${v##p}`: removes the shortest (or, `greedy`, longest) prefix matching `pattern`.
pub(super) fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Result<String, ExpandError> {
    let tokens = compile(pattern)?;
    let text: Vec<char> = value.chars().collect();
    let mut matcher = Matcher::new(&tokens, &text, greedy);
    Ok(match matcher.match_from(0, 0) {
        Some(end) => text[end..].iter().collect(),
        None => value.to_owned(),
    })
}

/// `${v%p}` / `${v%%p}`: removes the shortest (or longest) suffix matching
/// `pattern`, by trimming the reversed pattern from the reversed value.
pub(super) fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Result<String, ExpandError> {
    let reversed_value: String = value.chars().rev().collect();
    let trimmed = trim_prefix(&reverse_pattern(pattern), &reversed_value, greedy)?;
    Ok(trimmed.chars().rev().collect())
}

/// Reverses a pattern keeping each `\x` escape pair in order (`a\*c` -> `c\*a`).
fn reverse_pattern(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut units: Vec<&[char]> = Vec::new();
    let mut index = 0;
    while index < chars.len() {
        let width = if chars[index] == '\\' && index + 1 < chars.len() {
            2
        } else {
            1
        };
        units.push(&chars[index..index + width]);
        index += width;
    }
    units.iter().rev().flat_map(|unit| unit.iter()).collect()
}

/// `${v/p/r}` (first match) and `${v//p/r}` (every match), wildcards greedy.
pub(super) fn replace(
    pattern: &str,
    value: &str,
    replacement: &str,
    all: bool,
) -> Result<String, ExpandError> {
    let tokens = compile(pattern)?;
    let text: Vec<char> = value.chars().collect();
    let mut matcher = Matcher::new(&tokens, &text, true);
    if !all {
        return Ok(match matcher.find(0) {
            Some((start, end)) => {
                let mut out: String = text[..start].iter().collect();
                out.push_str(replacement);
                out.extend(&text[end..]);
                out
            }
            None => value.to_owned(),
        });
    }
    // Go's Regexp.ReplaceAllString: non-overlapping matches, no empty match
    // right after a previous match, `$` in the replacement expanded.
    let mut out = String::new();
    let mut last_end = 0;
    let mut search = 0;
    while search <= text.len() {
        let Some((start, end)) = matcher.find(search) else {
            break;
        };
        out.extend(&text[last_end..start]);
        if end > last_end || start == 0 {
            let whole: String = text[start..end].iter().collect();
            out.push_str(&expand_template(replacement, &whole));
        }
        last_end = end;
        search = if end > search { end } else { search + 1 };
    }
    out.extend(&text[last_end..]);
    Ok(out)
}

/// Go's `Regexp.Expand` for a pattern without groups: `$$` is `$`, `$0` and
/// `${0}` the whole match, any other `$name` empty, a malformed `$` literal.
fn expand_template(template: &str, whole: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(index) = rest.find('$') {
        out.push_str(&rest[..index]);
        rest = &rest[index + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let (braced, body) = match rest.strip_prefix('{') {
            Some(body) => (true, body),
            None => (false, rest),
        };
        let name_len: usize = body
            .chars()
            .take_while(|ch| ch.is_alphabetic() || ch.is_numeric() || *ch == '_')
            .map(char::len_utf8)
            .sum();
        let closed = !braced || body[name_len..].starts_with('}');
        if name_len == 0 || !closed {
            out.push('$');
            continue;
        }
        if &body[..name_len] == "0" {
            out.push_str(whole);
        }
        rest = &body[name_len + usize::from(braced)..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_like_buildkit() {
        // (pattern, value, greedy, prefix result, suffix result)
        let cases = [
            ("*/", "a/b/c", false, "b/c", "a/b/c"),
            ("*/", "a/b/c", true, "c", "a/b/c"),
            ("/*", "a/b/c", false, "a/b/c", "a/b"),
            ("/*", "a/b/c", true, "a/b/c", "a"),
            ("a?", "abc", false, "c", "abc"),
            ("?c", "abc", false, "abc", "a"),
            ("\\*", "*x*", false, "x*", "*x"),
            ("[a]", "[a]b", false, "b", "[a]b"),
            ("*", "abc", false, "abc", "abc"),
            ("*", "abc", true, "", ""),
            ("", "abc", true, "abc", "abc"),
            ("x", "abc", false, "abc", "abc"),
            ("*b", "a\nb", true, "a\nb", "a\n"),
        ];
        for (pattern, value, greedy, prefix, suffix) in cases {
            assert_eq!(
                trim_prefix(pattern, value, greedy).unwrap(),
                prefix,
                "{pattern} # {value}"
            );
            assert_eq!(
                trim_suffix(pattern, value, greedy).unwrap(),
                suffix,
                "{pattern} % {value}"
            );
        }
    }

    #[test]
    fn replaces_like_go_regexp() {
        // (pattern, value, replacement, all, expected)
        let cases = [
            ("o", "foo", "0", false, "f0o"),
            ("o", "foo", "0", true, "f00"),
            ("*", "abc", "X", true, "X"),
            ("x*", "axbxc", "-", true, "a-"),
            ("b*", "abcb", "<$0>", true, "a<bcb>"),
            ("b", "abb", "$$", true, "a$$"),
            ("b", "abb", "${0}${1}", true, "abb"),
            ("b", "ab", "$", true, "a$"),
            ("b", "ab", "$0", false, "a$0"),
            ("[ab]", "[ab]c", "X", true, "Xc"),
            ("?", "", "X", true, ""),
            ("", "ab", "-", true, "-a-b-"),
        ];
        for (pattern, value, replacement, all, expected) in cases {
            assert_eq!(
                replace(pattern, value, replacement, all).unwrap(),
                expected,
                "{pattern} / {value}"
            );
        }
    }

    #[test]
    fn invalid_escapes_are_errors() {
        for pattern in ["\\a", "x\\"] {
            let err = trim_prefix(pattern, "x", false).unwrap_err();
            assert!(
                matches!(err, ExpandError::InvalidPattern { .. }),
                "{pattern}: {err}"
            );
        }
        assert_eq!(
            compile("\\}\\/").unwrap(),
            vec![Token::Literal('}'), Token::Literal('/')]
        );
        assert_eq!(reverse_pattern("a\\*c"), "c\\*a");
    }
}
