//! ADD: local archives (gzip, xz, bzip2, plain tar; made here with GNU tar)
//! are extracted; other files are copied; URLs are refused for now.

use std::process::Command;

use kiln_testutil::{require_tool, run_ok, EntryKind, Project};

use crate::common::{build_image, kiln};

fn archive_context() -> Project {
    let context = Project::empty();
    context
        .write("tree/a.txt", "a\n")
        .write("tree/sub/b.txt", "b\n")
        .write("plain.txt", "plain\n");
    for (name, flag) in [
        ("pkg.tar.gz", "-z"),
        ("pkg.tar.xz", "-J"),
        ("pkg.tar.bz2", "-j"),
        ("pkg.tar", ""),
    ] {
        let mut tar = Command::new("tar");
        tar.arg("-c")
            .arg("--owner=0")
            .arg("--group=0")
            .arg("--numeric-owner");
        if !flag.is_empty() {
            tar.arg(flag);
        }
        run_ok(
            tar.arg("-f")
                .arg(context.join(name))
                .arg("-C")
                .arg(context.join("tree"))
                .arg("."),
        );
    }
    context
}

#[test]
fn add_extracts_local_archives() {
    require_tool!("tar", "xz", "bzip2", "gzip");
    let kiln = kiln();
    let context = archive_context();
    context.write(
        "Dockerfile",
        "FROM scratch\nADD pkg.tar.gz /gz/\nADD pkg.tar.xz /xz/\nADD pkg.tar.bz2 /bz2/\nADD pkg.tar /tar/\nADD plain.txt /plain/\n",
    );
    let image = build_image(&kiln, &[context.arg()]);
    for dir in ["gz", "xz", "bz2", "tar"] {
        assert_eq!(image.text(&format!("{dir}/a.txt")), "a\n", "{dir}");
        assert_eq!(image.text(&format!("{dir}/sub/b.txt")), "b\n", "{dir}");
        assert!(
            image.file(&format!("{dir}/pkg.tar")).is_none(),
            "{dir}: the archive itself is not copied"
        );
    }
    let plain = image.file("plain/plain.txt").expect("plain.txt copied");
    assert_eq!(
        (plain.entry.kind, plain.content.as_slice()),
        (EntryKind::File, &b"plain\n"[..])
    );
}

/// A context with `bundle.tgz` (made with the tar and flate2 crates, no GNU
/// tar): `inner/file.txt`, mode 0640, owned 7:8.
fn in_process_archive_context() -> Project {
    let context = Project::empty();
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(6);
    header.set_mode(0o640);
    header.set_uid(7);
    header.set_gid(8);
    header.set_mtime(1_600_000_000);
    builder
        .append_data(&mut header, "inner/file.txt", &b"inside"[..])
        .unwrap();
    let tar_bytes = builder.into_inner().unwrap();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, &tar_bytes).unwrap();
    context.write("bundle.tgz", encoder.finish().unwrap());
    context.write("Dockerfile", "FROM scratch\nADD bundle.tgz /opt/\n");
    context
}

#[test]
fn add_of_a_tar_built_in_process_keeps_modes() {
    let kiln = kiln();
    let image = build_image(&kiln, &[in_process_archive_context().arg()]);
    let file = image.file("opt/inner/file.txt").expect("extracted");
    assert_eq!(file.content, b"inside");
    assert_eq!(file.entry.mode, 0o640, "{}", file.entry);
    assert!(image.file("opt/bundle.tgz").is_none());
}

#[test]
fn add_of_a_tar_keeps_the_archive_owners() {
    // BuildKit (solver/llbsolver/file, applyRootOwner) keeps the tar header's
    // uid/gid when extracting without --chown.
    let kiln = kiln();
    let image = build_image(&kiln, &[in_process_archive_context().arg()]);
    let file = image.file("opt/inner/file.txt").expect("extracted");
    assert_eq!((file.entry.uid, file.entry.gid), (7, 8), "{}", file.entry);
}

#[test]
fn add_of_a_url_is_a_clear_error() {
    let kiln = kiln();
    let context = Project::empty();
    context.write(
        "Dockerfile",
        "FROM scratch\nADD https://example.com/file.txt /file.txt\n",
    );
    let output = kiln.build_fails([context.arg()]);
    assert!(output.stderr.contains("Dockerfile:2"), "{}", output.stderr);
    assert!(
        output.stderr.contains("https://example.com/file.txt")
            || output.stderr.to_lowercase().contains("url"),
        "{}",
        output.stderr
    );
}
