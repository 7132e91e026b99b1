//! Test helpers for kiln's integration tests (a dev-dependency only).
//!
//! - [`Kiln`]: a `kiln` binary bound to a temporary store and scratch directory.
//! - [`require_tool`] / [`require_tool!`]: skip (or, in CI, fail) when an outside tool is missing.
//! - [`run`], [`run_ok`]: run a command and capture its output, with the output in panic messages.
//! - [`OciImage`]: read an oci-archive or oci-dir (index → manifest → config → layers), verifying digests.
//! - [`list_layer`]: the entries of a (gzipped) layer tar; [`Project`]: a mutable copy of a build context.
//! - [`build_busybox`]: a busybox base image (`busybox:test`) built by kiln from the host's busybox-static.
//! - [`TestRegistry`]: a `docker-registry` on 127.0.0.1 (optional htpasswd auth and TLS).
//! - [`assert_golden`]: compare with a golden file, rewritten when `KILN_BLESS=1`.
//!
//! ```no_run
//! use kiln_testutil::{Kiln, Project};
//! let kiln = Kiln::new("target/debug/kiln");
//! let project = Project::copy("copy-basic");
//! let built = kiln.build(["-t", "app:1", project.path().to_str().unwrap()]);
//! assert!(built.image_id.starts_with("sha256:"));
//! ```

mod busybox;
mod command;
mod golden;
mod kiln;
mod layer;
mod oci;
mod project;
mod registry;
mod table;
mod tools;

pub use busybox::{
    applets, build_busybox, busybox_context, is_static_elf, static_busybox, BUSYBOX_PATH,
    BUSYBOX_TAG,
};
pub use command::{run, run_ok, run_with_stdin, Output};
pub use golden::{assert_golden, blessing};
pub use kiln::{assert_clean_failure, assert_no_panic, BuildResult, Kiln};
pub use layer::{list_layer, list_tar, EntryKind, LayerFile, TarEntry};
pub use oci::{sha256_hex, Layer, OciImage};
pub use project::{tree_listing, workspace_root, Project};
pub use registry::{free_port, RegistryOptions, Request, TestRegistry};
pub use table::{parse_docker_table, Table};
pub use tools::{on_path, require_tool, tools_required};
