//! The bearer-token flow of the distribution spec: ask the challenge's realm
//! for a token (with basic credentials when kiln has some, or an OAuth2
//! refresh-token grant for an identity token), and cache it per registry and
//! scope for its lifetime.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::client::{basic_authorization, encode_query, Client, Endpoint};
use crate::credentials::Login;
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::transport::{lock, Call, CallBody, Method};

/// Lifetime assumed when the token response names none (the spec's default).
const DEFAULT_TOKEN_LIFETIME: u64 = 60;
/// Largest token response read.
const MAX_TOKEN_RESPONSE: u64 = 1024 * 1024;
/// The user name credential stores use for an identity token.
const IDENTITY_TOKEN_USER: &str = "<token>";

/// Tokens by (API host, scopes), with their expiry.
#[derive(Default)]
pub(crate) struct TokenCache {
    tokens: Mutex<HashMap<(String, String), (Secret, Instant)>>,
}

impl TokenCache {
    /// A token for `scopes`, from the cache unless `refresh` or expired.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn token(
        &self,
        client: &Client,
        endpoint: &Endpoint,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        login: Option<&Login>,
        repository: &str,
        refresh: bool,
    ) -> Result<Secret> {
        let key = (endpoint.host.clone(), scopes.join(" "));
        if !refresh {
            if let Some((token, expiry)) = lock(&self.tokens).get(&key) {
                if Instant::now() < *expiry {
                    return Ok(token.clone());
                }
            }
        }
        let (token, lifetime) =
            self.fetch_with_lifetime(client, endpoint, realm, service, scopes, login, repository)?;
        let usable = Duration::from_secs(lifetime.saturating_mul(9) / 10);
        lock(&self.tokens).insert(key, (token.clone(), Instant::now() + usable));
        Ok(token)
    }

    /// Asks the realm for a token without touching the cache.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fetch(
        &self,
        client: &Client,
        endpoint: &Endpoint,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        login: Option<&Login>,
        repository: &str,
    ) -> Result<Secret> {
        self.fetch_with_lifetime(client, endpoint, realm, service, scopes, login, repository)
            .map(|(token, _)| token)
    }

    #[allow(clippy::too_many_arguments)]
    fn fetch_with_lifetime(
        &self,
        client: &Client,
        endpoint: &Endpoint,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        login: Option<&Login>,
        repository: &str,
    ) -> Result<(Secret, u64)> {
        let fail = |reason: String| Error::Token {
            realm: realm.to_string(),
            registry: endpoint.registry.clone(),
            reason,
        };
        let host = url_host(realm).ok_or_else(|| Error::InvalidUrl {
            url: realm.to_string(),
            reason: "token realm is not an http(s) URL",
        })?;
        let agent = client.transport.agent(host, endpoint.verify)?;
        let identity_token = login.filter(|login| login.username == IDENTITY_TOKEN_USER);
        let form;
        let (call, authorization) = if let Some(login) = identity_token {
            let mut fields = vec![
                "grant_type=refresh_token".to_string(),
                format!("refresh_token={}", encode_query(login.password.expose())),
                "client_id=kiln".to_string(),
            ];
            if let Some(service) = service {
                fields.push(format!("service={}", encode_query(service)));
            }
            if !scopes.is_empty() {
                fields.push(format!("scope={}", encode_query(&scopes.join(" "))));
            }
            form = fields.join("&");
            let call = Call::new(Method::Post, realm.to_string())
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(CallBody::Bytes(form.as_bytes()));
            (call, None)
        } else {
            let mut query = Vec::new();
            if let Some(service) = service {
                query.push(format!("service={}", encode_query(service)));
            }
            for scope in scopes {
                query.push(format!("scope={}", encode_query(scope)));
            }
            if let Some(login) = login {
                query.push(format!("account={}", encode_query(&login.username)));
            }
            let separator = if realm.contains('?') { '&' } else { '?' };
            let url = if query.is_empty() {
                realm.to_string()
            } else {
                format!("{realm}{separator}{}", query.join("&"))
            };
            let authorization =
                login.map(|login| basic_authorization(&login.username, &login.password));
            (Call::new(Method::Get, url), authorization)
        };
        let response = client
            .transport
            .send(&agent, &call, authorization.as_ref())?;
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            return Err(Error::Unauthorized {
                registry: endpoint.registry.clone(),
                repository: repository.to_string(),
            });
        }
        if !(200..300).contains(&status) {
            return Err(fail(format!("status {status}")));
        }
        let mut body = Vec::new();
        response
            .into_body()
            .into_reader()
            .take(MAX_TOKEN_RESPONSE)
            .read_to_end(&mut body)
            .map_err(|error| fail(format!("reading the response: {error}")))?;
        parse_token_response(&body).map_err(|reason| fail(reason.to_string()))
    }
}

/// `token` (or `access_token`) and `expires_in` from a token response.
fn parse_token_response(body: &[u8]) -> std::result::Result<(Secret, u64), &'static str> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| "the response is not JSON")?;
    let token = ["token", "access_token"]
        .iter()
        .filter_map(|name| value.get(*name).and_then(serde_json::Value::as_str))
        .find(|token| !token.is_empty())
        .ok_or("the response has no token")?;
    let lifetime = value
        .get("expires_in")
        .and_then(serde_json::Value::as_u64)
        .filter(|seconds| *seconds > 0)
        .unwrap_or(DEFAULT_TOKEN_LIFETIME);
    Ok((Secret::new(token), lifetime))
}

/// The `host[:port]` of an http(s) URL.
pub(crate) fn url_host(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..end];
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_responses() {
        type Expected<'a> = std::result::Result<(&'a str, u64), &'a str>;
        let cases: [(&str, Expected); 5] = [
            (r#"{"token":"t","expires_in":300}"#, Ok(("t", 300))),
            (r#"{"access_token":"a"}"#, Ok(("a", 60))),
            (
                r#"{"token":"","access_token":"b","expires_in":0}"#,
                Ok(("b", 60)),
            ),
            (r#"{"nothing":1}"#, Err("the response has no token")),
            ("not json", Err("the response is not JSON")),
        ];
        for (body, expected) in cases {
            let parsed = parse_token_response(body.as_bytes());
            let parsed = parsed
                .as_ref()
                .map(|(token, lifetime)| (token.expose(), *lifetime))
                .map_err(|e| *e);
            assert_eq!(parsed, expected, "{body}");
        }
    }

    #[test]
    fn url_hosts() {
        let cases = [
            ("https://auth.docker.io/token", Some("auth.docker.io")),
            ("http://127.0.0.1:4000?x=1", Some("127.0.0.1:4000")),
            ("http://u:p@h:1/t", Some("h:1")),
            ("ftp://x/y", None),
            ("https:///", None),
        ];
        for (url, expected) in cases {
            assert_eq!(url_host(url), expected, "{url}");
        }
    }
}
