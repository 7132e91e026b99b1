//! The error type of kiln-oci and its `Result` alias.

use std::path::PathBuf;

use crate::digest::Digest;

/// Everything that can go wrong while parsing, reading or writing OCI content.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation failed.
    #[error("failed to {action} {}", path.display())]
    Io {
        /// What was being done, e.g. "read" or "create directory".
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Reading a blob from a [`crate::BlobSource`] failed.
    #[error("failed to read blob {digest}")]
    BlobRead {
        /// The blob that was being read.
        digest: Digest,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A string is not a valid digest.
    #[error("invalid digest {value:?}")]
    InvalidDigest {
        /// The rejected text.
        value: String,
    },
    /// A string is not a valid image reference.
    #[error("invalid reference {value:?}: {reason}")]
    InvalidReference {
        /// The rejected text.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A string is not a valid platform.
    #[error("invalid platform {value:?}: {reason}")]
    InvalidPlatform {
        /// The rejected text.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// Content does not hash to the digest it was expected to have.
    #[error("digest mismatch: expected {expected}, found {found}")]
    DigestMismatch {
        /// The digest that was announced.
        expected: Digest,
        /// The digest of the content actually seen.
        found: Digest,
    },
    /// Content does not have the size its descriptor announces.
    #[error("size mismatch for {digest}: expected {expected} bytes, found {found}")]
    SizeMismatch {
        /// The blob concerned.
        digest: Digest,
        /// The size that was announced.
        expected: u64,
        /// The size actually seen.
        found: u64,
    },
    /// JSON could not be parsed or written.
    #[error("failed to parse {what}")]
    Json {
        /// What was being parsed, e.g. "index.json".
        what: String,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// An archive entry would land outside the extraction directory, or is a link.
    #[error("unsafe path in archive: {path:?}")]
    UnsafeArchivePath {
        /// The entry's name as stored in the archive.
        path: String,
    },
    /// An archive entry is neither a regular file nor a directory.
    #[error("unsupported entry type in archive: {path:?}")]
    UnsupportedArchiveEntry {
        /// The entry's name as stored in the archive.
        path: String,
    },
    /// An archive is neither an oci-archive nor a docker-archive.
    #[error("{} is neither an oci-archive nor a docker-archive", path.display())]
    UnknownArchiveFormat {
        /// The archive.
        path: PathBuf,
    },
    /// A descriptor that should point to an image manifest points to something else.
    #[error("{digest} is not an image manifest (media type {media_type})")]
    NotAnImageManifest {
        /// The descriptor's digest.
        digest: String,
        /// The descriptor's media type.
        media_type: String,
    },
    /// An image index has no manifest for the wanted platform.
    #[error("image index {digest} has no manifest for platform {platform}")]
    NoMatchingPlatform {
        /// The index's digest.
        digest: Digest,
        /// The wanted platform.
        platform: String,
    },
    /// A blob's media type is one kiln cannot process here.
    #[error("unsupported media type {media_type} for {digest}")]
    UnsupportedMediaType {
        /// The blob concerned.
        digest: Digest,
        /// Its media type.
        media_type: String,
    },
    /// The number of layers in a manifest differs from the config's diff_ids.
    #[error("image has {layers} layers but its config lists {diff_ids} diff_ids")]
    LayerCountMismatch {
        /// Layers in the manifest.
        layers: usize,
        /// diff_ids in the config.
        diff_ids: usize,
    },
    /// An export destination exists and is not something kiln may replace.
    #[error("{} exists and is neither an empty directory nor an OCI layout", path.display())]
    DestinationNotReplaceable {
        /// The destination.
        path: PathBuf,
    },
    /// A file an archive must contain is missing or malformed.
    #[error("invalid archive {}: {reason}", path.display())]
    InvalidArchive {
        /// The archive or the file inside it.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Result with kiln-oci's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Builds an [`Error::Io`].
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Error {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// Builds an [`Error::Json`].
    pub(crate) fn json(what: impl Into<String>, source: serde_json::Error) -> Error {
        Error::Json {
            what: what.into(),
            source,
        }
    }
}
