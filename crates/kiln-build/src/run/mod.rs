//! RUN: the stage's root filesystem, the sandbox, and the snapshot diff that
//! becomes the step's layer.

pub mod command;
mod mount_key;
mod mount_setup;
pub mod mounts;
pub mod user;

use std::collections::VecDeque;

use kiln_dockerfile::instruction::{Command, RunArgs};
use kiln_run::{EtcFiles, Network, OutputStream, RunSpec};

use crate::build::{is_predefined_arg, Engine};
use crate::error::{step_error, Result};
use crate::paths;
use crate::rootfs::{ensure_dir, Rootfs};
use crate::stage::StageState;
use crate::vars::Vars;

/// Lines of output kept for the error message of a failed RUN.
const TAIL_LINES: usize = 12;

/// The default SHELL.
pub const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

pub fn dispatch_run(
    engine: &mut Engine<'_>,
    state: &mut StageState,
    command: &Command,
    args: &RunArgs,
) -> Result<()> {
    let span = command.span;
    if args.security.is_some() {
        return Err(step_error(span, "RUN --security is not supported by kiln"));
    }
    if !args.devices.is_empty() {
        return Err(step_error(span, "RUN --device is not supported by kiln"));
    }
    let vars = state.vars();
    let network_word = match &args.network {
        Some(word) => Some(vars.expand(word, engine.escape, span)?),
        None => engine.options.network.clone(),
    };
    let network = match network_word.as_deref() {
        None | Some("default") | Some("host") => Network::Host,
        Some("none") => Network::None,
        Some(other) => {
            return Err(step_error(
                span,
                format!("RUN --network={other} is not supported (use default, none or host)"),
            ))
        }
    };
    let mut run_mounts = Vec::new();
    for value in &args.mounts {
        let value = vars.expand(value, engine.escape, span)?;
        run_mounts.push(mounts::parse_mount(&value).map_err(|message| step_error(span, message))?);
    }

    let config = state.image.config.config.clone();
    let shell: Vec<String> = if config.shell.is_empty() {
        DEFAULT_SHELL.iter().map(|part| part.to_string()).collect()
    } else {
        config.shell.clone()
    };
    let argv = command::run_argv(&args.command, &args.heredocs, &shell);

    // The environment: stage ARGs, overridden by ENV; proxy build args pass through.
    let mut env = state.args.clone();
    for (key, value) in Vars::from_env_list(&config.env).0 {
        env.set(&key, &value);
    }
    let mut history_args: Vec<(String, String)> = state
        .args
        .0
        .iter()
        .filter(|(key, _)| !is_predefined_arg(key))
        .cloned()
        .collect();
    history_args.sort();
    for (key, value) in &engine.options.build_args {
        if is_predefined_arg(key) && !state.declared_args.contains(key) {
            engine.consumed.insert(key.clone());
            if kiln_dockerfile::expand::Env::get(&env, key).is_none() {
                env.set(key, value);
            }
        }
    }

    if kiln_dockerfile::expand::Env::get(&env, "PATH").is_none() {
        env.set(
            "PATH",
            crate::stage::DEFAULT_PATH.trim_start_matches("PATH="),
        );
    }

    let workdir = state.workdir();

    // The cache key: what the command is, and everything it runs with.
    let mut inputs = crate::cache::StepInputs::new("RUN", &state.fs_key);
    inputs.set("argv", argv.args.join("\0"));
    if let Some((name, body)) = &argv.script {
        inputs.set(format!("script:{name}"), body.clone());
    }
    for (key, value) in &env.0 {
        if is_predefined_arg(key) && !state.declared_args.contains(key) {
            continue;
        }
        inputs.set(format!("env:{key}"), value.clone());
    }
    // The USER text: what it resolves to is fixed by the filesystem (its
    // /etc/passwd and /etc/group), which `parent` already stands for.
    let user_spec = config.user.clone().unwrap_or_default();
    inputs.set("user", user_spec.clone());
    inputs.set("workdir", workdir.clone());
    inputs.set("network", format!("{network:?}"));
    if let Some(epoch) = engine.options.source_date_epoch {
        inputs.set("epoch", epoch.to_string());
    }
    for (number, mount) in run_mounts.iter().enumerate() {
        let value = mount_key::mount_field(engine, state.index, mount, span)?;
        inputs.set(format!("mount:{number}"), value);
    }
    let history = command::history_text(&argv.args, &history_args);
    let instruction = command.original.clone();
    engine.cached_layer(state, &instruction, inputs, move |engine, state| {
        execute(
            engine,
            state,
            Execution {
                argv,
                env,
                user_spec,
                workdir,
                network,
                run_mounts,
            },
            span,
        )
    })?;
    state.history(&engine.created, history, false);
    Ok(())
}

/// A RUN that missed the cache, ready to run.
struct Execution {
    argv: command::Argv,
    env: Vars,
    user_spec: String,
    workdir: String,
    network: Network,
    run_mounts: Vec<mounts::RunMount>,
}

/// Runs the command in the stage's root filesystem and makes its layer.
fn execute(
    engine: &mut Engine<'_>,
    state: &mut StageState,
    execution: Execution,
    span: kiln_dockerfile::Span,
) -> Result<crate::image::LayerRef> {
    let Execution {
        argv,
        mut env,
        user_spec,
        workdir,
        network,
        run_mounts,
    } = execution;
    engine.ensure_layers(&state.image)?;
    let index = state.fs_index(engine.store)?;
    let user = user::resolve_user(
        &user_spec,
        index.captured("etc/passwd"),
        index.captured("etc/group"),
    )
    .map_err(|message| step_error(span, message))?;
    if kiln_dockerfile::expand::Env::get(&env, "HOME").is_none() {
        env.set("HOME", &user.home);
    }
    if state.rootfs.is_none() {
        state.rootfs = Some(Rootfs::new(engine.store, engine.options.snapshotter)?);
    }
    let rootfs = state
        .rootfs
        .as_mut()
        .ok_or_else(|| step_error(span, "no root filesystem"))?;
    for warning in rootfs.prepare(engine.store, &state.image)? {
        engine.warn(warning);
    }
    let root = rootfs.path().to_path_buf();
    ensure_dir(&root, &workdir)?;

    let setup = mount_setup::prepare(engine, state.index, &run_mounts, argv.script.as_ref(), span)?;
    for (key, value) in &setup.secret_env {
        env.set(key, value);
    }
    let spec = RunSpec {
        rootfs: root.clone(),
        args: argv.args.clone(),
        env: env
            .0
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect(),
        cwd: workdir,
        user: kiln_run::User {
            uid: user.uid,
            gid: user.gid,
            additional_gids: user.additional_gids.clone(),
        },
        hostname: "kiln".into(),
        network,
        mounts: setup.mounts.clone(),
        etc: etc_files(network),
        stdio: kiln_run::Stdio::Piped,
    };
    let step = engine.current_step();
    let mut tail: VecDeque<String> = VecDeque::new();
    let mut partial = [Vec::new(), Vec::new()];
    let progress = engine.progress;
    let mut on_output = |stream: OutputStream, chunk: &[u8]| {
        let buffer = &mut partial[stream as usize];
        buffer.extend_from_slice(chunk);
        while let Some(at) = buffer.iter().position(|byte| *byte == b'\n') {
            let line: Vec<u8> = buffer.drain(..=at).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            emit_line(progress, step, &mut tail, text);
        }
    };
    let sandbox = engine.sandbox()?;
    let outcome = sandbox.run(&spec, &mut on_output, &engine.options.cancel);
    for buffer in &partial {
        if !buffer.is_empty() {
            emit_line(
                progress,
                step,
                &mut tail,
                String::from_utf8_lossy(buffer).into_owned(),
            );
        }
    }
    drop(setup);
    let outcome = outcome.map_err(|err| step_error(span, format!("RUN failed: {err}")))?;
    if outcome.code != Some(0) {
        let status = match (outcome.code, outcome.signal) {
            (_, Some(signal)) => format!("killed by signal {signal}"),
            (Some(code), None) => format!("exit code: {code}"),
            (None, None) => "unknown status".into(),
        };
        let mut message = format!(
            "process {:?} did not complete successfully: {status}",
            argv.args.join(" ")
        );
        if !tail.is_empty() {
            message.push_str("\nlast output:\n");
            for line in &tail {
                message.push_str("  ");
                message.push_str(line);
                message.push('\n');
            }
        }
        return Err(step_error(span, message.trim_end().to_string()));
    }

    let targets: Vec<String> = run_mounts
        .iter()
        .filter_map(|mount| mount.target())
        .map(paths::clean)
        .filter(|target| !target.is_empty())
        .collect();
    let exclude = |path: &str| {
        targets
            .iter()
            .any(|target| path == target || path.starts_with(&format!("{target}/")))
    };
    let mut entries = state
        .rootfs
        .as_mut()
        .ok_or_else(|| step_error(span, "no root filesystem"))?
        .changes(&exclude)?;
    if let Some(epoch) = engine.options.source_date_epoch {
        for entry in &mut entries {
            entry.mtime = entry.mtime.min(epoch);
        }
    }
    kiln_layer::prepare_entries(&mut entries)?;
    let layer = crate::dispatch::write_prepared_layer(engine, &entries)?;
    state.push_layer_entries(engine.store, layer.clone(), &entries)?;
    if let Some(rootfs) = state.rootfs.as_mut() {
        rootfs.commit_run(state.image.layers.len(), &layer);
    }
    Ok(layer)
}

fn emit_line(
    progress: &dyn crate::Progress,
    step: usize,
    tail: &mut VecDeque<String>,
    line: String,
) {
    progress.event(crate::Event::StepOutput {
        id: step,
        line: line.clone(),
    });
    tail.push_back(line);
    if tail.len() > TAIL_LINES {
        tail.pop_front();
    }
}

/// `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` for a RUN.
fn etc_files(network: Network) -> EtcFiles {
    let resolv_conf = match network {
        Network::Host => std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        Network::None => String::new(),
    };
    EtcFiles {
        hosts: "127.0.0.1\tlocalhost kiln\n::1\tlocalhost ip6-localhost ip6-loopback\n".into(),
        resolv_conf,
        hostname: "kiln\n".into(),
    }
}
