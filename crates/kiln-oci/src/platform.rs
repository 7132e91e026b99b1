//! Platforms (`linux/amd64`, `linux/arm/v7`) with Go's names, parsed and normalized as containerd does.

use std::fmt;

use crate::error::{Error, Result};

/// An OS/architecture/variant triple with Go's names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// CPU architecture, e.g. `amd64`.
    pub architecture: String,
    /// CPU variant, e.g. `v7` for `arm`.
    pub variant: Option<String>,
}

impl Platform {
    /// The platform kiln runs on.
    pub fn host() -> Platform {
        let os = normalize_os(std::env::consts::OS);
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "x86" => ("386", None),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
            "powerpc64" => ("ppc64", None),
            "s390x" => ("s390x", None),
            "riscv64" => ("riscv64", None),
            "loongarch64" => ("loong64", None),
            other => (other, None),
        };
        Platform {
            os,
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        }
    }

    /// Parses `os/arch[/variant]`, or a lone `arch` or `os` (the rest taken from the host).
    pub fn parse(value: &str) -> Result<Platform> {
        let fail = |reason: &'static str| Error::InvalidPlatform {
            value: value.to_string(),
            reason,
        };
        let lowered = value.to_ascii_lowercase();
        let parts: Vec<&str> = lowered.split('/').collect();
        if parts.iter().any(|part| part.is_empty()) {
            return Err(fail("empty component"));
        }
        let valid_chars = |part: &&str| {
            part.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        };
        if !parts.iter().all(valid_chars) {
            return Err(fail("invalid character"));
        }
        let (os, architecture, variant) = match parts.as_slice() {
            [single] if is_known_os(&normalize_os(single)) => {
                let host = Platform::host();
                (normalize_os(single), host.architecture, host.variant)
            }
            [arch] => (
                normalize_os(std::env::consts::OS),
                (*arch).to_string(),
                None,
            ),
            [os, arch] => (normalize_os(os), (*arch).to_string(), None),
            [os, arch, variant] => (
                normalize_os(os),
                (*arch).to_string(),
                Some((*variant).to_string()),
            ),
            _ => return Err(fail("expected os/arch[/variant]")),
        };
        let (architecture, variant) = normalize_arch(&architecture, variant);
        Ok(Platform {
            os,
            architecture,
            variant,
        })
    }

    /// Whether an image for `candidate` runs here: same OS and architecture, and the
    /// same variant when both name one (a missing variant matches any).
    pub fn matches(&self, candidate: &Platform) -> bool {
        let variant_ok = match (&self.variant, &candidate.variant) {
            (Some(wanted), Some(found)) => wanted == found,
            _ => true,
        };
        self.os == candidate.os && self.architecture == candidate.architecture && variant_ok
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

fn normalize_os(os: &str) -> String {
    match os {
        "macos" => "darwin".to_string(),
        other => other.to_ascii_lowercase(),
    }
}

fn is_known_os(os: &str) -> bool {
    matches!(
        os,
        "aix"
            | "android"
            | "darwin"
            | "dragonfly"
            | "freebsd"
            | "illumos"
            | "ios"
            | "linux"
            | "netbsd"
            | "openbsd"
            | "plan9"
            | "solaris"
            | "windows"
    )
}

fn normalize_arch(architecture: &str, variant: Option<String>) -> (String, Option<String>) {
    let with_v = |variant: Option<String>| {
        variant.map(|v| {
            if v.starts_with('v') {
                v
            } else {
                format!("v{v}")
            }
        })
    };
    match architecture {
        "i386" | "i486" | "i586" | "i686" | "x86" | "386" => ("386".into(), None),
        "x86_64" | "x86-64" | "amd64" => {
            let variant = with_v(variant).filter(|v| v != "v1");
            ("amd64".into(), variant)
        }
        "aarch64" | "arm64" => {
            let variant = with_v(variant).map(|v| if v == "v8.0" { "v8".into() } else { v });
            ("arm64".into(), variant)
        }
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        "arm" => ("arm".into(), with_v(variant).or_else(|| Some("v7".into()))),
        "ppc64el" => ("ppc64le".into(), variant),
        other => (other.to_string(), variant),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let cases = [
            ("linux/amd64", Some("linux/amd64")),
            ("linux/x86_64", Some("linux/amd64")),
            ("Linux/AMD64", Some("linux/amd64")),
            ("linux/aarch64", Some("linux/arm64")),
            ("linux/arm64/v8", Some("linux/arm64/v8")),
            ("linux/arm64/8", Some("linux/arm64/v8")),
            ("linux/arm", Some("linux/arm/v7")),
            ("linux/arm/v6", Some("linux/arm/v6")),
            ("linux/armhf", Some("linux/arm/v7")),
            ("linux/i686", Some("linux/386")),
            ("linux/ppc64le", Some("linux/ppc64le")),
            ("linux/s390x", Some("linux/s390x")),
            ("linux/riscv64", Some("linux/riscv64")),
            ("windows/amd64", Some("windows/amd64")),
            ("", None),
            ("linux/", None),
            ("linux/amd64/v2/x", None),
            ("linux/am d64", None),
        ];
        for (input, expected) in cases {
            let parsed = Platform::parse(input).map(|p| p.to_string()).ok();
            assert_eq!(parsed.as_deref(), expected, "{input}");
        }
    }

    #[test]
    fn single_component_uses_host() {
        let host = Platform::host();
        let arch = Platform::parse("arm64").unwrap();
        assert_eq!(
            (arch.os.as_str(), arch.architecture.as_str()),
            (host.os.as_str(), "arm64")
        );
        let os = Platform::parse("linux").unwrap();
        assert_eq!(os.architecture, host.architecture);
    }

    #[test]
    fn host_uses_go_names() {
        let host = Platform::host();
        let expected = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        if matches!(std::env::consts::ARCH, "x86_64" | "aarch64") {
            assert_eq!(host.architecture, expected);
        }
        assert_eq!(host.os, std::env::consts::OS);
    }

    #[test]
    fn matching() {
        let arm64_v8 = Platform::parse("linux/arm64/v8").unwrap();
        let arm64 = Platform::parse("linux/arm64").unwrap();
        let arm_v6 = Platform::parse("linux/arm/v6").unwrap();
        let arm_v7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(arm64_v8.matches(&arm64));
        assert!(arm64.matches(&arm64_v8));
        assert!(!arm_v7.matches(&arm_v6));
        assert!(!arm64.matches(&arm_v7));
    }
}
