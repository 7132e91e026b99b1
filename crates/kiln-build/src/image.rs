//! Images as the engine sees them: a config plus an ordered list of layers,
//! read from and written to the store.

use std::io::Read;

use kiln_layer::FsIndex;
use kiln_oci::oci_spec::image::ImageManifest;
use kiln_oci::{media_type, Descriptor, Digest, ImageConfig};
use kiln_store::Store;

use crate::error::{BuildError, Result};

/// A layer of an image: its descriptor in the store and its diff_id.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerRef {
    /// The (compressed) blob.
    pub descriptor: Descriptor,
    /// The sha256 of the uncompressed tar.
    pub diff_id: Digest,
}

/// An image being built or read: config and layers.
#[derive(Debug, Clone, Default)]
pub struct Image {
    /// The config (history included).
    pub config: ImageConfig,
    /// Layers, bottom first; `config.rootfs.diff_ids` matches them.
    pub layers: Vec<LayerRef>,
    /// Where layers the store lacks come from (a registry base whose layers
    /// are fetched only when a step needs them).
    pub remote: Option<Remote>,
}

/// A registry image whose layers may not be in the store yet.
#[derive(Debug, Clone)]
pub struct Remote {
    /// The repository (pinned to the manifest digest).
    pub reference: kiln_oci::Reference,
    /// The name to tag the image with once its layers are in the store.
    pub tag: Option<String>,
    /// The image's manifest.
    pub manifest: Descriptor,
}

/// A manifest and config written to the store.
#[derive(Debug, Clone)]
pub struct StoredImage {
    /// The manifest's descriptor.
    pub manifest: Descriptor,
    /// The config digest: the image ID.
    pub config_digest: Digest,
}

impl Image {
    /// Reads the image a manifest describes.
    pub fn from_manifest(store: &Store, manifest_digest: &Digest) -> Result<Image> {
        let bytes = store.read_blob(manifest_digest)?;
        let manifest = ImageManifest::from_reader(bytes.as_slice()).map_err(|err| {
            BuildError::Usage(format!(
                "manifest {manifest_digest} is not an image manifest: {err}"
            ))
        })?;
        let config_digest = kiln_oci::descriptor_digest(manifest.config())?;
        let config = ImageConfig::from_json(&store.read_blob(&config_digest)?)?;
        if config.rootfs.diff_ids.len() != manifest.layers().len() {
            return Err(BuildError::Usage(format!(
                "image {manifest_digest} has {} layers but its config lists {} diff_ids",
                manifest.layers().len(),
                config.rootfs.diff_ids.len()
            )));
        }
        let layers = manifest
            .layers()
            .iter()
            .zip(&config.rootfs.diff_ids)
            .map(|(descriptor, diff_id)| LayerRef {
                descriptor: descriptor.clone(),
                diff_id: diff_id.clone(),
            })
            .collect();
        Ok(Image {
            config,
            layers,
            remote: None,
        })
    }

    /// What the image's filesystem is, for cache keys: a hash of its diff_ids.
    pub fn fs_identity(&self) -> String {
        use sha2::{Digest as _, Sha256};
        let mut hasher = Sha256::new();
        for layer in &self.layers {
            hasher.update(layer.diff_id.as_str().as_bytes());
            hasher.update(b"\n");
        }
        hex::encode(hasher.finalize())
    }

    /// Appends a layer (and its diff_id in the config).
    pub fn push_layer(&mut self, layer: LayerRef) {
        self.config.rootfs.diff_ids.push(layer.diff_id.clone());
        self.layers.push(layer);
    }

    /// Writes config and manifest into the store.
    pub fn store(&self, store: &Store) -> Result<StoredImage> {
        let mut config = self.config.clone();
        config.rootfs.fs_type = "layers".to_string();
        config.rootfs.diff_ids = self
            .layers
            .iter()
            .map(|layer| layer.diff_id.clone())
            .collect();
        let config_bytes = config.to_json();
        let config_digest = store.write_blob(&config_bytes)?;
        let layers: Vec<serde_json::Value> = self
            .layers
            .iter()
            .map(|layer| {
                serde_json::json!({
                    // The manifest is OCI: a Docker-typed base layer gets its
                    // OCI media type (same bytes, same digest).
                    "mediaType": media_type::oci_layer_type(layer.descriptor.media_type().as_ref()),
                    "digest": layer.descriptor.digest().to_string(),
                    "size": layer.descriptor.size(),
                })
            })
            .collect();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_MANIFEST,
            "config": {
                "mediaType": media_type::OCI_CONFIG,
                "digest": config_digest.to_string(),
                "size": config_bytes.len(),
            },
            "layers": layers,
        });
        let manifest_bytes =
            serde_json::to_vec(&manifest).map_err(|err| BuildError::Usage(err.to_string()))?;
        let manifest_digest = store.write_blob(&manifest_bytes)?;
        Ok(StoredImage {
            manifest: kiln_oci::descriptor(
                media_type::OCI_MANIFEST,
                &manifest_digest,
                manifest_bytes.len() as u64,
            ),
            config_digest,
        })
    }

    /// Builds an index of the image's filesystem, capturing `/etc/passwd` and `/etc/group`.
    pub fn fs_index(&self, store: &Store) -> Result<FsIndex> {
        let mut index = FsIndex::new();
        for layer in &self.layers {
            apply_layer(store, &mut index, layer)?;
        }
        Ok(index)
    }
}

/// Applies one layer from the store to an index.
pub fn apply_layer(store: &Store, index: &mut FsIndex, layer: &LayerRef) -> Result<()> {
    let digest = kiln_oci::descriptor_digest(&layer.descriptor)?;
    let file = store.open_blob(&digest)?;
    let (_, tar) = kiln_layer::decompress(std::io::BufReader::new(file))?;
    index.apply_layer(tar, &capture_account_files)?;
    Ok(())
}

/// The files COPY --chown and USER read from an image.
pub fn capture_account_files(path: &str) -> bool {
    matches!(path, "etc/passwd" | "etc/group")
}

/// Extracts an image's layers into `dest` (whiteouts applied), for COPY --from.
pub fn materialize(store: &Store, image: &Image, dest: &std::path::Path) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    let options = kiln_layer::ExtractOptions {
        apply_whiteouts: true,
        preserve_ownership: false,
        overlay: false,
        digests: false,
    };
    for layer in &image.layers {
        let digest = kiln_oci::descriptor_digest(&layer.descriptor)?;
        let file = store.open_blob(&digest)?;
        let (_, tar) = kiln_layer::decompress(std::io::BufReader::new(file))?;
        let report = kiln_layer::extract(tar.take(u64::MAX), dest, &options)?;
        warnings.extend(report.warnings);
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_manifests_are_oci_even_over_docker_base_layers() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let blob = store.write_blob(b"layer bytes").unwrap();
        let mut image = Image::default();
        image.push_layer(LayerRef {
            descriptor: kiln_oci::descriptor(media_type::DOCKER_LAYER_GZIP, &blob, 11),
            diff_id: Digest::sha256_of(b"tar"),
        });
        let stored = image.store(&store).unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(
            &store
                .read_blob(&kiln_oci::descriptor_digest(&stored.manifest).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(manifest["mediaType"], media_type::OCI_MANIFEST);
        assert_eq!(
            manifest["layers"][0]["mediaType"],
            media_type::OCI_LAYER_GZIP
        );
        assert_eq!(manifest["layers"][0]["digest"], blob.to_string());
    }
}
