//! The build: parse, plan, run each needed stage, assemble and export.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Instant;

use kiln_dockerfile::instruction::{parse_command, to_stages, Command};
use kiln_dockerfile::Span;
use kiln_oci::{Descriptor, Digest, Platform};
use kiln_store::Store;

use crate::context::{read_dockerignore, IgnoreMatcher, Snapshot};
use crate::error::{step_error, BuildError, Result};
use crate::image::Image;
use crate::options::BuildOptions;
use crate::plan::{plan, Plan};
use crate::progress::{Event, Progress};
use crate::sources::Tree;
use crate::stage::StageState;

/// What a successful build produced.
#[derive(Debug, Clone)]
pub struct BuildOutcome {
    /// The image manifest in the store.
    pub manifest: Descriptor,
    /// The config digest (the image ID).
    pub config_digest: Digest,
}

/// Everything the steps of one build share.
pub struct Engine<'a> {
    pub(crate) store: &'a Store,
    pub(crate) options: &'a BuildOptions,
    pub(crate) progress: &'a dyn Progress,
    pub(crate) plan: Plan,
    pub(crate) escape: char,
    pub(crate) platform: Platform,
    /// `created` of every history entry and the config.
    pub(crate) created: String,
    /// Finished stages.
    pub(crate) results: BTreeMap<usize, Image>,
    /// The main build context, walked on first use.
    pub(crate) context: Option<Rc<Tree>>,
    /// Trees for `COPY --from`, by a key naming their origin.
    pub(crate) trees: BTreeMap<String, Rc<Tree>>,
    /// Build args read by an ARG.
    pub(crate) consumed: std::collections::BTreeSet<String>,
    next_step: usize,
    /// True when `.dockerignore` hides part of the context (RUN bind mounts of
    /// the context then get a filtered copy).
    pub(crate) context_filtered: bool,
    /// The registry client, made on first use.
    registry: Option<kiln_registry::Client>,
    /// Images named in FROM or `--from`, resolved once per build.
    pub(crate) named_images: BTreeMap<String, Image>,
    /// Content digests of context files by their stat facts, kept between builds.
    pub(crate) stat_cache: std::sync::RwLock<kiln_store::StatCache>,
    /// The previous build of this Dockerfile and target, for miss reasons
    /// (read at the first miss: a fully cached build never parses it).
    previous: Option<Option<crate::cache::explain::BuildRecord>>,
    /// The name of this build's record.
    record_name: String,
    /// This build's layer steps.
    record: crate::cache::explain::BuildRecord,
    /// True once a step missed the cache.
    any_miss: bool,
    /// While a step that missed runs: the compressed blocks of the layer the
    /// same step made in the previous build, to copy instead of recompress.
    pub(crate) reuse: Option<std::sync::Arc<dyn kiln_layer::BlockSource>>,
    /// While a step that missed runs: the layer the same step made in the
    /// previous build (a COPY unpacks as a delta on its snapshot).
    pub(crate) previous_layer: Option<crate::image::LayerRef>,
    /// For each step of `record`: its stage, position, instruction and key.
    record_keys: Vec<String>,
}

/// The compressed blocks of `layer` (what the same step made in the previous
/// build), when the store still has it and its block map.
fn previous_blocks(
    store: &Store,
    layer: &crate::image::LayerRef,
) -> Option<std::sync::Arc<dyn kiln_layer::BlockSource>> {
    let digest = kiln_oci::descriptor_digest(&layer.descriptor).ok()?;
    let map = kiln_layer::BlockMap::decode(&store.block_map(&digest).ok()??).ok()?;
    let mut blocks = kiln_layer::BlobBlocks::new();
    blocks.add(&map, store.open_blob(&digest).ok()?).ok()?;
    Some(std::sync::Arc::new(blocks))
}

/// Builds the target of `options.dockerfile` into `store`.
pub fn build(
    store: &Store,
    options: &BuildOptions,
    progress: &dyn Progress,
) -> Result<BuildOutcome> {
    // Held until the image is tagged: a concurrent prune waits instead of
    // deleting the blobs this build writes or reuses.
    let _gc = store.gc_guard()?;
    let file = kiln_dockerfile::parse(&options.dockerfile)?;
    for warning in &file.warnings {
        progress.event(Event::Warning(warning.clone()));
    }
    let stages = to_stages(&file).map_err(|source| BuildError::Instruction {
        span: source.span(),
        source,
    })?;
    let platform = check_platform(options.platform.as_deref())?;
    let plan = plan(
        stages,
        &options.build_args,
        options.target.as_deref(),
        &platform,
        file.escape,
    )?;
    let created_secs = options.source_date_epoch.unwrap_or(options.now);
    let mut engine = Engine {
        store,
        options,
        progress,
        consumed: plan.consumed.clone(),
        plan,
        escape: file.escape,
        platform,
        created: format_time(created_secs),
        results: BTreeMap::new(),
        context: None,
        trees: BTreeMap::new(),
        next_step: 0,
        context_filtered: false,
        registry: None,
        named_images: BTreeMap::new(),
        stat_cache: std::sync::RwLock::new(store.load_stat_cache()),
        previous: None,
        record_name: String::new(),
        record: crate::cache::explain::BuildRecord::default(),
        any_miss: false,
        reuse: None,
        previous_layer: None,
        record_keys: Vec::new(),
    };
    let record_name = crate::cache::explain::record_name(
        &absolute(&options.context_dir),
        options.dockerfile_path.as_deref().map(absolute).as_deref(),
        options.target.as_deref(),
    );
    engine.record_name = record_name.clone();
    let order = engine.plan.order.clone();
    let built = order.into_iter().try_for_each(|index| {
        let image = engine.build_stage(index)?;
        engine.results.insert(index, image);
        Ok::<(), BuildError>(())
    });
    let saved = match engine.stat_cache.read() {
        Ok(cache) => store.save_stat_cache(&cache),
        Err(poisoned) => store.save_stat_cache(&poisoned.into_inner()),
    };
    if let Err(err) = saved {
        engine.warn(format!("could not save the stat cache: {err}"));
    }
    built?;
    // The record is rewritten when this build's steps differ from the saved
    // ones, which its summary (small) tells without reading the record.
    let summary = crate::cache::explain::summary(&engine.record_keys);
    let changed = engine.any_miss
        || crate::cache::explain::load_summary(store, &record_name).as_deref()
            != Some(summary.as_str());
    if changed {
        if let Err(err) = crate::cache::explain::save(store, &record_name, &engine.record, &summary)
        {
            engine.warn(format!("could not save the build record: {err}"));
        }
    }
    engine.warn_unused_args();
    let target = *engine
        .plan
        .order
        .last()
        .ok_or_else(|| BuildError::Usage("nothing to build".into()))?;
    let mut image = engine
        .results
        .remove(&target)
        .ok_or_else(|| BuildError::Usage("nothing was built".into()))?;
    for (key, value) in &options.labels {
        image
            .config
            .config
            .labels
            .insert(key.clone(), value.clone());
    }
    image.config.created = Some(engine.created.clone());
    engine.ensure_layers(&image)?;
    crate::export::export(&engine, &image)
}

/// An absolute form of a path (for naming build records), without touching it.
fn absolute(path: &std::path::Path) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Formats seconds since the epoch as RFC 3339 in UTC.
pub fn format_time(secs: i64) -> String {
    let secs = u64::try_from(secs).unwrap_or(0);
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .to_string()
}

fn check_platform(requested: Option<&str>) -> Result<Platform> {
    let host = Platform::host();
    if let Some(text) = requested {
        let wanted = Platform::parse(text)
            .map_err(|err| BuildError::Usage(format!("invalid --platform {text:?}: {err}")))?;
        if wanted.os != host.os || wanted.architecture != host.architecture {
            return Err(BuildError::Usage(format!(
                "--platform {text} is not supported: kiln builds only for the host platform ({host}) for now"
            )));
        }
    }
    Ok(host)
}

impl<'a> Engine<'a> {
    /// Starts a step: reports it and returns its id and start time.
    pub(crate) fn start_step(
        &mut self,
        index: usize,
        position: usize,
        total: usize,
        text: &str,
    ) -> (usize, Instant) {
        self.next_step += 1;
        let stage = self.plan.stages[index]
            .name
            .clone()
            .unwrap_or_else(|| format!("stage-{index}"));
        self.progress.event(Event::StepStarted {
            id: self.next_step,
            label: self.stage_label(index, position, total),
            stage,
            text: text.to_string(),
        });
        (self.next_step, Instant::now())
    }

    /// The registry client (`None` when registry access is off).
    pub(crate) fn registry_client(&mut self) -> Result<Option<&kiln_registry::Client>> {
        if self.registry.is_none() {
            if let Some(options) = &self.options.registry {
                let client = kiln_registry::Client::new(options.clone()).map_err(|err| {
                    BuildError::Usage(format!("failed to set up the registry client: {err}"))
                })?;
                self.registry = Some(client);
            }
        }
        Ok(self.registry.as_ref())
    }

    /// Makes sure every layer of `image` is in the store, fetching the ones
    /// a registry base left for later.
    pub(crate) fn ensure_layers(&mut self, image: &Image) -> Result<()> {
        if image.remote.is_none() {
            return Ok(());
        }
        let (store, progress, step) = (self.store, self.progress, self.current_step());
        let client = self.registry_client()?;
        crate::pull::fetch_layers(store, client, image, progress, step)
    }

    /// The id of the step in progress.
    pub(crate) fn current_step(&self) -> usize {
        self.next_step
    }

    /// The sandbox RUN steps use.
    pub(crate) fn sandbox(&self) -> Result<SandboxHandle> {
        match &self.options.isolation {
            crate::options::Isolation::Builtin => {
                let init_exe = self.options.init_exe.clone().ok_or_else(|| {
                    BuildError::Usage(
                        "the builtin sandbox needs the kiln binary to re-execute".into(),
                    )
                })?;
                Ok(SandboxHandle {
                    sandbox: Box::new(kiln_run::Builtin { init_exe }),
                    _scratch: None,
                })
            }
            crate::options::Isolation::Runc { runtime } => {
                let scratch = self.store.tmp_dir("bundle-")?;
                let state_dir = self.store.root().join("tmp").join("runc-state");
                std::fs::create_dir_all(&state_dir).map_err(|source| BuildError::Io {
                    path: state_dir.clone(),
                    source,
                })?;
                Ok(SandboxHandle {
                    sandbox: Box::new(kiln_run::Runc {
                        runtime: runtime.clone(),
                        state_dir,
                        bundle_dir: scratch.path().to_path_buf(),
                    }),
                    _scratch: Some(scratch),
                })
            }
        }
    }

    pub(crate) fn finish_step(
        &self,
        id: usize,
        started: Instant,
        outcome: Option<(bool, Option<String>)>,
    ) {
        let (cached, miss_reason) = outcome.unwrap_or((false, None));
        self.progress.event(Event::StepDone {
            id,
            duration: started.elapsed(),
            cached,
            miss_reason,
        });
    }

    /// True when the cache may be used for steps of stage `index`.
    pub(crate) fn cache_enabled(&self, index: usize) -> bool {
        if self.options.no_cache {
            return false;
        }
        let stage = &self.plan.stages[index];
        let name = stage.name.clone().unwrap_or_else(|| index.to_string());
        !self
            .options
            .no_cache_filter
            .iter()
            .any(|filter| filter.eq_ignore_ascii_case(&name) || filter == &index.to_string())
    }

    /// Runs a layer-producing step through the cache: a hit reuses the
    /// recorded layer; a miss runs `make` (which adds the layer to the stage)
    /// and records it.
    pub(crate) fn cached_layer(
        &mut self,
        state: &mut StageState,
        instruction: &str,
        inputs: crate::cache::StepInputs,
        make: impl FnOnce(&mut Engine<'a>, &mut StageState) -> Result<crate::image::LayerRef>,
    ) -> Result<()> {
        let key = inputs.key();
        let hit = if self.cache_enabled(state.index) {
            crate::cache::lookup(self.store, &key)?
        } else {
            None
        };
        match hit {
            Some(layer) => {
                state.push_layer(self.store, layer)?;
                state.outcome = Some((true, None));
            }
            None => {
                let enabled = self.cache_enabled(state.index);
                let (store, name) = (self.store, self.record_name.clone());
                let previous = self
                    .previous
                    .get_or_insert_with(|| crate::cache::explain::load(store, &name))
                    .as_ref()
                    .and_then(|record| record.find(&state.label, state.position, instruction));
                let reason = if enabled {
                    crate::cache::explain::miss_reason(previous, &inputs)
                } else {
                    "the cache is disabled for this stage (--no-cache)".to_string()
                };
                let previous_layer = previous.and_then(|step| {
                    crate::cache::lookup(store, &step.inputs.key())
                        .ok()
                        .flatten()
                });
                self.reuse = previous_layer
                    .as_ref()
                    .and_then(|layer| previous_blocks(store, layer));
                self.previous_layer = previous_layer;
                let layer = make(self, state);
                self.reuse = None;
                self.previous_layer = None;
                let layer = layer?;
                crate::cache::save(self.store, &key, &layer)?;
                self.any_miss = true;
                state.outcome = Some((false, Some(reason)));
            }
        }
        self.record_keys.push(format!(
            "{}\0{}\0{}\0{key}",
            state.label, state.position, instruction
        ));
        state.fs_key = key;
        self.record.steps.push(crate::cache::explain::StepRecord {
            stage: state.label.clone(),
            position: state.position,
            instruction: instruction.to_string(),
            inputs,
        });
        Ok(())
    }

    /// How the layers of this build are written.
    pub(crate) fn layer_options(&self) -> kiln_layer::LayerOptions {
        kiln_layer::LayerOptions {
            reuse: self.reuse.clone(),
            ..Default::default()
        }
    }

    pub(crate) fn warn(&self, message: String) {
        self.progress.event(Event::Warning(message));
    }

    fn stage_label(&self, index: usize, position: usize, total: usize) -> String {
        if self.plan.stages.len() == 1 {
            format!("{position}/{total}")
        } else {
            let stage = &self.plan.stages[index];
            let name = stage
                .name
                .clone()
                .unwrap_or_else(|| format!("stage-{index}"));
            format!("{name} {position}/{total}")
        }
    }

    fn build_stage(&mut self, index: usize) -> Result<Image> {
        let stage = self.plan.stages[index].clone();
        let total = stage.commands.len() + 1;
        let (id, started) = self.start_step(index, 1, total, &stage.original);
        let base = crate::dispatch::from::base_image(self, &stage)?;
        self.finish_step(id, started, None);
        let label = stage
            .name
            .clone()
            .unwrap_or_else(|| format!("stage-{index}"));
        let mut state = StageState::new(index, label, base, &self.platform.to_string());
        let triggers = std::mem::take(&mut state.image.config.config.on_build);
        for trigger in triggers {
            let command = parse_trigger(&trigger, stage.span, self.escape)?;
            // Conservatively: a later trigger or any instruction may RUN.
            state.run_follows = true;
            let (id, started) = self.start_step(index, 1, total, &format!("ONBUILD {trigger}"));
            state.outcome = None;
            crate::dispatch::dispatch(self, &mut state, &command)?;
            self.finish_step(id, started, state.outcome.take());
        }
        let is_run = |command: &kiln_dockerfile::instruction::Command| {
            matches!(
                command.kind,
                kiln_dockerfile::instruction::CommandKind::Run(_)
            )
        };
        for (position, command) in stage.commands.iter().enumerate() {
            state.run_follows = stage.commands[position + 1..].iter().any(is_run);
            if self
                .options
                .cancel
                .load(std::sync::atomic::Ordering::SeqCst)
            {
                return Err(BuildError::Usage("build interrupted".into()));
            }
            let (id, started) = self.start_step(index, position + 2, total, &command.original);
            state.position = position + 2;
            state.outcome = None;
            crate::dispatch::dispatch(self, &mut state, command)
                .map_err(|err| err.at(command.span))?;
            self.finish_step(id, started, state.outcome.take());
        }
        Ok(state.image)
    }

    /// The build context, walked (honouring .dockerignore) on first use.
    pub(crate) fn context_tree(&mut self) -> Result<Rc<Tree>> {
        if let Some(tree) = &self.context {
            return Ok(tree.clone());
        }
        let patterns = read_dockerignore(
            &self.options.context_dir,
            self.options.dockerfile_path.as_deref(),
        )?;
        self.context_filtered = !patterns.is_empty();
        let matcher = IgnoreMatcher::new(&patterns)?;
        let snapshot = Snapshot::walk(&self.options.context_dir, &matcher)?;
        let tree = Rc::new(Tree::new(snapshot, None));
        self.context = Some(tree.clone());
        Ok(tree)
    }

    fn warn_unused_args(&self) {
        let unused: Vec<&str> = self
            .options
            .build_args
            .keys()
            .filter(|name| !self.consumed.contains(*name) && !is_predefined_arg(name))
            .map(String::as_str)
            .collect();
        if !unused.is_empty() {
            self.warn(format!(
                "one or more build args were not consumed: [{}]",
                unused.join(" ")
            ));
        }
    }
}

/// A sandbox and the scratch space it needs for as long as it runs.
pub(crate) struct SandboxHandle {
    sandbox: Box<dyn kiln_run::Sandbox>,
    _scratch: Option<tempfile::TempDir>,
}

impl std::ops::Deref for SandboxHandle {
    type Target = dyn kiln_run::Sandbox;

    fn deref(&self) -> &Self::Target {
        self.sandbox.as_ref()
    }
}

/// Build args every Dockerfile may use without declaring them.
pub fn is_predefined_arg(name: &str) -> bool {
    matches!(
        name.to_ascii_uppercase().as_str(),
        "HTTP_PROXY" | "HTTPS_PROXY" | "FTP_PROXY" | "NO_PROXY" | "ALL_PROXY"
    )
}

/// Parses an ONBUILD trigger stored in a base image's config.
fn parse_trigger(trigger: &str, span: Span, escape: char) -> Result<Command> {
    let text = if escape == '\\' {
        trigger.to_string()
    } else {
        format!("# escape={escape}\n{trigger}")
    };
    let file = kiln_dockerfile::parse(text.as_bytes()).map_err(|err| {
        step_error(
            span,
            format!("invalid ONBUILD trigger {trigger:?} in the base image: {err}"),
        )
    })?;
    let instruction = file.instructions.first().ok_or_else(|| {
        step_error(
            span,
            format!("empty ONBUILD trigger in the base image: {trigger:?}"),
        )
    })?;
    let mut command = parse_command(instruction).map_err(|err| {
        step_error(
            span,
            format!("invalid ONBUILD trigger {trigger:?} in the base image: {err}"),
        )
    })?;
    command.span = span;
    Ok(command)
}
