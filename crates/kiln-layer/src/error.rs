//! The crate's error type: every failure of writing, reading or extracting a layer.

use std::path::PathBuf;

/// Everything that can go wrong in kiln-layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file (or the output stream) failed.
    #[error("i/o error on {path}")]
    Io {
        /// The file involved; the output stream is reported as `<output>`.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The tar stream could not be read.
    #[error("failed to read tar stream")]
    Tar {
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Two layer entries have the same path.
    #[error("duplicate path in layer: {path}")]
    DuplicatePath {
        /// The path given twice.
        path: String,
    },
    /// A file's length changed between planning the layer and reading it.
    #[error("file changed while it was being added to the layer: {}", path.display())]
    FileChanged {
        /// The source file on disk.
        path: PathBuf,
    },
    /// A path is not a clean relative path, or escapes the root it must stay in.
    #[error("unsafe path: {path}")]
    UnsafePath {
        /// The offending path as written in the entry or archive.
        path: String,
    },
    /// A hardlink points at something that is not a regular file inside the destination.
    #[error("invalid hardlink {path} -> {target}")]
    InvalidHardlink {
        /// The link's own path.
        path: String,
        /// The path it points at.
        target: String,
    },
    /// An entry cannot be represented in a tar header (e.g. a device number too large).
    #[error("cannot encode tar entry {path}: {reason}")]
    Unencodable {
        /// The entry's path.
        path: String,
        /// What does not fit.
        reason: &'static str,
    },
    /// The stream is compressed with an algorithm this crate does not decode.
    #[error("unsupported compression: {kind}")]
    UnsupportedCompression {
        /// The detected algorithm, e.g. `zstd`.
        kind: &'static str,
    },
    /// A serialized [`crate::FsIndex`] is malformed (wrong magic, truncated, corrupt).
    #[error("invalid encoded fs index: {reason}")]
    BadIndex {
        /// What is wrong with it.
        reason: String,
    },
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An [`Error::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Io`] on the output stream.
    pub(crate) fn output(source: std::io::Error) -> Self {
        Error::io("<output>", source)
    }
}
