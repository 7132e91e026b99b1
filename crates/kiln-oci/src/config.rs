//! The image config in Docker's shape (with `Healthcheck`, `OnBuild` and `Shell`,
//! which oci-spec's `Config` lacks); kiln keeps them in OCI configs too, as BuildKit does.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};

/// An image config (`application/vnd.oci.image.config.v1+json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// Creation time, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Author of the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// CPU architecture (Go name, e.g. `amd64`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub architecture: String,
    /// Operating system (e.g. `linux`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub os: String,
    /// CPU variant (e.g. `v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Defaults for containers run from the image.
    #[serde(default, deserialize_with = "null_as_default")]
    pub config: ContainerConfig,
    /// The layers' diff_ids.
    #[serde(default, deserialize_with = "null_as_default")]
    pub rootfs: RootFs,
    /// One entry per build step.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub history: Vec<History>,
}

impl ImageConfig {
    /// Parses a config; unknown fields are ignored and JSON `null` counts as absent.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|source| Error::json("image config", source))
    }

    /// The compact JSON encoding, with a fixed field order (deterministic bytes).
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain structs with string-keyed maps cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Container defaults (`config` in the image config), with Docker's field names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// `USER`.
    #[serde(rename = "User", default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `EXPOSE`d ports, e.g. `80/tcp`.
    #[serde(
        rename = "ExposedPorts",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub exposed_ports: BTreeMap<String, EmptyObject>,
    /// `ENV`, as `KEY=value`.
    #[serde(
        rename = "Env",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub env: Vec<String>,
    /// `ENTRYPOINT`.
    #[serde(
        rename = "Entrypoint",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub entrypoint: Option<Vec<String>>,
    /// `CMD`.
    #[serde(rename = "Cmd", default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// `VOLUME`s.
    #[serde(
        rename = "Volumes",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub volumes: BTreeMap<String, EmptyObject>,
    /// `WORKDIR`.
    #[serde(
        rename = "WorkingDir",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub working_dir: Option<String>,
    /// `LABEL`s.
    #[serde(
        rename = "Labels",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// `STOPSIGNAL`.
    #[serde(
        rename = "StopSignal",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub stop_signal: Option<String>,
    /// `HEALTHCHECK`.
    #[serde(
        rename = "Healthcheck",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub healthcheck: Option<HealthConfig>,
    /// `ONBUILD` triggers.
    #[serde(
        rename = "OnBuild",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub on_build: Vec<String>,
    /// `SHELL`.
    #[serde(
        rename = "Shell",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub shell: Vec<String>,
    /// Windows-only escaping hint Docker records.
    #[serde(
        rename = "ArgsEscaped",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub args_escaped: Option<bool>,
}

/// A JSON object with no fields (`{}`), the value type of Docker's port and volume sets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmptyObject {}

/// `HEALTHCHECK` settings; durations are nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", args…]` or `["CMD-SHELL", command]`.
    #[serde(
        rename = "Test",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub test: Vec<String>,
    /// Time between checks.
    #[serde(rename = "Interval", default, skip_serializing_if = "is_none_or_zero")]
    pub interval: Option<i64>,
    /// Time before a check counts as hung.
    #[serde(rename = "Timeout", default, skip_serializing_if = "is_none_or_zero")]
    pub timeout: Option<i64>,
    /// Grace period after start.
    #[serde(
        rename = "StartPeriod",
        default,
        skip_serializing_if = "is_none_or_zero"
    )]
    pub start_period: Option<i64>,
    /// Time between checks during the start period.
    #[serde(
        rename = "StartInterval",
        default,
        skip_serializing_if = "is_none_or_zero"
    )]
    pub start_interval: Option<i64>,
    /// Consecutive failures before unhealthy.
    #[serde(rename = "Retries", default, skip_serializing_if = "is_none_or_zero")]
    pub retries: Option<i64>,
}

/// The layers of the image, by diff_id (sha256 of the uncompressed tar).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type", default, deserialize_with = "null_as_default")]
    pub fs_type: String,
    /// diff_ids, base layer first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub diff_ids: Vec<Digest>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            fs_type: "layers".to_string(),
            diff_ids: Vec::new(),
        }
    }
}

/// One build step in the image's history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// When the step ran, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The instruction, e.g. `RUN /bin/sh -c make`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Author of the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Free-form comment, e.g. `buildkit.dockerfile.v0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Whether the step made no layer.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_false"
    )]
    pub empty_layer: bool,
}

fn null_as_default<'de, D, T>(deserializer: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

fn is_none_or_zero(value: &Option<i64>) -> bool {
    matches!(value, None | Some(0))
}

fn is_false(value: &bool) -> bool {
    !*value
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER_CONFIG: &str = r#"{
      "architecture": "amd64",
      "author": "someone",
      "config": {
        "Hostname": "", "AttachStdin": false,
        "User": "app", "ExposedPorts": {"8080/tcp": {}, "53/udp": {}},
        "Env": ["PATH=/usr/local/bin:/usr/bin", "A=b"],
        "Cmd": ["serve", "--port", "8080"], "Entrypoint": null,
        "Healthcheck": {"Test": ["CMD-SHELL", "curl -f http://localhost/"], "Interval": 30000000000,
                        "Timeout": 5000000000, "StartPeriod": 0, "Retries": 3},
        "ArgsEscaped": true, "Image": "", "Volumes": {"/data": {}}, "WorkingDir": "/srv",
        "OnBuild": ["RUN echo child"], "Labels": {"b": "2", "a": "1"},
        "StopSignal": "SIGTERM", "Shell": ["/bin/bash", "-c"]
      },
      "container": "abc", "container_config": {"Cmd": ["x"]},
      "created": "2024-01-02T03:04:05Z", "docker_version": "24.0.0",
      "history": [
        {"created": "2024-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:x in /"},
        {"created": "2024-01-02T03:04:05Z", "created_by": "ENV A=b", "comment": "buildkit.dockerfile.v0", "empty_layer": true}
      ],
      "os": "linux",
      "rootfs": {"type": "layers", "diff_ids": ["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]}
    }"#;

    #[test]
    fn parses_docker_config_and_round_trips() {
        let config = ImageConfig::from_json(DOCKER_CONFIG.as_bytes()).unwrap();
        assert_eq!(config.architecture, "amd64");
        assert_eq!(config.config.user.as_deref(), Some("app"));
        assert_eq!(config.config.exposed_ports.len(), 2);
        assert_eq!(config.config.entrypoint, None);
        let health = config.config.healthcheck.clone().unwrap();
        assert_eq!(health.retries, Some(3));
        assert_eq!(health.start_period, Some(0));
        assert_eq!(config.config.on_build, vec!["RUN echo child"]);
        assert_eq!(config.config.shell, vec!["/bin/bash", "-c"]);
        assert_eq!(
            config.config.labels.keys().collect::<Vec<_>>(),
            vec!["a", "b"]
        );
        assert!(config.history[1].empty_layer);
        assert_eq!(config.rootfs.diff_ids.len(), 1);

        let json = config.to_json();
        let text = String::from_utf8(json.clone()).unwrap();
        assert!(
            !text.contains("container_config"),
            "unknown fields are dropped: {text}"
        );
        assert!(
            !text.contains("StartPeriod"),
            "zero durations are skipped: {text}"
        );
        assert!(!text.contains("Entrypoint"), "{text}");
        assert!(
            text.starts_with(
                r#"{"created":"2024-01-02T03:04:05Z","author":"someone","architecture":"amd64""#
            ),
            "{text}"
        );
        let again = ImageConfig::from_json(&json).unwrap();
        let mut expected = config.clone();
        expected.config.healthcheck.as_mut().unwrap().start_period = None;
        assert_eq!(again, expected);
        assert_eq!(again.to_json(), json, "encoding is deterministic");
    }

    #[test]
    fn nulls_and_missing_fields_are_defaults() {
        let config = ImageConfig::from_json(
            br#"{"architecture":"arm64","os":"linux","config":null,"rootfs":{"type":"layers","diff_ids":null},"history":null}"#,
        )
        .unwrap();
        assert_eq!(config.config, ContainerConfig::default());
        assert!(config.rootfs.diff_ids.is_empty());
        let minimal = ImageConfig::from_json(br#"{"config":{"Env":null,"Labels":null}}"#).unwrap();
        assert_eq!(minimal.rootfs.fs_type, "layers");
        assert!(minimal.config.env.is_empty());
    }

    #[test]
    fn default_serialization() {
        let config = ImageConfig {
            architecture: "amd64".into(),
            os: "linux".into(),
            ..Default::default()
        };
        assert_eq!(
            String::from_utf8(config.to_json()).unwrap(),
            r#"{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#
        );
        assert!(ImageConfig::from_json(b"[1]").is_err());
    }
}
