//! `kiln prune [--all] [-f]`: delete the blobs no tag reaches.
//!
//! - default: blobs nothing references (no tag, no untagged `index.json`
//!   entry another tool wrote, no build-cache record), if older than 10
//!   minutes, so that a build or another tool that has written blobs but not
//!   yet tagged them keeps them; plus stale `ingest/` temp files;
//! - `--all`: every image no tag reaches: also the untagged `index.json`
//!   entries, and no age window (running kiln builds and loads are still
//!   safe: prune waits for them through the store's `gc` lock).
//!
//! Without `-f` it asks on a terminal and refuses when standard input is not one.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::Args;
use kiln_store::PruneOptions;

use super::format::human_size;
use super::{open_store, write_stdout};

/// How old an unreachable blob must be before the default mode deletes it.
const MIN_AGE: Duration = Duration::from_secs(10 * 60);

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove every image no tag reaches, including untagged index entries
    /// and blobs written in the last 10 minutes.
    #[arg(short, long)]
    pub all: bool,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub force: bool,
    /// Print only the total reclaimed space.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(root: Option<PathBuf>, args: PruneArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(root)?;
    if !args.force && !confirm(args.all)? {
        return Ok(ExitCode::FAILURE);
    }
    if store.gc_busy().unwrap_or(false) {
        eprintln!("waiting for running builds and loads on this store to finish...");
    }
    let options = PruneOptions {
        now: SystemTime::now(),
        min_age: if args.all { Duration::ZERO } else { MIN_AGE },
        remove_untagged: args.all,
    };
    let report = store.prune(&options).context("failed to prune the store")?;
    let mut out = String::new();
    if !args.quiet && !report.deleted.is_empty() {
        out.push_str("Deleted blobs:\n");
        for (digest, _) in &report.deleted {
            out.push_str(&format!("deleted: {digest}\n"));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size(report.freed_bytes, 4)
    ));
    write_stdout(&out)?;
    if !args.quiet && report.kept_recent > 0 {
        eprintln!(
            "kept {} unreferenced blob(s) written in the last 10 minutes (use --all to remove them)",
            report.kept_recent
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks on the terminal; refuses (error) when standard input is not one.
fn confirm(all: bool) -> anyhow::Result<bool> {
    let warning = if all {
        "WARNING! This will remove every image and blob no tag reaches, including untagged images and blobs written in the last 10 minutes."
    } else {
        "WARNING! This will remove every blob no tag, untagged image or build-cache record references (older than 10 minutes)."
    };
    crate::prompt::confirm(warning, "prune")
}
