//! Build progress events. The engine reports; the CLI renders (tty, plain).

use std::time::Duration;

/// Something that happened during a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A step started. `id` is unique within the build and increases.
    StepStarted {
        /// The step's number in the build (1-based).
        id: usize,
        /// `[stage 2/5]`-style label: stage name or index, position and count.
        label: String,
        /// The stage's name (`stage-N` when unnamed; empty for export).
        stage: String,
        /// The instruction as written.
        text: String,
    },
    /// A step finished.
    StepDone {
        /// The step's number.
        id: usize,
        /// How long it took.
        duration: Duration,
        /// True when the result came from the cache.
        cached: bool,
        /// Why a cache-able step missed the cache.
        miss_reason: Option<String>,
    },
    /// A line of detail for a step (e.g. what an export wrote).
    StepLog {
        /// The step's number.
        id: usize,
        /// The line.
        line: String,
    },
    /// A line a RUN step printed (stdout or stderr).
    StepOutput {
        /// The step's number.
        id: usize,
        /// The line, without its newline.
        line: String,
    },
    /// A warning for the user.
    Warning(String),
}

/// Receives build events.
pub trait Progress: Send + Sync {
    /// Called for every event, in order.
    fn event(&self, event: Event);
}

/// A progress sink that drops everything.
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _event: Event) {}
}
