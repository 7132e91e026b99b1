//! Unit tests of COPY semantics on a real (temporary) source tree.

use std::os::unix::fs::{symlink, PermissionsExt};

use kiln_layer::{EntryKind, FsIndex, LayerEntry};

use super::select::{select, Selected};
use super::{copy_entries, Chmod, CopySpec, Source};
use crate::context::{IgnoreMatcher, Snapshot};

fn tree() -> (tempfile::TempDir, Snapshot) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("src/sub")).unwrap();
    std::fs::write(root.join("a.txt"), "a").unwrap();
    std::fs::write(root.join("b.txt"), "bb").unwrap();
    std::fs::write(root.join("run.sh"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(root.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(root.join("src/main.c"), "int main;").unwrap();
    std::fs::write(root.join("src/sub/x.h"), "x").unwrap();
    symlink("main.c", root.join("src/link")).unwrap();
    symlink("a.txt", root.join("alias")).unwrap();
    std::fs::hard_link(root.join("src/main.c"), root.join("src/sub/main-link.c")).unwrap();
    let snapshot = Snapshot::walk(root, &IgnoreMatcher::default()).unwrap();
    (dir, snapshot)
}

fn spec(dest: &str) -> CopySpec<'static> {
    CopySpec {
        dest: dest.to_string(),
        owner: (0, 0),
        chmod: None,
        parents: false,
        exclude: None,
        clamp_mtime: None,
        created_mtime: 0,
        base: None,
    }
}

fn run(snapshot: &Snapshot, words: &[&str], spec: &CopySpec<'_>) -> Vec<LayerEntry> {
    let sources: Vec<Source<'_>> = words
        .iter()
        .flat_map(|word| select(snapshot, word).unwrap())
        .map(|selected| Source::Tree {
            tree: snapshot,
            selected,
            owners: None,
        })
        .collect();
    copy_entries(&sources, spec).unwrap().0
}

fn paths(entries: &[LayerEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|entry| {
            let suffix = match &entry.kind {
                EntryKind::Dir => "/".to_string(),
                EntryKind::Symlink { target } => format!(" -> {target}"),
                _ => String::new(),
            };
            format!("{}{suffix}", entry.path)
        })
        .collect()
}

#[test]
fn destination_rules() {
    let (_dir, snapshot) = tree();
    let cases: &[(&[&str], &str, &[&str])] = &[
        (&["a.txt"], "/dst/", &["dst/", "dst/a.txt"]),
        (&["a.txt"], "/dst", &["dst"]),
        (&["a.txt"], "/x/y/renamed", &["x/", "x/y/", "x/y/renamed"]),
        (&["a.txt", "b.txt"], "/d/", &["d/", "d/a.txt", "d/b.txt"]),
        (&["*.txt"], "/d/", &["d/", "d/a.txt", "d/b.txt"]),
        (
            &["src"],
            "/app",
            &[
                "app/",
                "app/link -> main.c",
                "app/main.c",
                "app/sub/",
                "app/sub/main-link.c",
                "app/sub/x.h",
            ],
        ),
        (
            &["src/s*"],
            "/app/",
            &["app/", "app/main-link.c", "app/x.h"],
        ),
        (&["alias"], "/f", &["f"]),
        (&["../../a.txt"], "/", &["a.txt"]),
    ];
    for (words, dest, expected) in cases {
        let entries = run(&snapshot, words, &spec(dest));
        assert_eq!(paths(&entries), *expected, "{words:?} -> {dest}");
    }
}

#[test]
fn a_named_symlink_is_followed_and_inner_ones_kept() {
    let (_dir, snapshot) = tree();
    let entries = run(&snapshot, &["alias"], &spec("/f"));
    assert!(matches!(&entries[0].kind, EntryKind::File { size: 1, .. }));
    let entries = run(&snapshot, &["src"], &spec("/app/"));
    let link = entries
        .iter()
        .find(|entry| entry.path == "app/link")
        .unwrap();
    assert_eq!(
        link.kind,
        EntryKind::Symlink {
            target: "main.c".into()
        }
    );
}

#[test]
fn hardlinks_inside_a_copy_stay_links() {
    let (_dir, snapshot) = tree();
    let entries = run(&snapshot, &["src"], &spec("/app/"));
    let link = entries
        .iter()
        .find(|entry| entry.path == "app/sub/main-link.c")
        .unwrap();
    assert_eq!(
        link.kind,
        EntryKind::Hardlink {
            target: "app/main.c".into()
        }
    );
    // Copied alone, the second name is an ordinary file.
    let entries = run(&snapshot, &["src/sub/main-link.c"], &spec("/x"));
    assert!(matches!(entries[0].kind, EntryKind::File { .. }));
}

#[test]
fn owner_mode_and_times() {
    let (_dir, snapshot) = tree();
    let mut spec = spec("/bin/");
    spec.owner = (1000, 50);
    spec.chmod = Some(Chmod::parse("go-rwx").unwrap());
    spec.clamp_mtime = Some(100);
    spec.created_mtime = 100;
    let entries = run(&snapshot, &["run.sh"], &spec);
    for entry in &entries {
        assert_eq!((entry.uid, entry.gid), (1000, 50), "{}", entry.path);
        assert!(entry.mtime <= 100);
    }
    let file = entries
        .iter()
        .find(|entry| entry.path == "bin/run.sh")
        .unwrap();
    assert_eq!(file.mode, 0o700);
}

#[test]
fn exclude_and_parents() {
    let (_dir, snapshot) = tree();
    let mut with_exclude = spec("/d/");
    with_exclude.exclude =
        Some(IgnoreMatcher::new(&["*.txt".to_string(), "**/sub".to_string()]).unwrap());
    let entries = run(&snapshot, &["."], &with_exclude);
    assert_eq!(
        paths(&entries),
        vec![
            "d/",
            "d/alias -> a.txt",
            "d/run.sh",
            "d/src/",
            "d/src/link -> main.c",
            "d/src/main.c"
        ]
    );
    let mut parents = spec("/out/");
    parents.parents = true;
    let entries = run(&snapshot, &["src/sub/x.h", "a.txt"], &parents);
    assert_eq!(
        paths(&entries),
        vec![
            "out/",
            "out/a.txt",
            "out/src/",
            "out/src/sub/",
            "out/src/sub/x.h"
        ]
    );
}

#[test]
fn existing_directories_and_symlinks_in_the_base() {
    let (_dir, snapshot) = tree();
    let mut base = FsIndex::new();
    let layer = {
        let entries = vec![
            LayerEntry::dir("var", 0o755, 0),
            LayerEntry::dir("run", 0o755, 0),
            LayerEntry::symlink("var/run", "/run", 0),
            LayerEntry::dir("app", 0o700, 0),
        ];
        let options = kiln_layer::LayerOptions {
            compression: kiln_layer::Compression::None,
            ..Default::default()
        };
        kiln_layer::write_layer(entries, Vec::new(), &options)
            .unwrap()
            .1
    };
    base.apply_layer(layer.as_slice(), &|_| false).unwrap();
    let mut spec = spec("/var/run/");
    spec.base = Some(&base);
    let entries = run(&snapshot, &["a.txt"], &spec);
    assert_eq!(paths(&entries), vec!["run/a.txt"]);
    // An existing directory as destination without a trailing slash.
    let mut spec_app = self::spec("/app");
    spec_app.base = Some(&base);
    let entries = run(&snapshot, &["a.txt"], &spec_app);
    assert_eq!(paths(&entries), vec!["app/a.txt"]);
}

#[test]
fn heredoc_sources() {
    let sources = vec![Source::Inline {
        name: "hello".into(),
        content: b"hi\n".to_vec(),
    }];
    let (entries, _) = copy_entries(&sources, &spec("/etc/")).unwrap();
    assert_eq!(paths(&entries), vec!["etc/", "etc/hello"]);
    assert_eq!(entries[1].mode, 0o644);
}

#[test]
fn missing_sources_and_no_matches_are_errors() {
    let (_dir, snapshot) = tree();
    assert!(select(&snapshot, "nope").unwrap_err().contains("not found"));
    assert!(select(&snapshot, "*.zip")
        .unwrap_err()
        .contains("no files match"));
    assert_eq!(
        select(&snapshot, "./src/./sub/x.h").unwrap(),
        vec![Selected {
            path: "src/sub/x.h".into(),
            named: "sub/x.h".into()
        }]
    );
}
