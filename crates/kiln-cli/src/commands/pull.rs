//! `kiln pull NAME`: fetch an image from its registry into the store.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use kiln_oci::{Platform, Reference};

use crate::registry::RegistryArgs;
use crate::root;

#[derive(Debug, Args)]
pub struct PullArgs {
    /// The image, e.g. `alpine:3.20`, `ghcr.io/org/app@sha256:...`.
    pub name: String,
    /// The platform to pull from a multi-platform image (default: the host's).
    #[arg(long)]
    pub platform: Option<String>,
    /// Print only the manifest digest.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

pub fn run(root_flag: Option<PathBuf>, args: PullArgs) -> anyhow::Result<ExitCode> {
    let reference: Reference = args
        .name
        .parse()
        .map_err(|err| anyhow::anyhow!("invalid image name {:?}: {err}", args.name))?;
    let platform = match &args.platform {
        Some(text) => Platform::parse(text)
            .map_err(|err| anyhow::anyhow!("invalid --platform {text:?}: {err}"))?,
        None => Platform::host(),
    };
    let store = kiln_store::Store::open(&root::store_root(root_flag)?)
        .context("failed to open the store")?;
    let client = kiln_registry::Client::new(args.registry.client_options()?)?;
    let _gc = store.gc_guard()?;
    let progress = crate::transfer::TransferLines::new(args.quiet);
    let manifest = client
        .pull(&reference, &platform, &store, &progress)
        .with_context(|| format!("failed to pull {reference}"))?;
    if reference.digest().is_none() {
        store.set_tag(&reference.familiar(), &manifest)?;
        kiln_build::pull::mark_pulled(&store, &reference);
    }
    if args.quiet {
        println!("{}", manifest.digest());
    } else {
        println!("Digest: {}", manifest.digest());
        println!("Pulled {}", reference.familiar());
    }
    Ok(ExitCode::SUCCESS)
}
