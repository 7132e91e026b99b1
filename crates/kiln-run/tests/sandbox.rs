//! End-to-end runs of both sandboxes in a small busybox rootfs. Every case
//! runs once with [`Builtin`] and once with [`Runc`]; a missing busybox or
//! runc skips (fails with `KILN_TEST_REQUIRE_TOOLS=1`).

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use kiln_run::{
    Builtin, CancelFlag, Error, EtcFiles, Mount, MountKind, Network, OutputStream, RunOutcome,
    RunSpec, Runc, Sandbox, Stdio, User,
};

const APPLETS: [&str; 24] = [
    "sh", "echo", "cat", "id", "ls", "sleep", "env", "pwd", "hostname", "touch", "grep", "wc",
    "head", "test", "true", "mkdir", "stat", "readlink", "tr", "sort", "cut", "kill", "tty",
    "stty",
];

/// Skips (or fails under `KILN_TEST_REQUIRE_TOOLS=1`) when `tool` is missing.
fn require(tool: &str, found: Option<PathBuf>) -> Option<PathBuf> {
    if found.is_none() {
        if std::env::var_os("KILN_TEST_REQUIRE_TOOLS").is_some_and(|value| value == "1") {
            panic!("{tool} is required (KILN_TEST_REQUIRE_TOOLS=1) but was not found");
        }
        eprintln!("skipping: {tool} not found");
    }
    found
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A temp dir holding `rootfs/` (busybox) and room for host-side files.
struct Context {
    dir: tempfile::TempDir,
    sandbox: Box<dyn Sandbox>,
}

impl Context {
    fn new(make: impl FnOnce(&Path) -> Option<Box<dyn Sandbox>>) -> Option<Self> {
        let busybox = require(
            "busybox",
            Some(PathBuf::from("/bin/busybox")).filter(|p| p.exists()),
        )?;
        let dir = tempfile::tempdir().unwrap();
        let sandbox = make(dir.path())?;
        let rootfs = dir.path().join("rootfs");
        fs::create_dir_all(rootfs.join("bin")).unwrap();
        fs::copy(busybox, rootfs.join("bin/busybox")).unwrap();
        for applet in APPLETS {
            symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        fs::create_dir_all(rootfs.join("etc")).unwrap();
        fs::write(rootfs.join("etc/hosts"), "rootfs-hosts\n").unwrap();
        fs::create_dir_all(rootfs.join("work")).unwrap();
        Some(Context { dir, sandbox })
    }

    fn builtin() -> Option<Self> {
        Self::new(|_| {
            Some(Box::new(Builtin {
                init_exe: PathBuf::from(env!("CARGO_BIN_EXE_kiln-run-init")),
            }))
        })
    }

    fn runc() -> Option<Self> {
        let runtime = require("runc", find_in_path("runc"))?;
        Self::new(|dir| {
            Some(Box::new(Runc {
                runtime,
                state_dir: dir.join("runc-state"),
                bundle_dir: dir.join("bundles"),
            }))
        })
    }

    fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    fn host(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn spec(&self, script: &str) -> RunSpec {
        RunSpec {
            rootfs: self.rootfs(),
            args: vec!["sh".into(), "-c".into(), script.into()],
            env: vec!["PATH=/bin".into(), "MARK=kiln".into()],
            cwd: "/".into(),
            user: User::default(),
            hostname: "kiln-test".into(),
            network: Network::None,
            mounts: Vec::new(),
            etc: EtcFiles {
                hosts: "127.0.0.1 localhost sandbox-hosts\n".into(),
                resolv_conf: "nameserver 192.0.2.53\n".into(),
                hostname: "kiln-test\n".into(),
            },
            stdio: Stdio::Piped,
        }
    }

    fn run_with(&self, spec: &RunSpec, cancel: &CancelFlag) -> Run {
        let mut run = Run::default();
        let started = Instant::now();
        let result = self.sandbox.run(
            spec,
            &mut |stream, bytes| {
                run.first_chunk.get_or_insert_with(|| started.elapsed());
                match stream {
                    OutputStream::Stdout => run.stdout.push_str(&String::from_utf8_lossy(bytes)),
                    OutputStream::Stderr => run.stderr.push_str(&String::from_utf8_lossy(bytes)),
                }
            },
            cancel,
        );
        run.elapsed = started.elapsed();
        run.result = Some(result);
        run
    }

    fn run(&self, spec: &RunSpec) -> Run {
        self.run_with(spec, &Arc::new(AtomicBool::new(false)))
    }

    /// Runs `script` and returns its stdout, asserting exit code 0.
    fn output(&self, script: &str) -> String {
        self.run(&self.spec(script)).success()
    }
}

#[derive(Debug, Default)]
struct Run {
    stdout: String,
    stderr: String,
    first_chunk: Option<Duration>,
    elapsed: Duration,
    result: Option<kiln_run::Result<RunOutcome>>,
}

impl Run {
    fn outcome(&self) -> &RunOutcome {
        match self.result.as_ref().unwrap() {
            Ok(outcome) => outcome,
            Err(error) => panic!("run failed: {error} (stderr: {})", self.stderr),
        }
    }

    fn success(&self) -> String {
        let outcome = self.outcome();
        assert_eq!(outcome.code, Some(0), "stderr: {}", self.stderr);
        self.stdout.clone()
    }
}

fn output_streams(ctx: &Context) {
    let run = ctx.run(&ctx.spec("echo out; echo err >&2; sleep 0.4; echo late"));
    assert_eq!(run.success(), "out\nlate\n");
    assert_eq!(run.stderr, "err\n");
    let first = run.first_chunk.unwrap();
    assert!(
        run.elapsed - first >= Duration::from_millis(300),
        "output was not streamed: first chunk at {first:?}, end at {:?}",
        run.elapsed
    );
}

fn exit_code(ctx: &Context) {
    let run = ctx.run(&ctx.spec("exit 3"));
    assert_eq!(
        run.outcome(),
        &RunOutcome {
            code: Some(3),
            signal: None
        }
    );
}

fn env_is_exactly_the_spec(ctx: &Context) {
    // With HOME given (runc adds HOME=/ when it is missing).
    let mut spec = ctx.spec("");
    spec.args = vec!["env".into()];
    spec.env.push("HOME=/work".into());
    let stdout = ctx.run(&spec).success();
    let lines: BTreeSet<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        BTreeSet::from(["PATH=/bin", "MARK=kiln", "HOME=/work"])
    );
}

fn cwd_and_identity(ctx: &Context) {
    let mut spec = ctx.spec("pwd; id -u; id -g; id -G | tr ' ' '\\n' | sort -n | tr '\\n' ' '");
    spec.cwd = "/work".into();
    spec.user = User {
        uid: 1000,
        gid: 1001,
        additional_gids: vec![10, 20],
    };
    assert_eq!(ctx.run(&spec).success(), "/work\n1000\n1001\n10 20 1001 ");
}

fn hostname_and_etc_files(ctx: &Context) {
    let stdout = ctx.output("hostname; cat /etc/hostname /etc/hosts /etc/resolv.conf");
    assert_eq!(
        stdout,
        "kiln-test\nkiln-test\n127.0.0.1 localhost sandbox-hosts\nnameserver 192.0.2.53\n"
    );
    let rootfs = ctx.rootfs();
    assert_eq!(
        fs::read_to_string(rootfs.join("etc/hosts")).unwrap(),
        "rootfs-hosts\n"
    );
    assert!(!rootfs.join("etc/resolv.conf").exists());
    assert!(!rootfs.join("etc/hostname").exists());
}

fn pid_namespace(ctx: &Context) {
    let stdout = ctx.output("ls /proc | grep -c '^[0-9]'; echo $$");
    let mut lines = stdout.lines();
    let pids: u32 = lines.next().unwrap().parse().unwrap();
    assert!(pids <= 5, "{pids} processes visible");
    let own: u32 = lines.next().unwrap().parse().unwrap();
    assert!(own <= 2, "the shell is pid {own}");
}

fn devices_proc_and_sys(ctx: &Context) {
    let script = "echo x > /dev/null && head -c 4 /dev/zero | wc -c; \
                  test -r /proc/self/status && echo proc; \
                  touch /sys/x 2>/dev/null && echo sys-writable || echo sys-readonly; \
                  readlink /dev/ptmx; readlink /dev/fd";
    let stdout = ctx.output(script);
    assert_eq!(
        stdout.split_whitespace().collect::<Vec<_>>(),
        ["4", "proc", "sys-readonly", "pts/ptmx", "/proc/self/fd"]
    );
}

fn default_capabilities(ctx: &Context) {
    let docker_default = "00000000a80425fb";
    let stdout = ctx.output("grep -e CapBnd -e CapEff -e CapPrm /proc/self/status");
    let values: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .collect();
    assert_eq!(values, [docker_default; 3], "{stdout}");
    let mut spec = ctx.spec("grep -e CapBnd -e CapEff /proc/self/status");
    spec.user.uid = 1000;
    let stdout = ctx.run(&spec);
    if stdout.result.as_ref().is_some_and(|result| result.is_ok()) {
        let values: Vec<&str> = stdout
            .stdout
            .lines()
            .filter_map(|line| line.split_whitespace().nth(1))
            .collect();
        // /proc/self/status lists CapEff before CapBnd.
        assert_eq!(values, ["0000000000000000", docker_default]);
    }
}

fn network(ctx: &Context) {
    let count = "grep -c : /proc/net/dev";
    let host_count = fs::read_to_string("/proc/net/dev")
        .unwrap()
        .lines()
        .filter(|line| line.contains(':'))
        .count();
    assert_eq!(ctx.output(count).trim(), "1");
    let stdout = ctx.output("grep : /proc/net/dev | tr -d ' ' | cut -d: -f1");
    assert!(stdout.is_empty() || stdout.trim() == "lo", "{stdout}");
    let mut spec = ctx.spec(count);
    spec.network = Network::Host;
    assert_eq!(ctx.run(&spec).success().trim(), host_count.to_string());
}

fn mounts(ctx: &Context) {
    let (ro, rw) = (ctx.host("ro-source"), ctx.host("rw-source"));
    fs::create_dir_all(&ro).unwrap();
    fs::create_dir_all(&rw).unwrap();
    fs::write(ro.join("present"), "from-host\n").unwrap();
    fs::write(ctx.host("single-file"), "one file\n").unwrap();
    let bind = |target: &str, source: &Path, readonly| Mount {
        target: target.into(),
        kind: MountKind::Bind {
            source: source.to_owned(),
            readonly,
        },
    };
    let mut spec = ctx.spec(
        "cat /ro/present /etc/extra.conf; touch /ro/x 2>/dev/null && echo ro-writable; \
         echo hi > /rw/file; grep -c ' /scratch tmpfs ' /proc/mounts; echo t > /scratch/t && cat /scratch/t",
    );
    spec.mounts = vec![
        bind("/ro", &ro, true),
        bind("/rw", &rw, false),
        bind("/etc/extra.conf", &ctx.host("single-file"), true),
        Mount {
            target: "/scratch".into(),
            kind: MountKind::Tmpfs {
                size: Some(1 << 20),
            },
        },
    ];
    assert_eq!(ctx.run(&spec).success(), "from-host\none file\n1\nt\n");
    assert_eq!(fs::read_to_string(rw.join("file")).unwrap(), "hi\n");
    assert!(!ro.join("x").exists());
}

fn mount_points_are_removed(ctx: &Context) {
    let rootfs = ctx.rootfs();
    fs::create_dir_all(rootfs.join("opt")).unwrap();
    symlink("/opt", rootfs.join("link")).unwrap();
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    for dir in [&rootfs, &rootfs.join("etc"), &rootfs.join("opt")] {
        fs::File::open(dir).unwrap().set_modified(old).unwrap();
    }
    let cache = ctx.host("cache");
    fs::create_dir_all(&cache).unwrap();
    let mut spec = ctx.spec("test -d /opt/deep/cache && echo resolved-inside");
    spec.mounts = vec![Mount {
        target: "/link/deep/cache".into(),
        kind: MountKind::Bind {
            source: cache,
            readonly: false,
        },
    }];
    assert_eq!(ctx.run(&spec).success(), "resolved-inside\n");
    for gone in [
        "proc",
        "dev",
        "sys",
        "etc/resolv.conf",
        "etc/hostname",
        "opt/deep",
    ] {
        assert!(!rootfs.join(gone).exists(), "{gone} left behind");
    }
    for dir in [&rootfs, &rootfs.join("etc"), &rootfs.join("opt")] {
        assert_eq!(
            fs::metadata(dir).unwrap().modified().unwrap(),
            old,
            "{dir:?}"
        );
    }
}

fn command_not_found(ctx: &Context) {
    let mut spec = ctx.spec("");
    spec.args = vec!["no-such-command".into()];
    let run = ctx.run(&spec);
    match run.result.unwrap() {
        Err(Error::ExecutableNotFound { name }) => assert_eq!(name, "no-such-command"),
        other => panic!("expected a not-found error, got {other:?}"),
    }
    assert_eq!(run.stderr, "", "setup errors are not output of the command");
    assert!(!ctx.rootfs().join("proc").exists());
}

fn setup_failure_is_reported(ctx: &Context) {
    let mut spec = ctx.spec("echo should-not-run");
    spec.mounts = vec![Mount {
        target: "/missing-source".into(),
        kind: MountKind::Bind {
            source: ctx.host("does-not-exist"),
            readonly: false,
        },
    }];
    let run = ctx.run(&spec);
    match run.result.unwrap() {
        Err(Error::Setup { message }) => assert!(!message.is_empty()),
        other => panic!("expected a setup error, got {other:?}"),
    }
    assert_eq!(run.stdout, "");
    assert!(!ctx.rootfs().join("missing-source").exists());
}

fn cancel_kills_everything(ctx: &Context) {
    let marker = format!("kiln-cancel-marker-{}", std::process::id());
    let spec = ctx.spec(&format!("sleep 100 & sleep 100; : {marker}"));
    let cancel: CancelFlag = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let setter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        flag.store(true, Ordering::SeqCst);
    });
    let run = ctx.run_with(&spec, &cancel);
    setter.join().unwrap();
    assert!(
        matches!(run.result, Some(Err(Error::Cancelled))),
        "{:?}",
        run.result
    );
    assert!(
        run.elapsed < Duration::from_secs(3),
        "took {:?}",
        run.elapsed
    );
    let survivors: Vec<String> = fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| fs::read(entry.ok()?.path().join("cmdline")).ok())
        .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
        .filter(|cmdline| cmdline.contains(&marker))
        .collect();
    assert!(survivors.is_empty(), "{survivors:?}");
    assert!(!ctx.rootfs().join("proc").exists());
}

fn no_fd_leaks(ctx: &Context) {
    // A host fd without close-on-exec that must not reach the sandbox.
    let leaky = fs::File::open("/dev/null").unwrap();
    rustix::io::fcntl_setfd(&leaky, rustix::io::FdFlags::empty()).unwrap();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&leaky);
    let stdout = ctx.output("ls /proc/self/fd");
    drop(leaky);
    let fds: BTreeSet<u32> = stdout
        .split_whitespace()
        .map(|fd| fd.parse().unwrap())
        .collect();
    assert!(fds.is_superset(&BTreeSet::from([0, 1, 2])), "{fds:?}");
    assert!(fds.len() <= 4, "{fds:?} (host fd {raw})");
}

#[test]
fn builtin_reports_signals_separately() {
    let Some(ctx) = Context::builtin() else {
        return;
    };
    let run = ctx.run(&ctx.spec("kill -9 $$"));
    assert_eq!(
        run.outcome(),
        &RunOutcome {
            code: None,
            signal: Some(9)
        }
    );
}

#[test]
fn builtin_reports_a_missing_init() {
    let Some(mut ctx) = Context::builtin() else {
        return;
    };
    ctx.sandbox = Box::new(Builtin {
        init_exe: ctx.host("no-such-init"),
    });
    let run = ctx.run(&ctx.spec("true"));
    assert!(
        matches!(run.result, Some(Err(Error::Process { .. }))),
        "{:?}",
        run.result
    );
    assert!(!ctx.rootfs().join("proc").exists());
}

#[test]
fn builtin_terminal_comes_from_the_sandbox_devpts() {
    let Some(ctx) = Context::builtin() else {
        return;
    };
    let mut spec = ctx.spec("tty; stty size; test -t 0 && test -t 2 && echo all-tty; exit 4");
    spec.stdio = Stdio::Tty { stdin: false };
    let run = ctx.run(&spec);
    assert_eq!(run.outcome().code, Some(4), "{run:?}");
    let lines: Vec<&str> = run.stdout.split("\r\n").collect();
    assert_eq!(lines[0], "/dev/pts/0", "{:?}", run.stdout);
    let size: Vec<u32> = lines[1]
        .split(' ')
        .map(|number| number.parse().unwrap())
        .collect();
    assert!(size.len() == 2 && size[0] > 0 && size[1] > 0, "{size:?}");
    assert_eq!(lines[2], "all-tty");
    assert!(run.stderr.is_empty(), "{:?}", run.stderr);
    assert!(!ctx.rootfs().join("proc").exists());
}

#[test]
fn builtin_terminal_is_the_controlling_terminal() {
    let Some(ctx) = Context::builtin() else {
        return;
    };
    // Opening /dev/tty only works with a controlling terminal.
    let mut spec = ctx.spec("echo via-ctty > /dev/tty");
    spec.stdio = Stdio::Tty { stdin: false };
    let run = ctx.run(&spec);
    assert_eq!(run.outcome().code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "via-ctty\r\n");
}

#[test]
fn runc_refuses_a_terminal() {
    let Some(ctx) = Context::runc() else {
        return;
    };
    let mut spec = ctx.spec("true");
    spec.stdio = Stdio::Tty { stdin: true };
    let run = ctx.run(&spec);
    assert!(
        matches!(&run.result, Some(Err(Error::InvalidSpec { reason })) if reason.contains("terminal")),
        "{:?}",
        run.result
    );
}

macro_rules! for_both_sandboxes {
    ($($case:ident),* $(,)?) => {
        mod builtin {
            $(#[test]
            fn $case() {
                if let Some(ctx) = super::Context::builtin() {
                    super::$case(&ctx);
                }
            })*
        }
        mod runc {
            $(#[test]
            fn $case() {
                if let Some(ctx) = super::Context::runc() {
                    super::$case(&ctx);
                }
            })*
        }
    };
}

for_both_sandboxes!(
    output_streams,
    exit_code,
    env_is_exactly_the_spec,
    cwd_and_identity,
    hostname_and_etc_files,
    pid_namespace,
    devices_proc_and_sys,
    default_capabilities,
    network,
    mounts,
    mount_points_are_removed,
    command_not_found,
    setup_failure_is_reported,
    cancel_kills_everything,
    no_fd_leaks,
);
