//! The word lexer: quotes, escapes and `$` substitutions, one character at a
//! time, with BuildKit's field-splitting rules kept alongside.

use std::collections::BTreeSet;

use super::pattern;
use super::{Env, ExpandError};

/// Characters that form a one-character special parameter name (`$@`, `${#}`).
fn is_special_param(ch: char) -> bool {
    matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}

/// A decimal digit (BuildKit uses Go's `unicode.IsDigit`).
fn is_digit(ch: char) -> bool {
    ch.is_ascii_digit() || (!ch.is_ascii() && ch.is_numeric())
}

/// A character that may continue a variable name.
fn is_name_char(ch: char) -> bool {
    ch.is_alphabetic() || is_digit(ch) || ch == '_'
}

/// Field splitting state (BuildKit `wordsStruct`).
#[derive(Default)]
struct Fields {
    done: Vec<String>,
    current: String,
    in_word: bool,
}

impl Fields {
    /// A character that splits fields when it is whitespace.
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.current.is_empty() {
                self.done.push(std::mem::take(&mut self.current));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }

    /// A character that never splits (escaped).
    fn add_raw_char(&mut self, ch: char) {
        self.current.push(ch);
        self.in_word = true;
    }

    /// Expansion output: split on its whitespace.
    fn add_str(&mut self, text: &str) {
        for ch in text.chars() {
            self.add_char(ch);
        }
    }

    /// Quoted text: never split.
    fn add_raw_str(&mut self, text: &str) {
        self.current.push_str(text);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.current.is_empty() {
            self.done.push(self.current);
        }
        self.done
    }
}

/// One word being expanded.
pub(super) struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn Env,
    escape: char,
    used_vars: BTreeSet<String>,
}

impl<'a> Lexer<'a> {
    pub(super) fn new(word: &str, env: &'a dyn Env, escape: char) -> Self {
        Lexer {
            chars: word.chars().collect(),
            pos: 0,
            env,
            escape,
            used_vars: BTreeSet::new(),
        }
    }

    pub(super) fn into_used_vars(self) -> BTreeSet<String> {
        self.used_vars
    }

    /// Processes the whole word: the expanded string and its fields.
    pub(super) fn process_all(&mut self) -> Result<(String, Vec<String>), ExpandError> {
        self.process_until(None, false)
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let ch = self.peek();
        if ch.is_some() {
            self.pos += 1;
        }
        ch
    }

    fn lookup(&mut self, name: &str) -> Option<String> {
        let value = self.env.get(name).map(str::to_owned);
        if value.is_some() {
            self.used_vars.insert(name.to_owned());
        }
        value
    }

    /// Processes up to `stop` (consumed) or the end of input. With
    /// `raw_escapes` the escape token is kept in the output (patterns).
    fn process_until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), ExpandError> {
        let mut result = String::new();
        let mut fields = Fields::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((result, fields.finish()));
            }
            match ch {
                '$' => {
                    let text = self.dollar()?;
                    result.push_str(&text);
                    fields.add_str(&text);
                }
                '\'' => {
                    let text = self.single_quote()?;
                    result.push_str(&text);
                    fields.add_raw_str(&text);
                }
                '"' => {
                    let text = self.double_quote(raw_escapes)?;
                    result.push_str(&text);
                    fields.add_raw_str(&text);
                }
                _ => {
                    self.pos += 1;
                    if ch == self.escape {
                        if raw_escapes {
                            fields.add_raw_char(ch);
                            result.push(ch);
                        }
                        // An escape token at the very end is dropped.
                        let Some(escaped) = self.next() else { break };
                        fields.add_raw_char(escaped);
                        result.push(escaped);
                    } else {
                        fields.add_char(ch);
                        result.push(ch);
                    }
                }
            }
        }
        match stop {
            Some(expected) => Err(ExpandError::Unterminated { expected }),
            None => Ok((result, fields.finish())),
        }
    }

    /// Processes a nested word inside `${...}`; running out of input becomes
    /// `at_eof` (BuildKit reports the missing delimiter, not the inner cause).
    fn nested(
        &mut self,
        stop: char,
        raw_escapes: bool,
        at_eof: ExpandError,
    ) -> Result<String, ExpandError> {
        match self.process_until(Some(stop), raw_escapes) {
            Ok((text, _)) => Ok(text),
            Err(_) if self.peek().is_none() => Err(at_eof),
            Err(err) => Err(err),
        }
    }

    fn single_quote(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        let mut result = String::new();
        loop {
            match self.next() {
                None => return Err(ExpandError::UnterminatedSingleQuote),
                Some('\'') => return Ok(result),
                Some(ch) => result.push(ch),
            }
        }
    }

    fn double_quote(&mut self, raw_escapes: bool) -> Result<String, ExpandError> {
        self.pos += 1;
        let mut result = String::new();
        loop {
            match self.peek() {
                None => return Err(ExpandError::UnterminatedDoubleQuote),
                Some('"') => {
                    self.pos += 1;
                    return Ok(result);
                }
                Some('$') => {
                    let text = self.dollar()?;
                    result.push_str(&text);
                }
                Some(mut ch) => {
                    self.pos += 1;
                    if ch == self.escape {
                        if raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            // Dropped; the loop then reports the missing quote.
                            None => continue,
                            Some(next) if next == '"' || next == '$' || next == self.escape => {
                                self.pos += 1;
                                ch = next;
                            }
                            // Any other escape stays literal.
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    /// Reads a variable name: a run of digits, one special parameter
    /// character, or letters, digits and `_`. Empty when none is there.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && is_digit(ch) {
                while let Some(digit) = self.peek().filter(|c| is_digit(*c)) {
                    name.push(digit);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && is_special_param(ch) {
                self.pos += 1;
                return ch.to_string();
            }
            if !is_name_char(ch) {
                break;
            }
            name.push(ch);
            self.pos += 1;
        }
        name
    }

    /// Expands a `$...` at the current position.
    fn dollar(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_owned());
            }
            return Ok(self.lookup(&name).unwrap_or_default());
        }
        self.pos += 1;
        match self.peek() {
            None => return Err(ExpandError::MissingBrace),
            Some('{' | '}' | ':') => return Err(ExpandError::BadSubstitution),
            Some(_) => {}
        }
        let name = self.name();
        let Some(ch) = self.next() else {
            return Err(ExpandError::MissingBrace);
        };
        match ch {
            '}' => Ok(self.lookup(&name).unwrap_or_default()),
            ':' | '+' | '-' | '?' | '#' | '%' => self.modifier(&name, ch),
            '/' => self.replace(&name),
            other => Err(ExpandError::UnsupportedModifier {
                modifier: other.to_string(),
            }),
        }
    }

    /// `${name:-w}`, `${name+w}`, `${name?msg}`, `${name#p}`, ... after the
    /// first modifier character `first`.
    fn modifier(&mut self, name: &str, first: char) -> Result<String, ExpandError> {
        let null_is_unset = first == ':';
        let (op, modifier) = if null_is_unset {
            let Some(op) = self.next() else {
                return Err(ExpandError::MissingBrace);
            };
            (op, format!(":{op}"))
        } else {
            (first, first.to_string())
        };
        let is_pattern = op == '#' || op == '%';
        if null_is_unset && is_pattern {
            return Err(ExpandError::UnsupportedModifier { modifier });
        }
        let word = self.nested('}', is_pattern, ExpandError::MissingBrace)?;
        let value = self.lookup(name);
        let is_unset = match &value {
            None => true,
            Some(v) => null_is_unset && v.is_empty(),
        };
        match op {
            '-' => Ok(if is_unset {
                word
            } else {
                value.unwrap_or_default()
            }),
            '+' => Ok(if is_unset { String::new() } else { word }),
            '?' => match value {
                Some(v) if !is_unset => Ok(v),
                _ => {
                    let message = if !word.is_empty() {
                        word
                    } else if value.is_none() {
                        "is not allowed to be unset".to_owned()
                    } else {
                        "is not allowed to be empty".to_owned()
                    };
                    Err(ExpandError::Required {
                        name: name.to_owned(),
                        message,
                    })
                }
            },
            '#' | '%' => {
                let (pattern_text, greedy) = match word.strip_prefix(op) {
                    Some(rest) => (rest, true),
                    None => (word.as_str(), false),
                };
                let value = value.unwrap_or_default();
                if op == '#' {
                    pattern::trim_prefix(pattern_text, &value, greedy)
                } else {
                    pattern::trim_suffix(pattern_text, &value, greedy)
                }
            }
            _ => Err(ExpandError::UnsupportedModifier { modifier }),
        }
    }

    /// `${name/pattern/replacement}` and `${name//pattern/replacement}`.
    fn replace(&mut self, name: &str) -> Result<String, ExpandError> {
        let replace_all = self.peek() == Some('/');
        if replace_all {
            self.pos += 1;
        }
        let pattern_text = self.nested('/', true, ExpandError::MissingSlash)?;
        let replacement = self.nested('}', true, ExpandError::MissingBrace)?;
        let value = self.lookup(name).unwrap_or_default();
        pattern::replace(&pattern_text, &value, &replacement, replace_all)
    }
}
