//! Tests of block maps and block reuse in the parallel gzip encoder: the output with reuse
//! is byte-identical to compressing, whatever was reused and however many threads ran.

use super::*;
use crate::blockmap::BlobBlocks;
use std::collections::HashSet;
use std::io::Read;

/// Deterministic compressible bytes: numbered lines with a little noise.
fn text(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut bytes = Vec::with_capacity(len + 64);
    let mut line = 0u64;
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        line += 1;
        let word = ["copy", "layer", "block", "gzip", "kiln"][(state % 5) as usize];
        bytes.extend_from_slice(format!("{line} {word} {}\n", state % 1000).as_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// Deterministic incompressible bytes.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn encode_with(
    data: &[u8],
    threads: usize,
    block_size: usize,
    reuse: Option<Arc<dyn BlockSource>>,
) -> Finished<Vec<u8>> {
    let options = GzOptions {
        level: 3,
        threads,
        block_size,
        block_map: true,
        reuse,
    };
    let mut encoder = ParallelGzEncoder::with_options(Vec::new(), options);
    // Odd write sizes, so that blocks are cut in the middle of writes.
    for chunk in data.chunks(7919) {
        encoder.write_all(chunk).unwrap();
    }
    encoder.finish_with_map().unwrap()
}

/// A source over `blob`, written to a temp file, and its map.
fn source_of(blob: &[u8], map: &BlockMap) -> (tempfile::TempDir, Arc<dyn BlockSource>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blob");
    std::fs::write(&path, blob).unwrap();
    let mut source = BlobBlocks::new();
    source
        .add(map, std::fs::File::open(&path).unwrap())
        .unwrap();
    (dir, Arc::new(source))
}

/// The (dictionary, block, last) inputs of every block the encoder cuts from `data`.
fn block_inputs(data: &[u8], block_size: usize) -> Vec<(&[u8], &[u8], bool)> {
    let count = data.len() / block_size + 1;
    (0..count)
        .map(|index| {
            let start = index * block_size;
            let end = (start + block_size).min(data.len());
            let dictionary = &data[start.saturating_sub(WINDOW)..start];
            (dictionary, &data[start..end], index + 1 == count)
        })
        .collect()
}

/// How many blocks of `new` have the same inputs as some block of `old`.
fn expected_reuse(old: &[u8], new: &[u8], block_size: usize) -> u64 {
    let known: HashSet<_> = block_inputs(old, block_size).into_iter().collect();
    block_inputs(new, block_size)
        .into_iter()
        .filter(|inputs| known.contains(inputs))
        .count() as u64
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut output = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut output)
        .unwrap();
    output
}

#[test]
fn reuse_gives_the_bytes_of_plain_compression() {
    for block_size in [BLOCK_SIZE, 5000] {
        let sizes = [
            0,
            1,
            block_size - 1,
            block_size,
            block_size + 1,
            3 * block_size,
            3 * block_size + 1,
        ];
        for size in sizes {
            for (kind, old) in [("text", text(size, 3)), ("noise", noise(size, 5))] {
                let mut changed = old.clone();
                if let Some(byte) = changed.get_mut(size / 2) {
                    *byte ^= 0x20;
                }
                let mut appended = old.clone();
                appended.push(b'!');
                let previous = encode_with(&old, 2, block_size, None);
                let previous_map = previous.block_map.clone().unwrap();
                assert_eq!(previous.reused_blocks, 0);
                assert_eq!(previous_map.blob_size, previous.out.len() as u64);
                assert_eq!(
                    BlockMap::decode(&previous_map.encode()).unwrap(),
                    previous_map
                );
                let (_dir, source) = source_of(&previous.out, &previous_map);
                for (variant, new) in [
                    ("same", &old),
                    ("changed", &changed),
                    ("appended", &appended),
                ] {
                    let plain = encode_with(new, 1, block_size, None);
                    let expected = expected_reuse(&old, new, block_size);
                    let case = format!("{kind} {size} bytes, block {block_size}, {variant}");
                    for threads in [1, 4] {
                        let reused = encode_with(new, threads, block_size, Some(source.clone()));
                        assert!(
                            reused.out == plain.out,
                            "{case}, {threads} threads: bytes differ"
                        );
                        assert_eq!(reused.block_map, plain.block_map, "{case}: maps differ");
                        assert_eq!(reused.reused_blocks, expected, "{case}, {threads} threads");
                        assert_eq!(reused.blocks, plain.blocks, "{case}");
                    }
                    assert_eq!(gunzip(&plain.out), *new, "{case}");
                }
                // The expectations themselves: all blocks of the same input, all but the
                // last for an appended byte, and for a changed byte all but its block and
                // those whose dictionary reaches back to it.
                let blocks = (size / block_size + 1) as u64;
                assert_eq!(expected_reuse(&old, &old, block_size), blocks);
                assert_eq!(expected_reuse(&old, &appended, block_size), blocks - 1);
                if size > 0 {
                    let for_change = expected_reuse(&old, &changed, block_size);
                    let affected = 1 + WINDOW.div_ceil(block_size) as u64;
                    assert!(
                        (blocks.saturating_sub(affected)..blocks).contains(&for_change),
                        "{kind} {size}: {for_change} of {blocks}"
                    );
                }
            }
        }
    }
}

#[test]
fn a_source_whose_crc_or_length_disagree_is_ignored() {
    let data = text(3 * 5000 + 17, 9);
    let plain = encode_with(&data, 1, 5000, None);
    let map = plain.block_map.clone().unwrap();
    for (name, tamper) in [
        (
            "crc",
            (|record: &mut BlockRecord| record.crc ^= 1) as fn(&mut BlockRecord),
        ),
        ("length", |record: &mut BlockRecord| record.raw_len -= 1),
    ] {
        let mut lying = map.clone();
        for record in &mut lying.blocks {
            tamper(record);
        }
        let (_dir, source) = source_of(&plain.out, &lying);
        for threads in [1, 3] {
            let again = encode_with(&data, threads, 5000, Some(source.clone()));
            assert_eq!(again.reused_blocks, 0, "{name}");
            assert!(again.out == plain.out, "{name}");
        }
    }
}

/// Returns the same bytes for every block, whatever is asked.
struct Constant(Vec<u8>);

impl BlockSource for Constant {
    fn compressed(&self, _: &[u8; 16], _: u32, _: u32) -> Option<Vec<u8>> {
        Some(self.0.clone())
    }
}

#[test]
fn bytes_that_cannot_be_a_block_are_not_used() {
    let data = text(2 * 5000 + 1, 4);
    let plain = encode_with(&data, 1, 5000, None);
    // Empty bytes are never a block; bytes without the sync marker never a non-final one.
    for (bytes, reused) in [(Vec::new(), 0), (vec![3, 0], 1)] {
        let source: Arc<dyn BlockSource> = Arc::new(Constant(bytes.clone()));
        let again = encode_with(&data, 2, 5000, Some(source));
        assert_eq!(again.reused_blocks, reused, "{bytes:?}");
        if reused == 0 {
            assert!(again.out == plain.out);
        }
    }
}

#[test]
fn every_block_but_the_last_ends_with_a_sync_flush() {
    let data = text(4 * 3000 + 5, 2);
    let finished = encode_with(&data, 2, 3000, None);
    let map = finished.block_map.unwrap();
    assert_eq!(map.blocks.len(), 5);
    assert_eq!(
        (map.level, map.block_size, map.total_in),
        (3, 3000, data.len() as u64)
    );
    for (index, record) in map.blocks.iter().enumerate() {
        let start = record.offset as usize;
        let bytes = &finished.out[start..start + record.length as usize];
        let last = index + 1 == map.blocks.len();
        assert!(plausible_block(bytes, last), "block {index}");
        assert_eq!(bytes.ends_with(&[0, 0, 0xff, 0xff]), !last, "block {index}");
        let (dictionary, input, _) = block_inputs(&data, 3000)[index];
        assert_eq!(record.key, block_key(3, 3000, last, dictionary, input));
        assert_eq!(record.raw_len as usize, input.len());
    }
}

#[test]
fn keys_separate_every_input() {
    let base = block_key(3, 100, false, b"dict", b"block");
    let others = [
        block_key(4, 100, false, b"dict", b"block"),
        block_key(3, 101, false, b"dict", b"block"),
        block_key(3, 100, true, b"dict", b"block"),
        block_key(3, 100, false, b"dic", b"tblock"),
        block_key(3, 100, false, b"dict", b"blocK"),
    ];
    for (index, other) in others.iter().enumerate() {
        assert_ne!(base, *other, "case {index}");
    }
    assert_eq!(base, block_key(3, 100, false, b"dict", b"block"));
}

#[test]
fn no_map_is_recorded_unless_asked() {
    let options = GzOptions {
        level: 1,
        threads: 1,
        ..GzOptions::default()
    };
    let mut encoder = ParallelGzEncoder::with_options(Vec::new(), options);
    encoder.write_all(b"hello").unwrap();
    let finished = encoder.finish_with_map().unwrap();
    assert_eq!(finished.block_map, None);
    assert_eq!((finished.blocks, finished.reused_blocks), (1, 0));
    assert_eq!(gunzip(&finished.out), b"hello");
}
