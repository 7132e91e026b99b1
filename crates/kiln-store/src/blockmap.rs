//! Block maps of gzip layer blobs, kept beside the blobs so that a later build can copy
//! compressed blocks from them instead of compressing again:
//!
//! ```text
//! cache/v1/blockmaps/<blob hex>   the map of blobs/<algorithm>/<blob hex> (opaque bytes here)
//! ```
//!
//! The store does not read the maps (kiln-layer encodes and decodes them); it only keeps
//! one per blob, written atomically like every cache file (temp file in the directory,
//! fsync, rename, fsync the directory). A map describes the bytes of the blob it is named
//! after, so it is correct for as long as that content exists; prune deletes the maps
//! whose blob is gone ([`Store::remove_orphaned_block_maps`]). They are not build-cache
//! records: they name no blobs, so they keep nothing alive, and fsck ignores them.

use std::fs;
use std::path::{Path, PathBuf};

use kiln_oci::Digest;

use crate::cache::{read_optional, write_atomically, CACHE_VERSION};
use crate::error::{Error, Result};
use crate::garbage::list_dir;
use crate::store::Store;

/// The directory of the block maps, under `cache/<version>/`.
const BLOCK_MAPS_DIR: &str = "blockmaps";

impl Store {
    fn block_maps_dir(&self) -> PathBuf {
        self.root()
            .join("cache")
            .join(CACHE_VERSION)
            .join(BLOCK_MAPS_DIR)
    }

    /// Stores (or replaces) the block map of `blob`, atomically. Put it after the blob is
    /// in place: a map whose blob is missing is removed by the next prune.
    pub fn put_block_map(&self, blob: &Digest, bytes: &[u8]) -> Result<()> {
        write_atomically(&self.block_maps_dir(), blob.hex(), bytes)
    }

    /// The block map of `blob`, if one was stored.
    pub fn block_map(&self, blob: &Digest) -> Result<Option<Vec<u8>>> {
        read_optional(&self.block_maps_dir().join(blob.hex()))
    }

    /// Deletes the block maps whose blob is not in the store and returns the bytes freed.
    /// Files whose name is not a digest's hex (e.g. temp files) are left alone. Call with
    /// the `gc` lock held exclusively, as prune does.
    pub fn remove_orphaned_block_maps(&self) -> Result<u64> {
        let mut freed = 0;
        for path in list_dir(&self.block_maps_dir())? {
            let Some(blob) = blob_of(&path) else {
                continue;
            };
            if self.has_blob(&blob) {
                continue;
            }
            let size = fs::symlink_metadata(&path).map_or(0, |metadata| metadata.len());
            match fs::remove_file(&path) {
                Ok(()) => freed += size,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(Error::io(&path, source)),
            }
        }
        Ok(freed)
    }
}

/// The blob a map file is named after: 64 hex digits are sha256, 128 sha512.
fn blob_of(path: &Path) -> Option<Digest> {
    let name = path.file_name()?.to_str()?;
    let algorithm = match name.len() {
        64 => "sha256",
        128 => "sha512",
        _ => return None,
    };
    format!("{algorithm}:{name}").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gc::PruneOptions;
    use std::time::{Duration, SystemTime};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    #[test]
    fn maps_round_trip_and_are_replaced_whole() {
        let (_dir, store) = store();
        let blob = store.write_blob(b"layer").unwrap();
        assert_eq!(store.block_map(&blob).unwrap(), None);
        store.put_block_map(&blob, b"first map").unwrap();
        assert_eq!(store.block_map(&blob).unwrap().unwrap(), b"first map");
        store.put_block_map(&blob, b"second").unwrap();
        assert_eq!(store.block_map(&blob).unwrap().unwrap(), b"second");
        let path = store.root().join("cache/v1/blockmaps").join(blob.hex());
        assert_eq!(fs::read(path).unwrap(), b"second");
        // No temp file is left beside it.
        assert_eq!(list_dir(&store.block_maps_dir()).unwrap().len(), 1);
    }

    #[test]
    fn prune_removes_the_map_with_its_blob() {
        let (_dir, store) = store();
        let kept = store.write_blob(b"kept layer").unwrap();
        let dropped = store.write_blob(b"dropped layer").unwrap();
        // A cache record keeps `kept` alive; nothing keeps `dropped`.
        fs::create_dir_all(store.root().join("cache/v1/records")).unwrap();
        fs::write(
            store.root().join("cache/v1/records/r.json"),
            format!(r#"{{"layer":"{kept}"}}"#),
        )
        .unwrap();
        store.put_block_map(&kept, b"kept map").unwrap();
        store.put_block_map(&dropped, b"dropped map!").unwrap();
        let stray = store.block_maps_dir().join("notes.txt");
        fs::write(&stray, b"not a map").unwrap();
        let options = PruneOptions {
            now: SystemTime::now() + Duration::from_secs(3600),
            min_age: Duration::ZERO,
            remove_untagged: false,
        };
        let report = store.prune(&options).unwrap();
        let deleted: Vec<&Digest> = report.deleted.iter().map(|(digest, _)| digest).collect();
        assert_eq!(deleted, [&dropped]);
        assert!(!store.has_blob(&dropped));
        assert_eq!(store.block_map(&dropped).unwrap(), None);
        assert_eq!(store.block_map(&kept).unwrap().unwrap(), b"kept map");
        assert!(stray.exists(), "files that name no blob are not judged");
        assert_eq!(
            report.freed_bytes,
            b"dropped layer".len() as u64 + b"dropped map!".len() as u64
        );
    }

    #[test]
    fn fsck_does_not_report_maps() {
        let (_dir, store) = store();
        let blob = store.write_blob(b"layer").unwrap();
        store.put_block_map(&blob, b"map").unwrap();
        let orphan = Digest::sha256_of(b"gone");
        store.put_block_map(&orphan, b"map").unwrap();
        let report = store.fsck(&crate::FsckOptions::default()).unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert!(report.garbage.is_empty(), "{:?}", report.garbage);
    }

    #[test]
    fn map_file_names_parse_as_blobs() {
        let sha256 = "a".repeat(64);
        let sha512 = "b".repeat(128);
        let cases = [
            (sha256.clone(), Some(format!("sha256:{sha256}"))),
            (sha512.clone(), Some(format!("sha512:{sha512}"))),
            ("A".repeat(64), None),
            (format!(".tmp-{}", &sha256[5..]), None),
            ("short".to_string(), None),
        ];
        for (name, expected) in cases {
            let found = blob_of(Path::new(&name)).map(|digest| digest.to_string());
            assert_eq!(found, expected, "{name}");
        }
    }
}
