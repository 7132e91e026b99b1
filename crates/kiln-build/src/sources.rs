//! Source trees for COPY and ADD: the build context, a named local context,
//! or another image's filesystem extracted into the store's scratch space.

use std::rc::Rc;

use kiln_dockerfile::Span;
use tempfile::TempDir;

use crate::build::Engine;
use crate::context::{read_dockerignore, IgnoreMatcher, Snapshot};
use crate::error::{step_error, Result};
use crate::image::{materialize, Image};
use crate::options::NamedContext;
use crate::plan::find_stage;

/// A walked tree, and the scratch directory that holds it when it is not the context.
pub struct Tree {
    /// The entries.
    pub snapshot: Snapshot,
    /// Owners recorded for the entries when the files on disk cannot carry
    /// them (an archive unpacked without root): tree path → (uid, gid).
    pub owners: std::collections::BTreeMap<String, (u32, u32)>,
    _scratch: Option<TempDir>,
}

impl Tree {
    /// Wraps a snapshot, keeping `scratch` alive as long as the tree.
    pub fn new(snapshot: Snapshot, scratch: Option<TempDir>) -> Tree {
        Tree {
            snapshot,
            owners: std::collections::BTreeMap::new(),
            _scratch: scratch,
        }
    }
}

/// What `COPY --from=NAME` names, without extracting anything: a tree whose
/// files can be hashed (a named local context), or an image whose
/// filesystem identity stands for its content in cache keys.
pub enum Origin {
    /// A directory tree.
    Tree(Rc<Tree>),
    /// A stage or image: its [`Image::fs_identity`].
    Image(String),
}

/// Resolves `COPY --from=NAME` for a cache key.
pub fn from_origin(
    engine: &mut Engine<'_>,
    stage_index: usize,
    from: &str,
    span: Span,
) -> Result<Origin> {
    if let Some(found) = find_stage(&engine.plan.stages, from, stage_index, true) {
        let image = engine
            .results
            .get(&found)
            .ok_or_else(|| step_error(span, format!("stage {from:?} has not been built")))?;
        return Ok(Origin::Image(image.fs_identity()));
    }
    match engine.options.build_contexts.get(from).cloned() {
        Some(NamedContext::Local(_)) => {
            Ok(Origin::Tree(from_tree(engine, stage_index, from, span)?))
        }
        Some(NamedContext::OciLayout { dir, reference }) => {
            let image = crate::layout::image_from_layout(engine.store, &dir, reference.as_deref())
                .map_err(|err| err.at(span))?;
            Ok(Origin::Image(image.fs_identity()))
        }
        None => {
            if from.parse::<usize>().is_ok() {
                return Err(step_error(
                    span,
                    format!("--from={from}: no stage with that index before this one"),
                ));
            }
            let image = crate::dispatch::from::image_by_name(engine, from)
                .map_err(|err| step_error(span, format!("--from={from}: {err}")))?;
            Ok(Origin::Image(image.fs_identity()))
        }
    }
}

/// Where `COPY --from=NAME` reads.
pub fn from_tree(
    engine: &mut Engine<'_>,
    stage_index: usize,
    from: &str,
    span: Span,
) -> Result<Rc<Tree>> {
    if let Some(found) = find_stage(&engine.plan.stages, from, stage_index, true) {
        let key = format!("stage:{found}");
        if let Some(tree) = engine.trees.get(&key) {
            return Ok(tree.clone());
        }
        let image = engine
            .results
            .get(&found)
            .cloned()
            .ok_or_else(|| step_error(span, format!("stage {from:?} has not been built")))?;
        return image_tree(engine, key, &image, span);
    }
    if let Some(named) = engine.options.build_contexts.get(from).cloned() {
        let key = format!("context:{from}");
        if let Some(tree) = engine.trees.get(&key) {
            return Ok(tree.clone());
        }
        let tree = match named {
            NamedContext::Local(dir) => {
                let patterns = read_dockerignore(&dir, None)?;
                let snapshot = Snapshot::walk(&dir, &IgnoreMatcher::new(&patterns)?)?;
                Rc::new(Tree::new(snapshot, None))
            }
            NamedContext::OciLayout { dir, reference } => {
                let image =
                    crate::layout::image_from_layout(engine.store, &dir, reference.as_deref())?;
                return image_tree(engine, key, &image, span);
            }
        };
        engine.trees.insert(key, tree.clone());
        return Ok(tree);
    }
    if from.parse::<usize>().is_ok() {
        return Err(step_error(
            span,
            format!("--from={from}: no stage with that index before this one"),
        ));
    }
    let image = crate::dispatch::from::image_by_name(engine, from)
        .map_err(|err| step_error(span, format!("--from={from}: {err}")))?;
    let key = format!("image:{from}");
    if let Some(tree) = engine.trees.get(&key) {
        return Ok(tree.clone());
    }
    image_tree(engine, key, &image, span)
}

fn image_tree(engine: &mut Engine<'_>, key: String, image: &Image, span: Span) -> Result<Rc<Tree>> {
    engine.ensure_layers(image).map_err(|err| err.at(span))?;
    let scratch = engine.store.tmp_dir("rootfs-")?;
    for warning in materialize(engine.store, image, scratch.path()).map_err(|err| err.at(span))? {
        engine.warn(warning);
    }
    let snapshot = Snapshot::walk(scratch.path(), &IgnoreMatcher::new(&[])?)?;
    let tree = Rc::new(Tree::new(snapshot, Some(scratch)));
    engine.trees.insert(key, tree.clone());
    Ok(tree)
}
