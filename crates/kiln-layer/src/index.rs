//! An in-memory index of an image's filesystem built from its layer tars without extracting
//! them: whiteouts and opaque directories applied, symlinks resolved chroot-style, and the
//! bytes of a few chosen files (such as `etc/passwd`) captured.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use tar::EntryType;

use crate::error::{Error, Result};
use crate::path::{clean_components, clean_string};
use crate::write::{OPAQUE_MARKER, WHITEOUT_PREFIX};

/// Symlinks followed while resolving one path.
const MAX_HOPS: u32 = 40;

/// The type of an indexed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexKind {
    /// A directory.
    Dir,
    /// A regular file.
    File {
        /// Its length in bytes.
        size: u64,
    },
    /// A symbolic link.
    Symlink {
        /// The target as stored in the layer.
        target: String,
    },
    /// A hard link.
    Hardlink {
        /// The cleaned path of the linked file.
        target: String,
    },
    /// A device, FIFO or unknown entry type.
    Other,
}

/// One path of the indexed filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// What it is.
    pub kind: IndexKind,
    /// Permission bits.
    pub mode: u32,
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
}

/// Path → entry after applying layers in order. Paths are relative (`etc/passwd`); `""` is the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsIndex {
    pub(crate) entries: BTreeMap<String, IndexEntry>,
    pub(crate) captured: BTreeMap<String, Vec<u8>>,
}

impl Default for FsIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl FsIndex {
    /// An index holding only the root directory.
    pub fn new() -> Self {
        let mut entries = BTreeMap::new();
        entries.insert(String::new(), implicit_dir());
        FsIndex {
            entries,
            captured: BTreeMap::new(),
        }
    }

    /// Applies one uncompressed layer tar on top of what is indexed. The bytes of regular
    /// files whose resolved path makes `capture` true are kept.
    pub fn apply_layer<R: Read>(&mut self, tar: R, capture: &dyn Fn(&str) -> bool) -> Result<()> {
        let mut created: BTreeSet<String> = BTreeSet::new();
        let mut last_parent = None;
        let mut archive = tar::Archive::new(tar);
        let entries = archive.entries().map_err(|source| Error::Tar { source })?;
        for entry in entries {
            let mut entry = entry.map_err(|source| Error::Tar { source })?;
            let name = entry.path_bytes().into_owned();
            let kind = match entry.header().entry_type() {
                EntryType::Directory => IndexKind::Dir,
                EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                    IndexKind::File { size: entry.size() }
                }
                EntryType::Symlink => IndexKind::Symlink {
                    target: String::from_utf8_lossy(&entry.link_name_bytes().unwrap_or_default())
                        .into_owned(),
                },
                EntryType::Link => {
                    let link = entry.link_name_bytes().unwrap_or_default().into_owned();
                    let target = clean_string(&link).ok_or_else(|| Error::UnsafePath {
                        path: String::from_utf8_lossy(&link).into_owned(),
                    })?;
                    IndexKind::Hardlink { target }
                }
                _ => IndexKind::Other,
            };
            let new_entry = metadata(&entry, kind)?;
            let mut content = || {
                let mut bytes = Vec::new();
                entry
                    .read_to_end(&mut bytes)
                    .map_err(|source| Error::Tar { source })?;
                Ok(bytes)
            };
            self.apply_record(
                &name,
                new_entry,
                &mut created,
                capture,
                &mut content,
                &mut last_parent,
            )?;
        }
        Ok(())
    }

    /// Applies the entries of a layer as [`crate::write_layer`] would write them, without
    /// a tar: the same result as [`FsIndex::apply_layer`] on the written layer. Captured
    /// file bytes are read from the entries' content.
    pub fn apply_entries(
        &mut self,
        entries: &[crate::LayerEntry],
        capture: &dyn Fn(&str) -> bool,
    ) -> Result<()> {
        use crate::entry::{Content, EntryKind};
        let prepared = entries
            .windows(2)
            .all(|pair| pair[0].path.as_bytes() < pair[1].path.as_bytes())
            && !entries
                .iter()
                .any(|entry| matches!(entry.kind, EntryKind::Hardlink { .. }));
        if prepared {
            // Already in layer order with no links to settle: no copy needed.
            return self.apply_sorted(entries, entries, capture);
        }
        let mut sorted: Vec<crate::LayerEntry> = entries
            .iter()
            .map(|entry| crate::LayerEntry {
                path: entry.path.clone(),
                kind: match &entry.kind {
                    // Content is read only for captured files, from the original entry.
                    EntryKind::File { size, .. } => EntryKind::File {
                        size: *size,
                        content: Content::Bytes(Vec::new()),
                    },
                    other => other.clone(),
                },
                mode: entry.mode,
                uid: entry.uid,
                gid: entry.gid,
                mtime: entry.mtime,
                xattrs: Default::default(),
            })
            .collect();
        sorted.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        crate::write::first_link_carries_content(&mut sorted);
        self.apply_sorted(&sorted, entries, capture)
    }

    /// Applies `sorted` (entries in layer order); captured bytes come from the
    /// same paths in `originals`.
    fn apply_sorted(
        &mut self,
        sorted: &[crate::LayerEntry],
        originals: &[crate::LayerEntry],
        capture: &dyn Fn(&str) -> bool,
    ) -> Result<()> {
        use crate::entry::{Content, EntryKind};
        let mut created: BTreeSet<String> = BTreeSet::new();
        let mut last_parent = None;
        for entry in sorted {
            let meta = |kind| IndexEntry {
                kind,
                mode: entry.mode & 0o7777,
                uid: entry.uid,
                gid: entry.gid,
                mtime: entry.mtime.max(0),
            };
            let mut no_content = || Ok(Vec::new());
            match &entry.kind {
                EntryKind::Whiteout => {
                    let (parent, name) = match entry.path.rsplit_once('/') {
                        Some((parent, name)) => (format!("{parent}/"), name),
                        None => (String::new(), entry.path.as_str()),
                    };
                    let marker = format!("{parent}{WHITEOUT_PREFIX}{name}");
                    let record = meta(IndexKind::File { size: 0 });
                    self.apply_record(
                        marker.as_bytes(),
                        record,
                        &mut created,
                        capture,
                        &mut no_content,
                        &mut last_parent,
                    )?;
                }
                EntryKind::OpaqueDir => {
                    let record = meta(IndexKind::Dir);
                    self.apply_record(
                        entry.path.as_bytes(),
                        record,
                        &mut created,
                        capture,
                        &mut no_content,
                        &mut last_parent,
                    )?;
                    let marker = format!("{}/{OPAQUE_MARKER}", entry.path);
                    let record = meta(IndexKind::File { size: 0 });
                    self.apply_record(
                        marker.as_bytes(),
                        record,
                        &mut created,
                        capture,
                        &mut no_content,
                        &mut last_parent,
                    )?;
                }
                kind => {
                    let index_kind = match kind {
                        EntryKind::Dir => IndexKind::Dir,
                        EntryKind::File { size, .. } => IndexKind::File { size: *size },
                        EntryKind::Symlink { target } => IndexKind::Symlink {
                            target: target.clone(),
                        },
                        EntryKind::Hardlink { target } => IndexKind::Hardlink {
                            target: clean_string(target.as_bytes()).ok_or_else(|| {
                                Error::UnsafePath {
                                    path: target.clone(),
                                }
                            })?,
                        },
                        _ => IndexKind::Other,
                    };
                    // Only captured files need their bytes: found when asked for.
                    let mut content = || -> Result<Vec<u8>> {
                        let original = originals.iter().find(|item| item.path == entry.path);
                        match original.map(|entry| &entry.kind) {
                            Some(EntryKind::File {
                                content: Content::Bytes(bytes),
                                ..
                            }) => Ok(bytes.clone()),
                            Some(EntryKind::File {
                                content: Content::Path(path),
                                ..
                            }) => std::fs::read(path).map_err(|source| Error::Io {
                                path: path.clone(),
                                source,
                            }),
                            _ => Ok(Vec::new()),
                        }
                    };
                    self.apply_record(
                        entry.path.as_bytes(),
                        meta(index_kind),
                        &mut created,
                        capture,
                        &mut content,
                        &mut last_parent,
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Applies one tar record named `name` (as in the archive) whose entry is `new_entry`;
    /// `content` reads the bytes of a regular file when they are captured.
    ///
    /// `last_parent` keeps the resolved parent of the previous record: a record only
    /// changes things inside its parent, so consecutive records of one directory (most of
    /// a sorted layer) resolve and create it once.
    fn apply_record(
        &mut self,
        name: &[u8],
        new_entry: IndexEntry,
        created: &mut BTreeSet<String>,
        capture: &dyn Fn(&str) -> bool,
        content: &mut dyn FnMut() -> Result<Vec<u8>>,
        last_parent: &mut Option<(Vec<u8>, String)>,
    ) -> Result<()> {
        let unsafe_path = || Error::UnsafePath {
            path: String::from_utf8_lossy(name).into_owned(),
        };
        let components = clean_components(name).ok_or_else(unsafe_path)?;
        let Some((base, parents)) = components.split_last() else {
            let root = IndexEntry {
                kind: IndexKind::Dir,
                ..new_entry
            };
            self.entries.insert(String::new(), root);
            return Ok(());
        };
        let parents_key = parents.join(&b'/');
        let (parent, known) = match last_parent.take() {
            Some((key, parent)) if key == parents_key => (parent, true),
            _ => (
                self.resolve_components(parents, true)
                    .ok_or_else(unsafe_path)?,
                false,
            ),
        };
        *last_parent = Some((parents_key, parent.clone()));
        let base = String::from_utf8_lossy(base).into_owned();
        if let Some(name) = base.strip_prefix(WHITEOUT_PREFIX) {
            if base == OPAQUE_MARKER {
                self.make_opaque(&parent, created);
            } else if !matches!(name, "" | "." | "..") {
                self.remove_tree(&join(&parent, name), true);
            }
            return Ok(());
        }
        let key = join(&parent, &base);
        if !known {
            self.ensure_parents(&parent);
        }
        let merge = new_entry.kind == IndexKind::Dir
            && self
                .entries
                .get(&key)
                .is_some_and(|old| old.kind == IndexKind::Dir);
        if !merge {
            self.remove_tree(&key, true);
        }
        if capture(&key) {
            match &new_entry.kind {
                IndexKind::File { .. } => {
                    let bytes = content()?;
                    self.captured.insert(key.clone(), bytes);
                }
                IndexKind::Hardlink { target } => {
                    if let Some(bytes) = self.captured.get(target).cloned() {
                        self.captured.insert(key.clone(), bytes);
                    }
                }
                _ => {}
            }
        }
        self.entries.insert(key.clone(), new_entry);
        created.insert(key);
        Ok(())
    }

    /// The entry at exactly `path` (cleaned), without following symlinks.
    pub fn get(&self, path: &str) -> Option<&IndexEntry> {
        self.entries.get(&clean_string(path.as_bytes())?)
    }

    /// Follows symlinks in every component of `path` (chroot-style, at most 40 hops) and
    /// returns the resolved path with its entry.
    pub fn resolve(&self, path: &str) -> Option<(String, &IndexEntry)> {
        let components = clean_components(path.as_bytes())?;
        let key = self.resolve_components(&components, true)?;
        let entry = self.entries.get(&key)?;
        Some((key, entry))
    }

    /// The captured bytes of the regular file at exactly `path`.
    pub fn captured(&self, path: &str) -> Option<&[u8]> {
        self.captured.get(path).map(Vec::as_slice)
    }

    /// The names of the direct children of `dir` (exact path), sorted.
    pub fn children(&self, dir: &str) -> Vec<&str> {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        self.entries
            .range(prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&prefix))
            .filter_map(|(key, _)| {
                let rest = &key[prefix.len()..];
                (!rest.is_empty() && !rest.contains('/')).then_some(rest)
            })
            .collect()
    }

    /// Resolves `components` through indexed symlinks; `None` after too many hops.
    fn resolve_components(&self, components: &[&[u8]], follow_last: bool) -> Option<String> {
        let mut pending: Vec<String> = components
            .iter()
            .rev()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        let mut resolved: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(component) = pending.pop() {
            match component.as_str() {
                "" | "." => continue,
                ".." => {
                    resolved.pop();
                    continue;
                }
                _ => {}
            }
            if pending.is_empty() && !follow_last {
                resolved.push(component);
                continue;
            }
            let mut candidate = resolved.clone();
            candidate.push(component.clone());
            let key = candidate.join("/");
            match self.entries.get(&key).map(|entry| &entry.kind) {
                Some(IndexKind::Symlink { target }) => {
                    hops += 1;
                    if hops > MAX_HOPS {
                        return None;
                    }
                    if target.starts_with('/') {
                        resolved.clear();
                    }
                    pending.extend(target.split('/').rev().map(str::to_owned));
                }
                _ => resolved = candidate,
            }
        }
        Some(resolved.join("/"))
    }

    /// Adds implicit directories for missing ancestors of `dir` (and `dir` itself).
    fn ensure_parents(&mut self, dir: &str) {
        let mut path = String::new();
        for component in dir.split('/').filter(|c| !c.is_empty()) {
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(component);
            self.entries
                .entry(path.clone())
                .or_insert_with(implicit_dir);
        }
    }

    /// Removes the descendants of `key`, and `key` itself when `with_self`.
    fn remove_tree(&mut self, key: &str, with_self: bool) {
        let doomed: Vec<String> = self
            .descendants(key)
            .chain(with_self.then(|| key.to_owned()))
            .collect();
        for path in doomed {
            self.entries.remove(&path);
            self.captured.remove(&path);
        }
    }

    /// Removes everything under `dir` that this layer did not create (or need as a parent).
    fn make_opaque(&mut self, dir: &str, created: &BTreeSet<String>) {
        let doomed: Vec<String> = self
            .descendants(dir)
            .filter(|path| {
                let below = format!("{path}/");
                !created.contains(path)
                    && !created
                        .range(below.clone()..)
                        .next()
                        .is_some_and(|c| c.starts_with(&below))
            })
            .collect();
        for path in doomed {
            self.entries.remove(&path);
            self.captured.remove(&path);
        }
    }

    /// All indexed paths strictly below `key`.
    fn descendants(&self, key: &str) -> impl Iterator<Item = String> + '_ {
        let prefix = if key.is_empty() {
            String::new()
        } else {
            format!("{key}/")
        };
        self.entries
            .range(prefix.clone()..)
            .map(|(path, _)| path)
            .take_while(move |path| path.starts_with(&prefix))
            .filter(|path| !path.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .into_iter()
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

fn implicit_dir() -> IndexEntry {
    IndexEntry {
        kind: IndexKind::Dir,
        mode: 0o755,
        uid: 0,
        gid: 0,
        mtime: 0,
    }
}

fn metadata<R: Read>(entry: &tar::Entry<'_, R>, kind: IndexKind) -> Result<IndexEntry> {
    let header = entry.header();
    let tar_error = |source| Error::Tar { source };
    Ok(IndexEntry {
        kind,
        mode: header.mode().map_err(tar_error)? & 0o7777,
        uid: u32::try_from(header.uid().map_err(tar_error)?).unwrap_or(u32::MAX),
        gid: u32::try_from(header.gid().map_err(tar_error)?).unwrap_or(u32::MAX),
        mtime: i64::try_from(header.mtime().map_err(tar_error)?).unwrap_or(i64::MAX),
    })
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
