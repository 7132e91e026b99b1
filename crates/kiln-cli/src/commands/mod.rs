//! One module per command.

pub mod build;
mod debug_expand;
mod debug_parse;
pub mod load;

use std::process::ExitCode;

use crate::cli::{Cli, Command, DebugCommand};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Build(args) => build::run(cli.root, *args),
        Command::Load(args) => load::run(cli.root, args),
        Command::Debug(debug) => match debug {
            DebugCommand::ParseDump { file } => debug_parse::parse_dump(&file),
            DebugCommand::ParseJson { file } => debug_parse::parse_json(&file),
            DebugCommand::ExpandWord(args) => debug_expand::expand_word(&args),
            DebugCommand::ExpandWords(args) => debug_expand::expand_words(&args),
        },
    }
}
