//! Build-cache usage (`kiln cache du`) and pruning (`kiln cache prune`).
//!
//! The build cache is everything under `cache/`:
//! - records (`cache/v1/records/*.json`) and the layer blobs they name; a
//!   layer that a tag also reaches is not cache storage (deleting the record
//!   would not free it), a layer only records reach is;
//! - RUN cache mounts (`cache/mounts/<sha256 of the id>/`);
//! - the stat cache (`cache/v1/stat.bin`), the `--explain` history
//!   (`cache/v1/docs/`), and older cache versions.
//!
//! "Last used" is a record's mtime ([`Store::cache_record`] bumps it on
//! every hit) and the newest mtime inside a mount.
//!
//! [`Store::prune_cache`] holds the `gc` lock exclusively, so it waits for
//! running builds (which hold the shared guard from start to tag) and no
//! build starts while it deletes: a mount, a record or a layer is never
//! removed under a build that uses it. It deletes the chosen records and
//! mounts first, then the layer blobs of those records that nothing else
//! reaches any more (tags or remaining records, see [`crate::gc`]). A kill
//! midway leaves blobs that the next `cache prune` or `kiln prune` frees.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use kiln_oci::Digest;

use crate::cache::CACHE_VERSION;
use crate::error::{Error, Result};
use crate::garbage::{list_dir, remove_tree, tree_usage, CACHE_TEMP_PREFIX};
use crate::gc::digests_in;
use crate::store::Store;
use crate::tags::INDEX_LOCK;

/// Bytes per stat-cache entry (see [`crate::StatCache`]'s file format).
const STAT_ENTRY_BYTES: u64 = 88;

/// One RUN cache mount directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheMount {
    /// Its directory (`cache/mounts/<sha256 of the mount id>`).
    pub path: PathBuf,
    /// Bytes of the files in it.
    pub bytes: u64,
    /// The newest modification time in it.
    pub last_used: Option<SystemTime>,
}

/// What the build cache holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheUsage {
    /// Cache records.
    pub records: usize,
    /// Bytes of the record files.
    pub record_bytes: u64,
    /// Layer blobs only cache records reach.
    pub cache_only_layers: usize,
    /// Their bytes.
    pub cache_only_bytes: u64,
    /// Layer blobs records name that a tag also reaches (not freed by
    /// pruning the cache).
    pub shared_layers: usize,
    /// Their bytes.
    pub shared_bytes: u64,
    /// RUN cache mounts.
    pub mounts: Vec<CacheMount>,
    /// Bytes of the stat cache file.
    pub stat_cache_bytes: u64,
    /// Entries in the stat cache.
    pub stat_cache_entries: u64,
    /// Bytes of everything else under `cache/`: `--explain` history, older
    /// cache versions, temp files.
    pub other_bytes: u64,
}

impl CacheUsage {
    /// Bytes of all RUN cache mounts.
    pub fn mount_bytes(&self) -> u64 {
        self.mounts.iter().map(|mount| mount.bytes).sum()
    }

    /// What `--keep-storage` measures: records, cache-only layers, mounts.
    pub fn storage_bytes(&self) -> u64 {
        self.record_bytes + self.cache_only_bytes + self.mount_bytes()
    }

    /// Everything the cache occupies that pruning it all would free.
    pub fn total_bytes(&self) -> u64 {
        self.storage_bytes() + self.stat_cache_bytes + self.other_bytes
    }
}

/// What [`Store::prune_cache`] removes.
#[derive(Debug, Clone)]
pub struct CachePruneOptions {
    /// The current time (passed in, so that tests control it).
    pub now: SystemTime,
    /// Every record (not only those whose layer no tag reaches), every
    /// mount, and — without the two limits below — the stat cache, the
    /// `--explain` history and older cache versions.
    pub all: bool,
    /// Stop once the cache storage ([`CacheUsage::storage_bytes`]) is at
    /// most this many bytes, removing the least recently used first.
    pub keep_storage: Option<u64>,
    /// Keep what was used less than this long before `now`.
    pub unused_for: Option<Duration>,
}

/// What [`Store::prune_cache`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CachePruneReport {
    /// Records removed.
    pub records_removed: usize,
    /// RUN cache mounts removed.
    pub mounts_removed: usize,
    /// Layer blobs removed, with their sizes.
    pub blobs_removed: Vec<(Digest, u64)>,
    /// Other files removed (stat cache, history, older versions).
    pub other_removed: usize,
    /// Bytes freed in all.
    pub freed_bytes: u64,
}

/// A record as found on disk.
struct RecordFile {
    path: PathBuf,
    bytes: u64,
    last_used: Option<SystemTime>,
    blobs: Vec<Digest>,
}

/// The whole cache, read once.
struct Inventory {
    records: Vec<RecordFile>,
    /// Sizes of the cache-only layer blobs.
    cache_only: BTreeMap<Digest, u64>,
    usage: CacheUsage,
    /// Files and directories under `cache/` that are neither records nor mounts.
    others: Vec<PathBuf>,
}

/// Something prune may remove, in least-recently-used order.
enum Item {
    Record(usize),
    Mount(usize),
}

impl Store {
    /// Measures the build cache (see the module documentation).
    pub fn cache_usage(&self) -> Result<CacheUsage> {
        Ok(self.cache_inventory()?.usage)
    }

    /// Removes build-cache records, RUN cache mounts and the layers only
    /// they reached; waits for running builds (see the module documentation).
    pub fn prune_cache(&self, options: &CachePruneOptions) -> Result<CachePruneReport> {
        let _gc = self.gc_lock()?;
        let inventory = self.cache_inventory()?;
        let mut report = CachePruneReport::default();
        let is_old = |last_used: Option<SystemTime>| match (options.unused_for, last_used) {
            (Some(window), Some(used)) => {
                options.now.duration_since(used).unwrap_or_default() >= window
            }
            _ => true,
        };
        let mut items: Vec<(Option<SystemTime>, Item)> = Vec::new();
        for (position, record) in inventory.records.iter().enumerate() {
            let costs_space = record
                .blobs
                .iter()
                .any(|digest| inventory.cache_only.contains_key(digest));
            if (options.all || costs_space) && is_old(record.last_used) {
                items.push((record.last_used, Item::Record(position)));
            }
        }
        for (position, mount) in inventory.usage.mounts.iter().enumerate() {
            if is_old(mount.last_used) {
                items.push((mount.last_used, Item::Mount(position)));
            }
        }
        items.sort_by_key(|(last_used, _)| *last_used);

        // How many remaining records name each cache-only layer.
        let mut references: BTreeMap<&Digest, usize> = BTreeMap::new();
        for record in &inventory.records {
            for digest in &record.blobs {
                if inventory.cache_only.contains_key(digest) {
                    *references.entry(digest).or_default() += 1;
                }
            }
        }
        let mut storage = inventory.usage.storage_bytes();
        let mut orphaned = BTreeSet::new();
        for (_, item) in &items {
            if options.keep_storage.is_some_and(|limit| storage <= limit) {
                break;
            }
            match item {
                Item::Record(position) => {
                    let Some(record) = inventory.records.get(*position) else {
                        continue;
                    };
                    remove_file(&record.path)?;
                    report.records_removed += 1;
                    report.freed_bytes += record.bytes;
                    storage = storage.saturating_sub(record.bytes);
                    for digest in &record.blobs {
                        let Some(count) = references.get_mut(digest) else {
                            continue;
                        };
                        *count -= 1;
                        if *count == 0 {
                            let size = inventory.cache_only.get(digest).copied().unwrap_or(0);
                            storage = storage.saturating_sub(size);
                            orphaned.insert(digest.clone());
                        }
                    }
                }
                Item::Mount(position) => {
                    let Some(mount) = inventory.usage.mounts.get(*position) else {
                        continue;
                    };
                    remove_tree(&mount.path)?;
                    report.mounts_removed += 1;
                    report.freed_bytes += mount.bytes;
                    storage = storage.saturating_sub(mount.bytes);
                }
            }
        }
        if options.all && options.keep_storage.is_none() && options.unused_for.is_none() {
            for path in &inventory.others {
                let bytes = tree_usage(path)?.map_or(0, |(bytes, _)| bytes);
                // Out of sight at once: a half-deleted snapshot must never be used.
                self.remove_via_tmp(path)?;
                report.other_removed += 1;
                report.freed_bytes += bytes;
            }
        }
        self.remove_orphaned_layers(&orphaned, &mut report)?;
        Ok(report)
    }

    /// Deletes those of `candidates` that nothing reaches any more.
    fn remove_orphaned_layers(
        &self,
        candidates: &BTreeSet<Digest>,
        report: &mut CachePruneReport,
    ) -> Result<()> {
        if candidates.is_empty() {
            return Ok(());
        }
        let _index_lock = self.lock(INDEX_LOCK)?;
        let reachable = self.reachable_blobs()?;
        for digest in candidates.difference(&reachable) {
            let path = self.blob_path(digest);
            let Ok(size) = self.blob_size(digest) else {
                continue;
            };
            remove_file(&path)?;
            report.freed_bytes += size;
            report.blobs_removed.push((digest.clone(), size));
        }
        // What was derived from the deleted layers goes with them.
        report.freed_bytes += self.remove_orphaned_block_maps()?;
        report.freed_bytes += self.remove_orphaned_snapshots()?.1;
        Ok(())
    }

    /// Reads records, mounts and the rest of `cache/`.
    fn cache_inventory(&self) -> Result<Inventory> {
        let tagged = self.index_reachable_blobs()?;
        let mut usage = CacheUsage::default();
        let mut records = Vec::new();
        let mut cache_only = BTreeMap::new();
        let mut shared = BTreeSet::new();
        let records_dir = self.cache_records_dir();
        for path in list_dir(&records_dir)? {
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned());
            let name = name.unwrap_or_default();
            if name.starts_with(CACHE_TEMP_PREFIX) || !name.ends_with(".json") {
                continue;
            }
            let (text, metadata) = match fs::read(&path).and_then(|text| {
                let metadata = fs::metadata(&path)?;
                Ok((text, metadata))
            }) {
                Ok(found) => found,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(Error::io(&path, source)),
            };
            let mut blobs = Vec::new();
            for digest in digests_in(&text) {
                let Ok(size) = self.blob_size(&digest) else {
                    continue; // A diff_id, or a layer already gone.
                };
                if tagged.contains(&digest) {
                    shared.insert((digest.clone(), size));
                } else {
                    cache_only.insert(digest.clone(), size);
                }
                blobs.push(digest);
            }
            usage.records += 1;
            usage.record_bytes += metadata.len();
            records.push(RecordFile {
                path,
                bytes: metadata.len(),
                last_used: metadata.modified().ok(),
                blobs,
            });
        }
        usage.cache_only_layers = cache_only.len();
        usage.cache_only_bytes = cache_only.values().sum();
        usage.shared_layers = shared.len();
        usage.shared_bytes = shared.iter().map(|(_, size)| size).sum();

        for path in list_dir(&self.root().join("cache").join("mounts"))? {
            if let Some((bytes, last_used)) = tree_usage(&path)? {
                usage.mounts.push(CacheMount {
                    path,
                    bytes,
                    last_used,
                });
            }
        }

        // Everything else: the stat cache, history, older versions, temp files.
        let version_dir = self.root().join("cache").join(CACHE_VERSION);
        let mut others = Vec::new();
        for path in list_dir(&self.root().join("cache"))? {
            if path != version_dir && !path.ends_with("mounts") {
                others.push(path);
            }
        }
        for path in list_dir(&version_dir)? {
            if path != records_dir {
                others.push(path);
            }
        }
        for path in list_dir(&records_dir)? {
            let is_record = path.extension().is_some_and(|ext| ext == "json")
                && !path
                    .file_name()
                    .is_some_and(|name| name.to_string_lossy().starts_with(CACHE_TEMP_PREFIX));
            if !is_record {
                others.push(path);
            }
        }
        for path in &others {
            let bytes = tree_usage(path)?.map_or(0, |(bytes, _)| bytes);
            if path.ends_with("stat.bin") && path.starts_with(&version_dir) {
                usage.stat_cache_bytes = bytes;
                usage.stat_cache_entries = bytes.saturating_sub(8) / STAT_ENTRY_BYTES;
            } else {
                usage.other_bytes += bytes;
            }
        }
        Ok(Inventory {
            records,
            cache_only,
            usage,
            others,
        })
    }
}

fn remove_file(path: &std::path::Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, err)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_oci::media_type::{OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST};

    const HOUR: Duration = Duration::from_secs(3600);

    /// A store with:
    /// - `app:1` whose layer `a` also has record `ra`;
    /// - records `rb` → layer `b` (1000 bytes), `rc` → `c` (2000 bytes),
    ///   `rd1` and `rd2` → `d` (300 bytes);
    /// - mounts `m1` (100 bytes) and `m2` (50 bytes);
    /// - a stat cache and a history document.
    ///
    /// Ages (hours): rb 5, m1 4, rd1 3, rc 2, ra/rd2/m2 now.
    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
        layers: BTreeMap<&'static str, Digest>,
    }

    fn record_key(name: &str) -> Digest {
        Digest::sha256_of(name.as_bytes())
    }

    fn set_age(path: &std::path::Path, hours: u32) {
        let when = SystemTime::now() - HOUR * hours;
        fs::File::open(path).unwrap().set_modified(when).unwrap();
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut layers = BTreeMap::new();
        for (name, size) in [("a", 10), ("b", 1000), ("c", 2000), ("d", 300)] {
            let bytes = vec![name.as_bytes()[0]; size];
            layers.insert(name, store.write_blob(&bytes).unwrap());
        }
        let config = store.write_blob(b"{}").unwrap();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "config": {"mediaType": OCI_CONFIG, "digest": config.to_string(), "size": 2},
            "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": layers["a"].to_string(), "size": 10}],
        })
        .to_string();
        let manifest_digest = store.write_blob(manifest.as_bytes()).unwrap();
        let descriptor =
            kiln_oci::descriptor(OCI_MANIFEST, &manifest_digest, manifest.len() as u64);
        store.set_tag("app:1", &descriptor).unwrap();
        for (record, layer, hours) in [
            ("ra", "a", 0),
            ("rb", "b", 5),
            ("rc", "c", 2),
            ("rd1", "d", 3),
            ("rd2", "d", 0),
        ] {
            let text = format!(r#"{{"digest":"{}","size":1}}"#, layers[layer]);
            store
                .put_cache_record(&record_key(record), text.as_bytes())
                .unwrap();
            set_age(&store.cache_record_path(&record_key(record)), hours);
        }
        for (mount, size, hours) in [("m1", 100, 4), ("m2", 50, 0)] {
            let path = dir.path().join("cache/mounts").join(mount);
            fs::create_dir_all(&path).unwrap();
            fs::write(path.join("file"), vec![0u8; size]).unwrap();
            set_age(&path.join("file"), hours);
            set_age(&path, hours);
        }
        let mut stat = crate::StatCache::default();
        stat.insert(
            crate::StatKey {
                dev: 1,
                ino: 2,
                size: 3,
                mtime: 4,
                mtime_nsec: 5,
                ctime: 6,
                ctime_nsec: 7,
            },
            [9; 32],
        );
        store.save_stat_cache(&stat).unwrap();
        store.put_cache_document("build-x", b"[1,2,3]").unwrap();
        Fixture {
            _dir: dir,
            store,
            layers,
        }
    }

    fn options(all: bool, keep: Option<u64>, unused_for: Option<Duration>) -> CachePruneOptions {
        CachePruneOptions {
            now: SystemTime::now(),
            all,
            keep_storage: keep,
            unused_for,
        }
    }

    fn remaining_records(store: &Store) -> Vec<&'static str> {
        ["ra", "rb", "rc", "rd1", "rd2"]
            .into_iter()
            .filter(|name| store.cache_record_path(&record_key(name)).exists())
            .collect()
    }

    fn remaining_mounts(store: &Store) -> Vec<String> {
        list_dir(&store.root().join("cache/mounts"))
            .unwrap()
            .iter()
            .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn usage_tells_cache_only_layers_from_tagged_ones() {
        let fixture = fixture();
        let usage = fixture.store.cache_usage().unwrap();
        assert_eq!(usage.records, 5);
        assert_eq!((usage.cache_only_layers, usage.cache_only_bytes), (3, 3300));
        assert_eq!((usage.shared_layers, usage.shared_bytes), (1, 10));
        assert_eq!(usage.mounts.len(), 2);
        assert_eq!(usage.mount_bytes(), 150);
        assert_eq!(
            (usage.stat_cache_bytes, usage.stat_cache_entries),
            (8 + 88, 1)
        );
        assert_eq!(usage.other_bytes, 7);
        assert_eq!(
            usage.storage_bytes(),
            usage.record_bytes + 3300 + 150,
            "{usage:?}"
        );
    }

    #[test]
    fn prune_modes_remove_the_right_things() {
        struct Case {
            name: &'static str,
            options: CachePruneOptions,
            records: &'static [&'static str],
            mounts: &'static [&'static str],
            layers_left: &'static [&'static str],
            stat_left: bool,
        }
        let cases = [
            Case {
                name: "default: records that cost space, and mounts",
                options: options(false, None, None),
                records: &["ra"],
                mounts: &[],
                layers_left: &["a"],
                stat_left: true,
            },
            Case {
                name: "all",
                options: options(true, None, None),
                records: &[],
                mounts: &[],
                layers_left: &["a"],
                stat_left: false,
            },
            Case {
                name: "unused for 90 minutes",
                options: options(false, None, Some(HOUR * 3 / 2)),
                records: &["ra", "rd2"],
                mounts: &["m2"],
                layers_left: &["a", "d"],
                stat_left: true,
            },
            Case {
                name: "keep storage: the oldest record goes first",
                options: options(false, Some(2900), None),
                records: &["ra", "rc", "rd1", "rd2"],
                mounts: &["m1", "m2"],
                layers_left: &["a", "c", "d"],
                stat_left: true,
            },
            Case {
                name: "keep storage: then the oldest mount, then records",
                options: options(false, Some(2700), None),
                records: &["ra", "rc", "rd2"],
                mounts: &["m2"],
                layers_left: &["a", "c", "d"],
                stat_left: true,
            },
        ];
        for case in cases {
            let fixture = fixture();
            let store = &fixture.store;
            let before = store.cache_usage().unwrap();
            let report = store.prune_cache(&case.options).unwrap();
            assert_eq!(remaining_records(store), case.records, "{}", case.name);
            assert_eq!(remaining_mounts(store), case.mounts, "{}", case.name);
            for (name, digest) in &fixture.layers {
                let expected = case.layers_left.contains(name);
                assert_eq!(store.has_blob(digest), expected, "{}: {name}", case.name);
            }
            let stat = store.root().join("cache/v1/stat.bin");
            assert_eq!(stat.exists(), case.stat_left, "{}", case.name);
            let after = store.cache_usage().unwrap();
            assert_eq!(
                report.freed_bytes,
                before.total_bytes() - after.total_bytes(),
                "{}: {report:?}",
                case.name
            );
            if let Some(limit) = case.options.keep_storage {
                assert!(after.storage_bytes() <= limit, "{}", case.name);
            }
        }
    }
}
