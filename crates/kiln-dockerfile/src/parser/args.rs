//! Per-instruction argument rules (BuildKit's `line_parsers.go`): how the
//! text after the keyword and flags becomes argument nodes.

use super::split::split_whitespace;

/// The argument nodes of one instruction.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Parsed {
    /// The node values, as the dump prints them.
    pub(super) args: Vec<String>,
    /// True when they came from a JSON array.
    pub(super) json: bool,
}

const NOT_STRING_ARRAY: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

/// Applies the rule for `keyword` (lowercase) to `rest` (trimmed).
/// `ONBUILD` is handled by the caller.
pub(super) fn parse_arguments(keyword: &str, rest: &str, escape: char) -> Result<Parsed, String> {
    let plain = |args: Vec<String>| Ok(Parsed { args, json: false });
    match keyword {
        "add" | "copy" | "volume" => match parse_json(rest)? {
            Some(args) => Ok(Parsed { args, json: true }),
            None => plain(whitespace_delimited(rest)),
        },
        "cmd" | "entrypoint" | "run" | "shell" => maybe_json(rest),
        "env" => plain(name_value(rest, "ENV", escape)?),
        "label" => plain(name_value(rest, "LABEL", escape)?),
        "arg" => plain(parse_words(rest, escape)),
        "expose" | "from" => plain(whitespace_delimited(rest)),
        "healthcheck" => health_config(rest),
        "maintainer" | "stopsignal" | "user" | "workdir" => plain(if rest.is_empty() {
            Vec::new()
        } else {
            vec![rest.to_owned()]
        }),
        _ => plain(vec![String::new()]),
    }
}

/// Splits on runs of plain whitespace; no quote handling.
fn whitespace_delimited(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    split_whitespace(rest, 0)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// Exec form when `rest` is a JSON array of strings, otherwise one node
/// holding `rest` verbatim.
fn maybe_json(rest: &str) -> Result<Parsed, String> {
    if rest.is_empty() {
        return Ok(Parsed::default());
    }
    Ok(match parse_json(rest)? {
        Some(args) => Parsed { args, json: true },
        None => Parsed {
            args: vec![rest.to_owned()],
            json: false,
        },
    })
}

/// `Ok(None)` when `rest` is not a valid JSON array (fall back to another
/// form); an error when it is one but holds something other than strings.
fn parse_json(rest: &str) -> Result<Option<Vec<String>>, String> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(None);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(rest) else {
        return Ok(None);
    };
    values
        .into_iter()
        .map(|value| match value {
            serde_json::Value::String(text) => Ok(text),
            _ => Err(NOT_STRING_ARRAY.to_owned()),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// HEALTHCHECK: the type word, then the rest as for CMD.
fn health_config(rest: &str) -> Result<Parsed, String> {
    let separator = rest.find(char::is_whitespace).unwrap_or(rest.len());
    if separator == 0 {
        return Ok(Parsed::default());
    }
    let (kind, after) = rest.split_at(separator);
    let command = maybe_json(after.trim_start())?;
    let mut args = vec![kind.to_owned()];
    args.extend(command.args);
    Ok(Parsed {
        args,
        json: command.json,
    })
}

/// ENV and LABEL: `KEY value...` (legacy) or `KEY=VALUE...` triples.
fn name_value(rest: &str, keyword: &str, escape: char) -> Result<Vec<String>, String> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let parts = split_whitespace(rest, 2);
        let [key, value] = parts[..] else {
            return Err(format!("{keyword} must have two arguments"));
        };
        return Ok(vec![key.to_owned(), value.to_owned(), String::new()]);
    }
    let mut nodes = Vec::with_capacity(words.len() * 3);
    for word in &words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(format!(
                "syntax error - can't find = in {}. must be of the form: name=value",
                crate::dump::go_quote(word)
            ));
        };
        nodes.extend([key.to_owned(), value.to_owned(), "=".to_owned()]);
    }
    Ok(nodes)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Spaces,
    Word,
    Quote,
}

/// Splits on unquoted whitespace, keeping quotes and escape tokens in the
/// words (BuildKit's `parseWords`). An escape token at the very end is dropped.
pub(super) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut position = 0;
    while position <= chars.len() {
        let at_end = position == chars.len();
        let mut ch = chars.get(position).copied().unwrap_or('\0');
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                position += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if at_end {
            if blank_ok || !word.is_empty() {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                position += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if position + 1 == chars.len() {
                    position += 1;
                    continue;
                }
                word.push(ch);
                position += 1;
                ch = chars[position];
            }
            word.push(ch);
            position += 1;
            continue;
        }
        // Phase::Quote
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            if position + 1 == chars.len() {
                phase = Phase::Word;
                position += 1;
                continue;
            }
            position += 1;
            word.push(ch);
            ch = chars[position];
        }
        word.push(ch);
        position += 1;
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(keyword: &str, rest: &str) -> Result<(Vec<String>, bool), String> {
        parse_arguments(keyword, rest, '\\').map(|parsed| (parsed.args, parsed.json))
    }

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|value| (*value).to_owned()).collect()
    }

    #[test]
    fn json_or_shell_table() {
        let cases: [(&str, &[&str], bool); 9] = [
            (r#"["echo", "hi"]"#, &["echo", "hi"], true),
            (r#"[ "a\/b", "\u0000" ]"#, &["a/b", "\0"], true),
            ("[]", &[], true),
            ("echo hi", &["echo hi"], false),
            (r#"['a']"#, &["['a']"], false),
            (r#"["a",]"#, &[r#"["a",]"#], false),
            (r#"["a"] x"#, &[r#"["a"] x"#], false),
            (r#"["a""#, &[r#"["a""#], false),
            ("", &[], false),
        ];
        for (rest, want, want_json) in cases {
            assert_eq!(
                args("run", rest),
                Ok((strings(want), want_json)),
                "{rest:?}"
            );
        }
    }

    #[test]
    fn non_string_json_is_error() {
        for rest in [r#"["a", 1]"#, "[null]", r#"[["a"]]"#] {
            assert_eq!(
                args("cmd", rest),
                Err(NOT_STRING_ARRAY.to_owned()),
                "{rest:?}"
            );
            assert!(args("copy", rest).is_err());
        }
    }

    #[test]
    fn copy_and_from() {
        assert_eq!(
            args("copy", "a  b\tc"),
            Ok((strings(&["a", "b", "c"]), false))
        );
        assert_eq!(
            args("copy", r#"["a b", "c"]"#),
            Ok((strings(&["a b", "c"]), true))
        );
        assert_eq!(
            args("copy", r#""a b" c"#),
            Ok((strings(&["\"a", "b\"", "c"]), false))
        );
        assert_eq!(
            args("from", "golang:1.22 AS build"),
            Ok((strings(&["golang:1.22", "AS", "build"]), false))
        );
    }

    #[test]
    fn env_and_label() {
        assert_eq!(
            args("env", "A b c"),
            Ok((strings(&["A", "b c", ""]), false))
        );
        assert_eq!(
            args("env", r#"a=b c="d e" f=g\ h"#),
            Ok((
                strings(&["a", "b", "=", "c", "\"d e\"", "=", "f", "g\\ h", "="]),
                false
            ))
        );
        assert_eq!(
            args("label", "a=1=2"),
            Ok((strings(&["a", "1=2", "="]), false))
        );
        assert!(args("env", "A").unwrap_err().contains("two arguments"));
        assert!(args("env", "a=b c").unwrap_err().contains("can't find ="));
        assert_eq!(args("env", ""), Ok((Vec::new(), false)));
    }

    #[test]
    fn arg_health_and_others() {
        assert_eq!(
            args("arg", r#"abc="123 456" def"#),
            Ok((strings(&["abc=\"123 456\"", "def"]), false))
        );
        assert_eq!(
            args("healthcheck", "CMD /check --quiet"),
            Ok((strings(&["CMD", "/check --quiet"]), false))
        );
        assert_eq!(
            args("healthcheck", r#"CMD ["a"]"#),
            Ok((strings(&["CMD", "a"]), true))
        );
        assert_eq!(args("healthcheck", "NONE"), Ok((strings(&["NONE"]), false)));
        assert_eq!(args("user", "a b"), Ok((strings(&["a b"]), false)));
        assert_eq!(args("workdir", ""), Ok((Vec::new(), false)));
        assert_eq!(args("frobnicate", "x y"), Ok((strings(&[""]), false)));
    }

    #[test]
    fn words_keep_quotes_and_escapes() {
        assert_eq!(
            parse_words(r#"a "b c" 'd \' e\ f g\"#, '\\'),
            strings(&["a", "\"b c\"", "'d \\'", "e\\ f", "g"])
        );
        assert_eq!(parse_words("a` b", '`'), strings(&["a` b"]));
    }
}
