//! Unpacked layers for overlay mounts ("snapshots"), one directory per layer
//! chain under `cache/v1/snapshots/<chain id hex>/`:
//!
//! ```text
//! fs/      the top layer of the chain, unpacked in overlayfs format (whiteouts
//!          are 0:0 character devices, opaque directories carry
//!          `trusted.overlay.opaque`), usable as one `lowerdir`
//! layer    the digest of the layer blob it was unpacked from (text)
//! ```
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
}

impl Store {
    fn snapshots_dir(&self) -> PathBuf {
        self.root()
            .join("cache")
            .join(CACHE_VERSION)
            .join("snapshots")
    }

    /// The unpacked tree of the snapshot of `chain`, when the store has it.
    pub fn snapshot(&self, chain: &Digest) -> Option<PathBuf> {
        let fs_path = self.snapshots_dir().join(chain.hex()).join(FS_DIR);
        fs_path.is_dir().then_some(fs_path)
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
        let layer_path = builder.dir.path().join(LAYER_FILE);
        fs::write(&layer_path, layer.to_string())
            .map_err(|source| Error::io(&layer_path, source))?;
        let parent = self.snapshots_dir();
        fs::create_dir_all(&parent).map_err(|source| Error::io(&parent, source))?;
        let target = parent.join(chain.hex());
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
            if layer.is_some_and(|digest| self.has_blob(&digest)) {
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
        let second = store.snapshot_builder().unwrap();
        fs::write(second.fs_path().join("a"), "second").unwrap();
        let path = store.commit_snapshot(&chain, &layer, first).unwrap();
        let again = store.commit_snapshot(&chain, &layer, second).unwrap();
        assert_eq!(path, again);
        assert_eq!(fs::read_to_string(path.join("a")).unwrap(), "first");
        assert_eq!(store.snapshot(&chain), Some(path));
        assert_eq!(
            fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0,
            "the loser's scratch is gone"
        );
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
