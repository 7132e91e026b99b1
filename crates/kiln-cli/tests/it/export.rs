//! The exporters, checked with outside tools: oci-archive (skopeo,
//! oci-image-tool, umoci), docker-archive (skopeo), oci-dir and the store.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use kiln_testutil::{require_tool, run_ok, EntryKind, OciImage};

use crate::common::{example, json, kiln, s, untar};

const HELLO_TAG: &str = "hello:1";

fn hello_site(file: &str) -> String {
    std::fs::read_to_string(example("hello").join("site").join(file)).expect("example file")
}

#[test]
fn hello_oci_archive_config_seen_by_skopeo() {
    require_tool!("skopeo");
    let kiln = kiln();
    let archive = kiln.path("hello.tar");
    let built = kiln.build([
        "-t",
        HELLO_TAG,
        "-o",
        &format!("type=oci,dest={}", s(&archive)),
        s(&example("hello")),
    ]);

    let config = json(&run_ok(Command::new("skopeo").args([
        "inspect",
        "--config",
        &format!("oci-archive:{}", s(&archive)),
    ])));
    let runtime = &config["config"];
    assert_eq!(
        runtime["Env"],
        serde_json::json!([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "SITE_DIR=/srv/site"
        ])
    );
    assert_eq!(runtime["WorkingDir"], "/srv/site");
    assert_eq!(runtime["User"], "1000:1000");
    assert_eq!(runtime["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
    assert_eq!(
        runtime["Entrypoint"],
        serde_json::json!(["/usr/local/bin/serve"])
    );
    assert_eq!(runtime["Cmd"], serde_json::json!(["--port", "8080"]));
    assert_eq!(runtime["Labels"]["org.opencontainers.image.title"], "hello");
    assert_eq!(
        runtime["Labels"]["org.opencontainers.image.description"],
        "static files, built by kiln"
    );

    let inspect = json(&run_ok(
        Command::new("skopeo").args(["inspect", &format!("oci-archive:{}", s(&archive))]),
    ));
    // WORKDIR (missing dir), COPY --from=assets, COPY serve.sh.
    assert_eq!(
        inspect["Layers"].as_array().map(Vec::len),
        Some(3),
        "{inspect}"
    );
    let image = OciImage::from_archive(&archive);
    assert_eq!(inspect["Digest"], image.manifest_digest.as_str());
    assert_eq!(image.config_digest, built.image_id);
}

#[test]
fn hello_oci_archive_validates_and_unpacks() {
    require_tool!("oci-image-tool", "umoci", "tar");
    let kiln = kiln();
    let archive = kiln.path("hello.tar");
    kiln.build([
        "-t",
        HELLO_TAG,
        "-o",
        &format!("type=oci,dest={}", s(&archive)),
        s(&example("hello")),
    ]);
    let layout = untar(&kiln, &archive, "layout");
    run_ok(
        Command::new("oci-image-tool")
            .args(["validate", "--type", "image", "--ref", "name=1"])
            .arg(&layout),
    );

    let bundle = kiln.path("bundle");
    run_ok(Command::new("umoci").args([
        "unpack",
        "--rootless",
        "--image",
        &format!("{}:1", s(&layout)),
        s(&bundle),
    ]));
    let rootfs = bundle.join("rootfs");
    for file in ["index.html", "style.css"] {
        assert_eq!(
            std::fs::read_to_string(rootfs.join("srv/site").join(file)).unwrap(),
            hello_site(file),
            "{file}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(rootfs.join("srv/site/VERSION")).unwrap(),
        "1.0\n"
    );
    let mode = |path: &str| {
        std::fs::metadata(rootfs.join(path))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("usr/local/bin/serve"), 0o755);
    assert_eq!(mode("srv/site/index.html"), 0o644);
    assert_eq!(
        std::fs::read(rootfs.join("usr/local/bin/serve")).unwrap(),
        std::fs::read(example("hello").join("serve.sh")).unwrap()
    );

    // The layer tars themselves: everything owned by 0:0, the tree as expected.
    let image = OciImage::from_archive(&archive);
    for layer in &image.layers {
        for file in &layer.files {
            assert_eq!((file.entry.uid, file.entry.gid), (0, 0), "{}", file.entry);
        }
    }
    let serve = image.file("usr/local/bin/serve").expect("serve in a layer");
    assert_eq!(
        (serve.entry.kind, serve.entry.mode),
        (EntryKind::File, 0o755)
    );
    assert!(image.file("srv/site/VERSION").is_some());
    assert!(
        image.file("srv/site/site").is_none(),
        "COPY site/ copies the contents"
    );
}

#[test]
fn docker_archive_has_the_same_config_as_the_oci_archive() {
    require_tool!("skopeo");
    let kiln = kiln();
    let oci = kiln.path("hello-oci.tar");
    let docker = kiln.path("hello-docker.tar");
    let built = kiln.build([
        "-t",
        HELLO_TAG,
        "-o",
        &format!("type=oci,dest={}", s(&oci)),
        "-o",
        &format!("type=docker,dest={}", s(&docker)),
        s(&example("hello")),
    ]);
    let raw_config = |transport: &str, path: &std::path::Path| {
        let output = kiln_testutil::run(Command::new("skopeo").args([
            "inspect",
            "--raw",
            "--config",
            &format!("{transport}:{}", s(path)),
        ]));
        output.assert_success();
        format!(
            "sha256:{}",
            kiln_testutil::sha256_hex(output.stdout.as_bytes())
        )
    };
    assert_eq!(raw_config("docker-archive", &docker), built.image_id);
    assert_eq!(raw_config("oci-archive", &oci), built.image_id);
    let inspect =
        json(&run_ok(Command::new("skopeo").args([
            "inspect",
            &format!("docker-archive:{}", s(&docker)),
        ])));
    // (skopeo reports no RepoTags for archives; manifest.json's are checked below.)
    assert_eq!(inspect["Env"][1], "SITE_DIR=/srv/site", "{inspect}");
    assert_eq!(inspect["Layers"].as_array().map(Vec::len), Some(3));
}

#[test]
fn docker_archive_manifest_json_names_config_and_tag() {
    let kiln = kiln();
    let docker = kiln.path("hello-docker.tar");
    let built = kiln.build([
        "-t",
        HELLO_TAG,
        "-o",
        &format!("type=docker,dest={}", s(&docker)),
        s(&example("hello")),
    ]);
    let files = kiln_testutil::list_tar(&std::fs::read(&docker).unwrap());
    let manifest = files
        .iter()
        .find(|file| file.entry.path == "manifest.json")
        .expect("manifest.json");
    let manifest = json(&String::from_utf8_lossy(&manifest.content));
    let config_path = manifest[0]["Config"].as_str().expect("Config");
    assert!(
        config_path.ends_with(built.image_id.trim_start_matches("sha256:").trim_end()),
        "{config_path}"
    );
    assert_eq!(manifest[0]["RepoTags"], serde_json::json!(["hello:1"]));
    let layers = manifest[0]["Layers"].as_array().expect("Layers");
    assert_eq!(layers.len(), 3);
    for layer in layers {
        assert!(
            files
                .iter()
                .any(|file| file.entry.path == layer.as_str().unwrap()),
            "missing {layer}"
        );
    }
}

#[test]
fn oci_dir_validates_and_the_store_is_a_layout() {
    require_tool!("oci-image-tool", "skopeo");
    let kiln = kiln();
    let dir = kiln.path("hello-dir");
    let built = kiln.build([
        "-t",
        HELLO_TAG,
        "-o",
        &format!("type=oci-dir,dest={}", s(&dir)),
        s(&example("hello")),
    ]);
    run_ok(
        Command::new("oci-image-tool")
            .args(["validate", "--type", "image", "--ref", "name=1"])
            .arg(&dir),
    );
    let from_dir = OciImage::from_dir(&dir);
    assert_eq!(from_dir.config_digest, built.image_id);

    assert_eq!(kiln.tags(), ["hello:1"]);
    let inspect =
        json(&run_ok(Command::new("skopeo").args([
            "inspect",
            &format!("oci:{}:{HELLO_TAG}", s(kiln.store())),
        ])));
    let stored = OciImage::from_dir_ref(kiln.store(), HELLO_TAG);
    assert_eq!(inspect["Digest"], stored.manifest_digest.as_str());
    assert_eq!(stored.config_digest, built.image_id);
    assert_eq!(inspect["Env"][1], "SITE_DIR=/srv/site");
}
