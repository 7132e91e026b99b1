//! The directory walk behind [`Snapshot::walk`](super::Snapshot::walk): lists
//! the context without following symlinks or writing anything, skipping what
//! the ignore patterns exclude.

use std::fs::{self, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::error::ContextError;
use super::matcher::IgnoreMatcher;
use super::snapshot::{ContextEntry, ContextKind};

/// Lists every entry under `root` that `ignore` keeps, sorted by path.
///
/// An excluded directory is skipped whole, unless an exception (`!` pattern)
/// could re-include something inside it; then it is walked, only re-included
/// entries are kept, and the directory itself is kept when anything inside it
/// was (as docker does for the parents of re-included files).
pub(crate) fn walk_entries(
    root: &Path,
    ignore: &IgnoreMatcher,
) -> Result<Vec<ContextEntry>, ContextError> {
    let metadata = fs::metadata(root).map_err(|source| ContextError::io(root, source))?;
    if !metadata.is_dir() {
        return Err(ContextError::NotADirectory {
            path: root.to_path_buf(),
        });
    }
    if !ignore.has_exceptions() {
        let threads = std::thread::available_parallelism().map_or(1, |count| count.get());
        if threads > 1 {
            return super::walk_parallel::walk_entries_parallel(root, ignore, threads);
        }
    }
    walk_entries_one_thread(root, ignore)
}

/// The walk on one thread (the reference the parallel walk is tested against).
pub(super) fn walk_entries_one_thread(
    root: &Path,
    ignore: &IgnoreMatcher,
) -> Result<Vec<ContextEntry>, ContextError> {
    let mut entries = Vec::new();
    walk_dir(root, "", ignore, &mut entries)?;
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// Appends the kept entries below the context directory `dir` ("" is the root).
fn walk_dir(
    root: &Path,
    dir: &str,
    ignore: &IgnoreMatcher,
    entries: &mut Vec<ContextEntry>,
) -> Result<(), ContextError> {
    let dir_path = if dir.is_empty() {
        root.to_path_buf()
    } else {
        root.join(dir)
    };
    let mut items = Vec::new();
    let listing = fs::read_dir(&dir_path).map_err(|source| ContextError::io(&dir_path, source))?;
    for item in listing {
        let item = item.map_err(|source| ContextError::io(&dir_path, source))?;
        let name = item
            .file_name()
            .into_string()
            .map_err(|name| ContextError::NonUtf8Path {
                path: dir_path.join(name),
            })?;
        items.push((name, item));
    }
    items.sort_by(|a, b| a.0.cmp(&b.0));
    // lstat relative to the open directory (no path walk per entry); a big
    // directory is stat'ed on two threads.
    let stats = stat_all(&items);

    for ((name, _), metadata) in items.into_iter().zip(stats) {
        let file_path = dir_path.join(&name);
        let path = if dir.is_empty() {
            name
        } else {
            format!("{dir}/{name}")
        };
        let excluded = ignore.is_excluded(&path);
        if excluded && !ignore.has_exceptions() {
            continue;
        }
        let metadata = metadata.map_err(|source| ContextError::io(&file_path, source))?;
        let is_dir = metadata.file_type().is_dir();
        if excluded && !(is_dir && ignore.may_reinclude_below(&path)) {
            continue;
        }
        let entry = entry_for(path, &file_path, &metadata)?;
        if !is_dir {
            entries.push(entry);
            continue;
        }
        let child_dir = entry.path.clone();
        if excluded {
            let before = entries.len();
            walk_dir(root, &child_dir, ignore, entries)?;
            if entries.len() > before {
                entries.push(entry);
            }
        } else {
            entries.push(entry);
            walk_dir(root, &child_dir, ignore, entries)?;
        }
    }
    Ok(())
}

/// The `lstat` metadata of every directory entry, in order.
fn stat_all(items: &[(String, fs::DirEntry)]) -> Vec<std::io::Result<fs::Metadata>> {
    const PARALLEL_FROM: usize = 64;
    if items.len() < PARALLEL_FROM {
        return items.iter().map(|(_, item)| item.metadata()).collect();
    }
    let (first, second) = items.split_at(items.len() / 2);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| {
            second
                .iter()
                .map(|(_, item)| item.metadata())
                .collect::<Vec<_>>()
        });
        let mut stats: Vec<_> = first.iter().map(|(_, item)| item.metadata()).collect();
        match other.join() {
            Ok(rest) => stats.extend(rest),
            Err(_) => stats.extend(second.iter().map(|(_, item)| item.metadata())),
        }
        stats
    })
}

/// Builds the entry for `path` from its `lstat` metadata.
pub(super) fn entry_for(
    path: String,
    file_path: &Path,
    metadata: &Metadata,
) -> Result<ContextEntry, ContextError> {
    let file_type = metadata.file_type();
    let (kind, size) = if file_type.is_dir() {
        (ContextKind::Dir, 0)
    } else if file_type.is_file() {
        (ContextKind::File, metadata.size())
    } else if file_type.is_symlink() {
        let target = fs::read_link(file_path)
            .map_err(|source| ContextError::io(file_path, source))?
            .into_os_string()
            .into_string()
            .map_err(|_| ContextError::NonUtf8Path {
                path: file_path.to_path_buf(),
            })?;
        let size = target.len() as u64;
        (ContextKind::Symlink { target }, size)
    } else {
        (ContextKind::Other, 0)
    };
    Ok(ContextEntry {
        path,
        kind,
        mode: metadata.mode() & 0o7777,
        size,
        mtime: metadata.mtime(),
        mtime_nsec: u32::try_from(metadata.mtime_nsec()).unwrap_or(0),
        uid: metadata.uid(),
        gid: metadata.gid(),
        dev: metadata.dev(),
        ino: metadata.ino(),
        ctime: metadata.ctime(),
        ctime_nsec: u32::try_from(metadata.ctime_nsec()).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_read_dir_is_an_error_naming_the_directory() {
        // Listing a regular file fails like an unreadable directory would (also as root).
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("plain"), "x").unwrap();
        let mut entries = Vec::new();
        let err =
            walk_dir(tmp.path(), "plain", &IgnoreMatcher::default(), &mut entries).unwrap_err();
        assert!(
            matches!(&err, ContextError::Io { path, .. } if path == &tmp.path().join("plain")),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("failed to read {}", tmp.path().join("plain").display())
        );
        assert!(entries.is_empty());
    }
}
