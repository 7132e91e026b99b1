//! ADD of an http(s) URL: downloaded with the registry client's HTTP stack
//! (same TLS, proxies-free, retries), verified against `--checksum`, saved as
//! a 0600 file whose mtime is the server's Last-Modified, as Docker does.

use std::time::{Duration, UNIX_EPOCH};

use kiln_dockerfile::Span;
use kiln_oci::Digest;

use crate::build::Engine;
use crate::context::{IgnoreMatcher, Snapshot};
use crate::error::{step_error, BuildError, Result};
use crate::sources::Tree;

/// `http://` or `https://`.
pub fn is_http(source: &str) -> bool {
    let lower = source.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// A git repository source.
pub fn is_git(source: &str) -> bool {
    let lower = source.to_ascii_lowercase();
    lower.starts_with("git@")
        || lower.starts_with("git://")
        || (is_http(&lower) && lower.ends_with(".git"))
}

/// The file name a URL is saved under: the last path segment, or `download`.
pub fn file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let after_host = path.splitn(4, '/').nth(3).unwrap_or("");
    match after_host.rsplit('/').next() {
        Some(name) if !name.is_empty() && name != "." && name != ".." => name.to_string(),
        _ => "download".to_string(),
    }
}

/// Downloads `url` into a scratch tree holding one file; returns the tree and the file's name.
pub fn download(
    engine: &mut Engine<'_>,
    url: &str,
    checksum: Option<&Digest>,
    span: Span,
) -> Result<(Tree, String)> {
    let scratch = engine.store.tmp_dir("add-url-")?;
    let content = scratch.path().join("content");
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Io {
            path: path.clone(),
            source,
        }
    };
    std::fs::create_dir(&content).map_err(io(&content))?;
    let client = engine
        .registry_client()?
        .ok_or_else(|| step_error(span, format!("ADD {url}: network access is off")))?;
    let fetched = client
        .fetch_url(url, scratch.path(), checksum)
        .map_err(|err| step_error(span, format!("ADD failed to download {url}: {err}")))?;
    let name = file_name(url);
    let target = content.join(&name);
    std::fs::rename(fetched.path(), &target).map_err(io(&target))?;
    if let Some(seconds) = fetched
        .last_modified
        .and_then(|secs| u64::try_from(secs).ok())
    {
        let file = std::fs::File::options()
            .write(true)
            .open(&target)
            .map_err(io(&target))?;
        file.set_modified(UNIX_EPOCH + Duration::from_secs(seconds))
            .map_err(io(&target))?;
    }
    let snapshot = Snapshot::walk(&content, &IgnoreMatcher::default())?;
    Ok((Tree::new(snapshot, Some(scratch)), name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            file_name("https://example.com/a/b/tool.tar.gz?x=1"),
            "tool.tar.gz"
        );
        assert_eq!(file_name("https://example.com/"), "download");
        assert_eq!(file_name("https://example.com"), "download");
        assert!(is_git("git@github.com:a/b.git") && is_git("https://h/x.git"));
        assert!(is_http("HTTPS://x") && !is_http("ftp://x"));
    }
}
