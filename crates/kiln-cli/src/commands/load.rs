//! `kiln load`: import an oci-archive or docker-archive into the store.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use kiln_oci::Reference;

use crate::root;

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The archive to import (oci-archive or docker-archive, detected).
    #[arg(short = 'i', long = "input", value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// The archive to import (same as -i).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Tag the loaded image with this name instead of the archive's names (repeatable).
    #[arg(short = 't', long = "tag", value_name = "NAME")]
    pub tags: Vec<String>,
}

pub fn run(root_flag: Option<PathBuf>, args: LoadArgs) -> anyhow::Result<ExitCode> {
    let file = args
        .input
        .or(args.file)
        .context("kiln load needs an archive: kiln load FILE")?;
    let tags = parse_tags(&args.tags)?;
    let store = kiln_store::Store::open(&root::store_root(root_flag)?)
        .context("failed to open the store")?;
    let loaded = kiln_build::load::load(&store, &file, &tags)
        .with_context(|| format!("failed to load {}", file.display()))?;
    let mut out = String::new();
    for image in loaded {
        if image.names.is_empty() {
            // docker prints the image ID: the config digest.
            let stored = super::store_images::read_image(&store, &image.manifest)?;
            out.push_str(&format!("Loaded image ID: {}\n", stored.config_digest));
        }
        for name in image.names {
            out.push_str(&format!("Loaded image: {name}\n"));
        }
    }
    super::write_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// `-t NAME` values, normalized as Docker does (shared with `kiln build`).
pub fn parse_tags(tags: &[String]) -> anyhow::Result<Vec<Reference>> {
    tags.iter()
        .map(|tag| {
            tag.parse::<Reference>()
                .map_err(|err| anyhow::anyhow!("invalid tag {tag:?}: {err}"))
        })
        .collect()
}
