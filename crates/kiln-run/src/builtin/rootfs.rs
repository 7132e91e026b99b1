//! Inside the sandbox (PID 1, new mount namespace): building the mount tree
//! of the rootfs and pivoting into it. Errors are plain messages that the
//! init sends to the parent.

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::{symlink, DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::StatVfsMountFlags;
use rustix::mount::{
    mount, mount_bind_recursive, mount_change, mount_remount, unmount, MountFlags,
    MountPropagationFlags, UnmountFlags,
};

use super::protocol::{InitConfig, InitMountKind};
use crate::defaults::{DEVICES, MASKED_PATHS, READONLY_PATHS};

/// A failed setup step, as a message for the parent.
pub(crate) type StepResult = std::result::Result<(), String>;

fn failed(what: impl std::fmt::Display, path: &Path, error: impl std::fmt::Display) -> String {
    format!("failed to {what} {}: {error}", path.display())
}

/// Builds the mount tree described by `config` under its rootfs, sets the
/// hostname, brings up loopback when needed, and pivots into the rootfs.
pub(crate) fn set_up(config: &InitConfig) -> StepResult {
    let root = &config.rootfs;
    mount_change(
        "/",
        MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
    )
    .map_err(|error| failed("make private", Path::new("/"), error))?;
    mount_bind_recursive(root, root)
        .map_err(|error| failed("bind-mount the rootfs", root, error))?;

    let proc_dir = root.join(&config.proc_dir);
    mount_fs("proc", &proc_dir, secure(), "")?;
    set_up_dev(&root.join(&config.dev_dir), config.user_namespace)?;
    set_up_sys(&root.join(&config.sys_dir))?;
    mask_paths(config)?;

    for etc in &config.etc {
        let target = root.join(&etc.target);
        bind(&etc.source, &target)?;
        remount_readonly(&target)?;
    }
    let mut tmpfs_dirs = vec![root.join(&config.dev_dir)];
    for extra in &config.mounts {
        let target = root.join(&extra.target);
        ensure_target(&target, extra.file, &tmpfs_dirs)?;
        match &extra.kind {
            InitMountKind::Bind { source, readonly } => {
                bind(source, &target)?;
                if *readonly {
                    remount_readonly(&target)?;
                }
            }
            InitMountKind::Tmpfs { size } => {
                let mut options = "mode=1777".to_owned();
                if let Some(size) = size {
                    options.push_str(&format!(",size={size}"));
                }
                mount_fs(
                    "tmpfs",
                    &target,
                    MountFlags::NOSUID | MountFlags::NODEV,
                    &options,
                )?;
                tmpfs_dirs.push(target);
            }
        }
    }

    rustix::system::sethostname(config.hostname.as_bytes())
        .map_err(|error| format!("failed to set the hostname: {error}"))?;
    if config.new_network {
        crate::sys::loopback_up().map_err(|error| format!("failed to bring up lo: {error}"))?;
    }
    pivot_into(root)
}

/// nosuid, nodev, noexec.
fn secure() -> MountFlags {
    MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC
}

/// Mounts a new instance of filesystem `fs_type` on `target`.
fn mount_fs(fs_type: &str, target: &Path, flags: MountFlags, options: &str) -> StepResult {
    let data = CString::new(options).map_err(|error| failed("mount on", target, error))?;
    mount(fs_type, target, fs_type, flags, data.as_c_str())
        .map_err(|error| failed(format_args!("mount {fs_type} on"), target, error))
}

fn bind(source: &Path, target: &Path) -> StepResult {
    mount_bind_recursive(source, target).map_err(|error| {
        format!(
            "failed to bind-mount {} on {}: {error}",
            source.display(),
            target.display()
        )
    })
}

/// Remounts the bind mount at `target` read-only, keeping the flags the
/// mount already has (a user namespace may not clear locked ones).
fn remount_readonly(target: &Path) -> StepResult {
    let current = rustix::fs::statvfs(target)
        .map_err(|error| failed("inspect the mount", target, error))?
        .f_flag;
    let mut flags = MountFlags::BIND | MountFlags::RDONLY;
    let kept = [
        (StatVfsMountFlags::NOSUID, MountFlags::NOSUID),
        (StatVfsMountFlags::NODEV, MountFlags::NODEV),
        (StatVfsMountFlags::NOEXEC, MountFlags::NOEXEC),
        (StatVfsMountFlags::NOATIME, MountFlags::NOATIME),
        (StatVfsMountFlags::NODIRATIME, MountFlags::NODIRATIME),
        (StatVfsMountFlags::RELATIME, MountFlags::RELATIME),
    ];
    for (has, keep) in kept {
        if current.contains(has) {
            flags |= keep;
        }
    }
    mount_remount(target, flags, "").map_err(|error| failed("remount read-only", target, error))
}

fn make_dir(path: &Path) -> StepResult {
    match fs::DirBuilder::new().mode(0o755).create(path) {
        Err(error) if error.kind() != std::io::ErrorKind::AlreadyExists => {
            Err(failed("create", path, error))
        }
        _ => Ok(()),
    }
}

fn make_file(path: &Path) -> StepResult {
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(path)
        .map(drop)
        .map_err(|error| failed("create", path, error))
}

fn make_symlink(target: &str, link: &Path) -> StepResult {
    symlink(target, link).map_err(|error| failed("create symlink", link, error))
}

/// `/dev`: a small tmpfs with the host's basic devices bound in, a private
/// devpts, shm, mqueue and the usual symlinks.
fn set_up_dev(dev: &Path, user_namespace: bool) -> StepResult {
    mount_fs(
        "tmpfs",
        dev,
        MountFlags::NOSUID | MountFlags::STRICTATIME,
        "mode=755,size=65536k",
    )?;
    for device in DEVICES {
        let host = Path::new("/dev").join(device);
        if !host.exists() {
            continue;
        }
        let node = dev.join(device);
        make_file(&node)?;
        bind(&host, &node)?;
    }
    let pts = dev.join("pts");
    make_dir(&pts)?;
    let mut pts_options = "newinstance,ptmxmode=0666,mode=0620".to_owned();
    if !user_namespace {
        pts_options.push_str(",gid=5");
    }
    mount_fs(
        "devpts",
        &pts,
        MountFlags::NOSUID | MountFlags::NOEXEC,
        &pts_options,
    )?;
    make_symlink("pts/ptmx", &dev.join("ptmx"))?;
    let shm = dev.join("shm");
    make_dir(&shm)?;
    mount_fs("tmpfs", &shm, secure(), "mode=1777,size=65536k")?;
    let mqueue = dev.join("mqueue");
    make_dir(&mqueue)?;
    mount_fs("mqueue", &mqueue, secure(), "")?;
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        make_symlink(target, &dev.join(name))?;
    }
    Ok(())
}

/// `/sys` read-only: a new sysfs when the namespaces allow it, otherwise a
/// read-only bind of the host's.
fn set_up_sys(sys: &Path) -> StepResult {
    let fresh = CString::default();
    let flags = secure() | MountFlags::RDONLY;
    if mount("sysfs", sys, "sysfs", flags, fresh.as_c_str()).is_ok() {
        return Ok(());
    }
    bind(Path::new("/sys"), sys)?;
    remount_readonly(sys)
}

/// Maps a path under `/proc` or `/sys` to its host path under the rootfs.
fn special_path(config: &InitConfig, path: &str) -> Option<PathBuf> {
    let (base, rest) = if let Some(rest) = path.strip_prefix("/proc/") {
        (&config.proc_dir, rest)
    } else {
        (&config.sys_dir, path.strip_prefix("/sys/")?)
    };
    Some(config.rootfs.join(base).join(rest))
}

/// Docker's masked and read-only paths, where they exist.
fn mask_paths(config: &InitConfig) -> StepResult {
    for path in MASKED_PATHS {
        let Some(target) = special_path(config, path) else {
            continue;
        };
        let Ok(metadata) = fs::metadata(&target) else {
            continue;
        };
        if metadata.is_dir() {
            mount_fs("tmpfs", &target, MountFlags::RDONLY, "size=0")?;
        } else {
            bind(Path::new("/dev/null"), &target)?;
        }
    }
    for path in READONLY_PATHS {
        let Some(target) = special_path(config, path) else {
            continue;
        };
        if target.exists() {
            bind(&target, &target)?;
            remount_readonly(&target)?;
        }
    }
    Ok(())
}

/// Makes sure an extra mount's target exists; the parent created the ones in
/// the rootfs, so only targets inside a tmpfs mounted here are created.
fn ensure_target(target: &Path, file: bool, tmpfs_dirs: &[PathBuf]) -> StepResult {
    if target.exists() {
        return Ok(());
    }
    if !tmpfs_dirs.iter().any(|dir| target.starts_with(dir)) {
        return Err(failed(
            "find mount target",
            target,
            "no such file or directory",
        ));
    }
    if let Some(parent) = target.parent() {
        fs::DirBuilder::new()
            .mode(0o755)
            .recursive(true)
            .create(parent)
            .map_err(|error| failed("create", parent, error))?;
    }
    if file {
        make_file(target)
    } else {
        make_dir(target)
    }
}

/// `pivot_root(".", ".")` in the rootfs, then detaching the old root that
/// ends up stacked on top of it.
fn pivot_into(root: &Path) -> StepResult {
    rustix::process::chdir(root).map_err(|error| failed("chdir to", root, error))?;
    rustix::process::pivot_root(".", ".")
        .map_err(|error| failed("pivot_root into", root, error))?;
    unmount(".", UnmountFlags::DETACH)
        .map_err(|error| failed("detach the old root", root, error))?;
    rustix::process::chdir("/").map_err(|error| failed("chdir to", Path::new("/"), error))
}
