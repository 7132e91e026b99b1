//! Shared pieces of the RUN suites: the two isolations, a rig (a store with
//! the busybox base image) and readers for what a RUN left behind — layer
//! entries, the merged tree after `umoci unpack`, and owners merged from the
//! layer tars.
//!
//! Builds pass `--pull never`: the tests never touch the network.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use kiln_testutil::{
    build_busybox, require_tool, run_ok, sha256_hex, EntryKind, Kiln, Layer, OciImage, Output,
    Project, BUSYBOX_TAG,
};

use crate::common::{kiln, s};

/// The base image every RUN test starts from.
pub const BASE: &str = BUSYBOX_TAG;

/// The layers of the busybox base image (COPY rootfs, COPY --chown home).
pub const BASE_LAYERS: usize = 2;

/// A RUN sandbox (`kiln build --isolation …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Iso {
    /// kiln's own namespaces.
    Builtin,
    /// An OCI bundle run by runc.
    Runc,
}

impl Iso {
    /// The value of `--isolation`.
    pub fn name(self) -> &'static str {
        match self {
            Iso::Builtin => "builtin",
            Iso::Runc => "runc",
        }
    }
}

/// A test's store, holding `busybox:test`, and the isolation it builds with.
pub struct Rig {
    /// The kiln binary and store.
    pub kiln: Kiln,
    /// The isolation of every build.
    pub iso: Iso,
}

/// A successful build: its output and the image exported as an oci-dir.
pub struct Built {
    /// What kiln printed.
    pub output: Output,
    /// The image, read back and verified.
    pub image: OciImage,
    /// The oci-dir the image was exported to (ref name `1`).
    pub layout: PathBuf,
}

impl Built {
    /// The layer `index` counted from the top (0 = the last layer).
    pub fn layer_from_top(&self, index: usize) -> &Layer {
        let layers = &self.image.layers;
        assert!(index < layers.len(), "only {} layers", layers.len());
        &layers[layers.len() - 1 - index]
    }

    /// The file at `path` in the merged image, as text (panics when missing).
    pub fn text(&self, path: &str) -> String {
        self.image.text(path)
    }

    /// Every layer's paths and file contents, and the config, as one string,
    /// to search for something that must not be in the image.
    pub fn everything(&self) -> Vec<u8> {
        let mut all = serde_json::to_vec(&self.image.config).expect("config to JSON");
        for layer in &self.image.layers {
            for file in &layer.files {
                all.extend_from_slice(file.entry.path.as_bytes());
                all.push(b'\n');
                all.extend_from_slice(&file.content);
                all.push(b'\n');
            }
        }
        all
    }
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The busybox image as an oci-archive, built once per test process by
/// [`build_busybox`] in a store of its own (`None` when busybox-static is
/// missing): loading it is several times faster than building it per test.
pub fn busybox_archive() -> Option<&'static [u8]> {
    static ARCHIVE: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    ARCHIVE
        .get_or_init(|| {
            let template = kiln();
            if !build_busybox(&template) {
                return None;
            }
            let path = template.path("busybox.tar");
            let context = Project::empty();
            context.write("Dockerfile", format!("FROM {BASE}\n"));
            template.build([
                "--pull",
                "never",
                "-t",
                BASE,
                "-o",
                &format!("type=oci,dest={}", s(&path)),
                context.arg(),
            ]);
            Some(std::fs::read(&path).expect("read the busybox archive"))
        })
        .as_deref()
}

impl Rig {
    /// A store with the busybox image, or `None` when the test must be
    /// skipped (no busybox-static, or no runc for [`Iso::Runc`]).
    pub fn new(iso: Iso) -> Option<Rig> {
        if iso == Iso::Runc && !require_tool("runc") {
            return None;
        }
        let archive = busybox_archive()?;
        let kiln = kiln();
        let path = kiln.path("busybox.tar");
        std::fs::write(&path, archive).expect("write the busybox archive");
        kiln.load([s(&path)]);
        Some(Rig { kiln, iso })
    }

    /// `kiln build --progress plain --isolation ISO ARGS… CONTEXT`, whatever the outcome.
    pub fn try_build(&self, context: &Path, args: &[&str]) -> Output {
        self.try_build_env(context, args, &[])
    }

    /// Like [`Rig::try_build`], with environment variables for kiln.
    pub fn try_build_env(&self, context: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = self.kiln.cmd();
        command
            .args([
                "build",
                "--progress",
                "plain",
                "--pull",
                "never",
                "--isolation",
                self.iso.name(),
            ])
            .args(args)
            .arg(context);
        for (key, value) in env {
            command.env(key, value);
        }
        kiln_testutil::run(&mut command)
    }

    /// Builds `context` (with its Dockerfile) into a new oci-dir and reads it back.
    pub fn build(&self, context: &Path, args: &[&str]) -> Built {
        self.build_env(context, args, &[])
    }

    /// Like [`Rig::build`], with environment variables for kiln.
    pub fn build_env(&self, context: &Path, args: &[&str], env: &[(&str, &str)]) -> Built {
        let layout = self
            .kiln
            .path(&format!("image-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
        let output_spec = format!("type=oci-dir,dest={}", s(&layout));
        let mut full = vec!["-t", "out:1", "-o", output_spec.as_str()];
        full.extend_from_slice(args);
        let output = self.try_build_env(context, &full, env);
        output.assert_success();
        kiln_testutil::assert_no_panic(&output);
        self.assert_no_leftovers();
        let image = OciImage::from_dir(&layout);
        assert_eq!(
            output.last_stderr_line().trim(),
            image.config_digest,
            "the last line of stderr is the image ID"
        );
        Built {
            output,
            image,
            layout,
        }
    }

    /// Builds a Dockerfile given as text in an otherwise empty context.
    pub fn build_text(&self, dockerfile: &str, args: &[&str]) -> Built {
        let project = Project::empty();
        project.write("Dockerfile", dockerfile);
        self.build(project.path(), args)
    }

    /// Builds a Dockerfile given as text and asserts a clean failure.
    pub fn fails_text(&self, dockerfile: &str, args: &[&str]) -> Output {
        let project = Project::empty();
        project.write("Dockerfile", dockerfile);
        let output = self.try_build(project.path(), args);
        kiln_testutil::assert_clean_failure(&output);
        self.assert_no_leftovers();
        output
    }

    /// Panics when the store's `tmp/` holds anything but empty directories:
    /// a finished build (successful or not) removes its root filesystems.
    pub fn assert_no_leftovers(&self) {
        let mut pending = vec![self.kiln.store().join("tmp")];
        let mut left = Vec::new();
        while let Some(dir) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                    pending.push(entry.path());
                } else {
                    left.push(entry.path().display().to_string());
                }
            }
        }
        left.truncate(10);
        assert!(
            left.is_empty(),
            "the build left files in the store's tmp/: {left:?}"
        );
    }
}

/// Runs each named `fn(&Rig)` as a test under both isolations: the tests
/// `builtin::NAME` and `runc::NAME` of the invoking module.
macro_rules! both_isolations {
    ($($name:ident),+ $(,)?) => {
        mod builtin {
            $(
                #[test]
                fn $name() {
                    if let Some(rig) = $crate::run_common::Rig::new($crate::run_common::Iso::Builtin) {
                        super::$name(&rig);
                    }
                }
            )+
        }
        mod runc {
            $(
                #[test]
                fn $name() {
                    if let Some(rig) = $crate::run_common::Rig::new($crate::run_common::Iso::Runc) {
                        super::$name(&rig);
                    }
                }
            )+
        }
    };
}
pub(crate) use both_isolations;

/// The paths of a layer, in archive order.
pub fn layer_paths(layer: &Layer) -> Vec<&str> {
    layer
        .files
        .iter()
        .map(|file| file.entry.path.as_str())
        .collect()
}

/// The entry for `path` in a layer (panics with the listing when missing).
pub fn entry<'a>(layer: &'a Layer, path: &str) -> &'a kiln_testutil::LayerFile {
    layer
        .files
        .iter()
        .find(|file| file.entry.path == path)
        .unwrap_or_else(|| panic!("no {path} in the layer: {:#?}", layer_paths(layer)))
}

/// Panics when the layer has an entry at `path` or below it.
pub fn assert_not_in_layer(layer: &Layer, path: &str) {
    let below = format!("{path}/");
    let found: Vec<&str> = layer_paths(layer)
        .into_iter()
        .filter(|entry| *entry == path || entry.starts_with(&below))
        .collect();
    assert!(
        found.is_empty(),
        "{path} must not be in the layer, found {found:?}"
    );
}

/// The tag umoci is given (`kiln -t out:1` names the oci-dir manifest `1`).
pub const LAYOUT_TAG: &str = "1";

/// `umoci unpack --rootless` of `layout:tag` into a new bundle; returns its rootfs.
pub fn umoci_unpack(scratch: &Path, layout: &Path, tag: &str) -> PathBuf {
    let bundle = scratch.join(format!("bundle-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
    run_ok(Command::new("umoci").args([
        "unpack",
        "--rootless",
        "--image",
        &format!("{}:{tag}", s(layout)),
        s(&bundle),
    ]));
    bundle.join("rootfs")
}

/// The owners (`uid:gid`) of the merged tree, computed from the layer tars
/// with the OCI whiteout rules (umoci --rootless does not apply owners).
pub fn merged_owners(image: &OciImage) -> BTreeMap<String, (u64, u64)> {
    let mut owners: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for layer in &image.layers {
        // Whiteouts hide lower layers only: apply them before this layer's entries.
        for file in &layer.files {
            let path = &file.entry.path;
            let (dir, name) = match path.rsplit_once('/') {
                Some((dir, name)) => (dir.to_owned(), name),
                None => (String::new(), path.as_str()),
            };
            let prefix = if dir.is_empty() {
                String::new()
            } else {
                format!("{dir}/")
            };
            if name == ".wh..wh..opq" {
                owners.retain(|key, _| !(key.starts_with(&prefix) && key.len() > prefix.len()));
            } else if let Some(hidden) = name.strip_prefix(".wh.") {
                let hidden = format!("{prefix}{hidden}");
                let below = format!("{hidden}/");
                owners.retain(|key, _| *key != hidden && !key.starts_with(&below));
            }
        }
        for file in &layer.files {
            let name = file.entry.path.rsplit('/').next().unwrap_or("");
            if !name.starts_with(".wh.") && !file.entry.path.is_empty() {
                owners.insert(file.entry.path.clone(), (file.entry.uid, file.entry.gid));
            }
        }
    }
    owners
}

/// One line per path of an unpacked tree: type, mode, owner (from `owners`),
/// and the content's sha256, the link target or the device numbers; hard
/// links show as `=> FIRST-PATH`. Mtimes are left out.
pub fn describe_tree(rootfs: &Path, owners: &BTreeMap<String, (u64, u64)>) -> Vec<String> {
    let mut lines = Vec::new();
    let mut inodes: BTreeMap<(u64, u64), String> = BTreeMap::new();
    let mut pending = vec![rootfs.to_owned()];
    let mut all = Vec::new();
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|err| panic!("{dir:?}: {err}")) {
            let path = entry.expect("dir entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("lstat");
            if meta.is_dir() {
                pending.push(path.clone());
            }
            all.push((path, meta));
        }
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, meta) in all {
        let relative = path
            .strip_prefix(rootfs)
            .expect("under rootfs")
            .to_string_lossy()
            .into_owned();
        let kind = meta.file_type();
        let (letter, detail) = if kind.is_symlink() {
            let target = std::fs::read_link(&path).expect("readlink");
            ('l', format!("-> {}", target.display()))
        } else if kind.is_dir() {
            ('d', String::new())
        } else if kind.is_fifo() {
            ('p', String::new())
        } else if kind.is_char_device() || kind.is_block_device() {
            ('c', format!("{:x}", meta.rdev()))
        } else if kind.is_socket() {
            ('s', String::new())
        } else {
            let key = (meta.dev(), meta.ino());
            if meta.nlink() > 1 {
                if let Some(first) = inodes.get(&key) {
                    lines.push(format!("h {relative} => {first}"));
                    continue;
                }
                inodes.insert(key, relative.clone());
            }
            let content = std::fs::read(&path).expect("read file");
            ('-', sha256_hex(&content)[..16].to_owned())
        };
        let owner = owners
            .get(&relative)
            .map_or("?:?".to_owned(), |(uid, gid)| format!("{uid}:{gid}"));
        lines.push(format!(
            "{letter} {:04o} {owner} {relative} {detail}",
            meta.mode() & 0o7777
        ));
    }
    lines
}

/// The kind of the entry at `path` of a layer.
pub fn kind_of(layer: &Layer, path: &str) -> EntryKind {
    entry(layer, path).entry.kind
}

/// The plain-progress lines `#N TEXT` that show `text` as streamed output.
pub fn streamed(output: &Output, text: &str) -> bool {
    output.stderr.lines().any(|line| {
        line.strip_prefix('#')
            .and_then(|rest| rest.split_once(' '))
            .is_some_and(|(number, rest)| {
                number.chars().all(|c| c.is_ascii_digit()) && rest.trim() == text
            })
    })
}
