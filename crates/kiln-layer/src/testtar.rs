//! Test helpers: builds raw tar streams with arbitrary (also hostile) names, and
//! describes layer entries in one line each.

use std::collections::BTreeMap;

use crate::tarfmt::{self, typeflag, RawEntry, BLOCK};

/// Accumulates tar records.
#[derive(Default)]
pub(crate) struct TarBuilder {
    bytes: Vec<u8>,
}

impl TarBuilder {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn record(mut self, name: &str, flag: u8, mode: u32, link: &str, data: &[u8]) -> Self {
        let xattrs = BTreeMap::new();
        let raw = RawEntry {
            name: name.as_bytes(),
            typeflag: flag,
            mode,
            uid: 1000,
            gid: 1000,
            mtime: 1_000_000,
            size: data.len() as u64,
            linkname: link.as_bytes(),
            dev_major: 0,
            dev_minor: 0,
            xattrs: &xattrs,
        };
        self.bytes.extend(tarfmt::encode(&raw).unwrap());
        self.bytes.extend_from_slice(data);
        let pad = tarfmt::padding(data.len() as u64);
        self.bytes.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    pub(crate) fn dir(self, name: &str, mode: u32) -> Self {
        self.record(name, typeflag::DIR, mode, "", b"")
    }

    pub(crate) fn file(self, name: &str, data: &[u8]) -> Self {
        self.record(name, typeflag::FILE, 0o644, "", data)
    }

    pub(crate) fn file_mode(self, name: &str, data: &[u8], mode: u32) -> Self {
        self.record(name, typeflag::FILE, mode, "", data)
    }

    pub(crate) fn symlink(self, name: &str, target: &str) -> Self {
        self.record(name, typeflag::SYMLINK, 0o777, target, b"")
    }

    pub(crate) fn hardlink(self, name: &str, target: &str) -> Self {
        self.record(name, typeflag::HARDLINK, 0o644, target, b"")
    }

    pub(crate) fn fifo(self, name: &str) -> Self {
        self.record(name, typeflag::FIFO, 0o644, "", b"")
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.bytes.extend([0u8; 2 * BLOCK]);
        self.bytes
    }
}

/// One line per entry: path, kind and the kind's data.
pub(crate) fn describe(entries: &[crate::LayerEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|entry| {
            let kind = match &entry.kind {
                crate::EntryKind::Dir => "dir".to_owned(),
                crate::EntryKind::File { .. } => "file".to_owned(),
                crate::EntryKind::Symlink { target } => format!("symlink:{target}"),
                crate::EntryKind::Hardlink { target } => format!("hardlink:{target}"),
                crate::EntryKind::Fifo => "fifo".to_owned(),
                crate::EntryKind::CharDevice { major, minor } => format!("char:{major}:{minor}"),
                crate::EntryKind::BlockDevice { major, minor } => format!("block:{major}:{minor}"),
                crate::EntryKind::Whiteout => "whiteout".to_owned(),
                crate::EntryKind::OpaqueDir => "opaque".to_owned(),
            };
            format!("{} {kind}", entry.path)
        })
        .collect()
}
