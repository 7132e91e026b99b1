//! Parse errors, each with the span it points at.

/// A Dockerfile that could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// What is wrong, lowercase.
    pub message: String,
    /// Where, when known.
    pub span: Option<crate::Span>,
}
