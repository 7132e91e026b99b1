//! The build context: a snapshot of the context directory as the build sees it.
//!
//! [`read_dockerignore`] finds and parses the ignore file, [`IgnoreMatcher`]
//! applies its patterns (moby/patternmatcher semantics), [`Snapshot::walk`]
//! lists the context without following symlinks, and
//! [`Snapshot::file_digest`] hashes file contents on demand. [`match_glob`] is
//! Go's `path.Match`, for COPY sources.
//!
//! ```no_run
//! use std::path::Path;
//! use kiln_build::context::{read_dockerignore, IgnoreMatcher, Snapshot};
//!
//! # fn main() -> Result<(), kiln_build::context::ContextError> {
//! let context = Path::new("app");
//! let patterns = read_dockerignore(context, Some(Path::new("app/Dockerfile")))?;
//! let snapshot = Snapshot::walk(context, &IgnoreMatcher::new(&patterns)?)?;
//! for entry in snapshot.children("") {
//!     println!("{}", entry.path);
//! }
//! # Ok(())
//! # }
//! ```

mod clean;
pub mod dockerignore;
pub mod error;
pub mod glob;
mod matcher;
pub mod snapshot;
mod walk;
mod walk_parallel;

pub use dockerignore::{read_dockerignore, IgnoreMatcher};
pub use error::ContextError;
pub use glob::match_glob;
pub use snapshot::{ContextEntry, ContextKind, Snapshot};
