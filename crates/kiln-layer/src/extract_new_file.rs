//! The common case of extraction, kept apart: a regular file created new in its
//! (open) parent directory and finished through its descriptor.

use std::ffi::OsStr;
use std::fs::{File, FileTimes, Permissions};
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::SystemTime;

use rustix::fs::Mode;
use rustix::io::Errno;

use super::{entry_owner, ExtractedFile, Extractor};
use crate::error::{Error, Result};

impl Extractor<'_> {
    /// The common case of a regular file: created new in the open parent directory (no
    /// path walk), owner, mode and time set through the descriptor. False when something
    /// already exists at the name (the caller then replaces it the general way).
    pub(super) fn new_file_at<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        name: &OsStr,
        target: &Path,
        mode: u32,
        mtime: Option<SystemTime>,
    ) -> Result<bool> {
        let Some(cache) = &self.parent_cache else {
            return Ok(false);
        };
        let setgid = cache.setgid;
        let created = rustix::fs::openat(
            &cache.dir,
            name,
            rustix::fs::OFlags::WRONLY
                | rustix::fs::OFlags::CREATE
                | rustix::fs::OFlags::EXCL
                | rustix::fs::OFlags::NOFOLLOW
                | rustix::fs::OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        );
        let mut file = match created {
            Ok(fd) => File::from(fd),
            Err(Errno::EXIST) => return Ok(false),
            Err(errno) => return Err(Error::io(target, io::Error::from(errno))),
        };
        let sha256 = if self.options.digests {
            use sha2::Digest as _;
            let mut hashing = HashingFile {
                file: &mut file,
                hasher: sha2::Sha256::new(),
            };
            io::copy(entry, &mut hashing).map_err(|source| Error::Tar { source })?;
            Some(<[u8; 32]>::from(hashing.hasher.finalize()))
        } else {
            io::copy(entry, &mut file).map_err(|source| Error::Tar { source })?;
            None
        };
        if self.options.preserve_ownership {
            let (uid, gid) = entry_owner(entry, target)?;
            // A new file already belongs to this process's user and group (unless the
            // directory hands down its group).
            let already = !setgid && (uid, gid) == self.own_ids;
            let result = if already {
                Ok(())
            } else {
                std::os::unix::fs::fchown(&file, Some(uid), Some(gid))
            };
            self.owner_applied(result, (uid, gid), target)?;
        }
        file.set_permissions(Permissions::from_mode(mode))
            .map_err(|source| Error::io(target, source))?;
        if let Some(mtime) = mtime {
            file.set_times(FileTimes::new().set_modified(mtime))
                .map_err(|source| Error::io(target, source))?;
        }
        if let Some(sha256) = sha256 {
            let stat = rustix::fs::fstat(&file)
                .map_err(|errno| Error::io(target, io::Error::from(errno)))?;
            let relative = target.strip_prefix(self.dest).unwrap_or(target);
            self.report.files.push(ExtractedFile {
                path: relative.to_path_buf(),
                sha256,
                size: u64::try_from(stat.st_size).unwrap_or(0),
                mtime: (stat.st_mtime, stat.st_mtime_nsec as i64),
                mode: stat.st_mode & 0o7777,
                uid: stat.st_uid,
                gid: stat.st_gid,
            });
        }
        Ok(true)
    }
}

/// A file that also hashes what is written to it.
struct HashingFile<'a> {
    file: &'a mut File,
    hasher: sha2::Sha256,
}

impl io::Write for HashingFile<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.file.write(buf)?;
        sha2::Digest::update(&mut self.hasher, &buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}
