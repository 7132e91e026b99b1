//! Command-line arguments (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// kiln: build OCI images from Dockerfiles, with no daemon.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, about)]
pub struct Cli {
    /// The store directory (default: $XDG_DATA_HOME/kiln or ~/.local/share/kiln).
    #[arg(long, global = true, env = "KILN_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an image from a Dockerfile.
    Build(Box<crate::commands::build::BuildArgs>),
    /// Import an oci-archive or docker-archive tarball into the store.
    Load(crate::commands::load::LoadArgs),
    /// Fetch an image from its registry into the store.
    Pull(crate::commands::pull::PullArgs),
    /// Upload an image from the store to a registry.
    Push(crate::commands::push::PushArgs),
    /// Log in to a registry (credentials kept in containers' auth.json).
    Login(crate::commands::login::LoginArgs),
    /// Remove a registry's stored credentials.
    Logout(crate::commands::login::LogoutArgs),
    /// List the images of the store.
    Images(crate::commands::images::ImagesArgs),
    /// Give an image of the store another name.
    Tag(crate::commands::tag::TagArgs),
    /// Remove tags (the blobs stay until `kiln prune`).
    Rmi(crate::commands::rmi::RmiArgs),
    /// Delete the blobs no tag reaches.
    Prune(crate::commands::prune::PruneArgs),
    /// Show the steps an image was built with, newest first.
    History(crate::commands::history::HistoryArgs),
    /// Show an image's details as JSON (docker's `image inspect` shape).
    Inspect(crate::commands::inspect::InspectArgs),
    /// Write images to a docker-archive or oci-archive.
    Save(crate::commands::save::SaveArgs),
    /// Run a command in a new container from an image, once (not a container engine).
    Run(Box<crate::commands::run::RunArgs>),
    /// Check the store (`kiln store fsck`).
    #[command(subcommand)]
    Store(crate::commands::store::StoreCommand),
    /// Show or free the build cache (`kiln cache du`, `kiln cache prune`).
    #[command(subcommand)]
    Cache(crate::commands::cache::CacheCommand),
    /// Tools for kiln's developers.
    #[command(subcommand)]
    Debug(DebugCommand),
}

#[derive(Debug, Subcommand)]
pub enum DebugCommand {
    /// Print BuildKit's parse dump of a Dockerfile.
    ParseDump {
        /// The Dockerfile (`-` for standard input).
        file: PathBuf,
    },
    /// Print the parsed Dockerfile as JSON (line numbers, heredoc bodies).
    ParseJson {
        /// The Dockerfile (`-` for standard input).
        file: PathBuf,
    },
    /// Expand one word as BuildKit's shell lexer does; prints the word.
    ExpandWord(ExpandArgs),
    /// Expand and field-split a word; prints a JSON array of words.
    ExpandWords(ExpandArgs),
}

#[derive(Debug, Args)]
pub struct ExpandArgs {
    /// An environment variable, `K=V` (repeatable; order kept).
    #[arg(long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// The escape token.
    #[arg(long, default_value = "\\")]
    pub escape: char,
    /// The word to expand.
    #[arg(allow_hyphen_values = true)]
    pub word: String,
}
