//! Garbage collection: delete the blobs nothing in the store reaches.
//!
//! **Roots.** A blob is kept when it is reachable from
//! - an `index.json` entry: every tag, and (unless
//!   [`PruneOptions::remove_untagged`]) every entry without a name that another
//!   tool wrote, following image indexes to their manifests and manifests to
//!   their config and layers (and an artifact manifest's `blobs`);
//! - a build-cache record: any `sha256:<hex>` digest written in a `*.json`
//!   file under `cache/` (except `cache/mounts/`, which holds the contents
//!   of RUN cache mounts). Matching digests in the text, rather than parsing
//!   a record format, keeps this module independent of how the build cache
//!   lays out its records: whatever a record names stays.
//!
//! A manifest or index that is referenced but cannot be parsed stops the
//! prune with an error: it might reference blobs, and deleting them would be
//! unrecoverable. Referenced blobs that are missing are skipped.
//!
//! **Concurrency.** Three mechanisms, from strongest to weakest:
//! 1. Writers hold the shared `gc` lock ([`Store::gc_guard`]) from their
//!    first blob write (or reuse of an existing blob) until their tag is set;
//!    `kiln load` does, and builds and pulls should. Prune takes `gc`
//!    exclusively, so it waits for running writers, and writers that start
//!    meanwhile wait for prune to finish.
//! 2. Prune holds the `index` lock while it computes the reachable set and
//!    deletes, and [`Store::set_tag`] checks that the manifest exists under
//!    the same lock, so a tag can never be set to a manifest being deleted.
//! 3. For writers that do not take the guard (an older kiln, another tool
//!    writing into the layout), the default mode keeps every unreachable blob
//!    younger than [`PruneOptions::min_age`] (10 minutes in `kiln prune`):
//!    such a writer has that long between writing a blob (or reusing one,
//!    which bumps its mtime) and tagging the image. `kiln prune --all` sets
//!    the age to zero and relies on mechanisms 1 and 2 only.
//!
//! Garbage ([`crate::garbage`]: temp files in `ingest/`, scratch entries in
//! `tmp/`, temp files of interrupted atomic writes) older than the age window
//! is removed too (with age zero: all of it, which is safe because every
//! kiln writer holds the guard while it has any).
//!
//! Crash safety: deleting unreachable blobs in any order never breaks a
//! reachable image, so a prune killed midway leaves a valid store with some
//! garbage left for the next prune.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use kiln_oci::media_type::{is_index, is_manifest};
use kiln_oci::Digest;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::garbage::remove_tree;
use crate::lock::StoreLock;
use crate::store::Store;
use crate::tags::{ref_name, INDEX_LOCK};

/// Name of the lock writers hold shared and prune holds exclusively.
const GC_LOCK: &str = "gc";
/// How deep image indexes may nest before the walk gives up.
const MAX_DEPTH: usize = 8;

/// What [`Store::prune`] may delete.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    /// The current time (passed in, so that tests control it).
    pub now: SystemTime,
    /// Unreachable blobs and ingest files modified less than this long
    /// before `now` are kept.
    pub min_age: Duration,
    /// Also drop the `index.json` entries that have no name (images other
    /// tools wrote without a tag), so their blobs become unreachable.
    pub remove_untagged: bool,
}

/// What [`Store::prune`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// The deleted blobs with their sizes, sorted by digest.
    pub deleted: Vec<(Digest, u64)>,
    /// Bytes freed: deleted blobs plus deleted ingest files.
    pub freed_bytes: u64,
    /// Untagged `index.json` entries removed.
    pub untagged_removed: usize,
    /// Unreachable blobs and garbage kept because they are younger than the
    /// age window.
    pub kept_recent: usize,
    /// Garbage entries removed (see [`crate::garbage`]).
    pub garbage_removed: usize,
}

impl Store {
    /// Takes the shared `gc` lock: while any holder lives, [`Store::prune`]
    /// waits. Hold it across writing blobs and tagging them. Do not call
    /// `prune` while holding it (prune would wait for itself).
    pub fn gc_guard(&self) -> Result<StoreLock> {
        self.lock_shared(GC_LOCK)
    }

    /// Takes the `gc` lock exclusively, waiting for every writer holding the
    /// guard: while it is held, no kiln writer runs on this store.
    pub fn gc_lock(&self) -> Result<StoreLock> {
        self.lock(GC_LOCK)
    }

    /// Like [`Store::gc_lock`], but `None` at once when a writer holds the guard.
    pub fn try_gc_lock(&self) -> Result<Option<StoreLock>> {
        self.try_lock(GC_LOCK)
    }

    /// Whether a writer currently holds the `gc` guard (so a prune would
    /// wait). Only a hint for messages.
    pub fn gc_busy(&self) -> Result<bool> {
        self.is_locked(GC_LOCK)
    }

    /// The digests of every blob reachable from `index.json` and from cache
    /// records (see the module documentation).
    pub fn reachable_blobs(&self) -> Result<BTreeSet<Digest>> {
        let mut reachable = self.index_reachable_blobs()?;
        self.collect_cache_digests(&mut reachable)?;
        Ok(reachable)
    }

    /// The digests of every blob reachable from `index.json` alone.
    pub(crate) fn index_reachable_blobs(&self) -> Result<BTreeSet<Digest>> {
        let index = self.read_index()?;
        let mut reachable = BTreeSet::new();
        for entry in &index.manifests {
            self.walk_descriptor(entry, &mut reachable, 0)?;
        }
        Ok(reachable)
    }

    /// Deletes every unreachable blob older than the age window, under the
    /// `gc` lock (exclusive; waits for writers) and the `index` lock.
    pub fn prune(&self, options: &PruneOptions) -> Result<PruneReport> {
        let _gc = self.lock(GC_LOCK)?;
        self.prune_locked(options)
    }

    /// [`Store::prune`] for a caller that holds the `gc` lock exclusively.
    pub(crate) fn prune_locked(&self, options: &PruneOptions) -> Result<PruneReport> {
        let _index_lock = self.lock(INDEX_LOCK)?;
        let mut report = PruneReport::default();
        if options.remove_untagged {
            let mut index = self.read_index()?;
            let before = index.manifests.len();
            index.manifests.retain(|entry| ref_name(entry).is_some());
            report.untagged_removed = before - index.manifests.len();
            if report.untagged_removed > 0 {
                self.write_index(index)?;
            }
        }
        let reachable = self.reachable_blobs()?;
        let blob_dir = self.root().join("blobs").join("sha256");
        for (name, path) in list_files(&blob_dir)? {
            let Ok(digest) = format!("sha256:{name}").parse::<Digest>() else {
                continue; // Not a blob name: not ours to judge.
            };
            if reachable.contains(&digest) {
                continue;
            }
            let Some(size) = remove_if_old(&path, options, &mut report)? else {
                continue;
            };
            report.freed_bytes += size;
            report.deleted.push((digest, size));
        }
        // Block maps (crate::blockmap) go with their blobs, including blobs deleted earlier.
        report.freed_bytes += self.remove_orphaned_block_maps()?;
        for garbage in self.garbage_candidates()? {
            let age = garbage
                .modified
                .map(|modified| options.now.duration_since(modified).unwrap_or_default());
            if !options.min_age.is_zero() && age.is_none_or(|age| age < options.min_age) {
                report.kept_recent += 1;
                continue;
            }
            remove_tree(&garbage.path)?;
            report.freed_bytes += garbage.bytes;
            report.garbage_removed += 1;
        }
        if !report.deleted.is_empty() {
            let (_, bytes) = self.remove_orphaned_snapshots()?;
            report.freed_bytes += bytes;
        }
        report.deleted.sort();
        Ok(report)
    }

    /// Adds the blob an index entry or descriptor names, and what it reaches.
    fn walk_descriptor(
        &self,
        descriptor: &Value,
        reachable: &mut BTreeSet<Digest>,
        depth: usize,
    ) -> Result<()> {
        let Some(text) = descriptor.get("digest").and_then(Value::as_str) else {
            return Ok(());
        };
        let digest: Digest = text.parse().map_err(|_| Error::InvalidDigest {
            value: text.to_string(),
        })?;
        if !reachable.insert(digest.clone()) {
            return Ok(()); // Already walked.
        }
        let media_type = descriptor
            .get("mediaType")
            .and_then(Value::as_str)
            .unwrap_or_default();
        // Only manifests and indexes (or entries that do not say) can
        // reference other blobs; layers are never read.
        let may_reference =
            media_type.is_empty() || is_manifest(media_type) || is_index(media_type);
        if !may_reference || !self.has_blob(&digest) {
            return Ok(());
        }
        if depth >= MAX_DEPTH {
            return Err(Error::InvalidLayout {
                path: self.blob_path(&digest),
                reason: format!("image indexes nest deeper than {MAX_DEPTH} levels"),
            });
        }
        let path = self.blob_path(&digest);
        let bytes = self.read_blob(&digest)?;
        let value: Value = match serde_json::from_slice(&bytes) {
            Ok(value) => value,
            // An entry without a media type may be anything: keep it, walk nothing.
            Err(_) if media_type.is_empty() => return Ok(()),
            Err(source) => return Err(Error::Json { path, source }),
        };
        if let Some(config) = value.get("config") {
            self.walk_descriptor(config, reachable, depth + 1)?;
        }
        for field in ["layers", "manifests", "blobs"] {
            if let Some(Value::Array(children)) = value.get(field) {
                for child in children {
                    self.walk_descriptor(child, reachable, depth + 1)?;
                }
            }
        }
        Ok(())
    }

    /// Adds every `sha256:<hex>` named in a `*.json` file under `cache/`
    /// (except `cache/mounts/`).
    fn collect_cache_digests(&self, reachable: &mut BTreeSet<Digest>) -> Result<()> {
        let cache = self.root().join("cache");
        let mut pending = vec![cache.clone()];
        while let Some(dir) = pending.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(Error::io(&dir, source)),
            };
            for entry in entries {
                let entry = entry.map_err(|source| Error::io(&dir, source))?;
                let path = entry.path();
                let kind = entry
                    .file_type()
                    .map_err(|source| Error::io(&path, source))?;
                if kind.is_dir() && path != cache.join("mounts") {
                    pending.push(path);
                } else if kind.is_file() && path.extension().is_some_and(|ext| ext == "json") {
                    let text = fs::read(&path).map_err(|source| Error::io(&path, source))?;
                    reachable.extend(digests_in(&text));
                }
            }
        }
        Ok(())
    }
}

/// Every `sha256:<64 lowercase hex>` in `text`.
pub(crate) fn digests_in(text: &[u8]) -> Vec<Digest> {
    const PREFIX: &[u8] = b"sha256:";
    let mut found = Vec::new();
    let mut start = 0;
    while let Some(offset) = text.get(start..).and_then(|rest| {
        rest.windows(PREFIX.len())
            .position(|window| window == PREFIX)
    }) {
        let begin = start + offset;
        let end = begin + PREFIX.len() + 64;
        if let Some(candidate) = text.get(begin..end) {
            let followed_by_hex = text.get(end).is_some_and(|byte| byte.is_ascii_hexdigit());
            if let (Ok(candidate), false) = (std::str::from_utf8(candidate), followed_by_hex) {
                if let Ok(digest) = candidate.parse::<Digest>() {
                    found.push(digest);
                }
            }
        }
        start = begin + PREFIX.len();
    }
    found
}

/// The regular files directly in `dir`, as (name, path); none if `dir` is missing.
fn list_files(dir: &Path) -> Result<Vec<(String, std::path::PathBuf)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(Error::io(dir, source)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::io(dir, source))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|source| Error::io(&path, source))?;
        if kind.is_file() {
            files.push((entry.file_name().to_string_lossy().into_owned(), path));
        }
    }
    files.sort();
    Ok(files)
}

/// Removes `path` unless it is younger than the age window; returns its size
/// when removed. A file that vanished meanwhile counts as not removed.
fn remove_if_old(
    path: &Path,
    options: &PruneOptions,
    report: &mut PruneReport,
) -> Result<Option<u64>> {
    let metadata = match fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(Error::io(path, source)),
    };
    if !options.min_age.is_zero() {
        let modified = metadata
            .modified()
            .map_err(|source| Error::io(path, source))?;
        // A modification time in the future counts as brand new.
        let age = options.now.duration_since(modified).unwrap_or_default();
        if age < options.min_age {
            report.kept_recent += 1;
            return Ok(None);
        }
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(Some(metadata.len())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::io(path, source)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_oci::media_type::{OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST};

    const HOUR: Duration = Duration::from_secs(3600);

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    /// Stores an image (layer, config, manifest) whose bytes depend on `seed`;
    /// returns (manifest descriptor, [layer, config, manifest] digests).
    fn image(store: &Store, seed: &str) -> (kiln_oci::Descriptor, [Digest; 3]) {
        let layer = format!("layer-{seed}").into_bytes();
        let config = format!(r#"{{"seed":"{seed}"}}"#).into_bytes();
        let layer_digest = store.write_blob(&layer).unwrap();
        let config_digest = store.write_blob(&config).unwrap();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest.to_string(), "size": config.len()},
            "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": layer_digest.to_string(), "size": layer.len()}],
        })
        .to_string()
        .into_bytes();
        let manifest_digest = store.write_blob(&manifest).unwrap();
        let descriptor =
            kiln_oci::descriptor(OCI_MANIFEST, &manifest_digest, manifest.len() as u64);
        (descriptor, [layer_digest, config_digest, manifest_digest])
    }

    fn options(now: SystemTime, min_age: Duration) -> PruneOptions {
        PruneOptions {
            now,
            min_age,
            remove_untagged: false,
        }
    }

    fn later() -> SystemTime {
        SystemTime::now() + HOUR
    }

    #[test]
    fn prune_deletes_only_unreachable_blobs() {
        let (_dir, store) = store();
        let (kept, kept_blobs) = image(&store, "kept");
        let (dropped, dropped_blobs) = image(&store, "dropped");
        store.set_tag("app:1", &kept).unwrap();
        store.set_tag("app:2", &dropped).unwrap();
        store.remove_tag("app:2").unwrap();
        let stray = store.write_blob(b"stray").unwrap();

        let expected_freed: u64 = dropped_blobs
            .iter()
            .chain([&stray])
            .map(|digest| store.blob_size(digest).unwrap())
            .sum();
        let report = store
            .prune(&options(later(), Duration::from_secs(600)))
            .unwrap();
        assert_eq!(report.freed_bytes, expected_freed);
        let mut expected: Vec<Digest> = dropped_blobs.to_vec();
        expected.push(stray.clone());
        expected.sort();
        let deleted: Vec<Digest> = report
            .deleted
            .iter()
            .map(|(digest, _)| digest.clone())
            .collect();
        assert_eq!(deleted, expected);
        for digest in &kept_blobs {
            assert!(store.has_blob(digest), "{digest} was reachable");
        }
        for digest in dropped_blobs.iter().chain([&stray]) {
            assert!(!store.has_blob(digest), "{digest} was garbage");
        }
        // Nothing left to do the second time.
        let again = store.prune(&options(later(), Duration::ZERO)).unwrap();
        assert_eq!(again, PruneReport::default());
    }

    #[test]
    fn the_age_window_keeps_recent_blobs() {
        let (_dir, store) = store();
        let (_, blobs) = image(&store, "fresh");
        let report = store.prune(&options(SystemTime::now(), HOUR)).unwrap();
        assert_eq!(report.freed_bytes, 0);
        assert_eq!(report.kept_recent, 3);
        assert!(blobs.iter().all(|digest| store.has_blob(digest)));
        let report = store
            .prune(&options(SystemTime::now(), Duration::ZERO))
            .unwrap();
        assert_eq!(report.deleted.len(), 3);
    }

    #[test]
    fn reusing_a_blob_renews_its_age() {
        let (_dir, store) = store();
        let digest = store.write_blob(b"old").unwrap();
        let old = SystemTime::now() - 2 * HOUR;
        fs::File::open(store.blob_path(&digest))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let window = options(SystemTime::now(), HOUR);
        store.write_blob(b"old").unwrap();
        let report = store.prune(&window).unwrap();
        assert_eq!(report.kept_recent, 1);
        assert!(store.has_blob(&digest));
    }

    #[test]
    fn indexes_untagged_entries_and_cache_records_are_roots() {
        let (_dir, store) = store();
        let (inner, inner_blobs) = image(&store, "inner");
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": inner.digest().to_string(), "size": inner.size()}],
        })
        .to_string()
        .into_bytes();
        let index_digest = store.write_blob(&index).unwrap();
        let index_descriptor = kiln_oci::descriptor(OCI_INDEX, &index_digest, index.len() as u64);
        store.set_tag("multi:1", &index_descriptor).unwrap();

        // An entry without a name, as another tool might write it.
        let (untagged, untagged_blobs) = image(&store, "untagged");
        let mut raw: Value =
            serde_json::from_slice(&fs::read(store.root().join("index.json")).unwrap()).unwrap();
        raw["manifests"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::to_value(&untagged).unwrap());
        fs::write(store.root().join("index.json"), raw.to_string()).unwrap();

        // A cache record naming a blob; the mounts directory is not scanned.
        let cached = store.write_blob(b"cached layer").unwrap();
        let mounted = store.write_blob(b"mounted").unwrap();
        fs::create_dir_all(store.root().join("cache/v1")).unwrap();
        fs::write(
            store.root().join("cache/v1/record.json"),
            format!(r#"{{"layer":"{cached}"}}"#),
        )
        .unwrap();
        fs::create_dir_all(store.root().join("cache/mounts/x")).unwrap();
        fs::write(
            store.root().join("cache/mounts/x/a.json"),
            format!("\"{mounted}\""),
        )
        .unwrap();

        let reachable = store.reachable_blobs().unwrap();
        for digest in inner_blobs
            .iter()
            .chain(&untagged_blobs)
            .chain([&index_digest, &cached])
        {
            assert!(reachable.contains(digest), "{digest} should be reachable");
        }
        assert!(!reachable.contains(&mounted));

        let report = store.prune(&options(later(), Duration::ZERO)).unwrap();
        assert_eq!(report.deleted.len(), 1, "{report:?}");
        assert!(!store.has_blob(&mounted));

        let all = PruneOptions {
            remove_untagged: true,
            ..options(later(), Duration::ZERO)
        };
        let report = store.prune(&all).unwrap();
        assert_eq!(report.untagged_removed, 1);
        assert_eq!(report.deleted.len(), 3);
        assert!(untagged_blobs.iter().all(|digest| !store.has_blob(digest)));
        assert!(inner_blobs.iter().all(|digest| store.has_blob(digest)));
        assert_eq!(store.tags().unwrap().len(), 1);
    }

    #[test]
    fn an_unreadable_manifest_stops_the_prune() {
        let (_dir, store) = store();
        let bogus = store.write_blob(b"not json").unwrap();
        let stray = store.write_blob(b"stray").unwrap();
        let descriptor = kiln_oci::descriptor(OCI_MANIFEST, &bogus, 8);
        store.set_tag("broken:1", &descriptor).unwrap();
        let result = store.prune(&options(later(), Duration::ZERO));
        assert!(matches!(result, Err(Error::Json { .. })), "{result:?}");
        assert!(
            store.has_blob(&stray),
            "nothing is deleted after a failed walk"
        );
    }

    #[test]
    fn old_ingest_files_are_removed() {
        let (_dir, store) = store();
        let leftover = store.root().join("ingest/blob-leftover");
        fs::write(&leftover, b"partial").unwrap();
        let report = store.prune(&options(SystemTime::now(), HOUR)).unwrap();
        assert!(leftover.exists());
        assert_eq!(report.kept_recent, 1);
        let report = store.prune(&options(later() + HOUR, HOUR)).unwrap();
        assert!(!leftover.exists());
        assert_eq!(report.freed_bytes, 7);
        assert_eq!(report.garbage_removed, 1);
        // Scratch directories of killed builds go too, read-only or not.
        let scratch = store.root().join("tmp/rootfs-x/usr");
        fs::create_dir_all(&scratch).unwrap();
        fs::write(scratch.join("f"), b"abc").unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&scratch, fs::Permissions::from_mode(0o555)).unwrap();
        let report = store.prune(&options(later(), Duration::ZERO)).unwrap();
        assert_eq!((report.garbage_removed, report.freed_bytes), (1, 3));
        assert!(!store.root().join("tmp/rootfs-x").exists());
    }

    #[test]
    fn digests_are_found_in_text() {
        let hex = "a".repeat(64);
        let cases: &[(String, usize)] = &[
            (format!(r#"{{"d":"sha256:{hex}"}}"#), 1),
            (format!("sha256:{hex} sha256:{hex}"), 2),
            (format!("sha256:{hex}0"), 0),
            (format!("sha256:{}", &hex[..63]), 0),
            ("sha256:".to_string(), 0),
            (format!("sha256:{}", "A".repeat(64)), 0),
        ];
        for (text, count) in cases {
            assert_eq!(digests_in(text.as_bytes()).len(), *count, "{text}");
        }
    }

    #[test]
    fn the_guard_is_shared_and_prune_is_exclusive() {
        let (_dir, store) = store();
        assert!(!store.gc_busy().unwrap());
        let first = store.gc_guard().unwrap();
        let second = store.gc_guard().unwrap();
        assert!(store.gc_busy().unwrap());
        drop(first);
        assert!(store.gc_busy().unwrap());
        drop(second);
        assert!(!store.gc_busy().unwrap());
    }
}
