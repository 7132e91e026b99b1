//! kiln-registry: a client of the OCI distribution spec — pull, push,
//! authentication — with no Docker daemon.
//!
//! Every CLI command is a thin call:
//!
//! | command | call |
//! | --- | --- |
//! | `kiln pull NAME` | [`Client::pull`] then `Store::set_tag` |
//! | `FROM NAME` (cache check) | [`Client::resolve`]: one manifest HEAD (plus the index GET, served from the store after the first pull) |
//! | `kiln push NAME [DEST]`, `--push` | [`Client::push`] / [`Client::push_with`] (mount sources, chunk size) |
//! | `kiln login` | [`Client::check_login`] then [`store_login`] into [`AuthEnvironment::login_file`] |
//! | `kiln logout` | [`remove_login`] |
//! | `ADD https://…` | [`Client::fetch_url`] |
//!
//! ```no_run
//! use kiln_registry::{AuthEnvironment, Client, ClientOptions, NoProgress};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let environment = AuthEnvironment { home: Some("/home/me".into()), ..AuthEnvironment::default() };
//! let options = ClientOptions { credentials: environment.credentials(None), ..ClientOptions::default() };
//! let client = Client::new(options)?;
//! let store = kiln_store::Store::open(std::path::Path::new("kiln-store"))?;
//! let reference: kiln_oci::Reference = "alpine:3.20".parse()?;
//! let manifest = client.pull(&reference, &kiln_oci::Platform::host(), &store, &NoProgress)?;
//! store.set_tag(&reference.to_string(), &manifest)?;
//! # Ok(())
//! # }
//! ```
//!
//! # Decisions
//!
//! - **HTTP stack: `ureq` 3 (blocking, rustls with ring), not `oci-client`.**
//!   `oci-client` is async (tokio + reqwest), so kiln would carry a runtime
//!   for a handful of sequential requests, and it owns the auth flow and the
//!   blob streams: kiln needs to put every byte through its store's
//!   `BlobWriter` (hash while writing, verify before rename), resume a cut
//!   download with `Range`, choose retries and back-off, and read credentials
//!   from Docker's and containers' files and helpers. ureq gives plain
//!   requests and streaming bodies; the distribution protocol on top is a few
//!   hundred lines here. Concurrency is `std::thread::scope` (bounded by
//!   [`ClientOptions::max_concurrent_downloads`]).
//! - **TLS roots:** the system roots (`rustls-native-certs`), plus every
//!   `*.crt` in `--cert-dir` ([`ClientOptions::cert_dir`]), plus
//!   `certs.d/HOST[:PORT]/*.crt` for the registry being contacted, as Docker
//!   and podman do. [`ClientOptions::tls_verify`] `= false` turns
//!   verification off (and allows http).
//! - **Plain http:** a loopback registry (`localhost`, 127.0.0.0/8, `::1`) is
//!   tried over https first and falls back to http unless the failure is a
//!   rejected certificate (which is reported); registries in
//!   [`ClientOptions::insecure`] use unverified https, then http.
//! - **Where logins go:** podman/buildah's `auth.json` —
//!   `$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`,
//!   else `~/.config/containers/auth.json` ([`AuthEnvironment::login_file`]).
//!   kiln is daemonless like them, the runtime dir keeps secrets off
//!   persistent disk, and writing Docker's `config.json` would fight its
//!   `credsStore`. The format is Docker's `auths` map, so Docker-style tools
//!   can read it. Reading consults `--creds`, then the auth.json files, then
//!   Docker's `config.json` (`credHelpers`, `auths`, `credsStore`).
//! - **Secrets:** passwords and tokens are [`Secret`]s (`Debug` prints
//!   `<redacted>`); no error message carries one. The library reads no
//!   environment variable: [`AuthEnvironment`] takes the values from the CLI.
//! - **Retries:** 429 (honouring `Retry-After` in seconds), 5xx, connection
//!   resets and timeouts are retried [`ClientOptions::retries`] times with
//!   exponential back-off. A blob download cut midway resumes with `Range`
//!   (or restarts when the server ignores it); an upload restarts its
//!   session. Every blob is checked for size while it streams and for its
//!   digest before it enters the store; the manifest is stored last.
//! - **Tokens** are cached per registry and scope for 90% of their
//!   `expires_in` (60 s when absent); a 401 carrying a wider scope gets one
//!   fresh token and one retry.

mod auth;
mod challenge;
mod client;
mod credentials;
mod error;
mod fetch;
mod manifest;
mod options;
mod pull;
mod push;
mod secret;
mod transport;

pub use client::Client;
pub use credentials::{remove_login, store_login};
pub use error::{Error, Result};
pub use options::{
    parse_creds, AuthEnvironment, ClientOptions, Credentials, Fetched, NoProgress, PushOptions,
    Resolved, TransferProgress,
};
pub use secret::Secret;
