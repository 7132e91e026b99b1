//! `kiln load`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The archive to import.
    pub file: PathBuf,
}

pub fn run(_root: Option<PathBuf>, _args: LoadArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet written")
}
