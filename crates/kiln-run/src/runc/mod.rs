//! The runc sandbox: an OCI runtime bundle run with `runc run`.

mod config;

pub use config::runc_config;

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::idmap::IdMappings;
use crate::lookup::{lookup_executable, path_variable};
use crate::mountpoint::{run_targets, validate, MountPoints};
use crate::output::{pump, Pipes, Supervisor};
use crate::{CancelFlag, Error, OutputStream, Result, RunOutcome, RunSpec, Sandbox};

/// How often a cancelled run is killed again while it has not ended (runc
/// may still be creating the container when the first kill comes).
const KILL_RETRY: Duration = Duration::from_millis(300);

/// How often a run with inherited streams is checked on.
const WATCH_INTERVAL: Duration = Duration::from_millis(50);

/// How long a cancelled run with inherited streams may take to end before
/// runc itself is killed.
const DRAIN_AFTER_CANCEL: Duration = Duration::from_secs(5);

/// The sandbox that hands each run to an OCI runtime (runc or compatible).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runc {
    /// The runtime binary: `runc` (looked up in `PATH`) or a path.
    pub runtime: PathBuf,
    /// The runtime's state directory (`runc --root`), owned by kiln.
    pub state_dir: PathBuf,
    /// Scratch directory for bundles; each run gets its own subdirectory
    /// with `config.json` and the generated `/etc` files, removed after it.
    pub bundle_dir: PathBuf,
}

impl Sandbox for Runc {
    fn run(
        &self,
        spec: &RunSpec,
        on_output: &mut dyn FnMut(OutputStream, &[u8]),
        cancel: &CancelFlag,
    ) -> Result<RunOutcome> {
        validate(spec)?;
        if let crate::Stdio::Tty { .. } = spec.stdio {
            return Err(Error::InvalidSpec {
                reason: "a terminal is not supported with the runc sandbox (use the builtin one)"
                    .to_owned(),
            });
        }
        let rootfs = spec
            .rootfs
            .canonicalize()
            .map_err(|error| Error::io("resolve the rootfs", &spec.rootfs, error))?;
        // runc creates missing mount points itself; record which are missing.
        let mut points = MountPoints::plan(&rootfs, &run_targets(spec))?;
        for dir in [&self.state_dir, &self.bundle_dir] {
            fs::create_dir_all(dir).map_err(|error| Error::io("create", dir, error))?;
        }
        let bundle = tempfile::Builder::new()
            .prefix("kiln-")
            .tempdir_in(&self.bundle_dir)
            .map_err(|error| Error::io("create a bundle in", &self.bundle_dir, error))?;
        let id = bundle
            .path()
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "kiln".to_owned());
        check_executable(spec, &rootfs)?;
        let mut spec = spec.clone();
        spec.rootfs = rootfs;
        write_bundle(&spec, bundle.path())?;

        let outcome = self.run_bundle(&spec, bundle.path(), &id, on_output, cancel);
        let cleaned = points.cleanup();
        let outcome = outcome?;
        cleaned?;
        Ok(outcome)
    }
}

/// Looks `args[0]` up in the rootfs before starting runc, so that a missing
/// command gives the same error as the builtin sandbox instead of runc's
/// message on stderr. Skipped when a `PATH` directory lies under an extra
/// mount (the command may come from the mount).
fn check_executable(spec: &RunSpec, rootfs: &Path) -> Result<()> {
    let name = spec.args.first().map(String::as_str).unwrap_or_default();
    let path = path_variable(&spec.env);
    let under_mount = path.split(':').any(|dir| {
        spec.mounts
            .iter()
            .any(|mount| Path::new(dir).starts_with(&mount.target))
    });
    if under_mount || lookup_executable(rootfs, name, path).is_some() {
        return Ok(());
    }
    Err(Error::ExecutableNotFound {
        name: name.to_owned(),
    })
}

/// Writes `config.json` and the `/etc` files into `bundle`.
fn write_bundle(spec: &RunSpec, bundle: &Path) -> Result<()> {
    let etc_dir = bundle.join("etc");
    fs::create_dir(&etc_dir).map_err(|error| Error::io("create", &etc_dir, error))?;
    for (name, content) in [
        ("hosts", &spec.etc.hosts),
        ("resolv.conf", &spec.etc.resolv_conf),
        ("hostname", &spec.etc.hostname),
    ] {
        let path = etc_dir.join(name);
        fs::write(&path, content).map_err(|error| Error::io("write", &path, error))?;
    }
    let mappings = (!rustix::process::geteuid().is_root()).then(IdMappings::for_current_user);
    let config = config::config_for(spec, mappings.as_ref(), &etc_dir)?;
    let text =
        serde_json::to_vec_pretty(&config).map_err(|source| Error::RuntimeConfig { source })?;
    let path = bundle.join("config.json");
    fs::write(&path, text).map_err(|error| Error::io("write", &path, error))
}

impl Runc {
    /// `runtime --root state_dir <args>`.
    fn command(&self) -> Command {
        let mut command = Command::new(&self.runtime);
        command.arg("--root").arg(&self.state_dir);
        command
    }

    /// Runs the bundle to the end, streaming output; removes the container.
    fn run_bundle(
        &self,
        spec: &RunSpec,
        bundle: &Path,
        id: &str,
        on_output: &mut dyn FnMut(OutputStream, &[u8]),
        cancel: &CancelFlag,
    ) -> Result<RunOutcome> {
        let log = bundle.join("runc.log");
        let mut command = self.command();
        command
            .arg("--log")
            .arg(&log)
            .arg("--log-format")
            .arg("json")
            .arg("run")
            .arg("--bundle")
            .arg(bundle)
            .arg(id);
        let inherited = match spec.stdio {
            crate::Stdio::Inherit { stdin } => {
                let input = if stdin {
                    Stdio::inherit()
                } else {
                    Stdio::null()
                };
                command
                    .stdin(input)
                    .stdout(Stdio::inherit())
                    .stderr(Stdio::inherit());
                true
            }
            crate::Stdio::Piped | crate::Stdio::Tty { .. } => {
                command
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                false
            }
        };
        let mut child = command.spawn().map_err(|error| {
            Error::process(format!("start the runtime {:?}", self.runtime), error)
        })?;
        let pipes = Pipes {
            stdout: child.stdout.take().map(OwnedFd::from),
            stderr: child.stderr.take().map(OwnedFd::from),
            status: None,
        };
        if !inherited && (pipes.stdout.is_none() || pipes.stderr.is_none()) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Setup {
                message: "the runtime's output pipes are missing".to_owned(),
            });
        }
        let mut supervisor = RuncSupervisor {
            runc: self,
            id,
            child: &mut child,
            last_kill: None,
        };
        let pumped = if inherited {
            supervisor.watch(cancel)
        } else {
            pump(pipes, on_output, cancel, &mut supervisor)
        };
        if pumped.is_err() {
            supervisor.kill();
        }
        let waited = child
            .wait()
            .map_err(|error| Error::process("wait for the runtime", error));
        self.delete(id);
        let cancelled = pumped?;
        let exit = waited?;
        if cancelled {
            return Err(Error::Cancelled);
        }
        if !exit.success() {
            if let Some(message) = runtime_error(&log) {
                if message.contains("executable file not found") {
                    let name = spec.args.first().cloned().unwrap_or_default();
                    return Err(Error::ExecutableNotFound { name });
                }
                return Err(Error::Setup { message });
            }
        }
        Ok(RunOutcome {
            code: exit.code(),
            signal: exit.signal(),
        })
    }

    /// `runtime delete -f id`, best effort (the container may be gone).
    fn delete(&self, id: &str) {
        let _ = self
            .command()
            .args(["delete", "-f", id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The last error-level message of runc's JSON log, if any.
fn runtime_error(log: &Path) -> Option<String> {
    let text = fs::read_to_string(log).ok()?;
    parse_runtime_error(&text)
}

/// The last `"level":"error"` message of a runc JSON log.
pub(crate) fn parse_runtime_error(text: &str) -> Option<String> {
    text.lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|entry| entry["level"] == "error" || entry["level"] == "fatal")
        .filter_map(|entry| entry["msg"].as_str().map(str::to_owned))
        .next()
}

/// Kills the container on cancel (retrying while runc still creates it).
struct RuncSupervisor<'a> {
    runc: &'a Runc,
    id: &'a str,
    child: &'a mut Child,
    last_kill: Option<Instant>,
}

impl RuncSupervisor<'_> {
    /// Waits for runc to end while watching `cancel` (the streams are the
    /// caller's own, so there is nothing to read). Returns whether the run
    /// was cancelled.
    fn watch(&mut self, cancel: &CancelFlag) -> Result<bool> {
        let mut cancelled_at: Option<Instant> = None;
        loop {
            let ended = self
                .child
                .try_wait()
                .map_err(|error| Error::process("wait for the runtime", error))?;
            if ended.is_some() {
                return Ok(cancelled_at.is_some());
            }
            match cancelled_at {
                None if cancel.load(Ordering::SeqCst) => cancelled_at = Some(Instant::now()),
                Some(at) if at.elapsed() > DRAIN_AFTER_CANCEL => {
                    let _ = self.child.kill();
                }
                _ => {}
            }
            if cancelled_at.is_some() {
                self.kill();
            }
            std::thread::sleep(WATCH_INTERVAL);
        }
    }
}

impl Supervisor for RuncSupervisor<'_> {
    fn status_line(&mut self, _line: &[u8]) -> Result<()> {
        Ok(())
    }

    fn kill(&mut self) {
        if self
            .last_kill
            .is_some_and(|last| last.elapsed() < KILL_RETRY)
        {
            return;
        }
        self.last_kill = Some(Instant::now());
        let killed = self
            .runc
            .command()
            .args(["kill", self.id, "KILL"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !killed.is_ok_and(|status| status.success()) {
            // Not created yet or already gone: if runc itself is still
            // running, the next round kills again.
            if let Ok(Some(_)) = self.child.try_wait() {
                self.last_kill = Some(Instant::now());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_last_error_in_a_runc_log() {
        let log = concat!(
            r#"{"level":"warning","msg":"cgroup: ignored","time":"x"}"#,
            "\n",
            r#"{"level":"error","msg":"first","time":"x"}"#,
            "\n",
            "not json\n",
            r#"{"level":"error","msg":"runc run failed: exec: \"nope\": executable file not found in $PATH","time":"x"}"#,
            "\n",
        );
        let message = parse_runtime_error(log).unwrap();
        assert!(message.contains("executable file not found"), "{message}");
        assert_eq!(parse_runtime_error(r#"{"level":"info","msg":"ok"}"#), None);
    }
}
