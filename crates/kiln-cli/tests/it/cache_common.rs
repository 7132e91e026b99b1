//! Shared pieces of the cache suites: builds with `--progress json`, the
//! steps they report ([`cached_steps`]), and a table runner for "build,
//! change one input, rebuild, check exactly which layer steps hit and why
//! the others missed".

use std::path::Path;
use std::time::{Duration, SystemTime};

use kiln_testutil::{Kiln, Output, Project};

use crate::common::s;
use crate::run_common::{Iso, Rig};

/// The reason a layer step gives when its store has never built it.
pub const FIRST_BUILD: &str = "not built before in this store";

/// One `step_done` event: the instruction as written, whether it came from
/// the cache, and why it missed (`None` for a hit or a step that makes no layer).
pub type StepDone = (String, bool, Option<String>);

/// Every `step_done` event of a `--progress json` build, in order, except
/// the final "exporting …" step.
pub fn cached_steps(output: &Output) -> Vec<StepDone> {
    output
        .stderr
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .unwrap_or_else(|err| panic!("a JSON progress line is not JSON ({err}): {line}"))
        })
        .filter(|event| event["event"] == "step_done")
        .map(|event| {
            for field in ["step", "stage", "duration_ms"] {
                assert!(
                    !event[field].is_null(),
                    "step_done without {field}: {event}"
                );
            }
            (
                event["instruction"]
                    .as_str()
                    .unwrap_or_else(|| panic!("step_done without an instruction: {event}"))
                    .to_owned(),
                event["cached"]
                    .as_bool()
                    .unwrap_or_else(|| panic!("step_done without `cached`: {event}")),
                event["miss_reason"].as_str().map(str::to_owned),
            )
        })
        .filter(|(instruction, _, _)| !instruction.starts_with("exporting"))
        .collect()
}

/// The steps that make a layer: those that hit or give a miss reason
/// (FROM and metadata instructions report neither).
pub fn layer_steps(output: &Output) -> Vec<StepDone> {
    cached_steps(output)
        .into_iter()
        .filter(|(_, cached, reason)| *cached || reason.is_some())
        .collect()
}

/// What one layer step of the rebuild must report.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// Came from the cache.
    Hit,
    /// Missed, with a reason containing this text.
    Miss(&'static str),
}

/// Panics unless the layer steps of `output` are exactly `expected`, in order.
pub fn assert_steps(output: &Output, expected: &[Expect], what: &str) {
    let steps = layer_steps(output);
    let listing = || {
        steps
            .iter()
            .map(|(instruction, cached, reason)| {
                format!("  {instruction} -> cached={cached} reason={reason:?}")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        steps.len(),
        expected.len(),
        "{what}: wrong number of layer steps:\n{}",
        listing()
    );
    for ((instruction, cached, reason), expect) in steps.iter().zip(expected) {
        match expect {
            Expect::Hit => assert!(
                *cached && reason.is_none(),
                "{what}: `{instruction}` must hit the cache:\n{}",
                listing()
            ),
            Expect::Miss(text) => {
                assert!(
                    !*cached,
                    "{what}: `{instruction}` must miss the cache:\n{}",
                    listing()
                );
                let reason = reason.as_deref().unwrap_or("");
                assert!(
                    reason.contains(text),
                    "{what}: `{instruction}` missed for {reason:?}, expected a reason with {text:?}:\n{}",
                    listing()
                );
            }
        }
    }
}

/// One change to the inputs between the two builds of a [`Case`].
#[derive(Debug, Clone, Copy)]
pub enum Change {
    /// Writes a context file.
    Write(&'static str, &'static str),
    /// Removes a context file.
    Remove(&'static str),
    /// Sets a context file's permission bits.
    Chmod(&'static str, u32),
    /// Replaces a context path with a symlink to the target.
    Symlink(&'static str, &'static str),
    /// Moves a context file's mtime an hour ahead (the bytes stay the same).
    Touch(&'static str),
    /// Replaces the Dockerfile.
    Dockerfile(&'static str),
    /// The second build's extra arguments (instead of the first's).
    Args(&'static [&'static str]),
    /// The second build's environment (instead of the first's).
    Env(&'static [(&'static str, &'static str)]),
}

/// Build, change one input, rebuild, and check every layer step.
#[derive(Debug)]
pub struct Case {
    /// What is changed, for messages.
    pub name: &'static str,
    /// The Dockerfile of the first build.
    pub dockerfile: &'static str,
    /// Extra `kiln build` arguments of the first build.
    pub args: &'static [&'static str],
    /// Environment of the first build.
    pub env: &'static [(&'static str, &'static str)],
    /// Changes made to the fixture before the first build.
    pub setup: Vec<Change>,
    /// What changes before the rebuild.
    pub change: Vec<Change>,
    /// The layer steps of the rebuild, in order.
    pub expect: Vec<Expect>,
}

impl Case {
    /// A case with no extra arguments or environment.
    pub fn new(
        name: &'static str,
        dockerfile: &'static str,
        change: &[Change],
        expect: &[Expect],
    ) -> Case {
        Case {
            name,
            dockerfile,
            args: &[],
            env: &[],
            setup: Vec::new(),
            change: change.to_vec(),
            expect: expect.to_vec(),
        }
    }

    /// The same case with extra arguments for the first build.
    pub fn args(mut self, args: &'static [&'static str]) -> Case {
        self.args = args;
        self
    }

    /// The same case with changes to the fixture before the first build.
    pub fn setup(mut self, setup: &[Change]) -> Case {
        self.setup = setup.to_vec();
        self
    }

    /// The same case with an environment for the first build.
    pub fn env(mut self, env: &'static [(&'static str, &'static str)]) -> Case {
        self.env = env;
        self
    }
}

/// `kiln build --progress json --pull never ARGS… CONTEXT`, asserting success.
pub fn build_json(kiln: &Kiln, context: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let output = try_build_json(kiln, context, args, env);
    output.assert_success();
    kiln_testutil::assert_no_panic(&output);
    output
}

/// Like [`build_json`], whatever the outcome.
pub fn try_build_json(kiln: &Kiln, context: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = kiln.cmd();
    command
        .args(["build", "--progress", "json", "--pull", "never"])
        .args(args)
        .arg(context);
    for (key, value) in env {
        command.env(key, value);
    }
    kiln_testutil::run(&mut command)
}

/// Moves a file's mtime by `by` without changing its bytes.
pub fn shift_mtime(path: &Path, by: Duration) {
    let meta = std::fs::symlink_metadata(path).expect("stat");
    let mtime = meta.modified().expect("mtime") + by;
    set_mtime(path, mtime);
}

/// Sets a file's mtime.
pub fn set_mtime(path: &Path, mtime: SystemTime) {
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap_or_else(|err| panic!("open {}: {err}", path.display()));
    file.set_modified(mtime)
        .unwrap_or_else(|err| panic!("set mtime of {}: {err}", path.display()));
}

fn apply(project: &Project, change: &Change) {
    match *change {
        Change::Write(path, content) => {
            project.write(path, content);
        }
        Change::Remove(path) => std::fs::remove_file(project.join(path)).expect("remove"),
        Change::Chmod(path, mode) => {
            project.chmod(path, mode);
        }
        Change::Symlink(path, target) => {
            let at = project.join(path);
            if std::fs::symlink_metadata(&at).is_ok() {
                std::fs::remove_file(&at).expect("remove the old link");
            }
            std::os::unix::fs::symlink(target, &at).expect("symlink");
        }
        Change::Touch(path) => shift_mtime(&project.join(path), Duration::from_secs(3600)),
        Change::Dockerfile(text) => {
            project.write("Dockerfile", text);
        }
        Change::Args(_) | Change::Env(_) => {}
    }
}

/// Runs `case` in a copy of `testdata/projects/FIXTURE` with `kiln`'s store;
/// `common` are arguments of both builds. The first build must miss every
/// layer step as never built; the rebuild must report `case.expect`.
pub fn run_case(kiln: &Kiln, fixture: &str, case: &Case, common: &[&str]) {
    let project = Project::copy(fixture);
    project.write("Dockerfile", case.dockerfile);
    for change in &case.setup {
        apply(&project, change);
    }
    let mut args: Vec<&str> = common.to_vec();
    args.extend_from_slice(case.args);
    let first = build_json(kiln, project.path(), &args, case.env);
    let steps = layer_steps(&first);
    assert!(
        !steps.is_empty(),
        "{}: no layer steps in {}",
        case.name,
        first.streams()
    );
    for (instruction, cached, reason) in &steps {
        assert!(
            !cached && reason.as_deref() == Some(FIRST_BUILD),
            "{}: the first build of `{instruction}` must miss as never built, got cached={cached} {reason:?}",
            case.name
        );
    }
    let mut args: Vec<&str> = common.to_vec();
    let mut env = case.env;
    let mut new_args = case.args;
    for change in &case.change {
        apply(&project, change);
        match change {
            Change::Args(given) => new_args = given,
            Change::Env(given) => env = given,
            _ => {}
        }
    }
    args.extend_from_slice(new_args);
    let second = build_json(kiln, project.path(), &args, env);
    assert_steps(&second, &case.expect, case.name);
}

/// A store holding the busybox image (`busybox:test`), or `None` when the
/// test must be skipped (no busybox-static).
pub fn busybox_kiln() -> Option<Kiln> {
    Rig::new(Iso::Builtin).map(|rig| rig.kiln)
}

/// The files of the store's `blobs/sha256`, sorted.
pub fn blob_files(kiln: &Kiln) -> Vec<String> {
    let dir = kiln.store().join("blobs/sha256");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("read {}: {err}", s(&dir)))
        .map(|entry| {
            entry
                .expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn parses_step_done_events() {
    let output = Output {
        command: "kiln build".into(),
        status: std::os::unix::process::ExitStatusExt::from_raw(0),
        stdout: String::new(),
        stderr: [
            r#"{"event":"step_started","step":2,"stage":"s","instruction":"COPY a /a"}"#,
            r#"{"event":"step_done","step":1,"stage":"s","instruction":"FROM scratch","cached":false,"duration_ms":0,"miss_reason":null}"#,
            r#"{"event":"step_done","step":2,"stage":"s","instruction":"COPY a /a","cached":true,"duration_ms":0,"miss_reason":null}"#,
            r#"{"event":"step_done","step":3,"stage":"s","instruction":"RUN x","cached":false,"duration_ms":5,"miss_reason":"the command changed"}"#,
            r#"{"event":"step_done","step":4,"stage":"","instruction":"exporting to image","cached":false,"duration_ms":5,"miss_reason":null}"#,
            "sha256:00",
        ]
        .join("\n"),
    };
    assert_eq!(cached_steps(&output).len(), 3);
    assert_eq!(
        layer_steps(&output),
        vec![
            ("COPY a /a".to_owned(), true, None),
            (
                "RUN x".to_owned(),
                false,
                Some("the command changed".to_owned())
            ),
        ]
    );
    assert_steps(&output, &[Expect::Hit, Expect::Miss("command")], "parse");
}
