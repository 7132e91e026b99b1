//! Images from an OCI image layout directory (`--build-context NAME=oci-layout://DIR[:TAG]`).

use std::path::Path;

use kiln_oci::oci_spec::image::ImageIndex;
use kiln_oci::{media_type, Digest, Platform};
use kiln_store::Store;

use crate::error::{BuildError, Result};
use crate::image::Image;

/// Imports the image `reference` (a ref name, a digest, or `None` for the only
/// image) of the layout at `dir` into the store and returns it.
pub fn image_from_layout(store: &Store, dir: &Path, reference: Option<&str>) -> Result<Image> {
    let index = read_index(&dir.join("index.json"))?;
    let wanted: Option<Digest> = reference.and_then(|text| text.parse().ok());
    let matching: Vec<_> = index
        .manifests()
        .iter()
        .filter(|descriptor| match (reference, &wanted) {
            (None, _) => true,
            (Some(_), Some(digest)) => descriptor.digest().to_string() == digest.to_string(),
            (Some(name), None) => descriptor
                .annotations()
                .as_ref()
                .and_then(|annotations| annotations.get(media_type::ANNOTATION_REF_NAME))
                .is_some_and(|value| value == name),
        })
        .collect();
    let descriptor = match matching.as_slice() {
        [one] => (*one).clone(),
        [] => {
            return Err(BuildError::Usage(format!(
                "no image {} in the OCI layout {}",
                reference.unwrap_or("(any)"),
                dir.display()
            )))
        }
        [first, rest @ ..] if rest.iter().all(|other| other.digest() == first.digest()) => {
            (*first).clone()
        }
        _ => {
            return Err(BuildError::Usage(format!(
                "the OCI layout {} holds several images: name one with oci-layout://DIR:TAG",
                dir.display()
            )))
        }
    };
    let mut digest = kiln_oci::descriptor_digest(&descriptor)?;
    import(store, dir, &digest)?;
    if descriptor.media_type().to_string() == media_type::OCI_INDEX
        || descriptor.media_type().to_string() == media_type::DOCKER_MANIFEST_LIST
    {
        let nested = ImageIndex::from_reader(store.read_blob(&digest)?.as_slice())
            .map_err(|err| BuildError::Usage(format!("invalid image index {digest}: {err}")))?;
        let host = Platform::host();
        let chosen = nested
            .manifests()
            .iter()
            .find(|entry| {
                entry.platform().as_ref().is_some_and(|platform| {
                    platform.os().to_string() == host.os
                        && platform.architecture().to_string() == host.architecture
                })
            })
            .ok_or_else(|| {
                BuildError::Usage(format!("image index {digest} has no image for {host}"))
            })?;
        digest = kiln_oci::descriptor_digest(chosen)?;
        import(store, dir, &digest)?;
    }
    let manifest =
        kiln_oci::oci_spec::image::ImageManifest::from_reader(store.read_blob(&digest)?.as_slice())
            .map_err(|err| BuildError::Usage(format!("invalid image manifest {digest}: {err}")))?;
    import(store, dir, &kiln_oci::descriptor_digest(manifest.config())?)?;
    for layer in manifest.layers() {
        import(store, dir, &kiln_oci::descriptor_digest(layer)?)?;
    }
    Image::from_manifest(store, &digest)
}

fn read_index(path: &Path) -> Result<ImageIndex> {
    let bytes = std::fs::read(path).map_err(|source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    ImageIndex::from_reader(bytes.as_slice()).map_err(|err| {
        BuildError::Usage(format!(
            "invalid OCI layout index {}: {err}",
            path.display()
        ))
    })
}

fn import(store: &Store, dir: &Path, digest: &Digest) -> Result<()> {
    if !store.has_blob(digest) {
        let path = dir
            .join("blobs")
            .join(digest.algorithm())
            .join(digest.hex());
        store.import_file(&path, digest)?;
    }
    Ok(())
}
