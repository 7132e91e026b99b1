//! `kiln store fsck [--repair]`: verify every blob, every reference (tags,
//! cache records) and list garbage.
//!
//! Prints one line per problem (`error: …`) and per garbage entry
//! (`garbage: …`), then a summary; exits 1 when anything is wrong, 0 when
//! the store is sound (garbage is not wrong: `kiln prune` removes it).
//! `--repair` waits for running builds, removes garbage, corrupt blobs and
//! broken cache records, and exits 1 only for what it could not repair.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use kiln_store::FsckOptions;

use super::format::human_size;
use super::{open_store, write_stdout};

/// `kiln store …`.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Verify every blob's digest and size and every reference; list garbage.
    Fsck(FsckArgs),
}

/// `kiln store fsck`.
#[derive(Debug, Args)]
pub struct FsckArgs {
    /// Remove garbage, corrupt blobs and broken cache records (waits for
    /// running builds). Broken tags are only reported.
    #[arg(long)]
    pub repair: bool,
}

/// Runs a `kiln store` subcommand.
pub fn run(root: Option<PathBuf>, command: StoreCommand) -> anyhow::Result<ExitCode> {
    match command {
        StoreCommand::Fsck(args) => fsck(root, args),
    }
}

fn fsck(root: Option<PathBuf>, args: FsckArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(root)?;
    if args.repair && store.gc_busy().unwrap_or(false) {
        eprintln!("waiting for running builds and loads on this store to finish...");
    }
    let options = FsckOptions {
        repair: args.repair,
    };
    let report = store.fsck(&options).context("failed to check the store")?;
    let mut out = String::new();
    for problem in &report.problems {
        out.push_str(&format!("error: {problem}\n"));
    }
    for garbage in &report.garbage {
        out.push_str(&format!(
            "garbage: {} {} ({})\n",
            garbage.kind.describe(),
            garbage.path.display(),
            human_size(garbage.bytes, 3)
        ));
    }
    for line in &report.repaired {
        out.push_str(&format!("repaired: {line}\n"));
    }
    let unrepaired = report
        .problems
        .iter()
        .filter(|problem| !(args.repair && problem.repairable()))
        .count();
    out.push_str(&format!(
        "checked {} blobs, {} references, {} cache records: {} problem(s), {} garbage entr{}\n",
        report.blobs_checked,
        report.references_checked,
        report.records_checked,
        report.problems.len(),
        report.garbage.len(),
        if report.garbage.len() == 1 {
            "y"
        } else {
            "ies"
        },
    ));
    if report.busy {
        out.push_str(
            "note: builds are running on this store, so ingest/ and tmp/ were not checked for garbage\n",
        );
    }
    if !args.repair && !report.garbage.is_empty() {
        out.push_str("garbage is harmless: `kiln prune` removes it (at once with --all)\n");
    }
    write_stdout(&out)?;
    Ok(if unrepaired == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
