//! `kiln rmi NAME|ID...`: remove tags. Blobs stay until `kiln prune`.
//!
//! As docker: a name removes that tag; an ID (or digest) removes every tag
//! of the image, which needs `-f` when there is more than one. Each
//! argument is handled on its own; failures are reported as they happen and
//! make the exit status 1.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use kiln_store::Store;

use super::store_images::{self, Lookup};
use super::{open_store, write_stdout};

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Images to untag: names, image IDs (or prefixes) or digests.
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
    /// Remove every tag of an image given by ID, even when it has several.
    #[arg(short, long)]
    pub force: bool,
    /// Do not print the `Untagged:` lines.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(root: Option<PathBuf>, args: RmiArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(root)?;
    let mut failed = false;
    for text in &args.images {
        match remove(&store, text, args.force) {
            Ok(untagged) => {
                if !args.quiet {
                    let lines: String = untagged
                        .iter()
                        .map(|name| format!("Untagged: {name}\n"))
                        .collect();
                    write_stdout(&lines)?;
                }
            }
            Err(err) => {
                failed = true;
                eprintln!("error: {err:#}");
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Removes what `text` names; returns the removed tags.
fn remove(store: &Store, text: &str, force: bool) -> anyhow::Result<Vec<String>> {
    let images = store_images::list(store)?;
    let names = match store_images::lookup(&images, text)? {
        Lookup::Tag { name, .. } => vec![name],
        Lookup::Image(position) => {
            // Every tag of every manifest with this image ID.
            let id = &images[position].config_digest;
            let names: Vec<String> = images
                .iter()
                .filter(|image| &image.config_digest == id)
                .flat_map(|image| image.names.iter().cloned())
                .collect();
            if names.len() > 1 && !force {
                bail!(
                    "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                    images[position].id(false)
                );
            }
            names
        }
    };
    let mut removed = Vec::new();
    for name in names {
        if store
            .remove_tag(&name)
            .with_context(|| format!("failed to remove tag {name}"))?
        {
            removed.push(name);
        }
    }
    Ok(removed)
}
