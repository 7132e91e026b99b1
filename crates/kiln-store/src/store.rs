//! The [`Store`] handle: opening (and creating) the on-disk layout, plus the
//! small filesystem helpers the other modules share (atomic file replacement,
//! directory fsync).
//!
//! `open` creates a missing store in an order that a crash cannot turn into
//! something that looks complete but is not: directories first, then
//! `index.json` (created with no-clobber semantics so a concurrent `open`
//! never wipes tags another process just wrote), and `oci-layout` last. A
//! directory holding only pieces of that sequence is finished on the next
//! `open`; a non-empty directory with anything else in it is refused.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Name of the OCI layout marker file.
pub(crate) const OCI_LAYOUT_FILE: &str = "oci-layout";
/// Name of the OCI index file holding the tags.
pub(crate) const INDEX_FILE: &str = "index.json";
/// The only layout version kiln writes and accepts.
pub(crate) const LAYOUT_VERSION: &str = "1.0.0";
/// Prefix of the temp files created in the root while replacing a file.
pub(crate) const ROOT_TEMP_PREFIX: &str = ".kiln-tmp-";

/// Subdirectories of the store root, created by [`Store::open`].
const DIRS: &[&str] = &["blobs", "blobs/sha256", "ingest", "tmp", "cache", "locks"];

/// A local content-addressed store rooted at a directory that is also a valid
/// OCI image layout.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens the store at `root`, creating the layout if it is missing and
    /// validating `oci-layout` if it exists.
    pub fn open(root: &Path) -> Result<Store> {
        fs::create_dir_all(root).map_err(|source| Error::io(root, source))?;
        let store = Store {
            root: root.to_path_buf(),
        };
        let layout_path = root.join(OCI_LAYOUT_FILE);
        let index_path = root.join(INDEX_FILE);
        if layout_path.exists() {
            validate_layout_file(&layout_path)?;
            if !index_path.is_file() {
                return Err(Error::InvalidLayout {
                    path: index_path,
                    reason: "index.json is missing".to_string(),
                });
            }
        } else {
            ensure_only_store_entries(root)?;
        }
        for dir in DIRS {
            let path = root.join(dir);
            fs::create_dir_all(&path).map_err(|source| Error::io(&path, source))?;
        }
        if !index_path.exists() {
            let empty = crate::tags::empty_index_json();
            store.create_file_no_clobber(INDEX_FILE, &empty)?;
        }
        if !layout_path.exists() {
            let marker = serde_json::json!({ "imageLayoutVersion": LAYOUT_VERSION });
            let bytes = serde_json::to_vec(&marker).map_err(|source| Error::Json {
                path: layout_path.clone(),
                source,
            })?;
            store.replace_file(OCI_LAYOUT_FILE, &bytes)?;
        }
        Ok(store)
    }

    /// The root directory of the store.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates a fresh, uniquely named directory under `tmp/`; it is removed
    /// when the returned handle is dropped.
    pub fn tmp_dir(&self, prefix: &str) -> Result<tempfile::TempDir> {
        let dir = self.root.join("tmp");
        tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(&dir)
            .map_err(|source| Error::io(dir, source))
    }

    /// Atomically replaces `root/name` with `bytes`: temp file in the root,
    /// fsync, rename over, fsync the root.
    pub(crate) fn replace_file(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let target = self.root.join(name);
        let temp = self.write_root_temp(bytes)?;
        temp.persist(&target)
            .map_err(|err| Error::io(&target, err.error))?;
        sync_dir(&self.root)
    }

    /// Like [`Store::replace_file`] but leaves an existing file alone.
    fn create_file_no_clobber(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let target = self.root.join(name);
        let temp = self.write_root_temp(bytes)?;
        match temp.persist_noclobber(&target) {
            Ok(_) => sync_dir(&self.root),
            Err(err) if err.error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(err) => Err(Error::io(&target, err.error)),
        }
    }

    fn write_root_temp(&self, bytes: &[u8]) -> Result<tempfile::NamedTempFile> {
        let mut temp = tempfile::Builder::new()
            .prefix(ROOT_TEMP_PREFIX)
            .tempfile_in(&self.root)
            .map_err(|source| Error::io(&self.root, source))?;
        let temp_path = temp.path().to_path_buf();
        temp.write_all(bytes)
            .and_then(|()| temp.as_file().sync_all())
            .map_err(|source| Error::io(&temp_path, source))?;
        Ok(temp)
    }
}

/// Flushes a directory's entries (renames, creations) to disk.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|source| Error::io(dir, source))
}

/// Checks that `oci-layout` declares the version kiln understands.
fn validate_layout_file(path: &Path) -> Result<()> {
    let bytes = fs::read(path).map_err(|source| Error::io(path, source))?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })?;
    match value.get("imageLayoutVersion").and_then(|v| v.as_str()) {
        Some(LAYOUT_VERSION) => Ok(()),
        Some(other) => Err(Error::InvalidLayout {
            path: path.to_path_buf(),
            reason: format!("unsupported imageLayoutVersion {other:?}"),
        }),
        None => Err(Error::InvalidLayout {
            path: path.to_path_buf(),
            reason: "imageLayoutVersion is missing".to_string(),
        }),
    }
}

/// Refuses to turn a directory into a store when it holds anything a store
/// (or an interrupted creation of one) would not.
fn ensure_only_store_entries(root: &Path) -> Result<()> {
    let entries = fs::read_dir(root).map_err(|source| Error::io(root, source))?;
    for entry in entries {
        let entry = entry.map_err(|source| Error::io(root, source))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let known = name == INDEX_FILE
            || name.starts_with(ROOT_TEMP_PREFIX)
            || DIRS.iter().any(|dir| !dir.contains('/') && *dir == name);
        if !known {
            return Err(Error::InvalidLayout {
                path: root.to_path_buf(),
                reason: format!("directory is not empty and has no oci-layout (found {name:?})"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_creates_a_valid_layout() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        let store = Store::open(&root).unwrap();
        assert_eq!(store.root(), root);

        let layout: serde_json::Value =
            serde_json::from_slice(&fs::read(root.join("oci-layout")).unwrap()).unwrap();
        assert_eq!(layout, serde_json::json!({"imageLayoutVersion": "1.0.0"}));

        let index: serde_json::Value =
            serde_json::from_slice(&fs::read(root.join("index.json")).unwrap()).unwrap();
        assert_eq!(
            index,
            serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": []
            })
        );
        for sub in ["blobs/sha256", "ingest", "tmp", "cache", "locks"] {
            assert!(root.join(sub).is_dir(), "{sub} missing");
        }
        // No temp files left in the root.
        let leftovers: Vec<_> = fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(ROOT_TEMP_PREFIX))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        // Reopening succeeds and keeps the files.
        Store::open(&root).unwrap();
    }

    #[test]
    fn open_validates_existing_layouts() {
        struct Case {
            name: &'static str,
            files: &'static [(&'static str, &'static str)],
            ok: bool,
        }
        let cases = [
            Case {
                name: "empty dir",
                files: &[],
                ok: true,
            },
            Case {
                name: "valid",
                files: &[
                    ("oci-layout", r#"{"imageLayoutVersion":"1.0.0"}"#),
                    ("index.json", r#"{"schemaVersion":2,"manifests":[]}"#),
                ],
                ok: true,
            },
            Case {
                name: "interrupted creation: index only",
                files: &[("index.json", r#"{"schemaVersion":2,"manifests":[]}"#)],
                ok: true,
            },
            Case {
                name: "wrong version",
                files: &[
                    ("oci-layout", r#"{"imageLayoutVersion":"2.0.0"}"#),
                    ("index.json", r#"{"schemaVersion":2,"manifests":[]}"#),
                ],
                ok: false,
            },
            Case {
                name: "not json",
                files: &[("oci-layout", "nope"), ("index.json", "{}")],
                ok: false,
            },
            Case {
                name: "missing index",
                files: &[("oci-layout", r#"{"imageLayoutVersion":"1.0.0"}"#)],
                ok: false,
            },
            Case {
                name: "foreign directory",
                files: &[("notes.txt", "hello")],
                ok: false,
            },
        ];
        for case in cases {
            let dir = tempfile::tempdir().unwrap();
            for (name, content) in case.files {
                fs::write(dir.path().join(name), content).unwrap();
            }
            let result = Store::open(dir.path());
            assert_eq!(result.is_ok(), case.ok, "{}: {result:?}", case.name);
            if case.ok {
                assert!(dir.path().join("oci-layout").is_file(), "{}", case.name);
                assert!(dir.path().join("index.json").is_file(), "{}", case.name);
            }
        }
    }

    #[test]
    fn tmp_dir_is_under_tmp_and_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let scratch = store.tmp_dir("build-").unwrap();
        let path = scratch.path().to_path_buf();
        assert!(path.starts_with(dir.path().join("tmp")));
        assert!(path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("build-"));
        assert!(path.is_dir());
        drop(scratch);
        assert!(!path.exists());
    }
}
