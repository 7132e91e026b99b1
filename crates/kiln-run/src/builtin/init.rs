//! The sandbox init, in two stages of the re-executed binary.
//!
//! Stage 1 (`<exe> INIT_ARG`, started by the parent) reads the
//! [`InitConfig`], unshares the namespaces, waits for the parent to write the
//! id maps, and starts stage 2, which is PID 1 of the new PID namespace.
//! Stage 2 (`<exe> INIT_ARG pid1`) builds the mount tree, pivots, drops
//! privileges, starts the command, reaps every child until the command
//! exits, and reports the command's status.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

use rustix::process::{WaitOptions, WaitStatus};
use rustix::thread::{CapabilitySet, CapabilitySets, UnshareFlags};

use super::console;
use super::protocol::{Console, InitConfig, Status};
use super::rootfs;
use crate::defaults::capability_mask;
use crate::lookup::{lookup_executable, path_variable};
use crate::sys;

/// The second argument that selects stage 2.
pub(crate) const PID1_ARG: &str = "pid1";

/// Exit code when setup fails before the command runs.
const SETUP_FAILED: i32 = 125;

/// The sandbox init; see [`crate::init_main`].
pub(crate) fn main() -> ! {
    // First thing: own the status pipe and the console fd, and close every
    // other inherited fd.
    let Some(status) = sys::take_inherited_fd(sys::STATUS_FD) else {
        std::process::exit(SETUP_FAILED);
    };
    let console = sys::take_inherited_fd(sys::CONSOLE_FD);
    sys::close_fds_from(sys::CONSOLE_FD + 1);
    let mut status = File::from(status);
    let pid1 = std::env::args_os()
        .nth(2)
        .is_some_and(|arg| arg == PID1_ARG);
    let result = if pid1 {
        stage_pid1(&mut status, console)
    } else {
        stage_unshare(&mut status, console)
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(message) => {
            message.send(&mut status);
            std::process::exit(SETUP_FAILED)
        }
    }
}

fn fail(message: String) -> Status {
    Status::Failed { message }
}

/// Stage 1: unshare, wait for the id maps, run PID 1, pass on its status.
/// The console fd stays open for PID 1 to inherit.
fn stage_unshare(status: &mut File, console: Option<OwnedFd>) -> Result<i32, Status> {
    let mut stdin = BufReader::new(std::io::stdin().lock());
    let mut line = String::new();
    stdin
        .read_line(&mut line)
        .map_err(|error| fail(format!("failed to read the sandbox config: {error}")))?;
    let config: InitConfig = serde_json::from_str(&line)
        .map_err(|error| fail(format!("failed to decode the sandbox config: {error}")))?;
    let _console = console.filter(|_| config.console != Console::None);

    let mut flags =
        UnshareFlags::NEWNS | UnshareFlags::NEWPID | UnshareFlags::NEWUTS | UnshareFlags::NEWIPC;
    if config.new_network {
        flags |= UnshareFlags::NEWNET;
    }
    if config.user_namespace {
        flags |= UnshareFlags::NEWUSER;
    }
    sys::unshare(flags).map_err(|error| fail(format!("failed to create namespaces: {error}")))?;
    Status::Unshared.send(status);
    // The parent closes stdin once the id maps are written.
    let mut rest = Vec::new();
    stdin
        .read_to_end(&mut rest)
        .map_err(|error| fail(format!("failed to wait for the parent: {error}")))?;

    let mut command = Command::new("/proc/self/exe");
    command
        .arg(crate::INIT_ARG)
        .arg(PID1_ARG)
        .stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    sys::prepare_child(&mut command, None, None);
    let mut child = command
        .spawn()
        .map_err(|error| fail(format!("failed to start the sandbox PID 1: {error}")))?;
    let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    Status::Pid1 { pid }.send(status);
    if let Some(mut pipe) = child.stdin.take() {
        // A PID 1 that died early shows in its exit status below.
        let _ = pipe.write_all(line.as_bytes());
    }
    let exit = child
        .wait()
        .map_err(|error| fail(format!("failed to wait for the sandbox PID 1: {error}")))?;
    Ok(exit
        .code()
        .unwrap_or_else(|| 128 + exit.signal().unwrap_or(0)))
}

/// Stage 2, PID 1: set up, run the command, reap, report.
fn stage_pid1(status: &mut File, console: Option<OwnedFd>) -> Result<i32, Status> {
    // The command must not inherit the status pipe or the console fd.
    rustix::io::fcntl_setfd(&*status, rustix::io::FdFlags::CLOEXEC)
        .map_err(|error| fail(format!("failed to protect the status pipe: {error}")))?;
    if let Some(console) = &console {
        rustix::io::fcntl_setfd(console, rustix::io::FdFlags::CLOEXEC)
            .map_err(|error| fail(format!("failed to protect the console fd: {error}")))?;
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|error| fail(format!("failed to read the sandbox config: {error}")))?;
    let config: InitConfig = serde_json::from_str(&text)
        .map_err(|error| fail(format!("failed to decode the sandbox config: {error}")))?;

    rootfs::set_up(&config).map_err(fail)?;
    let streams = streams(&config, console)?;
    let name = config.args.first().cloned().unwrap_or_default();
    let Some(program) = lookup_executable("/".as_ref(), &name, path_variable(&config.env)) else {
        return Err(Status::NotFound { name });
    };
    match std::fs::metadata(&config.cwd) {
        Ok(metadata) if metadata.is_dir() => {}
        _ => {
            return Err(fail(format!(
                "working directory {:?} does not exist",
                config.cwd
            )))
        }
    }
    drop_privileges(&config).map_err(fail)?;
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));

    let mut command = Command::new(&program);
    command
        .arg0(&name)
        .args(&config.args[1..])
        .env_clear()
        .current_dir(&config.cwd);
    streams.apply(&mut command);
    for entry in &config.env {
        match entry.split_once('=') {
            Some((key, value)) => command.env(key, value),
            None => command.env(entry, ""),
        };
    }
    let child = command
        .spawn()
        .map_err(|error| fail(format!("exec {program:?} failed: {error}")))?;
    // PID 1 keeps no copy of the terminal: the parent sees the end of its
    // output when the command's last copy closes.
    drop(command);
    let (code, signal) = reap_until(child.id());
    Status::Exited { code, signal }.send(status);
    Ok(code.unwrap_or_else(|| 128 + signal.unwrap_or(0)))
}

/// The command's standard streams.
enum Streams {
    /// stdin from `/dev/null` or the console fd; the init's stdout, stderr.
    Plain(Option<OwnedFd>),
    /// A terminal slave for all three, which becomes the controlling
    /// terminal of a new session.
    Terminal([OwnedFd; 3]),
}

impl Streams {
    fn apply(self, command: &mut Command) {
        match self {
            Streams::Plain(stdin) => {
                command
                    .stdin(stdin.map_or_else(Stdio::null, Stdio::from))
                    .stdout(Stdio::inherit())
                    .stderr(Stdio::inherit());
            }
            Streams::Terminal([stdin, stdout, stderr]) => {
                command
                    .stdin(Stdio::from(stdin))
                    .stdout(Stdio::from(stdout))
                    .stderr(Stdio::from(stderr));
                sys::make_terminal_session(command);
            }
        }
    }
}

/// Sets up the streams `config.console` asks for (after the pivot, so a
/// terminal comes from the sandbox's devpts).
fn streams(config: &InitConfig, console: Option<OwnedFd>) -> Result<Streams, Status> {
    match (config.console, console) {
        (Console::None, _) => Ok(Streams::Plain(None)),
        (Console::Stdin, Some(stdin)) => Ok(Streams::Plain(Some(stdin))),
        (Console::Terminal { rows, cols }, Some(socket)) => {
            let owner = (config.uid, config.gid);
            let slave = console::open_terminal(&socket, rows, cols, owner).map_err(fail)?;
            let copy = || {
                slave
                    .try_clone()
                    .map_err(|error| fail(format!("failed to duplicate the terminal: {error}")))
            };
            Ok(Streams::Terminal([copy()?, copy()?, slave]))
        }
        (_, None) => Err(fail("the console fd is missing".to_owned())),
    }
}

/// Waits for any child until `pid` has ended (reaping orphans on the way);
/// returns its exit code or signal.
fn reap_until(pid: u32) -> (Option<i32>, Option<i32>) {
    loop {
        match rustix::process::wait(WaitOptions::empty()) {
            Ok(Some((reaped, wait_status))) => {
                if reaped.as_raw_nonzero().get().unsigned_abs() == pid {
                    return decode(wait_status);
                }
            }
            Ok(None) | Err(rustix::io::Errno::INTR) => {}
            Err(_) => return (None, None),
        }
    }
}

fn decode(status: WaitStatus) -> (Option<i32>, Option<i32>) {
    (status.exit_status(), status.terminating_signal())
}

/// Limits the bounding set to Docker's defaults, switches to the run's
/// user, and for uid 0 leaves only the default set effective.
fn drop_privileges(config: &InitConfig) -> Result<(), String> {
    let keep = capability_mask();
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
        .unwrap_or(40)
        .min(63);
    for number in 0..=last {
        let bit = 1u64 << number;
        if keep & bit != 0 {
            continue;
        }
        match rustix::thread::remove_capability_from_bounding_set(CapabilitySet::from_bits_retain(
            bit,
        )) {
            Ok(()) | Err(rustix::io::Errno::INVAL) => {}
            Err(error) => return Err(format!("failed to drop capability {number}: {error}")),
        }
    }

    let groups: Vec<rustix::process::Gid> = config
        .additional_gids
        .iter()
        .map(|&gid| rustix::process::Gid::from_raw(gid))
        .collect();
    match rustix::thread::set_thread_groups(&groups) {
        Ok(()) => {}
        // A user namespace without newgidmap denies setgroups.
        Err(rustix::io::Errno::PERM) if groups.is_empty() && config.user_namespace => {}
        Err(error) => return Err(format!("failed to set groups {groups:?}: {error}")),
    }
    rustix::thread::set_thread_gid(rustix::process::Gid::from_raw(config.gid))
        .map_err(|error| format!("failed to set gid {}: {error}", config.gid))?;
    rustix::thread::set_thread_uid(rustix::process::Uid::from_raw(config.uid))
        .map_err(|error| format!("failed to set uid {}: {error}", config.uid))?;

    if config.uid == 0 {
        let current = rustix::thread::capabilities(None)
            .map_err(|error| format!("failed to read capabilities: {error}"))?;
        let allowed = current.permitted & CapabilitySet::from_bits_retain(keep);
        rustix::thread::set_capabilities(
            None,
            CapabilitySets {
                effective: allowed,
                permitted: allowed,
                inheritable: CapabilitySet::empty(),
            },
        )
        .map_err(|error| format!("failed to set capabilities: {error}"))?;
    }
    Ok(())
}
