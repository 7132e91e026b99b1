//! Where exporters put entries (a directory or a deterministic tar), and atomic output paths.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Mode of files in written archives and layouts.
const FILE_MODE: u32 = 0o644;
/// Mode of directories in written archives and layouts.
const DIR_MODE: u32 = 0o755;

/// A destination for the entries of a layout or archive, in the order given.
pub(crate) trait EntrySink {
    /// Adds a directory (`path` without trailing slash).
    fn add_dir(&mut self, path: &str) -> Result<()>;
    /// Adds a file of exactly `size` bytes read from `data`.
    fn add_file(&mut self, path: &str, size: u64, data: &mut dyn Read) -> Result<()>;
}

/// Writes entries as a deterministic ustar archive: mtime 0, uid/gid 0, fixed modes.
pub(crate) struct TarSink<W: Write> {
    builder: tar::Builder<W>,
    /// The archive's path, for error messages.
    path: PathBuf,
}

impl<W: Write> TarSink<W> {
    pub(crate) fn new(writer: W, path: &Path) -> Self {
        let mut builder = tar::Builder::new(writer);
        builder.follow_symlinks(false);
        TarSink {
            builder,
            path: path.to_path_buf(),
        }
    }

    /// Writes the end-of-archive marker and returns the writer.
    pub(crate) fn finish(self) -> Result<W> {
        let path = self.path;
        self.builder
            .into_inner()
            .map_err(|source| Error::io("finish archive", path, source))
    }

    fn append(
        &mut self,
        entry_type: tar::EntryType,
        path: &str,
        size: u64,
        mode: u32,
        data: &mut dyn Read,
    ) -> Result<()> {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(entry_type);
        header.set_size(size);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        let archive = &self.path;
        self.builder
            .append_data(&mut header, path, data)
            .map_err(|source| Error::io("write archive", archive, source))
    }
}

impl<W: Write> EntrySink for TarSink<W> {
    fn add_dir(&mut self, path: &str) -> Result<()> {
        self.append(
            tar::EntryType::Directory,
            &format!("{path}/"),
            0,
            DIR_MODE,
            &mut io::empty(),
        )
    }

    fn add_file(&mut self, path: &str, size: u64, data: &mut dyn Read) -> Result<()> {
        self.append(
            tar::EntryType::Regular,
            path,
            size,
            FILE_MODE,
            &mut data.take(size),
        )
    }
}

/// Writes entries as files under a root directory.
pub(crate) struct DirSink {
    root: PathBuf,
}

impl DirSink {
    pub(crate) fn new(root: &Path) -> Self {
        DirSink {
            root: root.to_path_buf(),
        }
    }
}

impl EntrySink for DirSink {
    fn add_dir(&mut self, path: &str) -> Result<()> {
        let dir = self.root.join(path);
        fs::create_dir_all(&dir).map_err(|source| Error::io("create directory", &dir, source))?;
        set_mode(&dir, DIR_MODE)
    }

    fn add_file(&mut self, path: &str, size: u64, data: &mut dyn Read) -> Result<()> {
        let file_path = self.root.join(path);
        let mut file =
            File::create(&file_path).map_err(|source| Error::io("create", &file_path, source))?;
        io::copy(&mut data.take(size), &mut file)
            .map_err(|source| Error::io("write", &file_path, source))?;
        file.sync_all()
            .map_err(|source| Error::io("sync", &file_path, source))?;
        set_mode(&file_path, FILE_MODE)
    }
}

/// Sets Unix permission bits (no-op elsewhere).
pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|source| Error::io("set permissions of", path, source))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// The directory holding `dest` and the hidden prefix for temporaries beside it.
pub(crate) fn temp_location(dest: &Path) -> (PathBuf, String) {
    let parent = match dest.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dest.file_name().map_or_else(
        || "kiln-output".to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    (parent, format!(".{name}.kiln-tmp-"))
}

/// A hidden temporary file beside `dest`, removed on drop unless persisted.
pub(crate) fn temp_file_beside(dest: &Path) -> Result<tempfile::NamedTempFile> {
    let (parent, prefix) = temp_location(dest);
    tempfile::Builder::new()
        .prefix(&prefix)
        .tempfile_in(&parent)
        .map_err(|source| Error::io("create temporary file in", parent, source))
}

/// Flushes `temp`, gives it mode 0644 and renames it to `dest`.
pub(crate) fn persist_file(temp: tempfile::NamedTempFile, dest: &Path) -> Result<()> {
    temp.as_file()
        .sync_all()
        .map_err(|source| Error::io("sync", temp.path(), source))?;
    set_mode(temp.path(), FILE_MODE)?;
    temp.persist(dest)
        .map_err(|error| Error::io("rename into place", dest, error.error))?;
    Ok(())
}

/// Serializes `value` with every object's keys sorted, whatever map type serde_json uses.
pub(crate) fn canonical_json<T: serde::Serialize>(value: &T, what: &str) -> Result<Vec<u8>> {
    let value = serde_json::to_value(value).map_err(|source| Error::json(what, source))?;
    serde_json::to_vec(&sort_keys(value)).map_err(|source| Error::json(what, source))
}

fn sort_keys(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sort_keys(v)))
                    .collect(),
            )
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sort_keys).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_sink_is_deterministic() {
        let build = || {
            let mut sink = TarSink::new(Vec::new(), Path::new("test.tar"));
            sink.add_dir("blobs").unwrap();
            sink.add_file("blobs/a", 3, &mut &b"abc"[..]).unwrap();
            sink.finish().unwrap()
        };
        let bytes = build();
        assert_eq!(bytes, build());
        let mut archive = tar::Archive::new(&bytes[..]);
        let entries: Vec<(String, u32, u64, u64)> = archive
            .entries()
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let header = entry.header();
                let path = entry.path().unwrap().to_string_lossy().into_owned();
                (
                    path,
                    header.mode().unwrap(),
                    header.mtime().unwrap(),
                    header.uid().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            vec![
                ("blobs/".to_string(), 0o755, 0, 0),
                ("blobs/a".to_string(), 0o644, 0, 0)
            ]
        );
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let value = serde_json::json!({"b": 1, "a": {"d": 2, "c": [ {"z": 0, "y": 1} ]}});
        let bytes = canonical_json(&value, "test").unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"a":{"c":[{"y":1,"z":0}],"d":2},"b":1}"#
        );
    }

    #[test]
    fn temp_location_is_hidden_sibling() {
        let (parent, prefix) = temp_location(Path::new("out/image.tar"));
        assert_eq!(parent, PathBuf::from("out"));
        assert_eq!(prefix, ".image.tar.kiln-tmp-");
        assert_eq!(temp_location(Path::new("image.tar")).0, PathBuf::from("."));
    }
}
