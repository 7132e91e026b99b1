//! A stage's root filesystem for RUN, made when the first RUN that misses the
//! cache needs it and kept across the stage's steps (later layers are added to
//! it), removed with the stage (its scratch directory lives in the store's
//! `tmp/` and is deleted on drop, also after a failure).
//!
//! Two ways to make it ([`crate::Snapshotter`]):
//! - [`native`]: every layer extracted into one directory; the step's layer is
//!   the difference of two stat snapshots of it. Works anywhere.
//! - [`overlay`]: layers unpacked once into the store (see [`snapshots`]) and
//!   mounted as an overlay; the step's layer is read from the upper directory.
//!   Needs root and a private mount namespace.

pub mod delta;
pub mod native;
pub mod overlay;
pub mod snapshots;

use std::path::{Path, PathBuf};

use kiln_layer::LayerEntry;
use kiln_store::Store;

use crate::error::{BuildError, Result};
use crate::image::{Image, LayerRef};

pub use native::NativeRootfs;
pub use overlay::OverlayRootfs;

/// A stage's root filesystem.
pub enum Rootfs {
    /// All layers extracted into one directory.
    Native(NativeRootfs),
    /// An overlay of layers unpacked in the store.
    Overlay(OverlayRootfs),
}

impl Rootfs {
    /// A new, empty root filesystem of the given kind.
    pub fn new(store: &Store, snapshotter: crate::Snapshotter) -> Result<Rootfs> {
        Ok(match snapshotter {
            crate::Snapshotter::Native => Rootfs::Native(NativeRootfs::new(store)?),
            crate::Snapshotter::Overlay => Rootfs::Overlay(OverlayRootfs::new(store)?),
        })
    }

    /// Makes [`Rootfs::path`] show the image's filesystem, ready for a RUN.
    /// Returns warnings (entries extraction could not reproduce).
    pub fn prepare(&mut self, store: &Store, image: &Image) -> Result<Vec<String>> {
        match self {
            Rootfs::Native(rootfs) => rootfs.prepare(store, image),
            Rootfs::Overlay(rootfs) => rootfs.prepare(store, image),
        }
    }

    /// Where the RUN sees its root (valid after [`Rootfs::prepare`]).
    pub fn path(&self) -> &Path {
        match self {
            Rootfs::Native(rootfs) => rootfs.path(),
            Rootfs::Overlay(rootfs) => rootfs.path(),
        }
    }

    /// After the RUN: the entries of what it changed, minus excluded paths
    /// (relative, `/`-separated; everything under them too).
    pub fn changes(&mut self, exclude: &dyn Fn(&str) -> bool) -> Result<Vec<LayerEntry>> {
        match self {
            Rootfs::Native(rootfs) => rootfs.changes(exclude),
            Rootfs::Overlay(rootfs) => rootfs.changes(exclude),
        }
    }

    /// The image gained `layer`, made from [`Rootfs::changes`]; `layers` is
    /// the image's new layer count.
    pub fn commit_run(&mut self, layers: usize, layer: &LayerRef) {
        match self {
            Rootfs::Native(rootfs) => rootfs.commit_run(layers),
            Rootfs::Overlay(rootfs) => rootfs.commit_run(layer),
        }
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
