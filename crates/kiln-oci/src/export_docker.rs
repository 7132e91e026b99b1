//! Writing images as a docker-archive, the tarball `docker load` and `podman load` read.
//!
//! Layout: `manifest.json`, `repositories`, then `blobs/sha256/<hex>` for each config
//! and each layer, uncompressed and named by its diff_id.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Seek, SeekFrom};
use std::path::Path;

use flate2::read::GzDecoder;
use serde::Serialize;

use crate::config::ImageConfig;
use crate::descriptor::{descriptor_digest, BlobSource};
use crate::digest::{Digest, HashingWriter};
use crate::error::{Error, Result};
use crate::export::{load_manifest, ExportImage};
use crate::sink::{persist_file, temp_file_beside, temp_location, EntrySink, TarSink};
use crate::verify::{check, VerifyingReader};

/// One element of `manifest.json`.
#[derive(Serialize)]
struct DockerManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags")]
    repo_tags: Vec<String>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// What goes into `blobs/sha256/<hex>`.
enum DockerBlob {
    /// A config, already verified.
    Config(Vec<u8>),
    /// A layer blob, to be decompressed and checked against its diff_id.
    Layer {
        digest: Digest,
        size: u64,
        diff_id: Digest,
    },
}

/// Writes `images` as a docker-archive at `dest`.
///
/// Layers are stored uncompressed; each must hash to its config's diff_id.
pub fn write_docker_archive(
    dest: &Path,
    images: &[ExportImage],
    blobs: &dyn BlobSource,
) -> Result<()> {
    let mut manifest_entries = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut files: BTreeMap<String, DockerBlob> = BTreeMap::new();
    for image in images {
        let loaded = load_manifest(image, blobs)?;
        let config = ImageConfig::from_json(&loaded.config_bytes)?;
        let layers = loaded.manifest.layers();
        if layers.len() != config.rootfs.diff_ids.len() {
            return Err(Error::LayerCountMismatch {
                layers: layers.len(),
                diff_ids: config.rootfs.diff_ids.len(),
            });
        }
        let mut layer_paths = Vec::new();
        for (layer, diff_id) in layers.iter().zip(&config.rootfs.diff_ids) {
            layer_paths.push(blob_path(diff_id));
            files
                .entry(diff_id.hex().to_string())
                .or_insert(DockerBlob::Layer {
                    digest: descriptor_digest(layer)?,
                    size: layer.size(),
                    diff_id: diff_id.clone(),
                });
        }
        let config_hex = loaded.config_digest.hex().to_string();
        let mut repo_tags = Vec::new();
        for name in image.names.iter().filter(|name| name.tag().is_some()) {
            let familiar_name = name.familiar_name();
            let tag = name.tag().unwrap_or_default().to_string();
            repo_tags.push(format!("{familiar_name}:{tag}"));
            repositories
                .entry(familiar_name)
                .or_default()
                .insert(tag, config_hex.clone());
        }
        manifest_entries.push(DockerManifestEntry {
            config: blob_path(&loaded.config_digest),
            repo_tags,
            layers: layer_paths,
        });
        files.insert(config_hex, DockerBlob::Config(loaded.config_bytes));
    }
    let manifest_json = serde_json::to_vec(&manifest_entries)
        .map_err(|source| Error::json("manifest.json", source))?;
    let repositories_json =
        serde_json::to_vec(&repositories).map_err(|source| Error::json("repositories", source))?;

    let mut temp = temp_file_beside(dest)?;
    let mut sink = TarSink::new(BufWriter::new(temp.as_file_mut()), dest);
    sink.add_file(
        "manifest.json",
        manifest_json.len() as u64,
        &mut &manifest_json[..],
    )?;
    sink.add_file(
        "repositories",
        repositories_json.len() as u64,
        &mut &repositories_json[..],
    )?;
    sink.add_dir("blobs")?;
    sink.add_dir("blobs/sha256")?;
    for (hex, blob) in &files {
        let path = format!("blobs/sha256/{hex}");
        match blob {
            DockerBlob::Config(bytes) => {
                sink.add_file(&path, bytes.len() as u64, &mut &bytes[..])?
            }
            DockerBlob::Layer {
                digest,
                size,
                diff_id,
            } => {
                let (mut spool, length) = spool_uncompressed(dest, blobs, digest, *size, diff_id)?;
                sink.add_file(&path, length, &mut spool)?;
            }
        }
    }
    let writer = sink.finish()?;
    writer
        .into_inner()
        .map_err(|error| Error::io("write", dest, error.into_error()))?;
    persist_file(temp, dest)
}

/// `blobs/sha256/<hex>` for a digest.
fn blob_path(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm(), digest.hex())
}

/// Copies a layer blob, decompressed, into an anonymous temporary file, verifying the
/// blob against `digest`/`size` and the uncompressed bytes against `diff_id`.
fn spool_uncompressed(
    dest: &Path,
    blobs: &dyn BlobSource,
    digest: &Digest,
    size: u64,
    diff_id: &Digest,
) -> Result<(File, u64)> {
    let read_error = |source| Error::BlobRead {
        digest: digest.clone(),
        source,
    };
    let (parent, _) = temp_location(dest);
    let spool = tempfile::tempfile_in(&parent)
        .map_err(|source| Error::io("create temporary file in", &parent, source))?;
    let raw = blobs.open_blob(digest).map_err(read_error)?;
    let mut verifying = VerifyingReader::new(raw, digest);
    let mut writer = HashingWriter::new(BufWriter::new(spool));
    {
        let mut buffered = BufReader::new(io::Read::take(&mut verifying, size));
        let head = buffered.fill_buf().map_err(read_error)?;
        if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            return Err(Error::UnsupportedMediaType {
                digest: digest.clone(),
                media_type: "zstd-compressed layer".to_string(),
            });
        }
        if head.starts_with(&[0x1f, 0x8b]) {
            io::copy(&mut GzDecoder::new(&mut buffered), &mut writer).map_err(read_error)?;
            io::copy(&mut buffered, &mut io::sink()).map_err(read_error)?;
        } else {
            io::copy(&mut buffered, &mut writer).map_err(read_error)?;
        }
    }
    verifying.finish(digest, size)?;
    let (buffered, found, length) = writer.finish();
    check(diff_id, length, found, length)?;
    let mut spool = buffered
        .into_inner()
        .map_err(|error| Error::io("write temporary file in", &parent, error.into_error()))?;
    spool
        .seek(SeekFrom::Start(0))
        .map_err(|source| Error::io("rewind temporary file in", &parent, source))?;
    Ok((spool, length))
}
