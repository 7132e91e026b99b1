//! `kiln save`: several images in one docker-archive or oci-archive, read by
//! skopeo and loaded back into a fresh store with the same names and digests.

use std::process::{Command, Stdio};

use kiln_testutil::{assert_clean_failure, list_tar, require_tool, run_ok, sha256_hex};

use crate::common::{json, kiln, s};
use crate::images::{stored, two_images};

/// The raw config skopeo reads for `transport:FILE:NAME`, as a digest.
fn skopeo_config_digest(reference: &str) -> String {
    let raw = Command::new("skopeo")
        .args(["inspect", "--config", "--raw", reference])
        .output()
        .unwrap();
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    format!("sha256:{}", sha256_hex(&raw.stdout))
}

#[test]
fn docker_archive_round_trip() {
    let source = two_images();
    let hello = stored(&source, "hello:1");
    let copy = stored(&source, "copy:2");
    let archive = source.path("both.tar");
    let output = source.run(["save", "-o", s(&archive), "hello:1", "copy:2"]);
    output.assert_success();
    assert_eq!(output.stdout, "");

    let files = list_tar(&std::fs::read(&archive).unwrap());
    let manifest = files
        .iter()
        .find(|file| file.entry.path == "manifest.json")
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest.content).unwrap();
    let tags: Vec<&serde_json::Value> = manifest
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| &entry["RepoTags"])
        .collect();
    assert_eq!(
        tags,
        [
            &serde_json::json!(["hello:1"]),
            &serde_json::json!(["copy:2"])
        ]
    );

    if require_tool("skopeo") {
        for (name, image) in [("hello:1", &hello), ("copy:2", &copy)] {
            let reference = format!("docker-archive:{}:{name}", s(&archive));
            assert_eq!(
                skopeo_config_digest(&reference),
                image.config_digest,
                "{name}"
            );
        }
    }

    let fresh = kiln();
    let loaded = fresh.load([s(&archive)]);
    assert_eq!(loaded, "Loaded image: hello:1\nLoaded image: copy:2\n");
    assert_eq!(fresh.tags(), ["copy:2", "hello:1"]);
    assert_eq!(stored(&fresh, "hello:1").config_digest, hello.config_digest);
    assert_eq!(stored(&fresh, "copy:2").config_digest, copy.config_digest);
}

#[test]
fn oci_archive_round_trip() {
    let source = two_images();
    run_ok(source.cmd().args(["tag", "copy:2", "quay.io/kiln/copy:3"]));
    let hello = stored(&source, "hello:1");
    let copy = stored(&source, "copy:2");
    let archive = source.path("both-oci.tar");
    source
        .run([
            "save",
            "--format",
            "oci",
            "-o",
            s(&archive),
            "hello:1",
            "copy:2",
            "quay.io/kiln/copy:3",
        ])
        .assert_success();

    if require_tool("skopeo") {
        for (tag, image) in [("1", &hello), ("2", &copy), ("3", &copy)] {
            let inspect =
                json(&run_ok(Command::new("skopeo").args([
                    "inspect",
                    &format!("oci-archive:{}:{tag}", s(&archive)),
                ])));
            assert_eq!(inspect["Digest"], image.manifest_digest.as_str(), "{tag}");
        }
    }

    let fresh = kiln();
    let loaded = fresh.load([s(&archive)]);
    assert!(loaded.contains("Loaded image: hello:1\n"), "{loaded}");
    assert!(
        loaded.contains("Loaded image: quay.io/kiln/copy:3\n"),
        "{loaded}"
    );
    assert_eq!(fresh.tags(), ["copy:2", "hello:1", "quay.io/kiln/copy:3"]);
    assert_eq!(
        fresh.manifest_digest("hello:1").unwrap(),
        hello.manifest_digest
    );
    assert_eq!(
        fresh.manifest_digest("copy:2").unwrap(),
        copy.manifest_digest
    );
    assert_eq!(
        fresh.manifest_digest("quay.io/kiln/copy:3").unwrap(),
        copy.manifest_digest
    );
}

#[test]
fn save_to_a_pipe_and_failures_leave_nothing() {
    let source = two_images();
    let hello = stored(&source, "hello:1");
    // Without -o the archive goes to standard output (here a file, not a terminal).
    let piped = source.path("piped.tar");
    let status = source
        .cmd()
        .args(["save", "hello:1"])
        .stdout(Stdio::from(std::fs::File::create(&piped).unwrap()))
        .status()
        .unwrap();
    assert!(status.success());
    let fresh = kiln();
    fresh.load([s(&piped)]);
    assert_eq!(stored(&fresh, "hello:1").config_digest, hello.config_digest);

    // A missing image fails before anything is written.
    let target = source.path("never.tar");
    let failed = source.run(["save", "-o", s(&target), "hello:1", "nope:1"]);
    assert_clean_failure(&failed);
    assert!(
        failed.stderr.contains("no such image: nope:1"),
        "{}",
        failed.stderr
    );
    assert!(!target.exists());
    let leftovers: Vec<String> = std::fs::read_dir(source.scratch())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "piped.tar")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn load_prints_the_config_digest_for_unnamed_images() {
    let source = two_images();
    let hello = stored(&source, "hello:1");
    let archive = source.path("by-id.tar");
    source
        .run(["save", "-o", s(&archive), &hello.config_digest[7..19]])
        .assert_success();
    let fresh = kiln();
    let loaded = fresh.load([s(&archive)]);
    assert_eq!(
        loaded,
        format!("Loaded image ID: {}\n", hello.config_digest)
    );
}
