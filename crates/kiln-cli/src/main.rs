//! The `kiln` binary: a daemonless OCI image builder.

mod cli;
mod commands;
mod interrupt;
mod progress;
mod prompt;
mod registry;
mod render;
mod root;
mod snapshotter;
mod transfer;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    if std::env::args_os().nth(1).as_deref() == Some(std::ffi::OsStr::new(kiln_run::INIT_ARG)) {
        kiln_run::init_main();
    }
    let cli = cli::Cli::parse();
    if matches!(cli.command, cli::Command::Build(_)) {
        // Before any thread starts (see the module).
        snapshotter::enter_early();
    }
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
