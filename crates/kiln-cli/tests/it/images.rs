//! `kiln images`, `tag`, `rmi`, `history` and `inspect` on images built by
//! kiln, checked against the images themselves (read with kiln-testutil's
//! own layout reader) and against skopeo.

use std::process::Command;

use kiln_testutil::{parse_docker_table, require_tool, run_ok, Kiln, OciImage};
use serde_json::Value;

use crate::common::{example, json, project, s};

/// 2023-11-14T22:13:20Z: fixed `created` times, so rows sort by name.
const EPOCH: &str = "1700000000";

/// A store with `hello:1` (the hello example) and `copy:2` (copy-basic).
pub fn two_images() -> Kiln {
    let kiln = Kiln::new(env!("CARGO_BIN_EXE_kiln")).env("SOURCE_DATE_EPOCH", EPOCH);
    kiln.build(["-t", "hello:1", s(&example("hello"))]);
    kiln.build(["-t", "copy:2", s(&project("copy-basic"))]);
    kiln
}

/// The image behind a tag, read from the store as an OCI layout.
pub fn stored(kiln: &Kiln, tag: &str) -> OciImage {
    OciImage::from_dir_ref(kiln.store(), tag)
}

/// What `kiln images` reports as SIZE: compressed layers plus the config.
fn size_bytes(image: &OciImage) -> u64 {
    let layers: u64 = image.manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| layer["size"].as_u64().unwrap())
        .sum();
    layers + image.manifest["config"]["size"].as_u64().unwrap()
}

fn stdout_ok(kiln: &Kiln, args: &[&str]) -> String {
    let output = kiln.run(args);
    output.assert_success();
    output.stdout
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines().map(json).collect()
}

#[test]
fn images_lists_tags_like_docker() {
    let kiln = two_images();
    run_ok(
        kiln.cmd()
            .args(["tag", "hello:1", "quay.io/kiln/hello:latest"]),
    );
    let hello = stored(&kiln, "hello:1");
    let copy = stored(&kiln, "copy:2");
    let short = |image: &OciImage| image.config_digest["sha256:".len()..][..12].to_owned();

    let text = stdout_ok(&kiln, &["images"]);
    let table = parse_docker_table(&text);
    assert_eq!(
        table.header,
        ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
    );
    let header = text.lines().next().unwrap();
    assert!(
        header.starts_with("REPOSITORY           TAG       IMAGE ID       CREATED"),
        "{header:?}"
    );
    assert_eq!(
        table.column("REPOSITORY"),
        ["copy", "hello", "quay.io/kiln/hello"]
    );
    assert_eq!(table.column("TAG"), ["2", "1", "latest"]);
    assert_eq!(
        table.column("IMAGE ID"),
        [short(&copy), short(&hello), short(&hello)]
    );
    assert!(
        table
            .column("CREATED")
            .iter()
            .all(|cell| cell.ends_with(" years ago")),
        "{text}"
    );

    // JSON: docker's keys with full values; the table's SIZE is the JSON Size.
    let rows = json_lines(&stdout_ok(&kiln, &["images", "--format", "json"]));
    assert_eq!(rows.len(), 3);
    let keys: Vec<&str> = rows[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "CreatedAt",
            "CreatedSince",
            "Digest",
            "ID",
            "Repository",
            "Size",
            "SizeBytes",
            "Tag"
        ]
    );
    assert_eq!(rows[1]["ID"], hello.config_digest.as_str());
    assert_eq!(rows[1]["Digest"], hello.manifest_digest.as_str());
    assert_eq!(rows[1]["CreatedAt"], "2023-11-14 22:13:20 +0000 UTC");
    assert_eq!(rows[1]["SizeBytes"], size_bytes(&hello));
    assert_eq!(rows[0]["SizeBytes"], size_bytes(&copy));
    let sizes: Vec<&str> = rows
        .iter()
        .map(|row| row["Size"].as_str().unwrap())
        .collect();
    assert_eq!(table.column("SIZE"), sizes);

    // -q: each ID once, in table order; --no-trunc: full IDs.
    let quiet = stdout_ok(&kiln, &["images", "-q"]);
    assert_eq!(quiet, format!("{}\n{}\n", short(&copy), short(&hello)));
    let full = stdout_ok(&kiln, &["images", "-q", "--no-trunc"]);
    assert_eq!(
        full,
        format!("{}\n{}\n", copy.config_digest, hello.config_digest)
    );

    // --digests adds the manifest digest before IMAGE ID.
    let table = parse_docker_table(&stdout_ok(&kiln, &["images", "--digests"]));
    assert_eq!(
        table.header,
        ["REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"]
    );
    assert_eq!(
        table.column("DIGEST"),
        [
            copy.manifest_digest.clone(),
            hello.manifest_digest.clone(),
            hello.manifest_digest.clone()
        ]
    );

    // NAME filters by repository, or by repository and tag.
    let table = parse_docker_table(&stdout_ok(&kiln, &["images", "hello"]));
    assert_eq!(table.column("TAG"), ["1"]);
    let table = parse_docker_table(&stdout_ok(&kiln, &["images", "quay.io/kiln/hello:latest"]));
    assert_eq!(table.column("REPOSITORY"), ["quay.io/kiln/hello"]);
    let empty = stdout_ok(&kiln, &["images", "nothing"]);
    assert_eq!(empty.lines().count(), 1, "{empty}");

    // A template.
    let names = stdout_ok(&kiln, &["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(names, "copy:2\nhello:1\nquay.io/kiln/hello:latest\n");
}

#[test]
fn tag_and_rmi() {
    let kiln = two_images();
    let hello = stored(&kiln, "hello:1");
    let id = &hello.config_digest["sha256:".len()..];

    // SOURCE by ID prefix, by manifest digest, by name.
    run_ok(kiln.cmd().args(["tag", &id[..8], "hello:by-id"]));
    run_ok(
        kiln.cmd()
            .args(["tag", &hello.manifest_digest, "hello:by-digest"]),
    );
    run_ok(
        kiln.cmd()
            .args(["tag", "hello:1", "docker.io/library/hello"]),
    );
    assert_eq!(
        kiln.tags(),
        [
            "copy:2",
            "hello:1",
            "hello:by-digest",
            "hello:by-id",
            "hello:latest"
        ]
    );
    for tag in ["hello:by-id", "hello:by-digest", "hello:latest"] {
        assert_eq!(kiln.manifest_digest(tag).unwrap(), hello.manifest_digest);
    }
    let bad = kiln.run([
        "tag",
        "hello:1",
        &format!("hello@{}", hello.manifest_digest),
    ]);
    kiln_testutil::assert_clean_failure(&bad);
    let missing = kiln.run(["tag", "nope", "x:1"]);
    kiln_testutil::assert_clean_failure(&missing);
    assert!(
        missing.stderr.contains("no such image: nope:latest"),
        "{}",
        missing.stderr
    );

    // A name removes one tag; `hello` means hello:latest.
    let untagged = stdout_ok(&kiln, &["rmi", "hello", "hello:by-digest"]);
    assert_eq!(
        untagged,
        "Untagged: hello:latest\nUntagged: hello:by-digest\n"
    );

    // An ID shared by several tags needs -f, as in docker.
    let conflict = kiln.run(["rmi", id]);
    kiln_testutil::assert_clean_failure(&conflict);
    assert!(
        conflict.stderr.contains(&format!(
            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
            &id[..12]
        )),
        "{}",
        conflict.stderr
    );
    assert_eq!(kiln.tags().len(), 3);
    let forced = stdout_ok(&kiln, &["rmi", "-f", &id[..12]]);
    assert_eq!(forced, "Untagged: hello:1\nUntagged: hello:by-id\n");
    assert_eq!(kiln.tags(), ["copy:2"]);
    // The blobs stay for prune.
    let manifest_blob = kiln
        .store()
        .join("blobs/sha256")
        .join(&hello.manifest_digest["sha256:".len()..]);
    assert!(manifest_blob.is_file());

    // Unknown names fail with exit 1 but the others are still removed; -q is silent.
    let partial = kiln.run(["rmi", "-q", "nope:1", "copy:2"]);
    kiln_testutil::assert_clean_failure(&partial);
    assert!(
        partial.stderr.contains("error: no such image: nope:1"),
        "{}",
        partial.stderr
    );
    assert_eq!(partial.stdout, "");
    assert!(kiln.tags().is_empty());
}

#[test]
fn history_rows_follow_the_config() {
    let kiln = two_images();
    let copy = stored(&kiln, "copy:2");
    let history = copy.history();

    let rows = json_lines(&stdout_ok(
        &kiln,
        &["history", "--format", "json", "copy:2"],
    ));
    assert_eq!(rows.len(), history.len());
    let keys: Vec<&str> = rows[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "Comment",
            "CreatedAt",
            "CreatedBy",
            "CreatedSince",
            "ID",
            "Size",
            "SizeBytes"
        ]
    );
    // Newest first; non-empty entries get the layers' sizes, newest layer first.
    let mut layer_sizes: Vec<u64> = copy.manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| layer["size"].as_u64().unwrap())
        .collect();
    for (row, entry) in rows.iter().zip(history.iter().rev()) {
        assert_eq!(row["CreatedBy"], entry["created_by"]);
        assert_eq!(row["CreatedAt"], "2023-11-14T22:13:20Z");
        let expected = if entry["empty_layer"] == true {
            0
        } else {
            layer_sizes.pop().unwrap()
        };
        assert_eq!(row["SizeBytes"], expected, "{row}");
    }
    assert!(layer_sizes.is_empty(), "every layer has a history row");
    assert_eq!(rows[0]["ID"], copy.config_digest[7..19]);
    assert!(rows[1..].iter().all(|row| row["ID"] == "<missing>"));

    let text = stdout_ok(&kiln, &["history", "copy:2"]);
    let table = parse_docker_table(&text);
    assert_eq!(
        table.header,
        ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
    );
    assert_eq!(table.rows.len(), history.len());
    for (cell, row) in table.column("CREATED BY").iter().zip(&rows) {
        let full = row["CreatedBy"].as_str().unwrap();
        assert!(cell.chars().count() <= 45, "{cell}");
        if full.chars().count() > 45 {
            assert!(cell.ends_with('…') && full.starts_with(cell.trim_end_matches('…')));
        } else {
            assert_eq!(cell, full);
        }
    }
    assert_eq!(
        table.column("SIZE"),
        rows.iter()
            .map(|row| row["Size"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    );
    let no_trunc = parse_docker_table(&stdout_ok(&kiln, &["history", "--no-trunc", "copy:2"]));
    assert_eq!(no_trunc.rows[0][0], copy.config_digest);
    assert_eq!(
        no_trunc.column("CREATED BY"),
        rows.iter()
            .map(|row| row["CreatedBy"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    );
}

#[test]
fn inspect_matches_the_image_and_skopeo() {
    let kiln = two_images();
    run_ok(kiln.cmd().args(["tag", "hello:1", "hello:again"]));
    let hello = stored(&kiln, "hello:1");
    let array = json(&stdout_ok(&kiln, &["inspect", "hello:1"]));
    assert_eq!(array.as_array().map(Vec::len), Some(1));
    let object = &array[0];
    assert_eq!(object["Id"], hello.config_digest.as_str());
    assert_eq!(
        object["RepoTags"],
        serde_json::json!(["hello:1", "hello:again"])
    );
    assert_eq!(
        object["RepoDigests"],
        serde_json::json!([format!("hello@{}", hello.manifest_digest)])
    );
    assert_eq!(object["Created"], hello.config["created"]);
    assert_eq!(object["Architecture"], hello.config["architecture"]);
    assert_eq!(object["Os"], hello.config["os"]);
    assert_eq!(object["Config"]["Cmd"], hello.config["config"]["Cmd"]);
    assert_eq!(
        object["Config"]["Entrypoint"],
        hello.config["config"]["Entrypoint"]
    );
    assert_eq!(object["Config"]["Env"], hello.config["config"]["Env"]);
    assert_eq!(object["Config"]["User"], "1000:1000");
    assert_eq!(object["RootFS"]["Type"], "layers");
    assert_eq!(
        object["RootFS"]["Layers"],
        hello.config["rootfs"]["diff_ids"]
    );
    assert_eq!(object["History"], hello.config["history"]);
    assert_eq!(object["Size"], size_bytes(&hello));

    // Templates.
    let cmd = stdout_ok(
        &kiln,
        &["inspect", "--format", "{{.Config.Cmd}}", "hello:1"],
    );
    assert_eq!(cmd, "[--port 8080]\n");
    let entrypoint = stdout_ok(
        &kiln,
        &[
            "inspect",
            "-f",
            "{{json .Config.Entrypoint}} {{.Os}}",
            hello.config_digest.as_str(),
        ],
    );
    assert_eq!(entrypoint, "[\"/usr/local/bin/serve\"] linux\n");
    let unsupported = kiln.run([
        "inspect",
        "-f",
        "{{range .RepoTags}}{{.}}{{end}}",
        "hello:1",
    ]);
    kiln_testutil::assert_clean_failure(&unsupported);
    let missing = kiln.run(["inspect", "hello:1", "nope:1"]);
    kiln_testutil::assert_clean_failure(&missing);
    assert_eq!(json(&missing.stdout).as_array().map(Vec::len), Some(1));

    require_tool!("skopeo");
    let skopeo =
        json(&run_ok(Command::new("skopeo").args([
            "inspect",
            &format!("oci:{}:hello:1", s(kiln.store())),
        ])));
    assert_eq!(skopeo["Digest"], hello.manifest_digest.as_str());
    assert_eq!(skopeo["Architecture"], object["Architecture"]);
    assert_eq!(skopeo["Os"], object["Os"]);
    assert_eq!(skopeo["Env"], object["Config"]["Env"]);
    assert_eq!(
        skopeo["Created"]
            .as_str()
            .map(|c| c.trim_end_matches('Z').to_owned()),
        object["Created"]
            .as_str()
            .map(|c| c.trim_end_matches('Z').to_owned())
    );
    let layers: Vec<&str> = hello
        .layers
        .iter()
        .map(|layer| layer.digest.as_str())
        .collect();
    assert_eq!(skopeo["Layers"], serde_json::json!(layers));
}
