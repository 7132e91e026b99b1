//! Derived data kept beside the build cache: values computed from blobs that are
//! cheap to recompute but worth not recomputing, such as the filesystem index of
//! a layer chain.
//!
//! ```text
//! cache/v1/<kind>/<name>   e.g. cache/v1/fsindex/<chain hex>
//! ```
//! The store does not interpret the bytes; the caller picks the kind, the name
//! and the format (and must treat unreadable contents as a miss). Files are
//! replaced atomically like every cache file, so a reader sees an old or a new
//! version, never a torn one. `kiln cache prune --all` removes them with the
//! rest of the cache.

use crate::cache::{read_optional, valid_name, write_atomically, CACHE_VERSION};
use crate::error::{Error, Result};
use crate::store::Store;

/// Names under `cache/v1/` that the store itself uses, so no kind may take them.
const RESERVED_KINDS: &[&str] = &["records", "docs", "blockmaps", "snapshots", "stat.bin"];

impl Store {
    /// The derived data of `kind` stored under `name` (`cache/v1/<kind>/<name>`),
    /// or `None` when absent. Kinds and names are 1 to 128 characters of
    /// `[A-Za-z0-9._-]` with no leading dot; anything else, or a kind the store
    /// uses itself (`records`, `docs`, `blockmaps`, `snapshots`, `stat.bin`), is
    /// an error.
    pub fn derived(&self, kind: &str, name: &str) -> Result<Option<Vec<u8>>> {
        check(kind, name)?;
        read_optional(&self.derived_dir(kind).join(name))
    }

    /// Stores (or replaces) the derived data of `kind` under `name`, atomically:
    /// temp file in the same directory, fsync, rename, directory fsync.
    pub fn put_derived(&self, kind: &str, name: &str, bytes: &[u8]) -> Result<()> {
        check(kind, name)?;
        write_atomically(&self.derived_dir(kind), name, bytes)
    }

    fn derived_dir(&self, kind: &str) -> std::path::PathBuf {
        self.root().join("cache").join(CACHE_VERSION).join(kind)
    }
}

/// Rejects names that could escape their directory or collide with the store's own.
fn check(kind: &str, name: &str) -> Result<()> {
    if !valid_name(kind) || RESERVED_KINDS.contains(&kind) {
        return Err(Error::InvalidLockName {
            name: kind.to_owned(),
        });
    }
    if !valid_name(name) {
        return Err(Error::InvalidLockName {
            name: name.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    #[test]
    fn put_then_get_and_missing_is_none() {
        let (dir, store) = store();
        assert_eq!(store.derived("fsindex", "abc").unwrap(), None);
        store.put_derived("fsindex", "abc", b"kilnfx01").unwrap();
        assert_eq!(
            store.derived("fsindex", "abc").unwrap().as_deref(),
            Some(&b"kilnfx01"[..])
        );
        assert_eq!(store.derived("fsindex", "abd").unwrap(), None);
        assert_eq!(
            store.derived("other", "abc").unwrap(),
            None,
            "kinds are separate"
        );
        let on_disk = std::fs::read(dir.path().join("cache/v1/fsindex/abc")).unwrap();
        assert_eq!(on_disk, b"kilnfx01");
    }

    #[test]
    fn replaces_atomically_without_leftovers() {
        let (dir, store) = store();
        store.put_derived("fsindex", "x", b"old").unwrap();
        store.put_derived("fsindex", "x", b"new, longer").unwrap();
        store.put_derived("fsindex", "x", b"").unwrap();
        assert_eq!(store.derived("fsindex", "x").unwrap().unwrap(), b"");
        let files: Vec<String> = std::fs::read_dir(dir.path().join("cache/v1/fsindex"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(files, ["x"], "no temp files left behind");
    }

    #[test]
    fn invalid_kinds_and_names_are_rejected() {
        let (dir, store) = store();
        let long = "a".repeat(129);
        let max = "a".repeat(128);
        let cases: &[(&str, &str, bool)] = &[
            ("fsindex", "sha256.0123-abc_DEF", true),
            ("fsindex", &max, true),
            ("fsindex", &long, false),
            (&long, "x", false),
            ("fsindex", "", false),
            ("", "x", false),
            ("fsindex", ".hidden", false),
            (".fsindex", "x", false),
            ("fsindex", "..", false),
            ("..", "x", false),
            ("fsindex", "a/b", false),
            ("a/b", "x", false),
            ("fsindex", "sha256:abc", false),
            ("fsindex", "caf\u{e9}", false),
            ("records", "x", false),
            ("docs", "x", false),
            ("blockmaps", "x", false),
            ("snapshots", "x", false),
            ("stat.bin", "x", false),
        ];
        for (kind, name, ok) in cases {
            let put = store.put_derived(kind, name, b"v");
            let get = store.derived(kind, name);
            assert_eq!(put.is_ok(), *ok, "put {kind:?}/{name:?}");
            assert_eq!(get.is_ok(), *ok, "get {kind:?}/{name:?}");
            if !ok {
                assert!(matches!(put, Err(Error::InvalidLockName { .. })));
            }
        }
        assert!(!dir.path().join("cache/v1/records").join("x").exists());
        assert!(!dir.path().join("cache/v1/a").exists());
    }
}
