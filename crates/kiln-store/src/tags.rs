//! Tags: the `manifests` of the store's `index.json`, each named by an
//! `org.opencontainers.image.ref.name` annotation.
//!
//! Every change happens under the `index` lock: read, modify, write a temp
//! file in the root, fsync, rename over `index.json`, so readers only ever
//! see a whole file. Tagged entries are kept sorted by name; entries without
//! the annotation (written by other tools) are kept verbatim, first, in
//! their original order.

use std::collections::HashMap;
use std::path::PathBuf;

use kiln_oci::media_type::ANNOTATION_REF_NAME;
use kiln_oci::Descriptor;
use serde::Deserialize as _;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::store::{Store, INDEX_FILE};

/// Name of the lock serializing `index.json` updates.
pub(crate) const INDEX_LOCK: &str = "index";

/// A tag of the store and the manifest descriptor it points to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// The tag as given to [`Store::set_tag`], e.g. `app:1`.
    pub name: String,
    /// The manifest descriptor, including the ref-name annotation.
    pub descriptor: Descriptor,
}

/// The bytes of an `index.json` with no entries.
pub(crate) fn empty_index_json() -> Vec<u8> {
    let mut index = Map::new();
    index.insert("schemaVersion".to_string(), Value::from(2));
    index.insert(
        "mediaType".to_string(),
        Value::from(kiln_oci::media_type::OCI_INDEX),
    );
    index.insert("manifests".to_string(), Value::Array(Vec::new()));
    Value::Object(index).to_string().into_bytes()
}

/// `index.json` split into its `manifests` and everything else (kept verbatim).
pub(crate) struct IndexFile {
    pub(crate) fields: Map<String, Value>,
    pub(crate) manifests: Vec<Value>,
}

impl Store {
    /// All tags, sorted by name.
    pub fn tags(&self) -> Result<Vec<Tag>> {
        let index = self.read_index()?;
        let mut tags = Vec::new();
        for entry in &index.manifests {
            if let Some(name) = ref_name(entry) {
                tags.push(Tag {
                    name: name.to_string(),
                    descriptor: self.parse_descriptor(entry)?,
                });
            }
        }
        tags.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(tags)
    }

    /// The manifest descriptor the tag `name` points to, if it exists.
    pub fn resolve_tag(&self, name: &str) -> Result<Option<Descriptor>> {
        let index = self.read_index()?;
        index
            .manifests
            .iter()
            .find(|entry| ref_name(entry) == Some(name))
            .map(|entry| self.parse_descriptor(entry))
            .transpose()
    }

    /// Points the tag `name` at `manifest`, replacing any tag of that name.
    /// The manifest blob must already be in the store, with the size the
    /// descriptor claims.
    pub fn set_tag(&self, name: &str, manifest: &Descriptor) -> Result<()> {
        let digest = kiln_oci::descriptor_digest(manifest).map_err(|_| Error::InvalidDigest {
            value: manifest.digest().to_string(),
        })?;
        // Checked under the lock: prune holds it while it deletes, so the
        // manifest cannot vanish between this check and the write.
        let _lock = self.lock(INDEX_LOCK)?;
        if !self.has_blob(&digest) {
            return Err(Error::ManifestNotInStore { digest });
        }
        let found = self.blob_size(&digest)?;
        if found != manifest.size() {
            return Err(Error::SizeMismatch {
                digest,
                expected: manifest.size(),
                found,
            });
        }
        let media_type = manifest.media_type().to_string();
        let mut descriptor = kiln_oci::descriptor(&media_type, &digest, found);
        descriptor.set_annotations(Some(HashMap::from([(
            ANNOTATION_REF_NAME.to_string(),
            name.to_string(),
        )])));
        let entry = serde_json::to_value(&descriptor).map_err(|source| Error::Json {
            path: self.index_path(),
            source,
        })?;
        let mut index = self.read_index()?;
        index
            .manifests
            .retain(|existing| ref_name(existing) != Some(name));
        index.manifests.push(entry);
        self.write_index(index)
    }

    /// Removes the tag `name`; returns whether it existed.
    pub fn remove_tag(&self, name: &str) -> Result<bool> {
        let _lock = self.lock(INDEX_LOCK)?;
        let mut index = self.read_index()?;
        let before = index.manifests.len();
        index
            .manifests
            .retain(|existing| ref_name(existing) != Some(name));
        if index.manifests.len() == before {
            return Ok(false);
        }
        self.write_index(index)?;
        Ok(true)
    }

    fn index_path(&self) -> PathBuf {
        self.root().join(INDEX_FILE)
    }

    /// Reads `index.json`, checking that it is an object with a `manifests` array.
    pub(crate) fn read_index(&self) -> Result<IndexFile> {
        let path = self.index_path();
        let bytes = std::fs::read(&path).map_err(|source| Error::io(&path, source))?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            path: path.clone(),
            source,
        })?;
        let Value::Object(mut fields) = value else {
            return Err(invalid_index(path, "not a json object"));
        };
        let Some(Value::Array(manifests)) = fields.remove("manifests") else {
            return Err(invalid_index(path, "\"manifests\" is not an array"));
        };
        Ok(IndexFile { fields, manifests })
    }

    /// Sorts the entries and atomically replaces `index.json`.
    pub(crate) fn write_index(&self, index: IndexFile) -> Result<()> {
        let IndexFile {
            mut fields,
            mut manifests,
        } = index;
        // Stable sort: untagged entries (None) first, in their original order.
        manifests.sort_by(|a, b| ref_name(a).cmp(&ref_name(b)));
        fields.insert("manifests".to_string(), Value::Array(manifests));
        let bytes = Value::Object(fields).to_string().into_bytes();
        self.replace_file(INDEX_FILE, &bytes)
    }

    fn parse_descriptor(&self, entry: &Value) -> Result<Descriptor> {
        Descriptor::deserialize(entry).map_err(|source| Error::Json {
            path: self.index_path(),
            source,
        })
    }
}

fn invalid_index(path: PathBuf, reason: &str) -> Error {
    Error::InvalidLayout {
        path,
        reason: reason.to_string(),
    }
}

/// The tag name of an index entry, if it has one.
pub(crate) fn ref_name(entry: &Value) -> Option<&str> {
    entry.get("annotations")?.get(ANNOTATION_REF_NAME)?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_oci::media_type::OCI_MANIFEST;
    use kiln_oci::Digest;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    /// Stores a fake manifest blob and returns its descriptor.
    fn manifest(store: &Store, seed: &str) -> Descriptor {
        let bytes = format!(r#"{{"schemaVersion":2,"seed":"{seed}"}}"#).into_bytes();
        let digest = store.write_blob(&bytes).unwrap();
        kiln_oci::descriptor(OCI_MANIFEST, &digest, bytes.len() as u64)
    }

    fn index_json(store: &Store) -> Value {
        serde_json::from_slice(&std::fs::read(store.root().join("index.json")).unwrap()).unwrap()
    }

    fn tag_names(store: &Store) -> Vec<String> {
        store
            .tags()
            .unwrap()
            .into_iter()
            .map(|tag| tag.name)
            .collect()
    }

    #[test]
    fn set_resolve_remove() {
        let (_dir, store) = store();
        let first = manifest(&store, "1");
        let second = manifest(&store, "2");
        assert!(store.tags().unwrap().is_empty());
        assert_eq!(store.resolve_tag("app:1").unwrap(), None);

        store.set_tag("app:2", &second).unwrap();
        store.set_tag("app:1", &first).unwrap();
        store.set_tag("docker.io/x/y:z", &first).unwrap();
        assert_eq!(tag_names(&store), ["app:1", "app:2", "docker.io/x/y:z"]);

        for (name, expected) in [
            ("app:1", &first),
            ("app:2", &second),
            ("docker.io/x/y:z", &first),
        ] {
            let resolved = store.resolve_tag(name).unwrap().unwrap();
            assert_eq!(resolved.digest(), expected.digest(), "{name}");
            assert_eq!(resolved.size(), expected.size(), "{name}");
            assert_eq!(resolved.media_type(), expected.media_type(), "{name}");
            let annotations = resolved.annotations().clone().unwrap();
            assert_eq!(
                annotations.get(ANNOTATION_REF_NAME).map(String::as_str),
                Some(name)
            );
        }

        // The on-disk entry has exactly the promised shape, sorted by name.
        let index = index_json(&store);
        assert_eq!(index["schemaVersion"], 2);
        assert_eq!(
            index["manifests"][0],
            serde_json::json!({
                "mediaType": OCI_MANIFEST,
                "digest": first.digest().to_string(),
                "size": first.size(),
                "annotations": { ANNOTATION_REF_NAME: "app:1" },
            })
        );

        assert!(store.remove_tag("app:2").unwrap());
        assert!(!store.remove_tag("app:2").unwrap());
        assert!(!store.remove_tag("never").unwrap());
        assert_eq!(tag_names(&store), ["app:1", "docker.io/x/y:z"]);
        assert_eq!(store.resolve_tag("app:2").unwrap(), None);
    }

    #[test]
    fn set_tag_replaces() {
        let (_dir, store) = store();
        let first = manifest(&store, "1");
        let second = manifest(&store, "2");
        store.set_tag("app:1", &first).unwrap();
        store.set_tag("app:1", &second).unwrap();
        let tags = store.tags().unwrap();
        assert_eq!(tags.len(), 1);
        assert_eq!(tags[0].descriptor.digest(), second.digest());
        assert_eq!(index_json(&store)["manifests"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn set_tag_rejects_bad_manifests() {
        let (_dir, store) = store();
        let stored = manifest(&store, "1");
        let missing = kiln_oci::descriptor(OCI_MANIFEST, &Digest::sha256_of(b"nope"), 4);
        let wrong_size = kiln_oci::descriptor(
            OCI_MANIFEST,
            &stored.digest().to_string().parse().unwrap(),
            stored.size() + 1,
        );
        assert!(matches!(
            store.set_tag("a", &missing),
            Err(Error::ManifestNotInStore { .. })
        ));
        assert!(matches!(
            store.set_tag("a", &wrong_size),
            Err(Error::SizeMismatch { .. })
        ));
        assert!(store.tags().unwrap().is_empty());
    }

    #[test]
    fn foreign_entries_are_preserved() {
        let (_dir, store) = store();
        let own = manifest(&store, "own");
        let foreign = serde_json::json!({
            "mediaType": OCI_MANIFEST,
            "digest": Digest::sha256_of(b"foreign").to_string(),
            "size": 7,
            "platform": {"architecture": "arm64", "os": "linux"},
            "x-extra": true,
        });
        let original = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [foreign],
            "annotations": {"keep": "me"},
        });
        std::fs::write(store.root().join("index.json"), original.to_string()).unwrap();

        store.set_tag("app:1", &own).unwrap();
        let index = index_json(&store);
        assert_eq!(index["annotations"], serde_json::json!({"keep": "me"}));
        assert_eq!(index["manifests"][0], foreign);
        assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
        assert_eq!(tag_names(&store), ["app:1"]);
        assert!(store.remove_tag("app:1").unwrap());
        assert_eq!(
            index_json(&store)["manifests"],
            serde_json::json!([foreign])
        );
    }

    #[test]
    fn invalid_index_is_reported() {
        let cases = [
            ("[]", "array"),
            (r#"{"schemaVersion":2}"#, "no manifests"),
            ("{", "truncated"),
        ];
        for (content, label) in cases {
            let (_dir, store) = store();
            std::fs::write(store.root().join("index.json"), content).unwrap();
            let result = store.tags();
            assert!(
                matches!(
                    result,
                    Err(Error::InvalidLayout { .. } | Error::Json { .. })
                ),
                "{label}: {result:?}"
            );
        }
    }

    #[test]
    fn concurrent_set_tag_loses_nothing() {
        let (_dir, store) = store();
        let target = manifest(&store, "shared");
        std::thread::scope(|scope| {
            for thread in 0..20 {
                let (store, target) = (&store, &target);
                scope.spawn(move || store.set_tag(&format!("app:{thread:02}"), target).unwrap());
            }
        });
        let expected: Vec<String> = (0..20).map(|thread| format!("app:{thread:02}")).collect();
        assert_eq!(tag_names(&store), expected);
    }
}
