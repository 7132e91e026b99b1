//! The parser: physical lines in, [`Dockerfile`] out.
//!
//! This is BuildKit's `parser.Parse` re-done in Rust: parser directives at the
//! top, line joining with the escape token, per-instruction argument rules
//! (`args`), flags (`split`) and heredoc bodies (`heredoc`).
//!
//! Invalid UTF-8 is not an error: each physical line is decoded lossily
//! (invalid bytes become U+FFFD) after its length has been checked on the raw
//! bytes. Columns in spans are byte columns of the raw line, BOM excluded.

mod args;
mod directives;
mod heredoc;
mod lines;
mod split;

use crate::ast::{Dockerfile, Instruction, Span};
use crate::ParseError;

use directives::DirectiveParser;
use lines::{is_comment, trim_continuation, trim_newline, Scanner};

/// The longest physical line accepted, in bytes, line ending excluded
/// (BuildKit's `bufio.MaxScanTokenSize - 1`).
pub const MAX_LINE_LENGTH: usize = 65535;

/// How deeply `ONBUILD` may nest inside itself before the parser gives up.
const MAX_ONBUILD_DEPTH: usize = 16;

const UTF8_BOM: &[u8] = &[0xEF, 0xBB, 0xBF];

/// Parses a Dockerfile.
///
/// Follows BuildKit's parser: the result prints exactly BuildKit's parse dump
/// through [`Dockerfile::dump`]. Errors carry the span of the offending lines.
pub fn parse(text: &[u8]) -> Result<Dockerfile, ParseError> {
    let text = text.strip_prefix(UTF8_BOM).unwrap_or(text);
    let mut scanner = Scanner::new(text);
    let mut directive_parser = DirectiveParser::default();
    let mut escape = '\\';
    let mut dockerfile = Dockerfile {
        escape,
        directives: Vec::new(),
        instructions: Vec::new(),
        warnings: Vec::new(),
    };

    while let Some(first) = scanner.next_line()? {
        let start_line = scanner.line_number();
        let content = trim_newline(&first);
        let trimmed = content.trim_start();
        let start_col = content.len() - trimmed.len() + 1;
        if let Some(directive) = directive_parser.parse_line(trimmed, line_span(&scanner))? {
            if directive.key == "escape" {
                escape = directives::escape_token(&directive.value).ok_or_else(|| ParseError {
                    message: format!(
                        "invalid escape token '{}' does not match ` or \\",
                        directive.value
                    ),
                    span: Some(directive.span),
                })?;
                dockerfile.escape = escape;
            }
            dockerfile.directives.push(directive);
        }
        let processed = if trimmed.starts_with('#') {
            ""
        } else {
            trimmed
        };
        let (first_part, mut end_of_line) = trim_continuation(processed, escape);
        if end_of_line && first_part.is_empty() {
            continue;
        }
        let mut line = first_part.to_owned();
        let mut empty_continuation = false;
        while !end_of_line {
            let Some(next) = scanner.next_line()? else {
                break;
            };
            let next_content = trim_newline(&next);
            if is_comment(next_content) {
                continue;
            }
            if next_content.trim_start().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (part, next_end) = trim_continuation(next_content, escape);
            line.push_str(part);
            end_of_line = next_end;
        }
        if empty_continuation {
            dockerfile
                .warnings
                .push(format!("Empty continuation line found in: {line}"));
        }

        let instruction_span = |scanner: &Scanner| Span {
            start_line,
            start_col,
            end_line: scanner.line_number(),
            end_col: scanner.last_line_length() + 1,
        };
        let mut instruction =
            instruction_from_line(&line, escape, 0).map_err(|message| ParseError {
                message,
                span: Some(instruction_span(&scanner)),
            })?;

        if can_contain_heredoc(&instruction) && line.contains("<<") {
            let heredocs = heredoc::heredocs_from_line(&line).map_err(|message| ParseError {
                message,
                span: Some(instruction_span(&scanner)),
            })?;
            for mut doc in heredocs {
                let mut terminated = false;
                while let Some(body_line) = scanner.next_line()? {
                    let mut candidate = trim_newline(&body_line);
                    if doc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    doc.content.push_str(&body_line);
                }
                if !terminated {
                    return Err(ParseError {
                        message: format!("unterminated heredoc {}", doc.name),
                        span: Some(instruction_span(&scanner)),
                    });
                }
                instruction.heredocs.push(doc);
            }
        }

        let span = instruction_span(&scanner);
        set_span(&mut instruction, span);
        dockerfile.instructions.push(instruction);
    }

    if dockerfile.instructions.is_empty() {
        let span = (scanner.line_number() > 0).then(|| line_span(&scanner));
        return Err(ParseError {
            message: "file with no instructions".into(),
            span,
        });
    }
    Ok(dockerfile)
}

/// The span of the line the scanner returned last.
fn line_span(scanner: &Scanner) -> Span {
    Span {
        start_line: scanner.line_number(),
        start_col: 1,
        end_line: scanner.line_number(),
        end_col: scanner.last_line_length() + 1,
    }
}

/// Gives an instruction and its `ONBUILD` child the same span.
fn set_span(instruction: &mut Instruction, span: Span) {
    instruction.span = span;
    if let Some(sub) = instruction.sub.as_mut() {
        set_span(sub, span);
    }
}

/// BuildKit's `canContainHeredoc`: RUN, COPY and ADD in shell form, also
/// as the child of an ONBUILD.
fn can_contain_heredoc(instruction: &Instruction) -> bool {
    let target = match (&instruction.sub, instruction.keyword.as_str()) {
        (Some(sub), "onbuild") => sub,
        _ => instruction,
    };
    matches!(target.keyword.as_str(), "run" | "copy" | "add") && !target.json
}

/// BuildKit's `newNodeFromLine`: keyword, flags, then the argument rule
/// for the keyword. The error is the message alone; the caller adds the span.
fn instruction_from_line(line: &str, escape: char, depth: usize) -> Result<Instruction, String> {
    let (keyword, flags, rest) = split::split_command(line);
    let keyword = keyword.to_lowercase();
    let mut sub = None;
    let parsed = if keyword == "onbuild" {
        if depth >= MAX_ONBUILD_DEPTH {
            return Err("ONBUILD is nested too deeply".into());
        }
        if !rest.is_empty() {
            sub = Some(Box::new(instruction_from_line(&rest, escape, depth + 1)?));
        }
        args::Parsed::default()
    } else {
        args::parse_arguments(&keyword, &rest, escape)?
    };
    Ok(Instruction {
        keyword,
        flags,
        args: parsed.args,
        json: parsed.json,
        heredocs: Vec::new(),
        sub,
        original: line.to_owned(),
        span: Span::default(),
    })
}

#[cfg(test)]
mod tests;
