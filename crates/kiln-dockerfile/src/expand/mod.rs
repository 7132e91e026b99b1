//! Shell-word expansion as BuildKit's lexer does it
//! (`frontend/dockerfile/shell/lex.go`).
//!
//! One word goes in; quotes are removed, escapes processed and `$name`,
//! `${name}` and the supported `${name<modifier>...}` forms expanded.
//! [`expand_word`] returns the single resulting word (BuildKit `ProcessWord`);
//! [`expand_words`] also splits the result into fields on unquoted whitespace
//! that came from variables or the word itself (BuildKit `ProcessWords`).
//!
//! ```
//! use std::collections::BTreeMap;
//! use kiln_dockerfile::expand::expand_word;
//!
//! let env = BTreeMap::from([("NAME".to_string(), "kiln".to_string())]);
//! let out = expand_word("hello-${NAME:-x}-'$NAME'", &env, '\\').unwrap();
//! assert_eq!(out.value, "hello-kiln-$NAME");
//! ```

mod env;
mod lexer;
mod pattern;

use std::collections::BTreeSet;

pub use env::Env;

/// The result of expanding one word.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expanded {
    /// The expanded word.
    pub value: String,
    /// Names of variables that were looked up and found (BuildKit's `Matched`).
    pub used_vars: BTreeSet<String>,
}

/// A word that could not be expanded. Messages follow BuildKit's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// A `'` with no closing `'`.
    #[error("unexpected end of statement while looking for matching single-quote")]
    UnterminatedSingleQuote,
    /// A `"` with no closing `"`.
    #[error("unexpected end of statement while looking for matching double-quote")]
    UnterminatedDoubleQuote,
    /// Input ended inside a `${...}` before the expected character.
    #[error("unexpected end of statement while looking for matching {expected}")]
    Unterminated {
        /// The character that was expected.
        expected: char,
    },
    /// `${` with no closing `}`.
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    /// `${name/pattern` with no `/` after the pattern.
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    /// `${}`, `${:...}`, `${{...}`.
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    /// A modifier BuildKit does not support (`${v:1}`, `${#v}`, `${v^^}`, `${v:=x}`, ...).
    #[error("unsupported modifier ({modifier}) in substitution")]
    UnsupportedModifier {
        /// The modifier as written, e.g. `:=`.
        modifier: String,
    },
    /// `${name?message}` / `${name:?message}` on an unset (or empty) variable.
    #[error("{name}: {message}")]
    Required {
        /// The variable.
        name: String,
        /// The message given, or BuildKit's default text.
        message: String,
    },
    /// A `#`, `%` or `/` pattern with an escape that is not `\*`, `\?` or `\\`.
    #[error("invalid pattern ({pattern}) in substitution: invalid escape '\\{escaped}'")]
    InvalidPattern {
        /// The pattern as written.
        pattern: String,
        /// The escaped character (U+FFFD at the end of the pattern).
        escaped: char,
    },
}

/// Expands one word: quotes removed, escapes processed, variables expanded
/// (BuildKit `ProcessWord`).
pub fn expand_word(word: &str, env: &dyn Env, escape: char) -> Result<Expanded, ExpandError> {
    let mut lexer = lexer::Lexer::new(word, env, escape);
    let (value, _) = lexer.process_all()?;
    Ok(Expanded {
        value,
        used_vars: lexer.into_used_vars(),
    })
}

/// Expands one word and splits it into fields (BuildKit `ProcessWords`).
///
/// Whitespace splits fields when it is unquoted and unescaped, whether it was
/// written in the word or came from a variable's value; quoted text never splits.
pub fn expand_words(word: &str, env: &dyn Env, escape: char) -> Result<Vec<String>, ExpandError> {
    let mut lexer = lexer::Lexer::new(word, env, escape);
    let (_, words) = lexer.process_all()?;
    Ok(words)
}

#[cfg(test)]
mod tests;
