//! [`Snapshot`]: the listing of a build context (what the ignore file keeps),
//! with lookups by path and lazily computed, cached content digests.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use kiln_oci::Digest;
use sha2::{Digest as _, Sha256};

use super::error::ContextError;
use super::matcher::IgnoreMatcher;
use super::walk::walk_entries;

/// What kind of filesystem object an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextKind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symbolic link (never followed), with its target as written.
    Symlink {
        /// The link target, as `readlink` returns it.
        target: String,
    },
    /// A socket, device or FIFO (COPY refuses or skips these).
    Other,
}

/// One file, directory or link of the context, with its `lstat` metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextEntry {
    /// Path relative to the context root, `/`-separated; never empty (the root is implicit).
    pub path: String,
    /// What the entry is.
    pub kind: ContextKind,
    /// Permission bits including setuid, setgid and sticky (`st_mode & 0o7777`).
    pub mode: u32,
    /// Byte size for files, target length for symlinks, 0 for anything else.
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Nanoseconds part of the modification time.
    pub mtime_nsec: u32,
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
    /// Device of the filesystem holding the entry.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Status change time, seconds since the epoch.
    pub ctime: i64,
    /// Nanoseconds part of the status change time.
    pub ctime_nsec: u32,
}

impl ContextEntry {
    /// The stat facts the stat cache keys content digests by.
    pub fn stat_key(&self) -> kiln_store::StatKey {
        kiln_store::StatKey {
            dev: self.dev,
            ino: self.ino,
            size: self.size,
            mtime: self.mtime,
            mtime_nsec: i64::from(self.mtime_nsec),
            ctime: self.ctime,
            ctime_nsec: i64::from(self.ctime_nsec),
        }
    }
}

/// The build context as the build sees it: every entry kept by the ignore
/// patterns, sorted by path.
#[derive(Debug)]
pub struct Snapshot {
    root: PathBuf,
    /// All entries, sorted by path.
    entries: Vec<ContextEntry>,
    /// Path → index in `entries`.
    index: HashMap<String, usize>,
    /// Directory path ("" for the root) → indexes of its direct children, sorted.
    children: HashMap<String, Vec<usize>>,
    /// Content digests computed so far.
    digests: Mutex<HashMap<String, Digest>>,
}

impl Snapshot {
    /// Walks `root` (never following symlinks, never writing anything),
    /// skipping what `ignore` excludes. An excluded directory is entered only
    /// when an exception could re-include something in it; then only the
    /// re-included entries and their parent directories are kept.
    pub fn walk(root: &Path, ignore: &IgnoreMatcher) -> Result<Snapshot, ContextError> {
        let entries = walk_entries(root, ignore)?;
        Ok(Snapshot::from_entries(root.to_path_buf(), entries))
    }

    /// Builds the lookup tables over `entries`, which must be sorted by path.
    fn from_entries(root: PathBuf, entries: Vec<ContextEntry>) -> Snapshot {
        let mut index = HashMap::with_capacity(entries.len());
        let mut children: HashMap<String, Vec<usize>> = HashMap::new();
        for (position, entry) in entries.iter().enumerate() {
            index.insert(entry.path.clone(), position);
            let parent = entry.path.rsplit_once('/').map_or("", |(parent, _)| parent);
            children
                .entry(parent.to_string())
                .or_default()
                .push(position);
        }
        Snapshot {
            root,
            entries,
            index,
            children,
            digests: Mutex::new(HashMap::new()),
        }
    }

    /// The context directory this snapshot was taken of.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The entry at the context-relative `path`, if it was kept.
    pub fn get(&self, path: &str) -> Option<&ContextEntry> {
        self.index
            .get(path)
            .and_then(|&position| self.entries.get(position))
    }

    /// Every entry, sorted by path.
    pub fn entries(&self) -> impl Iterator<Item = &ContextEntry> {
        self.entries.iter()
    }

    /// The direct children of the directory `dir` ("" for the root), sorted by path.
    pub fn children(&self, dir: &str) -> impl Iterator<Item = &ContextEntry> {
        self.children
            .get(dir)
            .into_iter()
            .flatten()
            .filter_map(|&position| self.entries.get(position))
    }

    /// The absolute location of the context-relative `path` ("" is the root).
    pub fn abs_path(&self, path: &str) -> PathBuf {
        if path.is_empty() {
            self.root.clone()
        } else {
            self.root.join(path)
        }
    }

    /// The sha256 of the content of the regular file at `path`, read in a
    /// streaming way once per snapshot and cached. Fails if `path` is not a
    /// regular file of the snapshot, or if it was replaced (another inode)
    /// since the walk.
    pub fn file_digest(&self, path: &str) -> Result<Digest, ContextError> {
        if let Some(digest) = self.lock_digests().get(path) {
            return Ok(digest.clone());
        }
        let digest = self.hash_file(path)?;
        self.lock_digests().insert(path.to_string(), digest.clone());
        Ok(digest)
    }

    /// Reads and hashes the file at `path` (checking it is still the file the
    /// walk saw), remembering nothing.
    fn hash_file(&self, path: &str) -> Result<Digest, ContextError> {
        let entry = self
            .get(path)
            .filter(|entry| entry.kind == ContextKind::File)
            .ok_or_else(|| ContextError::NotAFile {
                path: path.to_string(),
            })?;
        let file_path = self.abs_path(path);
        let io_error = |source| ContextError::io(&file_path, source);
        let mut file = File::open(&file_path).map_err(io_error)?;
        let metadata = file.metadata().map_err(io_error)?;
        if !metadata.is_file() || metadata.dev() != entry.dev || metadata.ino() != entry.ino {
            return Err(ContextError::Changed {
                path: path.to_string(),
            });
        }
        let mut hasher = Sha256::new();
        std::io::copy(&mut file, &mut hasher).map_err(io_error)?;
        Ok(Digest::from_sha256(hasher.finalize().into()))
    }

    /// Like [`Snapshot::file_digest`], but a file whose stat facts are in
    /// `cache` is not read again; newly read digests are added to it.
    pub fn file_digest_cached(
        &self,
        path: &str,
        cache: &std::sync::RwLock<kiln_store::StatCache>,
    ) -> Result<Digest, ContextError> {
        let key = self
            .get(path)
            .filter(|entry| entry.kind == ContextKind::File)
            .map(ContextEntry::stat_key);
        if let Some(key) = key {
            let known = cache
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .get(&key);
            if let Some(sha) = known {
                return Ok(Digest::from_sha256(sha));
            }
        }
        // With stat facts, the stat cache remembers the digest; without, the
        // snapshot's own memo does.
        let digest = match key {
            Some(_) => self.hash_file(path)?,
            None => self.file_digest(path)?,
        };
        if let (Some(key), Ok(bytes)) = (key, hex::decode(digest.hex())) {
            if let Ok(sha) = <[u8; 32]>::try_from(bytes.as_slice()) {
                cache
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .insert(key, sha);
            }
        }
        Ok(digest)
    }

    /// The digest cache; a panic elsewhere cannot leave it inconsistent, so a
    /// poisoned lock is simply taken over.
    fn lock_digests(&self) -> MutexGuard<'_, HashMap<String, Digest>> {
        self.digests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::os::unix::net::UnixListener;

    fn write(root: &Path, path: &str, content: &str) {
        let full = root.join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, content).unwrap();
    }

    fn matcher(patterns: &[&str]) -> IgnoreMatcher {
        let owned: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        IgnoreMatcher::new(&owned).unwrap()
    }

    /// Path → (mtime, mtime_nsec, mode, size) of everything under `root`, root included.
    fn listing(root: &Path) -> BTreeMap<PathBuf, (i64, i64, u32, u64)> {
        let mut out = BTreeMap::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(path) = stack.pop() {
            let meta = fs::symlink_metadata(&path).unwrap();
            out.insert(
                path.clone(),
                (meta.mtime(), meta.mtime_nsec(), meta.mode(), meta.size()),
            );
            if meta.is_dir() {
                for item in fs::read_dir(&path).unwrap() {
                    stack.push(item.unwrap().path());
                }
            }
        }
        out
    }

    /// A context with files, links, a socket, an ignored dir with a re-included file.
    fn sample_context() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, ".dockerignore", "ignored\nlogs\n!ignored/keep.txt\n");
        write(root, "Dockerfile", "FROM scratch\n");
        write(root, "a.txt", "hello");
        write(root, "bin/tool", "#!/bin/sh\n");
        write(root, "dir/sub/deep.txt", "deep");
        write(root, "ignored/x.txt", "x");
        write(root, "ignored/keep.txt", "keep");
        write(root, "ignored/nested/y.txt", "y");
        write(root, "logs/1.log", "log");
        fs::create_dir(root.join("empty")).unwrap();
        fs::set_permissions(root.join("a.txt"), fs::Permissions::from_mode(0o640)).unwrap();
        fs::set_permissions(root.join("bin/tool"), fs::Permissions::from_mode(0o4755)).unwrap();
        symlink("a.txt", root.join("link")).unwrap();
        symlink("does/not/exist", root.join("dangling")).unwrap();
        symlink("dir", root.join("dirlink")).unwrap();
        let listener = UnixListener::bind(root.join("sock")).unwrap();
        drop(listener);
        tmp
    }

    #[test]
    fn walk_lists_kept_entries_sorted_without_touching_the_context() {
        let tmp = sample_context();
        let root = tmp.path();
        let before = listing(root);
        let patterns = super::super::read_dockerignore(root, None).unwrap();
        let snapshot = Snapshot::walk(root, &IgnoreMatcher::new(&patterns).unwrap()).unwrap();
        assert_eq!(listing(root), before, "the walk changed the context");

        let paths: Vec<&str> = snapshot.entries().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                ".dockerignore",
                "Dockerfile",
                "a.txt",
                "bin",
                "bin/tool",
                "dangling",
                "dir",
                "dir/sub",
                "dir/sub/deep.txt",
                "dirlink",
                "empty",
                "ignored",
                "ignored/keep.txt",
                "link",
                "sock",
            ]
        );
        assert_eq!(snapshot.root(), root);

        let kinds = [
            ("a.txt", ContextKind::File),
            ("bin", ContextKind::Dir),
            ("ignored", ContextKind::Dir),
            ("sock", ContextKind::Other),
            (
                "link",
                ContextKind::Symlink {
                    target: "a.txt".into(),
                },
            ),
            (
                "dirlink",
                ContextKind::Symlink {
                    target: "dir".into(),
                },
            ),
            (
                "dangling",
                ContextKind::Symlink {
                    target: "does/not/exist".into(),
                },
            ),
        ];
        for (path, kind) in kinds {
            assert_eq!(snapshot.get(path).unwrap().kind, kind, "{path}");
        }

        let a = snapshot.get("a.txt").unwrap();
        assert_eq!((a.mode, a.size), (0o640, 5));
        let meta = fs::symlink_metadata(root.join("a.txt")).unwrap();
        assert_eq!(
            (a.mtime, i64::from(a.mtime_nsec)),
            (meta.mtime(), meta.mtime_nsec())
        );
        assert_eq!(
            (a.uid, a.gid, a.dev, a.ino),
            (meta.uid(), meta.gid(), meta.dev(), meta.ino())
        );
        assert_eq!(snapshot.get("bin/tool").unwrap().mode, 0o4755);
        assert_eq!(snapshot.get("link").unwrap().size, 5);
        assert_eq!(snapshot.get("dir").unwrap().size, 0);
        assert!(snapshot.get("ignored/x.txt").is_none());
        assert!(snapshot.get("logs").is_none());
        assert!(snapshot.get("dirlink/sub").is_none());
    }

    #[test]
    fn children_and_abs_path() {
        let tmp = sample_context();
        let snapshot = Snapshot::walk(tmp.path(), &IgnoreMatcher::default()).unwrap();
        let names =
            |dir: &str| -> Vec<String> { snapshot.children(dir).map(|e| e.path.clone()).collect() };
        assert_eq!(names("dir"), ["dir/sub"]);
        assert_eq!(
            names("ignored"),
            ["ignored/keep.txt", "ignored/nested", "ignored/x.txt"]
        );
        assert!(names("empty").is_empty());
        assert!(names("missing").is_empty());
        let top = names("");
        assert!(top.iter().all(|path| !path.contains('/')), "{top:?}");
        assert_eq!(top.len(), 12);
        assert_eq!(snapshot.abs_path(""), tmp.path());
        assert_eq!(snapshot.abs_path("dir/sub"), tmp.path().join("dir/sub"));
    }

    #[test]
    fn exceptions_keep_parent_dirs_only_when_something_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "build/out/keep.bin", "1");
        write(root, "build/out/drop.bin", "2");
        write(root, "build/cache/drop.bin", "3");
        write(root, "src/main.rs", "4");
        let snapshot = Snapshot::walk(
            root,
            &matcher(&["build", "!build/out/keep.bin", "!nothing"]),
        )
        .unwrap();
        let paths: Vec<&str> = snapshot.entries().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "build",
                "build/out",
                "build/out/keep.bin",
                "src",
                "src/main.rs"
            ]
        );
    }

    #[test]
    fn excluded_dir_is_entered_only_when_an_exception_could_match_inside() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "kept", "y");
        fs::create_dir(root.join("secret")).unwrap();
        // A name the walker rejects: entering `secret` at all makes the walk fail.
        fs::write(root.join("secret").join(OsStr::from_bytes(b"bad\xff")), "x").unwrap();

        let cases: &[(&[&str], bool)] = &[
            (&["secret"], false),
            (&["secret", "!other/file"], false),
            (&["secret", "!kept"], false),
            (&["secret", "!secret/x"], true),
            (&["secret", "!**/x"], true),
            (&[], true),
        ];
        for &(patterns, entered) in cases {
            match Snapshot::walk(root, &matcher(patterns)) {
                Ok(snapshot) => {
                    assert!(!entered, "{patterns:?} should have entered secret");
                    let paths: Vec<&str> = snapshot.entries().map(|e| e.path.as_str()).collect();
                    assert_eq!(paths, ["kept"], "{patterns:?}");
                }
                Err(err) => {
                    assert!(entered, "{patterns:?}: {err:?}");
                    assert!(
                        matches!(&err, ContextError::NonUtf8Path { path } if path.starts_with(root.join("secret"))),
                        "{patterns:?}: {err:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn unreadable_directory_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "locked/file", "x");
        fs::set_permissions(root.join("locked"), fs::Permissions::from_mode(0o000)).unwrap();
        let result = Snapshot::walk(root, &IgnoreMatcher::default());
        let privileged = fs::read_dir(root.join("locked")).is_ok();
        fs::set_permissions(root.join("locked"), fs::Permissions::from_mode(0o755)).unwrap();
        if privileged {
            // Permissions do not stop this process; walk.rs tests the error path another way.
            assert!(result.is_ok());
            return;
        }
        let err = result.unwrap_err();
        assert!(
            matches!(&err, ContextError::Io { path, .. } if path == &root.join("locked")),
            "{err:?}"
        );
    }

    #[test]
    fn snapshot_and_matcher_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>(_: &T) -> bool {
            true
        }
        let tmp = tempfile::tempdir().unwrap();
        let matcher = matcher(&["x"]);
        let snapshot = Snapshot::walk(tmp.path(), &matcher).unwrap();
        assert!(shareable(&snapshot) && shareable(&matcher));
    }

    #[test]
    fn root_must_be_a_directory() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "file", "x");
        let err = Snapshot::walk(&tmp.path().join("file"), &IgnoreMatcher::default()).unwrap_err();
        assert!(matches!(err, ContextError::NotADirectory { .. }), "{err:?}");
        let err =
            Snapshot::walk(&tmp.path().join("missing"), &IgnoreMatcher::default()).unwrap_err();
        assert!(matches!(err, ContextError::Io { .. }), "{err:?}");
    }

    #[test]
    fn file_digest_is_correct_and_cached() {
        let tmp = sample_context();
        let root = tmp.path();
        let snapshot = Snapshot::walk(root, &IgnoreMatcher::default()).unwrap();
        let digest = snapshot.file_digest("a.txt").unwrap();
        assert_eq!(
            digest.to_string(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(
            snapshot.file_digest("dir/sub/deep.txt").unwrap(),
            Digest::sha256_of(b"deep")
        );

        // Rewritten in place (same inode): the cached digest is returned, the file is not re-read.
        fs::write(root.join("a.txt"), "changed").unwrap();
        assert_eq!(snapshot.file_digest("a.txt").unwrap(), digest);
        // A new snapshot reads it again.
        let fresh = Snapshot::walk(root, &IgnoreMatcher::default()).unwrap();
        assert_eq!(
            fresh.file_digest("a.txt").unwrap(),
            Digest::sha256_of(b"changed")
        );

        for not_a_file in ["dir", "link", "sock", "missing", ""] {
            let err = snapshot.file_digest(not_a_file).unwrap_err();
            assert!(
                matches!(&err, ContextError::NotAFile { path } if path == not_a_file),
                "{not_a_file}: {err:?}"
            );
        }
    }

    #[test]
    fn file_digest_refuses_a_replaced_file() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "f", "one");
        let snapshot = Snapshot::walk(root, &IgnoreMatcher::default()).unwrap();
        // Both files exist at once, so the replacement has another inode.
        write(root, "g", "two");
        fs::rename(root.join("g"), root.join("f")).unwrap();
        let err = snapshot.file_digest("f").unwrap_err();
        assert!(
            matches!(&err, ContextError::Changed { path } if path == "f"),
            "{err:?}"
        );
    }
}
