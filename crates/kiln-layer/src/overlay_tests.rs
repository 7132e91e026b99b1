//! Tests of `LowerStack` and `diff_upper`: hand-built layers in overlay format (root needed for
//! whiteout devices and `trusted.*` xattrs), and one comparison with `diff_trees` on a real
//! overlay mount.

use super::*;
use crate::entry::Content;
use crate::snapshot::snapshot_tree;
use crate::testtar::describe;
use crate::xattr::write_xattr;
use crate::{diff_trees, EntryKind};
use rustix::fs::{makedev, mknodat, FileType, Mode, CWD};
use std::fs::{File, FileTimes};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::process::Command;
use std::time::{Duration, SystemTime};

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Prints a visible skip line and returns true when not running as root.
fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("skipping {test}: needs root");
    true
}

fn write(root: &Path, path: &str, content: &str) {
    let full = root.join(path);
    fs::create_dir_all(full.parent().unwrap()).unwrap();
    fs::write(full, content).unwrap();
}

fn mkdir(root: &Path, path: &str) {
    fs::create_dir_all(root.join(path)).unwrap();
}

fn whiteout(root: &Path, path: &str) {
    let full = root.join(path);
    fs::create_dir_all(full.parent().unwrap()).unwrap();
    mknodat(
        CWD,
        &full,
        FileType::CharacterDevice,
        Mode::empty(),
        makedev(0, 0),
    )
    .unwrap();
}

fn opaque(root: &Path, path: &str) {
    let full = root.join(path);
    fs::create_dir_all(&full).unwrap();
    write_xattr(&full, OVERLAY_OPAQUE_XATTR, b"y").unwrap();
}

fn set_mtime(root: &Path, path: &str, seconds: u64) {
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(seconds);
    File::open(root.join(path))
        .unwrap()
        .set_times(FileTimes::new().set_modified(time))
        .unwrap();
}

/// Three empty layer directories, topmost first, plus an upper dir.
struct Layers {
    _dir: tempfile::TempDir,
    lowers: Vec<PathBuf>,
    upper: PathBuf,
}

impl Layers {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let lowers: Vec<PathBuf> = (0..3).map(|i| dir.path().join(format!("l{i}"))).collect();
        let upper = dir.path().join("upper");
        for path in lowers.iter().chain([&upper]) {
            fs::create_dir(path).unwrap();
        }
        Layers {
            _dir: dir,
            lowers,
            upper,
        }
    }

    fn stack(&self) -> LowerStack {
        LowerStack::new(self.lowers.clone())
    }
}

/// `kind@layer` of the merged view of `path` (`-` when absent).
fn merged(stack: &LowerStack, path: &str) -> String {
    let stat = stack.stat(path).unwrap();
    let located = stack.locate(path).unwrap();
    match (stat, located) {
        (None, None) => "-".to_owned(),
        (Some(stat), Some(dir)) => {
            let layer = dir.file_name().unwrap().to_string_lossy().into_owned();
            format!("{:?}@{layer}", stat.kind)
        }
        other => panic!("stat and locate disagree on {path}: {other:?}"),
    }
}

#[test]
fn stack_shadowing_and_absent_ancestors() {
    let layers = Layers::new();
    let [top, middle, bottom] = [&layers.lowers[0], &layers.lowers[1], &layers.lowers[2]];
    write(bottom, "a/x", "x-bottom");
    write(bottom, "a/y", "y");
    write(bottom, "b/f", "f");
    write(bottom, "c", "file");
    write(bottom, "e/f", "f");
    symlink("a", bottom.join("s")).unwrap();
    write(middle, "a/x", "x-middle");
    write(middle, "b", "file replaces dir");
    write(middle, "c/new", "dir replaces file");
    mkdir(middle, "e");
    symlink("target", middle.join("e/f")).unwrap();
    write(top, "a/z", "z");
    fs::set_permissions(top.join("a"), fs::Permissions::from_mode(0o711)).unwrap();
    let stack = layers.stack();
    assert_eq!(stack.dirs(), &layers.lowers[..]);
    let cases = [
        ("", "Dir@l0"),
        ("a", "Dir@l0"),
        ("a/x", "File@l1"),
        ("a/y", "File@l2"),
        ("a/z", "File@l0"),
        ("a/x/q", "-"),
        ("b", "File@l1"),
        ("b/f", "-"),
        ("c", "Dir@l1"),
        ("c/new", "File@l1"),
        ("e/f", "Symlink@l1"),
        ("s", "Symlink@l2"),
        ("s/x", "-"),
        ("missing", "-"),
        ("missing/x", "-"),
    ];
    for (path, expected) in cases {
        assert_eq!(merged(&stack, path), expected, "{path}");
    }
    let a = stack.stat("a").unwrap().unwrap();
    assert_eq!(
        a.mode, 0o711,
        "directory attributes come from the topmost layer"
    );
    assert_eq!(stack.stat("a/x").unwrap().unwrap().size, 8);
    assert_eq!(
        stack.stat("e/f").unwrap().unwrap().link_target,
        Some(PathBuf::from("target"))
    );
    assert!(stack.stat("a/../etc").is_err());
    assert_eq!(LowerStack::new(Vec::new()).stat("a").unwrap(), None);
}

#[test]
fn stack_whiteouts_and_opaque_dirs() {
    if skip_unless_root("stack_whiteouts_and_opaque_dirs") {
        return;
    }
    let layers = Layers::new();
    let [top, middle, bottom] = [&layers.lowers[0], &layers.lowers[1], &layers.lowers[2]];
    write(bottom, "w/f", "f");
    write(bottom, "o/old", "old");
    write(bottom, "k/f", "f");
    write(bottom, "ff", "ff");
    write(bottom, "dir/f", "f");
    whiteout(middle, "w");
    opaque(middle, "o");
    write(middle, "o/new", "new");
    whiteout(middle, "k/f");
    write(middle, "k/g", "g");
    whiteout(middle, "ff");
    write(middle, "dir/g", "g");
    mkdir(top, "w");
    write(top, "o/top", "top");
    write(top, "ff", "back");
    whiteout(top, "gone");
    whiteout(top, "dir/f");
    let stack = layers.stack();
    let cases = [
        ("w", "Dir@l0"),
        ("w/f", "-"),
        ("o", "Dir@l0"),
        ("o/old", "-"),
        ("o/new", "File@l1"),
        ("o/top", "File@l0"),
        ("k", "Dir@l1"),
        ("k/f", "-"),
        ("k/g", "File@l1"),
        ("ff", "File@l0"),
        ("gone", "-"),
        ("dir/f", "-"),
        ("dir/g", "File@l1"),
    ];
    for (path, expected) in cases {
        assert_eq!(merged(&stack, path), expected, "{path}");
    }
}

fn exclude(path: &str) -> bool {
    path == "mnt"
}

#[test]
fn diff_upper_cases() {
    if skip_unless_root("diff_upper_cases") {
        return;
    }
    let layers = Layers::new();
    let (lower, upper) = (&layers.lowers[1], &layers.upper);
    for path in ["del", "re/old", "same/f", "chmod/f", "file_to_dir", "edit"] {
        write(lower, path, "lower");
    }
    mkdir(lower, "mnt");
    for dir in ["re", "same", "chmod"] {
        set_mtime(lower, dir, 1_000_000);
    }
    // Whiteouts: of a lower path, of nothing, and excluded.
    whiteout(upper, "del");
    whiteout(upper, "never");
    whiteout(upper, "mnt/x");
    // Removed and recreated: opaque; a whiteout inside it has nothing left to hide.
    opaque(upper, "re");
    write(upper, "re/new", "new");
    whiteout(upper, "re/old");
    // Opaque without a lower directory: plain.
    opaque(upper, "fresh");
    write(upper, "fresh/f", "f");
    // New directory: everything under it is new, whiteouts dropped.
    write(upper, "newdir/sub/f", "f");
    whiteout(upper, "newdir/gone");
    // A directory replacing a file is not opaque.
    write(upper, "file_to_dir/in", "in");
    // Copied up with unchanged attributes: not emitted; chmod: emitted.
    write(upper, "same/f", "changed");
    set_mtime(upper, "same", 1_000_000);
    write(upper, "chmod/f", "changed");
    set_mtime(upper, "chmod", 1_000_000);
    fs::set_permissions(upper.join("chmod"), fs::Permissions::from_mode(0o700)).unwrap();
    // Other types, a socket (dropped), xattrs and hardlinks.
    write(upper, "edit", "edited");
    write_xattr(&upper.join("edit"), "trusted.overlay.origin", b"o").unwrap();
    write_xattr(&upper.join("edit"), "user.overlay.origin", b"o").unwrap();
    write_xattr(&upper.join("edit"), "user.kept", b"k").unwrap();
    symlink("edit", upper.join("link")).unwrap();
    mknodat(
        CWD,
        upper.join("fifo"),
        FileType::Fifo,
        Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    mknodat(
        CWD,
        upper.join("null"),
        FileType::CharacterDevice,
        Mode::from_raw_mode(0o666),
        makedev(1, 3),
    )
    .unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(upper.join("sock")).unwrap();
    write(upper, "h1", "linked");
    fs::hard_link(upper.join("h1"), upper.join("h2")).unwrap();
    write(upper, "mnt/new", "excluded");

    let entries = diff_upper(upper, &layers.stack(), &exclude).unwrap();
    let expected = [
        "chmod dir",
        "chmod/f file",
        "del whiteout",
        "edit file",
        "fifo fifo",
        "file_to_dir dir",
        "file_to_dir/in file",
        "fresh dir",
        "fresh/f file",
        "h1 file",
        "h2 hardlink:h1",
        "link symlink:edit",
        "newdir dir",
        "newdir/sub dir",
        "newdir/sub/f file",
        "null char:1:3",
        "re opaque",
        "re/new file",
        "same/f file",
    ];
    assert_eq!(describe(&entries), expected);
    let edit = entries.iter().find(|entry| entry.path == "edit").unwrap();
    assert_eq!(edit.xattrs.keys().collect::<Vec<_>>(), ["user.kept"]);
    assert_eq!(
        edit.kind,
        EntryKind::File {
            size: 6,
            content: Content::Path(upper.join("edit"))
        }
    );
    let chmod = entries.iter().find(|entry| entry.path == "chmod").unwrap();
    assert_eq!((chmod.mode, chmod.mtime), (0o700, 1_000_000));
    for entry in &entries {
        assert!(
            !entry.xattrs.keys().any(|name| name.contains("overlay")),
            "{}",
            entry.path
        );
    }
}

#[test]
fn diff_upper_of_an_empty_upper_is_empty() {
    let layers = Layers::new();
    write(&layers.lowers[0], "a/b", "b");
    let entries = diff_upper(&layers.upper, &layers.stack(), &|_| false).unwrap();
    assert!(entries.is_empty());
    assert!(diff_upper(&layers.upper.join("missing"), &layers.stack(), &|_| false).is_err());
}

/// Changes made to `$R` both in an overlay mount and in a plain copy of the merged lowers.
/// New and changed objects get fixed mtimes so that the two trees agree.
const CHANGES: &str = r#"set -e
cd "$R"
echo new > new.txt
echo more >> etc/a
chmod 600 etc/b
rm d/z
rm -rf keep && mkdir keep && echo k2 > keep/k2
rm f_to_dir && mkdir f_to_dir && echo in > f_to_dir/in
ln hl hl2
mkdir -p newdir/sub && echo n > newdir/sub/n
echo back > gone
rm o/top
ln -s etc/a lnk
echo x > mnt/new
touch -h -d @2000000 new.txt etc/a d keep keep/k2 f_to_dir f_to_dir/in newdir newdir/sub \
  newdir/sub/n gone o lnk
"#;

/// Runs `script` in a private mount namespace; `None` when the mount is not possible here.
fn in_mount_namespace(script: &str) -> Option<()> {
    let output = match Command::new("unshare")
        .args(["-m", "sh", "-c", script])
        .output()
    {
        Ok(output) => output,
        Err(error) => {
            eprintln!("skipping overlay equivalence: cannot run unshare: {error}");
            return None;
        }
    };
    match output.status.code() {
        Some(0) => Some(()),
        Some(77) => {
            eprintln!(
                "skipping overlay equivalence: overlay mount failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            None
        }
        _ => panic!(
            "script failed: {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// Entry fields the two diffs must agree on, with file contents read.
fn comparable(entries: &[LayerEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|entry| {
            let content = match &entry.kind {
                EntryKind::File {
                    content: Content::Path(path),
                    size,
                } => format!("{size} {:?}", String::from_utf8(fs::read(path).unwrap())),
                other => format!("{other:?}"),
            };
            format!(
                "{} {content} mode={:o} owner={}:{} mtime={} xattrs={:?}",
                entry.path, entry.mode, entry.uid, entry.gid, entry.mtime, entry.xattrs
            )
        })
        .collect()
}

#[test]
fn diff_upper_matches_diff_trees_on_a_real_overlay() {
    if skip_unless_root("diff_upper_matches_diff_trees_on_a_real_overlay") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let (top, bottom) = (path("l2"), path("l1"));
    for name in ["l1", "l2", "upper", "work", "merged", "plain"] {
        fs::create_dir(path(name)).unwrap();
    }
    for file in ["etc/a", "etc/b", "d/x/y", "d/z", "f_to_dir", "keep/k", "hl"] {
        write(&bottom, file, file);
    }
    write(&bottom, "gone", "gone");
    write(&bottom, "o/hidden", "hidden");
    write(&bottom, "mnt/keep", "keep");
    write(&top, "etc/c", "c");
    whiteout(&top, "gone");
    opaque(&top, "o");
    write(&top, "o/top", "top");
    let status = Command::new("sh")
        .args(["-c", "find \"$0\" \"$1\" -exec touch -h -d @1000000 {} +"])
        .args([&bottom, &top])
        .status()
        .unwrap();
    assert!(status.success());

    let lowerdir = format!("{}:{}", top.display(), bottom.display());
    let merged = path("merged");
    let copy_script = format!(
        "mount -t overlay overlay -o ro,lowerdir={lowerdir} '{m}' || exit 77\ncp -a '{m}/.' '{p}/'",
        m = merged.display(),
        p = path("plain").display()
    );
    if in_mount_namespace(&copy_script).is_none() {
        return;
    }
    let plain = path("plain");
    let before = snapshot_tree(&plain).unwrap();
    let change_script = format!(
        "mount -t overlay overlay -o lowerdir={lowerdir},upperdir='{u}',workdir='{w}' '{m}' \
         || exit 77\nR='{m}'\n{CHANGES}",
        u = path("upper").display(),
        w = path("work").display(),
        m = merged.display(),
    );
    if in_mount_namespace(&change_script).is_none() {
        return;
    }
    let output = Command::new("sh")
        .args(["-c", CHANGES])
        .env("R", &plain)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let after = snapshot_tree(&plain).unwrap();

    let expected = diff_trees(&plain, &before, &after, &exclude).unwrap();
    let stack = LowerStack::new(vec![top, bottom]);
    let actual = diff_upper(&path("upper"), &stack, &exclude).unwrap();
    assert_eq!(
        describe(&actual),
        [
            "d dir",
            "d/z whiteout",
            "etc/a file",
            "etc/b file",
            "f_to_dir dir",
            "f_to_dir/in file",
            "gone file",
            "hl file",
            "hl2 hardlink:hl",
            "keep opaque",
            "keep/k2 file",
            "lnk symlink:etc/a",
            "new.txt file",
            "newdir dir",
            "newdir/sub dir",
            "newdir/sub/n file",
            "o dir",
            "o/top whiteout",
        ]
    );
    assert_eq!(comparable(&actual), comparable(&expected));
}
