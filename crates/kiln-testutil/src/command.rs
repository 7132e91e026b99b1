//! Running a command and capturing its output, with everything needed to
//! understand a failure in the panic message.

use std::io::Write;
use std::process::{Command, ExitStatus, Stdio};

/// The captured result of a command.
#[derive(Debug)]
pub struct Output {
    /// The command line, for messages.
    pub command: String,
    /// The exit status.
    pub status: ExitStatus,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl Output {
    /// The exit code (`None` when killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The last non-empty line of standard error.
    pub fn last_stderr_line(&self) -> &str {
        self.stderr
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .unwrap_or("")
    }

    /// Panics (showing both streams) unless the command succeeded.
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.status.success(),
            "command failed ({}): {}\n{}",
            self.status,
            self.command,
            self.streams()
        );
        self
    }

    /// Panics (showing both streams) unless the command failed.
    pub fn assert_failure(&self) -> &Self {
        assert!(
            !self.status.success(),
            "command unexpectedly succeeded: {}\n{}",
            self.command,
            self.streams()
        );
        self
    }

    /// Both streams, labelled, for messages.
    pub fn streams(&self) -> String {
        format!(
            "--- stdout ---\n{}--- stderr ---\n{}",
            self.stdout, self.stderr
        )
    }
}

fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Runs `command` with no standard input and captures its output.
pub fn run(command: &mut Command) -> Output {
    run_with_stdin(command, None)
}

/// Runs `command`, feeding `stdin` (or nothing) to its standard input.
pub fn run_with_stdin(command: &mut Command, stdin: Option<&[u8]>) -> Output {
    let text = describe(command);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    command.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = command
        .spawn()
        .unwrap_or_else(|err| panic!("failed to start {text}: {err}"));
    // The input is written on its own thread (a child that writes a lot
    // before reading cannot block us), and a child that exits without reading
    // it (a usage error, say) is not a test failure: a broken pipe is ignored.
    let writer = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        let bytes = bytes.to_vec();
        std::thread::spawn(move || match pipe.write_all(&bytes) {
            Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(err),
            _ => Ok(()),
        })
    });
    let output = child
        .wait_with_output()
        .unwrap_or_else(|err| panic!("failed to wait for {text}: {err}"));
    if let Some(writer) = writer {
        writer
            .join()
            .expect("the input writer thread")
            .unwrap_or_else(|err| panic!("failed to write the input of {text}: {err}"));
    }
    Output {
        command: text,
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `command`, asserts that it succeeded, and returns its standard output.
pub fn run_ok(command: &mut Command) -> String {
    let output = run(command);
    output.assert_success();
    output.stdout
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_both_streams_and_status() {
        let output = run(Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]));
        assert_eq!(output.stdout, "out\n");
        assert_eq!(output.stderr, "err\n");
        assert_eq!(output.code(), Some(3));
        assert_eq!(output.last_stderr_line(), "err");
        output.assert_failure();
    }

    #[test]
    fn feeds_stdin() {
        let output = run_with_stdin(&mut Command::new("cat"), Some(b"hello"));
        assert_eq!(output.stdout, "hello");
    }

    #[test]
    #[should_panic(expected = "command failed")]
    fn run_ok_panics_on_failure() {
        run_ok(Command::new("sh").args(["-c", "exit 1"]));
    }
}
