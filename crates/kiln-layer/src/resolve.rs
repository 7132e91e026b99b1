//! Chroot-style path resolution inside a directory on disk ("secure join"): symlinks are
//! followed as if the directory were `/`, and `..` never climbs above it.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Symlinks followed for one path before giving up (Linux allows 40; be generous).
const MAX_SYMLINKS: u32 = 255;

/// Resolves `components` inside `root`; returns the real path relative to `root`, whose
/// existing components are never symlinks (except the last when `follow_last` is false).
pub(crate) fn resolve_in_root(
    root: &Path,
    components: &[&[u8]],
    follow_last: bool,
) -> io::Result<PathBuf> {
    // Pending components, last to be visited first.
    let mut pending: Vec<OsString> = components
        .iter()
        .rev()
        .map(|c| OsStr::from_bytes(c).to_os_string())
        .collect();
    let mut resolved = PathBuf::new();
    let mut hops = 0;
    while let Some(component) = pending.pop() {
        let bytes = component.as_bytes();
        if bytes.is_empty() || bytes == b"." {
            continue;
        }
        if bytes == b".." {
            resolved.pop();
            continue;
        }
        if pending.is_empty() && !follow_last {
            resolved.push(&component);
            continue;
        }
        let candidate = root.join(&resolved).join(&component);
        match std::fs::symlink_metadata(&candidate) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_SYMLINKS {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "too many levels of symbolic links",
                    ));
                }
                let target = std::fs::read_link(&candidate)?;
                let target = target.as_os_str().as_bytes();
                if target.starts_with(b"/") {
                    resolved = PathBuf::new();
                }
                for part in target.split(|&b| b == b'/').rev() {
                    pending.push(OsStr::from_bytes(part).to_os_string());
                }
            }
            Ok(_) => resolved.push(&component),
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                resolved.push(&component)
            }
            Err(error) => return Err(error),
        }
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        symlink("/", root.join("up")).unwrap();
        symlink("../../..", root.join("usr/lib/dots")).unwrap();
        symlink("usr/lib", root.join("lib")).unwrap();
        symlink("/usr/lib", root.join("abs")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        let cases: [(&str, bool, &str); 8] = [
            ("up/etc/x", true, "etc/x"),
            ("usr/lib/dots/x", true, "x"),
            ("lib/x", true, "usr/lib/x"),
            ("abs/x", true, "usr/lib/x"),
            ("lib", false, "lib"),
            ("lib", true, "usr/lib"),
            ("../../x", true, "x"),
            ("missing/a/b", true, "missing/a/b"),
        ];
        for (path, follow_last, expected) in cases {
            let components: Vec<&[u8]> = path.split('/').map(str::as_bytes).collect();
            let resolved = resolve_in_root(root, &components, follow_last).unwrap();
            assert_eq!(resolved, Path::new(expected), "{path}");
        }
        let looped = resolve_in_root(root, &[b"loop", b"x"], true);
        assert!(looped.is_err());
    }
}
