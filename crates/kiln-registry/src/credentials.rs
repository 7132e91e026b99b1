//! Reading credentials (Docker `config.json`, containers `auth.json`,
//! credential helpers, `--creds`) and writing logins ([`store_login`], [`remove_login`]).
//!
//! Both file formats share the `auths` map (`{"auths": {"host": {"auth":
//! base64("user:pass")}}}`) and the `credHelpers`/`credsStore` keys. Keys are
//! matched after normalization: the scheme and a trailing `/v1/` or `/v2/` are
//! dropped and Docker Hub's aliases (`index.docker.io`, `registry-1.docker.io`)
//! become `docker.io`; a key with a path (`host/ns/repo`, as auth.json allows)
//! wins over the bare host.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::options::Credentials;
use crate::secret::Secret;

/// Credentials found for one registry.
#[derive(Debug, Clone)]
pub(crate) struct Login {
    /// The user name (`<token>` when only an identity token is known).
    pub username: String,
    /// The password or, for `<token>`, the identity (refresh) token.
    pub password: Secret,
}

/// Finds credentials for `registry` (as in a reference, e.g. `docker.io`) and `repository`.
pub(crate) fn lookup(
    credentials: &Credentials,
    registry: &str,
    repository: &str,
) -> Result<Option<Login>> {
    if let Some((username, password)) = &credentials.explicit {
        return Ok(Some(Login {
            username: username.clone(),
            password: password.clone(),
        }));
    }
    let files = credentials
        .auth_files
        .iter()
        .chain(credentials.docker_config.iter());
    for path in files {
        let Some(config) = read_config(path)? else {
            continue;
        };
        if let Some(login) = lookup_in(&config, path, registry, repository)? {
            return Ok(Some(login));
        }
    }
    Ok(None)
}

/// Reads a JSON credentials file; `None` when it does not exist.
fn read_config(path: &Path) -> Result<Option<Map<String, Value>>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(Error::io(path, error)),
    };
    if text.trim().is_empty() {
        return Ok(Some(Map::new()));
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(_) => Err(auth_file_error(path, "not a JSON object")),
        Err(error) => Err(auth_file_error(
            path,
            &format!("invalid JSON at line {}", error.line()),
        )),
    }
}

fn auth_file_error(path: &Path, reason: &str) -> Error {
    Error::AuthFile {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Looks `registry`/`repository` up in one parsed file.
fn lookup_in(
    config: &Map<String, Value>,
    path: &Path,
    registry: &str,
    repository: &str,
) -> Result<Option<Login>> {
    let registry = normalize_key(registry);
    if let Some(Value::Object(helpers)) = config.get("credHelpers") {
        let helper = helpers
            .iter()
            .find(|(key, _)| normalize_key(key) == registry)
            .and_then(|(_, value)| value.as_str());
        if let Some(helper) = helper {
            return run_helper(helper, &registry);
        }
    }
    if let Some(Value::Object(auths)) = config.get("auths") {
        for candidate in candidates(&registry, repository) {
            let entry = auths
                .iter()
                .find(|(key, _)| normalize_key(key) == candidate)
                .map(|(_, value)| value);
            if let Some(Some(login)) = entry.map(|value| parse_entry(value, path)).transpose()? {
                return Ok(Some(login));
            }
        }
    }
    if let Some(helper) = config.get("credsStore").and_then(Value::as_str) {
        return run_helper(helper, &registry);
    }
    Ok(None)
}

/// `host/a/b/repo`, `host/a/b`, `host/a`, `host`: most specific first.
fn candidates(registry: &str, repository: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut path = format!("{registry}/{repository}");
    loop {
        out.push(path.clone());
        match path.rfind('/') {
            Some(slash) => path.truncate(slash),
            None => break,
        }
    }
    out
}

/// One `auths` entry: `auth` (base64 `user:pass`), or `username`+`password`, or `identitytoken`.
fn parse_entry(value: &Value, path: &Path) -> Result<Option<Login>> {
    if let Some(auth) = value
        .get("auth")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
    {
        let decoded = BASE64
            .decode(auth.trim())
            .map_err(|_| auth_file_error(path, "an `auth` value is not valid base64"))?;
        let text = String::from_utf8(decoded)
            .map_err(|_| auth_file_error(path, "an `auth` value is not UTF-8"))?;
        let (username, password) = text
            .split_once(':')
            .ok_or_else(|| auth_file_error(path, "an `auth` value is not user:password"))?;
        return Ok(Some(Login {
            username: username.to_string(),
            password: Secret::new(password),
        }));
    }
    if let Some(token) = value
        .get("identitytoken")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        return Ok(Some(Login {
            username: "<token>".to_string(),
            password: Secret::new(token),
        }));
    }
    let username = value.get("username").and_then(Value::as_str);
    let password = value.get("password").and_then(Value::as_str);
    Ok(match (username, password) {
        (Some(username), Some(password)) => Some(Login {
            username: username.to_string(),
            password: Secret::new(password),
        }),
        _ => None,
    })
}

/// `https://index.docker.io/v1/` → `docker.io`; `http://host:5000/` → `host:5000`.
pub(crate) fn normalize_key(key: &str) -> String {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let mut key = key.trim_end_matches('/');
    for suffix in ["/v1", "/v2"] {
        if let Some(stripped) = key.strip_suffix(suffix) {
            key = stripped;
        }
    }
    let (host, rest) = match key.split_once('/') {
        Some((host, rest)) => (host, Some(rest)),
        None => (key, None),
    };
    let host = match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        other => other,
    };
    match rest {
        Some(rest) => format!("{host}/{rest}"),
        None => host.to_string(),
    }
}

/// The server URL credential helpers know a registry by.
fn helper_server_url(registry: &str) -> String {
    if registry == "docker.io" {
        "https://index.docker.io/v1/".to_string()
    } else {
        registry.to_string()
    }
}

/// Runs `docker-credential-<helper> get` with the server URL on stdin.
fn run_helper(helper: &str, registry: &str) -> Result<Option<Login>> {
    let program = format!("docker-credential-{helper}");
    let fail = |reason: String| Error::CredentialHelper {
        helper: program.clone(),
        registry: registry.to_string(),
        reason,
    };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| fail(format!("cannot run it: {error}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(helper_server_url(registry).as_bytes())
            .map_err(|error| fail(format!("cannot write to it: {error}")))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|error| fail(format!("cannot wait for it: {error}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stdout.contains("credentials not found") || stderr.contains("credentials not found") {
            return Ok(None);
        }
        return Err(fail(format!("{} ({})", output.status, stderr.trim())));
    }
    let value: Value = serde_json::from_str(&stdout)
        .map_err(|_| fail("its output is not the expected JSON".to_string()))?;
    let username = value.get("Username").and_then(Value::as_str).unwrap_or("");
    let secret = value.get("Secret").and_then(Value::as_str).unwrap_or("");
    if secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Login {
        username: username.to_string(),
        password: Secret::new(secret),
    }))
}

/// Records a login for `registry` in `auth_file` (containers `auth.json`
/// format, also readable by Docker): the file is replaced atomically, mode
/// 0600, its other entries kept; the parent directory is created 0700.
pub fn store_login(auth_file: &Path, registry: &str, user: &str, password: &str) -> Result<()> {
    let mut config = read_config(auth_file)?.unwrap_or_default();
    let auths = config
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if !auths.is_object() {
        *auths = Value::Object(Map::new());
    }
    let key = normalize_key(registry);
    if let Value::Object(auths) = auths {
        auths.retain(|existing, _| normalize_key(existing) != key);
        let mut entry = Map::new();
        entry.insert(
            "auth".to_string(),
            Value::String(BASE64.encode(format!("{user}:{password}"))),
        );
        auths.insert(key, Value::Object(entry));
    }
    write_config(auth_file, &config)
}

/// Removes every login for `registry` from `auth_file`; returns whether one existed.
pub fn remove_login(auth_file: &Path, registry: &str) -> Result<bool> {
    let Some(mut config) = read_config(auth_file)? else {
        return Ok(false);
    };
    let key = normalize_key(registry);
    let mut removed = false;
    if let Some(Value::Object(auths)) = config.get_mut("auths") {
        let before = auths.len();
        auths.retain(|existing, _| normalize_key(existing) != key);
        removed = auths.len() != before;
    }
    if removed {
        write_config(auth_file, &config)?;
    }
    Ok(removed)
}

/// Writes `config` to `path` through a 0600 temp file renamed over it.
fn write_config(path: &Path, config: &Map<String, Value>) -> Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|error| Error::io(dir, error))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".auth-")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(|error| Error::io(dir, error))?;
    let mut bytes =
        serde_json::to_vec_pretty(config).map_err(|_| auth_file_error(path, "cannot serialize"))?;
    bytes.push(b'\n');
    temp.write_all(&bytes)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|error| Error::io(temp.path().to_path_buf(), error))?;
    temp.persist(path)
        .map_err(|error| Error::io(path, error.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn keys_normalize() {
        let cases = [
            ("https://index.docker.io/v1/", "docker.io"),
            ("registry-1.docker.io", "docker.io"),
            ("http://localhost:5000/", "localhost:5000"),
            ("quay.io/ns/repo", "quay.io/ns/repo"),
            ("https://host:1/v2/", "host:1"),
        ];
        for (key, expected) in cases {
            assert_eq!(normalize_key(key), expected, "{key}");
        }
    }

    #[test]
    fn lookup_prefers_specific_keys_and_explicit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.json");
        let encode = |text: &str| BASE64.encode(text);
        let config = serde_json::json!({"auths": {
            "https://index.docker.io/v1/": {"auth": encode("hub:1")},
            "quay.io": {"auth": encode("q:2")},
            "quay.io/team": {"auth": encode("team:3")},
            "other.io": {},
            "plain.io": {"username": "p", "password": "4"},
        }});
        fs::write(&path, config.to_string()).unwrap();
        let credentials = Credentials {
            auth_files: vec![PathBuf::from("/nonexistent/auth.json"), path.clone()],
            ..Credentials::default()
        };
        let cases = [
            ("docker.io", "library/alpine", Some(("hub", "1"))),
            ("quay.io", "team/app", Some(("team", "3"))),
            ("quay.io", "solo/app", Some(("q", "2"))),
            ("plain.io", "x", Some(("p", "4"))),
            ("other.io", "x", None),
            ("none.io", "x", None),
        ];
        for (registry, repository, expected) in cases {
            let found = lookup(&credentials, registry, repository).unwrap();
            let found = found
                .as_ref()
                .map(|l| (l.username.as_str(), l.password.expose()));
            assert_eq!(found, expected, "{registry}/{repository}");
        }
        let explicit = Credentials {
            explicit: Some(("e".to_string(), Secret::new("5"))),
            ..credentials
        };
        let login = lookup(&explicit, "quay.io", "team/app").unwrap().unwrap();
        assert_eq!(login.username, "e");
    }

    #[test]
    fn store_and_remove_login_round_trip() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/auth.json");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, r#"{"auths":{"keep.io":{"auth":"YTpi"}},"other":1}"#).unwrap();
        store_login(&path, "localhost:5000", "me", "pw").unwrap();
        store_login(&path, "http://localhost:5000/", "me", "pw2").unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        let credentials = Credentials {
            auth_files: vec![path.clone()],
            ..Credentials::default()
        };
        let login = lookup(&credentials, "localhost:5000", "a")
            .unwrap()
            .unwrap();
        assert_eq!(
            (login.username.as_str(), login.password.expose()),
            ("me", "pw2")
        );
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("keep.io") && text.contains("\"other\": 1"),
            "{text}"
        );
        assert!(remove_login(&path, "localhost:5000").unwrap());
        assert!(!remove_login(&path, "localhost:5000").unwrap());
        assert!(lookup(&credentials, "localhost:5000", "a")
            .unwrap()
            .is_none());
        assert!(!remove_login(&dir.path().join("missing.json"), "x").unwrap());
    }

    #[test]
    fn credential_helper_is_run() {
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-kilntest");
        fs::write(
            &helper,
            "#!/bin/sh\nread server\nif [ \"$server\" = helped.io ]; then echo '{\"ServerURL\":\"helped.io\",\"Username\":\"h\",\"Secret\":\"s\"}'; else echo 'credentials not found in native keychain'; exit 1; fi\n",
        )
        .unwrap();
        fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
        // Helpers are found through PATH: put the test's directory first (no other
        // unit test of this crate spawns programs).
        let config =
            serde_json::json!({"credHelpers": {"helped.io": "kilntest"}, "credsStore": "kilntest"});
        let map = config.as_object().unwrap().clone();
        let old_path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![dir.path().to_path_buf()];
        paths.extend(std::env::split_paths(&old_path));
        std::env::set_var("PATH", std::env::join_paths(paths).unwrap());
        let login = lookup_in(&map, Path::new("c.json"), "helped.io", "r")
            .unwrap()
            .unwrap();
        assert_eq!(
            (login.username.as_str(), login.password.expose()),
            ("h", "s")
        );
        assert!(lookup_in(&map, Path::new("c.json"), "other.io", "r")
            .unwrap()
            .is_none());
        let missing = serde_json::json!({"credsStore": "kiln-missing-helper"});
        let error = lookup_in(
            missing.as_object().unwrap(),
            Path::new("c.json"),
            "x.io",
            "r",
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("docker-credential-kiln-missing-helper"),
            "{error}"
        );
    }
}
