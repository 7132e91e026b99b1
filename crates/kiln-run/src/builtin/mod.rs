//! The builtin sandbox: kiln's own namespaces, mounts and `pivot_root`,
//! done by a re-executed init process (see [`init`]).
//!
//! The parent side here plans and creates the mount points, writes the
//! `/etc` files to a private scratch directory, starts the init, writes the
//! id maps of a rootless run, streams the output, and cleans up.

pub(crate) mod console;
pub(crate) mod init;
mod protocol;
mod rootfs;

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use rustix::pipe::{pipe_with, PipeFlags};
use rustix::process::{kill_process, Pid, Signal};

use self::protocol::{Console, EtcBind, InitConfig, InitMount, InitMountKind, Status};
use crate::defaults::{FIRST_ETC_TARGET, STANDARD_TARGETS};
use crate::idmap::IdMappings;
use crate::mountpoint::{run_targets, validate, MountPoints};
use crate::output::{pump, Pipes, Supervisor};
use crate::{
    sys, terminal, CancelFlag, Error, MountKind, Network, OutputStream, Result, RunOutcome,
    RunSpec, Sandbox,
};

/// The sandbox built into kiln: namespaces (plus a user namespace when not
/// root), a private mount tree and `pivot_root`, set up by `init_exe`
/// re-executed with [`crate::INIT_ARG`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Builtin {
    /// The binary to re-execute as the sandbox init; it must call
    /// [`crate::init_main`] when its first argument is [`crate::INIT_ARG`]
    /// (kiln itself: `std::env::current_exe()`).
    pub init_exe: PathBuf,
}

impl Sandbox for Builtin {
    fn run(
        &self,
        spec: &RunSpec,
        on_output: &mut dyn FnMut(OutputStream, &[u8]),
        cancel: &CancelFlag,
    ) -> Result<RunOutcome> {
        validate(spec)?;
        let rootfs = spec
            .rootfs
            .canonicalize()
            .map_err(|error| Error::io("resolve the rootfs", &spec.rootfs, error))?;
        let targets = run_targets(spec);
        let mut points = MountPoints::plan(&rootfs, &targets)?;
        points.create()?;
        let scratch = tempfile::Builder::new()
            .prefix("kiln-run-etc-")
            .tempdir()
            .map_err(|error| {
                Error::io("create a scratch directory in", std::env::temp_dir(), error)
            })?;
        let config = init_config(spec, rootfs, &points, scratch.path())?;
        let outcome = self.launch(&config, spec.stdio, on_output, cancel);
        let cleaned = points.cleanup();
        let outcome = outcome?;
        cleaned?;
        Ok(outcome)
    }
}

/// Writes the `/etc` files into `scratch` and describes the run for the
/// init, with every target resolved by `points`.
fn init_config(
    spec: &RunSpec,
    rootfs: PathBuf,
    points: &MountPoints,
    scratch: &Path,
) -> Result<InitConfig> {
    let contents = [&spec.etc.hosts, &spec.etc.resolv_conf, &spec.etc.hostname];
    let mut etc = Vec::with_capacity(contents.len());
    for (offset, content) in contents.into_iter().enumerate() {
        let index = FIRST_ETC_TARGET + offset;
        let name = STANDARD_TARGETS[index].trim_start_matches("/etc/");
        let source = scratch.join(name);
        std::fs::write(&source, content).map_err(|error| Error::io("write", &source, error))?;
        etc.push(EtcBind {
            source,
            target: points.resolved(index).to_owned(),
        });
    }
    let mounts = spec
        .mounts
        .iter()
        .enumerate()
        .map(|(offset, mount)| {
            let (file, kind) = match &mount.kind {
                MountKind::Bind { source, readonly } => (
                    !source.is_dir(),
                    InitMountKind::Bind {
                        source: source.clone(),
                        readonly: *readonly,
                    },
                ),
                MountKind::Tmpfs { size } => (false, InitMountKind::Tmpfs { size: *size }),
            };
            InitMount {
                target: points.resolved(STANDARD_TARGETS.len() + offset).to_owned(),
                file,
                kind,
            }
        })
        .collect();
    Ok(InitConfig {
        rootfs,
        args: spec.args.clone(),
        env: spec.env.clone(),
        cwd: spec.cwd.clone(),
        uid: spec.user.uid,
        gid: spec.user.gid,
        additional_gids: spec.user.additional_gids.clone(),
        hostname: spec.hostname.clone(),
        new_network: spec.network == Network::None,
        user_namespace: !rustix::process::geteuid().is_root(),
        proc_dir: points.resolved(0).to_owned(),
        dev_dir: points.resolved(1).to_owned(),
        sys_dir: points.resolved(2).to_owned(),
        etc,
        mounts,
        console: console_for(spec.stdio),
    })
}

/// What the init does with the command's streams for `stdio`.
fn console_for(stdio: crate::Stdio) -> Console {
    match stdio {
        crate::Stdio::Piped | crate::Stdio::Inherit { stdin: false } => Console::None,
        crate::Stdio::Inherit { stdin: true } => Console::Stdin,
        crate::Stdio::Tty { .. } => {
            let (rows, cols) = terminal::caller_size().unwrap_or(terminal::DEFAULT_SIZE);
            Console::Terminal { rows, cols }
        }
    }
}

/// The parent's ends of the streams of one run.
enum Streams {
    /// Read ends of the command's stdout and stderr.
    Piped(OwnedFd, OwnedFd),
    /// The command writes to the caller's stdout and stderr.
    Inherited,
    /// The socket on which the terminal's master arrives.
    Terminal { socket: OwnedFd, stdin: bool },
}

/// Sets up the init's stdout and stderr for `stdio`; returns the parent's
/// ends and the console fd the init gets at [`sys::CONSOLE_FD`].
fn streams(command: &mut Command, stdio: crate::Stdio) -> Result<(Streams, Option<OwnedFd>)> {
    match stdio {
        crate::Stdio::Piped => {
            let (stdout, stdout_write) = pipe()?;
            let (stderr, stderr_write) = pipe()?;
            command
                .stdout(Stdio::from(stdout_write))
                .stderr(Stdio::from(stderr_write));
            Ok((Streams::Piped(stdout, stderr), None))
        }
        crate::Stdio::Inherit { stdin } => {
            command.stdout(Stdio::inherit()).stderr(Stdio::inherit());
            let console = if stdin {
                let copy = std::io::stdin().as_fd().try_clone_to_owned();
                Some(copy.map_err(|error| Error::process("duplicate stdin", error))?)
            } else {
                None
            };
            Ok((Streams::Inherited, console))
        }
        crate::Stdio::Tty { stdin } => {
            command.stdout(Stdio::null()).stderr(Stdio::null());
            let (ours, theirs) = UnixStream::pair()
                .map_err(|error| Error::process("create the console socket", error))?;
            let streams = Streams::Terminal {
                socket: ours.into(),
                stdin,
            };
            Ok((streams, Some(theirs.into())))
        }
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    pipe_with(PipeFlags::CLOEXEC).map_err(|error| Error::process("create a pipe", error.into()))
}

impl Builtin {
    /// Starts the init with `config`, streams its output and waits for it.
    fn launch(
        &self,
        config: &InitConfig,
        stdio: crate::Stdio,
        on_output: &mut dyn FnMut(OutputStream, &[u8]),
        cancel: &CancelFlag,
    ) -> Result<RunOutcome> {
        let (status, status_write) = pipe()?;
        let mut command = Command::new(&self.init_exe);
        command
            .arg(crate::INIT_ARG)
            .env_clear()
            .stdin(Stdio::piped());
        let (streams, console) = streams(&mut command, stdio)?;
        sys::prepare_child(&mut command, Some(&status_write), console.as_ref());
        let spawned = command.spawn();
        // The parent must not hold the write ends, or the pipes never close.
        drop(command);
        drop(status_write);
        drop(console);
        let mut child = spawned.map_err(|error| {
            Error::process(format!("start the sandbox init {:?}", self.init_exe), error)
        })?;

        let mut stdin = child.stdin.take();
        let line = serde_json::to_vec(config).map_err(|source| Error::Protocol { source })?;
        if let Some(pipe) = stdin.as_mut() {
            // An init that died at once shows up as a missing report below.
            let _ = pipe.write_all(&line).and_then(|()| pipe.write_all(b"\n"));
        }
        let mut supervisor = InitSupervisor {
            init_pid: child.id(),
            stdin,
            mappings: config.user_namespace.then(IdMappings::for_current_user),
            pid1: None,
            report: None,
            killed: false,
        };
        let pumped = match streams {
            Streams::Piped(stdout, stderr) => {
                let pipes = Pipes {
                    stdout: Some(stdout),
                    stderr: Some(stderr),
                    status: Some(status),
                };
                pump(pipes, on_output, cancel, &mut supervisor)
            }
            Streams::Inherited => {
                let pipes = Pipes {
                    stdout: None,
                    stderr: None,
                    status: Some(status),
                };
                pump(pipes, on_output, cancel, &mut supervisor)
            }
            Streams::Terminal { socket, stdin } => {
                terminal::relay(socket, status, stdin, on_output, cancel, &mut supervisor)
            }
        };
        if pumped.is_err() {
            supervisor.kill();
        }
        let waited = wait(&mut child);
        let cancelled = pumped?;
        let exit = waited?;
        if cancelled {
            return Err(Error::Cancelled);
        }
        match supervisor.report {
            Some(Status::Exited { code, signal }) => Ok(RunOutcome { code, signal }),
            Some(Status::Failed { message }) => Err(Error::Setup { message }),
            Some(Status::NotFound { name }) => Err(Error::ExecutableNotFound { name }),
            _ => Err(Error::Setup {
                message: format!("the sandbox init ended without a report ({exit})"),
            }),
        }
    }
}

fn wait(child: &mut Child) -> Result<std::process::ExitStatus> {
    child
        .wait()
        .map_err(|error| Error::process("wait for the sandbox init", error))
}

/// Follows the init's status messages; kills the namespace on cancel.
struct InitSupervisor {
    init_pid: u32,
    stdin: Option<ChildStdin>,
    mappings: Option<IdMappings>,
    pid1: Option<i32>,
    report: Option<Status>,
    killed: bool,
}

impl Supervisor for InitSupervisor {
    fn status_line(&mut self, line: &[u8]) -> Result<()> {
        let status: Status =
            serde_json::from_slice(line).map_err(|source| Error::Protocol { source })?;
        match status {
            Status::Unshared => {
                if let Some(mappings) = &self.mappings {
                    mappings.apply(self.init_pid)?;
                }
                // Closing stdin lets the init go on.
                self.stdin = None;
            }
            Status::Pid1 { pid } => self.pid1 = Some(pid),
            report => self.report = Some(report),
        }
        Ok(())
    }

    fn kill(&mut self) {
        if std::mem::replace(&mut self.killed, true) {
            return;
        }
        // Killing PID 1 of the namespace kills every process in it; the
        // first stage dies with it (or takes it along by its death signal).
        let pids = [self.pid1, i32::try_from(self.init_pid).ok()];
        for pid in pids.into_iter().flatten().filter_map(Pid::from_raw) {
            let _ = kill_process(pid, Signal::KILL);
        }
    }
}
