//! [`Client`]: endpoint discovery (https, or http for loopback and insecure
//! registries), authorization of each request, and status-to-error mapping.
//! Pull, push and URL fetches live in their own modules.

use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use ureq::http::Response;
use ureq::Body;

use crate::auth::TokenCache;
use crate::challenge::{self, Challenge};
use crate::credentials::{self, Login};
use crate::error::{is_certificate_error, Error, Result};
use crate::options::ClientOptions;
use crate::secret::Secret;
use crate::transport::{lock, Call, Method, Transport};

/// Where Docker Hub's API lives (references say `docker.io`).
const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";

/// A registry client; cheap to share between threads (`&Client` is `Sync`).
pub struct Client {
    pub(crate) options: ClientOptions,
    pub(crate) transport: Transport,
    endpoints: Mutex<HashMap<String, Arc<Endpoint>>>,
    logins: Mutex<HashMap<(String, String), Option<Login>>>,
    pub(crate) tokens: TokenCache,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Client")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// How one registry is reached, learnt from `GET /v2/`.
#[derive(Debug)]
pub(crate) struct Endpoint {
    /// The registry as references name it (`docker.io`, `localhost:5000`).
    pub registry: String,
    /// `scheme://host[:port]` of the API.
    pub base: String,
    /// The API host (`registry-1.docker.io` for Docker Hub).
    pub host: String,
    /// Whether certificates are verified.
    pub verify: bool,
    /// The challenge of an unauthenticated `GET /v2/`, if any.
    pub challenge: Option<Challenge>,
}

/// A repository and the access a request needs, e.g. `["repository:a/b:pull"]`.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    pub registry: String,
    pub repository: String,
    pub scopes: Vec<String>,
}

impl Scope {
    pub(crate) fn pull(registry: &str, repository: &str) -> Scope {
        Scope {
            registry: registry.to_string(),
            repository: repository.to_string(),
            scopes: vec![format!("repository:{repository}:pull")],
        }
    }

    pub(crate) fn push(registry: &str, repository: &str) -> Scope {
        Scope {
            registry: registry.to_string(),
            repository: repository.to_string(),
            scopes: vec![format!("repository:{repository}:pull,push")],
        }
    }
}

impl Client {
    /// A client with `options`; loads the system and custom CA certificates.
    pub fn new(options: ClientOptions) -> Result<Client> {
        let transport = Transport::new(&options)?;
        Ok(Client {
            options,
            transport,
            endpoints: Mutex::new(HashMap::new()),
            logins: Mutex::new(HashMap::new()),
            tokens: TokenCache::default(),
        })
    }

    /// The endpoint of `registry`, pinging it on first use.
    pub(crate) fn endpoint(&self, registry: &str) -> Result<Arc<Endpoint>> {
        if let Some(endpoint) = lock(&self.endpoints).get(registry) {
            return Ok(endpoint.clone());
        }
        let endpoint = Arc::new(self.ping(registry)?);
        lock(&self.endpoints).insert(registry.to_string(), endpoint.clone());
        Ok(endpoint)
    }

    /// `GET /v2/` over https, falling back to http for loopback and insecure registries.
    fn ping(&self, registry: &str) -> Result<Endpoint> {
        let host = if registry == kiln_oci::DEFAULT_DOMAIN {
            DOCKER_HUB_API_HOST.to_string()
        } else {
            registry.to_string()
        };
        let insecure =
            !self.options.tls_verify || self.options.insecure.iter().any(|name| name == registry);
        let loopback = is_loopback(&host);
        let verify = !insecure;
        let https = self.ping_at(registry, &host, "https", verify, insecure || loopback);
        match https {
            Ok(endpoint) => Ok(endpoint),
            Err(Error::Transport { source, .. })
                if insecure || (loopback && !is_certificate_error(&source)) =>
            {
                self.ping_at(registry, &host, "http", verify, false)
            }
            Err(error) => Err(error),
        }
    }

    fn ping_at(
        &self,
        registry: &str,
        host: &str,
        scheme: &str,
        verify: bool,
        single_attempt: bool,
    ) -> Result<Endpoint> {
        let base = format!("{scheme}://{host}");
        let agent = self.transport.agent(host, verify)?;
        let call = Call::new(Method::Get, format!("{base}/v2/"));
        let response = if single_attempt {
            self.transport.send_once(&agent, &call, None)?
        } else {
            self.transport.send(&agent, &call, None)?
        };
        let status = response.status().as_u16();
        let challenge = match status {
            200..=299 => None,
            401 => challenges(&response).into_iter().next(),
            _ => return Err(status_error(response, Method::Get, &call.url)),
        };
        Ok(Endpoint {
            registry: registry.to_string(),
            base,
            host: host.to_string(),
            verify,
            challenge,
        })
    }

    /// The credentials for a repository, looked up once and cached.
    pub(crate) fn login_for(&self, registry: &str, repository: &str) -> Result<Option<Login>> {
        let key = (registry.to_string(), repository.to_string());
        if let Some(login) = lock(&self.logins).get(&key) {
            return Ok(login.clone());
        }
        let login = credentials::lookup(&self.options.credentials, registry, repository)?;
        lock(&self.logins).insert(key, login.clone());
        Ok(login)
    }

    /// The `Authorization` value for a request in `scope`, if one is needed.
    fn authorization(
        &self,
        endpoint: &Endpoint,
        challenge: Option<&Challenge>,
        scope: &Scope,
        refresh: bool,
    ) -> Result<Option<Secret>> {
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self
                .login_for(&scope.registry, &scope.repository)?
                .map(|login| basic_authorization(&login.username, &login.password))),
            Some(Challenge::Bearer { realm, service, .. }) => {
                let login = self.login_for(&scope.registry, &scope.repository)?;
                let token = self.tokens.token(
                    self,
                    endpoint,
                    realm,
                    service.as_deref(),
                    &scope.scopes,
                    login.as_ref(),
                    &scope.repository,
                    refresh,
                )?;
                Ok(Some(Secret::new(format!("Bearer {}", token.expose()))))
            }
        }
    }

    /// Sends `call` (its URL relative to the registry root when it starts with
    /// `/`) with authorization for `scope`. A 401 with a new challenge (e.g. a
    /// wider scope) is answered once with a fresh token.
    pub(crate) fn registry_call(
        &self,
        scope: &Scope,
        mut call: Call<'_>,
    ) -> Result<Response<Body>> {
        let endpoint = self.endpoint(&scope.registry)?;
        if call.url.starts_with('/') {
            call.url = format!("{}{}", endpoint.base, call.url);
        }
        let agent = self.transport.agent(&endpoint.host, endpoint.verify)?;
        let authorization =
            self.authorization(&endpoint, endpoint.challenge.as_ref(), scope, false)?;
        let response = self.transport.send(&agent, &call, authorization.as_ref())?;
        if response.status().as_u16() != 401 {
            return Ok(response);
        }
        let Some(challenge) = challenges(&response).into_iter().next() else {
            return Ok(response);
        };
        let mut widened = scope.clone();
        if let Challenge::Bearer {
            scope: Some(extra), ..
        } = &challenge
        {
            if !widened.scopes.contains(extra) {
                widened.scopes.push(extra.clone());
            }
        }
        let retry_authorization =
            self.authorization(&endpoint, Some(&challenge), &widened, true)?;
        if retry_authorization.is_none() || retry_authorization == authorization {
            return Ok(response);
        }
        drop(response);
        self.transport
            .send(&agent, &call, retry_authorization.as_ref())
    }

    /// Verifies `user`/`password` against `registry` (`GET /v2/` with them), for `kiln login`.
    pub fn check_login(&self, registry: &str, user: &str, password: &str) -> Result<()> {
        let endpoint = self.endpoint(registry)?;
        let login = Login {
            username: user.to_string(),
            password: Secret::new(password),
        };
        let authorization = match &endpoint.challenge {
            None => return Ok(()),
            Some(Challenge::Basic) => basic_authorization(user, &login.password),
            Some(Challenge::Bearer { realm, service, .. }) => {
                let token = self.tokens.fetch(
                    self,
                    &endpoint,
                    realm,
                    service.as_deref(),
                    &[],
                    Some(&login),
                    "/v2/",
                )?;
                Secret::new(format!("Bearer {}", token.expose()))
            }
        };
        let agent = self.transport.agent(&endpoint.host, endpoint.verify)?;
        let call = Call::new(Method::Get, format!("{}/v2/", endpoint.base));
        let response = self.transport.send(&agent, &call, Some(&authorization))?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            401 => Err(Error::Unauthorized {
                registry: registry.to_string(),
                repository: "/v2/".to_string(),
            }),
            _ => Err(status_error(response, Method::Get, &call.url)),
        }
    }
}

/// `Basic base64(user:password)`.
pub(crate) fn basic_authorization(user: &str, password: &Secret) -> Secret {
    use base64::Engine;
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", password.expose()));
    Secret::new(format!("Basic {encoded}"))
}

/// The challenges of a 401 response, Bearer first.
fn challenges(response: &Response<Body>) -> Vec<Challenge> {
    let mut found: Vec<Challenge> = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(challenge::parse)
        .collect();
    found.sort_by_key(|challenge| matches!(challenge, Challenge::Basic));
    found
}

/// Whether `host` (`name[:port]`, `[v6]:port`) is localhost or a loopback address.
pub(crate) fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        match host.rsplit_once(':') {
            Some((name, port))
                if port.bytes().all(|b| b.is_ascii_digit()) && !name.contains(':') =>
            {
                name
            }
            _ => host,
        }
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

/// Maps a 2xx response to `Ok`, and 401/403/404 to errors naming the registry and repository.
pub(crate) fn check_status(
    response: Response<Body>,
    scope: &Scope,
    method: Method,
    what: &str,
) -> Result<Response<Body>> {
    match response.status().as_u16() {
        200..=299 => Ok(response),
        401 => Err(Error::Unauthorized {
            registry: scope.registry.clone(),
            repository: scope.repository.clone(),
        }),
        403 => Err(Error::Denied {
            registry: scope.registry.clone(),
            repository: scope.repository.clone(),
        }),
        404 => Err(Error::NotFound {
            registry: scope.registry.clone(),
            repository: scope.repository.clone(),
            what: what.to_string(),
        }),
        _ => Err(status_error(response, method, what)),
    }
}

/// An [`Error::Status`] with the first bytes of the body as the message.
pub(crate) fn status_error(response: Response<Body>, method: Method, url: &str) -> Error {
    let status = response.status().as_u16();
    let mut message = String::new();
    if method != Method::Head {
        let _ = response
            .into_body()
            .into_reader()
            .take(512)
            .read_to_string(&mut message);
    }
    Error::Status {
        method: method.as_str(),
        url: url.to_string(),
        status,
        message: message.trim().to_string(),
    }
}

/// Percent-encodes a query value.
pub(crate) fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A header's value as text.
pub(crate) fn header<'a>(response: &'a Response<Body>, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        let cases = [
            ("localhost:5000", true),
            ("127.0.0.1:5000", true),
            ("127.3.4.5", true),
            ("[::1]:5000", true),
            ("::1", true),
            ("example.com:5000", false),
            ("10.0.0.1", false),
            ("localhost.example.com", false),
        ];
        for (host, expected) in cases {
            assert_eq!(is_loopback(host), expected, "{host}");
        }
    }

    #[test]
    fn query_encoding_and_basic() {
        assert_eq!(
            encode_query("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
        let value = basic_authorization("user", &Secret::new("pass"));
        assert_eq!(value.expose(), "Basic dXNlcjpwYXNz");
        assert_eq!(format!("{value:?}"), "<redacted>");
    }
}
