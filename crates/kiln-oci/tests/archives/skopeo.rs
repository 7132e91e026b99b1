//! Independent checks: skopeo and umoci read what kiln writes.

use std::process::Command;

use kiln_oci::{write_docker_archive, write_oci_archive, write_oci_dir};

use crate::fixture::fixture;

/// Whether `tool` is installed; panics when it is not and KILN_TEST_REQUIRE_TOOLS=1.
fn require_tool(tool: &str) -> bool {
    let found = Command::new("which")
        .arg(tool)
        .output()
        .is_ok_and(|output| output.status.success());
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
    assert!(
        output.status.success(),
        "{target}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
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
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let inspected: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        inspected["Digest"],
        fixture.image.manifest.digest().to_string()
    );

    let docker = dir.path().join("docker.tar");
    write_docker_archive(
        &docker,
        std::slice::from_ref(&fixture.image),
        &fixture.blobs,
    )
    .unwrap();
    let raw = skopeo_inspect(&format!("docker-archive:{}", docker.display()));
    assert_eq!(raw["config"]["digest"], fixture.config.to_string());
    assert_eq!(raw["layers"][0]["digest"], fixture.diff_id.to_string());
    let output = Command::new("skopeo")
        .args(["inspect", &format!("docker-archive:{}", docker.display())])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let inspected: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        inspected["RepoTags"],
        serde_json::json!([]),
        "skopeo lists tags only for registries"
    );
    assert_eq!(inspected["Layers"][0], fixture.diff_id.to_string());

    // A full copy makes skopeo read and verify every blob of both archives.
    for (source, name) in [("oci-archive", &oci), ("docker-archive", &docker)] {
        let target = dir.path().join(format!("copy-{source}"));
        let output = Command::new("skopeo")
            .args(["copy", "--quiet"])
            .arg(format!("{source}:{}", name.display()))
            .arg(format!("oci:{}:copied", target.display()))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{source}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(target.join("index.json").is_file());
    }
}

#[test]
fn umoci_unpacks_our_layout() {
    if !require_tool("umoci") {
        return;
    }
    let fixture = fixture(&["app:1"]);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_dir(
        &layout,
        std::slice::from_ref(&fixture.image),
        &fixture.blobs,
    )
    .unwrap();
    let bundle = dir.path().join("bundle");
    let output = Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:1", layout.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let hello = std::fs::read(bundle.join("rootfs/hello.txt")).unwrap();
    assert_eq!(hello, b"hello from kiln\n");
}
