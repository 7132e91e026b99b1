//! Content digests (`sha256:<hex>`) and the reader/writer adapters that compute them.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// A validated content digest: `sha256:<64 lowercase hex>` or `sha512:<128 lowercase hex>`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    value: String,
}

impl Digest {
    /// The sha256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        Digest::from_sha256(Sha256::digest(bytes).into())
    }

    /// The digest for a raw sha256 hash value.
    pub fn from_sha256(hash: [u8; 32]) -> Digest {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut value = String::with_capacity(7 + 64);
        value.push_str("sha256:");
        for byte in hash {
            value.push(char::from(HEX[usize::from(byte >> 4)]));
            value.push(char::from(HEX[usize::from(byte & 15)]));
        }
        Digest { value }
    }

    /// The algorithm part, e.g. `sha256`.
    pub fn algorithm(&self) -> &str {
        self.value
            .split_once(':')
            .map_or("", |(algorithm, _)| algorithm)
    }

    /// The hex part after the colon.
    pub fn hex(&self) -> &str {
        self.value.split_once(':').map_or("", |(_, hex)| hex)
    }

    /// The whole digest, `algorithm:hex`.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The first 12 hex characters, as `docker images` shows image IDs.
    pub fn short(&self) -> &str {
        let hex = self.hex();
        &hex[..hex.len().min(12)]
    }

    /// Whether `bytes` hash to this digest (any supported algorithm).
    pub fn matches(&self, bytes: &[u8]) -> bool {
        self.hasher_digest(bytes) == *self
    }

    /// A fresh hasher for this digest's algorithm.
    pub(crate) fn hasher(&self) -> AnyHasher {
        if self.algorithm() == "sha512" {
            AnyHasher::Sha512(sha2::Sha512::new())
        } else {
            AnyHasher::Sha256(Sha256::new())
        }
    }
}

/// A hasher for either supported algorithm, used to verify blobs.
pub(crate) enum AnyHasher {
    Sha256(Sha256),
    Sha512(sha2::Sha512),
}

impl AnyHasher {
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            AnyHasher::Sha256(hasher) => hasher.update(bytes),
            AnyHasher::Sha512(hasher) => hasher.update(bytes),
        }
    }

    pub(crate) fn finish(self) -> Digest {
        match self {
            AnyHasher::Sha256(hasher) => Digest::from_sha256(hasher.finalize().into()),
            AnyHasher::Sha512(hasher) => Digest {
                value: format!("sha512:{}", hex::encode(hasher.finalize())),
            },
        }
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(value: &str) -> Result<Digest> {
        let invalid = || Error::InvalidDigest {
            value: value.to_string(),
        };
        let (algorithm, hex) = value.split_once(':').ok_or_else(invalid)?;
        let expected_len = match algorithm {
            "sha256" => 64,
            "sha512" => 128,
            _ => return Err(invalid()),
        };
        let lower_hex = hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if hex.len() != expected_len || !lower_hex {
            return Err(invalid());
        }
        Ok(Digest {
            value: value.to_string(),
        })
    }
}

impl TryFrom<&oci_spec::image::Digest> for Digest {
    type Error = Error;

    fn try_from(digest: &oci_spec::image::Digest) -> Result<Digest> {
        digest.as_ref().parse()
    }
}

impl From<&Digest> for oci_spec::image::Digest {
    fn from(digest: &Digest) -> oci_spec::image::Digest {
        // Every kiln digest (sha256/sha512 with lowercase hex of the right
        // length) satisfies oci-spec's grammar, so this cannot fail.
        #[allow(clippy::expect_used)]
        oci_spec::image::Digest::from_str(digest.as_str())
            .expect("a validated kiln digest is a valid oci-spec digest")
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.value)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Digest, D::Error> {
        let value = String::deserialize(deserializer)?;
        value.parse().map_err(serde::de::Error::custom)
    }
}

/// A [`Write`] adapter that forwards bytes to `inner` while sha256-hashing and counting them.
pub struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Bytes accepted by `inner` so far.
    pub fn bytes_written(&self) -> u64 {
        self.count
    }

    /// The digest of the bytes written so far.
    pub fn digest(&self) -> Digest {
        Digest::from_sha256(self.hasher.clone().finalize().into())
    }

    /// The wrapped writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The wrapped writer, mutably; bytes written through it directly are not hashed.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Unwraps into the writer, the digest and the byte count.
    pub fn finish(self) -> (W, Digest, u64) {
        let digest = Digest::from_sha256(self.hasher.finalize().into());
        (self.inner, digest, self.count)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.count += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A [`Read`] adapter that sha256-hashes and counts the bytes read through it.
pub struct HashingReader<R: Read> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.count
    }

    /// The digest of the bytes read so far.
    pub fn digest(&self) -> Digest {
        Digest::from_sha256(self.hasher.clone().finalize().into())
    }

    /// Unwraps into the reader, the digest and the byte count.
    pub fn finish(self) -> (R, Digest, u64) {
        let digest = Digest::from_sha256(self.hasher.finalize().into());
        (self.inner, digest, self.count)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.hasher.update(&buf[..read]);
        self.count += read as u64;
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parse_table() {
        let sha512 = format!("sha512:{}", "a".repeat(128));
        let cases: Vec<(String, bool)> = vec![
            (EMPTY.to_string(), true),
            (sha512.clone(), true),
            (format!("sha256:{}", "A".repeat(64)), false),
            (format!("sha256:{}", "a".repeat(63)), false),
            (format!("sha256:{}", "a".repeat(65)), false),
            (format!("sha512:{}", "a".repeat(64)), false),
            (format!("md5:{}", "a".repeat(32)), false),
            ("sha256".to_string(), false),
            (String::new(), false),
            (format!("sha256:{}g", "a".repeat(63)), false),
        ];
        for (input, ok) in cases {
            assert_eq!(input.parse::<Digest>().is_ok(), ok, "{input}");
        }
    }

    #[test]
    fn accessors_and_hashing() {
        let digest = Digest::sha256_of(b"");
        assert_eq!(digest.as_str(), EMPTY);
        assert_eq!(digest.to_string(), EMPTY);
        assert_eq!(format!("{digest:?}"), EMPTY);
        assert_eq!(digest.algorithm(), "sha256");
        assert_eq!(digest.hex().len(), 64);
        assert_eq!(digest.short(), "e3b0c44298fc");
        assert!(digest.matches(b""));
        assert!(!digest.matches(b"x"));
        assert_eq!(EMPTY.parse::<Digest>().unwrap(), digest);
    }

    #[test]
    fn sha512_matches() {
        let digest: Digest = "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e".parse().unwrap();
        assert!(digest.matches(b""));
        assert_eq!(digest.algorithm(), "sha512");
    }

    #[test]
    fn serde_round_trip() {
        let digest = Digest::sha256_of(b"hello");
        let json = serde_json::to_string(&digest).unwrap();
        assert_eq!(json, format!("\"{digest}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), digest);
        assert!(serde_json::from_str::<Digest>("\"sha256:zz\"").is_err());
    }

    #[test]
    fn hashing_writer_and_reader() {
        let mut writer = HashingWriter::new(Vec::new());
        writer.write_all(b"hel").unwrap();
        assert_eq!(writer.digest(), Digest::sha256_of(b"hel"));
        writer.write_all(b"lo").unwrap();
        assert_eq!(writer.bytes_written(), 5);
        assert_eq!(writer.get_ref().len(), 5);
        let (bytes, digest, count) = writer.finish();
        assert_eq!((bytes.as_slice(), count), (&b"hello"[..], 5));
        assert_eq!(digest, Digest::sha256_of(b"hello"));

        let mut reader = HashingReader::new(&b"hello world"[..]);
        let mut out = String::new();
        reader.read_to_string(&mut out).unwrap();
        assert_eq!(reader.bytes_read(), 11);
        let (_, digest, count) = reader.finish();
        assert_eq!(count, 11);
        assert_eq!(digest, Digest::sha256_of(b"hello world"));
    }

    #[test]
    fn oci_spec_conversion() {
        let digest = Digest::sha256_of(b"x");
        let oci: oci_spec::image::Digest = (&digest).into();
        assert_eq!(Digest::try_from(&oci).unwrap(), digest);
    }
}
