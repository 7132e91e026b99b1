//! What must be refused: tampered or missing blobs, wrong diff_ids, non-manifests,
//! unsafe archive paths; plus platform choice in nested indexes.

use std::fs;
use std::path::Path;

use kiln_oci::{
    descriptor, read_archive, read_oci_layout, write_docker_archive, write_oci_archive,
    write_oci_dir, BlobSource, Digest, Error, ExportImage, ImageConfig, DOCKER_MANIFEST,
    OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST,
};

use crate::fixture::{fixture, leftovers};

#[test]
fn tampered_blob_is_refused_and_dest_stays_absent() {
    let fixture = fixture(&["app:1"]);
    let mut tampered = fixture.blobs.clone();
    let mut layer = tampered.0[&fixture.layer].clone();
    let last = layer.len() - 1;
    layer[last] ^= 0xff;
    tampered.0.insert(fixture.layer.clone(), layer);
    type Writer = fn(&Path, &[ExportImage], &dyn BlobSource) -> kiln_oci::Result<()>;
    let writers: [(&str, Writer); 3] = [
        ("oci-dir", write_oci_dir),
        ("oci-archive", write_oci_archive),
        ("docker-archive", write_docker_archive),
    ];
    for (name, writer) in writers {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out");
        let result = writer(&dest, std::slice::from_ref(&fixture.image), &tampered);
        assert!(
            matches!(
                result,
                Err(Error::DigestMismatch { .. }) | Err(Error::BlobRead { .. })
            ),
            "{name}: {result:?}"
        );
        assert!(
            leftovers(dir.path()).is_empty(),
            "{name}: {:?}",
            leftovers(dir.path())
        );

        let mut missing = fixture.blobs.clone();
        missing.0.remove(&fixture.config);
        let result = writer(&dest, std::slice::from_ref(&fixture.image), &missing);
        assert!(
            matches!(result, Err(Error::BlobRead { .. })),
            "{name}: {result:?}"
        );
        assert!(leftovers(dir.path()).is_empty(), "{name}");
    }
}

#[test]
fn wrong_diff_id_is_refused_by_docker_export() {
    let mut fixture = fixture(&["app:1"]);
    let mut config =
        ImageConfig::from_json(&fixture.blobs.read_blob(&fixture.config).unwrap()).unwrap();
    config.rootfs.diff_ids = vec![Digest::sha256_of(b"not the layer")];
    let config_bytes = config.to_json();
    let config_size = config_bytes.len() as u64;
    let config_digest = fixture.blobs.add(config_bytes);
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest.to_string(), "size": config_size},
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": fixture.layer.to_string(),
                    "size": fixture.blobs.0[&fixture.layer].len()}],
    });
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let size = bytes.len() as u64;
    fixture.image.manifest = descriptor(OCI_MANIFEST, &fixture.blobs.add(bytes), size);
    let dir = tempfile::tempdir().unwrap();
    let result = write_docker_archive(&dir.path().join("x.tar"), &[fixture.image], &fixture.blobs);
    assert!(
        matches!(result, Err(Error::DigestMismatch { .. })),
        "{result:?}"
    );
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn tampered_layout_is_refused_on_import() {
    let fixture = fixture(&["app:1"]);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_dir(
        &layout,
        std::slice::from_ref(&fixture.image),
        &fixture.blobs,
    )
    .unwrap();
    let layer_path = layout.join("blobs/sha256").join(fixture.layer.hex());
    let mut bytes = fs::read(&layer_path).unwrap();
    bytes[0] ^= 1;
    fs::write(&layer_path, bytes).unwrap();
    let result = read_oci_layout(&layout);
    assert!(
        matches!(result, Err(Error::DigestMismatch { .. })),
        "{result:?}"
    );
}

#[test]
fn non_manifest_descriptor_is_refused() {
    let fixture = fixture(&[]);
    let mut image = fixture.image.clone();
    image.manifest = descriptor(OCI_INDEX, &fixture.config, 1);
    let dir = tempfile::tempdir().unwrap();
    let result = write_oci_archive(&dir.path().join("x.tar"), &[image], &fixture.blobs);
    assert!(
        matches!(result, Err(Error::NotAnImageManifest { .. })),
        "{result:?}"
    );
}

#[test]
fn nested_index_picks_host_platform() {
    let fixture = fixture(&[]);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_dir(
        &layout,
        std::slice::from_ref(&fixture.image),
        &fixture.blobs,
    )
    .unwrap();
    let host = kiln_oci::Platform::host();
    let other_arch = if host.architecture == "s390x" {
        "amd64"
    } else {
        "s390x"
    };
    let manifest_digest = fixture.image.manifest.digest().to_string();
    let nested = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": DOCKER_MANIFEST, "digest": format!("sha256:{}", "0".repeat(64)), "size": 10,
             "platform": {"os": "linux", "architecture": other_arch}},
            {"mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": fixture.image.manifest.size(),
             "platform": {"os": host.os, "architecture": host.architecture}},
        ],
    });
    let nested_bytes = serde_json::to_vec(&nested).unwrap();
    let nested_digest = Digest::sha256_of(&nested_bytes);
    fs::write(
        layout.join("blobs/sha256").join(nested_digest.hex()),
        &nested_bytes,
    )
    .unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": OCI_INDEX, "digest": nested_digest.to_string(), "size": nested_bytes.len(),
                       "annotations": {"org.opencontainers.image.ref.name": "latest"}}],
    });
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    let images = read_oci_layout(&layout).unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].manifest.digest().to_string(), manifest_digest);
    assert!(images[0].names.is_empty(), "a bare tag is not a name");
}

#[test]
fn unsafe_archive_path_is_refused() {
    let mut header = tar::Header::new_ustar();
    header.as_mut_bytes()[..4].copy_from_slice(b"../x");
    header.set_size(0);
    header.set_mode(0o644);
    header.set_cksum();
    let mut bytes = header.as_bytes().to_vec();
    bytes.extend_from_slice(&[0u8; 1024]);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("evil.tar");
    fs::write(&archive, bytes).unwrap();
    let result = read_archive(&archive, &dir.path().join("work"));
    assert!(
        matches!(result, Err(Error::UnsafeArchivePath { .. })),
        "{result:?}"
    );
    assert!(!dir.path().join("x").exists());

    let empty = dir.path().join("empty.tar");
    fs::write(&empty, [0u8; 1024]).unwrap();
    let result = read_archive(&empty, &dir.path().join("work2"));
    assert!(
        matches!(result, Err(Error::UnknownArchiveFormat { .. })),
        "{result:?}"
    );
}
