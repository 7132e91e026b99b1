//! Splitting a joined line into keyword, flags and the rest
//! (BuildKit's `splitCommand` and `extractBuilderFlags`).

/// BuildKit's `reWhitespace`: the characters that separate plain words.
pub(super) fn is_word_separator(ch: char) -> bool {
    matches!(ch, ' ' | '\t' | '\x0b' | '\x0c' | '\r')
}

/// Splits on runs of [`is_word_separator`], at most `limit` parts
/// (0 = no limit), as Go's `regexp.Split` does for non-empty input.
pub(super) fn split_whitespace(text: &str, limit: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    loop {
        if limit != 0 && parts.len() + 1 == limit {
            parts.push(rest);
            return parts;
        }
        match rest.find(is_word_separator) {
            Some(start) => {
                parts.push(&rest[..start]);
                rest = rest[start..].trim_start_matches(is_word_separator);
            }
            None => {
                parts.push(rest);
                return parts;
            }
        }
    }
}

/// Returns the keyword as written, the flags and the trimmed rest.
pub(super) fn split_command(line: &str) -> (String, Vec<String>, String) {
    let parts = split_whitespace(line.trim(), 2);
    let keyword = parts.first().copied().unwrap_or_default().to_owned();
    match parts.get(1) {
        Some(after_keyword) => {
            let (rest, flags) = extract_flags(after_keyword);
            (keyword, flags, rest.trim().to_owned())
        }
        None => (keyword, Vec::new(), String::new()),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Spaces,
    Word,
    Quote,
}

/// Takes the leading `--flag` words off `line`.
///
/// Quotes inside a flag word are removed and `\` escapes the next character
/// (always `\`, whatever the escape directive says). A bare `--` ends the flags
/// and is dropped. Returns the rest of the line and the flags.
///
/// BuildKit walks bytes here; this walks characters, so non-ASCII in flags is
/// kept intact instead of being re-encoded byte by byte.
pub(super) fn extract_flags(line: &str) -> (&str, Vec<String>) {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut flags = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut position = 0;
    while position <= chars.len() {
        let at_end = position == chars.len();
        let mut ch = chars.get(position).map_or('\0', |&(_, ch)| ch);
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                position += 1;
                continue;
            }
            let next_is_dash = chars
                .get(position + 1)
                .is_some_and(|&(_, next)| next == '-');
            if ch != '-' || !next_is_dash {
                return (&line[chars[position].0..], flags);
            }
            phase = Phase::Word;
        }
        if at_end {
            if word != "--" && (blank_ok || !word.is_empty()) {
                flags.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if word == "--" {
                    return (&line[chars[position].0..], flags);
                }
                if blank_ok || !word.is_empty() {
                    flags.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                position += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                position += 1;
                continue;
            }
            if ch == '\\' {
                if position + 1 == chars.len() {
                    position += 1;
                    continue;
                }
                position += 1;
                ch = chars[position].1;
            }
            word.push(ch);
            position += 1;
            continue;
        }
        // Phase::Quote
        if ch == quote {
            phase = Phase::Word;
            position += 1;
            continue;
        }
        if ch == '\\' {
            if position + 1 == chars.len() {
                phase = Phase::Word;
                position += 1;
                continue;
            }
            position += 1;
            ch = chars[position].1;
        }
        word.push(ch);
        position += 1;
    }
    ("", flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_table() {
        let cases: [(&str, &[&str], &str); 10] = [
            ("foo /tmp/", &[], "foo /tmp/"),
            ("--user=me foo /tmp/", &["--user=me"], "foo /tmp/"),
            ("--a=1 --b=2 x", &["--a=1", "--b=2"], "x"),
            ("--doit=true -- foo", &["--doit=true"], " foo"),
            ("-- foo", &[], " foo"),
            ("--link /a /b", &["--link"], "/a /b"),
            ("-x foo", &[], "-x foo"),
            ("--mount=\"a b\" x", &["--mount=a b"], "x"),
            ("--m='x\\'' y", &["--m=x'"], "y"),
            ("--only", &["--only"], ""),
        ];
        for (line, want_flags, want_rest) in cases {
            let (rest, flags) = extract_flags(line);
            assert_eq!(flags, want_flags, "{line:?}");
            assert_eq!(rest, want_rest, "{line:?}");
        }
    }

    #[test]
    fn split_command_table() {
        let (keyword, flags, rest) = split_command("  COPY\t--from=a  b c  ");
        assert_eq!(
            (keyword.as_str(), flags, rest.as_str()),
            ("COPY", vec!["--from=a".to_owned()], "b c")
        );
        let (keyword, flags, rest) = split_command("CMD");
        assert_eq!(
            (keyword.as_str(), flags.len(), rest.as_str()),
            ("CMD", 0, "")
        );
        assert_eq!(split_whitespace("a \t b  c", 0), ["a", "b", "c"]);
        assert_eq!(split_whitespace("a \t b  c", 2), ["a", "b  c"]);
        assert_eq!(split_whitespace("", 0), [""]);
    }
}
