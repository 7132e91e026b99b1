//! Which snapshotter a build uses (`KILN_SNAPSHOTTER`): `auto` (the
//! default) takes the overlay snapshotter when kiln runs as root and an
//! overlay mounts on the store's filesystem, the native one otherwise;
//! `overlay` insists on it; `native` never mounts anything.
//!
//! The overlay snapshotter needs kiln in a private mount namespace, entered
//! by [`enter_early`] while the process still has one thread.

use std::sync::OnceLock;

use anyhow::{bail, Context};
use kiln_build::Snapshotter;

/// The environment variable choosing the snapshotter.
pub const ENV: &str = "KILN_SNAPSHOTTER";

/// Whether the private mount namespace was entered, or why not.
static NAMESPACE: OnceLock<Result<(), String>> = OnceLock::new();

/// What `KILN_SNAPSHOTTER` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    Auto,
    Overlay,
    Native,
}

fn choice() -> anyhow::Result<Choice> {
    match std::env::var(ENV).ok().as_deref() {
        None | Some("") | Some("auto") => Ok(Choice::Auto),
        Some("overlay") => Ok(Choice::Overlay),
        Some("native") => Ok(Choice::Native),
        Some(other) => bail!("invalid {ENV}={other:?}: use auto, overlay or native"),
    }
}

/// Enters kiln's private mount namespace when a build may use the overlay
/// snapshotter. Call before any thread starts.
pub fn enter_early() {
    if matches!(choice(), Ok(Choice::Native)) {
        return;
    }
    let outcome = if rustix::process::geteuid().is_root() {
        kiln_run::enter_private_mount_namespace().map_err(|err| err.to_string())
    } else {
        Err("it needs root".to_string())
    };
    let _ = NAMESPACE.set(outcome);
}

/// The snapshotter for a build on `store`.
pub fn choose(store: &kiln_store::Store) -> anyhow::Result<Snapshotter> {
    let choice = choice()?;
    if choice == Choice::Native {
        return Ok(Snapshotter::Native);
    }
    let ready = match NAMESPACE.get() {
        Some(Ok(())) => probe(store),
        Some(Err(reason)) => Err(reason.clone()),
        None => Err("no private mount namespace".to_string()),
    };
    match (choice, ready) {
        (_, Ok(())) => Ok(Snapshotter::Overlay),
        (Choice::Overlay, Err(reason)) => {
            bail!("{ENV}=overlay: the overlay snapshotter cannot be used: {reason}")
        }
        _ => Ok(Snapshotter::Native),
    }
}

/// Makes a whiteout and an opaque directory, then mounts and unmounts a tiny
/// overlay on them, in the store's scratch space.
fn probe(store: &kiln_store::Store) -> Result<(), String> {
    let attempt = || -> anyhow::Result<()> {
        let scratch = store.tmp_dir("overlay-probe-")?;
        let dirs: Vec<_> = ["lower", "upper", "work", "merged"]
            .iter()
            .map(|name| scratch.path().join(name))
            .collect();
        for dir in &dirs {
            std::fs::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        // Unpacked layers need whiteout devices and trusted xattrs here.
        let whiteout = dirs[0].join("whiteout");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &whiteout,
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::empty(),
            rustix::fs::makedev(0, 0),
        )
        .with_context(|| format!("creating a whiteout at {}", whiteout.display()))?;
        let opaque = dirs[0].join("opaque");
        std::fs::create_dir(&opaque).with_context(|| format!("creating {}", opaque.display()))?;
        rustix::fs::setxattr(
            &opaque,
            "trusted.overlay.opaque",
            b"y",
            rustix::fs::XattrFlags::empty(),
        )
        .with_context(|| format!("marking {} opaque", opaque.display()))?;
        let mount = kiln_run::OverlayMount::mount(&dirs[..1], &dirs[1], &dirs[2], &dirs[3])?;
        mount.unmount()?;
        Ok(())
    };
    attempt().map_err(|err| format!("{err:#}"))
}
