//! Asking before destructive commands (`prune`, `cache prune`), as docker does.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::bail;

/// Prints `warning` and asks on the terminal; refuses (an error naming
/// `action`) when standard input is not a terminal.
pub fn confirm(warning: &str, action: &str) -> anyhow::Result<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!("refusing to {action} without confirmation: standard input is not a terminal (use -f to {action} without asking)");
    }
    let mut stderr = std::io::stderr();
    write!(
        stderr,
        "{warning}\nAre you sure you want to continue? [y/N] "
    )?;
    stderr.flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    let yes = matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes");
    if !yes {
        eprintln!("{action} cancelled");
    }
    Ok(yes)
}
