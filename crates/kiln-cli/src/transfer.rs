//! Blob transfer progress for pull and push. On a terminal: one progress bar
//! per blob, redrawn in place (at most ten times a second); elsewhere: one
//! line per finished blob, for logs.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kiln_oci::Digest;
use kiln_registry::TransferProgress;

/// Width of a bar in cells.
const BAR: usize = 30;

struct Blob {
    digest: Digest,
    size: u64,
    done: u64,
    status: Option<&'static str>,
}

#[derive(Default)]
struct State {
    blobs: Vec<Blob>,
    /// Lines drawn last time (to move back over them).
    drawn: usize,
    last_draw: Option<Instant>,
}

/// Prints transfers.
pub struct TransferLines {
    quiet: bool,
    tty: bool,
    state: Mutex<State>,
}

impl TransferLines {
    pub fn new(quiet: bool) -> TransferLines {
        TransferLines {
            quiet,
            tty: std::io::stderr().is_terminal(),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Redraws every bar (tty), unless the last draw is too recent and `force` is off.
    fn draw(&self, state: &mut State, force: bool) {
        if self.quiet || !self.tty {
            return;
        }
        let now = Instant::now();
        if !force
            && state
                .last_draw
                .is_some_and(|last| now - last < Duration::from_millis(100))
        {
            return;
        }
        state.last_draw = Some(now);
        let mut err = std::io::stderr().lock();
        if state.drawn > 0 {
            let _ = write!(err, "\x1b[{}A", state.drawn);
        }
        for blob in &state.blobs {
            let line = match blob.status {
                Some(status) => format!("{}: {status}", blob.digest.short()),
                None => {
                    let filled = (blob.done.min(blob.size) * BAR as u64)
                        .checked_div(blob.size)
                        .unwrap_or(0) as usize;
                    format!(
                        "{}: [{}{}] {}/{}",
                        blob.digest.short(),
                        "=".repeat(filled),
                        " ".repeat(BAR - filled),
                        human(blob.done),
                        human(blob.size)
                    )
                }
            };
            let _ = writeln!(err, "\r\x1b[2K{line}");
        }
        state.drawn = state.blobs.len();
    }
}

fn human(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < units.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.1}{}", units[unit])
    }
}

impl TransferProgress for TransferLines {
    fn started(&self, digest: &Digest, size: u64) {
        let mut state = self.lock();
        state.blobs.push(Blob {
            digest: digest.clone(),
            size,
            done: 0,
            status: None,
        });
        self.draw(&mut state, true);
    }

    fn advanced(&self, digest: &Digest, bytes: u64) {
        let mut state = self.lock();
        if let Some(blob) = state.blobs.iter_mut().find(|blob| &blob.digest == digest) {
            blob.done += bytes;
        }
        self.draw(&mut state, false);
    }

    fn finished(&self, digest: &Digest, skipped: bool) {
        let status = if skipped { "Already exists" } else { "Done" };
        let mut state = self.lock();
        if let Some(blob) = state.blobs.iter_mut().find(|blob| &blob.digest == digest) {
            blob.status = Some(status);
        }
        if self.tty {
            self.draw(&mut state, true);
        } else if !self.quiet {
            let _ = writeln!(std::io::stderr(), "{}: {status}", digest.short());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human(999), "999B");
        assert_eq!(human(1_500), "1.5kB");
        assert_eq!(human(12_300_000), "12.3MB");
    }
}
