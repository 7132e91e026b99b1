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
    let current = state
        .image
        .config
        .config
        .working_dir
        .clone()
        .unwrap_or_else(|| "/".to_string());
    let workdir = paths::absolute(&current, &path);
    state.image.config.config.working_dir = Some(workdir.clone());
    let relative = paths::clean(&workdir);
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
    let entries: Vec<LayerEntry> = missing
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
        .collect();
    let created_layer = !entries.is_empty();
    if created_layer {
        let mut inputs = crate::cache::StepInputs::new("WORKDIR", &state.fs_key);
        for entry in &entries {
            inputs.set(
                format!("dir:{}", entry.path),
                format!("{:o}|{}:{}", entry.mode, entry.uid, entry.gid),
            );
        }
        if let Some(epoch) = engine.options.source_date_epoch {
            inputs.set("epoch", epoch.to_string());
        }
        engine.cached_layer(state, &command.original, inputs, |engine, state| {
            let layer = super::copy::write_layer(engine, entries)?;
            state.push_layer(engine.store, layer.clone())?;
            Ok(layer)
        })?;
    }
    state.history(
        &engine.created,
        format!("WORKDIR {workdir}"),
        !created_layer,
    );
    Ok(())
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
