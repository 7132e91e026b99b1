//! The OCI runtime configuration (`config.json`) for a [`RunSpec`], with the
//! same semantics as the builtin sandbox.

use std::path::Path;

use oci_spec::runtime::Spec;
use serde_json::{json, Value};

use crate::defaults::{CAPABILITIES, MASKED_PATHS, READONLY_PATHS};
use crate::idmap::{IdMappings, IdRange};
use crate::{Error, MountKind, Network, Result, RunSpec};

/// The `config.json` that the [`crate::Runc`] sandbox writes for `spec`.
///
/// A user namespace mapping the caller to root (plus its subordinate ranges
/// when `newuidmap`/`newgidmap` can install them) is added when the process
/// is not root. The generated `/etc` files are bind-mounted from
/// `etc/hosts`, `etc/resolv.conf` and `etc/hostname` relative to the bundle
/// directory (runc resolves relative bind sources against the bundle);
/// [`crate::Runc`] writes them there. No resource limits are set.
pub fn runc_config(spec: &RunSpec) -> Result<Spec> {
    let mappings = (!rustix::process::geteuid().is_root()).then(IdMappings::for_current_user);
    config_for(spec, mappings.as_ref(), Path::new("etc"))
}

/// [`runc_config`] with explicit id mappings (rootless when given) and the
/// directory holding the generated `/etc` files.
pub(crate) fn config_for(
    spec: &RunSpec,
    mappings: Option<&IdMappings>,
    etc_dir: &Path,
) -> Result<Spec> {
    let rootless = mappings.is_some();
    let root = std::path::absolute(&spec.rootfs)
        .map_err(|error| Error::io("resolve the rootfs", &spec.rootfs, error))?;
    let all_caps: Vec<&str> = CAPABILITIES.iter().map(|(name, _)| *name).collect();
    let active_caps = if spec.user.uid == 0 {
        all_caps.clone()
    } else {
        Vec::new()
    };
    let process = json!({
        "terminal": false,
        "user": {
            "uid": spec.user.uid,
            "gid": spec.user.gid,
            "additionalGids": spec.user.additional_gids,
        },
        "args": spec.args,
        "env": spec.env,
        "cwd": spec.cwd,
        "capabilities": {
            "bounding": all_caps,
            "effective": active_caps,
            "permitted": active_caps,
            "inheritable": [],
            "ambient": [],
        },
        "noNewPrivileges": false,
    });

    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "mount"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
    ];
    if spec.network == Network::None {
        namespaces.push(json!({"type": "network"}));
    }
    let mut linux = json!({
        "namespaces": namespaces,
        "maskedPaths": MASKED_PATHS,
        "readonlyPaths": READONLY_PATHS,
    });
    if let Some(mappings) = mappings {
        if let Some(list) = linux["namespaces"].as_array_mut() {
            list.push(json!({"type": "user"}));
        }
        linux["uidMappings"] = id_ranges(&mappings.uids);
        linux["gidMappings"] = id_ranges(&mappings.gids);
    }

    let config = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": root, "readonly": false},
        "hostname": spec.hostname,
        "mounts": mounts(spec, rootless, etc_dir),
        "linux": linux,
    });
    serde_json::from_value(config).map_err(|source| Error::RuntimeConfig { source })
}

fn id_ranges(ranges: &[IdRange]) -> Value {
    ranges
        .iter()
        .map(|range| json!({"containerID": range.container, "hostID": range.host, "size": range.size}))
        .collect()
}

fn mount(destination: &str, kind: &str, source: impl serde::Serialize, options: &[&str]) -> Value {
    json!({"destination": destination, "type": kind, "source": source, "options": options})
}

/// Docker's standard mounts, the `/etc` files, then the spec's mounts.
fn mounts(spec: &RunSpec, rootless: bool, etc_dir: &Path) -> Vec<Value> {
    let devpts_options: &[&str] = if rootless {
        &[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
        ]
    } else {
        &[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ]
    };
    let mut list = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount("/dev/pts", "devpts", "devpts", devpts_options),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
    ];
    // sysfs needs a network namespace owned by the user namespace.
    if rootless && spec.network == Network::Host {
        list.push(mount(
            "/sys",
            "bind",
            "/sys",
            &["rbind", "nosuid", "noexec", "nodev", "ro"],
        ));
    } else {
        list.push(mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ));
    }
    for name in ["hosts", "resolv.conf", "hostname"] {
        list.push(mount(
            &format!("/etc/{name}"),
            "bind",
            etc_dir.join(name),
            &["rbind", "ro"],
        ));
    }
    for extra in &spec.mounts {
        list.push(match &extra.kind {
            MountKind::Bind { source, readonly } => {
                let mode = if *readonly { "ro" } else { "rw" };
                mount(&extra.target, "bind", source, &["rbind", mode])
            }
            MountKind::Tmpfs { size } => {
                let size = size.map(|size| format!("size={size}"));
                let mut options = vec!["nosuid", "nodev", "mode=1777"];
                options.extend(size.as_deref());
                mount(&extra.target, "tmpfs", "tmpfs", &options)
            }
        });
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EtcFiles, Mount, User};
    use oci_spec::runtime::{Capability, LinuxNamespaceType};
    use std::path::PathBuf;

    fn spec(network: Network) -> RunSpec {
        RunSpec {
            rootfs: PathBuf::from("/var/lib/kiln-example/rootfs"),
            args: vec!["sh".into(), "-c".into(), "true".into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/work".into(),
            user: User {
                uid: 0,
                gid: 0,
                additional_gids: vec![10, 20],
            },
            hostname: "box".into(),
            network,
            mounts: vec![
                Mount {
                    target: "/cache".into(),
                    kind: MountKind::Bind {
                        source: PathBuf::from("/host/cache"),
                        readonly: true,
                    },
                },
                Mount {
                    target: "/scratch".into(),
                    kind: MountKind::Tmpfs { size: Some(1024) },
                },
            ],
            etc: EtcFiles::default(),
            stdio: crate::Stdio::Piped,
        }
    }

    fn namespaces(config: &Spec) -> Vec<LinuxNamespaceType> {
        let linux = config.linux().as_ref().unwrap();
        linux
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .map(|namespace| namespace.typ())
            .collect()
    }

    #[test]
    fn namespaces_follow_network_and_rootless() {
        use LinuxNamespaceType as Ns;
        let mappings = IdMappings::for_test(1000, 1000);
        let cases = [
            (
                Network::Host,
                None,
                vec![Ns::Pid, Ns::Mount, Ns::Ipc, Ns::Uts],
            ),
            (
                Network::None,
                None,
                vec![Ns::Pid, Ns::Mount, Ns::Ipc, Ns::Uts, Ns::Network],
            ),
            (
                Network::None,
                Some(&mappings),
                vec![Ns::Pid, Ns::Mount, Ns::Ipc, Ns::Uts, Ns::Network, Ns::User],
            ),
        ];
        for (network, mappings, expected) in cases {
            let config = config_for(&spec(network), mappings, Path::new("etc")).unwrap();
            assert_eq!(namespaces(&config), expected, "{network:?}");
            let linux = config.linux().as_ref().unwrap();
            assert_eq!(linux.uid_mappings().is_some(), mappings.is_some());
            assert!(linux.resources().is_none());
            assert_eq!(
                linux.masked_paths().as_ref().unwrap().len(),
                MASKED_PATHS.len()
            );
        }
    }

    #[test]
    fn process_has_user_capabilities_and_no_limits() {
        let config = config_for(&spec(Network::Host), None, Path::new("etc")).unwrap();
        let process = config.process().as_ref().unwrap();
        assert_eq!(process.args().as_ref().unwrap(), &["sh", "-c", "true"]);
        assert_eq!(process.env().as_ref().unwrap(), &["PATH=/bin"]);
        assert_eq!(process.cwd(), Path::new("/work"));
        assert_eq!(
            process.user().additional_gids().as_ref().unwrap(),
            &[10, 20]
        );
        assert_eq!(process.no_new_privileges(), Some(false));
        assert!(process.rlimits().is_none());
        let caps = process.capabilities().as_ref().unwrap();
        let bounding = caps.bounding().as_ref().unwrap();
        assert_eq!(bounding.len(), CAPABILITIES.len());
        assert!(bounding.contains(&Capability::NetBindService));
        assert!(!bounding.contains(&Capability::SysAdmin));
        assert_eq!(caps.effective().as_ref().unwrap(), bounding);
        assert_eq!(config.hostname().as_deref(), Some("box"));
        assert_eq!(
            config.root().as_ref().unwrap().path(),
            Path::new("/var/lib/kiln-example/rootfs")
        );

        let mut user = spec(Network::Host);
        user.user.uid = 1000;
        let config = config_for(&user, None, Path::new("etc")).unwrap();
        let caps = config
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .clone()
            .unwrap();
        assert!(caps.effective().as_ref().unwrap().is_empty());
        assert_eq!(caps.bounding().as_ref().unwrap().len(), CAPABILITIES.len());
    }

    #[test]
    fn mounts_cover_standard_etc_and_extra() {
        let config = config_for(&spec(Network::Host), None, Path::new("/b/etc")).unwrap();
        let mounts: Vec<(String, String, Vec<String>)> = config
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .map(|mount| {
                (
                    mount.destination().display().to_string(),
                    mount.source().as_ref().unwrap().display().to_string(),
                    mount.options().clone().unwrap_or_default(),
                )
            })
            .collect();
        let destinations: Vec<&str> = mounts.iter().map(|(dest, _, _)| dest.as_str()).collect();
        assert_eq!(
            destinations,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/dev/shm",
                "/dev/mqueue",
                "/sys",
                "/etc/hosts",
                "/etc/resolv.conf",
                "/etc/hostname",
                "/cache",
                "/scratch"
            ]
        );
        assert_eq!(mounts[6].1, "/b/etc/hosts");
        assert_eq!(mounts[9].1, "/host/cache");
        assert_eq!(mounts[9].2, ["rbind", "ro"]);
        assert!(mounts[10].2.contains(&"size=1024".to_owned()));
        assert!(mounts[5].2.contains(&"ro".to_owned()));
    }
}
