//! Cache keys of RUN (on the busybox test image): its command, the
//! environment and build args it runs with, user, working directory, network
//! and bind mounts must change the key; an unused or proxy build arg, a
//! cache mount's contents and a secret's value must not. Fixture:
//! `testdata/projects/cache-run` (`other.txt` to copy, `m/x.txt` to bind-mount).

use crate::cache_common::{
    build_json, busybox_kiln, layer_steps, run_case, try_build_json, Case, Change, Expect::Hit,
    Expect::Miss, FIRST_BUILD,
};
use kiln_testutil::Project;

const FIXTURE: &str = "cache-run";

/// Arguments of every build: no network pulls, kiln's own sandbox.
const COMMON: &[&str] = &["--isolation", "builtin"];

fn must_miss() -> Vec<Case> {
    vec![
        Case::new(
            "an ENV read by a later RUN (the COPY after the ENV hits)",
            "FROM busybox:test\nENV X=1\nCOPY other.txt /other.txt\nRUN echo $X > /x\n",
            &[Change::Dockerfile(
                "FROM busybox:test\nENV X=2\nCOPY other.txt /other.txt\nRUN echo $X > /x\n",
            )],
            &[
                Hit,
                Miss("environment variable X changed from \"1\" to \"2\""),
            ],
        ),
        Case::new(
            "a build arg declared by ARG",
            "FROM busybox:test\nCOPY other.txt /other.txt\nARG V\nRUN echo hi > /x\n",
            &[Change::Args(&["--build-arg", "V=2"])],
            &[
                Hit,
                Miss("environment variable V changed from \"1\" to \"2\""),
            ],
        )
        .args(&["--build-arg", "V=1"]),
        Case::new(
            "a proxy build arg declared by ARG",
            "FROM busybox:test\nARG HTTP_PROXY\nRUN echo hi > /x\n",
            &[Change::Args(&["--build-arg", "HTTP_PROXY=http://b:2"])],
            &[Miss("environment variable HTTP_PROXY changed")],
        )
        .args(&["--build-arg", "HTTP_PROXY=http://a:1"]),
        Case::new(
            "an ARG's default",
            "FROM busybox:test\nARG V=1\nRUN echo $V > /v\n",
            &[Change::Dockerfile("FROM busybox:test\nARG V=2\nRUN echo $V > /v\n")],
            &[Miss("environment variable V changed from \"1\" to \"2\"")],
        ),
        Case::new(
            "a RUN heredoc's body",
            "FROM busybox:test\nRUN <<EOF\necho a > /x\nEOF\n",
            &[Change::Dockerfile("FROM busybox:test\nRUN <<EOF\necho b > /x\nEOF\n")],
            &[Miss("the command changed")],
        ),
        Case::new(
            "the command text",
            "FROM busybox:test\nCOPY other.txt /other.txt\nRUN echo a > /x\n",
            &[Change::Dockerfile(
                "FROM busybox:test\nCOPY other.txt /other.txt\nRUN echo b > /x\n",
            )],
            &[
                Hit,
                Miss("the command changed from \"/bin/sh -c echo a > /x\" to \"/bin/sh -c echo b > /x\""),
            ],
        ),
        Case::new(
            "the command's exec form",
            "FROM busybox:test\nRUN [\"touch\", \"/a\"]\n",
            &[Change::Dockerfile("FROM busybox:test\nRUN [\"touch\", \"/b\"]\n")],
            &[Miss("the command changed from \"touch /a\" to \"touch /b\"")],
        ),
        Case::new(
            "SHELL",
            "FROM busybox:test\nSHELL [\"/bin/sh\", \"-c\"]\nRUN echo a > /x\n",
            &[Change::Dockerfile(
                "FROM busybox:test\nSHELL [\"/bin/sh\", \"-ec\"]\nRUN echo a > /x\n",
            )],
            &[Miss(
                "the command changed from \"/bin/sh -c echo a > /x\" to \"/bin/sh -ec echo a > /x\"",
            )],
        ),
        Case::new(
            "USER",
            "FROM busybox:test\nCOPY other.txt /other.txt\nUSER app\nRUN id\n",
            &[Change::Dockerfile(
                "FROM busybox:test\nCOPY other.txt /other.txt\nUSER root\nRUN id\n",
            )],
            &[Hit, Miss("the user changed")],
        ),
        Case::new(
            "WORKDIR for a RUN",
            "FROM busybox:test\nCOPY other.txt /other.txt\nWORKDIR /home\nRUN pwd > /pwd\n",
            &[Change::Dockerfile(
                "FROM busybox:test\nCOPY other.txt /other.txt\nWORKDIR /root\nRUN pwd > /pwd\n",
            )],
            &[
                Hit,
                Miss("the working directory changed from \"/home\" to \"/root\""),
            ],
        ),
        Case::new(
            "WORKDIR for a COPY to a relative destination (not to an absolute one)",
            "FROM busybox:test\nWORKDIR /home\nCOPY other.txt /abs.txt\nCOPY other.txt rel.txt\n",
            &[Change::Dockerfile(
                "FROM busybox:test\nWORKDIR /root\nCOPY other.txt /abs.txt\nCOPY other.txt rel.txt\n",
            )],
            &[
                Hit,
                Miss("the destination changed from \"/home/rel.txt\" to \"/root/rel.txt\""),
            ],
        ),
        Case::new(
            "--network",
            "FROM busybox:test\nCOPY other.txt /other.txt\nRUN --network=none echo > /x\n",
            &[Change::Dockerfile(
                "FROM busybox:test\nCOPY other.txt /other.txt\nRUN --network=host echo > /x\n",
            )],
            &[Hit, Miss("the network mode changed")],
        ),
        Case::new(
            "a file of a context bind mount",
            "FROM busybox:test\nCOPY other.txt /other.txt\n\
             RUN --mount=type=bind,source=m,target=/m cat /m/x.txt > /y\n",
            &[Change::Write("m/x.txt", "changed\n")],
            &[Hit, Miss("a --mount 0 changed")],
        ),
        Case::new(
            "SOURCE_DATE_EPOCH",
            "FROM busybox:test\nRUN echo > /x\n",
            &[Change::Env(&[("SOURCE_DATE_EPOCH", "200")])],
            &[Miss("epoch changed from \"100\" to \"200\"")],
        )
        .env(&[("SOURCE_DATE_EPOCH", "100")]),
    ]
}

fn must_hit() -> Vec<Case> {
    vec![
        Case::new(
            "an undeclared build arg",
            "FROM busybox:test\nRUN echo hi > /x\n",
            &[Change::Args(&["--build-arg", "UNUSED=2"])],
            &[Hit],
        )
        .args(&["--build-arg", "UNUSED=1"]),
        Case::new(
            "an undeclared proxy build arg",
            "FROM busybox:test\nRUN echo hi > /x\n",
            &[Change::Args(&["--build-arg", "HTTP_PROXY=http://proxy:3128"])],
            &[Hit],
        ),
        Case::new(
            "a context file outside a bind mount",
            "FROM busybox:test\nRUN --mount=type=bind,source=m,target=/m cat /m/x.txt > /y\n",
            &[Change::Write("other.txt", "changed\n")],
            &[Hit],
        ),
        Case::new(
            "a secret's value",
            "FROM busybox:test\nRUN --mount=type=secret,id=s,required=true test -s /run/secrets/s\n",
            &[Change::Env(&[("KILN_CACHE_TEST_SECRET", "two")])],
            &[Hit],
        )
        .args(&["--secret", "id=s,env=KILN_CACHE_TEST_SECRET"])
        .env(&[("KILN_CACHE_TEST_SECRET", "one")]),
        Case::new(
            "LABEL, EXPOSE and CMD around a RUN",
            "FROM busybox:test\nLABEL a=1\nRUN echo hi > /x\nEXPOSE 80\nCMD [\"a\"]\n",
            &[Change::Dockerfile(
                "FROM busybox:test\nLABEL a=2\nRUN echo hi > /x\nEXPOSE 8080\nCMD [\"b\"]\n",
            )],
            &[Hit],
        ),
    ]
}

#[test]
fn run_inputs_that_must_miss() {
    for case in must_miss() {
        let Some(kiln) = busybox_kiln() else { return };
        run_case(&kiln, FIXTURE, &case, COMMON);
    }
}

#[test]
fn an_inserted_env_is_explained() {
    let Some(kiln) = busybox_kiln() else { return };
    let case = Case::new(
        "an ENV inserted before a RUN",
        "FROM busybox:test\nRUN echo $A > /x\n",
        &[Change::Dockerfile(
            "FROM busybox:test\nENV A=1\nRUN echo $A > /x\n",
        )],
        &[Miss("environment variable A was set to \"1\"")],
    );
    run_case(&kiln, FIXTURE, &case, COMMON);
}

#[test]
fn run_inputs_that_must_hit() {
    for case in must_hit() {
        let Some(kiln) = busybox_kiln() else { return };
        run_case(&kiln, FIXTURE, &case, COMMON);
    }
}

#[test]
fn a_cache_mounts_contents_do_not_enter_the_key() {
    let Some(kiln) = busybox_kiln() else { return };
    let project = Project::copy(FIXTURE);
    project
        .write(
            "Dockerfile",
            "FROM busybox:test\nRUN --mount=type=cache,id=k,target=/c ls /c > /listing\n",
        )
        .write(
            "writer.Dockerfile",
            "FROM busybox:test\nRUN --mount=type=cache,id=k,target=/c echo more > /c/more\n",
        )
        .write(
            "checker.Dockerfile",
            "FROM busybox:test\nRUN --mount=type=cache,id=k,target=/c test -f /c/more\n",
        );
    let first = build_json(&kiln, project.path(), COMMON, &[]);
    assert_eq!(
        layer_steps(&first)[0].2.as_deref(),
        Some(FIRST_BUILD),
        "{}",
        first.streams()
    );
    // Another build puts a file in the cache mount…
    let writer = project.join("writer.Dockerfile");
    let mut args = COMMON.to_vec();
    args.extend(["-f", crate::common::s(&writer)]);
    build_json(&kiln, project.path(), &args, &[]);
    let checker = project.join("checker.Dockerfile");
    let mut args = COMMON.to_vec();
    args.extend(["-f", crate::common::s(&checker)]);
    let checked = try_build_json(&kiln, project.path(), &args, &[]);
    assert!(
        checked.status.success(),
        "the cache mount did not keep the writer's file:\n{}",
        checked.streams()
    );
    // …and the first RUN still hits.
    let second = build_json(&kiln, project.path(), COMMON, &[]);
    let steps = layer_steps(&second);
    assert_eq!(steps.len(), 1, "{}", second.streams());
    assert!(steps[0].1, "{}", second.streams());
}

#[test]
fn a_bind_mount_works_with_a_relative_context_path() {
    let Some(kiln) = busybox_kiln() else { return };
    let project = Project::copy(FIXTURE);
    project.write(
        "Dockerfile",
        "FROM busybox:test\nRUN --mount=type=bind,source=m,target=/m cat /m/x.txt > /y\n",
    );
    // Both temporary directories live side by side; kiln runs in the scratch one.
    let name = project.path().file_name().expect("a temporary dir name");
    let relative = std::path::Path::new("..").join(name);
    assert!(kiln.scratch().join(&relative).is_dir());
    let output = build_json(&kiln, &relative, COMMON, &[]);
    assert_eq!(layer_steps(&output).len(), 1, "{}", output.streams());
}
