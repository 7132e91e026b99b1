//! A `docker-registry` serving TLS with a certificate from a CA made by the
//! test: `--cert-dir` trusts it, without it the push is a clear certificate
//! error, and `--tls-verify=false` skips the check.

use kiln_testutil::{assert_clean_failure, RegistryOptions, TestRegistry};

use crate::common::s;
use crate::registry_support::{build_small, isolated, pushed_digest};

#[test]
fn cert_dir_trusts_the_test_ca() {
    let Some(registry) = TestRegistry::start(RegistryOptions {
        user: None,
        tls: true,
    }) else {
        return;
    };
    let cert_dir = registry.cert_dir().expect("a TLS registry has a CA");
    let kiln = isolated();
    build_small(&kiln, "app:1", "over tls\n");
    let destination = registry.image("tls/app:1");

    // Unknown CA: a clean error about the certificate, naming the registry.
    let refused = kiln.run(["push", "-q", "app:1", &destination]);
    assert_clean_failure(&refused);
    let lower = refused.stderr.to_lowercase();
    assert!(
        lower.contains("certificate") && refused.stderr.contains(registry.host()),
        "expected a certificate error naming {}:\n{}",
        registry.host(),
        refused.streams()
    );

    // --cert-dir with ca.crt: push and pull work.
    let digest = pushed_digest(&kiln.run([
        "push",
        "-q",
        "--cert-dir",
        s(&cert_dir),
        "app:1",
        &destination,
    ]));
    assert_eq!(
        kiln.manifest_digest("app:1").as_deref(),
        Some(digest.as_str())
    );
    let fresh = isolated();
    let pulled = fresh.run(["pull", "-q", "--cert-dir", s(&cert_dir), &destination]);
    assert_eq!(pushed_digest(&pulled), digest);

    // --tls-verify=false: no verification at all.
    let other = registry.image("tls/other:1");
    let unverified = kiln.run(["push", "-q", "--tls-verify=false", "app:1", &other]);
    assert_eq!(pushed_digest(&unverified), digest);
    let plain_pull = isolated().run(["pull", "-q", "--tls-verify=false", &other]);
    assert_eq!(pushed_digest(&plain_pull), digest);

    // The CA in ~/.config/containers/certs.d/HOST/ca.crt is trusted too, as
    // podman and Docker (/etc/docker/certs.d) do.
    let per_host = isolated();
    let certs_d = per_host.path(&format!(
        "home/.config/containers/certs.d/{}",
        registry.host()
    ));
    std::fs::create_dir_all(&certs_d).expect("mkdir certs.d");
    std::fs::copy(cert_dir.join("ca.crt"), certs_d.join("ca.crt")).expect("copy ca.crt");
    let from_certs_d = per_host.run(["pull", "-q", &destination]);
    assert_eq!(pushed_digest(&from_certs_d), digest);

    // A pull without the CA is refused the same way.
    let unknown_ca = isolated().run(["pull", &other]);
    assert_clean_failure(&unknown_ca);
    assert!(
        unknown_ca.stderr.to_lowercase().contains("certificate"),
        "{}",
        unknown_ca.streams()
    );
}
