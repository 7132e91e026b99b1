//! Hostile layers: images whose top layers try to escape the rootfs (`..`,
//! absolute names, symlinked parents, hard links to outside files, whiteouts
//! outside, a directory replaced by a symlink and written through) are loaded
//! with `kiln load` and used by a RUN, which forces extraction.
//!
//! Every escape aims at a canary directory next to the store. Whatever kiln
//! does, the canary must be unchanged and the build must end cleanly. What
//! kiln does with each entry — refuse the layer with an error naming it, or
//! confine the entry inside the rootfs — is pinned per case in [`CASES`]:
//! kiln refuses `..` names, hard links to outside and whiteouts outside
//! ("unsafe path: …"), and confines absolute names and symlinks (absolute or
//! climbing) by resolving them inside the rootfs, as BuildKit does.

use std::path::Path;

use kiln_testutil::{tree_listing, Output};

use crate::common::s;
use crate::run_common::{both_isolations, Rig};
use crate::run_image::archive_with_layers;

both_isolations!(hostile_layers_never_touch_the_canary);

/// How deep `..` climbs: more than any rootfs is below `/`.
const UP: &str = "../../../../../../../../../../../../";

/// What kiln does with a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Refused: the build fails cleanly with an error naming the problem.
    Refused,
    /// Confined: the build succeeds and the entry stays inside the rootfs.
    Confined,
    /// Either is acceptable (not pinned).
    Either,
}

/// One tar entry of a hostile layer.
enum Entry {
    File(String, &'static str),
    Dir(String),
    Symlink(String, String),
    Hardlink(String, String),
}

struct Case {
    name: &'static str,
    outcome: Outcome,
    /// Entries that, confined, land in the rootfs at the canary's path.
    confined: &'static [&'static str],
    /// The hostile layers (each a list of entries), given the canary path
    /// without its leading `/`.
    layers: fn(&str) -> Vec<Vec<Entry>>,
}

const CASES: &[Case] = &[
    Case {
        name: "dotdot",
        outcome: Outcome::Refused,
        confined: &[],
        layers: |canary| {
            vec![vec![
                Entry::File(format!("{UP}{canary}/dotdot-escape"), "escaped"),
                Entry::File("../escape".into(), "escaped"),
            ]]
        },
    },
    Case {
        name: "absolute",
        outcome: Outcome::Confined,
        confined: &["abs-escape"],
        layers: |canary| {
            vec![vec![Entry::File(
                format!("/{canary}/abs-escape"),
                "escaped",
            )]]
        },
    },
    Case {
        name: "symlinked-parent",
        outcome: Outcome::Confined,
        confined: &["via-symlink", "via-symlink2", "via-symlink3"],
        layers: |canary| {
            vec![vec![
                Entry::Symlink("link".into(), "/".into()),
                Entry::File(format!("link/{canary}/via-symlink"), "escaped"),
                Entry::Symlink("link2".into(), format!("/{canary}")),
                Entry::File("link2/via-symlink2".into(), "escaped"),
                Entry::Symlink("link3".into(), format!("{UP}{canary}")),
                Entry::File("link3/via-symlink3".into(), "escaped"),
            ]]
        },
    },
    Case {
        name: "hardlink-out",
        outcome: Outcome::Refused,
        confined: &[],
        layers: |canary| {
            vec![vec![
                Entry::Hardlink("hardlink-out".into(), format!("{UP}{canary}/victim")),
                Entry::Hardlink("hardlink-abs".into(), format!("/{canary}/victim")),
            ]]
        },
    },
    Case {
        name: "whiteout-out",
        outcome: Outcome::Refused,
        confined: &[],
        layers: |canary| {
            vec![vec![
                Entry::File(format!("{UP}{canary}/.wh.victim2"), ""),
                Entry::File(format!("{UP}{canary}/.wh..wh..opq"), ""),
            ]]
        },
    },
    Case {
        name: "dir-replaced-by-symlink",
        outcome: Outcome::Confined,
        confined: &["through-symlink", "through-symlink2"],
        layers: |canary| {
            vec![
                vec![
                    Entry::Dir("dir".into()),
                    Entry::File("dir/inner".into(), "inner"),
                    Entry::Dir("dir2".into()),
                ],
                vec![
                    Entry::Symlink("dir".into(), format!("/{canary}")),
                    Entry::File("dir/through-symlink".into(), "escaped"),
                    Entry::Symlink("dir2".into(), format!("{UP}{canary}")),
                    Entry::File("dir2/through-symlink2".into(), "escaped"),
                ],
            ]
        },
    },
];

/// A tar header with a raw name (and link name): the tar crate's setters
/// refuse `..` and absolute names, which is the point here.
fn header(name: &str, link: Option<&str>, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut header = tar::Header::new_old();
    {
        let old = header.as_old_mut();
        assert!(name.len() < old.name.len(), "name too long: {name}");
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(link) = link {
            assert!(link.len() < old.linkname.len(), "link too long: {link}");
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
    }
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(1_700_000_000);
    header.set_cksum();
    header
}

/// An uncompressed layer tar of `entries`.
fn layer_tar(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let (header, data) = match entry {
            Entry::File(name, content) => (
                header(name, None, tar::EntryType::Regular, content.len() as u64),
                content.as_bytes(),
            ),
            Entry::Dir(name) => (header(name, None, tar::EntryType::Directory, 0), &b""[..]),
            Entry::Symlink(name, target) => (
                header(name, Some(target), tar::EntryType::Symlink, 0),
                &b""[..],
            ),
            Entry::Hardlink(name, target) => (
                header(name, Some(target), tar::EntryType::Link, 0),
                &b""[..],
            ),
        };
        builder.append(&header, data).expect("append");
    }
    builder.into_inner().expect("finish the tar")
}

/// Names that an escaped entry would have.
const ESCAPED: &[&str] = &[
    "escape",
    "dotdot-escape",
    "abs-escape",
    "via-symlink",
    "via-symlink2",
    "via-symlink3",
    "through-symlink",
    "through-symlink2",
];

/// Paths under `dir` whose file name is one of [`ESCAPED`].
fn escaped_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if ESCAPED.contains(&name.as_str()) {
                found.push(path.display().to_string());
            }
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                pending.push(path);
            }
        }
    }
    found
}

fn run_case(rig: &Rig, case: &Case) {
    let store = rig.kiln.store();
    let canary = tempfile::Builder::new()
        .prefix("kiln-canary-")
        .tempdir_in(store.parent().expect("the store has a parent"))
        .expect("canary dir");
    std::fs::write(canary.path().join("victim"), "original").expect("victim");
    std::fs::write(canary.path().join("victim2"), "original").expect("victim2");
    let before = tree_listing(canary.path());
    let canary_rel = s(canary.path()).trim_start_matches('/').to_owned();

    let layers: Vec<Vec<u8>> = (case.layers)(&canary_rel)
        .iter()
        .map(|entries| layer_tar(entries))
        .collect();
    let archive = rig.kiln.path(&format!("{}.tar", case.name));
    archive_with_layers(store, &layers, "hostile layer", &archive);
    rig.kiln.load(["-t", "hostile:1", s(&archive)]);

    let context = kiln_testutil::Project::empty();
    context.write(
        "Dockerfile",
        "FROM hostile:1\n\
         RUN (echo pwned > /hardlink-out; echo pwned > /hardlink-abs; \
         echo pwned > /dir/inner; echo pwned > /dir/through-symlink) 2>/dev/null; \
         find / -xdev -path /proc -prune -o \\( -name '*escape*' -o -name 'via-symlink*' \
         -o -name 'through-symlink*' \\) -print; true\n",
    );
    let output: Output = rig.try_build(context.path(), &[]);
    kiln_testutil::assert_no_panic(&output);
    rig.assert_no_leftovers();

    assert_eq!(
        tree_listing(canary.path()),
        before,
        "case {}: the canary changed\n{}",
        case.name,
        output.streams()
    );
    assert_eq!(
        std::fs::read_to_string(canary.path().join("victim")).expect("victim"),
        "original"
    );
    // `../escape` climbs out of the rootfs into the store, where no rootfs
    // (they are under the store's tmp/, removed after the build) may keep it.
    let leaked: Vec<String> = escaped_under(store)
        .into_iter()
        .filter(|path| path.ends_with("/escape"))
        .collect();
    assert!(
        leaked.is_empty(),
        "case {}: `../escape` escaped into the store: {leaked:?}",
        case.name
    );

    let outcome = if output.status.success() {
        Outcome::Confined
    } else {
        kiln_testutil::assert_clean_failure(&output);
        let error = &output.stderr[output.stderr.find("error: ").unwrap_or(0)..];
        assert!(
            error.contains("layer") || error.contains("outside") || error.contains("unsafe"),
            "case {}: the error does not say what was refused: {error}",
            case.name
        );
        Outcome::Refused
    };
    if case.outcome != Outcome::Either {
        assert_eq!(
            outcome,
            case.outcome,
            "case {}\n{}",
            case.name,
            output.streams()
        );
    }
    if outcome == Outcome::Confined {
        // The RUN printed where the entries landed: inside the rootfs, at the
        // canary's path.
        for name in case.confined {
            let inside = format!(" /{canary_rel}/{name}");
            assert!(
                output.stderr.lines().any(|line| line.ends_with(&inside)),
                "case {}: {name} is not confined at{inside}\n{}",
                case.name,
                output.stderr
            );
        }
    }
}

fn hostile_layers_never_touch_the_canary(rig: &Rig) {
    for case in CASES {
        run_case(rig, case);
    }
}
