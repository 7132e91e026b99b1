//! COPY --from: stages by name and index, images in the store, named local
//! and oci-layout build contexts; unknown sources fail cleanly.

use kiln_testutil::Project;

use crate::common::{build_image, build_users_base, kiln, project, s};

#[test]
fn copy_from_stages_images_and_named_contexts() {
    let kiln = kiln();
    build_users_base(&kiln);
    // An OCI layout holding users:1 under the ref name "1".
    let layout = kiln.path("users-layout");
    kiln.build([
        "-t",
        "users:1",
        "-o",
        &format!("type=oci-dir,dest={}", s(&layout)),
        s(&project("users-base")),
    ]);
    let extra = Project::empty();
    extra.write("extra.txt", "from the named context\n");

    let image = build_image(
        &kiln,
        &[
            "--build-context",
            &format!("extra={}", extra.arg()),
            "--build-context",
            &format!("layout=oci-layout://{}:1", s(&layout)),
            s(&project("copy-from")),
        ],
    );
    let group = std::fs::read_to_string(project("users-base/etc/group")).unwrap();
    let passwd = std::fs::read_to_string(project("users-base/etc/passwd")).unwrap();
    let context_file = std::fs::read_to_string(project("copy-from/files/ctx.txt")).unwrap();
    let expected = [
        ("by-name.txt", context_file.as_str()),
        ("by-index.txt", context_file.as_str()),
        ("from-image-group", group.as_str()),
        ("from-context.txt", "from the named context\n"),
        ("from-layout-passwd", passwd.as_str()),
    ];
    assert_eq!(image.layers.len(), expected.len());
    for (index, (path, content)) in expected.iter().enumerate() {
        assert_eq!(image.layers[index].files.len(), 1, "layer {index}");
        assert_eq!(image.layers[index].files[0].entry.path, *path);
        assert_eq!(
            String::from_utf8_lossy(&image.layers[index].files[0].content),
            *content,
            "{path}"
        );
    }
    assert!(
        image.file("first.txt").is_none(),
        "the stages' own files stay out of the final image"
    );
}

#[test]
fn from_a_stage_based_on_a_store_image() {
    let kiln = kiln();
    build_users_base(&kiln);
    let context = Project::empty();
    context.write(
        "Dockerfile",
        "FROM users:1 AS base\nFROM base\nCOPY --from=base /etc/passwd /copy-of-passwd\n",
    );
    let image = build_image(&kiln, &[context.arg()]);
    assert_eq!(image.layers.len(), 2);
    assert_eq!(
        image.text("copy-of-passwd"),
        std::fs::read_to_string(project("users-base/etc/passwd")).unwrap()
    );
}

#[test]
fn copy_from_an_image_not_in_the_store_is_an_error() {
    let kiln = kiln();
    let context = Project::empty();
    context.write(
        "Dockerfile",
        "FROM scratch\nCOPY --from=nosuchimage:9 /x /x\n",
    );
    let output = kiln.build_fails([context.arg()]);
    assert!(output.stderr.contains("nosuchimage"), "{}", output.stderr);
}
