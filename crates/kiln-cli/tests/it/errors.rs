//! Failing builds: clear messages with Dockerfile locations, exit code 1, no
//! panics, and nothing left at the output path or in the store's tags.

use kiln_testutil::Project;

use crate::common::{kiln, project, s};

/// A context with just this Dockerfile (and a file `present.txt`).
fn context(dockerfile: &str) -> Project {
    let project = Project::empty();
    project
        .write("present.txt", "here\n")
        .write("Dockerfile", dockerfile);
    project
}

#[test]
fn errors_name_the_line_and_the_problem() {
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            "RUN",
            "FROM scratch\nCOPY present.txt /\nRUN echo hi\n",
            &["Dockerfile:3", "RUN"],
        ),
        (
            "missing COPY source",
            "FROM scratch\n\nCOPY nothere.txt /x\n",
            &["Dockerfile:3", "nothere.txt"],
        ),
        (
            "unknown instruction",
            "FROM scratch\nFROBNICATE now\n",
            &["Dockerfile:2", "FROBNICATE"],
        ),
        (
            "bad flag",
            "FROM scratch\nCOPY --foo=1 present.txt /x\n",
            &["Dockerfile:2", "--foo"],
        ),
        (
            "missing base image",
            "FROM nosuchbase:7\nCOPY present.txt /x\n",
            &["Dockerfile:1", "nosuchbase"],
        ),
    ];
    for (name, dockerfile, needles) in cases {
        let kiln = kiln();
        let project = context(dockerfile);
        let output = kiln.build_fails([project.arg()]);
        for needle in needles {
            assert!(
                output
                    .stderr
                    .to_lowercase()
                    .contains(&needle.to_lowercase()),
                "{name}: no {needle:?} in:\n{}",
                output.stderr
            );
        }
        assert!(
            output.stderr.contains(">>>"),
            "{name}: the offending line is shown:\n{}",
            output.stderr
        );
    }
}

#[test]
fn foreign_platform_is_a_clear_error() {
    let kiln = kiln();
    let other = if std::env::consts::ARCH == "s390x" {
        "linux/amd64"
    } else {
        "linux/s390x"
    };
    let output = kiln.build_fails(["--platform", other, s(&project("users-base"))]);
    assert!(output.stderr.contains(other), "{}", output.stderr);
    assert!(kiln.tags().is_empty());
}

#[test]
fn failed_build_leaves_no_output_and_no_tag() {
    let kiln = kiln();
    kiln.build(["-t", "keep:1", s(&project("users-base"))]);
    let index_before = kiln.index_text();
    let project = context("FROM scratch\nCOPY present.txt /\nRUN false\n");
    for (kind, name) in [
        ("oci", "out.tar"),
        ("docker", "out-docker.tar"),
        ("oci-dir", "out-dir"),
    ] {
        let dest = kiln.path(name);
        kiln.build_fails([
            "-t",
            "broken:1",
            "-t",
            "keep:1",
            "-o",
            &format!("type={kind},dest={}", s(&dest)),
            project.arg(),
        ]);
        assert!(
            !dest.exists(),
            "{kind}: something was left at {}",
            dest.display()
        );
    }
    assert_eq!(
        kiln.index_text(),
        index_before,
        "the store's tags did not change"
    );
    assert_eq!(kiln.tags(), ["keep:1"]);
    let leftovers: Vec<_> = std::fs::read_dir(kiln.scratch())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert!(
        leftovers.is_empty(),
        "files left in the output directory: {leftovers:?}"
    );
}

#[test]
fn failing_export_leaves_nothing_behind() {
    let kiln = kiln();
    for (kind, name) in [
        ("oci", "missing/dir/out.tar"),
        ("oci-dir", "missing/dir/out"),
        ("docker", "missing/dir/d.tar"),
    ] {
        let dest = kiln.path(name);
        let output = kiln.build_fails([
            "-t",
            "never:1",
            "-o",
            &format!("type={kind},dest={}", s(&dest)),
            s(&project("users-base")),
        ]);
        assert!(
            output.stderr.contains("missing/dir"),
            "{kind}: {}",
            output.stderr
        );
        assert!(
            !kiln.path("missing").exists(),
            "{kind}: kiln created the missing directory"
        );
        assert!(
            kiln.tags().is_empty(),
            "{kind}: tagged despite the failed export: {:?}",
            kiln.tags()
        );
    }
}

#[test]
fn bad_output_spec_and_bad_build_arg_are_errors() {
    let kiln = kiln();
    let users_base = project("users-base");
    for args in [
        vec!["-o", "type=nosuchtype,dest=x"],
        vec!["-o", "type=oci"],
        vec!["--build-context", "no-equals-sign"],
        vec!["--label", "novalue"],
    ] {
        let mut full = args.clone();
        full.push(s(&users_base));
        let output = kiln.try_build(&full, None);
        assert!(!output.status.success(), "{args:?} succeeded");
        kiln_testutil::assert_no_panic(&output);
    }
    assert!(kiln.tags().is_empty());
}
