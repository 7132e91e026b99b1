//! Reading an OCI image from an oci-archive or an OCI layout directory
//! (index.json → manifest → config → layers), checking every digest, size and
//! diff_id on the way, so a test that reads an image also validates it.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::layer::{list_layer, normalize, LayerFile};

/// The hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// One layer of an image.
#[derive(Debug, Clone)]
pub struct Layer {
    /// The blob digest (`sha256:…`).
    pub digest: String,
    /// The descriptor's media type.
    pub media_type: String,
    /// The entries, in archive order, with contents.
    pub files: Vec<LayerFile>,
}

/// An image read from an OCI layout, all of it in memory (test images are small).
#[derive(Debug, Clone)]
pub struct OciImage {
    /// `index.json`.
    pub index: Value,
    /// The manifest's digest (`sha256:…`).
    pub manifest_digest: String,
    /// The manifest.
    pub manifest: Value,
    /// The config's digest: the image ID.
    pub config_digest: String,
    /// The image config.
    pub config: Value,
    /// The layers, bottom first.
    pub layers: Vec<Layer>,
}

enum Source {
    Files(BTreeMap<String, Vec<u8>>),
    Dir(PathBuf),
}

impl Source {
    fn read(&self, path: &str) -> Vec<u8> {
        match self {
            Source::Files(files) => files
                .get(path)
                .cloned()
                .unwrap_or_else(|| panic!("the archive has no {path}")),
            Source::Dir(dir) => std::fs::read(dir.join(path))
                .unwrap_or_else(|err| panic!("cannot read {path} in {}: {err}", dir.display())),
        }
    }

    fn blob(&self, descriptor: &Value) -> Vec<u8> {
        let digest = descriptor["digest"]
            .as_str()
            .unwrap_or_else(|| panic!("descriptor without digest: {descriptor}"));
        let hex = digest
            .strip_prefix("sha256:")
            .unwrap_or_else(|| panic!("not a sha256 digest: {digest}"));
        let bytes = self.read(&format!("blobs/sha256/{hex}"));
        assert_eq!(
            sha256_hex(&bytes),
            hex,
            "blob {digest} does not match its digest"
        );
        assert_eq!(
            descriptor["size"].as_u64(),
            Some(bytes.len() as u64),
            "size of {digest} differs from its descriptor"
        );
        bytes
    }
}

impl OciImage {
    /// Reads the only image of an oci-archive (an uncompressed tar of a layout).
    pub fn from_archive(path: &Path) -> Self {
        Self::read(&Self::archive_source(path), None)
    }

    /// Reads the image tagged `name` (`org.opencontainers.image.ref.name`) of an oci-archive.
    pub fn from_archive_ref(path: &Path, name: &str) -> Self {
        Self::read(&Self::archive_source(path), Some(name))
    }

    /// Reads the only image of an OCI layout directory.
    pub fn from_dir(path: &Path) -> Self {
        Self::read(&Source::Dir(path.to_owned()), None)
    }

    /// Reads the image tagged `name` in an OCI layout directory (e.g. a kiln store).
    pub fn from_dir_ref(path: &Path, name: &str) -> Self {
        Self::read(&Source::Dir(path.to_owned()), Some(name))
    }

    fn archive_source(path: &Path) -> Source {
        let bytes = std::fs::read(path)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
        let mut files = BTreeMap::new();
        let mut archive = tar::Archive::new(&bytes[..]);
        for entry in archive
            .entries()
            .unwrap_or_else(|err| panic!("{} is not a tar: {err}", path.display()))
        {
            let mut entry =
                entry.unwrap_or_else(|err| panic!("bad entry in {}: {err}", path.display()));
            if entry.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            let name = normalize(&entry.path().expect("tar path").to_string_lossy());
            let mut content = Vec::new();
            entry
                .read_to_end(&mut content)
                .unwrap_or_else(|err| panic!("cannot read {name}: {err}"));
            files.insert(name, content);
        }
        Source::Files(files)
    }

    fn read(source: &Source, name: Option<&str>) -> Self {
        let layout: Value =
            serde_json::from_slice(&source.read("oci-layout")).expect("oci-layout is JSON");
        assert_eq!(
            layout["imageLayoutVersion"], "1.0.0",
            "oci-layout: {layout}"
        );
        let index: Value =
            serde_json::from_slice(&source.read("index.json")).expect("index.json is JSON");
        assert_eq!(index["schemaVersion"], 2, "index.json: {index}");
        let manifests = index["manifests"]
            .as_array()
            .unwrap_or_else(|| panic!("index without manifests: {index}"));
        let descriptor = match name {
            Some(name) => manifests
                .iter()
                .find(|manifest| {
                    manifest["annotations"]["org.opencontainers.image.ref.name"] == name
                })
                .unwrap_or_else(|| panic!("no manifest named {name} in {index}")),
            None => {
                assert_eq!(manifests.len(), 1, "expected exactly one manifest: {index}");
                &manifests[0]
            }
        };
        assert_eq!(
            descriptor["mediaType"], "application/vnd.oci.image.manifest.v1+json",
            "{descriptor}"
        );
        let manifest_digest = descriptor["digest"].as_str().expect("digest").to_owned();
        let manifest: Value =
            serde_json::from_slice(&source.blob(descriptor)).expect("manifest is JSON");
        assert_eq!(manifest["schemaVersion"], 2, "manifest: {manifest}");
        assert_eq!(
            manifest["config"]["mediaType"], "application/vnd.oci.image.config.v1+json",
            "{manifest}"
        );
        let config_digest = manifest["config"]["digest"]
            .as_str()
            .expect("config digest")
            .to_owned();
        let config: Value =
            serde_json::from_slice(&source.blob(&manifest["config"])).expect("config is JSON");
        let diff_ids = config["rootfs"]["diff_ids"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let descriptors = manifest["layers"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            diff_ids.len(),
            descriptors.len(),
            "diff_ids and layers differ in number: {config} {manifest}"
        );
        let mut layers = Vec::new();
        for (layer, diff_id) in descriptors.iter().zip(&diff_ids) {
            let blob = source.blob(layer);
            let media_type = layer["mediaType"].as_str().unwrap_or_default().to_owned();
            let plain = if media_type.ends_with("+gzip") {
                let mut plain = Vec::new();
                flate2::read::GzDecoder::new(&blob[..])
                    .read_to_end(&mut plain)
                    .expect("gzip layer");
                plain
            } else {
                blob.clone()
            };
            assert_eq!(
                diff_id.as_str(),
                Some(format!("sha256:{}", sha256_hex(&plain)).as_str()),
                "diff_id of {layer}"
            );
            layers.push(Layer {
                digest: layer["digest"].as_str().unwrap_or_default().to_owned(),
                media_type,
                files: list_layer(&plain),
            });
        }
        OciImage {
            index,
            manifest_digest,
            manifest,
            config_digest,
            config,
            layers,
        }
    }

    /// `config.config[field]` (e.g. `"Env"`, `"WorkingDir"`), `Null` when absent.
    pub fn runtime(&self, field: &str) -> &Value {
        &self.config["config"][field]
    }

    /// The history entries.
    pub fn history(&self) -> Vec<Value> {
        self.config["history"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The last entry for `path` across all layers (what the merged tree shows).
    pub fn file(&self, path: &str) -> Option<&LayerFile> {
        let path = normalize(path);
        self.layers.iter().rev().find_map(|layer| {
            layer
                .files
                .iter()
                .rev()
                .find(|file| file.entry.path == path)
        })
    }

    /// The content of the file at `path` as text; panics when it is missing.
    pub fn text(&self, path: &str) -> String {
        let file = self
            .file(path)
            .unwrap_or_else(|| panic!("no {path} in the image; it has {:?}", self.paths()));
        String::from_utf8_lossy(&file.content).into_owned()
    }

    /// Every path in any layer, sorted, without duplicates.
    pub fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self
            .layers
            .iter()
            .flat_map(|layer| layer.files.iter().map(|file| file.entry.path.clone()))
            .collect();
        paths.sort();
        paths.dedup();
        paths
    }

    /// The paths of the last layer, in archive order.
    pub fn last_layer_paths(&self) -> Vec<String> {
        self.layers
            .last()
            .map(|layer| {
                layer
                    .files
                    .iter()
                    .map(|file| file.entry.path.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_blob(dir: &Path, bytes: &[u8]) -> Value {
        let hex = sha256_hex(bytes);
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("blobs/sha256").join(&hex), bytes).unwrap();
        serde_json::json!({"digest": format!("sha256:{hex}"), "size": bytes.len()})
    }

    fn write_layout(dir: &Path, tamper: bool) {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(3);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, "a.txt", &b"abc"[..])
            .unwrap();
        let layer = builder.into_inner().unwrap();
        let mut layer_descriptor = write_blob(dir, &layer);
        layer_descriptor["mediaType"] = "application/vnd.oci.image.layer.v1.tar".into();
        let config = serde_json::json!({"rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256_hex(&layer))]},
            "config": {"Env": ["A=1"]}});
        let mut config_descriptor = write_blob(dir, config.to_string().as_bytes());
        config_descriptor["mediaType"] = "application/vnd.oci.image.config.v1+json".into();
        let manifest = serde_json::json!({"schemaVersion": 2, "config": config_descriptor, "layers": [layer_descriptor]});
        let mut manifest_descriptor = write_blob(dir, manifest.to_string().as_bytes());
        manifest_descriptor["mediaType"] = "application/vnd.oci.image.manifest.v1+json".into();
        manifest_descriptor["annotations"] =
            serde_json::json!({"org.opencontainers.image.ref.name": "x:1"});
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [manifest_descriptor]});
        std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        if tamper {
            let path = dir.join("blobs/sha256").join(
                layer_descriptor["digest"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("sha256:"),
            );
            std::fs::write(path, b"tampered").unwrap();
        }
    }

    #[test]
    fn reads_a_layout_directory() {
        let dir = tempfile::tempdir().unwrap();
        write_layout(dir.path(), false);
        let image = OciImage::from_dir_ref(dir.path(), "x:1");
        assert_eq!(image.runtime("Env")[0], "A=1");
        assert_eq!(image.text("a.txt"), "abc");
        assert_eq!(image.paths(), ["a.txt"]);
        assert_eq!(
            OciImage::from_dir(dir.path()).manifest_digest,
            image.manifest_digest
        );
    }

    #[test]
    #[should_panic(expected = "does not match its digest")]
    fn refuses_a_tampered_blob() {
        let dir = tempfile::tempdir().unwrap();
        write_layout(dir.path(), true);
        OciImage::from_dir(dir.path());
    }
}
