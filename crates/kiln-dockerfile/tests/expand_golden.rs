//! Golden test of word expansion: `testdata/shell/expand.txt` at the
//! repository root, `input | expected` rows. `KILN_BLESS=1` rewrites the
//! expected side of every row from the current output.

use std::path::PathBuf;

use kiln_dockerfile::expand::expand_word;

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/shell/expand.txt")
}

/// What kiln produces for one row: the word, or `error: <message>`.
fn render(input: &str, env: &[(String, String)], escape: char) -> String {
    match expand_word(input, &env, escape) {
        Ok(out) => out.value,
        Err(err) => format!("error: {err}"),
    }
}

#[test]
fn expand_golden() {
    let path = golden_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let bless = std::env::var_os("KILN_BLESS").is_some_and(|v| v == "1");
    let mut env: Vec<(String, String)> = Vec::new();
    let mut escape = '\\';
    let mut rows = 0;
    let mut failures = Vec::new();
    let mut blessed = String::new();
    for (number, line) in text.lines().enumerate() {
        let is_directive = line.is_empty() || line.starts_with('#');
        if let Some(assignment) = line.strip_prefix("ENV ") {
            let (key, value) = assignment
                .split_once('=')
                .expect("ENV line needs name=value");
            env.push((key.to_string(), value.to_string()));
        } else if let Some(token) = line.strip_prefix("ESCAPE ") {
            let mut chars = token.chars();
            escape = chars.next().expect("ESCAPE needs a character");
            assert!(
                chars.next().is_none(),
                "line {}: ESCAPE takes one character",
                number + 1
            );
        } else if !is_directive {
            let (input, expected) = line
                .split_once(" |")
                .unwrap_or_else(|| panic!("line {}: row without ` |`: {line}", number + 1));
            let expected = expected.strip_prefix(' ').unwrap_or(expected);
            let got = render(input, &env, escape);
            rows += 1;
            if got != expected {
                failures.push(format!(
                    "line {}: {input:?}: expected {expected:?}, got {got:?}",
                    number + 1
                ));
            }
            blessed.push_str(input);
            blessed.push_str(" |");
            if !got.is_empty() {
                blessed.push(' ');
                blessed.push_str(&got);
            }
            blessed.push('\n');
            continue;
        }
        blessed.push_str(line);
        blessed.push('\n');
    }
    assert!(
        rows >= 40,
        "the golden file should have at least 40 rows, has {rows}"
    );
    if bless {
        std::fs::write(&path, blessed).unwrap();
        return;
    }
    assert!(
        failures.is_empty(),
        "{} golden rows differ (KILN_BLESS=1 rewrites):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
