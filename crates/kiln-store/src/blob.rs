//! Content-addressed blobs: lookup, reading, and the verified ingest path.
//!
//! Every blob enters the store the same way: a [`BlobWriter`] writes into a
//! uniquely named temp file under `ingest/`, hashing the bytes as they pass;
//! `commit` fsyncs the file, makes it read-only, renames it to
//! `blobs/sha256/<hex>` (never replacing an existing blob) and fsyncs the
//! directory.
//!
//! Crash safety, i.e. what a `kill -9` leaves behind at each point:
//! - while writing, or after the fsync but before the rename: a temp file in
//!   `ingest/` and nothing in `blobs/`; prune may delete `ingest/` whenever no
//!   kiln runs;
//! - after the rename: the complete, fsync'd blob under its digest. The
//!   rename is atomic, so `blobs/` never holds a partial or unverified file;
//!   only the directory entry may be lost on power failure before the
//!   directory fsync, in which case the blob is simply absent;
//! - a digest mismatch in `commit_verified` removes the temp file before the
//!   rename, so bad content never gets a name in `blobs/`.
//!
//! Writing a blob that is already present leaves the file alone but bumps its
//! mtime, so that `prune`'s age window protects a reused blob as well as a
//! new one (see [`crate::gc`]).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use kiln_oci::{Digest, HashingWriter};
use tempfile::NamedTempFile;

use crate::error::{Error, Result};
use crate::store::{sync_dir, Store};

/// Mode of blob files once they are in place.
const BLOB_MODE: u32 = 0o444;

impl Store {
    /// Where the blob with `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root()
            .join("blobs")
            .join(digest.algorithm())
            .join(digest.hex())
    }

    /// Whether the blob is in the store.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Opens the blob for reading; [`Error::BlobNotFound`] when it is missing.
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(|source| self.not_found_or_io(digest, path, source))
    }

    /// Reads the whole blob into memory.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        fs::read(&path).map_err(|source| self.not_found_or_io(digest, path, source))
    }

    /// The size of the blob in bytes.
    pub fn blob_size(&self, digest: &Digest) -> Result<u64> {
        let path = self.blob_path(digest);
        fs::metadata(&path)
            .map(|meta| meta.len())
            .map_err(|source| self.not_found_or_io(digest, path, source))
    }

    /// Stores `bytes` as a blob and returns its digest; does nothing if the
    /// blob is already present.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = Digest::sha256_of(bytes);
        if self.has_blob(&digest) {
            self.touch_blob(&digest);
            return Ok(digest);
        }
        let mut writer = self.blob_writer()?;
        writer
            .inner
            .write_all(bytes)
            .map_err(|source| Error::io(writer.temp_path(), source))?;
        writer.commit_verified(&digest)?;
        Ok(digest)
    }

    /// Starts a new blob in `ingest/`.
    pub fn blob_writer(&self) -> Result<BlobWriter> {
        let ingest = self.root().join("ingest");
        let temp = tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(&ingest)
            .map_err(|source| Error::io(ingest, source))?;
        Ok(BlobWriter {
            store: self.clone(),
            temp_path: temp.path().to_path_buf(),
            inner: HashingWriter::new(temp),
        })
    }

    /// Streams the file at `path` into the store, checks that it hashes to
    /// `expected`, and returns its size. Skips the copy if the blob is present.
    pub fn import_file(&self, path: &std::path::Path, expected: &Digest) -> Result<u64> {
        if self.has_blob(expected) {
            self.touch_blob(expected);
            return self.blob_size(expected);
        }
        let mut source = File::open(path).map_err(|source| Error::io(path, source))?;
        let mut writer = self.blob_writer()?;
        copy_into(&mut source, &mut writer.inner).map_err(|error| match error {
            CopyError::Read(source) => Error::io(path, source),
            CopyError::Write(source) => Error::io(writer.temp_path(), source),
        })?;
        writer.commit_verified(expected)
    }

    /// Sets the blob's mtime to now, so that prune's age window (see
    /// [`crate::gc`]) treats a blob a writer just reused like one it just
    /// wrote. Best effort: a store the user may read but not modify (or a
    /// blob owned by someone else) keeps its old mtime, which only makes
    /// prune's default mode less cautious for that blob, never a write fail.
    fn touch_blob(&self, digest: &Digest) {
        let path = self.blob_path(digest);
        if let Ok(file) = File::open(&path) {
            let _ = file.set_modified(std::time::SystemTime::now());
        }
    }

    fn not_found_or_io(&self, digest: &Digest, path: PathBuf, source: io::Error) -> Error {
        if source.kind() == io::ErrorKind::NotFound {
            Error::BlobNotFound {
                digest: digest.clone(),
            }
        } else {
            Error::io(path, source)
        }
    }
}

impl kiln_oci::BlobSource for Store {
    fn open_blob(&self, digest: &Digest) -> io::Result<Box<dyn Read + '_>> {
        let path = self.blob_path(digest);
        let file = File::open(&path)?;
        Ok(Box::new(file))
    }
}

/// Which side of a copy failed.
enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

/// `io::copy` that tells read errors from write errors.
fn copy_into(
    reader: &mut impl Read,
    writer: &mut impl Write,
) -> std::result::Result<u64, CopyError> {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => return Ok(total),
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(CopyError::Read(err)),
        };
        let Some(chunk) = buffer.get(..read) else {
            let error = io::Error::other("reader reported more bytes than the buffer holds");
            return Err(CopyError::Read(error));
        };
        writer.write_all(chunk).map_err(CopyError::Write)?;
        total += read as u64;
    }
}

/// A blob being written: a temp file in `ingest/` that hashes its bytes on
/// the way in. Dropping it without committing removes the temp file.
pub struct BlobWriter {
    store: Store,
    temp_path: PathBuf,
    inner: HashingWriter<NamedTempFile>,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.inner.bytes_written()
    }

    /// The temp file in `ingest/` this writer fills.
    pub fn temp_path(&self) -> &std::path::Path {
        &self.temp_path
    }

    /// Finishes the blob: fsync, rename into `blobs/sha256/<hex>` (dropping
    /// the temp file if the blob already exists), fsync the directory.
    /// Returns the digest and size of what was written.
    pub fn commit(self) -> Result<(Digest, u64)> {
        let (store, temp_path, temp, digest, size) = self.finish()?;
        store.install(temp, temp_path, &digest)?;
        Ok((digest, size))
    }

    /// Like [`BlobWriter::commit`], but only if the content hashes to
    /// `expected`; otherwise the temp file is removed, nothing enters
    /// `blobs/`, and [`Error::DigestMismatch`] is returned.
    pub fn commit_verified(self, expected: &Digest) -> Result<u64> {
        let (store, temp_path, temp, digest, size) = self.finish()?;
        if &digest != expected {
            drop(temp);
            return Err(Error::DigestMismatch {
                expected: expected.clone(),
                found: digest,
            });
        }
        store.install(temp, temp_path, &digest)?;
        Ok(size)
    }

    /// Flushes and fsyncs the temp file, returning it with its digest.
    fn finish(self) -> Result<(Store, PathBuf, NamedTempFile, Digest, u64)> {
        let BlobWriter {
            store,
            temp_path,
            inner,
        } = self;
        let (mut temp, digest, size) = inner.finish();
        temp.flush()
            .and_then(|()| temp.as_file().sync_all())
            .map_err(|source| Error::io(&temp_path, source))?;
        Ok((store, temp_path, temp, digest, size))
    }
}

impl Store {
    /// Moves a verified, fsync'd temp file to its place under `blobs/`.
    fn install(&self, temp: NamedTempFile, temp_path: PathBuf, digest: &Digest) -> Result<()> {
        let target = self.blob_path(digest);
        if target.is_file() {
            self.touch_blob(digest);
            return Ok(());
        }
        fs::set_permissions(&temp_path, fs::Permissions::from_mode(BLOB_MODE))
            .map_err(|source| Error::io(&temp_path, source))?;
        match temp.persist_noclobber(&target) {
            // Another writer won the race with identical content; ours is dropped.
            Err(err) if err.error.kind() == io::ErrorKind::AlreadyExists => {
                self.touch_blob(digest);
                return Ok(());
            }
            Err(err) => return Err(Error::io(&target, err.error)),
            Ok(_) => {}
        }
        match target.parent() {
            Some(dir) => sync_dir(dir),
            None => Ok(()),
        }
    }
}

impl std::fmt::Debug for BlobWriter {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("BlobWriter")
            .field("temp_path", &self.temp_path)
            .field("bytes_written", &self.bytes_written())
            .finish()
    }
}

/// Writes through [`Write`] report failures with the temp file's path in the
/// message (keeping the error kind), because callers such as a layer writer
/// see only an `io::Error`: a full disk then says which file it was writing.
impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner
            .write(buf)
            .map_err(|err| with_path(err, &self.temp_path))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner
            .flush()
            .map_err(|err| with_path(err, &self.temp_path))
    }
}

/// `err` with "failed to write PATH" in front of its message, same kind.
fn with_path(err: io::Error, path: &std::path::Path) -> io::Error {
    if err.kind() == io::ErrorKind::Interrupted {
        return err;
    }
    io::Error::new(
        err.kind(),
        format!("failed to write blob temp file {}: {err}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    fn ingest_entries(store: &Store) -> Vec<PathBuf> {
        fs::read_dir(store.root().join("ingest"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect()
    }

    fn blob_entries(store: &Store) -> Vec<PathBuf> {
        fs::read_dir(store.root().join("blobs/sha256"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect()
    }

    #[test]
    fn write_and_read_blobs() {
        let (_dir, store) = store();
        let cases: &[&[u8]] = &[b"", b"hello", &[0u8; 200_000]];
        for bytes in cases {
            let digest = store.write_blob(bytes).unwrap();
            assert_eq!(digest, Digest::sha256_of(bytes));
            assert!(store.has_blob(&digest));
            assert_eq!(store.read_blob(&digest).unwrap(), *bytes);
            assert_eq!(store.blob_size(&digest).unwrap(), bytes.len() as u64);
            let mut content = Vec::new();
            store
                .open_blob(&digest)
                .unwrap()
                .read_to_end(&mut content)
                .unwrap();
            assert_eq!(content, *bytes);
            let mode = fs::metadata(store.blob_path(&digest))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o444);
            // Writing again is a no-op that returns the same digest.
            assert_eq!(store.write_blob(bytes).unwrap(), digest);
        }
        assert_eq!(blob_entries(&store).len(), cases.len());
        assert!(ingest_entries(&store).is_empty());
    }

    #[test]
    fn missing_blob_errors() {
        let (_dir, store) = store();
        let digest = Digest::sha256_of(b"absent");
        assert!(!store.has_blob(&digest));
        assert!(matches!(
            store.open_blob(&digest),
            Err(Error::BlobNotFound { .. })
        ));
        assert!(matches!(
            store.read_blob(&digest),
            Err(Error::BlobNotFound { .. })
        ));
        assert!(matches!(
            store.blob_size(&digest),
            Err(Error::BlobNotFound { .. })
        ));
    }

    #[test]
    fn blob_path_layout() {
        let (dir, store) = store();
        let digest = Digest::sha256_of(b"x");
        assert_eq!(
            store.blob_path(&digest),
            dir.path().join("blobs/sha256").join(digest.hex())
        );
    }

    #[test]
    fn writer_commit_returns_digest_and_size() {
        let (_dir, store) = store();
        let mut writer = store.blob_writer().unwrap();
        writer.write_all(b"abc").unwrap();
        writer.write_all(b"def").unwrap();
        assert_eq!(writer.bytes_written(), 6);
        let (digest, size) = writer.commit().unwrap();
        assert_eq!(digest, Digest::sha256_of(b"abcdef"));
        assert_eq!(size, 6);
        assert_eq!(store.read_blob(&digest).unwrap(), b"abcdef");
        assert!(ingest_entries(&store).is_empty());
    }

    #[test]
    fn commit_verified_mismatch_leaves_nothing() {
        let (_dir, store) = store();
        let mut writer = store.blob_writer().unwrap();
        writer.write_all(b"actual").unwrap();
        let expected = Digest::sha256_of(b"expected");
        match writer.commit_verified(&expected) {
            Err(Error::DigestMismatch { expected: e, found }) => {
                assert_eq!(e, expected);
                assert_eq!(found, Digest::sha256_of(b"actual"));
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
        assert!(blob_entries(&store).is_empty());
        assert!(ingest_entries(&store).is_empty());
    }

    #[test]
    fn dropping_an_uncommitted_writer_cleans_up() {
        let (_dir, store) = store();
        let mut writer = store.blob_writer().unwrap();
        writer.write_all(b"partial").unwrap();
        let temp = writer.temp_path().to_path_buf();
        assert!(temp.starts_with(store.root().join("ingest")));
        assert!(temp.is_file());
        drop(writer);
        assert!(!temp.exists());
        assert!(ingest_entries(&store).is_empty());
        assert!(blob_entries(&store).is_empty());
    }

    #[test]
    fn import_file_verifies() {
        let (dir, store) = store();
        let source = dir.path().join("source.bin");
        fs::write(&source, b"layer bytes").unwrap();
        let good = Digest::sha256_of(b"layer bytes");
        let bad = Digest::sha256_of(b"something else");

        assert!(matches!(
            store.import_file(&source, &bad),
            Err(Error::DigestMismatch { .. })
        ));
        assert!(!store.has_blob(&bad));
        assert_eq!(store.import_file(&source, &good).unwrap(), 11);
        assert!(store.has_blob(&good));
        // Present already: skipped, even if the source is gone.
        fs::remove_file(&source).unwrap();
        assert_eq!(store.import_file(&source, &good).unwrap(), 11);
        assert!(ingest_entries(&store).is_empty());
    }

    #[test]
    fn concurrent_writers_of_one_blob_both_succeed() {
        let (_dir, store) = store();
        let content = vec![7u8; 1 << 20];
        let barrier = std::sync::Barrier::new(2);
        let results: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    scope.spawn(|| {
                        let mut writer = store.blob_writer().unwrap();
                        writer.write_all(&content).unwrap();
                        barrier.wait();
                        writer.commit()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let expected = Digest::sha256_of(&content);
        for result in results {
            assert_eq!(result.unwrap(), (expected.clone(), content.len() as u64));
        }
        assert_eq!(blob_entries(&store), vec![store.blob_path(&expected)]);
        assert!(ingest_entries(&store).is_empty());
        assert_eq!(store.read_blob(&expected).unwrap(), content);
    }

    #[test]
    fn write_errors_name_the_temp_file_and_keep_their_kind() {
        let path = std::path::Path::new("ingest/blob-x");
        let full = io::Error::from_raw_os_error(28);
        let wrapped = with_path(full, path);
        assert_eq!(wrapped.kind(), io::ErrorKind::StorageFull);
        let text = wrapped.to_string();
        assert!(text.contains("ingest/blob-x"), "{text}");
        assert!(text.contains("No space left on device"), "{text}");
    }

    #[test]
    fn blob_source_opens_blobs() {
        use kiln_oci::BlobSource;
        let (_dir, store) = store();
        let digest = store.write_blob(b"via trait").unwrap();
        let mut content = Vec::new();
        BlobSource::open_blob(&store, &digest)
            .unwrap()
            .read_to_end(&mut content)
            .unwrap();
        assert_eq!(content, b"via trait");
        let missing = Digest::sha256_of(b"missing");
        let error = BlobSource::open_blob(&store, &missing).err().unwrap();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
    }
}
