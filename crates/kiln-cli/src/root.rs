//! Where the store lives: `--root`, `KILN_ROOT`, `$XDG_DATA_HOME/kiln`, `~/.local/share/kiln`.

use std::path::PathBuf;

use anyhow::bail;

/// The store directory, made absolute (sandbox mounts need absolute paths).
pub fn store_root(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let root = find_root(flag)?;
    Ok(std::path::absolute(&root).unwrap_or(root))
}

fn find_root(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(root) = flag {
        return Ok(root);
    }
    if let Some(data) = std::env::var_os("XDG_DATA_HOME").filter(|value| !value.is_empty()) {
        return Ok(PathBuf::from(data).join("kiln"));
    }
    match std::env::var_os("HOME").filter(|value| !value.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/kiln")),
        None => bail!("cannot find a store directory: set --root, KILN_ROOT or HOME"),
    }
}
