//! `WWW-Authenticate` challenges (RFC 7235) as registries send them:
//! `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.

/// What a registry asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    /// HTTP basic authentication.
    Basic,
    /// The distribution token flow: get a token from `realm`.
    Bearer {
        /// The token endpoint URL.
        realm: String,
        /// The `service` parameter to pass to it.
        service: Option<String>,
        /// The scope the registry says the request needs, if it said.
        scope: Option<String>,
    },
}

/// Parses one `WWW-Authenticate` header value; `None` for an unknown scheme
/// or a Bearer challenge without a realm.
pub(crate) fn parse(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = match header.split_once(char::is_whitespace) {
        Some((scheme, rest)) => (scheme, rest),
        None => (header, ""),
    };
    let params = parse_params(rest);
    let get = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
    };
    if scheme.eq_ignore_ascii_case("basic") {
        Some(Challenge::Basic)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Some(Challenge::Bearer {
            realm: get("realm").filter(|realm| !realm.is_empty())?,
            service: get("service"),
            scope: get("scope"),
        })
    } else {
        None
    }
}

/// Parses `key=value, key="quoted \"value\""` pairs.
fn parse_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            return params;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek() != Some(&'=') {
            continue;
        }
        chars.next();
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(escaped) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => break,
                    other => value.push(other),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        params.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        let bearer = |realm: &str, service: Option<&str>, scope: Option<&str>| {
            Some(Challenge::Bearer {
                realm: realm.to_string(),
                service: service.map(str::to_string),
                scope: scope.map(str::to_string),
            })
        };
        let cases = [
            (r#"Basic realm="Registry Realm""#, Some(Challenge::Basic)),
            ("basic", Some(Challenge::Basic)),
            (
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
                bearer(
                    "https://auth.docker.io/token",
                    Some("registry.docker.io"),
                    Some("repository:library/alpine:pull"),
                ),
            ),
            (
                r#"Bearer realm="http://a/t", scope="repository:x:pull,push", error="insufficient_scope""#,
                bearer("http://a/t", None, Some("repository:x:pull,push")),
            ),
            (
                r#"Bearer realm=http://plain/t,service=svc"#,
                bearer("http://plain/t", Some("svc"), None),
            ),
            (
                r#"Bearer realm="with \"quote\"""#,
                bearer("with \"quote\"", None, None),
            ),
            (r#"Bearer service="no realm""#, None),
            ("Negotiate abc", None),
        ];
        for (header, expected) in cases {
            assert_eq!(parse(header), expected, "{header}");
        }
    }
}
