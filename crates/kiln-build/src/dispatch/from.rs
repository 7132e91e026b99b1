//! FROM: the base image of a stage.

use kiln_dockerfile::instruction::Stage;
use kiln_oci::{ContainerConfig, ImageConfig};

use crate::build::Engine;
use crate::error::{step_error, Result};
use crate::image::Image;
use crate::options::NamedContext;
use crate::plan::find_stage;
use crate::stage::DEFAULT_PATH;
use crate::vars::Vars;

/// Resolves the base image of `stage`.
pub fn base_image(engine: &mut Engine<'_>, stage: &Stage) -> Result<Image> {
    let vars = Vars(engine.plan.meta_env.clone());
    let base = vars.expand(&stage.base, engine.escape, stage.span)?;
    if base.is_empty() {
        return Err(step_error(stage.span, "base name (FROM) cannot be empty"));
    }
    if let Some(platform) = &stage.platform {
        let platform = vars.expand(platform, engine.escape, stage.span)?;
        let parsed = kiln_oci::Platform::parse(&platform).map_err(|err| {
            step_error(
                stage.span,
                format!("invalid --platform {platform:?}: {err}"),
            )
        })?;
        if parsed.os != engine.platform.os || parsed.architecture != engine.platform.architecture {
            return Err(step_error(
                stage.span,
                format!(
                    "FROM --platform={platform} is not supported: kiln builds only for the host platform ({}) for now",
                    engine.platform
                ),
            ));
        }
    }
    if base.eq_ignore_ascii_case("scratch") {
        return Ok(scratch(engine));
    }
    if let Some(found) = find_stage(&engine.plan.stages, &base, stage.index, false) {
        return engine
            .results
            .get(&found)
            .cloned()
            .ok_or_else(|| step_error(stage.span, format!("stage {base:?} has not been built")));
    }
    if let Some(named) = engine.options.build_contexts.get(&base) {
        return match named {
            NamedContext::OciLayout { dir, reference } => {
                crate::layout::image_from_layout(engine.store, dir, reference.as_deref()).map_err(|err| err.at(stage.span))
            }
            NamedContext::Local(_) => Err(step_error(
                stage.span,
                format!("build context {base:?} is a local directory and cannot be used as a base image"),
            )),
        };
    }
    image_by_name(engine, &base).map_err(|err| err.at(stage.span))
}

fn scratch(engine: &Engine<'_>) -> Image {
    Image {
        config: ImageConfig {
            architecture: engine.platform.architecture.clone(),
            os: engine.platform.os.clone(),
            variant: engine.platform.variant.clone(),
            config: ContainerConfig {
                env: vec![DEFAULT_PATH.to_string()],
                ..ContainerConfig::default()
            },
            ..ImageConfig::default()
        },
        layers: Vec::new(),
        remote: None,
    }
}

/// Finds an image by name, tag or digest: in the store, or from its
/// registry as the pull policy says.
pub fn image_by_name(engine: &mut Engine<'_>, name: &str) -> Result<Image> {
    if let Some(image) = engine.named_images.get(name) {
        // Resolved once per build: a base named twice costs one registry check.
        return Ok(image.clone());
    }
    let step = engine.current_step();
    let policy = engine.options.pull;
    let (store, progress) = (engine.store, engine.progress);
    let client = engine.registry_client()?;
    let image = crate::pull::image(store, client, policy, name, progress, step)?;
    engine.named_images.insert(name.to_string(), image.clone());
    Ok(image)
}
