//! `kiln tag SOURCE TARGET`: give an image of the store another name.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use kiln_oci::Reference;

use super::open_store;
use super::store_images;

#[derive(Debug, Args)]
pub struct TagArgs {
    /// The image: a name, an image ID (or prefix) or a digest.
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// The new name, e.g. `app:2` or `registry.example/app:2`.
    #[arg(value_name = "TARGET")]
    pub target: String,
}

pub fn run(root: Option<PathBuf>, args: TagArgs) -> anyhow::Result<ExitCode> {
    let target = parse_target(&args.target)?;
    let store = open_store(root)?;
    let images = store_images::list(&store)?;
    let found = store_images::lookup(&images, &args.source)?;
    let image = &images[found.image()];
    store
        .set_tag(&target.familiar(), &image.descriptor)
        .with_context(|| format!("failed to tag {} as {}", args.source, target.familiar()))?;
    Ok(ExitCode::SUCCESS)
}

/// A tag target: a valid reference without a digest (`latest` when no tag is given).
fn parse_target(text: &str) -> anyhow::Result<Reference> {
    let reference: Reference = text
        .parse()
        .map_err(|err| anyhow::anyhow!("invalid reference format {text:?}: {err}"))?;
    if reference.digest().is_some() {
        bail!("refusing to create a tag with a digest reference: {text}");
    }
    Ok(reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let cases = [
            ("app", Some("app:latest")),
            ("app:2", Some("app:2")),
            ("localhost:5000/a/b:c", Some("localhost:5000/a/b:c")),
            ("docker.io/library/app:1", Some("app:1")),
            ("Bad", None),
            ("app:bad tag", None),
        ];
        for (text, expected) in cases {
            let parsed = parse_target(text)
                .ok()
                .map(|reference| reference.familiar());
            assert_eq!(parsed.as_deref(), expected, "{text}");
        }
        let digest = format!("app@{}", kiln_oci::Digest::sha256_of(b"x"));
        let error = parse_target(&digest).unwrap_err().to_string();
        assert!(error.contains("digest reference"), "{error}");
    }
}
