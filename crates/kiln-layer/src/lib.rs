//! kiln-layer: the filesystem ↔ layer boundary of kiln.
//!
//! - [`write_layer`] turns a list of [`LayerEntry`] into a deterministic tar (sorted, numeric
//!   owners, PAX only where needed), optionally gzipped, and reports the digest and diff_id
//!   computed in the same streaming pass; gzip runs on all cores ([`pgzip`]) and its
//!   bytes do not depend on the thread count.
//! - [`compress`] recognises and undoes gzip/bzip2/xz and recognises tar headers.
//! - [`extract()`] unpacks a tar into a directory without ever touching anything outside it.
//! - [`snapshot_tree`] and [`diff_trees`] compute the layer of a RUN step from two stat
//!   snapshots of its root filesystem.
//! - [`LowerStack`] and [`diff_upper`] do the same for an overlayfs upper directory on top
//!   of layers extracted in overlay format ([`ExtractOptions::overlay`]).
//! - [`FsIndex`] indexes the filesystem of stacked layers without extracting them.
//!
//! ```
//! use kiln_layer::{write_layer, LayerEntry, LayerOptions};
//!
//! let entries = vec![
//!     LayerEntry::dir("etc", 0o755, 0),
//!     LayerEntry::file("etc/hostname", b"kiln\n".to_vec(), 0o644, 0),
//! ];
//! let (layer, bytes) = write_layer(entries, Vec::new(), &LayerOptions::default()).unwrap();
//! assert_eq!(layer.size, bytes.len() as u64);
//! ```

pub mod blockmap;
pub mod compress;
mod diff;
mod entry;
mod error;
pub mod extract;
mod index;
mod index_codec;
pub mod overlay;
mod path;
pub mod pgzip;
mod resolve;
mod snapshot;
mod tarfmt;
#[cfg(test)]
mod testtar;
mod write;
mod xattr;

pub use blockmap::{BlobBlocks, BlockMap, BlockMapError, BlockRecord, BlockSource};
pub use compress::{decompress, looks_like_tar, sniff, Detected};
pub use diff::diff_trees;
pub use entry::{Content, EntryKind, LayerEntry};
pub use error::{Error, Result};
pub use extract::{extract, ExtractOptions, ExtractReport, ExtractedFile};
pub use index::{FsIndex, IndexEntry, IndexKind};
pub use overlay::{diff_upper, LowerStack, OVERLAY_OPAQUE_XATTR};
pub use pgzip::{Finished, GzOptions, ParallelGzEncoder};
pub use snapshot::{snapshot_tree, NodeKind, NodeStat, TreeSnapshot};
pub use write::{
    prepare_entries, write_layer, write_layer_with_copy, write_prepared, Compression, Layer,
    LayerOptions, OPAQUE_MARKER, WHITEOUT_PREFIX,
};
