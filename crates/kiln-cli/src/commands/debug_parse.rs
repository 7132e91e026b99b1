//! `kiln debug parse-dump` and `kiln debug parse-json`: print what the
//! Dockerfile parser made of a file (BuildKit's parse dump, or `ast.json`).

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use kiln_dockerfile::Dockerfile;

/// Prints BuildKit's parse dump of `file` (`-` = standard input).
pub fn parse_dump(file: &Path) -> anyhow::Result<ExitCode> {
    let dockerfile = parse_file(file)?;
    write_stdout(dockerfile.dump().as_bytes())
}

/// Prints the parse result of `file` as pretty JSON (the corpus `ast.json` schema).
pub fn parse_json(file: &Path) -> anyhow::Result<ExitCode> {
    let dockerfile = parse_file(file)?;
    let mut text = serde_json::to_string_pretty(&dockerfile.to_json())?;
    text.push('\n');
    write_stdout(text.as_bytes())
}

fn write_stdout(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes)?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Reads and parses the file; a parse error becomes `Dockerfile:LINE:COL: message`.
fn parse_file(file: &Path) -> anyhow::Result<Dockerfile> {
    let text = if file == Path::new("-") {
        let mut text = Vec::new();
        std::io::stdin()
            .read_to_end(&mut text)
            .context("failed to read standard input")?;
        text
    } else {
        std::fs::read(file).with_context(|| format!("failed to read {}", file.display()))?
    };
    kiln_dockerfile::parse(&text).map_err(|err| match err.span {
        Some(span) => anyhow::anyhow!(
            "Dockerfile:{}:{}: {}",
            span.start_line,
            span.start_col,
            err.message
        ),
        None => anyhow::anyhow!("Dockerfile: {}", err.message),
    })
}
