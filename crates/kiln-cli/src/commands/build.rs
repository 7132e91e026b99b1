//! `kiln build`: flags → [`kiln_build::BuildOptions`], then run and report.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use kiln_build::{BuildOptions, NamedContext, Output};

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
    /// How RUN steps are sandboxed: builtin (kiln's own namespaces) or runc.
    #[arg(long, default_value = "builtin", value_name = "MODE")]
    pub isolation: String,
    /// The OCI runtime binary for --isolation runc (default: runc on PATH).
    #[arg(long, value_name = "PATH")]
    pub runtime: Option<PathBuf>,
    /// A secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR (repeatable).
    #[arg(long = "secret", value_name = "SPEC")]
    pub secrets: Vec<String>,
    /// The network of RUN steps: default, none or host.
    #[arg(long, value_name = "MODE")]
    pub network: Option<String>,
    /// When to pull base images: missing (check the registry, pull what the
    /// store lacks), always, or never. `--pull` alone means always.
    #[arg(long, value_name = "POLICY", num_args = 0..=1, default_value = "missing", default_missing_value = "always")]
    pub pull: String,
    /// Do not use the build cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Do not use the build cache for these stages (names or indexes, comma-separated; repeatable).
    #[arg(long, value_name = "STAGE[,STAGE]", value_delimiter = ',')]
    pub no_cache_filter: Vec<String>,
    /// After the build, say why each step that missed the cache missed it.
    #[arg(long)]
    pub explain: bool,
    /// Push every -t name to its registry after the build.
    #[arg(long)]
    pub push: bool,
    /// Write the image's digests and name as JSON to this file (as buildx does).
    #[arg(long, value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,
    #[command(flatten)]
    pub registry: crate::registry::RegistryArgs,
    /// Progress output: auto, tty or plain.
    #[arg(long, default_value = "auto", value_name = "MODE")]
    pub progress: String,
}

pub fn run(root_flag: Option<PathBuf>, mut args: BuildArgs) -> anyhow::Result<ExitCode> {
    let mode = ProgressMode::parse(&args.progress)?;
    take_image_outputs(&mut args)?;
    if args.push && args.tags.is_empty() {
        bail!("--push needs at least one -t NAME to push to");
    }
    let (dockerfile, dockerfile_path, display_name) = read_dockerfile(&args)?;
    let mut options = options_from(&args, dockerfile.clone(), dockerfile_path)?;
    let store = kiln_store::Store::open(&root::store_root(root_flag)?)
        .context("failed to open the store")?;
    options.snapshotter = crate::snapshotter::choose(&store)?;
    let renderer = Renderer::new(mode);
    let result = kiln_build::build(&store, &options, &renderer);
    renderer.finish();
    if args.explain {
        explain(&renderer.misses());
    }
    match result {
        Ok(outcome) => {
            let mut pushed = None;
            if args.push {
                let client = kiln_registry::Client::new(args.registry.client_options()?)?;
                for tag in &options.tags {
                    let digest =
                        super::push::push_one(&client, &store, &outcome.manifest, tag, false)?;
                    eprintln!("pushed {}@{digest}", tag.name());
                    pushed = Some(digest);
                }
            }
            if let Some(path) = &args.metadata_file {
                write_build_metadata(path, &options, &outcome, pushed.as_ref())?;
            }
            eprintln!("{}", outcome.config_digest);
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprint!("{}", render::build_error(&err, &display_name, &dockerfile));
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `-o type=image,name=NAME[,push=true]` and `-o type=registry,name=NAME`
/// (buildx's forms) become `-t NAME` (and `--push`).
fn take_image_outputs(args: &mut BuildArgs) -> anyhow::Result<()> {
    let mut kept = Vec::new();
    for spec in std::mem::take(&mut args.outputs) {
        let fields: Vec<(&str, &str)> = spec
            .split(',')
            .filter_map(|part| part.split_once('='))
            .collect();
        let kind = fields
            .iter()
            .find(|(key, _)| *key == "type")
            .map(|(_, value)| *value);
        if !matches!(kind, Some("image") | Some("registry")) {
            kept.push(spec);
            continue;
        }
        let mut push = kind == Some("registry");
        let mut names = Vec::new();
        for (key, value) in &fields {
            match *key {
                "type" => {}
                "name" => names.extend(
                    value
                        .split(';')
                        .filter(|name| !name.is_empty())
                        .map(String::from),
                ),
                "push" => push = matches!(*value, "true" | "1"),
                other => bail!("invalid --output {spec:?}: option {other:?} is not supported"),
            }
        }
        if names.is_empty() {
            bail!(
                "invalid --output {spec:?}: type={} needs name=NAME",
                kind.unwrap_or("")
            );
        }
        args.tags.extend(names);
        args.push |= push;
    }
    args.outputs = kept;
    Ok(())
}

/// Prints why steps missed the cache.
fn explain(misses: &[(String, String)]) {
    if misses.is_empty() {
        eprintln!("explain: every cacheable step came from the cache");
        return;
    }
    eprintln!("explain: {} step(s) missed the cache:", misses.len());
    for (step, reason) in misses {
        eprintln!("  {step}\n    -> {reason}");
    }
}

/// buildx's metadata file for a build.
fn write_build_metadata(
    path: &Path,
    options: &BuildOptions,
    outcome: &kiln_build::BuildOutcome,
    pushed: Option<&kiln_oci::Digest>,
) -> anyhow::Result<()> {
    let names: Vec<String> = options.tags.iter().map(|tag| tag.to_string()).collect();
    let digest = pushed.map_or_else(
        || outcome.manifest.digest().to_string(),
        |digest| digest.to_string(),
    );
    let value = serde_json::json!({
        "containerimage.config.digest": outcome.config_digest.to_string(),
        "containerimage.digest": digest,
        "containerimage.descriptor": {
            "mediaType": outcome.manifest.media_type().to_string(),
            "digest": outcome.manifest.digest().to_string(),
            "size": outcome.manifest.size(),
        },
        "image.name": names.join(","),
    });
    let text = serde_json::to_string_pretty(&value)? + "\n";
    std::fs::write(path, text).with_context(|| format!("failed to write {}", path.display()))
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
        let context = match NamedContext::parse(&spec)
            .map_err(|err| anyhow::anyhow!("invalid --build-context {value:?}: {err}"))?
        {
            NamedContext::Local(dir) => NamedContext::Local(absolute(&dir)),
            NamedContext::OciLayout { dir, reference } => NamedContext::OciLayout {
                dir: absolute(&dir),
                reference,
            },
        };
        build_contexts.insert(name, context);
    }
    let tags = super::load::parse_tags(&args.tags)?;
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
    let isolation = match (args.isolation.as_str(), &args.runtime) {
        ("builtin", None) => kiln_build::Isolation::Builtin,
        ("builtin", Some(_)) => bail!("--runtime needs --isolation runc"),
        ("runc", runtime) => kiln_build::Isolation::Runc {
            runtime: runtime.clone().unwrap_or_else(|| PathBuf::from("runc")),
        },
        (other, _) => bail!("invalid --isolation {other:?}: use builtin or runc"),
    };
    if let Some(network) = &args.network {
        if !matches!(network.as_str(), "default" | "none" | "host") {
            bail!("invalid --network {network:?}: use default, none or host");
        }
    }
    let mut secrets = BTreeMap::new();
    for spec in &args.secrets {
        let (id, value) = read_secret(spec)?;
        secrets.insert(id, value);
    }
    let init_exe = std::env::current_exe().context("failed to find the kiln binary")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64);
    Ok(BuildOptions {
        context_dir: absolute(&args.context),
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
        isolation,
        init_exe: Some(init_exe),
        secrets,
        network: args.network.clone(),
        cancel: crate::interrupt::flag(),
        registry: Some(args.registry.client_options()?),
        no_cache: args.no_cache,
        no_cache_filter: args.no_cache_filter.clone(),
        snapshotter: kiln_build::Snapshotter::Native,
        pull: match args.pull.as_str() {
            "missing" | "false" => kiln_build::PullPolicy::Missing,
            "always" | "true" => kiln_build::PullPolicy::Always,
            "never" => kiln_build::PullPolicy::Never,
            other => bail!("invalid --pull {other:?}: use always, missing or never"),
        },
    })
}

/// A path made absolute without touching the filesystem (RUN bind mounts of
/// the context need absolute sources).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `--secret id=ID,src=FILE`, `id=ID,env=VAR`, or `id=ID` (the variable ID).
fn read_secret(spec: &str) -> anyhow::Result<(String, Vec<u8>)> {
    let mut id = None;
    let mut source = None;
    let mut env = None;
    for part in spec.split(',') {
        let (key, value) = part.split_once('=').ok_or_else(|| {
            anyhow::anyhow!("invalid --secret {spec:?}: expected key=value pairs")
        })?;
        match key {
            "id" => id = Some(value.to_string()),
            "src" | "source" => source = Some(PathBuf::from(value)),
            "env" => env = Some(value.to_string()),
            "type" if value == "file" || value == "env" => {}
            other => bail!("invalid --secret {spec:?}: unknown key {other:?}"),
        }
    }
    let id = id.ok_or_else(|| anyhow::anyhow!("invalid --secret {spec:?}: id= is required"))?;
    let value = match (source, env) {
        (Some(path), None) => std::fs::read(&path)
            .with_context(|| format!("failed to read secret {id:?} from {}", path.display()))?,
        (None, Some(var)) => std::env::var(&var)
            .with_context(|| format!("secret {id:?}: environment variable {var} is not set"))?
            .into_bytes(),
        (None, None) => std::env::var(&id)
            .with_context(|| format!("secret {id:?}: give src=FILE or env=VAR"))?
            .into_bytes(),
        (Some(_), Some(_)) => bail!("invalid --secret {spec:?}: give src= or env=, not both"),
    };
    Ok((id, value))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        args: BuildArgs,
    }

    fn parse(extra: &[&str]) -> BuildArgs {
        let mut argv = vec!["kiln"];
        argv.extend_from_slice(extra);
        argv.push(".");
        Wrap::parse_from(argv).args
    }

    #[test]
    fn image_and_registry_outputs_become_tags_and_push() {
        let mut args = parse(&[
            "-o",
            "type=registry,name=r.example/a:1",
            "-o",
            "type=oci,dest=x.tar",
        ]);
        take_image_outputs(&mut args).unwrap();
        assert_eq!(args.tags, vec!["r.example/a:1"]);
        assert!(args.push);
        assert_eq!(args.outputs, vec!["type=oci,dest=x.tar"]);

        let mut args = parse(&["-o", "type=image,name=a:1;b:2"]);
        take_image_outputs(&mut args).unwrap();
        assert_eq!(args.tags, vec!["a:1", "b:2"]);
        assert!(!args.push);

        let mut args = parse(&["-o", "type=image,name=a:1,push=true"]);
        take_image_outputs(&mut args).unwrap();
        assert!(args.push);

        for bad in ["type=registry", "type=image,name=a,compression=zstd"] {
            let mut args = parse(&["-o", bad]);
            assert!(take_image_outputs(&mut args).is_err(), "{bad}");
        }
    }
}
