//! End-to-end check that the store is a valid OCI image layout: write a tiny
//! image, tag it, and let `skopeo inspect oci:<root>:app:1` read it back.
//! Skipped when skopeo is missing, unless `KILN_TEST_REQUIRE_TOOLS=1`.

use std::process::Command;

use kiln_oci::media_type::OCI_MANIFEST;
use kiln_store::Store;

/// Whether `tool` can be run; panics if it cannot and tools are required.
fn tool_available(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .output()
        .map(|output| output.status.success())
        .unwrap_or(false);
    if !found {
        if std::env::var("KILN_TEST_REQUIRE_TOOLS").as_deref() == Ok("1") {
            panic!("{tool} is required (KILN_TEST_REQUIRE_TOOLS=1) but was not found");
        }
        eprintln!("skipping: {tool} not found");
    }
    found
}

#[test]
fn skopeo_inspects_a_tagged_image() {
    if !tool_available("skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let store = Store::open(&root).unwrap();

    // An empty uncompressed tar: two zero blocks.
    let layer = vec![0u8; 1024];
    let layer_digest = store.write_blob(&layer).unwrap();
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest.to_string()]},
        "history": [{"created_by": "kiln-store test"}],
    });
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let config_digest = store.write_blob(&config_bytes).unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest.to_string(),
            "size": config_bytes.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer_digest.to_string(),
            "size": layer.len(),
        }],
    });
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let manifest_digest = store.write_blob(&manifest_bytes).unwrap();
    let descriptor =
        kiln_oci::descriptor(OCI_MANIFEST, &manifest_digest, manifest_bytes.len() as u64);
    store.set_tag("app:1", &descriptor).unwrap();

    let output = Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci:{}:app:1", root.display()))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "skopeo failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let inspected: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(inspected["Digest"], manifest_digest.to_string());
    assert_eq!(inspected["Architecture"], "amd64");
    assert_eq!(inspected["Os"], "linux");
    assert_eq!(
        inspected["Layers"],
        serde_json::json!([layer_digest.to_string()])
    );
}
