//! kiln-dockerfile: the Dockerfile language, text in, syntax tree out.
//!
//! Pure: no I/O. [`ast`] is the raw tree the parser builds (enough to print
//! BuildKit's parse dump), [`instruction`] gives each instruction its meaning.
#![deny(missing_docs)]

pub mod ast;
pub mod instruction;
