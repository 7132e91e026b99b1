//! Ctrl-C during a RUN: the step's whole process tree is killed, the build
//! stops promptly with a non-zero status, and its scratch space is removed.

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::{Duration, Instant};

use kiln_testutil::Project;

use crate::run_common::{both_isolations, Rig, BASE};

both_isolations!(an_interrupt_kills_the_step_and_cleans_up);

/// Kills the build if the test fails before it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Processes whose command line contains `needle`.
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(needle) {
            found.push(format!("{}: {text}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

fn an_interrupt_kills_the_step_and_cleans_up(rig: &Rig) {
    let offset = if rig.iso.name() == "runc" { 1000 } else { 0 };
    let seconds = 300 + offset + std::process::id() % 500;
    let project = Project::empty();
    project.write(
        "Dockerfile",
        format!("FROM {BASE}\nRUN echo started && sleep {seconds}\n"),
    );
    let mut command = rig.kiln.cmd();
    command
        .args([
            "build",
            "--progress",
            "plain",
            "--pull",
            "never",
            "--isolation",
        ])
        .arg(rig.iso.name())
        .arg(project.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = KillOnDrop(command.spawn().expect("start kiln build"));
    let child = &mut child.0;
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let read = stderr.read_line(&mut line).expect("read stderr");
        assert!(read > 0, "the build ended before the RUN started:\n{seen}");
        seen.push_str(&line);
        // The step's own output line (`#N started`), not its title.
        if line.trim_end().ends_with(" started") && !line.contains("RUN") {
            break;
        }
    }
    let sleeper = format!("sleep {seconds}");
    // `echo` has printed; `sleep` starts a moment later.
    let deadline = Instant::now() + Duration::from_secs(10);
    while processes_with(&sleeper).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!processes_with(&sleeper).is_empty(), "the RUN is running");
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("pid");
    let interrupted = Instant::now();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("send SIGINT");
    let status = child.wait().expect("wait for kiln");
    let elapsed = interrupted.elapsed();
    stderr
        .read_to_string(&mut seen)
        .expect("read the rest of stderr");
    assert!(!status.success(), "an interrupted build fails:\n{seen}");
    assert!(
        elapsed < Duration::from_secs(10),
        "kiln stopped after {elapsed:?}"
    );
    assert!(
        seen.contains("interrupted"),
        "says it was interrupted:\n{seen}"
    );
    assert!(!seen.contains("panicked"), "{seen}");
    // The whole process tree is gone (give the kernel a moment to reap).
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_with(&sleeper).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        processes_with(&sleeper),
        Vec::<String>::new(),
        "the RUN's processes are killed"
    );
    rig.assert_no_leftovers();
}
