//! End-to-end tests of the `kiln` binary: builds of small contexts under
//! `testdata/projects/`, checked with independent readers (our own tar and
//! layout reader in kiln-testutil) and tools (skopeo, umoci, oci-image-tool,
//! GNU tar) when installed.

mod add;
mod common;
mod context;
mod copy;
mod copy_from;
mod debug;
mod errors;
mod export;
mod load;
mod metadata;
mod reproducible;
mod stages;
