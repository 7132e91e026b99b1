//! Tests of the block map encoding and of [`BlobBlocks`].

use super::*;
use std::io::Write;

fn sample_map() -> BlockMap {
    BlockMap {
        level: 3,
        block_size: 1000,
        total_in: 1500,
        blob_size: 10 + 300 + 200 + 8,
        blocks: vec![
            BlockRecord {
                key: [1; 16],
                offset: 10,
                length: 300,
                crc: 0xdead_beef,
                raw_len: 1000,
            },
            BlockRecord {
                key: [2; 16],
                offset: 310,
                length: 200,
                crc: 7,
                raw_len: 500,
            },
        ],
    }
}

#[test]
fn encode_decode_round_trips() {
    let map = sample_map();
    let bytes = map.encode();
    assert_eq!(bytes.len(), HEADER_LEN + 2 * RECORD_LEN);
    assert_eq!(&bytes[..8], b"KILNBMAP");
    assert_eq!(BlockMap::decode(&bytes).unwrap(), map);
}

#[test]
fn garbage_is_rejected() {
    let good = sample_map().encode();
    let mutate = |at: usize, value: u8| {
        let mut bytes = good.clone();
        bytes[at] = value;
        bytes
    };
    let with_map = |change: &dyn Fn(&mut BlockMap)| {
        let mut map = sample_map();
        change(&mut map);
        map.encode()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "magic"),
        ("text", b"hello world, not a map at all".to_vec(), "magic"),
        ("bad magic", mutate(0, b'X'), "magic"),
        ("version 2", mutate(8, 2), "version"),
        ("header only", good[..HEADER_LEN - 3].to_vec(), "bytes"),
        ("truncated", good[..good.len() - 1].to_vec(), "bytes"),
        ("trailing byte", [good.clone(), vec![0]].concat(), "bytes"),
        (
            "gap between blocks",
            with_map(&|map| map.blocks[1].offset = 311),
            "previous",
        ),
        (
            "first block overlaps the header",
            with_map(&|map| map.blocks[0].offset = 0),
            "previous",
        ),
        ("blob size", with_map(&|map| map.blob_size += 1), "trailer"),
        ("input length", with_map(&|map| map.total_in = 1), "add up"),
        (
            "block longer than the block size",
            with_map(&|map| map.blocks[1].raw_len = 1001),
            "block size",
        ),
        (
            "empty compressed block",
            with_map(&|map| map.blocks[1].length = 0),
            "empty",
        ),
        (
            "no blocks",
            with_map(&|map| map.blocks.clear()),
            "no blocks",
        ),
        ("level", with_map(&|map| map.level = 10), "level"),
    ];
    for (name, bytes, message) in cases {
        let error = BlockMap::decode(&bytes).unwrap_err();
        assert!(
            error.to_string().contains(message),
            "{name}: {error} lacks {message:?}"
        );
    }
}

/// A temp file holding `bytes`, opened for reading.
fn file_with(bytes: &[u8]) -> (tempfile::NamedTempFile, File) {
    let mut temp = tempfile::NamedTempFile::new().unwrap();
    temp.write_all(bytes).unwrap();
    let file = File::open(temp.path()).unwrap();
    (temp, file)
}

#[test]
fn blob_blocks_read_at_the_mapped_place_and_check_crc_and_length() {
    let map = sample_map();
    let mut blob = vec![0u8; map.blob_size as usize];
    blob[10..310].fill(b'a');
    blob[310..510].fill(b'b');
    let (_temp, file) = file_with(&blob);
    let mut source = BlobBlocks::new();
    assert!(source.is_empty());
    source.add(&map, file).unwrap();
    assert_eq!(source.len(), 2);
    type Case = ([u8; 16], u32, u32, Option<Vec<u8>>);
    let cases: [Case; 5] = [
        ([1; 16], 0xdead_beef, 1000, Some(vec![b'a'; 300])),
        ([2; 16], 7, 500, Some(vec![b'b'; 200])),
        ([2; 16], 8, 500, None),
        ([2; 16], 7, 499, None),
        ([3; 16], 7, 500, None),
    ];
    for (key, crc, raw_len, expected) in cases {
        assert_eq!(
            source.compressed(&key, crc, raw_len),
            expected,
            "key {} crc {crc} len {raw_len}",
            key[0]
        );
    }
}

#[test]
fn blob_blocks_reject_a_blob_of_another_size() {
    let map = sample_map();
    let (_temp, file) = file_with(&[0u8; 100]);
    let mut source = BlobBlocks::new();
    let error = source.add(&map, file).unwrap_err();
    assert!(
        matches!(
            error,
            BlockMapError::BlobSize {
                expected: 518,
                found: 100
            }
        ),
        "{error}"
    );
    assert!(source.is_empty());
}

#[test]
fn the_first_blob_added_wins_for_a_shared_key() {
    let map = sample_map();
    let mut first = vec![0u8; map.blob_size as usize];
    first[10..310].fill(b'1');
    let mut second = first.clone();
    second[10..310].fill(b'2');
    let (_first_temp, first_file) = file_with(&first);
    let (_second_temp, second_file) = file_with(&second);
    let mut source = BlobBlocks::new();
    source.add(&map, first_file).unwrap();
    source.add(&map, second_file).unwrap();
    assert_eq!(source.len(), 2);
    assert_eq!(
        source.compressed(&[1; 16], 0xdead_beef, 1000),
        Some(vec![b'1'; 300])
    );
}
