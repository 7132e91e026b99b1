//! The error type of the store and its `Result` alias.

use std::io;
use std::path::PathBuf;

use kiln_oci::Digest;

/// Everything that can go wrong while using the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation on `path` failed.
    #[error("i/o error on {path}")]
    Io {
        /// The file or directory the operation was about.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The blob is not in the store.
    #[error("blob {digest} is not in the store")]
    BlobNotFound {
        /// The digest that was looked up.
        digest: Digest,
    },
    /// The content written does not hash to the digest it was meant to have.
    #[error("digest mismatch: expected {expected}, found {found}")]
    DigestMismatch {
        /// The digest the caller asked for.
        expected: Digest,
        /// The digest of the bytes actually written.
        found: Digest,
    },
    /// The directory is not a usable store (not an OCI layout, unknown version, ...).
    #[error("invalid store layout at {path}: {reason}")]
    InvalidLayout {
        /// The offending file or directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A JSON file of the store could not be read or written.
    #[error("invalid json in {path}")]
    Json {
        /// The JSON file.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// A tag was to point at a manifest whose blob is not in the store.
    #[error("cannot tag manifest {digest}: its blob is not in the store")]
    ManifestNotInStore {
        /// The manifest digest.
        digest: Digest,
    },
    /// A descriptor's size disagrees with the blob in the store.
    #[error(
        "size mismatch for blob {digest}: descriptor says {expected} bytes, store has {found}"
    )]
    SizeMismatch {
        /// The blob's digest.
        digest: Digest,
        /// The size in the descriptor.
        expected: u64,
        /// The size of the blob in the store.
        found: u64,
    },
    /// A descriptor carries a digest kiln cannot parse.
    #[error("invalid digest {value:?} in descriptor")]
    InvalidDigest {
        /// The digest text as found.
        value: String,
    },
    /// A lock name that would escape the `locks/` directory or is empty.
    #[error("invalid lock name {name:?}")]
    InvalidLockName {
        /// The rejected name.
        name: String,
    },
}

/// The store's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Builds an [`Error::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
