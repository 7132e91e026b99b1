//! The raw syntax tree: what the parser produces, before any instruction is
//! given a meaning. It mirrors BuildKit's `parser.Node` closely enough to print
//! BuildKit's parse dump (`Dockerfile::dump`) and the corpus `ast.json`.

use serde::Serialize;

/// A position range in the Dockerfile, 1-based, inclusive.
///
/// `start_line..=end_line` covers continuation lines, interleaved comments and
/// heredoc bodies. Columns are 1-based byte columns on the start and end line;
/// `end_col` points one past the last byte of the instruction text on `end_line`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct Span {
    /// First line (1-based).
    pub start_line: usize,
    /// First column on `start_line` (1-based).
    pub start_col: usize,
    /// Last line (1-based, inclusive).
    pub end_line: usize,
    /// Column one past the last byte on `end_line` (1-based).
    pub end_col: usize,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The escape token: `\` or `` ` ``.
    pub escape: char,
    /// Parser directives found at the top, in order, keys lowercased.
    pub directives: Vec<Directive>,
    /// Top-level instructions in source order.
    pub instructions: Vec<Instruction>,
    /// Parser warnings, e.g. "Empty continuation line found in: ...".
    pub warnings: Vec<String>,
}

/// A parser directive such as `# syntax=docker/dockerfile:1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// Lowercased key: `syntax`, `escape` or `check`.
    pub key: String,
    /// The value, trimmed.
    pub value: String,
    /// Where the directive is.
    pub span: Span,
}

/// One instruction as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// The keyword as written, lowercased (`run`, `copy`, unknown `foo`).
    pub keyword: String,
    /// Leading `--flag` words, quotes removed and escapes processed
    /// (BuildKit's `Node.Flags`).
    pub flags: Vec<String>,
    /// Argument nodes, exactly the values the parse dump prints.
    pub args: Vec<String>,
    /// True when the arguments came from a JSON (exec form) array.
    pub json: bool,
    /// Heredocs attached to this instruction, in order.
    pub heredocs: Vec<Heredoc>,
    /// The nested instruction of an `ONBUILD`.
    pub sub: Option<Box<Instruction>>,
    /// The continuation-joined line text (keyword included).
    pub original: String,
    /// Where the instruction is, including continuation lines and heredoc bodies.
    pub span: Span,
}

/// A here-document (`<<EOF` ... `EOF`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Heredoc {
    /// The delimiter word, quotes removed.
    pub name: String,
    /// The file descriptor written before `<<` (`3<<EOF`), 0 when none.
    pub fd: u32,
    /// False when any part of the delimiter was quoted: no expansion in the body.
    pub expand: bool,
    /// True for `<<-`: leading tabs are to be stripped by the consumer.
    pub chomp: bool,
    /// The raw body including its trailing newline, not yet tab-stripped.
    pub content: String,
}
