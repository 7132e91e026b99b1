//! WORKDIR: sets the working directory, relative to the previous one, and
//! creates it as a layer when the image does not have it.

use std::collections::BTreeMap;

use kiln_dockerfile::instruction::Command;
use kiln_layer::{EntryKind, IndexKind, LayerEntry};

use crate::build::Engine;
use crate::error::{step_error, Result};
use crate::paths;
use crate::stage::StageState;

pub fn dispatch_workdir(
    engine: &mut Engine<'_>,
    state: &mut StageState,
    command: &Command,
    path: &str,
) -> Result<()> {
    let path = state.vars().expand(path, engine.escape, command.span)?;
    if path.is_empty() {
        return Err(step_error(command.span, "WORKDIR cannot be empty"));
    }
    let current = state.workdir();
    let workdir = paths::absolute(&current, &path);
    state.image.config.config.working_dir = Some(workdir.clone());
    // Whether WORKDIR makes a layer, and which, follows from the filesystem
    // (`parent`), the path and the USER (the owner of what it creates): a
    // rebuild answers from the cache without reading the base's layers.
    let mut inputs = crate::cache::StepInputs::new("WORKDIR", &state.fs_key);
    inputs.set("path", workdir.clone());
    inputs.set(
        "user",
        state.image.config.config.user.clone().unwrap_or_default(),
    );
    if let Some(epoch) = engine.options.source_date_epoch {
        inputs.set("epoch", epoch.to_string());
    }
    let key = inputs.key();
    if engine.cache_enabled(state.index) && crate::cache::is_empty_outcome(engine.store, &key)? {
        state.history(&engine.created, format!("WORKDIR {workdir}"), true);
        return Ok(());
    }
    let entries = missing_dirs(engine, state, &workdir, command)?;
    let created_layer = !entries.is_empty();
    if created_layer {
        engine.cached_layer(state, &command.original, inputs, |engine, state| {
            let layer = super::layer::write_layer(engine, entries)?;
            state.push_layer(engine.store, layer.clone())?;
            Ok(layer)
        })?;
    } else {
        crate::cache::save_empty_outcome(engine.store, &key)?;
    }
    state.history(
        &engine.created,
        format!("WORKDIR {workdir}"),
        !created_layer,
    );
    Ok(())
}

/// The directories of `workdir` the image lacks, as layer entries.
fn missing_dirs(
    engine: &mut Engine<'_>,
    state: &mut StageState,
    workdir: &str,
    command: &Command,
) -> Result<Vec<LayerEntry>> {
    let relative = paths::clean(workdir);
    engine.ensure_layers(&state.image)?;
    let owner = workdir_owner(engine, state)?;
    let index = state.fs_index(engine.store)?;
    let mut missing = Vec::new();
    let mut prefix = String::new();
    for part in relative.split('/').filter(|part| !part.is_empty()) {
        prefix = paths::join(&prefix, part);
        match index.resolve(&prefix) {
            Some((real, entry)) if matches!(entry.kind, IndexKind::Dir) => prefix = real,
            Some(_) => {
                return Err(step_error(
                    command.span,
                    format!("WORKDIR {workdir}: /{prefix} exists and is not a directory"),
                ))
            }
            None => missing.push(prefix.clone()),
        }
    }
    let mtime = engine.options.source_date_epoch.unwrap_or(0);
    Ok(missing
        .into_iter()
        .map(|path| LayerEntry {
            path,
            kind: EntryKind::Dir,
            mode: 0o755,
            uid: owner.0,
            gid: owner.1,
            mtime,
            xattrs: BTreeMap::new(),
        })
        .collect())
}

/// BuildKit creates a missing WORKDIR as the current USER.
fn workdir_owner(engine: &Engine<'_>, state: &mut StageState) -> Result<(u32, u32)> {
    let Some(user) = state
        .image
        .config
        .config
        .user
        .clone()
        .filter(|user| !user.is_empty())
    else {
        return Ok((0, 0));
    };
    let index = state.fs_index(engine.store)?;
    crate::copy::chown::resolve_chown(
        &user,
        index.captured("etc/passwd"),
        index.captured("etc/group"),
    )
    .map_err(|message| BuildError::Usage(format!("WORKDIR as USER {user}: {message}")))
}

use crate::error::BuildError;
