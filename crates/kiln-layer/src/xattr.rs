//! Extended attributes of paths on disk, never following a final symlink
//! (`llistxattr`/`lgetxattr`/`lsetxattr`).

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use rustix::fs::{lgetxattr, lgetxattr_query, llistxattr, llistxattr_query, lsetxattr, XattrFlags};
use rustix::io::Errno;

use crate::error::{Error, Result};

/// Whether the xattr `name` belongs to the host rather than to the image: SELinux labels of the
/// build host and overlayfs' private attributes never go into layers.
pub(crate) fn is_host_private(name: &str) -> bool {
    name == "security.selinux"
        || name.starts_with("trusted.overlay.")
        || name.starts_with("user.overlay.")
}

/// The xattrs of `path` (not following a final symlink), by name; host-private ones are left
/// out. A filesystem without xattr support has none.
pub(crate) fn read_xattrs(path: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut xattrs = BTreeMap::new();
    let io_error = |errno: Errno| Error::io(path, io::Error::from(errno));
    let Some(list) =
        read_growing(|| llistxattr_query(path), |buf| llistxattr(path, buf)).map_err(io_error)?
    else {
        return Ok(xattrs);
    };
    for raw_name in list.split(|&b| b == 0).filter(|name| !name.is_empty()) {
        let name = std::str::from_utf8(raw_name).map_err(|_| Error::Unencodable {
            path: path.display().to_string(),
            reason: "extended attribute name is not valid UTF-8",
        })?;
        if is_host_private(name) {
            continue;
        }
        let value = read_growing(
            || lgetxattr_query(path, raw_name),
            |buf| lgetxattr(path, raw_name, buf),
        );
        match value {
            Ok(Some(value)) => {
                xattrs.insert(name.to_owned(), value);
            }
            Ok(None) => {
                xattrs.insert(name.to_owned(), Vec::new());
            }
            // Removed between listing and reading.
            Err(Errno::NODATA) => {}
            Err(errno) => return Err(io_error(errno)),
        }
    }
    Ok(xattrs)
}

/// Sets the xattr `name` of `path` (not following a final symlink).
pub(crate) fn write_xattr(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    lsetxattr(path, name, value, XattrFlags::empty()).map_err(io::Error::from)
}

/// Runs a size query then a read, growing the buffer when the value grew in between.
/// `Ok(None)` means "empty" or "not supported by this filesystem".
fn read_growing(
    query: impl Fn() -> rustix::io::Result<usize>,
    read: impl Fn(&mut Vec<u8>) -> rustix::io::Result<usize>,
) -> rustix::io::Result<Option<Vec<u8>>> {
    for _ in 0..8 {
        let size = match query() {
            Ok(0) => return Ok(None),
            Ok(size) => size,
            Err(Errno::NOTSUP) => return Ok(None),
            Err(errno) => return Err(errno),
        };
        let mut buffer = vec![0u8; size];
        match read(&mut buffer) {
            Ok(len) => {
                buffer.truncate(len);
                return Ok(Some(buffer));
            }
            Err(Errno::RANGE) => continue,
            Err(errno) => return Err(errno),
        }
    }
    Err(Errno::RANGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_private_names() {
        let cases = [
            ("security.selinux", true),
            ("trusted.overlay.opaque", true),
            ("user.overlay.origin", true),
            ("security.capability", false),
            ("user.mime_type", false),
        ];
        for (name, expected) in cases {
            assert_eq!(is_host_private(name), expected, "{name}");
        }
    }

    #[test]
    fn xattrs_round_trip_when_supported() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        assert!(read_xattrs(&file).unwrap().is_empty());
        if let Err(error) = write_xattr(&file, "user.kiln", b"v") {
            eprintln!("skipping: user xattrs unsupported here: {error}");
            return;
        }
        write_xattr(&file, "user.empty", b"").unwrap();
        let xattrs = read_xattrs(&file).unwrap();
        assert_eq!(xattrs.get("user.kiln").map(Vec::as_slice), Some(&b"v"[..]));
        assert_eq!(xattrs.get("user.empty").map(Vec::as_slice), Some(&b""[..]));
        assert!(read_xattrs(&dir.path().join("missing")).is_err());
    }
}
