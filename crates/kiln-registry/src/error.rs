//! The error type of the registry client and its `Result` alias.
//!
//! Messages name the registry and repository a request was about and never
//! carry a password or a token: secrets live in [`crate::Secret`], which
//! prints as `<redacted>`.

use std::io;
use std::path::PathBuf;

use kiln_oci::Digest;

/// Everything that can go wrong while talking to a registry or reading credentials.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The HTTP exchange itself failed (connection, TLS, timeout, protocol).
    #[error("request to {url} failed: {source}")]
    Transport {
        /// The URL that was requested (never has credentials in it).
        url: String,
        /// The underlying error (a TLS failure says `certificate` when the peer's certificate is rejected).
        source: Box<ureq::Error>,
    },
    /// Reading a response body failed (connection cut, read timeout).
    #[error("reading the response of {url} failed")]
    Body {
        /// The URL that was requested.
        url: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The registry answered 401: no credentials, or wrong ones.
    #[error("authentication required by {registry} for {repository}: 401 unauthorized (log in with `kiln login {registry}` or pass --creds)")]
    Unauthorized {
        /// The registry host.
        registry: String,
        /// The repository the request was for (`/v2/` for a login check).
        repository: String,
    },
    /// The registry answered 403: the credentials lack the permission.
    #[error("access to {repository} on {registry} denied: 403 forbidden")]
    Denied {
        /// The registry host.
        registry: String,
        /// The repository the request was for.
        repository: String,
    },
    /// The registry answered 404 for a manifest or blob.
    #[error("{what} not found in {repository} on {registry}")]
    NotFound {
        /// The registry host.
        registry: String,
        /// The repository the request was for.
        repository: String,
        /// What was asked for, e.g. `manifest latest` or `blob sha256:…`.
        what: String,
    },
    /// The server answered with a status kiln did not expect.
    #[error("{method} {url} returned {status}: {message}")]
    Status {
        /// The HTTP method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// The start of the response body (the registry's error message).
        message: String,
    },
    /// Content received does not hash to the digest it was fetched by.
    #[error(
        "content from {source_name} does not match its digest: expected {expected}, found {found}"
    )]
    DigestMismatch {
        /// Where the content came from (`registry/repository` or a URL).
        source_name: String,
        /// The digest asked for.
        expected: Digest,
        /// The digest of what arrived.
        found: Digest,
    },
    /// Content received is not the size its descriptor says.
    #[error("content {digest} from {source_name} has the wrong size: expected {expected} bytes, got {found}")]
    SizeMismatch {
        /// Where the content came from.
        source_name: String,
        /// The digest of the content.
        digest: Digest,
        /// The size in the descriptor.
        expected: u64,
        /// The number of bytes that arrived (may stop counting early).
        found: u64,
    },
    /// A manifest or index could not be understood.
    #[error("invalid manifest {reference}: {reason}")]
    InvalidManifest {
        /// The reference or digest of the manifest.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A manifest had a media type kiln does not handle.
    #[error("unsupported manifest media type {media_type:?} for {reference}")]
    UnsupportedMediaType {
        /// The reference or digest of the manifest.
        reference: String,
        /// The media type found.
        media_type: String,
    },
    /// An image index has no manifest for the wanted platform.
    #[error("no manifest for platform {platform} in {reference} (available: {available})")]
    NoMatchingPlatform {
        /// The reference that was resolved.
        reference: String,
        /// The platform asked for.
        platform: String,
        /// The platforms the index lists, comma-separated.
        available: String,
    },
    /// The token endpoint refused to issue a token or answered nonsense.
    #[error("token request to {realm} for {registry} failed: {reason}")]
    Token {
        /// The token realm URL.
        realm: String,
        /// The registry host.
        registry: String,
        /// What went wrong (never the token or the password).
        reason: String,
    },
    /// A `WWW-Authenticate` header could not be parsed.
    #[error("invalid WWW-Authenticate challenge from {registry}: {reason}")]
    InvalidChallenge {
        /// The registry host.
        registry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A URL (ADD source, upload location, token realm) is not usable.
    #[error("invalid url {url:?}: {reason}")]
    InvalidUrl {
        /// The URL text.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A credentials file could not be parsed.
    #[error("invalid credentials file {path}: {reason}")]
    AuthFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it (never a secret).
        reason: String,
    },
    /// A credential helper failed.
    #[error("credential helper {helper} failed for {registry}: {reason}")]
    CredentialHelper {
        /// The helper program, e.g. `docker-credential-pass`.
        helper: String,
        /// The registry asked about.
        registry: String,
        /// What went wrong.
        reason: String,
    },
    /// A certificate file could not be read or parsed.
    #[error("invalid certificate file {path}: {reason}")]
    Certificate {
        /// The PEM file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A filesystem operation on `path` failed.
    #[error("i/o error on {path}")]
    Io {
        /// The file or directory the operation was about.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] kiln_store::Error),
    /// An OCI value (digest, reference) was invalid.
    #[error(transparent)]
    Oci(#[from] kiln_oci::Error),
}

/// The registry client's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Builds an [`Error::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Whether a retry may succeed: dropped connections, timeouts, cut bodies.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Error::Transport { source, .. } => is_transient_transport(source),
            Error::Body { .. } => true,
            Error::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// Whether a ureq error is a network hiccup worth retrying.
pub(crate) fn is_transient_transport(error: &ureq::Error) -> bool {
    match error {
        ureq::Error::Io(io) => is_transient_io(io),
        ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed | ureq::Error::BodyStalled => true,
        ureq::Error::Protocol(_) => true,
        _ => false,
    }
}

/// Whether an I/O error is a network hiccup worth retrying.
pub(crate) fn is_transient_io(error: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        error.kind(),
        ConnectionReset
            | ConnectionAborted
            | ConnectionRefused
            | BrokenPipe
            | TimedOut
            | UnexpectedEof
            | Interrupted
            | WouldBlock
            | NotConnected
    ) || error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<ureq::Error>())
        .is_some_and(is_transient_transport)
}

/// Whether a ureq error is a rejected certificate (no http fallback then).
pub(crate) fn is_certificate_error(error: &ureq::Error) -> bool {
    error
        .to_string()
        .to_ascii_lowercase()
        .contains("certificate")
}
