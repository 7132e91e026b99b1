//! Finding `argv[0]` in the `PATH` of the run's environment, inside a root.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::mountpoint::resolve_in_root;

/// The `PATH` used when the environment has none (Docker's default).
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The value of the last `PATH=` entry of `env`, or [`DEFAULT_PATH`].
pub(crate) fn path_variable(env: &[String]) -> &str {
    env.iter()
        .rev()
        .find_map(|entry| entry.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
}

/// Looks `name` up in the directories of `path_variable` inside `root`
/// (symlinks resolved chroot-style), like Go's `exec.LookPath` after a
/// chroot. A name containing `/` is returned as is. Returns the path inside
/// the root (e.g. `/bin/sh`) of the first regular file with an execute bit.
pub(crate) fn lookup_executable(root: &Path, name: &str, path_variable: &str) -> Option<String> {
    if name.contains('/') {
        return Some(name.to_owned());
    }
    if name.is_empty() {
        return None;
    }
    path_variable
        .split(':')
        .filter(|dir| dir.starts_with('/'))
        .map(|dir| format!("{}/{name}", dir.trim_end_matches('/')))
        .find(|candidate| is_executable(root, candidate))
}

/// Whether `path` inside `root` is a regular file with an execute bit.
fn is_executable(root: &Path, path: &str) -> bool {
    let Ok(resolved) = resolve_in_root(root, path) else {
        return false;
    };
    if resolved.existing < resolved.components.len() {
        return false;
    }
    std::fs::metadata(root.join(resolved.relative()))
        .map(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    #[test]
    fn finds_executables_in_path_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for sub in ["bin", "usr/bin", "usr/local/bin"] {
            fs::create_dir_all(root.join(sub)).unwrap();
        }
        fs::write(root.join("bin/busybox"), "").unwrap();
        fs::set_permissions(root.join("bin/busybox"), fs::Permissions::from_mode(0o755)).unwrap();
        symlink("/bin/busybox", root.join("usr/bin/sh")).unwrap();
        symlink("busybox", root.join("bin/sh")).unwrap();
        fs::write(root.join("usr/local/bin/data"), "").unwrap();
        fs::set_permissions(
            root.join("usr/local/bin/data"),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        fs::create_dir(root.join("bin/dir")).unwrap();

        let path = "/usr/local/bin:/usr/bin:/bin";
        let cases = [
            ("sh", path, Some("/usr/bin/sh")),
            ("sh", "/bin", Some("/bin/sh")),
            ("busybox", path, Some("/bin/busybox")),
            ("data", path, None),
            ("dir", path, None),
            ("missing", path, None),
            ("sh", "relative:/nowhere", None),
            ("./local", path, Some("./local")),
            ("/abs/tool", path, Some("/abs/tool")),
            ("", path, None),
        ];
        for (name, path, expected) in cases {
            assert_eq!(
                lookup_executable(root, name, path).as_deref(),
                expected,
                "{name} in {path}"
            );
        }
    }

    #[test]
    fn path_variable_takes_the_last_entry_or_the_default() {
        let cases: [(&[&str], &str); 3] = [
            (&["A=1"], DEFAULT_PATH),
            (&["PATH=/x", "B=2"], "/x"),
            (&["PATH=/x", "PATH=/y"], "/y"),
        ];
        for (env, expected) in cases {
            let env: Vec<String> = env.iter().map(|entry| entry.to_string()).collect();
            assert_eq!(path_variable(&env), expected);
        }
    }
}
