//! The overlay root filesystem: the image's layers, unpacked once each in the
//! store ([`super::snapshots`]), mounted as overlay lower directories with a
//! fresh upper directory per RUN. The RUN's layer is read from the upper
//! directory alone ([`kiln_layer::overlay::diff_upper`]), so neither
//! extracting the image nor comparing it before and after costs anything
//! that grows with the image.
//!
//! After a RUN, its upper directory stays in the stage's scratch space as the
//! lower directory of its layer for the stage's next RUN: it records exactly
//! what the RUN changed (unclamped mtimes and excluded mount points
//! included, as the native root filesystem keeps them too), so it is not
//! shared through the store.
//!
//! The mount lives in kiln's private mount namespace
//! ([`kiln_run::enter_private_mount_namespace`]); it is unmounted when the
//! RUN ends, and the kernel drops it if kiln dies first.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kiln_layer::LayerEntry;
use kiln_oci::Digest;
use kiln_run::OverlayMount;
use kiln_store::Store;
use tempfile::TempDir;

use super::snapshots::{self, chain_id, chain_ids, dir_attrs_of, set_attrs, DirAttrs};
use crate::error::{BuildError, Result};
use crate::image::{Image, LayerRef};

/// An overlay-mounted root filesystem.
pub struct OverlayRootfs {
    /// `merged/`, `work/`, `empty/` and the `upper-N/` directories.
    scratch: TempDir,
    /// `scratch/merged`.
    merged: PathBuf,
    /// The chain id of the image prepared last, for `commit_run`.
    top_chain: Option<Digest>,
    /// Upper directories of this stage's RUNs, by the chain id of their layer.
    local: HashMap<Digest, PathBuf>,
    /// The lower directories of the current mount, bottom first.
    lowers: Vec<PathBuf>,
    /// The mount while a RUN is prepared or running.
    mount: Option<OverlayMount>,
    /// The upper directory of the current mount.
    upper: Option<PathBuf>,
    /// Upper directories made so far (names them).
    uppers_made: usize,
    /// Unmounts of finished RUNs, done in the background (joined on drop).
    unmounting: Vec<std::thread::JoinHandle<()>>,
}

impl OverlayRootfs {
    /// A new root filesystem under the store's scratch space; nothing mounted yet.
    pub fn new(store: &Store) -> Result<OverlayRootfs> {
        let scratch = store.tmp_dir("rootfs-")?;
        Ok(OverlayRootfs {
            merged: scratch.path().join("merged"),
            scratch,
            top_chain: None,
            local: HashMap::new(),
            lowers: Vec::new(),
            mount: None,
            upper: None,
            uppers_made: 0,
            unmounting: Vec::new(),
        })
    }

    /// The merged view.
    pub fn path(&self) -> &Path {
        &self.merged
    }

    /// Unpacks the layers the store has no snapshot of yet, then mounts the
    /// image's layers with a fresh upper directory.
    pub fn prepare(&mut self, store: &Store, image: &Image) -> Result<Vec<String>> {
        if let Some(mount) = self.mount.take() {
            mount.unmount().map_err(overlay_error)?;
        }
        let mut warnings = Vec::new();
        let chains = chain_ids(&image.layers);
        let mut lowers: Vec<PathBuf> = Vec::with_capacity(chains.len());
        for (layer, chain) in image.layers.iter().zip(&chains) {
            let dirs = match self
                .local
                .get(chain)
                .map(|path| vec![path.clone()])
                .or_else(|| store.snapshot_layers(chain))
            {
                Some(dirs) => dirs,
                None => {
                    let (path, more) = snapshots::unpack(store, layer, chain, &lowers)?;
                    warnings.extend(more);
                    vec![path]
                }
            };
            // Topmost first: a delta snapshot is its own directory over its base's.
            lowers.extend(dirs.into_iter().rev());
        }
        let scratch = self.scratch.path().to_path_buf();
        let root_attrs = match lowers.last() {
            Some(top) => dir_attrs_of(top)?,
            None => {
                let empty = scratch.join("empty");
                create_dir(&empty)?;
                lowers.push(empty);
                DirAttrs {
                    mode: 0o755,
                    uid: 0,
                    gid: 0,
                    mtime: 0,
                }
            }
        };
        // Fresh directories per RUN: the previous mount may still be going away.
        let number = self.uppers_made;
        self.uppers_made += 1;
        let upper = scratch.join(format!("upper-{number}"));
        let work = scratch.join(format!("work-{number}"));
        let merged = scratch.join(format!("merged-{number}"));
        for dir in [&upper, &work, &merged] {
            create_dir(dir)?;
        }
        // The merged root takes the upper directory's attributes.
        set_attrs(&upper, root_attrs)?;
        let top_down: Vec<PathBuf> = lowers.iter().rev().cloned().collect();
        let mount =
            OverlayMount::mount(&top_down, &upper, &work, &merged).map_err(overlay_error)?;
        self.mount = Some(mount);
        self.merged = merged;
        self.upper = Some(upper);
        self.lowers = lowers;
        self.top_chain = chains.last().cloned();
        Ok(warnings)
    }

    /// Reads the RUN's changes from the upper directory (nothing writes to it
    /// once the RUN's processes are gone), then unmounts in the background:
    /// dropping a mount that cached a large tree takes a while.
    pub fn changes(&mut self, exclude: &dyn Fn(&str) -> bool) -> Result<Vec<LayerEntry>> {
        let upper = self
            .upper
            .clone()
            .ok_or_else(|| BuildError::Usage("root filesystem was not prepared".into()))?;
        let stack =
            kiln_layer::overlay::LowerStack::new(self.lowers.iter().rev().cloned().collect());
        let entries = kiln_layer::overlay::diff_upper(&upper, &stack, exclude);
        if let Some(mount) = self.mount.take() {
            // A failed lazy unmount leaves nothing behind that matters: the
            // mount lives in kiln's own namespace, which ends with kiln.
            self.unmounting.push(std::thread::spawn(move || {
                let _ = mount.unmount();
            }));
        }
        Ok(entries?)
    }

    /// Keeps the upper directory as the lower directory of `layer`.
    pub fn commit_run(&mut self, layer: &LayerRef) {
        if let Some(upper) = self.upper.take() {
            let chain = chain_id(self.top_chain.as_ref(), &layer.diff_id);
            self.local.insert(chain, upper);
        }
    }
}

impl Drop for OverlayRootfs {
    fn drop(&mut self) {
        // Unmount before the scratch directory is removed.
        if let Some(mount) = self.mount.take() {
            let _ = mount.unmount();
        }
        for unmount in self.unmounting.drain(..) {
            let _ = unmount.join();
        }
    }
}

fn overlay_error(err: kiln_run::Error) -> BuildError {
    BuildError::Usage(format!("overlay root filesystem: {err}"))
}

fn create_dir(path: &Path) -> Result<()> {
    std::fs::create_dir(path).map_err(|source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    })
}
