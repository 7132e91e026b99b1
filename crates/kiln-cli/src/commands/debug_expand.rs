//! `kiln debug expand-word` and `kiln debug expand-words`: expand one word as
//! BuildKit's shell lexer does, for checking kiln against its test vectors.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use kiln_dockerfile::expand;

use crate::cli::ExpandArgs;

/// Turns `--env K=V` values into ordered pairs (a value without `=` is set
/// and empty; a later name wins over an earlier one when looked up).
fn env_pairs(env: &[String]) -> Vec<(String, String)> {
    env.iter()
        .map(|entry| match entry.split_once('=') {
            Some((key, value)) => (key.to_owned(), value.to_owned()),
            None => (entry.clone(), String::new()),
        })
        .collect()
}

/// Prints the expanded word and a newline.
pub fn expand_word(args: &ExpandArgs) -> anyhow::Result<ExitCode> {
    let env = env_pairs(&args.env);
    let out = expand::expand_word(&args.word, &env, args.escape)
        .with_context(|| format!("failed to process {:?}", args.word))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", out.value)?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the expanded, field-split words as a JSON array and a newline.
pub fn expand_words(args: &ExpandArgs) -> anyhow::Result<ExitCode> {
    let env = env_pairs(&args.env);
    let words = expand::expand_words(&args.word, &env, args.escape)
        .with_context(|| format!("failed to process {:?}", args.word))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", serde_json::to_string(&words)?)?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_pairs_keep_order_and_split_at_first_equals() {
        let env = env_pairs(&["A=1".into(), "B=x=y".into(), "C".into(), "A=2".into()]);
        let expected = [("A", "1"), ("B", "x=y"), ("C", ""), ("A", "2")];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(env, expected);
        assert_eq!(
            expand::expand_word("$A$B", &env, '\\').unwrap().value,
            "2x=y"
        );
    }
}
