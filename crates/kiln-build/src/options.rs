//! What a build is asked to do: the inputs the CLI gathers from flags and
//! the environment. The engine reads no environment variables itself.

use std::collections::BTreeMap;
use std::path::PathBuf;

use kiln_oci::Reference;

/// A request to build one target of a Dockerfile.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The build context directory.
    pub context_dir: PathBuf,
    /// The Dockerfile text.
    pub dockerfile: Vec<u8>,
    /// Where the Dockerfile came from (`None` for standard input); used to
    /// find `<Dockerfile>.dockerignore`.
    pub dockerfile_path: Option<PathBuf>,
    /// `--build-arg K=V` (values already taken from the environment for `--build-arg K`).
    pub build_args: BTreeMap<String, String>,
    /// `--target`: the stage to build (default: the last).
    pub target: Option<String>,
    /// `--label K=V`, applied to the final image.
    pub labels: BTreeMap<String, String>,
    /// `--platform`; only the host platform is supported for now.
    pub platform: Option<String>,
    /// `--build-context NAME=...`.
    pub build_contexts: BTreeMap<String, NamedContext>,
    /// `SOURCE_DATE_EPOCH`: clamps file times and sets `created`.
    pub source_date_epoch: Option<i64>,
    /// The time of the build (seconds since the epoch), used for `created`
    /// when `source_date_epoch` is not set. Passed in so the engine never reads the clock.
    pub now: i64,
    /// `-t NAME`, tagged into the store.
    pub tags: Vec<Reference>,
    /// `-o ...`.
    pub outputs: Vec<Output>,
    /// `--iidfile FILE`: where to write the image ID (the config digest).
    pub iidfile: Option<PathBuf>,
    /// `--isolation`: how RUN steps are sandboxed.
    pub isolation: Isolation,
    /// The binary the builtin sandbox re-executes as its init process (kiln itself).
    pub init_exe: Option<PathBuf>,
    /// `--secret id=...`: secret values by id (read by the CLI; never logged or stored).
    pub secrets: BTreeMap<String, Vec<u8>>,
    /// `--network`: the default network mode of RUN steps (`default`, `none`, `host`).
    pub network: Option<String>,
    /// Set when the user interrupts the build: running steps are killed.
    pub cancel: kiln_run::CancelFlag,
    /// How to reach registries (`None`: never contact one).
    pub registry: Option<kiln_registry::ClientOptions>,
    /// `--pull`: when base images are fetched from their registry.
    pub pull: PullPolicy,
    /// `--no-cache`: build every step.
    pub no_cache: bool,
    /// `--no-cache-filter`: stages (names or indexes) built without the cache.
    pub no_cache_filter: Vec<String>,
    /// How RUN steps get their root filesystem.
    pub snapshotter: Snapshotter,
}

/// How a stage's root filesystem for RUN is made (`KILN_SNAPSHOTTER`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Snapshotter {
    /// The image's layers extracted into one directory per stage; works
    /// everywhere, rootless included.
    #[default]
    Native,
    /// Layers unpacked once into the store and mounted as an overlay. Needs
    /// root, and the process in a private mount namespace entered before any
    /// thread started ([`kiln_run::enter_private_mount_namespace`]), so that
    /// no mount is ever seen on the host.
    Overlay,
}

/// When FROM images are fetched (`--pull`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PullPolicy {
    /// Check the registry (one manifest HEAD) and pull when the store lacks that
    /// image; use the store's copy, with a warning, when the registry cannot be reached.
    #[default]
    Missing,
    /// Always resolve the tag again and fail when the registry cannot be reached.
    Always,
    /// Never contact a registry: the image must be in the store.
    Never,
}

/// How RUN steps are executed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Isolation {
    /// kiln's own namespace sandbox.
    #[default]
    Builtin,
    /// An OCI runtime (`runc`) with a bundle kiln writes.
    Runc {
        /// The runtime binary (`--runtime`).
        runtime: PathBuf,
    },
}

/// A named build context given with `--build-context NAME=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedContext {
    /// `NAME=DIR`: a local directory.
    Local(PathBuf),
    /// `NAME=oci-layout://DIR[:TAG]` (or `@sha256:...`).
    OciLayout {
        /// The layout directory.
        dir: PathBuf,
        /// The tag (ref name) or digest to pick; `None` means the only image.
        reference: Option<String>,
    },
}

impl NamedContext {
    /// Parses the value part of `--build-context NAME=VALUE`.
    pub fn parse(value: &str) -> Result<NamedContext, String> {
        if let Some(rest) = value.strip_prefix("oci-layout://") {
            if rest.is_empty() {
                return Err("oci-layout:// needs a directory".into());
            }
            if let Some((dir, digest)) = rest.split_once('@') {
                return Ok(NamedContext::OciLayout {
                    dir: PathBuf::from(dir),
                    reference: Some(digest.to_string()),
                });
            }
            // A tag follows the last ':' unless that ':' is part of the path.
            return Ok(match rest.rsplit_once(':') {
                Some((dir, tag)) if !tag.contains('/') && !dir.is_empty() => {
                    NamedContext::OciLayout {
                        dir: PathBuf::from(dir),
                        reference: Some(tag.to_string()),
                    }
                }
                _ => NamedContext::OciLayout {
                    dir: PathBuf::from(rest),
                    reference: None,
                },
            });
        }
        for scheme in [
            "docker-image://",
            "target:",
            "http://",
            "https://",
            "git@",
            "git://",
        ] {
            if value.starts_with(scheme) {
                return Err(format!(
                    "build context source {scheme} is not supported yet"
                ));
            }
        }
        Ok(NamedContext::Local(PathBuf::from(value)))
    }
}

/// An export destination given with `-o`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// `type=oci,dest=FILE.tar`: an oci-archive.
    OciArchive(PathBuf),
    /// `type=oci-dir,dest=DIR`: an OCI image layout directory.
    OciDir(PathBuf),
    /// `type=docker,dest=FILE.tar`: a `docker load` archive.
    DockerArchive(PathBuf),
}

impl Output {
    /// Parses `-o type=oci,dest=FILE`. Unknown types and keys are errors naming them.
    pub fn parse(value: &str) -> Result<Output, String> {
        let mut kind = None;
        let mut dest = None;
        for part in value.split(',') {
            let (key, val) = part
                .split_once('=')
                .ok_or_else(|| format!("invalid output option {part:?}: expected key=value"))?;
            match key {
                "type" => kind = Some(val.to_string()),
                "dest" => dest = Some(PathBuf::from(val)),
                other => return Err(format!("output option {other:?} is not supported")),
            }
        }
        let kind = kind.ok_or("output needs type=oci|oci-dir|docker")?;
        let dest = dest.ok_or_else(|| format!("output type={kind} needs dest=PATH"))?;
        match kind.as_str() {
            "oci" => Ok(Output::OciArchive(dest)),
            "oci-dir" => Ok(Output::OciDir(dest)),
            "docker" => Ok(Output::DockerArchive(dest)),
            other => Err(format!(
                "output type {other:?} is not supported (use oci, oci-dir or docker)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_outputs() {
        assert_eq!(
            Output::parse("type=oci,dest=a.tar"),
            Ok(Output::OciArchive("a.tar".into()))
        );
        assert_eq!(
            Output::parse("dest=d,type=oci-dir"),
            Ok(Output::OciDir("d".into()))
        );
        assert_eq!(
            Output::parse("type=docker,dest=x"),
            Ok(Output::DockerArchive("x".into()))
        );
        assert!(Output::parse("type=registry,dest=x")
            .unwrap_err()
            .contains("registry"));
        assert!(Output::parse("type=oci").unwrap_err().contains("dest"));
        assert!(Output::parse("type=oci,dest=x,compression=zstd")
            .unwrap_err()
            .contains("compression"));
    }

    #[test]
    fn parses_named_contexts() {
        assert_eq!(
            NamedContext::parse("../dir"),
            Ok(NamedContext::Local("../dir".into()))
        );
        assert_eq!(
            NamedContext::parse("oci-layout://./l:v1"),
            Ok(NamedContext::OciLayout {
                dir: "./l".into(),
                reference: Some("v1".into())
            })
        );
        assert_eq!(
            NamedContext::parse("oci-layout:///abs/l"),
            Ok(NamedContext::OciLayout {
                dir: "/abs/l".into(),
                reference: None
            })
        );
        assert!(NamedContext::parse("docker-image://alpine").is_err());
    }
}
