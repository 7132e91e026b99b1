//! [`TestRegistry`]: Debian's `docker-registry` (distribution) started on
//! 127.0.0.1 with a free port and a temporary storage directory, optionally
//! behind htpasswd basic auth and TLS with a CA made for the test; killed on
//! drop. Its access log (one line per request) is kept for assertions.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::tools::require_tool;

/// A TCP port on 127.0.0.1 that nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("bind 127.0.0.1:0")
}

/// How to start a [`TestRegistry`].
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// `(user, password)` for htpasswd basic auth (needs apache2-utils' `htpasswd`).
    pub user: Option<(String, String)>,
    /// Serve https with a certificate for 127.0.0.1/localhost signed by a new test CA.
    pub tls: bool,
}

/// One request of the registry's access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`, `PUT`, …
    pub method: String,
    /// The request path, e.g. `/v2/app/manifests/1`.
    pub path: String,
    /// The response status.
    pub status: u16,
}

/// A running `docker-registry serve` (see the module docs).
#[derive(Debug)]
pub struct TestRegistry {
    child: Option<Child>,
    dir: TempDir,
    host: String,
    tls: bool,
}

impl TestRegistry {
    /// Starts a registry, or returns `None` when `docker-registry` (or
    /// `htpasswd` for auth) is missing (see [`require_tool`]).
    pub fn start(options: RegistryOptions) -> Option<TestRegistry> {
        if !require_tool("docker-registry") {
            return None;
        }
        if options.user.is_some() && !require_tool("htpasswd") {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("kiln-registry-")
            .tempdir()
            .expect("create the registry dir");
        let port = free_port();
        let mut yaml = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: kiln-test-secret\n",
            dir.path().join("storage").display()
        );
        if options.tls {
            let certs = dir.path().join("certs");
            fs::create_dir_all(&certs).expect("mkdir certs");
            let (cert, key) = make_certificates(&certs);
            yaml.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
        }
        if let Some((user, password)) = &options.user {
            let output = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("run htpasswd");
            assert!(output.status.success(), "htpasswd failed");
            let path = dir.path().join("htpasswd");
            fs::write(&path, &output.stdout).expect("write htpasswd");
            yaml.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: kiln-test\n    path: {}\n",
                path.display()
            ));
        }
        let config = dir.path().join("config.yml");
        fs::write(&config, yaml).expect("write the registry config");
        let log = fs::File::create(dir.path().join("registry.log")).expect("create the log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let registry = TestRegistry {
            child: Some(child),
            dir,
            host: format!("127.0.0.1:{port}"),
            tls: options.tls,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the registry did not start: {}",
                registry.log()
            );
            std::thread::sleep(Duration::from_millis(30));
        }
        Some(registry)
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `127.0.0.1:PORT/NAME` (NAME is `repo:tag`).
    pub fn image(&self, name: &str) -> String {
        format!("{}/{name}", self.host)
    }

    /// A directory holding the test CA as `ca.crt` (for `--cert-dir`), when
    /// the registry serves TLS.
    pub fn cert_dir(&self) -> Option<PathBuf> {
        let dir = self.dir.path().join("certs/ca");
        (self.tls && dir.join("ca.crt").is_file()).then_some(dir)
    }

    /// The registry's storage directory.
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Everything the registry logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// The requests of the access log so far, oldest first.
    pub fn requests(&self) -> Vec<Request> {
        self.log().lines().filter_map(parse_access_line).collect()
    }

    /// Stops the registry (it no longer answers; the storage is kept).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Parses a combined-log-format line: `IP - - [DATE] "METHOD PATH PROTO" STATUS …`.
fn parse_access_line(line: &str) -> Option<Request> {
    let (_, rest) = line.split_once("] \"")?;
    let (request, rest) = rest.split_once("\" ")?;
    let mut words = request.split(' ');
    let method = words.next()?.to_owned();
    let path = words.next()?.to_owned();
    let status = rest.split(' ').next()?.parse().ok()?;
    Some(Request {
        method,
        path,
        status,
    })
}

/// Writes a new CA (`ca/ca.crt`) and a server certificate for
/// 127.0.0.1/localhost signed by it (`server.crt`, `server.key`) into `dir`;
/// returns the server certificate and key paths.
fn make_certificates(dir: &Path) -> (PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "kiln test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
        .expect("self-sign the CA");
    let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("server params");
    let key = KeyPair::generate().expect("server key");
    let cert = params.signed_by(&key, &ca).expect("sign the server cert");
    fs::create_dir_all(dir.join("ca")).expect("mkdir ca");
    fs::write(dir.join("ca/ca.crt"), ca.pem()).expect("write ca.crt");
    let paths = (dir.join("server.crt"), dir.join("server.key"));
    fs::write(&paths.0, cert.pem()).expect("write server.crt");
    fs::write(&paths.1, key.serialize_pem()).expect("write server.key");
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_access_log_lines() {
        let cases = [
            (
                r#"127.0.0.1 - - [24/Nov/2026:01:22:01 +0000] "HEAD /v2/app/manifests/1 HTTP/1.1" 404 91 "" "curl/7.88.1""#,
                Some(("HEAD", "/v2/app/manifests/1", 404)),
            ),
            (
                r#"127.0.0.1 - u [24/Nov/2026:01:22:01 +0000] "GET /v2/ HTTP/1.1" 200 2 "" "kiln/0.1""#,
                Some(("GET", "/v2/", 200)),
            ),
            (r#"time="2026" level=error msg="oops""#, None),
        ];
        for (line, expected) in cases {
            let parsed = parse_access_line(line);
            let expected = expected.map(|(method, path, status)| Request {
                method: method.to_owned(),
                path: path.to_owned(),
                status,
            });
            assert_eq!(parsed, expected, "{line}");
        }
    }

    #[test]
    fn free_ports_are_bindable() {
        let port = free_port();
        assert!(TcpListener::bind(("127.0.0.1", port)).is_ok());
    }
}
