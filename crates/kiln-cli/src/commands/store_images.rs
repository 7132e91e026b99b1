//! The store seen as docker's image list: the tags grouped by what they
//! point to, each with its manifest and config read, and the lookup of a
//! user's `NAME|ID|DIGEST` argument as docker resolves it.
//!
//! An image's ID is its config digest; a tag pointing at an image index
//! shows the index entry for the host platform (else the first one).

use anyhow::{bail, Context};
use kiln_oci::media_type::{is_index, is_manifest};
use kiln_oci::{Descriptor, Digest, ImageConfig, Platform, Reference};
use kiln_store::Store;
use serde_json::Value;

/// One image of the store: a manifest (or index) and the tags naming it.
#[derive(Debug, Clone)]
pub struct StoredImage {
    /// The tags pointing at it, as stored (familiar names), sorted.
    pub names: Vec<String>,
    /// What the tags point at (annotations removed).
    pub descriptor: Descriptor,
    /// Digest of the image manifest (the index entry for an index).
    pub manifest_digest: Digest,
    /// The config digest: the image ID.
    pub config_digest: Digest,
    /// The config blob's size.
    pub config_size: u64,
    /// The parsed config.
    pub config: ImageConfig,
    /// The layers' digests and (compressed) sizes, base first.
    pub layers: Vec<(Digest, u64)>,
}

impl StoredImage {
    /// The size kiln reports: compressed layers plus the config.
    pub fn size(&self) -> u64 {
        self.config_size + self.layers.iter().map(|(_, size)| size).sum::<u64>()
    }

    /// The 12-hex short ID, or the full `sha256:…` with `no_trunc`.
    pub fn id(&self, no_trunc: bool) -> String {
        if no_trunc {
            self.config_digest.to_string()
        } else {
            self.config_digest.short().to_string()
        }
    }

    /// The digest the tags point to (the index's own digest for an index).
    pub fn repo_digest(&self) -> String {
        self.descriptor.digest().to_string()
    }
}

/// Every tagged image of the store, one entry per distinct tag target, in
/// the order of their first tag.
pub fn list(store: &Store) -> anyhow::Result<Vec<StoredImage>> {
    let mut images: Vec<StoredImage> = Vec::new();
    for tag in store.tags().context("failed to read the store's tags")? {
        let digest = tag.descriptor.digest().to_string();
        if let Some(image) = images
            .iter_mut()
            .find(|image| image.descriptor.digest().to_string() == digest)
        {
            image.names.push(tag.name);
            continue;
        }
        let image = read_image(store, &tag.descriptor)
            .with_context(|| format!("failed to read image {}", tag.name))?;
        images.push(StoredImage {
            names: vec![tag.name],
            ..image
        });
    }
    Ok(images)
}

/// Reads the image a tag descriptor points at.
pub fn read_image(store: &Store, descriptor: &Descriptor) -> anyhow::Result<StoredImage> {
    let media_type = descriptor.media_type().to_string();
    let digest = kiln_oci::descriptor_digest(descriptor)?;
    let clean = kiln_oci::descriptor(&media_type, &digest, descriptor.size());
    let manifest_digest = if is_index(&media_type) {
        pick_from_index(store, &digest)?
    } else {
        digest
    };
    let manifest = read_json(store, &manifest_digest)?;
    let config_descriptor = manifest
        .get("config")
        .with_context(|| format!("manifest {manifest_digest} has no config"))?;
    let config_digest = digest_field(config_descriptor)?;
    let config_bytes = store.read_blob(&config_digest)?;
    let config = ImageConfig::from_json(&config_bytes)
        .with_context(|| format!("invalid image config {config_digest}"))?;
    let mut layers = Vec::new();
    if let Some(Value::Array(entries)) = manifest.get("layers") {
        for entry in entries {
            let size = entry.get("size").and_then(Value::as_u64).unwrap_or(0);
            layers.push((digest_field(entry)?, size));
        }
    }
    Ok(StoredImage {
        names: Vec::new(),
        descriptor: clean,
        manifest_digest,
        config_digest,
        config_size: config_bytes.len() as u64,
        config,
        layers,
    })
}

/// The manifest of an index for the host platform, else its first manifest.
fn pick_from_index(store: &Store, index_digest: &Digest) -> anyhow::Result<Digest> {
    let index = read_json(store, index_digest)?;
    let entries: Vec<&Value> = match index.get("manifests") {
        Some(Value::Array(entries)) => entries
            .iter()
            .filter(|entry| {
                entry
                    .get("mediaType")
                    .and_then(Value::as_str)
                    .is_some_and(is_manifest)
            })
            .collect(),
        _ => Vec::new(),
    };
    let host = Platform::host();
    let on_host = entries.iter().find(|entry| {
        let platform = entry.get("platform");
        let field = |name: &str| {
            platform
                .and_then(|platform| platform.get(name))
                .and_then(Value::as_str)
        };
        field("os") == Some(host.os.as_str())
            && field("architecture") == Some(host.architecture.as_str())
    });
    let chosen = on_host
        .or(entries.first())
        .with_context(|| format!("image index {index_digest} has no image manifest"))?;
    digest_field(chosen)
}

fn read_json(store: &Store, digest: &Digest) -> anyhow::Result<Value> {
    let bytes = store.read_blob(digest)?;
    serde_json::from_slice(&bytes).with_context(|| format!("blob {digest} is not valid JSON"))
}

fn digest_field(descriptor: &Value) -> anyhow::Result<Digest> {
    let text = descriptor
        .get("digest")
        .and_then(Value::as_str)
        .context("descriptor has no digest")?;
    text.parse()
        .with_context(|| format!("invalid digest {text:?}"))
}

/// What a user's argument named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A tag (by its stored name) of the image at this position.
    Tag { name: String, image: usize },
    /// An image by ID, ID prefix or digest: the position in the list.
    Image(usize),
}

impl Lookup {
    /// The position of the image in the list.
    pub fn image(&self) -> usize {
        match self {
            Lookup::Tag { image, .. } | Lookup::Image(image) => *image,
        }
    }
}

/// Finds `text` among `images` as docker does: a tag (`app`, `app:1`,
/// `docker.io/library/app:1`), then `NAME@sha256:…` or a full `sha256:…`
/// (config or manifest digest), then a prefix of an image ID (with or
/// without `sha256:`).
pub fn lookup(images: &[StoredImage], text: &str) -> anyhow::Result<Lookup> {
    let tag_position = |name: &str| {
        images
            .iter()
            .position(|image| image.names.iter().any(|candidate| candidate == name))
    };
    if let Some(image) = tag_position(text) {
        return Ok(Lookup::Tag {
            name: text.to_string(),
            image,
        });
    }
    let reference = text.parse::<Reference>().ok();
    if let Some(reference) = reference
        .as_ref()
        .filter(|reference| reference.digest().is_none())
    {
        let familiar = reference.familiar();
        if let Some(image) = tag_position(&familiar) {
            return Ok(Lookup::Tag {
                name: familiar,
                image,
            });
        }
    }
    let digest = match reference.as_ref().and_then(Reference::digest) {
        Some(digest) => Some(digest.clone()),
        None => text.parse::<Digest>().ok(),
    };
    if let Some(digest) = digest {
        let found = images.iter().position(|image| {
            image.config_digest == digest
                || image.manifest_digest == digest
                || image.descriptor.digest().to_string() == digest.to_string()
        });
        return found
            .map(Lookup::Image)
            .with_context(|| format!("no such image: {text}"));
    }
    let prefix = text.strip_prefix("sha256:").unwrap_or(text);
    let is_hex = !prefix.is_empty()
        && prefix
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
    if is_hex {
        let matches: Vec<usize> = images
            .iter()
            .enumerate()
            .filter(|(_, image)| image.config_digest.hex().starts_with(prefix))
            .map(|(position, _)| position)
            .collect();
        let distinct_ids: std::collections::BTreeSet<&Digest> = matches
            .iter()
            .filter_map(|position| images.get(*position))
            .map(|image| &image.config_digest)
            .collect();
        match (matches.first(), distinct_ids.len()) {
            (Some(first), 1) if matches.len() == 1 => return Ok(Lookup::Image(*first)),
            // Several manifests with one config (e.g. re-exported): the first.
            (Some(first), 1) => return Ok(Lookup::Image(*first)),
            (Some(_), _) => bail!("short ID {prefix} is ambiguous"),
            (None, _) => {}
        }
    }
    let shown = match reference {
        Some(reference) if reference.digest().is_none() => reference.familiar(),
        _ => text.to_string(),
    };
    bail!("no such image: {shown}")
}

/// The familiar repository and tag of a stored name (`app:1` → `app`, `1`);
/// a name that is not a reference shows as itself with tag `<none>`.
pub fn split_name(name: &str) -> (String, String) {
    match name.parse::<Reference>() {
        Ok(reference) => (
            reference.familiar_name(),
            reference.tag().unwrap_or("<none>").to_string(),
        ),
        Err(_) => (name.to_string(), "<none>".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(names: &[&str], config_seed: &str, manifest_seed: &str) -> StoredImage {
        let manifest_digest = Digest::sha256_of(manifest_seed.as_bytes());
        StoredImage {
            names: names.iter().map(|name| name.to_string()).collect(),
            descriptor: kiln_oci::descriptor(kiln_oci::OCI_MANIFEST, &manifest_digest, 10),
            manifest_digest,
            config_digest: Digest::sha256_of(config_seed.as_bytes()),
            config_size: 100,
            config: ImageConfig::default(),
            layers: vec![(Digest::sha256_of(b"l"), 1000)],
        }
    }

    #[test]
    fn lookup_follows_dockers_order() {
        let images = vec![
            image(&["app:1", "app:latest"], "c1", "m1"),
            image(&["quay.io/x/y:2"], "c2", "m2"),
            image(&["other:1"], "c2", "m3"),
        ];
        let c1 = images[0].config_digest.clone();
        let m2 = images[1].manifest_digest.clone();
        let cases: Vec<(String, Option<Lookup>)> = vec![
            (
                "app:1".into(),
                Some(Lookup::Tag {
                    name: "app:1".into(),
                    image: 0,
                }),
            ),
            (
                "app".into(),
                Some(Lookup::Tag {
                    name: "app:latest".into(),
                    image: 0,
                }),
            ),
            (
                "docker.io/library/app:1".into(),
                Some(Lookup::Tag {
                    name: "app:1".into(),
                    image: 0,
                }),
            ),
            (
                "quay.io/x/y:2".into(),
                Some(Lookup::Tag {
                    name: "quay.io/x/y:2".into(),
                    image: 1,
                }),
            ),
            (c1.to_string(), Some(Lookup::Image(0))),
            (c1.hex()[..12].to_string(), Some(Lookup::Image(0))),
            (format!("sha256:{}", &c1.hex()[..5]), Some(Lookup::Image(0))),
            (m2.to_string(), Some(Lookup::Image(1))),
            (format!("quay.io/x/y@{m2}"), Some(Lookup::Image(1))),
            ("app:2".into(), None),
            ("nothing".into(), None),
            ("ABC".into(), None),
        ];
        for (text, expected) in cases {
            let found = lookup(&images, &text).ok();
            assert_eq!(found, expected, "{text}");
        }
        let missing = lookup(&images, "app:2").unwrap_err().to_string();
        assert_eq!(missing, "no such image: app:2");
    }

    #[test]
    fn ambiguous_prefixes_are_refused() {
        // Find two configs whose digests share a first hex digit.
        let mut seeds = Vec::new();
        let mut first_digits = std::collections::HashMap::new();
        for seed in 0..64 {
            let hex = Digest::sha256_of(seed.to_string().as_bytes()).hex()[..1].to_string();
            if let Some(previous) = first_digits.insert(hex.clone(), seed) {
                seeds = vec![(previous, hex.clone()), (seed, hex)];
                break;
            }
        }
        let images: Vec<StoredImage> = seeds
            .iter()
            .map(|(seed, _)| image(&[], &seed.to_string(), &seed.to_string()))
            .collect();
        let error = lookup(&images, &seeds[0].1).unwrap_err().to_string();
        assert!(error.contains("ambiguous"), "{error}");
    }

    #[test]
    fn names_split_into_repository_and_tag() {
        for (name, repository, tag) in [
            ("app:1", "app", "1"),
            ("quay.io/x/y:2", "quay.io/x/y", "2"),
            ("docker.io/library/ubuntu:22.04", "ubuntu", "22.04"),
            ("Bad Name", "Bad Name", "<none>"),
        ] {
            assert_eq!(
                split_name(name),
                (repository.to_string(), tag.to_string()),
                "{name}"
            );
        }
        let image = image(&[], "c", "m");
        assert_eq!(image.size(), 1100);
        assert_eq!(image.id(false).len(), 12);
        assert!(image.id(true).starts_with("sha256:"));
    }
}
