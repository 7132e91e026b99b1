//! "Why did this step miss the cache?": each build records the inputs of its
//! layer-producing steps; the next build of the same Dockerfile and target in
//! the same store compares a missed step's inputs with the recorded ones and
//! says, in plain words, what changed.

use std::collections::BTreeSet;
use std::path::Path;

use kiln_store::Store;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::StepInputs;

/// The inputs of one step of a build.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    /// Stage name (or `stage-N`).
    pub stage: String,
    /// Position of the step in the stage (FROM is 1).
    pub position: usize,
    /// The instruction as written.
    pub instruction: String,
    /// Its inputs.
    pub inputs: StepInputs,
}

/// The layer-producing steps of one build.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BuildRecord {
    /// In build order.
    pub steps: Vec<StepRecord>,
}

impl BuildRecord {
    /// The recorded step this one corresponds to: the one with the same
    /// instruction text in the same stage (the nearest to `position` when the
    /// text repeats), else the one at the same position — so inserting a line
    /// above a step still compares it with itself.
    pub fn find(&self, stage: &str, position: usize, instruction: &str) -> Option<&StepRecord> {
        self.steps
            .iter()
            .filter(|step| step.stage == stage && step.instruction == instruction)
            .min_by_key(|step| step.position.abs_diff(position))
            .or_else(|| {
                self.steps
                    .iter()
                    .find(|step| step.stage == stage && step.position == position)
            })
    }
}

/// The document name for builds of `dockerfile` with `target` from `context`.
pub fn record_name(context: &Path, dockerfile: Option<&Path>, target: Option<&str>) -> String {
    let mut hasher = Sha256::new();
    for part in [
        context.to_string_lossy().as_bytes(),
        dockerfile
            .map(|path| path.to_string_lossy().into_owned())
            .unwrap_or_default()
            .as_bytes(),
        target.unwrap_or("").as_bytes(),
    ] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    format!("build-{}", &hex::encode(hasher.finalize())[..32])
}

/// Loads the previous build's record, if any.
pub fn load(store: &Store, name: &str) -> Option<BuildRecord> {
    let bytes = store.cache_document(name).ok().flatten()?;
    serde_json::from_slice(&bytes).ok()
}

/// Replaces the record, and its summary (see [`summary`]).
pub fn save(store: &Store, name: &str, record: &BuildRecord, summary: &str) -> crate::Result<()> {
    let bytes =
        serde_json::to_vec(record).map_err(|err| crate::BuildError::Usage(err.to_string()))?;
    store.put_cache_document(name, &bytes)?;
    store.put_cache_document(&format!("{name}.summary"), summary.as_bytes())?;
    Ok(())
}

/// A digest of a build's steps (stage, position, instruction and cache key
/// of each, in order): equal summaries mean equal records, so a build that
/// changed nothing need not read the record, which lists every file.
pub fn summary(steps: &[String]) -> String {
    let mut hasher = Sha256::new();
    for step in steps {
        hasher.update((step.len() as u64).to_le_bytes());
        hasher.update(step.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// The summary saved with the record, if any.
pub fn load_summary(store: &Store, name: &str) -> Option<String> {
    let bytes = store
        .cache_document(&format!("{name}.summary"))
        .ok()
        .flatten()?;
    String::from_utf8(bytes).ok()
}

/// At most this many changes are listed; the rest are counted.
const MAX_LISTED: usize = 6;

/// Says why `current` missed, compared with the same step of the previous build.
pub fn miss_reason(previous: Option<&StepRecord>, current: &StepInputs) -> String {
    let Some(previous) = previous else {
        return "not built before in this store".to_string();
    };
    let old = &previous.inputs.0;
    let new = &current.0;
    if old == new {
        return "the cached layer is no longer in the store".to_string();
    }
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut changes = Vec::new();
    let mut parent_changed = false;
    for name in names {
        let (before, after) = (old.get(name), new.get(name));
        if before == after {
            continue;
        }
        if name == "parent" {
            parent_changed = true;
            continue;
        }
        changes.push(describe(
            name,
            before.map(String::as_str),
            after.map(String::as_str),
        ));
    }
    if changes.is_empty() && parent_changed {
        return "an earlier step of this stage (or its base image) changed".to_string();
    }
    let total = changes.len();
    let mut text = changes
        .into_iter()
        .take(MAX_LISTED)
        .collect::<Vec<_>>()
        .join("; ");
    if total > MAX_LISTED {
        text.push_str(&format!("; and {} more changes", total - MAX_LISTED));
    }
    if parent_changed {
        text.push_str("; an earlier step changed too");
    }
    text
}

fn describe(name: &str, before: Option<&str>, after: Option<&str>) -> String {
    let (kind, subject) = name.split_once(':').unwrap_or((name, ""));
    // `file:N:PATH`: N numbers the source word; the path says enough.
    let subject = match subject.split_once(':') {
        Some((number, path)) if number.bytes().all(|byte| byte.is_ascii_digit()) => path,
        _ => subject,
    };
    match (kind, before, after) {
        ("file", None, Some(_)) => format!("file {subject} was added"),
        ("file", Some(_), None) => format!("file {subject} was removed"),
        ("file", Some(old), Some(new)) => {
            let (old, new): (Vec<&str>, Vec<&str>) =
                (old.split('|').collect(), new.split('|').collect());
            // Values are `type|mode|size|digest` (files), `dir|mode`, `symlink|target`.
            let labels: &[&str] = match new.first() {
                Some(&"file") => &["type", "mode", "size", "content"],
                Some(&"symlink") => &["type", "link target"],
                _ => &["type", "mode"],
            };
            let content_changed = old.get(3) != new.get(3);
            let what: Vec<&str> = labels
                .iter()
                .enumerate()
                .filter(|(index, _)| old.get(*index) != new.get(*index))
                .map(|(_, label)| *label)
                .filter(|label| *label != "size" || !content_changed)
                .collect();
            format!("file {subject} changed ({})", what.join(", "))
        }
        ("env", None, Some(value)) => {
            format!("environment variable {subject} was set to {value:?}")
        }
        ("env", Some(_), None) => format!("environment variable {subject} was removed"),
        ("env", Some(old), Some(new)) => {
            format!("environment variable {subject} changed from {old:?} to {new:?}")
        }
        ("argv", Some(old), Some(new)) => format!(
            "the command changed from {:?} to {:?}",
            old.replace('\0', " "),
            new.replace('\0', " ")
        ),
        (_, Some(old), Some(new)) => {
            format!("{} changed from {old:?} to {new:?}", label(kind, subject))
        }
        (_, None, Some(new)) => format!("{} is now {new:?}", label(kind, subject)),
        (_, Some(_), None) => format!("{} was removed", label(kind, subject)),
        (_, None, None) => String::new(),
    }
}

fn label(kind: &str, subject: &str) -> String {
    let base = match kind {
        "user" => "the user",
        "workdir" => "the working directory",
        "network" => "the network mode",
        "dest" => "the destination",
        "from" => "the --from source",
        "mount" => "a --mount",
        "base" => "the base image",
        "sources" => "the sources",
        "owner" => "the owner",
        other => other,
    };
    if subject.is_empty() {
        base.to_string()
    } else {
        format!("{base} {subject}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::base_key;

    fn record(inputs: &StepInputs) -> StepRecord {
        StepRecord {
            stage: "stage-0".into(),
            position: 2,
            instruction: "RUN make".into(),
            inputs: inputs.clone(),
        }
    }

    #[test]
    fn says_what_changed() {
        let parent = base_key("scratch", "scratch", "linux/amd64");
        let mut old = StepInputs::new("COPY", &parent);
        old.set("file:0:app/a.c", "file|644|10|sha256:aa");
        old.set("file:0:app/b.c", "file|644|10|sha256:bb");
        old.set("env:MODE", "debug");
        old.set("argv", "/bin/sh\0-c\0make");
        let mut new = old.clone();
        new.set("file:0:app/a.c", "file|644|12|sha256:cc");
        new.0.remove("file:0:app/b.c");
        new.set("file:0:app/c.c", "file|644|1|sha256:dd");
        new.set("env:MODE", "release");
        new.set("argv", "/bin/sh\0-c\0make all");
        let reason = miss_reason(Some(&record(&old)), &new);
        for needle in [
            "file app/a.c changed (content)",
            "file app/b.c was removed",
            "file app/c.c was added",
            "environment variable MODE changed from \"debug\" to \"release\"",
            "the command changed from \"/bin/sh -c make\" to \"/bin/sh -c make all\"",
        ] {
            assert!(reason.contains(needle), "{reason}");
        }
        assert_eq!(miss_reason(None, &new), "not built before in this store");
        assert!(miss_reason(Some(&record(&new)), &new).contains("no longer"));
        let mut moved = new.clone();
        moved.set("parent", "other");
        assert!(miss_reason(Some(&record(&new)), &moved).contains("earlier step"));
    }

    #[test]
    fn names_depend_on_dockerfile_and_target() {
        let a = record_name(Path::new("/c"), Some(Path::new("/c/Dockerfile")), None);
        let b = record_name(Path::new("/c"), Some(Path::new("/c/Dockerfile")), Some("t"));
        assert_ne!(a, b);
        assert!(a.starts_with("build-"));
    }
}
