//! Finding and reading the ignore file of a build: `<Dockerfile>.dockerignore`
//! beside the Dockerfile wins over `<context>/.dockerignore`, as in BuildKit.

use std::ffi::OsString;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::clean::clean_path;
use super::error::ContextError;

pub use super::matcher::IgnoreMatcher;

/// Reads the ignore patterns for a build of `context_dir` with `dockerfile`:
/// `<dockerfile>.dockerignore` (e.g. `app.Dockerfile.dockerignore`) beside the
/// Dockerfile if it exists, else `<context_dir>/.dockerignore`, else none (an
/// empty list). `dockerfile` is a path as the OS resolves it (absolute, or
/// relative to the working directory), and may lie outside the context.
///
/// The returned patterns are ready for [`IgnoreMatcher::new`]: comments and
/// blank lines dropped, each pattern trimmed and cleaned, a leading `/`
/// removed, a `!` prefix kept.
pub fn read_dockerignore(
    context_dir: &Path,
    dockerfile: Option<&Path>,
) -> Result<Vec<String>, ContextError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(name) = dockerfile.and_then(Path::file_name) {
        let mut ignore_name = OsString::from(name);
        ignore_name.push(".dockerignore");
        if let Some(dockerfile) = dockerfile {
            candidates.push(dockerfile.with_file_name(ignore_name));
        }
    }
    candidates.push(context_dir.join(".dockerignore"));
    for candidate in candidates {
        match std::fs::read(&candidate) {
            Ok(bytes) => return Ok(parse_dockerignore(&String::from_utf8_lossy(&bytes))),
            Err(error) if error.kind() == ErrorKind::NotFound => {}
            Err(error) => return Err(ContextError::io(candidate, error)),
        }
    }
    Ok(Vec::new())
}

/// Parses the text of an ignore file (the rules of docker's `ReadAll`): a
/// UTF-8 byte-order mark is dropped; a line starting with `#` is a comment;
/// lines are trimmed and blank ones skipped; each pattern (after any `!`) is
/// cleaned like Go `filepath.Clean` and loses a leading `/`.
pub(crate) fn parse_dockerignore(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut patterns = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut cleaned = String::new();
        if !pattern.is_empty() {
            cleaned = clean_path(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
        }
        if invert {
            cleaned.insert(0, '!');
        }
        patterns.push(cleaned);
    }
    patterns
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn parse_table() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("foo\nbar\n", &["foo", "bar"]),
            ("# comment\nfoo", &["foo"]),
            ("  # not a comment", &["# not a comment"]),
            ("\n\n   \n\tfoo\t\n", &["foo"]),
            ("\u{feff}foo", &["foo"]),
            ("foo\r\nbar\r\n", &["foo", "bar"]),
            ("/foo", &["foo"]),
            ("./foo/", &["foo"]),
            ("a//b/../c", &["a/c"]),
            ("!/foo", &["!foo"]),
            ("! ./keep ", &["!keep"]),
            ("/", &["/"]),
            ("!", &["!"]),
            ("*\n!README.md\n**/*.log", &["*", "!README.md", "**/*.log"]),
        ];
        for &(text, want) in cases {
            assert_eq!(parse_dockerignore(text), want, "text {text:?}");
        }
    }

    #[test]
    fn parsed_patterns_drive_the_matcher() {
        let patterns = parse_dockerignore("# build output\n/target\n*.log\n!keep.log\n./docs/\n");
        let matcher = IgnoreMatcher::new(&patterns).unwrap();
        let cases = [
            ("target/debug/kiln", true),
            ("src/target", false),
            ("x.log", true),
            ("keep.log", false),
            ("docs/index.md", true),
            ("src/main.rs", false),
        ];
        for (path, want) in cases {
            assert_eq!(matcher.is_excluded(path), want, "{path}");
        }
    }

    #[test]
    fn precedence_between_ignore_files() {
        let tmp = tempfile::tempdir().unwrap();
        let context = tmp.path().join("ctx");
        let elsewhere = tmp.path().join("elsewhere");
        fs::create_dir_all(&context).unwrap();
        fs::create_dir_all(&elsewhere).unwrap();
        fs::write(context.join(".dockerignore"), "from-context\n").unwrap();
        fs::write(context.join("Dockerfile"), "FROM scratch\n").unwrap();
        fs::write(elsewhere.join("app.Dockerfile"), "FROM scratch\n").unwrap();
        fs::write(
            elsewhere.join("app.Dockerfile.dockerignore"),
            "from-dockerfile\n",
        )
        .unwrap();

        // No Dockerfile-specific file: the context's .dockerignore.
        let got = read_dockerignore(&context, Some(&context.join("Dockerfile"))).unwrap();
        assert_eq!(got, ["from-context"]);
        let got = read_dockerignore(&context, None).unwrap();
        assert_eq!(got, ["from-context"]);

        // -f outside the context with its own ignore file: that one wins.
        let got = read_dockerignore(&context, Some(&elsewhere.join("app.Dockerfile"))).unwrap();
        assert_eq!(got, ["from-dockerfile"]);

        // -f outside the context without one: back to the context's.
        fs::write(elsewhere.join("other.Dockerfile"), "FROM scratch\n").unwrap();
        let got = read_dockerignore(&context, Some(&elsewhere.join("other.Dockerfile"))).unwrap();
        assert_eq!(got, ["from-context"]);

        // Dockerfile.dockerignore inside the context beats .dockerignore.
        fs::write(context.join("Dockerfile.dockerignore"), "specific\n").unwrap();
        let got = read_dockerignore(&context, Some(&context.join("Dockerfile"))).unwrap();
        assert_eq!(got, ["specific"]);

        // Neither file: no patterns.
        fs::remove_file(context.join(".dockerignore")).unwrap();
        let got = read_dockerignore(&context, None).unwrap();
        assert!(got.is_empty());
    }

    #[test]
    fn unreadable_ignore_file_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        // A directory where the file should be: reading fails with something other than NotFound.
        fs::create_dir(tmp.path().join(".dockerignore")).unwrap();
        let err = read_dockerignore(tmp.path(), None).unwrap_err();
        assert!(
            matches!(&err, ContextError::Io { path, .. } if path.ends_with(".dockerignore")),
            "{err:?}"
        );
    }
}
