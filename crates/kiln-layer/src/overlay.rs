//! Overlayfs building blocks: the merged view of a stack of lower directories in overlay
//! format ([`LowerStack`]), read without mounting, and the layer recorded by an overlay upper
//! directory ([`diff_upper`]), which replaces two full snapshots of a RUN step's rootfs.
//!
//! Overlay format (as the kernel's overlayfs reads it): a whiteout is a character device 0:0
//! and hides the path in every layer below; a directory with xattr
//! `trusted.overlay.opaque=y` hides the same directory of the layers below; a non-directory
//! hides everything below it at its path.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rustix::fs::lgetxattr;
use rustix::io::Errno;

use crate::diff::{push_component, Differ};
use crate::entry::{EntryKind, LayerEntry};
use crate::error::{Error, Result};
use crate::snapshot::{snapshot_tree, Node, NodeKind, NodeStat};

/// The xattr that makes a directory of an overlayfs layer hide the same directory below.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Overlay lower directories, topmost first, each in overlay format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LowerStack {
    dirs: Vec<PathBuf>,
}

impl LowerStack {
    /// A stack of `dirs`, topmost first (the order of overlayfs' `lowerdir=` option).
    pub fn new(dirs: Vec<PathBuf>) -> Self {
        LowerStack { dirs }
    }

    /// The directories, topmost first.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// What `lstat(merged/path)` would report for the merged view of the stack (no mount
    /// needed), or `None` when the path is absent. `path` is relative and `/`-separated;
    /// symlinks are never followed, so a symlinked ancestor means absent. `""` is the root.
    pub fn stat(&self, path: &str) -> Result<Option<NodeStat>> {
        Ok(self.lookup(path)?.map(|(_, stat)| stat))
    }

    /// The directory holding `path` in the merged view (the topmost one that provides it),
    /// for reading its xattrs or content, or `None` when the path is absent.
    pub fn locate(&self, path: &str) -> Result<Option<PathBuf>> {
        Ok(self
            .lookup(path)?
            .map(|(layer, _)| self.dirs[layer].clone()))
    }

    /// The index of the layer providing `path` and its stat there.
    fn lookup(&self, path: &str) -> Result<Option<(usize, NodeStat)>> {
        let components: Vec<&str> = path
            .split('/')
            .filter(|component| !component.is_empty() && *component != ".")
            .collect();
        if components.contains(&"..") {
            return Err(Error::UnsafePath {
                path: path.to_owned(),
            });
        }
        // Layers whose directory at the current depth is part of the merged directory.
        let mut merged: Vec<usize> = (0..self.dirs.len()).collect();
        if components.is_empty() {
            for &layer in &merged {
                if let Some(stat) = lstat(&self.dirs[layer])? {
                    return Ok(Some((layer, stat)));
                }
            }
            return Ok(None);
        }
        let mut relative = PathBuf::new();
        for (depth, component) in components.iter().enumerate() {
            relative.push(component);
            let mut found: Option<(usize, NodeStat)> = None;
            let mut merged_below = Vec::new();
            for &layer in &merged {
                let full = self.dirs[layer].join(&relative);
                let Some(stat) = lstat(&full)? else {
                    continue;
                };
                if is_whiteout(&stat) {
                    break;
                }
                let is_dir = stat.kind == NodeKind::Dir;
                if found.is_none() {
                    found = Some((layer, stat));
                }
                // A non-directory hides what is below it, and also ends the merge of a
                // directory found above it.
                if !is_dir {
                    break;
                }
                merged_below.push(layer);
                if is_opaque(&full)? {
                    break;
                }
            }
            let Some((layer, stat)) = found else {
                return Ok(None);
            };
            if depth + 1 == components.len() {
                return Ok(Some((layer, stat)));
            }
            if stat.kind != NodeKind::Dir {
                return Ok(None);
            }
            merged = merged_below;
        }
        Ok(None)
    }
}

/// The layer entries of the change an overlay upper dir records on top of `lowers`.
///
/// Paths for which `exclude` returns true are left out with everything under them and never
/// whiteouted, as in [`crate::diff_trees`], which gives the same entries for the same change.
/// Contents and xattrs are read from `upper` (overlayfs' private xattrs are left out). The
/// mount must not use `metacopy=on` (upper files would lack their content) nor
/// `redirect_dir=on` (renamed directories would lose their lower content); the kernel
/// defaults leave both off. The result is sorted by path bytes.
pub fn diff_upper(
    upper: &Path,
    lowers: &LowerStack,
    exclude: &dyn Fn(&str) -> bool,
) -> Result<Vec<LayerEntry>> {
    let tree = snapshot_tree(upper)?;
    let mut walk = UpperWalk {
        upper,
        lowers,
        differ: Differ::new(upper, exclude),
    };
    let mut path = String::new();
    walk.dir(&mut path, true, &tree.children, false)?;
    walk.differ.finish(&tree)
}

/// State of one [`diff_upper`].
struct UpperWalk<'a> {
    upper: &'a Path,
    lowers: &'a LowerStack,
    differ: Differ<'a>,
}

impl UpperWalk<'_> {
    /// Emits the changes recorded by the children `nodes` of the upper directory `path`.
    /// `fresh` means the directory hides everything below (new or opaque): every child is
    /// new and whiteouts have nothing to hide.
    fn dir(&mut self, path: &mut String, exact: bool, nodes: &[Node], fresh: bool) -> Result<()> {
        for node in nodes {
            let (length, exact_name) = push_component(path, &node.name);
            if !self.differ.excluded(path) {
                self.node(path, exact && exact_name, node, fresh)?;
            }
            path.truncate(length);
        }
        Ok(())
    }

    fn node(&mut self, path: &mut String, exact: bool, node: &Node, fresh: bool) -> Result<()> {
        let stat = &node.stat;
        if is_whiteout(stat) {
            if !fresh && self.lowers.stat(path)?.is_some() {
                let whiteout = LayerEntry::new(path.as_str(), EntryKind::Whiteout, 0, 0);
                self.differ.push(whiteout, exact)?;
            }
            return Ok(());
        }
        if stat.kind != NodeKind::Dir {
            // Overlayfs copies a non-directory up only when it was written to or its
            // metadata changed; sockets are dropped by `emit`.
            return self.differ.emit(path, exact, stat, false);
        }
        if fresh {
            self.differ.emit(path, exact, stat, false)?;
            return self.dir(path, exact, &node.children, true);
        }
        let lower = self.lowers.stat(path)?;
        match lower {
            Some(lower) if lower.kind == NodeKind::Dir => {
                if is_opaque(&self.upper.join(path.as_str()))? {
                    // Removed and recreated: hide whatever the lower layers had in it.
                    self.differ.emit(path, exact, stat, true)?;
                    self.dir(path, exact, &node.children, true)
                } else {
                    // A directory copied up only because a child changed is not a change.
                    if dir_attributes_differ(stat, &lower) {
                        self.differ.emit(path, exact, stat, false)?;
                    }
                    self.dir(path, exact, &node.children, false)
                }
            }
            // New, or replacing a non-directory: a plain directory with new children.
            _ => {
                self.differ.emit(path, exact, stat, false)?;
                self.dir(path, exact, &node.children, true)
            }
        }
    }
}

/// Whether an upper directory's mode, owner or mtime differ from the lower one's.
fn dir_attributes_differ(upper: &NodeStat, lower: &NodeStat) -> bool {
    (
        upper.mode,
        upper.uid,
        upper.gid,
        upper.mtime,
        upper.mtime_nsec,
    ) != (
        lower.mode,
        lower.uid,
        lower.gid,
        lower.mtime,
        lower.mtime_nsec,
    )
}

/// Whether `stat` is an overlayfs whiteout: a character device 0:0.
fn is_whiteout(stat: &NodeStat) -> bool {
    stat.kind == NodeKind::CharDevice && stat.rdev == 0
}

/// The stat of `path` without following a final symlink, or `None` when it is absent.
fn lstat(path: &Path) -> Result<Option<NodeStat>> {
    let metadata = match fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error)
            if matches!(
                error.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(None)
        }
        Err(source) => return Err(Error::io(path, source)),
    };
    let link_target = if metadata.file_type().is_symlink() {
        Some(fs::read_link(path).map_err(|source| Error::io(path, source))?)
    } else {
        None
    };
    Ok(Some(NodeStat::from_metadata(&metadata, link_target)))
}

/// Whether the directory `path` carries `trusted.overlay.opaque=y`.
pub fn is_opaque(path: &Path) -> Result<bool> {
    let mut value = [0u8; 8];
    match lgetxattr(path, OVERLAY_OPAQUE_XATTR, &mut value[..]) {
        Ok(length) => Ok(value.get(..length) == Some(&b"y"[..])),
        Err(Errno::NODATA | Errno::NOTSUP | Errno::RANGE) => Ok(false),
        Err(errno) => Err(Error::io(path, io::Error::from(errno))),
    }
}

#[cfg(test)]
#[path = "overlay_tests.rs"]
mod tests;
