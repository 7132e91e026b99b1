//! The description of one layer entry that [`crate::write_layer`] turns into tar records.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// One filesystem object to put into a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerEntry {
    /// Relative, `/`-separated path: no leading `/` or `./`, no trailing `/`, no `.` or `..` components.
    pub path: String,
    /// What the entry is.
    pub kind: EntryKind,
    /// Permission bits including setuid/setgid/sticky; no file-type bits.
    pub mode: u32,
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Modification time in seconds since the epoch; negative values are written as 0.
    pub mtime: i64,
    /// Extended attributes, written as PAX `SCHILY.xattr.<name>` records in name order.
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

/// The type of a [`LayerEntry`] and its type-specific data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file of `size` bytes.
    File {
        /// The length of the content; checked again when the content is read.
        size: u64,
        /// Where the bytes come from.
        content: Content,
    },
    /// A symbolic link.
    Symlink {
        /// The link target, stored as given.
        target: String,
    },
    /// A hard link to another entry of the same layer.
    Hardlink {
        /// The layer path of the first link.
        target: String,
    },
    /// A named pipe.
    Fifo,
    /// A character device.
    CharDevice {
        /// Device major number.
        major: u32,
        /// Device minor number.
        minor: u32,
    },
    /// A block device.
    BlockDevice {
        /// Device major number.
        major: u32,
        /// Device minor number.
        minor: u32,
    },
    /// Deletes `path` from lower layers: written as `dir/.wh.name`, a zero-size regular file.
    Whiteout,
    /// A directory that hides lower layers' content: the dir entry plus `dir/.wh..wh..opq`.
    OpaqueDir,
}

/// The bytes of a regular file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Streamed from this file when the layer is written.
    Path(PathBuf),
    /// Held in memory.
    Bytes(Vec<u8>),
}

impl LayerEntry {
    /// A directory entry owned by root with no xattrs.
    pub fn dir(path: impl Into<String>, mode: u32, mtime: i64) -> Self {
        Self::new(path, EntryKind::Dir, mode, mtime)
    }

    /// A regular file entry holding `bytes`, owned by root with no xattrs.
    pub fn file(path: impl Into<String>, bytes: Vec<u8>, mode: u32, mtime: i64) -> Self {
        let kind = EntryKind::File {
            size: bytes.len() as u64,
            content: Content::Bytes(bytes),
        };
        Self::new(path, kind, mode, mtime)
    }

    /// A symlink entry (mode 0o777) owned by root with no xattrs.
    pub fn symlink(path: impl Into<String>, target: impl Into<String>, mtime: i64) -> Self {
        let kind = EntryKind::Symlink {
            target: target.into(),
        };
        Self::new(path, kind, 0o777, mtime)
    }

    /// An entry of any kind owned by root with no xattrs.
    pub fn new(path: impl Into<String>, kind: EntryKind, mode: u32, mtime: i64) -> Self {
        LayerEntry {
            path: path.into(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime,
            xattrs: BTreeMap::new(),
        }
    }
}

/// Whether `path` is a clean layer path: non-empty, relative, no empty, `.` or `..` components.
pub(crate) fn is_clean_layer_path(path: &str) -> bool {
    !path.is_empty()
        && path
            .split('/')
            .all(|component| !component.is_empty() && component != "." && component != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_layer_paths() {
        let cases = [
            ("etc/passwd", true),
            ("a", true),
            ("", false),
            ("/etc", false),
            ("./etc", false),
            ("etc/", false),
            ("a//b", false),
            ("a/../b", false),
            ("..", false),
            ("a/.", false),
            ("..a/b..", true),
        ];
        for (path, expected) in cases {
            assert_eq!(is_clean_layer_path(path), expected, "{path:?}");
        }
    }

    #[test]
    fn constructors_fill_fields() {
        let file = LayerEntry::file("a", b"xy".to_vec(), 0o644, 5);
        assert_eq!(
            file.kind,
            EntryKind::File {
                size: 2,
                content: Content::Bytes(b"xy".to_vec())
            }
        );
        assert_eq!(
            (file.mode, file.uid, file.gid, file.mtime),
            (0o644, 0, 0, 5)
        );
        assert_eq!(LayerEntry::symlink("l", "t", 0).mode, 0o777);
    }
}
