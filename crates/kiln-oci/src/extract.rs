//! Safe extraction of image archives (plain or gzip-compressed tar) into a work directory.
//!
//! Only regular files and directories are accepted; absolute names, `..` and
//! links are refused, so nothing can land outside the work directory.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;

use crate::error::{Error, Result};

/// Extracts `archive` (tar, optionally gzip-compressed) into `dest`.
pub(crate) fn extract_archive(archive: &Path, dest: &Path) -> Result<()> {
    let read_error = |source| Error::io("read archive", archive, source);
    let file = File::open(archive).map_err(|source| Error::io("open", archive, source))?;
    let mut buffered = BufReader::new(file);
    let is_gzip = buffered
        .fill_buf()
        .map_err(read_error)?
        .starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read> = if is_gzip {
        Box::new(GzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    let mut tar = tar::Archive::new(reader);
    for entry in tar.entries().map_err(read_error)? {
        let mut entry = entry.map_err(read_error)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let relative = safe_relative_path(&name)?;
        let entry_type = entry.header().entry_type();
        match entry_type {
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => continue,
            tar::EntryType::Symlink | tar::EntryType::Link => {
                return Err(Error::UnsafeArchivePath { path: name });
            }
            tar::EntryType::Directory => {
                let target = dest.join(&relative);
                fs::create_dir_all(&target)
                    .map_err(|source| Error::io("create directory", &target, source))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if relative.as_os_str().is_empty() {
                    return Err(Error::UnsafeArchivePath { path: name });
                }
                let target = dest.join(&relative);
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent)
                        .map_err(|source| Error::io("create directory", parent, source))?;
                }
                let mut out =
                    File::create(&target).map_err(|source| Error::io("create", &target, source))?;
                io::copy(&mut entry, &mut out)
                    .map_err(|source| Error::io("extract", &target, source))?;
            }
            _ => return Err(Error::UnsupportedArchiveEntry { path: name }),
        }
    }
    Ok(())
}

/// `name` as a relative path of normal components, or an error if it could escape.
pub(crate) fn safe_relative_path(name: &str) -> Result<PathBuf> {
    let mut relative = PathBuf::new();
    for component in Path::new(name).components() {
        match component {
            Component::Normal(part) => relative.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(Error::UnsafeArchivePath {
                    path: name.to_string(),
                });
            }
        }
    }
    Ok(relative)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a raw tar with one entry, bypassing the tar crate's own path checks.
    fn raw_tar(name: &str, entry_type: tar::EntryType, link: Option<&str>) -> Vec<u8> {
        let mut header = tar::Header::new_ustar();
        {
            let bytes = header.as_mut_bytes();
            bytes[..name.len()].copy_from_slice(name.as_bytes());
        }
        header.set_entry_type(entry_type);
        header.set_size(if entry_type == tar::EntryType::Regular {
            1
        } else {
            0
        });
        header.set_mode(0o644);
        if let Some(link) = link {
            header.set_link_name(link).unwrap();
        }
        header.set_cksum();
        let mut bytes = header.as_bytes().to_vec();
        if entry_type == tar::EntryType::Regular {
            let mut block = [0u8; 512];
            block[0] = b'x';
            bytes.extend_from_slice(&block);
        }
        bytes.extend_from_slice(&[0u8; 1024]);
        bytes
    }

    #[test]
    fn unsafe_entries_are_refused() {
        let cases = [
            ("../x", tar::EntryType::Regular, None),
            ("a/../../x", tar::EntryType::Regular, None),
            ("/etc/x", tar::EntryType::Regular, None),
            ("link", tar::EntryType::Symlink, Some("/etc/passwd")),
            ("hard", tar::EntryType::Link, Some("other")),
        ];
        for (name, entry_type, link) in cases {
            let dir = tempfile::tempdir().unwrap();
            let archive = dir.path().join("a.tar");
            fs::write(&archive, raw_tar(name, entry_type, link)).unwrap();
            let work = dir.path().join("work");
            fs::create_dir(&work).unwrap();
            let result = extract_archive(&archive, &work);
            assert!(
                matches!(result, Err(Error::UnsafeArchivePath { .. })),
                "{name}: {result:?}"
            );
            assert!(!dir.path().join("x").exists());
        }
    }

    #[test]
    fn fifo_is_refused_and_plain_file_is_extracted() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.tar");
        fs::write(&archive, raw_tar("fifo", tar::EntryType::Fifo, None)).unwrap();
        let result = extract_archive(&archive, dir.path());
        assert!(
            matches!(result, Err(Error::UnsupportedArchiveEntry { .. })),
            "{result:?}"
        );

        fs::write(
            &archive,
            raw_tar("./sub/file", tar::EntryType::Regular, None),
        )
        .unwrap();
        let work = dir.path().join("work");
        extract_archive(&archive, &work).unwrap();
        assert_eq!(fs::read(work.join("sub/file")).unwrap(), b"x");
    }
}
