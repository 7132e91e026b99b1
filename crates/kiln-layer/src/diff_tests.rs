//! Tests of `diff_trees`: each case changes a copy of one base tree, checks the entries, then
//! writes them as a layer, applies it to a fresh base tree and compares the two trees.

use super::*;
use crate::snapshot::snapshot_tree;
use crate::testtar::describe;
use crate::xattr::write_xattr;
use crate::{extract, write_layer, Compression, ExtractOptions, LayerOptions};
use rustix::fs::{makedev, mknodat, FileType, Mode, CWD};
use std::fs::{self, FileTimes};
use std::os::unix::fs::{lchown, symlink, FileTypeExt, MetadataExt, PermissionsExt};
use std::time::Duration;

/// Paths the diff must ignore (like the sandbox's mount points).
fn exclude(path: &str) -> bool {
    path == "mnt" || path == "cache"
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The tree every case starts from.
fn base(root: &Path) {
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/a"), b"alpha").unwrap();
    fs::create_dir_all(root.join("d/x")).unwrap();
    fs::write(root.join("d/x/y"), b"y").unwrap();
    fs::write(root.join("d/z"), b"z").unwrap();
    symlink("old", root.join("l")).unwrap();
    fs::create_dir_all(root.join("mnt")).unwrap();
    fs::write(root.join("mnt/keep"), b"k").unwrap();
    fs::create_dir_all(root.join("cache")).unwrap();
}

/// A recursive listing of type, mode, owner, size, content, link target and xattrs.
fn listing(root: &Path) -> Vec<String> {
    fn walk(root: &Path, relative: &Path, out: &mut Vec<String>) {
        let mut names: Vec<_> = fs::read_dir(root.join(relative))
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        names.sort();
        for name in names {
            let path = relative.join(&name);
            let text = path.to_string_lossy().into_owned();
            if exclude(&text) {
                continue;
            }
            let full = root.join(&path);
            let metadata = fs::symlink_metadata(&full).unwrap();
            let file_type = metadata.file_type();
            let detail = if file_type.is_dir() {
                "dir".to_owned()
            } else if file_type.is_symlink() {
                format!("symlink {}", fs::read_link(&full).unwrap().display())
            } else if file_type.is_fifo() {
                "fifo".to_owned()
            } else if file_type.is_char_device() || file_type.is_block_device() {
                format!("device {}", metadata.rdev())
            } else {
                let content = fs::read(&full).unwrap();
                let content = String::from_utf8_lossy(&content);
                format!(
                    "file {} {content:?} links={}",
                    metadata.len(),
                    metadata.nlink()
                )
            };
            let xattrs = crate::xattr::read_xattrs(&full).unwrap();
            out.push(format!(
                "{text} {detail} mode={:o} owner={}:{} xattrs={xattrs:?}",
                metadata.mode() & 0o7777,
                metadata.uid(),
                metadata.gid()
            ));
            if file_type.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, Path::new(""), &mut out);
    out
}

fn layer_bytes(entries: Vec<LayerEntry>) -> Vec<u8> {
    let options = LayerOptions {
        compression: Compression::None,
        gzip_level: 6,
        ..Default::default()
    };
    write_layer(entries, Vec::new(), &options).unwrap().1
}

/// Builds the base tree twice, applies `change` to one, diffs it, checks the entries against
/// `expected`, then applies the layer to the other tree and checks both trees are equal.
fn run_case(name: &str, change: &dyn Fn(&Path), expected: &[String]) -> Vec<LayerEntry> {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let copy = dir.path().join("copy");
    for root in [&work, &copy] {
        fs::create_dir(root).unwrap();
        base(root);
    }
    let before = snapshot_tree(&work).unwrap();
    // Let the clock move on so that timestamps of the change differ even on coarse clocks.
    std::thread::sleep(Duration::from_millis(15));
    change(&work);
    let after = snapshot_tree(&work).unwrap();
    let entries = diff_trees(&work, &before, &after, &exclude).unwrap();
    assert_eq!(describe(&entries), expected, "{name}");

    let options = ExtractOptions {
        apply_whiteouts: true,
        preserve_ownership: true,
        overlay: false,
        digests: false,
    };
    extract(layer_bytes(entries.clone()).as_slice(), &copy, &options).unwrap();
    assert_eq!(
        listing(&copy),
        listing(&work),
        "{name}: layer applied to base"
    );
    entries
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

fn write_same_size_keep_mtime(root: &Path) {
    let path = root.join("etc/a");
    let old = fs::metadata(&path).unwrap().modified().unwrap();
    fs::write(&path, b"ALPHA").unwrap();
    let file = fs::File::options().write(true).open(&path).unwrap();
    file.set_times(FileTimes::new().set_modified(old)).unwrap();
    assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), old);
}

fn replace_dir(root: &Path) {
    // Build the new directory first so that it cannot reuse the old inode number.
    fs::create_dir(root.join("d.new")).unwrap();
    fs::write(root.join("d.new/new"), b"n").unwrap();
    fs::remove_dir_all(root.join("d")).unwrap();
    fs::rename(root.join("d.new"), root.join("d")).unwrap();
}

#[test]
fn diff_cases() {
    type Change = fn(&Path);
    let cases: Vec<(&str, Change, &[&str])> = vec![
        ("nothing changed", |_| {}, &[]),
        (
            "add file",
            |root| fs::write(root.join("etc/new"), b"new").unwrap(),
            &["etc dir", "etc/new file"],
        ),
        (
            "same size, mtime set back",
            write_same_size_keep_mtime,
            &["etc/a file"],
        ),
        (
            "chmod only",
            |root| {
                fs::set_permissions(root.join("etc/a"), fs::Permissions::from_mode(0o600)).unwrap()
            },
            &["etc/a file"],
        ),
        (
            "delete file",
            |root| fs::remove_file(root.join("etc/a")).unwrap(),
            &["etc dir", "etc/a whiteout"],
        ),
        (
            "delete dir with children",
            |root| fs::remove_dir_all(root.join("d")).unwrap(),
            &["d whiteout"],
        ),
        ("replace dir", replace_dir, &["d opaque", "d/new file"]),
        (
            "file to dir",
            |root| {
                fs::remove_file(root.join("etc/a")).unwrap();
                fs::create_dir(root.join("etc/a")).unwrap();
                fs::write(root.join("etc/a/child"), b"c").unwrap();
            },
            &["etc dir", "etc/a dir", "etc/a/child file"],
        ),
        (
            "dir to symlink",
            |root| {
                fs::remove_dir_all(root.join("d")).unwrap();
                symlink("etc", root.join("d")).unwrap();
            },
            &["d symlink:etc"],
        ),
        (
            "new hardlink",
            |root| fs::hard_link(root.join("etc/a"), root.join("etc/b")).unwrap(),
            &["etc dir", "etc/a file", "etc/b hardlink:etc/a"],
        ),
        (
            "fifo",
            |root| {
                mknodat(
                    CWD,
                    root.join("p"),
                    FileType::Fifo,
                    Mode::from_raw_mode(0o640),
                    0,
                )
                .unwrap()
            },
            &["p fifo"],
        ),
        (
            "symlink retargeted",
            |root| {
                fs::remove_file(root.join("l")).unwrap();
                symlink("/new/target", root.join("l")).unwrap();
            },
            &["l symlink:/new/target"],
        ),
        (
            "excluded paths",
            |root| {
                fs::write(root.join("cache/x"), b"x").unwrap();
                fs::remove_dir_all(root.join("mnt")).unwrap();
                fs::create_dir(root.join("mnt")).unwrap();
                fs::write(root.join("d/z"), b"zz").unwrap();
            },
            &["d/z file"],
        ),
        (
            "setuid file and empty dir added",
            |root| {
                fs::write(root.join("su"), b"s").unwrap();
                fs::set_permissions(root.join("su"), fs::Permissions::from_mode(0o4755)).unwrap();
                fs::create_dir(root.join("empty")).unwrap();
            },
            &["empty dir", "su file"],
        ),
    ];
    for (name, change, expected) in cases {
        run_case(name, &change, &strings(expected));
    }
}

#[test]
fn diff_cases_as_root() {
    if !is_root() {
        eprintln!("skipping: needs root (chown, mknod)");
        return;
    }
    type Change = fn(&Path);
    let cases: Vec<(&str, Change, &[&str])> = vec![
        (
            "chown only",
            |root| lchown(root.join("etc/a"), Some(1000), Some(1001)).unwrap(),
            &["etc/a file"],
        ),
        (
            "chown of a symlink",
            |root| lchown(root.join("l"), Some(5), Some(6)).unwrap(),
            &["l symlink:old"],
        ),
        (
            "char device",
            |root| {
                let device = FileType::CharacterDevice;
                mknodat(
                    CWD,
                    root.join("null"),
                    device,
                    Mode::from_raw_mode(0o666),
                    makedev(1, 3),
                )
                .unwrap()
            },
            &["null char:1:3"],
        ),
        (
            "owned setgid file",
            |root| {
                fs::write(root.join("sg"), b"g").unwrap();
                lchown(root.join("sg"), Some(7), Some(8)).unwrap();
                fs::set_permissions(root.join("sg"), fs::Permissions::from_mode(0o2755)).unwrap();
            },
            &["sg file"],
        ),
    ];
    for (name, change, expected) in cases {
        let entries = run_case(name, &change, &strings(expected));
        assert!(entries
            .iter()
            .all(|entry| entry.uid != 0 || entry.path == "null"));
    }
}

#[test]
fn xattr_change_only() {
    let probe = tempfile::tempdir().unwrap();
    fs::write(probe.path().join("f"), b"").unwrap();
    if let Err(error) = write_xattr(&probe.path().join("f"), "user.probe", b"1") {
        eprintln!("skipping: user xattrs unsupported here: {error}");
        return;
    }
    let change = |root: &Path| write_xattr(&root.join("etc/a"), "user.k", b"v").unwrap();
    let entries = run_case("xattr", &change, &strings(&["etc/a file"]));
    assert_eq!(
        entries[0].xattrs.get("user.k").map(Vec::as_slice),
        Some(&b"v"[..])
    );
}

#[test]
fn security_capability_is_kept() {
    if !is_root() {
        eprintln!("skipping: setting security.capability needs root");
        return;
    }
    // VFS_CAP_REVISION_2 | effective, permitted = CAP_NET_RAW (13).
    let capability: Vec<u8> = [0x0200_0001u32, 1 << 13, 0, 0, 0]
        .iter()
        .flat_map(|word| word.to_le_bytes())
        .collect();
    let value = capability.clone();
    let change =
        move |root: &Path| write_xattr(&root.join("etc/a"), "security.capability", &value).unwrap();
    let entries = run_case("setcap", &change, &strings(&["etc/a file"]));
    assert_eq!(
        entries[0].xattrs.get("security.capability"),
        Some(&capability)
    );
}

#[test]
fn long_names() {
    let first = "n".repeat(200);
    let second = "m".repeat(120);
    let change = {
        let (first, second) = (first.clone(), second.clone());
        move |root: &Path| {
            let dir = root.join("long").join(&first).join(&second);
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("file"), b"deep").unwrap();
        }
    };
    let expected = vec![
        "long dir".to_owned(),
        format!("long/{first} dir"),
        format!("long/{first}/{second} dir"),
        format!("long/{first}/{second}/file file"),
    ];
    let entries = run_case("long names", &change, &expected);
    assert!(entries[3].path.len() > 255);
}

#[test]
fn hardlink_to_unchanged_file_brings_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    base(root);
    fs::hard_link(root.join("etc/a"), root.join("etc/b")).unwrap();
    let after = snapshot_tree(root).unwrap();
    // A "before" in which only etc/b is missing: etc/a and etc look unchanged.
    let mut before = after.clone();
    let etc = before
        .children
        .iter_mut()
        .find(|node| node.name == "etc")
        .unwrap();
    etc.children.retain(|node| node.name != "b");
    let entries = diff_trees(root, &before, &after, &exclude).unwrap();
    assert_eq!(
        describe(&entries),
        ["etc/a file", "etc/b hardlink:etc/a"],
        "the unchanged link is emitted as the target"
    );
    assert_eq!(
        entries[0].kind,
        EntryKind::File {
            size: 5,
            content: Content::Path(root.join("etc/a"))
        }
    );
}

#[test]
fn huge_sparse_file_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let before = snapshot_tree(root).unwrap();
    let size = 8 * 1024 * 1024 * 1024 + 1;
    let file = fs::File::create(root.join("huge")).unwrap();
    if file.set_len(size).is_err() {
        eprintln!("skipping: filesystem refuses an 8 GiB sparse file");
        return;
    }
    let after = snapshot_tree(root).unwrap();
    let entries = diff_trees(root, &before, &after, &exclude).unwrap();
    assert_eq!(
        entries[0].kind,
        EntryKind::File {
            size,
            content: Content::Path(root.join("huge"))
        }
    );
}

#[test]
fn sockets_are_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let before = snapshot_tree(root).unwrap();
    let _listener = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    let after = snapshot_tree(root).unwrap();
    assert_eq!(
        after.get("sock").map(|stat| stat.kind),
        Some(NodeKind::Socket)
    );
    let entries = diff_trees(root, &before, &after, &exclude).unwrap();
    assert!(entries.is_empty(), "{entries:?}");
}
