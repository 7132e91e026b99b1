//! kiln-build: the engine — build context, planner, instruction semantics,
//! image assembly and export.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = kiln_store::Store::open(std::path::Path::new("store"))?;
//! let options = kiln_build::BuildOptions {
//!     context_dir: ".".into(),
//!     dockerfile: b"FROM scratch\nCOPY . /\n".to_vec(),
//!     ..Default::default()
//! };
//! let outcome = kiln_build::build(&store, &options, &kiln_build::NoProgress)?;
//! println!("{}", outcome.config_digest);
//! # Ok(()) }
//! ```

mod archive;
mod build;
mod cache;
pub mod context;
mod copy;
mod dispatch;
pub mod error;
mod export;
mod image;
mod layout;
pub mod load;
pub mod options;
mod paths;
pub mod plan;
pub mod progress;
pub mod pull;
mod rootfs;
pub(crate) mod run;
mod sources;
mod stage;
mod vars;

pub use self::{rootfs::ensure_dir, run::user};
pub use build::{build, format_time, BuildOutcome};
pub use error::{BuildError, Result};
pub use options::{BuildOptions, Isolation, NamedContext, Output, PullPolicy, Snapshotter};
pub use progress::{Event, NoProgress, Progress};
