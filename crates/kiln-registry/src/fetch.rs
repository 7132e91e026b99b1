//! Downloading an `http(s)` URL for `ADD`: same agents, TLS roots and retries
//! as registry requests, no registry authentication; the file is written
//! mode 0600 and checked against `--checksum` when given.

use std::io::{Read, Write};
use std::path::Path;
use std::time::UNIX_EPOCH;

use kiln_oci::{Digest, HashingWriter};
use tempfile::NamedTempFile;

use crate::auth::url_host;
use crate::client::{header, status_error, Client};
use crate::error::{Error, Result};
use crate::options::Fetched;
use crate::transport::{Call, Method};

impl Client {
    /// Downloads `url` to a new file in `dir` (mode 0600), restarting after a
    /// cut connection; verifies it against `checksum` (sha256) when given.
    /// Returns its path, size, digest and `Last-Modified` (unix seconds).
    pub fn fetch_url(&self, url: &str, dir: &Path, checksum: Option<&Digest>) -> Result<Fetched> {
        let host = url_host(url).ok_or_else(|| Error::InvalidUrl {
            url: url.to_string(),
            reason: "only http and https URLs can be downloaded",
        })?;
        if let Some(checksum) = checksum {
            if checksum.algorithm() != "sha256" {
                return Err(Error::InvalidUrl {
                    url: url.to_string(),
                    reason: "only sha256 checksums are supported",
                });
            }
        }
        let verify = self.options.tls_verify;
        let agent = self.transport.agent(host, verify)?;
        let mut attempt = 0;
        let (file, digest, size, last_modified) = loop {
            match self.fetch_attempt(&agent, url, dir) {
                Ok(done) => break done,
                Err(error) if error.is_transient() && attempt < self.transport.retries() => {
                    std::thread::sleep(self.transport.backoff(attempt));
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        };
        if let Some(expected) = checksum {
            if *expected != digest {
                return Err(Error::DigestMismatch {
                    source_name: url.to_string(),
                    expected: expected.clone(),
                    found: digest,
                });
            }
        }
        let (_, path) = file.keep().map_err(|error| Error::io(dir, error.error))?;
        Ok(Fetched {
            path,
            size,
            digest,
            last_modified,
        })
    }

    fn fetch_attempt(
        &self,
        agent: &ureq::Agent,
        url: &str,
        dir: &Path,
    ) -> Result<(NamedTempFile, Digest, u64, Option<i64>)> {
        let call = Call::new(Method::Get, url.to_string());
        let response = self.transport.send(agent, &call, None)?;
        if !response.status().is_success() {
            return Err(status_error(response, Method::Get, url));
        }
        let last_modified = header(&response, "last-modified")
            .and_then(|value| httpdate::parse_http_date(value).ok())
            .and_then(|time| match time.duration_since(UNIX_EPOCH) {
                Ok(after) => i64::try_from(after.as_secs()).ok(),
                Err(before) => i64::try_from(before.duration().as_secs()).ok().map(|s| -s),
            });
        let temp = tempfile::Builder::new()
            .prefix(".kiln-fetch-")
            .tempfile_in(dir)
            .map_err(|error| Error::io(dir, error))?;
        let temp_path = temp.path().to_path_buf();
        let mut writer = HashingWriter::new(temp);
        let mut reader = response.into_body().into_reader();
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => read,
                Err(source) => {
                    return Err(Error::Body {
                        url: url.to_string(),
                        source,
                    })
                }
            };
            writer
                .write_all(buffer.get(..read).unwrap_or_default())
                .map_err(|error| Error::io(&temp_path, error))?;
        }
        let (mut temp, digest, size) = writer.finish();
        temp.flush()
            .and_then(|()| temp.as_file().sync_all())
            .map_err(|error| Error::io(&temp_path, error))?;
        Ok((temp, digest, size, last_modified))
    }
}
