//! Export → import round trips through oci-dir, oci-archive and docker-archive,
//! tamper detection, atomicity, and (when installed) checks with skopeo.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use flate2::write::GzEncoder;
use kiln_oci::{
    descriptor, read_archive, read_oci_layout, write_docker_archive, write_oci_archive, write_oci_dir, BlobSource,
    Digest, Error, ExportImage, ImageConfig, Reference, DOCKER_MANIFEST, OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP,
    OCI_MANIFEST,
};

/// An in-memory blob source.
#[derive(Default, Clone)]
struct MemoryBlobs(HashMap<Digest, Vec<u8>>);

impl MemoryBlobs {
    fn add(&mut self, bytes: Vec<u8>) -> Digest {
        let digest = Digest::sha256_of(&bytes);
        self.0.insert(digest.clone(), bytes);
        digest
    }
}

impl BlobSource for MemoryBlobs {
    fn open_blob(&self, digest: &Digest) -> std::io::Result<Box<dyn Read + '_>> {
        match self.0.get(digest) {
            Some(bytes) => Ok(Box::new(&bytes[..])),
            None => Err(std::io::Error::new(std::io::ErrorKind::NotFound, digest.to_string())),
        }
    }
}

struct Fixture {
    blobs: MemoryBlobs,
    image: ExportImage,
    config: Digest,
    layer: Digest,
    diff_id: Digest,
    uncompressed_layer: Vec<u8>,
}

fn layer_tar() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let content = b"hello from kiln\n";
    let mut header = tar::Header::new_ustar();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    builder.append_data(&mut header, "hello.txt", &content[..]).unwrap();
    builder.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn fixture(names: &[&str]) -> Fixture {
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

fn digests(image: &kiln_oci::LoadedImage) -> Vec<Digest> {
    let mut digests: Vec<Digest> = image.blobs.iter().map(|(digest, _)| digest.clone()).collect();
    digests.sort();
    digests
}

fn assert_blob_files_verify(image: &kiln_oci::LoadedImage) {
    for (digest, path) in &image.blobs {
        assert_eq!(&Digest::sha256_of(&fs::read(path).unwrap()), digest, "{}", path.display());
    }
}

/// Names of the entries of a directory, excluding `keep`.
fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn oci_archive_round_trip() {
    let fixture = fixture(&["app:1", "quay.io/team/app:2"]);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("image.tar");
    write_oci_archive(&archive, std::slice::from_ref(&fixture.image), &fixture.blobs).unwrap();
    let first = fs::read(&archive).unwrap();
    write_oci_archive(&archive, std::slice::from_ref(&fixture.image), &fixture.blobs).unwrap();
    assert_eq!(fs::read(&archive).unwrap(), first, "archives are deterministic");
    assert_eq!(leftovers(dir.path()), vec!["image.tar"]);

    let images = read_archive(&archive, &dir.path().join("work")).unwrap();
    assert_eq!(images.len(), 1);
    let image = &images[0];
    assert_eq!(image.manifest.digest(), fixture.image.manifest.digest());
    assert_eq!(image.manifest.annotations(), &None, "name annotations are stripped");
    let names: Vec<String> = image.names.iter().map(Reference::to_string).collect();
    assert_eq!(names, vec!["docker.io/library/app:1", "quay.io/team/app:2"]);
    let manifest_digest: Digest = image.manifest.digest().as_ref().parse().unwrap();
    let mut expected = vec![manifest_digest, fixture.config.clone(), fixture.layer.clone()];
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
    write_oci_dir(&layout, std::slice::from_ref(&fixture.image), &fixture.blobs).unwrap();
    assert_eq!(fs::read(layout.join("oci-layout")).unwrap(), br#"{"imageLayoutVersion":"1.0.0"}"#);
    let index: serde_json::Value = serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["mediaType"], OCI_INDEX);
    assert_eq!(index["schemaVersion"], 2);
    let annotations = &index["manifests"][0]["annotations"];
    assert_eq!(annotations["org.opencontainers.image.ref.name"], "1");
    assert_eq!(annotations["io.containerd.image.name"], "docker.io/library/app:1");
    assert!(layout.join("blobs/sha256").join(fixture.layer.hex()).is_file());

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
    let index: serde_json::Value = serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
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
    assert!(matches!(result, Err(Error::DestinationNotReplaceable { .. })), "{result:?}");
    assert!(busy.join("precious").is_file());
}

#[test]
fn docker_archive_round_trip() {
    let fixture = fixture(&["app:1"]);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("docker.tar");
    write_docker_archive(&archive, std::slice::from_ref(&fixture.image), &fixture.blobs).unwrap();
    let first = fs::read(&archive).unwrap();
    write_docker_archive(&archive, std::slice::from_ref(&fixture.image), &fixture.blobs).unwrap();
    assert_eq!(fs::read(&archive).unwrap(), first, "archives are deterministic");

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
    assert_eq!(repositories, serde_json::json!({"app": {"1": fixture.config.hex()}}));
    assert_eq!(files[&format!("blobs/sha256/{}", fixture.diff_id.hex())], fixture.uncompressed_layer);

    let images = read_archive(&archive, &dir.path().join("work")).unwrap();
    assert_eq!(images.len(), 1);
    let image = &images[0];
    assert_eq!(image.names[0].to_string(), "docker.io/library/app:1");
    assert_eq!(image.manifest.media_type().to_string(), OCI_MANIFEST);
    let manifest_digest: Digest = image.manifest.digest().as_ref().parse().unwrap();
    let mut expected = vec![manifest_digest, fixture.config.clone(), fixture.diff_id.clone()];
    expected.sort();
    assert_eq!(digests(image), expected);
    assert_blob_files_verify(image);
    let manifest_path = &image.blobs.iter().find(|(digest, _)| *digest == expected_manifest(image)).unwrap().1;
    let synthesized: serde_json::Value = serde_json::from_slice(&fs::read(manifest_path).unwrap()).unwrap();
    assert_eq!(synthesized["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar");
    assert_eq!(synthesized["config"]["mediaType"], OCI_CONFIG);
}

fn expected_manifest(image: &kiln_oci::LoadedImage) -> Digest {
    image.manifest.digest().as_ref().parse().unwrap()
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
        ("manifest.json".to_string(), serde_json::to_vec(&manifest).unwrap()),
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
    assert!(images[0].blobs.iter().any(|(digest, _)| *digest == fixture.layer));
    let manifest_path = &images[0].blobs[0].1;
    let synthesized: serde_json::Value = serde_json::from_slice(&fs::read(manifest_path).unwrap()).unwrap();
    assert_eq!(synthesized["layers"][0]["mediaType"], OCI_LAYER_GZIP);
    assert_eq!(synthesized["layers"][0]["digest"], fixture.layer.to_string());
}

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
            matches!(result, Err(Error::DigestMismatch { .. }) | Err(Error::BlobRead { .. })),
            "{name}: {result:?}"
        );
        assert!(leftovers(dir.path()).is_empty(), "{name}: {:?}", leftovers(dir.path()));

        let mut missing = fixture.blobs.clone();
        missing.0.remove(&fixture.config);
        let result = writer(&dest, std::slice::from_ref(&fixture.image), &missing);
        assert!(matches!(result, Err(Error::BlobRead { .. })), "{name}: {result:?}");
        assert!(leftovers(dir.path()).is_empty(), "{name}");
    }
}

#[test]
fn wrong_diff_id_is_refused_by_docker_export() {
    let mut fixture = fixture(&["app:1"]);
    let mut config = ImageConfig::from_json(&fixture.blobs.read_blob(&fixture.config).unwrap()).unwrap();
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
    assert!(matches!(result, Err(Error::DigestMismatch { .. })), "{result:?}");
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn tampered_layout_is_refused_on_import() {
    let fixture = fixture(&["app:1"]);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_dir(&layout, std::slice::from_ref(&fixture.image), &fixture.blobs).unwrap();
    let layer_path = layout.join("blobs/sha256").join(fixture.layer.hex());
    let mut bytes = fs::read(&layer_path).unwrap();
    bytes[0] ^= 1;
    fs::write(&layer_path, bytes).unwrap();
    let result = read_oci_layout(&layout);
    assert!(matches!(result, Err(Error::DigestMismatch { .. })), "{result:?}");
}

#[test]
fn non_manifest_descriptor_is_refused() {
    let fixture = fixture(&[]);
    let mut image = fixture.image.clone();
    image.manifest = descriptor(OCI_INDEX, &fixture.config, 1);
    let dir = tempfile::tempdir().unwrap();
    let result = write_oci_archive(&dir.path().join("x.tar"), &[image], &fixture.blobs);
    assert!(matches!(result, Err(Error::NotAnImageManifest { .. })), "{result:?}");
}

#[test]
fn nested_index_picks_host_platform() {
    let fixture = fixture(&[]);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_dir(&layout, std::slice::from_ref(&fixture.image), &fixture.blobs).unwrap();
    let host = kiln_oci::Platform::host();
    let other_arch = if host.architecture == "s390x" { "amd64" } else { "s390x" };
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
    fs::write(layout.join("blobs/sha256").join(nested_digest.hex()), &nested_bytes).unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": OCI_INDEX, "digest": nested_digest.to_string(), "size": nested_bytes.len(),
                       "annotations": {"org.opencontainers.image.ref.name": "latest"}}],
    });
    fs::write(layout.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
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
    assert!(matches!(result, Err(Error::UnsafeArchivePath { .. })), "{result:?}");
    assert!(!dir.path().join("x").exists());

    let empty = dir.path().join("empty.tar");
    fs::write(&empty, [0u8; 1024]).unwrap();
    let result = read_archive(&empty, &dir.path().join("work2"));
    assert!(matches!(result, Err(Error::UnknownArchiveFormat { .. })), "{result:?}");
}

/// Whether `tool` is installed; panics when it is not and KILN_TEST_REQUIRE_TOOLS=1.
fn require_tool(tool: &str) -> bool {
    let found = Command::new("which").arg(tool).output().is_ok_and(|output| output.status.success());
    if !found {
        assert!(
            std::env::var("KILN_TEST_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "{tool} is required (KILN_TEST_REQUIRE_TOOLS=1) but not installed"
        );
        eprintln!("skipping: {tool} is not installed");
    }
    found
}

fn skopeo_inspect(target: &str) -> serde_json::Value {
    let output = Command::new("skopeo")
        .args(["inspect", "--raw", target])
        .output()
        .unwrap();
    assert!(output.status.success(), "{target}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn skopeo_reads_our_archives() {
    if !require_tool("skopeo") {
        return;
    }
    let fixture = fixture(&["app:1"]);
    let dir = tempfile::tempdir().unwrap();
    let oci = dir.path().join("oci.tar");
    write_oci_archive(&oci, std::slice::from_ref(&fixture.image), &fixture.blobs).unwrap();
    let raw = skopeo_inspect(&format!("oci-archive:{}", oci.display()));
    assert_eq!(raw["layers"][0]["digest"], fixture.layer.to_string());
    assert_eq!(raw["config"]["digest"], fixture.config.to_string());
    let output = Command::new("skopeo")
        .args(["inspect", &format!("oci-archive:{}", oci.display())])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let inspected: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(inspected["Digest"], fixture.image.manifest.digest().to_string());

    let docker = dir.path().join("docker.tar");
    write_docker_archive(&docker, std::slice::from_ref(&fixture.image), &fixture.blobs).unwrap();
    let raw = skopeo_inspect(&format!("docker-archive:{}", docker.display()));
    assert_eq!(raw["config"]["digest"], fixture.config.to_string());
    assert_eq!(raw["layers"][0]["digest"], fixture.diff_id.to_string());
    let output = Command::new("skopeo")
        .args(["inspect", &format!("docker-archive:{}", docker.display())])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let inspected: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(inspected["RepoTags"], serde_json::json!([]), "skopeo lists tags only for registries");
    assert_eq!(inspected["Layers"][0], fixture.diff_id.to_string());
}
