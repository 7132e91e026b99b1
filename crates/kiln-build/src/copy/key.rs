//! The cache-key inputs of a COPY/ADD from a tree whose files can be hashed
//! (the context, a named local context, a download): every selected entry's
//! path, type, mode, size and content digest or link target — never its
//! mtime or owner on disk (the layer's owner is the step's `owner` field).

use std::sync::Mutex;

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
    cache: &Mutex<StatCache>,
) -> Result<()> {
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
            let value = match &entry.kind {
                ContextKind::Dir => format!("dir|{:o}", entry.mode),
                ContextKind::File => format!(
                    "file|{:o}|{}|{}",
                    entry.mode,
                    entry.size,
                    tree.file_digest_cached(&entry.path, cache)?
                ),
                ContextKind::Symlink { target } => format!("symlink|{target}"),
                ContextKind::Other => "other".to_string(),
            };
            inputs.set(format!("file:{number}:{}", entry.path), value);
        }
    }
    Ok(())
}
