//! Helpers shared by the integration tests: the binary, fixture paths and
//! small build shortcuts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use kiln_testutil::{run_ok, workspace_root, Kiln, OciImage};

/// A `kiln` with a fresh temporary store.
pub fn kiln() -> Kiln {
    Kiln::new(env!("CARGO_BIN_EXE_kiln"))
}

/// `testdata/examples/NAME` (read-only: the lead's examples).
pub fn example(name: &str) -> PathBuf {
    workspace_root().join("testdata/examples").join(name)
}

/// `testdata/projects/NAME`, for builds that do not change the context.
pub fn project(name: &str) -> PathBuf {
    workspace_root().join("testdata/projects").join(name)
}

/// A path as `&str` for argument lists.
pub fn s(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// Builds `args` (ending with the context) into a fresh oci-dir in the
/// scratch directory and reads the image back.
pub fn build_image(kiln: &Kiln, args: &[&str]) -> OciImage {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dest = kiln.path(&format!("image-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
    let output = format!("type=oci-dir,dest={}", s(&dest));
    let mut full = vec!["-o", output.as_str()];
    full.extend_from_slice(args);
    let built = kiln.build(full);
    let image = OciImage::from_dir(&dest);
    assert_eq!(
        image.config_digest, built.image_id,
        "the printed image ID is the config digest"
    );
    image
}

/// Builds `testdata/projects/users-base` as `users:1` (a base image with
/// /etc/passwd and /etc/group) into the store.
pub fn build_users_base(kiln: &Kiln) {
    kiln.build(["-t", "users:1", s(&project("users-base"))]);
}

/// Extracts a tar with GNU tar into a new directory under the scratch dir.
pub fn untar(kiln: &Kiln, archive: &Path, name: &str) -> PathBuf {
    let dest = kiln.path(name);
    std::fs::create_dir_all(&dest).expect("mkdir");
    run_ok(
        Command::new("tar")
            .arg("-xf")
            .arg(archive)
            .arg("-C")
            .arg(&dest),
    );
    dest
}

/// Parses JSON printed by a tool.
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}
