//! Shared pieces of the registry suites: a `kiln` whose credential sources
//! (HOME, XDG_RUNTIME_DIR, REGISTRY_AUTH_FILE, DOCKER_CONFIG) are private to
//! the test, a tiny image to push, skopeo's view of a registry, and checks
//! that a secret was not written anywhere.

use std::path::Path;
use std::process::Command;

use kiln_testutil::{run_ok, Kiln, Output, Project};

use crate::common::{json, kiln, s};

/// A `kiln` with a fresh store and credential sources of its own:
/// `$HOME` = `home/`, `$XDG_RUNTIME_DIR` = `run/`, `$DOCKER_CONFIG` =
/// `docker/` (all in the scratch dir) and no `$REGISTRY_AUTH_FILE`.
pub fn isolated() -> Kiln {
    let kiln = kiln();
    let dirs = ["home", "run", "docker"].map(|name| {
        let dir = kiln.path(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        s(&dir).to_owned()
    });
    kiln.env("HOME", &dirs[0])
        .env("XDG_RUNTIME_DIR", &dirs[1])
        .env("DOCKER_CONFIG", &dirs[2])
        // kiln treats an empty variable as unset.
        .env("REGISTRY_AUTH_FILE", "")
}

/// Builds a one-layer image (`FROM scratch`, a file `/hello.txt` holding
/// `content`) tagged `tag` into the store; returns the image ID.
pub fn build_small(kiln: &Kiln, tag: &str, content: &str) -> String {
    let context = Project::empty();
    context.write("hello.txt", content);
    context.write("Dockerfile", "FROM scratch\nCOPY hello.txt /hello.txt\n");
    kiln.build(["-t", tag, context.arg()]).image_id
}

/// `kiln ARGS…` with `stdin`.
pub fn run_stdin(kiln: &Kiln, args: &[&str], stdin: &[u8]) -> Output {
    kiln_testutil::run_with_stdin(kiln.cmd().args(args), Some(stdin))
}

/// The manifest digest skopeo reads for `docker://IMAGE` (plain http).
pub fn skopeo_digest(image: &str, extra: &[&str]) -> String {
    let text = run_ok(
        Command::new("skopeo")
            .args(["inspect", "--tls-verify=false"])
            .args(extra)
            .arg(format!("docker://{image}")),
    );
    json(&text)["Digest"]
        .as_str()
        .unwrap_or_else(|| panic!("no Digest in skopeo's output: {text}"))
        .to_owned()
}

/// The digest `kiln push -q` printed.
pub fn pushed_digest(output: &Output) -> String {
    output.assert_success();
    kiln_testutil::assert_no_panic(output);
    let digest = output.stdout.trim().to_owned();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "kiln push -q printed no digest: {}",
        output.streams()
    );
    digest
}

/// Panics when `needle` occurs in any file under `dir`.
pub fn assert_not_in_tree(dir: &Path, needle: &[u8]) {
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                let bytes = std::fs::read(&path).unwrap_or_default();
                assert!(
                    !contains(&bytes, needle),
                    "{} holds the secret {:?}",
                    path.display(),
                    String::from_utf8_lossy(needle)
                );
            }
        }
    }
}

/// Panics when `secret` shows in either stream of `output`.
pub fn assert_not_in_output(output: &Output, secret: &str) {
    assert!(
        !output.stdout.contains(secret) && !output.stderr.contains(secret),
        "the secret shows in the output of {}:\n{}",
        output.command,
        output.streams()
    );
}

/// Whether `haystack` contains `needle`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

/// Standard base64 (with padding), as in Docker's `config.json` `auth` fields.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let value = chunk.iter().enumerate().fold(0u32, |acc, (i, byte)| {
            acc | u32::from(*byte) << (16 - 8 * i)
        });
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(value >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("u:p", "dTpw"),
        ];
        for (input, expected) in cases {
            assert_eq!(base64(input.as_bytes()), expected, "{input:?}");
        }
    }

    #[test]
    fn contains_finds_needles() {
        assert!(contains(b"abcdef", b"cde"));
        assert!(!contains(b"abcdef", b"xyz"));
        assert!(!contains(b"abc", b""));
    }
}
