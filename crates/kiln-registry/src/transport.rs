//! HTTP transport: ureq agents with kiln's TLS roots, one request attempt,
//! and the retry loop (429 with `Retry-After`, 5xx, resets, timeouts).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use ureq::http::{self, Response};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::{Agent, Body, SendBody};

use crate::error::{is_transient_transport, Error, Result};
use crate::options::ClientOptions;
use crate::secret::Secret;

/// Longest back-off between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// HTTP methods the client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
}

impl Method {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
        }
    }
}

/// A request body that can be produced again for a retry.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CallBody<'a> {
    /// No body.
    Empty,
    /// Bytes in memory.
    Bytes(&'a [u8]),
    /// `len` bytes of a file from `offset`.
    File {
        path: &'a Path,
        offset: u64,
        len: u64,
    },
}

/// One HTTP request, described so that it can be sent again.
#[derive(Debug, Clone)]
pub(crate) struct Call<'a> {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: CallBody<'a>,
}

impl<'a> Call<'a> {
    pub(crate) fn new(method: Method, url: String) -> Call<'a> {
        Call {
            method,
            url,
            headers: Vec::new(),
            body: CallBody::Empty,
        }
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Call<'a> {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) fn body(mut self, body: CallBody<'a>) -> Call<'a> {
        self.body = body;
        self
    }
}

/// Agents per (host, verify) and the retry policy.
pub(crate) struct Transport {
    options: ClientOptions,
    /// The system's CAs, read when the first connection needs them (a build
    /// whose images are all local never reads them).
    system_roots: std::sync::OnceLock<Vec<Certificate<'static>>>,
    extra_roots: Vec<Certificate<'static>>,
    agents: Mutex<HashMap<(String, bool), Agent>>,
}

impl Transport {
    /// Loads the `--cert-dir` CAs (the system roots wait for the first connection).
    pub(crate) fn new(options: &ClientOptions) -> Result<Transport> {
        let extra_roots = match &options.cert_dir {
            Some(dir) => load_cert_dir(dir, true)?,
            None => Vec::new(),
        };
        Ok(Transport {
            options: options.clone(),
            system_roots: std::sync::OnceLock::new(),
            extra_roots,
            agents: Mutex::new(HashMap::new()),
        })
    }

    /// The agent for `host` (`name[:port]`): system roots, `--cert-dir`, and
    /// `certs.d/HOST/*.crt`; no verification when `verify` is false.
    pub(crate) fn agent(&self, host: &str, verify: bool) -> Result<Agent> {
        let key = (host.to_string(), verify);
        if let Some(agent) = lock(&self.agents).get(&key) {
            return Ok(agent.clone());
        }
        let mut roots = self
            .system_roots
            .get_or_init(|| {
                rustls_native_certs::load_native_certs()
                    .certs
                    .iter()
                    .map(|der| Certificate::from_der(der.as_ref()).to_owned())
                    .collect()
            })
            .clone();
        roots.extend(self.extra_roots.iter().cloned());
        for certs_d in &self.options.certs_d {
            roots.extend(load_cert_dir(&certs_d.join(host), false)?);
        }
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::new_with_certs(&roots))
            .disable_verification(!verify)
            .build();
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(self.options.connect_timeout))
            .timeout_per_read(Some(self.options.read_timeout))
            .timeout_recv_response(Some(self.options.read_timeout))
            .user_agent(self.options.user_agent.as_str())
            .tls_config(tls)
            .max_redirects(10)
            .build()
            .into();
        lock(&self.agents).insert(key, agent.clone());
        Ok(agent)
    }

    /// Sends `call` once.
    pub(crate) fn send_once(
        &self,
        agent: &Agent,
        call: &Call<'_>,
        authorization: Option<&Secret>,
    ) -> Result<Response<Body>> {
        let mut builder = http::Request::builder()
            .method(call.method.as_str())
            .uri(call.url.as_str());
        for (name, value) in &call.headers {
            builder = builder.header(*name, value.as_str());
        }
        if let Some(authorization) = authorization {
            builder = builder.header("Authorization", authorization.expose());
        }
        let transport_error = |source: ureq::Error| Error::Transport {
            url: call.url.clone(),
            source: Box::new(source),
        };
        let result = match call.body {
            CallBody::Empty => {
                let builder = if matches!(call.method, Method::Put | Method::Post | Method::Patch) {
                    builder.header("Content-Length", "0")
                } else {
                    builder
                };
                let request = builder
                    .body(())
                    .map_err(|error| transport_error(error.into()))?;
                agent.run(request)
            }
            CallBody::Bytes(bytes) => {
                let request = builder
                    .body(bytes)
                    .map_err(|error| transport_error(error.into()))?;
                agent.run(request)
            }
            CallBody::File { path, offset, len } => {
                let mut file = File::open(path).map_err(|error| Error::io(path, error))?;
                file.seek(SeekFrom::Start(offset))
                    .map_err(|error| Error::io(path, error))?;
                let request = builder
                    .header("Content-Length", len.to_string())
                    .body(SendBody::from_owned_reader(file.take(len)))
                    .map_err(|error| transport_error(error.into()))?;
                agent.run(request)
            }
        };
        result.map_err(transport_error)
    }

    /// Sends `call`, retrying 429, 5xx and transient transport errors up to
    /// `retries` times with exponential back-off (or `Retry-After`). A final
    /// 429/5xx response is returned for the caller to report.
    pub(crate) fn send(
        &self,
        agent: &Agent,
        call: &Call<'_>,
        authorization: Option<&Secret>,
    ) -> Result<Response<Body>> {
        let mut attempt = 0;
        loop {
            let can_retry = attempt < self.options.retries;
            match self.send_once(agent, call, authorization) {
                Ok(response) => {
                    let status = response.status().as_u16();
                    if can_retry && (status == 429 || status >= 500) {
                        let delay = retry_after(&response).unwrap_or_else(|| self.backoff(attempt));
                        drop(response);
                        std::thread::sleep(delay);
                        attempt += 1;
                        continue;
                    }
                    return Ok(response);
                }
                Err(Error::Transport { source, .. })
                    if can_retry && is_transient_transport(&source) =>
                {
                    std::thread::sleep(self.backoff(attempt));
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The delay before retry number `attempt + 1`.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX);
        self.options
            .retry_base_delay
            .saturating_mul(factor)
            .min(MAX_BACKOFF)
    }

    /// The number of retries allowed.
    pub(crate) fn retries(&self) -> u32 {
        self.options.retries
    }
}

/// `Retry-After` in seconds (the HTTP-date form is ignored), capped at [`MAX_BACKOFF`].
fn retry_after(response: &Response<Body>) -> Option<Duration> {
    let value = response.headers().get("retry-after")?.to_str().ok()?;
    let seconds: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(seconds).min(MAX_BACKOFF))
}

/// Locks a mutex, recovering the data if a thread panicked while holding it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Reads every `*.crt` PEM file in `dir`. A missing directory is an error
/// only when `required` (an explicit `--cert-dir`).
fn load_cert_dir(dir: &Path, required: bool) -> Result<Vec<Certificate<'static>>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if !required && error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Vec::new())
        }
        Err(error) => return Err(Error::io(dir, error)),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "crt"))
        .collect();
    paths.sort();
    let mut certs = Vec::new();
    for path in paths {
        let bytes = fs::read(&path).map_err(|error| Error::io(&path, error))?;
        for item in ureq::tls::parse_pem(&bytes) {
            match item {
                Ok(PemItem::Certificate(cert)) => certs.push(cert),
                Ok(_) => {}
                Err(error) => {
                    return Err(Error::Certificate {
                        path: path.clone(),
                        reason: error.to_string(),
                    })
                }
            }
        }
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let options = ClientOptions {
            retry_base_delay: Duration::from_millis(100),
            ..ClientOptions::default()
        };
        let transport = Transport::new(&options).unwrap();
        let delays: Vec<u128> = (0..4).map(|n| transport.backoff(n).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 800]);
        assert_eq!(transport.backoff(40), MAX_BACKOFF);
    }

    #[test]
    fn cert_dir_must_exist_and_parse() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_cert_dir(&dir.path().join("missing"), false)
            .unwrap()
            .is_empty());
        assert!(load_cert_dir(&dir.path().join("missing"), true).is_err());
        fs::write(dir.path().join("ignored.txt"), "x").unwrap();
        assert!(load_cert_dir(dir.path(), true).unwrap().is_empty());
    }
}
