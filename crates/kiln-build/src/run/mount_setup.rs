//! Turning `RUN --mount` specs into sandbox mounts: cache directories in the
//! store, secrets written to private scratch files, views of the context,
//! stages or images, and tmpfs. Everything here lives outside the rootfs, so
//! none of it can end up in a layer.

use std::any::Any;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use kiln_dockerfile::Span;
use kiln_run::{Mount, MountKind};
use sha2::{Digest as _, Sha256};

use super::mounts::{RunMount, Sharing};
use crate::build::Engine;
use crate::context::{ContextKind, Snapshot};
use crate::copy::select::resolve;
use crate::error::{step_error, BuildError, Result};
use crate::paths;
use crate::sources::from_tree;

/// Mounts ready for the sandbox, and what must live as long as the run.
pub struct MountSetup {
    /// The mounts.
    pub mounts: Vec<Mount>,
    /// Secrets exposed as environment variables (never recorded anywhere).
    pub secret_env: Vec<(String, String)>,
    _guards: Vec<Box<dyn Any>>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Prepares every mount of a RUN (and the `#!` heredoc script, if any).
pub fn prepare(
    engine: &mut Engine<'_>,
    stage_index: usize,
    run_mounts: &[RunMount],
    script: Option<&(String, String)>,
    span: Span,
) -> Result<MountSetup> {
    let mut setup = MountSetup {
        mounts: Vec::new(),
        secret_env: Vec::new(),
        _guards: Vec::new(),
    };
    if let Some((name, body)) = script {
        let scratch = engine.store.tmp_dir("script-")?;
        let path = scratch.path().join("script");
        std::fs::write(&path, body).map_err(io(&path))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .map_err(io(&path))?;
        setup.mounts.push(Mount {
            target: format!("/dev/pipes/{name}"),
            kind: MountKind::Bind {
                source: path,
                readonly: true,
            },
        });
        setup._guards.push(Box::new(scratch));
    }
    for mount in run_mounts {
        match mount {
            RunMount::Bind {
                target,
                from,
                source,
                rw,
            } => {
                let tree = match from {
                    None => engine.context_tree()?,
                    Some(from) => from_tree(engine, stage_index, from, span)?,
                };
                let relative = resolve(&tree.snapshot, &paths::clean(source)).ok_or_else(|| {
                    step_error(span, format!("RUN --mount source {source:?} not found"))
                })?;
                let copy_needed = *rw || (from.is_none() && engine.context_filtered);
                let host_path = if copy_needed {
                    let scratch = engine.store.tmp_dir("bind-")?;
                    let dest = scratch.path().join("view");
                    copy_subtree(&tree.snapshot, &relative, &dest)?;
                    setup._guards.push(Box::new(scratch));
                    dest
                } else {
                    tree.snapshot.abs_path(&relative)
                };
                setup._guards.push(Box::new(tree));
                setup.mounts.push(Mount {
                    target: target.clone(),
                    kind: MountKind::Bind {
                        source: host_path,
                        readonly: !rw,
                    },
                });
            }
            RunMount::Cache {
                target,
                id,
                sharing,
                uid,
                gid,
                mode,
                from,
                source,
                readonly,
            } => {
                let key = hex::encode(Sha256::digest(id.as_bytes()));
                if matches!(sharing, Sharing::Locked | Sharing::Private) {
                    setup
                        ._guards
                        .push(Box::new(engine.store.lock(&format!("cache-mount-{key}"))?));
                }
                let dir = engine.store.root().join("cache").join("mounts").join(&key);
                if !dir.exists() {
                    let seed = match from {
                        Some(from) => {
                            let tree = from_tree(engine, stage_index, from, span)?;
                            let relative = resolve(&tree.snapshot, &paths::clean(source))
                                .ok_or_else(|| {
                                    step_error(
                                        span,
                                        format!(
                                            "cache mount source {source:?} not found in {from:?}"
                                        ),
                                    )
                                })?;
                            Some((tree, relative))
                        }
                        None => None,
                    };
                    create_cache_dir(
                        &dir,
                        *uid,
                        *gid,
                        *mode,
                        seed.as_ref()
                            .map(|(tree, rel)| (&tree.snapshot, rel.as_str())),
                    )?;
                }
                setup.mounts.push(Mount {
                    target: target.clone(),
                    kind: MountKind::Bind {
                        source: dir,
                        readonly: *readonly,
                    },
                });
            }
            RunMount::Secret {
                id,
                target,
                env,
                required,
                mode,
                uid,
                gid,
            } => {
                let Some(value) = engine.options.secrets.get(id) else {
                    if *required {
                        return Err(step_error(
                            span,
                            format!("secret {id:?} is required but was not given (kiln build --secret id={id},src=FILE)"),
                        ));
                    }
                    continue;
                };
                if let Some(name) = env {
                    setup
                        .secret_env
                        .push((name.clone(), String::from_utf8_lossy(value).into_owned()));
                }
                if let Some(target) = target {
                    let scratch = engine.store.tmp_dir("secret-")?;
                    std::fs::set_permissions(
                        scratch.path(),
                        std::fs::Permissions::from_mode(0o700),
                    )
                    .map_err(io(scratch.path()))?;
                    let path = scratch.path().join("secret");
                    std::fs::write(&path, value).map_err(io(&path))?;
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode))
                        .map_err(io(&path))?;
                    let _ = std::os::unix::fs::chown(&path, Some(*uid), Some(*gid));
                    setup.mounts.push(Mount {
                        target: target.clone(),
                        kind: MountKind::Bind {
                            source: path,
                            readonly: true,
                        },
                    });
                    setup._guards.push(Box::new(scratch));
                }
            }
            RunMount::Tmpfs { target, size } => setup.mounts.push(Mount {
                target: target.clone(),
                kind: MountKind::Tmpfs { size: *size },
            }),
        }
    }
    Ok(setup)
}

/// Creates a cache mount directory atomically (temp dir + rename).
fn create_cache_dir(
    dir: &Path,
    uid: u32,
    gid: u32,
    mode: u32,
    seed: Option<(&Snapshot, &str)>,
) -> Result<()> {
    let parent = dir.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let temp = tempfile::Builder::new()
        .prefix(".new-")
        .tempdir_in(parent)
        .map_err(io(parent))?;
    let staging: PathBuf = temp.path().join("dir");
    match seed {
        Some((tree, relative)) => copy_subtree(tree, relative, &staging)?,
        None => std::fs::create_dir(&staging).map_err(io(&staging))?,
    }
    std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(mode))
        .map_err(io(&staging))?;
    let _ = std::os::unix::fs::chown(&staging, Some(uid), Some(gid));
    match std::fs::rename(&staging, dir) {
        Ok(()) => Ok(()),
        // Another build created it first: use theirs.
        Err(_) if dir.is_dir() => Ok(()),
        Err(source) => Err(BuildError::Io {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Copies what `relative` names in a tree (a file, or a directory and
/// everything under it) to `dest`, keeping modes and symlinks.
pub fn copy_subtree(tree: &Snapshot, relative: &str, dest: &Path) -> Result<()> {
    let root_is_dir = relative.is_empty()
        || matches!(
            tree.get(relative).map(|entry| &entry.kind),
            Some(ContextKind::Dir)
        );
    if !root_is_dir {
        let source = tree.abs_path(relative);
        std::fs::copy(&source, dest).map_err(io(&source))?;
        return Ok(());
    }
    std::fs::create_dir_all(dest).map_err(io(dest))?;
    let prefix = if relative.is_empty() {
        String::new()
    } else {
        format!("{relative}/")
    };
    for entry in tree
        .entries()
        .filter(|entry| entry.path.starts_with(&prefix))
    {
        let target = dest.join(&entry.path[prefix.len()..]);
        match &entry.kind {
            ContextKind::Dir => {
                std::fs::create_dir_all(&target).map_err(io(&target))?;
                std::fs::set_permissions(
                    &target,
                    std::fs::Permissions::from_mode(entry.mode | 0o700),
                )
                .map_err(io(&target))?;
            }
            ContextKind::File => {
                let source = tree.abs_path(&entry.path);
                std::fs::copy(&source, &target).map_err(io(&source))?;
            }
            ContextKind::Symlink { target: link } => {
                std::os::unix::fs::symlink(link, &target).map_err(io(&target))?;
            }
            ContextKind::Other => {}
        }
    }
    Ok(())
}
