//! Test helpers: a real `docker-registry` on 127.0.0.1, a tiny image in a
//! store, and client options tuned for quick retries.

use std::fs;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kiln_oci::{descriptor, descriptor_digest, media_type, Descriptor, Digest};
use kiln_registry::{ClientOptions, Credentials};
use kiln_store::Store;

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Options for tests: short timeouts and back-off, no credentials.
pub fn options() -> ClientOptions {
    ClientOptions {
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(5),
        retries: 3,
        retry_base_delay: Duration::from_millis(20),
        credentials: Credentials::default(),
        ..ClientOptions::default()
    }
}

/// How to configure the registry.
#[derive(Default)]
pub struct RegistryConfig {
    /// `(user, password)` for an htpasswd file.
    pub user: Option<(String, String)>,
    /// `(certificate, key)` PEM files for `http.tls`.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// A running `docker-registry serve`; killed on drop.
pub struct Registry {
    child: Child,
    pub dir: tempfile::TempDir,
    pub host: String,
}

impl Registry {
    /// Starts the registry, or returns `None` (after a message) when it is not installed.
    pub fn start(config: RegistryConfig) -> Option<Registry> {
        if !kiln_testutil::require_tool("docker-registry") {
            return None;
        }
        if config.user.is_some() && !kiln_testutil::require_tool("htpasswd") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut yaml = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: kiln-test-secret\n",
            dir.path().join("storage").display()
        );
        if let Some((cert, key)) = &config.tls {
            yaml.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
        }
        if let Some((user, password)) = &config.user {
            let output = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .unwrap();
            assert!(output.status.success(), "htpasswd failed");
            let path = dir.path().join("htpasswd");
            fs::write(&path, &output.stdout).unwrap();
            yaml.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: kiln-test\n    path: {}\n",
                path.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        fs::write(&config_path, yaml).unwrap();
        let log = fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let registry = Registry {
            child,
            dir,
            host: format!("127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "registry did not start: {}",
                fs::read_to_string(registry.dir.path().join("registry.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(registry)
    }

    /// `HOST/name`.
    pub fn reference(&self, name: &str) -> kiln_oci::Reference {
        format!("{}/{name}", self.host).parse().unwrap()
    }

    /// The data file of a blob in the registry's storage.
    pub fn blob_data(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A gzip'd tar with one file `name` holding `content`.
pub fn layer(name: &str, content: &[u8]) -> (Vec<u8>, Digest) {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, name, content).unwrap();
    let tar = tar.into_inner().unwrap();
    let diff_id = Digest::sha256_of(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    (gz.finish().unwrap(), diff_id)
}

/// An image with one layer per `(name, content)`, written into `store`;
/// returns the manifest descriptor and the layer digests.
pub fn make_image(store: &Store, files: &[(&str, &[u8])]) -> (Descriptor, Vec<Digest>) {
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    let mut digests = Vec::new();
    for (name, content) in files {
        let (blob, diff_id) = layer(name, content);
        let digest = store.write_blob(&blob).unwrap();
        layers.push(serde_json::json!({"mediaType": media_type::OCI_LAYER_GZIP, "digest": digest.to_string(), "size": blob.len()}));
        diff_ids.push(diff_id.to_string());
        digests.push(digest);
    }
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    })
    .to_string();
    let config_digest = store.write_blob(config.as_bytes()).unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "config": {"mediaType": media_type::OCI_CONFIG, "digest": config_digest.to_string(), "size": config.len()},
        "layers": layers,
    })
    .to_string();
    let manifest_digest = store.write_blob(manifest.as_bytes()).unwrap();
    (
        descriptor(
            media_type::OCI_MANIFEST,
            &manifest_digest,
            manifest.len() as u64,
        ),
        digests,
    )
}

/// A fresh store in a temp dir.
pub fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    (dir, store)
}

/// Whether every blob of the manifest `descriptor` is in `store`.
pub fn has_image(store: &Store, manifest: &Descriptor) -> bool {
    let digest = descriptor_digest(manifest).unwrap();
    if !store.has_blob(&digest) {
        return false;
    }
    let value: serde_json::Value =
        serde_json::from_slice(&store.read_blob(&digest).unwrap()).unwrap();
    let mut blobs = vec![value["config"]["digest"].as_str().unwrap().to_string()];
    for layer in value["layers"].as_array().unwrap() {
        blobs.push(layer["digest"].as_str().unwrap().to_string());
    }
    blobs
        .iter()
        .all(|digest| store.has_blob(&digest.parse().unwrap()))
}

/// Writes a CA and a server certificate for 127.0.0.1/localhost into `dir`:
/// returns (ca.crt, server.crt, server.key).
pub fn make_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "kiln test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let paths = (
        dir.join("ca.crt"),
        dir.join("server.crt"),
        dir.join("server.key"),
    );
    fs::write(&paths.0, ca.pem()).unwrap();
    fs::write(&paths.1, cert.pem()).unwrap();
    fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

/// A [`kiln_registry::TransferProgress`] that counts what it is told.
#[derive(Default)]
pub struct CountingProgress {
    pub started: std::sync::atomic::AtomicUsize,
    pub skipped: std::sync::atomic::AtomicUsize,
    pub bytes: std::sync::atomic::AtomicU64,
}

impl kiln_registry::TransferProgress for CountingProgress {
    fn started(&self, _digest: &Digest, _size: u64) {
        self.started
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    fn advanced(&self, _digest: &Digest, bytes: u64) {
        self.bytes
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
    }
    fn finished(&self, _digest: &Digest, skipped: bool) {
        if skipped {
            self.skipped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}
