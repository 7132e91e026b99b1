//! Tests of `extract`: hostile archives stay confined, whiteouts, replacement, metadata.

use super::*;
use crate::testtar::TarBuilder;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

/// A scratch area with `root/` (the destination) and a sibling `outside/` that must stay empty.
struct Scratch {
    _dir: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
}

impl Scratch {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        fs::create_dir(&root).unwrap();
        fs::create_dir(&outside).unwrap();
        Scratch {
            _dir: dir,
            root,
            outside,
        }
    }

    fn extract(&self, tar: &[u8], apply_whiteouts: bool) -> Result<ExtractReport> {
        let options = ExtractOptions {
            apply_whiteouts,
            preserve_ownership: false,
            overlay: false,
            digests: false,
        };
        extract(tar, &self.root, &options)
    }

    fn assert_outside_untouched(&self) {
        let entries: Vec<_> = fs::read_dir(&self.outside).unwrap().collect();
        assert!(entries.is_empty(), "outside dir was written: {entries:?}");
        let parent = self.root.parent().unwrap();
        let mut names: Vec<String> = fs::read_dir(parent)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["outside", "root"]);
    }

    fn read(&self, path: &str) -> String {
        fs::read_to_string(self.root.join(path)).unwrap()
    }

    fn link(&self, path: &str) -> String {
        fs::read_link(self.root.join(path))
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }
}

#[test]
fn hostile_archives_never_write_outside() {
    let scratch_outside = Scratch::new();
    let outside_abs = scratch_outside.outside.to_string_lossy().into_owned();
    // (archive, must fail, file expected inside root afterwards)
    let cases: Vec<(&str, Vec<u8>, bool, Option<&str>)> = vec![
        (
            "dotdot",
            TarBuilder::new().file("../escape", b"x").finish(),
            true,
            None,
        ),
        (
            "nested dotdot",
            TarBuilder::new().file("a/../../x", b"x").finish(),
            true,
            None,
        ),
        (
            "absolute",
            TarBuilder::new().file("/abs", b"x").finish(),
            false,
            Some("abs"),
        ),
        (
            "symlink to root",
            TarBuilder::new()
                .symlink("a", "/")
                .file("a/etc/x", b"x")
                .finish(),
            false,
            Some("etc/x"),
        ),
        (
            "symlink climbing",
            TarBuilder::new()
                .symlink("a", "../..")
                .file("a/x", b"x")
                .finish(),
            false,
            Some("x"),
        ),
        (
            "hardlink outside",
            TarBuilder::new().hardlink("h", "../../etc/passwd").finish(),
            true,
            None,
        ),
        (
            "symlink to outside dir",
            TarBuilder::new()
                .symlink("out", &outside_abs)
                .file("out/pwned", b"x")
                .finish(),
            false,
            Some(&*format!("{}/pwned", outside_abs.trim_start_matches('/')).leak()),
        ),
        (
            "hardlink via symlinked dir",
            TarBuilder::new()
                .symlink("s", &outside_abs)
                .hardlink("h", "s/victim")
                .finish(),
            true,
            None,
        ),
        (
            "hardlink through symlink",
            TarBuilder::new()
                .symlink("s", &outside_abs)
                .hardlink("h", "s/../../../etc/passwd")
                .finish(),
            true,
            None,
        ),
    ];
    for (name, tar, must_fail, confined) in cases {
        let scratch = Scratch::new();
        // Give symlinks that point at the other scratch's outside dir something to hit.
        let result = scratch.extract(&tar, false);
        assert_eq!(result.is_err(), must_fail, "{name}: {result:?}");
        if let Some(inside) = confined {
            assert_eq!(scratch.read(inside), "x", "{name}");
        }
        scratch.assert_outside_untouched();
        scratch_outside.assert_outside_untouched();
    }
}

#[test]
fn symlink_to_own_outside_dir_is_confined() {
    let scratch = Scratch::new();
    let target = scratch.outside.to_string_lossy().into_owned();
    let tar = TarBuilder::new()
        .symlink("out", &target)
        .file("out/pwned", b"x")
        .dir("out/sub", 0o755)
        .finish();
    scratch.extract(&tar, false).unwrap();
    scratch.assert_outside_untouched();
    let confined = format!("{}/pwned", target.trim_start_matches('/'));
    assert_eq!(scratch.read(&confined), "x");
    assert_eq!(
        scratch.link("out"),
        target,
        "the link itself is kept as written"
    );
}

#[test]
fn whiteouts_and_opaque_dirs_across_layers() {
    let scratch = Scratch::new();
    let lower = TarBuilder::new()
        .dir("etc", 0o755)
        .file("etc/keep", b"keep")
        .file("etc/gone", b"gone")
        .dir("etc/tree", 0o755)
        .file("etc/tree/deep", b"deep")
        .dir("opq", 0o755)
        .file("opq/old", b"old")
        .dir("opq/olddir", 0o755)
        .finish();
    scratch.extract(&lower, true).unwrap();
    let upper = TarBuilder::new()
        .file("etc/.wh.gone", b"")
        .file("etc/.wh.tree", b"")
        .file("etc/.wh.never-existed", b"")
        .dir("opq", 0o755)
        .file("opq/new", b"new")
        .file("opq/.wh..wh..opq", b"")
        .finish();
    scratch.extract(&upper, true).unwrap();
    assert_eq!(scratch.read("etc/keep"), "keep");
    for gone in [
        "etc/gone",
        "etc/tree",
        "opq/old",
        "opq/olddir",
        "etc/.wh.gone",
        "opq/.wh..wh..opq",
    ] {
        assert!(
            fs::symlink_metadata(scratch.root.join(gone)).is_err(),
            "{gone}"
        );
    }
    assert_eq!(
        scratch.read("opq/new"),
        "new",
        "this layer's entries survive the opaque marker"
    );

    // Without apply_whiteouts the markers are ordinary files.
    let plain = Scratch::new();
    plain.extract(&upper, false).unwrap();
    assert_eq!(plain.read("etc/.wh.gone"), "");
    assert!(plain.root.join("opq/.wh..wh..opq").is_file());
}

#[test]
fn replacement_rules() {
    let scratch = Scratch::new();
    let outside_file = scratch.outside.join("victim");
    let lower = TarBuilder::new()
        .dir("var", 0o755)
        .symlink("var/run", "/run")
        .symlink("file", &outside_file.to_string_lossy())
        .file("dir-then-file/inner", b"i")
        .file("file-then-dir", b"f")
        .finish();
    scratch.extract(&lower, false).unwrap();
    assert_eq!(
        scratch.link("var/run"),
        "/run",
        "absolute symlink kept as a link"
    );
    let upper = TarBuilder::new()
        .file("file", b"replaced")
        .file("dir-then-file", b"now a file")
        .dir("file-then-dir", 0o755)
        .file("file-then-dir/x", b"x")
        .file("var/run/pid", b"1")
        .finish();
    scratch.extract(&upper, false).unwrap();
    assert!(!fs::symlink_metadata(scratch.root.join("file"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(scratch.read("file"), "replaced");
    assert!(
        !outside_file.exists(),
        "never written through the old symlink"
    );
    assert_eq!(scratch.read("dir-then-file"), "now a file");
    assert_eq!(scratch.read("file-then-dir/x"), "x");
    assert_eq!(
        scratch.read("run/pid"),
        "1",
        "var/run -> /run resolves inside the root"
    );
    assert_eq!(scratch.link("var/run"), "/run");
    scratch.assert_outside_untouched();
}

#[test]
fn deep_relative_links_and_hardlinks() {
    let scratch = Scratch::new();
    let tar = TarBuilder::new()
        .dir("usr/lib/x86_64/deep", 0o755)
        .file("usr/lib/libc.so", b"libc")
        .symlink("usr/lib/x86_64/deep/libc.so", "../../libc.so")
        .hardlink("usr/lib/libc-copy", "usr/lib/libc.so")
        .hardlink("usr/lib/via-link", "usr/lib/x86_64/deep/../../libc.so")
        .finish();
    scratch.extract(&tar, false).unwrap();
    assert_eq!(scratch.read("usr/lib/x86_64/deep/libc.so"), "libc");
    let original = fs::metadata(scratch.root.join("usr/lib/libc.so")).unwrap();
    let copy = fs::metadata(scratch.root.join("usr/lib/libc-copy")).unwrap();
    assert_eq!(original.ino(), copy.ino());
    assert_eq!(scratch.read("usr/lib/via-link"), "libc");

    let to_symlink = TarBuilder::new()
        .symlink("s", "/etc/passwd")
        .hardlink("h", "s")
        .finish();
    let other = Scratch::new();
    assert!(matches!(
        other.extract(&to_symlink, false),
        Err(Error::InvalidHardlink { .. })
    ));
}

#[test]
fn metadata_and_warnings() {
    let scratch = Scratch::new();
    let tar = TarBuilder::new()
        .dir("ro", 0o555)
        .file_mode("ro/inner", b"i", 0o4711)
        .fifo("pipe")
        .dir("./", 0o700)
        .finish();
    let report = scratch.extract(&tar, false).unwrap();
    assert_eq!(report.entries, 4);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let pipe = fs::symlink_metadata(scratch.root.join("pipe")).unwrap();
    assert!(pipe.file_type().is_fifo());
    assert_eq!((pipe.mode() & 0o7777, pipe.mtime()), (0o644, 1_000_000));
    let dir = fs::metadata(scratch.root.join("ro")).unwrap();
    assert_eq!(
        dir.mode() & 0o7777,
        0o555,
        "directory mode applied after its children"
    );
    assert_eq!(dir.mtime(), 1_000_000);
    let file = fs::metadata(scratch.root.join("ro/inner")).unwrap();
    assert_eq!(file.mode() & 0o7777, 0o4711);
    assert_eq!(file.mtime(), 1_000_000);
    assert_ne!(
        fs::metadata(&scratch.root).unwrap().mode() & 0o777,
        0o700,
        "root untouched"
    );
    // Let the temp dir clean up.
    fs::set_permissions(scratch.root.join("ro"), Permissions::from_mode(0o755)).unwrap();
}

/// Writes `entries` as an uncompressed layer.
fn layer_bytes(entries: Vec<crate::LayerEntry>) -> Vec<u8> {
    let options = crate::LayerOptions {
        compression: crate::Compression::None,
        gzip_level: 6,
        ..Default::default()
    };
    crate::write_layer(entries, Vec::new(), &options).unwrap().1
}

/// Whether the scratch filesystem accepts `user.*` xattrs (checked by trying).
fn user_xattrs_supported(dir: &Path) -> bool {
    let probe = dir.join(".xattr-probe");
    fs::write(&probe, b"").unwrap();
    let supported = crate::xattr::write_xattr(&probe, "user.probe", b"1").is_ok();
    fs::remove_file(&probe).unwrap();
    supported
}

#[test]
fn layers_written_by_write_layer_extract_with_xattrs() {
    let mut file = crate::LayerEntry::file("bin/ping", b"ping".to_vec(), 0o755, 5);
    file.xattrs.insert("user.x".to_owned(), b"1".to_vec());
    file.xattrs
        .insert("security.selinux".to_owned(), b"host_t".to_vec());
    let entries = vec![
        crate::LayerEntry::dir("bin", 0o755, 5),
        file,
        crate::LayerEntry::new("gone", crate::EntryKind::Whiteout, 0, 0),
    ];
    let bytes = layer_bytes(entries);
    let scratch = Scratch::new();
    fs::write(scratch.root.join("gone"), b"old").unwrap();
    let options = ExtractOptions {
        apply_whiteouts: true,
        preserve_ownership: true,
        overlay: false,
        digests: false,
    };
    let report = extract(bytes.as_slice(), &scratch.root, &options).unwrap();
    assert_eq!(scratch.read("bin/ping"), "ping");
    assert!(!scratch.root.join("gone").exists());
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("xattr security.selinux") && w.contains("host-private")),
        "{report:?}"
    );
    let xattrs = crate::xattr::read_xattrs(&scratch.root.join("bin/ping")).unwrap();
    assert!(!xattrs.contains_key("security.selinux"));
    if user_xattrs_supported(&scratch.root) {
        assert_eq!(xattrs.get("user.x").map(Vec::as_slice), Some(&b"1"[..]));
        assert!(
            !report.warnings.iter().any(|w| w.contains("user.x")),
            "{report:?}"
        );
    } else {
        eprintln!("skipping user xattr assertion: unsupported on this filesystem");
        assert!(report.warnings.iter().any(|w| w.contains("xattr user.x")));
    }
}

#[test]
fn special_files_ownership_and_capabilities() {
    let is_root = running_as_root();
    // VFS_CAP_REVISION_2 | effective, permitted = CAP_NET_RAW (13).
    let capability: Vec<u8> = [0x0200_0001u32, 1 << 13, 0, 0, 0]
        .iter()
        .flat_map(|word| word.to_le_bytes())
        .collect();
    let mut ping = crate::LayerEntry::file("ping", b"p".to_vec(), 0o4755, 7);
    (ping.uid, ping.gid) = (1234, 5678);
    ping.xattrs
        .insert("security.capability".to_owned(), capability.clone());
    let mut setgid = crate::LayerEntry::file("sgid", b"g".to_vec(), 0o2711, 7);
    (setgid.uid, setgid.gid) = (42, 43);
    let mut link = crate::LayerEntry::symlink("link", "ping", 9);
    (link.uid, link.gid) = (7, 8);
    let entries = vec![
        ping,
        setgid,
        link,
        crate::LayerEntry::new("fifo", crate::EntryKind::Fifo, 0o640, 11),
        crate::LayerEntry::new(
            "null",
            crate::EntryKind::CharDevice { major: 1, minor: 3 },
            0o666,
            12,
        ),
        crate::LayerEntry::new(
            "loop9",
            crate::EntryKind::BlockDevice { major: 7, minor: 9 },
            0o660,
            12,
        ),
    ];
    let bytes = layer_bytes(entries);
    let scratch = Scratch::new();
    let options = ExtractOptions {
        apply_whiteouts: true,
        preserve_ownership: true,
        overlay: false,
        digests: false,
    };
    let report = extract(bytes.as_slice(), &scratch.root, &options).unwrap();

    let fifo = fs::symlink_metadata(scratch.root.join("fifo")).unwrap();
    assert!(fifo.file_type().is_fifo());
    assert_eq!((fifo.mode() & 0o7777, fifo.mtime()), (0o640, 11));
    let link = fs::symlink_metadata(scratch.root.join("link")).unwrap();
    assert_eq!(link.mtime(), 9, "symlink's own mtime is set");
    assert_eq!(scratch.link("link"), "ping");
    if !is_root {
        eprintln!("skipping ownership, capability and device assertions: not root");
        return;
    }
    let cases: [(&str, u32, u32, u32); 3] = [
        ("ping", 1234, 5678, 0o4755),
        ("sgid", 42, 43, 0o2711),
        ("link", 7, 8, 0o777),
    ];
    for (path, uid, gid, mode) in cases {
        let metadata = fs::symlink_metadata(scratch.root.join(path)).unwrap();
        assert_eq!(
            (metadata.uid(), metadata.gid(), metadata.mode() & 0o7777),
            (uid, gid, mode),
            "{path}: setuid/setgid bits survive chown"
        );
    }
    let xattrs = crate::xattr::read_xattrs(&scratch.root.join("ping")).unwrap();
    assert_eq!(
        xattrs.get("security.capability"),
        Some(&capability),
        "capability set after chown: {report:?}"
    );
    for (path, is_char, major, minor) in [("null", true, 1, 3), ("loop9", false, 7, 9)] {
        match fs::symlink_metadata(scratch.root.join(path)) {
            Ok(metadata) => {
                let file_type = metadata.file_type();
                let right_type = if is_char {
                    file_type.is_char_device()
                } else {
                    file_type.is_block_device()
                };
                assert!(right_type, "{path}");
                assert_eq!(metadata.rdev(), makedev(major, minor), "{path}");
            }
            Err(_) => {
                eprintln!("skipping device assertion for {path}: no CAP_MKNOD");
                assert!(report.warnings.iter().any(|w| w.contains(path)));
            }
        }
    }
}

#[test]
fn overlay_format_whiteouts_and_opaque_marker() {
    let scratch = Scratch::new();
    fs::create_dir_all(scratch.root.join("d/y/deep")).unwrap();
    fs::write(scratch.root.join("d/x"), b"x").unwrap();
    let tar = TarBuilder::new()
        .dir("d", 0o755)
        .file("d/.wh.x", b"")
        .file("d/.wh.y", b"")
        .file("o/.wh..wh..opq", b"")
        .file("o/new", b"new")
        .finish();
    // Overlay wins over apply_whiteouts: nothing is removed without leaving a whiteout.
    let options = ExtractOptions {
        apply_whiteouts: true,
        preserve_ownership: false,
        overlay: true,
        digests: false,
    };
    let result = extract(tar.as_slice(), &scratch.root, &options);
    if !running_as_root() {
        eprintln!("skipping overlay whiteout assertions: needs root");
        assert!(
            result.is_err(),
            "a missing whiteout is an error: {result:?}"
        );
        return;
    }
    let report = result.unwrap();
    for path in ["d/x", "d/y"] {
        let metadata = fs::symlink_metadata(scratch.root.join(path)).unwrap();
        assert!(metadata.file_type().is_char_device(), "{path}");
        assert_eq!(metadata.rdev(), 0, "{path}");
    }
    for marker in ["d/.wh.x", "d/.wh.y", "o/.wh..wh..opq"] {
        assert!(
            fs::symlink_metadata(scratch.root.join(marker)).is_err(),
            "{marker}"
        );
    }
    let mut value = [0u8; 4];
    let length = rustix::fs::lgetxattr(
        scratch.root.join("o"),
        crate::OVERLAY_OPAQUE_XATTR,
        &mut value[..],
    )
    .unwrap();
    assert_eq!(&value[..length], b"y");
    assert_eq!(scratch.read("o/new"), "new");
    assert_eq!(report.implicit_dirs, [PathBuf::from("o")]);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
}

#[test]
fn implicit_dirs_are_parents_the_archive_never_declares() {
    let scratch = Scratch::new();
    fs::create_dir(scratch.root.join("pre")).unwrap();
    let tar = TarBuilder::new()
        .file("a/b/c/f", b"f")
        .dir("a/b", 0o750)
        .file("x/y", b"y")
        .file("pre/f", b"f")
        .dir("declared", 0o755)
        .file("declared/f", b"f")
        .file("dup/one", b"1")
        .file("dup/two", b"2")
        .file("gone/f", b"f")
        .file(".wh.gone", b"")
        .finish();
    let report = scratch.extract(&tar, true).unwrap();
    let expected: Vec<PathBuf> = ["a", "a/b/c", "dup", "x"]
        .iter()
        .map(PathBuf::from)
        .collect();
    assert_eq!(report.implicit_dirs, expected);
    let mode = fs::metadata(scratch.root.join("a/b")).unwrap().mode() & 0o7777;
    assert_eq!(mode, 0o750, "a declared directory keeps its mode");
}

#[test]
fn consecutive_entries_of_one_directory_stay_confined_and_replace() {
    let scratch = Scratch::new();
    let tar = TarBuilder::new()
        .dir("d", 0o755)
        .file("d/a", b"first")
        .file("d/b", b"b")
        .file("d/a", b"second")
        .symlink("d/c", "../../outside")
        .file("d/c", b"not through the link")
        .symlink("d", "/e")
        .file("d/z", b"z")
        .finish();
    scratch.extract(&tar, true).unwrap();
    assert_eq!(fs::read(scratch.root.join("e/z")).unwrap(), b"z");
    assert!(fs::symlink_metadata(scratch.root.join("d"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read_dir(&scratch.outside).unwrap().count(), 0);
    let scratch = Scratch::new();
    let tar = TarBuilder::new()
        .dir("d", 0o755)
        .file("d/a", b"first")
        .file("d/a", b"second")
        .symlink("d/c", "../../outside")
        .file("d/c", b"replaced")
        .finish();
    scratch.extract(&tar, true).unwrap();
    assert_eq!(fs::read(scratch.root.join("d/a")).unwrap(), b"second");
    assert_eq!(fs::read(scratch.root.join("d/c")).unwrap(), b"replaced");
    assert_eq!(fs::read_dir(&scratch.outside).unwrap().count(), 0);
}

#[test]
fn digests_of_new_files_are_reported_with_their_attributes() {
    use sha2::Digest as _;
    let scratch = Scratch::new();
    let tar = TarBuilder::new()
        .dir("d", 0o755)
        .file("d/a", b"alpha")
        .file("d/b", b"")
        .symlink("d/l", "a")
        .finish();
    let options = ExtractOptions {
        digests: true,
        ..Default::default()
    };
    let report = extract(tar.as_slice(), &scratch.root, &options).unwrap();
    let paths: Vec<_> = report.files.iter().map(|file| file.path.clone()).collect();
    assert_eq!(paths, vec![PathBuf::from("d/a"), PathBuf::from("d/b")]);
    for (file, content) in report.files.iter().zip([&b"alpha"[..], b""]) {
        assert_eq!(file.sha256, <[u8; 32]>::from(sha2::Sha256::digest(content)));
        let meta = fs::symlink_metadata(scratch.root.join(&file.path)).unwrap();
        assert_eq!(file.size, meta.size());
        assert_eq!(file.mtime, (meta.mtime(), meta.mtime_nsec()));
        assert_eq!(
            (file.mode, file.uid, file.gid),
            (meta.mode() & 0o7777, meta.uid(), meta.gid())
        );
    }
    let plain = Scratch::new();
    let report = extract(tar.as_slice(), &plain.root, &ExtractOptions::default()).unwrap();
    assert!(report.files.is_empty());
}
