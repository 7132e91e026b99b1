//! Build errors. A step's error carries the Dockerfile span it happened at,
//! so the CLI can print `Dockerfile:LINE:COL` and the offending line.

use std::path::PathBuf;

use kiln_dockerfile::Span;

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile could not be parsed.
    #[error(transparent)]
    Parse(#[from] kiln_dockerfile::ParseError),
    /// An instruction is malformed (bad flag, wrong argument count, …).
    #[error("{source}")]
    Instruction {
        /// Where.
        span: Span,
        /// What.
        #[source]
        source: kiln_dockerfile::instruction::InstructionError,
    },
    /// A step failed; `message` says why.
    #[error("{message}")]
    Step {
        /// The instruction that failed.
        span: Span,
        /// What went wrong, lowercase.
        message: String,
    },
    /// A usage error not tied to a Dockerfile line (a flag, a build context).
    #[error("{0}")]
    Usage(String),
    /// Reading or writing a file failed.
    #[error("failed to access {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The build context could not be read.
    #[error(transparent)]
    Context(#[from] crate::context::ContextError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] kiln_store::Error),
    /// An OCI format operation failed.
    #[error(transparent)]
    Oci(#[from] kiln_oci::Error),
    /// Writing or reading a layer failed.
    #[error(transparent)]
    Layer(#[from] kiln_layer::Error),
}

impl BuildError {
    /// The Dockerfile location of the error, when it has one.
    pub fn span(&self) -> Option<Span> {
        match self {
            BuildError::Parse(err) => err.span,
            BuildError::Instruction { span, .. } | BuildError::Step { span, .. } => Some(*span),
            _ => None,
        }
    }

    /// Wraps any error as a step error at `span`, keeping located errors as they are.
    pub fn at(self, span: Span) -> BuildError {
        match self {
            BuildError::Step { .. } | BuildError::Instruction { .. } | BuildError::Parse(_) => self,
            other => BuildError::Step {
                span,
                message: with_causes(&other),
            },
        }
    }
}

/// An error's message followed by each cause not already in it
/// ("failed to write …: No space left on device").
pub fn with_causes(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// The result type of this crate.
pub type Result<T, E = BuildError> = std::result::Result<T, E>;

/// Shorthand for a step error.
pub(crate) fn step_error(span: Span, message: impl Into<String>) -> BuildError {
    BuildError::Step {
        span,
        message: message.into(),
    }
}
