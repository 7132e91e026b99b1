//! Reading oci-archives, docker-archives and OCI layouts for `kiln load`.
//!
//! Archives are extracted safely into a work directory; every blob is then
//! verified, and docker-archives get a synthesized OCI image manifest.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use serde::{Deserialize, Serialize};

use crate::config::ImageConfig;
use crate::descriptor::{descriptor, descriptor_digest, Descriptor, ImageIndex, ImageManifest};
use crate::digest::{Digest, HashingReader, HashingWriter};
use crate::error::{Error, Result};
use crate::extract::{extract_archive, safe_relative_path};
use crate::media_type::{
    is_index, is_manifest, ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, OCI_CONFIG,
    OCI_LAYER_GZIP, OCI_LAYER_TAR, OCI_MANIFEST,
};
use crate::platform::Platform;
use crate::reference::Reference;
use crate::verify::verify_file;

/// How deep image indexes may nest before kiln gives up.
const MAX_INDEX_DEPTH: usize = 4;

/// An image read from an archive or layout, with every blob verified on disk.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    /// Names recorded for the image (may be empty).
    pub names: Vec<Reference>,
    /// Descriptor of the image's OCI image manifest (name annotations removed).
    pub manifest: Descriptor,
    /// Every blob of the image, manifest and config included, each a verified file.
    pub blobs: Vec<(Digest, PathBuf)>,
}

/// Extracts `archive` (oci-archive or docker-archive, optionally gzipped) into
/// `work_dir` and returns its images.
pub fn read_archive(archive: &Path, work_dir: &Path) -> Result<Vec<LoadedImage>> {
    fs::create_dir_all(work_dir)
        .map_err(|source| Error::io("create directory", work_dir, source))?;
    extract_archive(archive, work_dir)?;
    if work_dir.join("index.json").is_file() {
        read_oci_layout(work_dir)
    } else if work_dir.join("manifest.json").is_file() {
        read_docker_layout(work_dir)
    } else {
        Err(Error::UnknownArchiveFormat {
            path: archive.to_path_buf(),
        })
    }
}

/// Reads the images of an OCI image layout directory, choosing the host's
/// platform in nested indexes.
pub fn read_oci_layout(layout: &Path) -> Result<Vec<LoadedImage>> {
    let index: ImageIndex = read_json(&layout.join("index.json"), "index.json")?;
    let host = Platform::host();
    let mut images = Vec::new();
    for entry in index.manifests() {
        let names = names_from_annotations(entry);
        let mut chosen = entry.clone();
        for _ in 0..MAX_INDEX_DEPTH {
            if !is_index(chosen.media_type().as_ref()) {
                break;
            }
            chosen = choose_platform(layout, &chosen, &host)?;
        }
        let media_type = chosen.media_type().to_string();
        if !is_manifest(&media_type) {
            return Err(Error::NotAnImageManifest {
                digest: chosen.digest().to_string(),
                media_type,
            });
        }
        let manifest_digest = descriptor_digest(&chosen)?;
        let manifest_path = verified_blob(layout, &manifest_digest, chosen.size())?;
        let manifest: ImageManifest =
            read_json(&manifest_path, &format!("image manifest {manifest_digest}"))?;
        let mut blobs = vec![(manifest_digest, manifest_path)];
        for blob in std::iter::once(manifest.config()).chain(manifest.layers()) {
            let digest = descriptor_digest(blob)?;
            let path = verified_blob(layout, &digest, blob.size())?;
            push_unique(&mut blobs, digest, path);
        }
        merge_image(&mut images, names, strip_name_annotations(chosen), blobs);
    }
    Ok(images)
}

/// Picks the manifest for `host` from the index `index_descriptor` points to.
fn choose_platform(
    layout: &Path,
    index_descriptor: &Descriptor,
    host: &Platform,
) -> Result<Descriptor> {
    let digest = descriptor_digest(index_descriptor)?;
    let path = verified_blob(layout, &digest, index_descriptor.size())?;
    let index: ImageIndex = read_json(&path, &format!("image index {digest}"))?;
    let candidates: Vec<(&Descriptor, Platform)> = index
        .manifests()
        .iter()
        .filter_map(|manifest| {
            let platform = manifest.platform().as_ref()?;
            let platform = Platform {
                os: platform.os().to_string(),
                architecture: platform.architecture().to_string(),
                variant: platform.variant().clone(),
            };
            Some((manifest, platform))
        })
        .collect();
    let exact = candidates.iter().find(|(_, platform)| platform == host);
    let compatible = candidates
        .iter()
        .find(|(_, platform)| host.matches(platform));
    match exact.or(compatible) {
        Some((manifest, _)) => Ok((*manifest).clone()),
        None => Err(Error::NoMatchingPlatform {
            digest,
            platform: host.to_string(),
        }),
    }
}

/// The names an index entry carries: the containerd name, else a ref.name that is a full reference.
fn names_from_annotations(entry: &Descriptor) -> Vec<Reference> {
    let Some(annotations) = entry.annotations() else {
        return Vec::new();
    };
    let containerd = annotations
        .get(ANNOTATION_CONTAINERD_NAME)
        .and_then(|name| name.parse::<Reference>().ok());
    let ref_name = annotations
        .get(ANNOTATION_REF_NAME)
        .filter(|name| name.contains(['/', ':', '@']))
        .and_then(|name| name.parse::<Reference>().ok());
    containerd.or(ref_name).into_iter().collect()
}

fn strip_name_annotations(mut descriptor: Descriptor) -> Descriptor {
    if let Some(mut annotations) = descriptor.annotations().clone() {
        annotations.remove(ANNOTATION_CONTAINERD_NAME);
        annotations.remove(ANNOTATION_REF_NAME);
        descriptor.set_annotations((!annotations.is_empty()).then_some(annotations));
    }
    descriptor
}

/// Adds an image, or its names to an earlier entry with the same manifest.
fn merge_image(
    images: &mut Vec<LoadedImage>,
    names: Vec<Reference>,
    manifest: Descriptor,
    blobs: Vec<(Digest, PathBuf)>,
) {
    if let Some(existing) = images
        .iter_mut()
        .find(|image| image.manifest.digest() == manifest.digest())
    {
        for name in names {
            if !existing.names.contains(&name) {
                existing.names.push(name);
            }
        }
        return;
    }
    images.push(LoadedImage {
        names,
        manifest,
        blobs,
    });
}

fn push_unique(blobs: &mut Vec<(Digest, PathBuf)>, digest: Digest, path: PathBuf) {
    if !blobs.iter().any(|(existing, _)| *existing == digest) {
        blobs.push((digest, path));
    }
}

/// `blobs/<algorithm>/<hex>` under `layout`, verified against digest and size.
fn verified_blob(layout: &Path, digest: &Digest, size: u64) -> Result<PathBuf> {
    let path = layout
        .join("blobs")
        .join(digest.algorithm())
        .join(digest.hex());
    verify_file(&path, digest, size)?;
    Ok(path)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    let bytes = fs::read(path).map_err(|source| Error::io("read", path, source))?;
    serde_json::from_slice(&bytes).map_err(|source| Error::json(what, source))
}

/// One element of a docker-archive's `manifest.json`.
#[derive(Deserialize)]
struct DockerManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Option<Vec<String>>,
}

#[derive(Serialize)]
struct SynthesizedManifest<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'static str,
    config: &'a Descriptor,
    layers: &'a [Descriptor],
}

/// Reads an extracted docker-archive, synthesizing an OCI manifest per image.
fn read_docker_layout(root: &Path) -> Result<Vec<LoadedImage>> {
    let entries: Vec<DockerManifestEntry> =
        read_json(&root.join("manifest.json"), "manifest.json")?;
    let mut images = Vec::new();
    for entry in entries {
        let config_path = root.join(safe_relative_path(&entry.config)?);
        let config_bytes =
            fs::read(&config_path).map_err(|source| Error::io("read", &config_path, source))?;
        let config_digest = Digest::sha256_of(&config_bytes);
        if let Some(expected) = digest_from_file_name(&config_path) {
            if expected != config_digest {
                return Err(Error::DigestMismatch {
                    expected,
                    found: config_digest,
                });
            }
        }
        let config = ImageConfig::from_json(&config_bytes)?;
        let layer_names = entry.layers.unwrap_or_default();
        if layer_names.len() != config.rootfs.diff_ids.len() {
            return Err(Error::LayerCountMismatch {
                layers: layer_names.len(),
                diff_ids: config.rootfs.diff_ids.len(),
            });
        }
        let mut blobs = vec![(config_digest.clone(), config_path)];
        let mut layers = Vec::new();
        for (name, diff_id) in layer_names.iter().zip(&config.rootfs.diff_ids) {
            let path = root.join(safe_relative_path(name)?);
            let (layer, digest) = inspect_docker_layer(&path, diff_id)?;
            layers.push(layer);
            push_unique(&mut blobs, digest, path);
        }
        let config_descriptor = descriptor(OCI_CONFIG, &config_digest, config_bytes.len() as u64);
        let manifest = SynthesizedManifest {
            schema_version: 2,
            media_type: OCI_MANIFEST,
            config: &config_descriptor,
            layers: &layers,
        };
        let manifest_bytes = serde_json::to_vec(&manifest)
            .map_err(|source| Error::json("synthesized manifest", source))?;
        let manifest_digest = Digest::sha256_of(&manifest_bytes);
        let manifest_dir = root.join("kiln-manifests");
        fs::create_dir_all(&manifest_dir)
            .map_err(|source| Error::io("create directory", &manifest_dir, source))?;
        let manifest_path = manifest_dir.join(manifest_digest.hex());
        fs::write(&manifest_path, &manifest_bytes)
            .map_err(|source| Error::io("write", &manifest_path, source))?;
        blobs.insert(0, (manifest_digest.clone(), manifest_path));

        let mut names = Vec::new();
        for tag in entry.repo_tags.unwrap_or_default() {
            names.push(tag.parse::<Reference>()?);
        }
        let manifest_descriptor =
            descriptor(OCI_MANIFEST, &manifest_digest, manifest_bytes.len() as u64);
        merge_image(&mut images, names, manifest_descriptor, blobs);
    }
    Ok(images)
}

/// `<hex>.json` (old docker save) or `blobs/sha256/<hex>` (new) names the config's digest.
fn digest_from_file_name(path: &Path) -> Option<Digest> {
    let name = path.file_name()?.to_str()?;
    let hex = name.strip_suffix(".json").unwrap_or(name);
    format!("sha256:{hex}").parse().ok()
}

/// Hashes a stored layer (as stored and uncompressed), checks the uncompressed
/// digest against `diff_id`, and returns its descriptor and digest.
fn inspect_docker_layer(path: &Path, diff_id: &Digest) -> Result<(Descriptor, Digest)> {
    let read_error = |source| Error::io("read layer", path, source);
    let file = File::open(path).map_err(|source| Error::io("open", path, source))?;
    let mut stored = HashingReader::new(file);
    let mut uncompressed = HashingWriter::new(io::sink());
    let is_gzip = {
        let mut buffered = BufReader::new(&mut stored);
        let head = buffered.fill_buf().map_err(read_error)?;
        let is_gzip = head.starts_with(&[0x1f, 0x8b]);
        if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            return Err(Error::UnsupportedMediaType {
                digest: diff_id.clone(),
                media_type: "zstd-compressed layer".to_string(),
            });
        }
        if is_gzip {
            io::copy(&mut GzDecoder::new(&mut buffered), &mut uncompressed).map_err(read_error)?;
            io::copy(&mut buffered, &mut io::sink()).map_err(read_error)?;
        } else {
            io::copy(&mut buffered, &mut uncompressed).map_err(read_error)?;
        }
        is_gzip
    };
    let (_, found_diff_id, _) = uncompressed.finish();
    if found_diff_id != *diff_id {
        return Err(Error::DigestMismatch {
            expected: diff_id.clone(),
            found: found_diff_id,
        });
    }
    let (_, digest, size) = stored.finish();
    let media_type = if is_gzip {
        OCI_LAYER_GZIP
    } else {
        OCI_LAYER_TAR
    };
    Ok((descriptor(media_type, &digest, size), digest))
}
