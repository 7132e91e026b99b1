//! `kiln load`: import an oci-archive or docker-archive into the store.

use std::path::Path;

use kiln_oci::Reference;
use kiln_store::Store;

use crate::error::Result;

/// An image the archive held, now in the store.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The manifest digest.
    pub manifest: kiln_oci::Descriptor,
    /// The names it was tagged with.
    pub names: Vec<String>,
}

/// Imports every image of `archive`, verifying each blob; tags them with
/// their names from the archive, or with `tags` when given.
pub fn load(store: &Store, archive: &Path, tags: &[Reference]) -> Result<Vec<Loaded>> {
    // Keeps `kiln prune` from deleting blobs between their import and the tag.
    let _gc_guard = store.gc_guard()?;
    let work = store.tmp_dir("load-")?;
    let images = kiln_oci::read_archive(archive, work.path())?;
    let mut loaded = Vec::new();
    for image in images {
        for (digest, path) in &image.blobs {
            store.import_file(path, digest)?;
        }
        let names: Vec<String> = if tags.is_empty() {
            image.names.iter().map(Reference::familiar).collect()
        } else {
            tags.iter().map(Reference::familiar).collect()
        };
        for name in &names {
            store.set_tag(name, &image.manifest)?;
        }
        loaded.push(Loaded {
            manifest: image.manifest,
            names,
        });
    }
    Ok(loaded)
}
