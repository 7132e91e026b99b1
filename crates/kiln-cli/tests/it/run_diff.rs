//! Differential tests against buildah: the Dockerfiles under
//! `testdata/projects/run-diff-*` are built by kiln and by
//! `buildah bud --isolation chroot` (vfs storage in a temporary root) from the
//! same busybox base (kiln's, unpacked from the archive the rig loaded). Both images are
//! unpacked with `umoci unpack --rootless` and their trees compared: paths,
//! types, modes, owners (numeric, from the layer tars), contents and link
//! targets.
//!
//! Intended differences, all listed in [`intended_difference`]:
//! - mtimes are not compared (each builder runs at its own time);
//! - buildah leaves the mount points of its chroot sandbox in its layers
//!   (`/dev`, `/proc`, `/sys`, `/run` and the files `/etc/hosts`,
//!   `/etc/resolv.conf`, `/etc/hostname`), where kiln, like BuildKit, leaves
//!   out what it had to create for the step.

use std::path::{Path, PathBuf};
use std::process::Command;

use kiln_testutil::{require_tool, run_ok, OciImage, Project};

use crate::common::s;
use crate::run_common::{
    both_isolations, busybox_archive, describe_tree, merged_owners, umoci_unpack, Rig, LAYOUT_TAG,
};

both_isolations!(diff_files, diff_links, diff_replace);

fn diff_files(rig: &Rig) {
    compare_with_buildah(rig, "run-diff-files", "auto");
}

/// The native snapshotter: overlayfs copy-up splits a lower file's hard links
/// (run_snapshotter.rs), where buildah's vfs driver, a plain directory, keeps them.
fn diff_links(rig: &Rig) {
    compare_with_buildah(rig, "run-diff-links", "native");
}

fn diff_replace(rig: &Rig) {
    compare_with_buildah(rig, "run-diff-replace", "auto");
}

/// Whether a line of [`describe_tree`] that only one side has is an
/// intended difference: a sandbox mount point that buildah keeps.
fn intended_difference(line: &str) -> bool {
    let path = line.split(' ').nth(3).unwrap_or_default();
    let top = path.split('/').next().unwrap_or_default();
    matches!(top, "dev" | "proc" | "sys" | "run")
        || matches!(path, "etc/hosts" | "etc/resolv.conf" | "etc/hostname")
}

/// A `buildah` command on its own storage under `root`.
fn buildah(root: &Path) -> Command {
    let mut command = Command::new("buildah");
    command
        .arg("--root")
        .arg(root.join("storage"))
        .arg("--runroot")
        .arg(root.join("run"))
        .args(["--storage-driver", "vfs"])
        .env("BUILDAH_ISOLATION", "chroot");
    command
}

/// Builds `context` with buildah from the base layout; returns the pushed oci-dir.
///
/// The base is named relative to `scratch` (buildah's working directory):
/// buildah turns an `oci:` path into an image name, which must be lowercase,
/// and temporary directory names are not.
fn buildah_build(scratch: &Path, base_layout: &Path, base_tag: &str, context: &Path) -> PathBuf {
    let root = scratch.join("buildah");
    let out = scratch.join("buildah-image");
    let base = base_layout
        .strip_prefix(scratch)
        .expect("the base layout is in the scratch dir");
    assert_eq!(
        s(base),
        s(base).to_lowercase(),
        "a lowercase name for buildah"
    );
    run_ok(buildah(&root).current_dir(scratch).args([
        "bud",
        "--isolation",
        "chroot",
        "--build-arg",
        &format!("BASE=oci:{}:{base_tag}", s(base)),
        "-t",
        "kiln-diff:1",
        "-f",
        s(&context.join("Dockerfile")),
        s(context),
    ]));
    run_ok(buildah(&root).args([
        "push",
        "kiln-diff:1",
        &format!("oci:{}:{LAYOUT_TAG}", s(&out)),
    ]));
    // The vfs storage holds root-owned copies of every layer; remove it now.
    let _ = std::fs::remove_dir_all(&root);
    out
}

fn compare_with_buildah(rig: &Rig, name: &str, snapshotter: &str) {
    if !require_tool("buildah") || !require_tool("umoci") {
        return;
    }
    let context = Project::copy(name);
    let kiln_image = rig.build_env(context.path(), &[], &[("KILN_SNAPSHOTTER", snapshotter)]);
    // The base for buildah: the very archive the rig loaded, as a layout.
    let archive = busybox_archive().expect("the rig loaded the busybox archive");
    let base = rig.kiln.path("busybox-layout");
    tar::Archive::new(archive)
        .unpack(&base)
        .expect("unpack the busybox archive");
    let base_tag = OciImage::from_dir(&base).index["manifests"][0]["annotations"]
        ["org.opencontainers.image.ref.name"]
        .as_str()
        .expect("the archive names its image")
        .to_owned();
    let buildah_layout = buildah_build(rig.kiln.scratch(), &base, &base_tag, context.path());
    let buildah_image = OciImage::from_dir(&buildah_layout);

    let scratch = rig.kiln.scratch();
    let kiln_tree = describe_tree(
        &umoci_unpack(scratch, &kiln_image.layout, LAYOUT_TAG),
        &merged_owners(&kiln_image.image),
    );
    let buildah_tree = describe_tree(
        &umoci_unpack(scratch, &buildah_layout, LAYOUT_TAG),
        &merged_owners(&buildah_image),
    );
    let only_kiln: Vec<&String> = kiln_tree
        .iter()
        .filter(|line| !buildah_tree.contains(line))
        .collect();
    let only_buildah: Vec<&String> = buildah_tree
        .iter()
        .filter(|line| !kiln_tree.contains(line) && !intended_difference(line))
        .collect();
    assert!(
        only_kiln.is_empty() && only_buildah.is_empty(),
        "{name}: kiln and buildah trees differ\nonly in kiln:\n  {}\nonly in buildah:\n  {}",
        only_kiln
            .iter()
            .map(|line| line.as_str())
            .collect::<Vec<_>>()
            .join("\n  "),
        only_buildah
            .iter()
            .map(|line| line.as_str())
            .collect::<Vec<_>>()
            .join("\n  ")
    );
    // The comparison saw the step's work (not two empty trees).
    assert!(
        kiln_tree.len() > 250,
        "{name}: only {} paths",
        kiln_tree.len()
    );
}
