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
//!
//! ```no_run
//! if std::env::args().nth(1).as_deref() == Some(kiln_run::INIT_ARG) {
//!     kiln_run::init_main();
//! }
//! ```
//!
//! Mount targets are resolved inside the rootfs chroot-style: a symlinked
//! component is followed, but never out of the rootfs (`..` stops at its
//! top and absolute link targets restart there). Mount points missing from
//! the rootfs are created for the run and removed afterwards.

mod builtin;
mod defaults;
mod error;
mod idmap;
mod lookup;
mod mountpoint;
mod output;
mod overlay;
mod runc;
mod spec;
mod sys;
mod terminal;

pub use builtin::Builtin;
pub use error::{Error, Result};
pub use overlay::{enter_private_mount_namespace, OverlayMount};
pub use runc::{runc_config, Runc};

pub use spec::{
    CancelFlag, EtcFiles, Mount, MountKind, Network, OutputStream, RunOutcome, RunSpec, Sandbox,
    Stdio, User,
};

/// The first argument that makes the current binary the sandbox init process.
pub const INIT_ARG: &str = "__kiln-sandbox-init";

/// The sandbox init: call it first thing when `argv[1]` is [`INIT_ARG`].
///
/// It reads its instructions from the parent ([`Builtin`]), sets up the
/// namespaces and the root filesystem, runs the command as a child of the
/// namespace's PID 1, reaps orphans, and exits with the command's status.
/// Setup failures are reported to the parent through a dedicated pipe.
pub fn init_main() -> ! {
    builtin::init::main()
}
