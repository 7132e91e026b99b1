//! One function per instruction (BuildKit's `dispatch*`): each reads the
//! stage state and the engine, and changes the image config and layers.

mod add_url;
mod copy;
mod layer;
pub use layer::write_prepared_layer;
pub mod from;
mod metadata;
mod workdir;

use kiln_dockerfile::instruction::{Command, CommandKind};

use crate::build::Engine;
use crate::error::Result;
use crate::stage::StageState;

/// Runs one instruction.
pub fn dispatch(engine: &mut Engine<'_>, state: &mut StageState, command: &Command) -> Result<()> {
    match &command.kind {
        CommandKind::Run(args) => crate::run::dispatch_run(engine, state, command, args),
        CommandKind::Copy(args) => copy::dispatch_copy(engine, state, command, args),
        CommandKind::Workdir(path) => workdir::dispatch_workdir(engine, state, command, path),
        CommandKind::Arg(decls) => metadata::dispatch_arg(engine, state, command, decls),
        CommandKind::Env(pairs) => metadata::dispatch_env(engine, state, command, pairs),
        CommandKind::Label(pairs) => metadata::dispatch_label(engine, state, command, pairs),
        CommandKind::User(user) => metadata::dispatch_user(engine, state, command, user),
        CommandKind::Cmd(cmd) => metadata::dispatch_cmd(engine, state, cmd),
        CommandKind::Entrypoint(entrypoint) => {
            metadata::dispatch_entrypoint(engine, state, entrypoint)
        }
        CommandKind::Shell(shell) => metadata::dispatch_shell(engine, state, shell),
        CommandKind::Expose(ports) => metadata::dispatch_expose(engine, state, command, ports),
        CommandKind::Volume(volumes) => metadata::dispatch_volume(engine, state, command, volumes),
        CommandKind::StopSignal(signal) => {
            metadata::dispatch_stopsignal(engine, state, command, signal)
        }
        CommandKind::Healthcheck(check) => metadata::dispatch_healthcheck(engine, state, check),
        CommandKind::Onbuild(trigger) => metadata::dispatch_onbuild(engine, state, trigger),
        CommandKind::Maintainer(name) => metadata::dispatch_maintainer(engine, state, name),
    }
}
