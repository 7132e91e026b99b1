//! Reproducible builds: with SOURCE_DATE_EPOCH, the same inputs give the same
//! digests in two stores, even after the context's mtimes change.

use std::process::Command;

use kiln_testutil::{run_ok, Kiln, OciImage, Project};

use crate::common::{example, s};

const EPOCH: &str = "1700000000";

fn build_with_epoch(context: &Project) -> (OciImage, String) {
    let kiln = Kiln::new(env!("CARGO_BIN_EXE_kiln")).env("SOURCE_DATE_EPOCH", EPOCH);
    let dest = kiln.path("out");
    let built = kiln.build([
        "-t",
        "repro:1",
        "-o",
        &format!("type=oci-dir,dest={}", s(&dest)),
        context.arg(),
    ]);
    let image = OciImage::from_dir(&dest);
    assert_eq!(
        kiln.manifest_digest("repro:1").as_deref(),
        Some(image.manifest_digest.as_str())
    );
    (image, built.image_id)
}

#[test]
fn same_digest_in_two_stores_after_touching_the_context() {
    let context = Project::copy_from(&example("hello"));
    let (first, first_id) = build_with_epoch(&context);

    // Newer mtimes everywhere: they are clamped to the epoch, so nothing changes.
    run_ok(
        Command::new("touch")
            .arg("-d")
            .arg("2030-01-01T00:00:00Z")
            .arg(context.join("serve.sh"))
            .arg(context.join("site/index.html")),
    );
    let (second, second_id) = build_with_epoch(&context);

    assert_eq!(first.manifest_digest, second.manifest_digest);
    assert_eq!(first_id, second_id);
    assert_eq!(first.config["created"], "2023-11-14T22:13:20Z");
    for entry in first.history() {
        assert_eq!(entry["created"], "2023-11-14T22:13:20Z", "{entry}");
    }
    let epoch: u64 = EPOCH.parse().unwrap();
    for layer in &first.layers {
        for file in &layer.files {
            assert!(
                file.entry.mtime <= epoch,
                "mtime not clamped: {} at {}",
                file.entry,
                file.entry.mtime
            );
        }
    }
}

#[test]
fn changed_content_changes_the_digest() {
    let context = Project::copy_from(&example("hello"));
    let (first, _) = build_with_epoch(&context);
    context.write("site/index.html", "<p>changed</p>\n");
    let (second, _) = build_with_epoch(&context);
    assert_ne!(first.manifest_digest, second.manifest_digest);
    assert_eq!(second.text("srv/site/index.html"), "<p>changed</p>\n");
}

/// The layers of testdata/examples/hello, entry by entry, and the manifest
/// digest, pinned in `tests/it/goldens/hello.txt` (`KILN_BLESS=1` rewrites it).
#[test]
fn hello_layers_and_digest_are_pinned() {
    let context = Project::copy_from(&example("hello"));
    let (image, image_id) = build_with_epoch(&context);
    let mut dump = format!("manifest {}\nconfig {image_id}\n", image.manifest_digest);
    for (index, layer) in image.layers.iter().enumerate() {
        dump.push_str(&format!(
            "layer {index} {} {}\n",
            layer.media_type, layer.digest
        ));
        for file in &layer.files {
            dump.push_str(&format!("  {} mtime={}\n", file.entry, file.entry.mtime));
        }
    }
    let golden =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/goldens/hello.txt");
    kiln_testutil::assert_golden(&golden, &dump);
}
