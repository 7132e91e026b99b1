//! RUN snapshots become layers: additions, changes, deletions (whiteouts),
//! a replaced directory (opaque whiteout), metadata-only changes, hard and
//! symbolic links, FIFOs, empty directories, long paths, xattrs (file
//! capabilities) and the empty layer of a RUN that changes nothing — read
//! from the layer tars and checked on the merged tree that `umoci unpack`
//! (an independent whiteout implementation) makes.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

use kiln_testutil::{require_tool, EntryKind};

use crate::common::s;
use crate::run_common::{
    assert_not_in_layer, both_isolations, entry, kind_of, layer_paths, merged_owners, umoci_unpack,
    Built, Rig, BASE, BASE_LAYERS, LAYOUT_TAG,
};
use crate::run_image::archive_with_layers;

both_isolations!(
    changes_become_layers,
    mount_points_stay_out_of_scratch_layers,
    xattrs_survive_extraction_and_snapshot,
);

/// A 150-byte directory name and a 150-byte file name: a 301-byte path.
fn long_path() -> String {
    format!("{}/{}", "a".repeat(150), "b".repeat(150))
}

fn build_changes(rig: &Rig) -> Built {
    let long = long_path();
    rig.build_text(
        &format!(
            "FROM {BASE}\n\
             RUN mkdir -p /data/keep /data/gone/sub /data/replaced/sub /data/dirmode && \\\n\
             echo keep > /data/keep/file && echo gone > /data/gone/sub/file && \\\n\
             echo old > /data/replaced/sub/old && echo old2 > /data/replaced/top && \\\n\
             echo modify-me > /data/modify && echo delete-me > /data/delete && \\\n\
             echo mode > /data/chmod && echo owner > /data/chown && echo target > /data/target && \\\n\
             ln -s old-target /data/relink\n\
             RUN echo modified > /data/modify && rm /data/delete && rm -rf /data/gone && \\\n\
             rm -rf /data/replaced && mkdir /data/replaced && echo new > /data/replaced/new && \\\n\
             chmod 600 /data/chmod && chown 1000:1000 /data/chown && chmod 700 /data/dirmode && \\\n\
             ln /data/target /data/hardlink && ln -s target /data/symlink && \\\n\
             ln -s /abs/dangling /data/dangling && rm /data/relink && ln -s new-target /data/relink && \\\n\
             mkfifo /data/fifo && mkdir /data/empty && \\\n\
             mkdir -p /data/{dir} && echo long > /data/{long}\n\
             RUN true\n",
            dir = long.split('/').next().unwrap_or_default(),
        ),
        &[],
    )
}

fn changes_become_layers(rig: &Rig) {
    let built = build_changes(rig);
    let layers = &built.image.layers;
    assert_eq!(layers.len(), BASE_LAYERS + 3, "one layer per RUN");

    let changed = built.layer_from_top(1);
    let paths = layer_paths(changed);
    for path in [
        "data",
        "data/modify",
        "data/.wh.delete",
        "data/.wh.gone",
        "data/replaced",
        "data/replaced/.wh..wh..opq",
        "data/replaced/new",
        "data/chmod",
        "data/chown",
        "data/dirmode",
        "data/hardlink",
        "data/symlink",
        "data/dangling",
        "data/relink",
        "data/fifo",
        "data/empty",
    ] {
        assert!(paths.contains(&path), "{path} missing from {paths:#?}");
    }
    for unchanged in [
        "data/keep",
        "data/replaced/sub",
        "data/replaced/top",
        "bin",
        "etc",
    ] {
        assert_not_in_layer(changed, unchanged);
    }
    for mount_point in ["proc", "dev", "sys", "etc/hosts", "etc/resolv.conf"] {
        assert_not_in_layer(changed, mount_point);
    }
    assert_eq!(entry(changed, "data/modify").content, b"modified\n");
    let chmod = &entry(changed, "data/chmod").entry;
    assert_eq!((chmod.mode, chmod.kind), (0o600, EntryKind::File));
    let chown = &entry(changed, "data/chown").entry;
    assert_eq!((chown.uid, chown.gid), (1000, 1000));
    assert_eq!(entry(changed, "data/dirmode").entry.mode, 0o700);
    assert_eq!(kind_of(changed, "data/empty"), EntryKind::Dir);
    assert_eq!(kind_of(changed, "data/fifo"), EntryKind::Other(b'6'));
    for (link, target) in [
        ("data/symlink", "target"),
        ("data/dangling", "/abs/dangling"),
        ("data/relink", "new-target"),
    ] {
        let link = &entry(changed, link).entry;
        assert_eq!(link.kind, EntryKind::Symlink);
        assert_eq!(link.link.as_deref(), Some(target));
    }
    // The new link and its (otherwise unchanged) target stay one inode: one
    // of them is a hard link entry to the other, which comes first.
    let hardlink_first = entry(changed, "data/hardlink").entry.kind == EntryKind::Hardlink;
    let (link_path, other) = if hardlink_first {
        ("data/hardlink", "data/target")
    } else {
        ("data/target", "data/hardlink")
    };
    let link_entry = &entry(changed, link_path).entry;
    assert_eq!(
        (link_entry.kind, link_entry.link.as_deref()),
        (EntryKind::Hardlink, Some(other)),
        "data/hardlink and data/target are not linked"
    );
    let position = |path: &str| paths.iter().position(|entry| *entry == path);
    assert!(
        position(other) < position(link_path),
        "the hard link target must come earlier in the same layer"
    );
    let long = entry(changed, &format!("data/{}", long_path()));
    assert_eq!(long.content, b"long\n");

    // `RUN true` changes nothing: an empty layer, still in the manifest, and
    // a history entry that is not marked empty_layer.
    let empty = built.layer_from_top(0);
    assert!(
        empty.files.is_empty(),
        "RUN true made entries: {:#?}",
        layer_paths(empty)
    );
    let history = built.image.history();
    let last = history.last().expect("history");
    assert!(
        last["created_by"]
            .as_str()
            .unwrap_or_default()
            .contains("true"),
        "{last}"
    );
    assert_ne!(last["empty_layer"], true, "{last}");
    let layered = history
        .iter()
        .filter(|entry| entry["empty_layer"] != true)
        .count();
    assert_eq!(layered, layers.len(), "history and layers disagree");

    check_unpacked(rig, &built);
}

/// The merged tree, with whiteouts applied by umoci.
fn check_unpacked(rig: &Rig, built: &Built) {
    if !require_tool("umoci") {
        return;
    }
    let root = umoci_unpack(rig.kiln.scratch(), &built.layout, LAYOUT_TAG);
    let data = root.join("data");
    let read = |path: &str| std::fs::read_to_string(data.join(path)).unwrap_or_default();
    assert_eq!(read("modify"), "modified\n");
    assert_eq!(read("keep/file"), "keep\n");
    assert!(!data.join("delete").exists());
    assert!(!data.join("gone").exists());
    let mut replaced: Vec<String> = std::fs::read_dir(data.join("replaced"))
        .expect("data/replaced")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    replaced.sort();
    assert_eq!(
        replaced,
        ["new"],
        "the old content of a replaced dir is hidden"
    );
    let mode = |path: &str| {
        std::fs::symlink_metadata(data.join(path))
            .expect("stat")
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("chmod"), 0o600);
    assert_eq!(mode("dirmode"), 0o700);
    let target = std::fs::metadata(data.join("target")).expect("target");
    let link = std::fs::metadata(data.join("hardlink")).expect("hardlink");
    assert_eq!(
        target.ino(),
        link.ino(),
        "hardlink and target are one inode"
    );
    assert!(std::fs::symlink_metadata(data.join("fifo"))
        .expect("fifo")
        .file_type()
        .is_fifo());
    assert_eq!(
        std::fs::read_dir(data.join("empty"))
            .expect("empty")
            .count(),
        0
    );
    assert_eq!(
        std::fs::read_link(data.join("relink")).expect("relink"),
        std::path::Path::new("new-target")
    );
    assert_eq!(read(&long_path()), "long\n");
    for absent in ["proc", "dev", "sys"] {
        assert!(!root.join(absent).exists(), "{absent} is in the image");
    }
    let owners = merged_owners(&built.image);
    assert_eq!(owners.get("data/chown"), Some(&(1000, 1000)));
    assert_eq!(owners.get("data/modify"), Some(&(0, 0)));
    assert_eq!(owners.get("home/app"), Some(&(1000, 1000)));
    assert!(!owners.contains_key("data/gone/sub/file"));
    assert!(!owners.contains_key("data/replaced/sub"));
}

fn mount_points_stay_out_of_scratch_layers(rig: &Rig) {
    // A base without /proc, /dev, /sys, /etc/hosts or a WORKDIR: everything
    // the sandbox needs as a mount point, and none of it may reach a layer.
    let built = rig.build_text(
        &format!(
            "FROM {BASE} AS tools\n\
             FROM scratch\n\
             COPY --from=tools /bin/busybox /bin/busybox\n\
             COPY --from=tools /bin/sh /bin/sh\n\
             RUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox ls /proc/self >/dev/null && /bin/busybox echo ok > /ok\"]\n"
        ),
        &[],
    );
    let layer = built.layer_from_top(0);
    assert_eq!(layer_paths(layer), ["ok"], "only the RUN's own file");
    assert_eq!(entry(layer, "ok").content, b"ok\n");
}

/// `security.capability` for `cap_net_raw+ep` (VFS_CAP_REVISION_2).
const CAP_NET_RAW_EP: [u8; 20] = [
    0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// The extended attributes (`SCHILY.xattr.*` PAX records) of `path` in a layer blob.
fn layer_xattrs(blob: &[u8], path: &str) -> Vec<(String, Vec<u8>)> {
    let mut plain = Vec::new();
    if blob.starts_with(&[0x1f, 0x8b]) {
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(blob), &mut plain)
            .expect("gunzip the layer");
    } else {
        plain = blob.to_vec();
    }
    let mut archive = tar::Archive::new(&plain[..]);
    for entry in archive.entries().expect("a tar") {
        let mut entry = entry.expect("a tar entry");
        let name = entry.path().expect("a path").to_string_lossy().into_owned();
        if name.trim_start_matches("./") != path {
            continue;
        }
        let mut xattrs = Vec::new();
        if let Some(extensions) = entry.pax_extensions().expect("PAX records") {
            for extension in extensions {
                let extension = extension.expect("a PAX record");
                let key = extension.key().expect("a UTF-8 key");
                if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                    xattrs.push((name.to_owned(), extension.value_bytes().to_vec()));
                }
            }
        }
        xattrs.sort();
        return xattrs;
    }
    panic!("no {path} in the layer");
}

fn xattrs_survive_extraction_and_snapshot(rig: &Rig) {
    // A base layer with a file carrying a file capability and a user xattr;
    // a RUN changes only its mode, so the file is in the RUN's layer, and its
    // xattrs must have survived extraction and the snapshot.
    let mut builder = tar::Builder::new(Vec::new());
    builder
        .append_pax_extensions([
            ("SCHILY.xattr.security.capability", &CAP_NET_RAW_EP[..]),
            ("SCHILY.xattr.user.kiln", &b"hello"[..]),
        ])
        .expect("PAX header");
    let content = b"#!/bin/sh\necho ping\n";
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(content.len() as u64);
    header.set_mode(0o755);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(1_700_000_000);
    builder
        .append_data(&mut header, "bin/pinger", &content[..])
        .expect("append");
    let layer = builder.into_inner().expect("finish the tar");
    let archive = rig.kiln.path("xattrs.tar");
    archive_with_layers(rig.kiln.store(), &[layer], "xattr layer", &archive);
    rig.kiln.load(["-t", "xattrs:1", s(&archive)]);

    let built = rig.build_text("FROM xattrs:1\nRUN chmod 750 /bin/pinger\n", &[]);
    let top = built.layer_from_top(0);
    assert_eq!(entry(top, "bin/pinger").entry.mode, 0o750);
    let hex = top.digest.trim_start_matches("sha256:");
    let blob = std::fs::read(built.layout.join("blobs/sha256").join(hex)).expect("layer blob");
    assert_eq!(
        layer_xattrs(&blob, "bin/pinger"),
        [
            ("security.capability".to_owned(), CAP_NET_RAW_EP.to_vec()),
            ("user.kiln".to_owned(), b"hello".to_vec()),
        ]
    );
}
