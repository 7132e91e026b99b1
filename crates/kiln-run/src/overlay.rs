//! Overlay mounts for RUN root filesystems, and the private mount namespace
//! that keeps them off the host.
//!
//! kiln mounts an overlay (read-only unpacked layers as `lowerdir`s, a fresh
//! `upperdir` that collects the step's changes) as a stage's root filesystem.
//! The mount is made in kiln's own mount namespace, entered once at startup
//! with [`enter_private_mount_namespace`]: it is a slave of the host's, so
//! host mounts still show up in it, but nothing kiln mounts is seen outside,
//! and the kernel drops every such mount when kiln exits, however it exits.
//!
//! Mounting uses the new mount API with one `lowerdir+` option per layer
//! (Linux 6.8+: no limit from the one-page option string), and falls back to
//! `mount(2)` with a `lowerdir=a:b:c` string on older kernels.

use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::mount::{
    fsconfig_create, fsconfig_set_string, fsmount, fsopen, mount, mount_change, move_mount,
    unmount, FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MountPropagationFlags,
    MoveMountFlags, UnmountFlags,
};

use crate::error::{Error, Result};

/// Options set whatever the kernel's defaults: the upper directory must hold
/// whole files (no metadata-only copy-up) and renamed directories as copies
/// (no redirects into lower layers), since kiln reads a step's layer from it.
const FIXED_OPTIONS: [(&str, &str); 3] = [
    ("redirect_dir", "off"),
    ("metacopy", "off"),
    ("index", "off"),
];

/// Moves the calling process into a new mount namespace whose mounts are
/// slaves of the current one. Call it first thing in `main`, before any
/// thread starts: the namespace applies to the calling thread, and threads
/// started later inherit it. Needs `CAP_SYS_ADMIN` (root).
pub fn enter_private_mount_namespace() -> Result<()> {
    crate::sys::unshare(rustix::thread::UnshareFlags::NEWNS).map_err(|errno| Error::Process {
        action: "enter a private mount namespace".into(),
        source: errno.into(),
    })?;
    mount_change(
        "/",
        MountPropagationFlags::REC | MountPropagationFlags::DOWNSTREAM,
    )
    .map_err(|errno| Error::Io {
        action: "make mounts private",
        path: PathBuf::from("/"),
        source: errno.into(),
    })
}

/// An overlay mounted at a directory; unmounted on drop (lazily, so that a
/// process still inside it cannot keep it busy).
#[derive(Debug)]
pub struct OverlayMount {
    target: PathBuf,
    mounted: bool,
}

impl OverlayMount {
    /// Mounts an overlay of `lowers` (topmost first) with `upper` and `work`
    /// (empty directories on one filesystem) at `target`.
    pub fn mount(lowers: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> Result<Self> {
        if lowers.is_empty() {
            return Err(Error::InvalidSpec {
                reason: "an overlay needs at least one lower directory".into(),
            });
        }
        let io = |source: rustix::io::Errno| Error::Io {
            action: "mount an overlay on",
            path: target.to_path_buf(),
            source: source.into(),
        };
        match mount_new_api(lowers, upper, work, target) {
            Ok(()) => {}
            // No new mount API, or no `lowerdir+`: the classic call.
            Err(errno)
                if errno == rustix::io::Errno::NOSYS || errno == rustix::io::Errno::INVAL =>
            {
                mount_classic(lowers, upper, work, target).map_err(io)?
            }
            Err(errno) => return Err(io(errno)),
        }
        Ok(OverlayMount {
            target: target.to_path_buf(),
            mounted: true,
        })
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.target
    }

    /// Unmounts now, reporting failure.
    pub fn unmount(mut self) -> Result<()> {
        self.mounted = false;
        unmount(&self.target, UnmountFlags::DETACH).map_err(|errno| Error::Io {
            action: "unmount",
            path: self.target.clone(),
            source: errno.into(),
        })
    }
}

impl Drop for OverlayMount {
    fn drop(&mut self) {
        if self.mounted {
            // Nothing better to do on failure: the namespace goes with kiln.
            let _ = unmount(&self.target, UnmountFlags::DETACH);
        }
    }
}

fn mount_new_api(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> rustix::io::Result<()> {
    let fs = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    fsconfig_set_string(fs.as_fd(), "source", "kiln")?;
    for lower in lowers {
        fsconfig_set_string(fs.as_fd(), "lowerdir+", lower.as_path())?;
    }
    for (key, value) in FIXED_OPTIONS {
        fsconfig_set_string(fs.as_fd(), key, value)?;
    }
    fsconfig_set_string(fs.as_fd(), "upperdir", upper)?;
    fsconfig_set_string(fs.as_fd(), "workdir", work)?;
    fsconfig_create(fs.as_fd())?;
    let mounted = fsmount(
        fs.as_fd(),
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::empty(),
    )?;
    move_mount(
        mounted.as_fd(),
        "",
        rustix::fs::CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
}

fn mount_classic(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> rustix::io::Result<()> {
    let mut data = b"lowerdir=".to_vec();
    for (position, lower) in lowers.iter().enumerate() {
        if position > 0 {
            data.push(b':');
        }
        data.extend_from_slice(&escape(lower.as_os_str().as_bytes()));
    }
    for (key, value) in FIXED_OPTIONS {
        data.extend_from_slice(format!(",{key}={value}").as_bytes());
    }
    data.extend_from_slice(b",upperdir=");
    data.extend_from_slice(&escape(upper.as_os_str().as_bytes()));
    data.extend_from_slice(b",workdir=");
    data.extend_from_slice(&escape(work.as_os_str().as_bytes()));
    let data = std::ffi::CString::new(data).map_err(|_| rustix::io::Errno::INVAL)?;
    mount(
        "kiln",
        target,
        "overlay",
        MountFlags::empty(),
        data.as_c_str(),
    )
}

/// Escapes the characters overlayfs splits its options on.
fn escape(path: &[u8]) -> Vec<u8> {
    let mut escaped = Vec::with_capacity(path.len());
    for &byte in path {
        if matches!(byte, b':' | b',' | b'\\') {
            escaped.push(b'\\');
        }
        escaped.push(byte);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_escaping() {
        assert_eq!(escape(b"/a:b,c\\d"), b"/a\\:b\\,c\\\\d".to_vec());
        assert_eq!(escape(b"/plain"), b"/plain".to_vec());
    }

    #[test]
    fn no_lowers_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = OverlayMount::mount(&[], dir.path(), dir.path(), dir.path()).unwrap_err();
        assert!(err.to_string().contains("lower directory"), "{err}");
    }
}
