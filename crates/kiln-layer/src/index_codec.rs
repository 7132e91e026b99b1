//! The binary form of [`FsIndex`], for caching an index beside the layers it was built from.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! "kilnfx01"                         magic (8 bytes); a format change bumps the number
//! u32 entry count
//! per entry, in path order:
//!   u32 len, path bytes (UTF-8)      paths strictly increasing
//!   u8 kind                          0 dir, 1 file, 2 symlink, 3 hardlink, 4 other
//!   kind payload                     file: u64 size; symlink/hardlink: u32 len + target
//!   u32 mode, u32 uid, u32 gid, i64 mtime
//! u32 captured count
//! per captured file, in path order:
//!   u32 len, path bytes (UTF-8)      paths strictly increasing
//!   u64 len, content bytes
//! ```
//!
//! Nothing follows the last captured file. Decoding rejects anything else, so a cached index
//! that fails to decode is simply rebuilt.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::index::{FsIndex, IndexEntry, IndexKind};

/// The first bytes of an encoded index.
const MAGIC: &[u8; 8] = b"kilnfx01";

/// The fewest bytes one entry takes: path length, kind, mode, uid, gid, mtime.
const MIN_ENTRY: usize = 4 + 1 + 4 * 3 + 8;
/// The fewest bytes one captured file takes: path length and content length.
const MIN_CAPTURED: usize = 4 + 8;

const KIND_DIR: u8 = 0;
const KIND_FILE: u8 = 1;
const KIND_SYMLINK: u8 = 2;
const KIND_HARDLINK: u8 = 3;
const KIND_OTHER: u8 = 4;

impl FsIndex {
    /// A compact, versioned binary form (magic `kilnfx01`, little-endian, length-prefixed
    /// strings), stable across runs: equal indexes encode to equal bytes.
    pub fn encode(&self) -> Vec<u8> {
        let paths: usize = self.entries.keys().map(String::len).sum();
        let captured: usize = self
            .captured
            .iter()
            .map(|(path, bytes)| path.len() + bytes.len() + MIN_CAPTURED)
            .sum();
        let mut out = Vec::with_capacity(
            MAGIC.len() + 8 + paths + self.entries.len() * (MIN_ENTRY + 8) + captured,
        );
        out.extend_from_slice(MAGIC);
        put_count(&mut out, self.entries.len());
        for (path, entry) in &self.entries {
            put_str(&mut out, path);
            match &entry.kind {
                IndexKind::Dir => out.push(KIND_DIR),
                IndexKind::File { size } => {
                    out.push(KIND_FILE);
                    out.extend_from_slice(&size.to_le_bytes());
                }
                IndexKind::Symlink { target } => {
                    out.push(KIND_SYMLINK);
                    put_str(&mut out, target);
                }
                IndexKind::Hardlink { target } => {
                    out.push(KIND_HARDLINK);
                    put_str(&mut out, target);
                }
                IndexKind::Other => out.push(KIND_OTHER),
            }
            out.extend_from_slice(&entry.mode.to_le_bytes());
            out.extend_from_slice(&entry.uid.to_le_bytes());
            out.extend_from_slice(&entry.gid.to_le_bytes());
            out.extend_from_slice(&entry.mtime.to_le_bytes());
        }
        put_count(&mut out, self.captured.len());
        for (path, bytes) in &self.captured {
            put_str(&mut out, path);
            out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        out
    }

    /// The inverse of [`FsIndex::encode`]. Any malformed input (bad magic, truncation, bad
    /// UTF-8, unsorted or repeated paths, unknown kinds, trailing bytes, absurd lengths) is an
    /// [`Error::BadIndex`].
    pub fn decode(bytes: &[u8]) -> Result<FsIndex> {
        let body = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or_else(|| bad("missing kilnfx01 magic".to_owned()))?;
        let mut reader = Reader {
            bytes: body,
            pos: 0,
        };

        let count = reader.count(MIN_ENTRY, "entry")?;
        let mut entries: Vec<(String, IndexEntry)> = Vec::with_capacity(count);
        for _ in 0..count {
            let path = reader.string("path")?;
            if entries.last().is_some_and(|(last, _)| *last >= path) {
                return Err(bad(format!("entry {path:?} is out of order or repeated")));
            }
            let kind = match reader.u8("kind")? {
                KIND_DIR => IndexKind::Dir,
                KIND_FILE => IndexKind::File {
                    size: reader.u64("file size")?,
                },
                KIND_SYMLINK => IndexKind::Symlink {
                    target: reader.string("symlink target")?,
                },
                KIND_HARDLINK => IndexKind::Hardlink {
                    target: reader.string("hardlink target")?,
                },
                KIND_OTHER => IndexKind::Other,
                other => return Err(bad(format!("unknown kind {other} for {path:?}"))),
            };
            let entry = IndexEntry {
                kind,
                mode: reader.u32("mode")?,
                uid: reader.u32("uid")?,
                gid: reader.u32("gid")?,
                mtime: reader.array("mtime").map(i64::from_le_bytes)?,
            };
            entries.push((path, entry));
        }

        let count = reader.count(MIN_CAPTURED, "captured file")?;
        let mut captured: Vec<(String, Vec<u8>)> = Vec::with_capacity(count);
        for _ in 0..count {
            let path = reader.string("captured path")?;
            if captured.last().is_some_and(|(last, _)| *last >= path) {
                return Err(bad(format!(
                    "captured file {path:?} is out of order or repeated"
                )));
            }
            let len = reader.u64("captured length")?;
            let content = reader.take(len, "captured content")?.to_vec();
            captured.push((path, content));
        }

        if reader.pos != reader.bytes.len() {
            return Err(bad(format!(
                "{} trailing bytes",
                reader.bytes.len() - reader.pos
            )));
        }
        // Both vectors are sorted and free of repeats, so the maps are bulk-built in order.
        Ok(FsIndex {
            entries: entries.into_iter().collect::<BTreeMap<_, _>>(),
            captured: captured.into_iter().collect::<BTreeMap<_, _>>(),
        })
    }
}

/// Appends a count or string length as u32. Nothing indexed comes near 4 GiB; a longer
/// one is written as `u32::MAX`, which decoding then rejects as truncated.
fn put_count(out: &mut Vec<u8>, len: usize) {
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_count(out, text.len());
    out.extend_from_slice(text.as_bytes());
}

fn bad(reason: String) -> Error {
    Error::BadIndex { reason }
}

/// A cursor over the encoded bytes after the magic.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// The next `len` bytes.
    fn take(&mut self, len: u64, what: &str) -> Result<&'a [u8]> {
        let remaining = self.bytes.len() - self.pos;
        let len = usize::try_from(len)
            .ok()
            .filter(|len| *len <= remaining)
            .ok_or_else(|| {
                bad(format!(
                    "truncated {what}: {len} bytes wanted at offset {}, {remaining} left",
                    self.pos + MAGIC.len()
                ))
            })?;
        let slice = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N as u64, what)?);
        Ok(array)
    }

    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// A count of records of at least `min_size` bytes each, checked against what is left.
    fn count(&mut self, min_size: usize, what: &str) -> Result<usize> {
        let count = self.u32(what)?;
        let remaining = self.bytes.len() - self.pos;
        usize::try_from(count)
            .ok()
            .filter(|count| count.checked_mul(min_size).is_some_and(|n| n <= remaining))
            .ok_or_else(|| {
                bad(format!(
                    "{count} {what} records cannot fit in {remaining} bytes"
                ))
            })
    }

    /// A length-prefixed UTF-8 string.
    fn string(&mut self, what: &str) -> Result<String> {
        let len = self.u32(what)?;
        let offset = self.pos + MAGIC.len();
        let raw = self.take(u64::from(len), what)?;
        let text = std::str::from_utf8(raw)
            .map_err(|_| bad(format!("{what} at offset {offset} is not UTF-8")))?;
        Ok(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testtar::TarBuilder;

    fn capture_passwd(path: &str) -> bool {
        path.starts_with("etc/")
    }

    /// An index from two real layers with every kind, an explicit root and captured files.
    fn sample() -> FsIndex {
        let lower = TarBuilder::new()
            .dir("./", 0o750)
            .dir("etc", 0o755)
            .file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
            .file("etc/group", b"root:x:0:\n")
            .dir("usr/bin", 0o755)
            .file_mode("usr/bin/busybox", b"\x7fELF", 0o4755)
            .symlink("bin", "usr/bin")
            .symlink("usr/bin/sh", "/bin/busybox")
            .hardlink("usr/bin/bb2", "usr/bin/busybox")
            .fifo("run/fifo")
            .file("caf\u{e9}/\u{65e5}\u{672c}", b"unicode path")
            .finish();
        let upper = TarBuilder::new()
            .file("etc/passwd", b"root:x:0:0::/root:/bin/bash\n")
            .hardlink("etc/group2", "etc/group")
            .file("usr/bin/.wh.bb2", b"")
            .finish();
        let mut index = FsIndex::new();
        for layer in [lower, upper] {
            index
                .apply_layer(layer.as_slice(), &capture_passwd)
                .unwrap();
        }
        index
    }

    /// A hand-made index with extreme field values.
    fn extremes() -> FsIndex {
        let mut index = FsIndex::new();
        let entry = |kind, mtime| IndexEntry {
            kind,
            mode: u32::MAX,
            uid: u32::MAX,
            gid: 0,
            mtime,
        };
        index.entries.insert(
            "a".into(),
            entry(IndexKind::File { size: u64::MAX }, i64::MIN),
        );
        index.entries.insert(
            "b".into(),
            entry(
                IndexKind::Symlink {
                    target: String::new(),
                },
                -1,
            ),
        );
        index
            .entries
            .insert("c".into(), entry(IndexKind::Other, i64::MAX));
        index.captured.insert("a".into(), Vec::new());
        index
    }

    #[test]
    fn round_trips() {
        let index = sample();
        let kinds: Vec<&IndexKind> = index.entries.values().map(|e| &e.kind).collect();
        assert!(kinds.iter().any(|k| matches!(k, IndexKind::Dir)));
        assert!(kinds.iter().any(|k| matches!(k, IndexKind::File { .. })));
        assert!(kinds.iter().any(|k| matches!(k, IndexKind::Symlink { .. })));
        assert!(kinds
            .iter()
            .any(|k| matches!(k, IndexKind::Hardlink { .. })));
        assert!(kinds.iter().any(|k| matches!(k, IndexKind::Other)));
        assert_eq!(index.get("").unwrap().mode, 0o750, "explicit root entry");
        assert_eq!(index.captured.len(), 3, "passwd, group and group2");

        for (name, index) in [
            ("layers", index),
            ("extremes", extremes()),
            ("new", FsIndex::new()),
            (
                "empty",
                FsIndex {
                    entries: BTreeMap::new(),
                    captured: BTreeMap::new(),
                },
            ),
        ] {
            let bytes = index.encode();
            assert!(bytes.starts_with(b"kilnfx01"), "{name}");
            let decoded = FsIndex::decode(&bytes).unwrap();
            assert_eq!(decoded, index, "{name}");
            assert_eq!(decoded.encode(), bytes, "{name}: encoding is stable");
        }
    }

    #[test]
    fn decoded_index_answers_queries() {
        let decoded = FsIndex::decode(&sample().encode()).unwrap();
        assert_eq!(
            decoded.captured("etc/passwd"),
            Some(&b"root:x:0:0::/root:/bin/bash\n"[..])
        );
        let (path, entry) = decoded.resolve("bin/sh").unwrap();
        assert_eq!(path, "usr/bin/busybox");
        assert_eq!(entry.mode, 0o4755);
        assert_eq!(decoded.children("usr/bin"), ["busybox", "sh"]);
    }

    #[test]
    fn every_proper_prefix_is_rejected() {
        let bytes = sample().encode();
        for len in 0..bytes.len() {
            let result = FsIndex::decode(&bytes[..len]);
            assert!(
                matches!(result, Err(Error::BadIndex { .. })),
                "prefix of {len} bytes decoded"
            );
        }
    }

    /// The encoding of an index with one symlink entry `"ab" -> "xy"`, no captures.
    fn tiny() -> Vec<u8> {
        let mut index = FsIndex {
            entries: BTreeMap::new(),
            captured: BTreeMap::new(),
        };
        index.entries.insert(
            "ab".into(),
            IndexEntry {
                kind: IndexKind::Symlink {
                    target: "xy".into(),
                },
                mode: 0o777,
                uid: 1,
                gid: 2,
                mtime: 3,
            },
        );
        index.encode()
    }

    #[test]
    fn malformed_input_is_rejected() {
        // Offsets in `tiny()`: magic 0..8, count 8..12, path len 12..16, "ab" 16..18,
        // kind 18, target len 19..23, "xy" 23..25, mode.. 25..37, mtime 37..45, captured 45..49.
        let base = tiny();
        assert_eq!(base.len(), 49);
        assert!(FsIndex::decode(&base).is_ok());
        let edit = |at: usize, with: &[u8]| {
            let mut bytes = base.clone();
            bytes[at..at + with.len()].copy_from_slice(with);
            bytes
        };
        let mut trailing = base.clone();
        trailing.push(0);
        let mut unsorted = base.clone();
        unsorted[8] = 2;
        let second = unsorted[12..45].to_vec();
        unsorted.splice(45..45, second);
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("empty", Vec::new(), "magic"),
            ("garbage", b"not an index at all".to_vec(), "magic"),
            ("other version", edit(7, b"2"), "magic"),
            ("trailing byte", trailing, "trailing"),
            ("bad utf-8 path", edit(16, &[0xff]), "UTF-8"),
            ("bad utf-8 target", edit(23, &[0xc3, 0x28]), "UTF-8"),
            ("unknown kind", edit(18, &[9]), "unknown kind"),
            ("repeated path", unsorted, "out of order"),
            (
                "absurd entry count",
                edit(8, &u32::MAX.to_le_bytes()),
                "cannot fit",
            ),
            (
                "absurd path length",
                edit(12, &u32::MAX.to_le_bytes()),
                "truncated",
            ),
            (
                "absurd target length",
                edit(19, &[0, 0, 0, 0x80]),
                "truncated",
            ),
            (
                "absurd captured count",
                edit(45, &[0xff, 0xff, 0, 0]),
                "cannot fit",
            ),
        ];
        for (name, bytes, expected) in cases {
            match FsIndex::decode(&bytes) {
                Err(Error::BadIndex { reason }) => {
                    assert!(reason.contains(expected), "{name}: {reason}")
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn absurd_captured_length_is_rejected() {
        let mut index = FsIndex::new();
        index.captured.insert("x".into(), b"abc".to_vec());
        let mut bytes = index.encode();
        let len_at = bytes.len() - 3 - 8;
        bytes[len_at..len_at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        let err = FsIndex::decode(&bytes).unwrap_err();
        assert!(
            err.to_string().contains("truncated captured content"),
            "{err}"
        );
    }

    #[test]
    fn large_index_round_trips() {
        let mut index = FsIndex::new();
        for n in 0..20_000u32 {
            index.entries.insert(
                format!("usr/share/doc/pkg{:05}/file", n),
                IndexEntry {
                    kind: IndexKind::File { size: u64::from(n) },
                    mode: 0o644,
                    uid: 0,
                    gid: 0,
                    mtime: i64::from(n),
                },
            );
        }
        let bytes = index.encode();
        let started = std::time::Instant::now();
        let decoded = FsIndex::decode(&bytes).unwrap();
        let elapsed = started.elapsed();
        assert_eq!(decoded, index);
        // Generous even for an unoptimised build; release takes a few milliseconds.
        assert!(elapsed < std::time::Duration::from_secs(2), "{elapsed:?}");
    }
}
