//! Recognising and undoing the compression of layer and archive streams, and recognising tar.

use std::io::{self, Cursor, Read};

use crate::error::{Error, Result};

/// A compression format recognised by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    /// `1f 8b`.
    Gzip,
    /// `BZh`.
    Bzip2,
    /// `fd 37 7a 58 5a 00`.
    Xz,
    /// `28 b5 2f fd`.
    Zstd,
    /// None of the above: assumed uncompressed.
    None,
}

impl Detected {
    /// A lowercase name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Detected::Gzip => "gzip",
            Detected::Bzip2 => "bzip2",
            Detected::Xz => "xz",
            Detected::Zstd => "zstd",
            Detected::None => "none",
        }
    }
}

/// The longest magic number [`sniff`] looks at.
const MAGIC_LEN: usize = 6;

/// The compression format whose magic bytes start `prefix`.
pub fn sniff(prefix: &[u8]) -> Detected {
    if prefix.starts_with(&[0x1f, 0x8b]) {
        Detected::Gzip
    } else if prefix.starts_with(b"BZh") {
        Detected::Bzip2
    } else if prefix.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Detected::Xz
    } else if prefix.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Detected::Zstd
    } else {
        Detected::None
    }
}

/// Peeks at the start of `reader` and returns the detected format and a reader of the
/// decompressed bytes (the input itself when uncompressed). Zstd is not supported.
pub fn decompress<'a, R: Read + 'a>(mut reader: R) -> Result<(Detected, Box<dyn Read + 'a>)> {
    let mut prefix = Vec::with_capacity(MAGIC_LEN);
    (&mut reader)
        .take(MAGIC_LEN as u64)
        .read_to_end(&mut prefix)
        .map_err(|source| Error::io("<input>", source))?;
    let detected = sniff(&prefix);
    let whole = Cursor::new(prefix).chain(reader);
    let decoded: Box<dyn Read + 'a> = match detected {
        Detected::Gzip => Box::new(flate2::read::MultiGzDecoder::new(whole)),
        Detected::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(whole)),
        Detected::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(whole)),
        Detected::Zstd => {
            return Err(Error::UnsupportedCompression {
                kind: detected.name(),
            })
        }
        Detected::None => Box::new(whole),
    };
    Ok((detected, decoded))
}

/// Whether `header_block` (the first 512 bytes of a file) is a valid tar header: not all
/// zeros and with a correct checksum (unsigned or, as some old writers did, signed).
pub fn looks_like_tar(header_block: &[u8]) -> bool {
    let Some(block) = header_block.get(..512) else {
        return false;
    };
    if block.iter().all(|&b| b == 0) {
        return false;
    }
    let Some(stored) = parse_octal(&block[148..156]) else {
        return false;
    };
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (index, &byte) in block.iter().enumerate() {
        let byte = if (148..156).contains(&index) {
            b' '
        } else {
            byte
        };
        unsigned += u64::from(byte);
        signed += i64::from(byte as i8);
    }
    stored == unsigned || i64::try_from(stored).is_ok_and(|stored| stored == signed)
}

/// Parses an octal header field padded with spaces or NULs.
fn parse_octal(field: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(field).ok()?;
    let digits = text.trim_matches(|c: char| c == ' ' || c == '\0');
    if digits.is_empty() {
        return None;
    }
    u64::from_str_radix(digits, 8).ok()
}

/// Reads into `buffer` until it is full or the input ends; returns the count read.
pub fn read_prefix<R: Read>(reader: &mut R, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn payload() -> Vec<u8> {
        (0..10_000u32).flat_map(|i| i.to_le_bytes()).collect()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn bzip2(data: &[u8]) -> Vec<u8> {
        let mut encoder = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn xz(data: &[u8]) -> Vec<u8> {
        let mut encoder = liblzma::write::XzEncoder::new(Vec::new(), 1);
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn sniff_and_decompress_round_trip() {
        let data = payload();
        let cases = [
            (gzip(&data), Detected::Gzip),
            (bzip2(&data), Detected::Bzip2),
            (xz(&data), Detected::Xz),
            (data.clone(), Detected::None),
        ];
        for (input, expected) in cases {
            assert_eq!(sniff(&input), expected);
            let (detected, mut reader) = decompress(input.as_slice()).unwrap();
            assert_eq!(detected, expected);
            let mut output = Vec::new();
            reader.read_to_end(&mut output).unwrap();
            assert_eq!(output, data, "{expected:?}");
        }
    }

    #[test]
    fn concatenated_gzip_members_are_all_read() {
        let mut input = gzip(b"hello ");
        input.extend(gzip(b"world"));
        let (_, mut reader) = decompress(input.as_slice()).unwrap();
        let mut output = String::new();
        reader.read_to_string(&mut output).unwrap();
        assert_eq!(output, "hello world");
    }

    #[test]
    fn zstd_is_unsupported_and_short_inputs_are_plain() {
        let zstd = [0x28, 0xb5, 0x2f, 0xfd, 0, 0];
        assert_eq!(sniff(&zstd), Detected::Zstd);
        assert!(matches!(
            decompress(&zstd[..]),
            Err(Error::UnsupportedCompression { kind: "zstd" })
        ));
        let (detected, mut reader) = decompress(&b"ab"[..]).unwrap();
        assert_eq!(detected, Detected::None);
        let mut output = Vec::new();
        reader.read_to_end(&mut output).unwrap();
        assert_eq!(output, b"ab");
    }

    #[test]
    fn looks_like_tar_checks_the_checksum() {
        let mut header = tar::Header::new_gnu();
        header.set_path("hello.txt").unwrap();
        header.set_size(3);
        header.set_cksum();
        let block = header.as_bytes().to_vec();
        assert!(looks_like_tar(&block));
        let mut corrupted = block.clone();
        corrupted[0] ^= 1;
        assert!(!looks_like_tar(&corrupted));
        assert!(!looks_like_tar(&[0u8; 512]));
        assert!(!looks_like_tar(&block[..100]));
        assert!(!looks_like_tar(&[b'a'; 512]));
    }

    #[test]
    fn read_prefix_fills_across_short_reads() {
        let mut reader = Cursor::new(b"abc".to_vec()).chain(Cursor::new(b"def".to_vec()));
        let mut buffer = [0u8; 5];
        assert_eq!(read_prefix(&mut reader, &mut buffer).unwrap(), 5);
        assert_eq!(&buffer, b"abcde");
    }
}
