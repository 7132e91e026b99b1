//! The native root filesystem: the image's layers extracted into one
//! directory, the RUN step's layer computed from stat snapshots before and
//! after it.

use std::path::Path;

use kiln_layer::{LayerEntry, TreeSnapshot};
use kiln_store::Store;
use tempfile::TempDir;

use crate::error::{BuildError, Result};
use crate::image::Image;

/// An extracted root filesystem.
pub struct NativeRootfs {
    dir: TempDir,
    /// How many of the image's layers are in the directory.
    applied: usize,
    /// The directory's state before the RUN being run (taken by `prepare`),
    /// or after the last RUN while nothing else changed it.
    before: Option<TreeSnapshot>,
    /// The state after the RUN, between `changes` and `commit_run`.
    after: Option<TreeSnapshot>,
}

impl NativeRootfs {
    /// A new, empty root filesystem under the store's scratch space.
    pub fn new(store: &Store) -> Result<NativeRootfs> {
        Ok(NativeRootfs {
            dir: store.tmp_dir("rootfs-")?,
            applied: 0,
            before: None,
            after: None,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Extracts the image's layers that are not in the directory yet, and
    /// takes the snapshot the RUN's changes are measured against.
    pub fn prepare(&mut self, store: &Store, image: &Image) -> Result<Vec<String>> {
        let warnings = self.sync(store, image)?;
        if self.before.is_none() {
            self.before = Some(kiln_layer::snapshot_tree(self.dir.path())?);
        }
        Ok(warnings)
    }

    fn sync(&mut self, store: &Store, image: &Image) -> Result<Vec<String>> {
        let mut warnings = Vec::new();
        if self.applied > image.layers.len() {
            return Err(BuildError::Usage(
                "root filesystem is ahead of its image".into(),
            ));
        }
        let options = kiln_layer::ExtractOptions {
            apply_whiteouts: true,
            preserve_ownership: true,
            overlay: false,
            digests: false,
        };
        for layer in &image.layers[self.applied..] {
            let digest = kiln_oci::descriptor_digest(&layer.descriptor)?;
            let file = store.open_blob(&digest)?;
            let (_, tar) = kiln_layer::decompress(std::io::BufReader::new(file))?;
            let report = kiln_layer::extract(tar, self.dir.path(), &options)?;
            warnings.extend(report.warnings);
            self.before = None;
        }
        self.applied = image.layers.len();
        Ok(warnings)
    }

    /// The difference between the snapshot `prepare` took and now.
    pub fn changes(&mut self, exclude: &dyn Fn(&str) -> bool) -> Result<Vec<LayerEntry>> {
        let root = self.dir.path();
        let before = match self.before.take() {
            Some(snapshot) => snapshot,
            None => return Err(BuildError::Usage("root filesystem was not prepared".into())),
        };
        let after = kiln_layer::snapshot_tree(root)?;
        let entries = kiln_layer::diff_trees(root, &before, &after, exclude)?;
        self.after = Some(after);
        Ok(entries)
    }

    /// The image gained the layer of the RUN's changes: the state after it
    /// is the next RUN's starting point.
    pub fn commit_run(&mut self, layers: usize) {
        self.applied = layers;
        self.before = self.after.take();
    }

    /// True when the directory holds exactly the first `layers` layers.
    pub fn in_sync(&self, layers: usize) -> bool {
        self.applied == layers
    }

    /// Records that a new layer was extracted into the directory while it was written.
    pub fn mark_extracted(&mut self, layers: usize) {
        self.applied = layers;
        self.before = None;
    }
}
