//! Metadata instructions and build args, compared with what BuildKit writes
//! into the image config and history.

use kiln_testutil::Project;
use serde_json::json;

use crate::common::{build_image, kiln, project, s};

#[test]
fn metadata_instructions_fill_the_config() {
    let kiln = kiln().env("FROM_ENV", "from-the-environment");
    let dest = kiln.path("meta");
    let built = kiln.build([
        "--build-arg",
        "VERSION=2.0",
        "--build-arg",
        "FROM_ENV",
        "--build-arg",
        "NEVER_USED=1",
        "--label",
        "extra=from-cli",
        "-o",
        &format!("type=oci-dir,dest={}", s(&dest)),
        s(&project("metadata")),
    ]);
    let image = kiln_testutil::OciImage::from_dir(&dest);
    let warning = built
        .output
        .stderr
        .lines()
        .find(|line| line.contains("NEVER_USED"))
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        warning.contains("not consumed") || warning.contains("unused"),
        "no unused-arg warning:\n{}",
        built.output.stderr
    );
    assert!(
        !built.output.stderr.contains("UNUSED_GLOBAL"),
        "a Dockerfile ARG that is not passed is not warned about"
    );

    let expected = [
        ("User", json!("1000:1000")),
        ("WorkingDir", json!("/opt/app/sub")),
        (
            "Env",
            json!([
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "APP_HOME=/opt/app",
                "APP_VERSION=2.0",
                "APP_DATA=/opt/app/data"
            ]),
        ),
        (
            "Labels",
            json!({"version": "2.0", "flavor": "plain", "from-env": "from-the-environment", "extra": "from-cli"}),
        ),
        ("Entrypoint", json!(["/bin/bash", "-c", "exec app"])),
        ("Cmd", json!(["/bin/bash", "-c", "run --fast"])),
        ("ExposedPorts", json!({"8080/tcp": {}, "53/udp": {}})),
        ("Volumes", json!({"/data": {}, "/logs": {}})),
        ("StopSignal", json!("SIGTERM")),
        (
            "Healthcheck",
            json!({"Test": ["CMD", "/bin/check", "--quick"], "Interval": 30_000_000_000u64, "Timeout": 5_000_000_000u64, "Retries": 3}),
        ),
        ("OnBuild", json!(["COPY trigger.txt /trigger.txt"])),
        ("Shell", json!(["/bin/bash", "-c"])),
    ];
    for (field, value) in expected {
        assert_eq!(*image.runtime(field), value, "config.{field}");
    }
    assert_eq!(image.config["author"], "Jane Doe <jane@example.com>");
    assert_eq!(image.config["os"], "linux");

    // History: one entry per instruction after FROM; only the two WORKDIRs made layers.
    let history = image.history();
    let layered: Vec<&str> = history
        .iter()
        .filter(|entry| entry["empty_layer"] != true)
        .map(|entry| entry["created_by"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(layered, ["WORKDIR /opt/app", "WORKDIR /opt/app/sub"]);
    assert_eq!(history.len(), 18, "{history:#?}");
    assert_eq!(image.layers.len(), 2);
    for entry in &history {
        assert_eq!(entry["comment"], "buildkit.dockerfile.v0", "{entry}");
    }
    let created_by: Vec<&str> = history
        .iter()
        .map(|entry| entry["created_by"].as_str().unwrap_or_default())
        .collect();
    assert!(
        created_by.contains(&"ENV APP_DATA=/opt/app/data"),
        "{created_by:?}"
    );
    assert!(created_by.contains(&"STOPSIGNAL SIGTERM"), "{created_by:?}");
}

#[test]
fn arg_defaults_and_global_arg_in_from() {
    let kiln = kiln();
    kiln.build(["-t", "base-a:1", s(&project("users-base"))]);
    let context = Project::empty();
    context.write(
        "Dockerfile",
        "ARG BASE=scratch\nARG TAG\nFROM ${BASE}\nARG TAG=default\nARG BASE\nLABEL tag=$TAG base=$BASE\n",
    );
    let defaults = build_image(&kiln, &[context.arg()]);
    assert_eq!(
        defaults.runtime("Labels"),
        &json!({"tag": "default", "base": "scratch"})
    );
    assert!(defaults.layers.is_empty());

    let overridden = build_image(
        &kiln,
        &[
            "--build-arg",
            "BASE=base-a:1",
            "--build-arg",
            "TAG=given",
            context.arg(),
        ],
    );
    assert_eq!(
        overridden.runtime("Labels"),
        &json!({"tag": "given", "base": "base-a:1"})
    );
    assert!(
        overridden.file("etc/passwd").is_some(),
        "FROM ${{BASE}} used the override"
    );
}

#[test]
fn env_expands_in_later_instructions_and_workdir_is_relative() {
    let kiln = kiln();
    let context = Project::empty();
    context.write("file.txt", "f\n").write(
        "Dockerfile",
        "FROM scratch\nENV DIR=/app NAME=file\nWORKDIR $DIR\nWORKDIR ${NAME}s\nCOPY ${NAME}.txt ./\nUSER ${NAME}:${NAME}\n",
    );
    let image = build_image(&kiln, &[context.arg()]);
    assert_eq!(image.runtime("WorkingDir"), "/app/files");
    assert_eq!(image.runtime("User"), "file:file");
    assert_eq!(image.text("app/files/file.txt"), "f\n");
}

#[test]
fn onbuild_triggers_of_the_base_run_in_the_child() {
    let kiln = kiln();
    kiln.build(["-t", "onbuild-base:1", s(&project("onbuild-base"))]);
    let image = build_image(&kiln, &[s(&project("onbuild-child"))]);
    assert_eq!(image.text("base.txt"), "base file\n");
    assert_eq!(image.text("from-trigger.txt"), "child file\n");
    assert_eq!(image.text("own.txt"), "child file\n");
    assert_eq!(image.runtime("Labels")["triggered"], "yes");
    // Triggers run once: the child's config does not carry them on.
    assert!(
        image
            .runtime("OnBuild")
            .as_array()
            .is_none_or(Vec::is_empty),
        "{}",
        image.config
    );
    let paths: Vec<String> = image
        .layers
        .iter()
        .map(|layer| layer.files[0].entry.path.clone())
        .collect();
    assert_eq!(
        paths,
        ["base.txt", "from-trigger.txt", "own.txt"],
        "triggers run right after FROM"
    );
}

#[test]
fn metadata_only_build_from_stdin() {
    let kiln = kiln();
    let context = Project::empty();
    let dest = kiln.path("stdin-out");
    let built = kiln.build_stdin(
        [
            "-f",
            "-",
            "-o",
            &format!("type=oci-dir,dest={}", s(&dest)),
            context.arg(),
        ],
        b"FROM scratch\nLABEL from=stdin\nCMD [\"/bin/app\"]\n",
    );
    let image = kiln_testutil::OciImage::from_dir(&dest);
    assert_eq!(image.config_digest, built.image_id);
    assert_eq!(image.runtime("Labels"), &json!({"from": "stdin"}));
    assert_eq!(image.runtime("Cmd"), &json!(["/bin/app"]));
}

#[test]
fn config_semantics_follow_buildkit() {
    let kiln = kiln();
    let base = Project::empty();
    base.write(
        "Dockerfile",
        "FROM scratch\nENV A=1 PATH=/custom\nLABEL l=base\nCMD [\"base-cmd\"]\n",
    );
    kiln.build(["-t", "base:cmd", base.arg()]);
    let cases: [(&str, &str, &[&str], &str, serde_json::Value); 7] = [
        (
            "ENTRYPOINT resets the base CMD",
            "FROM base:cmd\nENTRYPOINT [\"/ep\"]\n",
            &[],
            "Cmd",
            serde_json::Value::Null,
        ),
        (
            "base ENV is inherited",
            "FROM base:cmd\nENV B=$A\n",
            &[],
            "Env",
            json!(["PATH=/custom", "A=1", "B=1"]),
        ),
        (
            "base LABEL is inherited",
            "FROM base:cmd\nLABEL m=child\n",
            &[],
            "Labels",
            json!({"l": "base", "m": "child"}),
        ),
        (
            "a global ARG is not visible after FROM",
            "ARG X=1\nFROM scratch\nLABEL x=$X\n",
            &[],
            "Labels",
            json!({"x": ""}),
        ),
        (
            "ENV wins over ARG",
            "FROM scratch\nARG V=argv\nENV V=envv\nLABEL v=$V\n",
            &["--build-arg", "V=cli"],
            "Labels",
            json!({"v": "envv"}),
        ),
        (
            "default SHELL for shell-form CMD",
            "FROM scratch\nCMD echo hi\n",
            &[],
            "Cmd",
            json!(["/bin/sh", "-c", "echo hi"]),
        ),
        (
            "EXPOSE expands variables",
            "FROM scratch\nARG P=81\nEXPOSE ${P}/udp 82\n",
            &[],
            "ExposedPorts",
            json!({"81/udp": {}, "82/tcp": {}}),
        ),
    ];
    for (name, dockerfile, flags, field, expected) in cases {
        let context = Project::empty();
        context.write("Dockerfile", dockerfile);
        let mut args = flags.to_vec();
        args.push(context.arg());
        let image = build_image(&kiln, &args);
        assert_eq!(*image.runtime(field), expected, "{name}");
    }
}

#[test]
fn stage_names_are_case_insensitive() {
    let kiln = kiln();
    let context = Project::empty();
    context.write("a.txt", "a\n").write(
        "Dockerfile",
        "FROM scratch AS Build\nCOPY a.txt /a\nFROM scratch\nCOPY --from=build /a /b\n",
    );
    let image = build_image(&kiln, &[context.arg()]);
    assert_eq!(image.paths(), ["b"]);
}
