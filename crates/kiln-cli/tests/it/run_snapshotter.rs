//! The two snapshotters (`KILN_SNAPSHOTTER`): the overlay one (layers
//! unpacked once into the store, mounted as an overlay, the RUN's layer read
//! from the upper directory) must make the same layers as the native one
//! (layers extracted into one directory, the RUN's layer from two stat
//! snapshots) — byte for byte, given SOURCE_DATE_EPOCH.

use std::path::Path;

use crate::common::project;
use crate::run_common::{Iso, Rig};

const EPOCH: (&str, &str) = ("SOURCE_DATE_EPOCH", "1000");

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Builds `name` with each snapshotter on one rig; returns the manifest digests.
fn digests(rig: &Rig, context: &Path) -> (String, String) {
    let native = rig.build_env(
        context,
        &["--no-cache"],
        &[EPOCH, ("KILN_SNAPSHOTTER", "native")],
    );
    let overlay = rig.build_env(
        context,
        &["--no-cache"],
        &[EPOCH, ("KILN_SNAPSHOTTER", "overlay")],
    );
    (native.image.manifest_digest, overlay.image.manifest_digest)
}

#[test]
fn overlay_and_native_make_the_same_layers() {
    if !is_root() {
        eprintln!("skipping: the overlay snapshotter needs root");
        return;
    }
    let Some(rig) = Rig::new(Iso::Builtin) else {
        return;
    };
    for name in ["run-diff-files", "run-diff-replace"] {
        let (native, overlay) = digests(&rig, &project(name));
        assert_eq!(native, overlay, "{name}: the snapshotters disagree");
    }
}

/// Where the two differ, by design: a RUN that links to a file of a lower
/// layer that already had hard links copies that one path up (overlayfs
/// without `index=on`, as BuildKit's overlay snapshotter), so its layer holds
/// the new link group but not the lower file's other links.
#[test]
fn overlay_copy_up_splits_lower_hard_links() {
    if !is_root() {
        eprintln!("skipping: the overlay snapshotter needs root");
        return;
    }
    let Some(rig) = Rig::new(Iso::Builtin) else {
        return;
    };
    let context = project("run-diff-links");
    let layer_paths = |snapshotter: &str| {
        let built = rig.build_env(
            &context,
            &["--no-cache"],
            &[EPOCH, ("KILN_SNAPSHOTTER", snapshotter)],
        );
        let top = built.image.layers.last().expect("a RUN layer");
        crate::run_common::layer_paths(top)
            .into_iter()
            .filter(|path| path.starts_with("links/"))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let native = layer_paths("native");
    let overlay = layer_paths("overlay");
    assert!(native.contains(&"links/target".to_string()), "{native:?}");
    assert!(
        !overlay.contains(&"links/target".to_string()),
        "{overlay:?}"
    );
    for path in ["links/hard", "links/hard2", "links/rel"] {
        assert!(overlay.contains(&path.to_string()), "{path} in {overlay:?}");
    }
}

#[test]
fn overlay_snapshots_are_kept_and_pruned() {
    if !is_root() {
        eprintln!("skipping: the overlay snapshotter needs root");
        return;
    }
    let Some(rig) = Rig::new(Iso::Builtin) else {
        return;
    };
    let snapshots = rig.kiln.store().join("cache/v1/snapshots");
    let dockerfile = "FROM busybox:test\nRUN echo one > /one\nCOPY Dockerfile /copied\nRUN cat /one /copied > /both\n";
    let built = rig.build_text(dockerfile, &[]);
    built.output.assert_success();
    let count = std::fs::read_dir(&snapshots).map_or(0, |dir| dir.count());
    // The base's two layers (unpacked for the first RUN) and the COPY layer
    // (unpacked while written, since a RUN follows); RUN layers stay private.
    assert_eq!(count, 3, "snapshots in the store");
    let output = rig
        .kiln
        .cmd()
        .args(["cache", "prune", "--all", "-f"])
        .output();
    let output = output.expect("run kiln cache prune");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        std::fs::read_dir(&snapshots).map_or(0, |dir| dir.count()),
        0
    );
}

#[test]
fn overlay_when_asked_and_unknown_values_are_errors() {
    let Some(rig) = Rig::new(Iso::Builtin) else {
        return;
    };
    let project = kiln_testutil::Project::empty();
    project.write("Dockerfile", "FROM busybox:test\nRUN true\n");
    let output = rig.try_build_env(project.path(), &[], &[("KILN_SNAPSHOTTER", "zfs")]);
    kiln_testutil::assert_clean_failure(&output);
    assert!(
        output.stderr.contains("KILN_SNAPSHOTTER") && output.stderr.contains("zfs"),
        "{}",
        output.stderr
    );
    if is_root() {
        let output = rig.try_build_env(project.path(), &[], &[("KILN_SNAPSHOTTER", "overlay")]);
        output.assert_success();
    }
}

/// A COPY that changed in a few files is unpacked as a delta on the previous
/// version's snapshot; what a RUN after it sees must be exactly the new
/// layer: changed, added and removed files, a changed mode.
#[test]
fn delta_snapshots_show_the_new_layer() {
    if !is_root() {
        eprintln!("skipping: the overlay snapshotter needs root");
        return;
    }
    let Some(rig) = Rig::new(Iso::Builtin) else {
        return;
    };
    let project = kiln_testutil::Project::empty();
    project.write(
        "Dockerfile",
        "FROM busybox:test\nCOPY tree /tree\nRUN cd /tree && find . | sort > /listing && cat a b > /joined && stat -c '%a %n' run.sh > /mode\n",
    );
    for index in 0..50 {
        project.write(&format!("tree/many/f{index}"), format!("file {index}\n"));
    }
    project.write("tree/a", "first a\n");
    project.write("tree/b", "b\n");
    project.write("tree/gone", "bye\n");
    project.write("tree/run.sh", "echo\n");
    let first = rig.build(project.path(), &[]);
    first.output.assert_success();
    assert_eq!(first.image.layers.len(), crate::run_common::BASE_LAYERS + 2);

    project.write("tree/a", "second a, longer\n");
    project.write("tree/added", "new\n");
    std::fs::remove_file(project.path().join("tree/gone")).unwrap();
    std::fs::remove_dir_all(project.path().join("tree/many")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        project.path().join("tree/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let second = rig.build(project.path(), &[]);
    second.output.assert_success();
    let deltas = std::fs::read_dir(rig.kiln.store().join("cache/v1/snapshots"))
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().path().join("base").exists())
        .count();
    assert_eq!(deltas, 1, "the second COPY was unpacked as a delta");
    let run = second.image.layers.last().unwrap();
    let text = |path: &str| {
        let file = crate::run_common::entry(run, path);
        String::from_utf8(file.content.clone()).unwrap()
    };
    assert_eq!(text("joined"), "second a, longer\nb\n");
    assert_eq!(text("mode"), "755 run.sh\n");
    assert_eq!(text("listing"), ".\n./a\n./added\n./b\n./run.sh\n");
}
