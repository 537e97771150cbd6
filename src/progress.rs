//! Job progress: the stages of a job, progress within a stage, and the `Reporter` that sends
//! a job's events (progress and warnings) on a channel to whichever front end runs it.

use serde::Serialize;
use tokio::sync::mpsc::UnboundedSender;

use crate::library::record::Warning;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Fetch,
    Probe,
    Validate,
    Prepare,
    Keyframes,
    Signature,
    Save,
    Register,
}

impl Stage {
    pub fn label(self) -> &'static str {
        match self {
            Stage::Fetch => "fetch",
            Stage::Probe => "probe",
            Stage::Validate => "validate",
            Stage::Prepare => "prepare",
            Stage::Keyframes => "keyframes",
            Stage::Signature => "signature",
            Stage::Save => "save",
            Stage::Register => "register",
        }
    }
}

/// Progress within a stage: `fraction` in 0..=1.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    pub stage: Stage,
    pub fraction: f32,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    Progress(Progress),
    Warning(Warning),
}

/// Sends a job's events; silent when there is no receiver. Repeated identical progress is
/// not sent again.
#[derive(Debug, Clone, Default)]
pub struct Reporter {
    tx: Option<UnboundedSender<JobEvent>>,
    last: Option<(Stage, u16)>,
}

impl Reporter {
    pub fn new(tx: UnboundedSender<JobEvent>) -> Self {
        Reporter {
            tx: Some(tx),
            last: None,
        }
    }
    pub fn silent() -> Self {
        Reporter::default()
    }
    pub fn progress(&mut self, stage: Stage, fraction: f64, message: impl Into<String>) {
        let f = fraction.clamp(0.0, 1.0) as f32;
        let key = (stage, (f * 1000.0) as u16);
        if self.last == Some(key) {
            return;
        }
        self.last = Some(key);
        if let Some(tx) = &self.tx {
            let _ = tx.send(JobEvent::Progress(Progress {
                stage,
                fraction: f,
                message: message.into(),
            }));
        }
    }
    /// Send progress even when the fraction did not change (a byte count or rate did); the
    /// caller decides how often.
    pub fn progress_now(&mut self, stage: Stage, fraction: f64, message: impl Into<String>) {
        self.last = None;
        self.progress(stage, fraction, message);
    }
    pub fn warning(&mut self, w: &Warning) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(JobEvent::Warning(w.clone()));
        }
    }
}
