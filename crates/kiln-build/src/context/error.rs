//! Errors of the build-context module: reading the context directory, the
//! ignore file, and compiling ignore or glob patterns.

use std::path::PathBuf;

/// What went wrong while reading the build context or its patterns.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// A filesystem operation on `path` failed.
    #[error("failed to read {}", path.display())]
    Io {
        /// The path the operation was about.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A glob or ignore pattern is malformed.
    #[error("invalid pattern {pattern:?}: {reason}")]
    BadPattern {
        /// The pattern as written.
        pattern: String,
        /// Why it is malformed.
        reason: String,
    },
    /// The context root is not a directory.
    #[error("build context {} is not a directory", path.display())]
    NotADirectory {
        /// The context root.
        path: PathBuf,
    },
    /// A file name in the context is not valid UTF-8 (or a symlink target is not).
    #[error("path {} in the build context is not valid utf-8", path.display())]
    NonUtf8Path {
        /// The offending path.
        path: PathBuf,
    },
    /// A path asked for by content is not a regular file of the snapshot.
    #[error("{path:?} is not a regular file in the build context")]
    NotAFile {
        /// The context-relative path.
        path: String,
    },
    /// A file was replaced by another one after the snapshot was taken.
    #[error("{path:?} changed while the build context was being read")]
    Changed {
        /// The context-relative path.
        path: String,
    },
}

impl ContextError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> ContextError {
        ContextError::Io {
            path: path.into(),
            source,
        }
    }

    /// A malformed-pattern error.
    pub(crate) fn bad_pattern(pattern: &str, reason: impl Into<String>) -> ContextError {
        ContextError::BadPattern {
            pattern: pattern.to_string(),
            reason: reason.into(),
        }
    }
}
