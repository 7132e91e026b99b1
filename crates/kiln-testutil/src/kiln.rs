//! [`Kiln`]: the `kiln` binary bound to a temporary store, with helpers for
//! the commands the tests run most.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::command::{run, run_with_stdin, Output};

/// A successful `kiln build`.
#[derive(Debug)]
pub struct BuildResult {
    /// The captured output.
    pub output: Output,
    /// The image ID (`sha256:…`, the config digest): the last line of stderr.
    pub image_id: String,
}

/// The `kiln` binary with its own temporary store (`--root`) and a scratch
/// directory (the working directory of every command) for outputs.
#[derive(Debug)]
pub struct Kiln {
    bin: PathBuf,
    store: TempDir,
    scratch: TempDir,
    envs: Vec<(String, String)>,
}

impl Kiln {
    /// A fresh store for the binary at `bin` (in tests: `env!("CARGO_BIN_EXE_kiln")`).
    pub fn new(bin: impl Into<PathBuf>) -> Self {
        Kiln {
            bin: bin.into(),
            store: tempfile::Builder::new()
                .prefix("kiln-store-")
                .tempdir()
                .expect("create a temporary store"),
            scratch: tempfile::Builder::new()
                .prefix("kiln-scratch-")
                .tempdir()
                .expect("create a scratch dir"),
            envs: Vec::new(),
        }
    }

    /// Sets an environment variable for every later command.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The store directory.
    pub fn store(&self) -> &Path {
        self.store.path()
    }

    /// The scratch directory (the commands' working directory).
    pub fn scratch(&self) -> &Path {
        self.scratch.path()
    }

    /// A path inside the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.scratch.path().join(name)
    }

    /// `kiln --root STORE` with a clean environment for kiln's own variables.
    pub fn cmd(&self) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .arg("--root")
            .arg(self.store.path())
            .current_dir(self.scratch.path())
            .env_remove("KILN_ROOT")
            .env_remove("SOURCE_DATE_EPOCH")
            .env("NO_COLOR", "1");
        for (key, value) in &self.envs {
            command.env(key, value);
        }
        command
    }

    /// Runs `kiln ARGS…` and returns the output, whatever the exit status.
    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run(self.cmd().args(args))
    }

    /// Runs `kiln build --progress plain ARGS…`, feeding `stdin` when given.
    pub fn try_build<I, S>(&self, args: I, stdin: Option<&[u8]>) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run_with_stdin(
            self.cmd().args(["build", "--progress", "plain"]).args(args),
            stdin,
        )
    }

    /// Runs `kiln build ARGS…`, asserts success and an image ID on the last line of stderr.
    pub fn build<I, S>(&self, args: I) -> BuildResult
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Self::built(self.try_build(args, None))
    }

    /// Like [`Kiln::build`] with the Dockerfile text on standard input (pass `-f -`).
    pub fn build_stdin<I, S>(&self, args: I, stdin: &[u8]) -> BuildResult
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Self::built(self.try_build(args, Some(stdin)))
    }

    fn built(output: Output) -> BuildResult {
        output.assert_success();
        assert_no_panic(&output);
        let image_id = output.last_stderr_line().trim().to_owned();
        assert!(
            image_id.starts_with("sha256:") && image_id.len() == 71,
            "the last line of stderr is not an image ID: {image_id:?}\n{}",
            output.streams()
        );
        BuildResult { output, image_id }
    }

    /// Runs `kiln build ARGS…` and asserts that it fails cleanly: exit code 1,
    /// an `error:` line, and no panic.
    pub fn build_fails<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let output = self.try_build(args, None);
        assert_clean_failure(&output);
        output
    }

    /// Runs `kiln load ARGS…`, asserts success and returns standard output.
    pub fn load<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let output = run(self.cmd().arg("load").args(args));
        output.assert_success();
        output.stdout
    }

    /// The store's `index.json`, as text (empty when there is none yet).
    pub fn index_text(&self) -> String {
        std::fs::read_to_string(self.store.path().join("index.json")).unwrap_or_default()
    }

    /// The names tagged in the store (`org.opencontainers.image.ref.name`), sorted.
    pub fn tags(&self) -> Vec<String> {
        let text = self.index_text();
        if text.is_empty() {
            return Vec::new();
        }
        let index: serde_json::Value =
            serde_json::from_str(&text).expect("the store index.json is JSON");
        let mut tags: Vec<String> = index["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|manifest| {
                manifest["annotations"]["org.opencontainers.image.ref.name"].as_str()
            })
            .map(str::to_owned)
            .collect();
        tags.sort();
        tags
    }

    /// The manifest digest the store has for `tag`.
    pub fn manifest_digest(&self, tag: &str) -> Option<String> {
        let index: serde_json::Value = serde_json::from_str(&self.index_text()).ok()?;
        index["manifests"].as_array()?.iter().find_map(|manifest| {
            (manifest["annotations"]["org.opencontainers.image.ref.name"] == tag)
                .then(|| manifest["digest"].as_str().map(str::to_owned))
                .flatten()
        })
    }
}

/// Panics if the output shows a Rust panic.
pub fn assert_no_panic(output: &Output) {
    assert!(
        !output.stderr.contains("panicked at") && !output.stdout.contains("panicked at"),
        "kiln panicked: {}\n{}",
        output.command,
        output.streams()
    );
}

/// Panics unless the output is a clean failure: exit code 1, an `error:` line, no panic.
pub fn assert_clean_failure(output: &Output) {
    assert_no_panic(output);
    assert_eq!(
        output.code(),
        Some(1),
        "expected exit code 1: {}\n{}",
        output.command,
        output.streams()
    );
    assert!(
        output.stderr.contains("error: "),
        "no `error:` line: {}\n{}",
        output.command,
        output.streams()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_live_in_the_scratch_dir_and_store_is_separate() {
        let kiln = Kiln::new("/bin/true");
        assert!(kiln.path("out.tar").starts_with(kiln.scratch()));
        assert_ne!(kiln.store(), kiln.scratch());
        assert!(kiln.tags().is_empty());
        assert_eq!(kiln.manifest_digest("a:1"), None);
    }

    #[test]
    fn reads_tags_from_the_index() {
        let kiln = Kiln::new("/bin/true");
        let index = r#"{"manifests":[{"digest":"sha256:ab","annotations":{"org.opencontainers.image.ref.name":"b:1"}},
            {"digest":"sha256:cd","annotations":{"org.opencontainers.image.ref.name":"a:1"}}]}"#;
        std::fs::write(kiln.store().join("index.json"), index).unwrap();
        assert_eq!(kiln.tags(), ["a:1", "b:1"]);
        assert_eq!(kiln.manifest_digest("b:1").as_deref(), Some("sha256:ab"));
    }
}
