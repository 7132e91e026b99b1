//! Cross-process locks: `locks/<name>.lock`, held with an exclusive (or,
//! for [`Store::lock_shared`], shared) `flock`-style lock (`std::fs::File::lock`). The kernel releases it when
//! the [`StoreLock`] is dropped or the process dies, so a killed kiln never
//! leaves a store locked. Locks are per open file, so two threads of one
//! process exclude each other too.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::store::Store;

/// A lock on a name within the store; released on drop.
#[derive(Debug)]
pub struct StoreLock {
    // Held only for its lock; closing the file releases it.
    _file: File,
    path: PathBuf,
}

impl StoreLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Store {
    /// Takes the exclusive lock `name`, blocking until it is free.
    /// `name` must be a plain file name (no `/`, not `.` or `..`).
    pub fn lock(&self, name: &str) -> Result<StoreLock> {
        let (file, path) = self.open_lock_file(name)?;
        file.lock().map_err(|source| Error::io(&path, source))?;
        Ok(StoreLock { _file: file, path })
    }

    /// Takes the lock `name` in shared mode, blocking while someone holds it
    /// exclusively. Any number of shared holders may coexist.
    pub fn lock_shared(&self, name: &str) -> Result<StoreLock> {
        let (file, path) = self.open_lock_file(name)?;
        file.lock_shared()
            .map_err(|source| Error::io(&path, source))?;
        Ok(StoreLock { _file: file, path })
    }

    /// Takes the exclusive lock `name` if it is free right now; `None` when
    /// someone else holds it (shared or exclusive).
    pub fn try_lock(&self, name: &str) -> Result<Option<StoreLock>> {
        let (file, path) = self.open_lock_file(name)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(StoreLock { _file: file, path })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(source)) => Err(Error::io(&path, source)),
        }
    }

    /// Whether the lock `name` is held (shared or exclusive) by someone else
    /// right now. Only a hint: the answer may change at once.
    pub fn is_locked(&self, name: &str) -> Result<bool> {
        let (file, path) = self.open_lock_file(name)?;
        match file.try_lock() {
            Ok(()) => Ok(false),
            Err(std::fs::TryLockError::WouldBlock) => Ok(true),
            Err(std::fs::TryLockError::Error(source)) => Err(Error::io(&path, source)),
        }
    }

    /// Opens (creating) `locks/<name>.lock` after checking the name.
    fn open_lock_file(&self, name: &str) -> Result<(File, PathBuf)> {
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
            return Err(Error::InvalidLockName {
                name: name.to_string(),
            });
        }
        let path = self.root().join("locks").join(format!("{name}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| Error::io(&path, source))?;
        Ok((file, path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn lock_names_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for (name, ok) in [
            ("index", true),
            ("cache-v1", true),
            ("", false),
            ("..", false),
            ("a/b", false),
            ("../escape", false),
        ] {
            let result = store.lock(name);
            assert_eq!(result.is_ok(), ok, "{name:?}: {result:?}");
            if let Ok(lock) = result {
                assert_eq!(
                    lock.path(),
                    dir.path().join("locks").join(format!("{name}.lock"))
                );
            }
        }
    }

    #[test]
    fn try_lock_fails_while_anyone_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let shared = store.lock_shared("gc").unwrap();
        assert!(store.try_lock("gc").unwrap().is_none());
        drop(shared);
        let exclusive = store.try_lock("gc").unwrap().unwrap();
        assert!(store.try_lock("gc").unwrap().is_none());
        assert!(store.is_locked("gc").unwrap());
        drop(exclusive);
        assert!(!store.is_locked("gc").unwrap());
    }

    #[test]
    fn a_held_lock_blocks_another_thread_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let held = store.lock("index").unwrap();
        let (sender, receiver) = mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let _second = store.lock("index").unwrap();
                sender.send(()).unwrap();
            });
            // The other thread cannot get the lock while we hold it.
            assert!(receiver.recv_timeout(Duration::from_millis(300)).is_err());
            // A different name is independent.
            let other = store.lock("other").unwrap();
            drop(other);
            drop(held);
            assert!(receiver.recv_timeout(Duration::from_secs(10)).is_ok());
        });
    }
}
