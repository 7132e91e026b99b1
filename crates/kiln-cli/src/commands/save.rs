//! `kiln save [-o FILE] [--format docker|oci] IMAGE...`: several images in
//! one archive, as `docker save` writes it (docker: one `manifest.json`
//! entry per image with its `RepoTags`; oci: one `index.json` entry per name).
//!
//! The archive is written beside its destination and renamed into place
//! when complete, so a failure leaves nothing. Without `-o` it goes to
//! standard output, which must not be a terminal.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use kiln_oci::media_type::is_index;
use kiln_oci::{ExportImage, Reference};
use kiln_store::Store;

use super::open_store;
use super::store_images::{self, Lookup, StoredImage};

/// The archive formats `kiln save` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SaveFormat {
    /// docker-archive, as `docker save` (layers uncompressed).
    Docker,
    /// oci-archive: a tar of an OCI image layout.
    Oci,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Images: names, image IDs (or prefixes) or digests.
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The archive format.
    #[arg(long, value_enum, default_value = "docker")]
    pub format: SaveFormat,
}

pub fn run(root: Option<PathBuf>, args: SaveArgs) -> anyhow::Result<ExitCode> {
    if args.output.is_none() && std::io::stdout().is_terminal() {
        bail!(
            "refusing to write an archive to a terminal: use -o FILE or redirect standard output"
        );
    }
    let store = open_store(root)?;
    let images = store_images::list(&store)?;
    let mut exports: Vec<ExportImage> = Vec::new();
    for text in &args.images {
        let found = store_images::lookup(&images, text)?;
        let image = &images[found.image()];
        let manifest = manifest_descriptor(&store, image)?;
        let name =
            match &found {
                Lookup::Tag { name, .. } => Some(name.parse::<Reference>().map_err(|err| {
                    anyhow::anyhow!("tag {name:?} is not a valid reference: {err}")
                })?),
                Lookup::Image(_) => None,
            };
        let existing = exports
            .iter_mut()
            .find(|export| export.manifest.digest() == manifest.digest());
        match existing {
            Some(export) => {
                if let Some(name) = name.filter(|name| !export.names.contains(name)) {
                    export.names.push(name);
                }
            }
            None => exports.push(ExportImage {
                manifest,
                names: name.into_iter().collect(),
            }),
        }
    }
    match &args.output {
        Some(path) => write_archive(&store, path, args.format, &exports)?,
        None => {
            let scratch = store.tmp_dir("save-")?;
            let path = scratch.path().join("archive.tar");
            write_archive(&store, &path, args.format, &exports)?;
            let mut file = std::fs::File::open(&path)
                .with_context(|| format!("failed to open {}", path.display()))?;
            let mut stdout = std::io::stdout().lock();
            std::io::copy(&mut file, &mut stdout).context("failed to write to standard output")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The image manifest to export (the platform's entry for an index).
fn manifest_descriptor(store: &Store, image: &StoredImage) -> anyhow::Result<kiln_oci::Descriptor> {
    if !is_index(image.descriptor.media_type().as_ref()) {
        return Ok(image.descriptor.clone());
    }
    let bytes = store.read_blob(&image.manifest_digest)?;
    let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|value| value.get("mediaType")?.as_str().map(str::to_string))
        .unwrap_or_else(|| kiln_oci::OCI_MANIFEST.to_string());
    Ok(kiln_oci::descriptor(
        &media_type,
        &image.manifest_digest,
        bytes.len() as u64,
    ))
}

fn write_archive(
    store: &Store,
    path: &Path,
    format: SaveFormat,
    exports: &[ExportImage],
) -> anyhow::Result<()> {
    let result = match format {
        SaveFormat::Docker => kiln_oci::write_docker_archive(path, exports, store),
        SaveFormat::Oci => kiln_oci::write_oci_archive(path, exports, store),
    };
    result.with_context(|| format!("failed to write {}", path.display()))
}
