//! One module per command, plus the helpers the image commands share
//! (store view, docker's human formats, tables, `--format` templates).

pub mod build;
pub mod cache;
mod debug_expand;
mod debug_parse;
pub mod history;
pub mod images;
pub mod inspect;
pub mod load;
pub mod login;
pub mod prune;
pub mod pull;
pub mod push;
pub mod rmi;
pub mod run;
pub mod save;
pub mod store;
pub mod tag;

mod format;
mod store_images;
mod table;
mod template;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::{Cli, Command, DebugCommand};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Build(args) => build::run(cli.root, *args),
        Command::Load(args) => load::run(cli.root, args),
        Command::Pull(args) => pull::run(cli.root, args),
        Command::Push(args) => push::run(cli.root, args),
        Command::Login(args) => login::login(args),
        Command::Logout(args) => login::logout(args),
        Command::Images(args) => images::run(cli.root, args),
        Command::Tag(args) => tag::run(cli.root, args),
        Command::Rmi(args) => rmi::run(cli.root, args),
        Command::Prune(args) => prune::run(cli.root, args),
        Command::History(args) => history::run(cli.root, args),
        Command::Inspect(args) => inspect::run(cli.root, args),
        Command::Save(args) => save::run(cli.root, args),
        Command::Run(args) => run::run(cli.root, *args),
        Command::Store(command) => store::run(cli.root, command),
        Command::Cache(command) => cache::run(cli.root, command),
        Command::Debug(debug) => match debug {
            DebugCommand::ParseDump { file } => debug_parse::parse_dump(&file),
            DebugCommand::ParseJson { file } => debug_parse::parse_json(&file),
            DebugCommand::ExpandWord(args) => debug_expand::expand_word(&args),
            DebugCommand::ExpandWords(args) => debug_expand::expand_words(&args),
        },
    }
}

/// Opens the store named by `--root` / `KILN_ROOT` / the default.
fn open_store(root: Option<PathBuf>) -> anyhow::Result<kiln_store::Store> {
    let path = crate::root::store_root(root)?;
    kiln_store::Store::open(&path)
        .with_context(|| format!("failed to open the store at {}", path.display()))
}

/// Writes `text` to standard output (a broken pipe surfaces as an error
/// that `main` treats as success).
fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}
