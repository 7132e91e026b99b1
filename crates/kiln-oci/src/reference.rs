//! Image references, parsed and normalized as Docker does (`ubuntu` → `docker.io/library/ubuntu:latest`).
//!
//! The grammar is the one of `distribution/reference`: an optional domain
//! (`host[:port]`), a lowercase path of components separated by `/`, an
//! optional tag and an optional digest.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::{Error, Result};

/// The registry Docker Hub references normalize to.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The namespace of Docker Hub's official images.
const OFFICIAL_REPO_PREFIX: &str = "library/";
/// Other spellings of Docker Hub that normalize to [`DEFAULT_DOMAIN`].
const LEGACY_DEFAULT_DOMAINS: [&str; 2] = ["index.docker.io", "registry-1.docker.io"];
/// The tag a reference gets when it has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
/// Longest `domain/path` distribution accepts.
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// A normalized image reference: domain, repository path, optional tag and digest.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// The registry host, e.g. `docker.io` or `localhost:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path without the domain, e.g. `library/ubuntu`.
    pub fn repository(&self) -> &str {
        &self.path
    }

    /// The tag, if any (`latest` when the text named neither tag nor digest).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `domain/path`, e.g. `docker.io/library/ubuntu`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// Docker's short name without tag or digest: `ubuntu`, `user/app`, `quay.io/a/b`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }

    /// Docker's short form with tag and digest: `ubuntu:latest`, `quay.io/a/b:t@sha256:…`.
    pub fn familiar(&self) -> String {
        let mut out = self.familiar_name();
        self.push_tag_and_digest(&mut out);
        out
    }

    /// This reference with `tag` instead of its tag (the digest is kept).
    ///
    /// `tag` is not validated; use [`Reference::try_with_tag`] for untrusted text.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: Some(tag.to_string()),
            ..self.clone()
        }
    }

    /// Like [`Reference::with_tag`], but rejects a tag outside `[\w][\w.-]{0,127}`.
    pub fn try_with_tag(&self, tag: &str) -> Result<Reference> {
        if !is_valid_tag(tag) {
            return Err(Error::InvalidReference {
                value: format!("{}:{tag}", self.name()),
                reason: "invalid tag",
            });
        }
        Ok(self.with_tag(tag))
    }

    /// This reference with `digest` instead of its digest (the tag is kept).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }

    fn push_tag_and_digest(&self, out: &mut String) {
        if let Some(tag) = &self.tag {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(digest.as_str());
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = self.name();
        self.push_tag_and_digest(&mut out);
        f.write_str(&out)
    }
}

impl FromStr for Reference {
    type Err = Error;

    fn from_str(value: &str) -> Result<Reference> {
        let fail = |reason: &'static str| Error::InvalidReference {
            value: value.to_string(),
            reason,
        };
        if value.is_empty() {
            return Err(fail("empty reference"));
        }
        if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(fail("cannot specify 64-byte hexadecimal strings"));
        }
        let (rest, digest) = match value.split_once('@') {
            Some((rest, digest)) => {
                let digest = digest
                    .parse::<Digest>()
                    .map_err(|_| fail("invalid digest"))?;
                (rest, Some(digest))
            }
            None => (value, None),
        };
        let (domain, remainder) = split_domain(rest);
        let (path, tag) = match remainder.rsplit_once(':') {
            Some((path, tag)) => {
                if !is_valid_tag(tag) {
                    return Err(fail("invalid tag"));
                }
                (path, Some(tag.to_string()))
            }
            None => (remainder.as_str(), None),
        };
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(fail("repository name must be lowercase"));
        }
        if !is_valid_domain(&domain) {
            return Err(fail("invalid domain"));
        }
        if !path.split('/').all(is_valid_path_component) {
            return Err(fail("invalid repository path"));
        }
        if domain.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(fail("repository name is longer than 255 characters"));
        }
        let tag = match (tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (tag, _) => tag,
        };
        Ok(Reference {
            domain,
            path: path.to_string(),
            tag,
            digest,
        })
    }
}

/// Splits `name` (without digest) into a normalized domain and the remainder.
fn split_domain(name: &str) -> (String, String) {
    let (domain, remainder) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    let domain = if LEGACY_DEFAULT_DOMAINS.contains(&domain.as_str()) {
        DEFAULT_DOMAIN.to_string()
    } else {
        domain
    };
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        return (domain, format!("{OFFICIAL_REPO_PREFIX}{remainder}"));
    }
    (domain, remainder)
}

/// Whether `tag` matches `[\w][\w.-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    match bytes.split_first() {
        Some((first, rest)) => {
            word(*first)
                && rest.len() <= 127
                && rest.iter().all(|&b| word(b) || b == b'.' || b == b'-')
        }
        None => false,
    }
}

/// `host[:port]` where host is DNS-like components or a bracketed IPv6 address.
fn is_valid_domain(domain: &str) -> bool {
    let (host, port) = if let Some(stripped) = domain.strip_prefix('[') {
        let Some((address, after)) = stripped.split_once(']') else {
            return false;
        };
        if address.is_empty() || !address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return false,
            },
        }
    } else {
        match domain.rsplit_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(domain), None),
        }
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let host_ok = host.is_none_or(|h| h.split('.').all(is_valid_domain_component));
    port_ok && host_ok
}

/// `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`
fn is_valid_domain_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn is_valid_path_component(component: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    if !bytes.first().is_some_and(|&b| alnum(b)) || !bytes.last().is_some_and(|&b| alnum(b)) {
        return false;
    }
    let mut index = 0;
    while index < bytes.len() {
        if alnum(bytes[index]) {
            index += 1;
            continue;
        }
        let start = index;
        while index < bytes.len() && !alnum(bytes[index]) {
            index += 1;
        }
        let separator = &component[start..index];
        let valid = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !valid {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// input, expected Display (None = error), expected familiar form
    #[test]
    fn parse_table() {
        let digest = format!("sha256:{HEX}");
        let cases: Vec<(String, Option<String>, &str)> = vec![
            (
                "ubuntu".into(),
                Some("docker.io/library/ubuntu:latest".into()),
                "ubuntu:latest",
            ),
            (
                "ubuntu:22.04".into(),
                Some("docker.io/library/ubuntu:22.04".into()),
                "ubuntu:22.04",
            ),
            (
                "user/app".into(),
                Some("docker.io/user/app:latest".into()),
                "user/app:latest",
            ),
            (
                "user/app:1".into(),
                Some("docker.io/user/app:1".into()),
                "user/app:1",
            ),
            (
                "docker.io/library/busybox".into(),
                Some("docker.io/library/busybox:latest".into()),
                "busybox:latest",
            ),
            (
                "docker.io/busybox".into(),
                Some("docker.io/library/busybox:latest".into()),
                "busybox:latest",
            ),
            (
                "index.docker.io/library/alpine:3".into(),
                Some("docker.io/library/alpine:3".into()),
                "alpine:3",
            ),
            (
                "registry-1.docker.io/user/x".into(),
                Some("docker.io/user/x:latest".into()),
                "user/x:latest",
            ),
            (
                "library/a/b".into(),
                Some("docker.io/library/a/b:latest".into()),
                "library/a/b:latest",
            ),
            (
                "quay.io/a/b:t".into(),
                Some("quay.io/a/b:t".into()),
                "quay.io/a/b:t",
            ),
            (
                "localhost/app".into(),
                Some("localhost/app:latest".into()),
                "localhost/app:latest",
            ),
            (
                "localhost:5000/app:v1".into(),
                Some("localhost:5000/app:v1".into()),
                "localhost:5000/app:v1",
            ),
            (
                format!("host:5000/ns/app:tag@{digest}"),
                Some(format!("host:5000/ns/app:tag@{digest}")),
                "",
            ),
            (
                format!("alpine@{digest}"),
                Some(format!("docker.io/library/alpine@{digest}")),
                "",
            ),
            (
                "localhost:5000".into(),
                Some("docker.io/library/localhost:5000".into()),
                "localhost:5000",
            ),
            (
                "[::1]:5000/app".into(),
                Some("[::1]:5000/app:latest".into()),
                "[::1]:5000/app:latest",
            ),
            ("a.b-c.io/x__y/z-_-w".into(), None, ""),
            (
                "a.b-c.io/x__y/z--w.v_u".into(),
                Some("a.b-c.io/x__y/z--w.v_u:latest".into()),
                "a.b-c.io/x__y/z--w.v_u:latest",
            ),
            (
                "Foo/bar".into(),
                Some("Foo/bar:latest".into()),
                "Foo/bar:latest",
            ),
            ("_tags:x".into(), None, ""),
            ("Ubuntu".into(), None, ""),
            ("user/App:1".into(), None, ""),
            ("quay.io/A/b".into(), None, ""),
            ("".into(), None, ""),
            (":tag".into(), None, ""),
            ("app:".into(), None, ""),
            ("app:-bad".into(), None, ""),
            (format!("app:{}", "a".repeat(129)), None, ""),
            (
                format!("app:{}", "a".repeat(128)),
                Some(format!("docker.io/library/app:{}", "a".repeat(128))),
                "",
            ),
            ("app@sha256:abc".into(), None, ""),
            ("a//b".into(), None, ""),
            ("app/".into(), None, ""),
            ("-host.io/app".into(), None, ""),
            ("host.io:port/app".into(), None, ""),
            ("app..x".into(), None, ""),
            (HEX.into(), None, ""),
            (format!("x.io/{}", "a".repeat(255)), None, ""),
        ];
        for (input, expected, familiar) in &cases {
            let parsed = input.parse::<Reference>();
            match (expected, &parsed) {
                (Some(expected), Ok(reference)) => {
                    assert_eq!(&reference.to_string(), expected, "{input}");
                    if !familiar.is_empty() {
                        assert_eq!(&reference.familiar(), familiar, "{input}");
                    }
                }
                (None, Err(Error::InvalidReference { .. })) => {}
                _ => panic!("{input}: expected {expected:?}, got {parsed:?}"),
            }
        }
    }

    #[test]
    fn accessors() {
        let digest = format!("sha256:{HEX}");
        let reference: Reference = format!("host:5000/ns/app:tag@{digest}").parse().unwrap();
        assert_eq!(reference.domain(), "host:5000");
        assert_eq!(reference.repository(), "ns/app");
        assert_eq!(reference.tag(), Some("tag"));
        assert_eq!(
            reference.digest().map(Digest::as_str),
            Some(digest.as_str())
        );
        assert_eq!(reference.name(), "host:5000/ns/app");
        assert_eq!(
            reference.familiar(),
            format!("host:5000/ns/app:tag@{digest}")
        );

        let ubuntu: Reference = "ubuntu".parse().unwrap();
        assert_eq!(ubuntu.repository(), "library/ubuntu");
        assert_eq!(ubuntu.familiar_name(), "ubuntu");
        assert_eq!(
            ubuntu.with_tag("24.04").to_string(),
            "docker.io/library/ubuntu:24.04"
        );
        assert!(ubuntu.try_with_tag("bad tag").is_err());
        let pinned: Reference = format!("alpine@{digest}").parse().unwrap();
        assert_eq!(pinned.tag(), None);
        assert_eq!(pinned.familiar(), format!("alpine@{digest}"));
    }
}
