//! kiln-run: the RUN sandbox.
//!
//! A [`RunSpec`] says what to run in which root filesystem; a [`Sandbox`]
//! runs it: [`Builtin`] with kiln's own namespaces and `pivot_root`, or
//! [`Runc`] through an OCI runtime bundle. Both give the same semantics.
//!
//! The builtin sandbox re-executes the current binary with [`INIT_ARG`] as
//! its first argument to become the sandbox's init process; a binary that
//! uses [`Builtin`] must call [`init_main`] when it sees that argument, before
//! doing anything else.

mod error;
mod spec;

pub use error::{Error, Result};

pub use spec::{
    CancelFlag, EtcFiles, Mount, MountKind, Network, OutputStream, RunOutcome, RunSpec, Sandbox,
    User,
};

/// The first argument that makes the current binary the sandbox init process.
pub const INIT_ARG: &str = "__kiln-sandbox-init";
