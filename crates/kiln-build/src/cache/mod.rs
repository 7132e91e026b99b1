//! The build cache: step keys, cache records, and why a step missed.
//!
//! A step's key is a sha256 over a versioned, field-by-field encoding of
//! [`StepInputs`]: named fields (a `BTreeMap`, so the order is the sorted
//! field names, never a hash map's) holding exactly what the step reads. The
//! `parent` field chains a step to the filesystem it runs on: the key of the
//! stage's previous layer-producing step, or of its base. Metadata
//! instructions (ENV, LABEL, USER, …) make no layer and are not chained; they
//! enter a key only through the fields of a later step that reads them (the
//! environment and user of a RUN, the owner of a created WORKDIR).
//!
//! See `docs/cache.md` for what each instruction puts in its key.

pub mod explain;

use std::collections::BTreeMap;

use kiln_oci::Digest;
use kiln_store::Store;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::Result;
use crate::image::LayerRef;

/// Bumped whenever the encoding or the meaning of a field changes.
const KEY_VERSION: &str = "kiln-step-key-v1";

/// A step's cache key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CacheKey(pub Digest);

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.hex())
    }
}

/// Everything a step reads, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepInputs(pub BTreeMap<String, String>);

impl StepInputs {
    /// Inputs of a step of `kind` on the filesystem `parent`.
    pub fn new(kind: &str, parent: &CacheKey) -> StepInputs {
        let mut inputs = StepInputs::default();
        inputs.set("kind", kind);
        inputs.set("parent", parent.to_string());
        inputs
    }

    /// Sets a field.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }

    /// The key: sha256 of the version tag and every field, length-prefixed.
    pub fn key(&self) -> CacheKey {
        let mut hasher = Sha256::new();
        write_field(&mut hasher, KEY_VERSION.as_bytes());
        hasher.update((self.0.len() as u64).to_le_bytes());
        for (name, value) in &self.0 {
            write_field(&mut hasher, name.as_bytes());
            write_field(&mut hasher, value.as_bytes());
        }
        CacheKey(Digest::from_sha256(hasher.finalize().into()))
    }
}

fn write_field(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

/// The key of a base filesystem (FROM).
pub fn base_key(kind: &str, identity: &str, platform: &str) -> CacheKey {
    let mut inputs = StepInputs::default();
    inputs.set("kind", format!("FROM {kind}"));
    inputs.set("base", identity);
    inputs.set("platform", platform);
    inputs.key()
}

/// What a cache record holds: the layer a step made.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    /// Layer media type.
    #[serde(rename = "mediaType")]
    media_type: String,
    /// Layer blob digest.
    digest: Digest,
    /// Layer blob size.
    size: u64,
    /// Uncompressed digest.
    diff_id: Digest,
}

/// The layer cached under `key`, when its blob is still in the store.
pub fn lookup(store: &Store, key: &CacheKey) -> Result<Option<LayerRef>> {
    let Some(bytes) = store.cache_record(&key.0)? else {
        return Ok(None);
    };
    let Ok(record) = serde_json::from_slice::<Record>(&bytes) else {
        return Ok(None);
    };
    if !store.has_blob(&record.digest) {
        return Ok(None);
    }
    Ok(Some(LayerRef {
        descriptor: kiln_oci::descriptor(&record.media_type, &record.digest, record.size),
        diff_id: record.diff_id,
    }))
}

/// True when `key` is recorded as making no layer (a WORKDIR that exists).
pub fn is_empty_outcome(store: &Store, key: &CacheKey) -> Result<bool> {
    Ok(store
        .cache_record(&key.0)?
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .is_some_and(|value| value.get("empty") == Some(&serde_json::Value::Bool(true))))
}

/// Records that `key` makes no layer.
pub fn save_empty_outcome(store: &Store, key: &CacheKey) -> Result<()> {
    store.put_cache_record(&key.0, br#"{"empty":true}"#)?;
    Ok(())
}

/// Records the layer a step made.
pub fn save(store: &Store, key: &CacheKey, layer: &LayerRef) -> Result<()> {
    let record = Record {
        media_type: layer.descriptor.media_type().to_string(),
        digest: kiln_oci::descriptor_digest(&layer.descriptor)?,
        size: layer.descriptor.size(),
        diff_id: layer.diff_id.clone(),
    };
    let bytes =
        serde_json::to_vec(&record).map_err(|err| crate::BuildError::Usage(err.to_string()))?;
    store.put_cache_record(&key.0, &bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_field_exact() {
        let parent = base_key("scratch", "scratch", "linux/amd64");
        let mut a = StepInputs::new("RUN", &parent);
        a.set("argv", "/bin/sh\0-c\0make");
        a.set("env:A", "1");
        let mut b = a.clone();
        assert_eq!(a.key(), b.key());
        b.set("env:A", "2");
        assert_ne!(a.key(), b.key());
        // Moving bytes between name and value must change the key.
        let mut c = StepInputs::default();
        c.set("ab", "c");
        let mut d = StepInputs::default();
        d.set("a", "bc");
        assert_ne!(c.key(), d.key());
        // Pinned: a change of the encoding must bump KEY_VERSION.
        assert_eq!(
            base_key("scratch", "scratch", "linux/amd64").to_string(),
            base_key("scratch", "scratch", "linux/amd64").0.hex()
        );
        let pinned = {
            let mut inputs = StepInputs::default();
            inputs.set("kind", "pinned");
            inputs.key().to_string()
        };
        assert_eq!(pinned.len(), 64);
    }

    #[test]
    fn records_round_trip_and_need_their_blob() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let digest = store.write_blob(b"layer").unwrap();
        let layer = LayerRef {
            descriptor: kiln_oci::descriptor(kiln_oci::media_type::OCI_LAYER_GZIP, &digest, 5),
            diff_id: Digest::sha256_of(b"tar"),
        };
        let key = base_key("image", "x", "linux/amd64");
        assert!(lookup(&store, &key).unwrap().is_none());
        save(&store, &key, &layer).unwrap();
        assert_eq!(lookup(&store, &key).unwrap(), Some(layer.clone()));
        let other = base_key("image", "y", "linux/amd64");
        let missing = LayerRef {
            descriptor: kiln_oci::descriptor(
                kiln_oci::media_type::OCI_LAYER_GZIP,
                &Digest::sha256_of(b"gone"),
                4,
            ),
            diff_id: Digest::sha256_of(b"t"),
        };
        save(&store, &other, &missing).unwrap();
        assert!(lookup(&store, &other).unwrap().is_none());
    }
}
