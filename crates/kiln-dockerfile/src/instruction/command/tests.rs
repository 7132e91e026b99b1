//! Table-driven tests of per-instruction conversion, on hand-built AST nodes.

use super::*;
use crate::ast::Span;

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

fn ins(keyword: &str, flags: &[&str], args: &[&str]) -> Instruction {
    Instruction {
        keyword: keyword.to_owned(),
        flags: strings(flags),
        args: strings(args),
        json: false,
        heredocs: Vec::new(),
        sub: None,
        original: format!("{} {}", keyword.to_uppercase(), args.join(" ")),
        span: Span {
            start_line: 7,
            start_col: 1,
            end_line: 7,
            end_col: 20,
        },
    }
}

fn json(mut instruction: Instruction) -> Instruction {
    instruction.json = true;
    instruction
}

fn heredoc(name: &str, content: &str) -> Heredoc {
    Heredoc {
        name: name.to_owned(),
        fd: 0,
        expand: true,
        chomp: false,
        content: content.to_owned(),
    }
}

fn kind(instruction: &Instruction) -> CommandKind {
    parse_command(instruction)
        .unwrap_or_else(|err| panic!("{}: {err}", instruction.original))
        .kind
}

fn shell(text: &str) -> ShellOrExec {
    ShellOrExec::Shell(text.to_owned())
}

fn exec(words: &[&str]) -> ShellOrExec {
    ShellOrExec::Exec(strings(words))
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn converts_each_instruction() {
    let cases: Vec<(Instruction, CommandKind)> = vec![
        (
            ins("arg", &[], &["A", "B=\"x y\"", "C="]),
            CommandKind::Arg(vec![
                ArgDecl {
                    name: "A".into(),
                    default: None,
                },
                ArgDecl {
                    name: "B".into(),
                    default: Some("\"x y\"".into()),
                },
                ArgDecl {
                    name: "C".into(),
                    default: Some(String::new()),
                },
            ]),
        ),
        (
            ins("env", &[], &["A", "\"1 2\"", "=", "B", "$A", "="]),
            CommandKind::Env(pairs(&[("A", "\"1 2\""), ("B", "$A")])),
        ),
        (
            ins("env", &[], &["A", "one two", ""]),
            CommandKind::Env(pairs(&[("A", "one two")])),
        ),
        (
            ins("label", &[], &["org.x", "y", "="]),
            CommandKind::Label(pairs(&[("org.x", "y")])),
        ),
        (
            ins("workdir", &[], &["/app"]),
            CommandKind::Workdir("/app".into()),
        ),
        (
            ins("user", &[], &["1000:1000"]),
            CommandKind::User("1000:1000".into()),
        ),
        (
            ins("stopsignal", &[], &["SIGTERM"]),
            CommandKind::StopSignal("SIGTERM".into()),
        ),
        (
            ins("maintainer", &[], &["Jo <jo@x>"]),
            CommandKind::Maintainer("Jo <jo@x>".into()),
        ),
        (
            ins("cmd", &[], &["echo hi"]),
            CommandKind::Cmd(shell("echo hi")),
        ),
        (ins("cmd", &[], &[]), CommandKind::Cmd(shell(""))),
        (
            json(ins("cmd", &[], &["echo", "hi"])),
            CommandKind::Cmd(exec(&["echo", "hi"])),
        ),
        (
            json(ins("entrypoint", &[], &["/bin/app"])),
            CommandKind::Entrypoint(exec(&["/bin/app"])),
        ),
        (
            ins("entrypoint", &[], &["exec app"]),
            CommandKind::Entrypoint(shell("exec app")),
        ),
        (
            json(ins("shell", &[], &["/bin/bash", "-c"])),
            CommandKind::Shell(strings(&["/bin/bash", "-c"])),
        ),
        (
            ins("expose", &[], &["80/tcp", "$PORT"]),
            CommandKind::Expose(strings(&["80/tcp", "$PORT"])),
        ),
        (
            ins("volume", &[], &["/a", "/b"]),
            CommandKind::Volume(strings(&["/a", "/b"])),
        ),
        (
            json(ins("volume", &[], &["/data"])),
            CommandKind::Volume(strings(&["/data"])),
        ),
        (
            ins("healthcheck", &[], &["NONE"]),
            CommandKind::Healthcheck(Healthcheck::None),
        ),
    ];
    for (instruction, expected) in cases {
        assert_eq!(kind(&instruction), expected, "{}", instruction.original);
    }
}

#[test]
fn command_keeps_span_and_original() {
    let command = parse_command(&ins("user", &[], &["root"])).unwrap();
    assert_eq!(command.span.start_line, 7);
    assert_eq!(command.original, "USER root");
}

#[test]
fn run_flags_and_heredocs() {
    let mut run = ins(
        "run",
        &[
            "--mount=type=cache,target=/c",
            "--network=none",
            "--mount=type=secret,id=s",
            "--security=insecure",
            "--device=a",
        ],
        &["<<EOF bash"],
    );
    run.heredocs = vec![heredoc("EOF", "echo hi\n")];
    let CommandKind::Run(args) = kind(&run) else {
        panic!("not RUN")
    };
    assert_eq!(args.command, shell("<<EOF bash"));
    assert_eq!(args.mounts, ["type=cache,target=/c", "type=secret,id=s"]);
    assert_eq!(args.network.as_deref(), Some("none"));
    assert_eq!(args.security.as_deref(), Some("insecure"));
    assert_eq!(args.devices, ["a"]);
    assert_eq!(args.heredocs, run.heredocs);

    let CommandKind::Run(args) = kind(&json(ins("run", &[], &["ls", "-l"]))) else {
        panic!("not RUN")
    };
    assert_eq!(args.command, exec(&["ls", "-l"]));
    assert!(args.mounts.is_empty() && args.network.is_none() && args.heredocs.is_empty());
}

#[test]
fn copy_and_add() {
    let copy = ins(
        "copy",
        &[
            "--from=build",
            "--chown=1:2",
            "--chmod=644",
            "--link",
            "--parents",
            "--exclude=*.md",
            "--exclude=.git",
        ],
        &["a", "b", "/dst/"],
    );
    let CommandKind::Copy(args) = kind(&copy) else {
        panic!("not COPY")
    };
    let expected = CopyArgs {
        is_add: false,
        sources: strings(&["a", "b"]),
        dest: "/dst/".into(),
        from: Some("build".into()),
        chown: Some("1:2".into()),
        chmod: Some("644".into()),
        link: true,
        parents: true,
        exclude: strings(&["*.md", ".git"]),
        ..CopyArgs::default()
    };
    assert_eq!(args, expected);

    let add = ins(
        "add",
        &[
            "--checksum=sha256:00",
            "--keep-git-dir=true",
            "--unpack=false",
            "--link=false",
        ],
        &["u", "/d"],
    );
    let CommandKind::Copy(args) = kind(&add) else {
        panic!("not ADD")
    };
    assert!(args.is_add && !args.link);
    assert_eq!(args.checksum.as_deref(), Some("sha256:00"));
    assert_eq!((args.keep_git_dir, args.unpack), (Some(true), Some(false)));

    let mut heredocs = ins("copy", &[], &["<<a", "file", "<<-\"b\"", "/dst/"]);
    heredocs.heredocs = vec![heredoc("a", "1\n"), heredoc("b", "2\n")];
    let CommandKind::Copy(args) = kind(&heredocs) else {
        panic!("not COPY")
    };
    assert_eq!(args.sources, ["<<a", "file", "<<-\"b\""]);
    assert_eq!(args.heredocs, heredocs.heredocs);
}

#[test]
fn healthcheck_options() {
    let check = ins(
        "healthcheck",
        &[
            "--interval=30s",
            "--timeout=1m30s",
            "--start-period=500ms",
            "--start-interval=0s",
            "--retries=3",
        ],
        &["CMD", "curl -f http://localhost/"],
    );
    let expected = Healthcheck::Cmd {
        test: shell("curl -f http://localhost/"),
        interval: Some(Duration::from_secs(30)),
        timeout: Some(Duration::from_secs(90)),
        start_period: Some(Duration::from_millis(500)),
        start_interval: None,
        retries: Some(3),
    };
    assert_eq!(kind(&check), CommandKind::Healthcheck(expected));

    let CommandKind::Healthcheck(Healthcheck::Cmd {
        test,
        interval,
        retries,
        ..
    }) = kind(&json(ins("healthcheck", &[], &["cmd", "/check", "-q"])))
    else {
        panic!("not a CMD healthcheck")
    };
    assert_eq!(
        (test, interval, retries),
        (exec(&["/check", "-q"]), None, None)
    );
}

#[test]
fn onbuild_triggers() {
    let mut onbuild = ins("onbuild", &[], &[]);
    onbuild.original = "ONBUILD   RUN make install".into();
    onbuild.sub = Some(Box::new(ins("run", &[], &["make install"])));
    assert_eq!(
        kind(&onbuild),
        CommandKind::Onbuild("RUN make install".into())
    );

    let mut with_heredoc = ins("onbuild", &[], &[]);
    with_heredoc.original = "onbuild COPY <<EOF /x".into();
    let mut sub = ins("copy", &[], &["<<EOF", "/x"]);
    sub.heredocs = vec![heredoc("EOF", "body\n")];
    with_heredoc.sub = Some(Box::new(sub));
    assert_eq!(
        kind(&with_heredoc),
        CommandKind::Onbuild("COPY <<EOF /x\nbody\nEOF".into())
    );
}

#[test]
fn rejects_invalid_instructions() {
    let onbuild = |sub: Instruction| {
        let mut outer = ins("onbuild", &[], &[]);
        outer.sub = Some(Box::new(sub));
        outer
    };
    let cases: Vec<(Instruction, &str)> = vec![
        (ins("frobnicate", &[], &[""]), "unknown instruction: FROBNICATE"),
        (ins("from", &[], &["a"]), "FROM starts a stage and is not a command"),
        // flags
        (ins("copy", &["--checksum=x"], &["a", "b"]), "unknown flag for COPY: --checksum"),
        (ins("add", &["--from=x"], &["a", "b"]), "unknown flag for ADD: --from"),
        (ins("copy", &["--link=maybe"], &["a", "b"]), "expecting boolean value for flag --link, not: maybe"),
        (ins("copy", &["--from=a", "--from=b"], &["a", "b"]), "duplicate flag specified: --from"),
        (ins("copy", &["--chown"], &["a", "b"]), "missing a value on flag: --chown"),
        (ins("add", &["--keep-git-dir=yes"], &["a", "b"]), "expecting boolean value for flag --keep-git-dir, not: yes"),
        (ins("run", &["--mount"], &["x"]), "missing a value on flag: --mount"),
        (ins("run", &["--network=a", "--network=b"], &["x"]), "duplicate flag specified: --network"),
        (ins("run", &["--chown=1"], &["x"]), "unknown flag for RUN: --chown"),
        (ins("cmd", &["--x"], &["a"]), "unknown flag for CMD: --x"),
        (ins("env", &["--x=1"], &["a", "b", "="]), "unknown flag for ENV: --x"),
        (ins("workdir", &["--x"], &["/"]), "unknown flag for WORKDIR: --x"),
        (ins("healthcheck", &["--retry=3"], &["CMD", "x"]), "unknown flag for HEALTHCHECK: --retry"),
        // arguments
        (ins("env", &[], &[]), "ENV requires at least one argument"),
        (ins("env", &[], &["a", "b"]), "bad input to ENV, too many arguments"),
        (ins("env", &[], &["", "b", "="]), "ENV names can not be blank"),
        (ins("label", &[], &[]), "LABEL requires at least one argument"),
        (ins("arg", &[], &[]), "ARG requires at least one argument"),
        (ins("arg", &[], &["=x"]), "ARG names can not be blank"),
        (ins("workdir", &[], &[]), "WORKDIR requires exactly one argument"),
        (ins("user", &[], &[""]), "USER requires exactly one argument"),
        (ins("stopsignal", &[], &["  "]), "STOPSIGNAL requires exactly one argument"),
        (ins("maintainer", &[], &[]), "MAINTAINER requires exactly one argument"),
        (ins("expose", &[], &[]), "EXPOSE requires at least one argument"),
        (ins("volume", &[], &[]), "VOLUME requires at least one argument"),
        (json(ins("volume", &[], &["/a", " "])), "VOLUME specified can not be an empty string"),
        (ins("shell", &[], &["/bin/sh -c"]), "SHELL requires the arguments to be in JSON form"),
        (json(ins("shell", &[], &[])), "SHELL requires at least one argument"),
        (ins("copy", &[], &["only"]), "COPY requires at least two arguments, but only one was provided: destination could not be determined"),
        (ins("add", &[], &[]), "ADD requires at least two arguments, but only one was provided: destination could not be determined"),
        (ins("copy", &[], &["a", "<<EOF"]), "COPY cannot accept a heredoc as a destination"),
        // healthcheck
        (ins("healthcheck", &[], &[]), "HEALTHCHECK requires at least one argument"),
        (ins("healthcheck", &[], &["NONE", "x"]), "HEALTHCHECK NONE takes no arguments"),
        (ins("healthcheck", &["--interval=5s"], &["none"]), "HEALTHCHECK NONE takes no flags, got --interval"),
        (ins("healthcheck", &[], &["CMD"]), "missing command after HEALTHCHECK CMD"),
        (json(ins("healthcheck", &[], &["CMD"])), "missing command after HEALTHCHECK CMD"),
        (ins("healthcheck", &[], &["RUN", "x"]), "unknown type \"RUN\" in HEALTHCHECK (try CMD)"),
        (ins("healthcheck", &["--interval=5"], &["CMD", "x"]), "invalid duration \"5\" for --interval"),
        (ins("healthcheck", &["--timeout=-1s"], &["CMD", "x"]), "interval --timeout cannot be less than 1ms"),
        (ins("healthcheck", &["--start-period=10us"], &["CMD", "x"]), "interval --start-period cannot be less than 1ms"),
        (ins("healthcheck", &["--retries=-1"], &["CMD", "x"]), "--retries cannot be negative (-1)"),
        (ins("healthcheck", &["--retries=x"], &["CMD", "x"]), "invalid value \"x\" for --retries: expected an integer"),
        // onbuild
        (ins("onbuild", &[], &[]), "ONBUILD requires at least one argument"),
        (onbuild(ins("onbuild", &[], &[])), "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        (onbuild(ins("from", &[], &["a"])), "FROM isn't allowed as an ONBUILD trigger"),
        (onbuild(ins("maintainer", &[], &["x"])), "MAINTAINER isn't allowed as an ONBUILD trigger"),
        (onbuild(ins("bogus", &[], &[""])), "unknown instruction: BOGUS"),
        (onbuild(ins("copy", &["--nope"], &["a", "b"])), "unknown flag for COPY: --nope"),
    ];
    for (instruction, message) in cases {
        let err = parse_command(&instruction).unwrap_err();
        assert_eq!(err.to_string(), message, "{}", instruction.original);
        assert_eq!(err.span().start_line, 7);
    }
}

#[test]
fn heredoc_word_names() {
    let cases = [
        ("<<EOF", Some("EOF")),
        ("<<-EOF", Some("EOF")),
        ("3<<'END'", Some("END")),
        ("<<\"a\"b", Some("ab")),
        ("<<", None),
        ("file", None),
        ("<<<x", None),
    ];
    for (word, expected) in cases {
        assert_eq!(heredoc_word_name(word).as_deref(), expected, "{word}");
    }
}
