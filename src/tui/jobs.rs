//! Jobs: creating a character from a clip (and registering it with a provider right after the
//! save, when one is set), or registering a saved character. Queued, running at most as many at
//! once as the batch pool allows (`pool::size()`), finished, failed or cancelled. Each has a cancellation
//! token, its stage and progress, elapsed time.

use std::time::{Duration, Instant};

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use tokio_util::sync::CancellationToken;
use unicode_width::UnicodeWidthStr;

use crate::tui::action::Action;
use crate::tui::app::{ReaderKind, StatusKind};
use crate::tui::component::{Pane, Reply, View};
use crate::tui::theme::Theme;
use crate::tui::ui::{fit, row_line};
use crate::util::escape_display;

use crate::library::{Character, Warning};
use crate::pipeline::job::{CreateOptions, Input, Progress, Stage};
use crate::provider::{AnyProvider, Provider};

/// The log label of what a cancelled registration may still do remotely.
pub const REMOTE_LOG: &str = "remote";

/// Rows a page key moves.
const PAGE: usize = 10;
/// Folded jobs kept for the log at most.
const MAX_HISTORY: usize = 200;

#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    Queued,
    Running,
    Done { id: String, existed: bool },
    Failed(String),
    Cancelled,
}

/// What a job does.
#[derive(Debug, Clone)]
pub enum JobKind {
    /// Create a character from a clip, then register it with `register` if set.
    Create {
        input: Input,
        opts: CreateOptions,
        register: Option<AnyProvider>,
    },
    /// Register a saved character with a provider.
    Register {
        character: Box<Character>,
        provider: AnyProvider,
    },
}

#[derive(Debug)]
pub struct Job {
    pub id: u64,
    pub name: String,
    /// The clip or URL (or the provider of a register job), for display.
    pub source: String,
    pub kind: JobKind,
    pub state: JobState,
    /// The provider's ID once the character is registered: (provider, remote ID).
    pub registered: Option<(String, String)>,
    pub progress: Option<Progress>,
    pub started: Option<Instant>,
    pub finished: Option<Duration>,
    pub cancel: CancellationToken,
    pub warnings: Vec<Warning>,
    /// What happened, in order (stages, warnings, the end), for the job's log.
    pub log: Vec<String>,
    /// When the job ended (done jobs fold away a while after).
    pub ended_at: Option<Instant>,
}

impl Job {
    /// Record a progress event: a new stage or message goes to the log.
    pub fn on_progress(&mut self, p: Progress) {
        let changed = self
            .progress
            .as_ref()
            .is_none_or(|old| old.stage != p.stage || old.message != p.message);
        if changed && !p.message.is_empty() {
            self.log
                .push(format!("{:<10} {}", p.stage.label(), p.message));
        }
        self.progress = Some(p);
    }

    pub fn on_warning(&mut self, w: Warning) {
        self.log.push(format!("warning    {}", w.message));
        self.warnings.push(w);
    }

    /// The job ended in `state`; its log says how.
    pub fn end(&mut self, state: JobState) {
        self.finished = self.started.map(|s| s.elapsed());
        self.ended_at = Some(Instant::now());
        let line = match &state {
            JobState::Done { id, existed: true } => format!("exists     {id}"),
            JobState::Done { id, .. } => format!("done       {id}"),
            JobState::Failed(m) => format!("failed     {m}"),
            JobState::Cancelled => "cancelled  nothing saved".to_string(),
            JobState::Queued | JobState::Running => String::new(),
        };
        if !line.is_empty() {
            self.log.push(line);
        }
        self.state = state;
    }

    /// What a cancelled registration may still do remotely (the request was submitted).
    pub fn remote_note(&self) -> Option<&str> {
        self.log
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix(REMOTE_LOG))
            .map(str::trim)
    }

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
        // Registering gets the whole bar in a register job, the last tenth after a create.
        let (create_share, register_from) = match &self.kind {
            JobKind::Register { .. } => (1.0, 0.0),
            JobKind::Create {
                register: Some(_), ..
            } => (0.9, 0.9),
            JobKind::Create { register: None, .. } => (1.0, 1.0),
        };
        let (from, to) = match p.stage {
            Stage::Fetch => (0.0, 0.05),
            Stage::Probe => (0.05, 0.1),
            Stage::Validate => (0.1, 0.12),
            Stage::Prepare => (0.12, 0.85),
            Stage::Keyframes => (0.85, 0.87),
            Stage::Signature => (0.87, 0.95),
            Stage::Save => (0.95, 1.0),
            Stage::Register => (register_from, 1.0),
        };
        if p.stage == Stage::Register {
            return from + (to - from) * p.fraction;
        }
        (from + (to - from) * p.fraction) * create_share
    }

    /// The provider this job registers with, if any.
    pub fn provider(&self) -> Option<&str> {
        match &self.kind {
            JobKind::Create { register, .. } => register.as_ref().map(|p| p.name()),
            JobKind::Register { provider, .. } => Some(provider.name()),
        }
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
    /// Finished jobs folded out of the list, oldest first (their log stays readable).
    pub history: Vec<Job>,
    pub selected: usize,
    next_id: u64,
}

impl Jobs {
    /// Queue a create job (no provider).
    pub fn add(&mut self, name: String, source: String, input: Input, opts: CreateOptions) -> u64 {
        let kind = JobKind::Create {
            input,
            opts,
            register: None,
        };
        self.add_job(name, source, kind)
    }

    /// Queue a job of any kind.
    pub fn add_job(&mut self, name: String, source: String, kind: JobKind) -> u64 {
        self.next_id += 1;
        self.list.push(Job {
            id: self.next_id,
            name,
            source,
            kind,
            state: JobState::Queued,
            registered: None,
            progress: None,
            started: None,
            finished: None,
            cancel: CancellationToken::new(),
            warnings: Vec::new(),
            log: Vec::new(),
            ended_at: None,
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

    /// The next queued job, when fewer than `slots` run.
    pub fn next_to_start(&mut self, slots: usize) -> Option<&mut Job> {
        let running = self
            .list
            .iter()
            .filter(|j| j.state == JobState::Running)
            .count();
        if running >= slots.max(1) {
            return None;
        }
        self.list.iter_mut().find(|j| j.state == JobState::Queued)
    }

    pub fn move_by(&mut self, delta: isize) {
        if self.rows() == 0 {
            return;
        }
        let last = self.rows() as isize - 1;
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
                job.end(JobState::Cancelled);
                true
            }
            JobState::Running => {
                job.cancel.cancel();
                true
            }
            _ => false,
        }
    }

    /// Drop done and cancelled jobs that ended more than `after` ago (failed ones stay until
    /// dismissed); returns whether any went.
    pub fn fold_done(&mut self, now: Instant, after: Duration) -> bool {
        let before = self.list.len();
        let selected = self.list.get(self.selected).map(|j| j.id);
        let (gone, kept): (Vec<Job>, Vec<Job>) =
            std::mem::take(&mut self.list).into_iter().partition(|j| {
                matches!(j.state, JobState::Done { .. } | JobState::Cancelled)
                    && j.ended_at
                        .is_some_and(|t| now.saturating_duration_since(t) >= after)
            });
        self.list = kept;
        self.history.extend(gone);
        let excess = self.history.len().saturating_sub(MAX_HISTORY);
        self.history.drain(..excess);
        if let Some(id) = selected {
            self.selected = self
                .list
                .iter()
                .position(|j| j.id == id)
                .unwrap_or(self.list.len());
        }
        self.selected = self.selected.min(self.rows().saturating_sub(1));
        self.list.len() != before
    }

    /// Dismiss a finished job (a failed one stays until this).
    pub fn dismiss(&mut self, index: usize) -> bool {
        if self.list.get(index).is_some_and(|j| !j.is_active()) {
            self.list.remove(index);
            self.selected = self.selected.min(self.rows().saturating_sub(1));
            return true;
        }
        false
    }

    /// Whether a job will fold away later (the loop needs a tick for it).
    pub fn folding(&self) -> bool {
        self.list
            .iter()
            .any(|j| matches!(j.state, JobState::Done { .. } | JobState::Cancelled))
    }

    /// Rows the jobs strip has: the jobs, and one for the folded ones.
    pub fn rows(&self) -> usize {
        self.list.len() + usize::from(!self.history.is_empty())
    }

    /// Whether the selection is the row of the folded jobs.
    pub fn history_selected(&self) -> bool {
        !self.history.is_empty() && self.selected == self.list.len()
    }

    pub fn cancel_all(&mut self) {
        for i in 0..self.list.len() {
            self.cancel(i);
        }
    }
}

impl Jobs {
    /// The first row shown when the strip is `height` rows tall (the selection in view, the
    /// newest rows shown when they fit).
    pub fn first_row(&self, height: usize) -> usize {
        let n = self.rows();
        let sel = self.selected.min(n.saturating_sub(1));
        if sel + 1 > height {
            sel + 1 - height
        } else {
            n.saturating_sub(height).min(sel)
        }
    }

    /// Whether the selected job registers (or is at its register step).
    fn registering(&self) -> bool {
        self.list.get(self.selected).is_some_and(|j| {
            matches!(j.kind, JobKind::Register { .. })
                || j.progress
                    .as_ref()
                    .is_some_and(|p| p.stage == Stage::Register)
        })
    }
}

impl Pane for Jobs {
    fn takes(&self, action: Action) -> bool {
        matches!(
            action,
            Action::Up
                | Action::Down
                | Action::PageUp
                | Action::PageDown
                | Action::Top
                | Action::Bottom
                | Action::Open
                | Action::CancelJob
        )
    }

    fn on_action(&mut self, action: Action) -> Reply {
        let mut reply = Reply::default();
        match action {
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-(PAGE as isize)),
            Action::PageDown => self.move_by(PAGE as isize),
            Action::Top => self.move_by(isize::MIN / 2),
            Action::Bottom => self.move_by(isize::MAX / 2),
            // Enter: the job's full log (or the folded jobs' logs).
            Action::Open => {
                reply.open = if self.history_selected() {
                    Some(ReaderKind::History)
                } else {
                    self.list.get(self.selected).map(|j| ReaderKind::Job(j.id))
                };
            }
            // x: dismiss a finished job, or cancel a queued or running one.
            Action::CancelJob => {
                let registering = self.registering();
                if self.dismiss(self.selected) {
                    reply.leave = self.rows() == 0;
                } else if self.cancel(self.selected) {
                    let text = if registering {
                        "cancelling the registration: nothing will be recorded"
                    } else {
                        "cancelling the job: nothing will be saved"
                    };
                    reply.status = Some((StatusKind::Info, text.to_string()));
                    reply.start_jobs = true;
                }
            }
            _ => {}
        }
        reply
    }

    fn draw(&self, frame: &mut Frame, area: Rect, view: &View) {
        if area.height == 0 {
            return;
        }
        let theme = view.theme;
        let n = self.rows();
        let h = area.height as usize;
        let sel = self.selected.min(n.saturating_sub(1));
        let first = self.first_row(h);
        let focused = view.focused;
        let history = self.history.len();
        let lines: Vec<Line> = (first..n)
            .take(h)
            .map(|i| match self.list.get(i) {
                Some(j) => row_line(
                    theme,
                    i == sel && focused,
                    focused,
                    job_spans(j, theme, view.now, area.width as usize),
                ),
                None => row_line(
                    theme,
                    i == sel && focused,
                    focused,
                    vec![Span::styled(
                        format!("{history} finished job(s) folded away: their log is here"),
                        theme.dim(),
                    )],
                ),
            })
            .collect();
        frame.render_widget(Paragraph::new(lines), area);
    }
}

fn job_spans<'a>(j: &Job, theme: &Theme, now: Instant, width: usize) -> Vec<Span<'a>> {
    let name = fit(&escape_display(&j.name), 16);
    let secs = j.elapsed(now).as_secs();
    let elapsed = if secs >= 60 {
        format!("{}:{:02}", secs / 60, secs % 60)
    } else {
        format!("{secs} s")
    };
    let bar_w = 14;
    let filled = ((j.fraction() * bar_w as f32).round() as usize).min(bar_w);
    let done_id = |id: &str| match &j.registered {
        Some((provider, remote)) => format!(
            "{id}  {}: {}",
            escape_display(provider),
            escape_display(remote)
        ),
        None => id.to_string(),
    };
    let tail = match &j.state {
        JobState::Done { id, .. } => match j.warnings.first() {
            // Conversions and quality hints, so they are not missed.
            Some(w) => Span::styled(
                format!("{}  ! {}", done_id(id), escape_display(&w.message)),
                theme.fg(theme.warning_fg),
            ),
            None => Span::styled(done_id(id), theme.fg(theme.ok_fg)),
        },
        JobState::Failed(m) => Span::styled(m.clone(), theme.fg(theme.error_fg)),
        JobState::Cancelled if matches!(j.kind, JobKind::Register { .. }) => {
            match j.remote_note() {
                Some(m) => Span::styled(format!("not registered: {m}"), theme.fg(theme.warning_fg)),
                None => Span::styled("not registered".to_string(), theme.dim()),
            }
        }
        JobState::Cancelled => Span::styled("nothing saved".to_string(), theme.dim()),
        JobState::Queued => Span::styled(escape_display(&j.source), theme.dim()),
        JobState::Running => Span::styled(
            j.progress
                .as_ref()
                .map(|p| escape_display(&p.message))
                .unwrap_or_default(),
            theme.dim(),
        ),
    };
    let state_style = match j.state {
        JobState::Done { .. } => theme.fg(theme.ok_fg),
        JobState::Failed(_) => theme.fg(theme.error_fg),
        _ => theme.base(),
    };
    let head = format!("{name:<16} ");
    let spans = vec![
        Span::raw(head),
        Span::styled(format!("{:<10}", j.stage_label()), state_style),
        Span::styled("▕", theme.dim()),
        Span::styled("█".repeat(filled), theme.fg(theme.progress_fg)),
        Span::styled("▁".repeat(bar_w - filled), theme.dim()),
        Span::styled("▏", theme.dim()),
        Span::raw(format!("{:>4.0}% {elapsed:>5}  ", j.fraction() * 100.0)),
    ];
    let used: usize = spans.iter().map(|s| s.content.width()).sum::<usize>() + 1;
    let mut spans = spans;
    spans.push(Span::styled(
        fit(&tail.content, width.saturating_sub(used)),
        tail.style,
    ));
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::provider::Registry;

    fn job_at(kind: JobKind, stage: Stage, fraction: f32) -> Job {
        let mut jobs = Jobs::default();
        let id = jobs.add_job("Hero".into(), "hero.mp4".into(), kind);
        let mut job = jobs.list.remove(0);
        assert_eq!(job.id, id);
        job.state = JobState::Running;
        job.progress = Some(Progress {
            stage,
            fraction,
            message: String::new(),
        });
        job
    }

    #[test]
    fn the_pane_takes_its_keys_and_asks_the_app_for_the_rest() {
        let mut jobs = Jobs::default();
        let create = || JobKind::Create {
            input: Input::File("/clips/hero.mp4".into()),
            opts: CreateOptions::default(),
            register: None,
        };
        let failed = jobs.add_job("A".into(), "a.mp4".into(), create());
        jobs.list[0].end(JobState::Failed("broken".into()));
        let queued = jobs.add_job("B".into(), "b.mp4".into(), create());
        assert!(jobs.takes(Action::CancelJob) && jobs.takes(Action::Open));
        assert!(!jobs.takes(Action::Remove) && !jobs.takes(Action::Create));
        // x on a queued job cancels it and frees its slot.
        let r = jobs.on_action(Action::CancelJob);
        assert_eq!(jobs.list[1].state, JobState::Cancelled);
        assert!(r.start_jobs && r.status.is_some() && !r.leave);
        // Enter asks for the job's log.
        jobs.on_action(Action::Top);
        let r = jobs.on_action(Action::Open);
        assert!(matches!(r.open, Some(ReaderKind::Job(id)) if id == failed));
        // x dismisses finished jobs; the last one gone, the pane asks to leave.
        assert!(!jobs.on_action(Action::CancelJob).leave);
        let r = jobs.on_action(Action::CancelJob);
        assert!(r.leave && jobs.list.is_empty(), "{queued}");
    }

    #[test]
    fn the_register_stage_fills_the_bar_of_a_register_job_and_the_end_of_a_create() {
        let cfg =
            Config::parse("[providers.mine]\nkind = \"command\"\ncommand = [\"up\"]\n").unwrap();
        let provider = Registry::from_config(&cfg)
            .unwrap()
            .get("mine")
            .unwrap()
            .clone();
        let character = Box::new(
            serde_json::from_value::<Character>(serde_json::json!({
                "schema": 1, "id": "char_aaaaaaaaaaaa", "name": "Hero",
                "created_at": "2026-11-01T10:00:00Z",
                "source": {"size_bytes": 1, "blake3": "0"},
                "start_s": 0.0, "path_taken": "copy",
                "clip": {"path": "clip.mp4", "width": 1280, "height": 720, "duration_s": 4.0,
                         "fps": 25.0, "size_bytes": 1, "has_audio": false},
                "keyframes": [], "signature": {}
            }))
            .unwrap(),
        );
        let register = JobKind::Register {
            character,
            provider: provider.clone(),
        };
        let j = job_at(register, Stage::Register, 0.5);
        assert_eq!(j.fraction(), 0.5);
        assert_eq!(j.stage_label(), "register");
        assert_eq!(j.provider(), Some("mine"));

        let create = |register| JobKind::Create {
            input: Input::File("/clips/hero.mp4".into()),
            opts: CreateOptions::default(),
            register,
        };
        let plain = job_at(create(None), Stage::Save, 1.0);
        assert_eq!(plain.fraction(), 1.0);
        assert_eq!(plain.provider(), None);
        let then_register = job_at(create(Some(provider.clone())), Stage::Save, 1.0);
        assert!((then_register.fraction() - 0.9).abs() < 1e-6);
        let uploading = job_at(create(Some(provider)), Stage::Register, 0.5);
        assert!((uploading.fraction() - 0.95).abs() < 1e-6);
    }
}
