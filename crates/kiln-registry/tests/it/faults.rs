//! Against fake servers: the bearer-token flow (token reused), retries of
//! 500, 429 with Retry-After and a connection cut mid-blob, and `fetch_url`.

use std::collections::{HashMap, VecDeque};
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiln_oci::{media_type, Digest, Platform};
use kiln_registry::{Client, ClientOptions, Credentials, Error, NoProgress, Secret};

use crate::fake::{FakeServer, Reply, Request};
use crate::harness::{self, options};

/// A fault to inject on the next request for a path.
#[derive(Clone, Copy)]
enum Fault {
    Status(u16),
    TooMany { retry_after: u64 },
    Cut,
}

/// An image served by a fake registry: path → (content type, bytes).
struct FakeImage {
    files: HashMap<String, (String, Vec<u8>)>,
    manifest_digest: Digest,
    layer_digest: Digest,
}

fn fake_image(repository: &str) -> FakeImage {
    let (_dir, store) = harness::store();
    let big: Vec<u8> = (0..200_000u32)
        .map(|n| (n.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let (manifest, layers) = harness::make_image(&store, &[("big.bin", &big)]);
    let manifest_digest = Digest::try_from(manifest.digest()).unwrap();
    let manifest_bytes = store.read_blob(&manifest_digest).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&manifest_bytes).unwrap();
    let config: Digest = value["config"]["digest"].as_str().unwrap().parse().unwrap();
    let mut files = HashMap::new();
    for digest in [&config, &layers[0]] {
        files.insert(
            format!("/v2/{repository}/blobs/{digest}"),
            (
                "application/octet-stream".to_string(),
                store.read_blob(digest).unwrap(),
            ),
        );
    }
    for name in ["1", manifest_digest.as_str()] {
        files.insert(
            format!("/v2/{repository}/manifests/{name}"),
            (media_type::OCI_MANIFEST.to_string(), manifest_bytes.clone()),
        );
    }
    FakeImage {
        files,
        manifest_digest,
        layer_digest: layers[0].clone(),
    }
}

/// Serves `image`, honouring `Range` and injecting `faults` per path.
fn serve_image(
    image: &FakeImage,
    request: &Request,
    faults: &Mutex<HashMap<String, VecDeque<Fault>>>,
) -> Reply {
    if request.path() == "/v2/" {
        return Reply::new(200, "{}");
    }
    let Some((content_type, bytes)) = image.files.get(request.path()) else {
        return Reply::new(404, r#"{"errors":[{"code":"NOT_FOUND"}]}"#);
    };
    let fault = faults
        .lock()
        .unwrap()
        .get_mut(request.path())
        .and_then(VecDeque::pop_front);
    let digest = Digest::sha256_of(bytes).to_string();
    let full = || {
        Reply::new(200, bytes.clone())
            .header("Content-Type", content_type.clone())
            .header("Docker-Content-Digest", digest.clone())
    };
    match fault {
        Some(Fault::Status(status)) => Reply::new(status, "injected"),
        Some(Fault::TooMany { retry_after }) => {
            Reply::new(429, "slow down").header("Retry-After", retry_after.to_string())
        }
        Some(Fault::Cut) => Reply {
            cut_after: Some(bytes.len() / 2),
            ..full()
        },
        None => match request
            .header("range")
            .and_then(|range| range.strip_prefix("bytes="))
        {
            Some(range) => {
                let start: usize = range.trim_end_matches('-').parse().unwrap();
                Reply::new(206, bytes[start..].to_vec()).header(
                    "Content-Range",
                    format!("bytes {start}-{}/{}", bytes.len() - 1, bytes.len()),
                )
            }
            None => full(),
        },
    }
}

#[test]
fn retries_500_429_and_cut_blob() {
    let image = Arc::new(fake_image("app"));
    let faults = Arc::new(Mutex::new(HashMap::new()));
    let manifest_path = format!("/v2/app/manifests/{}", image.manifest_digest);
    let layer_path = format!("/v2/app/blobs/{}", image.layer_digest);
    faults.lock().unwrap().insert(
        "/v2/app/manifests/1".to_string(),
        VecDeque::from([Fault::Status(500)]),
    );
    faults.lock().unwrap().insert(
        manifest_path,
        VecDeque::from([Fault::TooMany { retry_after: 1 }]),
    );
    faults.lock().unwrap().insert(
        layer_path.clone(),
        VecDeque::from([Fault::Cut, Fault::Status(503)]),
    );
    let (served, injected) = (image.clone(), faults.clone());
    let server = FakeServer::start(move |request| serve_image(&served, request, &injected));
    let client = Client::new(options()).unwrap();
    let reference = format!("{}/app:1", server.host()).parse().unwrap();
    let (_dir, store) = harness::store();
    let started = Instant::now();
    let pulled = client
        .pull(
            &reference,
            &Platform::parse("linux/amd64").unwrap(),
            &store,
            &NoProgress,
        )
        .unwrap();
    assert_eq!(
        Digest::try_from(pulled.digest()).unwrap(),
        image.manifest_digest
    );
    assert!(store.has_blob(&image.layer_digest));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not respected"
    );
    let layer_requests: Vec<Request> = server
        .requests()
        .into_iter()
        .filter(|r| r.path() == layer_path)
        .collect();
    assert_eq!(layer_requests.len(), 3, "cut, 503, then the rest");
    let resumed = layer_requests
        .last()
        .unwrap()
        .header("range")
        .map(str::to_string);
    let layer_size = image.files[&layer_path].1.len();
    assert_eq!(
        resumed,
        Some(format!("bytes={}-", layer_size / 2)),
        "the download resumes with Range"
    );

    // Retries are bounded: a registry that always fails gives a clear error.
    let always = FakeServer::start(|request| {
        if request.path() == "/v2/" {
            Reply::new(200, "{}")
        } else {
            Reply::new(502, "bad gateway")
        }
    });
    let reference = format!("{}/app:1", always.host()).parse().unwrap();
    let error = client
        .resolve(&reference, &Platform::parse("linux/amd64").unwrap())
        .unwrap_err();
    assert!(
        matches!(error, Error::Status { status: 502, .. }),
        "{error}"
    );
    assert_eq!(
        always.requests().len(),
        1 + 4,
        "one ping, the first try and three retries"
    );
}

#[test]
fn bearer_token_flow_reuses_token() {
    let image = Arc::new(fake_image("team/app"));
    let token_requests = Arc::new(Mutex::new(Vec::<Request>::new()));
    let port = Arc::new(Mutex::new(0u16));
    let (served, tokens, realm_port) = (image.clone(), token_requests.clone(), port.clone());
    let no_faults = Mutex::new(HashMap::new());
    let server = FakeServer::start(move |request| {
        let challenge = format!(
            r#"Bearer realm="http://127.0.0.1:{}/token",service="fake-registry",scope="repository:team/app:pull""#,
            realm_port.lock().unwrap()
        );
        if request.path() == "/token" {
            tokens.lock().unwrap().push(request.clone());
            if request.header("authorization") != Some("Basic dXNlcjpwYXNz") {
                return Reply::new(401, "bad credentials");
            }
            return Reply::new(200, r#"{"token":"tok-1","expires_in":300}"#);
        }
        if request.header("authorization") != Some("Bearer tok-1") {
            return Reply::new(401, "{}").header("WWW-Authenticate", challenge);
        }
        serve_image(&served, request, &no_faults)
    });
    *port.lock().unwrap() = server.port;
    let with_creds = |password: &str| ClientOptions {
        credentials: Credentials {
            explicit: Some(("user".to_string(), Secret::new(password))),
            ..Credentials::default()
        },
        ..options()
    };
    let client = Client::new(with_creds("pass")).unwrap();
    let reference = format!("{}/team/app:1", server.host()).parse().unwrap();
    let (_dir, store) = harness::store();
    client
        .pull(
            &reference,
            &Platform::parse("linux/amd64").unwrap(),
            &store,
            &NoProgress,
        )
        .unwrap();
    assert!(store.has_blob(&image.layer_digest));
    let requests = token_requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1, "one token for HEAD, GET and both blobs");
    let query = &requests[0].target;
    assert!(
        query.contains("service=fake-registry")
            && query.contains("scope=repository%3Ateam%2Fapp%3Apull"),
        "{query}"
    );
    let registry_requests = server
        .requests()
        .into_iter()
        .filter(|r| r.path().starts_with("/v2/team"))
        .count();
    assert!(registry_requests >= 4, "{registry_requests}");

    client.check_login(&server.host(), "user", "pass").unwrap();
    let wrong = Client::new(with_creds("nope")).unwrap();
    let (_dir2, fresh) = harness::store();
    let error = wrong
        .pull(
            &reference,
            &Platform::parse("linux/amd64").unwrap(),
            &fresh,
            &NoProgress,
        )
        .unwrap_err();
    assert!(matches!(error, Error::Unauthorized { .. }), "{error}");
    assert!(error.to_string().contains(&server.host()), "{error}");
    assert!(!format!("{error:?}").contains("nope"));
}

#[test]
fn fetch_url_verifies_and_retries() {
    let cut_once = Mutex::new(true);
    let server = FakeServer::start(move |request| {
        let body = b"remote file content".to_vec();
        match request.path() {
            "/file.txt" => {
                let cut = std::mem::replace(&mut *cut_once.lock().unwrap(), false);
                let reply =
                    Reply::new(200, body).header("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT");
                Reply {
                    cut_after: cut.then_some(5),
                    ..reply
                }
            }
            _ => Reply::new(404, "missing"),
        }
    });
    let client = Client::new(options()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{}/file.txt", server.host());
    let expected = Digest::sha256_of(b"remote file content");
    let fetched = client.fetch_url(&url, dir.path(), Some(&expected)).unwrap();
    assert_eq!(
        std::fs::read(&fetched.path).unwrap(),
        b"remote file content"
    );
    assert_eq!((fetched.size, &fetched.digest), (19, &expected));
    assert_eq!(fetched.last_modified, Some(1_445_412_480));
    assert_eq!(
        std::fs::metadata(&fetched.path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert_eq!(server.requests().len(), 2, "the cut download was retried");

    let wrong = Digest::sha256_of(b"other");
    let error = client
        .fetch_url(&url, dir.path(), Some(&wrong))
        .unwrap_err();
    assert!(matches!(error, Error::DigestMismatch { .. }), "{error}");
    let missing = client
        .fetch_url(&format!("http://{}/nope", server.host()), dir.path(), None)
        .unwrap_err();
    assert!(
        matches!(missing, Error::Status { status: 404, .. }),
        "{missing}"
    );
    let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(leftovers, 1, "only the successful download stays");
}
