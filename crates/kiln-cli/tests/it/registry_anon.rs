//! `kiln build --push`, `kiln push`, `kiln pull` and FROM of a registry image
//! against an anonymous `docker-registry` on 127.0.0.1, checked with skopeo;
//! a fully cached build costs one manifest HEAD and `--pull=never` none.

use std::process::Command;

use std::sync::atomic::{AtomicUsize, Ordering};

use kiln_testutil::{
    require_tool, run_ok, BuildResult, Kiln, OciImage, Project, RegistryOptions, Request,
    TestRegistry, BUSYBOX_TAG,
};

use crate::common::{json, s};
use crate::registry_support::{build_small, isolated, pushed_digest, skopeo_digest};
use crate::run_common::busybox_archive;

#[test]
fn build_push_matches_skopeo_and_round_trips() {
    require_tool!("skopeo");
    let Some(registry) = TestRegistry::start(RegistryOptions::default()) else {
        return;
    };
    let kiln = isolated();
    let image = registry.image("app:1");

    // kiln build --push writes the pushed digest to the metadata file.
    let context = Project::empty();
    context.write("hello.txt", "hello registry\n");
    context.write("Dockerfile", "FROM scratch\nCOPY hello.txt /hello.txt\n");
    let metadata = kiln.path("m.json");
    kiln.build([
        "-t",
        &image,
        "--push",
        "--metadata-file",
        s(&metadata),
        context.arg(),
    ]);
    let written = json(&std::fs::read_to_string(&metadata).expect("read m.json"));
    let digest = written["containerimage.digest"]
        .as_str()
        .expect("containerimage.digest")
        .to_owned();
    assert_eq!(digest, skopeo_digest(&image, &[]), "{written}");
    assert_eq!(
        kiln.manifest_digest(&image).as_deref(),
        Some(digest.as_str())
    );

    // kiln push of a store image to another name: same manifest, same digest.
    let other = registry.image("team/other:2");
    let pushed = pushed_digest(&kiln.run(["push", "-q", &image, &other]));
    assert_eq!(pushed, digest);
    assert_eq!(skopeo_digest(&other, &[]), digest);

    // skopeo copies it back into an OCI layout unchanged.
    let layout = kiln.path("copied");
    run_ok(Command::new("skopeo").args([
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{other}"),
        &format!("oci:{}:copied", s(&layout)),
    ]));
    let copied = OciImage::from_dir_ref(&layout, "copied");
    assert_eq!(copied.manifest_digest, digest);
    assert_eq!(copied.text("hello.txt"), "hello registry\n");

    // kiln pull into a fresh store: the same digest, listed by kiln images.
    let fresh = isolated();
    let output = fresh.run(["pull", &image]);
    output.assert_success();
    assert!(
        output.stdout.contains(&format!("Digest: {digest}")),
        "{}",
        output.streams()
    );
    assert_eq!(
        fresh.manifest_digest(&image).as_deref(),
        Some(digest.as_str())
    );
    let images = fresh.run(["images"]);
    images.assert_success();
    assert!(
        images.stdout.contains(&registry.image("app")) && images.stdout.contains(" 1 "),
        "kiln images does not list the pulled image:\n{}",
        images.stdout
    );
    let pulled = OciImage::from_dir_ref(fresh.store(), &image);
    assert_eq!(pulled.text("hello.txt"), "hello registry\n");

    // A second pull finds everything; -q prints only the digest.
    let quiet = fresh.run(["pull", "-q", &image]);
    assert_eq!(pushed_digest(&quiet), digest);
}

#[test]
fn push_metadata_file_and_missing_image() {
    let Some(registry) = TestRegistry::start(RegistryOptions::default()) else {
        return;
    };
    let kiln = isolated();
    build_small(&kiln, "local:1", "local\n");
    let destination = registry.image("ns/local:7");
    let metadata = kiln.path("push.json");
    let output = kiln.run([
        "push",
        "local:1",
        &destination,
        "--metadata-file",
        s(&metadata),
    ]);
    output.assert_success();
    let expected = kiln.manifest_digest("local:1").expect("tagged");
    assert!(
        output.stdout.contains(&format!("@{expected}")),
        "{}",
        output.streams()
    );
    let written = json(&std::fs::read_to_string(&metadata).expect("read push.json"));
    assert_eq!(written["containerimage.digest"], expected.as_str());

    // Pushing a name the store lacks is a clean error naming it.
    let missing = kiln.run(["push", &registry.image("nothing:1")]);
    kiln_testutil::assert_clean_failure(&missing);
    assert!(
        missing.stderr.contains("nothing:1"),
        "{}",
        missing.streams()
    );
    // A pull of a tag the registry lacks names the registry and repository.
    let unknown = kiln.run(["pull", &registry.image("nothing:1")]);
    kiln_testutil::assert_clean_failure(&unknown);
    assert!(
        unknown.stderr.contains(registry.host()) && unknown.stderr.contains("nothing"),
        "{}",
        unknown.streams()
    );
}

/// The requests made after the first `skip`.
fn since(registry: &TestRegistry, skip: usize) -> Vec<Request> {
    registry.requests().into_iter().skip(skip).collect()
}

/// The manifest HEADs among `requests`; panics on any request that is
/// neither one nor the `/v2/` version check (a cached build downloads nothing).
fn manifest_heads(requests: &[Request]) -> usize {
    for request in requests {
        let head = request.method == "HEAD" && request.path.contains("/manifests/");
        let ping = request.method == "GET" && request.path == "/v2/";
        assert!(
            head || ping,
            "a cached build made {request:?}; all: {requests:#?}"
        );
    }
    requests
        .iter()
        .filter(|request| request.method == "HEAD")
        .count()
}

/// A registry holding busybox as `base/busybox:1`, and a fresh isolated
/// store; `None` when a tool is missing.
fn published_busybox() -> Option<(TestRegistry, String, Kiln)> {
    let archive = busybox_archive()?;
    let registry = TestRegistry::start(RegistryOptions::default())?;
    let publisher = isolated();
    let tarball = publisher.path("busybox.tar");
    std::fs::write(&tarball, archive).expect("write the busybox archive");
    publisher.load([s(&tarball)]);
    let base = registry.image("base/busybox:1");
    pushed_digest(&publisher.run(["push", "-q", BUSYBOX_TAG, &base]));
    Some((registry, base, isolated()))
}

/// `kiln build --isolation builtin --pull PULL` of `context` into an oci-dir.
fn build_with(kiln: &Kiln, context: &Project, pull: &str) -> (BuildResult, OciImage) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let layout = kiln.path(&format!("out-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
    let output_spec = format!("type=oci-dir,dest={}", s(&layout));
    let built = kiln.build([
        "--isolation",
        "builtin",
        "--pull",
        pull,
        "-t",
        "out:1",
        "-o",
        &output_spec,
        context.arg(),
    ]);
    (built, OciImage::from_dir(&layout))
}

#[test]
fn from_a_registry_image_pulls_then_caches() {
    let Some((mut registry, base, kiln)) = published_busybox() else {
        return;
    };
    // A fresh store builds FROM it (with a RUN) and COPY --from it.
    let context = Project::empty();
    context.write(
        "Dockerfile",
        format!(
            "FROM {base}\nRUN echo built > /built.txt\nCOPY --from={base} /etc/passwd /copied-passwd\n"
        ),
    );
    let (_, image) = build_with(&kiln, &context, "missing");
    assert_eq!(image.text("built.txt"), "built\n");
    assert!(image.text("copied-passwd").starts_with("root:"));
    assert!(
        kiln.manifest_digest(&base).is_some(),
        "the base is tagged in the store: {:?}",
        kiln.tags()
    );

    // Fully cached: manifest HEADs only, no download.
    let before = registry.requests().len();
    let (second, again) = build_with(&kiln, &context, "missing");
    assert_eq!(again.manifest["layers"], image.manifest["layers"]);
    assert!(
        second.output.stderr.contains("CACHED"),
        "{}",
        second.output.streams()
    );
    assert!(manifest_heads(&since(&registry, before)) >= 1);

    // --pull=always re-resolves: it HEADs the manifest again.
    let before = registry.requests().len();
    let (_, always) = build_with(&kiln, &context, "always");
    assert_eq!(always.manifest["layers"], image.manifest["layers"]);
    assert!(since(&registry, before)
        .iter()
        .any(|request| request.path.ends_with("/manifests/1")));

    // --pull=never makes no request, and works with the registry gone.
    let before = registry.requests().len();
    let (_, never) = build_with(&kiln, &context, "never");
    assert_eq!(never.manifest["layers"], image.manifest["layers"]);
    assert_eq!(since(&registry, before), Vec::new());
    registry.stop();
    let (_, offline) = build_with(&kiln, &context, "never");
    assert_eq!(offline.manifest["layers"], image.manifest["layers"]);
}

#[test]
fn a_cached_build_heads_each_base_once() {
    let Some((registry, base, kiln)) = published_busybox() else {
        return;
    };
    let context = Project::empty();
    context.write(
        "Dockerfile",
        format!("FROM {base}\nCOPY --from={base} /etc/passwd /copied-passwd\n"),
    );
    build_with(&kiln, &context, "missing");
    let before = registry.requests().len();
    build_with(&kiln, &context, "missing");
    assert_eq!(manifest_heads(&since(&registry, before)), 1);
}

#[test]
fn base_layers_are_fetched_only_when_a_step_needs_them() {
    let Some((registry, base, kiln)) = published_busybox() else {
        return;
    };
    // The builder's base is needed only by its RUN; the final image is scratch.
    let context = Project::empty();
    context.write(
        "Dockerfile",
        format!("FROM {base} AS builder\nRUN echo hi > /out\nFROM scratch\nCOPY --from=builder /out /out\n"),
    );
    let (_, first) = build_with(&kiln, &context, "missing");
    assert_eq!(first.text("out"), "hi\n");
    // Forget the base (its blobs go; the cache records keep the step layers).
    kiln.run(["rmi", &base]);
    kiln.run(["prune", "--all", "-f"]);
    let before = registry.requests().len();
    let (second, again) = build_with(&kiln, &context, "missing");
    assert_eq!(again.manifest["layers"], first.manifest["layers"]);
    assert!(
        second.output.stderr.contains("CACHED"),
        "{}",
        second.output.streams()
    );
    let layer_gets: Vec<Request> = since(&registry, before)
        .into_iter()
        .filter(|request| request.method == "GET" && request.path.contains("/blobs/"))
        .collect();
    // Only the base's config is read: every step hit, so no layer is needed.
    assert_eq!(layer_gets.len(), 1, "{layer_gets:#?}");
    let fsck = kiln.run(["store", "fsck"]);
    fsck.assert_success();
    assert!(fsck.stdout.contains("0 problem"), "{}", fsck.streams());
}
