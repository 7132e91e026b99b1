//! kiln-dockerfile: the Dockerfile language, text in, syntax tree out.
//!
//! Pure: no I/O. [`parser`] turns text into the raw [`ast`] (enough to print
//! BuildKit's parse dump), [`instruction`] gives each instruction its meaning,
//! and [`expand`] expands shell words as BuildKit's lexer does.
#![deny(missing_docs)]

pub mod ast;
mod dump;
pub mod error;
pub mod expand;
pub mod instruction;
pub mod parser;

pub use ast::{Dockerfile, Heredoc, Instruction, Span};
pub use error::ParseError;
pub use parser::parse;
