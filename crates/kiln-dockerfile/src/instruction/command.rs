//! One instruction to a typed [`Command`]: one function per instruction, as
//! BuildKit's `parse.go` has.

use std::time::Duration;

use super::duration::parse_go_duration;
use super::error::{InstructionError, InstructionErrorKind as Kind};
use super::flags::{FlagKind, FlagSpecs, Flags};
use super::{ArgDecl, Command, CommandKind, CopyArgs, Healthcheck, RunArgs, ShellOrExec};
use crate::ast::{Heredoc, Instruction};

const NO_FLAGS: FlagSpecs = &[];
const COPY_FLAGS: FlagSpecs = &[
    ("from", FlagKind::String),
    ("chown", FlagKind::String),
    ("chmod", FlagKind::String),
    ("link", FlagKind::Bool),
    ("parents", FlagKind::Bool),
    ("exclude", FlagKind::Strings),
];
/// BuildKit's ADD takes COPY's flags except `--from`, plus its own.
const ADD_FLAGS: FlagSpecs = &[
    ("chown", FlagKind::String),
    ("chmod", FlagKind::String),
    ("link", FlagKind::Bool),
    ("parents", FlagKind::Bool),
    ("exclude", FlagKind::Strings),
    ("checksum", FlagKind::String),
    ("keep-git-dir", FlagKind::Bool),
    ("unpack", FlagKind::Bool),
];
const RUN_FLAGS: FlagSpecs = &[
    ("mount", FlagKind::Strings),
    ("network", FlagKind::String),
    ("security", FlagKind::String),
    ("device", FlagKind::Strings),
];
const HEALTHCHECK_FLAGS: FlagSpecs = &[
    ("interval", FlagKind::String),
    ("timeout", FlagKind::String),
    ("start-period", FlagKind::String),
    ("start-interval", FlagKind::String),
    ("retries", FlagKind::String),
];
/// BuildKit's minimum for a HEALTHCHECK interval (`container.MinimumDuration`).
const MINIMUM_DURATION_NANOS: i128 = 1_000_000;

/// Converts one instruction (anything but `FROM`) into a [`Command`].
pub fn parse_command(ins: &Instruction) -> Result<Command, InstructionError> {
    let kind = command_kind(ins).map_err(|kind| InstructionError::new(ins.span, kind))?;
    Ok(Command {
        span: ins.span,
        original: ins.original.clone(),
        kind,
    })
}

/// The upper-case instruction name used in messages.
fn name(ins: &Instruction) -> String {
    ins.keyword.to_ascii_uppercase()
}

fn command_kind(ins: &Instruction) -> Result<CommandKind, Kind> {
    match ins.keyword.as_str() {
        "arg" => parse_arg(ins),
        "env" => parse_key_values(ins).map(CommandKind::Env),
        "label" => parse_key_values(ins).map(CommandKind::Label),
        "run" => parse_run(ins),
        "copy" => parse_copy(ins, false),
        "add" => parse_copy(ins, true),
        "workdir" => one_argument(ins).map(CommandKind::Workdir),
        "user" => one_argument(ins).map(CommandKind::User),
        "stopsignal" => one_argument(ins).map(CommandKind::StopSignal),
        "maintainer" => one_argument(ins).map(CommandKind::Maintainer),
        "cmd" => no_flags(ins).map(|()| CommandKind::Cmd(shell_or_exec(&ins.args, ins.json))),
        "entrypoint" => {
            no_flags(ins).map(|()| CommandKind::Entrypoint(shell_or_exec(&ins.args, ins.json)))
        }
        "shell" => parse_shell(ins),
        "expose" => words(ins).map(CommandKind::Expose),
        "volume" => parse_volume(ins),
        "healthcheck" => parse_healthcheck(ins),
        "onbuild" => parse_onbuild(ins),
        "from" => Err(Kind::FromIsNotCommand),
        _ => Err(Kind::UnknownInstruction { keyword: name(ins) }),
    }
}

fn no_flags(ins: &Instruction) -> Result<(), Kind> {
    Flags::parse(&name(ins), &ins.flags, NO_FLAGS).map(|_| ())
}

/// Shell form is the argument text (one node from the parser); exec form the array.
fn shell_or_exec(args: &[String], json: bool) -> ShellOrExec {
    if json {
        ShellOrExec::Exec(args.to_vec())
    } else {
        ShellOrExec::Shell(args.join(" "))
    }
}

/// `WORKDIR`, `USER`, `STOPSIGNAL`, `MAINTAINER`: exactly one non-blank argument.
fn one_argument(ins: &Instruction) -> Result<String, Kind> {
    match ins.args.as_slice() {
        [only] if !only.trim().is_empty() => {
            no_flags(ins)?;
            Ok(only.clone())
        }
        _ => Err(Kind::ExactlyOneArgument {
            instruction: name(ins),
        }),
    }
}

/// `EXPOSE`: one or more words.
fn words(ins: &Instruction) -> Result<Vec<String>, Kind> {
    if ins.args.is_empty() {
        return Err(Kind::AtLeastOneArgument {
            instruction: name(ins),
        });
    }
    no_flags(ins)?;
    Ok(ins.args.clone())
}

fn parse_volume(ins: &Instruction) -> Result<CommandKind, Kind> {
    let volumes = words(ins)?;
    let volumes = volumes
        .iter()
        .map(|volume| volume.trim().to_owned())
        .collect::<Vec<_>>();
    if volumes.iter().any(String::is_empty) {
        return Err(Kind::EmptyVolume);
    }
    Ok(CommandKind::Volume(volumes))
}

fn parse_arg(ins: &Instruction) -> Result<CommandKind, Kind> {
    if ins.args.is_empty() {
        return Err(Kind::AtLeastOneArgument {
            instruction: name(ins),
        });
    }
    no_flags(ins)?;
    let mut declarations = Vec::with_capacity(ins.args.len());
    for word in &ins.args {
        let declaration = match word.split_once('=') {
            Some((arg_name, default)) => ArgDecl {
                name: arg_name.to_owned(),
                default: Some(default.to_owned()),
            },
            None => ArgDecl {
                name: word.clone(),
                default: None,
            },
        };
        if declaration.name.is_empty() {
            return Err(Kind::BlankName {
                instruction: name(ins),
            });
        }
        declarations.push(declaration);
    }
    Ok(CommandKind::Arg(declarations))
}

/// `ENV`/`LABEL`: the parser gives `(key, value, "=" or "")` triples.
fn parse_key_values(ins: &Instruction) -> Result<Vec<(String, String)>, Kind> {
    if ins.args.is_empty() {
        return Err(Kind::AtLeastOneArgument {
            instruction: name(ins),
        });
    }
    if !ins.args.len().is_multiple_of(3) {
        return Err(Kind::MalformedKeyValues {
            instruction: name(ins),
        });
    }
    no_flags(ins)?;
    let mut pairs = Vec::with_capacity(ins.args.len() / 3);
    for triple in ins.args.chunks_exact(3) {
        if triple[0].is_empty() {
            return Err(Kind::BlankName {
                instruction: name(ins),
            });
        }
        pairs.push((triple[0].clone(), triple[1].clone()));
    }
    Ok(pairs)
}

fn parse_run(ins: &Instruction) -> Result<CommandKind, Kind> {
    let flags = Flags::parse(&name(ins), &ins.flags, RUN_FLAGS)?;
    Ok(CommandKind::Run(RunArgs {
        command: shell_or_exec(&ins.args, ins.json),
        heredocs: ins.heredocs.clone(),
        mounts: flags.strings("mount"),
        network: flags.string("network"),
        security: flags.string("security"),
        devices: flags.strings("device"),
    }))
}

/// The delimiter named by a heredoc word (`<<EOF`, `<<-"EOF"`, `3<<EOF`).
fn heredoc_word_name(word: &str) -> Option<String> {
    let rest = word
        .trim_start_matches(|ch: char| ch.is_ascii_digit())
        .strip_prefix("<<")?;
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    if rest.contains('<') {
        return None;
    }
    let delimiter: String = rest
        .trim_start()
        .chars()
        .filter(|ch| *ch != '"' && *ch != '\'')
        .collect();
    (!delimiter.is_empty()).then_some(delimiter)
}

fn parse_copy(ins: &Instruction, is_add: bool) -> Result<CommandKind, Kind> {
    let instruction = name(ins);
    let Some((dest, sources)) = ins
        .args
        .split_last()
        .filter(|(_, sources)| !sources.is_empty())
    else {
        return Err(Kind::NoDestination { instruction });
    };
    let flags = Flags::parse(
        &instruction,
        &ins.flags,
        if is_add { ADD_FLAGS } else { COPY_FLAGS },
    )?;
    if heredoc_word_name(dest).is_some() {
        return Err(Kind::HeredocDestination { instruction });
    }
    let heredocs: Vec<Heredoc> = sources
        .iter()
        .filter_map(|source| heredoc_word_name(source))
        .filter_map(|delimiter| {
            ins.heredocs
                .iter()
                .find(|heredoc| heredoc.name == delimiter)
                .cloned()
        })
        .collect();
    Ok(CommandKind::Copy(CopyArgs {
        is_add,
        sources: sources.to_vec(),
        dest: dest.clone(),
        heredocs,
        from: flags.string("from"),
        chown: flags.string("chown"),
        chmod: flags.string("chmod"),
        link: flags.bool("link").unwrap_or(false),
        parents: flags.bool("parents").unwrap_or(false),
        exclude: flags.strings("exclude"),
        checksum: flags.string("checksum"),
        keep_git_dir: flags.bool("keep-git-dir"),
        unpack: flags.bool("unpack"),
    }))
}

fn parse_shell(ins: &Instruction) -> Result<CommandKind, Kind> {
    no_flags(ins)?;
    if ins.args.is_empty() {
        return Err(Kind::AtLeastOneArgument {
            instruction: name(ins),
        });
    }
    if !ins.json {
        return Err(Kind::NotJson {
            instruction: name(ins),
        });
    }
    Ok(CommandKind::Shell(ins.args.clone()))
}

fn parse_healthcheck(ins: &Instruction) -> Result<CommandKind, Kind> {
    let Some((kind_word, rest)) = ins.args.split_first() else {
        return Err(Kind::AtLeastOneArgument {
            instruction: name(ins),
        });
    };
    let kind = kind_word.to_ascii_uppercase();
    if kind == "NONE" {
        if let Some(flag) = ins.flags.first() {
            let flag = flag.trim_start_matches('-');
            return Err(Kind::HealthcheckNoneFlags {
                flag: flag.split('=').next().unwrap_or(flag).to_owned(),
            });
        }
        if !rest.is_empty() {
            return Err(Kind::HealthcheckNoneArguments);
        }
        return Ok(CommandKind::Healthcheck(Healthcheck::None));
    }
    let flags = Flags::parse(&name(ins), &ins.flags, HEALTHCHECK_FLAGS)?;
    if kind != "CMD" {
        return Err(Kind::HealthcheckType { kind });
    }
    let test = shell_or_exec(rest, ins.json);
    let is_empty = match &test {
        ShellOrExec::Shell(text) => text.trim().is_empty(),
        ShellOrExec::Exec(args) => args.is_empty(),
    };
    if is_empty {
        return Err(Kind::HealthcheckMissingCommand);
    }
    Ok(CommandKind::Healthcheck(Healthcheck::Cmd {
        test,
        interval: interval(&flags, "interval")?,
        timeout: interval(&flags, "timeout")?,
        start_period: interval(&flags, "start-period")?,
        start_interval: interval(&flags, "start-interval")?,
        retries: retries(&flags)?,
    }))
}

/// A HEALTHCHECK duration flag: unset or zero is `None` (the default).
fn interval(flags: &Flags, flag: &str) -> Result<Option<Duration>, Kind> {
    let Some(value) = flags.string(flag) else {
        return Ok(None);
    };
    let nanos = parse_go_duration(&value).ok_or_else(|| Kind::InvalidDuration {
        flag: flag.to_owned(),
        value,
    })?;
    if nanos == 0 {
        return Ok(None);
    }
    if nanos < MINIMUM_DURATION_NANOS {
        return Err(Kind::DurationTooShort {
            flag: flag.to_owned(),
        });
    }
    let nanos = u64::try_from(nanos).map_err(|_| Kind::DurationTooShort {
        flag: flag.to_owned(),
    })?;
    Ok(Some(Duration::from_nanos(nanos)))
}

fn retries(flags: &Flags) -> Result<Option<u64>, Kind> {
    let Some(value) = flags.string("retries") else {
        return Ok(None);
    };
    let parsed: i32 = value.parse().map_err(|_| Kind::InvalidRetries {
        value: value.clone(),
    })?;
    u64::try_from(parsed)
        .map(Some)
        .map_err(|_| Kind::NegativeRetries {
            value: i64::from(parsed),
        })
}

fn parse_onbuild(ins: &Instruction) -> Result<CommandKind, Kind> {
    no_flags(ins)?;
    let Some(sub) = ins.sub.as_deref() else {
        return Err(Kind::AtLeastOneArgument {
            instruction: name(ins),
        });
    };
    let trigger = name(sub);
    match trigger.as_str() {
        "ONBUILD" => return Err(Kind::OnbuildChain),
        "FROM" | "MAINTAINER" => return Err(Kind::OnbuildTrigger { trigger }),
        _ => {}
    }
    command_kind(sub)?;
    Ok(CommandKind::Onbuild(trigger_text(ins, sub)))
}

/// The trigger as BuildKit stores it: the line without the leading `ONBUILD`
/// keyword, then each heredoc as `\n` + body + delimiter.
fn trigger_text(ins: &Instruction, sub: &Instruction) -> String {
    let original = ins.original.trim_start();
    let keyword_len = "onbuild".len();
    let mut text = match original.get(..keyword_len) {
        Some(keyword) if keyword.eq_ignore_ascii_case("onbuild") => {
            original[keyword_len..].trim_start().to_owned()
        }
        _ => original.to_owned(),
    };
    let heredocs = if ins.heredocs.is_empty() {
        &sub.heredocs
    } else {
        &ins.heredocs
    };
    for heredoc in heredocs {
        text.push('\n');
        text.push_str(&heredoc.content);
        text.push_str(&heredoc.name);
    }
    text
}

#[cfg(test)]
mod tests;
