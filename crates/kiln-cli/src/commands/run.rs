//! `kiln run`: runs a container from an image of the store once, in the RUN
//! sandbox, with Docker's `run` semantics for the command line, and exits
//! with the container's status. Not a container engine: nothing is kept,
//! and flags that need one (`-d`, `-p`, `--name`, limits …) are errors.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use kiln_run::{EtcFiles, Mount, MountKind, Network, OutputStream, RunOutcome, RunSpec, Sandbox};
use kiln_store::Store;

use super::store_images::{self, StoredImage};

/// The `PATH` Docker gives a container whose image sets none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Docker's exit status when the container could not be run at all.
const EXIT_RUN_FAILED: u8 = 125;
/// Docker's exit status when the command cannot be found.
const EXIT_NOT_FOUND: u8 = 127;
/// The exit status after Ctrl-C (128 + SIGINT).
const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Set an environment variable, `K=V`, or `K` to pass kiln's value (repeatable).
    #[arg(short = 'e', long = "env", value_name = "K[=V]")]
    pub env: Vec<String>,
    /// Read environment variables from a file of `K=V` lines (repeatable).
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// The working directory inside the container (created when missing).
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// Run as USER[:GROUP] (names from the image's /etc/passwd and /etc/group, or ids).
    #[arg(short = 'u', long = "user", value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// Bind-mount a host directory or file: HOST:CONTAINER[:ro] (repeatable).
    #[arg(short = 'v', long = "volume", value_name = "HOST:CONTAINER[:ro]")]
    pub volumes: Vec<String>,
    /// The network: host (the default) or none.
    #[arg(long, default_value = "host", value_name = "MODE")]
    pub network: String,
    /// The container's hostname.
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// Replace the image's ENTRYPOINT (`""` clears it).
    #[arg(long, value_name = "COMMAND")]
    pub entrypoint: Option<String>,
    /// Keep standard input open and pass it to the container.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give the container a pseudo-terminal.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Accepted for Docker compatibility: every run is removed.
    #[arg(long)]
    pub rm: bool,
    /// The sandbox: builtin (kiln's own namespaces) or runc.
    #[arg(long, default_value = "builtin", value_name = "MODE")]
    pub isolation: String,
    /// The OCI runtime binary for --isolation runc (default: runc on PATH).
    #[arg(long, value_name = "PATH")]
    pub runtime: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineFlags,
    /// IMAGE, then the COMMAND and its ARGs (which replace the image's CMD).
    #[arg(
        value_name = "IMAGE [COMMAND [ARG...]]",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub image_and_command: Vec<String>,
}

/// Docker flags that need a container engine; each one given is an error.
#[derive(Debug, Args)]
pub struct EngineFlags {
    #[arg(short = 'd', long = "detach", hide = true)]
    detach: bool,
    #[arg(short = 'p', long = "publish", hide = true)]
    publish: Vec<String>,
    #[arg(short = 'P', long = "publish-all", hide = true)]
    publish_all: bool,
    #[arg(long, hide = true)]
    name: Option<String>,
    #[arg(long, hide = true)]
    restart: Option<String>,
    #[arg(short = 'm', long, hide = true)]
    memory: Option<String>,
    #[arg(long = "memory-swap", hide = true)]
    memory_swap: Option<String>,
    #[arg(long, hide = true)]
    cpus: Option<String>,
    #[arg(short = 'c', long = "cpu-shares", hide = true)]
    cpu_shares: Option<String>,
    #[arg(long = "cpuset-cpus", hide = true)]
    cpuset_cpus: Option<String>,
    #[arg(long = "pids-limit", hide = true)]
    pids_limit: Option<String>,
    #[arg(long, hide = true)]
    privileged: bool,
    #[arg(long = "cap-add", hide = true)]
    cap_add: Vec<String>,
    #[arg(long = "cap-drop", hide = true)]
    cap_drop: Vec<String>,
    #[arg(long, hide = true)]
    device: Vec<String>,
    #[arg(long, hide = true)]
    mount: Vec<String>,
    #[arg(long = "volumes-from", hide = true)]
    volumes_from: Vec<String>,
    #[arg(long, hide = true)]
    link: Vec<String>,
    #[arg(long, hide = true)]
    expose: Vec<String>,
    #[arg(long, hide = true)]
    pull: Option<String>,
    #[arg(long, hide = true)]
    platform: Option<String>,
}

impl EngineFlags {
    /// The first engine flag given, as the user would write it.
    fn first_given(&self) -> Option<&'static str> {
        let given = [
            (self.detach, "-d"),
            (!self.publish.is_empty(), "-p"),
            (self.publish_all, "-P"),
            (self.name.is_some(), "--name"),
            (self.restart.is_some(), "--restart"),
            (self.memory.is_some(), "--memory"),
            (self.memory_swap.is_some(), "--memory-swap"),
            (self.cpus.is_some(), "--cpus"),
            (self.cpu_shares.is_some(), "--cpu-shares"),
            (self.cpuset_cpus.is_some(), "--cpuset-cpus"),
            (self.pids_limit.is_some(), "--pids-limit"),
            (self.privileged, "--privileged"),
            (!self.cap_add.is_empty(), "--cap-add"),
            (!self.cap_drop.is_empty(), "--cap-drop"),
            (!self.device.is_empty(), "--device"),
            (!self.mount.is_empty(), "--mount"),
            (!self.volumes_from.is_empty(), "--volumes-from"),
            (!self.link.is_empty(), "--link"),
            (!self.expose.is_empty(), "--expose"),
            (self.pull.is_some(), "--pull"),
            (self.platform.is_some(), "--platform"),
        ];
        given
            .into_iter()
            .find_map(|(set, flag)| set.then_some(flag))
    }
}

/// Runs `kiln run`; errors before the container starts exit with 125, as
/// Docker's do.
pub fn run(root_flag: Option<PathBuf>, args: RunArgs) -> anyhow::Result<ExitCode> {
    match run_container(root_flag, &args) {
        Ok(code) => Ok(code),
        Err(error) => {
            eprintln!("error: {error:#}");
            let code = match error.downcast_ref::<kiln_run::Error>() {
                Some(kiln_run::Error::ExecutableNotFound { .. }) => EXIT_NOT_FOUND,
                Some(kiln_run::Error::Cancelled) => EXIT_INTERRUPTED,
                _ => EXIT_RUN_FAILED,
            };
            Ok(ExitCode::from(code))
        }
    }
}

fn run_container(root_flag: Option<PathBuf>, args: &RunArgs) -> anyhow::Result<ExitCode> {
    if let Some(flag) = args.engine.first_given() {
        bail!("kiln run is not a container engine: {flag} is not supported");
    }
    let isolation = Isolation::parse(&args.isolation, args.runtime.as_ref())?;
    if args.tty && matches!(isolation, Isolation::Runc(_)) {
        bail!("-t is not supported with --isolation runc (use --isolation builtin)");
    }
    let network = match args.network.as_str() {
        "host" | "default" => Network::Host,
        "none" => Network::None,
        other => bail!("invalid --network {other:?}: use host or none"),
    };
    let mounts = args
        .volumes
        .iter()
        .map(|volume| parse_volume(volume))
        .collect::<anyhow::Result<Vec<Mount>>>()?;
    let (image_name, command) = args
        .image_and_command
        .split_first()
        .context("an IMAGE is required")?;

    let store = super::open_store(root_flag)?;
    let _gc = store
        .gc_guard()
        .context("failed to lock the store against prune")?;
    let images = store_images::list(&store)?;
    let found = store_images::lookup(&images, image_name).with_context(|| {
        format!("kiln run uses images of the store (see kiln pull): {image_name}")
    })?;
    let image = &images[found.image()];
    let process = ProcessArgs::from_image(&image.config.config, args, command)?;

    // Removed when dropped: after the run, on errors and after Ctrl-C.
    let rootfs = store
        .tmp_dir("run-")
        .context("failed to create the container's root filesystem")?;
    let root = rootfs.path();
    extract_layers(&store, image, root)?;
    let user = kiln_build::user::resolve_user(
        &process.user,
        read_in_rootfs(root, "etc/passwd").as_deref(),
        read_in_rootfs(root, "etc/group").as_deref(),
    )
    .map_err(|message| anyhow::anyhow!("unable to find user {}: {message}", process.user))?;
    kiln_build::ensure_dir(root, &process.workdir)
        .with_context(|| format!("failed to create the working directory {}", process.workdir))?;

    let hostname = args
        .hostname
        .clone()
        .unwrap_or_else(|| image.config_digest.hex()[..12].to_owned());
    let mut env = environment(&image.config.config.env, args)?;
    set_default(&mut env, "PATH", DEFAULT_PATH);
    set_default(&mut env, "HOSTNAME", &hostname);
    set_default(&mut env, "HOME", &user.home);
    let stdio = match (args.tty, args.interactive) {
        (true, stdin) => kiln_run::Stdio::Tty { stdin },
        (false, stdin) => kiln_run::Stdio::Inherit { stdin },
    };
    let spec = RunSpec {
        rootfs: root.to_path_buf(),
        args: process.args,
        env,
        cwd: process.workdir,
        user: kiln_run::User {
            uid: user.uid,
            gid: user.gid,
            additional_gids: user.additional_gids,
        },
        hostname: hostname.clone(),
        network,
        mounts,
        etc: etc_files(network, &hostname),
        stdio,
    };
    let outcome = run_spec(&store, &isolation, &spec)?;
    drop(rootfs);
    Ok(ExitCode::from(exit_status(&outcome)))
}

/// The sandbox kind chosen with `--isolation` / `--runtime`.
enum Isolation {
    Builtin,
    Runc(PathBuf),
}

impl Isolation {
    fn parse(name: &str, runtime: Option<&PathBuf>) -> anyhow::Result<Isolation> {
        match (name, runtime) {
            ("builtin", None) => Ok(Isolation::Builtin),
            ("builtin", Some(_)) => bail!("--runtime needs --isolation runc"),
            ("runc", runtime) => Ok(Isolation::Runc(
                runtime.cloned().unwrap_or_else(|| PathBuf::from("runc")),
            )),
            (other, _) => bail!("invalid --isolation {other:?}: use builtin or runc"),
        }
    }
}

/// Runs `spec` in the chosen sandbox, with Ctrl-C as the cancel flag.
fn run_spec(store: &Store, isolation: &Isolation, spec: &RunSpec) -> anyhow::Result<RunOutcome> {
    let cancel = crate::interrupt::flag();
    let mut on_output = |stream: OutputStream, bytes: &[u8]| {
        // The terminal's output (and nothing else: inherited streams are
        // written by the container itself). A closed stdout is not kiln's
        // failure; the container carries on.
        let _ = match stream {
            OutputStream::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes).and_then(|()| out.flush())
            }
            OutputStream::Stderr => std::io::stderr().lock().write_all(bytes),
        };
    };
    let outcome = match isolation {
        Isolation::Builtin => {
            let init_exe =
                std::env::current_exe().context("failed to find the kiln binary to re-execute")?;
            kiln_run::Builtin { init_exe }.run(spec, &mut on_output, &cancel)?
        }
        Isolation::Runc(runtime) => {
            let bundles = store
                .tmp_dir("bundle-")
                .context("failed to create a bundle directory")?;
            let state_dir = store.root().join("tmp").join("runc-state");
            std::fs::create_dir_all(&state_dir)
                .with_context(|| format!("failed to create {}", state_dir.display()))?;
            let runc = kiln_run::Runc {
                runtime: runtime.clone(),
                state_dir,
                bundle_dir: bundles.path().to_path_buf(),
            };
            runc.run(spec, &mut on_output, &cancel)?
        }
    };
    Ok(outcome)
}

/// Docker's exit status for a container: its code, or 128 + the signal.
fn exit_status(outcome: &RunOutcome) -> u8 {
    let status = match (outcome.code, outcome.signal) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => i32::from(EXIT_RUN_FAILED),
    };
    u8::try_from(status & 0xff).unwrap_or(EXIT_RUN_FAILED)
}

/// argv, user and working directory of the container.
#[derive(Debug, PartialEq, Eq)]
struct ProcessArgs {
    args: Vec<String>,
    user: String,
    workdir: String,
}

impl ProcessArgs {
    /// Docker's rules: COMMAND replaces CMD; `--entrypoint` replaces
    /// ENTRYPOINT and drops the image's CMD.
    fn from_image(
        config: &kiln_oci::ContainerConfig,
        args: &RunArgs,
        command: &[String],
    ) -> anyhow::Result<ProcessArgs> {
        let entrypoint: Vec<String> = match &args.entrypoint {
            Some(value) if value.is_empty() => Vec::new(),
            Some(value) => vec![value.clone()],
            None => config.entrypoint.clone().unwrap_or_default(),
        };
        let cmd: Vec<String> = if !command.is_empty() {
            command.to_vec()
        } else if args.entrypoint.is_some() {
            Vec::new()
        } else {
            config.cmd.clone().unwrap_or_default()
        };
        let argv: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
        if argv.is_empty() {
            bail!("no command specified: the image has no ENTRYPOINT or CMD");
        }
        let workdir = args
            .workdir
            .clone()
            .or_else(|| config.working_dir.clone())
            .filter(|dir| !dir.is_empty())
            .unwrap_or_else(|| "/".to_owned());
        if !workdir.starts_with('/') {
            bail!("the working directory {workdir:?} is not an absolute path");
        }
        Ok(ProcessArgs {
            args: argv,
            user: args
                .user
                .clone()
                .or_else(|| config.user.clone())
                .unwrap_or_default(),
            workdir,
        })
    }
}

/// The image's environment, then `--env-file` entries, then `-e`, each
/// later one replacing an earlier one of the same name.
fn environment(image_env: &[String], args: &RunArgs) -> anyhow::Result<Vec<String>> {
    let mut env: Vec<String> = Vec::new();
    for entry in image_env {
        set(&mut env, entry.clone());
    }
    for path in &args.env_files {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read the env file {}", path.display()))?;
        for entry in parse_env_file(&text) {
            if let Some(entry) = env_entry(&entry) {
                set(&mut env, entry);
            }
        }
    }
    for entry in &args.env {
        if let Some(entry) = env_entry(entry) {
            set(&mut env, entry);
        }
    }
    Ok(env)
}

/// `K=V` as given, or `K` with kiln's own value (left out when unset).
fn env_entry(entry: &str) -> Option<String> {
    if entry.contains('=') {
        return Some(entry.to_owned());
    }
    let value = std::env::var_os(entry)?;
    Some(format!("{entry}={}", value.to_string_lossy()))
}

/// The entries of an env file: one per line, blank lines and `#` comments
/// skipped, leading whitespace trimmed (Docker's format).
fn parse_env_file(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim_start)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

fn key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(key, _)| key)
}

/// Sets `entry` (`K=V`), replacing an entry with the same key in place.
fn set(env: &mut Vec<String>, entry: String) {
    match env.iter_mut().find(|existing| key(existing) == key(&entry)) {
        Some(existing) => *existing = entry,
        None => env.push(entry),
    }
}

/// Adds `name=value` unless `name` is set.
fn set_default(env: &mut Vec<String>, name: &str, value: &str) {
    if !env.iter().any(|entry| key(entry) == name) {
        env.push(format!("{name}={value}"));
    }
}

/// `HOST:CONTAINER[:ro|rw]` with absolute paths; a missing host directory
/// is created, as Docker does.
fn parse_volume(volume: &str) -> anyhow::Result<Mount> {
    let parts: Vec<&str> = volume.split(':').collect();
    let (host, target, readonly) = match parts.as_slice() {
        [host, target] => (*host, *target, false),
        [host, target, "ro"] => (*host, *target, true),
        [host, target, "rw"] => (*host, *target, false),
        [_, _, options] => bail!("invalid volume {volume:?}: unsupported option {options:?}"),
        _ => bail!("invalid volume {volume:?}: use HOST:CONTAINER[:ro]"),
    };
    if !host.starts_with('/') {
        bail!("invalid volume {volume:?}: named volumes are not supported, the host path must be absolute");
    }
    if !target.starts_with('/') {
        bail!("invalid volume {volume:?}: the container path must be absolute");
    }
    let source = Path::new(host);
    if !source.exists() {
        std::fs::create_dir_all(source)
            .with_context(|| format!("failed to create the volume source {host}"))?;
    }
    Ok(Mount {
        target: target.to_owned(),
        kind: MountKind::Bind {
            source: source.to_path_buf(),
            readonly,
        },
    })
}

/// `/etc/hosts`, `/etc/resolv.conf` (the host's with the host network) and
/// `/etc/hostname` for the container.
fn etc_files(network: Network, hostname: &str) -> EtcFiles {
    let resolv_conf = match network {
        Network::Host => std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        Network::None => String::new(),
    };
    EtcFiles {
        hosts: format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"
        ),
        resolv_conf,
        hostname: format!("{hostname}\n"),
    }
}

/// Extracts the image's layers (whiteouts applied, owners kept) into
/// `dir`, the container's scratch root filesystem under the store's `tmp/`.
fn extract_layers(store: &Store, image: &StoredImage, dir: &Path) -> anyhow::Result<()> {
    let options = kiln_layer::ExtractOptions {
        apply_whiteouts: true,
        preserve_ownership: true,
        overlay: false,
        digests: false,
    };
    for (digest, _) in &image.layers {
        let file = store
            .open_blob(digest)
            .with_context(|| format!("failed to open layer {digest}"))?;
        let (_, tar) = kiln_layer::decompress(std::io::BufReader::new(file))
            .with_context(|| format!("failed to read layer {digest}"))?;
        kiln_layer::extract(tar, dir, &options)
            .with_context(|| format!("failed to extract layer {digest}"))?;
    }
    Ok(())
}

/// A regular file of the rootfs, read only when it really lies inside it
/// (an image's symlink must not make kiln read a host file).
fn read_in_rootfs(root: &Path, relative: &str) -> Option<Vec<u8>> {
    let root = root.canonicalize().ok()?;
    let path = root.join(relative).canonicalize().ok()?;
    if !path.starts_with(&root) || !path.is_file() {
        return None;
    }
    std::fs::read(path).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: RunArgs,
    }

    fn parse(line: &[&str]) -> RunArgs {
        let mut argv = vec!["kiln-run"];
        argv.extend_from_slice(line);
        Wrapper::try_parse_from(argv).unwrap().args
    }

    fn config(entrypoint: Option<&[&str]>, cmd: Option<&[&str]>) -> kiln_oci::ContainerConfig {
        let owned = |list: &[&str]| list.iter().map(|part| part.to_string()).collect();
        kiln_oci::ContainerConfig {
            entrypoint: entrypoint.map(owned),
            cmd: cmd.map(owned),
            ..Default::default()
        }
    }

    #[test]
    fn entrypoint_and_cmd_follow_docker() {
        let image = config(Some(&["echo", "x"]), Some(&["y"]));
        let cases: [(&[&str], &[&str]); 5] = [
            (&["img"], &["echo", "x", "y"]),
            (&["img", "a", "-b"], &["echo", "x", "a", "-b"]),
            (&["--entrypoint", "ls", "img"], &["ls"]),
            (&["--entrypoint", "ls", "img", "-l"], &["ls", "-l"]),
            (&["--entrypoint", "", "img", "sh"], &["sh"]),
        ];
        for (line, expected) in cases {
            let args = parse(line);
            let command = &args.image_and_command[1..];
            let process = ProcessArgs::from_image(&image, &args, command).unwrap();
            assert_eq!(process.args, expected, "{line:?}");
        }
        let empty = config(None, None);
        let args = parse(&["img"]);
        assert!(ProcessArgs::from_image(&empty, &args, &[]).is_err());
    }

    #[test]
    fn flags_after_the_image_belong_to_the_command() {
        let args = parse(&["-i", "img", "sh", "-c", "echo -e"]);
        assert!(args.interactive);
        assert_eq!(args.image_and_command, ["img", "sh", "-c", "echo -e"]);
    }

    #[test]
    fn engine_flags_are_named() {
        let cases: [(&[&str], Option<&str>); 4] = [
            (&["-d", "img"], Some("-d")),
            (&["-p", "80:80", "img"], Some("-p")),
            (&["--name", "x", "img"], Some("--name")),
            (&["--rm", "img"], None),
        ];
        for (line, expected) in cases {
            assert_eq!(parse(line).engine.first_given(), expected, "{line:?}");
        }
    }

    #[test]
    fn environment_layers_image_file_and_flags() {
        let args = parse(&["-e", "B=flag", "-e", "C=c", "img"]);
        let env = environment(&["A=image".into(), "B=image".into()], &args).unwrap();
        assert_eq!(env, ["A=image", "B=flag", "C=c"]);
        assert_eq!(
            parse_env_file("# comment\n\n  K=V\nX=a=b\n"),
            ["K=V", "X=a=b"]
        );
    }

    #[test]
    fn volumes_are_parsed() {
        let mount = parse_volume("/:/host:ro").unwrap();
        assert_eq!(mount.target, "/host");
        assert_eq!(
            mount.kind,
            MountKind::Bind {
                source: "/".into(),
                readonly: true
            }
        );
        for bad in ["data:/data", "/:relative", "/:/x:z", "/only"] {
            assert!(parse_volume(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn exit_statuses_follow_docker() {
        let cases = [
            (Some(7), None, 7),
            (None, Some(9), 137),
            (Some(256 + 3), None, 3),
            (None, None, 125),
        ];
        for (code, signal, expected) in cases {
            assert_eq!(exit_status(&RunOutcome { code, signal }), expected);
        }
    }
}
