//! Unit tests for [`super::parse`]: directives, continuations, heredocs,
//! spans and the no-panic guarantee.

use super::*;

fn dump(text: &str) -> String {
    parse(text.as_bytes()).unwrap().dump()
}

fn error(text: &[u8]) -> ParseError {
    parse(text).unwrap_err()
}

#[test]
fn dump_table() {
    let cases = [
        ("FROM a\nRUN echo hi\n", "(from \"a\")\n(run \"echo hi\")\n"),
        ("\u{feff}FROM a", "(from \"a\")\n"),
        (
            "FROM a\r\nRUN b \\\r\n  c\r\n",
            "(from \"a\")\n(run \"b   c\")\n",
        ),
        ("RUN a \\\\\nRUN b", "(run \"a \\\\\\\\\")\n(run \"b\")\n"),
        ("RUN a \\\n# comment\n\n  b", "(run \"a   b\")\n"),
        ("RUN a \\", "(run \"a\")\n"),
        (
            "# escape=`\nRUN a `\n b\nRUN c \\",
            "(run \"a  b\")\n(run \"c \\\\\")\n",
        ),
        ("# foo=bar\n# escape=`\nRUN a \\", "(run \"a\")\n"),
        ("\n# escape=`\nRUN a `", "(run \"a `\")\n"),
        (
            "ONBUILD RUN --mount=type=cache,target=/c make",
            "(onbuild (run [\"--mount=type=cache,target=/c\"] \"make\"))\n",
        ),
        ("cmd", "(cmd)\n"),
        ("FOO bar", "(foo \"\")\n"),
        ("\\\n", "(\"\")\n"),
    ];
    for (input, want) in cases {
        assert_eq!(dump(input), want, "{input:?}");
    }
}

#[test]
fn directives_are_recorded() {
    let parsed =
        parse(b"# syntax=docker/dockerfile:1\n#Check=skip=all\n# escape=`\nFROM a\n").unwrap();
    let keys: Vec<(&str, &str)> = parsed
        .directives
        .iter()
        .map(|d| (d.key.as_str(), d.value.as_str()))
        .collect();
    assert_eq!(
        keys,
        [
            ("syntax", "docker/dockerfile:1"),
            ("check", "skip=all"),
            ("escape", "`")
        ]
    );
    assert_eq!(parsed.escape, '`');
    assert_eq!(parsed.directives[2].span.start_line, 3);
}

#[test]
fn error_table() {
    let long_line = format!("FROM a\nRUN {}\n", "x".repeat(MAX_LINE_LENGTH));
    let cases: [(&[u8], &str, Option<usize>); 9] = [
        (b"", "file with no instructions", None),
        (b"# only\n\n", "file with no instructions", Some(2)),
        (
            b"# escape=x\nFROM a",
            "invalid escape token 'x' does not match ` or \\",
            Some(1),
        ),
        (
            b"# syntax=a\n# syntax=b\nFROM a",
            "only one syntax parser directive can be used",
            Some(2),
        ),
        (
            b"FROM a\nCMD [\"a\", 1]",
            "arrays must be comprised of strings only",
            Some(2),
        ),
        (b"FROM a\nENV x", "ENV must have two arguments", Some(2)),
        (
            b"FROM a\nRUN <<EOF\nbody\n",
            "unterminated heredoc",
            Some(2),
        ),
        (long_line.as_bytes(), "longer than", Some(2)),
        (b"FROM a\nLABEL a=b \\\n c", "can't find =", Some(2)),
    ];
    for (input, want, line) in cases {
        let err = error(input);
        assert!(
            err.message.contains(want),
            "{:?}: {}",
            String::from_utf8_lossy(input),
            err.message
        );
        assert_eq!(err.span.map(|span| span.start_line), line, "{want}");
    }
}

#[test]
fn spans_cover_continuations_and_heredocs() {
    let text =
        "FROM a\n  RUN x \\\n\n  # c\n    y\nCOPY <<EOF /a\nline\nEOF\nRUN <<-EOT\n\tz\n\tEOT\n";
    let parsed = parse(text.as_bytes()).unwrap();
    let spans: Vec<Span> = parsed.instructions.iter().map(|i| i.span).collect();
    assert_eq!(
        spans[0],
        Span {
            start_line: 1,
            start_col: 1,
            end_line: 1,
            end_col: 7
        }
    );
    assert_eq!(
        spans[1],
        Span {
            start_line: 2,
            start_col: 3,
            end_line: 5,
            end_col: 6
        }
    );
    assert_eq!(
        spans[2],
        Span {
            start_line: 6,
            start_col: 1,
            end_line: 8,
            end_col: 4
        }
    );
    assert_eq!(
        spans[3],
        Span {
            start_line: 9,
            start_col: 1,
            end_line: 11,
            end_col: 5
        }
    );
    assert_eq!(
        parsed.warnings,
        ["Empty continuation line found in: RUN x     y"]
    );
    assert_eq!(parsed.instructions[2].heredocs[0].content, "line\n");
    assert_eq!(parsed.instructions[3].heredocs[0].content, "\tz\n");
    assert!(parsed.instructions[3].heredocs[0].chomp);
}

#[test]
fn heredocs_several_and_json_form() {
    let text = "COPY <<a <<b /dst/\nA\na\nB\nb\nRUN [\"<<EOF\"]\nCMD <<EOF\n";
    let parsed = parse(text.as_bytes()).unwrap();
    let bodies: Vec<&str> = parsed.instructions[0]
        .heredocs
        .iter()
        .map(|h| h.content.as_str())
        .collect();
    assert_eq!(bodies, ["A\n", "B\n"]);
    assert!(parsed.instructions[1].heredocs.is_empty());
    assert!(parsed.instructions[2].heredocs.is_empty());
    assert_eq!(parsed.instructions.len(), 3);
}

#[test]
fn onbuild_heredoc_attaches_to_onbuild() {
    let parsed = parse(b"ONBUILD RUN <<EOF\nx\nEOF\n").unwrap();
    let onbuild = &parsed.instructions[0];
    assert_eq!(onbuild.heredocs.len(), 1);
    assert_eq!(
        onbuild.sub.as_ref().map(|sub| sub.original.as_str()),
        Some("RUN <<EOF")
    );
    assert_eq!(onbuild.span.end_line, 3);
}

#[test]
fn json_schema() {
    let parsed = parse(b"# escape=`\nFROM a\nONBUILD RUN b\n").unwrap();
    let value = parsed.to_json();
    assert_eq!(value["escape_token"], "`");
    assert_eq!(
        (value["start_line"].as_u64(), value["end_line"].as_u64()),
        (Some(2), Some(3))
    );
    let onbuild = &value["instructions"][1];
    assert_eq!(onbuild["sub"]["cmd"], "run");
    assert_eq!(onbuild["sub"]["start_line"], 0);
    assert_eq!(onbuild["original"], "ONBUILD RUN b");
    assert!(onbuild.get("heredocs").is_none());
}

#[test]
fn invalid_utf8_is_lossy() {
    let parsed = parse(b"FROM a\xff\n").unwrap();
    assert_eq!(parsed.instructions[0].args, ["a\u{fffd}"]);
}

#[test]
fn garbage_never_panics() {
    const ALPHABET: &[u8] = b"\\`#=<>-\"' \t\r\n[]{},:0123456789aEOFRUNCOPYONBUILDENV\xff\xc3\xa9";
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut outcomes = [0usize; 2];
    for _ in 0..4000 {
        let length = (next() % 80) as usize;
        let input: Vec<u8> = (0..length)
            .map(|_| {
                let pick = next();
                if pick % 5 == 0 {
                    (pick >> 8) as u8
                } else {
                    ALPHABET[(pick >> 8) as usize % ALPHABET.len()]
                }
            })
            .collect();
        match parse(&input) {
            Ok(parsed) => {
                outcomes[0] += 1;
                assert!(parsed.dump().ends_with('\n'));
            }
            Err(err) => {
                outcomes[1] += 1;
                assert!(!err.message.is_empty());
            }
        }
    }
    assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
}
