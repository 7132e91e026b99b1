//! Writing a step's layer into the store, and, for a RUN that follows,
//! unpacking it at the same time: into the stage's extracted root filesystem
//! (native snapshotter) or into a store snapshot, whole or as a delta on the
//! previous version's (overlay snapshotter, `crate::rootfs`).

use kiln_layer::LayerEntry;

use crate::build::Engine;
use crate::error::Result;
use crate::image::LayerRef;
use crate::stage::StageState;

/// Writes entries (made ready by [`kiln_layer::prepare_entries`]) as a gzip
/// layer into the store and, at the same time,
/// extracts them into `dest` with `options` (a stage's root filesystem in step
/// with the image, or an unpacked-layer snapshot), so the next RUN does not
/// decompress the layer again. Extraction warnings are emitted.
pub fn write_layer_into(
    engine: &Engine<'_>,
    entries: &[LayerEntry],
    dest: &std::path::Path,
    options: &kiln_layer::ExtractOptions,
) -> Result<(LayerRef, kiln_layer::ExtractReport)> {
    let (reader, writer) = std::io::pipe().map_err(|source| crate::BuildError::Io {
        path: dest.to_path_buf(),
        source,
    })?;
    let (written, extracted) = std::thread::scope(|scope| {
        let extractor = scope.spawn(move || kiln_layer::extract(reader, dest, options));
        let blob = engine.store.blob_writer();
        let written = blob.map_err(crate::BuildError::from).and_then(|blob| {
            let (layer, blob, pipe) =
                kiln_layer::write_prepared(entries, blob, &engine.layer_options(), writer)?;
            drop(pipe);
            blob.commit_verified(&layer.digest)?;
            save_block_map(engine, &layer)?;
            Ok(layer)
        });
        let extracted = extractor.join();
        (written, extracted)
    });
    let layer = written?;
    let report = match extracted {
        Ok(report) => report?,
        Err(_) => {
            return Err(crate::BuildError::Usage(
                "the layer extraction thread panicked".into(),
            ))
        }
    };
    for warning in &report.warnings {
        engine.warn(warning.clone());
    }
    let layer = LayerRef {
        descriptor: kiln_oci::descriptor(layer.media_type, &layer.digest, layer.size),
        diff_id: layer.diff_id,
    };
    Ok((layer, report))
}

/// Writes entries as a gzip layer and unpacks it at the same time into a
/// store snapshot on top of the stage's image (for the overlay root
/// filesystem of a RUN that follows).
pub fn write_layer_snapshot(
    engine: &Engine<'_>,
    state: &mut StageState,
    entries: &[LayerEntry],
) -> Result<LayerRef> {
    use crate::rootfs::snapshots;
    let parent = snapshots::chain_ids(&state.image.layers).pop();
    let builder = engine.store.snapshot_builder()?;
    let mut options = snapshots::overlay_extract_options();
    // Record what was unpacked, so that a later version of this layer can be
    // unpacked as a delta on this one.
    options.digests = true;
    let delta_base = delta_base(engine, parent.as_ref());
    let (layer, report, base) = match &delta_base {
        Some((base_chain, base_fs, manifest)) => {
            // The delta is worked out while the layer is written.
            let cache = &engine.stat_cache;
            let (delta, layer) = std::thread::scope(|scope| {
                let delta = scope.spawn(move || {
                    crate::rootfs::delta::delta_entries(entries, base_fs, manifest, cache)
                });
                let layer = write_prepared_layer(engine, entries);
                let delta = delta
                    .join()
                    .map_err(|_| crate::BuildError::Usage("the delta thread panicked".into()));
                (delta, layer)
            });
            let (delta, layer) = (delta??, layer?);
            match delta {
                Some(delta) => {
                    let report = extract_entries(delta, &builder.fs_path(), &options)?;
                    (layer, report, Some(base_chain))
                }
                None => {
                    let digest = kiln_oci::descriptor_digest(&layer.descriptor)?;
                    let file = engine.store.open_blob(&digest)?;
                    let (_, tar) = kiln_layer::decompress(std::io::BufReader::new(file))?;
                    let report = kiln_layer::extract(tar, &builder.fs_path(), &options)?;
                    (layer, report, None)
                }
            }
        }
        None => {
            let (layer, report) = write_layer_into(engine, entries, &builder.fs_path(), &options)?;
            (layer, report, None)
        }
    };
    let index = state.fs_index(engine.store)?;
    let below = |path: &str| -> Result<Option<snapshots::DirAttrs>> {
        Ok(index
            .get(path)
            .filter(|entry| entry.kind == kiln_layer::IndexKind::Dir)
            .map(|entry| snapshots::DirAttrs {
                mode: entry.mode,
                uid: entry.uid,
                gid: entry.gid,
                mtime: entry.mtime,
            }))
    };
    snapshots::finish(&builder, &report.implicit_dirs, &below)?;
    let chain = snapshots::chain_id(parent.as_ref(), &layer.diff_id);
    let digest = kiln_oci::descriptor_digest(&layer.descriptor)?;
    if base.is_none() {
        builder.put_file(
            crate::rootfs::delta::MANIFEST,
            &crate::rootfs::delta::Manifest::encode(&report.files),
        )?;
    }
    drop(report);
    engine
        .store
        .commit_delta_snapshot(&chain, &digest, builder, base)?;
    Ok(layer)
}

/// The full snapshot that the layer this step made in the previous build
/// stands on (itself, or the base of its delta), with what it holds, when the
/// store has it and it sits on the same layers as this one.
fn delta_base(
    engine: &Engine<'_>,
    parent: Option<&kiln_oci::Digest>,
) -> Option<(
    kiln_oci::Digest,
    std::path::PathBuf,
    crate::rootfs::delta::Manifest,
)> {
    let previous = engine.previous_layer.as_ref()?;
    let chain = crate::rootfs::snapshots::chain_id(parent, &previous.diff_id);
    let base = engine.store.snapshot_base(&chain).unwrap_or(chain);
    let fs = engine.store.snapshot(&base)?;
    let manifest = engine
        .store
        .snapshot_file(&base, crate::rootfs::delta::MANIFEST)
        .and_then(crate::rootfs::delta::Manifest::decode)?;
    Some((base, fs, manifest))
}

/// Extracts `entries` into `dest` (through an uncompressed tar on a pipe).
fn extract_entries(
    entries: Vec<LayerEntry>,
    dest: &std::path::Path,
    options: &kiln_layer::ExtractOptions,
) -> Result<kiln_layer::ExtractReport> {
    let (reader, writer) = std::io::pipe().map_err(|source| crate::BuildError::Io {
        path: dest.to_path_buf(),
        source,
    })?;
    let plain = kiln_layer::LayerOptions {
        compression: kiln_layer::Compression::None,
        ..Default::default()
    };
    std::thread::scope(|scope| {
        let extractor = scope.spawn(move || kiln_layer::extract(reader, dest, options));
        let written = kiln_layer::write_layer(entries, writer, &plain).map(drop);
        let extracted = extractor
            .join()
            .map_err(|_| crate::BuildError::Usage("the layer extraction thread panicked".into()))?;
        written?;
        Ok(extracted?)
    })
}

/// Writes entries as a gzip layer into the store.
pub fn write_layer(engine: &Engine<'_>, mut entries: Vec<LayerEntry>) -> Result<LayerRef> {
    kiln_layer::prepare_entries(&mut entries)?;
    write_prepared_layer(engine, &entries)
}

/// Writes entries made ready by [`kiln_layer::prepare_entries`] as a gzip
/// layer into the store.
pub fn write_prepared_layer(engine: &Engine<'_>, entries: &[LayerEntry]) -> Result<LayerRef> {
    let writer = engine.store.blob_writer()?;
    let (layer, writer, _) =
        kiln_layer::write_prepared(entries, writer, &engine.layer_options(), std::io::sink())?;
    writer.commit_verified(&layer.digest)?;
    save_block_map(engine, &layer)?;
    Ok(LayerRef {
        descriptor: kiln_oci::descriptor(layer.media_type, &layer.digest, layer.size),
        diff_id: layer.diff_id,
    })
}

/// Keeps where each compressed block of a new layer is, for the next build
/// of the same step.
fn save_block_map(engine: &Engine<'_>, layer: &kiln_layer::Layer) -> Result<()> {
    if let Some(map) = &layer.block_map {
        engine.store.put_block_map(&layer.digest, &map.encode())?;
    }
    Ok(())
}
