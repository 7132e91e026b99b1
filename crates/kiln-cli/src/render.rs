//! Error rendering: `Dockerfile:LINE:COL` with the offending lines shown, as
//! BuildKit prints them.

use std::fmt::Write;

use kiln_build::BuildError;

/// Formats a build error for standard error.
pub fn build_error(err: &BuildError, file_name: &str, text: &[u8]) -> String {
    let mut out = String::new();
    let Some(span) = err.span() else {
        let _ = writeln!(out, "error: {}", kiln_build::error::with_causes(err));
        return out;
    };
    let _ = writeln!(
        out,
        "error: {file_name}:{}:{}: {}",
        span.start_line,
        span.start_col.max(1),
        kiln_build::error::with_causes(err)
    );
    let source = String::from_utf8_lossy(text);
    let lines: Vec<&str> = source.lines().collect();
    let first = span.start_line.saturating_sub(1).max(1);
    let last = span.end_line.max(span.start_line).min(span.start_line + 8);
    let _ = writeln!(out, "--------------------");
    for number in first..=last.min(lines.len()) {
        let marker = if number >= span.start_line && number <= span.end_line {
            ">>>"
        } else {
            "   "
        };
        let _ = writeln!(out, " {number:>3} | {marker} {}", lines[number - 1]);
    }
    let _ = writeln!(out, "--------------------");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_the_line() {
        let err = BuildError::Step {
            span: kiln_dockerfile::Span {
                start_line: 2,
                start_col: 1,
                end_line: 2,
                end_col: 9,
            },
            message: "boom".into(),
        };
        let out = build_error(&err, "Dockerfile", b"FROM scratch\nCOPY a b\n");
        assert!(out.starts_with("error: Dockerfile:2:1: boom\n"), "{out}");
        assert!(out.contains("   2 | >>> COPY a b"), "{out}");
        assert!(out.contains("   1 |     FROM scratch"), "{out}");
    }
}
