//! Tests of `FsIndex`: whiteouts, opaque dirs, capture, symlink resolution, replacement.

use super::*;
use crate::testtar::TarBuilder;

fn capture_passwd(path: &str) -> bool {
    path == "etc/passwd" || path == "etc/group"
}

fn index_of(layers: &[Vec<u8>]) -> FsIndex {
    let mut index = FsIndex::new();
    for layer in layers {
        index
            .apply_layer(layer.as_slice(), &capture_passwd)
            .unwrap();
    }
    index
}

#[test]
fn layers_stack_with_whiteouts_and_opaque_dirs() {
    let lower = TarBuilder::new()
        .dir("./etc/", 0o755)
        .file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
        .file("etc/group", b"root:x:0:\n")
        .dir("opt", 0o755)
        .file("opt/old", b"o")
        .dir("opt/sub", 0o700)
        .file("opt/sub/deep", b"d")
        .dir("tree", 0o755)
        .file("tree/leaf", b"l")
        .finish();
    let upper = TarBuilder::new()
        .file("etc/.wh.group", b"")
        .file("/etc/passwd", b"root:x:0:0::/root:/bin/bash\n")
        .dir("opt/sub", 0o755)
        .file("opt/sub/new", b"n")
        .file("opt/.wh..wh..opq", b"")
        .file(".wh.tree", b"")
        .finish();
    let index = index_of(&[lower, upper]);
    assert_eq!(index.children(""), ["etc", "opt"]);
    assert_eq!(index.children("etc"), ["passwd"]);
    assert_eq!(index.children("opt"), ["sub"]);
    assert_eq!(
        index.children("opt/sub"),
        ["new"],
        "lower children of a redeclared dir are hidden"
    );
    assert_eq!(index.get("opt/sub").unwrap().mode, 0o755);
    assert_eq!(
        index.captured("etc/passwd"),
        Some(&b"root:x:0:0::/root:/bin/bash\n"[..])
    );
    assert_eq!(
        index.captured("etc/group"),
        None,
        "whiteout drops the capture"
    );
    assert!(index.get("tree").is_none() && index.get("tree/leaf").is_none());
    let passwd = index.get("etc/passwd").unwrap();
    assert_eq!(passwd.kind, IndexKind::File { size: 28 });
    assert_eq!(
        (passwd.uid, passwd.gid, passwd.mtime),
        (1000, 1000, 1_000_000)
    );
    assert_eq!(index.get("").unwrap().kind, IndexKind::Dir);
}

#[test]
fn resolve_follows_symlinks_chroot_style() {
    let layer = TarBuilder::new()
        .dir("usr/bin", 0o755)
        .file("usr/bin/busybox", b"bb")
        .symlink("bin", "usr/bin")
        .symlink("usr/bin/sh", "/bin/busybox")
        .symlink("usr/bin/up", "../../../../usr")
        .symlink("loop", "loop")
        .symlink("dangling", "/nowhere")
        .hardlink("usr/bin/bb2", "usr/bin/busybox")
        .finish();
    let index = index_of(&[layer]);
    let cases: [(&str, Option<&str>); 7] = [
        ("bin/sh", Some("usr/bin/busybox")),
        ("/bin/sh", Some("usr/bin/busybox")),
        ("usr/bin/up/bin/busybox", Some("usr/bin/busybox")),
        ("bin", Some("usr/bin")),
        ("loop", None),
        ("dangling", None),
        ("usr/bin/bb2", Some("usr/bin/bb2")),
    ];
    for (path, expected) in cases {
        let resolved = index.resolve(path).map(|(resolved, _)| resolved);
        assert_eq!(resolved.as_deref(), expected, "{path}");
    }
    assert_eq!(
        index.get("bin").unwrap().kind,
        IndexKind::Symlink {
            target: "usr/bin".to_owned()
        },
        "get does not follow"
    );
    assert_eq!(
        index.get("usr/bin/bb2").unwrap().kind,
        IndexKind::Hardlink {
            target: "usr/bin/busybox".to_owned()
        }
    );
}

#[test]
fn replacement_and_writes_through_symlinked_parents() {
    let lower = TarBuilder::new()
        .dir("var", 0o755)
        .symlink("var/run", "/run")
        .dir("run", 0o755)
        .dir("was-dir", 0o755)
        .file("was-dir/child", b"c")
        .symlink("etc", "/private/etc")
        .finish();
    let upper = TarBuilder::new()
        .file("var/run/pid", b"1")
        .file("was-dir", b"now a file")
        .file("etc/passwd", b"captured through a link")
        .finish();
    let index = index_of(&[lower, upper]);
    assert!(
        index.get("run/pid").is_some(),
        "entry under a symlinked parent lands at the target"
    );
    assert!(index.get("var/run/pid").is_none());
    assert_eq!(
        index.get("was-dir").unwrap().kind,
        IndexKind::File { size: 10 }
    );
    assert!(index.get("was-dir/child").is_none());
    assert_eq!(
        index.get("private/etc").unwrap().kind,
        IndexKind::Dir,
        "implicit parents"
    );
    assert_eq!(
        index.captured("private/etc/passwd"),
        None,
        "capture sees the real path"
    );
    let (path, _) = index.resolve("etc/passwd").unwrap();
    assert_eq!(path, "private/etc/passwd");

    let replace_file_with_symlink = TarBuilder::new().symlink("was-dir", "run").finish();
    let mut index = index;
    index
        .apply_layer(replace_file_with_symlink.as_slice(), &|_| false)
        .unwrap();
    assert_eq!(index.resolve("was-dir/pid").unwrap().0, "run/pid");
}

#[test]
fn escaping_names_are_errors() {
    for layer in [
        TarBuilder::new().file("../x", b"x").finish(),
        TarBuilder::new().hardlink("h", "../../etc/passwd").finish(),
    ] {
        let mut index = FsIndex::new();
        assert!(matches!(
            index.apply_layer(layer.as_slice(), &|_| true),
            Err(Error::UnsafePath { .. })
        ));
    }
}

#[test]
fn applying_entries_equals_applying_their_written_layer() {
    use crate::entry::{EntryKind, LayerEntry};
    let base = TarBuilder::new()
        .dir("etc", 0o755)
        .file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
        .file("etc/group", b"root:x:0:\n")
        .dir("opt", 0o755)
        .file("opt/old", b"o")
        .dir("srv", 0o700)
        .file("srv/x", b"x")
        .symlink("lib", "usr/lib")
        .finish();
    let mut owned = LayerEntry::file("home/app/f", b"f".to_vec(), 0o4755, -5);
    owned.uid = 1000;
    owned.gid = 50;
    let on_disk = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(on_disk.path(), b"app:x:1000:\n").unwrap();
    let entries = vec![
        LayerEntry::new("opt/old", EntryKind::Whiteout, 0, 0),
        LayerEntry::new("srv", EntryKind::OpaqueDir, 0o750, 7),
        LayerEntry::file("srv/new", b"n".to_vec(), 0o644, 7),
        LayerEntry::file(
            "etc/passwd",
            b"root:x:0:0::/root:/bin/bash\n".to_vec(),
            0o644,
            9,
        ),
        LayerEntry::new(
            "etc/group",
            EntryKind::File {
                size: 12,
                content: crate::entry::Content::Path(on_disk.path().to_path_buf()),
            },
            0o644,
            9,
        ),
        LayerEntry::file("z/target", b"t".to_vec(), 0o600, 1),
        LayerEntry::new(
            "a/link",
            EntryKind::Hardlink {
                target: "z/target".into(),
            },
            0o600,
            1,
        ),
        LayerEntry::dir("home/app", 0o700, 3),
        owned,
        LayerEntry::symlink("lib/sym", "../x", 4),
        LayerEntry::new(
            "dev/null",
            EntryKind::CharDevice { major: 1, minor: 3 },
            0o666,
            0,
        ),
    ];
    let (_, written) = crate::write_layer(
        entries.clone(),
        Vec::new(),
        &crate::LayerOptions {
            compression: crate::Compression::None,
            ..Default::default()
        },
    )
    .unwrap();
    let mut from_tar = index_of(std::slice::from_ref(&base));
    from_tar
        .apply_layer(written.as_slice(), &capture_passwd)
        .unwrap();
    let mut from_entries = index_of(&[base]);
    from_entries
        .apply_entries(&entries, &capture_passwd)
        .unwrap();
    assert_eq!(from_entries, from_tar);
    assert_eq!(
        from_entries.captured("etc/group"),
        Some(&b"app:x:1000:\n"[..])
    );
    assert!(from_entries.get("opt/old").is_none());
    assert!(from_entries.get("srv/x").is_none());
}
