//! Client configuration ([`ClientOptions`], [`Credentials`]) and the small
//! value types the client returns.
//!
//! The library reads no environment variable: the CLI fills these structs
//! from `$DOCKER_CONFIG`, `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR` and flags,
//! with [`AuthEnvironment`] doing the path arithmetic.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kiln_oci::{Descriptor, Digest, Reference};

use crate::secret::Secret;

/// How the client connects and authenticates.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Verify TLS certificates (`--tls-verify`); `false` also allows plain http for every registry.
    pub tls_verify: bool,
    /// Extra CA certificates (`*.crt`, PEM) trusted for every registry (`--cert-dir`).
    pub cert_dir: Option<PathBuf>,
    /// Directories holding `HOST[:PORT]/*.crt` (e.g. `/etc/docker/certs.d`,
    /// `/etc/containers/certs.d`), as Docker and podman read them.
    pub certs_d: Vec<PathBuf>,
    /// Registries (`host[:port]`) reached over https without verification, falling back to http.
    pub insecure: Vec<String>,
    /// Where credentials come from.
    pub credentials: Credentials,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for any single read (a stalled download fails after this).
    pub read_timeout: Duration,
    /// Retries after the first attempt for 429, 5xx, connection resets and timeouts.
    pub retries: u32,
    /// First back-off delay; doubled on each retry, capped at 30 s (`Retry-After` wins when given).
    pub retry_base_delay: Duration,
    /// Concurrent blob downloads during a pull.
    pub max_concurrent_downloads: usize,
    /// `User-Agent` sent with every request.
    pub user_agent: String,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            tls_verify: true,
            cert_dir: None,
            certs_d: Vec::new(),
            insecure: Vec::new(),
            credentials: Credentials::default(),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            retries: 4,
            retry_base_delay: Duration::from_millis(500),
            max_concurrent_downloads: 3,
            user_agent: concat!("kiln/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

/// The sources of registry credentials, consulted in this order:
/// `explicit`, each of `auth_files`, then `docker_config`.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// `--creds USER:PASS`, used for every registry.
    pub explicit: Option<(String, Secret)>,
    /// containers `auth.json` files (`$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`), searched in order.
    pub auth_files: Vec<PathBuf>,
    /// Docker's `config.json` (the file, usually `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`).
    pub docker_config: Option<PathBuf>,
}

/// The environment values that decide where credentials live; the CLI fills
/// it from the process environment (the library never reads it).
#[derive(Debug, Clone, Default)]
pub struct AuthEnvironment {
    /// `$REGISTRY_AUTH_FILE`.
    pub registry_auth_file: Option<PathBuf>,
    /// `$XDG_RUNTIME_DIR`.
    pub xdg_runtime_dir: Option<PathBuf>,
    /// `$DOCKER_CONFIG` (a directory).
    pub docker_config_dir: Option<PathBuf>,
    /// `$HOME`.
    pub home: Option<PathBuf>,
}

impl AuthEnvironment {
    /// The file `kiln login` writes and `kiln logout` edits, as podman and buildah
    /// choose it: `$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`,
    /// else `$HOME/.config/containers/auth.json`.
    pub fn login_file(&self) -> Option<PathBuf> {
        if let Some(path) = &self.registry_auth_file {
            return Some(path.clone());
        }
        if let Some(dir) = &self.xdg_runtime_dir {
            return Some(dir.join("containers/auth.json"));
        }
        self.home
            .as_ref()
            .map(|home| home.join(".config/containers/auth.json"))
    }

    /// Docker's `config.json`: `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
    pub fn docker_config_file(&self) -> Option<PathBuf> {
        match (&self.docker_config_dir, &self.home) {
            (Some(dir), _) => Some(dir.join("config.json")),
            (None, Some(home)) => Some(home.join(".docker/config.json")),
            (None, None) => None,
        }
    }

    /// Every credential source, in lookup order, plus `explicit` (`--creds`).
    pub fn credentials(&self, explicit: Option<(String, Secret)>) -> Credentials {
        let mut auth_files = Vec::new();
        if let Some(path) = self.login_file() {
            auth_files.push(path);
        }
        if let Some(home) = &self.home {
            let fallback = home.join(".config/containers/auth.json");
            if !auth_files.contains(&fallback) {
                auth_files.push(fallback);
            }
        }
        Credentials {
            explicit,
            auth_files,
            docker_config: self.docker_config_file(),
        }
    }
}

/// Splits `--creds USER[:PASS]` into user and password (empty when absent).
pub fn parse_creds(value: &str) -> (String, Secret) {
    match value.split_once(':') {
        Some((user, password)) => (user.to_string(), Secret::new(password)),
        None => (value.to_string(), Secret::new("")),
    }
}

/// What a reference resolved to.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The platform image's manifest.
    pub manifest: Descriptor,
    /// The digest the reference points at (an index's digest for a multi-platform image).
    pub reference_digest: Digest,
}

/// Extra choices for [`crate::Client::push_with`].
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Repositories on the destination registry that may already have the blobs
    /// (e.g. the base image's); a missing blob is mounted from them before uploading.
    pub mount_from: Vec<Reference>,
    /// Blobs up to this size go in one PUT; bigger ones in PATCH chunks of this size.
    pub chunk_size: u64,
}

impl Default for PushOptions {
    fn default() -> PushOptions {
        PushOptions {
            mount_from: Vec::new(),
            chunk_size: 16 * 1024 * 1024,
        }
    }
}

/// A file downloaded by [`crate::Client::fetch_url`].
#[derive(Debug)]
pub struct Fetched {
    /// The file (mode 0600) in the directory that was asked for; the caller owns it.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its sha256 digest.
    pub digest: Digest,
    /// `Last-Modified` as unix seconds, when the server sent one.
    pub last_modified: Option<i64>,
}

impl Fetched {
    /// The downloaded file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Progress of blob transfers; called from several threads at once.
pub trait TransferProgress: Sync {
    /// A transfer of `size` bytes begins.
    fn started(&self, digest: &Digest, size: u64);
    /// `bytes` more bytes were moved.
    fn advanced(&self, digest: &Digest, bytes: u64);
    /// The transfer ended; `skipped` when nothing had to move (already present).
    fn finished(&self, digest: &Digest, skipped: bool);
}

/// A [`TransferProgress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl TransferProgress for NoProgress {
    fn started(&self, _digest: &Digest, _size: u64) {}
    fn advanced(&self, _digest: &Digest, _bytes: u64) {}
    fn finished(&self, _digest: &Digest, _skipped: bool) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_file_follows_podman() {
        let cases = [
            (
                Some("/a/auth.json"),
                Some("/run/user/1"),
                Some("/h"),
                Some("/a/auth.json"),
            ),
            (
                None,
                Some("/run/user/1"),
                Some("/h"),
                Some("/run/user/1/containers/auth.json"),
            ),
            (
                None,
                None,
                Some("/h"),
                Some("/h/.config/containers/auth.json"),
            ),
            (None, None, None, None),
        ];
        for (file, runtime, home, expected) in cases {
            let env = AuthEnvironment {
                registry_auth_file: file.map(PathBuf::from),
                xdg_runtime_dir: runtime.map(PathBuf::from),
                docker_config_dir: None,
                home: home.map(PathBuf::from),
            };
            assert_eq!(env.login_file(), expected.map(PathBuf::from));
        }
    }

    #[test]
    fn docker_config_and_creds() {
        let env = AuthEnvironment {
            home: Some(PathBuf::from("/h")),
            ..AuthEnvironment::default()
        };
        assert_eq!(
            env.docker_config_file(),
            Some(PathBuf::from("/h/.docker/config.json"))
        );
        let credentials = env.credentials(Some(parse_creds("u:p:q")));
        let (user, password) = credentials.explicit.unwrap();
        assert_eq!((user.as_str(), password.expose()), ("u", "p:q"));
        assert_eq!(
            credentials.auth_files,
            vec![PathBuf::from("/h/.config/containers/auth.json")]
        );
    }
}
