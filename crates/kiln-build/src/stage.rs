//! The state of a stage while its instructions run.

use std::collections::BTreeSet;

use kiln_layer::FsIndex;
use kiln_oci::History;
use kiln_store::Store;

use crate::error::Result;
use crate::image::{apply_layer, Image, LayerRef};
use crate::vars::Vars;

/// The environment in which BuildKit runs a scratch image's steps.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// One stage being built.
pub struct StageState {
    /// The stage's index in the Dockerfile.
    pub index: usize,
    /// The image so far.
    pub image: Image,
    /// Stage-scope ARGs with a value.
    pub args: Vars,
    /// Stage-scope ARG names (with or without value).
    pub declared_args: BTreeSet<String>,
    /// True once CMD was set in this stage (ENTRYPOINT then keeps it).
    pub cmd_set: bool,
    /// The filesystem index of `image`, built when first needed.
    fs: Option<FsIndex>,
    /// How many of the image's layers the index has seen.
    fs_applied: usize,
    /// The root filesystem for RUN, extracted when the first RUN needs it.
    pub rootfs: Option<crate::rootfs::Rootfs>,
    /// The cache key of the filesystem so far (the last layer step's key).
    pub fs_key: crate::cache::CacheKey,
    /// The stage's name for progress and build records.
    pub label: String,
    /// Position of the instruction being run (FROM is 1).
    pub position: usize,
    /// Whether a RUN comes later in the stage (a COPY layer is then unpacked
    /// for it while it is written).
    pub run_follows: bool,
    /// Whether the last step came from the cache, and why it missed.
    pub outcome: Option<(bool, Option<String>)>,
}

impl StageState {
    /// A stage starting from `image`.
    pub fn new(index: usize, label: String, image: Image, platform: &str) -> StageState {
        let fs_key = crate::cache::base_key("image", &image.fs_identity(), platform);
        StageState {
            index,
            image,
            args: Vars::default(),
            declared_args: BTreeSet::new(),
            cmd_set: false,
            fs: None,
            fs_applied: 0,
            rootfs: None,
            fs_key,
            label,
            position: 1,
            run_follows: false,
            outcome: None,
        }
    }

    /// The variables for expansion: stage ARGs, overridden by the image's ENV.
    pub fn vars(&self) -> Vars {
        let mut vars = self.args.clone();
        for (key, value) in Vars::from_env_list(&self.image.config.config.env).0 {
            vars.set(&key, &value);
        }
        vars
    }

    /// The image's filesystem index: kept in memory, else read from the
    /// store's copy for the image's layer chain, else built from its layers
    /// (and then saved). Layers added since the index was last brought up to
    /// date are applied now: a step that hits the cache never reads a layer.
    pub fn fs_index(&mut self, store: &Store) -> Result<&FsIndex> {
        let layers = self.image.layers.len();
        if self.fs.is_none() {
            if let Some(index) = load_index(store, &self.image.layers) {
                self.fs_applied = layers;
                return Ok(self.fs.insert(index));
            }
        }
        let (mut index, from) = match self.fs.take() {
            None => (FsIndex::new(), 0),
            Some(index) => (index, self.fs_applied),
        };
        if from < layers {
            for layer in &self.image.layers[from..] {
                apply_layer(store, &mut index, layer)?;
            }
            save_index(store, &self.image.layers, &index)?;
        }
        self.fs_applied = layers;
        Ok(self.fs.insert(index))
    }

    /// Adds a layer to the image (the index catches up when next asked for).
    pub fn push_layer(&mut self, _store: &Store, layer: LayerRef) -> Result<()> {
        self.image.push_layer(layer);
        Ok(())
    }

    /// Adds a layer made of `entries`: an index in step with the image is
    /// brought up to date from the entries, without reading the layer back.
    pub fn push_layer_entries(
        &mut self,
        store: &Store,
        layer: LayerRef,
        entries: &[kiln_layer::LayerEntry],
    ) -> Result<()> {
        let in_step = self.fs.is_some() && self.fs_applied == self.image.layers.len();
        self.image.push_layer(layer);
        if let Some(index) = self.fs.as_mut().filter(|_| in_step) {
            index.apply_entries(entries, &crate::image::capture_account_files)?;
            self.fs_applied = self.image.layers.len();
            save_index(store, &self.image.layers, index)?;
        }
        Ok(())
    }

    /// The working directory (`/` when the image sets none).
    pub fn workdir(&self) -> String {
        self.image
            .config
            .config
            .working_dir
            .clone()
            .filter(|dir| !dir.is_empty())
            .unwrap_or_else(|| "/".to_string())
    }

    /// Records an instruction in the history.
    pub fn history(&mut self, created: &str, created_by: String, empty_layer: bool) {
        self.image.config.history.push(History {
            created: Some(created.to_string()),
            created_by: Some(created_by),
            author: None,
            comment: Some("buildkit.dockerfile.v0".to_string()),
            empty_layer,
        });
    }
}

/// Kind of the store's derived files holding encoded filesystem indexes.
const INDEX_KIND: &str = "fsindex";

/// The stored index of the chain of `layers`, when the store has a good one.
fn load_index(store: &Store, layers: &[LayerRef]) -> Option<FsIndex> {
    let chain = crate::rootfs::snapshots::chain_ids(layers).pop()?;
    let bytes = store.derived(INDEX_KIND, chain.hex()).ok()??;
    FsIndex::decode(&bytes).ok()
}

/// Keeps `index` as the index of the chain of `layers` (none for no layers).
fn save_index(store: &Store, layers: &[LayerRef], index: &FsIndex) -> Result<()> {
    if let Some(chain) = crate::rootfs::snapshots::chain_ids(layers).pop() {
        store.put_derived(INDEX_KIND, chain.hex(), &index.encode())?;
    }
    Ok(())
}
