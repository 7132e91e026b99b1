//! Sandbox errors.

/// Why a run could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Setting up the sandbox failed.
    #[error("failed to set up the sandbox: {message}")]
    Setup {
        /// What failed.
        message: String,
    },
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;
