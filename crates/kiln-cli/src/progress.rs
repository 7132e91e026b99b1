//! Renders build events on standard error: `plain` (one line per event, for
//! CI logs, in BuildKit's `#N` style) or `tty` (a live line per step that
//! turns into its result when the step ends).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use anyhow::bail;
use kiln_build::{Event, Progress};

/// How to show progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Live view.
    Tty,
    /// Line per event.
    Plain,
}

impl ProgressMode {
    /// Parses `--progress auto|tty|plain`.
    pub fn parse(value: &str) -> anyhow::Result<ProgressMode> {
        match value {
            "auto" => Ok(if std::io::stderr().is_terminal() {
                ProgressMode::Tty
            } else {
                ProgressMode::Plain
            }),
            "tty" => Ok(ProgressMode::Tty),
            "plain" => Ok(ProgressMode::Plain),
            other => bail!("invalid --progress {other:?}: use auto, tty or plain"),
        }
    }
}

/// The progress sink the CLI gives the engine.
pub struct Renderer {
    mode: ProgressMode,
    color: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Engine step id → the number shown to the user.
    numbers: BTreeMap<usize, usize>,
    /// Titles of running steps.
    titles: BTreeMap<usize, String>,
    /// The step whose live line is on screen (tty mode).
    live: Option<usize>,
}

impl Renderer {
    pub fn new(mode: ProgressMode) -> Renderer {
        let color = mode == ProgressMode::Tty
            && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
        Renderer {
            mode,
            color,
            state: Mutex::new(State::default()),
        }
    }

    /// Ends a live line left open by a failed step.
    pub fn finish(&self) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if state.live.take().is_some() {
            let _ = writeln!(std::io::stderr(), " {}", self.paint("31", "ERROR"));
        } else if self.mode == ProgressMode::Plain {
            for id in state.titles.keys() {
                let number = state.numbers.get(id).copied().unwrap_or(0);
                let _ = writeln!(std::io::stderr(), "#{number} ERROR");
            }
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

impl Progress for Renderer {
    fn event(&self, event: Event) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let mut err = std::io::stderr().lock();
        match (self.mode, event) {
            (_, Event::StepStarted { id, label, text }) => {
                let number = state.numbers.len() + 1;
                state.numbers.insert(id, number);
                let title = if label == "export" {
                    text
                } else {
                    format!("[{label}] {text}")
                };
                state.titles.insert(id, title.clone());
                match self.mode {
                    ProgressMode::Plain => {
                        let _ = writeln!(err, "#{number} {title}");
                    }
                    ProgressMode::Tty => {
                        let _ = write!(err, "{} {title}", self.paint("34", "=>"));
                        state.live = Some(id);
                    }
                }
            }
            (
                ProgressMode::Plain,
                Event::StepDone {
                    id,
                    duration,
                    cached,
                },
            ) => {
                state.titles.remove(&id);
                let number = state.numbers.get(&id).copied().unwrap_or(0);
                let status = if cached {
                    "CACHED".to_string()
                } else {
                    format!("DONE {:.1}s", duration.as_secs_f64())
                };
                let _ = writeln!(err, "#{number} {status}");
            }
            (
                ProgressMode::Tty,
                Event::StepDone {
                    id,
                    duration,
                    cached,
                },
            ) => {
                let title = state.titles.remove(&id).unwrap_or_default();
                let status = if cached {
                    "CACHED".to_string()
                } else {
                    format!("{:.1}s", duration.as_secs_f64())
                };
                if state.live == Some(id) {
                    let _ = write!(err, "\r\x1b[2K");
                }
                let _ = writeln!(
                    err,
                    "{} {title} {}",
                    self.paint("32", "=>"),
                    self.paint("2", &status)
                );
                state.live = None;
            }
            (ProgressMode::Plain, Event::StepLog { id, line }) => {
                let number = state.numbers.get(&id).copied().unwrap_or(0);
                let _ = writeln!(err, "#{number} {line}");
            }
            (ProgressMode::Tty, Event::StepLog { line, .. }) => {
                if state.live.is_some() {
                    let _ = writeln!(err);
                    state.live = None;
                }
                let _ = writeln!(err, "   {}", self.paint("2", &line));
            }
            (ProgressMode::Plain, Event::StepOutput { id, line }) => {
                let number = state.numbers.get(&id).copied().unwrap_or(0);
                let _ = writeln!(err, "#{number} {line}");
            }
            (ProgressMode::Tty, Event::StepOutput { line, .. }) => {
                if state.live.take().is_some() {
                    let _ = writeln!(err);
                }
                let _ = writeln!(err, "   {}", self.paint("2", &line));
            }
            (_, Event::Warning(message)) => {
                if state.live.take().is_some() {
                    let _ = writeln!(err);
                }
                let _ = writeln!(err, "{} {message}", self.paint("33", "WARNING:"));
            }
        }
    }
}
