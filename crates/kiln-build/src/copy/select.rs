//! Choosing what a COPY source names: plain paths, wildcards, and symlinks
//! named as sources (followed, inside the source tree).

use crate::context::{match_glob, ContextKind, Snapshot};
use crate::paths;

/// A source chosen from a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    /// The path in the tree after following symlinks ("" is the tree root).
    pub path: String,
    /// The path as named or matched: its base name names the copy, and
    /// `--parents` keeps it (from the `/./` pivot on, when there is one).
    pub named: String,
}

/// Follows symlinks in every component of `path`, chroot-style, inside the tree.
pub fn resolve(tree: &Snapshot, path: &str) -> Option<String> {
    let mut pending: Vec<String> = path
        .split('/')
        .filter(|part| !part.is_empty())
        .map(String::from)
        .collect();
    pending.reverse();
    let mut current = String::new();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "." => continue,
            ".." => {
                current = paths::parent(&current).to_string();
                continue;
            }
            _ => {}
        }
        let candidate = paths::join(&current, &part);
        let entry = tree.get(&candidate)?;
        match &entry.kind {
            ContextKind::Symlink { target } => {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                if target.starts_with('/') {
                    current.clear();
                }
                let mut parts: Vec<String> = target
                    .split('/')
                    .filter(|part| !part.is_empty())
                    .map(String::from)
                    .collect();
                parts.reverse();
                pending.extend(parts);
            }
            _ => current = candidate,
        }
    }
    Some(current)
}

/// Selects what one source word names in `tree`.
///
/// `source` is the expanded word as written (relative to the tree root; a
/// leading `/` or `..` cannot leave the tree). Errors say what was not found.
pub fn select(tree: &Snapshot, source: &str) -> Result<Vec<Selected>, String> {
    let (pivot_prefix, _) = split_pivot(source);
    let cleaned = paths::clean(source);
    let strip = |named: &str| -> String {
        match &pivot_prefix {
            Some(prefix) if !prefix.is_empty() => named
                .strip_prefix(prefix.as_str())
                .map(|rest| rest.trim_start_matches('/').to_string())
                .unwrap_or_else(|| named.to_string()),
            _ => named.to_string(),
        }
    };
    if !paths::has_wildcard(&cleaned) {
        let path = resolve(tree, &cleaned).ok_or_else(|| format!("{source:?}: not found"))?;
        return Ok(vec![Selected {
            path,
            named: strip(&cleaned),
        }]);
    }
    let mut candidates = vec![String::new()];
    for part in cleaned.split('/') {
        let mut next = Vec::new();
        for dir in &candidates {
            if paths::has_wildcard(part) {
                for child in tree.children(dir) {
                    let name = paths::base_name(&child.path);
                    if match_glob(part, name).map_err(|err| err.to_string())? {
                        next.push(child.path.clone());
                    }
                }
            } else {
                let path = paths::join(dir, part);
                if tree.get(&path).is_some() {
                    next.push(path);
                }
            }
        }
        candidates = next;
    }
    if candidates.is_empty() {
        return Err(format!("{source:?}: no files match"));
    }
    candidates.sort();
    candidates
        .into_iter()
        .map(|named| {
            let path = resolve(tree, &named).ok_or_else(|| format!("{named:?}: broken symlink"))?;
            Ok(Selected {
                path,
                named: strip(&named),
            })
        })
        .collect()
}

/// Splits `a/./b/c` at the last `/./` pivot (BuildKit `--parents`): the part
/// before it is dropped from the kept path.
fn split_pivot(source: &str) -> (Option<String>, &str) {
    let trimmed = source.trim_start_matches("./");
    match trimmed.rfind("/./") {
        Some(at) => (Some(paths::clean(&trimmed[..at])), &trimmed[at + 3..]),
        None => (None, trimmed),
    }
}
