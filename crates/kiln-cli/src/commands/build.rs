//! `kiln build`: flags → [`kiln_build::BuildOptions`], then run and report.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use kiln_build::{BuildOptions, NamedContext, Output};
use kiln_oci::Reference;

use crate::progress::{ProgressMode, Renderer};
use crate::{render, root};

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The build context directory.
    #[arg(value_name = "CONTEXT")]
    pub context: PathBuf,
    /// The Dockerfile (default: CONTEXT/Dockerfile; `-` reads standard input).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Name and tag the image in the store (repeatable).
    #[arg(short = 't', long = "tag", value_name = "NAME")]
    pub tags: Vec<String>,
    /// A build arg, `K=V`, or `K` to take the value from the environment (repeatable).
    #[arg(long = "build-arg", value_name = "K[=V]")]
    pub build_args: Vec<String>,
    /// The stage to build.
    #[arg(long)]
    pub target: Option<String>,
    /// A label for the image, `K=V` (repeatable).
    #[arg(long = "label", value_name = "K=V")]
    pub labels: Vec<String>,
    /// An output: `type=oci,dest=FILE.tar`, `type=oci-dir,dest=DIR` or `type=docker,dest=FILE.tar`.
    #[arg(short = 'o', long = "output", value_name = "SPEC")]
    pub outputs: Vec<String>,
    /// Write the image ID (config digest) to this file.
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,
    /// A named context: `NAME=DIR` or `NAME=oci-layout://DIR[:TAG]` (repeatable).
    #[arg(long = "build-context", value_name = "NAME=VALUE")]
    pub build_contexts: Vec<String>,
    /// The target platform (only the host platform is supported).
    #[arg(long)]
    pub platform: Option<String>,
    /// Progress output: auto, tty or plain.
    #[arg(long, default_value = "auto", value_name = "MODE")]
    pub progress: String,
}

pub fn run(root_flag: Option<PathBuf>, args: BuildArgs) -> anyhow::Result<ExitCode> {
    let mode = ProgressMode::parse(&args.progress)?;
    let (dockerfile, dockerfile_path, display_name) = read_dockerfile(&args)?;
    let options = options_from(&args, dockerfile.clone(), dockerfile_path)?;
    let store = kiln_store::Store::open(&root::store_root(root_flag)?)
        .context("failed to open the store")?;
    let renderer = Renderer::new(mode);
    let result = kiln_build::build(&store, &options, &renderer);
    renderer.finish();
    match result {
        Ok(outcome) => {
            eprintln!("{}", outcome.config_digest);
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprint!("{}", render::build_error(&err, &display_name, &dockerfile));
            Ok(ExitCode::FAILURE)
        }
    }
}

fn read_dockerfile(args: &BuildArgs) -> anyhow::Result<(Vec<u8>, Option<PathBuf>, String)> {
    match &args.file {
        Some(path) if path == Path::new("-") => {
            let mut text = Vec::new();
            std::io::stdin()
                .read_to_end(&mut text)
                .context("failed to read the Dockerfile from standard input")?;
            Ok((text, None, "Dockerfile".into()))
        }
        Some(path) => {
            let text = std::fs::read(path)
                .with_context(|| format!("failed to read Dockerfile {}", path.display()))?;
            let name = path.file_name().map_or("Dockerfile".into(), |name| {
                name.to_string_lossy().into_owned()
            });
            Ok((text, Some(path.clone()), name))
        }
        None => {
            let path = args.context.join("Dockerfile");
            let text = std::fs::read(&path)
                .with_context(|| format!("failed to read Dockerfile {}", path.display()))?;
            Ok((text, Some(path), "Dockerfile".into()))
        }
    }
}

fn key_value(value: &str, flag: &str) -> anyhow::Result<(String, String)> {
    match value.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => bail!("invalid {flag} {value:?}: expected KEY=VALUE"),
    }
}

fn options_from(
    args: &BuildArgs,
    dockerfile: Vec<u8>,
    dockerfile_path: Option<PathBuf>,
) -> anyhow::Result<BuildOptions> {
    if !args.context.is_dir() {
        bail!(
            "build context {} is not a directory",
            args.context.display()
        );
    }
    let mut build_args = BTreeMap::new();
    for value in &args.build_args {
        match value.split_once('=') {
            Some((key, value)) => {
                build_args.insert(key.to_string(), value.to_string());
            }
            None => {
                if let Ok(from_env) = std::env::var(value) {
                    build_args.insert(value.clone(), from_env);
                }
            }
        }
    }
    let labels = args
        .labels
        .iter()
        .map(|label| key_value(label, "--label"))
        .collect::<anyhow::Result<_>>()?;
    let mut build_contexts = BTreeMap::new();
    for value in &args.build_contexts {
        let (name, spec) = key_value(value, "--build-context")?;
        let context = NamedContext::parse(&spec)
            .map_err(|err| anyhow::anyhow!("invalid --build-context {value:?}: {err}"))?;
        build_contexts.insert(name, context);
    }
    let tags = args
        .tags
        .iter()
        .map(|tag| {
            tag.parse::<Reference>()
                .map_err(|err| anyhow::anyhow!("invalid tag {tag:?}: {err}"))
        })
        .collect::<anyhow::Result<_>>()?;
    let outputs = args
        .outputs
        .iter()
        .map(|spec| {
            Output::parse(spec).map_err(|err| anyhow::anyhow!("invalid --output {spec:?}: {err}"))
        })
        .collect::<anyhow::Result<_>>()?;
    let source_date_epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) if !value.is_empty() => Some(
            value
                .parse::<i64>()
                .with_context(|| format!("invalid SOURCE_DATE_EPOCH {value:?}"))?,
        ),
        _ => None,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64);
    Ok(BuildOptions {
        context_dir: args.context.clone(),
        dockerfile,
        dockerfile_path,
        build_args,
        target: args.target.clone(),
        labels,
        platform: args.platform.clone(),
        build_contexts,
        source_date_epoch,
        now,
        tags,
        outputs,
        iidfile: args.iidfile.clone(),
    })
}
