//! Leftovers of interrupted work, and the tree helpers that measure and
//! delete them.
//!
//! Garbage is what a killed kiln can leave behind: temp files in `ingest/`
//! (partial blobs), entries in `tmp/` (build scratch directories), and the
//! temp files of atomic replacements (`.kiln-tmp-*` in the root, `.tmp-*` in
//! the `cache/` directories). While a kiln process works, the same paths
//! are live data of that process; every kiln writer holds the shared `gc`
//! lock while it has any of them, so they are garbage exactly when the `gc`
//! lock can be taken exclusively. [`crate::gc`] (prune) and [`crate::fsck`]
//! decide that; this module only lists and removes.
//!
//! Lock files in `locks/` are never garbage: deleting one that a process
//! holds would let a second process lock a new file of the same name.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{Error, Result};
use crate::store::{Store, ROOT_TEMP_PREFIX};

/// Prefix of the temp files of atomic replacements under `cache/`.
pub(crate) const CACHE_TEMP_PREFIX: &str = ".tmp-";

/// What kind of leftover a [`Garbage`] entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GarbageKind {
    /// A partial blob in `ingest/`.
    Ingest,
    /// A build's scratch file or directory in `tmp/`.
    Scratch,
    /// The temp file of an interrupted atomic replacement.
    TempFile,
}

impl GarbageKind {
    /// A short description for messages.
    pub fn describe(self) -> &'static str {
        match self {
            GarbageKind::Ingest => "partial blob in ingest/",
            GarbageKind::Scratch => "stale build scratch in tmp/",
            GarbageKind::TempFile => "temp file of an interrupted write",
        }
    }
}

/// A leftover of interrupted work.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Garbage {
    /// What it is.
    pub kind: GarbageKind,
    /// Where it is.
    pub path: PathBuf,
    /// Its size in bytes (everything under it, for a directory).
    pub bytes: u64,
    /// Its newest modification time (of anything under it, for a directory).
    pub modified: Option<SystemTime>,
}

impl Store {
    /// Every entry that is garbage when no kiln process holds the `gc`
    /// lock, sorted by kind and path. Does not lock anything.
    pub fn garbage_candidates(&self) -> Result<Vec<Garbage>> {
        let mut found = Vec::new();
        for (dir, kind) in [
            ("ingest", GarbageKind::Ingest),
            ("tmp", GarbageKind::Scratch),
        ] {
            for path in list_dir(&self.root().join(dir))? {
                push_entry(&mut found, kind, path)?;
            }
        }
        for path in list_dir(self.root())? {
            if file_name_starts_with(&path, ROOT_TEMP_PREFIX) {
                push_entry(&mut found, GarbageKind::TempFile, path)?;
            }
        }
        let cache = self.root().join("cache");
        let mut pending = vec![cache.clone()];
        while let Some(dir) = pending.pop() {
            for path in list_dir(&dir)? {
                let is_dir = fs::symlink_metadata(&path).is_ok_and(|meta| meta.is_dir());
                if file_name_starts_with(&path, CACHE_TEMP_PREFIX) {
                    push_entry(&mut found, GarbageKind::TempFile, path)?;
                } else if is_dir
                    && path != cache.join("mounts")
                    && path != cache.join(crate::cache::CACHE_VERSION).join("snapshots")
                {
                    pending.push(path);
                }
            }
        }
        found.sort();
        Ok(found)
    }
}

fn push_entry(found: &mut Vec<Garbage>, kind: GarbageKind, path: PathBuf) -> Result<()> {
    if let Some((bytes, modified)) = tree_usage(&path)? {
        found.push(Garbage {
            kind,
            path,
            bytes,
            modified,
        });
    }
    Ok(())
}

fn file_name_starts_with(path: &Path, prefix: &str) -> bool {
    path.file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with(prefix))
}

/// The entries of `dir`, sorted; none when it does not exist.
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(Error::io(dir, source)),
    };
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::io(dir, source))?;
        paths.push(entry.path());
    }
    paths.sort();
    Ok(paths)
}

/// The total size of the regular files at or under `path` and the newest
/// modification time found; `None` when `path` vanished. Symlinks are not
/// followed. Entries that vanish during the walk are skipped.
pub(crate) fn tree_usage(path: &Path) -> Result<Option<(u64, Option<SystemTime>)>> {
    let metadata = match fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(Error::io(path, source)),
    };
    let mut bytes = 0;
    let mut newest = metadata.modified().ok();
    if metadata.is_file() {
        bytes = metadata.len();
    }
    if metadata.is_dir() {
        let mut pending = vec![path.to_path_buf()];
        while let Some(dir) = pending.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => return Err(Error::io(&dir, source)),
            };
            for entry in entries {
                let entry = entry.map_err(|source| Error::io(&dir, source))?;
                let Ok(meta) = entry.metadata() else {
                    continue;
                };
                if let Ok(modified) = meta.modified() {
                    newest = newest.max(Some(modified));
                }
                if meta.is_dir() {
                    pending.push(entry.path());
                } else if meta.is_file() {
                    bytes += meta.len();
                }
            }
        }
    }
    Ok(Some((bytes, newest)))
}

/// Removes a file or a whole directory tree. Directories a build left
/// without write or search permission (a rootfs may hold `dr-x------`
/// directories) are made writable first. A path that is already gone is
/// fine.
pub(crate) fn remove_tree(path: &Path) -> Result<()> {
    let metadata = match fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(Error::io(path, source)),
    };
    if !metadata.is_dir() {
        return match fs::remove_file(path) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(Error::io(path, err)),
            _ => Ok(()),
        };
    }
    match fs::remove_dir_all(path) {
        Ok(()) => return Ok(()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    make_dirs_writable(path);
    match fs::remove_dir_all(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(Error::io(path, err)),
        _ => Ok(()),
    }
}

/// Gives the owner rwx on every directory under `path` (best effort).
fn make_dirs_writable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        if let Ok(meta) = fs::symlink_metadata(&dir) {
            let mode = meta.permissions().mode();
            let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(mode | 0o700));
        }
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                pending.push(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn candidates_cover_every_kind_of_leftover() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let root = dir.path();
        fs::write(root.join("ingest/blob-abc"), b"12345").unwrap();
        fs::create_dir_all(root.join("tmp/rootfs-1/etc")).unwrap();
        fs::write(root.join("tmp/rootfs-1/etc/passwd"), b"root").unwrap();
        fs::write(root.join(".kiln-tmp-x"), b"ix").unwrap();
        fs::create_dir_all(root.join("cache/v1/records")).unwrap();
        fs::write(root.join("cache/v1/records/.tmp-9"), b"{").unwrap();
        fs::write(root.join("cache/v1/records/a.json"), b"{}").unwrap();
        fs::create_dir_all(root.join("cache/mounts/k")).unwrap();
        fs::write(root.join("cache/mounts/k/.tmp-user-file"), b"mine").unwrap();
        fs::write(root.join("locks/gc.lock"), b"").unwrap();

        let found: Vec<(GarbageKind, PathBuf, u64)> = store
            .garbage_candidates()
            .unwrap()
            .into_iter()
            .map(|garbage| (garbage.kind, garbage.path, garbage.bytes))
            .collect();
        assert_eq!(
            found,
            vec![
                (GarbageKind::Ingest, root.join("ingest/blob-abc"), 5),
                (GarbageKind::Scratch, root.join("tmp/rootfs-1"), 4),
                (GarbageKind::TempFile, root.join(".kiln-tmp-x"), 2),
                (
                    GarbageKind::TempFile,
                    root.join("cache/v1/records/.tmp-9"),
                    1
                ),
            ]
        );
    }

    #[test]
    fn remove_tree_handles_read_only_directories() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("rootfs");
        fs::create_dir_all(tree.join("locked/inner")).unwrap();
        fs::write(tree.join("locked/inner/file"), b"x").unwrap();
        fs::set_permissions(tree.join("locked/inner"), fs::Permissions::from_mode(0o500)).unwrap();
        fs::set_permissions(tree.join("locked"), fs::Permissions::from_mode(0o500)).unwrap();
        remove_tree(&tree).unwrap();
        assert!(!tree.exists());
        // Gone already: fine. A plain file works too.
        remove_tree(&tree).unwrap();
        let file = dir.path().join("file");
        fs::write(&file, b"x").unwrap();
        remove_tree(&file).unwrap();
        assert!(!file.exists());
    }

    #[test]
    fn tree_usage_sums_files_and_finds_the_newest_time() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("t");
        fs::create_dir_all(tree.join("a/b")).unwrap();
        fs::write(tree.join("a/one"), b"123").unwrap();
        fs::write(tree.join("a/b/two"), b"4567").unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(3600);
        fs::File::options()
            .write(true)
            .open(tree.join("a/b/two"))
            .unwrap()
            .set_modified(later)
            .unwrap();
        let (bytes, newest) = tree_usage(&tree).unwrap().unwrap();
        assert_eq!(bytes, 7);
        assert_eq!(newest, Some(later));
        assert_eq!(tree_usage(&dir.path().join("missing")).unwrap(), None);
    }
}
