//! Listing the entries of a layer tar (plain or gzip), with what tests check:
//! path, type, mode, owner, size, link target, mtime — and file contents.

use std::fmt;
use std::io::Read;

/// The type of a tar entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A hard link to an earlier entry.
    Hardlink,
    /// Anything else (the raw tar type flag).
    Other(u8),
}

impl EntryKind {
    fn letter(self) -> char {
        match self {
            EntryKind::File => '-',
            EntryKind::Dir => 'd',
            EntryKind::Symlink => 'l',
            EntryKind::Hardlink => 'h',
            EntryKind::Other(_) => '?',
        }
    }
}

/// One entry of a layer tar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarEntry {
    /// The path, with no leading `./` or `/` and no trailing `/`.
    pub path: String,
    /// The entry type.
    pub kind: EntryKind,
    /// The permission bits (including setuid/setgid/sticky).
    pub mode: u32,
    /// The numeric owner.
    pub uid: u64,
    /// The numeric group.
    pub gid: u64,
    /// The size of the content (0 for non-files).
    pub size: u64,
    /// The link target of a symlink or hard link.
    pub link: Option<String>,
    /// The modification time, in seconds since the epoch.
    pub mtime: u64,
}

impl fmt::Display for TarEntry {
    /// `d 0755 0:0 path`, `- 0644 0:0 path (5 bytes)`, `l 0777 0:0 path -> target`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:04o} {}:{} {}",
            self.kind.letter(),
            self.mode,
            self.uid,
            self.gid,
            self.path
        )?;
        if let Some(link) = &self.link {
            write!(f, " -> {link}")?;
        } else if self.kind == EntryKind::File {
            write!(f, " ({} bytes)", self.size)?;
        }
        Ok(())
    }
}

/// An entry with its content (empty for non-files).
#[derive(Debug, Clone)]
pub struct LayerFile {
    /// The entry's header fields.
    pub entry: TarEntry,
    /// The content of a regular file.
    pub content: Vec<u8>,
}

/// Normalizes a tar path: no leading `./` or `/`, no trailing `/`.
pub(crate) fn normalize(path: &str) -> String {
    let mut path = path;
    loop {
        if let Some(rest) = path.strip_prefix("./") {
            path = rest;
        } else if let Some(rest) = path.strip_prefix('/') {
            path = rest;
        } else {
            break;
        }
    }
    path.trim_end_matches('/').to_owned()
}

/// Lists a layer blob, gunzipping it first when it starts with the gzip magic.
pub fn list_layer(blob: &[u8]) -> Vec<LayerFile> {
    if blob.starts_with(&[0x1f, 0x8b]) {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(blob)
            .read_to_end(&mut plain)
            .unwrap_or_else(|err| panic!("layer is not valid gzip: {err}"));
        list_tar(&plain)
    } else {
        list_tar(blob)
    }
}

/// Lists an uncompressed tar, in archive order.
pub fn list_tar(bytes: &[u8]) -> Vec<LayerFile> {
    let mut archive = tar::Archive::new(bytes);
    let mut files = Vec::new();
    for entry in archive
        .entries()
        .unwrap_or_else(|err| panic!("not a tar: {err}"))
    {
        let mut entry = entry.unwrap_or_else(|err| panic!("bad tar entry: {err}"));
        let path = entry
            .path()
            .unwrap_or_else(|err| panic!("bad tar path: {err}"));
        let path = normalize(&path.to_string_lossy());
        let header = entry.header();
        let kind = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => EntryKind::File,
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::Symlink => EntryKind::Symlink,
            tar::EntryType::Link => EntryKind::Hardlink,
            other => EntryKind::Other(other.as_byte()),
        };
        let link = entry
            .link_name()
            .unwrap_or_else(|err| panic!("bad link name of {path}: {err}"))
            .map(|target| target.to_string_lossy().into_owned());
        let header = entry.header();
        let tar_entry = TarEntry {
            path,
            kind,
            mode: header
                .mode()
                .unwrap_or_else(|err| panic!("bad mode: {err}"))
                & 0o7777,
            uid: header.uid().unwrap_or_else(|err| panic!("bad uid: {err}")),
            gid: header.gid().unwrap_or_else(|err| panic!("bad gid: {err}")),
            size: entry.size(),
            link,
            mtime: header
                .mtime()
                .unwrap_or_else(|err| panic!("bad mtime: {err}")),
        };
        let mut content = Vec::new();
        if kind == EntryKind::File {
            entry
                .read_to_end(&mut content)
                .unwrap_or_else(|err| panic!("cannot read {}: {err}", tar_entry.path));
        }
        files.push(LayerFile {
            entry: tar_entry,
            content,
        });
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(0);
        header
    }

    fn sample_tar() -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut dir = header();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_mode(0o755);
        builder
            .append_data(&mut dir, "./etc/", std::io::empty())
            .unwrap();
        let mut file = header();
        file.set_mode(0o640);
        file.set_uid(5);
        file.set_gid(6);
        file.set_mtime(1_700_000_000);
        file.set_size(2);
        builder
            .append_data(&mut file, "etc/hi", &b"hi"[..])
            .unwrap();
        let mut link = header();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_mode(0o777);
        builder.append_link(&mut link, "etc/ln", "hi").unwrap();
        builder.into_inner().unwrap()
    }

    #[test]
    fn lists_plain_and_gzipped_tars_alike() {
        let plain = sample_tar();
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut encoder, &plain).unwrap();
        let gzipped = encoder.finish().unwrap();
        for blob in [&plain, &gzipped] {
            let files = list_layer(blob);
            let lines: Vec<String> = files.iter().map(|file| file.entry.to_string()).collect();
            assert_eq!(
                lines,
                [
                    "d 0755 0:0 etc",
                    "- 0640 5:6 etc/hi (2 bytes)",
                    "l 0777 0:0 etc/ln -> hi"
                ]
            );
            assert_eq!(files[1].content, b"hi");
            assert_eq!(files[1].entry.mtime, 1_700_000_000);
        }
    }

    #[test]
    fn normalizes_paths() {
        for (input, expected) in [
            ("./a/b/", "a/b"),
            ("/a", "a"),
            ("a", "a"),
            ("./", ""),
            ("././x", "x"),
        ] {
            assert_eq!(normalize(input), expected, "{input}");
        }
    }
}
