//! Safe extraction of a tar stream into a directory: every entry stays inside the
//! destination (chroot-style resolution of parents and hardlink targets), existing entries
//! are replaced without writing through symlinks, and OCI whiteouts are applied on request
//! or, for an overlayfs lower directory, turned into overlayfs whiteouts and opaque markers.
//! Extraction keeps full fidelity where the process may: FIFOs, device nodes (skipped with a
//! warning without CAP_MKNOD), xattrs (`security.capability` included, set after chown),
//! owners, setuid/setgid bits (set after chown) and symlink mtimes.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs::{self, File, FileTimes, OpenOptions, Permissions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{lchown, symlink, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rustix::fs::{
    makedev, mknodat, utimensat, AtFlags, FileType, Mode, Timespec, Timestamps, CWD, UTIME_OMIT,
};
use rustix::io::Errno;
use tar::EntryType;

use crate::error::{Error, Result};
use crate::overlay::OVERLAY_OPAQUE_XATTR;
use crate::path::clean_components;
use crate::resolve::resolve_in_root;
use crate::write::{OPAQUE_MARKER, WHITEOUT_PREFIX};
use crate::xattr::{is_host_private, write_xattr};

/// Options of [`extract`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Interpret `.wh.` files as OCI whiteouts instead of extracting them.
    pub apply_whiteouts: bool,
    /// Apply the archive's numeric owners; failures are errors only when running as root.
    pub preserve_ownership: bool,
    /// Extract in overlayfs format, for a directory used as an overlay `lowerdir`: a whiteout
    /// `dir/.wh.NAME` becomes a character device 0:0 at `dir/NAME` and an opaque marker
    /// `dir/.wh..wh..opq` sets xattr `trusted.overlay.opaque=y` on `dir`. Nothing is removed.
    /// Failing to create either (e.g. not root) is an error. Wins over `apply_whiteouts`.
    pub overlay: bool,
    /// Report the sha256 and final attributes of the regular files created new
    /// ([`ExtractReport::files`]), so that a caller can recognise them later without
    /// reading them. Files that replaced something are not reported.
    pub digests: bool,
}

/// A regular file [`extract`] created, with the digest of its content and its attributes
/// once finished (see [`ExtractOptions::digests`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractedFile {
    /// Relative to the destination.
    pub path: PathBuf,
    /// The sha256 of its content.
    pub sha256: [u8; 32],
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds and nanoseconds.
    pub mtime: (i64, i64),
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// What [`extract`] did besides succeeding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractReport {
    /// Things skipped or not applied (devices without permission, xattrs the filesystem or
    /// process cannot set, ownership as non-root).
    pub warnings: Vec<String>,
    /// Number of tar entries read.
    pub entries: u64,
    /// Directories (relative to the destination) created only as parents of other entries:
    /// the archive has no entry for them. They got default attributes, which a caller may
    /// want to copy from the layers below. Sorted, without duplicates.
    pub implicit_dirs: Vec<PathBuf>,
    /// With [`ExtractOptions::digests`]: the regular files created new.
    pub files: Vec<ExtractedFile>,
}

/// A directory whose mode and mtime are set once all entries are extracted.
struct PendingDir {
    relative: PathBuf,
    mode: u32,
    mtime: Option<SystemTime>,
}

/// State of one extraction.
struct Extractor<'a> {
    dest: &'a Path,
    options: &'a ExtractOptions,
    is_root: bool,
    /// Real (resolved) paths this archive created, relative to `dest`.
    created: BTreeSet<PathBuf>,
    dirs: Vec<PendingDir>,
    /// Directories created as parents of entries, relative to `dest`.
    implicit: BTreeSet<PathBuf>,
    /// Directories the archive has entries for, relative to `dest`.
    declared: BTreeSet<PathBuf>,
    report: ExtractReport,
    /// The parent directory of the last entry, resolved and open: consecutive entries of
    /// one directory (most of a sorted archive) skip resolving and stat-ing it again. An
    /// entry only changes things inside its own parent, so the cache stays right while the
    /// parent components stay the same; any other parent replaces it.
    parent_cache: Option<ParentCache>,
    /// This process's effective user and group: what a new file belongs to.
    own_ids: (u32, u32),
}

/// See `Extractor::parent_cache`.
struct ParentCache {
    /// The parent components as they appear in the archive, joined with `/`.
    key: Vec<u8>,
    /// The resolved parent, relative to `dest`.
    resolved: PathBuf,
    /// The parent directory, open.
    dir: std::os::fd::OwnedFd,
    /// Whether new files in it take its group (setgid directory).
    setgid: bool,
}

/// Extracts the uncompressed tar stream `tar` into `dest`, which must exist.
pub fn extract<R: Read>(tar: R, dest: &Path, options: &ExtractOptions) -> Result<ExtractReport> {
    let mut extractor = Extractor {
        dest,
        options,
        is_root: running_as_root(),
        created: BTreeSet::new(),
        dirs: Vec::new(),
        implicit: BTreeSet::new(),
        declared: BTreeSet::new(),
        report: ExtractReport::default(),
        parent_cache: None,
        own_ids: (
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
        ),
    };
    let mut archive = tar::Archive::new(tar);
    let entries = archive.entries().map_err(|source| Error::Tar { source })?;
    for entry in entries {
        let mut entry = entry.map_err(|source| Error::Tar { source })?;
        extractor.report.entries += 1;
        extractor.entry(&mut entry)?;
    }
    extractor.finish_dirs()?;
    extractor.finish_implicit_dirs();
    Ok(extractor.report)
}

impl Extractor<'_> {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let name = entry.path_bytes().into_owned();
        let display = String::from_utf8_lossy(&name).into_owned();
        let unsafe_path = || Error::UnsafePath {
            path: display.clone(),
        };
        let components = clean_components(&name).ok_or_else(unsafe_path)?;
        let Some((base, parents)) = components.split_last() else {
            return Ok(()); // the root itself: `dest` is not ours to change
        };
        let key = parents.join(&b'/');
        let cached = self
            .parent_cache
            .as_ref()
            .filter(|cache| cache.key == key)
            .map(|cache| cache.resolved.clone());
        let parent_known = cached.is_some();
        let parent = match cached {
            Some(parent) => parent,
            None => {
                self.parent_cache = None;
                resolve_in_root(self.dest, parents, true)
                    .map_err(|source| Error::io(self.dest.join(&display), source))?
            }
        };
        let base_os = OsStr::from_bytes(base);
        if self.options.overlay && base.starts_with(WHITEOUT_PREFIX.as_bytes()) {
            return self.overlay_whiteout(&parent, base, &display);
        }
        if self.options.apply_whiteouts && base.starts_with(WHITEOUT_PREFIX.as_bytes()) {
            return self.whiteout(&parent, base, &display);
        }
        let relative = parent.join(base_os);
        let target = self.dest.join(&relative);
        let entry_type = entry.header().entry_type();
        let mode = entry
            .header()
            .mode()
            .map_err(|source| Error::Tar { source })?
            & 0o7777;
        let mtime = entry_mtime(entry)?;
        let xattrs = self.entry_xattrs(entry, &display)?;
        let is_dir = entry_type == EntryType::Directory;
        let known = is_dir
            || matches!(
                entry_type,
                EntryType::Regular
                    | EntryType::Continuous
                    | EntryType::GNUSparse
                    | EntryType::Symlink
                    | EntryType::Link
                    | EntryType::Fifo
                    | EntryType::Char
                    | EntryType::Block
            );
        if !known {
            self.warn(format!(
                "skipped {display}: unsupported entry type {:?}",
                entry_type
            ));
            return Ok(());
        }
        if !parent_known {
            self.create_parents(&parent)?;
            let dir = rustix::fs::open(
                self.dest.join(&parent),
                rustix::fs::OFlags::DIRECTORY
                    | rustix::fs::OFlags::NOFOLLOW
                    | rustix::fs::OFlags::CLOEXEC
                    | rustix::fs::OFlags::RDONLY,
                Mode::empty(),
            )
            .map_err(|errno| Error::io(self.dest.join(&parent), io::Error::from(errno)))?;
            let setgid = rustix::fs::fstat(&dir)
                .map_err(|errno| Error::io(self.dest.join(&parent), io::Error::from(errno)))?
                .st_mode
                & 0o2000
                != 0;
            self.parent_cache = Some(ParentCache {
                key,
                resolved: parent.clone(),
                dir,
                setgid,
            });
        }
        let plain_file =
            matches!(entry_type, EntryType::Regular | EntryType::Continuous) && xattrs.is_empty();
        if plain_file && self.new_file_at(entry, base_os, &target, mode, mtime)? {
            self.note_created(relative);
            return Ok(());
        }
        clear_for(&target, is_dir)?;
        // Order matters: chown clears setuid/setgid bits and `security.capability`, so the
        // owner comes first, then xattrs, then the mode, then the times.
        match entry_type {
            EntryType::Directory => {
                if !target.is_dir() {
                    fs::create_dir(&target).map_err(|source| Error::io(&target, source))?;
                }
                self.declared.insert(relative.clone());
                self.chown(entry, &target)?;
                self.set_xattrs(&target, &xattrs, &display);
                self.dirs.push(PendingDir {
                    relative: relative.clone(),
                    mode,
                    mtime,
                });
            }
            EntryType::Symlink => {
                let link = entry.link_name_bytes().unwrap_or_default().into_owned();
                symlink(OsStr::from_bytes(&link), &target)
                    .map_err(|source| Error::io(&target, source))?;
                self.chown(entry, &target)?;
                self.set_xattrs(&target, &xattrs, &display);
                set_times_nofollow(&target, mtime)?;
            }
            EntryType::Link => self.hardlink(entry, &target, &display)?,
            EntryType::Fifo | EntryType::Char | EntryType::Block => {
                if !self.make_node(entry, &target, &display)? {
                    return Ok(());
                }
                self.chown(entry, &target)?;
                self.set_xattrs(&target, &xattrs, &display);
                fs::set_permissions(&target, Permissions::from_mode(mode))
                    .map_err(|source| Error::io(&target, source))?;
                set_times_nofollow(&target, mtime)?;
            }
            _ => {
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&target)
                    .map_err(|source| Error::io(&target, source))?;
                io::copy(entry, &mut file).map_err(|source| Error::Tar { source })?;
                self.chown(entry, &target)?;
                self.set_xattrs(&target, &xattrs, &display);
                file.set_permissions(Permissions::from_mode(mode))
                    .map_err(|source| Error::io(&target, source))?;
                if let Some(mtime) = mtime {
                    file.set_times(FileTimes::new().set_modified(mtime))
                        .map_err(|source| Error::io(&target, source))?;
                }
            }
        }
        self.note_created(relative);
        Ok(())
    }

    /// Remembers a path this archive created, for opaque markers applied in place
    /// (the only reader; not kept otherwise: it is large for large layers).
    fn note_created(&mut self, relative: PathBuf) {
        if self.options.apply_whiteouts && !self.options.overlay {
            self.created.insert(relative);
        }
    }

    /// Applies `.wh.<name>` or `.wh..wh..opq` found in `parent`.
    fn whiteout(&mut self, parent: &Path, base: &[u8], display: &str) -> Result<()> {
        if base == OPAQUE_MARKER.as_bytes() {
            return self.make_opaque(parent);
        }
        let name = &base[WHITEOUT_PREFIX.len()..];
        if matches!(name, b"" | b"." | b"..") || name.contains(&b'/') {
            return Err(Error::UnsafePath {
                path: display.to_owned(),
            });
        }
        remove_any(&self.dest.join(parent).join(OsStr::from_bytes(name)))
    }

    /// Turns `.wh.<name>` found in `parent` into an overlayfs whiteout (a character device
    /// 0:0 replacing `<name>`) and `.wh..wh..opq` into the opaque xattr on `parent`.
    fn overlay_whiteout(&mut self, parent: &Path, base: &[u8], display: &str) -> Result<()> {
        self.create_parents(parent)?;
        if base == OPAQUE_MARKER.as_bytes() {
            let dir = self.dest.join(parent);
            return write_xattr(&dir, OVERLAY_OPAQUE_XATTR, b"y")
                .map_err(|source| Error::io(&dir, source));
        }
        let name = &base[WHITEOUT_PREFIX.len()..];
        if matches!(name, b"" | b"." | b"..") || name.contains(&b'/') {
            return Err(Error::UnsafePath {
                path: display.to_owned(),
            });
        }
        let relative = parent.join(OsStr::from_bytes(name));
        let target = self.dest.join(&relative);
        remove_any(&target)?;
        mknodat(
            CWD,
            &target,
            FileType::CharacterDevice,
            Mode::empty(),
            makedev(0, 0),
        )
        .map_err(|errno| Error::io(&target, io::Error::from(errno)))?;
        self.note_created(relative);
        Ok(())
    }

    /// Creates the missing directories of `parent` (relative to `dest`, already resolved),
    /// remembering which ones this extraction created.
    fn create_parents(&mut self, parent: &Path) -> Result<()> {
        if fs::symlink_metadata(self.dest.join(parent)).is_ok_and(|m| m.is_dir()) {
            return Ok(()); // the common case: one stat instead of a mkdir per component
        }
        let mut relative = PathBuf::new();
        for component in parent.iter() {
            relative.push(component);
            let full = self.dest.join(&relative);
            match fs::create_dir(&full) {
                Ok(()) => {
                    self.implicit.insert(relative.clone());
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
                Err(source) => return Err(Error::io(&full, source)),
            }
        }
        Ok(())
    }

    /// Reports the directories created as parents that the archive never declared and that
    /// are still directories.
    fn finish_implicit_dirs(&mut self) {
        let implicit = std::mem::take(&mut self.implicit);
        self.report.implicit_dirs = implicit
            .into_iter()
            .filter(|relative| !self.declared.contains(relative))
            .filter(|relative| {
                fs::symlink_metadata(self.dest.join(relative)).is_ok_and(|m| m.is_dir())
            })
            .collect();
    }

    /// Removes what earlier layers put in `dir`, keeping what this archive created.
    fn make_opaque(&mut self, dir: &Path) -> Result<()> {
        let full = self.dest.join(dir);
        let children = match fs::read_dir(&full) {
            Ok(children) => children,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(Error::io(&full, source)),
        };
        for child in children {
            let child = child.map_err(|source| Error::io(&full, source))?;
            let relative = dir.join(child.file_name());
            let keep = self
                .created
                .range(relative.clone()..)
                .next()
                .is_some_and(|created| created.starts_with(&relative));
            if !keep {
                remove_any(&child.path())?;
            }
        }
        Ok(())
    }

    fn hardlink<R: Read>(
        &mut self,
        entry: &tar::Entry<'_, R>,
        target: &Path,
        display: &str,
    ) -> Result<()> {
        let link = entry.link_name_bytes().unwrap_or_default().into_owned();
        let link_display = String::from_utf8_lossy(&link).into_owned();
        let invalid = || Error::InvalidHardlink {
            path: display.to_owned(),
            target: link_display.clone(),
        };
        let components = clean_components(&link).ok_or_else(|| Error::UnsafePath {
            path: link_display.clone(),
        })?;
        if components.is_empty() {
            return Err(invalid());
        }
        let source = resolve_in_root(self.dest, &components, false)
            .map_err(|source| Error::io(self.dest.join(&link_display), source))?;
        let source = self.dest.join(source);
        match fs::symlink_metadata(&source) {
            Ok(metadata) if metadata.file_type().is_file() => {}
            _ => return Err(invalid()),
        }
        fs::hard_link(&source, target).map_err(|error| Error::io(target, error))
    }

    /// Applies the entry's owner when asked to.
    fn chown<R: Read>(&mut self, entry: &tar::Entry<'_, R>, target: &Path) -> Result<()> {
        if !self.options.preserve_ownership {
            return Ok(());
        }
        let (uid, gid) = entry_owner(entry, target)?;
        let result = lchown(target, Some(uid), Some(gid));
        self.owner_applied(result, (uid, gid), target)
    }

    /// What a failed chown to `owner` means: an error as root, a warning otherwise.
    fn owner_applied(
        &mut self,
        result: io::Result<()>,
        (uid, gid): (u32, u32),
        target: &Path,
    ) -> Result<()> {
        match result {
            Ok(()) => Ok(()),
            Err(source) if self.is_root => Err(Error::io(target, source)),
            Err(error) => {
                self.warn(format!(
                    "could not set owner {uid}:{gid} of {}: {error}",
                    target.display()
                ));
                Ok(())
            }
        }
    }

    /// Creates a FIFO or device node; returns false (with a warning) when this process may
    /// not create device nodes.
    fn make_node<R: Read>(
        &mut self,
        entry: &tar::Entry<'_, R>,
        target: &Path,
        display: &str,
    ) -> Result<bool> {
        let header = entry.header();
        let (file_type, dev) = match header.entry_type() {
            EntryType::Fifo => (FileType::Fifo, 0),
            entry_type => {
                let major = header
                    .device_major()
                    .map_err(|source| Error::Tar { source })?;
                let minor = header
                    .device_minor()
                    .map_err(|source| Error::Tar { source })?;
                let dev = makedev(major.unwrap_or(0), minor.unwrap_or(0));
                if entry_type == EntryType::Char {
                    (FileType::CharacterDevice, dev)
                } else {
                    (FileType::BlockDevice, dev)
                }
            }
        };
        match mknodat(CWD, target, file_type, Mode::from_raw_mode(0o600), dev) {
            Ok(()) => Ok(true),
            Err(errno) if file_type != FileType::Fifo && errno == Errno::PERM => {
                self.warn(format!(
                    "skipped device {display}: not permitted to create device nodes"
                ));
                Ok(false)
            }
            Err(errno) => Err(Error::io(target, io::Error::from(errno))),
        }
    }

    /// The entry's `SCHILY.xattr.*` PAX records, minus host-private ones (which are reported).
    fn entry_xattrs<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        display: &str,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let Some(extensions) = entry
            .pax_extensions()
            .map_err(|source| Error::Tar { source })?
        else {
            return Ok(Vec::new());
        };
        let mut xattrs = Vec::new();
        let mut skipped = Vec::new();
        for extension in extensions {
            let extension = extension.map_err(|source| Error::Tar { source })?;
            let Some(name) = extension
                .key()
                .ok()
                .and_then(|key| key.strip_prefix("SCHILY.xattr."))
            else {
                continue;
            };
            if is_host_private(name) {
                skipped.push(name.to_owned());
            } else {
                xattrs.push((name.to_owned(), extension.value_bytes().to_vec()));
            }
        }
        for name in skipped {
            self.warn(format!(
                "xattr {name} of {display} not applied: host-private"
            ));
        }
        Ok(xattrs)
    }

    /// Sets `xattrs` on `target`; failures (unsupported filesystem, no permission) are warnings.
    fn set_xattrs(&mut self, target: &Path, xattrs: &[(String, Vec<u8>)], display: &str) {
        for (name, value) in xattrs {
            if let Err(error) = write_xattr(target, name, value) {
                self.warn(format!("xattr {name} of {display} not applied: {error}"));
            }
        }
    }

    fn warn(&mut self, message: String) {
        self.report.warnings.push(message);
    }

    /// Sets directory modes and mtimes, deepest first, on directories that are still there.
    fn finish_dirs(&mut self) -> Result<()> {
        for pending in self.dirs.iter().rev() {
            let components: Vec<&[u8]> = pending
                .relative
                .iter()
                .map(|component| component.as_bytes())
                .collect();
            let still_here = resolve_in_root(self.dest, &components, false)
                .is_ok_and(|resolved| resolved == pending.relative);
            let path = self.dest.join(&pending.relative);
            let is_dir = fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_dir());
            if !still_here || !is_dir {
                continue;
            }
            if let Some(mtime) = pending.mtime {
                let dir = File::open(&path).map_err(|source| Error::io(&path, source))?;
                dir.set_times(FileTimes::new().set_modified(mtime))
                    .map_err(|source| Error::io(&path, source))?;
            }
            fs::set_permissions(&path, Permissions::from_mode(pending.mode))
                .map_err(|source| Error::io(&path, source))?;
        }
        Ok(())
    }
}

/// The entry's numeric owner (`target` names it in the error).
fn entry_owner<R: Read>(entry: &tar::Entry<'_, R>, target: &Path) -> Result<(u32, u32)> {
    let header = entry.header();
    let uid = header.uid().map_err(|source| Error::Tar { source })?;
    let gid = header.gid().map_err(|source| Error::Tar { source })?;
    match (u32::try_from(uid), u32::try_from(gid)) {
        (Ok(uid), Ok(gid)) => Ok((uid, gid)),
        _ => Err(Error::Unencodable {
            path: target.display().to_string(),
            reason: "uid or gid does not fit in 32 bits",
        }),
    }
}

/// Makes room for a new entry at `target`: a directory over a directory merges; anything
/// else is removed first (a symlink is removed, never followed).
fn clear_for(target: &Path, new_is_dir: bool) -> Result<()> {
    match fs::symlink_metadata(target) {
        Ok(metadata) if metadata.is_dir() && new_is_dir => Ok(()),
        Ok(_) => remove_any(target),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::io(target, source)),
    }
}

/// Removes `path` (recursively for a directory, never following symlinks); missing is fine.
fn remove_any(path: &Path) -> Result<()> {
    let result = match fs::symlink_metadata(path) {
        Ok(metadata) if metadata.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => Ok(()),
        Err(error)
            if matches!(
                error.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(())
        }
        Err(source) => Err(Error::io(path, source)),
    }
}

/// The entry's mtime: PAX `mtime` (whole seconds) if present, else the header's.
fn entry_mtime<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Option<SystemTime>> {
    let mut seconds = entry
        .header()
        .mtime()
        .map_err(|source| Error::Tar { source })?;
    if let Some(extensions) = entry
        .pax_extensions()
        .map_err(|source| Error::Tar { source })?
    {
        for extension in extensions.flatten() {
            if extension.key() == Ok("mtime") {
                let value = extension.value().unwrap_or_default();
                let whole = value.split('.').next().unwrap_or_default();
                seconds = whole.parse::<u64>().unwrap_or(0);
            }
        }
    }
    Ok(SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(seconds)))
}

/// Sets the mtime of `path` without following a symlink (access time left alone).
fn set_times_nofollow(path: &Path, mtime: Option<SystemTime>) -> Result<()> {
    let Some(mtime) = mtime else {
        return Ok(());
    };
    let since_epoch = mtime
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let times = Timestamps {
        last_access: Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_OMIT,
        },
        last_modification: Timespec {
            tv_sec: i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(since_epoch.subsec_nanos()),
        },
    };
    utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|errno| Error::io(path, io::Error::from(errno)))
}

/// Whether this process runs with effective uid 0.
fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[path = "extract_new_file.rs"]
mod new_file;

#[cfg(test)]
#[path = "extract_tests.rs"]
mod tests;
