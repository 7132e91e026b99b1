//! `kiln store fsck`, `kiln cache du` and `kiln cache prune` on real builds:
//! a sound store is clean, every kind of damage is named with its path or
//! digest and exits 1, garbage is listed but is not an error, and pruning
//! the cache frees the layers only it used.

use std::os::unix::fs::PermissionsExt;

use kiln_testutil::assert_clean_failure;

use crate::store_common::{assert_fsck_clean, copy_project, entries, fsck, kiln};

/// The layer blobs of `tag`, read from its manifest in the store.
fn layers(kiln: &kiln_testutil::Kiln, tag: &str) -> Vec<String> {
    let digest = kiln.manifest_digest(tag).expect("tagged");
    let path = kiln.store().join("blobs/sha256").join(&digest[7..]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| layer["digest"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn fsck_reports_damage_and_garbage() {
    let kiln = kiln();
    let project = copy_project(1, 2, 2, 1000);
    kiln.build(["-t", "app:1", project.arg()]);
    let clean = assert_fsck_clean(&kiln, "after a build");
    let blobs = entries(&kiln, "blobs/sha256").len();
    assert!(
        clean.stdout.contains(&format!("checked {blobs} blobs")),
        "{}",
        clean.stdout
    );

    // Garbage is listed, and is not an error.
    std::fs::write(kiln.store().join("ingest/blob-left"), b"partial").unwrap();
    std::fs::create_dir(kiln.store().join("tmp/rootfs-left")).unwrap();
    let output = assert_fsck_clean(&kiln, "with garbage");
    assert!(
        output.stdout.contains("garbage: partial blob in ingest/")
            && output.stdout.contains("ingest/blob-left")
            && output.stdout.contains("tmp/rootfs-left"),
        "{}",
        output.stdout
    );

    // A corrupt layer: exit 1, the path and the wrong digest on one line.
    let layer = layers(&kiln, "app:1")[0].clone();
    let path = kiln.store().join("blobs/sha256").join(&layer[7..]);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let output = fsck(&kiln);
    assert_eq!(output.code(), Some(1), "{}", output.streams());
    let line = output
        .stdout
        .lines()
        .find(|line| line.starts_with("error: corrupt blob"))
        .unwrap_or_else(|| panic!("{}", output.stdout));
    assert!(line.contains(&layer[7..]), "{line}");

    // A missing layer is named with the tag that needs it.
    std::fs::remove_file(&path).unwrap();
    let output = fsck(&kiln);
    assert_eq!(output.code(), Some(1), "{}", output.streams());
    assert!(
        output.stdout.contains(&format!(
            "error: missing layer {layer} (referenced by tag app:1"
        )),
        "{}",
        output.stdout
    );
    // ...and its cache record too.
    assert!(
        output.stdout.contains("which is not in the store"),
        "{}",
        output.stdout
    );

    // --repair removes garbage and the broken records; the broken tag stays an error.
    let output = kiln.run(["store", "fsck", "--repair"]);
    assert_eq!(output.code(), Some(1), "{}", output.streams());
    assert!(
        output.stdout.contains("repaired: removed"),
        "{}",
        output.stdout
    );
    assert!(entries(&kiln, "ingest").is_empty());
    assert!(entries(&kiln, "tmp").is_empty());
    kiln.run(["rmi", "app:1"]).assert_success();
    assert_fsck_clean(&kiln, "after repair and rmi");
}

#[test]
fn cache_du_and_prune() {
    let kiln = kiln();
    let project = copy_project(2, 2, 1, 20_000);
    kiln.build(["-t", "app:1", project.arg()]);

    // A RUN cache mount's directory, as a build leaves it.
    let mount = kiln.store().join("cache/mounts").join("ab".repeat(32));
    std::fs::create_dir_all(&mount).unwrap();
    std::fs::write(mount.join("object"), vec![1u8; 5000]).unwrap();

    let du = kiln.run(["cache", "du"]);
    du.assert_success();
    let row = |name: &str| -> Vec<String> {
        let line = du
            .stdout
            .lines()
            .find(|line| line.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in\n{}", du.stdout));
        line[name.len()..]
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(row("Cache records")[0], "2", "{}", du.stdout);
    // Both layers are tagged: the cache alone holds none of them.
    assert_eq!(
        row("Layers only the cache uses"),
        ["0", "0B"],
        "{}",
        du.stdout
    );
    assert_eq!(row("RUN cache mounts"), ["1", "5kB"], "{}", du.stdout);

    // Without -f and a terminal, prune refuses.
    assert_clean_failure(&kiln.run(["cache", "prune"]));

    // Recently used things survive a filter.
    let kept = kiln.run(["cache", "prune", "-f", "--filter", "until=1h"]);
    kept.assert_success();
    assert!(
        kept.stdout.contains("Total reclaimed space: 0B"),
        "{}",
        kept.stdout
    );

    // Once the tag is gone, the layers are cache storage and prune frees them.
    kiln.run(["rmi", "app:1"]).assert_success();
    let du = kiln.run(["cache", "du"]);
    assert!(
        du.stdout.contains("Layers only the cache uses"),
        "{}",
        du.stdout
    );
    let pruned = kiln.run(["cache", "prune", "-f"]);
    pruned.assert_success();
    assert!(
        pruned
            .stdout
            .contains("Removed 2 cache record(s), 1 RUN cache mount(s), 2 layer(s)"),
        "{}",
        pruned.stdout
    );
    assert!(!mount.exists());
    assert_fsck_clean(&kiln, "after cache prune");

    // The next build misses and works.
    let rebuilt = kiln.build(["-t", "app:1", project.arg()]);
    assert!(
        !rebuilt.output.stderr.contains("CACHED"),
        "{}",
        rebuilt.output.stderr
    );
    let all = kiln.run(["cache", "prune", "--all", "-f"]);
    all.assert_success();
    assert!(all.stdout.contains("the stat cache"), "{}", all.stdout);
    assert!(entries(&kiln, "cache/v1/records").is_empty());
    assert_fsck_clean(&kiln, "after cache prune --all");
}
