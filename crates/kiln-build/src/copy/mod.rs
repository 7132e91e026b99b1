//! COPY and ADD as layer contents: what the sources select, where each entry
//! lands, and its owner, mode and time. No root filesystem is needed: the
//! layer is written straight from the source tree, and the base image is only
//! consulted (through its [`FsIndex`]) for existing directories and symlinks.

pub mod chmod;
pub mod chown;
pub mod key;
pub mod select;

use std::collections::BTreeMap;

use kiln_layer::{Content, EntryKind, FsIndex, IndexKind, LayerEntry};

use crate::context::{ContextKind, IgnoreMatcher, Snapshot};
use crate::paths;
pub use chmod::Chmod;
pub use select::Selected;

/// One source, already selected.
pub enum Source<'a> {
    /// A path in a tree (a file, or a directory whose contents are copied).
    Tree {
        /// The tree.
        tree: &'a Snapshot,
        /// What was selected.
        selected: Selected,
        /// Owners to keep, by tree path (ADD of an archive without `--chown`);
        /// entries not listed get the spec's owner.
        owners: Option<&'a BTreeMap<String, (u32, u32)>>,
    },
    /// A heredoc: a file with this name and content.
    Inline {
        /// The file name.
        name: String,
        /// The content.
        content: Vec<u8>,
    },
}

/// How the copied entries are written.
pub struct CopySpec<'a> {
    /// Absolute destination as written after expansion (a trailing `/` means a directory).
    pub dest: String,
    /// Owner of every entry.
    pub owner: (u32, u32),
    /// `--chmod`.
    pub chmod: Option<Chmod>,
    /// `--parents`.
    pub parents: bool,
    /// `--exclude` patterns.
    pub exclude: Option<IgnoreMatcher>,
    /// `SOURCE_DATE_EPOCH`: no time is later than this.
    pub clamp_mtime: Option<i64>,
    /// Time of directories the copy creates.
    pub created_mtime: i64,
    /// The filesystem the layer goes on top of (`None` for `--link` or scratch).
    pub base: Option<&'a FsIndex>,
}

/// Computes the layer entries of a COPY/ADD. Returns the entries and warnings.
pub fn copy_entries(
    sources: &[Source<'_>],
    spec: &CopySpec<'_>,
) -> Result<(Vec<LayerEntry>, Vec<String>), String> {
    let mut builder = Builder {
        spec,
        entries: BTreeMap::new(),
        warnings: Vec::new(),
        links: BTreeMap::new(),
        owners: None,
    };
    let copies_into_dir = spec.dest.ends_with('/')
        || sources.len() > 1
        || sources.iter().any(|source| match source {
            Source::Tree { tree, selected, .. } => {
                selected.path.is_empty()
                    || matches!(
                        tree.get(&selected.path).map(|e| &e.kind),
                        Some(ContextKind::Dir)
                    )
            }
            Source::Inline { .. } => false,
        })
        || base_is_dir(spec.base, &paths::clean(&spec.dest));
    let dest = builder.resolve_in_base(&paths::clean(&spec.dest));
    for source in sources {
        match source {
            Source::Inline { name, content } => {
                let target = if copies_into_dir {
                    paths::join(&dest, name)
                } else {
                    dest.clone()
                };
                builder.add_parents(&target);
                builder.insert(LayerEntry {
                    path: target,
                    kind: EntryKind::File {
                        size: content.len() as u64,
                        content: Content::Bytes(content.clone()),
                    },
                    mode: spec
                        .chmod
                        .as_ref()
                        .map_or(0o644, |chmod| chmod.apply(0o644, false)),
                    uid: spec.owner.0,
                    gid: spec.owner.1,
                    mtime: spec
                        .clamp_mtime
                        .unwrap_or(spec.created_mtime)
                        .min(spec.created_mtime),
                    xattrs: BTreeMap::new(),
                });
            }
            Source::Tree {
                tree,
                selected,
                owners,
            } => {
                builder.owners = *owners;
                builder.add_tree(tree, selected, &dest, copies_into_dir)?
            }
        }
    }
    Ok((builder.entries.into_values().collect(), builder.warnings))
}

fn base_is_dir(base: Option<&FsIndex>, path: &str) -> bool {
    path.is_empty()
        || base
            .and_then(|index| index.resolve(path))
            .is_some_and(|(_, entry)| matches!(entry.kind, IndexKind::Dir))
}

struct Builder<'a> {
    spec: &'a CopySpec<'a>,
    entries: BTreeMap<String, LayerEntry>,
    warnings: Vec<String>,
    /// First target of each (device, inode) copied, to keep hardlinks as links.
    links: BTreeMap<(u64, u64), String>,
    /// Owners kept from the current source (see [`Source::Tree`]).
    owners: Option<&'a BTreeMap<String, (u32, u32)>>,
}

impl Builder<'_> {
    /// Resolves the directories of `path` through the base image's symlinks
    /// (so `COPY x /var/run/` lands in `run/` when `var/run -> /run`).
    fn resolve_in_base(&self, path: &str) -> String {
        let Some(base) = self.spec.base else {
            return path.to_string();
        };
        let mut current = String::new();
        for part in path.split('/').filter(|part| !part.is_empty()) {
            let candidate = paths::join(&current, part);
            current = match base.resolve(&candidate) {
                Some((real, entry)) if matches!(entry.kind, IndexKind::Dir) => real,
                _ => candidate,
            };
        }
        current
    }

    fn exists_in_base(&self, path: &str) -> bool {
        path.is_empty() || self.spec.base.is_some_and(|base| base.get(path).is_some())
    }

    fn insert(&mut self, entry: LayerEntry) {
        self.entries.insert(entry.path.clone(), entry);
    }

    fn add_parents(&mut self, target: &str) {
        for dir in paths::ancestors(target) {
            if self.entries.contains_key(&dir) || self.exists_in_base(&dir) {
                continue;
            }
            self.insert(self.dir_entry(dir, 0o755, self.spec.created_mtime));
        }
    }

    fn dir_entry(&self, path: String, mode: u32, mtime: i64) -> LayerEntry {
        LayerEntry {
            path,
            kind: EntryKind::Dir,
            mode,
            uid: self.spec.owner.0,
            gid: self.spec.owner.1,
            mtime: self.clamp(mtime),
            xattrs: BTreeMap::new(),
        }
    }

    fn clamp(&self, mtime: i64) -> i64 {
        match self.spec.clamp_mtime {
            Some(limit) => mtime.min(limit),
            None => mtime,
        }
    }

    fn excluded(&self, full: &str, relative: &str) -> bool {
        self.spec.exclude.as_ref().is_some_and(|matcher| {
            matcher.is_excluded(full) || (!relative.is_empty() && matcher.is_excluded(relative))
        })
    }

    fn add_tree(
        &mut self,
        tree: &Snapshot,
        selected: &Selected,
        dest: &str,
        into_dir: bool,
    ) -> Result<(), String> {
        let root_is_dir = selected.path.is_empty()
            || matches!(
                tree.get(&selected.path).map(|entry| &entry.kind),
                Some(ContextKind::Dir)
            );
        let kept = if self.spec.parents {
            paths::clean(&selected.named)
        } else {
            String::new()
        };
        if root_is_dir {
            let target_root = paths::join(dest, &kept);
            if !target_root.is_empty() && !self.exists_in_base(&target_root) {
                self.add_parents(&target_root);
                if let Some(entry) = tree.get(&selected.path) {
                    let mode = self.mode(entry.mode, true);
                    self.insert(self.dir_entry(target_root.clone(), mode, entry.mtime));
                } else {
                    self.insert(self.dir_entry(
                        target_root.clone(),
                        0o755,
                        self.spec.created_mtime,
                    ));
                }
            }
            let prefix = if selected.path.is_empty() {
                String::new()
            } else {
                format!("{}/", selected.path)
            };
            let descendants: Vec<_> = tree
                .entries()
                .filter(|entry| entry.path.starts_with(&prefix) && entry.path != selected.path)
                .collect();
            for entry in descendants {
                let relative = &entry.path[prefix.len()..];
                if self.excluded(&entry.path, relative) {
                    continue;
                }
                let target = paths::join(&target_root, relative);
                self.add_entry(tree, entry, target);
            }
            return Ok(());
        }
        let entry = tree
            .get(&selected.path)
            .ok_or_else(|| format!("{:?}: not found", selected.named))?;
        if self.excluded(&selected.path, paths::base_name(&selected.named)) {
            return Ok(());
        }
        let target = if self.spec.parents {
            paths::join(dest, &kept)
        } else if into_dir {
            paths::join(dest, paths::base_name(&selected.named))
        } else {
            dest.to_string()
        };
        if target.is_empty() {
            return Err("cannot copy a file to the root directory itself".into());
        }
        self.add_parents(&target);
        self.add_entry(tree, entry, target);
        Ok(())
    }

    fn mode(&self, mode: u32, is_dir: bool) -> u32 {
        match &self.spec.chmod {
            Some(chmod) => chmod.apply(mode, is_dir),
            None => mode,
        }
    }

    fn add_entry(&mut self, tree: &Snapshot, entry: &crate::context::ContextEntry, target: String) {
        let kind = match &entry.kind {
            ContextKind::Dir => EntryKind::Dir,
            ContextKind::File => match self.links.get(&(entry.dev, entry.ino)) {
                Some(first) if first != &target && self.entries.contains_key(first) => {
                    EntryKind::Hardlink {
                        target: first.clone(),
                    }
                }
                _ => {
                    self.links.insert((entry.dev, entry.ino), target.clone());
                    EntryKind::File {
                        size: entry.size,
                        content: Content::Path(tree.abs_path(&entry.path)),
                    }
                }
            },
            ContextKind::Symlink { target } => EntryKind::Symlink {
                target: target.clone(),
            },
            ContextKind::Other => {
                self.warnings.push(format!(
                    "skipping {}: not a regular file, directory or symlink",
                    entry.path
                ));
                return;
            }
        };
        let is_dir = matches!(kind, EntryKind::Dir);
        let mode = if matches!(kind, EntryKind::Symlink { .. }) {
            0o777
        } else {
            self.mode(entry.mode, is_dir)
        };
        let (uid, gid) = self
            .owners
            .and_then(|owners| owners.get(&entry.path))
            .copied()
            .unwrap_or(self.spec.owner);
        self.insert(LayerEntry {
            path: target,
            kind,
            mode,
            uid,
            gid,
            mtime: self.clamp(entry.mtime),
            xattrs: BTreeMap::new(),
        });
    }
}

#[cfg(test)]
mod tests;
