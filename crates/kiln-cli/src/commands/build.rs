//! `kiln build`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The build context directory.
    pub context: PathBuf,
}

pub fn run(_root: Option<PathBuf>, _args: BuildArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet written")
}
