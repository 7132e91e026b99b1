//! Images made by the tests themselves, for what kiln cannot build: the
//! busybox image from the store with extra layer tars on top, written as an
//! oci-archive for `kiln load`.

use std::path::Path;

use kiln_testutil::{sha256_hex, OciImage, BUSYBOX_TAG};
use serde_json::{json, Value};

fn blob_name(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

fn add_file(builder: &mut tar::Builder<Vec<u8>>, name: &str, bytes: &[u8]) {
    let mut header = tar::Header::new_ustar();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    builder
        .append_data(&mut header, name, bytes)
        .expect("append to the archive");
}

/// Writes to `out` an oci-archive (named `layered:1`; load it with `-t`) of the busybox image
/// read from `store` with `extra` (uncompressed layer tars) on top, each with
/// a history entry `created_by`.
pub fn archive_with_layers(store: &Path, extra: &[Vec<u8>], created_by: &str, out: &Path) {
    let base = OciImage::from_dir_ref(store, BUSYBOX_TAG);
    let mut manifest: Value = base.manifest.clone();
    let mut config: Value = base.config.clone();
    let mut builder = tar::Builder::new(Vec::new());
    add_file(
        &mut builder,
        "oci-layout",
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    );
    for layer in &base.layers {
        let bytes = std::fs::read(store.join(blob_name(&layer.digest))).expect("base layer blob");
        add_file(&mut builder, &blob_name(&layer.digest), &bytes);
    }
    for tar_bytes in extra {
        let digest = format!("sha256:{}", sha256_hex(tar_bytes));
        add_file(&mut builder, &blob_name(&digest), tar_bytes);
        manifest["layers"]
            .as_array_mut()
            .expect("manifest layers")
            .push(json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": digest,
                "size": tar_bytes.len(),
            }));
        config["rootfs"]["diff_ids"]
            .as_array_mut()
            .expect("diff_ids")
            .push(json!(digest));
        if let Some(history) = config["history"].as_array_mut() {
            history.push(json!({ "created_by": created_by }));
        }
    }
    let config_bytes = serde_json::to_vec(&config).expect("config JSON");
    let config_digest = format!("sha256:{}", sha256_hex(&config_bytes));
    add_file(&mut builder, &blob_name(&config_digest), &config_bytes);
    manifest["config"]["digest"] = json!(config_digest);
    manifest["config"]["size"] = json!(config_bytes.len());
    let manifest_bytes = serde_json::to_vec(&manifest).expect("manifest JSON");
    let manifest_digest = format!("sha256:{}", sha256_hex(&manifest_bytes));
    add_file(&mut builder, &blob_name(&manifest_digest), &manifest_bytes);
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest_bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": "layered:1"},
        }],
    });
    add_file(
        &mut builder,
        "index.json",
        &serde_json::to_vec(&index).expect("index JSON"),
    );
    std::fs::write(out, builder.into_inner().expect("archive")).expect("write the archive");
}
