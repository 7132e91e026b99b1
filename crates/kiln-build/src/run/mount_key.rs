//! The cache-key field of a `RUN --mount`: its spec, and for a bind mount
//! what is mounted (file contents for the context or a local context, the
//! filesystem identity of a stage or image). Cache mounts and secrets enter
//! only by their spec: their contents never do.

use kiln_dockerfile::Span;
use sha2::{Digest as _, Sha256};

use super::mounts::RunMount;
use crate::build::Engine;
use crate::cache::StepInputs;
use crate::copy::select::{resolve, Selected};
use crate::error::{step_error, Result};
use crate::paths;
use crate::sources::{from_origin, Origin};

/// The key field of one mount.
pub fn mount_field(
    engine: &mut Engine<'_>,
    stage_index: usize,
    mount: &RunMount,
    span: Span,
) -> Result<String> {
    let RunMount::Bind {
        target,
        from,
        source,
        rw,
    } = mount
    else {
        return Ok(format!("{mount:?}"));
    };
    let origin = match from {
        Some(from) => from_origin(engine, stage_index, from, span)?,
        None => Origin::Tree(engine.context_tree()?),
    };
    let content = match origin {
        Origin::Image(identity) => format!("image {identity}"),
        Origin::Tree(tree) => {
            let relative = resolve(&tree.snapshot, &paths::clean(source)).ok_or_else(|| {
                step_error(span, format!("RUN --mount source {source:?} not found"))
            })?;
            let mut inputs = StepInputs::default();
            let selected = [Selected {
                path: relative.clone(),
                named: relative,
            }];
            crate::copy::key::add_selection_inputs(
                &mut inputs,
                &tree.snapshot,
                &selected,
                None,
                &engine.stat_cache,
            )?;
            let mut hasher = Sha256::new();
            for (name, value) in &inputs.0 {
                hasher.update(name.as_bytes());
                hasher.update([0]);
                hasher.update(value.as_bytes());
                hasher.update([0]);
            }
            format!("tree {}", hex::encode(hasher.finalize()))
        }
    };
    Ok(format!(
        "bind target={target} from={} source={source} rw={rw} content={content}",
        from.as_deref().unwrap_or("")
    ))
}
