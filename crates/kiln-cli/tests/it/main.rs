//! End-to-end tests of the `kiln` binary: builds of small contexts under
//! `testdata/projects/`, checked with independent readers (our own tar and
//! layout reader in kiln-testutil) and tools (skopeo, umoci, oci-image-tool,
//! GNU tar) when installed.

mod add;
mod cache_common;
mod cache_copy;
mod cache_flags;
mod cache_run;
mod common;
mod context;
mod copy;
mod copy_from;
mod debug;
mod errors;
mod export;
mod images;
mod kiln_run;
mod load;
mod metadata;
mod prune;
mod registry_add_url;
mod registry_anon;
mod registry_auth;
mod registry_support;
mod registry_tls;
mod reproducible;
mod run_basics;
mod run_common;
mod run_diff;
mod run_flags;
mod run_hostile;
mod run_image;
mod run_interrupt;
mod run_snapshot;
mod run_snapshotter;
mod save;
mod stages;
mod store_common;
mod store_concurrency;
mod store_crash;
mod store_disk_full;
mod store_fsck;
