//! Multi-stage builds and --target: only the stages the target needs run.

use crate::common::{build_image, kiln, project, s};

#[test]
fn target_builds_only_what_it_needs() {
    let kiln = kiln();
    // "broken" has a RUN, which kiln cannot run yet: building it would fail.
    let image = build_image(&kiln, &["--target", "app", s(&project("multistage"))]);
    assert_eq!(image.paths(), ["app-base.txt", "app.txt"]);
    assert_eq!(image.text("app-base.txt"), "base\n");
}

#[test]
fn target_base_stops_at_that_stage() {
    let kiln = kiln();
    let image = build_image(&kiln, &["--target", "base", s(&project("multistage"))]);
    assert_eq!(image.paths(), ["base.txt"]);
}

#[test]
fn default_target_is_the_last_stage_and_needs_the_run() {
    let kiln = kiln();
    let output = kiln.build_fails([s(&project("multistage"))]);
    assert!(
        output.stderr.contains("Dockerfile:7"),
        "the RUN of the needed stage is reported:\n{}",
        output.stderr
    );
}

#[test]
fn unknown_target_is_an_error() {
    let kiln = kiln();
    let output = kiln.build_fails(["--target", "nosuchstage", s(&project("multistage"))]);
    assert!(output.stderr.contains("nosuchstage"), "{}", output.stderr);
    assert!(kiln.tags().is_empty());
}
