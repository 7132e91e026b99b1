//! Deterministic layer writing: sorted entries → ustar/PAX tar → optional gzip, with the
//! diff_id (tar) and digest (compressed bytes) computed in the same streaming pass, and for
//! gzip the block map of the blob (see [`crate::blockmap`]), with compressed blocks of
//! earlier layers reused when [`LayerOptions::reuse`] has them.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

use kiln_oci::{media_type, Digest, HashingWriter};

use crate::blockmap::{BlockMap, BlockSource};
use crate::entry::{is_clean_layer_path, Content, EntryKind, LayerEntry};
use crate::error::{Error, Result};
use crate::pgzip::{GzOptions, ParallelGzEncoder, BLOCK_SIZE};
use crate::tarfmt::{self, typeflag, RawEntry, BLOCK};

/// Name of the marker that makes a directory opaque.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// Prefix of whiteout file names.
pub const WHITEOUT_PREFIX: &str = ".wh.";

/// How the tar stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar (`application/vnd.oci.image.layer.v1.tar`).
    None,
    /// Gzip with a fixed header (no name, mtime 0, OS byte 255), compressed in parallel
    /// independent blocks ([`crate::pgzip`]).
    Gzip,
}

/// Options of [`write_layer`].
#[derive(Clone)]
pub struct LayerOptions {
    /// The compression applied to the tar stream.
    pub compression: Compression,
    /// The gzip level, 0–9. The default is 3: on source trees and binaries it
    /// compresses within about 1% of level 6 (BuildKit's default) in clearly
    /// less time (measured on the shared benchmark's context; docs/benchmarks.md).
    pub gzip_level: u32,
    /// Threads compressing gzip blocks; 0 (the default) means all available cores. The
    /// bytes written do not depend on it.
    pub gzip_threads: usize,
    /// Compressed gzip blocks of earlier layers to copy instead of compressing again
    /// (e.g. a [`crate::BlobBlocks`] over the previous build's layer of the same step).
    /// The bytes written do not depend on it.
    pub reuse: Option<Arc<dyn BlockSource>>,
}

impl Default for LayerOptions {
    fn default() -> Self {
        LayerOptions {
            compression: Compression::Gzip,
            gzip_level: 3,
            gzip_threads: 0,
            reuse: None,
        }
    }
}

impl std::fmt::Debug for LayerOptions {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LayerOptions")
            .field("compression", &self.compression)
            .field("gzip_level", &self.gzip_level)
            .field("gzip_threads", &self.gzip_threads)
            .field("reuse", &self.reuse.as_ref().map(|_| "BlockSource"))
            .finish()
    }
}

/// The identity of a written layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// Digest of the bytes written to the output (the compressed stream).
    pub digest: Digest,
    /// Digest of the uncompressed tar stream.
    pub diff_id: Digest,
    /// Number of bytes written to the output.
    pub size: u64,
    /// The OCI media type matching the compression.
    pub media_type: &'static str,
    /// The block map of the blob: `Some` for gzip layers. Store it beside the blob to let
    /// later layers reuse its blocks.
    pub block_map: Option<BlockMap>,
    /// Gzip blocks copied from [`LayerOptions::reuse`] instead of compressed.
    pub reused_blocks: u64,
}

/// Writes `entries` as a deterministic layer into `out` and returns its identity and `out`.
///
/// Entries are sorted by the bytes of their path; duplicate or unclean paths are errors.
/// File content from [`Content::Path`] is streamed, and must have exactly the declared size.
pub fn write_layer<W: Write>(
    entries: Vec<LayerEntry>,
    out: W,
    options: &LayerOptions,
) -> Result<(Layer, W)> {
    let (layer, out, _) = write_layer_with_copy(entries, out, options, std::io::sink())?;
    Ok((layer, out))
}

/// Like [`write_layer`], and also writes the uncompressed tar stream to
/// `copy` as it goes (e.g. into an extractor, so that a root filesystem
/// gets the layer without decompressing it again).
pub fn write_layer_with_copy<W: Write, C: Write>(
    mut entries: Vec<LayerEntry>,
    out: W,
    options: &LayerOptions,
    copy: C,
) -> Result<(Layer, W, C)> {
    prepare_entries(&mut entries)?;
    write_prepared(&entries, out, options, copy)
}

/// Puts entries in layer order and checks them, as [`write_layer`] does first:
/// paths must be clean and unique; entries are sorted by path bytes, and the
/// first path of each hard-link group carries the content. Entries so prepared
/// describe exactly the layer [`write_prepared`] writes, and can be shared
/// with other readers while it does.
pub fn prepare_entries(entries: &mut [LayerEntry]) -> Result<()> {
    for entry in entries.iter() {
        let link_target = match &entry.kind {
            EntryKind::Hardlink { target } => Some(target),
            _ => None,
        };
        if let Some(path) = std::iter::once(&entry.path)
            .chain(link_target)
            .find(|path| !is_clean_layer_path(path))
        {
            return Err(Error::UnsafePath { path: path.clone() });
        }
    }
    entries.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    if let Some(pair) = entries.windows(2).find(|pair| pair[0].path == pair[1].path) {
        return Err(Error::DuplicatePath {
            path: pair[0].path.clone(),
        });
    }
    first_link_carries_content(entries);
    Ok(())
}

/// Writes entries made ready by [`prepare_entries`] (see
/// [`write_layer_with_copy`]).
pub fn write_prepared<W: Write, C: Write>(
    entries: &[LayerEntry],
    out: W,
    options: &LayerOptions,
    copy: C,
) -> Result<(Layer, W, C)> {
    if let Some(pair) = entries
        .windows(2)
        .find(|pair| pair[0].path.as_bytes() >= pair[1].path.as_bytes())
    {
        return Err(Error::DuplicatePath {
            path: pair[1].path.clone(),
        });
    }
    match options.compression {
        Compression::None => {
            let mut tar = Tee {
                first: HashingWriter::new(out),
                second: copy,
            };
            write_tar(entries, &mut tar)?;
            let Tee {
                first,
                second: copy,
            } = tar;
            let (out, diff_id, size) = first.finish();
            let layer = Layer {
                digest: diff_id.clone(),
                diff_id,
                size,
                media_type: media_type::OCI_LAYER_TAR,
                block_map: None,
                reused_blocks: 0,
            };
            Ok((layer, out, copy))
        }
        Compression::Gzip => {
            let compressed = HashingWriter::new(out);
            let encoder = ParallelGzEncoder::with_options(
                compressed,
                GzOptions {
                    level: options.gzip_level,
                    threads: options.gzip_threads,
                    block_size: BLOCK_SIZE,
                    block_map: true,
                    reuse: options.reuse.clone(),
                },
            );
            let mut tar = Tee {
                first: HashingWriter::new(encoder),
                second: copy,
            };
            write_tar(entries, &mut tar)?;
            let Tee {
                first,
                second: copy,
            } = tar;
            let (encoder, diff_id, _) = first.finish();
            let finished = encoder.finish_with_map().map_err(Error::output)?;
            let (out, digest, size) = finished.out.finish();
            let layer = Layer {
                digest,
                diff_id,
                size,
                media_type: media_type::OCI_LAYER_GZIP,
                block_map: finished.block_map,
                reused_blocks: finished.reused_blocks,
            };
            Ok((layer, out, copy))
        }
    }
}

/// Writes everything to two writers.
struct Tee<A, B> {
    first: A,
    second: B,
}

impl<A: Write, B: Write> Write for Tee<A, B> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.first.write(buf)?;
        self.second.write_all(&buf[..written])?;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.first.flush()?;
        self.second.flush()
    }
}

/// Writes the sorted entries and the end-of-archive blocks, then flushes.
fn write_tar<W: Write>(entries: &[LayerEntry], out: &mut W) -> Result<()> {
    for entry in entries {
        write_entry(entry, out)?;
    }
    out.write_all(&[0u8; 2 * BLOCK]).map_err(Error::output)?;
    out.flush().map_err(Error::output)
}

/// Writes the record(s) of one entry.
fn write_entry<W: Write>(entry: &LayerEntry, out: &mut W) -> Result<()> {
    let no_xattrs = BTreeMap::new();
    let mut raw = RawEntry {
        name: entry.path.as_bytes(),
        typeflag: typeflag::FILE,
        mode: entry.mode & 0o7777,
        uid: u64::from(entry.uid),
        gid: u64::from(entry.gid),
        mtime: u64::try_from(entry.mtime).unwrap_or(0),
        size: 0,
        linkname: b"",
        dev_major: 0,
        dev_minor: 0,
        xattrs: &entry.xattrs,
    };
    let dir_name = format!("{}/", entry.path);
    match &entry.kind {
        EntryKind::Dir => {
            raw.name = dir_name.as_bytes();
            raw.typeflag = typeflag::DIR;
            write_header(entry, &raw, out)
        }
        EntryKind::File { size, content } => {
            raw.size = *size;
            write_header(entry, &raw, out)?;
            write_content(&entry.path, content, *size, out)?;
            let pad = tarfmt::padding(*size);
            out.write_all(&[0u8; BLOCK][..pad]).map_err(Error::output)
        }
        EntryKind::Symlink { target } | EntryKind::Hardlink { target } => {
            raw.typeflag = if matches!(entry.kind, EntryKind::Symlink { .. }) {
                typeflag::SYMLINK
            } else {
                typeflag::HARDLINK
            };
            raw.linkname = target.as_bytes();
            write_header(entry, &raw, out)
        }
        EntryKind::Fifo => {
            raw.typeflag = typeflag::FIFO;
            write_header(entry, &raw, out)
        }
        EntryKind::CharDevice { major, minor } | EntryKind::BlockDevice { major, minor } => {
            raw.typeflag = if matches!(entry.kind, EntryKind::CharDevice { .. }) {
                typeflag::CHAR
            } else {
                typeflag::BLOCK
            };
            raw.dev_major = *major;
            raw.dev_minor = *minor;
            write_header(entry, &raw, out)
        }
        EntryKind::Whiteout => {
            let name = whiteout_name(&entry.path);
            raw.name = name.as_bytes();
            raw.xattrs = &no_xattrs;
            write_header(entry, &raw, out)
        }
        EntryKind::OpaqueDir => {
            raw.name = dir_name.as_bytes();
            raw.typeflag = typeflag::DIR;
            write_header(entry, &raw, out)?;
            let marker = format!("{}/{OPAQUE_MARKER}", entry.path);
            raw.name = marker.as_bytes();
            raw.typeflag = typeflag::FILE;
            raw.mode = 0o644;
            raw.xattrs = &no_xattrs;
            write_header(entry, &raw, out)
        }
    }
}

/// Makes the first path (in tar order) of each hardlink group the one that carries the
/// content, so that extraction never meets a link before its target. `entries` is sorted.
pub(crate) fn first_link_carries_content(entries: &mut [LayerEntry]) {
    let position: BTreeMap<String, usize> = entries
        .iter()
        .enumerate()
        .map(|(index, entry)| (entry.path.clone(), index))
        .collect();
    // File index -> indices of the links pointing at it.
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (index, entry) in entries.iter().enumerate() {
        if let EntryKind::Hardlink { target } = &entry.kind {
            if let Some(&file) = position.get(target) {
                if matches!(entries[file].kind, EntryKind::File { .. }) {
                    groups.entry(file).or_default().push(index);
                }
            }
        }
    }
    for (file, links) in groups {
        let Some(&first) = links.iter().min() else {
            continue;
        };
        if first > file {
            continue;
        }
        let new_target = entries[first].path.clone();
        let content = std::mem::replace(
            &mut entries[file].kind,
            EntryKind::Hardlink {
                target: new_target.clone(),
            },
        );
        entries[first].kind = content;
        for &link in links.iter().filter(|&&link| link != first) {
            entries[link].kind = EntryKind::Hardlink {
                target: new_target.clone(),
            };
        }
    }
}

/// `dir/.wh.name` for `dir/name`.
fn whiteout_name(path: &str) -> String {
    match path.rsplit_once('/') {
        Some((dir, base)) => format!("{dir}/{WHITEOUT_PREFIX}{base}"),
        None => format!("{WHITEOUT_PREFIX}{path}"),
    }
}

fn write_header<W: Write>(entry: &LayerEntry, raw: &RawEntry<'_>, out: &mut W) -> Result<()> {
    let bytes = tarfmt::encode(raw).map_err(|reason| Error::Unencodable {
        path: entry.path.clone(),
        reason,
    })?;
    out.write_all(&bytes).map_err(Error::output)
}

/// Copies exactly `size` bytes of `content` into `out`.
fn write_content<W: Write>(path: &str, content: &Content, size: u64, out: &mut W) -> Result<()> {
    match content {
        Content::Bytes(bytes) => {
            if bytes.len() as u64 != size {
                return Err(Error::Unencodable {
                    path: path.to_owned(),
                    reason: "content length differs from the declared size",
                });
            }
            out.write_all(bytes).map_err(Error::output)
        }
        Content::Path(path) => copy_file(path, size, out),
    }
}

/// Streams the file at `path` into `out`, failing with `FileChanged` when its length is not `size`.
fn copy_file<W: Write>(path: &Path, size: u64, out: &mut W) -> Result<()> {
    thread_local! {
        /// One read buffer per writing thread, not one per file.
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let changed = || Error::FileChanged {
        path: path.to_path_buf(),
    };
    let mut file = File::open(path).map_err(|source| Error::io(path, source))?;
    BUFFER.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        if buffer.is_empty() {
            buffer.resize(64 * 1024, 0);
        }
        // A shorter file shows as an early end, a longer one as bytes after `size`.
        let mut remaining = size;
        while remaining > 0 {
            let want = buffer
                .len()
                .min(usize::try_from(remaining).unwrap_or(usize::MAX));
            let read = match file.read(&mut buffer[..want]) {
                Ok(0) => return Err(changed()),
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(Error::io(path, source)),
            };
            out.write_all(&buffer[..read]).map_err(Error::output)?;
            remaining -= read as u64;
        }
        let mut probe = [0u8; 1];
        loop {
            match file.read(&mut probe) {
                Ok(0) => return Ok(()),
                Ok(_) => return Err(changed()),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(Error::io(path, source)),
            }
        }
    })
}

#[cfg(test)]
#[path = "write_tests.rs"]
mod tests;
