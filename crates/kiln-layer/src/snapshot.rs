//! Stat snapshots of a directory tree: an `lstat` walk that records, for every path under a
//! root, what [`crate::diff_trees`] needs to tell whether it changed. No content is read.

use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The type of a filesystem object in a [`TreeSnapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symbolic link.
    Symlink,
    /// A named pipe.
    Fifo,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A Unix socket (never put into layers).
    Socket,
}

/// What `lstat` said about one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStat {
    /// The object's type.
    pub kind: NodeKind,
    /// Permission bits including setuid/setgid/sticky (`st_mode & 0o7777`).
    pub mode: u32,
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Length in bytes.
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Nanoseconds part of the modification time.
    pub mtime_nsec: i64,
    /// Status change time, seconds since the epoch.
    pub ctime: i64,
    /// Nanoseconds part of the status change time.
    pub ctime_nsec: i64,
    /// Inode number.
    pub ino: u64,
    /// Device holding the inode.
    pub dev: u64,
    /// Number of hard links.
    pub nlink: u64,
    /// Device number of a character or block device.
    pub rdev: u64,
    /// The target of a symlink.
    pub link_target: Option<PathBuf>,
    /// Birth time of a directory (statx), when the filesystem records it: a
    /// directory removed and recreated may get its old inode number back,
    /// but not its birth time.
    pub birth: Option<std::time::SystemTime>,
}

impl NodeStat {
    /// The stat recorded for `metadata` (from `lstat`) and, for a symlink, its target.
    pub(crate) fn from_metadata(metadata: &Metadata, link_target: Option<PathBuf>) -> Self {
        let file_type = metadata.file_type();
        let kind = if file_type.is_dir() {
            NodeKind::Dir
        } else if file_type.is_symlink() {
            NodeKind::Symlink
        } else if file_type.is_fifo() {
            NodeKind::Fifo
        } else if file_type.is_char_device() {
            NodeKind::CharDevice
        } else if file_type.is_block_device() {
            NodeKind::BlockDevice
        } else if file_type.is_socket() {
            NodeKind::Socket
        } else {
            NodeKind::File
        };
        NodeStat {
            kind,
            mode: metadata.mode() & 0o7777,
            uid: metadata.uid(),
            gid: metadata.gid(),
            size: metadata.size(),
            mtime: metadata.mtime(),
            mtime_nsec: metadata.mtime_nsec(),
            ctime: metadata.ctime(),
            ctime_nsec: metadata.ctime_nsec(),
            ino: metadata.ino(),
            dev: metadata.dev(),
            nlink: metadata.nlink(),
            rdev: metadata.rdev(),
            link_target,
            birth: if kind == NodeKind::Dir {
                metadata.created().ok()
            } else {
                None
            },
        }
    }

    /// Whether anything that makes a layer entry differ changed (atime and nlink do not count;
    /// a new link changes the ctime anyway). A directory's ctime does not count either: a
    /// sandbox that creates and removes a mount point in it (restoring its mtime) changes
    /// only its ctime, and real changes of a directory show in its mtime, mode, owner or
    /// children.
    pub(crate) fn changed_from(&self, before: &NodeStat) -> bool {
        let ctime_counts = self.kind != NodeKind::Dir;
        self.kind != before.kind
            || self.mode != before.mode
            || self.uid != before.uid
            || self.gid != before.gid
            || self.size != before.size
            || (self.mtime, self.mtime_nsec) != (before.mtime, before.mtime_nsec)
            || (ctime_counts && (self.ctime, self.ctime_nsec) != (before.ctime, before.ctime_nsec))
            || self.ino != before.ino
            || self.rdev != before.rdev
            || self.link_target != before.link_target
    }
}

/// One path of the tree: its name in its parent, its stat and, for directories, its children
/// sorted by name bytes.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) name: OsString,
    pub(crate) stat: NodeStat,
    pub(crate) children: Vec<Node>,
}

/// The stat of every path under a root (the root itself excluded), taken by [`snapshot_tree`].
#[derive(Debug, Clone, Default)]
pub struct TreeSnapshot {
    pub(crate) children: Vec<Node>,
    count: usize,
}

impl TreeSnapshot {
    /// Number of paths recorded.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the tree was empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The stat of `path` (relative, `/`-separated, no symlinks followed), if it was there.
    pub fn get(&self, path: &str) -> Option<&NodeStat> {
        let mut children = &self.children;
        let mut found = None;
        for component in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
            let index = children
                .binary_search_by(|node| node.name.as_bytes().cmp(component.as_bytes()))
                .ok()?;
            let node = &children[index];
            found = Some(&node.stat);
            children = &node.children;
        }
        found
    }
}

/// Records the stat of everything under `root` without following symlinks. Nothing is skipped:
/// the caller decides what to leave out when diffing.
pub fn snapshot_tree(root: &Path) -> Result<TreeSnapshot> {
    let mut count = 0;
    let children = walk_dir(root, &mut count)?;
    Ok(TreeSnapshot { children, count })
}

/// Reads `dir` completely (closing it before descending, so deep trees do not use up file
/// descriptors), then walks its subdirectories.
fn walk_dir(dir: &Path, count: &mut usize) -> Result<Vec<Node>> {
    let reader = fs::read_dir(dir).map_err(|source| Error::io(dir, source))?;
    let mut nodes = Vec::new();
    for entry in reader {
        let entry = entry.map_err(|source| Error::io(dir, source))?;
        // `DirEntry::metadata` is an `fstatat(AT_SYMLINK_NOFOLLOW)` relative to the open dir.
        let metadata = entry
            .metadata()
            .map_err(|source| Error::io(entry.path(), source))?;
        let link_target = if metadata.file_type().is_symlink() {
            let path = entry.path();
            let target = fs::read_link(&path).map_err(|source| Error::io(&path, source))?;
            Some(target)
        } else {
            None
        };
        nodes.push(Node {
            name: entry.file_name(),
            stat: NodeStat::from_metadata(&metadata, link_target),
            children: Vec::new(),
        });
    }
    nodes.sort_unstable_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    *count += nodes.len();
    for node in &mut nodes {
        if node.stat.kind == NodeKind::Dir {
            node.children = walk_dir(&dir.join(&node.name), count)?;
        }
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn snapshot_records_types_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::write(root.join("a/b/file"), b"12345").unwrap();
        fs::set_permissions(root.join("a/b/file"), fs::Permissions::from_mode(0o4755)).unwrap();
        symlink("../nowhere", root.join("a/link")).unwrap();
        symlink("/", root.join("up")).unwrap();
        let snapshot = snapshot_tree(root).unwrap();
        assert_eq!(snapshot.len(), 5);
        let cases: [(&str, NodeKind); 5] = [
            ("a", NodeKind::Dir),
            ("a/b", NodeKind::Dir),
            ("a/b/file", NodeKind::File),
            ("a/link", NodeKind::Symlink),
            ("up", NodeKind::Symlink),
        ];
        for (path, kind) in cases {
            assert_eq!(snapshot.get(path).map(|s| s.kind), Some(kind), "{path}");
        }
        let file = snapshot.get("a/b/file").unwrap();
        assert_eq!((file.size, file.mode, file.nlink), (5, 0o4755, 1));
        assert_eq!(
            snapshot.get("a/link").unwrap().link_target.as_deref(),
            Some(Path::new("../nowhere"))
        );
        assert!(
            snapshot.get("up/etc").is_none(),
            "symlinks are not followed"
        );
        assert!(snapshot.get("missing").is_none());
        assert!(snapshot_tree(&root.join("missing")).is_err());
    }
}
