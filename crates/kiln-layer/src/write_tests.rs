//! Tests of `write_layer`: determinism, pinned digests, format details, streaming.

use super::*;
use crate::entry::EntryKind;
use kiln_oci::HashingWriter;
use std::io::Read;
use std::path::PathBuf;

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

fn with_owner(mut entry: LayerEntry, uid: u32, gid: u32) -> LayerEntry {
    entry.uid = uid;
    entry.gid = gid;
    entry
}

/// A small layer exercising every entry kind.
fn sample_entries() -> Vec<LayerEntry> {
    let mut xattr_file = LayerEntry::file("usr/bin/ping", b"ping".to_vec(), 0o4755, 1_700_000_000);
    xattr_file
        .xattrs
        .insert("security.capability".to_owned(), vec![1, 0, 0, 2]);
    xattr_file.xattrs.insert("user.a".to_owned(), b"b".to_vec());
    vec![
        LayerEntry::dir("etc", 0o755, 1_700_000_000),
        with_owner(
            LayerEntry::file("etc/hostname", b"kiln\n".to_vec(), 0o644, 1_700_000_001),
            1000,
            1000,
        ),
        LayerEntry::dir("usr", 0o755, -5),
        LayerEntry::dir("usr/bin", 0o755, 0),
        xattr_file,
        LayerEntry::symlink("usr/bin/sh", "/bin/busybox", 7),
        LayerEntry::new(
            "usr/bin/ping6",
            EntryKind::Hardlink {
                target: "usr/bin/ping".to_owned(),
            },
            0o4755,
            1,
        ),
        LayerEntry::new("dev", EntryKind::Dir, 0o755, 0),
        LayerEntry::new("dev/fifo", EntryKind::Fifo, 0o600, 0),
        LayerEntry::new(
            "dev/null",
            EntryKind::CharDevice { major: 1, minor: 3 },
            0o666,
            0,
        ),
        LayerEntry::new(
            "dev/sda",
            EntryKind::BlockDevice { major: 8, minor: 0 },
            0o660,
            0,
        ),
        LayerEntry::new("var/old", EntryKind::Whiteout, 0, 0),
        LayerEntry::new("opt", EntryKind::OpaqueDir, 0o1777, 0),
        LayerEntry::dir(
            format!("long/{}/{}", "d".repeat(90), "e".repeat(50)),
            0o700,
            0,
        ),
        LayerEntry::file(
            format!("long/{}", "n".repeat(300)),
            b"long".to_vec(),
            0o600,
            0,
        ),
        LayerEntry::symlink("long/link", "t/".repeat(80), 0),
        with_owner(
            LayerEntry::file("bigid", Vec::new(), 0o644, 0),
            3_000_000,
            70_000,
        ),
    ]
}

/// One line per tar entry, the "text dump" the golden compares.
fn dump(tar_bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut archive = tar::Archive::new(tar_bytes);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        let mut line = format!(
            "{:?} {:o} {}:{} {} {} {}",
            header.entry_type(),
            header.mode().unwrap(),
            header.uid().unwrap(),
            header.gid().unwrap(),
            header.mtime().unwrap(),
            entry.size(),
            String::from_utf8_lossy(&entry.path_bytes()),
        );
        if let Some(link) = entry.link_name_bytes() {
            line.push_str(&format!(" -> {}", String::from_utf8_lossy(&link)));
        }
        if header.entry_type().is_character_special() || header.entry_type().is_block_special() {
            let major = header.device_major().unwrap().unwrap();
            let minor = header.device_minor().unwrap().unwrap();
            line.push_str(&format!(" dev {major},{minor}"));
        }
        if let Some(extensions) = entry.pax_extensions().unwrap() {
            for extension in extensions {
                let extension = extension.unwrap();
                line.push_str(&format!(
                    " pax:{}={:?}",
                    extension.key().unwrap(),
                    String::from_utf8_lossy(extension.value_bytes())
                ));
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn shuffled_entries_give_identical_bytes() {
    let entries = sample_entries();
    let mut reversed = entries.clone();
    reversed.reverse();
    let mut rotated = entries.clone();
    rotated.rotate_left(5);
    let options = LayerOptions::default();
    let (first, first_bytes) = write_layer(entries, Vec::new(), &options).unwrap();
    for other in [reversed, rotated] {
        let (layer, bytes) = write_layer(other, Vec::new(), &options).unwrap();
        assert_eq!(layer, first);
        assert_eq!(bytes, first_bytes);
    }
}

#[test]
fn golden_tree_and_digest() {
    let case = testdata().join("layers/sample");
    let (layer, bytes) =
        write_layer(sample_entries(), Vec::new(), &LayerOptions::default()).unwrap();
    let tree = dump(&gunzip(&bytes));
    let digests = format!(
        "digest {}\ndiff_id {}\nsize {}\n",
        layer.digest, layer.diff_id, layer.size
    );
    if std::env::var_os("KILN_BLESS").is_some() {
        std::fs::create_dir_all(&case).unwrap();
        std::fs::write(case.join("tree.txt"), &tree).unwrap();
        std::fs::write(case.join("digest"), &digests).unwrap();
    }
    let expected_tree = std::fs::read_to_string(case.join("tree.txt")).unwrap();
    assert_eq!(
        tree, expected_tree,
        "tar entries changed; KILN_BLESS=1 rewrites"
    );
    let expected_digests = std::fs::read_to_string(case.join("digest")).unwrap();
    assert_eq!(
        digests, expected_digests,
        "layer bytes changed; KILN_BLESS=1 rewrites"
    );
}

#[test]
fn digests_describe_the_streams() {
    for compression in [Compression::Gzip, Compression::None] {
        let options = LayerOptions {
            compression,
            gzip_level: 9,
            ..Default::default()
        };
        let (layer, bytes) = write_layer(sample_entries(), Vec::new(), &options).unwrap();
        assert_eq!(layer.size, bytes.len() as u64);
        assert_eq!(layer.digest, kiln_oci::Digest::sha256_of(&bytes));
        let tar_bytes = match compression {
            Compression::Gzip => {
                assert_eq!(layer.media_type, kiln_oci::media_type::OCI_LAYER_GZIP);
                // Fixed gzip header: no flags, mtime 0, XFL 2 (level 9), OS 255.
                assert_eq!(&bytes[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255]);
                gunzip(&bytes)
            }
            Compression::None => {
                assert_eq!(layer.media_type, kiln_oci::media_type::OCI_LAYER_TAR);
                assert_eq!(layer.digest, layer.diff_id);
                bytes.clone()
            }
        };
        assert_eq!(layer.diff_id, kiln_oci::Digest::sha256_of(&tar_bytes));
        assert_eq!(tar_bytes.len() % 512, 0);
        assert!(tar_bytes[tar_bytes.len() - 1024..].iter().all(|&b| b == 0));
    }
}

#[test]
fn tar_crate_reads_back_every_field() {
    let options = LayerOptions {
        compression: Compression::None,
        gzip_level: 6,
        ..Default::default()
    };
    let (_, bytes) = write_layer(sample_entries(), Vec::new(), &options).unwrap();
    let mut archive = tar::Archive::new(bytes.as_slice());
    let mut seen = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        let header = entry.header().clone();
        assert!(
            header.username_bytes().is_none_or(<[u8]>::is_empty),
            "{path}"
        );
        assert!(
            header.groupname_bytes().is_none_or(<[u8]>::is_empty),
            "{path}"
        );
        match path.as_str() {
            "etc/hostname" => {
                assert_eq!((header.uid().unwrap(), header.gid().unwrap()), (1000, 1000));
                let mut content = String::new();
                entry.read_to_string(&mut content).unwrap();
                assert_eq!(content, "kiln\n");
            }
            "usr/" => assert_eq!(header.mtime().unwrap(), 0, "negative mtime clamps"),
            "usr/bin/ping" => {
                assert_eq!(header.mode().unwrap(), 0o4755);
                let extensions: Vec<(String, Vec<u8>)> = entry
                    .pax_extensions()
                    .unwrap()
                    .unwrap()
                    .map(|e| {
                        let e = e.unwrap();
                        (e.key().unwrap().to_owned(), e.value_bytes().to_vec())
                    })
                    .collect();
                assert_eq!(
                    extensions,
                    vec![
                        (
                            "SCHILY.xattr.security.capability".to_owned(),
                            vec![1, 0, 0, 2]
                        ),
                        ("SCHILY.xattr.user.a".to_owned(), b"b".to_vec()),
                    ]
                );
            }
            "usr/bin/ping6" => {
                assert_eq!(header.entry_type(), tar::EntryType::Link);
                assert_eq!(&*entry.link_name_bytes().unwrap(), b"usr/bin/ping");
            }
            "long/link" => {
                assert_eq!(entry.link_name_bytes().unwrap().len(), 160);
            }
            "bigid" => {
                assert_eq!(header.uid().unwrap(), 3_000_000);
                assert_eq!(header.gid().unwrap(), 70_000);
            }
            "etc/" | "dev/" | "usr/bin/" | "opt/" => {
                assert_eq!(header.entry_type(), tar::EntryType::Directory)
            }
            _ => {}
        }
        // Only entries that need it carry PAX records.
        let needs_pax = ["usr/bin/ping", "long/link", "bigid"].contains(&path.as_str())
            || path.starts_with("long/nnn");
        assert_eq!(
            entry.pax_extensions().unwrap().is_some(),
            needs_pax,
            "{path}"
        );
        seen.push(path);
    }
    let long_file = format!("long/{}", "n".repeat(300));
    // 147 bytes: fits the ustar prefix + name fields, so no PAX record.
    let long_dir = format!("long/{}/{}/", "d".repeat(90), "e".repeat(50));
    for expected in [
        "var/.wh.old",
        "opt/",
        "opt/.wh..wh..opq",
        "dev/null",
        long_file.as_str(),
        long_dir.as_str(),
    ] {
        assert!(
            seen.iter().any(|path| path == expected),
            "{expected} in {seen:?}"
        );
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "entries are in byte order");
}

#[test]
fn gnu_tar_lists_numeric_owners_modes_and_links() {
    let Ok(output) = std::process::Command::new("tar").arg("--version").output() else {
        return; // no tar on this machine
    };
    if !String::from_utf8_lossy(&output.stdout).contains("GNU tar") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("layer.tar.gz");
    let out = std::fs::File::create(&file).unwrap();
    write_layer(sample_entries(), out, &LayerOptions::default()).unwrap();
    let listing = std::process::Command::new("tar")
        .args(["--numeric-owner", "-tvzf"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(listing.status.success(), "{listing:?}");
    let listing = String::from_utf8(listing.stdout).unwrap();
    let line = |needle: &str| {
        listing
            .lines()
            .find(|line| line.ends_with(needle) || line.contains(&format!(" {needle} ")))
            .unwrap_or_else(|| panic!("{needle} not in\n{listing}"))
            .to_owned()
    };
    assert!(line("etc/hostname").starts_with("-rw-r--r-- 1000/1000"));
    assert!(line("usr/bin/ping").starts_with("-rwsr-xr-x 0/0"));
    assert!(line("usr/bin/sh -> /bin/busybox").starts_with("lrwxrwxrwx 0/0"));
    assert!(line("usr/bin/ping6 link to usr/bin/ping").starts_with("hrwsr-xr-x"));
    assert!(line("opt/").starts_with("drwxrwxrwt"));
    assert!(line("bigid").contains("3000000/70000"));
    assert!(line(&format!("long/{}", "n".repeat(300))).starts_with("-rw-------"));
}

#[test]
fn invalid_entry_lists_are_rejected() {
    let options = LayerOptions::default();
    let duplicate = vec![
        LayerEntry::dir("a", 0o755, 0),
        LayerEntry::file("a", Vec::new(), 0o644, 0),
    ];
    assert!(matches!(
        write_layer(duplicate, Vec::new(), &options),
        Err(Error::DuplicatePath { path }) if path == "a"
    ));
    for bad in ["/abs", "./a", "a/", "a/../b", ""] {
        let entries = vec![LayerEntry::dir(bad, 0o755, 0)];
        assert!(
            matches!(
                write_layer(entries, Vec::new(), &options),
                Err(Error::UnsafePath { .. })
            ),
            "{bad:?}"
        );
    }
    let escaping_link = vec![LayerEntry::new(
        "a",
        EntryKind::Hardlink {
            target: "../etc/passwd".to_owned(),
        },
        0o644,
        0,
    )];
    assert!(matches!(
        write_layer(escaping_link, Vec::new(), &options),
        Err(Error::UnsafePath { .. })
    ));
}

#[test]
fn file_content_must_match_the_declared_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, b"12345").unwrap();
    for size in [4, 6] {
        let entries = vec![LayerEntry::new(
            "f",
            EntryKind::File {
                size,
                content: Content::Path(path.clone()),
            },
            0o644,
            0,
        )];
        let result = write_layer(entries, Vec::new(), &LayerOptions::default());
        assert!(
            matches!(result, Err(Error::FileChanged { path: p }) if p == path),
            "{size}"
        );
    }
}

#[test]
fn large_files_stream_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big");
    let block: Vec<u8> = (0..1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let mut expected = HashingWriter::new(std::io::sink());
    {
        let mut file = std::fs::File::create(&path).unwrap();
        for _ in 0..50 {
            std::io::Write::write_all(&mut file, &block).unwrap();
            std::io::Write::write_all(&mut expected, &block).unwrap();
        }
    }
    let size = 50 * block.len() as u64;
    let entries = vec![LayerEntry::new(
        "big",
        EntryKind::File {
            size,
            content: Content::Path(path.clone()),
        },
        0o644,
        0,
    )];
    let options = LayerOptions {
        compression: Compression::None,
        gzip_level: 6,
        ..Default::default()
    };
    let out = std::fs::File::create(dir.path().join("layer.tar")).unwrap();
    let (layer, _) = write_layer(entries, out, &options).unwrap();
    assert_eq!(layer.size, 512 + size + 1024);
    let tar_file = std::fs::File::open(dir.path().join("layer.tar")).unwrap();
    let mut archive = tar::Archive::new(tar_file);
    let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
    let mut actual = HashingWriter::new(std::io::sink());
    assert_eq!(std::io::copy(&mut entry, &mut actual).unwrap(), size);
    assert_eq!(actual.digest(), expected.digest());
}

#[test]
fn hardlink_content_moves_to_the_first_path() {
    let link = |path: &str| {
        LayerEntry::new(
            path,
            EntryKind::Hardlink {
                target: "m".to_owned(),
            },
            0o755,
            0,
        )
    };
    let entries = vec![
        LayerEntry::file("m", b"data".to_vec(), 0o755, 0),
        link("z"),
        link("b"),
    ];
    let options = LayerOptions {
        compression: Compression::None,
        gzip_level: 6,
        ..Default::default()
    };
    let (_, bytes) = write_layer(entries, Vec::new(), &options).unwrap();
    let mut archive = tar::Archive::new(bytes.as_slice());
    let mut seen = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        let link = entry
            .link_name_bytes()
            .map(|link| String::from_utf8(link.into_owned()).unwrap());
        let mut content = String::new();
        entry.read_to_string(&mut content).unwrap();
        seen.push((path, link, content));
    }
    let expected = [
        ("b", None, "data"),
        ("m", Some("b"), ""),
        ("z", Some("b"), ""),
    ];
    let expected: Vec<(String, Option<String>, String)> = expected
        .iter()
        .map(|(p, l, c)| (p.to_string(), l.map(str::to_owned), c.to_string()))
        .collect();
    assert_eq!(seen, expected);
}

/// `count` files of a few KiB of text each, the one at `changed` (if any) edited in place.
fn many_files(count: usize, changed: Option<usize>) -> Vec<LayerEntry> {
    (0..count)
        .map(|index| {
            let mut content: Vec<u8> = (0..300)
                .flat_map(|line| format!("file {index} line {line}\n").into_bytes())
                .collect();
            if changed == Some(index) {
                content[100] = b'#';
            }
            LayerEntry::file(format!("app/f{index:04}"), content, 0o644, 0)
        })
        .collect()
}

#[test]
fn reusing_blocks_keeps_the_layer_identity() {
    let dir = tempfile::tempdir().unwrap();
    let options = LayerOptions::default();
    let (first, first_bytes) = write_layer(many_files(200, None), Vec::new(), &options).unwrap();
    let map = first.block_map.clone().unwrap();
    assert!(map.blocks.len() > 4, "{} blocks", map.blocks.len());
    assert_eq!(first.reused_blocks, 0);
    let path = dir.path().join("blob");
    std::fs::write(&path, &first_bytes).unwrap();
    let mut source = crate::BlobBlocks::new();
    source
        .add(&map, std::fs::File::open(&path).unwrap())
        .unwrap();
    let reuse = LayerOptions {
        reuse: Some(Arc::new(source)),
        gzip_threads: 2,
        ..LayerOptions::default()
    };
    let blocks = map.blocks.len() as u64;
    for (changed, reused) in [(None, blocks..=blocks), (Some(100), 1..=blocks - 1)] {
        let (plain, plain_bytes) =
            write_layer(many_files(200, changed), Vec::new(), &options).unwrap();
        let (again, again_bytes) =
            write_layer(many_files(200, changed), Vec::new(), &reuse).unwrap();
        assert!(again_bytes == plain_bytes, "{changed:?}");
        assert_eq!(
            (&again.digest, &again.diff_id, again.size, &again.block_map),
            (&plain.digest, &plain.diff_id, plain.size, &plain.block_map),
            "{changed:?}"
        );
        assert!(
            reused.contains(&again.reused_blocks),
            "{changed:?}: {}",
            again.reused_blocks
        );
    }
    let tar_only = LayerOptions {
        compression: Compression::None,
        ..reuse
    };
    let (layer, _) = write_layer(many_files(3, None), Vec::new(), &tar_only).unwrap();
    assert_eq!((layer.block_map, layer.reused_blocks), (None, 0));
}
