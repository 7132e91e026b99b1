//! `kiln load`: archives built by kiln load back into a fresh store with the
//! same digests and names; a tampered archive is refused.

use std::path::Path;

use kiln_testutil::{list_tar, OciImage};

use crate::common::{example, kiln, s};

/// Builds hello:1 as an oci-archive and a docker-archive; returns the image ID from --iidfile.
fn build_archives(kiln: &kiln_testutil::Kiln) -> String {
    let iidfile = kiln.path("iid");
    let built = kiln.build([
        "-t",
        "hello:1",
        "--iidfile",
        s(&iidfile),
        "-o",
        &format!("type=oci,dest={}", s(&kiln.path("oci.tar"))),
        "-o",
        &format!("type=docker,dest={}", s(&kiln.path("docker.tar"))),
        s(&example("hello")),
    ]);
    let iid = std::fs::read_to_string(&iidfile).expect("iidfile written");
    assert_eq!(iid.trim(), built.image_id);
    built.image_id
}

#[test]
fn load_oci_and_docker_archives_into_fresh_stores() {
    let builder = kiln();
    let image_id = build_archives(&builder);
    let oci_archive = OciImage::from_archive(&builder.path("oci.tar"));

    let from_oci = kiln();
    let stdout = from_oci.load([s(&builder.path("oci.tar"))]);
    assert!(stdout.contains("Loaded image: hello:1"), "{stdout}");
    assert_eq!(from_oci.tags(), ["hello:1"]);
    let loaded = OciImage::from_dir_ref(from_oci.store(), "hello:1");
    assert_eq!(
        loaded.manifest_digest, oci_archive.manifest_digest,
        "an oci-archive loads byte for byte"
    );
    assert_eq!(loaded.config_digest, image_id);

    let from_docker = kiln();
    let stdout = from_docker.load([s(&builder.path("docker.tar"))]);
    assert!(stdout.contains("Loaded image: hello:1"), "{stdout}");
    let loaded = OciImage::from_dir_ref(from_docker.store(), "hello:1");
    assert_eq!(
        loaded.config_digest, image_id,
        "a docker-archive keeps the image ID"
    );
    assert_eq!(loaded.text("srv/site/VERSION"), "1.0\n");
}

#[test]
fn load_with_a_new_tag() {
    let builder = kiln();
    let image_id = build_archives(&builder);
    let store = kiln();
    let stdout = store.load(["-t", "renamed:2", s(&builder.path("docker.tar"))]);
    assert!(stdout.contains("Loaded image: renamed:2"), "{stdout}");
    assert_eq!(store.tags(), ["renamed:2"]);
    assert_eq!(
        OciImage::from_dir_ref(store.store(), "renamed:2").config_digest,
        image_id
    );
}

/// Flips one byte in the middle of the largest `blobs/sha256/*` entry whose
/// digest is among `layer_digests`; returns the blob's name.
fn tamper_layer(archive: &Path, layer_digests: &[String]) -> String {
    let mut bytes = std::fs::read(archive).unwrap();
    let mut tar = tar::Archive::new(&bytes[..]);
    let mut target = None;
    for entry in tar.entries().unwrap() {
        let entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let hex = path.rsplit('/').next().unwrap_or_default().to_owned();
        if layer_digests.iter().any(|digest| digest.ends_with(&hex)) && entry.size() > 0 {
            target = Some((entry.raw_file_position(), entry.size(), path));
        }
    }
    let (position, size, path) = target.expect("a layer blob in the archive");
    bytes[(position + size / 2) as usize] ^= 0x55;
    std::fs::write(archive, bytes).unwrap();
    path
}

#[test]
fn tampered_archives_are_refused_and_leave_no_tag() {
    let builder = kiln();
    build_archives(&builder);
    let oci_layers: Vec<String> = OciImage::from_archive(&builder.path("oci.tar"))
        .layers
        .iter()
        .map(|layer| layer.digest.clone())
        .collect();
    let docker_manifest = list_tar(&std::fs::read(builder.path("docker.tar")).unwrap())
        .into_iter()
        .find(|file| file.entry.path == "manifest.json")
        .expect("manifest.json");
    let docker_manifest: serde_json::Value =
        serde_json::from_slice(&docker_manifest.content).unwrap();
    let docker_layers: Vec<String> = docker_manifest[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| layer.as_str().unwrap().to_owned())
        .collect();

    for (name, layers) in [("oci.tar", oci_layers), ("docker.tar", docker_layers)] {
        let archive = builder.path(name);
        let blob = tamper_layer(&archive, &layers);
        let store = kiln();
        let output = store.run(["load", s(&archive)]);
        kiln_testutil::assert_clean_failure(&output);
        assert!(
            store.tags().is_empty(),
            "{name}: a tag was left after a refused load: {:?}",
            store.tags()
        );
        let hex = blob.rsplit('/').next().unwrap();
        assert!(
            !store.store().join("blobs/sha256").join(hex).exists(),
            "{name}: the tampered blob was stored under its claimed digest"
        );
    }
}
