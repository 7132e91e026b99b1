//! RUN basics under both isolations: shell and exec forms, SHELL, exit
//! status, streamed output, ENV and build args (proxies kept out of the
//! history), USER, WORKDIR and the /etc files a step sees.

use crate::run_common::{assert_not_in_layer, both_isolations, entry, streamed, Rig, BASE};

both_isolations!(
    shell_and_exec_forms,
    nonzero_exit_fails_with_line_status_and_output,
    env_and_build_args_reach_the_command,
    user_by_name_and_by_id,
    workdir_is_created_and_used,
    etc_files_present_during_run_but_not_in_layers,
    base_etc_hosts_is_shadowed_not_changed,
    multistage_copies_from_a_run_stage,
);

fn shell_and_exec_forms(rig: &Rig) {
    let built = rig.build_text(
        &format!(
            "FROM {BASE}\n\
             RUN echo \"$0\" > /default-shell && echo streamed-hello\n\
             RUN [\"/bin/sh\", \"-c\", \"echo \\\"$0 $1\\\" > /exec-form\", \"first\", \"second\"]\n\
             RUN [\"/bin/mkdir\", \"/made-by-exec\"]\n\
             SHELL [\"/bin/ash\", \"-e\", \"-c\"]\n\
             RUN echo \"$0\" > /changed-shell\n"
        ),
        &[],
    );
    assert_eq!(built.text("default-shell"), "/bin/sh\n");
    assert_eq!(built.text("exec-form"), "first second\n");
    assert_eq!(built.text("changed-shell"), "/bin/ash\n");
    let made = entry(built.layer_from_top(1), "made-by-exec");
    assert_eq!(made.entry.kind, kiln_testutil::EntryKind::Dir);
    // Every RUN made a layer, on top of the base image's.
    assert_eq!(built.image.layers.len(), crate::run_common::BASE_LAYERS + 4);
    assert!(
        streamed(&built.output, "streamed-hello"),
        "the RUN's output is not streamed as `#N streamed-hello`:\n{}",
        built.output.stderr
    );
}

fn nonzero_exit_fails_with_line_status_and_output(rig: &Rig) {
    let output = rig.fails_text(
        &format!(
            "FROM {BASE}\n\
             RUN true\n\
             RUN echo early-line && echo marker-before-failure >&2 && exit 3\n\
             RUN touch /never\n"
        ),
        &[],
    );
    let error = &output.stderr[output.stderr.find("error: ").expect("an error line")..];
    assert!(error.contains("Dockerfile:3"), "{error}");
    assert!(error.contains('3'), "no exit status: {error}");
    assert!(
        error.contains("exit code: 3") || error.contains("exit status 3"),
        "the exit status is not named: {error}"
    );
    assert!(
        error.contains("marker-before-failure") && error.contains("early-line"),
        "the last lines of output are not in the error: {error}"
    );
    assert!(
        streamed(&output, "early-line"),
        "output not streamed: {}",
        output.stderr
    );
    assert!(rig.kiln.tags().iter().all(|tag| !tag.ends_with("out:1")));
}

fn env_and_build_args_reach_the_command(rig: &Rig) {
    let proxy = "http://proxy.invalid:3128";
    let built = rig.build_text(
        &format!(
            "FROM {BASE}\n\
             ARG STAGE_ARG=default-value\n\
             ARG GIVEN\n\
             ENV FROM_ENV=env-value\n\
             RUN echo \"$STAGE_ARG|$GIVEN|$FROM_ENV|$PATH\" > /vars && env | grep -i _proxy= > /proxy-env\n"
        ),
        &[
            "--build-arg",
            "GIVEN=given-value",
            "--build-arg",
            &format!("HTTP_PROXY={proxy}"),
        ],
    );
    assert_eq!(
        built.text("vars"),
        "default-value|given-value|env-value|\
         /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
    );
    assert_eq!(built.text("proxy-env"), format!("HTTP_PROXY={proxy}\n"));
    let history = serde_json::to_string(&built.image.history()).expect("history JSON");
    assert!(
        !history.contains("proxy.invalid") && !history.contains("HTTP_PROXY="),
        "a proxy arg is in the history: {history}"
    );
    assert!(
        history.contains("GIVEN=given-value"),
        "the build arg in effect is not recorded: {history}"
    );
    let config = serde_json::to_string(&built.image.config).expect("config JSON");
    assert!(!config.contains("proxy.invalid"), "{config}");
    let env = built.image.runtime("Env").to_string();
    assert!(
        !env.contains("GIVEN") && !env.contains("STAGE_ARG") && env.contains("FROM_ENV=env-value"),
        "build args leaked into Env: {env}"
    );
}

fn user_by_name_and_by_id(rig: &Rig) {
    let probe =
        "echo \"$(id -u) $(id -g) [$(id -G | tr ' ' '\\n' | sort -n | tr '\\n' ' ')] $HOME\"";
    let built = rig.build_text(
        &format!(
            "FROM {BASE}\n\
             RUN mkdir -m 777 /out\n\
             RUN {probe} > /out/root\n\
             USER app\n\
             RUN {probe} > /out/by-name\n\
             USER 1000\n\
             RUN {probe} > /out/by-uid\n\
             USER 1000:1000\n\
             RUN {probe} > /out/by-uid-gid\n\
             USER app:staff\n\
             RUN {probe} > /out/by-names\n\
             USER 4242:4343\n\
             RUN {probe} > /out/unknown\n\
             USER app\n\
             RUN touch /home/app/owned\n"
        ),
        &[],
    );
    for (file, expected) in [
        ("root", "0 0 [0 ] /root"),
        // The implicit form gets app's supplementary groups (audio 29, staff 50).
        ("by-name", "1000 1000 [29 50 1000 ] /home/app"),
        ("by-uid", "1000 1000 [29 50 1000 ] /home/app"),
        // An explicit group means no supplementary groups (as runc and BuildKit).
        ("by-uid-gid", "1000 1000 [1000 ] /home/app"),
        ("by-names", "1000 50 [50 ] /home/app"),
        ("unknown", "4242 4343 [4343 ] /"),
    ] {
        assert_eq!(
            built.text(&format!("out/{file}")),
            format!("{expected}\n"),
            "USER for {file}"
        );
    }
    let owned = entry(built.layer_from_top(0), "home/app/owned");
    assert_eq!((owned.entry.uid, owned.entry.gid), (1000, 1000));
}

fn workdir_is_created_and_used(rig: &Rig) {
    let built = rig.build_text(
        &format!(
            "FROM {BASE}\n\
             WORKDIR /new/deep/dir\n\
             RUN pwd > /pwd-out && touch here\n\
             WORKDIR relative\n\
             RUN pwd > /pwd-relative\n"
        ),
        &[],
    );
    assert_eq!(built.text("pwd-out"), "/new/deep/dir\n");
    assert_eq!(built.text("pwd-relative"), "/new/deep/dir/relative\n");
    assert!(built.image.file("new/deep/dir/here").is_some());
    let dir = built
        .image
        .file("new/deep/dir")
        .expect("the WORKDIR is in a layer");
    assert_eq!(dir.entry.kind, kiln_testutil::EntryKind::Dir);
}

fn etc_files_present_during_run_but_not_in_layers(rig: &Rig) {
    let built = rig.build_text(
        &format!(
            "FROM {BASE}\n\
             RUN test -s /etc/hosts && test -s /etc/resolv.conf -o -e /etc/resolv.conf && \
             test -s /etc/hostname && grep -q localhost /etc/hosts && \
             cp /etc/hosts /hosts-copy && hostname > /hostname-copy && \
             ls /etc > /etc-listing\n"
        ),
        &[],
    );
    let layer = built.layer_from_top(0);
    let mut paths = crate::run_common::layer_paths(layer);
    paths.sort_unstable();
    assert_eq!(
        paths,
        ["etc-listing", "hostname-copy", "hosts-copy"],
        "the layer holds only what the RUN wrote"
    );
    for path in ["etc/hosts", "etc/resolv.conf", "etc/hostname"] {
        for layer in &built.image.layers {
            assert_not_in_layer(layer, path);
        }
    }
    // The sandbox's own mount points (the base has none of them) stay out.
    for path in ["proc", "dev", "sys", "run"] {
        assert_not_in_layer(layer, path);
    }
    assert!(built.text("hosts-copy").contains("localhost"));
    assert!(!built.text("hostname-copy").trim().is_empty());
    let listing = built.text("etc-listing");
    for name in ["hosts", "hostname", "resolv.conf", "passwd"] {
        assert!(
            listing.lines().any(|line| line == name),
            "{name} not seen during RUN: {listing}"
        );
    }
}

fn multistage_copies_from_a_run_stage(rig: &Rig) {
    let built = rig.build_text(
        &format!(
            "FROM {BASE} AS builder\n\
             RUN mkdir -p /out && echo built-in-builder > /out/artifact && \
             chmod 640 /out/artifact && ln -s artifact /out/link && touch /out/not-copied-later\n\
             RUN rm /out/not-copied-later\n\
             FROM {BASE}\n\
             COPY --from=builder /out/ /app/\n\
             RUN cat /app/link > /seen\n"
        ),
        &[],
    );
    assert_eq!(
        built.image.layers.len(),
        crate::run_common::BASE_LAYERS + 2,
        "the builder's layers are not in the final image"
    );
    let copied = built.layer_from_top(1);
    let artifact = entry(copied, "app/artifact");
    assert_eq!(artifact.content, b"built-in-builder\n");
    assert_eq!(artifact.entry.mode, 0o640);
    let link = entry(copied, "app/link");
    assert_eq!(link.entry.link.as_deref(), Some("artifact"));
    assert_not_in_layer(copied, "app/not-copied-later");
    assert_eq!(built.text("seen"), "built-in-builder\n");
}

fn base_etc_hosts_is_shadowed_not_changed(rig: &Rig) {
    // The base has its own /etc/hosts: the step sees kiln's, and the image
    // keeps the base's, with no /etc/hosts entry in the RUN's layer.
    let context = kiln_testutil::Project::empty();
    context.write("hosts", "10.0.0.1 base-entry\n").write(
        "Dockerfile",
        format!(
            "FROM {BASE}\n\
                 COPY hosts /etc/hosts\n\
                 RUN grep -q localhost /etc/hosts && ! grep -q base-entry /etc/hosts && \
                 touch /ran\n"
        ),
    );
    let built = rig.build(context.path(), &[]);
    let layer = built.layer_from_top(0);
    assert_eq!(crate::run_common::layer_paths(layer), ["ran"]);
    assert_eq!(built.text("etc/hosts"), "10.0.0.1 base-entry\n");
}
