//! Conversion tests that go through the parser: a hand-written file, and the
//! shared corpus of real-world Dockerfiles (skipped when it is absent).

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::parse;

fn stages_of(text: &str) -> Result<Stages, InstructionError> {
    to_stages(&parse(text.as_bytes()).unwrap())
}

const FILE: &str = r#"ARG B=alpine
FROM --platform=$BUILDPLATFORM $B AS Build
RUN --mount=type=cache,target=/c make
ONBUILD COPY <<EOF /x
hi
EOF
COPY --link <<a file <<b /dst/
1
a
2
b
ENV A=1 B="2 3"
ENV legacy one two
HEALTHCHECK --interval=5s CMD ["/check"]
FROM scratch
COPY --from=build /out /
"#;

#[test]
fn converts_a_parsed_file() {
    let stages = stages_of(FILE).unwrap();
    assert_eq!(stages.meta_args.len(), 1);
    assert_eq!(stages.stages.len(), 2);
    let build = &stages.stages[0];
    assert_eq!(build.name.as_deref(), Some("build"));
    assert_eq!(build.base, "$B");
    assert_eq!(build.platform.as_deref(), Some("$BUILDPLATFORM"));
    assert_eq!(build.span.start_line, 2);
    let kinds: Vec<&CommandKind> = build.commands.iter().map(|c| &c.kind).collect();
    let CommandKind::Run(run) = kinds[0] else {
        panic!("expected RUN, got {:?}", kinds[0])
    };
    assert_eq!(run.mounts, ["type=cache,target=/c"]);
    assert_eq!(run.command, ShellOrExec::Shell("make".into()));
    assert_eq!(
        kinds[1],
        &CommandKind::Onbuild("COPY <<EOF /x\nhi\nEOF".into())
    );
    let CommandKind::Copy(copy) = kinds[2] else {
        panic!("expected COPY, got {:?}", kinds[2])
    };
    assert!(copy.link);
    assert_eq!(copy.sources, ["<<a", "file", "<<b"]);
    let bodies: Vec<(&str, &str)> = copy
        .heredocs
        .iter()
        .map(|h| (h.name.as_str(), h.content.as_str()))
        .collect();
    assert_eq!(bodies, [("a", "1\n"), ("b", "2\n")]);
    let env = |pairs: &[(&str, &str)]| {
        CommandKind::Env(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    };
    assert_eq!(kinds[3], &env(&[("A", "1"), ("B", "\"2 3\"")]));
    assert_eq!(kinds[4], &env(&[("legacy", "one two")]));
    let CommandKind::Healthcheck(Healthcheck::Cmd { test, interval, .. }) = kinds[5] else {
        panic!("expected HEALTHCHECK, got {:?}", kinds[5])
    };
    assert_eq!(test, &ShellOrExec::Exec(vec!["/check".into()]));
    assert_eq!(*interval, Some(Duration::from_secs(5)));
    assert_eq!(build.commands[5].span.start_line, 14);
    let CommandKind::Copy(copy) = &stages.stages[1].commands[0].kind else {
        panic!("expected COPY")
    };
    assert_eq!(copy.from.as_deref(), Some("build"));
}

#[test]
fn parsed_errors_point_at_the_instruction() {
    let cases = [
        (
            "FROM a\nRUN x\nCOPY --link=maybe a b\n",
            3,
            "expecting boolean value for flag --link, not: maybe",
        ),
        (
            "RUN x\nFROM a\n",
            1,
            "RUN instruction before the first FROM: only ARG may come before it",
        ),
        (
            "FROM a AS x\nFROM b AS X\n",
            2,
            "duplicate stage name \"x\"",
        ),
        (
            "FROM a\nONBUILD ONBUILD RUN x\n",
            2,
            "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
        ),
        (
            "FROM a\nSHELL /bin/sh -c\n",
            2,
            "SHELL requires the arguments to be in JSON form",
        ),
        ("FROM a\nFOO bar\n", 2, "unknown instruction: FOO"),
    ];
    for (text, line, message) in cases {
        let err = stages_of(text).unwrap_err();
        assert_eq!(
            (err.span().start_line, err.to_string().as_str()),
            (line, message),
            "{text:?}"
        );
    }
}

/// Every real-world Dockerfile of the corpus is one BuildKit builds, so each
/// must convert without error.
#[test]
fn real_world_corpus_converts() {
    let root =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/real-world");
    let Ok(entries) = std::fs::read_dir(&root) else {
        eprintln!("skipping: corpus {} not found", root.display());
        return;
    };
    let mut checked = 0;
    let mut failures = Vec::new();
    for entry in entries {
        let path = entry.unwrap().path().join("Dockerfile");
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let result = parse(&bytes)
            .map_err(|e| e.to_string())
            .and_then(|file| to_stages(&file).map_err(|e| e.to_string()));
        if let Err(message) = result {
            failures.push(format!("{}: {message}", path.display()));
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 50, "only {checked} corpus files found");
}
