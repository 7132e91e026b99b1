//! `fsck`: verify the whole store and say, one line per finding, what is
//! wrong.
//!
//! Checks, in order:
//! 1. every file under `blobs/` is named by a sha256 digest and its content
//!    hashes to that name;
//! 2. every `index.json` entry (tag or untagged) and everything it reaches —
//!    image indexes → manifests → config and layers (and an artifact's
//!    `blobs`) — has a valid descriptor, and the blob it names exists with the
//!    size the descriptor says; manifests and indexes parse as JSON;
//! 3. every build-cache record (`cache/v1/records/*.json`) parses and names a
//!    layer blob that exists with the recorded size.
//!
//! Garbage ([`crate::garbage`]) is reported separately and is not a problem:
//! it is what a killed kiln leaves and what `kiln prune` removes. It can only
//! be judged when no writer holds the `gc` guard; when a build runs, fsck
//! says so and does not list `ingest/` and `tmp/`.
//!
//! Locking: fsck holds the shared `gc` guard while it checks, so no prune
//! deletes blobs under it while builds keep running. With
//! [`FsckOptions::repair`] it holds the `gc` lock exclusively instead (it
//! waits for running builds) and then removes garbage, corrupt blobs and
//! the cache records that name missing or wrong blobs. Broken tags are never
//! changed: they are reported for the user to remove.

use std::collections::BTreeSet;
use std::fs;
use std::io;

use kiln_oci::media_type::{is_index, is_manifest};
use kiln_oci::{Digest, HashingWriter};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::garbage::{list_dir, remove_tree, Garbage, CACHE_TEMP_PREFIX};
use crate::store::Store;
use crate::tags::ref_name;

mod problem;
pub use problem::Problem;

/// How deep image indexes may nest before fsck stops following them.
const MAX_DEPTH: usize = 8;

/// What [`Store::fsck`] may do besides checking.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsckOptions {
    /// Remove garbage, corrupt blobs and broken cache records (waits for
    /// running builds).
    pub repair: bool,
}

/// What [`Store::fsck`] found (and repaired).
#[derive(Debug, Clone, Default)]
pub struct FsckReport {
    /// Blobs whose content was hashed.
    pub blobs_checked: usize,
    /// Descriptors followed from `index.json`.
    pub references_checked: usize,
    /// Cache records checked.
    pub records_checked: usize,
    /// Everything wrong, in the order found.
    pub problems: Vec<Problem>,
    /// Garbage found (not a problem).
    pub garbage: Vec<Garbage>,
    /// True when a build held the `gc` guard, so garbage was not judged.
    pub busy: bool,
    /// What `--repair` removed, one line each.
    pub repaired: Vec<String>,
}

impl FsckReport {
    /// True when no problem was found (garbage is allowed).
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Store {
    /// Checks every blob, every reference and every cache record (see the
    /// module documentation); with `repair`, removes what can be removed.
    pub fn fsck(&self, options: &FsckOptions) -> Result<FsckReport> {
        let mut report = FsckReport::default();
        // Garbage can be judged only while no writer holds the guard.
        let exclusive = if options.repair {
            Some(self.gc_lock()?)
        } else {
            self.try_gc_lock()?
        };
        match exclusive {
            Some(_) => report.garbage = self.garbage_candidates()?,
            None => report.busy = true,
        }
        // Without repair, let builds run while we hash (prune still waits).
        let _guard = match exclusive {
            Some(lock) if options.repair => lock,
            other => {
                drop(other);
                self.gc_guard()?
            }
        };
        let mut checker = Checker {
            store: self,
            report,
            corrupt: BTreeSet::new(),
            walked: BTreeSet::new(),
            checked: BTreeSet::new(),
        };
        checker.check_blobs()?;
        checker.check_index();
        checker.check_records()?;
        let mut report = checker.report;
        if options.repair {
            self.repair(&mut report)?;
        }
        Ok(report)
    }

    /// Removes garbage, corrupt blobs and broken cache records.
    fn repair(&self, report: &mut FsckReport) -> Result<()> {
        for garbage in &report.garbage {
            remove_tree(&garbage.path)?;
            report.repaired.push(format!(
                "removed {} {}",
                garbage.kind.describe(),
                garbage.path.display()
            ));
        }
        for problem in &report.problems {
            let path = match problem {
                Problem::CorruptBlob { path, .. }
                | Problem::BadCacheRecord { path, .. }
                | Problem::CacheRecordBlob { path, .. } => path,
                _ => continue,
            };
            remove_tree(path)?;
            report.repaired.push(format!("removed {}", path.display()));
        }
        Ok(())
    }
}

/// The state of one fsck run.
struct Checker<'a> {
    store: &'a Store,
    report: FsckReport,
    /// Blobs whose content does not match their name.
    corrupt: BTreeSet<Digest>,
    /// Manifests and indexes already parsed and followed.
    walked: BTreeSet<Digest>,
    /// (digest, size) pairs already checked.
    checked: BTreeSet<(Digest, u64)>,
}

impl Checker<'_> {
    fn problem(&mut self, problem: Problem) {
        self.report.problems.push(problem);
    }

    /// Hashes every blob and checks its name.
    fn check_blobs(&mut self) -> Result<()> {
        let blobs = self.store.root().join("blobs");
        for path in list_dir(&blobs)? {
            if path.file_name().is_some_and(|name| name == "sha256") && path.is_dir() {
                continue;
            }
            self.problem(Problem::UnexpectedFile { path });
        }
        for path in list_dir(&blobs.join("sha256"))? {
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            let Ok(digest) = format!("sha256:{name}").parse::<Digest>() else {
                self.problem(Problem::UnexpectedFile { path });
                continue;
            };
            if !path.is_file() {
                self.problem(Problem::UnexpectedFile { path });
                continue;
            }
            match hash_file(&path) {
                Ok(actual) if actual == digest => {}
                Ok(actual) => {
                    self.corrupt.insert(digest);
                    self.problem(Problem::CorruptBlob { path, actual });
                }
                // Deleted meanwhile (a concurrent prune cannot run, but
                // another tool might): not our finding.
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => {
                    self.corrupt.insert(digest);
                    self.problem(Problem::UnreadableBlob {
                        path,
                        error: err.to_string(),
                    });
                }
            }
            self.report.blobs_checked += 1;
        }
        Ok(())
    }

    /// Follows every `index.json` entry.
    fn check_index(&mut self) {
        let index = match self.store.read_index() {
            Ok(index) => index,
            Err(err) => {
                self.problem(Problem::BadIndex {
                    reason: error_chain(&err),
                });
                return;
            }
        };
        for (position, entry) in index.manifests.iter().enumerate() {
            let via = match ref_name(entry) {
                Some(name) => format!("tag {name}"),
                None => format!("untagged entry #{position} of index.json"),
            };
            self.check_descriptor(entry, "manifest", &via, 0);
        }
    }

    /// Checks one descriptor and, for a manifest or index, what it reaches.
    fn check_descriptor(
        &mut self,
        descriptor: &Value,
        role: &'static str,
        via: &str,
        depth: usize,
    ) {
        self.report.references_checked += 1;
        let Some(text) = descriptor.get("digest").and_then(Value::as_str) else {
            return self.bad_descriptor(via, "no digest");
        };
        let Ok(digest) = text.parse::<Digest>() else {
            return self.bad_descriptor(via, &format!("invalid digest {text:?}"));
        };
        let Some(size) = descriptor.get("size").and_then(Value::as_u64) else {
            return self.bad_descriptor(via, &format!("no valid size for {digest}"));
        };
        let media_type = descriptor
            .get("mediaType")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let role = if is_index(media_type) {
            "index"
        } else if is_manifest(media_type) {
            "manifest"
        } else {
            role
        };
        if self.checked.insert((digest.clone(), size)) {
            match self.store.blob_size(&digest) {
                Ok(found) if found == size => {}
                Ok(found) => self.problem(Problem::SizeMismatch {
                    role,
                    digest: digest.clone(),
                    via: via.to_string(),
                    expected: size,
                    found,
                }),
                Err(_) => {
                    return self.problem(Problem::MissingBlob {
                        role,
                        digest,
                        via: via.to_string(),
                    })
                }
            }
        }
        let may_reference =
            media_type.is_empty() || is_manifest(media_type) || is_index(media_type);
        if !may_reference || self.corrupt.contains(&digest) || !self.walked.insert(digest.clone()) {
            return;
        }
        let Ok(bytes) = self.store.read_blob(&digest) else {
            return;
        };
        let value: Value = match serde_json::from_slice(&bytes) {
            Ok(value) => value,
            // An entry without a media type may be anything.
            Err(_) if media_type.is_empty() => return,
            Err(err) => {
                return self.problem(Problem::BadJson {
                    role,
                    digest,
                    via: via.to_string(),
                    reason: err.to_string(),
                })
            }
        };
        if depth >= MAX_DEPTH {
            return self.bad_descriptor(via, "image indexes nest too deeply");
        }
        let inner = format!("{via} > {role} {}", digest.short());
        if let Some(config) = value.get("config") {
            self.check_descriptor(config, "config", &inner, depth + 1);
        }
        for (field, child_role) in [
            ("layers", "layer"),
            ("manifests", "manifest"),
            ("blobs", "blob"),
        ] {
            if let Some(Value::Array(children)) = value.get(field) {
                for child in children {
                    self.check_descriptor(child, child_role, &inner, depth + 1);
                }
            }
        }
    }

    fn bad_descriptor(&mut self, via: &str, reason: &str) {
        self.problem(Problem::BadDescriptor {
            via: via.to_string(),
            reason: reason.to_string(),
        });
    }

    /// Checks every cache record of the current cache version.
    fn check_records(&mut self) -> Result<()> {
        for path in list_dir(&self.store.cache_records_dir())? {
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.starts_with(CACHE_TEMP_PREFIX) || !name.ends_with(".json") {
                continue; // Garbage (listed separately) or not a record.
            }
            self.report.records_checked += 1;
            let bytes = match fs::read(&path) {
                Ok(bytes) => bytes,
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => return Err(Error::io(&path, source)),
            };
            let (digest, size) = match parse_record(&bytes) {
                Ok(found) => found,
                Err(reason) => {
                    self.problem(Problem::BadCacheRecord { path, reason });
                    continue;
                }
            };
            let found = self.store.blob_size(&digest).ok();
            if found != Some(size) {
                self.problem(Problem::CacheRecordBlob {
                    path,
                    digest,
                    expected: size,
                    found,
                });
            }
        }
        Ok(())
    }
}

/// The layer digest and size of a cache record.
fn parse_record(bytes: &[u8]) -> std::result::Result<(Digest, u64), String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|err| err.to_string())?;
    let digest = value
        .get("digest")
        .and_then(Value::as_str)
        .ok_or("no \"digest\" field")?;
    let digest = digest
        .parse::<Digest>()
        .map_err(|_| format!("invalid digest {digest:?}"))?;
    let size = value
        .get("size")
        .and_then(Value::as_u64)
        .ok_or("no valid \"size\" field")?;
    Ok((digest, size))
}

/// The sha256 of a file's content, streamed.
fn hash_file(path: &std::path::Path) -> io::Result<Digest> {
    let mut file = fs::File::open(path)?;
    let mut hasher = HashingWriter::new(io::sink());
    io::copy(&mut file, &mut hasher)?;
    Ok(hasher.digest())
}

/// An error and its causes on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_oci::media_type::{OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST};
    use std::os::unix::fs::PermissionsExt;

    /// A store with `app:1` (layer, config, manifest) and a cache record
    /// for its layer; returns the layer, config and manifest digests.
    fn fixture() -> (tempfile::TempDir, Store, [Digest; 3]) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let layer = store.write_blob(b"layer").unwrap();
        let config = store.write_blob(b"{}").unwrap();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "config": {"mediaType": OCI_CONFIG, "digest": config.to_string(), "size": 2},
            "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": layer.to_string(), "size": 5}],
        })
        .to_string();
        let manifest_digest = store.write_blob(manifest.as_bytes()).unwrap();
        let descriptor =
            kiln_oci::descriptor(OCI_MANIFEST, &manifest_digest, manifest.len() as u64);
        store.set_tag("app:1", &descriptor).unwrap();
        record(&store, "k", &format!(r#"{{"digest":"{layer}","size":5}}"#));
        (dir, store, [layer, config, manifest_digest])
    }

    fn record(store: &Store, key: &str, text: &str) {
        store
            .put_cache_record(&Digest::sha256_of(key.as_bytes()), text.as_bytes())
            .unwrap();
    }

    fn overwrite(path: &std::path::Path, bytes: &[u8]) {
        fs::set_permissions(path, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(path, bytes).unwrap();
    }

    fn check(store: &Store) -> FsckReport {
        store.fsck(&FsckOptions::default()).unwrap()
    }

    #[test]
    fn a_sound_store_is_clean() {
        let (_dir, store, _) = fixture();
        let report = check(&store);
        assert!(report.is_clean(), "{:?}", report.problems);
        assert_eq!(report.blobs_checked, 3);
        assert_eq!(report.references_checked, 3);
        assert_eq!(report.records_checked, 1);
        assert!(report.garbage.is_empty() && !report.busy);
    }

    #[test]
    fn every_kind_of_damage_is_reported() {
        type Damage = fn(&Store, &[Digest; 3]);
        let cases: &[(&str, Damage, &str)] = &[
            (
                "corrupt layer",
                |store, [layer, ..]| overwrite(&store.blob_path(layer), b"LAYER"),
                "corrupt blob",
            ),
            (
                "missing config",
                |store, [_, config, _]| fs::remove_file(store.blob_path(config)).unwrap(),
                "missing config sha256:",
            ),
            (
                "tag with a wrong size",
                |store, _| {
                    let path = store.root().join("index.json");
                    let text = fs::read_to_string(&path).unwrap();
                    let mut value: Value = serde_json::from_str(&text).unwrap();
                    let size = value["manifests"][0]["size"].as_u64().unwrap();
                    value["manifests"][0]["size"] = (size + 1).into();
                    fs::write(&path, value.to_string()).unwrap();
                },
                "size mismatch for manifest",
            ),
            (
                "record of a missing layer",
                |store, _| {
                    let missing = Digest::sha256_of(b"gone");
                    record(store, "m", &format!(r#"{{"digest":"{missing}","size":4}}"#));
                },
                "which is not in the store",
            ),
            (
                "unparsable record",
                |store, _| record(store, "bad", "{"),
                "invalid cache record",
            ),
            (
                "stray file in blobs",
                |store, _| fs::write(store.root().join("blobs/sha256/notes"), b"x").unwrap(),
                "unexpected file",
            ),
            (
                "manifest that is not json",
                |store, [_, _, manifest]| {
                    let path = store.blob_path(manifest);
                    let len = fs::metadata(&path).unwrap().len() as usize;
                    let junk = vec![b'x'; len];
                    let junk_digest = store.write_blob(&junk).unwrap();
                    let descriptor = kiln_oci::descriptor(OCI_MANIFEST, &junk_digest, len as u64);
                    store.set_tag("junk:1", &descriptor).unwrap();
                },
                "is not valid json",
            ),
        ];
        for (name, damage, expected) in cases {
            let (_dir, store, digests) = fixture();
            damage(&store, &digests);
            let report = check(&store);
            let lines: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
            assert_eq!(lines.len(), 1, "{name}: {lines:?}");
            assert!(lines[0].contains(expected), "{name}: {lines:?}");
        }
    }

    #[test]
    fn garbage_is_listed_only_when_no_build_runs() {
        let (_dir, store, _) = fixture();
        fs::write(store.root().join("ingest/blob-1"), b"part").unwrap();
        fs::create_dir(store.root().join("tmp/rootfs-1")).unwrap();
        let report = check(&store);
        assert!(report.is_clean());
        assert_eq!(report.garbage.len(), 2);
        let guard = store.gc_guard().unwrap();
        let busy = check(&store);
        assert!(busy.busy && busy.garbage.is_empty() && busy.is_clean());
        drop(guard);
    }

    #[test]
    fn repair_removes_garbage_and_broken_files() {
        let (_dir, store, _) = fixture();
        let stray = store.write_blob(b"stray").unwrap();
        overwrite(&store.blob_path(&stray), b"STRAY");
        record(&store, "bad", "{");
        fs::write(store.root().join("ingest/blob-1"), b"part").unwrap();
        let report = store.fsck(&FsckOptions { repair: true }).unwrap();
        assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
        assert!(report.problems.iter().all(Problem::repairable));
        assert_eq!(report.repaired.len(), 3, "{:?}", report.repaired);
        let again = check(&store);
        assert!(again.is_clean() && again.garbage.is_empty(), "{again:?}");
        assert!(!store.has_blob(&stray));
    }
}
