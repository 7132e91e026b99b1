//! `kiln debug expand-word` and `kiln debug expand-words`.

use std::process::ExitCode;

use crate::cli::ExpandArgs;

pub fn expand_word(_args: &ExpandArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet written")
}

pub fn expand_words(_args: &ExpandArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet written")
}
