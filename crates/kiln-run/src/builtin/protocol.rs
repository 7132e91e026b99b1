//! What the parent and the sandbox init say to each other.
//!
//! The parent sends one [`InitConfig`] as a JSON line on the init's stdin,
//! then closes stdin once the init may go on (after writing the id maps of a
//! user namespace). The init answers with [`Status`] JSON lines on the status
//! pipe at [`crate::sys::STATUS_FD`].

use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Everything the init needs, with mount targets already resolved inside the
/// rootfs by the parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InitConfig {
    /// Absolute, canonical rootfs.
    pub rootfs: PathBuf,
    /// argv.
    pub args: Vec<String>,
    /// The whole environment.
    pub env: Vec<String>,
    /// Working directory inside the rootfs.
    pub cwd: String,
    /// uid of the process.
    pub uid: u32,
    /// gid of the process.
    pub gid: u32,
    /// Supplementary groups.
    pub additional_gids: Vec<u32>,
    /// UTS hostname.
    pub hostname: String,
    /// A new network namespace with only loopback.
    pub new_network: bool,
    /// A user namespace is created (the caller is not root).
    pub user_namespace: bool,
    /// `/proc`, resolved, relative to the rootfs.
    pub proc_dir: PathBuf,
    /// `/dev`, resolved, relative to the rootfs.
    pub dev_dir: PathBuf,
    /// `/sys`, resolved, relative to the rootfs.
    pub sys_dir: PathBuf,
    /// The generated `/etc` files, bound read-only.
    pub etc: Vec<EtcBind>,
    /// The spec's extra mounts, in order.
    pub mounts: Vec<InitMount>,
    /// What the command's stdin is, and whether it gets a terminal.
    pub console: Console,
}

/// The command's standard streams, as the init sets them up; the parent
/// passes the console fd at [`crate::sys::CONSOLE_FD`] unless `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Console {
    /// stdin is `/dev/null`; stdout and stderr are the init's own.
    None,
    /// stdin is the console fd; stdout and stderr are the init's own.
    Stdin,
    /// A terminal from the sandbox's devpts is the command's stdin, stdout,
    /// stderr and controlling terminal; its master goes back to the parent
    /// over the console fd (a unix socket).
    Terminal {
        /// Initial window height.
        rows: u16,
        /// Initial window width.
        cols: u16,
    },
}

/// A generated file bound over a file of the rootfs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EtcBind {
    /// Host file.
    pub source: PathBuf,
    /// Resolved target relative to the rootfs.
    pub target: PathBuf,
}

/// An extra mount with its target resolved relative to the rootfs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InitMount {
    /// Resolved target relative to the rootfs.
    pub target: PathBuf,
    /// Whether the target should be a file (bind of a file).
    pub file: bool,
    /// What to mount.
    pub kind: InitMountKind,
}

/// What an [`InitMount`] mounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum InitMountKind {
    /// A host path, recursively.
    Bind {
        /// Host path.
        source: PathBuf,
        /// Remount read-only.
        readonly: bool,
    },
    /// A fresh tmpfs.
    Tmpfs {
        /// Size limit in bytes.
        size: Option<u64>,
    },
}

/// A message from the init to the parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Status {
    /// The namespaces exist; the parent may write the id maps, then closes
    /// the init's stdin.
    Unshared,
    /// The host pid of the namespace's PID 1 (killing it ends the run).
    Pid1 {
        /// Host pid.
        pid: i32,
    },
    /// Setup failed; nothing was run.
    Failed {
        /// What failed.
        message: String,
    },
    /// `args[0]` is not in the `PATH`.
    NotFound {
        /// The name as given.
        name: String,
    },
    /// The command ended.
    Exited {
        /// Exit code, when it exited.
        code: Option<i32>,
        /// Signal, when it was killed.
        signal: Option<i32>,
    },
}

impl Status {
    /// Writes the message as one JSON line; a parent that went away is not
    /// an error the init could do anything about.
    pub fn send(&self, out: &mut impl Write) {
        if let Ok(mut line) = serde_json::to_vec(self) {
            line.push(b'\n');
            let _ = out.write_all(&line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_round_trip() {
        let messages = [
            Status::Unshared,
            Status::Pid1 { pid: 42 },
            Status::Failed {
                message: "no\nnewline".to_owned(),
            },
            Status::Exited {
                code: Some(3),
                signal: None,
            },
        ];
        let mut buffer = Vec::new();
        for message in &messages {
            message.send(&mut buffer);
        }
        let text = String::from_utf8(buffer).unwrap();
        let decoded: Vec<Status> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(decoded, messages);
    }
}
