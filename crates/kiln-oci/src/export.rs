//! Writing images out as an OCI layout directory or an oci-archive tarball.
//!
//! Every blob is verified (digest and size) while it is copied, and outputs are
//! written beside the destination under a hidden name and renamed into place
//! only when complete.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::BufWriter;
use std::path::Path;

use serde::Serialize;

use crate::descriptor::{descriptor_digest, BlobSource, Descriptor, ImageManifest};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::media_type::{is_manifest, ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, OCI_INDEX};
use crate::reference::Reference;
use crate::sink::{
    canonical_json, persist_file, temp_file_beside, temp_location, DirSink, EntrySink, TarSink,
};
use crate::verify::{read_verified, VerifyingReader};

/// The content of the `oci-layout` file.
pub const OCI_LAYOUT_FILE: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// One image to export: its manifest (in the blob source) and the names to give it.
#[derive(Debug, Clone)]
pub struct ExportImage {
    /// Descriptor of an OCI image manifest available from the blob source.
    pub manifest: Descriptor,
    /// Names to record for the image (may be empty).
    pub names: Vec<Reference>,
}

/// A manifest read and verified from the blob source, with its config bytes.
pub(crate) struct LoadedManifest {
    pub(crate) manifest_digest: Digest,
    pub(crate) manifest_bytes: Vec<u8>,
    pub(crate) manifest: ImageManifest,
    pub(crate) config_digest: Digest,
    pub(crate) config_bytes: Vec<u8>,
}

/// Reads and verifies the manifest and config of `image`.
pub(crate) fn load_manifest(image: &ExportImage, blobs: &dyn BlobSource) -> Result<LoadedManifest> {
    let media_type = image.manifest.media_type().to_string();
    if !is_manifest(&media_type) {
        return Err(Error::NotAnImageManifest {
            digest: image.manifest.digest().to_string(),
            media_type,
        });
    }
    let manifest_digest = descriptor_digest(&image.manifest)?;
    let manifest_bytes = read_verified(blobs, &manifest_digest, image.manifest.size())?;
    let manifest: ImageManifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|source| Error::json(format!("image manifest {manifest_digest}"), source))?;
    let config_digest = descriptor_digest(manifest.config())?;
    let config_bytes = read_verified(blobs, &config_digest, manifest.config().size())?;
    Ok(LoadedManifest {
        manifest_digest,
        manifest_bytes,
        manifest,
        config_digest,
        config_bytes,
    })
}

/// What goes into `blobs/<algorithm>/<hex>`.
enum BlobEntry {
    /// Already read and verified.
    Bytes(Vec<u8>),
    /// Streamed from the blob source and verified while copied.
    Stream { size: u64 },
}

/// Writes `images` as an OCI image layout directory at `dest`.
///
/// `dest` must not exist, be an empty directory, or be an OCI layout (which is replaced).
pub fn write_oci_dir(dest: &Path, images: &[ExportImage], blobs: &dyn BlobSource) -> Result<()> {
    let dest_exists = check_oci_dir_destination(dest)?;
    let (parent, prefix) = temp_location(dest);
    let temp = tempfile::Builder::new()
        .prefix(&prefix)
        .tempdir_in(&parent)
        .map_err(|source| Error::io("create temporary directory in", &parent, source))?;
    crate::sink::set_mode(temp.path(), 0o755)?;
    write_oci_entries(&mut DirSink::new(temp.path()), images, blobs)?;

    if dest_exists {
        // rename(2) may replace an empty directory: move the old layout aside, then swap.
        let old = tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir_in(&parent)
            .map_err(|source| Error::io("create temporary directory in", &parent, source))?;
        fs::rename(dest, old.path()).map_err(|source| Error::io("move aside", dest, source))?;
        if let Err(source) = fs::rename(temp.path(), dest) {
            let _ = fs::rename(old.path(), dest);
            return Err(Error::io("rename into place", dest, source));
        }
    } else {
        fs::rename(temp.path(), dest)
            .map_err(|source| Error::io("rename into place", dest, source))?;
    }
    let _ = temp.keep();
    Ok(())
}

/// Writes `images` as an oci-archive (a tar of an OCI layout) at `dest`.
pub fn write_oci_archive(
    dest: &Path,
    images: &[ExportImage],
    blobs: &dyn BlobSource,
) -> Result<()> {
    let mut temp = temp_file_beside(dest)?;
    let mut sink = TarSink::new(BufWriter::new(temp.as_file_mut()), dest);
    write_oci_entries(&mut sink, images, blobs)?;
    let writer = sink.finish()?;
    writer
        .into_inner()
        .map_err(|error| Error::io("write", dest, error.into_error()))?;
    persist_file(temp, dest)
}

/// Returns whether `dest` exists; fails when it exists and may not be replaced.
fn check_oci_dir_destination(dest: &Path) -> Result<bool> {
    let metadata = match fs::symlink_metadata(dest) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => return Err(Error::io("inspect", dest, source)),
    };
    let not_replaceable = || Error::DestinationNotReplaceable {
        path: dest.to_path_buf(),
    };
    if !metadata.is_dir() {
        return Err(not_replaceable());
    }
    if dest.join("oci-layout").is_file() {
        return Ok(true);
    }
    let mut entries =
        fs::read_dir(dest).map_err(|source| Error::io("read directory", dest, source))?;
    match entries.next() {
        None => Ok(true),
        Some(_) => Err(not_replaceable()),
    }
}

/// Emits a whole OCI layout into `sink`: oci-layout, index.json, then blobs sorted by digest.
fn write_oci_entries(
    sink: &mut dyn EntrySink,
    images: &[ExportImage],
    blobs: &dyn BlobSource,
) -> Result<()> {
    let mut entries: BTreeMap<Digest, BlobEntry> = BTreeMap::new();
    for image in images {
        let loaded = load_manifest(image, blobs)?;
        for layer in loaded.manifest.layers() {
            let digest = descriptor_digest(layer)?;
            entries
                .entry(digest)
                .or_insert(BlobEntry::Stream { size: layer.size() });
        }
        entries.insert(loaded.config_digest, BlobEntry::Bytes(loaded.config_bytes));
        entries.insert(
            loaded.manifest_digest,
            BlobEntry::Bytes(loaded.manifest_bytes),
        );
    }
    let index = index_json(images)?;

    sink.add_file(
        "oci-layout",
        OCI_LAYOUT_FILE.len() as u64,
        &mut &OCI_LAYOUT_FILE[..],
    )?;
    sink.add_file("index.json", index.len() as u64, &mut &index[..])?;
    sink.add_dir("blobs")?;
    let mut current_algorithm = String::new();
    for (digest, entry) in &entries {
        if digest.algorithm() != current_algorithm {
            current_algorithm = digest.algorithm().to_string();
            sink.add_dir(&format!("blobs/{current_algorithm}"))?;
        }
        let path = format!("blobs/{}/{}", digest.algorithm(), digest.hex());
        match entry {
            BlobEntry::Bytes(bytes) => sink.add_file(&path, bytes.len() as u64, &mut &bytes[..])?,
            BlobEntry::Stream { size } => {
                let reader = blobs.open_blob(digest).map_err(|source| Error::BlobRead {
                    digest: digest.clone(),
                    source,
                })?;
                let mut verifying = VerifyingReader::new(reader, digest);
                sink.add_file(&path, *size, &mut verifying)?;
                verifying.finish(digest, *size)?;
            }
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct IndexJson {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'static str,
    manifests: Vec<serde_json::Value>,
}

/// index.json: one entry per name (annotated as BuildKit does), or one bare entry.
fn index_json(images: &[ExportImage]) -> Result<Vec<u8>> {
    let mut manifests = Vec::new();
    for image in images {
        let mut descriptors = Vec::new();
        if image.names.is_empty() {
            descriptors.push(image.manifest.clone());
        }
        for name in &image.names {
            let mut descriptor = image.manifest.clone();
            let mut annotations: HashMap<String, String> =
                descriptor.annotations().clone().unwrap_or_default();
            annotations.insert(ANNOTATION_CONTAINERD_NAME.to_string(), name.to_string());
            if let Some(tag) = name.tag() {
                annotations.insert(ANNOTATION_REF_NAME.to_string(), tag.to_string());
            }
            descriptor.set_annotations(Some(annotations));
            descriptors.push(descriptor);
        }
        for descriptor in descriptors {
            let bytes = canonical_json(&descriptor, "index.json")?;
            let value = serde_json::from_slice(&bytes)
                .map_err(|source| Error::json("index.json", source))?;
            manifests.push(value);
        }
    }
    let index = IndexJson {
        schema_version: 2,
        media_type: OCI_INDEX,
        manifests,
    };
    serde_json::to_vec(&index).map_err(|source| Error::json("index.json", source))
}
