//! Every `unsafe` operation of the crate, each behind a small safe function
//! with the reasoning beside it: the `pre_exec` hooks of the processes the
//! builtin sandbox starts (fd placement, a terminal session), taking
//! ownership of inherited fds, closing the others, `unshare` and the
//! loopback `ioctl`.
#![allow(unsafe_code)]

use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use rustix::io::fcntl_getfd;
use rustix::process::Signal;
use rustix::thread::UnshareFlags;

/// The fd number on which the sandbox init finds its status pipe.
pub(crate) const STATUS_FD: RawFd = 3;

/// The fd number on which the sandbox init finds its console fd: the
/// caller's stdin (`Stdio::Inherit { stdin: true }`) or the socket on which
/// the terminal's master goes back to the parent (`Stdio::Tty`).
pub(crate) const CONSOLE_FD: RawFd = 4;

/// Where [`prepare_child`] parks fds before moving them to their targets,
/// above both targets so that no source is overwritten before it is moved.
const PARKING_FD: RawFd = 10;

/// Makes the child of `command` die with SIGKILL when the thread that
/// spawns it exits, and places `status` at [`STATUS_FD`] and `console` at
/// [`CONSOLE_FD`] (without close-on-exec) in the child, when given.
///
/// The caller must keep `status` and `console` open until `command` is
/// spawned.
pub(crate) fn prepare_child(
    command: &mut Command,
    status: Option<&OwnedFd>,
    console: Option<&OwnedFd>,
) {
    let moves = [
        (status.map(AsRawFd::as_raw_fd), STATUS_FD),
        (console.map(AsRawFd::as_raw_fd), CONSOLE_FD),
    ];
    let hook = move || -> std::io::Result<()> {
        rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
        // Park every source above the targets first: a source may sit on
        // the other one's target number.
        let mut parked: [Option<OwnedFd>; 2] = [None, None];
        for (slot, (source, _)) in parked.iter_mut().zip(moves) {
            if let Some(raw) = source {
                // SAFETY: `raw` is an fd the parent keeps open until `spawn`
                // returns, so it is open in this forked child too.
                let source = unsafe { BorrowedFd::borrow_raw(raw) };
                *slot = Some(rustix::io::fcntl_dupfd_cloexec(source, PARKING_FD)?);
            }
        }
        for (slot, (_, target)) in parked.iter().zip(moves) {
            if let Some(source) = slot {
                // SAFETY: the target number is only a dup2 target here; dup2
                // replaces whatever it was atomically, and ManuallyDrop keeps
                // this child from closing it before exec.
                let mut target = ManuallyDrop::new(unsafe { OwnedFd::from_raw_fd(target) });
                rustix::io::dup2(source, &mut target)?;
            }
        }
        // The parked copies are close-on-exec; dropping closes them now.
        drop(parked);
        Ok(())
    };
    // SAFETY: the hook runs between fork and exec; it only makes the
    // async-signal-safe system calls prctl, fcntl, dup2 and close, allocates
    // nothing and takes no locks.
    unsafe {
        command.pre_exec(hook);
    }
}

/// Makes the child of `command` the leader of a new session whose
/// controlling terminal is its stdin (which must be a terminal).
pub(crate) fn make_terminal_session(command: &mut Command) {
    let hook = || -> std::io::Result<()> {
        rustix::process::setsid()?;
        // SAFETY: fd 0 is the child's stdin, set up by `Command` before the
        // hooks run; the borrow only lasts for this ioctl.
        let stdin = unsafe { BorrowedFd::borrow_raw(0) };
        rustix::process::ioctl_tiocsctty(stdin)?;
        Ok(())
    };
    // SAFETY: the hook runs between fork and exec (after the stdio fds are in
    // place) and only makes the async-signal-safe system calls setsid and
    // ioctl; it allocates nothing and takes no locks.
    unsafe {
        command.pre_exec(hook);
    }
}

/// Takes ownership of an fd that [`prepare_child`] placed at `fd`, when it
/// is open.
///
/// Must only be called once per fd, first thing in the init process, before
/// anything else could have opened it.
pub(crate) fn take_inherited_fd(fd: RawFd) -> Option<OwnedFd> {
    // SAFETY: `fd` is not owned by anything in this process yet (the init
    // calls this first); if it is not open the kernel answers EBADF, and the
    // borrow ends before anything else happens.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    fcntl_getfd(borrowed).ok()?;
    // SAFETY: `fd` is open (checked above) and inherited for exactly this
    // purpose; nothing else in this process owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Closes every fd numbered `min` or higher; the init calls this first so no
/// host fd reaches the sandbox.
pub(crate) fn close_fds_from(min: RawFd) {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<RawFd> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd >= min)
        .collect();
    // The directory fd of the listing is closed now; closing it again below
    // only fails with EBADF, which is ignored by dropping.
    for fd in fds {
        // SAFETY: the borrow only lives for this fcntl; a number that is not
        // open (the listing's own fd, closed by now) just gives EBADF.
        let open = fcntl_getfd(unsafe { BorrowedFd::borrow_raw(fd) }).is_ok();
        if open {
            // SAFETY: at this point the init owns no fds of its own at `min`
            // or above: every open one was inherited and is unowned, so
            // taking and dropping it closes it without invalidating an owner.
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
}

/// `unshare(flags)` for the single-threaded init.
pub(crate) fn unshare(flags: UnshareFlags) -> rustix::io::Result<()> {
    debug_assert!(!flags.contains(UnshareFlags::FILES));
    // SAFETY: the flags never include CLONE_FILES (the only flag that can
    // break fd ownership between threads), and the init is single-threaded.
    unsafe { rustix::thread::unshare_unsafe(flags) }
}

/// `struct ifreq` with the `ifr_flags` member of its union.
#[repr(C)]
struct InterfaceFlagsRequest {
    name: [u8; 16],
    flags: i16,
    padding: [u8; 22],
}

const SIOCGIFFLAGS: rustix::ioctl::Opcode = 0x8913;
const SIOCSIFFLAGS: rustix::ioctl::Opcode = 0x8914;
const IFF_UP: i16 = 0x1;

/// Brings the loopback interface of the current network namespace up.
pub(crate) fn loopback_up() -> rustix::io::Result<()> {
    use rustix::net::{socket, AddressFamily, SocketType};
    let socket = socket(AddressFamily::INET, SocketType::DGRAM, None)?;
    let mut request = InterfaceFlagsRequest {
        name: [0; 16],
        flags: 0,
        padding: [0; 22],
    };
    request.name[..2].copy_from_slice(b"lo");
    // SAFETY: SIOCGIFFLAGS reads and writes a `struct ifreq`, which
    // `InterfaceFlagsRequest` lays out (40 bytes, flags at offset 16).
    unsafe {
        let getter =
            rustix::ioctl::Updater::<SIOCGIFFLAGS, InterfaceFlagsRequest>::new(&mut request);
        rustix::ioctl::ioctl(&socket, getter)?;
    }
    request.flags |= IFF_UP;
    // SAFETY: SIOCSIFFLAGS reads a `struct ifreq`, laid out as above.
    unsafe {
        let setter = rustix::ioctl::Setter::<SIOCSIFFLAGS, InterfaceFlagsRequest>::new(request);
        rustix::ioctl::ioctl(&socket, setter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_request_has_the_kernel_layout() {
        assert_eq!(std::mem::size_of::<InterfaceFlagsRequest>(), 40);
        assert_eq!(std::mem::offset_of!(InterfaceFlagsRequest, flags), 16);
    }
}
