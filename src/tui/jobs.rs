//! Create jobs: queued, running one at a time (ffmpeg already uses every core), finished,
//! failed or cancelled. Each has a cancellation token, its stage and progress, elapsed time.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::library::Warning;
use crate::pipeline::job::{CreateOptions, Input, Progress, Stage};

#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    Queued,
    Running,
    Done { id: String, existed: bool },
    Failed(String),
    Cancelled,
}

#[derive(Debug)]
pub struct Job {
    pub id: u64,
    pub name: String,
    /// The clip or URL, for display.
    pub source: String,
    pub input: Input,
    pub opts: CreateOptions,
    pub state: JobState,
    pub progress: Option<Progress>,
    pub started: Option<Instant>,
    pub finished: Option<Duration>,
    pub cancel: CancellationToken,
    pub warnings: Vec<Warning>,
}

impl Job {
    pub fn is_active(&self) -> bool {
        matches!(self.state, JobState::Queued | JobState::Running)
    }

    /// Overall progress 0..=1, the stages weighted by their usual share of the time.
    pub fn fraction(&self) -> f32 {
        match &self.state {
            JobState::Done { .. } => return 1.0,
            JobState::Queued => return 0.0,
            _ => {}
        }
        let Some(p) = &self.progress else { return 0.0 };
        let (from, to) = match p.stage {
            Stage::Fetch => (0.0, 0.05),
            Stage::Probe => (0.05, 0.1),
            Stage::Validate => (0.1, 0.12),
            Stage::Prepare => (0.12, 0.85),
            Stage::Keyframes => (0.85, 0.87),
            Stage::Signature => (0.87, 0.95),
            Stage::Save => (0.95, 1.0),
            Stage::Register => (1.0, 1.0),
        };
        from + (to - from) * p.fraction
    }

    pub fn elapsed(&self, now: Instant) -> Duration {
        match (self.finished, self.started) {
            (Some(d), _) => d,
            (None, Some(s)) => now.saturating_duration_since(s),
            (None, None) => Duration::ZERO,
        }
    }

    pub fn stage_label(&self) -> &str {
        match &self.state {
            JobState::Queued => "queued",
            JobState::Running if self.cancel.is_cancelled() => "cancelling",
            JobState::Running => self
                .progress
                .as_ref()
                .map_or("starting", |p| p.stage.label()),
            JobState::Done { existed: true, .. } => "exists",
            JobState::Done { .. } => "done",
            JobState::Failed(_) => "failed",
            JobState::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Default)]
pub struct Jobs {
    pub list: Vec<Job>,
    pub selected: usize,
    next_id: u64,
}

impl Jobs {
    pub fn add(&mut self, name: String, source: String, input: Input, opts: CreateOptions) -> u64 {
        self.next_id += 1;
        self.list.push(Job {
            id: self.next_id,
            name,
            source,
            input,
            opts,
            state: JobState::Queued,
            progress: None,
            started: None,
            finished: None,
            cancel: CancellationToken::new(),
            warnings: Vec::new(),
        });
        self.selected = self.list.len() - 1;
        self.next_id
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut Job> {
        self.list.iter_mut().find(|j| j.id == id)
    }

    pub fn running(&self) -> bool {
        self.list.iter().any(|j| j.state == JobState::Running)
    }

    pub fn active(&self) -> usize {
        self.list.iter().filter(|j| j.is_active()).count()
    }

    /// The next queued job, when none runs.
    pub fn next_to_start(&mut self) -> Option<&mut Job> {
        if self.running() {
            return None;
        }
        self.list.iter_mut().find(|j| j.state == JobState::Queued)
    }

    pub fn move_by(&mut self, delta: isize) {
        if self.list.is_empty() {
            return;
        }
        let last = self.list.len() as isize - 1;
        self.selected = (self.selected as isize + delta).clamp(0, last) as usize;
    }

    /// Cancel a job: a queued one is dropped from the queue at once, a running one is told to
    /// stop (its task reports back). Returns whether anything was cancelled.
    pub fn cancel(&mut self, index: usize) -> bool {
        let Some(job) = self.list.get_mut(index) else {
            return false;
        };
        match job.state {
            JobState::Queued => {
                job.cancel.cancel();
                job.state = JobState::Cancelled;
                true
            }
            JobState::Running => {
                job.cancel.cancel();
                true
            }
            _ => false,
        }
    }

    pub fn cancel_all(&mut self) {
        for i in 0..self.list.len() {
            self.cancel(i);
        }
    }
}
