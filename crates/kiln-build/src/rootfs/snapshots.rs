//! Layer snapshots for the overlay root filesystem: each layer unpacked once,
//! in overlayfs format, into the store ([`kiln_store::snapshots`]), keyed by
//! its chain id.
//!
//! An unpacked layer holds only what the layer's tar holds. Directories the
//! tar does not list but that extraction had to create to hold an entry (a
//! RUN that changed `/etc/passwd` lists `etc/passwd` but not `etc`) would
//! otherwise show in the merged view with made-up attributes, since overlayfs
//! takes a directory's attributes from the topmost layer that has it; so they
//! get the attributes the directory has in the layers below. Symlinks of the
//! layers below are not followed while unpacking one layer alone: layers made
//! by a differ (BuildKit's, containerd's, kiln's) never write through one.

use std::os::unix::fs::{lchown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use kiln_oci::Digest;
use kiln_store::{SnapshotBuilder, Store};

use crate::error::{BuildError, Result};
use crate::image::LayerRef;

/// The attributes a directory shows in a merged view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirAttrs {
    /// Permission bits.
    pub mode: u32,
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
}

/// The OCI chain id of a layer on top of the chain `parent`.
pub fn chain_id(parent: Option<&Digest>, diff_id: &Digest) -> Digest {
    match parent {
        None => diff_id.clone(),
        Some(parent) => Digest::sha256_of(format!("{parent} {diff_id}").as_bytes()),
    }
}

/// The chain ids of `layers`, bottom first.
pub fn chain_ids(layers: &[LayerRef]) -> Vec<Digest> {
    let mut chains: Vec<Digest> = Vec::with_capacity(layers.len());
    for layer in layers {
        let chain = chain_id(chains.last(), &layer.diff_id);
        chains.push(chain);
    }
    chains
}

/// Unpacks `layer`, whose chain id is `chain`, into the store on top of the
/// unpacked layers `lowers` (bottom first), and returns its directory. Also
/// returns extraction warnings.
pub fn unpack(
    store: &Store,
    layer: &LayerRef,
    chain: &Digest,
    lowers: &[PathBuf],
) -> Result<(PathBuf, Vec<String>)> {
    let builder = store.snapshot_builder()?;
    let digest = kiln_oci::descriptor_digest(&layer.descriptor)?;
    let file = store.open_blob(&digest)?;
    let (_, tar) = kiln_layer::decompress(std::io::BufReader::new(file))?;
    let mut options = overlay_extract_options();
    options.digests = true;
    let report = kiln_layer::extract(tar, &builder.fs_path(), &options)?;
    builder.put_file(
        super::delta::MANIFEST,
        &super::delta::Manifest::encode(&report.files),
    )?;
    let stack = kiln_layer::overlay::LowerStack::new(lowers.iter().rev().cloned().collect());
    let below = |path: &str| -> Result<Option<DirAttrs>> {
        if path.is_empty() {
            return match lowers.last() {
                Some(top) => dir_attrs_of(top).map(Some),
                None => Ok(None),
            };
        }
        Ok(stack
            .stat(path)?
            .filter(|stat| stat.kind == kiln_layer::NodeKind::Dir)
            .map(|stat| DirAttrs {
                mode: stat.mode,
                uid: stat.uid,
                gid: stat.gid,
                mtime: stat.mtime,
            }))
    };
    finish(&builder, &report.implicit_dirs, &below)?;
    let path = store.commit_snapshot(chain, &digest, builder)?;
    Ok((path, report.warnings))
}

/// The extraction options of an unpacked layer.
pub fn overlay_extract_options() -> kiln_layer::ExtractOptions {
    kiln_layer::ExtractOptions {
        overlay: true,
        digests: false,
        preserve_ownership: true,
        ..Default::default()
    }
}

/// Gives the directories extraction created on its own (and the root) the
/// attributes they have below the layer.
pub fn finish(
    builder: &SnapshotBuilder,
    implicit_dirs: &[PathBuf],
    below: &dyn Fn(&str) -> Result<Option<DirAttrs>>,
) -> Result<()> {
    let root = builder.fs_path();
    let root_attrs = below("")?.unwrap_or(DirAttrs {
        mode: 0o755,
        uid: 0,
        gid: 0,
        mtime: 0,
    });
    set_attrs(&root, root_attrs)?;
    for dir in implicit_dirs {
        let relative = dir.to_string_lossy();
        if let Some(attrs) = below(&relative)? {
            set_attrs(&root.join(dir), attrs)?;
        }
    }
    Ok(())
}

/// The attributes of a directory on disk.
pub fn dir_attrs_of(path: &Path) -> Result<DirAttrs> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path).map_err(|source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(DirAttrs {
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        mtime: meta.mtime(),
    })
}

/// Sets owner, mode and mtime of a directory (owner first: chown clears
/// setuid/setgid bits).
pub fn set_attrs(path: &Path, attrs: DirAttrs) -> Result<()> {
    let io = |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    };
    lchown(path, Some(attrs.uid), Some(attrs.gid)).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(attrs.mode)).map_err(io)?;
    let mtime = if attrs.mtime >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs(attrs.mtime.unsigned_abs())
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(attrs.mtime.unsigned_abs())
    };
    let dir = std::fs::File::open(path).map_err(io)?;
    dir.set_modified(mtime).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_oci_definition() {
        let a = Digest::sha256_of(b"a");
        let b = Digest::sha256_of(b"b");
        assert_eq!(chain_id(None, &a), a);
        let expected = Digest::sha256_of(format!("{a} {b}").as_bytes());
        assert_eq!(chain_id(Some(&a), &b), expected);
        let layers: Vec<LayerRef> = [&a, &b]
            .iter()
            .map(|diff_id| LayerRef {
                descriptor: kiln_oci::descriptor("x", diff_id, 1),
                diff_id: (*diff_id).clone(),
            })
            .collect();
        assert_eq!(chain_ids(&layers), vec![a, expected]);
    }

    #[test]
    fn set_attrs_applies_mode_and_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("d");
        std::fs::create_dir(&target).unwrap();
        use std::os::unix::fs::MetadataExt;
        let created = std::fs::metadata(&target).unwrap();
        let (uid, gid) = (created.uid(), created.gid());
        set_attrs(
            &target,
            DirAttrs {
                mode: 0o750,
                uid,
                gid,
                mtime: 1000,
            },
        )
        .unwrap();
        let meta = std::fs::metadata(&target).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o750);
        assert_eq!(meta.mtime(), 1000);
    }
}
