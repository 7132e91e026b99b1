//! A stage's root filesystem for RUN: extracted from the image's layers when
//! the first RUN needs it, kept across the stage's steps (later COPY layers
//! are applied on top), and removed with the stage (its directory lives in the
//! store's `tmp/` and is deleted on drop, also after a failure).

use std::path::{Path, PathBuf};

use kiln_layer::TreeSnapshot;
use kiln_store::Store;
use tempfile::TempDir;

use crate::error::{BuildError, Result};
use crate::image::Image;

/// An extracted root filesystem.
pub struct Rootfs {
    dir: TempDir,
    /// How many of the image's layers are in the directory.
    applied: usize,
    /// The directory's state after the last RUN, valid while nothing else changed it.
    pub snapshot: Option<TreeSnapshot>,
}

impl Rootfs {
    /// A new, empty root filesystem under the store's scratch space.
    pub fn new(store: &Store) -> Result<Rootfs> {
        Ok(Rootfs {
            dir: store.tmp_dir("rootfs-")?,
            applied: 0,
            snapshot: None,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Extracts the image's layers that are not in the directory yet.
    pub fn sync(&mut self, store: &Store, image: &Image) -> Result<Vec<String>> {
        let mut warnings = Vec::new();
        if self.applied > image.layers.len() {
            return Err(BuildError::Usage(
                "root filesystem is ahead of its image".into(),
            ));
        }
        let options = kiln_layer::ExtractOptions {
            apply_whiteouts: true,
            preserve_ownership: true,
        };
        for layer in &image.layers[self.applied..] {
            let digest = kiln_oci::descriptor_digest(&layer.descriptor)?;
            let file = store.open_blob(&digest)?;
            let (_, tar) = kiln_layer::decompress(std::io::BufReader::new(file))?;
            let report = kiln_layer::extract(tar, self.dir.path(), &options)?;
            warnings.extend(report.warnings);
            self.snapshot = None;
        }
        self.applied = image.layers.len();
        Ok(warnings)
    }

    /// True when the directory holds exactly the first `layers` layers.
    pub fn in_sync(&self, layers: usize) -> bool {
        self.applied == layers
    }

    /// Records that a new layer was extracted into the directory while it was written.
    pub fn mark_extracted(&mut self, layers: usize) {
        self.applied = layers;
        self.snapshot = None;
    }

    /// Records that the image gained a layer made from this directory's own changes.
    pub fn mark_applied(&mut self, layers: usize, snapshot: TreeSnapshot) {
        self.applied = layers;
        self.snapshot = Some(snapshot);
    }
}

/// Makes sure the directory `path` (absolute, inside the rootfs) exists,
/// following symlinks as if `root` were `/`, never leaving `root`.
pub fn ensure_dir(root: &Path, path: &str) -> Result<()> {
    let io = |path: &Path, source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut pending: Vec<String> = path
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .map(String::from)
        .rev()
        .collect();
    let mut current: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            current.pop();
            continue;
        }
        let mut candidate = current.clone();
        candidate.push(part.clone());
        let full: PathBuf = candidate
            .iter()
            .fold(root.to_path_buf(), |acc, part| acc.join(part));
        match std::fs::symlink_metadata(&full) {
            Ok(meta) if meta.file_type().is_symlink() => {
                hops += 1;
                if hops > 40 {
                    return Err(BuildError::Usage(format!(
                        "too many symlinks resolving {path}"
                    )));
                }
                let target = std::fs::read_link(&full).map_err(|source| io(&full, source))?;
                let target = target.to_string_lossy().into_owned();
                if target.starts_with('/') {
                    current.clear();
                }
                pending.extend(
                    target
                        .split('/')
                        .filter(|part| !part.is_empty())
                        .map(String::from)
                        .rev(),
                );
            }
            Ok(meta) if meta.is_dir() => current = candidate,
            Ok(_) => {
                return Err(BuildError::Usage(format!(
                    "working directory {path}: /{} is not a directory",
                    candidate.join("/")
                )))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&full).map_err(|source| io(&full, source))?;
                current = candidate;
            }
            Err(source) => return Err(io(&full, source)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensure_dir_stays_inside() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("root");
        std::fs::create_dir_all(root.join("real")).unwrap();
        std::os::unix::fs::symlink("/real", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("up")).unwrap();
        ensure_dir(&root, "/abs/app/x").unwrap();
        assert!(root.join("real/app/x").is_dir());
        ensure_dir(&root, "/up/escape").unwrap();
        assert!(root.join("escape").is_dir());
        assert!(!outer.path().join("escape").exists());
        std::fs::write(root.join("file"), "").unwrap();
        assert!(ensure_dir(&root, "/file/x").is_err());
    }
}
