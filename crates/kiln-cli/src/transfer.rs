//! Blob transfer progress for pull and push: one line per blob on standard
//! error (on a terminal, a line that counts bytes while it moves).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use kiln_oci::Digest;
use kiln_registry::TransferProgress;

/// Prints transfers.
pub struct TransferLines {
    quiet: bool,
    tty: bool,
    sizes: Mutex<Vec<(Digest, u64, u64)>>,
}

impl TransferLines {
    pub fn new(quiet: bool) -> TransferLines {
        TransferLines {
            quiet,
            tty: std::io::stderr().is_terminal(),
            sizes: Mutex::new(Vec::new()),
        }
    }
}

impl TransferProgress for TransferLines {
    fn started(&self, digest: &Digest, size: u64) {
        if let Ok(mut sizes) = self.sizes.lock() {
            sizes.push((digest.clone(), size, 0));
        }
    }

    fn advanced(&self, digest: &Digest, bytes: u64) {
        let Ok(mut sizes) = self.sizes.lock() else {
            return;
        };
        if let Some(entry) = sizes.iter_mut().find(|(known, _, _)| known == digest) {
            entry.2 += bytes;
            if self.tty && !self.quiet {
                let _ = write!(
                    std::io::stderr(),
                    "\r\x1b[2K{}: {}/{} bytes",
                    digest.short(),
                    entry.2,
                    entry.1
                );
            }
        }
    }

    fn finished(&self, digest: &Digest, skipped: bool) {
        if self.quiet {
            return;
        }
        let status = if skipped { "Already exists" } else { "Done" };
        let clear = if self.tty { "\r\x1b[2K" } else { "" };
        let _ = writeln!(std::io::stderr(), "{clear}{}: {status}", digest.short());
    }
}
