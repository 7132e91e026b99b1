//! The layer of a RUN step: compare two [`TreeSnapshot`]s of the same root and describe the
//! change as [`LayerEntry`]s (additions, modifications, whiteouts, opaque directories),
//! the way BuildKit/containerd compute a diff from two mounts.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::entry::{Content, EntryKind, LayerEntry};
use crate::error::{Error, Result};
use crate::snapshot::{Node, NodeKind, NodeStat, TreeSnapshot};
use crate::xattr::read_xattrs;

/// The entries that turn `before` into `after`, both snapshots of `root`; `after` must be the
/// current state on disk, since file contents and xattrs are read from `root`.
///
/// Paths for which `exclude` returns true (relative, `/`-separated) are left out together
/// with everything under them, and are never whiteouted. The result is sorted by path and
/// empty when nothing changed.
pub fn diff_trees(
    root: &Path,
    before: &TreeSnapshot,
    after: &TreeSnapshot,
    exclude: &dyn Fn(&str) -> bool,
) -> Result<Vec<LayerEntry>> {
    let mut differ = Differ::new(root, exclude);
    let mut path = String::new();
    differ.diff_dir(&mut path, true, &before.children, &after.children)?;
    differ.finish(after)
}

/// An emitted regular file that shares its inode with other paths.
struct LinkedFile {
    /// Index into `Differ::entries`.
    index: usize,
    inode: (u64, u64),
    nlink: u64,
}

/// State of one diff: the entries emitted so far and the hardlinked files among them.
pub(crate) struct Differ<'a> {
    root: &'a Path,
    exclude: &'a dyn Fn(&str) -> bool,
    entries: Vec<LayerEntry>,
    links: Vec<LinkedFile>,
}

/// Appends the component `name` to `path` (a lossy rendering when it is not UTF-8) and
/// returns the previous length and whether the name was exact.
pub(crate) fn push_component(path: &mut String, name: &std::ffi::OsStr) -> (usize, bool) {
    let length = path.len();
    if !path.is_empty() {
        path.push('/');
    }
    match name.to_str() {
        Some(name) => {
            path.push_str(name);
            (length, true)
        }
        None => {
            path.push_str(&name.to_string_lossy());
            (length, false)
        }
    }
}

impl<'a> Differ<'a> {
    /// A diff of the tree at `root` (where contents and xattrs are read) that leaves out
    /// paths for which `exclude` returns true.
    pub(crate) fn new(root: &'a Path, exclude: &'a dyn Fn(&str) -> bool) -> Self {
        Differ {
            root,
            exclude,
            entries: Vec::new(),
            links: Vec::new(),
        }
    }

    /// Whether `path` is left out of the diff.
    pub(crate) fn excluded(&self, path: &str) -> bool {
        (self.exclude)(path)
    }

    /// Links the emitted hardlinked files of `after` (the current state of `root`) and
    /// returns the entries sorted by path bytes.
    pub(crate) fn finish(mut self, after: &TreeSnapshot) -> Result<Vec<LayerEntry>> {
        self.link_hardlinks(after)?;
        let mut entries = self.entries;
        entries.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        Ok(entries)
    }

    /// Compares the children of one directory present in both snapshots (merge of two lists
    /// sorted by name bytes). `exact` is false when `path` is a lossy rendering.
    fn diff_dir(
        &mut self,
        path: &mut String,
        exact: bool,
        before: &[Node],
        after: &[Node],
    ) -> Result<()> {
        let (mut b, mut a) = (0, 0);
        while b < before.len() || a < after.len() {
            let order = match (before.get(b), after.get(a)) {
                (Some(old), Some(new)) => old.name.as_bytes().cmp(new.name.as_bytes()),
                (Some(_), None) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            let (old, new) = match order {
                std::cmp::Ordering::Less => (before.get(b), None),
                std::cmp::Ordering::Greater => (None, after.get(a)),
                std::cmp::Ordering::Equal => (before.get(b), after.get(a)),
            };
            if order.is_le() {
                b += 1;
            }
            if order.is_ge() {
                a += 1;
            }
            let name = match (old, new) {
                (Some(node), _) | (None, Some(node)) => &node.name,
                (None, None) => break,
            };
            let (length, exact_name) = push_component(path, name);
            if !(self.exclude)(path) {
                self.diff_node(path, exact && exact_name, old, new)?;
            }
            path.truncate(length);
        }
        Ok(())
    }

    /// Compares one path that exists in at least one snapshot.
    fn diff_node(
        &mut self,
        path: &mut String,
        exact: bool,
        old: Option<&Node>,
        new: Option<&Node>,
    ) -> Result<()> {
        match (old, new) {
            (Some(_), None) => {
                let whiteout = LayerEntry::new(path.as_str(), EntryKind::Whiteout, 0, 0);
                self.push(whiteout, exact)
            }
            (None, Some(new)) => self.add_tree(path, exact, new, false),
            (Some(old), Some(new)) => {
                let both_dirs = old.stat.kind == NodeKind::Dir && new.stat.kind == NodeKind::Dir;
                if both_dirs
                    && (old.stat.dev, old.stat.ino) == (new.stat.dev, new.stat.ino)
                    && old.stat.birth == new.stat.birth
                {
                    if new.stat.changed_from(&old.stat) {
                        self.emit(path, exact, &new.stat, false)?;
                    }
                    self.diff_dir(path, exact, &old.children, &new.children)
                } else if both_dirs {
                    // Deleted and recreated: hide whatever the lower layers had in it.
                    self.add_tree(path, exact, new, true)
                } else if new.stat.kind == NodeKind::Dir {
                    self.add_tree(path, exact, new, false)
                } else if new.stat.changed_from(&old.stat) {
                    self.emit(path, exact, &new.stat, false)
                } else {
                    Ok(())
                }
            }
            (None, None) => Ok(()),
        }
    }

    /// Emits `node` and everything under it (minus excluded paths).
    fn add_tree(
        &mut self,
        path: &mut String,
        exact: bool,
        node: &Node,
        opaque: bool,
    ) -> Result<()> {
        self.emit(path, exact, &node.stat, opaque)?;
        for child in &node.children {
            let (length, exact_name) = push_component(path, &child.name);
            if !(self.exclude)(path) {
                self.add_tree(path, exact && exact_name, child, false)?;
            }
            path.truncate(length);
        }
        Ok(())
    }

    /// Emits the entry describing `stat` at `path`, with content and xattrs read from disk.
    pub(crate) fn emit(
        &mut self,
        path: &str,
        exact: bool,
        stat: &NodeStat,
        opaque: bool,
    ) -> Result<()> {
        let disk_path = self.root.join(path);
        let kind = match stat.kind {
            NodeKind::Dir if opaque => EntryKind::OpaqueDir,
            NodeKind::Dir => EntryKind::Dir,
            NodeKind::File => EntryKind::File {
                size: stat.size,
                content: Content::Path(disk_path.clone()),
            },
            NodeKind::Symlink => {
                let target = stat.link_target.as_deref().unwrap_or(Path::new(""));
                let target = target.to_str().ok_or_else(|| Error::Unencodable {
                    path: path.to_owned(),
                    reason: "symlink target is not valid UTF-8",
                })?;
                EntryKind::Symlink {
                    target: target.to_owned(),
                }
            }
            NodeKind::Fifo => EntryKind::Fifo,
            NodeKind::CharDevice => EntryKind::CharDevice {
                major: rustix::fs::major(stat.rdev),
                minor: rustix::fs::minor(stat.rdev),
            },
            NodeKind::BlockDevice => EntryKind::BlockDevice {
                major: rustix::fs::major(stat.rdev),
                minor: rustix::fs::minor(stat.rdev),
            },
            // Sockets cannot be archived (tar has no type for them); BuildKit drops them too.
            NodeKind::Socket => return Ok(()),
        };
        if stat.kind == NodeKind::File && stat.nlink > 1 {
            self.links.push(LinkedFile {
                index: self.entries.len(),
                inode: (stat.dev, stat.ino),
                nlink: stat.nlink,
            });
        }
        let entry = LayerEntry {
            path: path.to_owned(),
            kind,
            mode: stat.mode,
            uid: stat.uid,
            gid: stat.gid,
            mtime: stat.mtime,
            xattrs: read_xattrs(&disk_path)?,
        };
        self.push(entry, exact)
    }

    /// Appends `entry`; a path that is not valid UTF-8 (`exact` false) is an error.
    pub(crate) fn push(&mut self, entry: LayerEntry, exact: bool) -> Result<()> {
        if !exact {
            return Err(Error::Unencodable {
                path: entry.path,
                reason: "path is not valid UTF-8",
            });
        }
        self.entries.push(entry);
        Ok(())
    }

    /// Turns emitted files sharing an inode into one file plus hardlinks to it. Links of such
    /// an inode that did not change are emitted too, so that the group stays whole.
    fn link_hardlinks(&mut self, after: &TreeSnapshot) -> Result<()> {
        if self.links.is_empty() {
            return Ok(());
        }
        let mut groups: BTreeMap<(u64, u64), Vec<usize>> = BTreeMap::new();
        let mut nlinks: BTreeMap<(u64, u64), u64> = BTreeMap::new();
        for link in &self.links {
            groups.entry(link.inode).or_default().push(link.index);
            nlinks.insert(link.inode, link.nlink);
        }
        let incomplete: BTreeSet<(u64, u64)> = groups
            .iter()
            .filter(|(inode, members)| (members.len() as u64) < nlinks[*inode])
            .map(|(inode, _)| *inode)
            .collect();
        if !incomplete.is_empty() {
            let emitted: BTreeSet<String> = self
                .links
                .iter()
                .map(|link| self.entries[link.index].path.clone())
                .collect();
            let mut path = String::new();
            let mut missing = Vec::new();
            self.find_inodes(
                &mut path,
                true,
                &after.children,
                &incomplete,
                &emitted,
                &mut missing,
            );
            for (path, exact, stat) in missing {
                let index = self.entries.len();
                self.emit(&path, exact, stat, false)?;
                if let Some(group) = groups.get_mut(&(stat.dev, stat.ino)) {
                    group.push(index);
                }
            }
        }
        for members in groups.values() {
            let Some(&first) = members.iter().min_by(|&&x, &&y| {
                self.entries[x]
                    .path
                    .as_bytes()
                    .cmp(self.entries[y].path.as_bytes())
            }) else {
                continue;
            };
            let target = self.entries[first].path.clone();
            for &member in members.iter().filter(|&&member| member != first) {
                self.entries[member].kind = EntryKind::Hardlink {
                    target: target.clone(),
                };
            }
        }
        Ok(())
    }

    /// Collects the not-yet-emitted, not-excluded regular files of `nodes` whose inode is in `wanted`.
    fn find_inodes<'n>(
        &self,
        path: &mut String,
        exact: bool,
        nodes: &'n [Node],
        wanted: &BTreeSet<(u64, u64)>,
        emitted: &BTreeSet<String>,
        found: &mut Vec<(String, bool, &'n NodeStat)>,
    ) {
        for node in nodes {
            let (length, exact_name) = push_component(path, &node.name);
            let is_candidate = match node.stat.kind {
                NodeKind::Dir => true,
                NodeKind::File => wanted.contains(&(node.stat.dev, node.stat.ino)),
                _ => false,
            };
            if is_candidate && !(self.exclude)(path) {
                if node.stat.kind == NodeKind::Dir {
                    self.find_inodes(
                        path,
                        exact && exact_name,
                        &node.children,
                        wanted,
                        emitted,
                        found,
                    );
                } else if !emitted.contains(path.as_str()) {
                    found.push((path.clone(), exact && exact_name, &node.stat));
                }
            }
            path.truncate(length);
        }
    }
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
