//! Instructions that change only the image config: ARG, ENV, LABEL, USER,
//! CMD, ENTRYPOINT, SHELL, EXPOSE, VOLUME, STOPSIGNAL, HEALTHCHECK, ONBUILD,
//! MAINTAINER. Each adds an `empty_layer` history entry, as BuildKit does.

use kiln_dockerfile::instruction::{ArgDecl, Command, Healthcheck, ShellOrExec};
use kiln_oci::{EmptyObject, HealthConfig};

use crate::build::Engine;
use crate::error::{step_error, Result};
use crate::stage::StageState;

/// The default SHELL.
const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

pub fn dispatch_arg(
    engine: &mut Engine<'_>,
    state: &mut StageState,
    command: &Command,
    decls: &[ArgDecl],
) -> Result<()> {
    let mut history = Vec::new();
    for decl in decls {
        let vars = state.vars();
        let default = match &decl.default {
            Some(default) => Some(vars.expand(default, engine.escape, command.span)?),
            None => None,
        };
        let value = if let Some(value) = engine.options.build_args.get(&decl.name) {
            engine.consumed.insert(decl.name.clone());
            Some(value.clone())
        } else if default.is_some() {
            default.clone()
        } else if let Some(global) = engine.plan.meta_declared.get(&decl.name) {
            global.clone()
        } else {
            crate::plan::platform_args(&engine.platform)
                .into_iter()
                .find(|(name, _)| name == &decl.name)
                .map(|(_, value)| value)
        };
        state.declared_args.insert(decl.name.clone());
        if let Some(value) = value {
            state.args.set(&decl.name, &value);
        }
        history.push(match default {
            Some(default) => format!("{}={default}", decl.name),
            None => decl.name.clone(),
        });
    }
    state.history(&engine.created, format!("ARG {}", history.join(" ")), true);
    Ok(())
}

fn expand_pairs(
    engine: &Engine<'_>,
    state: &StageState,
    command: &Command,
    pairs: &[(String, String)],
) -> Result<Vec<(String, String)>> {
    let vars = state.vars();
    pairs
        .iter()
        .map(|(key, value)| {
            let key = vars.expand(key, engine.escape, command.span)?;
            if key.is_empty() {
                return Err(step_error(command.span, "empty variable name"));
            }
            Ok((key, vars.expand(value, engine.escape, command.span)?))
        })
        .collect()
}

pub fn dispatch_env(
    engine: &mut Engine<'_>,
    state: &mut StageState,
    command: &Command,
    pairs: &[(String, String)],
) -> Result<()> {
    let pairs = expand_pairs(engine, state, command, pairs)?;
    // Keep the image's order: existing names stay where they were.
    let mut list = state.image.config.config.env.clone();
    for (key, value) in &pairs {
        let entry = format!("{key}={value}");
        match list
            .iter_mut()
            .find(|item| item.split_once('=').map_or(item.as_str(), |(k, _)| k) == key)
        {
            Some(item) => *item = entry,
            None => list.push(entry),
        }
    }
    state.image.config.config.env = list;
    state.history(&engine.created, format!("ENV {}", pairs_text(&pairs)), true);
    Ok(())
}

/// `k=v k2=v2`, as ENV and LABEL history entries show them.
fn pairs_text(pairs: &[(String, String)]) -> String {
    let text: Vec<String> = pairs
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    text.join(" ")
}

pub fn dispatch_label(
    engine: &mut Engine<'_>,
    state: &mut StageState,
    command: &Command,
    pairs: &[(String, String)],
) -> Result<()> {
    let pairs = expand_pairs(engine, state, command, pairs)?;
    for (key, value) in &pairs {
        state
            .image
            .config
            .config
            .labels
            .insert(key.clone(), value.clone());
    }
    state.history(
        &engine.created,
        format!("LABEL {}", pairs_text(&pairs)),
        true,
    );
    Ok(())
}

pub fn dispatch_user(
    engine: &mut Engine<'_>,
    state: &mut StageState,
    command: &Command,
    user: &str,
) -> Result<()> {
    let user = state.vars().expand(user, engine.escape, command.span)?;
    state.image.config.config.user = Some(user.clone());
    state.history(&engine.created, format!("USER {user}"), true);
    Ok(())
}

fn with_shell(state: &StageState, command: &ShellOrExec) -> Vec<String> {
    match command {
        ShellOrExec::Exec(args) => args.clone(),
        ShellOrExec::Shell(text) => {
            let mut args: Vec<String> = if state.image.config.config.shell.is_empty() {
                DEFAULT_SHELL.iter().map(|part| part.to_string()).collect()
            } else {
                state.image.config.config.shell.clone()
            };
            args.push(text.clone());
            args
        }
    }
}

pub fn dispatch_cmd(
    engine: &mut Engine<'_>,
    state: &mut StageState,
    cmd: &ShellOrExec,
) -> Result<()> {
    let args = with_shell(state, cmd);
    state.history(
        &engine.created,
        format!("CMD {}", go_quote_list(&args)),
        true,
    );
    state.image.config.config.cmd = Some(args);
    state.cmd_set = true;
    Ok(())
}

pub fn dispatch_entrypoint(
    engine: &mut Engine<'_>,
    state: &mut StageState,
    entrypoint: &ShellOrExec,
) -> Result<()> {
    let args = with_shell(state, entrypoint);
    state.history(
        &engine.created,
        format!("ENTRYPOINT {}", go_quote_list(&args)),
        true,
    );
    state.image.config.config.entrypoint = Some(args);
    if !state.cmd_set {
        state.image.config.config.cmd = None;
    }
    Ok(())
}

pub fn dispatch_shell(
    engine: &mut Engine<'_>,
    state: &mut StageState,
    shell: &[String],
) -> Result<()> {
    state.image.config.config.shell = shell.to_vec();
    state.history(
        &engine.created,
        format!("SHELL [{}]", shell.join(" ")),
        true,
    );
    Ok(())
}

pub fn dispatch_expose(
    engine: &mut Engine<'_>,
    state: &mut StageState,
    command: &Command,
    ports: &[String],
) -> Result<()> {
    let vars = state.vars();
    let mut added = std::collections::BTreeSet::new();
    for word in ports {
        let word = vars.expand(word, engine.escape, command.span)?;
        for port in parse_port_spec(&word).map_err(|message| step_error(command.span, message))? {
            added.insert(port.clone());
            let config = &mut state.image.config.config;
            config.exposed_ports.insert(port, EmptyObject {});
        }
    }
    let listed: Vec<String> = added.iter().map(|port| format!("{port}:{{}}")).collect();
    state.history(
        &engine.created,
        format!("EXPOSE map[{}]", listed.join(" ")),
        true,
    );
    Ok(())
}

/// `80`, `80/udp`, `8000-8002/tcp` → `["8000/tcp", "8001/tcp", "8002/tcp"]`.
fn parse_port_spec(word: &str) -> Result<Vec<String>, String> {
    let (range, proto) = word.split_once('/').unwrap_or((word, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto {proto:?} in EXPOSE {word:?}"));
    }
    let parse = |text: &str| {
        text.parse::<u16>()
            .map_err(|_| format!("invalid port {text:?} in EXPOSE {word:?}"))
    };
    let (start, end) = match range.split_once('-') {
        Some((start, end)) => (parse(start)?, parse(end)?),
        None => (parse(range)?, parse(range)?),
    };
    if end < start {
        return Err(format!("invalid port range {range:?} in EXPOSE"));
    }
    Ok((start..=end)
        .map(|port| format!("{port}/{proto}"))
        .collect())
}

pub fn dispatch_volume(
    engine: &mut Engine<'_>,
    state: &mut StageState,
    command: &Command,
    volumes: &[String],
) -> Result<()> {
    let vars = state.vars();
    let mut added = Vec::new();
    for word in volumes {
        let path = vars.expand(word, engine.escape, command.span)?;
        if path.trim().is_empty() {
            return Err(step_error(
                command.span,
                "VOLUME specified can not be an empty string",
            ));
        }
        state
            .image
            .config
            .config
            .volumes
            .insert(path.clone(), EmptyObject {});
        added.push(path);
    }
    state.history(
        &engine.created,
        format!("VOLUME [{}]", added.join(" ")),
        true,
    );
    Ok(())
}

pub fn dispatch_stopsignal(
    engine: &mut Engine<'_>,
    state: &mut StageState,
    command: &Command,
    signal: &str,
) -> Result<()> {
    let signal = state.vars().expand(signal, engine.escape, command.span)?;
    let valid = signal.parse::<u32>().is_ok()
        || signal
            .trim_start_matches("SIG")
            .chars()
            .all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '+' || ch == '-')
            && !signal.trim_start_matches("SIG").is_empty();
    if !valid {
        return Err(step_error(
            command.span,
            format!("invalid signal {signal:?}"),
        ));
    }
    state.image.config.config.stop_signal = Some(signal.clone());
    state.history(&engine.created, format!("STOPSIGNAL {signal}"), true);
    Ok(())
}

pub fn dispatch_healthcheck(
    engine: &mut Engine<'_>,
    state: &mut StageState,
    check: &Healthcheck,
) -> Result<()> {
    let config = match check {
        Healthcheck::None => HealthConfig {
            test: vec!["NONE".to_string()],
            ..HealthConfig::default()
        },
        Healthcheck::Cmd {
            test,
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
        } => {
            let test = match test {
                ShellOrExec::Shell(text) => vec!["CMD-SHELL".to_string(), text.clone()],
                ShellOrExec::Exec(args) => std::iter::once("CMD".to_string())
                    .chain(args.iter().cloned())
                    .collect(),
            };
            let nanos =
                |duration: &Option<std::time::Duration>| duration.map(|d| d.as_nanos() as i64);
            HealthConfig {
                test,
                interval: nanos(interval),
                timeout: nanos(timeout),
                start_period: nanos(start_period),
                start_interval: nanos(start_interval),
                retries: retries.map(|retries| retries as i64),
            }
        }
    };
    state.history(
        &engine.created,
        format!("HEALTHCHECK {}", go_quote_list(&config.test)),
        true,
    );
    state.image.config.config.healthcheck = Some(config);
    Ok(())
}

pub fn dispatch_onbuild(
    engine: &mut Engine<'_>,
    state: &mut StageState,
    trigger: &str,
) -> Result<()> {
    state.image.config.config.on_build.push(trigger.to_string());
    state.history(&engine.created, format!("ONBUILD {trigger}"), true);
    Ok(())
}

pub fn dispatch_maintainer(
    engine: &mut Engine<'_>,
    state: &mut StageState,
    name: &str,
) -> Result<()> {
    state.image.config.author = Some(name.to_string());
    state.history(&engine.created, format!("MAINTAINER {name}"), true);
    Ok(())
}

/// A string list as Go's `%q` prints it: `["a" "b c"]`.
pub fn go_quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("{item:?}")).collect();
    format!("[{}]", quoted.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs() {
        assert_eq!(parse_port_spec("80").unwrap(), vec!["80/tcp"]);
        assert_eq!(parse_port_spec("53/UDP").unwrap(), vec!["53/udp"]);
        assert_eq!(
            parse_port_spec("8000-8002").unwrap(),
            vec!["8000/tcp", "8001/tcp", "8002/tcp"]
        );
        assert!(parse_port_spec("http").is_err());
        assert!(parse_port_spec("80/icmp").is_err());
        assert!(parse_port_spec("9-1").is_err());
    }

    #[test]
    fn go_quoting() {
        assert_eq!(
            go_quote_list(&["/bin/sh".into(), "-c".into(), "echo \"hi\"".into()]),
            r#"["/bin/sh" "-c" "echo \"hi\""]"#
        );
    }
}
