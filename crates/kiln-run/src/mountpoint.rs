//! Mount points inside the rootfs: resolving targets chroot-style, creating
//! the missing ones before a run and removing them again after it.
//!
//! A target is resolved as if the process were already chrooted into the
//! rootfs: symlinks are followed, but `..` stops at the rootfs and an
//! absolute link target restarts at the rootfs, so nothing outside it is ever
//! reached (the same rule runc applies with `securejoin`). The resolved path
//! is what gets mounted on.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use crate::defaults::{FIRST_ETC_TARGET, STANDARD_TARGETS};
use crate::{Error, MountKind, Result, RunSpec};

/// Most symlinks followed while resolving one path (the kernel's limit).
const MAX_SYMLINKS: usize = 40;

/// What a mount point must be when it has to be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A directory (mode 0755).
    Dir,
    /// An empty file (mode 0644), for a file bind mount.
    File,
}

/// A path resolved inside a root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// Normal components below the root, symlinks resolved.
    pub components: Vec<OsString>,
    /// How many leading components exist; the rest are missing.
    pub existing: usize,
}

impl Resolved {
    /// The resolved path relative to the root.
    pub fn relative(&self) -> PathBuf {
        self.components.iter().collect()
    }

    /// The first `count` components as a relative path.
    fn prefix(&self, count: usize) -> PathBuf {
        self.components[..count].iter().collect()
    }
}

/// Resolves `path` inside `root` chroot-style (see the module docs).
///
/// Missing components are kept lexically; a component that exists but is not
/// a directory while more components follow is an error.
pub(crate) fn resolve_in_root(root: &Path, path: &str) -> Result<Resolved> {
    let refuse = |reason: String| Error::MountTarget {
        target: path.to_owned(),
        reason,
    };
    let mut pending: VecDeque<OsString> = normal_components(Path::new(path)).collect();
    let mut components: Vec<OsString> = Vec::new();
    let mut exists: Vec<bool> = Vec::new();
    let mut links = 0;
    while let Some(component) = pending.pop_front() {
        if component == ".." {
            components.pop();
            exists.pop();
            continue;
        }
        let parent_exists = exists.last().copied().unwrap_or(true);
        let candidate = root
            .join(components.iter().collect::<PathBuf>())
            .join(&component);
        let metadata = if parent_exists {
            match fs::symlink_metadata(&candidate) {
                Ok(metadata) => Some(metadata),
                Err(error) if error.kind() == ErrorKind::NotFound => None,
                Err(error) => return Err(Error::io("inspect", candidate, error)),
            }
        } else {
            None
        };
        match metadata {
            Some(metadata) if metadata.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(refuse("too many levels of symbolic links".to_owned()));
                }
                let link = fs::read_link(&candidate)
                    .map_err(|error| Error::io("read symlink", &candidate, error))?;
                if link.is_absolute() {
                    components.clear();
                    exists.clear();
                }
                for (index, part) in normal_components(&link).enumerate() {
                    pending.insert(index, part);
                }
            }
            Some(metadata) => {
                let more_follow = pending.iter().any(|part| part != "..");
                if !metadata.is_dir() && more_follow {
                    return Err(refuse(format!(
                        "{:?} is not a directory",
                        candidate.strip_prefix(root).unwrap_or(&candidate)
                    )));
                }
                components.push(component);
                exists.push(true);
            }
            None => {
                components.push(component);
                exists.push(false);
            }
        }
    }
    let existing = exists.iter().take_while(|&&present| present).count();
    Ok(Resolved {
        components,
        existing,
    })
}

/// The components of `path` that are names or `..` (root and `.` dropped).
fn normal_components(path: &Path) -> impl Iterator<Item = OsString> + '_ {
    path.components().filter_map(|component| match component {
        Component::Normal(name) => Some(name.to_owned()),
        Component::ParentDir => Some(OsStr::new("..").to_owned()),
        Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
    })
}

/// The mount points of one run: where each target resolves to, which paths
/// are missing, and the modification times of the directories they go into.
///
/// Dropping it removes what [`MountPoints::cleanup`] would remove, so early
/// returns do not leave mount points behind.
#[derive(Debug)]
pub(crate) struct MountPoints {
    root: PathBuf,
    resolved: Vec<PathBuf>,
    missing: Vec<(PathBuf, Kind)>,
    parents: Vec<(PathBuf, SystemTime)>,
    cleaned: bool,
}

impl MountPoints {
    /// Resolves `targets` inside `root` and records what is missing, without
    /// changing anything.
    pub fn plan<S: AsRef<str>>(root: &Path, targets: &[(S, Kind)]) -> Result<Self> {
        let mut points = MountPoints {
            root: root.to_owned(),
            resolved: Vec::with_capacity(targets.len()),
            missing: Vec::new(),
            parents: Vec::new(),
            cleaned: false,
        };
        for (target, kind) in targets {
            let resolved = resolve_in_root(root, target.as_ref())?;
            let count = resolved.components.len();
            if resolved.existing < count {
                let parent = resolved.prefix(resolved.existing);
                if !points.parents.iter().any(|(path, _)| *path == parent) {
                    let host = root.join(&parent);
                    let modified = fs::metadata(&host)
                        .and_then(|metadata| metadata.modified())
                        .map_err(|error| Error::io("inspect", host, error))?;
                    points.parents.push((parent, modified));
                }
            }
            for index in resolved.existing..count {
                let path = resolved.prefix(index + 1);
                let kind = if index + 1 == count { *kind } else { Kind::Dir };
                if !points.missing.iter().any(|(known, _)| *known == path) {
                    points.missing.push((path, kind));
                }
            }
            points.resolved.push(resolved.relative());
        }
        Ok(points)
    }

    /// Where the `index`-th target resolved to, relative to the root.
    pub fn resolved(&self, index: usize) -> &Path {
        &self.resolved[index]
    }

    /// The paths that were missing at planning time, parents first.
    #[cfg(test)]
    pub fn missing(&self) -> &[(PathBuf, Kind)] {
        &self.missing
    }

    /// Creates the missing mount points (directories 0755, files 0644).
    pub fn create(&self) -> Result<()> {
        for (relative, kind) in &self.missing {
            let path = self.root.join(relative);
            let created = match kind {
                Kind::Dir => fs::DirBuilder::new().mode(0o755).create(&path),
                Kind::File => fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o644)
                    .open(&path)
                    .map(drop),
            };
            match created {
                Ok(()) => {}
                Err(error) if error.kind() == ErrorKind::AlreadyExists => {}
                Err(error) => return Err(Error::io("create mount point", path, error)),
            }
        }
        Ok(())
    }

    /// Removes the mount points that were missing at planning time and exist
    /// now, deepest first, when they are still empty (content the process
    /// put there stays), then restores the parents' modification times.
    pub fn cleanup(&mut self) -> Result<()> {
        self.cleaned = true;
        let mut first_error = None;
        for (relative, _) in self.missing.iter().rev() {
            let path = self.root.join(relative);
            if let Err(error) = remove_if_empty(&path) {
                first_error.get_or_insert(Error::io("remove mount point", path, error));
            }
        }
        for (relative, modified) in &self.parents {
            let path = self.root.join(relative);
            let restored = fs::File::open(&path).and_then(|dir| dir.set_modified(*modified));
            if let Err(error) = restored {
                if error.kind() != ErrorKind::NotFound {
                    first_error.get_or_insert(Error::io("restore the mtime of", path, error));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for MountPoints {
    fn drop(&mut self) {
        if !self.cleaned {
            // Best effort on an early return; the caller already has an error.
            let _ = self.cleanup();
        }
    }
}

/// The mount points of a run, in this order: [`STANDARD_TARGETS`], one per
/// extra mount, then the working directory (created when missing, as runc
/// does).
pub(crate) fn run_targets(spec: &RunSpec) -> Vec<(String, Kind)> {
    let mut targets: Vec<(String, Kind)> = STANDARD_TARGETS
        .iter()
        .enumerate()
        .map(|(index, target)| {
            let kind = if index < FIRST_ETC_TARGET {
                Kind::Dir
            } else {
                Kind::File
            };
            (target.to_string(), kind)
        })
        .collect();
    for mount in &spec.mounts {
        let kind = match &mount.kind {
            MountKind::Bind { source, .. } if !source.is_dir() => Kind::File,
            MountKind::Bind { .. } | MountKind::Tmpfs { .. } => Kind::Dir,
        };
        targets.push((mount.target.clone(), kind));
    }
    targets.push((spec.cwd.clone(), Kind::Dir));
    targets
}

/// Checks what both sandboxes need of a spec before touching anything.
pub(crate) fn validate(spec: &RunSpec) -> Result<()> {
    let invalid = |reason: String| Err(Error::InvalidSpec { reason });
    if spec.args.is_empty() {
        return invalid("no command given".to_owned());
    }
    if !spec.cwd.starts_with('/') {
        return invalid(format!("working directory {:?} is not absolute", spec.cwd));
    }
    for mount in &spec.mounts {
        if !mount.target.starts_with('/') {
            return invalid(format!("mount target {:?} is not absolute", mount.target));
        }
        if let MountKind::Bind { source, .. } = &mount.kind {
            if !source.is_absolute() {
                return invalid(format!("bind source {source:?} is not absolute"));
            }
        }
    }
    Ok(())
}

/// Removes `path` when it is an empty directory or an empty regular file.
fn remove_if_empty(path: &Path) -> std::io::Result<()> {
    let metadata = match fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    let removed = if metadata.is_dir() {
        fs::remove_dir(path)
    } else if metadata.is_file() && metadata.len() == 0 {
        fs::remove_file(path)
    } else {
        Ok(())
    };
    match removed {
        Err(error)
            if matches!(
                error.kind(),
                ErrorKind::NotFound | ErrorKind::DirectoryNotEmpty
            ) =>
        {
            Ok(())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn rootfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(root.join("etc/hosts"), "old").unwrap();
        fs::create_dir_all(root.join("usr/lib")).unwrap();
        symlink("usr/lib", root.join("lib")).unwrap();
        symlink("/usr", root.join("abs")).unwrap();
        symlink("../../../../..", root.join("up")).unwrap();
        symlink("/run/missing/stub", root.join("etc/resolv.conf")).unwrap();
        dir
    }

    #[test]
    fn resolves_chroot_style() {
        let dir = rootfs();
        let cases = [
            ("/etc/hosts", "etc/hosts", 2),
            ("/lib/x", "usr/lib/x", 2),
            ("/abs/lib", "usr/lib", 2),
            ("/up/etc", "etc", 1),
            ("/../../etc/./hosts", "etc/hosts", 2),
            ("/etc/resolv.conf", "run/missing/stub", 0),
            ("/new/a/../b", "new/b", 0),
            ("/", "", 0),
        ];
        for (input, expected, existing) in cases {
            let resolved = resolve_in_root(dir.path(), input).unwrap();
            assert_eq!(resolved.relative(), Path::new(expected), "{input}");
            assert_eq!(resolved.existing, existing, "{input}");
        }
    }

    #[test]
    fn refuses_paths_through_files_and_link_loops() {
        let dir = rootfs();
        symlink("loop", dir.path().join("loop")).unwrap();
        for input in ["/etc/hosts/x", "/loop/x"] {
            let error = resolve_in_root(dir.path(), input).unwrap_err();
            assert!(
                matches!(error, Error::MountTarget { .. }),
                "{input}: {error}"
            );
        }
    }

    #[test]
    fn plans_creates_and_cleans_up_missing_points() {
        let dir = rootfs();
        let root = dir.path();
        let old = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        for parent in [root, &root.join("etc")] {
            fs::File::open(parent).unwrap().set_modified(old).unwrap();
        }
        let targets = [
            ("/proc", Kind::Dir),
            ("/etc/hosts", Kind::File),
            ("/etc/resolv.conf", Kind::File),
            ("/lib/cache", Kind::Dir),
            ("/mnt/a/b", Kind::Dir),
            ("/mnt/a/c", Kind::File),
        ];
        let mut points = MountPoints::plan(root, &targets).unwrap();
        let missing: Vec<_> = points
            .missing()
            .iter()
            .map(|(path, kind)| (path.to_str().unwrap().to_owned(), *kind))
            .collect();
        let expected = [
            ("proc", Kind::Dir),
            ("run", Kind::Dir),
            ("run/missing", Kind::Dir),
            ("run/missing/stub", Kind::File),
            ("usr/lib/cache", Kind::Dir),
            ("mnt", Kind::Dir),
            ("mnt/a", Kind::Dir),
            ("mnt/a/b", Kind::Dir),
            ("mnt/a/c", Kind::File),
        ];
        let expected: Vec<_> = expected.iter().map(|(p, k)| (p.to_string(), *k)).collect();
        assert_eq!(missing, expected);
        assert_eq!(points.resolved(2), Path::new("run/missing/stub"));

        points.create().unwrap();
        assert!(root.join("run/missing/stub").is_file());
        assert!(root.join("mnt/a/b").is_dir());
        // Something the process wrote into a created directory stays.
        fs::write(root.join("usr/lib/cache/kept"), "x").unwrap();
        points.cleanup().unwrap();

        for gone in ["proc", "run", "mnt"] {
            assert!(!root.join(gone).exists(), "{gone}");
        }
        assert!(root.join("usr/lib/cache/kept").exists());
        assert_eq!(fs::read_to_string(root.join("etc/hosts")).unwrap(), "old");
        assert_eq!(fs::metadata(root).unwrap().modified().unwrap(), old);
    }

    #[test]
    fn dropping_cleans_up() {
        let dir = rootfs();
        {
            let points = MountPoints::plan(dir.path(), &[("/sys", Kind::Dir)]).unwrap();
            points.create().unwrap();
            assert!(dir.path().join("sys").is_dir());
        }
        assert!(!dir.path().join("sys").exists());
    }
}
