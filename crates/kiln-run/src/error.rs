//! Sandbox errors.

use std::path::PathBuf;

/// Why a run could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Setting up the sandbox failed (reported by the sandbox init or the
    /// OCI runtime).
    #[error("failed to set up the sandbox: {message}")]
    Setup {
        /// What failed.
        message: String,
    },
    /// `args[0]` was not found in the `PATH` inside the rootfs.
    #[error("exec: \"{name}\": executable file not found in $PATH")]
    ExecutableNotFound {
        /// The command name as given.
        name: String,
    },
    /// The spec cannot be run as given.
    #[error("invalid run spec: {reason}")]
    InvalidSpec {
        /// What is wrong with it.
        reason: String,
    },
    /// A mount target cannot be placed inside the rootfs.
    #[error("invalid mount target {target:?}: {reason}")]
    MountTarget {
        /// The target as given in the spec.
        target: String,
        /// Why it was refused.
        reason: String,
    },
    /// A filesystem operation on the host failed.
    #[error("failed to {action} {path:?}")]
    Io {
        /// What was being done, e.g. "create mount point".
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Starting, talking to or waiting for a helper process failed.
    #[error("failed to {action}")]
    Process {
        /// What was being done, e.g. "spawn the sandbox init".
        action: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The sandbox init sent a message that could not be understood.
    #[error("malformed message from the sandbox init")]
    Protocol {
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// Building the OCI runtime configuration failed.
    #[error("failed to build the OCI runtime configuration")]
    RuntimeConfig {
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// The run was cancelled through its [`crate::CancelFlag`]; its whole
    /// process tree was killed.
    #[error("the run was cancelled")]
    Cancelled,
}

impl Error {
    /// An [`Error::Io`] for `action` on `path`.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Process`] for `action`.
    pub(crate) fn process(action: impl Into<String>, source: std::io::Error) -> Self {
        Error::Process {
            action: action.into(),
            source,
        }
    }
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;
