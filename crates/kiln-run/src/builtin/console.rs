//! Inside the sandbox (PID 1, after the pivot): the terminal of a
//! `Stdio::Tty` run, allocated from the sandbox's own devpts (so `tty` in the
//! container names `/dev/pts/N`), with its master sent back to the parent
//! over the console socket, as runc's `--console-socket` does.

use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};

use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
use rustix::pty::{grantpt, ioctl_tiocgptpeer, openpt, ptsname, unlockpt, OpenptFlags};
use rustix::termios::{tcsetwinsize, Winsize};

/// The one byte sent with the master fd (a message needs a payload).
pub(crate) const MASTER_MESSAGE: &[u8] = b"M";

/// Opens a new terminal pair in `/dev/ptmx`, gives the slave the window
/// size and the run's owner, sends the master over `socket`, and returns
/// the slave (close-on-exec).
pub(crate) fn open_terminal(
    socket: &OwnedFd,
    rows: u16,
    cols: u16,
    owner: (u32, u32),
) -> Result<OwnedFd, String> {
    let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
    let master = openpt(flags).map_err(|error| format!("failed to open /dev/ptmx: {error}"))?;
    grantpt(&master).map_err(|error| format!("failed to grant the terminal: {error}"))?;
    unlockpt(&master).map_err(|error| format!("failed to unlock the terminal: {error}"))?;
    let slave = match ioctl_tiocgptpeer(&master, flags) {
        Ok(slave) => slave,
        Err(_) => open_by_name(&master)?,
    };
    let size = Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    tcsetwinsize(&slave, size)
        .map_err(|error| format!("failed to set the terminal's window size: {error}"))?;
    // Docker hands the terminal to the run's user; a user namespace without
    // that id mapped keeps root's, which the open fd does not need.
    let _ = rustix::fs::fchown(
        &slave,
        Some(rustix::fs::Uid::from_raw(owner.0)),
        Some(rustix::fs::Gid::from_raw(owner.1)),
    );
    send_fd(socket, &master)
        .map_err(|error| format!("failed to send the terminal to kiln: {error}"))?;
    Ok(slave)
}

/// Opens the slave by its name, for kernels without `TIOCGPTPEER`.
fn open_by_name(master: &OwnedFd) -> Result<OwnedFd, String> {
    let name = ptsname(master, Vec::new())
        .map_err(|error| format!("failed to name the terminal: {error}"))?;
    rustix::fs::open(
        name.as_c_str(),
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|error| format!("failed to open the terminal {name:?}: {error}"))
}

/// Sends `fd` over the unix socket `socket` with [`MASTER_MESSAGE`].
pub(crate) fn send_fd(socket: impl AsFd, fd: impl AsFd) -> rustix::io::Result<()> {
    let fds = [fd.as_fd()];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(rustix::io::Errno::NOSPC);
    }
    let payload = [IoSlice::new(MASTER_MESSAGE)];
    sendmsg(socket, &payload, &mut control, SendFlags::empty())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terminal::receive_fd;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    #[test]
    fn a_sent_fd_arrives_as_the_same_file() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let (read, write) = rustix::pipe::pipe().unwrap();
        send_fd(&theirs, &write).unwrap();
        drop(write);
        let received = receive_fd(&ours).unwrap().expect("an fd");
        std::fs::File::from(received).write_all(b"through").unwrap();
        let mut text = String::new();
        std::fs::File::from(read).read_to_string(&mut text).unwrap();
        assert_eq!(text, "through");
        drop(theirs);
        assert!(receive_fd(&ours).unwrap().is_none(), "EOF gives no fd");
    }
}
