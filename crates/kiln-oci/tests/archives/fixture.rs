//! Shared fixtures: an in-memory blob source holding a manifest, a config and one gzip layer.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use flate2::write::GzEncoder;
use kiln_oci::{
    descriptor, BlobSource, Digest, ExportImage, ImageConfig, LoadedImage, OCI_CONFIG,
    OCI_LAYER_GZIP, OCI_MANIFEST,
};

/// An in-memory blob source.
#[derive(Default, Clone)]
pub struct MemoryBlobs(pub HashMap<Digest, Vec<u8>>);

impl MemoryBlobs {
    pub fn add(&mut self, bytes: Vec<u8>) -> Digest {
        let digest = Digest::sha256_of(&bytes);
        self.0.insert(digest.clone(), bytes);
        digest
    }
}

impl BlobSource for MemoryBlobs {
    fn open_blob(&self, digest: &Digest) -> std::io::Result<Box<dyn Read + '_>> {
        match self.0.get(digest) {
            Some(bytes) => Ok(Box::new(&bytes[..])),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                digest.to_string(),
            )),
        }
    }
}

/// An image and the blobs it consists of.
pub struct Fixture {
    pub blobs: MemoryBlobs,
    pub image: ExportImage,
    pub config: Digest,
    pub layer: Digest,
    pub diff_id: Digest,
    pub uncompressed_layer: Vec<u8>,
}

/// A one-file layer tar.
pub fn layer_tar() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let content = b"hello from kiln\n";
    let mut header = tar::Header::new_ustar();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    builder
        .append_data(&mut header, "hello.txt", &content[..])
        .unwrap();
    builder.into_inner().unwrap()
}

/// gzip-compresses `bytes`.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// An image named `names`, with its blobs.
pub fn fixture(names: &[&str]) -> Fixture {
    let mut blobs = MemoryBlobs::default();
    let uncompressed_layer = layer_tar();
    let diff_id = Digest::sha256_of(&uncompressed_layer);
    let compressed = gzip(&uncompressed_layer);
    let layer_size = compressed.len() as u64;
    let layer = blobs.add(compressed);
    let mut config = ImageConfig {
        architecture: "amd64".into(),
        os: "linux".into(),
        ..Default::default()
    };
    config.config.cmd = Some(vec!["/bin/sh".into()]);
    config.rootfs.diff_ids = vec![diff_id.clone()];
    let config_bytes = config.to_json();
    let config_size = config_bytes.len() as u64;
    let config_digest = blobs.add(config_bytes);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest.to_string(), "size": config_size},
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": layer.to_string(), "size": layer_size}],
    });
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let manifest_size = manifest_bytes.len() as u64;
    let manifest_digest = blobs.add(manifest_bytes);
    Fixture {
        blobs,
        image: ExportImage {
            manifest: descriptor(OCI_MANIFEST, &manifest_digest, manifest_size),
            names: names.iter().map(|name| name.parse().unwrap()).collect(),
        },
        config: config_digest,
        layer,
        diff_id,
        uncompressed_layer,
    }
}

/// The sorted digests of an image's blobs.
pub fn digests(image: &LoadedImage) -> Vec<Digest> {
    let mut digests: Vec<Digest> = image
        .blobs
        .iter()
        .map(|(digest, _)| digest.clone())
        .collect();
    digests.sort();
    digests
}

/// Checks every blob file hashes to its digest.
pub fn assert_blob_files_verify(image: &LoadedImage) {
    for (digest, path) in &image.blobs {
        assert_eq!(
            &Digest::sha256_of(&fs::read(path).unwrap()),
            digest,
            "{}",
            path.display()
        );
    }
}

/// Names of the entries of a directory.
pub fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// The digest of a loaded image's manifest.
pub fn manifest_digest(image: &LoadedImage) -> Digest {
    image.manifest.digest().as_ref().parse().unwrap()
}
