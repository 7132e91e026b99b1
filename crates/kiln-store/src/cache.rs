//! Build-cache storage: opaque records keyed by a cache key, named documents
//! (e.g. the last build's step inputs), and the context stat cache.
//!
//! ```text
//! cache/v1/records/<key hex>.json   one record per cache key (the engine's format)
//! cache/v1/docs/<name>.json         named documents, replaced whole
//! cache/v1/stat.bin                 (dev, inode, size, mtime, ctime) -> sha256
//! ```
//! The store does not know what a step is: the engine chooses keys and
//! record contents. Every file is written to a temp file in its directory,
//! fsync'd and renamed over, so a reader sees an old or a new version, never
//! a torn one. Records name blobs as `sha256:<hex>` in their JSON, which is
//! what makes [`crate::gc`] keep those blobs.
//!
//! The version directory `v1` is bumped whenever the engine's key encoding
//! or a format here changes; older versions are then ignored (and pruned).

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use kiln_oci::Digest;

use crate::error::{Error, Result};
use crate::store::{sync_dir, Store};

/// The cache format version directory.
pub const CACHE_VERSION: &str = "v1";

/// The stat facts that identify unchanged file content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatKey {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds.
    pub mtime: i64,
    /// Modification time, nanoseconds.
    pub mtime_nsec: i64,
    /// Status change time, seconds.
    pub ctime: i64,
    /// Status change time, nanoseconds.
    pub ctime_nsec: i64,
}

/// Content digests of files, by their stat facts: a file whose stat did not
/// change is not read again.
#[derive(Debug, Default, Clone)]
pub struct StatCache {
    entries: HashMap<StatKey, [u8; 32], StatKeyHashing>,
    added: usize,
}

/// Hashing of [`StatKey`]s: a multiply-rotate mix of the seven words with a
/// per-process random seed. A no-op rebuild looks up every context file, and
/// SipHash showed in its profile; the keys are stat facts, not chosen input.
#[derive(Debug, Clone)]
struct StatKeyHashing {
    seed: u64,
}

impl Default for StatKeyHashing {
    fn default() -> Self {
        use std::hash::BuildHasher;
        StatKeyHashing {
            seed: std::collections::hash_map::RandomState::new().hash_one(0u64),
        }
    }
}

impl std::hash::BuildHasher for StatKeyHashing {
    type Hasher = StatKeyHasher;

    fn build_hasher(&self) -> StatKeyHasher {
        StatKeyHasher { state: self.seed }
    }
}

/// See [`StatKeyHashing`].
#[derive(Debug)]
struct StatKeyHasher {
    state: u64,
}

impl std::hash::Hasher for StatKeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.state = (self.state.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_i64(&mut self, word: i64) {
        self.write_u64(word as u64);
    }

    fn finish(&self) -> u64 {
        // Spread the high bits down: hashbrown takes its control bits from the top.
        let mixed = self.state ^ (self.state >> 29);
        mixed.wrapping_mul(0x94_d0_49_bb_13_31_11_eb) ^ (mixed >> 32)
    }
}

const STAT_MAGIC: &[u8; 8] = b"kilnst01";
const STAT_RECORD: usize = 8 * 7 + 32;
/// Entries kept at most; the oldest file's entries go first when over.
const STAT_LIMIT: usize = 2_000_000;

impl StatCache {
    /// The sha256 recorded for these stat facts.
    pub fn get(&self, key: &StatKey) -> Option<[u8; 32]> {
        self.entries.get(key).copied()
    }

    /// Records a digest.
    pub fn insert(&mut self, key: StatKey, sha256: [u8; 32]) {
        if self.entries.insert(key, sha256).is_none() {
            self.added += 1;
        }
    }

    /// Entries added since loading.
    pub fn added(&self) -> usize {
        self.added
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn decode(bytes: &[u8]) -> StatCache {
        let mut cache = StatCache::default();
        let Some(body) = bytes.strip_prefix(STAT_MAGIC.as_slice()) else {
            return cache;
        };
        cache.entries.reserve(body.len() / STAT_RECORD);
        for record in body.chunks_exact(STAT_RECORD) {
            let word = |index: usize| {
                let mut buf = [0u8; 8];
                buf.copy_from_slice(&record[index * 8..index * 8 + 8]);
                u64::from_le_bytes(buf)
            };
            let key = StatKey {
                dev: word(0),
                ino: word(1),
                size: word(2),
                mtime: word(3) as i64,
                mtime_nsec: word(4) as i64,
                ctime: word(5) as i64,
                ctime_nsec: word(6) as i64,
            };
            let mut sha = [0u8; 32];
            sha.copy_from_slice(&record[56..88]);
            cache.entries.insert(key, sha);
        }
        cache
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.entries.len() * STAT_RECORD);
        out.extend_from_slice(STAT_MAGIC);
        for (key, sha) in self.entries.iter().take(STAT_LIMIT) {
            for word in [
                key.dev,
                key.ino,
                key.size,
                key.mtime as u64,
                key.mtime_nsec as u64,
                key.ctime as u64,
                key.ctime_nsec as u64,
            ] {
                out.extend_from_slice(&word.to_le_bytes());
            }
            out.extend_from_slice(sha);
        }
        out
    }
}

pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|byte| {
            byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' || byte == b'.'
        })
        && !name.starts_with('.')
}

impl Store {
    fn cache_dir(&self, sub: &str) -> PathBuf {
        self.root().join("cache").join(CACHE_VERSION).join(sub)
    }

    /// Where the record of `key` lives (whether or not it exists).
    pub(crate) fn cache_record_path(&self, key: &Digest) -> PathBuf {
        self.cache_dir("records")
            .join(format!("{}.json", key.hex()))
    }

    /// The record stored under `key`, if any. Reading a record counts as
    /// using it: its mtime is set to now (best effort), which is what
    /// `cache prune --filter until=…` and `--keep-storage` go by.
    pub fn cache_record(&self, key: &Digest) -> Result<Option<Vec<u8>>> {
        let path = self.cache_record_path(key);
        let bytes = read_optional(&path)?;
        if bytes.is_some() {
            if let Ok(file) = fs::File::open(&path) {
                let _ = file.set_modified(std::time::SystemTime::now());
            }
        }
        Ok(bytes)
    }

    /// Stores (or replaces) the record under `key`, atomically.
    pub fn put_cache_record(&self, key: &Digest, bytes: &[u8]) -> Result<()> {
        write_atomically(
            &self.cache_dir("records"),
            &format!("{}.json", key.hex()),
            bytes,
        )
    }

    /// The directory of the build-cache records.
    pub(crate) fn cache_records_dir(&self) -> PathBuf {
        self.cache_dir("records")
    }

    /// A named document (`name`: letters, digits, `-`, `_`, `.`).
    pub fn cache_document(&self, name: &str) -> Result<Option<Vec<u8>>> {
        if !valid_name(name) {
            return Err(Error::InvalidLockName {
                name: name.to_string(),
            });
        }
        read_optional(&self.cache_dir("docs").join(format!("{name}.json")))
    }

    /// Replaces a named document, atomically.
    pub fn put_cache_document(&self, name: &str, bytes: &[u8]) -> Result<()> {
        if !valid_name(name) {
            return Err(Error::InvalidLockName {
                name: name.to_string(),
            });
        }
        write_atomically(&self.cache_dir("docs"), &format!("{name}.json"), bytes)
    }

    /// Loads the stat cache (empty when missing or unreadable: it is only a cache).
    pub fn load_stat_cache(&self) -> StatCache {
        let path = self.cache_dir("").join("stat.bin");
        fs::read(path)
            .map(|bytes| StatCache::decode(&bytes))
            .unwrap_or_default()
    }

    /// Saves new entries of `cache`, merged with what another process may have
    /// saved meanwhile (under the `stat-cache` lock).
    pub fn save_stat_cache(&self, cache: &StatCache) -> Result<()> {
        if cache.added() == 0 {
            return Ok(());
        }
        let _lock = self.lock("stat-cache")?;
        let mut merged = self.load_stat_cache();
        for (key, sha) in &cache.entries {
            merged.entries.insert(*key, *sha);
        }
        write_atomically(&self.cache_dir(""), "stat.bin", &merged.encode())
    }
}

pub(crate) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::io(path, source)),
    }
}

pub(crate) fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    fs::create_dir_all(dir).map_err(|source| Error::io(dir, source))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|source| Error::io(dir, source))?;
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|source| Error::io(dir, source))?;
    let target = dir.join(name);
    temp.persist(&target)
        .map_err(|err| Error::io(&target, err.error))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> StatKey {
        StatKey {
            dev: 1,
            ino: n,
            size: n * 10,
            mtime: -5,
            mtime_nsec: 7,
            ctime: 9,
            ctime_nsec: 11,
        }
    }

    #[test]
    fn records_and_documents_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let digest = Digest::sha256_of(b"k");
        assert_eq!(store.cache_record(&digest).unwrap(), None);
        store.put_cache_record(&digest, b"{\"a\":1}").unwrap();
        assert_eq!(store.cache_record(&digest).unwrap().unwrap(), b"{\"a\":1}");
        store.put_cache_document("last-build-abc", b"[]").unwrap();
        assert_eq!(
            store.cache_document("last-build-abc").unwrap().unwrap(),
            b"[]"
        );
        assert!(store.cache_document("../x").is_err());
    }

    #[test]
    fn reading_a_record_marks_it_used() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let digest = Digest::sha256_of(b"k");
        store.put_cache_record(&digest, b"{}").unwrap();
        let path = store.cache_record_path(&digest);
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        fs::File::open(&path).unwrap().set_modified(old).unwrap();
        store.cache_record(&digest).unwrap().unwrap();
        let modified = fs::metadata(&path).unwrap().modified().unwrap();
        assert!(modified > old + std::time::Duration::from_secs(3600));
    }

    #[test]
    fn stat_cache_round_trips_and_merges() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut first = store.load_stat_cache();
        assert!(first.is_empty());
        first.insert(key(1), [1; 32]);
        store.save_stat_cache(&first).unwrap();
        let mut second = StatCache::default();
        second.insert(key(2), [2; 32]);
        store.save_stat_cache(&second).unwrap();
        let loaded = store.load_stat_cache();
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded.get(&key(1)), Some([1; 32]));
        assert_eq!(loaded.get(&key(2)), Some([2; 32]));
        assert_eq!(loaded.get(&key(3)), None);
        std::fs::write(dir.path().join("cache/v1/stat.bin"), b"garbage").unwrap();
        assert!(store.load_stat_cache().is_empty());
    }
}
