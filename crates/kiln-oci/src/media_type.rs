//! Media types and annotation keys of the OCI image spec and Docker's v2 schema 2.

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Uncompressed OCI layer.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// gzip-compressed OCI layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// zstd-compressed OCI layer.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Docker image manifest (schema 2).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// gzip-compressed Docker layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// The OCI layer media type for the same bytes as `media_type` (a Docker
/// schema 2 layer from a base image becomes its OCI twin; others are kept).
pub fn oci_layer_type(media_type: &str) -> &str {
    match media_type {
        DOCKER_LAYER_GZIP => OCI_LAYER_GZIP,
        "application/vnd.docker.image.rootfs.diff.tar" => OCI_LAYER_TAR,
        other => other,
    }
}

#[cfg(test)]
mod layer_type_tests {
    use super::*;

    #[test]
    fn docker_layers_get_their_oci_twin() {
        assert_eq!(oci_layer_type(DOCKER_LAYER_GZIP), OCI_LAYER_GZIP);
        assert_eq!(oci_layer_type(OCI_LAYER_ZSTD), OCI_LAYER_ZSTD);
    }
}

/// Index annotation holding the tag (or the full name) of an image in an OCI layout.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Index annotation holding the full normalized name, as containerd and BuildKit write it.
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";

/// Whether `media_type` names an image manifest (OCI or Docker).
pub fn is_manifest(media_type: &str) -> bool {
    media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

/// Whether `media_type` names an image index or manifest list.
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let cases = [
            (OCI_MANIFEST, true, false),
            (DOCKER_MANIFEST, true, false),
            (OCI_INDEX, false, true),
            (DOCKER_MANIFEST_LIST, false, true),
            (OCI_CONFIG, false, false),
            (OCI_LAYER_GZIP, false, false),
        ];
        for (media_type, manifest, index) in cases {
            assert_eq!(is_manifest(media_type), manifest, "{media_type}");
            assert_eq!(is_index(media_type), index, "{media_type}");
        }
    }
}
