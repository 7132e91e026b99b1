//! kiln-store: the local content-addressed store.
//!
//! The store root is itself a valid OCI image layout, so
//! `skopeo inspect oci:$ROOT:app:1` works on it:
//!
//! ```text
//! oci-layout           {"imageLayoutVersion":"1.0.0"}
//! index.json           tags: descriptors annotated org.opencontainers.image.ref.name
//! blobs/sha256/<hex>   blobs (read-only), only ever complete and verified
//! ingest/              partial blobs (safe to delete when no kiln runs)
//! tmp/                 scratch directories of builds in progress
//! cache/               build-cache records (prune roots, see [`gc`]) and RUN cache mounts
//! locks/               lock files (cross-process, released on process death)
//! ```
//!
//! Crash safety: blobs are written to `ingest/`, fsync'd, verified and then
//! renamed into `blobs/`; `index.json` and `oci-layout` are replaced by
//! renaming an fsync'd temp file over them. A `kill -9` at any point leaves
//! only temp files (in `ingest/`, `tmp/` or `.kiln-tmp-*` in the root) and
//! never a partial blob or a partial `index.json`. See [`blob`] for the
//! step-by-step account, [`fsck`] for the checks, [`garbage`] for what a
//! kill leaves behind, and `docs/store.md` for the whole picture.
//!
//! ```no_run
//! # fn main() -> kiln_store::Result<()> {
//! let store = kiln_store::Store::open(std::path::Path::new("/var/lib/kiln"))?;
//! let digest = store.write_blob(b"{}")?;
//! assert_eq!(store.read_blob(&digest)?, b"{}");
//! # Ok(())
//! # }
//! ```

pub mod blob;
mod blockmap;
mod cache;
mod cache_prune;
mod derived;
mod error;
pub mod fsck;
pub mod garbage;
pub mod gc;
mod lock;
pub mod snapshots;
mod store;
mod tags;

pub use blob::BlobWriter;
pub use cache::{StatCache, StatKey, CACHE_VERSION};
pub use cache_prune::{CacheMount, CachePruneOptions, CachePruneReport, CacheUsage};
pub use error::{Error, Result};
pub use fsck::{FsckOptions, FsckReport, Problem};
pub use garbage::{Garbage, GarbageKind};
pub use gc::{PruneOptions, PruneReport};
pub use lock::StoreLock;
pub use snapshots::SnapshotBuilder;
pub use store::Store;
pub use tags::Tag;
