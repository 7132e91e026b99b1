//! `kiln cache du` and `kiln cache prune [--all] [--keep-storage SIZE]
//! [--filter until=DURATION] [-f]`: the size of the build cache, and
//! freeing it (see `kiln_store::cache_prune` for what each mode removes).
//!
//! Sizes are read like docker's `--keep-storage` (`512MB`, `5GB`, `1.5g`,
//! binary multiples: 1kB = 1024 bytes); durations like Go's (`24h`, `90m`,
//! `1h30m`, `45s`) plus `d` for days.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::{Args, Subcommand};
use kiln_store::{CachePruneOptions, CacheUsage};

use super::format::human_size;
use super::{open_store, write_stdout};

/// `kiln cache …`.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Show the disk usage of the build cache.
    Du(DuArgs),
    /// Remove build-cache records, RUN cache mounts and the layers only they use.
    Prune(CachePruneArgs),
}

/// `kiln cache du`.
#[derive(Debug, Args)]
pub struct DuArgs {
    /// Also list every RUN cache mount.
    #[arg(short, long)]
    pub verbose: bool,
}

/// `kiln cache prune`.
#[derive(Debug, Args)]
pub struct CachePruneArgs {
    /// Remove every record and mount, and (without --keep-storage or
    /// --filter) the stat cache and the --explain history too.
    #[arg(short, long)]
    pub all: bool,
    /// Remove the least recently used first, until the cache takes at most SIZE.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub keep_storage: Option<u64>,
    /// `until=DURATION`: keep what was used within DURATION (e.g. `until=24h`).
    #[arg(long, value_name = "FILTER", value_parser = parse_filter)]
    pub filter: Vec<Duration>,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

/// Runs a `kiln cache` subcommand.
pub fn run(root: Option<PathBuf>, command: CacheCommand) -> anyhow::Result<ExitCode> {
    match command {
        CacheCommand::Du(args) => du(root, args),
        CacheCommand::Prune(args) => prune(root, args),
    }
}

fn du(root: Option<PathBuf>, args: DuArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(root)?;
    let usage = store
        .cache_usage()
        .context("failed to measure the build cache")?;
    write_stdout(&render_usage(&usage, args.verbose))?;
    Ok(ExitCode::SUCCESS)
}

/// The `cache du` table.
fn render_usage(usage: &CacheUsage, verbose: bool) -> String {
    let size = |bytes: u64| human_size(bytes, 3);
    let rows = [
        (
            "Cache records".to_string(),
            usage.records.to_string(),
            size(usage.record_bytes),
        ),
        (
            "Layers only the cache uses".to_string(),
            usage.cache_only_layers.to_string(),
            size(usage.cache_only_bytes),
        ),
        (
            "RUN cache mounts".to_string(),
            usage.mounts.len().to_string(),
            size(usage.mount_bytes()),
        ),
        (
            "Stat cache (files)".to_string(),
            usage.stat_cache_entries.to_string(),
            size(usage.stat_cache_bytes),
        ),
        (
            "Other (history, old versions)".to_string(),
            String::new(),
            size(usage.other_bytes),
        ),
    ];
    let mut out = format!("{:<32}{:>8}  {:>9}\n", "TYPE", "COUNT", "SIZE");
    for (name, count, bytes) in rows {
        out.push_str(&format!("{name:<32}{count:>8}  {bytes:>9}\n"));
    }
    if verbose {
        for mount in &usage.mounts {
            out.push_str(&format!(
                "  mount {}  {}\n",
                mount.path.display(),
                size(mount.bytes)
            ));
        }
    }
    out.push_str(&format!(
        "Total: {}\nLayers also used by tagged images (not freed by cache prune): {} ({})\n",
        size(usage.total_bytes()),
        usage.shared_layers,
        size(usage.shared_bytes)
    ));
    out
}

fn prune(root: Option<PathBuf>, args: CachePruneArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(root)?;
    if !args.force && !confirm(args.all)? {
        return Ok(ExitCode::FAILURE);
    }
    if store.gc_busy().unwrap_or(false) {
        eprintln!("waiting for running builds and loads on this store to finish...");
    }
    let options = CachePruneOptions {
        now: SystemTime::now(),
        all: args.all,
        keep_storage: args.keep_storage,
        unused_for: args.filter.iter().max().copied(),
    };
    let report = store
        .prune_cache(&options)
        .context("failed to prune the build cache")?;
    let mut out = String::new();
    for (digest, size) in &report.blobs_removed {
        out.push_str(&format!("deleted: {digest} ({})\n", human_size(*size, 3)));
    }
    out.push_str(&format!(
        "Removed {} cache record(s), {} RUN cache mount(s), {} layer(s){}\nTotal reclaimed space: {}\n",
        report.records_removed,
        report.mounts_removed,
        report.blobs_removed.len(),
        if report.other_removed > 0 {
            ", the stat cache and the build history"
        } else {
            ""
        },
        human_size(report.freed_bytes, 4)
    ));
    write_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// Asks on the terminal; refuses (error) when standard input is not one.
fn confirm(all: bool) -> anyhow::Result<bool> {
    let warning = if all {
        "WARNING! This will remove all build cache: every record, RUN cache mount, the stat cache and the --explain history."
    } else {
        "WARNING! This will remove build-cache records whose layers no image uses, and RUN cache mounts."
    };
    crate::prompt::confirm(warning, "prune the build cache")
}

/// `5GB`, `512m`, `1.5g`, `100` (bytes): binary multiples, as docker reads
/// `--keep-storage`.
fn parse_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("invalid size {text:?} (e.g. 512MB, 5GB)"))?;
    let power = match unit.trim().trim_end_matches('b').trim_end_matches('i') {
        "" => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        _ => {
            return Err(format!(
                "invalid size unit in {text:?} (use B, kB, MB, GB, TB)"
            ))
        }
    };
    let bytes = number * 1024f64.powi(power);
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("size {text:?} is out of range"));
    }
    Ok(bytes as u64)
}

/// `until=24h` → 24 hours.
fn parse_filter(text: &str) -> Result<Duration, String> {
    match text.split_once('=') {
        Some(("until", value)) => parse_duration(value),
        Some((key, _)) => Err(format!(
            "unsupported filter {key:?} (only until=DURATION is supported)"
        )),
        None => Err(format!("invalid filter {text:?} (use until=DURATION)")),
    }
}

/// Go-style durations (`1h30m`, `90s`, `2.5h`), plus `d` for days.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {text:?} (e.g. 24h, 90m, 1h30m, 7d)");
    if text.is_empty() {
        return Err(invalid());
    }
    let mut seconds = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let (number, tail) = rest.split_at(digits);
        let number: f64 = number.parse().map_err(|_| invalid())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return Err(invalid()),
        };
        seconds += number * scale;
        rest = tail;
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_docker() {
        let cases: &[(&str, Option<u64>)] = &[
            ("100", Some(100)),
            ("1kB", Some(1024)),
            ("512MB", Some(512 << 20)),
            ("5GB", Some(5 << 30)),
            ("1.5g", Some(3 << 29)),
            ("2GiB", Some(2 << 30)),
            ("0", Some(0)),
            ("", None),
            ("GB", None),
            ("5XB", None),
            ("-1", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_size(text).ok(), *expected, "{text}");
        }
    }

    #[test]
    fn filters_and_durations_parse() {
        let cases: &[(&str, Option<u64>)] = &[
            ("until=24h", Some(86400)),
            ("until=1h30m", Some(5400)),
            ("until=90s", Some(90)),
            ("until=7d", Some(604_800)),
            ("until=2.5h", Some(9000)),
            ("until=", None),
            ("until=24", None),
            ("until=5y", None),
            ("label=x", None),
            ("24h", None),
        ];
        for (text, expected) in cases {
            assert_eq!(
                parse_filter(text).ok().map(|d| d.as_secs()),
                *expected,
                "{text}"
            );
        }
    }

    #[test]
    fn usage_table_lists_every_part() {
        let usage = CacheUsage {
            records: 3,
            record_bytes: 300,
            cache_only_layers: 2,
            cache_only_bytes: 2_000_000,
            stat_cache_entries: 1,
            stat_cache_bytes: 96,
            ..CacheUsage::default()
        };
        let text = render_usage(&usage, false);
        for expected in ["Cache records", "2MB", "RUN cache mounts", "Total: 2MB"] {
            assert!(text.contains(expected), "{expected} in\n{text}");
        }
    }
}
