//! `kiln debug parse-dump` and `kiln debug parse-json`.

use std::path::Path;
use std::process::ExitCode;

pub fn parse_dump(_file: &Path) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet written")
}

pub fn parse_json(_file: &Path) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet written")
}
