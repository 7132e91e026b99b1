//! `kiln run` of the busybox image under both isolations: exit status,
//! environment, working directory, user, bind mounts, network, ENTRYPOINT
//! and CMD, stdin with `-i`, a pseudo-terminal with `-t` (builtin only,
//! driven through a pty the test opens), refused engine flags, and no
//! scratch space left in the store.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiln_testutil::{Output, Project};

use crate::common::s;
use crate::run_common::{both_isolations, Iso, Rig, BASE};

both_isolations!(
    exit_status_is_the_containers,
    environment_comes_from_image_files_and_flags,
    working_directory,
    user_by_ids_and_by_name,
    bind_mounts,
    network_none_has_only_loopback,
    entrypoint_and_cmd,
    stdin_only_with_interactive,
    engine_flags_are_refused,
    missing_command_is_127,
);

/// An image with ENV, WORKDIR, ENTRYPOINT and CMD on top of busybox.
const IMAGE: &str = "kiln-run:test";

impl Rig {
    /// `kiln run --isolation ISO ARGS…` with `stdin` fed in; checks that the
    /// store's tmp/ is clean afterwards.
    fn kiln_run(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        self.kiln_run_env(args, stdin, &[])
    }

    fn kiln_run_env(&self, args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Output {
        let mut command = self.kiln.cmd();
        command
            .args(["run", "--isolation", self.iso.name()])
            .args(args);
        for (key, value) in env {
            command.env(key, value);
        }
        let output = kiln_testutil::run_with_stdin(&mut command, stdin);
        kiln_testutil::assert_no_panic(&output);
        self.assert_no_leftovers();
        output
    }

    /// Builds [`IMAGE`].
    fn build_test_image(&self) {
        let context = Project::empty();
        context.write(
            "Dockerfile",
            format!(
                "FROM {BASE}\n\
                 ENV FROM_IMAGE=image OVERRIDE=image\n\
                 WORKDIR /srv\n\
                 ENTRYPOINT [\"echo\", \"x\"]\n\
                 CMD [\"y\"]\n"
            ),
        );
        self.kiln
            .build(["--pull", "never", "-t", IMAGE, context.arg()]);
    }
}

fn exit_status_is_the_containers(rig: &Rig) {
    let output = rig.kiln_run(&[BASE, "sh", "-c", "echo out; exit 7"], None);
    assert_eq!(output.code(), Some(7), "{}", output.streams());
    assert_eq!(output.stdout, "out\n");
    if rig.iso == Iso::Builtin {
        // Under runc the command is PID 1 of its namespace, which a signal
        // from inside the namespace does not kill (as under Docker).
        let output = rig.kiln_run(&[BASE, "sh", "-c", "kill -9 $$"], None);
        assert_eq!(output.code(), Some(137), "{}", output.streams());
    }
    let output = rig.kiln_run(&["--rm", BASE, "true"], None);
    assert_eq!(output.code(), Some(0), "{}", output.streams());
}

fn environment_comes_from_image_files_and_flags(rig: &Rig) {
    rig.build_test_image();
    let env_file = rig.kiln.path("vars.env");
    std::fs::write(&env_file, "# a comment\n\nFILEVAR=file\nOVERRIDE=file\n").unwrap();
    let output = rig.kiln_run_env(
        &[
            "--env-file",
            s(&env_file),
            "-e",
            "OVERRIDE=flag",
            "-e",
            "FROM_HOST",
            "-e",
            "UNSET_ON_HOST",
            "--entrypoint",
            "env",
            IMAGE,
        ],
        None,
        &[("FROM_HOST", "host value")],
    );
    assert_eq!(output.code(), Some(0), "{}", output.streams());
    let lines: Vec<&str> = output.stdout.lines().collect();
    for expected in [
        "FROM_IMAGE=image",
        "OVERRIDE=flag",
        "FILEVAR=file",
        "FROM_HOST=host value",
        "HOME=/root",
    ] {
        assert!(lines.contains(&expected), "{expected} in {lines:?}");
    }
    assert!(
        lines.iter().any(|line| line.starts_with("PATH=/")),
        "{lines:?}"
    );
    assert!(!output.stdout.contains("UNSET_ON_HOST"), "{lines:?}");
}

fn working_directory(rig: &Rig) {
    rig.build_test_image();
    let output = rig.kiln_run(&["--entrypoint", "pwd", IMAGE], None);
    assert_eq!(output.stdout, "/srv\n", "{}", output.streams());
    let output = rig.kiln_run(&["-w", "/made/for/run", BASE, "pwd"], None);
    assert_eq!(output.stdout, "/made/for/run\n", "{}", output.streams());
}

fn user_by_ids_and_by_name(rig: &Rig) {
    let output = rig.kiln_run(&["-u", "1000:1000", BASE, "id"], None);
    assert!(
        output.stdout.starts_with("uid=1000(app) gid=1000(app)"),
        "{}",
        output.streams()
    );
    let output = rig.kiln_run(&["-u", "app", BASE, "sh", "-c", "id; echo $HOME"], None);
    assert!(
        output.stdout.starts_with("uid=1000(app) gid=1000(app)"),
        "{}",
        output.streams()
    );
    assert!(
        output.stdout.ends_with("/home/app\n"),
        "{}",
        output.streams()
    );
    let output = rig.kiln_run(&["-u", "nosuchuser", BASE, "id"], None);
    assert_eq!(output.code(), Some(125), "{}", output.streams());
    assert!(output.stderr.contains("nosuchuser"), "{}", output.stderr);
}

fn bind_mounts(rig: &Rig) {
    let dir = rig.kiln.path("shared");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("from-host"), "host\n").unwrap();
    let rw = format!("{}:/data", s(&dir));
    let output = rig.kiln_run(
        &[
            "-v",
            &rw,
            BASE,
            "sh",
            "-c",
            "cat /data/from-host; echo hi > /data/new",
        ],
        None,
    );
    assert_eq!(output.code(), Some(0), "{}", output.streams());
    assert_eq!(output.stdout, "host\n");
    assert_eq!(std::fs::read_to_string(dir.join("new")).unwrap(), "hi\n");

    let ro = format!("{}:/data:ro", s(&dir));
    let output = rig.kiln_run(&["-v", &ro, BASE, "sh", "-c", "echo no > /data/ro"], None);
    assert_ne!(output.code(), Some(0), "{}", output.streams());
    assert!(!dir.join("ro").exists());

    let output = rig.kiln_run(&["-v", "named:/data", BASE, "true"], None);
    assert_eq!(output.code(), Some(125), "{}", output.streams());
    assert!(output.stderr.contains("named volumes"), "{}", output.stderr);
}

fn network_none_has_only_loopback(rig: &Rig) {
    let output = rig.kiln_run(&["--network", "none", BASE, "cat", "/proc/net/dev"], None);
    assert_eq!(output.code(), Some(0), "{}", output.streams());
    let interfaces: Vec<&str> = output
        .stdout
        .lines()
        .skip(2)
        .filter_map(|line| line.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(interfaces, ["lo"], "{}", output.stdout);
    let output = rig.kiln_run(&["--network", "bridge", BASE, "true"], None);
    assert_eq!(output.code(), Some(125), "{}", output.streams());
}

fn entrypoint_and_cmd(rig: &Rig) {
    rig.build_test_image();
    let cases: [(&[&str], &str); 4] = [
        (&[IMAGE], "x y\n"),
        (&[IMAGE, "a", "-n"], "x a -n\n"),
        (&["--entrypoint", "echo", IMAGE], "\n"),
        (&["--entrypoint", "echo", IMAGE, "z"], "z\n"),
    ];
    for (args, expected) in cases {
        let output = rig.kiln_run(args, None);
        assert_eq!(output.stdout, expected, "{args:?}: {}", output.streams());
    }
    // busybox:test has CMD ["sh"], which reads the (empty) stdin and exits.
    let output = rig.kiln_run(&[BASE], None);
    assert_eq!(output.code(), Some(0), "{}", output.streams());
}

fn stdin_only_with_interactive(rig: &Rig) {
    let output = rig.kiln_run(&["-i", BASE, "cat"], Some(b"hello\n"));
    assert_eq!(output.stdout, "hello\n", "{}", output.streams());
    let output = rig.kiln_run(&[BASE, "cat"], Some(b"hello\n"));
    assert_eq!(output.code(), Some(0), "{}", output.streams());
    assert_eq!(output.stdout, "", "without -i cat reads /dev/null");
}

fn engine_flags_are_refused(rig: &Rig) {
    let cases: [(&[&str], &str); 4] = [
        (&["-d", BASE, "true"], "-d"),
        (&["-p", "8080:80", BASE, "true"], "-p"),
        (&["--name", "web", BASE, "true"], "--name"),
        (&["--memory", "1g", BASE, "true"], "--memory"),
    ];
    for (args, flag) in cases {
        let output = rig.kiln_run(args, None);
        assert_eq!(output.code(), Some(125), "{}", output.streams());
        let expected = format!("kiln run is not a container engine: {flag} is not supported");
        assert!(output.stderr.contains(&expected), "{}", output.stderr);
    }
}

fn missing_command_is_127(rig: &Rig) {
    let output = rig.kiln_run(&[BASE, "no-such-command"], None);
    assert_eq!(output.code(), Some(127), "{}", output.streams());
    assert!(
        output.stderr.contains("no-such-command"),
        "{}",
        output.stderr
    );
}

#[test]
fn missing_image_is_an_error() {
    let kiln = crate::common::kiln();
    let output = kiln.run(["run", "no-such-image:1", "true"]);
    assert_eq!(output.code(), Some(125), "{}", output.streams());
    assert!(output.stderr.contains("no such image"), "{}", output.stderr);
}

#[test]
fn runc_refuses_a_tty() {
    let Some(rig) = Rig::new(Iso::Runc) else {
        return;
    };
    let output = rig.kiln_run(&["-it", BASE, "sh"], None);
    assert_eq!(output.code(), Some(125), "{}", output.streams());
    assert!(
        output.stderr.contains("-t is not supported"),
        "{}",
        output.stderr
    );
}

/// A pseudo-terminal pair opened by the test: kiln gets the slave as its
/// stdin, stdout and stderr, the test types into the master.
struct Pty {
    master: File,
    slave: OwnedFd,
}

impl Pty {
    fn open(rows: u16, cols: u16) -> Pty {
        use rustix::pty::OpenptFlags;
        let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
        let master = rustix::pty::openpt(flags).unwrap();
        rustix::pty::grantpt(&master).unwrap();
        rustix::pty::unlockpt(&master).unwrap();
        let slave = rustix::pty::ioctl_tiocgptpeer(&master, flags).unwrap();
        let size = rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&slave, size).unwrap();
        Pty {
            master: File::from(master),
            slave,
        }
    }

    fn stdio(&self) -> Stdio {
        Stdio::from(self.slave.try_clone().unwrap())
    }
}

/// Reads the master on a thread until the terminal closes.
fn collect(master: &File) -> Arc<Mutex<Vec<u8>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut reader = master.try_clone().unwrap();
    let sink = seen.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(count) = reader.read(&mut chunk) {
            if count == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&chunk[..count]);
        }
    });
    seen
}

fn wait_for(seen: &Mutex<Vec<u8>>, text: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if String::from_utf8_lossy(&seen.lock().unwrap()).contains(text) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn wait_exit(child: &mut std::process::Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("kiln run -it did not end");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn tty_is_interactive_through_a_pseudo_terminal() {
    let Some(rig) = Rig::new(Iso::Builtin) else {
        return;
    };
    let pty = Pty::open(30, 100);
    let mut command: Command = rig.kiln.cmd();
    command
        .args(["run", "-it", BASE, "sh"])
        .stdin(pty.stdio())
        .stdout(pty.stdio())
        .stderr(pty.stdio());
    let mut child = command.spawn().unwrap();
    drop(command);
    let Pty { mut master, slave } = pty;
    drop(slave);
    let seen = collect(&master);

    master.write_all(b"echo $((6*7))\n").unwrap();
    assert!(wait_for(&seen, "42"), "{:?}", seen.lock().unwrap());
    master.write_all(b"tty; stty size\n").unwrap();
    assert!(wait_for(&seen, "30 100"), "{:?}", seen.lock().unwrap());
    master.write_all(b"exit 3\n").unwrap();
    let status = wait_exit(&mut child);
    assert_eq!(status.code(), Some(3), "{:?}", seen.lock().unwrap());

    let text = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(text.contains("/dev/pts/0"), "{text:?}");
    // kiln put its terminal back the way it found it.
    let modes = rustix::termios::tcgetattr(&master).unwrap().local_modes;
    assert!(
        modes.contains(rustix::termios::LocalModes::ICANON | rustix::termios::LocalModes::ECHO),
        "{modes:?}"
    );
    rig.assert_no_leftovers();
}

#[test]
fn tty_without_interactive_shows_output_only() {
    let Some(rig) = Rig::new(Iso::Builtin) else {
        return;
    };
    let output = rig.kiln_run(&["-t", BASE, "sh", "-c", "tty; exit 5"], Some(b"ignored\n"));
    assert_eq!(output.code(), Some(5), "{}", output.streams());
    assert_eq!(output.stdout, "/dev/pts/0\r\n");
}
