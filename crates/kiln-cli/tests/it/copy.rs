//! COPY from the build context: destinations, wildcards, symlinks, and the
//! --chown/--chmod/--exclude/--parents/--link flags, read from the layers.

use kiln_testutil::{EntryKind, OciImage, Project};

use crate::common::{build_image, build_users_base, kiln, project, s};

/// The entries of layer `index` as `TarEntry` display lines.
fn layer_lines(image: &OciImage, index: usize) -> Vec<String> {
    image.layers[index]
        .files
        .iter()
        .map(|file| file.entry.to_string())
        .collect()
}

#[test]
fn copy_destinations_and_sources() {
    let kiln = kiln();
    let image = build_image(&kiln, &[s(&project("copy-basic"))]);
    assert_eq!(
        image.layers.len(),
        8,
        "one layer per COPY and one for WORKDIR"
    );
    let paths = |index: usize| -> Vec<String> {
        image.layers[index]
            .files
            .iter()
            .map(|file| file.entry.path.clone())
            .collect()
    };
    let cases: [(&str, usize, &[&str]); 8] = [
        ("file into dir/", 0, &["dest", "dest/a.txt"]),
        ("file to a new name", 1, &["renamed.txt"]),
        (
            "directory contents",
            2,
            &["tree", "tree/sub", "tree/sub/y.txt", "tree/x.txt"],
        ),
        ("wildcard", 3, &["logs", "logs/one.log", "logs/two.log"]),
        (
            "several sources",
            4,
            &["multi", "multi/a.txt", "multi/b.txt"],
        ),
        ("WORKDIR creates the dir", 5, &["work"]),
        ("relative to WORKDIR", 6, &["work/rel", "work/rel/a.txt"]),
        (
            "implicit parents",
            7,
            &["deep", "deep/er", "deep/er/path", "deep/er/path/b.txt"],
        ),
    ];
    for (name, index, expected) in cases {
        let mut actual = paths(index);
        actual.retain(|path| path != "work" || index == 5);
        assert_eq!(actual, expected, "{name}");
    }
    assert_eq!(image.text("dest/a.txt"), "alpha\n");
    assert_eq!(image.text("renamed.txt"), "beta\n");
    assert_eq!(image.text("tree/sub/y.txt"), "y\n");
    assert_eq!(image.text("work/rel/a.txt"), "alpha\n");
    for layer in &image.layers {
        for file in &layer.files {
            let expected_mode = if file.entry.kind == EntryKind::Dir {
                0o755
            } else {
                0o644
            };
            assert_eq!(
                (file.entry.uid, file.entry.gid, file.entry.mode),
                (0, 0, expected_mode),
                "{}",
                file.entry
            );
        }
    }
}

#[test]
fn symlink_source_is_followed_and_links_inside_dirs_are_kept() {
    let kiln = kiln();
    let context = Project::empty();
    context
        .write("real.txt", "target\n")
        .symlink("link.txt", "real.txt")
        .write("d/inner/f", "inner\n")
        .symlink("d/rel", "inner/f")
        .symlink("d/abs", "/etc/passwd")
        .write(
            "Dockerfile",
            "FROM scratch\nCOPY link.txt /followed.txt\nCOPY d /d/\n",
        );
    let image = build_image(&kiln, &[context.arg()]);
    let followed = image.file("followed.txt").expect("followed.txt");
    assert_eq!(followed.entry.kind, EntryKind::File);
    assert_eq!(followed.content, b"target\n");
    assert_eq!(
        layer_lines(&image, 1),
        [
            "d 0755 0:0 d",
            "l 0777 0:0 d/abs -> /etc/passwd",
            "d 0755 0:0 d/inner",
            "- 0644 0:0 d/inner/f (6 bytes)",
            "l 0777 0:0 d/rel -> inner/f"
        ]
    );
}

#[test]
fn copy_flags_owner_mode_exclude_parents_link() {
    let kiln = kiln();
    build_users_base(&kiln);
    let image = build_image(&kiln, &[s(&project("copy-flags"))]);
    assert_eq!(image.layers.len(), 9, "users-base layer + 8 COPY layers");
    let expected: [(&str, &[&str]); 8] = [
        (
            "--chown numeric",
            &["- 0644 1000:1001 numeric.txt (6 bytes)"],
        ),
        ("--chown by name", &["- 0644 1234:2345 named.txt (6 bytes)"]),
        (
            "--chown user only",
            &["- 0644 1234:2345 useronly.txt (6 bytes)"],
        ),
        ("--chmod octal", &["- 0600 0:0 octal.txt (6 bytes)"]),
        ("--chmod symbolic", &["- 0750 0:0 symbolic.txt (6 bytes)"]),
        (
            "--exclude",
            &[
                "d 0755 0:0 excluded",
                "- 0644 0:0 excluded/keep.txt (5 bytes)",
                "d 0755 0:0 excluded/sub",
                "- 0644 0:0 excluded/sub/inner.txt (6 bytes)",
            ],
        ),
        (
            "--parents",
            &[
                "d 0755 0:0 parents",
                "d 0755 0:0 parents/src",
                "d 0755 0:0 parents/src/lib",
                "- 0644 0:0 parents/src/lib/mod.rs (2 bytes)",
                "- 0644 0:0 parents/src/main.rs (2 bytes)",
            ],
        ),
        (
            "--link",
            &["d 0755 0:0 linked", "- 0644 0:0 linked/hello.txt (6 bytes)"],
        ),
    ];
    for (index, (name, lines)) in expected.iter().enumerate() {
        assert_eq!(layer_lines(&image, index + 1), *lines, "{name}");
    }
}

#[test]
fn chown_by_unknown_name_is_an_error() {
    let kiln = kiln();
    build_users_base(&kiln);
    let context = Project::empty();
    context.write("f", "x").write(
        "Dockerfile",
        "FROM users:1\nCOPY --chown=nobody-here f /f\n",
    );
    let output = kiln.build_fails([context.arg()]);
    assert!(output.stderr.contains("Dockerfile:2"), "{}", output.stderr);
    assert!(output.stderr.contains("nobody-here"), "{}", output.stderr);
}

#[test]
fn heredoc_copy_writes_the_body() {
    let kiln = kiln();
    let context = Project::empty();
    context.write(
        "Dockerfile",
        "FROM scratch\nCOPY <<EOF /etc/motd\nhello ${NAME:-there}\nEOF\n",
    );
    let image = build_image(&kiln, &[context.arg()]);
    assert_eq!(image.text("etc/motd"), "hello there\n");
    assert_eq!(image.file("etc/motd").unwrap().entry.mode, 0o644);
}

#[test]
fn chown_applies_to_created_parent_directories() {
    let kiln = kiln();
    let context = Project::empty();
    context.write("a.txt", "a\n").write(
        "Dockerfile",
        "FROM scratch\nCOPY --chown=1000:1000 a.txt /newdir/sub/\n",
    );
    let image = build_image(&kiln, &[context.arg()]);
    assert_eq!(
        layer_lines(&image, 0),
        [
            "d 0755 1000:1000 newdir",
            "d 0755 1000:1000 newdir/sub",
            "- 0644 1000:1000 newdir/sub/a.txt (2 bytes)"
        ]
    );
}

#[test]
fn copy_into_an_existing_directory_without_slash() {
    let kiln = kiln();
    let context = Project::empty();
    context
        .write("a.txt", "a\n")
        .write("Dockerfile", "FROM scratch\nWORKDIR /d\nCOPY a.txt /d\n");
    let image = build_image(&kiln, &[context.arg()]);
    assert_eq!(image.text("d/a.txt"), "a\n");
}
