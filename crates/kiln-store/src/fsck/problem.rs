//! [`Problem`]: one thing fsck found wrong, said in one line.

use std::fmt;
use std::path::PathBuf;

use kiln_oci::Digest;

/// Something wrong in the store, with the path or digest it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A blob's content does not hash to its name.
    CorruptBlob {
        /// The blob file.
        path: PathBuf,
        /// The digest of what it holds.
        actual: Digest,
    },
    /// A blob could not be read.
    UnreadableBlob {
        /// The blob file.
        path: PathBuf,
        /// The error, in words.
        error: String,
    },
    /// A file under `blobs/` that is not named by a sha256 digest.
    UnexpectedFile {
        /// The file.
        path: PathBuf,
    },
    /// `index.json` could not be read.
    BadIndex {
        /// What went wrong, in words.
        reason: String,
    },
    /// A descriptor without a usable digest or size.
    BadDescriptor {
        /// Where the descriptor is (e.g. `tag app:1 > manifest sha256:…`).
        via: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A referenced blob is not in the store.
    MissingBlob {
        /// What the blob is (manifest, config, layer, …).
        role: &'static str,
        /// Its digest.
        digest: Digest,
        /// Who references it.
        via: String,
    },
    /// A referenced blob's size differs from its descriptor's.
    SizeMismatch {
        /// What the blob is.
        role: &'static str,
        /// Its digest.
        digest: Digest,
        /// Who references it.
        via: String,
        /// The descriptor's size.
        expected: u64,
        /// The blob's size.
        found: u64,
    },
    /// A manifest or index that is not valid JSON.
    BadJson {
        /// What the blob is.
        role: &'static str,
        /// Its digest.
        digest: Digest,
        /// Who references it.
        via: String,
        /// The parse error.
        reason: String,
    },
    /// A cache record that cannot be parsed.
    BadCacheRecord {
        /// The record file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A cache record naming a layer that is missing or has another size.
    CacheRecordBlob {
        /// The record file.
        path: PathBuf,
        /// The layer it names.
        digest: Digest,
        /// The recorded size.
        expected: u64,
        /// The blob's size, `None` when it is missing.
        found: Option<u64>,
    },
}

impl Problem {
    /// Whether `fsck --repair` fixes it (by deleting the broken file).
    pub fn repairable(&self) -> bool {
        matches!(
            self,
            Problem::CorruptBlob { .. }
                | Problem::BadCacheRecord { .. }
                | Problem::CacheRecordBlob { .. }
        )
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::CorruptBlob { path, actual } => write!(
                formatter,
                "corrupt blob {}: its content hashes to {actual}",
                path.display()
            ),
            Problem::UnreadableBlob { path, error } => {
                write!(formatter, "cannot read blob {}: {error}", path.display())
            }
            Problem::UnexpectedFile { path } => write!(
                formatter,
                "unexpected file {} (not named by a sha256 digest)",
                path.display()
            ),
            Problem::BadIndex { reason } => write!(formatter, "cannot read index.json: {reason}"),
            Problem::BadDescriptor { via, reason } => {
                write!(formatter, "invalid descriptor in {via}: {reason}")
            }
            Problem::MissingBlob { role, digest, via } => {
                write!(formatter, "missing {role} {digest} (referenced by {via})")
            }
            Problem::SizeMismatch {
                role,
                digest,
                via,
                expected,
                found,
            } => write!(
                formatter,
                "size mismatch for {role} {digest}: {via} says {expected} bytes, the blob has {found}"
            ),
            Problem::BadJson {
                role,
                digest,
                via,
                reason,
            } => write!(
                formatter,
                "{role} {digest} (referenced by {via}) is not valid json: {reason}"
            ),
            Problem::BadCacheRecord { path, reason } => {
                write!(formatter, "invalid cache record {}: {reason}", path.display())
            }
            Problem::CacheRecordBlob {
                path,
                digest,
                expected,
                found: None,
            } => write!(
                formatter,
                "cache record {} names layer {digest} ({expected} bytes), which is not in the store",
                path.display()
            ),
            Problem::CacheRecordBlob {
                path,
                digest,
                expected,
                found: Some(found),
            } => write!(
                formatter,
                "cache record {} says layer {digest} has {expected} bytes, the blob has {found}",
                path.display()
            ),
        }
    }
}
