//! ADD's archive handling: a local file that is a tar archive (plain, gzip,
//! bzip2 or xz — detected by content, not by name) is unpacked into the
//! destination instead of copied, with the same path-safety rules as layer
//! extraction.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};

use kiln_dockerfile::Span;

use crate::build::Engine;
use crate::context::{ContextKind, IgnoreMatcher, Snapshot};
use crate::error::{step_error, BuildError, Result};
use crate::sources::Tree;

/// Unpacks `path` of `tree` into a scratch directory if it is a tar archive.
pub fn extract_if_archive(
    engine: &Engine<'_>,
    tree: &Snapshot,
    path: &str,
    span: Span,
) -> Result<Option<Tree>> {
    if !matches!(
        tree.get(path).map(|entry| &entry.kind),
        Some(ContextKind::File)
    ) {
        return Ok(None);
    }
    let full = tree.abs_path(path);
    if !is_tar_archive(&full)? {
        return Ok(None);
    }
    let scratch = engine.store.tmp_dir("add-")?;
    let file = File::open(&full).map_err(|source| BuildError::Io {
        path: full.clone(),
        source,
    })?;
    let (_, reader) = kiln_layer::decompress(BufReader::new(file))?;
    let options = kiln_layer::ExtractOptions {
        apply_whiteouts: false,
        preserve_ownership: false,
        overlay: false,
        digests: false,
    };
    let report = kiln_layer::extract(reader, scratch.path(), &options)
        .map_err(|err| step_error(span, format!("ADD failed to unpack {path}: {err}")))?;
    for warning in report.warnings {
        engine.warn(format!("ADD {path}: {warning}"));
    }
    let snapshot = Snapshot::walk(scratch.path(), &IgnoreMatcher::new(&[])?)?;
    let mut tree = Tree::new(snapshot, Some(scratch));
    tree.owners = archive_owners(&full)?;
    Ok(Some(tree))
}

fn is_tar_archive(path: &std::path::Path) -> Result<bool> {
    let file = File::open(path).map_err(|source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let Ok((detected, mut reader)) = kiln_layer::decompress(BufReader::new(file)) else {
        return Ok(false);
    };
    let _ = detected;
    let mut block = vec![0u8; 512];
    let mut filled = 0;
    while filled < block.len() {
        match reader.read(&mut block[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(_) => return Ok(false),
        }
    }
    Ok(filled == 512 && kiln_layer::looks_like_tar(&block))
}

/// The uid/gid of every entry of an archive, by cleaned path (what BuildKit
/// keeps for ADD without `--chown`; unpacking without root cannot).
fn archive_owners(path: &std::path::Path) -> Result<BTreeMap<String, (u32, u32)>> {
    let io = |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let (_, reader) = kiln_layer::decompress(BufReader::new(file))?;
    let mut archive = tar::Archive::new(reader);
    let mut owners = BTreeMap::new();
    for entry in archive.entries().map_err(io)? {
        let entry = entry.map_err(io)?;
        let header = entry.header();
        let (Ok(uid), Ok(gid)) = (header.uid(), header.gid()) else {
            continue;
        };
        let name = entry.path().map_err(io)?.to_string_lossy().into_owned();
        let cleaned = crate::paths::clean(&name);
        if !cleaned.is_empty() {
            owners.insert(cleaned, (uid as u32, gid as u32));
        }
    }
    Ok(owners)
}
