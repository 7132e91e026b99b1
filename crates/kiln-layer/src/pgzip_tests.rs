//! Tests of the parallel gzip encoder: round trips, determinism, header and trailer, and a
//! hand-run throughput benchmark.

use super::*;
use std::io::Read;
use std::path::Path;
use std::process::Command;

/// Deterministic pseudo-random bytes (xorshift64*).
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        bytes.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// Deterministic text-like bytes: words from a small vocabulary, lines, some numbers.
fn text_bytes(len: usize, seed: u64) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "layer", "digest", "the", "of", "image", "build", "cache", "kiln", "tar", "gzip",
        "manifest", "config", "fn", "let", "mut", "return", "struct", "impl", "=", "{", "}",
    ];
    let noise = random_bytes(len / 2 + 16, seed);
    let mut text = Vec::with_capacity(len + 16);
    let mut index = 0;
    while text.len() < len {
        let pick = usize::from(noise[index % noise.len()]);
        index += 1;
        text.extend_from_slice(WORDS[pick % WORDS.len()].as_bytes());
        text.push(match pick % 11 {
            0 => b'\n',
            1 => b'0' + (pick % 10) as u8,
            _ => b' ',
        });
    }
    text.truncate(len);
    text
}

fn encode(data: &[u8], level: u32, threads: usize, block_size: usize) -> Vec<u8> {
    let mut encoder = ParallelGzEncoder::with_block_size(Vec::new(), level, threads, block_size);
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn gunzip_single(bytes: &[u8]) -> Vec<u8> {
    let mut output = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut output)
        .unwrap();
    output
}

fn gunzip_multi(bytes: &[u8]) -> Vec<u8> {
    let mut output = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut output)
        .unwrap();
    output
}

/// `gzip -dc` of `bytes`, or `None` when gzip is not installed.
fn system_gunzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.gz");
    std::fs::write(&path, bytes).unwrap();
    let output = match Command::new("gzip").arg("-dc").arg(&path).output() {
        Ok(output) => output,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return None,
        Err(error) => panic!("running gzip: {error}"),
    };
    assert!(
        output.status.success(),
        "gzip -dc failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(output.stdout)
}

/// Bitwise reference CRC-32 (IEEE, reflected, polynomial 0xedb88320).
fn reference_crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn round_trips_through_flate2_and_system_gzip() {
    let sizes = [
        0,
        1,
        BLOCK_SIZE - 1,
        BLOCK_SIZE,
        BLOCK_SIZE + 1,
        10 * BLOCK_SIZE + 7,
    ];
    let mut gzip_missing = false;
    for size in sizes {
        for (kind, data) in [
            ("random", random_bytes(size, 7)),
            ("text", text_bytes(size, 11)),
        ] {
            let compressed = encode(&data, 6, 2, BLOCK_SIZE);
            assert_eq!(gunzip_single(&compressed), data, "{kind} {size} GzDecoder");
            assert_eq!(
                gunzip_multi(&compressed),
                data,
                "{kind} {size} MultiGzDecoder"
            );
            match system_gunzip(&compressed) {
                Some(output) => assert!(output == data, "{kind} {size}: gzip -dc differs"),
                None => gzip_missing = true,
            }
        }
    }
    if gzip_missing {
        eprintln!("skipping the gzip -dc checks: gzip is not installed");
    }
}

#[test]
fn small_blocks_and_every_level_round_trip() {
    // Blocks smaller than the 32 KiB window exercise dictionaries spanning several blocks.
    let data = text_bytes(100_000, 3);
    for level in 0..=9 {
        for block_size in [1, 1000, 40_000] {
            let slice = if block_size == 1 {
                &data[..3000]
            } else {
                &data[..]
            };
            let compressed = encode(slice, level, 3, block_size);
            assert_eq!(
                gunzip_single(&compressed),
                slice,
                "level {level} block {block_size}"
            );
        }
    }
}

#[test]
fn bytes_do_not_depend_on_threads_or_write_sizes() {
    // Mixed content (text, noise, runs, real source code), so that blocks differ a lot.
    let mut data = text_bytes(3 * BLOCK_SIZE + 123, 5);
    data.extend(random_bytes(BLOCK_SIZE / 2, 9));
    data.extend(std::iter::repeat_n(b'a', BLOCK_SIZE / 3));
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut names: Vec<_> = std::fs::read_dir(&sources)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    names.sort();
    for name in names {
        data.extend(std::fs::read(name).unwrap());
    }
    for level in [1, 6] {
        let reference = encode(&data, level, 1, BLOCK_SIZE);
        for threads in [2, 3, 8, 2] {
            assert!(
                encode(&data, level, threads, BLOCK_SIZE) == reference,
                "level {level}: threads {threads} changed the bytes"
            );
        }
    }
    let reference = encode(&data, 6, 1, BLOCK_SIZE);
    // Odd write sizes and flushes in the middle change nothing either.
    let mut encoder = ParallelGzEncoder::new(Vec::new(), 6, 4);
    for (index, chunk) in data.chunks(4093).enumerate() {
        encoder.write_all(chunk).unwrap();
        if index % 7 == 0 {
            encoder.flush().unwrap();
        }
    }
    assert!(
        encoder.finish().unwrap() == reference,
        "chunked writes changed the bytes"
    );
}

#[test]
fn pinned_digest_of_a_fixed_input() {
    let data = text_bytes(3 * BLOCK_SIZE + 1000, 42);
    let compressed = encode(&data, 6, 3, BLOCK_SIZE);
    assert_eq!(
        kiln_oci::Digest::sha256_of(&compressed).to_string(),
        "sha256:5d4949ac155fcbbbe02002851529a359c2b191f378503341cd47389b4ff7ea62",
        "parallel gzip bytes changed (every gzip layer digest changes with them)"
    );
}

#[test]
fn header_is_fixed_and_trailer_holds_crc_and_length() {
    let cases: [(u32, u8); 4] = [(1, 4), (6, 0), (9, 2), (0, 4)];
    let data = random_bytes(2 * BLOCK_SIZE + 5, 1);
    for (level, extra_flags) in cases {
        let compressed = encode(&data, level, 2, BLOCK_SIZE);
        assert_eq!(
            compressed[..10],
            [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, extra_flags, 255],
            "level {level}"
        );
        let trailer = &compressed[compressed.len() - 8..];
        assert_eq!(trailer[..4], reference_crc32(&data).to_le_bytes());
        assert_eq!(trailer[4..], (data.len() as u32).to_le_bytes());
    }
    // The empty stream: header, an empty final block, CRC 0, length 0.
    let empty = encode(&[], 6, 2, BLOCK_SIZE);
    assert_eq!(empty[..10], gzip_header(6));
    assert_eq!(empty[10..], [3, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn the_header_matches_flate2s_gz_builder() {
    for level in 0..=9 {
        let mut encoder = flate2::GzBuilder::new()
            .operating_system(255)
            .mtime(0)
            .write(Vec::new(), Compression::new(level));
        encoder.write_all(b"x").unwrap();
        let bytes = encoder.finish().unwrap();
        assert_eq!(bytes[..10], gzip_header(level), "level {level}");
    }
}

#[test]
fn the_dictionary_keeps_the_ratio_close_to_one_stream() {
    // Repeats farther apart than one block but within the window only compress well if each
    // block sees the previous block's tail.
    let unit = random_bytes(20_000, 13);
    let data: Vec<u8> = unit.iter().cycle().take(400_000).copied().collect();
    let parallel = encode(&data, 6, 2, 16 * 1024).len();
    assert!(parallel < 30_000, "compressed to {parallel} bytes");
}

#[test]
fn an_output_error_is_reported() {
    struct Failing;
    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    for threads in [1, 2] {
        let mut encoder = ParallelGzEncoder::with_block_size(Failing, 6, threads, 100);
        let written = encoder.write_all(&[7u8; 10_000]);
        let error = written
            .and_then(|()| encoder.finish().map(|_| ()))
            .unwrap_err();
        assert_eq!(error.to_string(), "disk on fire");
    }
}

/// Throughput by hand: `cargo test --release -p kiln-layer bench_parallel_gzip -- --ignored
/// --nocapture`; `KILN_BENCH_INPUT=file.tar` measures a real file instead of synthetic text.
#[test]
#[ignore = "benchmark, run by hand in release mode"]
fn bench_parallel_gzip() {
    // The fastest of three runs, to damp the noise of a shared machine.
    fn best_of_three<T>(mut run: impl FnMut() -> T) -> (f64, T) {
        let mut best = None;
        for _ in 0..3 {
            let start = std::time::Instant::now();
            let value = run();
            let seconds = start.elapsed().as_secs_f64();
            if best.as_ref().is_none_or(|(fastest, _)| seconds < *fastest) {
                best = Some((seconds, value));
            }
        }
        best.unwrap()
    }
    let data = match std::env::var_os("KILN_BENCH_INPUT") {
        Some(path) => std::fs::read(path).unwrap(),
        None => text_bytes(64 << 20, 1),
    };
    let megabytes = data.len() as f64 / 1e6;
    let levels: Vec<u32> = std::env::var("KILN_BENCH_LEVELS")
        .unwrap_or_else(|_| "1,6".into())
        .split(',')
        .map(|level| level.trim().parse().unwrap())
        .collect();
    for level in levels {
        let (seconds, single) = best_of_three(|| {
            let mut single = flate2::GzBuilder::new().write(Vec::new(), Compression::new(level));
            single.write_all(&data).unwrap();
            single.finish().unwrap()
        });
        eprintln!(
            "level {level} flate2 GzEncoder: {:.2} s, {:.0} MB/s, ratio {:.3}",
            seconds,
            megabytes / seconds,
            single.len() as f64 / data.len() as f64
        );
        for threads in [1, default_threads()] {
            let (seconds, compressed) = best_of_three(|| encode(&data, level, threads, BLOCK_SIZE));
            eprintln!(
                "level {level} pgzip threads {threads}: {:.2} s, {:.0} MB/s, ratio {:.3}",
                seconds,
                megabytes / seconds,
                compressed.len() as f64 / data.len() as f64
            );
        }
        // As write_layer runs it: sha256 of the input and of the output in the same pass.
        let (seconds, size) = best_of_three(|| {
            let output = kiln_oci::HashingWriter::new(io::sink());
            let mut input = kiln_oci::HashingWriter::new(ParallelGzEncoder::new(output, level, 0));
            input.write_all(&data).unwrap();
            let (encoder, _diff_id, _) = input.finish();
            encoder.finish().unwrap().finish().2
        });
        eprintln!(
            "level {level} pgzip + both sha256: {:.2} s, {:.0} MB/s, {size} bytes",
            seconds,
            megabytes / seconds
        );
    }
}

/// Determinism on a big input, by hand: `KILN_BENCH_INPUT=file.tar cargo test --release -p
/// kiln-layer determinism_on_a_big_input -- --ignored --nocapture`.
#[test]
#[ignore = "slow; run by hand in release mode"]
fn determinism_on_a_big_input() {
    let data = match std::env::var_os("KILN_BENCH_INPUT") {
        Some(path) => std::fs::read(path).unwrap(),
        None => text_bytes(64 << 20, 1),
    };
    for level in [1, 3, 6] {
        let digests: Vec<String> = [1, 2, 2, 3, 1]
            .iter()
            .map(|&threads| {
                let compressed = encode(&data, level, threads, BLOCK_SIZE);
                let digest = kiln_oci::Digest::sha256_of(&compressed).to_string();
                eprintln!(
                    "level {level} threads {threads}: {} {digest}",
                    compressed.len()
                );
                digest
            })
            .collect();
        assert!(
            digests.iter().all(|digest| *digest == digests[0]),
            "level {level}"
        );
    }
}
