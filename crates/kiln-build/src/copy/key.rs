//! The cache-key inputs of a COPY/ADD from a tree whose files can be hashed
//! (the context, a named local context, a download): every selected entry's
//! path, type, mode, size and content digest or link target — never its
//! mtime or owner on disk (the layer's owner is the step's `owner` field).

use std::sync::RwLock;

use kiln_store::StatCache;

use super::select::Selected;
use crate::cache::StepInputs;
use crate::context::{ContextKind, IgnoreMatcher, Snapshot};
use crate::error::Result;

/// Adds one field per selected entry (directory sources: every entry under them).
pub fn add_selection_inputs(
    inputs: &mut StepInputs,
    tree: &Snapshot,
    selected: &[Selected],
    exclude: Option<&IgnoreMatcher>,
    cache: &RwLock<StatCache>,
) -> Result<()> {
    let mut files = Vec::new();
    for (number, item) in selected.iter().enumerate() {
        let is_dir = item.path.is_empty()
            || matches!(
                tree.get(&item.path).map(|entry| &entry.kind),
                Some(ContextKind::Dir)
            );
        let prefix = if item.path.is_empty() {
            String::new()
        } else {
            format!("{}/", item.path)
        };
        inputs.set(format!("source:{number}"), item.named.clone());
        let entries: Box<dyn Iterator<Item = _>> = if is_dir {
            Box::new(
                tree.entries()
                    .filter(|entry| entry.path.starts_with(&prefix)),
            )
        } else {
            Box::new(tree.get(&item.path).into_iter())
        };
        for entry in entries {
            let relative = if is_dir {
                &entry.path[prefix.len()..]
            } else {
                ""
            };
            let excluded = exclude.is_some_and(|matcher| {
                matcher.is_excluded(&entry.path)
                    || (!relative.is_empty() && matcher.is_excluded(relative))
            });
            if excluded {
                continue;
            }
            let name = format!("file:{number}:{}", entry.path);
            match &entry.kind {
                ContextKind::Dir => inputs.set(name, format!("dir|{:o}", entry.mode)),
                ContextKind::File => files.push((name, entry)),
                ContextKind::Symlink { target } => inputs.set(name, format!("symlink|{target}")),
                ContextKind::Other => inputs.set(name, "other"),
            }
        }
    }
    // Content digests: from the stat cache, or read on every core.
    for (name, value) in digest_files(tree, &files, cache)? {
        inputs.set(name, value);
    }
    Ok(())
}

/// `file|mode|size|digest` for each file, hashing on all cores.
fn digest_files(
    tree: &Snapshot,
    files: &[(String, &crate::context::ContextEntry)],
    cache: &RwLock<StatCache>,
) -> Result<Vec<(String, String)>> {
    let threads = std::thread::available_parallelism().map_or(1, |count| count.get());
    let chunk = files.len().div_ceil(threads).max(1);
    let value =
        |(name, entry): &(String, &crate::context::ContextEntry)| -> Result<(String, String)> {
            let digest = tree.file_digest_cached(&entry.path, cache)?;
            use std::fmt::Write as _;
            let mut value = String::with_capacity(96);
            // Writing to a String cannot fail.
            let _ = write!(value, "file|{:o}|{}|", entry.mode, entry.size);
            value.push_str(digest.as_str());
            Ok((name.clone(), value))
        };
    if threads == 1 || files.len() < 2 {
        return files.iter().map(value).collect();
    }
    std::thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(value).collect::<Result<Vec<_>>>()))
            .collect();
        let mut out = Vec::with_capacity(files.len());
        for worker in workers {
            match worker.join() {
                Ok(part) => out.extend(part?),
                Err(_) => return Err(crate::BuildError::Usage("a hashing thread panicked".into())),
            }
        }
        Ok(out)
    })
}
