//! Where the store lives: `--root`, `KILN_ROOT`, `$XDG_DATA_HOME/kiln`, `~/.local/share/kiln`.

use std::path::PathBuf;

use anyhow::bail;

pub fn store_root(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
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
