//! `kiln history NAME`: the steps of an image, newest first, as `docker history`.
//!
//! Rows come from the config's `history`; each entry that made a layer gets
//! the next layer's (compressed) size, empty-layer entries show 0B. The top
//! row shows the image ID, the others `<missing>` (docker does the same for
//! images it did not build step by step). An image without history gets one
//! row per layer.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use clap::Args;
use kiln_oci::History;
use serde_json::{json, Value};

use super::format::{created_since, ellipsis, human_size, parse_rfc3339, rfc3339_utc};
use super::store_images::{self, StoredImage};
use super::template::Template;
use super::{open_store, write_stdout};

/// Width of the CREATED BY column unless `--no-trunc`.
const CREATED_BY_WIDTH: usize = 45;

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The image: a name, an image ID (or prefix) or a digest.
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Do not truncate CREATED BY and the image ID.
    #[arg(long)]
    pub no_trunc: bool,
    /// Print only the image ID column.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show sizes in bytes and times as RFC 3339 instead of human forms.
    #[arg(short = 'H', long = "human", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub human: bool,
    /// `table` (default), `json` (one object per line), or a Go-template
    /// subset such as `{{.CreatedBy}}`.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

/// One row, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The image ID on the newest row, `<missing>` below.
    pub id: String,
    /// RFC 3339 creation time, as recorded.
    pub created: Option<String>,
    /// The instruction.
    pub created_by: String,
    /// Bytes of the layer (0 for empty-layer entries).
    pub size: u64,
    /// The comment.
    pub comment: String,
}

pub fn run(root: Option<PathBuf>, args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(root)?;
    let images = store_images::list(&store)?;
    let image = &images[store_images::lookup(&images, &args.image)?.image()];
    let steps = steps(image, args.no_trunc);
    let now = SystemTime::now();
    let mut out = String::new();
    if args.quiet {
        for step in &steps {
            out.push_str(&step.id);
            out.push('\n');
        }
    } else {
        match args.format.as_deref() {
            None | Some("table") => out = table(&steps, &args, now),
            Some("json") => {
                for step in &steps {
                    out.push_str(&json_row(step, now).to_string());
                    out.push('\n');
                }
            }
            Some(format) => {
                let template = Template::parse(format)?;
                for step in &steps {
                    out.push_str(&template.render(&json_row(step, now))?);
                    out.push('\n');
                }
            }
        }
    }
    write_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// The image's steps, newest first.
pub fn steps(image: &StoredImage, no_trunc: bool) -> Vec<Step> {
    let history: Vec<History> = if image.config.history.is_empty() {
        image.layers.iter().map(|_| History::default()).collect()
    } else {
        image.config.history.clone()
    };
    let mut layers = image.layers.iter();
    let mut steps: Vec<Step> = history
        .into_iter()
        .map(|entry| {
            let size = if entry.empty_layer {
                0
            } else {
                layers.next().map(|(_, size)| *size).unwrap_or(0)
            };
            Step {
                id: "<missing>".to_string(),
                created: entry.created,
                created_by: entry.created_by.unwrap_or_default(),
                size,
                comment: entry.comment.unwrap_or_default(),
            }
        })
        .collect();
    steps.reverse();
    if let Some(top) = steps.first_mut() {
        top.id = image.id(no_trunc);
    }
    steps
}

fn table(steps: &[Step], args: &HistoryArgs, now: SystemTime) -> String {
    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|step| {
            let created_by = step.created_by.replace(['\t', '\n'], " ");
            let created_by = if args.no_trunc {
                created_by
            } else {
                ellipsis(&created_by, CREATED_BY_WIDTH)
            };
            let (created, size) = if args.human {
                (
                    created_since(step.created.as_deref(), now),
                    human_size(step.size, 3),
                )
            } else {
                (
                    step.created.clone().unwrap_or_default(),
                    step.size.to_string(),
                )
            };
            vec![
                step.id.clone(),
                created,
                created_by,
                size,
                step.comment.clone(),
            ]
        })
        .collect();
    super::table::render(
        &["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
        &rows,
    )
}

/// docker's `{{json .}}` keys for history, plus the size in bytes.
fn json_row(step: &Step, now: SystemTime) -> Value {
    json!({
        "ID": step.id,
        "CreatedAt": step
            .created
            .as_deref()
            .and_then(parse_rfc3339)
            .map(rfc3339_utc)
            .unwrap_or_default(),
        "CreatedSince": created_since(step.created.as_deref(), now),
        "CreatedBy": step.created_by,
        "Size": human_size(step.size, 3),
        "SizeBytes": step.size,
        "Comment": step.comment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_oci::{Digest, ImageConfig};

    fn entry(created_by: &str, empty_layer: bool) -> History {
        History {
            created: Some("2024-01-02T03:04:05Z".to_string()),
            created_by: Some(created_by.to_string()),
            comment: Some("buildkit.dockerfile.v0".to_string()),
            empty_layer,
            ..History::default()
        }
    }

    #[test]
    fn steps_pair_layers_with_non_empty_entries() {
        let config = ImageConfig {
            history: vec![
                entry("COPY a /a # buildkit", false),
                entry("ENV X=1", true),
                entry("COPY b /b # buildkit", false),
            ],
            ..ImageConfig::default()
        };
        let image = StoredImage {
            names: vec!["app:1".to_string()],
            descriptor: kiln_oci::descriptor(kiln_oci::OCI_MANIFEST, &Digest::sha256_of(b"m"), 1),
            manifest_digest: Digest::sha256_of(b"m"),
            config_digest: Digest::sha256_of(b"c"),
            config_size: 10,
            config,
            layers: vec![
                (Digest::sha256_of(b"a"), 111),
                (Digest::sha256_of(b"b"), 222),
            ],
        };
        let steps = steps(&image, false);
        let summary: Vec<(&str, &str, u64)> = steps
            .iter()
            .map(|step| (step.id.as_str(), step.created_by.as_str(), step.size))
            .collect();
        let id = Digest::sha256_of(b"c").short().to_string();
        assert_eq!(
            summary,
            [
                (id.as_str(), "COPY b /b # buildkit", 222),
                ("<missing>", "ENV X=1", 0),
                ("<missing>", "COPY a /a # buildkit", 111),
            ]
        );
        let full = super::steps(&image, true);
        assert_eq!(full[0].id, Digest::sha256_of(b"c").to_string());

        let bare = StoredImage {
            config: ImageConfig::default(),
            ..image
        };
        let rows = super::steps(&bare, false);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].size, 222);
    }
}
