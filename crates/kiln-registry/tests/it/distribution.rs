//! Push and pull against a real `docker-registry`: anonymous, basic auth,
//! TLS with a test CA, skopeo round trips, and a tampered blob.

use std::fs;
use std::process::Command;
use std::sync::atomic::Ordering;

use kiln_oci::{descriptor, descriptor_digest, media_type, Digest, Platform};
use kiln_registry::{Client, ClientOptions, Credentials, Error, NoProgress, PushOptions, Secret};

use crate::harness::{self, make_image, options, CountingProgress, Registry, RegistryConfig};

fn amd64() -> Platform {
    Platform::parse("linux/amd64").unwrap()
}

/// Pseudo-random, incompressible bytes.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[test]
fn anonymous_push_then_pull_mount_and_skip() {
    let Some(registry) = Registry::start(RegistryConfig::default()) else {
        return;
    };
    let (_dir, store) = harness::store();
    let big = noise(300 * 1024);
    let (manifest, _) = make_image(&store, &[("a.txt", b"hello"), ("big.bin", &big)]);
    let client = Client::new(options()).unwrap();
    let destination = registry.reference("kiln/app:1");
    let chunked = PushOptions {
        chunk_size: 64 * 1024,
        ..PushOptions::default()
    };
    let pushed = client
        .push_with(&store, &manifest, &destination, &chunked, &NoProgress)
        .unwrap();
    assert_eq!(pushed, descriptor_digest(&manifest).unwrap());

    let resolved = client.resolve(&destination, &amd64()).unwrap();
    assert_eq!(resolved.reference_digest, pushed);
    assert_eq!(resolved.manifest.size(), manifest.size());

    let (_dir2, fresh) = harness::store();
    let progress = CountingProgress::default();
    let pulled = client
        .pull(&destination, &amd64(), &fresh, &progress)
        .unwrap();
    assert_eq!(descriptor_digest(&pulled).unwrap(), pushed);
    assert_eq!(pulled.media_type().to_string(), media_type::OCI_MANIFEST);
    assert!(harness::has_image(&fresh, &pulled));
    assert_eq!(progress.skipped.load(Ordering::Relaxed), 0);
    assert!(progress.bytes.load(Ordering::Relaxed) > 300 * 1024);

    // A second pull skips every blob; a pull by digest works too.
    let again = CountingProgress::default();
    let by_digest = destination.with_digest(pushed.clone());
    client.pull(&by_digest, &amd64(), &fresh, &again).unwrap();
    assert_eq!(again.skipped.load(Ordering::Relaxed), 3);

    // Pushing again finds every blob; pushing to another repository mounts them.
    let repeat = CountingProgress::default();
    client
        .push(&store, &manifest, &destination, &repeat)
        .unwrap();
    assert_eq!(repeat.skipped.load(Ordering::Relaxed), 3);
    let mounted = CountingProgress::default();
    let other = registry.reference("other/app:2");
    let mount = PushOptions {
        mount_from: vec![destination.clone()],
        ..PushOptions::default()
    };
    let digest = client
        .push_with(&store, &manifest, &other, &mount, &mounted)
        .unwrap();
    assert_eq!(digest, pushed);
    assert_eq!(mounted.skipped.load(Ordering::Relaxed), 3);
    assert_eq!(
        mounted.bytes.load(Ordering::Relaxed),
        0,
        "mounted blobs must not be uploaded"
    );

    let missing = client
        .resolve(&registry.reference("kiln/app:nope"), &amd64())
        .unwrap_err();
    assert!(matches!(missing, Error::NotFound { .. }), "{missing}");
    assert!(missing.to_string().contains("kiln/app"), "{missing}");
}

#[test]
fn index_resolves_to_platform() {
    let Some(registry) = Registry::start(RegistryConfig::default()) else {
        return;
    };
    let (_dir, store) = harness::store();
    let (manifest, _) = make_image(&store, &[("a", b"x")]);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": [{
            "mediaType": media_type::OCI_MANIFEST,
            "digest": manifest.digest().to_string(),
            "size": manifest.size(),
            "platform": {"os": "linux", "architecture": "amd64"},
        }],
    })
    .to_string();
    let index_digest = store.write_blob(index.as_bytes()).unwrap();
    let index_descriptor = descriptor(media_type::OCI_INDEX, &index_digest, index.len() as u64);
    let client = Client::new(options()).unwrap();
    let reference = registry.reference("multi:1");
    assert_eq!(
        client
            .push(&store, &index_descriptor, &reference, &NoProgress)
            .unwrap(),
        index_digest
    );
    let resolved = client.resolve(&reference, &amd64()).unwrap();
    assert_eq!(resolved.reference_digest, index_digest);
    assert_eq!(resolved.manifest.digest(), manifest.digest());
    let error = client
        .resolve(&reference, &Platform::parse("linux/arm64").unwrap())
        .unwrap_err();
    assert!(matches!(error, Error::NoMatchingPlatform { .. }), "{error}");
    let (_dir2, fresh) = harness::store();
    let pulled = client
        .pull(&reference, &amd64(), &fresh, &NoProgress)
        .unwrap();
    assert_eq!(pulled.digest(), manifest.digest());
    assert!(
        fresh.has_blob(&index_digest),
        "the index is kept for later resolves"
    );
}

#[test]
fn skopeo_round_trips() {
    if !kiln_testutil::require_tool("skopeo") {
        return;
    }
    let Some(registry) = Registry::start(RegistryConfig::default()) else {
        return;
    };
    let (dir, store) = harness::store();
    let (manifest, _) = make_image(&store, &[("a.txt", b"skopeo")]);
    let client = Client::new(options()).unwrap();
    let pushed = client
        .push(&store, &manifest, &registry.reference("x:1"), &NoProgress)
        .unwrap();

    // kiln push → skopeo copy back into an OCI layout: same manifest digest.
    let layout = dir.path().join("layout");
    let output = Command::new("skopeo")
        .args(["--insecure-policy", "copy", "--src-tls-verify=false"])
        .arg(format!("docker://{}/x:1", registry.host))
        .arg(format!("oci:{}:x", layout.display()))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"][0]["digest"].as_str().unwrap(),
        pushed.as_str()
    );

    // skopeo push from an OCI layout (the store is one) → kiln pull: same digests.
    let (_dir2, source) = harness::store();
    let (image, layers) = make_image(&source, &[("b.txt", b"from skopeo")]);
    source.set_tag("src", &image).unwrap();
    let output = Command::new("skopeo")
        .args(["--insecure-policy", "copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:src", source.root().display()))
        .arg(format!("docker://{}/sk:1", registry.host))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (_dir3, fresh) = harness::store();
    let pulled = client
        .pull(&registry.reference("sk:1"), &amd64(), &fresh, &NoProgress)
        .unwrap();
    assert_eq!(pulled.digest(), image.digest());
    assert!(fresh.has_blob(&layers[0]));
}

#[test]
fn tampered_blob_is_refused() {
    let Some(registry) = Registry::start(RegistryConfig::default()) else {
        return;
    };
    let (_dir, store) = harness::store();
    let (manifest, layers) = make_image(&store, &[("a.txt", b"original content")]);
    let client = Client::new(options()).unwrap();
    let reference = registry.reference("tamper:1");
    client
        .push(&store, &manifest, &reference, &NoProgress)
        .unwrap();
    let data = registry.blob_data(&layers[0]);
    let mut bytes = fs::read(&data).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&data, &bytes).unwrap();

    let (_dir2, fresh) = harness::store();
    let error = client
        .pull(&reference, &amd64(), &fresh, &NoProgress)
        .unwrap_err();
    assert!(matches!(error, Error::DigestMismatch { .. }), "{error}");
    assert!(
        error.to_string().contains(&layers[0].to_string()),
        "{error}"
    );
    assert!(
        !fresh.has_blob(&layers[0]),
        "a tampered blob entered the store"
    );
    assert!(
        !fresh.has_blob(&descriptor_digest(&manifest).unwrap()),
        "the manifest must not be stored"
    );
    let ingest = fs::read_dir(fresh.root().join("ingest")).unwrap().count();
    assert_eq!(ingest, 0, "partial files left in ingest/");
}

#[test]
fn basic_auth_sources() {
    let user = ("kiln".to_string(), "s3cret-pw".to_string());
    let config = RegistryConfig {
        user: Some(user.clone()),
        ..RegistryConfig::default()
    };
    let Some(registry) = Registry::start(config) else {
        return;
    };
    let (dir, store) = harness::store();
    let (manifest, _) = make_image(&store, &[("a", b"auth")]);
    let reference = registry.reference("private/app:1");
    let platform = amd64();

    // Anonymous: a clear 401 naming the registry and repository.
    let anonymous = Client::new(options()).unwrap();
    let error = anonymous
        .push(&store, &manifest, &reference, &NoProgress)
        .unwrap_err();
    assert!(matches!(error, Error::Unauthorized { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains(&registry.host) && message.contains("private/app"),
        "{message}"
    );
    assert!(!format!("{error:?}").contains("s3cret"));

    // --creds.
    let explicit = ClientOptions {
        credentials: Credentials {
            explicit: Some((user.0.clone(), Secret::new(&*user.1))),
            ..Credentials::default()
        },
        ..options()
    };
    let client = Client::new(explicit.clone()).unwrap();
    client
        .push(&store, &manifest, &reference, &NoProgress)
        .unwrap();
    assert!(
        !format!("{explicit:?}").contains("s3cret"),
        "options leak the password"
    );

    // A prepared Docker config.json with a base64 `auth`.
    use base64::Engine;
    let docker_config = dir.path().join("docker/config.json");
    fs::create_dir_all(docker_config.parent().unwrap()).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", user.0, user.1));
    fs::write(
        &docker_config,
        serde_json::json!({"auths": {format!("http://{}", registry.host): {"auth": auth}}})
            .to_string(),
    )
    .unwrap();
    let via_docker = Client::new(ClientOptions {
        credentials: Credentials {
            docker_config: Some(docker_config),
            ..Credentials::default()
        },
        ..options()
    })
    .unwrap();
    let (_d1, fresh) = harness::store();
    assert_eq!(
        via_docker
            .pull(&reference, &platform, &fresh, &NoProgress)
            .unwrap()
            .digest(),
        manifest.digest()
    );

    // `kiln login`: check, then store in a containers auth.json; logout removes it.
    let auth_file = dir.path().join("containers/auth.json");
    anonymous
        .check_login(&registry.host, &user.0, &user.1)
        .unwrap();
    let wrong = anonymous
        .check_login(&registry.host, &user.0, "wrong")
        .unwrap_err();
    assert!(matches!(wrong, Error::Unauthorized { .. }), "{wrong}");
    kiln_registry::store_login(&auth_file, &registry.host, &user.0, &user.1).unwrap();
    let via_auth_json = Client::new(ClientOptions {
        credentials: Credentials {
            auth_files: vec![auth_file.clone()],
            ..Credentials::default()
        },
        ..options()
    })
    .unwrap();
    let (_d2, fresh) = harness::store();
    via_auth_json
        .pull(&reference, &platform, &fresh, &NoProgress)
        .unwrap();
    assert!(kiln_registry::remove_login(&auth_file, &registry.host).unwrap());
    let logged_out = Client::new(ClientOptions {
        credentials: Credentials {
            auth_files: vec![auth_file],
            ..Credentials::default()
        },
        ..options()
    })
    .unwrap();
    let (_d3, fresh) = harness::store();
    let error = logged_out
        .pull(&reference, &platform, &fresh, &NoProgress)
        .unwrap_err();
    assert!(matches!(error, Error::Unauthorized { .. }), "{error}");
}

#[test]
fn tls_with_test_ca() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = harness::make_certificates(certs.path());
    let config = RegistryConfig {
        tls: Some((cert, key)),
        ..RegistryConfig::default()
    };
    let Some(registry) = Registry::start(config) else {
        return;
    };
    let (_dir, store) = harness::store();
    let (manifest, _) = make_image(&store, &[("a", b"tls")]);
    let reference = registry.reference("secure:1");

    let untrusting = Client::new(options()).unwrap();
    let error = untrusting
        .push(&store, &manifest, &reference, &NoProgress)
        .unwrap_err();
    assert!(
        error.to_string().to_lowercase().contains("certificate"),
        "{error}"
    );

    let ca_dir = tempfile::tempdir().unwrap();
    fs::copy(&ca, ca_dir.path().join("test-ca.crt")).unwrap();
    let trusting = Client::new(ClientOptions {
        cert_dir: Some(ca_dir.path().to_path_buf()),
        ..options()
    })
    .unwrap();
    let pushed = trusting
        .push(&store, &manifest, &reference, &NoProgress)
        .unwrap();

    // certs.d/HOST/ca.crt works as Docker's does, and tls_verify=false skips verification.
    let certs_d = tempfile::tempdir().unwrap();
    fs::create_dir_all(certs_d.path().join(&registry.host)).unwrap();
    fs::copy(&ca, certs_d.path().join(&registry.host).join("ca.crt")).unwrap();
    let per_host = Client::new(ClientOptions {
        certs_d: vec![certs_d.path().to_path_buf()],
        ..options()
    })
    .unwrap();
    assert_eq!(
        per_host
            .resolve(&reference, &amd64())
            .unwrap()
            .reference_digest,
        pushed
    );
    let unverified = Client::new(ClientOptions {
        tls_verify: false,
        ..options()
    })
    .unwrap();
    let (_d, fresh) = harness::store();
    let pulled = unverified
        .pull(&reference, &amd64(), &fresh, &NoProgress)
        .unwrap();
    assert_eq!(Digest::try_from(pulled.digest()).unwrap(), pushed);
}
