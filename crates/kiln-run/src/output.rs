//! Streaming a run's stdout and stderr (and the builtin init's status pipe)
//! to the caller as chunks arrive, while watching the cancel flag. With
//! inherited streams only the status pipe is watched.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};

use crate::{CancelFlag, Error, OutputStream, Result};

/// How often the cancel flag is looked at while no output arrives.
const POLL_INTERVAL: Timespec = Timespec {
    tv_sec: 0,
    tv_nsec: 50_000_000,
};

/// How long to keep draining after a cancel before giving up on the pipes.
const DRAIN_AFTER_CANCEL: Duration = Duration::from_secs(5);

/// The side of a run that reacts to status lines and kills on cancel.
pub(crate) trait Supervisor {
    /// Handles one complete line from the status pipe.
    fn status_line(&mut self, line: &[u8]) -> Result<()>;
    /// Kills the whole process tree of the run. Called again on every round
    /// until the pipes close; implementations decide whether to repeat.
    fn kill(&mut self);
}

/// The pipes of one run.
pub(crate) struct Pipes {
    /// Read end of the process's stdout (none when it is inherited).
    pub stdout: Option<OwnedFd>,
    /// Read end of the process's stderr (none when it is inherited).
    pub stderr: Option<OwnedFd>,
    /// Read end of the init's status pipe (builtin sandbox only).
    pub status: Option<OwnedFd>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Output(OutputStream),
    Status,
}

/// Reads all pipes until every one is closed, passing output to `on_output`
/// and status lines to `supervisor`. When `cancel` becomes true, calls
/// [`Supervisor::kill`] and keeps draining (and calling it) until the pipes
/// close, for at most a few seconds.
/// Returns whether the run was cancelled.
pub(crate) fn pump(
    pipes: Pipes,
    on_output: &mut dyn FnMut(OutputStream, &[u8]),
    cancel: &CancelFlag,
    supervisor: &mut dyn Supervisor,
) -> Result<bool> {
    let mut open: Vec<(File, Source)> = [
        (pipes.stdout, Source::Output(OutputStream::Stdout)),
        (pipes.stderr, Source::Output(OutputStream::Stderr)),
        (pipes.status, Source::Status),
    ]
    .into_iter()
    .filter_map(|(fd, source)| Some((File::from(fd?), source)))
    .collect();
    let mut status_lines = StatusLines::default();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut cancelled_at: Option<Instant> = None;
    while !open.is_empty() {
        match cancelled_at {
            None if cancel.load(Ordering::SeqCst) => {
                supervisor.kill();
                cancelled_at = Some(Instant::now());
            }
            Some(at) if at.elapsed() > DRAIN_AFTER_CANCEL => break,
            Some(_) => supervisor.kill(),
            None => {}
        }
        let ready: Vec<usize> = {
            let mut poll_fds: Vec<PollFd<'_>> = open
                .iter()
                .map(|(file, _)| PollFd::new(file, PollFlags::IN))
                .collect();
            match poll(&mut poll_fds, Some(&POLL_INTERVAL)) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(error) => return Err(Error::process("poll the output pipes", error.into())),
            }
            poll_fds
                .iter()
                .enumerate()
                .filter(|(_, poll_fd)| !poll_fd.revents().is_empty())
                .map(|(index, _)| index)
                .collect()
        };
        for index in ready.into_iter().rev() {
            let (file, source) = &mut open[index];
            let count = match file.read(&mut chunk) {
                Ok(count) => count,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => return Err(Error::process("read the output pipes", error)),
            };
            let source = *source;
            if count == 0 {
                open.remove(index);
                continue;
            }
            match source {
                Source::Output(stream) => on_output(stream, &chunk[..count]),
                Source::Status => status_lines.feed(&chunk[..count], supervisor)?,
            }
        }
    }
    Ok(cancelled_at.is_some())
}

/// Splits the status pipe's bytes into lines for a [`Supervisor`].
#[derive(Default)]
pub(crate) struct StatusLines {
    buffer: Vec<u8>,
}

impl StatusLines {
    /// Adds `chunk` and passes every line it completes to `supervisor`.
    pub(crate) fn feed(&mut self, chunk: &[u8], supervisor: &mut dyn Supervisor) -> Result<()> {
        self.buffer.extend_from_slice(chunk);
        while let Some(end) = self.buffer.iter().position(|&byte| byte == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            supervisor.status_line(&line[..end])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[derive(Default)]
    struct Recorder {
        lines: Vec<String>,
        kills: usize,
    }

    impl Supervisor for Recorder {
        fn status_line(&mut self, line: &[u8]) -> Result<()> {
            self.lines.push(String::from_utf8_lossy(line).into_owned());
            Ok(())
        }
        fn kill(&mut self) {
            self.kills += 1;
        }
    }

    #[test]
    fn streams_output_and_splits_status_lines() {
        let (out_read, out_write) = rustix::pipe::pipe().unwrap();
        let (err_read, err_write) = rustix::pipe::pipe().unwrap();
        let (status_read, status_write) = rustix::pipe::pipe().unwrap();
        let writer = std::thread::spawn(move || {
            let mut out = File::from(out_write);
            let mut err = File::from(err_write);
            let mut status = File::from(status_write);
            out.write_all(b"hello ").unwrap();
            status.write_all(b"one\ntw").unwrap();
            err.write_all(b"oops").unwrap();
            status.write_all(b"o\n").unwrap();
            out.write_all(b"world").unwrap();
        });
        let pipes = Pipes {
            stdout: Some(out_read),
            stderr: Some(err_read),
            status: Some(status_read),
        };
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let mut recorder = Recorder::default();
        let cancel: CancelFlag = Arc::new(AtomicBool::new(false));
        let cancelled = pump(
            pipes,
            &mut |stream, bytes| match stream {
                OutputStream::Stdout => stdout.extend_from_slice(bytes),
                OutputStream::Stderr => stderr.extend_from_slice(bytes),
            },
            &cancel,
            &mut recorder,
        )
        .unwrap();
        writer.join().unwrap();
        assert!(!cancelled);
        assert_eq!(stdout, b"hello world");
        assert_eq!(stderr, b"oops");
        assert_eq!(recorder.lines, ["one", "two"]);
        assert_eq!(recorder.kills, 0);
    }

    #[test]
    fn cancel_calls_kill() {
        let (out_read, out_write) = rustix::pipe::pipe().unwrap();
        let (err_read, err_write) = rustix::pipe::pipe().unwrap();
        let cancel: CancelFlag = Arc::new(AtomicBool::new(true));
        struct Closer(Option<(OwnedFd, OwnedFd)>, usize);
        impl Supervisor for Closer {
            fn status_line(&mut self, _: &[u8]) -> Result<()> {
                Ok(())
            }
            fn kill(&mut self) {
                self.0 = None;
                self.1 += 1;
            }
        }
        let mut closer = Closer(Some((out_write, err_write)), 0);
        let pipes = Pipes {
            stdout: Some(out_read),
            stderr: Some(err_read),
            status: None,
        };
        let cancelled = pump(pipes, &mut |_, _| {}, &cancel, &mut closer).unwrap();
        assert!(cancelled);
        assert!(closer.1 >= 1);
    }
}
