//! Base images from registries: resolve a FROM (or `COPY --from`) name with
//! one manifest HEAD, pull what the store lacks, tag it, and read it.

use std::sync::Mutex;

use kiln_oci::{Digest, Platform, Reference};
use kiln_registry::{Client, TransferProgress};
use kiln_store::Store;

use crate::error::{BuildError, Result};
use crate::image::{Image, Remote};
use crate::options::PullPolicy;
use crate::progress::{Event, Progress};

/// Reports blob transfers as step log lines.
pub struct TransferLog<'a> {
    progress: &'a dyn Progress,
    step: usize,
    sizes: Mutex<Vec<(Digest, u64)>>,
}

impl<'a> TransferLog<'a> {
    /// Logs into `step`.
    pub fn new(progress: &'a dyn Progress, step: usize) -> TransferLog<'a> {
        TransferLog {
            progress,
            step,
            sizes: Mutex::new(Vec::new()),
        }
    }
}

impl TransferProgress for TransferLog<'_> {
    fn started(&self, digest: &Digest, size: u64) {
        if let Ok(mut sizes) = self.sizes.lock() {
            sizes.push((digest.clone(), size));
        }
    }

    fn advanced(&self, _digest: &Digest, _bytes: u64) {}

    fn finished(&self, digest: &Digest, skipped: bool) {
        let size = self
            .sizes
            .lock()
            .ok()
            .and_then(|sizes| {
                sizes
                    .iter()
                    .find(|(known, _)| known == digest)
                    .map(|(_, size)| *size)
            })
            .unwrap_or(0);
        let verb = if skipped { "already present" } else { "pulled" };
        self.progress.event(Event::StepLog {
            id: self.step,
            line: format!("{verb} {} ({size} bytes)", digest.short()),
        });
    }
}

/// Reads an image named `name` from the store, or from its registry as the
/// pull policy says.
pub fn image(
    store: &Store,
    client: Option<&Client>,
    policy: PullPolicy,
    name: &str,
    progress: &dyn Progress,
    step: usize,
) -> Result<Image> {
    let reference: Reference = name
        .parse()
        .map_err(|err| BuildError::Usage(format!("invalid image reference {name:?}: {err}")))?;
    let local = local_manifest(store, &reference, name)?;
    if let (PullPolicy::Missing, Some(digest)) = (policy, &local) {
        if !was_pulled(store, &reference) {
            // Built or loaded here: there is no registry copy to compare with.
            return Image::from_manifest(store, digest);
        }
    }
    let client = match (policy, client) {
        (PullPolicy::Never, _) | (_, None) => {
            return match local {
                Some(digest) => Image::from_manifest(store, &digest),
                None => Err(not_found(store, name, policy)),
            }
        }
        (_, Some(client)) => client,
    };
    if let (Some(digest), Some(_)) = (&local, reference.digest()) {
        // Pinned by digest and present: nothing to ask the registry.
        return Image::from_manifest(store, digest);
    }
    let platform = Platform::host();
    let resolved = match client.resolve(&reference, &platform) {
        Ok(resolved) => resolved,
        Err(err) => {
            return match (policy, local) {
                (PullPolicy::Missing, Some(digest)) => {
                    progress.event(Event::Warning(format!(
                        "could not check {name} in its registry ({err}); using the copy in the store"
                    )));
                    Image::from_manifest(store, &digest)
                }
                _ => Err(BuildError::Usage(format!(
                    "failed to resolve {name}: {err}"
                ))),
            };
        }
    };
    let manifest_digest = kiln_oci::descriptor_digest(&resolved.manifest)?;
    let complete = store.has_blob(&manifest_digest)
        && Image::from_manifest(store, &manifest_digest)
            .map(|image| {
                image.layers.iter().all(|layer| {
                    kiln_oci::descriptor_digest(&layer.descriptor)
                        .is_ok_and(|digest| store.has_blob(&digest))
                })
            })
            .unwrap_or(false);
    let tag = reference.digest().is_none().then(|| reference.familiar());
    if complete {
        if let Some(tag) = &tag {
            store.set_tag(tag, &resolved.manifest)?;
            mark_pulled(store, &reference);
        }
        return Image::from_manifest(store, &manifest_digest);
    }
    // Manifest and config now; the layers when a step needs them (see
    // `fetch_layers`), and the tag once they are all in the store.
    progress.event(Event::StepLog {
        id: step,
        line: format!("pulling {reference} (layers when a step needs them)"),
    });
    let log = TransferLog::new(progress, step);
    let manifest = client
        .pull_manifest(&reference, &platform, store, &log)
        .map_err(|err| BuildError::Usage(format!("failed to pull {name}: {err}")))?;
    let manifest_digest = kiln_oci::descriptor_digest(&manifest)?;
    let mut image = Image::from_manifest(store, &manifest_digest)?;
    image.remote = Some(Remote {
        reference: reference.with_digest(manifest_digest),
        tag,
        manifest,
    });
    Ok(image)
}

/// Fetches the layers of `image` the store lacks from its registry, then
/// tags the base image it came from. Nothing to do for local images.
pub fn fetch_layers(
    store: &Store,
    client: Option<&Client>,
    image: &Image,
    progress: &dyn Progress,
    step: usize,
) -> Result<()> {
    let Some(remote) = &image.remote else {
        return Ok(());
    };
    let mut missing = Vec::new();
    for layer in &image.layers {
        if !store.has_blob(&kiln_oci::descriptor_digest(&layer.descriptor)?) {
            missing.push(layer.descriptor.clone());
        }
    }
    if !missing.is_empty() {
        let client = client.ok_or_else(|| {
            BuildError::Usage(format!(
                "layers of {} are not in the store and registry access is off",
                remote.reference
            ))
        })?;
        let log = TransferLog::new(progress, step);
        client
            .fetch_blobs(&remote.reference, &missing, store, &log)
            .map_err(|err| {
                BuildError::Usage(format!(
                    "failed to pull layers of {}: {err}",
                    remote.reference
                ))
            })?;
    }
    if let Some(tag) = &remote.tag {
        let base_complete =
            Image::from_manifest(store, &kiln_oci::descriptor_digest(&remote.manifest)?)?
                .layers
                .iter()
                .all(|layer| {
                    kiln_oci::descriptor_digest(&layer.descriptor)
                        .is_ok_and(|digest| store.has_blob(&digest))
                });
        if base_complete
            && store.resolve_tag(tag)?.as_ref().map(|d| d.digest())
                != Some(remote.manifest.digest())
        {
            store.set_tag(tag, &remote.manifest)?;
            if let Ok(reference) = tag.parse::<Reference>() {
                mark_pulled(store, &reference);
            }
        }
    }
    Ok(())
}

fn local_manifest(store: &Store, reference: &Reference, name: &str) -> Result<Option<Digest>> {
    if let Some(digest) = reference.digest() {
        return Ok(store.has_blob(digest).then(|| digest.clone()));
    }
    for candidate in [
        reference.familiar(),
        reference.to_string(),
        name.to_string(),
    ] {
        if let Some(descriptor) = store.resolve_tag(&candidate)? {
            return Ok(Some(kiln_oci::descriptor_digest(&descriptor)?));
        }
    }
    Ok(None)
}

fn not_found(store: &Store, name: &str, policy: PullPolicy) -> BuildError {
    let why = if policy == PullPolicy::Never {
        "and --pull=never forbids fetching it"
    } else {
        "and registry access is off"
    };
    BuildError::Usage(format!(
        "image {name:?} is not in kiln's store ({}) {why}; pull it with `kiln pull` or import it with `kiln load`",
        store.root().display()
    ))
}

/// Store document listing the names that came from a registry: only those
/// are checked against their registry again (one manifest HEAD) under the
/// default pull policy; images built or loaded here are used as they are.
const PULLED_DOC: &str = "pulled-images";

fn pulled_names(store: &Store) -> Vec<String> {
    store
        .cache_document(PULLED_DOC)
        .ok()
        .flatten()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Images known to be in a registry (pulled from or pushed to): candidates
/// for cross-repository blob mounts when pushing to the same registry.
pub fn known_remote_images(store: &Store) -> Vec<Reference> {
    pulled_names(store)
        .iter()
        .filter_map(|name| name.parse().ok())
        .collect()
}

fn was_pulled(store: &Store, reference: &Reference) -> bool {
    pulled_names(store).contains(&reference.familiar())
}

/// Records that `reference` is in its registry (pulled from or pushed to it).
pub fn mark_pulled(store: &Store, reference: &Reference) {
    let mut names = pulled_names(store);
    let name = reference.familiar();
    if !names.contains(&name) {
        names.push(name);
        names.sort();
        if let Ok(bytes) = serde_json::to_vec(&names) {
            let _ = store.put_cache_document(PULLED_DOC, &bytes);
        }
    }
}
