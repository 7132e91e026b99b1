//! Reading blobs while checking them against their descriptor's digest and size.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::descriptor::BlobSource;
use crate::digest::{AnyHasher, Digest};
use crate::error::{Error, Result};

/// A reader that hashes (with the expected digest's algorithm) and counts what passes through.
pub(crate) struct VerifyingReader<R: Read> {
    inner: R,
    hasher: AnyHasher,
    count: u64,
}

impl<R: Read> VerifyingReader<R> {
    pub(crate) fn new(inner: R, expected: &Digest) -> Self {
        VerifyingReader {
            inner,
            hasher: expected.hasher(),
            count: 0,
        }
    }

    /// Drains what is left of `inner` (counting it) and checks size, then digest.
    pub(crate) fn finish(mut self, expected: &Digest, expected_size: u64) -> Result<()> {
        let mut buffer = [0u8; 8192];
        loop {
            let read = self.read(&mut buffer).map_err(|source| Error::BlobRead {
                digest: expected.clone(),
                source,
            })?;
            if read == 0 || self.count > expected_size {
                break;
            }
        }
        check(expected, expected_size, self.hasher.finish(), self.count)
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.hasher.update(&buf[..read]);
        self.count += read as u64;
        Ok(read)
    }
}

/// Checks size first (cheaper to read in an error message), then digest.
pub(crate) fn check(
    expected: &Digest,
    expected_size: u64,
    found: Digest,
    found_size: u64,
) -> Result<()> {
    if found_size != expected_size {
        return Err(Error::SizeMismatch {
            digest: expected.clone(),
            expected: expected_size,
            found: found_size,
        });
    }
    if found != *expected {
        return Err(Error::DigestMismatch {
            expected: expected.clone(),
            found,
        });
    }
    Ok(())
}

/// Reads a (small) blob fully into memory, refusing more than `size` bytes, and verifies it.
pub(crate) fn read_verified(blobs: &dyn BlobSource, digest: &Digest, size: u64) -> Result<Vec<u8>> {
    let blob_error = |source| Error::BlobRead {
        digest: digest.clone(),
        source,
    };
    let reader = blobs.open_blob(digest).map_err(blob_error)?;
    let mut bytes = Vec::new();
    reader
        .take(size.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(blob_error)?;
    check(
        digest,
        size,
        digest.hasher_digest(&bytes),
        bytes.len() as u64,
    )?;
    Ok(bytes)
}

/// Verifies a file on disk against a digest and size.
pub(crate) fn verify_file(path: &Path, digest: &Digest, size: u64) -> Result<()> {
    let file = File::open(path).map_err(|source| Error::io("open blob", path, source))?;
    let mut reader = VerifyingReader::new(file, digest);
    io::copy(&mut reader, &mut io::sink())
        .map_err(|source| Error::io("read blob", path, source))?;
    reader.finish(digest, size)
}

impl Digest {
    /// The digest of `bytes` computed with this digest's algorithm.
    pub(crate) fn hasher_digest(&self, bytes: &[u8]) -> Digest {
        let mut hasher = self.hasher();
        hasher.update(bytes);
        hasher.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifying_reader_detects_problems() {
        let digest = Digest::sha256_of(b"hello");
        let cases: [(&[u8], u64, &str); 4] = [
            (b"hello", 5, "ok"),
            (b"hellO", 5, "digest"),
            (b"hello!", 5, "size"),
            (b"hell", 5, "size"),
        ];
        for (bytes, size, expected) in cases {
            let mut reader = VerifyingReader::new(bytes, &digest);
            let mut first = vec![0u8; size as usize];
            let _ = reader.read(&mut first).unwrap();
            let outcome = match reader.finish(&digest, size) {
                Ok(()) => "ok",
                Err(Error::DigestMismatch { .. }) => "digest",
                Err(Error::SizeMismatch { .. }) => "size",
                Err(other) => panic!("{other}"),
            };
            assert_eq!(outcome, expected, "{bytes:?}");
        }
    }
}
