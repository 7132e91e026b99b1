//! A whole file to [`Stages`]: global ARGs, then one [`Stage`] per `FROM`.

use std::collections::BTreeSet;

use super::command::parse_command;
use super::error::{InstructionError, InstructionErrorKind as Kind};
use super::flags::{FlagKind, FlagSpecs, Flags};
use super::{CommandKind, Stage, Stages};
use crate::ast::{Instruction, Span};
use crate::Dockerfile;

const FROM_FLAGS: FlagSpecs = &[("platform", FlagKind::String)];

/// Splits a parsed Dockerfile into its global ARGs and stages, converting
/// every instruction. Only `ARG` may come before the first `FROM`, and
/// stage names must be valid and unique.
pub fn to_stages(file: &Dockerfile) -> Result<Stages, InstructionError> {
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    let mut names = BTreeSet::new();
    for ins in &file.instructions {
        if ins.keyword == "from" {
            let stage = parse_from(ins, stages.len())
                .map_err(|kind| InstructionError::new(ins.span, kind))?;
            if let Some(name) = &stage.name {
                if !names.insert(name.clone()) {
                    let kind = Kind::DuplicateStageName { name: name.clone() };
                    return Err(InstructionError::new(ins.span, kind));
                }
            }
            stages.push(stage);
            continue;
        }
        let command = parse_command(ins)?;
        match stages.last_mut() {
            Some(stage) => stage.commands.push(command),
            None if matches!(command.kind, CommandKind::Arg(_)) => meta_args.push(command),
            None => {
                let kind = Kind::BeforeFrom {
                    instruction: ins.keyword.to_ascii_uppercase(),
                };
                return Err(InstructionError::new(ins.span, kind));
            }
        }
    }
    if stages.is_empty() {
        let span = file
            .instructions
            .first()
            .map_or(Span::default(), |ins| ins.span);
        return Err(InstructionError::new(span, Kind::NoStages));
    }
    Ok(Stages { meta_args, stages })
}

/// `FROM [--platform=X] image [AS name]`.
fn parse_from(ins: &Instruction, index: usize) -> Result<Stage, Kind> {
    let name = match ins.args.as_slice() {
        [_] => None,
        [_, as_word, name] if as_word.eq_ignore_ascii_case("as") => {
            let lowered = name.to_lowercase();
            if !is_valid_stage_name(&lowered) {
                return Err(Kind::InvalidStageName { name: name.clone() });
            }
            Some(lowered)
        }
        _ => return Err(Kind::FromArguments),
    };
    let flags = Flags::parse("FROM", &ins.flags, FROM_FLAGS)?;
    Ok(Stage {
        index,
        name,
        base: ins.args[0].clone(),
        platform: flags.string("platform"),
        span: ins.span,
        original: ins.original.trim().to_owned(),
        commands: Vec::new(),
    })
}

/// BuildKit's rule: `^[a-z][a-z0-9-_.]*$`.
fn is_valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_lowercase())
        && chars.all(|ch| {
            ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '-' | '_' | '.')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instruction::ArgDecl;

    fn ins(keyword: &str, flags: &[&str], args: &[&str]) -> Instruction {
        let original = format!("{} {}", keyword.to_uppercase(), args.join(" "));
        Instruction {
            keyword: keyword.to_owned(),
            flags: flags.iter().map(|f| f.to_string()).collect(),
            args: args.iter().map(|a| a.to_string()).collect(),
            json: false,
            heredocs: Vec::new(),
            sub: None,
            original,
            span: Span::default(),
        }
    }

    fn file(instructions: Vec<Instruction>) -> Dockerfile {
        let instructions = instructions
            .into_iter()
            .enumerate()
            .map(|(i, mut ins)| {
                ins.span = Span {
                    start_line: i + 1,
                    start_col: 1,
                    end_line: i + 1,
                    end_col: 10,
                };
                ins
            })
            .collect();
        Dockerfile {
            escape: '\\',
            directives: Vec::new(),
            instructions,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn splits_meta_args_and_stages() {
        let stages = to_stages(&file(vec![
            ins("arg", &[], &["BASE=alpine"]),
            ins(
                "from",
                &["--platform=linux/arm64"],
                &["$BASE", "AS", "Build"],
            ),
            ins("run", &[], &["make"]),
            ins("from", &[], &["scratch"]),
            ins("arg", &[], &["X"]),
            ins("copy", &["--from=build"], &["/out", "/"]),
        ]))
        .unwrap();
        assert_eq!(stages.meta_args.len(), 1);
        let CommandKind::Arg(args) = &stages.meta_args[0].kind else {
            panic!("not an ARG")
        };
        assert_eq!(
            args,
            &[ArgDecl {
                name: "BASE".into(),
                default: Some("alpine".into())
            }]
        );
        assert_eq!(stages.stages.len(), 2);
        let first = &stages.stages[0];
        assert_eq!(
            (first.index, first.name.as_deref(), first.base.as_str()),
            (0, Some("build"), "$BASE")
        );
        assert_eq!(first.platform.as_deref(), Some("linux/arm64"));
        assert_eq!(first.span.start_line, 2);
        assert_eq!(first.original, "FROM $BASE AS Build");
        assert_eq!(first.commands.len(), 1);
        let second = &stages.stages[1];
        assert_eq!(
            (second.index, second.name.as_deref(), second.commands.len()),
            (1, None, 2)
        );
    }

    #[test]
    fn rejects_bad_files() {
        let cases: Vec<(Vec<Instruction>, &str, usize)> = vec![
            (vec![], "the dockerfile has no FROM instruction, so no stage to build", 0),
            (vec![ins("arg", &[], &["A"])], "the dockerfile has no FROM instruction, so no stage to build", 1),
            (
                vec![ins("run", &[], &["x"]), ins("from", &[], &["a"])],
                "RUN instruction before the first FROM: only ARG may come before it",
                1,
            ),
            (
                vec![ins("from", &[], &["a", "as", "x"]), ins("from", &[], &["b", "AS", "X"])],
                "duplicate stage name \"x\"",
                2,
            ),
            (vec![ins("from", &[], &["a", "as", "1x"])], "invalid name for build stage: \"1x\", name can't start with a number or contain symbols", 1),
            (vec![ins("from", &[], &["a", "as", "a/b"])], "invalid name for build stage: \"a/b\", name can't start with a number or contain symbols", 1),
            (vec![ins("from", &[], &[])], "FROM requires either one or three arguments", 1),
            (vec![ins("from", &[], &["a", "b"])], "FROM requires either one or three arguments", 1),
            (vec![ins("from", &[], &["a", "is", "b"])], "FROM requires either one or three arguments", 1),
            (vec![ins("from", &["--link"], &["a"])], "unknown flag for FROM: --link", 1),
            (vec![ins("from", &["--platform"], &["a"])], "missing a value on flag: --platform", 1),
            (vec![ins("from", &[], &["a"]), ins("bogus", &[], &[""])], "unknown instruction: BOGUS", 2),
        ];
        for (instructions, message, line) in cases {
            let err = to_stages(&file(instructions)).unwrap_err();
            assert_eq!(err.to_string(), message);
            assert_eq!(err.span().start_line, line, "{message}");
        }
    }

    #[test]
    fn stage_names() {
        for (name, valid) in [
            ("a", true),
            ("a-b_c.d9", true),
            ("9a", false),
            ("", false),
            ("a:b", false),
            ("-a", false),
        ] {
            assert_eq!(is_valid_stage_name(name), valid, "{name:?}");
        }
    }
}
