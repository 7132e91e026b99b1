//! Pushing an image from the store: each blob checked with HEAD, mounted
//! from another repository of the registry when one is known, else uploaded
//! (one PUT when small, PATCH chunks when big); manifests last, children of
//! an index before the index.

use kiln_oci::{
    descriptor_digest, descriptor_media_type, media_type, Descriptor, Digest, Reference,
};
use kiln_store::Store;
use ureq::http::Response;
use ureq::Body;

use crate::client::{check_status, encode_query, header, Client, Endpoint, Scope};
use crate::error::{Error, Result};
use crate::manifest::{index_manifests, manifest_blobs};
use crate::options::{PushOptions, TransferProgress};
use crate::transport::{Call, CallBody, Method};

impl Client {
    /// Pushes the image (manifest or index) `manifest` from `store` to
    /// `destination` with default [`PushOptions`]; returns the pushed manifest digest.
    pub fn push(
        &self,
        store: &Store,
        manifest: &Descriptor,
        destination: &Reference,
        progress: &dyn TransferProgress,
    ) -> Result<Digest> {
        self.push_with(
            store,
            manifest,
            destination,
            &PushOptions::default(),
            progress,
        )
    }

    /// Like [`Client::push`], with cross-repository mount sources and the chunk size.
    pub fn push_with(
        &self,
        store: &Store,
        manifest: &Descriptor,
        destination: &Reference,
        options: &PushOptions,
        progress: &dyn TransferProgress,
    ) -> Result<Digest> {
        let mut scope = Scope::push(destination.domain(), destination.repository());
        let mount_sources: Vec<&Reference> = options
            .mount_from
            .iter()
            .filter(|source| {
                source.domain() == destination.domain()
                    && source.repository() != destination.repository()
            })
            .collect();
        for source in &mount_sources {
            scope
                .scopes
                .push(format!("repository:{}:pull", source.repository()));
        }
        let reference = match (destination.tag(), destination.digest()) {
            (Some(tag), _) => tag.to_string(),
            (None, Some(digest)) => digest.to_string(),
            (None, None) => kiln_oci::DEFAULT_TAG.to_string(),
        };
        self.push_manifest_tree(
            store,
            manifest,
            &scope,
            &mount_sources,
            options,
            progress,
            Some(&reference),
        )
    }

    /// Pushes the blobs of `manifest` (or the children of an index), then the manifest itself.
    #[allow(clippy::too_many_arguments)]
    fn push_manifest_tree(
        &self,
        store: &Store,
        manifest: &Descriptor,
        scope: &Scope,
        mount_sources: &[&Reference],
        options: &PushOptions,
        progress: &dyn TransferProgress,
        tag: Option<&str>,
    ) -> Result<Digest> {
        let digest = descriptor_digest(manifest)?;
        let bytes = store.read_blob(&digest)?;
        let media_type = descriptor_media_type(manifest);
        let name = format!("{}/{}@{digest}", scope.registry, scope.repository);
        if media_type::is_index(&media_type) {
            for (child, _) in index_manifests(&bytes, &name)? {
                let child_media = descriptor_media_type(&child);
                if media_type::is_manifest(&child_media) || media_type::is_index(&child_media) {
                    self.push_manifest_tree(
                        store,
                        &child,
                        scope,
                        mount_sources,
                        options,
                        progress,
                        None,
                    )?;
                }
            }
        } else if media_type::is_manifest(&media_type) {
            for blob in manifest_blobs(&bytes, &name)? {
                self.push_blob(store, &blob, scope, mount_sources, options, progress)?;
            }
        } else {
            return Err(Error::UnsupportedMediaType {
                reference: name,
                media_type,
            });
        }
        let target = tag.map_or_else(|| digest.to_string(), str::to_string);
        let call = Call::new(
            Method::Put,
            format!("/v2/{}/manifests/{target}", scope.repository),
        )
        .header("Content-Type", media_type.clone())
        .body(CallBody::Bytes(&bytes));
        let response = self.registry_call(scope, call)?;
        let response = check_status(response, scope, Method::Put, &format!("manifest {target}"))?;
        if let Some(announced) =
            header(&response, "docker-content-digest").and_then(|v| v.parse::<Digest>().ok())
        {
            if announced != digest {
                return Err(Error::DigestMismatch {
                    source_name: name,
                    expected: digest,
                    found: announced,
                });
            }
        }
        Ok(digest)
    }

    /// Makes sure the registry has `blob`: HEAD, then mount, then upload.
    fn push_blob(
        &self,
        store: &Store,
        blob: &Descriptor,
        scope: &Scope,
        mount_sources: &[&Reference],
        options: &PushOptions,
        progress: &dyn TransferProgress,
    ) -> Result<()> {
        let digest = descriptor_digest(blob)?;
        let size = store.blob_size(&digest)?;
        progress.started(&digest, size);
        let what = format!("blob {digest}");
        let head = Call::new(
            Method::Head,
            format!("/v2/{}/blobs/{digest}", scope.repository),
        );
        let response = self.registry_call(scope, head)?;
        if response.status().is_success() {
            progress.finished(&digest, true);
            return Ok(());
        }
        if response.status().as_u16() != 404 {
            check_status(response, scope, Method::Head, &what)?;
        }
        let mut attempt = 0;
        loop {
            match self.upload_blob(
                store,
                &digest,
                size,
                scope,
                mount_sources,
                options,
                progress,
            ) {
                Ok(mounted) => {
                    progress.finished(&digest, mounted);
                    return Ok(());
                }
                Err(error) if error.is_transient() && attempt < self.transport.retries() => {
                    std::thread::sleep(self.transport.backoff(attempt));
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// One upload session; returns true when the blob was mounted instead.
    #[allow(clippy::too_many_arguments)]
    fn upload_blob(
        &self,
        store: &Store,
        digest: &Digest,
        size: u64,
        scope: &Scope,
        mount_sources: &[&Reference],
        options: &PushOptions,
        progress: &dyn TransferProgress,
    ) -> Result<bool> {
        let endpoint = self.endpoint(&scope.registry)?;
        let uploads = format!("/v2/{}/blobs/uploads/", scope.repository);
        let what = format!("upload of blob {digest}");
        let mut session = None;
        for source in mount_sources {
            let url = format!(
                "{uploads}?mount={}&from={}",
                encode_query(digest.as_str()),
                encode_query(source.repository())
            );
            let response = self.registry_call(scope, Call::new(Method::Post, url))?;
            match response.status().as_u16() {
                201 => return Ok(true),
                202 => {
                    session = Some(location(&endpoint, &response, &uploads)?);
                    break;
                }
                _ => {}
            }
        }
        let mut location_url = match session {
            Some(url) => url,
            None => {
                let response =
                    self.registry_call(scope, Call::new(Method::Post, uploads.clone()))?;
                let response = check_status(response, scope, Method::Post, &what)?;
                location(&endpoint, &response, &uploads)?
            }
        };
        let path = store.blob_path(digest);
        let digest_param = format!("digest={}", encode_query(digest.as_str()));
        if size <= options.chunk_size {
            let call = Call::new(Method::Put, with_query(&location_url, &digest_param))
                .header("Content-Type", "application/octet-stream")
                .body(CallBody::File {
                    path: &path,
                    offset: 0,
                    len: size,
                });
            let response = self.registry_call(scope, call)?;
            check_status(response, scope, Method::Put, &what)?;
            progress.advanced(digest, size);
            return Ok(false);
        }
        let mut offset = 0;
        while offset < size {
            let len = options.chunk_size.min(size - offset);
            let call = Call::new(Method::Patch, location_url.clone())
                .header("Content-Type", "application/octet-stream")
                .header("Content-Range", format!("{offset}-{}", offset + len - 1))
                .body(CallBody::File {
                    path: &path,
                    offset,
                    len,
                });
            let response = self.registry_call(scope, call)?;
            let response = check_status(response, scope, Method::Patch, &what)?;
            location_url = location(&endpoint, &response, &location_url)?;
            offset += len;
            progress.advanced(digest, len);
        }
        let call = Call::new(Method::Put, with_query(&location_url, &digest_param));
        let response = self.registry_call(scope, call)?;
        check_status(response, scope, Method::Put, &what)?;
        Ok(false)
    }
}

/// The `Location` of an upload response, made absolute.
fn location(endpoint: &Endpoint, response: &Response<Body>, fallback: &str) -> Result<String> {
    let value = header(response, "location").ok_or_else(|| Error::InvalidUrl {
        url: fallback.to_string(),
        reason: "upload response has no Location header",
    })?;
    Ok(
        if value.starts_with("http://") || value.starts_with("https://") {
            value.to_string()
        } else if value.starts_with('/') {
            format!("{}{value}", endpoint.base)
        } else {
            format!("{}/{value}", endpoint.base)
        },
    )
}

/// `url` with `param` appended to its query.
fn with_query(url: &str, param: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{param}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_appended() {
        assert_eq!(
            with_query("http://h/u/1", "digest=x"),
            "http://h/u/1?digest=x"
        );
        assert_eq!(
            with_query("http://h/u/1?_state=s", "digest=x"),
            "http://h/u/1?_state=s&digest=x"
        );
    }
}
