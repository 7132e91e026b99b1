//! Block maps of gzip layers and the sources that let a new layer copy compressed blocks
//! from an earlier one instead of compressing them again.
//!
//! [`crate::pgzip`] compresses every block on its own, so a block's compressed bytes are a
//! pure function of the compressor, the level, the dictionary bytes, the block bytes and
//! whether it is the last block. A [`BlockMap`] names each block of a written blob by a
//! 16-byte key over exactly those inputs and says where its compressed bytes are in the
//! blob; a [`BlockSource`] (e.g. [`BlobBlocks`], a set of earlier blobs and their maps)
//! hands those bytes back to the encoder when a new block has the same key.
//!
//! The encoding (little endian):
//!
//! ```text
//! magic "KILNBMAP" | version u32 (1) | level u32 | block size u32 | count u32
//! | uncompressed length u64 | blob size u64
//! then count records of 36 bytes: key [16] | offset u64 | length u32 | crc32 u32 | raw length u32
//! ```
//!
//! A key is the first 16 bytes of a SHA-256 over a versioned tag, the compressor (a name
//! and a fingerprint of its output on a fixed probe), the level, the block size, the last
//! flag, the dictionary (length and bytes) and the block's bytes.
//!
//! Records are in blob order: the first starts after the 10-byte gzip header, each starts
//! where the previous one ends, and the last ends 8 bytes (the trailer) before the blob
//! does. [`BlockMap::decode`] checks all of that.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;

use flate2::Compression;
use sha2::{Digest as _, Sha256};

use crate::pgzip::compress_block;

/// The magic bytes that start an encoded block map.
const MAGIC: &[u8; 8] = b"KILNBMAP";
/// The encoding version written and the only one read.
pub const BLOCK_MAP_VERSION: u32 = 1;
/// Bytes before the first record.
const HEADER_LEN: usize = 8 + 4 * 4 + 8 * 2;
/// Bytes per record.
const RECORD_LEN: usize = 16 + 8 + 4 * 3;
/// Bytes of the gzip header before the first block.
const GZIP_HEADER_LEN: u64 = 10;
/// Bytes of the gzip trailer after the last block.
const GZIP_TRAILER_LEN: u64 = 8;

/// The domain and version of block keys; bump it when the key layout changes.
const KEY_TAG: &[u8] = b"kiln pgzip block key v1\0";

/// The compressor, as locked when this was written. The key also holds a fingerprint of
/// the compressor's actual output ([`compressor_fingerprint`]), so a compressor update that
/// changes its bytes changes every key even if nobody edits this string.
const COMPRESSOR: &str = "flate2 1.1 zlib-rs 0.6";

/// Why a block map could not be decoded or used.
#[derive(Debug, thiserror::Error)]
pub enum BlockMapError {
    /// The bytes do not start with the block map magic.
    #[error("not a block map: bad magic")]
    BadMagic,
    /// The map was written in an encoding version this kiln does not read.
    #[error("unsupported block map version {version}")]
    UnsupportedVersion {
        /// The version found.
        version: u32,
    },
    /// The length does not match the header's record count.
    #[error("block map has {found} bytes, its header implies {expected}")]
    BadLength {
        /// The length the header implies.
        expected: u64,
        /// The actual length.
        found: u64,
    },
    /// A record does not fit the blob layout described above.
    #[error("block map record {index} is inconsistent: {reason}")]
    Inconsistent {
        /// The index of the record (the count for whole-map checks).
        index: usize,
        /// What does not fit.
        reason: &'static str,
    },
    /// The blob file does not have the size the map says.
    #[error("blob has {found} bytes, its block map says {expected}")]
    BlobSize {
        /// The size in the map.
        expected: u64,
        /// The size of the file.
        found: u64,
    },
    /// Reading the blob file's metadata failed.
    #[error("failed to read the metadata of a blob")]
    Io {
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// One compressed block of a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRecord {
    /// The block's key: what its compressed bytes are a function of.
    pub key: [u8; 16],
    /// Where its compressed bytes start in the blob.
    pub offset: u64,
    /// How many compressed bytes it has.
    pub length: u32,
    /// The CRC-32 of its uncompressed bytes.
    pub crc: u32,
    /// How many uncompressed bytes it has.
    pub raw_len: u32,
}

/// Every block of one gzip blob written by [`crate::ParallelGzEncoder`], in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockMap {
    /// The gzip level the blob was written at.
    pub level: u32,
    /// The uncompressed block size.
    pub block_size: u32,
    /// The length of the uncompressed stream.
    pub total_in: u64,
    /// The length of the blob (header, blocks, trailer).
    pub blob_size: u64,
    /// The blocks in blob order.
    pub blocks: Vec<BlockRecord>,
}

impl BlockMap {
    /// The versioned binary encoding (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.blocks.len() * RECORD_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&BLOCK_MAP_VERSION.to_le_bytes());
        out.extend_from_slice(&self.level.to_le_bytes());
        out.extend_from_slice(&self.block_size.to_le_bytes());
        // A map longer than u32::MAX blocks is 512 TiB of input at 128 KiB blocks.
        let count = u32::try_from(self.blocks.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&self.total_in.to_le_bytes());
        out.extend_from_slice(&self.blob_size.to_le_bytes());
        for record in self.blocks.iter().take(count as usize) {
            out.extend_from_slice(&record.key);
            out.extend_from_slice(&record.offset.to_le_bytes());
            out.extend_from_slice(&record.length.to_le_bytes());
            out.extend_from_slice(&record.crc.to_le_bytes());
            out.extend_from_slice(&record.raw_len.to_le_bytes());
        }
        out
    }

    /// Decodes [`BlockMap::encode`]'s output, rejecting a bad magic, another version, a
    /// wrong length, and records that do not tile the blob.
    pub fn decode(bytes: &[u8]) -> Result<BlockMap, BlockMapError> {
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(BlockMapError::BadMagic);
        }
        let mut reader = Reader {
            bytes,
            at: MAGIC.len(),
        };
        let header_error = || BlockMapError::BadLength {
            expected: HEADER_LEN as u64,
            found: bytes.len() as u64,
        };
        let version = reader.u32().ok_or_else(header_error)?;
        if version != BLOCK_MAP_VERSION {
            return Err(BlockMapError::UnsupportedVersion { version });
        }
        let level = reader.u32().ok_or_else(header_error)?;
        let block_size = reader.u32().ok_or_else(header_error)?;
        let count = reader.u32().ok_or_else(header_error)?;
        let total_in = reader.u64().ok_or_else(header_error)?;
        let blob_size = reader.u64().ok_or_else(header_error)?;
        let expected = HEADER_LEN as u64 + u64::from(count) * RECORD_LEN as u64;
        if bytes.len() as u64 != expected {
            return Err(BlockMapError::BadLength {
                expected,
                found: bytes.len() as u64,
            });
        }
        let mut blocks = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let record = reader.record().ok_or_else(header_error)?;
            blocks.push(record);
        }
        let map = BlockMap {
            level,
            block_size,
            total_in,
            blob_size,
            blocks,
        };
        map.check()?;
        Ok(map)
    }

    /// Checks that the records tile the blob between header and trailer, that no block is
    /// longer than the block size, and that the raw lengths add up to the input length.
    fn check(&self) -> Result<(), BlockMapError> {
        let inconsistent = |index, reason| BlockMapError::Inconsistent { index, reason };
        if self.level > 9 {
            return Err(inconsistent(0, "level above 9"));
        }
        if self.blocks.is_empty() {
            return Err(inconsistent(0, "no blocks"));
        }
        let mut offset = GZIP_HEADER_LEN;
        let mut total_in: u64 = 0;
        for (index, record) in self.blocks.iter().enumerate() {
            if record.offset != offset {
                return Err(inconsistent(
                    index,
                    "does not start where the previous ends",
                ));
            }
            if record.length == 0 {
                return Err(inconsistent(index, "empty compressed block"));
            }
            if record.raw_len > self.block_size {
                return Err(inconsistent(index, "longer than the block size"));
            }
            offset += u64::from(record.length);
            total_in += u64::from(record.raw_len);
        }
        if offset.checked_add(GZIP_TRAILER_LEN) != Some(self.blob_size) {
            return Err(inconsistent(
                self.blocks.len(),
                "blocks do not end at the trailer",
            ));
        }
        if total_in != self.total_in {
            return Err(inconsistent(
                self.blocks.len(),
                "block lengths do not add up to the input length",
            ));
        }
        Ok(())
    }
}

/// Reads little-endian fields from a byte slice.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let slice = self.bytes.get(self.at..self.at.checked_add(N)?)?;
        self.at += N;
        slice.try_into().ok()
    }

    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }

    fn record(&mut self) -> Option<BlockRecord> {
        Some(BlockRecord {
            key: self.take()?,
            offset: self.u64()?,
            length: self.u32()?,
            crc: self.u32()?,
            raw_len: self.u32()?,
        })
    }
}

/// Compressed blocks the encoder may copy instead of compressing.
///
/// An implementation returns bytes only for a block it has under `key` whose recorded
/// CRC-32 and uncompressed length are `crc` and `raw_len`; anything else must be `None`.
/// Returned bytes are written as they are, so they must be exactly what compressing the
/// block would give (which holds for bytes taken from a blob at the place its map names).
pub trait BlockSource: Send + Sync {
    /// The compressed bytes of the block with `key`, CRC-32 `crc` and length `raw_len`.
    fn compressed(&self, key: &[u8; 16], crc: u32, raw_len: u32) -> Option<Vec<u8>>;
}

/// Where one block's compressed bytes are.
#[derive(Debug, Clone, Copy)]
struct Location {
    file: usize,
    offset: u64,
    length: u32,
    crc: u32,
    raw_len: u32,
}

/// A [`BlockSource`] over earlier blobs: each added with its map, read with `pread`.
#[derive(Debug, Default)]
pub struct BlobBlocks {
    files: Vec<File>,
    blocks: HashMap<[u8; 16], Location>,
}

impl BlobBlocks {
    /// A source with no blobs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a blob (opened for reading) and its map, after checking the file has the size
    /// the map says. For a key present in several blobs the first one added is used.
    pub fn add(&mut self, map: &BlockMap, file: File) -> Result<(), BlockMapError> {
        let found = file
            .metadata()
            .map_err(|source| BlockMapError::Io { source })?
            .len();
        if found != map.blob_size {
            return Err(BlockMapError::BlobSize {
                expected: map.blob_size,
                found,
            });
        }
        let index = self.files.len();
        self.files.push(file);
        for record in &map.blocks {
            self.blocks.entry(record.key).or_insert(Location {
                file: index,
                offset: record.offset,
                length: record.length,
                crc: record.crc,
                raw_len: record.raw_len,
            });
        }
        Ok(())
    }

    /// How many distinct blocks it can supply.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// True when it can supply no block.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
}

impl BlockSource for BlobBlocks {
    fn compressed(&self, key: &[u8; 16], crc: u32, raw_len: u32) -> Option<Vec<u8>> {
        let location = self.blocks.get(key)?;
        if location.crc != crc || location.raw_len != raw_len {
            return None;
        }
        let file = self.files.get(location.file)?;
        let mut bytes = vec![0u8; location.length as usize];
        // A failed read only means compressing this block after all.
        file.read_exact_at(&mut bytes, location.offset).ok()?;
        Some(bytes)
    }
}

/// The key of a block: the first 16 bytes of a SHA-256 over the key tag, the compressor
/// (name and output fingerprint), the level, the block size, the last flag, the dictionary
/// length and bytes, and the block's bytes.
pub(crate) fn block_key(
    level: u32,
    block_size: usize,
    last: bool,
    dictionary: &[u8],
    block: &[u8],
) -> [u8; 16] {
    let mut hasher = Sha256::new();
    hasher.update(KEY_TAG);
    hasher.update((COMPRESSOR.len() as u64).to_le_bytes());
    hasher.update(COMPRESSOR.as_bytes());
    hasher.update(compressor_fingerprint(level));
    hasher.update(level.to_le_bytes());
    hasher.update((block_size as u64).to_le_bytes());
    hasher.update([u8::from(last)]);
    hasher.update((dictionary.len() as u64).to_le_bytes());
    hasher.update(dictionary);
    hasher.update(block);
    let digest = hasher.finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// A SHA-256 of what the compressor makes of a fixed probe at `level` (a dictionary-primed
/// non-final block, then a final one), computed once per level and process.
fn compressor_fingerprint(level: u32) -> [u8; 32] {
    static FINGERPRINTS: [OnceLock<[u8; 32]>; 10] = [const { OnceLock::new() }; 10];
    let level = level.min(9);
    *FINGERPRINTS[level as usize].get_or_init(|| {
        let probe: Vec<u8> = (0u32..12_000)
            .map(|index| (index.wrapping_mul(2_654_435_761) >> 13) as u8 % 23 + b'a')
            .collect();
        let (dictionary, input) = probe.split_at(4000);
        let mut hasher = Sha256::new();
        for last in [false, true] {
            match compress_block(Compression::new(level), dictionary, input, last) {
                Ok(bytes) => hasher.update(&bytes),
                // Every block would fail the same way; the fingerprint hardly matters then.
                Err(_) => hasher.update(b"error"),
            }
        }
        hasher.finalize().into()
    })
}

#[cfg(test)]
#[path = "blockmap_tests.rs"]
mod tests;
