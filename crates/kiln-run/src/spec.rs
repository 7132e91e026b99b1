//! What to run and how: the types both sandboxes share.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// One process to run in a root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    /// The root filesystem: a directory the caller owns; becomes `/`.
    pub rootfs: PathBuf,
    /// argv. `args[0]` without a `/` is looked up in the `PATH` of `env`
    /// inside the rootfs, as Docker does.
    pub args: Vec<String>,
    /// The whole environment, `K=V`; nothing of the host's leaks in.
    pub env: Vec<String>,
    /// Working directory inside the rootfs (absolute; must exist).
    pub cwd: String,
    /// Who runs it.
    pub user: User,
    /// The UTS hostname.
    pub hostname: String,
    /// Network mode.
    pub network: Network,
    /// Extra mounts, applied in order after the standard ones.
    pub mounts: Vec<Mount>,
    /// `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` for the run,
    /// mounted over the rootfs's files (never written into the rootfs).
    pub etc: EtcFiles,
    /// Where the process's standard streams go.
    pub stdio: Stdio,
}

/// The standard streams of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stdio {
    /// stdin is `/dev/null`; stdout and stderr are pipes whose chunks go to
    /// the `on_output` callback (builds).
    #[default]
    Piped,
    /// The process writes to the caller's own stdout and stderr, and reads
    /// the caller's stdin when `stdin` is set (`/dev/null` otherwise).
    Inherit {
        /// Pass the caller's stdin (`docker run -i`).
        stdin: bool,
    },
    /// A pseudo-terminal allocated in the sandbox's own devpts becomes the
    /// process's controlling terminal and its stdin, stdout and stderr. Its
    /// output goes to `on_output` as [`OutputStream::Stdout`]; with `stdin`,
    /// the caller's stdin is copied to it (and put in raw mode while the run
    /// lasts when it is a terminal). The window size follows the caller's
    /// terminal. Builtin sandbox only.
    Tty {
        /// Copy the caller's stdin to the terminal (`docker run -it`).
        stdin: bool,
    },
}

/// Numeric identity of the process.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    /// uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// Supplementary groups (up to 32 in the builtin sandbox).
    pub additional_gids: Vec<u32>,
}

/// Network mode of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// The host's network (Docker's `default` for builds).
    #[default]
    Host,
    /// A new network namespace with only loopback.
    None,
}

/// Contents of the generated `/etc` files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EtcFiles {
    /// `/etc/hosts`.
    pub hosts: String,
    /// `/etc/resolv.conf`.
    pub resolv_conf: String,
    /// `/etc/hostname`.
    pub hostname: String,
}

/// An extra mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Absolute path inside the rootfs.
    pub target: String,
    /// What is mounted.
    pub kind: MountKind,
}

/// Kinds of extra mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    /// A host file or directory.
    Bind {
        /// Host path.
        source: PathBuf,
        /// Read-only when true.
        readonly: bool,
    },
    /// A fresh tmpfs.
    Tmpfs {
        /// Size limit in bytes.
        size: Option<u64>,
    },
}

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// Exit code, when the process exited.
    pub code: Option<i32>,
    /// Signal number, when it was killed.
    pub signal: Option<i32>,
}

/// Set to true to kill a running sandbox's whole process tree.
pub type CancelFlag = Arc<AtomicBool>;

/// Runs processes.
pub trait Sandbox {
    /// Runs `spec` to completion, passing output chunks to `on_output` as they
    /// arrive. Mount points the sandbox had to create in the rootfs are removed
    /// again before it returns (their parents' mtimes restored), so a snapshot
    /// diff of the rootfs sees only what the process did.
    fn run(
        &self,
        spec: &RunSpec,
        on_output: &mut dyn FnMut(OutputStream, &[u8]),
        cancel: &CancelFlag,
    ) -> crate::Result<RunOutcome>;
}
