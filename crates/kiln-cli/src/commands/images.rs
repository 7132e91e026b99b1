//! `kiln images [NAME]`: the store's tags as `docker images` lists them.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use clap::Args;
use serde_json::{json, Value};

use super::format::{created_since, go_time_string, human_size, parse_rfc3339};
use super::store_images::{self, split_name, StoredImage};
use super::template::Template;
use super::{open_store, write_stdout};

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Only images of this repository (`app`) or this tag (`app:1`).
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// Show the manifest digest (DIGEST column).
    #[arg(long)]
    pub digests: bool,
    /// Print only image IDs (each once).
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not truncate image IDs.
    #[arg(long)]
    pub no_trunc: bool,
    /// `table` (default), `json` (one object per line, full values), or a
    /// Go-template subset such as `{{.Repository}}:{{.Tag}}`.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

/// One line of the listing.
struct Row {
    repository: String,
    tag: String,
    image: usize,
    created: Option<i64>,
}

pub fn run(root: Option<PathBuf>, args: ImagesArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(root)?;
    let images = store_images::list(&store)?;
    let filter = args.name.as_deref().map(NameFilter::parse).transpose()?;
    let mut rows = Vec::new();
    for (position, image) in images.iter().enumerate() {
        for name in &image.names {
            let (repository, tag) = split_name(name);
            if let Some(filter) = &filter {
                if !filter.matches(&repository, &tag) {
                    continue;
                }
            }
            rows.push(Row {
                repository,
                tag,
                image: position,
                created: image.config.created.as_deref().and_then(parse_rfc3339),
            });
        }
    }
    // Newest first, as docker; then by name.
    rows.sort_by(|a, b| {
        b.created
            .cmp(&a.created)
            .then_with(|| a.repository.cmp(&b.repository))
            .then_with(|| a.tag.cmp(&b.tag))
    });
    let now = SystemTime::now();
    let mut out = String::new();
    if args.quiet {
        let mut seen = Vec::new();
        for row in &rows {
            let id = images[row.image].id(args.no_trunc);
            if !seen.contains(&id) {
                out.push_str(&id);
                out.push('\n');
                seen.push(id);
            }
        }
    } else {
        match args.format.as_deref() {
            None | Some("table") => out = table(&rows, &images, &args, now),
            Some("json") => {
                for row in &rows {
                    out.push_str(&json_row(row, &images[row.image], now).to_string());
                    out.push('\n');
                }
            }
            Some(format) => {
                let template = Template::parse(format)?;
                for row in &rows {
                    out.push_str(&template.render(&json_row(row, &images[row.image], now))?);
                    out.push('\n');
                }
            }
        }
    }
    write_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn table(rows: &[Row], images: &[StoredImage], args: &ImagesArgs, now: SystemTime) -> String {
    let mut header = vec!["REPOSITORY", "TAG"];
    if args.digests {
        header.push("DIGEST");
    }
    header.extend(["IMAGE ID", "CREATED", "SIZE"]);
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let image = &images[row.image];
            let mut cells = vec![row.repository.clone(), row.tag.clone()];
            if args.digests {
                cells.push(image.repo_digest());
            }
            cells.push(image.id(args.no_trunc));
            cells.push(created_since(image.config.created.as_deref(), now));
            cells.push(human_size(image.size(), 3));
            cells
        })
        .collect();
    super::table::render(&header, &cells)
}

/// docker's `{{json .}}` keys, with full values.
fn json_row(row: &Row, image: &StoredImage, now: SystemTime) -> Value {
    json!({
        "Repository": row.repository,
        "Tag": row.tag,
        "ID": image.config_digest.to_string(),
        "Digest": image.repo_digest(),
        "CreatedAt": row.created.map(go_time_string).unwrap_or_default(),
        "CreatedSince": created_since(image.config.created.as_deref(), now),
        "Size": human_size(image.size(), 3),
        "SizeBytes": image.size(),
    })
}

/// `NAME` of `kiln images NAME`: a repository, or a repository and tag.
struct NameFilter {
    repository: String,
    tag: Option<String>,
}

impl NameFilter {
    fn parse(text: &str) -> anyhow::Result<NameFilter> {
        let reference: kiln_oci::Reference = text
            .parse()
            .map_err(|err| anyhow::anyhow!("invalid reference format {text:?}: {err}"))?;
        // A tag was given when the last path component has a colon.
        let last = text.rsplit('/').next().unwrap_or(text);
        let explicit_tag = last.contains(':');
        Ok(NameFilter {
            repository: reference.familiar_name(),
            tag: explicit_tag
                .then(|| reference.tag().map(str::to_string))
                .flatten(),
        })
    }

    fn matches(&self, repository: &str, tag: &str) -> bool {
        self.repository == repository && self.tag.as_deref().is_none_or(|wanted| wanted == tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_filters() {
        let cases = [
            ("app", "app", "1", true),
            ("app", "app", "latest", true),
            ("app:1", "app", "1", true),
            ("app:1", "app", "2", false),
            ("docker.io/library/app", "app", "9", true),
            ("quay.io/x/y:2", "quay.io/x/y", "2", true),
            ("other", "app", "1", false),
        ];
        for (filter, repository, tag, expected) in cases {
            let parsed = NameFilter::parse(filter).unwrap();
            assert_eq!(
                parsed.matches(repository, tag),
                expected,
                "{filter} vs {repository}:{tag}"
            );
        }
        assert!(NameFilter::parse("Bad Name").is_err());
    }
}
