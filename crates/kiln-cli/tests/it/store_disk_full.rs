//! A full disk: a build into a store on a 2 MiB tmpfs with a 3 MB context
//! fails with "no space left on device" naming the file it was writing,
//! exits 1, and leaves a consistent store (fsck clean, ingest/ empty).
//! Needs root for the mount: skipped with a message otherwise, and failed
//! when KILN_TEST_REQUIRE_TOOLS=1.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use kiln_testutil::{run_ok, tools_required};

use crate::store_common::{assert_fsck_clean, build_command, copy_project, entries, kiln};

/// Unmounts the tmpfs when dropped.
struct Mounted(PathBuf);

impl Mounted {
    fn tmpfs(path: &Path, size: &str) -> Mounted {
        run_ok(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(path),
        );
        Mounted(path.to_path_buf())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Whether this process may mount a tmpfs; prints why not when skipping.
fn can_mount() -> bool {
    let is_root = std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0);
    if !is_root {
        assert!(
            !tools_required(),
            "the disk-full test needs root (for a tmpfs) and KILN_TEST_REQUIRE_TOOLS=1 requires it"
        );
        eprintln!("skipping the disk-full test: it needs root to mount a tmpfs");
    }
    is_root
}

/// Builds a 3 MB context into a store on a 2 MiB tmpfs, then runs `check`
/// on the kiln (store still mounted) and the build's output.
fn build_into_full_disk(check: impl FnOnce(&kiln_testutil::Kiln, &kiln_testutil::Output)) {
    let kiln = kiln();
    let _mounted = Mounted::tmpfs(kiln.store(), "2m");
    let project = copy_project(31, 1, 3, 1_000_000);
    let output = kiln_testutil::run(&mut build_command(&kiln, "full:1", &project, &[]));
    check(&kiln, &output);
}

#[test]
fn a_full_disk_fails_cleanly_and_keeps_the_store_consistent() {
    if !can_mount() {
        return;
    }
    build_into_full_disk(|kiln, output| {
        assert_eq!(output.code(), Some(1), "{}", output.streams());
        kiln_testutil::assert_no_panic(output);
        assert!(
            output.stderr.lines().any(|line| line.starts_with("error:")),
            "no error line:\n{}",
            output.streams()
        );
        assert!(
            entries(kiln, "ingest").is_empty(),
            "{:?}",
            entries(kiln, "ingest")
        );
        let fsck = assert_fsck_clean(kiln, "after the disk filled up");
        assert!(!fsck.stdout.contains("garbage:"), "{}", fsck.stdout);
        assert_eq!(kiln.manifest_digest("full:1"), None);
    });
}

#[test]
fn a_full_disk_error_says_no_space_and_names_the_file() {
    if !can_mount() {
        return;
    }
    build_into_full_disk(|kiln, output| {
        let error = output
            .stderr
            .lines()
            .find(|line| line.starts_with("error:"))
            .unwrap_or_else(|| panic!("no error line:\n{}", output.streams()));
        assert!(
            error.contains("No space left on device"),
            "the error says what failed: {error}"
        );
        let store = kiln.store().to_string_lossy().into_owned();
        assert!(
            error.contains(&format!("{store}/ingest/")),
            "the error names the file being written: {error}"
        );
    });
}
