//! The build context: .dockerignore (and the Dockerfile-specific one),
//! Dockerfiles outside the context or on stdin, and a context left unchanged.

use kiln_testutil::{tree_listing, Project};

use crate::common::{build_image, kiln, project, s};

#[test]
fn dockerignore_patterns_and_exceptions() {
    let kiln = kiln();
    let image = build_image(&kiln, &[s(&project("dockerignore"))]);
    let files: Vec<String> = image
        .paths()
        .into_iter()
        .filter(|path| {
            image
                .file(path)
                .is_some_and(|file| file.entry.kind == kiln_testutil::EntryKind::File)
        })
        .collect();
    // .dockerignore and the Dockerfile are sent like any file (BuildKit does too).
    assert_eq!(
        files,
        [
            "ctx/.dockerignore",
            "ctx/Dockerfile",
            "ctx/README.md",
            "ctx/src/deep/keep.tmp",
            "ctx/src/main.rs"
        ]
    );
    assert!(
        image.file("ctx/docs").is_none(),
        "an ignored directory is left out entirely"
    );
}

#[test]
fn dockerfile_specific_ignore_file_takes_precedence() {
    let kiln = kiln();
    let dir = project("dockerignore-specific");
    let image = build_image(&kiln, &["-f", s(&dir.join("build.Dockerfile")), s(&dir)]);
    assert!(
        image.file("ctx/a.txt").is_none(),
        "build.Dockerfile.dockerignore excludes a.txt"
    );
    assert_eq!(
        image.text("ctx/b.txt"),
        "b\n",
        ".dockerignore (which excludes b.txt) is not used"
    );
}

#[test]
fn dockerfile_outside_the_context() {
    let kiln = kiln();
    let context = Project::empty();
    context.write("data.txt", "data\n");
    let dockerfiles = Project::empty();
    dockerfiles.write("Containerfile", "FROM scratch\nCOPY data.txt /data.txt\n");
    let image = build_image(
        &kiln,
        &["-f", s(&dockerfiles.join("Containerfile")), context.arg()],
    );
    assert_eq!(image.text("data.txt"), "data\n");
}

#[test]
fn dockerfile_from_stdin_reads_the_context() {
    let kiln = kiln();
    let context = Project::empty();
    context.write("data.txt", "data\n");
    let dest = kiln.path("out");
    kiln.build_stdin(
        [
            "-f",
            "-",
            "-o",
            &format!("type=oci-dir,dest={}", s(&dest)),
            context.arg(),
        ],
        b"FROM scratch\nCOPY data.txt /from-stdin.txt\n",
    );
    assert_eq!(
        kiln_testutil::OciImage::from_dir(&dest).text("from-stdin.txt"),
        "data\n"
    );
}

#[test]
fn build_leaves_the_context_unchanged() {
    let kiln = kiln();
    let context = Project::copy("copy-flags");
    kiln.build(["-t", "users:1", s(&project("users-base"))]);
    let before = tree_listing(context.path());
    kiln.build(["-t", "flags:1", context.arg()]);
    kiln.build(["-t", "flags:2", context.arg()]);
    assert_eq!(tree_listing(context.path()), before);
}
