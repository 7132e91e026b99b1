//! Unpacked layers for overlay mounts ("snapshots"), one directory per layer
//! chain under `cache/v1/snapshots/<chain id hex>/`:
//!
//! ```text
//! fs/      the top layer of the chain, unpacked in overlayfs format (whiteouts
//!          are 0:0 character devices, opaque directories carry
//!          `trusted.overlay.opaque`), usable as one `lowerdir`
//! layer    the digest of the layer blob it was unpacked from (text)
//! base     only in a delta snapshot: the chain id (hex) of the full snapshot
//!          that `fs/` is a delta on; the layer is then `fs/` over that
//!          snapshot's `fs/` (two lower directories)
//! ```
//!
//! A delta snapshot is only valid while its base exists: it is reported
//! absent otherwise, and removed with its base.
//!
//! A snapshot is keyed by the chain id (OCI: the digest of the parent's chain
//! id, a space and the layer's diff_id) and not by the layer alone, because
//! the directories a layer only implies take their attributes from the layers
//! below it.
//!
//! A snapshot is built in a scratch directory (`tmp/`) and renamed into place
//! complete, so a snapshot directory that exists is whole; it is removed by
//! renaming it back into `tmp/` first, so a crash never leaves half of one
//! under its name. Two builds unpacking the same chain both succeed and the
//! store keeps the first. Builds hold the `gc` guard while they use
//! snapshots, and only prune (under the exclusive `gc` lock) removes them:
//! `kiln prune` those whose layer blob it deleted, `kiln cache prune --all`
//! all of them.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use kiln_oci::Digest;

use crate::cache::CACHE_VERSION;
use crate::error::{Error, Result};
use crate::Store;

/// Subdirectory of a snapshot holding the unpacked tree.
const FS_DIR: &str = "fs";
/// File of a snapshot naming its layer blob.
const LAYER_FILE: &str = "layer";
/// File of a delta snapshot naming the full snapshot it overlays.
const BASE_FILE: &str = "base";

/// A snapshot being built in scratch space; [`Store::commit_snapshot`] puts it
/// in place, dropping it removes it.
#[derive(Debug)]
pub struct SnapshotBuilder {
    dir: tempfile::TempDir,
}

impl SnapshotBuilder {
    /// The directory to unpack the layer into.
    pub fn fs_path(&self) -> PathBuf {
        self.dir.path().join(FS_DIR)
    }

    /// Adds a file of the caller's beside `fs/` (e.g. what was unpacked), read
    /// back with [`Store::snapshot_file`]. `name` is a plain name other than
    /// `fs`, `layer` and `base`.
    pub fn put_file(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let reserved = [FS_DIR, LAYER_FILE, BASE_FILE].contains(&name);
        if reserved || name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(Error::InvalidLockName {
                name: name.to_string(),
            });
        }
        let path = self.dir.path().join(name);
        fs::write(&path, bytes).map_err(|source| Error::io(&path, source))
    }
}

impl Store {
    fn snapshots_dir(&self) -> PathBuf {
        self.root()
            .join("cache")
            .join(CACHE_VERSION)
            .join("snapshots")
    }

    /// The unpacked tree of the snapshot of `chain` when the store has it as a
    /// full snapshot (not a delta).
    pub fn snapshot(&self, chain: &Digest) -> Option<PathBuf> {
        let dir = self.snapshots_dir().join(chain.hex());
        let fs_path = dir.join(FS_DIR);
        (fs_path.is_dir() && !dir.join(BASE_FILE).exists()).then_some(fs_path)
    }

    /// The directories that make the layer of `chain`, topmost first: its
    /// `fs/`, then for a delta snapshot its base's `fs/`. None when absent
    /// (or a delta whose base is gone).
    pub fn snapshot_layers(&self, chain: &Digest) -> Option<Vec<PathBuf>> {
        let dir = self.snapshots_dir().join(chain.hex());
        let fs_path = dir.join(FS_DIR);
        if !fs_path.is_dir() {
            return None;
        }
        match self.snapshot_base(chain) {
            None if dir.join(BASE_FILE).exists() => None,
            None => Some(vec![fs_path]),
            Some(base) => Some(vec![fs_path, self.snapshot(&base)?]),
        }
    }

    /// A file put beside the snapshot's tree with [`SnapshotBuilder::put_file`].
    pub fn snapshot_file(&self, chain: &Digest, name: &str) -> Option<Vec<u8>> {
        fs::read(self.snapshots_dir().join(chain.hex()).join(name)).ok()
    }

    /// The chain id of the full snapshot a delta snapshot overlays.
    pub fn snapshot_base(&self, chain: &Digest) -> Option<Digest> {
        let path = self.snapshots_dir().join(chain.hex()).join(BASE_FILE);
        let text = fs::read_to_string(path).ok()?;
        format!("sha256:{}", text.trim()).parse().ok()
    }

    /// A fresh scratch snapshot with an empty `fs/` (mode 0755).
    pub fn snapshot_builder(&self) -> Result<SnapshotBuilder> {
        let dir = self.tmp_dir("snapshot-")?;
        let fs_path = dir.path().join(FS_DIR);
        fs::create_dir(&fs_path).map_err(|source| Error::io(&fs_path, source))?;
        Ok(SnapshotBuilder { dir })
    }

    /// Puts a built snapshot in place as the snapshot of `chain`, made from
    /// the layer blob `layer`, and returns its unpacked tree. When another
    /// process put one there first, that one is kept and `builder` dropped.
    pub fn commit_snapshot(
        &self,
        chain: &Digest,
        layer: &Digest,
        builder: SnapshotBuilder,
    ) -> Result<PathBuf> {
        self.commit_delta_snapshot(chain, layer, builder, None)
    }

    /// Like [`Store::commit_snapshot`]; with `base`, the snapshot is a delta
    /// on the full snapshot of that chain.
    pub fn commit_delta_snapshot(
        &self,
        chain: &Digest,
        layer: &Digest,
        builder: SnapshotBuilder,
        base: Option<&Digest>,
    ) -> Result<PathBuf> {
        let layer_path = builder.dir.path().join(LAYER_FILE);
        fs::write(&layer_path, layer.to_string())
            .map_err(|source| Error::io(&layer_path, source))?;
        if let Some(base) = base {
            let base_path = builder.dir.path().join(BASE_FILE);
            fs::write(&base_path, base.hex()).map_err(|source| Error::io(&base_path, source))?;
        }
        let parent = self.snapshots_dir();
        fs::create_dir_all(&parent).map_err(|source| Error::io(&parent, source))?;
        let target = parent.join(chain.hex());
        if target.exists() && self.snapshot_layers(chain).is_none() {
            // A delta whose base is gone (a prune interrupted between the
            // two): useless, and in the way.
            self.remove_via_tmp(&target)?;
        }
        let scratch = builder.dir.keep();
        match fs::rename(&scratch, &target) {
            Ok(()) => {}
            Err(err) if target.join(FS_DIR).is_dir() => {
                // Lost the race (ENOTEMPTY / EEXIST): keep the winner's.
                let _ = err;
                remove_tree(&scratch)?;
            }
            Err(source) => {
                let _ = remove_tree(&scratch);
                return Err(Error::io(&target, source));
            }
        }
        Ok(target.join(FS_DIR))
    }

    /// Removes the snapshots whose layer blob is no longer in the store
    /// (after prune deleted it). Call under the exclusive `gc` lock.
    pub(crate) fn remove_orphaned_snapshots(&self) -> Result<(usize, u64)> {
        let mut removed = (0, 0);
        for path in crate::garbage::list_dir(&self.snapshots_dir())? {
            let layer = fs::read_to_string(path.join(LAYER_FILE))
                .ok()
                .and_then(|text| text.trim().parse::<Digest>().ok());
            let base_gone = path.join(BASE_FILE).exists()
                && fs::read_to_string(path.join(BASE_FILE))
                    .ok()
                    .and_then(|hex| format!("sha256:{}", hex.trim()).parse::<Digest>().ok())
                    .is_none_or(|base| {
                        let base_dir = self.snapshots_dir().join(base.hex());
                        // Its base goes in this same sweep when that one's blob is gone.
                        !base_dir.join(FS_DIR).is_dir()
                            || fs::read_to_string(base_dir.join(LAYER_FILE))
                                .ok()
                                .and_then(|text| text.trim().parse::<Digest>().ok())
                                .is_none_or(|digest| !self.has_blob(&digest))
                    });
            if layer.is_some_and(|digest| self.has_blob(&digest)) && !base_gone {
                continue;
            }
            let bytes = crate::garbage::tree_usage(&path)?.map_or(0, |(bytes, _)| bytes);
            self.remove_via_tmp(&path)?;
            removed.0 += 1;
            removed.1 += bytes;
        }
        Ok(removed)
    }

    /// Removes a directory tree so that it disappears from its place at once:
    /// renamed into `tmp/` first, then deleted.
    pub(crate) fn remove_via_tmp(&self, path: &Path) -> Result<()> {
        let scratch = self.tmp_dir("removing-")?;
        let moved = scratch.path().join("tree");
        match fs::rename(path, &moved) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(Error::io(path, source)),
        }
        let scratch = scratch.keep();
        remove_tree(&scratch)
    }
}

fn remove_tree(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(Error::io(path, err)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(text: &str) -> Digest {
        Digest::sha256_of(text.as_bytes())
    }

    #[test]
    fn commit_then_find_and_race() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let chain = digest("chain");
        let layer = store.write_blob(b"layer").unwrap();
        assert!(store.snapshot(&chain).is_none());

        let first = store.snapshot_builder().unwrap();
        fs::write(first.fs_path().join("a"), "first").unwrap();
        first.put_file("notes", b"kept").unwrap();
        assert!(first.put_file("layer", b"no").is_err());
        assert!(first.put_file("../x", b"no").is_err());
        let second = store.snapshot_builder().unwrap();
        fs::write(second.fs_path().join("a"), "second").unwrap();
        let path = store.commit_snapshot(&chain, &layer, first).unwrap();
        let again = store.commit_snapshot(&chain, &layer, second).unwrap();
        assert_eq!(path, again);
        assert_eq!(fs::read_to_string(path.join("a")).unwrap(), "first");
        assert_eq!(store.snapshot(&chain), Some(path));
        assert_eq!(
            store.snapshot_file(&chain, "notes").as_deref(),
            Some(&b"kept"[..])
        );
        assert_eq!(
            fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0,
            "the loser's scratch is gone"
        );
    }

    #[test]
    fn delta_snapshots_stand_on_their_base() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let base_layer = store.write_blob(b"base").unwrap();
        let delta_layer = store.write_blob(b"delta").unwrap();
        let base = store.snapshot_builder().unwrap();
        let base_fs = store
            .commit_snapshot(&digest("base"), &base_layer, base)
            .unwrap();
        let delta = store.snapshot_builder().unwrap();
        let delta_fs = store
            .commit_delta_snapshot(&digest("delta"), &delta_layer, delta, Some(&digest("base")))
            .unwrap();
        assert_eq!(
            store.snapshot(&digest("delta")),
            None,
            "not a full snapshot"
        );
        assert_eq!(store.snapshot_base(&digest("delta")), Some(digest("base")));
        assert_eq!(
            store.snapshot_layers(&digest("delta")),
            Some(vec![delta_fs, base_fs.clone()])
        );
        assert_eq!(store.snapshot_layers(&digest("base")), Some(vec![base_fs]));
        // A delta whose base vanished is replaced by a new snapshot.
        let base_dir = dir
            .path()
            .join("cache/v1/snapshots")
            .join(digest("base").hex());
        let kept = dir.path().join("kept-base");
        std::fs::rename(&base_dir, &kept).unwrap();
        assert_eq!(store.snapshot_layers(&digest("delta")), None);
        let full = store.snapshot_builder().unwrap();
        fs::write(full.fs_path().join("whole"), "w").unwrap();
        let path = store
            .commit_snapshot(&digest("delta"), &delta_layer, full)
            .unwrap();
        assert!(path.join("whole").exists());
        assert_eq!(store.snapshot_layers(&digest("delta")), Some(vec![path]));
        std::fs::rename(&kept, &base_dir).unwrap();
        let second = store.snapshot_builder().unwrap();
        store
            .commit_delta_snapshot(
                &digest("delta2"),
                &delta_layer,
                second,
                Some(&digest("base")),
            )
            .unwrap();
        // The base's blob goes: its snapshot and the delta on it go.
        std::fs::remove_file(store.blob_path(&base_layer)).unwrap();
        let (count, _) = store.remove_orphaned_snapshots().unwrap();
        assert_eq!(count, 2);
        assert_eq!(store.snapshot_layers(&digest("base")), None);
        assert_eq!(store.snapshot_layers(&digest("delta2")), None);
        assert!(store.snapshot_layers(&digest("delta")).is_some());
    }

    #[test]
    fn orphaned_snapshots_go_with_their_blob() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let kept_layer = store.write_blob(b"kept").unwrap();
        let kept = store.snapshot_builder().unwrap();
        store
            .commit_snapshot(&digest("kept"), &kept_layer, kept)
            .unwrap();
        let gone = store.snapshot_builder().unwrap();
        fs::write(gone.fs_path().join("f"), "12345").unwrap();
        store
            .commit_snapshot(&digest("gone"), &digest("no such blob"), gone)
            .unwrap();
        let (count, bytes) = store.remove_orphaned_snapshots().unwrap();
        assert_eq!(count, 1);
        assert!(bytes >= 5);
        assert!(store.snapshot(&digest("kept")).is_some());
        assert!(store.snapshot(&digest("gone")).is_none());
    }
}
