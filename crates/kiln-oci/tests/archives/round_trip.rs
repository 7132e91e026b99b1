//! Export → import round trips for oci-dir, oci-archive and docker-archive.

use std::collections::HashMap;
use std::fs;
use std::io::Read;

use kiln_oci::{
    read_archive, read_oci_layout, write_docker_archive, write_oci_archive, write_oci_dir,
    BlobSource, Error, ExportImage, Reference, OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST,
};

use crate::fixture::{
    assert_blob_files_verify, digests, fixture, gzip, leftovers, manifest_digest,
};

#[test]
fn oci_archive_round_trip() {
    let fixture = fixture(&["app:1", "quay.io/team/app:2"]);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("image.tar");
    write_oci_archive(
        &archive,
        std::slice::from_ref(&fixture.image),
        &fixture.blobs,
    )
    .unwrap();
    let first = fs::read(&archive).unwrap();
    write_oci_archive(
        &archive,
        std::slice::from_ref(&fixture.image),
        &fixture.blobs,
    )
    .unwrap();
    assert_eq!(
        fs::read(&archive).unwrap(),
        first,
        "archives are deterministic"
    );
    assert_eq!(leftovers(dir.path()), vec!["image.tar"]);

    let images = read_archive(&archive, &dir.path().join("work")).unwrap();
    assert_eq!(images.len(), 1);
    let image = &images[0];
    assert_eq!(image.manifest.digest(), fixture.image.manifest.digest());
    assert_eq!(
        image.manifest.annotations(),
        &None,
        "name annotations are stripped"
    );
    let names: Vec<String> = image.names.iter().map(Reference::to_string).collect();
    assert_eq!(names, vec!["docker.io/library/app:1", "quay.io/team/app:2"]);
    let manifest_digest = manifest_digest(image);
    let mut expected = vec![
        manifest_digest,
        fixture.config.clone(),
        fixture.layer.clone(),
    ];
    expected.sort();
    assert_eq!(digests(image), expected);
    assert_blob_files_verify(image);

    // The same archive gzip-compressed is accepted too.
    let gz = dir.path().join("image.tar.gz");
    fs::write(&gz, gzip(&first)).unwrap();
    let again = read_archive(&gz, &dir.path().join("work-gz")).unwrap();
    assert_eq!(again[0].manifest.digest(), image.manifest.digest());
}

#[test]
fn oci_dir_round_trip_and_replacement() {
    let fixture = fixture(&["app:1"]);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_dir(
        &layout,
        std::slice::from_ref(&fixture.image),
        &fixture.blobs,
    )
    .unwrap();
    assert_eq!(
        fs::read(layout.join("oci-layout")).unwrap(),
        br#"{"imageLayoutVersion":"1.0.0"}"#
    );
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["mediaType"], OCI_INDEX);
    assert_eq!(index["schemaVersion"], 2);
    let annotations = &index["manifests"][0]["annotations"];
    assert_eq!(annotations["org.opencontainers.image.ref.name"], "1");
    assert_eq!(
        annotations["io.containerd.image.name"],
        "docker.io/library/app:1"
    );
    assert!(layout
        .join("blobs/sha256")
        .join(fixture.layer.hex())
        .is_file());

    let images = read_oci_layout(&layout).unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].names[0].familiar(), "app:1");
    assert_blob_files_verify(&images[0]);

    // An existing layout is replaced; an unnamed image gets one bare entry.
    let unnamed = ExportImage {
        names: Vec::new(),
        ..fixture.image.clone()
    };
    write_oci_dir(&layout, &[unnamed], &fixture.blobs).unwrap();
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    assert!(index["manifests"][0].get("annotations").is_none());
    assert_eq!(leftovers(dir.path()), vec!["layout"]);

    // An empty directory is accepted; a non-empty, non-layout one is refused.
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    write_oci_dir(&empty, std::slice::from_ref(&fixture.image), &fixture.blobs).unwrap();
    assert!(empty.join("index.json").is_file());
    let busy = dir.path().join("busy");
    fs::create_dir(&busy).unwrap();
    fs::write(busy.join("precious"), b"x").unwrap();
    let result = write_oci_dir(&busy, std::slice::from_ref(&fixture.image), &fixture.blobs);
    assert!(
        matches!(result, Err(Error::DestinationNotReplaceable { .. })),
        "{result:?}"
    );
    assert!(busy.join("precious").is_file());
}

#[test]
fn docker_archive_round_trip() {
    let fixture = fixture(&["app:1"]);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("docker.tar");
    write_docker_archive(
        &archive,
        std::slice::from_ref(&fixture.image),
        &fixture.blobs,
    )
    .unwrap();
    let first = fs::read(&archive).unwrap();
    write_docker_archive(
        &archive,
        std::slice::from_ref(&fixture.image),
        &fixture.blobs,
    )
    .unwrap();
    assert_eq!(
        fs::read(&archive).unwrap(),
        first,
        "archives are deterministic"
    );

    let mut entries = tar::Archive::new(&first[..]);
    let mut files = HashMap::new();
    for entry in entries.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        files.insert(path, bytes);
    }
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(
        manifest,
        serde_json::json!([{
            "Config": format!("blobs/sha256/{}", fixture.config.hex()),
            "RepoTags": ["app:1"],
            "Layers": [format!("blobs/sha256/{}", fixture.diff_id.hex())],
        }])
    );
    let repositories: serde_json::Value = serde_json::from_slice(&files["repositories"]).unwrap();
    assert_eq!(
        repositories,
        serde_json::json!({"app": {"1": fixture.config.hex()}})
    );
    assert_eq!(
        files[&format!("blobs/sha256/{}", fixture.diff_id.hex())],
        fixture.uncompressed_layer
    );

    let images = read_archive(&archive, &dir.path().join("work")).unwrap();
    assert_eq!(images.len(), 1);
    let image = &images[0];
    assert_eq!(image.names[0].to_string(), "docker.io/library/app:1");
    assert_eq!(image.manifest.media_type().to_string(), OCI_MANIFEST);
    let manifest_digest = manifest_digest(image);
    let mut expected = vec![
        manifest_digest.clone(),
        fixture.config.clone(),
        fixture.diff_id.clone(),
    ];
    expected.sort();
    assert_eq!(digests(image), expected);
    assert_blob_files_verify(image);
    let manifest_path = &image
        .blobs
        .iter()
        .find(|(digest, _)| *digest == manifest_digest)
        .unwrap()
        .1;
    let synthesized: serde_json::Value =
        serde_json::from_slice(&fs::read(manifest_path).unwrap()).unwrap();
    assert_eq!(
        synthesized["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar"
    );
    assert_eq!(synthesized["config"]["mediaType"], OCI_CONFIG);
}

#[test]
fn old_style_docker_archive_with_gzip_layer() {
    let fixture = fixture(&[]);
    let config_bytes = fixture.blobs.read_blob(&fixture.config).unwrap();
    let layer_bytes = fixture.blobs.read_blob(&fixture.layer).unwrap();
    let manifest = serde_json::json!([{
        "Config": format!("{}.json", fixture.config.hex()),
        "RepoTags": ["registry.local:5000/x/y:v2"],
        "Layers": ["0123abcd/layer.tar"],
    }]);
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in [
        (
            "manifest.json".to_string(),
            serde_json::to_vec(&manifest).unwrap(),
        ),
        (format!("{}.json", fixture.config.hex()), config_bytes),
        ("0123abcd/layer.tar".to_string(), layer_bytes),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, name, &bytes[..]).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("old.tar");
    fs::write(&archive, builder.into_inner().unwrap()).unwrap();
    let images = read_archive(&archive, &dir.path().join("work")).unwrap();
    assert_eq!(images[0].names[0].to_string(), "registry.local:5000/x/y:v2");
    assert!(images[0]
        .blobs
        .iter()
        .any(|(digest, _)| *digest == fixture.layer));
    let manifest_path = &images[0].blobs[0].1;
    let synthesized: serde_json::Value =
        serde_json::from_slice(&fs::read(manifest_path).unwrap()).unwrap();
    assert_eq!(synthesized["layers"][0]["mediaType"], OCI_LAYER_GZIP);
    assert_eq!(
        synthesized["layers"][0]["digest"],
        fixture.layer.to_string()
    );
}
