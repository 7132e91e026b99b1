//! Helpers shared by the store suites: reproducible stores, generated
//! FROM-scratch COPY projects, concurrent builds and `kiln store fsck`.

use std::process::{Child, Command, Stdio};

use kiln_testutil::{Kiln, Output, Project};

/// SOURCE_DATE_EPOCH of every store build, so digests compare across stores.
pub const EPOCH: &str = "1700000000";

/// A `kiln` with a fresh store and a fixed SOURCE_DATE_EPOCH.
pub fn kiln() -> Kiln {
    Kiln::new(env!("CARGO_BIN_EXE_kiln")).env("SOURCE_DATE_EPOCH", EPOCH)
}

/// `len` pseudo-random bytes (incompressible, so gzip has work to do),
/// the same for the same seed.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// A `FROM scratch` project with `steps` COPY steps, each copying a
/// directory of `files` noise files of `size` bytes.
pub fn copy_project(seed: u64, steps: usize, files: usize, size: usize) -> Project {
    let project = Project::empty();
    let mut dockerfile = String::from("FROM scratch\n");
    for step in 0..steps {
        dockerfile.push_str(&format!("COPY d{step}/ /d{step}/\n"));
        for file in 0..files {
            let seed = seed * 1000 + (step * files + file) as u64;
            project.write(&format!("d{step}/f{file}.bin"), noise(seed, size));
        }
    }
    project.write("Dockerfile", dockerfile);
    project
}

/// `kiln build --progress plain --pull never -t TAG [EXTRA…] CONTEXT`, not yet run.
pub fn build_command(kiln: &Kiln, tag: &str, context: &Project, extra: &[&str]) -> Command {
    let mut command = kiln.cmd();
    command
        .args(["build", "--progress", "plain", "--pull", "never", "-t", tag])
        .args(extra)
        .arg(context.path());
    command
}

/// Starts a command with its output captured.
pub fn spawn(mut command: Command) -> Child {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kiln")
}

/// Waits for a started command; panics (with its output) when it failed.
/// Returns its image ID (the last line of stderr).
pub fn finish(child: Child, what: &str) -> String {
    let output = child.wait_with_output().expect("wait for kiln");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stderr}",
        output.status
    );
    let id = stderr
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .to_owned();
    assert!(
        id.starts_with("sha256:"),
        "{what}: no image ID in\n{stderr}"
    );
    id
}

/// Runs `kiln store fsck`.
pub fn fsck(kiln: &Kiln) -> Output {
    kiln.run(["store", "fsck"])
}

/// Asserts that `kiln store fsck` finds no problem (garbage is allowed).
pub fn assert_fsck_clean(kiln: &Kiln, when: &str) -> Output {
    let output = fsck(kiln);
    assert!(
        output.status.success() && !output.stdout.contains("error:"),
        "fsck {when}:\n{}",
        output.streams()
    );
    assert!(output.stdout.contains(" 0 problem(s)"), "{}", output.stdout);
    output
}

/// The files of `dir` in the store (empty when it does not exist).
pub fn entries(kiln: &Kiln, dir: &str) -> Vec<String> {
    let Ok(read) = std::fs::read_dir(kiln.store().join(dir)) else {
        return Vec::new();
    };
    let mut names: Vec<String> = read
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
