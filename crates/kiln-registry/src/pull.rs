//! Resolving references and pulling images into the store: manifests by HEAD
//! (GET as fallback), index → platform, and blobs downloaded concurrently,
//! each verified (size and digest) before it enters the store.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use kiln_oci::{
    descriptor, descriptor_digest, media_type, Descriptor, Digest, Platform, Reference,
};
use kiln_store::{BlobWriter, Store};

use crate::client::{check_status, header, Client, Scope};
use crate::error::{Error, Result};
use crate::manifest::{manifest_blobs, media_type_of, select_platform, strip_parameters};
use crate::options::{Resolved, TransferProgress};
use crate::transport::{lock, Call, Method};

/// Largest manifest or index accepted (distribution's own limit is 4 MiB).
const MAX_MANIFEST_SIZE: u64 = 8 * 1024 * 1024;
/// Docker's schema 1 manifests, which kiln refuses.
const DOCKER_SCHEMA1: [&str; 2] = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// The `Accept` header for manifests: both manifest and both index types.
pub(crate) fn manifest_accept() -> String {
    [
        media_type::OCI_MANIFEST,
        media_type::DOCKER_MANIFEST,
        media_type::OCI_INDEX,
        media_type::DOCKER_MANIFEST_LIST,
    ]
    .join(", ")
}

/// A manifest or index as received.
struct Fetched {
    bytes: Vec<u8>,
    media_type: String,
    digest: Digest,
}

impl Client {
    /// Resolves `reference` to the manifest of `platform`: a HEAD of the
    /// manifest (GET when the registry gives no digest) and, for an index or
    /// manifest list, one more GET of the index.
    pub fn resolve(&self, reference: &Reference, platform: &Platform) -> Result<Resolved> {
        self.resolve_inner(reference, platform, None)
            .map(|(resolved, _)| resolved)
    }

    /// Like [`Client::resolve`]; an index already in `store` is read from it.
    /// Returns the index bytes when the reference named an index.
    fn resolve_inner(
        &self,
        reference: &Reference,
        platform: &Platform,
        store: Option<&Store>,
    ) -> Result<(Resolved, Option<Vec<u8>>)> {
        let scope = Scope::pull(reference.domain(), reference.repository());
        let (media_type, digest, size, bytes) = match reference.digest() {
            Some(digest) => {
                let fetched = self.manifest_bytes(&scope, digest, store)?;
                let size = fetched.bytes.len() as u64;
                (
                    fetched.media_type,
                    digest.clone(),
                    size,
                    Some(fetched.bytes),
                )
            }
            None => {
                let tag = reference.tag().unwrap_or(kiln_oci::DEFAULT_TAG);
                match self.head_manifest(&scope, tag)? {
                    Some((media_type, digest, size)) => (media_type, digest, size, None),
                    None => {
                        let fetched = self.get_manifest(&scope, tag, None)?;
                        let size = fetched.bytes.len() as u64;
                        (
                            fetched.media_type,
                            fetched.digest,
                            size,
                            Some(fetched.bytes),
                        )
                    }
                }
            }
        };
        let name = reference.to_string();
        if media_type::is_manifest(&media_type) {
            let manifest = descriptor(&media_type, &digest, size);
            let resolved = Resolved {
                manifest,
                reference_digest: digest,
            };
            return Ok((resolved, None));
        }
        if !media_type::is_index(&media_type) {
            return Err(Error::UnsupportedMediaType {
                reference: name,
                media_type,
            });
        }
        let bytes = match bytes {
            Some(bytes) => bytes,
            None => self.manifest_bytes(&scope, &digest, store)?.bytes,
        };
        let manifest = select_platform(&bytes, platform, &name)?;
        Ok((
            Resolved {
                manifest,
                reference_digest: digest,
            },
            Some(bytes),
        ))
    }

    /// HEAD of a manifest: media type, digest and size, or `None` when the
    /// registry does not send `Docker-Content-Digest`.
    fn head_manifest(&self, scope: &Scope, tag: &str) -> Result<Option<(String, Digest, u64)>> {
        let path = format!("/v2/{}/manifests/{tag}", scope.repository);
        let call = Call::new(Method::Head, path).header("Accept", manifest_accept());
        let response = self.registry_call(scope, call)?;
        let response = check_status(response, scope, Method::Head, &format!("manifest {tag}"))?;
        let digest =
            header(&response, "docker-content-digest").and_then(|value| value.parse().ok());
        let media_type = header(&response, "content-type").map(strip_parameters);
        let size = header(&response, "content-length").and_then(|value| value.parse().ok());
        Ok(match (media_type, digest, size) {
            (Some(media_type), Some(digest), Some(size))
                if !media_type.is_empty() && media_type != "application/json" =>
            {
                Some((media_type, digest, size))
            }
            _ => None,
        })
    }

    /// A manifest by digest, from `store` when it has it, else from the registry.
    fn manifest_bytes(
        &self,
        scope: &Scope,
        digest: &Digest,
        store: Option<&Store>,
    ) -> Result<Fetched> {
        if let Some(store) = store.filter(|store| store.has_blob(digest)) {
            let bytes = store.read_blob(digest)?;
            let media_type = media_type_of(&bytes, None);
            return Ok(Fetched {
                bytes,
                media_type,
                digest: digest.clone(),
            });
        }
        self.get_manifest(scope, digest.as_str(), Some(digest))
    }

    /// GET of a manifest by tag or digest; verified against `expected` and
    /// against `Docker-Content-Digest`.
    fn get_manifest(
        &self,
        scope: &Scope,
        tag_or_digest: &str,
        expected: Option<&Digest>,
    ) -> Result<Fetched> {
        let path = format!("/v2/{}/manifests/{tag_or_digest}", scope.repository);
        let url_name = format!("{}/{}", scope.registry, scope.repository);
        let call = Call::new(Method::Get, path).header("Accept", manifest_accept());
        let response = self.registry_call(scope, call)?;
        let response = check_status(
            response,
            scope,
            Method::Get,
            &format!("manifest {tag_or_digest}"),
        )?;
        let content_type = header(&response, "content-type").map(strip_parameters);
        let announced: Option<Digest> =
            header(&response, "docker-content-digest").and_then(|value| value.parse().ok());
        let mut bytes = Vec::new();
        response
            .into_body()
            .into_reader()
            .take(MAX_MANIFEST_SIZE + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| Error::Body {
                url: url_name.clone(),
                source,
            })?;
        if bytes.len() as u64 > MAX_MANIFEST_SIZE {
            return Err(Error::InvalidManifest {
                reference: format!("{url_name}:{tag_or_digest}"),
                reason: "larger than 8 MiB".to_string(),
            });
        }
        let found = Digest::sha256_of(&bytes);
        for wanted in expected.into_iter().chain(announced.iter()) {
            let matches = if wanted.algorithm() == "sha256" {
                *wanted == found
            } else {
                wanted.matches(&bytes)
            };
            if !matches {
                return Err(Error::DigestMismatch {
                    source_name: url_name,
                    expected: wanted.clone(),
                    found,
                });
            }
        }
        let media_type = media_type_of(&bytes, content_type);
        if DOCKER_SCHEMA1.contains(&media_type.as_str()) {
            return Err(Error::UnsupportedMediaType {
                reference: format!("{url_name}:{tag_or_digest}"),
                media_type,
            });
        }
        let digest = expected.cloned().unwrap_or(found);
        Ok(Fetched {
            bytes,
            media_type,
            digest,
        })
    }

    /// Pulls the `platform` image of `reference` into `store`: manifest,
    /// config and layers, every blob verified before it enters the store;
    /// blobs the store has are skipped. The manifest is written last, as
    /// received (OCI or Docker schema 2); the index, if any, is kept too so
    /// a later resolve needs only the HEAD. Tagging is the caller's choice.
    pub fn pull(
        &self,
        reference: &Reference,
        platform: &Platform,
        store: &Store,
        progress: &dyn TransferProgress,
    ) -> Result<Descriptor> {
        self.pull_parts(reference, platform, store, progress, true)
    }

    /// Like [`Client::pull`], but only the manifest and the config: the
    /// layers are fetched later with [`Client::fetch_blobs`], when a step
    /// needs them (a build whose steps all hit the cache may never need a
    /// base's layers). The manifest enters the store, so do not tag it before
    /// its layers are there.
    pub fn pull_manifest(
        &self,
        reference: &Reference,
        platform: &Platform,
        store: &Store,
        progress: &dyn TransferProgress,
    ) -> Result<Descriptor> {
        self.pull_parts(reference, platform, store, progress, false)
    }

    /// Downloads `blobs` of the repository `reference` names into `store`
    /// (concurrently, each verified; blobs the store has are skipped).
    pub fn fetch_blobs(
        &self,
        reference: &Reference,
        blobs: &[Descriptor],
        store: &Store,
        progress: &dyn TransferProgress,
    ) -> Result<()> {
        let scope = Scope::pull(reference.domain(), reference.repository());
        self.download_all(&scope, blobs, store, progress)
    }

    fn pull_parts(
        &self,
        reference: &Reference,
        platform: &Platform,
        store: &Store,
        progress: &dyn TransferProgress,
        layers: bool,
    ) -> Result<Descriptor> {
        let scope = Scope::pull(reference.domain(), reference.repository());
        let (resolved, index_bytes) = self.resolve_inner(reference, platform, Some(store))?;
        let manifest_digest = descriptor_digest(&resolved.manifest)?;
        let fetched = self.manifest_bytes(&scope, &manifest_digest, Some(store))?;
        let name = format!("{}@{manifest_digest}", reference.name());
        if !media_type::is_manifest(&fetched.media_type) {
            return Err(Error::UnsupportedMediaType {
                reference: name,
                media_type: fetched.media_type,
            });
        }
        let mut blobs = manifest_blobs(&fetched.bytes, &name)?;
        if !layers {
            blobs.truncate(1);
        }
        self.download_all(&scope, &blobs, store, progress)?;
        if let Some(index_bytes) = index_bytes {
            store.write_blob(&index_bytes)?;
        }
        store.write_blob(&fetched.bytes)?;
        Ok(descriptor(
            &fetched.media_type,
            &manifest_digest,
            fetched.bytes.len() as u64,
        ))
    }

    /// Downloads `blobs` with at most `max_concurrent_downloads` at a time.
    fn download_all(
        &self,
        scope: &Scope,
        blobs: &[Descriptor],
        store: &Store,
        progress: &dyn TransferProgress,
    ) -> Result<()> {
        let next = Mutex::new(blobs.iter());
        let failed = AtomicBool::new(false);
        let first_error: Mutex<Option<Error>> = Mutex::new(None);
        let workers = self
            .options
            .max_concurrent_downloads
            .clamp(1, blobs.len().max(1));
        std::thread::scope(|threads| {
            for _ in 0..workers {
                threads.spawn(|| loop {
                    if failed.load(Ordering::Relaxed) {
                        return;
                    }
                    let Some(blob) = lock(&next).next() else {
                        return;
                    };
                    if let Err(error) = self.download_blob(scope, blob, store, progress) {
                        failed.store(true, Ordering::Relaxed);
                        lock(&first_error).get_or_insert(error);
                        return;
                    }
                });
            }
        });
        match first_error
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Downloads one blob into the store, resuming with `Range` (or
    /// restarting) after a cut connection, and verifying size and digest.
    fn download_blob(
        &self,
        scope: &Scope,
        blob: &Descriptor,
        store: &Store,
        progress: &dyn TransferProgress,
    ) -> Result<()> {
        let digest = descriptor_digest(blob)?;
        let size = blob.size();
        progress.started(&digest, size);
        if store.has_blob(&digest) {
            progress.finished(&digest, true);
            return Ok(());
        }
        let source_name = format!("{}/{}", scope.registry, scope.repository);
        let mut writer = store.blob_writer()?;
        let mut attempt = 0;
        loop {
            match self.download_attempt(scope, &digest, size, store, &mut writer, progress) {
                Ok(()) => break,
                Err(error) if error.is_transient() && attempt < self.transport.retries() => {
                    std::thread::sleep(self.transport.backoff(attempt));
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
        writer
            .commit_verified(&digest)
            .map_err(|error| match error {
                kiln_store::Error::DigestMismatch { expected, found } => Error::DigestMismatch {
                    source_name,
                    expected,
                    found,
                },
                other => Error::Store(other),
            })?;
        progress.finished(&digest, false);
        Ok(())
    }

    /// One GET of a blob, continuing at `writer.bytes_written()`.
    fn download_attempt(
        &self,
        scope: &Scope,
        digest: &Digest,
        size: u64,
        store: &Store,
        writer: &mut BlobWriter,
        progress: &dyn TransferProgress,
    ) -> Result<()> {
        let offset = writer.bytes_written();
        let what = format!("blob {digest}");
        let mut call = Call::new(
            Method::Get,
            format!("/v2/{}/blobs/{digest}", scope.repository),
        );
        if offset > 0 {
            call = call.header("Range", format!("bytes={offset}-"));
        }
        let response = self.registry_call(scope, call)?;
        let response = check_status(response, scope, Method::Get, &what)?;
        let resumed = response.status().as_u16() == 206
            && header(&response, "content-range").is_some_and(|range| {
                range
                    .trim_start_matches("bytes ")
                    .starts_with(&format!("{offset}-"))
            });
        if offset > 0 && !resumed {
            *writer = store.blob_writer()?;
        }
        let source_name = format!("{}/{}", scope.registry, scope.repository);
        let mut reader = response.into_body().into_reader();
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => read,
                Err(source) => {
                    return Err(Error::Body {
                        url: source_name,
                        source,
                    })
                }
            };
            let chunk = buffer.get(..read).unwrap_or_default();
            if writer.bytes_written() + read as u64 > size {
                return Err(Error::SizeMismatch {
                    source_name,
                    digest: digest.clone(),
                    expected: size,
                    found: writer.bytes_written() + read as u64,
                });
            }
            writer
                .write_all(chunk)
                .map_err(|source| Error::io(writer.temp_path().to_path_buf(), source))?;
            progress.advanced(digest, read as u64);
        }
        if writer.bytes_written() != size {
            return Err(Error::SizeMismatch {
                source_name,
                digest: digest.clone(),
                expected: size,
                found: writer.bytes_written(),
            });
        }
        Ok(())
    }
}
