//! Reading manifests and indexes: media types, the blobs a manifest lists,
//! and the manifest an index names for a platform.

use kiln_oci::{media_type, Descriptor, Platform};
use serde_json::Value;

use crate::error::{Error, Result};

/// `application/json; charset=utf-8` → `application/json`.
pub(crate) fn strip_parameters(value: &str) -> String {
    value.split(';').next().unwrap_or(value).trim().to_string()
}

/// The media type of a manifest: its `mediaType` field, else the
/// `Content-Type`, else guessed from its shape.
pub(crate) fn media_type_of(bytes: &[u8], content_type: Option<String>) -> String {
    let value: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    if let Some(media_type) = value.get("mediaType").and_then(Value::as_str) {
        return media_type.to_string();
    }
    match content_type {
        Some(content_type) if content_type != "application/json" && !content_type.is_empty() => {
            content_type
        }
        _ if value.get("manifests").is_some() => media_type::OCI_INDEX.to_string(),
        _ => media_type::OCI_MANIFEST.to_string(),
    }
}

/// The config and layer descriptors of an image manifest.
pub(crate) fn manifest_blobs(bytes: &[u8], name: &str) -> Result<Vec<Descriptor>> {
    let invalid = |reason: &str| Error::InvalidManifest {
        reference: name.to_string(),
        reason: reason.to_string(),
    };
    let value: Value = serde_json::from_slice(bytes).map_err(|_| invalid("not JSON"))?;
    let config = value.get("config").ok_or_else(|| invalid("no config"))?;
    let mut blobs = vec![serde_json::from_value::<Descriptor>(config.clone())
        .map_err(|_| invalid("invalid config descriptor"))?];
    if let Some(layers) = value.get("layers").and_then(Value::as_array) {
        for layer in layers {
            blobs.push(
                serde_json::from_value(layer.clone())
                    .map_err(|_| invalid("invalid layer descriptor"))?,
            );
        }
    }
    Ok(blobs)
}

/// The descriptors an index lists.
pub(crate) fn index_manifests(
    bytes: &[u8],
    name: &str,
) -> Result<Vec<(Descriptor, Option<Platform>)>> {
    let invalid = |reason: &str| Error::InvalidManifest {
        reference: name.to_string(),
        reason: reason.to_string(),
    };
    let value: Value = serde_json::from_slice(bytes).map_err(|_| invalid("not JSON"))?;
    let manifests = value
        .get("manifests")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("no manifests"))?;
    manifests
        .iter()
        .map(|entry| {
            let descriptor = serde_json::from_value::<Descriptor>(entry.clone())
                .map_err(|_| invalid("invalid descriptor"))?;
            let platform = entry.get("platform").and_then(|platform| {
                Some(Platform {
                    os: platform.get("os")?.as_str()?.to_string(),
                    architecture: platform.get("architecture")?.as_str()?.to_string(),
                    variant: platform
                        .get("variant")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                })
            });
            Ok((descriptor, platform))
        })
        .collect()
}

/// The manifest of `platform` in an index: an exact variant match first,
/// then one whose variant is unspecified.
pub(crate) fn select_platform(bytes: &[u8], platform: &Platform, name: &str) -> Result<Descriptor> {
    let entries = index_manifests(bytes, name)?;
    let candidates = || {
        entries.iter().filter_map(|(descriptor, candidate)| {
            candidate
                .as_ref()
                .filter(|candidate| platform.matches(candidate))
                .map(|candidate| (descriptor, candidate))
        })
    };
    let exact = candidates().find(|(_, candidate)| candidate.variant == platform.variant);
    if let Some((descriptor, _)) = exact.or_else(|| candidates().next()) {
        return Ok(descriptor.clone());
    }
    let available: Vec<String> = entries
        .iter()
        .filter_map(|(_, p)| p.as_ref().map(Platform::to_string))
        .collect();
    Err(Error::NoMatchingPlatform {
        reference: name.to_string(),
        platform: platform.to_string(),
        available: available.join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_json() -> String {
        let entry = |hex: char, platform: &str| {
            format!(
                r#"{{"mediaType":"{}","digest":"sha256:{}","size":10,"platform":{platform}}}"#,
                media_type::OCI_MANIFEST,
                hex.to_string().repeat(64)
            )
        };
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{},{},{},{}]}}"#,
            media_type::DOCKER_MANIFEST_LIST,
            entry('a', r#"{"os":"linux","architecture":"amd64"}"#),
            entry('b', r#"{"os":"linux","architecture":"arm","variant":"v6"}"#),
            entry('c', r#"{"os":"linux","architecture":"arm","variant":"v7"}"#),
            entry('d', r#"{"os":"unknown","architecture":"unknown"}"#),
        )
    }

    #[test]
    fn platform_selection() {
        let index = index_json();
        let cases = [
            ("linux/amd64", Some('a')),
            ("linux/arm/v7", Some('c')),
            ("linux/arm/v6", Some('b')),
            ("linux/arm64", None),
            ("windows/amd64", None),
        ];
        for (platform, expected) in cases {
            let platform = Platform::parse(platform).unwrap();
            let found = select_platform(index.as_bytes(), &platform, "x").ok();
            let found = found.map(|d| d.digest().to_string().chars().last().unwrap());
            assert_eq!(found, expected, "{platform}");
        }
        let error = select_platform(
            index.as_bytes(),
            &Platform::parse("linux/s390x").unwrap(),
            "x",
        )
        .unwrap_err();
        assert!(error.to_string().contains("linux/arm/v7"), "{error}");
    }

    #[test]
    fn media_types_are_found() {
        let cases = [
            (r#"{"mediaType":"m"}"#, None, "m"),
            (r#"{}"#, Some("application/vnd.x"), "application/vnd.x"),
            (
                r#"{"manifests":[]}"#,
                Some("application/json"),
                media_type::OCI_INDEX,
            ),
            (r#"{"layers":[]}"#, None, media_type::OCI_MANIFEST),
        ];
        for (bytes, content_type, expected) in cases {
            assert_eq!(
                media_type_of(bytes.as_bytes(), content_type.map(str::to_string)),
                expected
            );
        }
        assert_eq!(
            strip_parameters("application/json; charset=utf-8"),
            "application/json"
        );
    }

    #[test]
    fn manifest_blob_list() {
        let digest = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"{}","digest":"{}","size":2}},"layers":[{{"mediaType":"{}","digest":"{}","size":3}}]}}"#,
            media_type::DOCKER_CONFIG,
            digest('1'),
            media_type::DOCKER_LAYER_GZIP,
            digest('2')
        );
        let blobs = manifest_blobs(manifest.as_bytes(), "x").unwrap();
        assert_eq!(blobs.len(), 2);
        assert_eq!(blobs[1].size(), 3);
        assert!(manifest_blobs(b"{}", "x").is_err());
    }
}
