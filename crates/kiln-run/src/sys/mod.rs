//! Every `unsafe` operation of the crate, each behind a small safe function
//! with the reasoning beside it: the `pre_exec` hooks of the processes the
//! builtin sandbox starts, taking ownership of the inherited status fd,
//! closing inherited fds, `unshare` and the loopback `ioctl`.
#![allow(unsafe_code)]

use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use rustix::io::{fcntl_getfd, fcntl_setfd, FdFlags};
use rustix::process::Signal;
use rustix::thread::UnshareFlags;

/// The fd number on which the sandbox init finds its status pipe.
pub(crate) const STATUS_FD: RawFd = 3;

/// Makes the child of `command` die with SIGKILL when the thread that
/// spawns it exits, and, when `status` is given, places that fd at
/// [`STATUS_FD`] (without close-on-exec) in the child.
///
/// The caller must keep `status` open until `command` is spawned.
pub(crate) fn prepare_child(command: &mut Command, status: Option<&OwnedFd>) {
    let status = status.map(AsRawFd::as_raw_fd);
    let hook = move || -> std::io::Result<()> {
        rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
        if let Some(raw) = status {
            // SAFETY: `raw` is the status pipe the parent keeps open until
            // `spawn` returns, so it is open in this forked child too.
            let source = unsafe { BorrowedFd::borrow_raw(raw) };
            if raw == STATUS_FD {
                fcntl_setfd(source, FdFlags::empty())?;
            } else {
                // SAFETY: fd 3 is only a dup2 target here; dup2 replaces
                // whatever it was atomically, and ManuallyDrop keeps this
                // child from closing it before exec.
                let mut target = ManuallyDrop::new(unsafe { OwnedFd::from_raw_fd(STATUS_FD) });
                rustix::io::dup2(source, &mut target)?;
            }
        }
        Ok(())
    };
    // SAFETY: the hook runs between fork and exec; it only makes the
    // async-signal-safe system calls prctl, fcntl and dup2, allocates nothing
    // and takes no locks.
    unsafe {
        command.pre_exec(hook);
    }
}

/// Takes ownership of the status pipe that [`prepare_child`] placed at
/// [`STATUS_FD`], when it is open.
///
/// Must only be called once, first thing in the init process, before
/// anything else could have opened fd 3.
pub(crate) fn take_status_fd() -> Option<OwnedFd> {
    // SAFETY: fd 3 is not owned by anything in this process yet (the init
    // calls this first); if it is not open the kernel answers EBADF, and the
    // borrow ends before anything else happens.
    let borrowed = unsafe { BorrowedFd::borrow_raw(STATUS_FD) };
    fcntl_getfd(borrowed).ok()?;
    // SAFETY: fd 3 is open (checked above) and inherited for exactly this
    // purpose; nothing else in this process owns it.
    Some(unsafe { OwnedFd::from_raw_fd(STATUS_FD) })
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
