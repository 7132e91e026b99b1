//! Build contexts for tests: a temporary copy of `testdata/projects/<case>`
//! (so a test may change it freely) or an empty one built up file by file,
//! and a recursive listing to prove a directory was left unchanged.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// The workspace root (two levels above this crate's manifest).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("kiln-testutil lives at crates/kiln-testutil")
        .to_owned()
}

/// A build context in a temporary directory.
#[derive(Debug)]
pub struct Project {
    dir: TempDir,
}

impl Project {
    /// An empty context.
    pub fn empty() -> Self {
        Project {
            dir: tempfile::Builder::new()
                .prefix("kiln-ctx-")
                .tempdir()
                .expect("create a temporary context"),
        }
    }

    /// A copy of `testdata/projects/NAME`.
    pub fn copy(name: &str) -> Self {
        Self::copy_from(&workspace_root().join("testdata/projects").join(name))
    }

    /// A copy of any directory (symlinks are copied as symlinks).
    pub fn copy_from(source: &Path) -> Self {
        assert!(source.is_dir(), "no project at {}", source.display());
        let project = Self::empty();
        copy_tree(source, project.path());
        project
    }

    /// The context directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The context directory as a `&str` (for argument lists).
    pub fn arg(&self) -> &str {
        self.dir.path().to_str().expect("temporary paths are UTF-8")
    }

    /// A path inside the context.
    pub fn join(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Writes a file (creating its parent directories).
    pub fn write(&self, relative: &str, content: impl AsRef<[u8]>) -> &Self {
        let path = self.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|err| panic!("mkdir {}: {err}", parent.display()));
        }
        std::fs::write(&path, content)
            .unwrap_or_else(|err| panic!("write {}: {err}", path.display()));
        self
    }

    /// Creates a directory (and its parents).
    pub fn mkdir(&self, relative: &str) -> &Self {
        let path = self.join(relative);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|err| panic!("mkdir {}: {err}", path.display()));
        self
    }

    /// Creates a symlink at `relative` pointing to `target`.
    pub fn symlink(&self, relative: &str, target: &str) -> &Self {
        let path = self.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|err| panic!("mkdir {}: {err}", parent.display()));
        }
        std::os::unix::fs::symlink(target, &path)
            .unwrap_or_else(|err| panic!("symlink {}: {err}", path.display()));
        self
    }

    /// Sets the permission bits of a path.
    pub fn chmod(&self, relative: &str, mode: u32) -> &Self {
        use std::os::unix::fs::PermissionsExt;
        let path = self.join(relative);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|err| panic!("chmod {}: {err}", path.display()));
        self
    }
}

fn copy_tree(source: &Path, dest: &Path) {
    let entries =
        std::fs::read_dir(source).unwrap_or_else(|err| panic!("read {}: {err}", source.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|err| panic!("read {}: {err}", source.display()));
        let from = entry.path();
        let to = dest.join(entry.file_name());
        let kind = entry
            .file_type()
            .unwrap_or_else(|err| panic!("stat {}: {err}", from.display()));
        if kind.is_symlink() {
            let target = std::fs::read_link(&from)
                .unwrap_or_else(|err| panic!("readlink {}: {err}", from.display()));
            std::os::unix::fs::symlink(target, &to)
                .unwrap_or_else(|err| panic!("symlink {}: {err}", to.display()));
        } else if kind.is_dir() {
            std::fs::create_dir(&to).unwrap_or_else(|err| panic!("mkdir {}: {err}", to.display()));
            copy_tree(&from, &to);
        } else {
            std::fs::copy(&from, &to)
                .unwrap_or_else(|err| panic!("copy {}: {err}", from.display()));
        }
    }
}

/// A sorted recursive listing of `dir`: one line per entry with its type,
/// mode, size, mtime (ns) and, for symlinks, the target. Two equal listings
/// mean nothing was added, removed, rewritten or touched.
pub fn tree_listing(dir: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut lines = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current)
            .unwrap_or_else(|err| panic!("read {}: {err}", current.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            let meta = std::fs::symlink_metadata(&path)
                .unwrap_or_else(|err| panic!("stat {}: {err}", path.display()));
            let relative = path
                .strip_prefix(dir)
                .expect("under dir")
                .to_string_lossy()
                .into_owned();
            let target = if meta.file_type().is_symlink() {
                format!(
                    " -> {}",
                    std::fs::read_link(&path).expect("readlink").display()
                )
            } else {
                String::new()
            };
            lines.push(format!(
                "{relative} {:o} {} {}.{:09}{target}",
                meta.mode(),
                meta.size(),
                meta.mtime(),
                meta.mtime_nsec()
            ));
            if meta.is_dir() {
                pending.push(path);
            }
        }
    }
    lines.sort();
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_copies_and_lists_a_context() {
        let project = Project::empty();
        project
            .write("a/b.txt", "hi")
            .symlink("a/link", "b.txt")
            .chmod("a/b.txt", 0o600);
        let copy = Project::copy_from(project.path());
        assert_eq!(std::fs::read_to_string(copy.join("a/b.txt")).unwrap(), "hi");
        assert_eq!(
            std::fs::read_link(copy.join("a/link")).unwrap(),
            Path::new("b.txt")
        );
        let listing = tree_listing(project.path());
        assert_eq!(listing.len(), 3, "{listing:?}");
        assert!(listing[1].starts_with("a/b.txt 100600 2 "), "{listing:?}");
        assert!(listing[2].ends_with(" -> b.txt"), "{listing:?}");
        project.write("a/b.txt", "changed");
        assert_ne!(tree_listing(project.path()), listing);
    }

    #[test]
    fn finds_the_workspace_root() {
        assert!(workspace_root().join("Cargo.toml").is_file());
        assert!(workspace_root().join("crates/kiln-testutil").is_dir());
    }
}
