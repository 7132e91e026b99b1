//! kiln-oci: the OCI vocabulary of kiln.
//!
//! Digests, image references with Docker's normalization, media types, the image
//! config in Docker's shape, platforms, and reading/writing OCI image layouts,
//! oci-archives and docker-archives.
//!
//! ```
//! use kiln_oci::{Digest, Reference};
//!
//! let reference: Reference = "ubuntu".parse().unwrap();
//! assert_eq!(reference.to_string(), "docker.io/library/ubuntu:latest");
//! assert_eq!(reference.familiar(), "ubuntu:latest");
//! assert_eq!(Digest::sha256_of(b"").short(), "e3b0c44298fc");
//! ```
#![deny(missing_docs)]

mod config;
mod descriptor;
mod digest;
mod error;
mod export;
mod export_docker;
mod extract;
mod import;
pub mod media_type;
mod platform;
mod reference;
mod sink;
mod verify;

pub use oci_spec;

pub use config::{ContainerConfig, EmptyObject, HealthConfig, History, ImageConfig, RootFs};
pub use descriptor::{
    descriptor, descriptor_digest, descriptor_media_type, BlobSource, Descriptor, ImageIndex,
    ImageManifest, MediaType,
};
pub use digest::{Digest, HashingReader, HashingWriter};
pub use error::{Error, Result};
pub use export::{write_oci_archive, write_oci_dir, ExportImage, OCI_LAYOUT_FILE};
pub use export_docker::write_docker_archive;
pub use import::{read_archive, read_oci_layout, LoadedImage};
pub use media_type::*;
pub use platform::Platform;
pub use reference::{is_valid_tag, Reference, DEFAULT_DOMAIN, DEFAULT_TAG};
