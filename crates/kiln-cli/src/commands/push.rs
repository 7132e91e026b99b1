//! `kiln push NAME [DESTINATION]`: upload an image from the store.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use kiln_oci::{Descriptor, Reference};
use kiln_store::Store;

use crate::registry::RegistryArgs;
use crate::root;

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The image in the store.
    pub name: String,
    /// Where to push it (default: NAME).
    pub destination: Option<String>,
    /// Write the pushed digest as JSON to this file (as buildx does).
    #[arg(long, value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,
    /// Print only the pushed digest.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

pub fn run(root_flag: Option<PathBuf>, args: PushArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(&root::store_root(root_flag)?).context("failed to open the store")?;
    let source: Reference = args
        .name
        .parse()
        .map_err(|err| anyhow::anyhow!("invalid image name {:?}: {err}", args.name))?;
    let manifest = store
        .resolve_tag(&source.familiar())?
        .with_context(|| format!("image {} is not in the store", source.familiar()))?;
    let destination: Reference = match &args.destination {
        Some(text) => text
            .parse()
            .map_err(|err| anyhow::anyhow!("invalid destination {text:?}: {err}"))?,
        None => source.clone(),
    };
    let client = kiln_registry::Client::new(args.registry.client_options()?)?;
    let digest = push_one(&client, &store, &manifest, &destination, args.quiet)?;
    if let Some(path) = &args.metadata_file {
        write_metadata(path, &destination, &manifest, &digest)?;
    }
    if args.quiet {
        println!("{digest}");
    } else {
        println!("Pushed {}@{digest}", destination.name());
    }
    Ok(ExitCode::SUCCESS)
}

/// Pushes one manifest; used by `kiln push` and `kiln build --push`.
pub fn push_one(
    client: &kiln_registry::Client,
    store: &Store,
    manifest: &Descriptor,
    destination: &Reference,
    quiet: bool,
) -> anyhow::Result<kiln_oci::Digest> {
    let progress = crate::transfer::TransferLines::new(quiet);
    // Blobs of images the store knows to be on the same registry are mounted
    // from their repository instead of uploaded.
    let options = kiln_registry::PushOptions {
        mount_from: kiln_build::pull::known_remote_images(store),
        ..kiln_registry::PushOptions::default()
    };
    let digest = client
        .push_with(store, manifest, destination, &options, &progress)
        .with_context(|| format!("failed to push {destination}"))?;
    if destination.digest().is_none() {
        kiln_build::pull::mark_pulled(store, destination);
    }
    Ok(digest)
}

/// buildx's metadata file: `containerimage.digest` and `image.name`.
pub fn write_metadata(
    path: &Path,
    destination: &Reference,
    manifest: &Descriptor,
    digest: &kiln_oci::Digest,
) -> anyhow::Result<()> {
    let value = serde_json::json!({
        "containerimage.digest": digest.to_string(),
        "containerimage.descriptor": {
            "mediaType": manifest.media_type().to_string(),
            "digest": digest.to_string(),
            "size": manifest.size(),
        },
        "image.name": destination.to_string(),
    });
    let text = serde_json::to_string_pretty(&value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("failed to write {}", path.display()))
}
