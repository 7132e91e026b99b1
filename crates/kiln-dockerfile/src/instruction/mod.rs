//! Typed instructions: the raw [`crate::ast`] given meaning, flags checked.
//!
//! Values here are still *unexpanded* words: variables are expanded by the
//! builder at dispatch time, with the environment in effect at that step
//! (BuildKit expands in ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER,
//! VOLUME, WORKDIR, ARG defaults and some flags; never in RUN, CMD,
//! ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD or MAINTAINER).
//!
//! [`to_stages`] splits a parsed file into global ARGs and stages;
//! [`parse_command`] converts one instruction (BuildKit
//! `frontend/dockerfile/instructions/parse.go` is the reference for what is
//! accepted and rejected).

mod command;
mod duration;
mod error;
mod flags;
mod stages;

use std::time::Duration;

use crate::ast::{Heredoc, Span};

pub use command::parse_command;
pub use error::{InstructionError, InstructionErrorKind};
pub use stages::to_stages;

/// A Dockerfile split into the global ARGs and its stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stages {
    /// `ARG`s before the first `FROM` (usable in `FROM` lines).
    pub meta_args: Vec<Command>,
    /// The stages in source order.
    pub stages: Vec<Stage>,
}

/// One `FROM` and the instructions up to the next `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Position in the file, 0-based (what `COPY --from=0` names).
    pub index: usize,
    /// `AS name`, lowercased; validated as BuildKit does.
    pub name: Option<String>,
    /// The base image word as written (may contain `$ARG`s).
    pub base: String,
    /// `--platform=` as written, if given.
    pub platform: Option<String>,
    /// The `FROM` line.
    pub span: Span,
    /// The `FROM` line text.
    pub original: String,
    /// Instructions after the `FROM`, in order.
    pub commands: Vec<Command>,
}

/// A typed instruction with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Where it is in the Dockerfile.
    pub span: Span,
    /// The continuation-joined line, as written (used for history and errors).
    pub original: String,
    /// What it is.
    pub kind: CommandKind,
}

/// Shell form (one string run through SHELL) or exec form (JSON array).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellOrExec {
    /// `RUN echo hi` — the text after the keyword and flags.
    Shell(String),
    /// `RUN ["echo", "hi"]`.
    Exec(Vec<String>),
}

/// An `ARG` declaration: `ARG name` or `ARG name=default`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    /// The variable name (unexpanded).
    pub name: String,
    /// The default value as written, quotes kept (expand it to use it).
    pub default: Option<String>,
}

/// The arguments shared by `COPY` and `ADD`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyArgs {
    /// True for `ADD`.
    pub is_add: bool,
    /// Source words as written (a heredoc source is `<<NAME`).
    pub sources: Vec<String>,
    /// Destination as written.
    pub dest: String,
    /// Heredocs named among the sources.
    pub heredocs: Vec<Heredoc>,
    /// `--from=`.
    pub from: Option<String>,
    /// `--chown=`.
    pub chown: Option<String>,
    /// `--chmod=`.
    pub chmod: Option<String>,
    /// `--link` / `--link=true`.
    pub link: bool,
    /// `--parents`.
    pub parents: bool,
    /// `--exclude=` patterns (repeatable).
    pub exclude: Vec<String>,
    /// ADD `--checksum=`.
    pub checksum: Option<String>,
    /// ADD `--keep-git-dir=`.
    pub keep_git_dir: Option<bool>,
    /// ADD `--unpack=`.
    pub unpack: Option<bool>,
}

/// `RUN` flags and command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunArgs {
    /// The command.
    pub command: ShellOrExec,
    /// Heredocs of the instruction.
    pub heredocs: Vec<Heredoc>,
    /// `--mount=` values as written (repeatable).
    pub mounts: Vec<String>,
    /// `--network=`.
    pub network: Option<String>,
    /// `--security=`.
    pub security: Option<String>,
    /// `--device=` values.
    pub devices: Vec<String>,
}

/// `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable the base image's check.
    None,
    /// `HEALTHCHECK [OPTIONS] CMD ...`.
    Cmd {
        /// The check command (shell form becomes `CMD-SHELL`).
        test: ShellOrExec,
        /// `--interval=`.
        interval: Option<Duration>,
        /// `--timeout=`.
        timeout: Option<Duration>,
        /// `--start-period=`.
        start_period: Option<Duration>,
        /// `--start-interval=`.
        start_interval: Option<Duration>,
        /// `--retries=`.
        retries: Option<u64>,
    },
}

/// What an instruction is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandKind {
    /// `ARG a b=c`.
    Arg(Vec<ArgDecl>),
    /// `ENV k=v ...` / `ENV k v` — keys and values as written.
    Env(Vec<(String, String)>),
    /// `LABEL k=v ...` — keys and values as written.
    Label(Vec<(String, String)>),
    /// `RUN`.
    Run(RunArgs),
    /// `COPY` or `ADD`.
    Copy(CopyArgs),
    /// `WORKDIR path`.
    Workdir(String),
    /// `USER name[:group]`.
    User(String),
    /// `CMD`.
    Cmd(ShellOrExec),
    /// `ENTRYPOINT`.
    Entrypoint(ShellOrExec),
    /// `SHELL ["sh", "-c"]` (JSON form required).
    Shell(Vec<String>),
    /// `EXPOSE 80/tcp 443` — words as written.
    Expose(Vec<String>),
    /// `VOLUME /a /b` or JSON form — words as written.
    Volume(Vec<String>),
    /// `STOPSIGNAL SIGTERM`.
    StopSignal(String),
    /// `HEALTHCHECK`.
    Healthcheck(Healthcheck),
    /// `ONBUILD <instruction>`: the trigger text (after `ONBUILD `), already
    /// checked to be a valid instruction that is not ONBUILD, FROM or MAINTAINER.
    Onbuild(String),
    /// `MAINTAINER name` (deprecated; sets the config author).
    Maintainer(String),
}

#[cfg(test)]
mod tests;
