//! Crash safety: a build killed with SIGKILL at (at least) twenty moments spread over
//! its run leaves a store that fsck finds clean (garbage allowed, reported
//! as garbage), and the same build then succeeds with the digest of an
//! uninterrupted build.

use std::time::{Duration, Instant};

use crate::store_common::{
    assert_fsck_clean, build_command, copy_project, entries, finish, kiln, spawn,
};

/// Kill attempts; at least [`MIN_KILLS`] of them must hit a running build.
const KILLS: u32 = 24;
/// Kills that must land while the build runs.
const MIN_KILLS: u32 = 20;

#[test]
fn sigkill_at_twenty_moments_leaves_a_sound_store() {
    let project = copy_project(21, 4, 2, 400_000);

    // The reference: an uninterrupted build in a store of its own.
    let reference = kiln();
    let expected = finish(
        spawn(build_command(&reference, "crash:1", &project, &[])),
        "reference build",
    );
    // How long a build that redoes every step takes once the stat cache is warm.
    let started = Instant::now();
    let again = finish(
        spawn(build_command(
            &reference,
            "crash:1",
            &project,
            &["--no-cache"],
        )),
        "timed build",
    );
    let duration = started.elapsed();
    assert_eq!(again, expected);

    let kiln = kiln();
    let mut killed_running = 0;
    for point in 1..=KILLS {
        // --no-cache: every attempt does the whole build, so the kill
        // points spread over all of it.
        let mut child = spawn(build_command(&kiln, "crash:1", &project, &["--no-cache"]));
        // Spread over the first ~85% of the build: timing varies under load.
        std::thread::sleep(duration * point / (KILLS + 4));
        if child.try_wait().unwrap().is_none() {
            killed_running += 1;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert_fsck_clean(&kiln, &format!("after a kill at point {point}"));
    }
    eprintln!("build time {duration:?}; {killed_running} of {KILLS} kills hit a running build");
    assert!(
        killed_running >= MIN_KILLS,
        "only {killed_running} kills hit a running build (build time {duration:?})"
    );

    // The same build (with whatever cache the killed ones left) succeeds
    // and gives the uninterrupted digest.
    let rebuilt = finish(
        spawn(build_command(&kiln, "crash:1", &project, &[])),
        "build after the kills",
    );
    assert_eq!(rebuilt, expected);
    assert_eq!(
        kiln.manifest_digest("crash:1"),
        reference.manifest_digest("crash:1")
    );

    // prune removes the garbage the kills left.
    kiln.run(["prune", "--all", "-f"]).assert_success();
    let output = assert_fsck_clean(&kiln, "after prune");
    assert!(!output.stdout.contains("garbage:"), "{}", output.stdout);
    assert!(entries(&kiln, "ingest").is_empty() && entries(&kiln, "tmp").is_empty());
    // Keep the test honest about its speed budget.
    assert!(
        duration < Duration::from_secs(10),
        "build took {duration:?}"
    );
}
