//! [`IgnoreMatcher`]: `.dockerignore` (and `COPY --exclude`) pattern matching
//! with the semantics of moby/patternmatcher's `MatchesOrParentMatches`, which
//! docker build and BuildKit use.
//!
//! Each pattern is matched against the whole context-relative path; `*`, `?`
//! and `[...]` never cross a `/` except that a class may; `**` matches any
//! number of directories (also none). A pattern that matches a parent
//! directory also matches everything below it. Patterns are applied in order
//! and the last one that matches decides; a `!` pattern re-includes.

use regex::Regex;

use super::clean::clean_path;
use super::error::ContextError;
use super::glob::{match_glob, Glob, Token};

/// How one compiled pattern decides a match (the shortcuts mirror
/// patternmatcher, whose behaviour differs from the regex only for `**x`).
#[derive(Debug, Clone)]
enum Rule {
    /// Only literal characters: the path must be equal.
    Exact(String),
    /// Literal characters then a final `**`: the path must start with them.
    Prefix(String),
    /// A leading `**` then literal characters: the path must end with them
    /// (or, for `**/x`, be `x`).
    Suffix(String),
    /// Anything else.
    Regex(Regex),
    /// A class with no valid range (like `[z-a]`): nothing matches.
    Never,
}

/// One pattern of the list.
#[derive(Debug, Clone)]
struct Pattern {
    /// The cleaned pattern, without its `!`.
    cleaned: String,
    /// Whether it was written with a leading `!` (re-includes).
    exclusion: bool,
    rule: Rule,
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.rule {
            Rule::Exact(literal) => path == literal,
            Rule::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Rule::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            Rule::Regex(regex) => regex.is_match(path),
            Rule::Never => false,
        }
    }

    /// Whether this pattern could match `dir` itself, one of its parents, or
    /// something below it. Conservative: `true` when unsure.
    fn could_match_at_or_below(&self, dir: &str) -> bool {
        if self.cleaned.contains("**") {
            return true;
        }
        for (pattern_part, dir_part) in self.cleaned.split('/').zip(dir.split('/')) {
            match match_glob(pattern_part, dir_part) {
                Ok(true) => {}
                Ok(false) => return false,
                Err(_) => return true,
            }
        }
        true
    }
}

/// An ordered list of ignore patterns (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct IgnoreMatcher {
    patterns: Vec<Pattern>,
    exceptions: bool,
}

impl IgnoreMatcher {
    /// Compiles `patterns` as read from a `.dockerignore` (see
    /// [`read_dockerignore`](super::read_dockerignore)); a leading `!` marks an
    /// exception. Each pattern is trimmed, cleaned and loses a leading `/`;
    /// empty, `.` and `/` patterns are ignored. A malformed pattern, or a bare `!`, is an error naming it.
    pub fn new(patterns: &[String]) -> Result<IgnoreMatcher, ContextError> {
        let mut matcher = IgnoreMatcher::default();
        for original in patterns {
            let trimmed = original.trim();
            if trimmed.is_empty() {
                continue;
            }
            let (exclusion, body) = match trimmed.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, trimmed),
            };
            if exclusion && body.is_empty() {
                return Err(ContextError::bad_pattern(
                    original,
                    "an exclusion needs a pattern after \"!\"",
                ));
            }
            // Paths are relative to the context, so a leading "/" means the same.
            let cleaned = clean_path(body);
            let cleaned = match cleaned.strip_prefix('/') {
                Some(relative) => relative.to_string(),
                None => cleaned,
            };
            if cleaned.is_empty() || cleaned == "." {
                continue;
            }
            let rule =
                compile(&cleaned).map_err(|reason| ContextError::bad_pattern(original, reason))?;
            matcher.exceptions |= exclusion;
            matcher.patterns.push(Pattern {
                cleaned,
                exclusion,
                rule,
            });
        }
        Ok(matcher)
    }

    /// Whether there are no patterns at all (nothing is ever excluded).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether there is any `!` pattern: a walker must then look inside
    /// excluded directories for re-included children.
    pub fn has_exceptions(&self) -> bool {
        self.exceptions
    }

    /// Whether `rel_path` (like `"a/b/c.txt"`, `/`-separated, relative to the
    /// context) is excluded: the last pattern matching it or one of its parent
    /// directories decides. The context root itself is never excluded.
    pub fn is_excluded(&self, rel_path: &str) -> bool {
        let cleaned = clean_path(rel_path.trim_start_matches('/'));
        if cleaned == "." || self.patterns.is_empty() {
            return false;
        }
        let parents: Vec<&str> = cleaned
            .match_indices('/')
            .map(|(index, _)| &cleaned[..index])
            .collect();
        let mut excluded = false;
        for pattern in &self.patterns {
            // An include cannot change an excluded path, nor an exception an included one.
            if pattern.exclusion != excluded {
                continue;
            }
            let matched =
                pattern.matches(&cleaned) || parents.iter().any(|parent| pattern.matches(parent));
            if matched {
                excluded = !pattern.exclusion;
            }
        }
        excluded
    }

    /// Whether some `!` pattern could re-include `dir` or something below it,
    /// so that a walker has to descend into the excluded directory `dir`.
    pub(crate) fn may_reinclude_below(&self, dir: &str) -> bool {
        self.patterns
            .iter()
            .filter(|pattern| pattern.exclusion)
            .any(|pattern| pattern.could_match_at_or_below(dir))
    }
}

/// Compiles one cleaned pattern; the error is the reason it is malformed.
fn compile(cleaned: &str) -> Result<Rule, String> {
    let glob = Glob::parse(cleaned).map_err(|error| match error {
        ContextError::BadPattern { reason, .. } => reason,
        other => other.to_string(),
    })?;
    let tokens = glob.tokens();
    #[derive(PartialEq)]
    enum Detected {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let mut detected = Detected::Exact;
    let mut regex = String::from("(?s)^");
    let mut literal = String::new();
    let mut suffix_slash = false;
    let mut never = false;
    let mut index = 0;
    while let Some(token) = tokens.get(index) {
        let first = index == 0;
        index += 1;
        match token {
            Token::Star if tokens.get(index) == Some(&Token::Star) => {
                index += 1;
                let ate_slash = tokens.get(index) == Some(&Token::Literal('/'));
                if ate_slash {
                    index += 1;
                }
                if index == tokens.len() {
                    if detected == Detected::Exact {
                        detected = Detected::Prefix;
                    } else {
                        regex.push_str(".*");
                        detected = Detected::Regex;
                    }
                } else {
                    regex.push_str("(.*/)?");
                    detected = Detected::Regex;
                }
                if first {
                    detected = Detected::Suffix;
                    suffix_slash = ate_slash;
                }
            }
            Token::Star => {
                regex.push_str("[^/]*");
                detected = Detected::Regex;
            }
            Token::AnyChar => {
                regex.push_str("[^/]");
                detected = Detected::Regex;
            }
            Token::Class { negated, ranges } => {
                match class_regex(*negated, ranges) {
                    Some(class) => regex.push_str(&class),
                    None => never = true,
                }
                detected = Detected::Regex;
            }
            Token::Literal(c) => {
                regex.push_str(&regex::escape(c.encode_utf8(&mut [0; 4])));
                literal.push(*c);
            }
        }
    }
    Ok(match detected {
        Detected::Exact => Rule::Exact(literal),
        Detected::Prefix => Rule::Prefix(literal),
        Detected::Suffix if suffix_slash => Rule::Suffix(format!("/{literal}")),
        Detected::Suffix => Rule::Suffix(literal),
        Detected::Regex if never => Rule::Never,
        Detected::Regex => {
            regex.push('$');
            Rule::Regex(Regex::new(&regex).map_err(|error| error.to_string())?)
        }
    })
}

/// A regex class for a glob class; `None` when it can match nothing.
fn class_regex(negated: bool, ranges: &[(char, char)]) -> Option<String> {
    let valid: Vec<&(char, char)> = ranges.iter().filter(|(low, high)| low <= high).collect();
    if valid.is_empty() {
        return if negated {
            Some("(?s:.)".to_string())
        } else {
            None
        };
    }
    let mut class = String::from(if negated { "[^" } else { "[" });
    for &&(low, high) in &valid {
        push_class_char(&mut class, low);
        if low != high {
            class.push('-');
            push_class_char(&mut class, high);
        }
    }
    class.push(']');
    Some(class)
}

fn push_class_char(class: &mut String, c: char) {
    if c.is_ascii_alphanumeric() {
        class.push(c);
    } else {
        class.push_str(&format!("\\x{{{:X}}}", u32::from(c)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(patterns: &[&str]) -> IgnoreMatcher {
        let owned: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        IgnoreMatcher::new(&owned).unwrap()
    }

    #[test]
    fn is_excluded_table() {
        let cases: &[(&[&str], &str, bool)] = &[
            (&["foo"], "foo", true),
            (&["foo"], "foobar", false),
            (&["foo"], "foo/bar", true),
            (&["foo"], "foo/bar/baz.txt", true),
            (&["foo"], "x/foo", false),
            (&["foo/"], "foo/bar", true),
            (&["./foo"], "foo/bar", true),
            (&["foo/bar"], "foo", false),
            (&["foo/bar"], "foo/bar/x", true),
            (&["*.md"], "README.md", true),
            (&["*.md"], "docs/README.md", false),
            (&["*/*.md"], "docs/README.md", true),
            (&["**/*.md"], "README.md", true),
            (&["**/*.md"], "a/b/c/README.md", true),
            (&["**/*.md"], "a/b/c/README.mdx", false),
            (&["a/**/b"], "a/b", true),
            (&["a/**/b"], "a/x/y/b", true),
            (&["a/**/b"], "a/x/y/bc", false),
            (&["a/**"], "a/x", true),
            (&["a/**"], "a", false),
            (&["**"], "anything/at/all", true),
            (&["**/foo"], "foo", true),
            (&["**/foo"], "a/b/foo", true),
            (&["**/foo"], "a/b/xfoo", false),
            (&["**/foo"], "a/foo/inner", true),
            (&["**foo"], "a/xfoo", true),
            (&["?.txt"], "a.txt", true),
            (&["?.txt"], "ab.txt", false),
            (&["[ab].txt"], "b.txt", true),
            (&["[^ab].txt"], "b.txt", false),
            (&["[!ab].txt"], "c.txt", true),
            (&["file\\*"], "file*", true),
            (&["file\\*"], "filex", false),
            (&["a.b"], "axb", false),
            (&["a+(b)"], "a+(b)", true),
            (&["*", "!keep.txt"], "keep.txt", false),
            (&["*", "!keep.txt"], "other.txt", true),
            (&["!keep.txt", "*"], "keep.txt", true),
            (&["dir", "!dir/keep"], "dir/keep", false),
            (&["dir", "!dir/keep"], "dir/keep/inner.txt", false),
            (&["dir", "!dir/keep"], "dir/other", true),
            (
                &["dir", "!dir/keep", "dir/keep/secret"],
                "dir/keep/secret",
                true,
            ),
            (
                &["dir", "!dir/keep", "dir/keep/secret"],
                "dir/keep/public",
                false,
            ),
            (
                &["dir/*.log", "!dir/important.log"],
                "dir/important.log",
                false,
            ),
            (&["dir/*.log", "!dir/important.log"], "dir/debug.log", true),
            (&["**/*.log", "!**/keep.log"], "a/b/keep.log", false),
            (&["/abs"], "abs", true),
            (&["a/../b"], "b", true),
            (&["."], "anything", false),
            (&["/"], "anything", false),
            (&[""], "anything", false),
            (&["   spaced   "], "spaced", true),
            (&["foo"], "./foo/x", true),
            (&["foo"], "/foo", true),
            (&["*"], "", false),
            (&[], "foo", false),
        ];
        for &(patterns, path, want) in cases {
            let got = matcher(patterns).is_excluded(path);
            assert_eq!(got, want, "patterns {patterns:?} path {path:?}");
        }
    }

    #[test]
    fn malformed_patterns_are_errors_naming_the_pattern() {
        for bad in ["[", "a[b", "x\\", "!", "!  ", "[]"] {
            let err = IgnoreMatcher::new(&[bad.to_string()]).unwrap_err();
            assert!(
                matches!(&err, ContextError::BadPattern { pattern, .. } if pattern == bad),
                "{bad:?}: {err:?}"
            );
        }
    }

    #[test]
    fn empty_and_exceptions_flags() {
        assert!(matcher(&[]).is_empty());
        assert!(matcher(&["", "  ", "."]).is_empty());
        assert!(!matcher(&["a"]).is_empty());
        assert!(!matcher(&["a"]).has_exceptions());
        assert!(matcher(&["a", "!a/b"]).has_exceptions());
    }

    #[test]
    fn reversed_range_matches_nothing() {
        let m = matcher(&["[z-a]", "x[^z-a]"]);
        assert!(!m.is_excluded("m"));
        assert!(m.is_excluded("xq"));
    }

    #[test]
    fn may_reinclude_below_table() {
        let cases: &[(&[&str], &str, bool)] = &[
            (&["dir", "!dir/keep"], "dir", true),
            (&["dir", "!dir/keep"], "dir/keep", true),
            (&["dir", "!dir/keep"], "other", false),
            (&["dir", "!dir/keep"], "dir/other", false),
            (&["dir", "!d*/k*"], "dir", true),
            (&["dir", "!**/keep"], "anything/deep", true),
            (&["dir", "!dir"], "dir/sub", true),
            (&["dir"], "dir", false),
        ];
        for &(patterns, dir, want) in cases {
            assert_eq!(
                matcher(patterns).may_reinclude_below(dir),
                want,
                "patterns {patterns:?} dir {dir:?}"
            );
        }
    }
}
