//! The cache around the keys: the stat cache (a changed stat re-hashes, the
//! same bytes still hit), `--no-cache`, `--no-cache-filter`, `--explain`,
//! `CACHED` in plain progress, and a no-op rebuild of a two-stage project
//! that writes no new blob and (with SOURCE_DATE_EPOCH) the same image.

use std::time::Duration;

use kiln_testutil::Project;

use crate::cache_common::{
    assert_steps, blob_files, build_json, busybox_kiln, set_mtime, shift_mtime, Expect,
    Expect::Hit, Expect::Miss, FIRST_BUILD,
};
use crate::common::{kiln, s};

/// Two stages: lib (COPY, WORKDIR that creates /work, COPY) and the final
/// one (COPY --from=lib, COPY, LABEL).
const STAGES: &str = "cache-stages";

/// The layer steps of [`STAGES`], all hits.
const STAGES_ALL_HIT: &[Expect] = &[Hit, Hit, Hit, Hit, Hit];

#[test]
fn the_stat_cache_rehashes_a_changed_stat() {
    let kiln = kiln();
    let project = Project::copy("cache-copy");
    project.write("Dockerfile", "FROM scratch\nCOPY a.txt /a.txt\n");
    let path = project.join("a.txt");
    build_json(&kiln, project.path(), &[], &[]);
    assert!(
        kiln.store().join("cache/v1/stat.bin").is_file(),
        "the build wrote no stat cache"
    );

    // A new mtime (and ctime), the same bytes: re-hashed, and a hit.
    shift_mtime(&path, Duration::from_secs(60));
    let output = build_json(&kiln, project.path(), &[], &[]);
    assert_steps(&output, &[Hit], "touched");

    // Rewritten with the same bytes (new inode data, ctime and mtime): a hit.
    std::fs::write(&path, "alpha\n").unwrap();
    let output = build_json(&kiln, project.path(), &[], &[]);
    assert_steps(&output, &[Hit], "rewritten with the same bytes");

    // Same size, different bytes, the old mtime restored: only the ctime
    // tells, and the step must miss.
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::fs::write(&path, "ALPHA\n").unwrap();
    set_mtime(&path, mtime);
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);
    let output = build_json(&kiln, project.path(), &[], &[]);
    assert_steps(
        &output,
        &[Miss("file a.txt changed (content)")],
        "same size and mtime, new bytes",
    );
    // And back to the first bytes: the first record hits again.
    std::fs::write(&path, "alpha\n").unwrap();
    set_mtime(&path, mtime);
    let output = build_json(&kiln, project.path(), &[], &[]);
    assert_steps(&output, &[Hit], "back to the first bytes");
}

#[test]
fn no_cache_misses_every_layer_step_and_still_records() {
    let kiln = kiln();
    let project = Project::copy(STAGES);
    build_json(&kiln, project.path(), &[], &[]);
    let output = build_json(&kiln, project.path(), &["--no-cache"], &[]);
    let disabled = Miss("the cache is disabled for this stage (--no-cache)");
    assert_steps(&output, &[disabled; 5], "--no-cache");
    let output = build_json(&kiln, project.path(), &[], &[]);
    assert_steps(&output, STAGES_ALL_HIT, "after --no-cache");
}

#[test]
fn no_cache_filter_misses_only_the_named_stages() {
    let disabled = Miss("--no-cache");
    let table: &[(&str, &[Expect])] = &[
        // The lib stage rebuilds to the same layers, so the final stage's
        // COPY --from (keyed by the lib filesystem) still hits.
        ("lib", &[disabled, disabled, disabled, Hit, Hit]),
        ("0", &[disabled, disabled, disabled, Hit, Hit]),
        ("1", &[Hit, Hit, Hit, disabled, disabled]),
        ("LIB,1", &[disabled; 5]),
        ("nosuchstage", STAGES_ALL_HIT),
    ];
    let kiln = kiln();
    let project = Project::copy(STAGES);
    build_json(&kiln, project.path(), &[], &[]);
    for (filter, expected) in table {
        let output = build_json(&kiln, project.path(), &["--no-cache-filter", filter], &[]);
        assert_steps(&output, expected, &format!("--no-cache-filter {filter}"));
    }
}

#[test]
fn explain_says_which_file_and_which_variable_changed() {
    let Some(kiln) = busybox_kiln() else { return };
    let project = Project::copy("cache-copy");
    project.write(
        "Dockerfile",
        "FROM busybox:test\nENV MODE=debug\nCOPY b.txt /b.txt\nCOPY dir /dir\nRUN echo $MODE > /mode\n",
    );
    let args = ["--isolation", "builtin", "--explain"];
    let first = build_json(&kiln, project.path(), &args, &[]);
    assert!(
        first
            .stderr
            .contains("explain: 3 step(s) missed the cache:")
            && first.stderr.contains(FIRST_BUILD),
        "{}",
        first.stderr
    );
    let again = build_json(&kiln, project.path(), &args, &[]);
    assert!(
        again
            .stderr
            .contains("explain: every cacheable step came from the cache"),
        "{}",
        again.stderr
    );
    project.write(
        "Dockerfile",
        "FROM busybox:test\nENV MODE=release\nCOPY b.txt /b.txt\nCOPY dir /dir\nRUN echo $MODE > /mode\n",
    );
    project.write("dir/sub/two.txt", "TWO, longer\n");
    project.write("dir/sub/three.txt", "three\n");
    let output = build_json(&kiln, project.path(), &args, &[]);
    let explained = output
        .stderr
        .split_once("explain: 2 step(s) missed the cache:")
        .unwrap_or_else(|| panic!("no explanation of 2 misses:\n{}", output.stderr))
        .1;
    for needle in [
        "COPY dir /dir",
        "file dir/sub/two.txt changed (content)",
        "file dir/sub/three.txt was added",
        "RUN echo $MODE > /mode",
        "environment variable MODE changed from \"debug\" to \"release\"",
    ] {
        assert!(explained.contains(needle), "no {needle:?} in:\n{explained}");
    }
    assert!(
        !explained.contains("COPY b.txt"),
        "a step that hit is explained:\n{explained}"
    );
}

#[test]
fn a_noop_rebuild_writes_no_blob_and_the_same_image() {
    let kiln = kiln();
    let project = Project::copy(STAGES);
    let epoch = [("SOURCE_DATE_EPOCH", "1700000000")];
    let first = build_json(&kiln, project.path(), &["-t", "stages:1"], &epoch);
    let blobs = blob_files(&kiln);
    let manifest = kiln.manifest_digest("stages:1").expect("tagged");
    // Touching every context file changes no key.
    for name in ["lib.txt", "app.txt", "Dockerfile"] {
        shift_mtime(&project.join(name), Duration::from_secs(5));
    }
    let second = build_json(&kiln, project.path(), &["-t", "stages:1"], &epoch);
    assert_steps(&second, STAGES_ALL_HIT, "no-op rebuild");
    assert_eq!(
        blob_files(&kiln),
        blobs,
        "a no-op rebuild wrote new blobs into the store"
    );
    assert_eq!(
        second.last_stderr_line(),
        first.last_stderr_line(),
        "the image ID changed"
    );
    assert_eq!(kiln.manifest_digest("stages:1"), Some(manifest));

    // Plain progress marks every hit CACHED, as BuildKit does.
    let plain = kiln_testutil::run(
        kiln.cmd()
            .args(["build", "--progress", "plain", "--pull", "never"])
            .args(["-t", "stages:1", s(project.path())])
            .env(epoch[0].0, epoch[0].1),
    );
    plain.assert_success();
    let cached = plain
        .stderr
        .lines()
        .filter(|line| line.starts_with('#') && line.ends_with(" CACHED"))
        .count();
    assert_eq!(cached, 5, "{}", plain.stderr);
}

#[test]
fn only_the_changed_stage_rebuilds() {
    let kiln = kiln();
    let project = Project::copy(STAGES);
    build_json(&kiln, project.path(), &[], &[]);
    project.write("app.txt", "the app, changed\n");
    let output = build_json(&kiln, project.path(), &[], &[]);
    assert_steps(
        &output,
        &[Hit, Hit, Hit, Hit, Miss("file app.txt changed (content)")],
        "app.txt changed",
    );
    project.write("lib.txt", "the lib, changed\n");
    let output = build_json(&kiln, project.path(), &[], &[]);
    assert_steps(
        &output,
        &[
            Miss("file lib.txt changed (content)"),
            Miss("earlier step"),
            Miss("file lib.txt changed (content); an earlier step changed too"),
            Miss("the --from source changed"),
            Miss("an earlier step of this stage (or its base image) changed"),
        ],
        "lib.txt changed",
    );
}
