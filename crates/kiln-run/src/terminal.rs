//! The caller's side of a `Stdio::Tty` run: receiving the terminal's master
//! from the sandbox, copying the caller's stdin to it and its output to
//! `on_output`, keeping the window size in step with the caller's terminal,
//! and holding that terminal in raw mode for as long as the run lasts.

use std::fs::File;
use std::io::{ErrorKind, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use rustix::termios::{tcgetattr, tcgetwinsize, tcsetattr, tcsetwinsize, OptionalActions};

use crate::output::{StatusLines, Supervisor};
use crate::{CancelFlag, Error, OutputStream, Result};

/// How often the cancel flag and the window size are looked at.
const POLL_INTERVAL: Timespec = Timespec {
    tv_sec: 0,
    tv_nsec: 50_000_000,
};

/// How long the terminal's output is drained after the init has gone.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

/// How long to keep going after a cancel before giving up.
const DRAIN_AFTER_CANCEL: Duration = Duration::from_secs(5);

/// The window size used when the caller has no terminal.
pub(crate) const DEFAULT_SIZE: (u16, u16) = (24, 80);

/// The caller's terminal window size (rows, columns): of stdin, else of
/// stdout; `None` when neither is a terminal.
pub(crate) fn caller_size() -> Option<(u16, u16)> {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let size = [stdin.as_fd(), stdout.as_fd()]
        .into_iter()
        .find_map(|fd| tcgetwinsize(fd).ok())
        .filter(|size| size.ws_row > 0 && size.ws_col > 0)
        .map(|size| (size.ws_row, size.ws_col));
    size
}

/// Receives one fd sent with `SCM_RIGHTS` over `socket`; `None` at EOF.
pub(crate) fn receive_fd(socket: impl AsFd) -> rustix::io::Result<Option<OwnedFd>> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0u8; 1];
    let mut payload = [IoSliceMut::new(&mut byte)];
    recvmsg(socket, &mut payload, &mut control, RecvFlags::CMSG_CLOEXEC)?;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = message {
            if let Some(fd) = fds.next() {
                return Ok(Some(fd));
            }
        }
    }
    Ok(None)
}

/// The caller's terminal in raw mode; the old settings come back on drop.
struct RawMode<'a> {
    fd: BorrowedFd<'a>,
    saved: rustix::termios::Termios,
}

impl<'a> RawMode<'a> {
    /// Puts `fd` in raw mode when it is a terminal.
    fn enter(fd: BorrowedFd<'a>) -> Option<Self> {
        let saved = tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        tcsetattr(fd, OptionalActions::Now, &raw).ok()?;
        Some(RawMode { fd, saved })
    }
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        let _ = tcsetattr(self.fd, OptionalActions::Now, &self.saved);
    }
}

/// What the relay still reads from.
struct Relay {
    status: Option<File>,
    socket: Option<OwnedFd>,
    master: Option<File>,
    /// Caller input read before the master arrived.
    pending: Vec<u8>,
    size: Option<(u16, u16)>,
}

impl Relay {
    /// Copies the caller's window size to the master when it changed.
    fn sync_size(&mut self) {
        let Some(master) = &self.master else {
            return;
        };
        let current = caller_size();
        if current.is_none() || current == self.size {
            return;
        }
        self.size = current;
        if let Some((rows, cols)) = current {
            let size = rustix::termios::Winsize {
                ws_row: rows,
                ws_col: cols,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            let _ = tcsetwinsize(master, size);
        }
    }

    /// Writes caller input to the master, or keeps it until the master comes.
    fn input(&mut self, bytes: &[u8]) {
        match &mut self.master {
            // A terminal whose command has gone just drops the input.
            Some(master) => {
                let _ = master.write_all(bytes);
            }
            None => self.pending.extend_from_slice(bytes),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Status,
    Socket,
    Master,
    Stdin,
}

/// Runs the caller's side of a terminal run until the init has gone and the
/// terminal's output is drained: `socket` brings the master, `status`
/// carries the init's status lines, and with `forward_stdin` the caller's
/// stdin (raw while this runs, when a terminal) goes to the terminal.
/// Returns whether the run was cancelled.
pub(crate) fn relay(
    socket: OwnedFd,
    status: OwnedFd,
    forward_stdin: bool,
    on_output: &mut dyn FnMut(OutputStream, &[u8]),
    cancel: &CancelFlag,
    supervisor: &mut dyn Supervisor,
) -> Result<bool> {
    let stdin_handle = std::io::stdin();
    let mut stdin = forward_stdin.then(|| stdin_handle.as_fd());
    let _raw = stdin.and_then(RawMode::enter);
    let mut relay = Relay {
        status: Some(File::from(status)),
        socket: Some(socket),
        master: None,
        pending: Vec::new(),
        size: None,
    };
    let mut status_lines = StatusLines::default();
    let mut chunk = vec![0u8; 16 * 1024];
    let mut cancelled_at: Option<Instant> = None;
    let mut exited_at: Option<Instant> = None;
    loop {
        if relay.status.is_none() && relay.socket.is_none() && relay.master.is_none() {
            break;
        }
        match cancelled_at {
            None if cancel.load(Ordering::SeqCst) => {
                supervisor.kill();
                cancelled_at = Some(Instant::now());
            }
            Some(at) if at.elapsed() > DRAIN_AFTER_CANCEL => break,
            Some(_) => supervisor.kill(),
            None => {}
        }
        if relay.status.is_none() {
            let at = *exited_at.get_or_insert_with(Instant::now);
            if at.elapsed() > DRAIN_AFTER_EXIT {
                break;
            }
        }
        relay.sync_size();
        let ready: Vec<Source> = {
            let mut sources = Vec::new();
            let mut poll_fds = Vec::new();
            let candidates = [
                (relay.status.as_ref().map(AsFd::as_fd), Source::Status),
                (relay.socket.as_ref().map(AsFd::as_fd), Source::Socket),
                (relay.master.as_ref().map(AsFd::as_fd), Source::Master),
                (stdin, Source::Stdin),
            ];
            for (fd, source) in candidates {
                if let Some(fd) = fd {
                    poll_fds.push(PollFd::from_borrowed_fd(fd, PollFlags::IN));
                    sources.push(source);
                }
            }
            match poll(&mut poll_fds, Some(&POLL_INTERVAL)) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(error) => return Err(Error::process("poll the terminal", error.into())),
            }
            poll_fds
                .iter()
                .zip(sources)
                .filter(|(poll_fd, _)| !poll_fd.revents().is_empty())
                .map(|(_, source)| source)
                .collect()
        };
        for source in ready {
            match source {
                Source::Status => {
                    let Some(file) = relay.status.as_mut() else {
                        continue;
                    };
                    match read_some(file, &mut chunk)? {
                        0 => relay.status = None,
                        count => status_lines.feed(&chunk[..count], supervisor)?,
                    }
                }
                Source::Socket => {
                    let Some(socket) = relay.socket.take() else {
                        continue;
                    };
                    let received = receive_fd(&socket).map_err(|error| {
                        Error::process("receive the terminal from the sandbox", error.into())
                    })?;
                    if let Some(master) = received {
                        let mut master = File::from(master);
                        if !relay.pending.is_empty() {
                            let _ = master.write_all(&relay.pending);
                            relay.pending.clear();
                        }
                        relay.master = Some(master);
                        relay.sync_size();
                    }
                }
                Source::Master => {
                    let Some(master) = relay.master.as_mut() else {
                        continue;
                    };
                    match master.read(&mut chunk) {
                        Ok(0) => relay.master = None,
                        Ok(count) => on_output(OutputStream::Stdout, &chunk[..count]),
                        Err(error) if error.kind() == ErrorKind::Interrupted => {}
                        // EIO: every copy of the slave is closed.
                        Err(_) => relay.master = None,
                    }
                }
                Source::Stdin => {
                    let Some(fd) = stdin else {
                        continue;
                    };
                    match rustix::io::read(fd, &mut chunk) {
                        Ok(0) => stdin = None,
                        Ok(count) => relay.input(&chunk[..count]),
                        Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
                        Err(_) => stdin = None,
                    }
                }
            }
        }
    }
    Ok(cancelled_at.is_some())
}

/// One read, retried on EINTR.
fn read_some(file: &mut File, chunk: &mut [u8]) -> Result<usize> {
    loop {
        match file.read(chunk) {
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(Error::process("read the status pipe", error)),
            Ok(count) => return Ok(count),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::console::send_fd;
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[derive(Default)]
    struct Lines(Vec<String>);

    impl Supervisor for Lines {
        fn status_line(&mut self, line: &[u8]) -> Result<()> {
            self.0.push(String::from_utf8_lossy(line).into_owned());
            Ok(())
        }
        fn kill(&mut self) {}
    }

    #[test]
    fn relays_terminal_output_and_status_lines() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let (status_read, status_write) = rustix::pipe::pipe().unwrap();
        let flags = rustix::pty::OpenptFlags::RDWR | rustix::pty::OpenptFlags::NOCTTY;
        let master = rustix::pty::openpt(flags).unwrap();
        rustix::pty::grantpt(&master).unwrap();
        rustix::pty::unlockpt(&master).unwrap();
        let slave = rustix::pty::ioctl_tiocgptpeer(&master, flags).unwrap();
        let writer = std::thread::spawn(move || {
            send_fd(&theirs, &master).unwrap();
            drop(master);
            drop(theirs);
            let mut slave = File::from(slave);
            slave.write_all(b"hello\n").unwrap();
            drop(slave);
            let mut status = File::from(status_write);
            status.write_all(b"done\n").unwrap();
        });
        let mut output = Vec::new();
        let mut lines = Lines::default();
        let cancel: CancelFlag = Arc::new(AtomicBool::new(false));
        let cancelled = relay(
            ours.into(),
            status_read,
            false,
            &mut |stream, bytes| {
                assert_eq!(stream, OutputStream::Stdout);
                output.extend_from_slice(bytes);
            },
            &cancel,
            &mut lines,
        )
        .unwrap();
        writer.join().unwrap();
        assert!(!cancelled);
        // The terminal turns "\n" into "\r\n" (ONLCR).
        assert_eq!(String::from_utf8_lossy(&output), "hello\r\n");
        assert_eq!(lines.0, ["done"]);
    }
}
