//! RUN flags under both isolations: `--network`, `--mount=type=cache|secret|
//! bind|tmpfs`, heredocs, and the flags kiln refuses (each named in the error).

use std::collections::BTreeSet;
use std::path::Path;

use kiln_testutil::{sha256_hex, Project};

use crate::common::project;
use crate::run_common::{assert_not_in_layer, both_isolations, Built, Rig, BASE};

both_isolations!(
    network_none_has_only_loopback,
    global_network_none,
    cache_mount_survives_builds_and_stays_out_of_layers,
    secrets_reach_the_command_and_nothing_else,
    required_secret_missing_fails,
    bind_and_tmpfs_mounts,
    bind_mount_from_a_stage,
    heredocs,
    unsupported_flags_are_named,
);

/// The interface names in a `/proc/net/dev` listing.
fn interfaces(text: &str) -> BTreeSet<String> {
    text.lines()
        .skip(2)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, _)| name.trim().to_owned())
        .collect()
}

fn network_none_has_only_loopback(rig: &Rig) {
    let built = rig.build_text(
        &format!(
            "FROM {BASE}\n\
             RUN --network=none cat /proc/net/dev > /net-none\n\
             RUN --network=host cat /proc/net/dev > /net-host\n\
             RUN --network=default cat /proc/net/dev > /net-default\n\
             RUN cat /proc/net/dev > /net-unset\n"
        ),
        &[],
    );
    assert_eq!(
        interfaces(&built.text("net-none")),
        BTreeSet::from(["lo".to_owned()])
    );
    let host = interfaces(&std::fs::read_to_string("/proc/net/dev").expect("/proc/net/dev"));
    for file in ["net-host", "net-default", "net-unset"] {
        assert_eq!(
            interfaces(&built.text(file)),
            host,
            "{file}: the host's network"
        );
    }
}

fn global_network_none(rig: &Rig) {
    let built = rig.build_text(
        &format!("FROM {BASE}\nRUN cat /proc/net/dev > /net\n"),
        &["--network", "none"],
    );
    assert_eq!(
        interfaces(&built.text("net")),
        BTreeSet::from(["lo".to_owned()])
    );
}

fn assert_no_path_anywhere(built: &Built, paths: &[&str]) {
    for layer in &built.image.layers {
        for path in paths {
            assert_not_in_layer(layer, path);
        }
    }
}

fn cache_mount_survives_builds_and_stays_out_of_layers(rig: &Rig) {
    let first = rig.build_text(
        &format!(
            "FROM {BASE}\n\
             RUN --mount=type=cache,target=/cache echo cache-$((6 * 7)) > /cache/f && ls /cache > /seen1\n\
             RUN --mount=type=cache,id=owned,target=/owned,uid=1000,gid=1000,mode=0700 \
             stat -c '%u:%g %a' /owned > /owned-stat\n"
        ),
        &[],
    );
    assert_eq!(first.text("seen1"), "f\n");
    assert_eq!(first.text("owned-stat"), "1000:1000 700\n");
    // A different command (no cache hit), same store: the cache is still there.
    let second = rig.build_text(
        &format!(
            "FROM {BASE}\n\
             RUN --mount=type=cache,target=/cache,sharing=locked cat /cache/f > /seen2\n"
        ),
        &[],
    );
    assert_eq!(second.text("seen2"), "cache-42\n");
    for built in [&first, &second] {
        assert_no_path_anywhere(built, &["cache", "owned"]);
    }
    assert!(
        !contains(&first.everything(), "cache-42"),
        "the cache's content is in a layer"
    );
}

const FILE_SECRET: &str = "file-secret-7f3a9c41";
const ENV_SECRET: &str = "env-secret-91bd22e0";

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// Every regular file under `dir` that contains `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                pending.push(path);
            } else if meta.is_file()
                && meta.len() < 64 << 20
                && std::fs::read(&path).is_ok_and(|bytes| contains(&bytes, needle))
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

fn secrets_reach_the_command_and_nothing_else(rig: &Rig) {
    let context = Project::empty();
    let secret_file = rig.kiln.path("secret.txt");
    std::fs::write(&secret_file, FILE_SECRET).expect("write the secret");
    context.write(
        "Dockerfile",
        format!(
            "FROM {BASE}\n\
             RUN --mount=type=secret,id=filesecret sha256sum /run/secrets/filesecret | cut -d' ' -f1 > /file-hash\n\
             RUN --mount=type=secret,id=envsecret,env=SECRET_IN_RUN printf %s \"$SECRET_IN_RUN\" | sha256sum | cut -d' ' -f1 > /env-hash\n\
             RUN --mount=type=secret,id=filesecret,target=/custom/place,mode=0400 \
             stat -c '%a' /custom/place > /custom-mode && sha256sum /custom/place | cut -d' ' -f1 > /custom-hash\n\
             RUN --mount=type=secret,id=filesecret,uid=1000,gid=50,mode=0440 \
             stat -c '%u:%g %a' /run/secrets/filesecret > /owned-secret\n\
             RUN --mount=type=secret,id=absent (test -e /run/secrets/absent && echo present || echo absent) > /absent-secret\n"
        ),
    );
    let file_arg = format!("id=filesecret,src={}", secret_file.display());
    let built = rig.build_env(
        context.path(),
        &[
            "--secret",
            &file_arg,
            "--secret",
            "id=envsecret,env=KILN_TEST_SECRET_VAR",
        ],
        &[("KILN_TEST_SECRET_VAR", ENV_SECRET)],
    );
    let file_hash = sha256_hex(FILE_SECRET.as_bytes());
    assert_eq!(built.text("file-hash"), format!("{file_hash}\n"));
    assert_eq!(
        built.text("env-hash"),
        format!("{}\n", sha256_hex(ENV_SECRET.as_bytes()))
    );
    assert_eq!(built.text("custom-hash"), format!("{file_hash}\n"));
    assert_eq!(built.text("custom-mode"), "400\n");
    assert_eq!(built.text("owned-secret"), "1000:50 440\n");
    assert_eq!(
        built.text("absent-secret"),
        "absent\n",
        "a missing optional secret is skipped"
    );
    assert_no_path_anywhere(&built, &["run", "custom"]);
    let everything = built.everything();
    for secret in [FILE_SECRET, ENV_SECRET] {
        assert!(!contains(&everything, secret), "{secret} is in the image");
        assert!(
            !built.output.stderr.contains(secret) && !built.output.stdout.contains(secret),
            "{secret} is in the build output"
        );
        let leaked = files_containing(rig.kiln.store(), secret);
        assert!(leaked.is_empty(), "{secret} is in the store: {leaked:?}");
    }
    let history = serde_json::to_string(&built.image.history()).expect("history JSON");
    assert!(!history.contains("KILN_TEST_SECRET_VAR"), "{history}");
}

fn required_secret_missing_fails(rig: &Rig) {
    let output = rig.fails_text(
        &format!(
            "FROM {BASE}\n\
             RUN --mount=type=secret,id=needed,required=true cat /run/secrets/needed\n"
        ),
        &[],
    );
    assert!(output.stderr.contains("Dockerfile:2"), "{}", output.stderr);
    assert!(
        output.stderr.contains("needed"),
        "the secret is not named: {}",
        output.stderr
    );
}

fn bind_and_tmpfs_mounts(rig: &Rig) {
    let context = Project::copy("run-mounts");
    let built = rig.build(context.path(), &[]);
    for (file, expected) in [
        ("bind-read", "hello from context"),
        ("bind-ro", "readonly"),
        ("bind-whole", "hello from context"),
        ("rw-seen", "scribble"),
        ("after-rw", "hello from context"),
        ("rw-added", "discarded"),
        ("tmpfs-type", "tmpfs"),
        ("tmpfs-after", "gone"),
    ] {
        assert_eq!(built.text(file), format!("{expected}\n"), "{file}");
    }
    assert_no_path_anywhere(&built, &["src", "whole", "scratch"]);
    assert_eq!(
        std::fs::read_to_string(context.join("ctx/hello.txt")).expect("context file"),
        std::fs::read_to_string(project("run-mounts").join("ctx/hello.txt")).expect("fixture"),
        "an rw bind mount must not write to the context"
    );
    assert!(!context.join("ctx/added").exists());
    assert!(!context.join("ctx/new").exists());
}

fn bind_mount_from_a_stage(rig: &Rig) {
    let built = rig.build_text(
        &format!(
            "FROM {BASE} AS builder\n\
             RUN mkdir /art && echo artifact > /art/a.txt\n\
             FROM {BASE}\n\
             RUN --mount=type=bind,from=builder,source=/art,target=/mnt/art \
             cat /mnt/art/a.txt > /from-stage && \
             (touch /mnt/art/new 2>/dev/null && echo writable || echo readonly) > /from-stage-ro\n"
        ),
        &[],
    );
    assert_eq!(built.text("from-stage"), "artifact\n");
    assert_eq!(built.text("from-stage-ro"), "readonly\n");
    assert_no_path_anywhere(&built, &["mnt", "art"]);
}

fn heredocs(rig: &Rig) {
    let built = rig.build_text(
        &format!(
            "FROM {BASE}\n\
             ENV GREETING=hello\n\
             RUN <<EOF\n\
             echo one > /h1\n\
             echo \"$GREETING two\" > /h2\n\
             EOF\n\
             RUN <<EOF\n\
             #!/bin/awk -f\n\
             BEGIN {{ print \"from awk\" > \"/awk-out\" }}\n\
             EOF\n\
             RUN cat <<A > /a && cat <<B > /b\n\
             alpha\n\
             A\n\
             beta\n\
             B\n"
        ),
        &[],
    );
    for (file, expected) in [
        ("h1", "one\n"),
        ("h2", "hello two\n"),
        ("awk-out", "from awk\n"),
        ("a", "alpha\n"),
        ("b", "beta\n"),
    ] {
        assert_eq!(built.text(file), expected, "{file}");
    }
}

fn unsupported_flags_are_named(rig: &Rig) {
    for (flag, name) in [
        ("--security=insecure", "security"),
        ("--device=/dev/fuse", "device"),
        ("--mount=type=ssh", "ssh"),
    ] {
        let output = rig.fails_text(&format!("FROM {BASE}\nRUN {flag} true\n"), &[]);
        let error = &output.stderr[output.stderr.find("error: ").unwrap_or(0)..];
        assert!(
            error.contains(name) && error.contains("Dockerfile:2"),
            "RUN {flag}: the error does not name the flag: {error}"
        );
    }
}
