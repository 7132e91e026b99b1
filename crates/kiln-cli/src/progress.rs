//! Renders build events on standard error: `plain` (one line per event, for
//! CI logs, in BuildKit's `#N` style, cache hits marked `CACHED`), `tty` (a
//! live line per step that turns into its result when the step ends) and
//! `json` (one JSON object per event, on standard error too, so that
//! standard output stays free for data).

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
    /// JSON object per event.
    Json,
}

impl ProgressMode {
    /// Parses `--progress auto|tty|plain|json`.
    pub fn parse(value: &str) -> anyhow::Result<ProgressMode> {
        match value {
            "auto" => Ok(if std::io::stderr().is_terminal() {
                ProgressMode::Tty
            } else {
                ProgressMode::Plain
            }),
            "tty" => Ok(ProgressMode::Tty),
            "plain" => Ok(ProgressMode::Plain),
            "json" | "rawjson" => Ok(ProgressMode::Json),
            other => bail!("invalid --progress {other:?}: use auto, tty, plain or json"),
        }
    }
}

/// The progress sink the CLI gives the engine.
pub struct Renderer {
    mode: ProgressMode,
    color: bool,
    state: Mutex<State>,
}

/// A step as the renderer knows it.
#[derive(Clone)]
struct StepInfo {
    number: usize,
    stage: String,
    instruction: String,
    title: String,
}

#[derive(Default)]
struct State {
    steps: BTreeMap<usize, StepInfo>,
    /// Steps started and not done.
    running: Vec<usize>,
    /// The step whose live line is on screen (tty mode).
    live: Option<usize>,
    /// Missed steps and why, for `--explain`.
    misses: Vec<(String, String)>,
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
        let mut state = self.lock();
        let mut err = std::io::stderr().lock();
        if state.live.take().is_some() {
            let _ = writeln!(err, " {}", self.paint("31", "ERROR"));
        } else if self.mode == ProgressMode::Plain {
            for id in &state.running {
                if let Some(step) = state.steps.get(id) {
                    let _ = writeln!(err, "#{} ERROR", step.number);
                }
            }
        }
    }

    /// The steps that missed the cache, with the reason (for `--explain`).
    pub fn misses(&self) -> Vec<(String, String)> {
        self.lock().misses.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn json(&self, value: serde_json::Value) {
        let _ = writeln!(std::io::stderr().lock(), "{value}");
    }
}

impl Progress for Renderer {
    fn event(&self, event: Event) {
        let mut state = self.lock();
        match event {
            Event::StepStarted {
                id,
                label,
                stage,
                text,
            } => {
                let number = state.steps.len() + 1;
                let title = if label == "export" {
                    text.clone()
                } else {
                    format!("[{label}] {text}")
                };
                let info = StepInfo {
                    number,
                    stage,
                    instruction: text,
                    title,
                };
                state.steps.insert(id, info.clone());
                state.running.push(id);
                let mut err = std::io::stderr().lock();
                match self.mode {
                    ProgressMode::Plain => {
                        let _ = writeln!(err, "#{number} {}", info.title);
                    }
                    ProgressMode::Tty => {
                        let _ = write!(err, "{} {}", self.paint("34", "=>"), info.title);
                        state.live = Some(id);
                    }
                    ProgressMode::Json => {
                        drop(err);
                        self.json(serde_json::json!({
                            "event": "step_started",
                            "step": number,
                            "stage": info.stage,
                            "instruction": info.instruction,
                        }));
                    }
                }
            }
            Event::StepDone {
                id,
                duration,
                cached,
                miss_reason,
            } => {
                state.running.retain(|running| *running != id);
                let Some(info) = state.steps.get(&id).cloned() else {
                    return;
                };
                if let Some(reason) = &miss_reason {
                    state.misses.push((info.title.clone(), reason.clone()));
                }
                let mut err = std::io::stderr().lock();
                match self.mode {
                    ProgressMode::Plain => {
                        let status = if cached {
                            "CACHED".to_string()
                        } else {
                            format!("DONE {:.1}s", duration.as_secs_f64())
                        };
                        let _ = writeln!(err, "#{} {status}", info.number);
                    }
                    ProgressMode::Tty => {
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
                            "{} {} {}",
                            self.paint("32", "=>"),
                            info.title,
                            self.paint("2", &status)
                        );
                        state.live = None;
                    }
                    ProgressMode::Json => {
                        drop(err);
                        self.json(serde_json::json!({
                            "event": "step_done",
                            "step": info.number,
                            "stage": info.stage,
                            "instruction": info.instruction,
                            "cached": cached,
                            "duration_ms": duration.as_millis() as u64,
                            "miss_reason": miss_reason,
                        }));
                    }
                }
            }
            Event::StepLog { id, line } | Event::StepOutput { id, line } => {
                let number = state.steps.get(&id).map_or(0, |info| info.number);
                let mut err = std::io::stderr().lock();
                match self.mode {
                    ProgressMode::Plain => {
                        let _ = writeln!(err, "#{number} {line}");
                    }
                    ProgressMode::Tty => {
                        if state.live.take().is_some() {
                            let _ = writeln!(err);
                        }
                        let _ = writeln!(err, "   {}", self.paint("2", &line));
                    }
                    ProgressMode::Json => {
                        drop(err);
                        self.json(
                            serde_json::json!({"event": "log", "step": number, "line": line}),
                        );
                    }
                }
            }
            Event::Warning(message) => {
                let mut err = std::io::stderr().lock();
                match self.mode {
                    ProgressMode::Json => {
                        drop(err);
                        self.json(serde_json::json!({"event": "warning", "message": message}));
                    }
                    _ => {
                        if state.live.take().is_some() {
                            let _ = writeln!(err);
                        }
                        let _ = writeln!(err, "{} {message}", self.paint("33", "WARNING:"));
                    }
                }
            }
        }
    }
}
