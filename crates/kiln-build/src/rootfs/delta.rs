//! Delta snapshots: a COPY layer that differs from an earlier version of itself
//! in a few files is unpacked as those files (and whiteouts for what it no
//! longer has) over the earlier version's full snapshot, instead of writing
//! every file again.
//!
//! An entry is left out of the delta only when the base snapshot provably holds
//! the same thing at the same path: a regular file with the same mode, owner,
//! size and mtime whose content digest (from the stat cache, recorded when the
//! base was unpacked) equals the source file's (from the stat cache, recorded
//! when the step's key was computed); a symlink with the same target, owner and
//! mtime; a directory with the same attributes. A directory of the layer above
//! anything in the delta goes in too (overlayfs shows the topmost directory's
//! attributes), as does anything else. Whatever the delta cannot
//! express makes [`delta_entries`] answer `None`, and the caller unpacks the
//! whole layer: hard links in the layer, and whiteouts or opaque directories
//! in the base.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::sync::RwLock;

use kiln_layer::{Content, EntryKind, LayerEntry};
use kiln_store::{StatCache, StatKey};

use crate::error::{BuildError, Result};

/// Name of the file beside a full snapshot's tree listing its regular files.
pub const MANIFEST: &str = "files";

/// Magic of an encoded [`Manifest`].
const MANIFEST_MAGIC: &[u8; 8] = b"kilnmf01";

/// What a full snapshot holds as regular files, by path: recorded when it was
/// unpacked, so that comparing a new version of the layer with it reads
/// neither its files nor their metadata. Kept as its encoded bytes with an
/// index sorted by path (a layer's files come sorted): a few bytes per file
/// beyond the encoding itself.
#[derive(Debug, Default)]
pub struct Manifest {
    bytes: Vec<u8>,
    /// Offsets of the records, in path order.
    records: Vec<usize>,
}

/// A regular file of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileFacts {
    sha256: [u8; 32],
    size: u64,
    mtime: i64,
    mode: u32,
    uid: u32,
    gid: u32,
}

/// Bytes of a record after its path.
const FACTS_LEN: usize = 32 + 8 + 8 + 4 * 3;

impl Manifest {
    /// Encodes the files an extraction reported (those with a whole-second
    /// mtime: extraction never sets anything else).
    pub fn encode(files: &[kiln_layer::ExtractedFile]) -> Vec<u8> {
        let mut out = MANIFEST_MAGIC.to_vec();
        for file in files.iter().filter(|file| file.mtime.1 == 0) {
            let path = file.path.to_string_lossy();
            out.extend_from_slice(&(path.len() as u32).to_le_bytes());
            out.extend_from_slice(path.as_bytes());
            out.extend_from_slice(&file.sha256);
            out.extend_from_slice(&file.size.to_le_bytes());
            out.extend_from_slice(&file.mtime.0.to_le_bytes());
            for word in [file.mode, file.uid, file.gid] {
                out.extend_from_slice(&word.to_le_bytes());
            }
        }
        out
    }

    /// Takes [`Manifest::encode`]'s bytes; `None` when they are not that.
    pub fn decode(bytes: Vec<u8>) -> Option<Manifest> {
        let mut records = Vec::new();
        let mut at = MANIFEST_MAGIC.len();
        if bytes.get(..at)? != MANIFEST_MAGIC.as_slice() {
            return None;
        }
        while at < bytes.len() {
            let length = u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize;
            std::str::from_utf8(bytes.get(at + 4..at + 4 + length)?).ok()?;
            bytes.get(at + 4 + length..at + 4 + length + FACTS_LEN)?;
            records.push(at);
            at += 4 + length + FACTS_LEN;
        }
        let mut manifest = Manifest { bytes, records };
        let sorted = manifest
            .records
            .windows(2)
            .all(|pair| manifest.path(pair[0]) < manifest.path(pair[1]));
        if !sorted {
            let mut records = std::mem::take(&mut manifest.records);
            records.sort_by(|a, b| manifest.path(*a).cmp(manifest.path(*b)));
            manifest.records = records;
        }
        Some(manifest)
    }

    /// The path bytes of the record at `at` (checked by `decode`).
    fn path(&self, at: usize) -> &[u8] {
        let length =
            u32::from_le_bytes(self.bytes[at..at + 4].try_into().unwrap_or([0; 4])) as usize;
        &self.bytes[at + 4..at + 4 + length]
    }

    /// The facts recorded for `path`.
    fn get(&self, path: &str) -> Option<FileFacts> {
        let index = self
            .records
            .binary_search_by(|at| self.path(*at).cmp(path.as_bytes()))
            .ok()?;
        let at = self.records[index];
        let facts = &self.bytes[at + 4 + self.path(at).len()..][..FACTS_LEN];
        let word =
            |from: usize| u32::from_le_bytes(facts[from..from + 4].try_into().unwrap_or([0; 4]));
        Some(FileFacts {
            sha256: facts[..32].try_into().ok()?,
            size: u64::from_le_bytes(facts[32..40].try_into().ok()?),
            mtime: i64::from_le_bytes(facts[40..48].try_into().ok()?),
            mode: word(48),
            uid: word(52),
            gid: word(56),
        })
    }

    /// How many files it lists.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.records.len()
    }
}

/// The entries that turn the full snapshot `base` into the layer `entries`,
/// or `None` when a delta cannot express the difference.
pub fn delta_entries(
    entries: &[LayerEntry],
    base: &Path,
    manifest: &Manifest,
    cache: &RwLock<StatCache>,
) -> Result<Option<Vec<LayerEntry>>> {
    if entries
        .iter()
        .any(|entry| matches!(entry.kind, EntryKind::Hardlink { .. }))
    {
        return Ok(None);
    }
    let cache = cache
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut delta = Vec::new();
    let mut kinds: BTreeMap<&str, bool> = BTreeMap::new();
    let mut ancestors: BTreeSet<&str> = BTreeSet::new();
    let (mut base_stat, mut source_stat) = (StatAt::default(), StatAt::default());
    for entry in entries {
        kinds.insert(&entry.path, matches!(entry.kind, EntryKind::Dir));
        let mut path = entry.path.as_str();
        while let Some((parent, _)) = path.rsplit_once('/') {
            if !ancestors.insert(parent) {
                break;
            }
            path = parent;
        }
        if !same_in_base(
            entry,
            base,
            manifest,
            &cache,
            &mut base_stat,
            &mut source_stat,
        ) {
            delta.push(entry.clone());
        }
    }
    if !deletions(base, "", &kinds, &ancestors, &mut delta)? {
        return Ok(None);
    }
    // The layer's directories above anything in the delta go in too, with the
    // layer's attributes (the others are the base's, unchanged).
    let mut needed: BTreeSet<&str> = BTreeSet::new();
    for entry in &delta {
        let mut path = entry.path.as_str();
        while let Some((parent, _)) = path.rsplit_once('/') {
            if !needed.insert(parent) {
                break;
            }
            path = parent;
        }
    }
    let present: BTreeSet<String> = delta.iter().map(|entry| entry.path.clone()).collect();
    let parents: Vec<LayerEntry> = entries
        .iter()
        .filter(|entry| {
            needed.contains(entry.path.as_str()) && !present.contains(entry.path.as_str())
        })
        .cloned()
        .collect();
    delta.extend(parents);
    Ok(Some(delta))
}

/// `lstat` through an open parent directory, kept open for the next path in
/// the same directory (entries come sorted, so most share their parent).
#[derive(Default)]
struct StatAt {
    parent: Option<(std::path::PathBuf, std::os::fd::OwnedFd)>,
}

impl StatAt {
    fn stat(&mut self, path: &Path) -> Option<rustix::fs::Stat> {
        let (parent, name) = (path.parent()?, path.file_name()?);
        if self.parent.as_ref().is_none_or(|(open, _)| open != parent) {
            let dir = rustix::fs::open(
                parent,
                rustix::fs::OFlags::PATH
                    | rustix::fs::OFlags::DIRECTORY
                    | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .ok()?;
            self.parent = Some((parent.to_path_buf(), dir));
        }
        let (_, dir) = self.parent.as_ref()?;
        rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).ok()
    }
}

/// Whether `base` holds exactly `entry` (see the module documentation).
fn same_in_base(
    entry: &LayerEntry,
    base: &Path,
    manifest: &Manifest,
    cache: &StatCache,
    base_stat: &mut StatAt,
    source_stat: &mut StatAt,
) -> bool {
    if !entry.xattrs.is_empty() {
        return false;
    }
    if let EntryKind::File {
        size,
        content: Content::Path(source),
    } = &entry.kind
    {
        let Some(old) = manifest.get(&entry.path) else {
            return false;
        };
        let same_header = old.mode == entry.mode
            && old.uid == entry.uid
            && old.gid == entry.gid
            && old.mtime == entry.mtime
            && old.size == *size;
        return same_header
            && source_stat
                .stat(source)
                .and_then(|new| cache.get(&raw_stat_key(&new)))
                .is_some_and(|sha| sha == old.sha256);
    }
    let Some(old) = base_stat.stat(&base.join(&entry.path)) else {
        return false;
    };
    let file_type = rustix::fs::FileType::from_raw_mode(old.st_mode);
    let attributes = old.st_mode & 0o7777 == entry.mode
        && old.st_uid == entry.uid
        && old.st_gid == entry.gid
        && old.st_mtime == entry.mtime;
    if !attributes {
        return false;
    }
    match &entry.kind {
        EntryKind::Dir => file_type == rustix::fs::FileType::Directory,
        EntryKind::Symlink { target } => {
            file_type == rustix::fs::FileType::Symlink
                && old.st_mtime_nsec == 0
                && std::fs::read_link(base.join(&entry.path))
                    .is_ok_and(|old_target| old_target.as_os_str() == target.as_str())
        }
        _ => false,
    }
}

/// The stat cache key of a raw stat.
fn raw_stat_key(stat: &rustix::fs::Stat) -> StatKey {
    StatKey {
        dev: stat.st_dev,
        ino: stat.st_ino,
        size: u64::try_from(stat.st_size).unwrap_or(0),
        mtime: stat.st_mtime,
        mtime_nsec: stat.st_mtime_nsec as i64,
        ctime: stat.st_ctime,
        ctime_nsec: stat.st_ctime_nsec as i64,
    }
}

/// Adds a whiteout for every path of the base directory `relative` that the
/// layer no longer has (not descending into what it whites out); false when
/// the base holds a whiteout or an opaque directory.
fn deletions(
    base: &Path,
    relative: &str,
    kinds: &BTreeMap<&str, bool>,
    ancestors: &BTreeSet<&str>,
    delta: &mut Vec<LayerEntry>,
) -> Result<bool> {
    let dir = base.join(relative);
    let io = |source| BuildError::Io {
        path: dir.clone(),
        source,
    };
    if kiln_layer::overlay::is_opaque(&dir)? {
        return Ok(false);
    }
    for child in std::fs::read_dir(&dir).map_err(io)? {
        let child = child.map_err(io)?;
        let Some(name) = child.file_name().to_str().map(str::to_owned) else {
            return Ok(false);
        };
        let path = if relative.is_empty() {
            name
        } else {
            format!("{relative}/{name}")
        };
        let kind = child.file_type().map_err(io)?;
        if kind.is_char_device() {
            return Ok(false); // possibly a whiteout: not expressible on top
        }
        let both_dirs = kind.is_dir()
            && (kinds.get(path.as_str()) == Some(&true) || ancestors.contains(path.as_str()));
        if both_dirs {
            if !deletions(base, &path, kinds, ancestors, delta)? {
                return Ok(false);
            }
        } else if !kinds.contains_key(path.as_str()) && !ancestors.contains(path.as_str()) {
            delta.push(LayerEntry::new(path, EntryKind::Whiteout, 0, 0));
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// The stat facts of a file, as the stat cache keys them.
    fn stat_key(meta: &std::fs::Metadata) -> StatKey {
        StatKey {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
            ctime: meta.ctime(),
            ctime_nsec: meta.ctime_nsec(),
        }
    }

    fn file_entry(path: &str, source: &Path, mtime: i64) -> LayerEntry {
        let meta = std::fs::metadata(source).unwrap();
        let mut entry = LayerEntry::new(
            path,
            EntryKind::File {
                size: meta.len(),
                content: Content::Path(source.to_path_buf()),
            },
            0o644,
            mtime,
        );
        entry.uid = meta.uid();
        entry.gid = meta.gid();
        entry
    }

    /// A base snapshot made by extraction, with its manifest.
    fn base_with(files: &[(&str, &[u8])]) -> (tempfile::TempDir, Manifest) {
        use sha2::Digest as _;
        let base = tempfile::tempdir().unwrap();
        let mut extracted = Vec::new();
        for (path, content) in files {
            let target = base.path().join(path);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::write(&target, content).unwrap();
            let file = std::fs::File::options().write(true).open(&target).unwrap();
            file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
                .unwrap();
            file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(100))
                .unwrap();
            drop(file);
            let meta = std::fs::symlink_metadata(&target).unwrap();
            extracted.push(kiln_layer::ExtractedFile {
                path: path.into(),
                sha256: sha2::Sha256::digest(content).into(),
                size: meta.size(),
                mtime: (meta.mtime(), meta.mtime_nsec()),
                mode: meta.mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
            });
        }
        let manifest = Manifest::decode(Manifest::encode(&extracted)).expect("round trip");
        (base, manifest)
    }

    fn source(
        dir: &Path,
        name: &str,
        content: &[u8],
        cache: &RwLock<StatCache>,
    ) -> std::path::PathBuf {
        use sha2::Digest as _;
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        cache
            .write()
            .unwrap()
            .insert(stat_key(&meta), sha2::Sha256::digest(content).into());
        path
    }

    #[test]
    fn only_what_changed_goes_into_the_delta() {
        let cache = RwLock::new(StatCache::default());
        let (base, manifest) = base_with(&[
            ("app/same", b"same"),
            ("app/changed", b"old"),
            ("app/gone", b"x"),
            ("old/deep/f", b"y"),
        ]);
        let sources = tempfile::tempdir().unwrap();
        let same = source(sources.path(), "same", b"same", &cache);
        let changed = source(sources.path(), "changed", b"new", &cache);
        let added = source(sources.path(), "added", b"add", &cache);
        let entries = vec![
            LayerEntry::dir("app", 0o755, 100),
            file_entry("app/same", &same, 100),
            file_entry("app/changed", &changed, 100),
            file_entry("app/added", &added, 100),
        ];
        let delta = delta_entries(&entries, base.path(), &manifest, &cache)
            .unwrap()
            .expect("a delta");
        let mut described: Vec<(String, bool)> = delta
            .iter()
            .map(|entry| {
                (
                    entry.path.clone(),
                    matches!(entry.kind, EntryKind::Whiteout),
                )
            })
            .collect();
        described.sort();
        assert_eq!(
            described,
            vec![
                ("app".to_string(), false),
                ("app/added".to_string(), false),
                ("app/changed".to_string(), false),
                ("app/gone".to_string(), true),
                ("old".to_string(), true),
            ]
        );
    }

    #[test]
    fn unknown_digests_and_other_mtimes_are_not_trusted() {
        let cache = RwLock::new(StatCache::default());
        let (base, manifest) = base_with(&[("f", b"same")]);
        let sources = tempfile::tempdir().unwrap();
        let path = sources.path().join("f");
        std::fs::write(&path, b"same").unwrap(); // not in the cache
        let delta = delta_entries(
            &[file_entry("f", &path, 100)],
            base.path(),
            &manifest,
            &cache,
        )
        .unwrap()
        .unwrap();
        assert_eq!(delta.len(), 1, "digest unknown: written again");
        let known = source(sources.path(), "g", b"same", &cache);
        let delta = delta_entries(
            &[file_entry("f", &known, 101)],
            base.path(),
            &manifest,
            &cache,
        )
        .unwrap()
        .unwrap();
        assert_eq!(delta.len(), 1, "another mtime: written again");
        let delta = delta_entries(
            &[file_entry("f", &known, 100)],
            base.path(),
            &manifest,
            &cache,
        )
        .unwrap()
        .unwrap();
        assert!(delta.is_empty(), "{delta:?}");
    }

    #[test]
    fn manifests_reject_garbage() {
        assert!(Manifest::decode(b"nope".to_vec()).is_none());
        let (_base, manifest) = base_with(&[("z", b"z"), ("a/b", b"x"), ("m", b"m")]);
        assert_eq!(manifest.len(), 3);
        for path in ["a/b", "m", "z"] {
            assert!(manifest.get(path).is_some(), "{path} (listed out of order)");
        }
        assert!(manifest.get("a").is_none());
        assert_eq!(manifest.get("m").map(|facts| facts.size), Some(1));
        let mut bytes = MANIFEST_MAGIC.to_vec();
        bytes.extend_from_slice(&100u32.to_le_bytes());
        assert!(Manifest::decode(bytes).is_none(), "truncated");
    }

    #[test]
    fn hard_links_fall_back_to_a_full_unpack() {
        let cache = RwLock::new(StatCache::default());
        let (base, manifest) = base_with(&[("f", b"x")]);
        let link = LayerEntry::new("g", EntryKind::Hardlink { target: "f".into() }, 0o644, 0);
        assert!(delta_entries(&[link], base.path(), &manifest, &cache)
            .unwrap()
            .is_none());
    }
}
