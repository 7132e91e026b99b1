//! ADD's archive handling: a local file that is a tar archive (plain, gzip,
//! bzip2 or xz — detected by content, not by name) is unpacked into the
//! destination instead of copied, with the same path-safety rules as layer
//! extraction.

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
    };
    let report = kiln_layer::extract(reader, scratch.path(), &options)
        .map_err(|err| step_error(span, format!("ADD failed to unpack {path}: {err}")))?;
    for warning in report.warnings {
        engine.warn(format!("ADD {path}: {warning}"));
    }
    let snapshot = Snapshot::walk(scratch.path(), &IgnoreMatcher::new(&[])?)?;
    Ok(Some(Tree::new(snapshot, Some(scratch))))
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
