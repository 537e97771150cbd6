//! Drawing: reads the app state and renders one frame. The only mutation is scroll offsets
//! and preview images fitted to their area.

use std::time::{Instant, SystemTime};

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Position, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};
use ratatui_image::{FilterType, Resize, StatefulImage};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::library::record::usage_lines;
use crate::tui::app::{App, ConfirmKind, Focus, ReaderKind, StatusKind};
use crate::tui::clip::{ProbeState, WINDOW_S};
use crate::tui::component::{Pane, View};
use crate::tui::files::{EntryKind, age};
use crate::tui::jobs::{Job, JobState};
use crate::tui::keys::Scope;
use crate::tui::media::{self, MediaLayout};
use crate::tui::theme::Theme;
use crate::util::{escape_display, human_size};

/// Below this size the panes are shown one at a time, with a tab bar.
pub const FULL_WIDTH: u16 = 80;
pub const FULL_HEIGHT: u16 = 24;
/// Below this size only "too small" is shown.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 18;
const MAX_JOB_LINES: usize = 3;

pub fn draw(frame: &mut Frame, app: &mut App) {
    let area = frame.area();
    let theme = app.theme.clone();
    frame.render_widget(Block::default().style(theme.base()), area);
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = vec![
            Line::from(Span::styled(
                "castbook: the terminal is too small",
                theme.title(),
            )),
            Line::from(format!(
                "{}x{} now; it needs at least {MIN_WIDTH}x{MIN_HEIGHT}: enlarge the window",
                area.width, area.height
            )),
        ];
        let y = area.height.saturating_sub(2) / 2;
        let rect = Rect::new(area.x, area.y + y, area.width, 2.min(area.height));
        frame.render_widget(
            Paragraph::new(text)
                .alignment(Alignment::Center)
                .wrap(Wrap { trim: true }),
            rect,
        );
        return;
    }
    let job_lines = app.jobs.rows().min(MAX_JOB_LINES) as u16;
    // The status wraps (up to three rows), so an ID or a message is never cut.
    let status_para = app.status.as_ref().map(|s| {
        let style = match s.kind {
            StatusKind::Info => theme.base(),
            StatusKind::Ok => theme.fg(theme.ok_fg),
            StatusKind::Error => theme.fg(theme.error_fg),
        };
        Paragraph::new(Line::from(Span::styled(format!(" {}", s.text), style)))
            .wrap(Wrap { trim: false })
    });
    let status_lines = status_para
        .as_ref()
        .map_or(0, |p| p.line_count(area.width).clamp(1, 3) as u16);
    let [main, jobs, status, hints] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(job_lines),
        Constraint::Length(status_lines),
        Constraint::Length(1),
    ])
    .areas(area);
    let compact = area.width < FULL_WIDTH || area.height < FULL_HEIGHT;
    if compact {
        // One pane at a time under a tab bar; the jobs strip stays at the bottom.
        let [tabs, body] =
            Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(main);
        draw_tabs(frame, app, &theme, tabs);
        app.areas = crate::tui::app::PaneAreas {
            jobs,
            jobs_first: app.areas.jobs_first,
            ..Default::default()
        };
        match app.focus {
            Focus::Files => {
                app.areas.files = body;
                draw_files(frame, app, &theme, body);
            }
            Focus::Clip => {
                app.areas.clip = body;
                draw_clip(frame, app, &theme, body);
            }
            Focus::Library | Focus::Jobs => {
                app.areas.library = body;
                draw_library(frame, app, &theme, body);
            }
        }
    } else {
        let [top, bottom] =
            Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(main);
        let [files, clip] =
            Layout::horizontal([Constraint::Percentage(38), Constraint::Percentage(62)]).areas(top);
        let [list, details] =
            Layout::horizontal([Constraint::Percentage(38), Constraint::Percentage(62)])
                .areas(bottom);
        app.areas = crate::tui::app::PaneAreas {
            files,
            clip,
            library: list,
            details,
            jobs,
            jobs_first: app.areas.jobs_first,
            ..Default::default()
        };
        draw_files(frame, app, &theme, files);
        draw_clip(frame, app, &theme, clip);
        draw_library(frame, app, &theme, list);
        draw_details(frame, app, &theme, details);
    }
    draw_jobs(frame, app, &theme, jobs);
    if let Some(p) = status_para {
        frame.render_widget(p, status);
    }
    draw_hints(frame, app, &theme, hints);
    if app.prompt.is_some() {
        draw_prompt(frame, app, &theme, area);
    }
    if app.batch.is_some() {
        draw_batch(frame, app, &theme, area);
    }
    if let Some(c) = &app.confirm {
        let key = c.key().label();
        let (title, lines) = match &c.kind {
            ConfirmKind::Remove => (
                "Remove",
                vec![
                    Line::from(format!("Remove {}?", escape_display(&c.name))),
                    Line::from(vec![
                        Span::styled("ID ", theme.dim()),
                        Span::styled(c.id.clone(), theme.fg(theme.accent_fg)),
                    ]),
                    Line::from(Span::styled(
                        format!(
                            "It moves to the library's trash folder; {} brings it back.",
                            app.keys.keys_label(crate::tui::action::Action::Undo)
                        ),
                        theme.dim(),
                    )),
                    Line::from(vec![
                        Span::styled(key, theme.key()),
                        Span::raw(" remove   "),
                        Span::styled("any other key", theme.key()),
                        Span::raw(" keep it"),
                    ]),
                ],
            ),
            ConfirmKind::Overwrite(path) => (
                "Replace?",
                vec![
                    Line::from(format!("{} exists already.", app.display_path(path))),
                    Line::from(vec![
                        Span::styled(key, theme.key()),
                        Span::raw(" replace it   "),
                        Span::styled("any other key", theme.key()),
                        Span::raw(" keep it"),
                    ]),
                ],
            ),
        };
        popup(frame, &theme, area, title, lines, 60);
    }
    if app.reader.is_some() {
        draw_reader(frame, app, &theme, area);
    }
    if app.viewer.is_some() {
        draw_viewer(frame, app, &theme, area);
    }
    if app.help {
        // The whole screen, status lines too: the full key map fits at 80x24.
        let full = frame.area();
        draw_help(frame, app, &theme, full);
    }
}

/// The tab bar of the compact layout: every pane, the focused one marked.
fn draw_tabs(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let mut panes = vec![
        (Focus::Files, "Files"),
        (Focus::Clip, "Clip"),
        (Focus::Library, "Library"),
    ];
    if app.jobs.rows() > 0 {
        panes.push((Focus::Jobs, "Jobs"));
    }
    let mut spans = Vec::new();
    for (f, name) in panes {
        let style = if f == app.focus {
            theme.selection()
        } else {
            theme.dim()
        };
        spans.push(Span::styled(format!(" {name} "), style));
        spans.push(Span::styled("│", theme.dim()));
    }
    spans.pop();
    let tab = app.keys.keys_label(crate::tui::action::Action::NextPane);
    spans.push(Span::styled(format!("  {tab} switches"), theme.dim()));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The reader overlay: a job's log, the folded jobs' logs, or a character's details, wrapped
/// and scrolled.
fn draw_reader(frame: &mut Frame, app: &mut App, theme: &Theme, area: Rect) {
    let Some(kind) = app.reader.as_ref().map(|r| r.kind.clone()) else {
        return;
    };
    let (title, lines) = match &kind {
        ReaderKind::Job(id) => match app.jobs.list.iter().find(|j| j.id == *id) {
            Some(j) => (
                format!("Job: {}", escape_display(&j.name)),
                job_log_lines(j, theme),
            ),
            None => ("Job".to_string(), vec![Line::from("this job is gone")]),
        },
        ReaderKind::History => {
            let mut lines = Vec::new();
            for j in app.jobs.history.iter().rev() {
                lines.push(Line::from(Span::styled(
                    escape_display(&j.name),
                    theme.title(),
                )));
                lines.extend(job_log_lines(j, theme));
                lines.push(Line::from(""));
            }
            ("Finished jobs".to_string(), lines)
        }
        ReaderKind::Text(title, text) => (
            title.clone(),
            text.iter().map(|l| Line::from(l.clone())).collect(),
        ),
        ReaderKind::Character(id) => match app.library.characters.iter().find(|c| c.id == *id) {
            Some(c) => (escape_display(&c.name), details_lines(c, theme)),
            None => (
                "Character".to_string(),
                vec![Line::from(format!("{id} is no longer in the library"))],
            ),
        },
    };
    let w = area.width.saturating_sub(4).min(110);
    let h = area.height.saturating_sub(2);
    let rect = centered(area, w, h);
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(theme.border(true))
        .title(Line::from(Span::styled(
            format!(" {} ", fit(&title, w.saturating_sub(4) as usize)),
            theme.title(),
        )))
        .title_bottom(Line::from(Span::styled(
            " ↑↓ PgUp PgDn g G scroll · Esc close ",
            theme.dim(),
        )))
        .style(theme.base());
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let para = Paragraph::new(lines).wrap(Wrap { trim: false });
    let total = para.line_count(inner.width);
    let max = total.saturating_sub(inner.height as usize);
    let scroll = match &mut app.reader {
        Some(r) => {
            r.scroll = r.scroll.min(max);
            r.scroll
        }
        None => 0,
    };
    frame.render_widget(
        para.scroll((scroll.min(u16::MAX as usize) as u16, 0)),
        inner,
    );
}

/// The full-size preview: one frame over the whole screen, its aspect kept, centred.
fn draw_viewer(frame: &mut Frame, app: &mut App, theme: &Theme, area: Rect) {
    let font = app.picker.as_ref().map_or((10, 20), |p| p.font_size());
    let Some(v) = app.viewer.as_mut() else { return };
    frame.render_widget(Clear, area);
    let mut title = escape_display(&v.title);
    if v.frames.len() > 1 {
        title.push_str(&format!("  frame {}/{}", v.index + 1, v.frames.len()));
    }
    if let Some(t) = v.times.get(v.index) {
        title.push_str(&format!(" at {t:.2} s"));
    }
    let hint = if v.frames.len() > 1 {
        " ←/→ frames · Esc close "
    } else {
        " Esc close "
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(theme.border(true))
        .title(Line::from(Span::styled(
            format!(" {} ", fit(&title, area.width.saturating_sub(4) as usize)),
            theme.title(),
        )))
        .title_bottom(Line::from(Span::styled(hint, theme.dim())))
        .style(theme.base());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let image = &v.frames[v.index.min(v.frames.len() - 1)];
    let aspect = media::cell_aspect((image.width(), image.height()), font);
    // The largest rectangle of the image's aspect, centred.
    let w = (inner.width as f64)
        .min(inner.height as f64 * aspect)
        .floor() as u16;
    let h = ((w as f64 / aspect).round() as u16).clamp(1, inner.height.max(1));
    let rect = Rect::new(
        inner.x + (inner.width - w.min(inner.width)) / 2,
        inner.y + (inner.height - h.min(inner.height)) / 2,
        w.min(inner.width),
        h.min(inner.height),
    );
    app.areas.viewer = rect;
    frame.render_stateful_widget(
        StatefulImage::default().resize(scaled()),
        rect,
        &mut v.protocol,
    );
}

/// A job's log: what it is, every event, how it ended.
fn job_log_lines(j: &Job, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from(vec![
        Span::styled("source     ", theme.dim()),
        Span::raw(escape_display(&j.source)),
    ])];
    if let JobState::Done { id, .. } = &j.state {
        lines.push(Line::from(vec![
            Span::styled("ID         ", theme.dim()),
            Span::styled(id.clone(), theme.fg(theme.accent_fg)),
        ]));
    }
    for l in &j.log {
        let style = if l.starts_with("warning") {
            theme.fg(theme.warning_fg)
        } else if l.starts_with("failed") {
            theme.fg(theme.error_fg)
        } else {
            theme.base()
        };
        lines.push(Line::from(Span::styled(escape_display(l), style)));
    }
    if j.is_active() {
        lines.push(Line::from(Span::styled(
            format!("{}…", j.stage_label()),
            theme.dim(),
        )));
    }
    lines
}

fn pane_block<'a>(theme: &Theme, title: Vec<Span<'a>>, focused: bool) -> Block<'a> {
    let mut spans = vec![Span::raw(" ")];
    spans.extend(title);
    spans.push(Span::raw(" "));
    Block::default()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(theme.border(focused))
        .title(Line::from(spans))
}

/// `s` cut to `width` columns, with `…` when cut.
pub fn fit(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw + 1 > width {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

/// `s` cut from the left to `width` columns (for paths: the end matters).
fn fit_left(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    let mut chars: Vec<char> = Vec::new();
    let mut w = 0;
    for c in s.chars().rev() {
        let cw = c.width().unwrap_or(0);
        if w + cw + 1 > width {
            break;
        }
        chars.push(c);
        w += cw;
    }
    chars.push('…');
    chars.into_iter().rev().collect()
}

fn keep_visible(selected: usize, offset: &mut usize, height: usize) {
    if height == 0 {
        return;
    }
    if selected < *offset {
        *offset = selected;
    } else if selected >= *offset + height {
        *offset = selected + 1 - height;
    }
}

fn draw_files(frame: &mut Frame, app: &mut App, theme: &Theme, area: Rect) {
    let focused = app.focus == Focus::Files;
    let dir = app.display_path(&app.files.dir);
    let mut all = if app.files.show_all { " (all)" } else { "" }.to_string();
    let marked = app.files.marked_videos().len();
    if marked > 0 {
        all.push_str(&format!(" {marked} marked"));
    }
    let title_room = (area.width as usize).saturating_sub(12 + all.len());
    let block = pane_block(
        theme,
        vec![
            Span::styled("Files", theme.title()),
            Span::styled(all, theme.dim()),
            Span::raw("  "),
            Span::raw(fit_left(&dir, title_room)),
        ],
        focused,
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if let Some(err) = &app.files.error {
        frame.render_widget(
            Paragraph::new(Span::styled(err.clone(), theme.fg(theme.error_fg)))
                .wrap(Wrap { trim: true }),
            inner,
        );
        return;
    }
    let height = inner.height as usize;
    keep_visible(app.files.selected, &mut app.files.offset, height);
    let now = SystemTime::now();
    let width = inner.width as usize;
    let lines: Vec<Line> = app
        .files
        .entries
        .iter()
        .enumerate()
        .skip(app.files.offset)
        .take(height)
        .map(|(i, e)| {
            let selected = i == app.files.selected;
            let mut name = escape_display(&e.name);
            if app.files.marked.contains(&e.path) {
                name.insert_str(0, "+ ");
            }
            if matches!(e.kind, EntryKind::Dir) {
                name.push('/');
            }
            let right = match e.kind {
                EntryKind::Parent | EntryKind::Dir => String::new(),
                _ => format!("{:>7} {:>4}", human_size(e.size), age(e.modified, now)),
            };
            let name_room = width.saturating_sub(1 + right.width() + 1);
            let name = fit(&name, name_room);
            let pad = width.saturating_sub(1 + name.width() + right.width());
            let style = match e.kind {
                EntryKind::Parent | EntryKind::Dir => theme.fg(theme.dir_fg),
                EntryKind::Video => theme.fg(theme.video_fg).add_modifier(Modifier::BOLD),
                EntryKind::Other => theme.dim(),
            };
            row_line(
                theme,
                selected,
                focused,
                vec![
                    Span::styled(name, style),
                    Span::raw(" ".repeat(pad)),
                    Span::styled(right, theme.dim()),
                ],
            )
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// A list row with its selection marker; the selection colour when the pane is focused.
pub(crate) fn row_line<'a>(
    theme: &Theme,
    selected: bool,
    focused: bool,
    spans: Vec<Span<'a>>,
) -> Line<'a> {
    let mut all = vec![Span::raw(if selected { "▶" } else { " " })];
    all.extend(spans);
    let line = Line::from(all);
    if selected && focused {
        line.style(theme.selection())
    } else if selected {
        line.style(Style::default().add_modifier(Modifier::BOLD))
    } else {
        line
    }
}

fn draw_clip(frame: &mut Frame, app: &mut App, theme: &Theme, area: Rect) {
    let focused = app.focus == Focus::Clip;
    let mut title = vec![Span::styled("Clip", theme.title())];
    if app.clip.input.is_some() {
        let room = (area.width as usize).saturating_sub(22);
        title.push(Span::raw("  "));
        title.push(Span::raw(fit(&escape_display(&app.clip.label), room)));
        match &app.clip.probe {
            Some(ProbeState::Done(r)) if r.valid => {
                title.push(Span::styled("  ✓ valid", theme.fg(theme.ok_fg)))
            }
            Some(ProbeState::Done(_)) | Some(ProbeState::Failed(_)) => {
                title.push(Span::styled("  ✗ rejected", theme.fg(theme.error_fg)))
            }
            _ => title.push(Span::styled("  checking…", theme.dim())),
        }
    }
    let block = pane_block(theme, title, focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines: Vec<Line> = Vec::new();
    let key = |a| app.keys.keys_label(a);
    match &app.clip.probe {
        None => {
            lines.push(Line::from(Span::styled("No clip selected.", theme.dim())));
            lines.push(Line::from(vec![
                Span::raw("Pick one in Files ("),
                Span::styled(key(crate::tui::action::Action::Open), theme.key()),
                Span::raw("), or "),
                Span::styled(key(crate::tui::action::Action::TypePath), theme.key()),
                Span::raw(" to type a path or URL."),
            ]));
        }
        Some(ProbeState::Running) => {
            lines.push(Line::from(Span::styled("checking the clip…", theme.dim())))
        }
        Some(ProbeState::Failed(e)) => {
            lines.push(Line::from(Span::styled(
                escape_display(&e.message),
                theme.fg(theme.error_fg),
            )));
        }
        Some(ProbeState::Done(r)) => {
            let m = &r.metadata;
            let mut meta = Vec::new();
            if let Some(v) = &m.video {
                meta.push(format!("{}x{}", v.width, v.height));
                let fps = format!("{:.3}", v.avg_fps);
                meta.push(format!(
                    "{} fps",
                    fps.trim_end_matches('0').trim_end_matches('.')
                ));
            }
            meta.push(format!("{:.1} s", m.duration_s));
            if let Some(v) = &m.video {
                meta.push(escape_display(&v.codec));
            }
            if let Some(a) = &m.audio {
                meta.push(escape_display(&a.codec));
            }
            meta.push(human_size(m.size_bytes));
            meta.push(m.container.label().to_string());
            lines.push(Line::from(meta.join("  ")));
            // Passed rules in one wrapped row of marks; a failed one with its message.
            let mut passed: Vec<Span> = Vec::new();
            for c in r.checks.iter().filter(|c| c.ok) {
                if !passed.is_empty() {
                    // A wrap breaks at the plain space: no row starts with a blank.
                    passed.push(Span::raw("\u{a0} "));
                }
                passed.push(Span::styled(
                    format!("✓\u{a0}{}", c.rule.as_str()),
                    theme.fg(theme.ok_fg),
                ));
            }
            if !passed.is_empty() {
                lines.push(Line::from(passed));
            }
            for c in r.checks.iter().filter(|c| !c.ok) {
                lines.push(Line::from(vec![
                    Span::styled(
                        format!("✗ {:<10} ", c.rule.as_str()),
                        theme.fg(theme.error_fg),
                    ),
                    Span::raw(escape_display(&c.message)),
                ]));
            }
            for w in &r.warnings {
                lines.push(Line::from(Span::styled(
                    format!("! {}", escape_display(&w.message)),
                    theme.fg(theme.warning_fg),
                )));
            }
            // The quality hints of this window, before anything is created.
            for w in &r.hints {
                lines.push(Line::from(Span::styled(
                    format!("! {}", escape_display(&w.message)),
                    theme.fg(theme.warning_fg),
                )));
            }
        }
    }
    if inner.height == 0 {
        return;
    }
    // The bottom row is the window timeline once the duration is known.
    let (text_area, timeline) = if app.clip.duration_s().is_some() && inner.height > 2 {
        let [t, l] = Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(inner);
        (t, Some(l))
    } else {
        (inner, None)
    };
    // Every message wraps; the preview goes beside the text or below all of it.
    let font = app.picker.as_ref().map(|p| p.font_size());
    let layout = draw_media(
        frame,
        lines,
        text_area,
        font,
        app.clip_preview.as_mut(),
        &mut app.clip_strip,
    );
    app.areas.clip_body = text_area;
    app.areas.clip_text = layout.text;
    app.areas.clip_image = layout.image.unwrap_or_default();
    app.areas.clip_strip = layout.strip.unwrap_or_default();
    if let (Some(area), Some(d)) = (timeline, app.clip.duration_s()) {
        let start = app.clip.start_s;
        let label = format!(
            " {:.1}–{:.1} s of {:.1} s  {}/{}",
            start,
            (start + WINDOW_S).min(d),
            d,
            app.keys
                .keys_label(crate::tui::action::Action::StartEarlier)
                .split('/')
                .next()
                .unwrap_or(""),
            app.keys
                .keys_label(crate::tui::action::Action::StartLater)
                .split('/')
                .next()
                .unwrap_or("")
        );
        let bar_w = (area.width as usize)
            .saturating_sub(label.width() + 9)
            .max(4);
        let mut spans = vec![
            Span::styled("window ", theme.dim()),
            Span::styled("├", theme.dim()),
        ];
        let (a, b) = window_cells(start, d, bar_w);
        // The window over the clip, the cuts marked where they fall.
        let mut cells: Vec<(char, Style)> = (0..bar_w)
            .map(|i| {
                if (a..b).contains(&i) {
                    ('█', theme.fg(theme.accent_fg))
                } else {
                    ('─', theme.dim())
                }
            })
            .collect();
        if let Some(an) = app.clip.analysis() {
            let cell = |t: f64| (((t / d) * bar_w as f64).floor() as usize).min(bar_w - 1);
            for c in an.cuts() {
                // A transition covers the cells of its span.
                let (a, b) = c.extent();
                for c in &mut cells[cell(a)..=cell(b)] {
                    *c = ('┃', theme.fg(theme.warning_fg));
                }
            }
        }
        for (ch, style) in cells {
            match spans.last_mut() {
                Some(last) if last.style == style && last.content.starts_with(ch) => {
                    last.content.to_mut().push(ch)
                }
                _ => spans.push(Span::styled(ch.to_string(), style)),
            }
        }
        spans.push(Span::styled("┤", theme.dim()));
        spans.push(Span::raw(label));
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
    }
}

/// The cells [a, b) of a `width`-cell bar the 4-s window covers (at least one cell).
pub fn window_cells(start: f64, duration: f64, width: usize) -> (usize, usize) {
    if duration <= 0.0 || width == 0 {
        return (0, width);
    }
    let end = (start + WINDOW_S).min(duration);
    let a = ((start / duration) * width as f64).floor() as usize;
    let b = ((end / duration) * width as f64).ceil() as usize;
    let a = a.min(width.saturating_sub(1));
    (a, b.clamp(a + 1, width))
}

/// The resize of every preview: scaled up or down to the room it has, the aspect kept.
fn scaled() -> Resize {
    Resize::Scale(Some(FilterType::Triangle))
}

/// Draw `lines` (wrapped) and a pane's preview and strip in `area`, as `media::place` lays
/// them out; returns the layout.
fn draw_media(
    frame: &mut Frame,
    lines: Vec<Line>,
    area: Rect,
    font: Option<(u16, u16)>,
    main: Option<&mut crate::tui::app::Preview>,
    strip: &mut [crate::tui::app::Preview],
) -> MediaLayout {
    let aspect = match (&main, font) {
        (Some(p), Some(font)) => Some(media::cell_aspect(
            (p.image.width(), p.image.height()),
            font,
        )),
        _ => None,
    };
    let layout = media::place(area, |w| wrapped_rows(&lines, w), aspect, strip.len());
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }),
        layout.text,
    );
    if let (Some(rect), Some(p)) = (layout.image, main) {
        frame.render_stateful_widget(
            StatefulImage::default().resize(scaled()),
            rect,
            &mut p.protocol,
        );
    }
    for (rect, p) in layout.thumbs(strip.len()).into_iter().zip(strip.iter_mut()) {
        frame.render_stateful_widget(
            StatefulImage::default().resize(scaled()),
            rect,
            &mut p.protocol,
        );
    }
    layout
}

fn draw_library(frame: &mut Frame, app: &mut App, theme: &Theme, area: Rect) {
    let focused = app.focus == Focus::Library;
    let lib = &app.library;
    let count = if lib.query_text().is_empty() {
        format!("{}", lib.characters.len())
    } else {
        format!("{}/{}", lib.hits.len(), lib.characters.len())
    };
    let mut title = vec![
        Span::styled("Library", theme.title()),
        Span::raw(format!(" {count}")),
    ];
    let sort = if lib.sort != crate::tui::library::Sort::Match {
        format!(" ↕{}", lib.sort.label())
    } else {
        String::new()
    };
    let sort_w = sort.width() as u16;
    title.push(Span::styled(sort, theme.dim()));
    let query = lib.query.value();
    if lib.typing || !query.is_empty() {
        let room = (area.width as usize).saturating_sub(20);
        title.push(Span::raw("  "));
        title.push(Span::styled(
            format!("/{}", fit_left(&escape_display(query), room)),
            theme.fg(theme.accent_fg),
        ));
        if lib.searching() {
            title.push(Span::styled(" …", theme.dim()));
        }
    }
    let block = pane_block(theme, title, focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if lib.typing && focused {
        // The cursor sits after the query in the title.
        let x = area.x
            + 2
            + "Library ".width() as u16
            + count.width() as u16
            + sort_w
            + 3
            + lib.query.visual_cursor() as u16;
        if x < area.right() {
            frame.set_cursor_position(Position::new(x, area.y));
        }
    }
    let height = inner.height as usize;
    if !app.loaded && lib.characters.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled("reading the library…", theme.dim())),
            inner,
        );
        return;
    }
    if lib.characters.is_empty() {
        let c = app.keys.keys_label(crate::tui::action::Action::Create);
        frame.render_widget(
            Paragraph::new(vec![
                Line::from(Span::styled("No characters yet.", theme.dim())),
                Line::from(vec![
                    Span::raw("Select a clip and press "),
                    Span::styled(c, theme.key()),
                    Span::raw("."),
                ]),
            ])
            .wrap(Wrap { trim: true }),
            inner,
        );
        return;
    }
    if lib.hits.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled(
                format!("nothing matches {}", escape_display(query)),
                theme.dim(),
            )),
            inner,
        );
        return;
    }
    let selected = app.library.selected;
    keep_visible(selected, &mut app.library.offset, height);
    let lib = &app.library;
    let width = inner.width as usize;
    let id_w = 17;
    let show_id = width >= 26;
    let name_room = if show_id {
        width.saturating_sub(1 + id_w + 1)
    } else {
        width.saturating_sub(1)
    };
    let q = lib.hits_query.as_str();
    let lines: Vec<Line> = lib
        .hits
        .iter()
        .enumerate()
        .skip(lib.offset)
        .take(height)
        .map(|(i, h)| {
            let c = &lib.characters[h.index];
            let idx = lib.searcher.name_indices(h.index, q);
            let tags = escape_display(
                &c.tags
                    .iter()
                    .map(|t| format!("#{t}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            );
            // The name first; the tags in the room it leaves.
            let mut spans = highlight(&escape_display(&c.name), &c.name, &idx, name_room, theme);
            let used: usize = spans.iter().map(|s| s.content.width()).sum();
            let left = name_room.saturating_sub(used + 1);
            if !tags.is_empty() && left >= 4 {
                spans.push(Span::raw(" "));
                spans.push(Span::styled(fit(&tags, left), theme.fg(theme.accent_fg)));
            }
            let used: usize = spans.iter().map(|s| s.content.width()).sum();
            if show_id {
                spans.push(Span::raw(" ".repeat(width.saturating_sub(1 + used + id_w))));
                spans.push(Span::styled(c.id.clone(), theme.dim()));
            }
            row_line(theme, i == selected, focused, spans)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The name as spans, the matched characters highlighted, cut to `room` columns. `indices`
/// are char indices into `raw`; an escaped name (control characters) is shown plain.
fn highlight<'a>(
    shown: &str,
    raw: &str,
    indices: &[usize],
    room: usize,
    theme: &Theme,
) -> Vec<Span<'a>> {
    let escaped = shown != raw;
    let shown = fit(shown, room);
    if indices.is_empty() || escaped {
        return vec![Span::raw(shown)];
    }
    let mut spans: Vec<Span> = Vec::new();
    let mut run = String::new();
    let mut run_hit = false;
    for (i, c) in shown.chars().enumerate() {
        let hit = indices.contains(&i) && raw.chars().nth(i) == Some(c);
        if hit != run_hit && !run.is_empty() {
            spans.push(if run_hit {
                Span::styled(std::mem::take(&mut run), theme.matched())
            } else {
                Span::raw(std::mem::take(&mut run))
            });
        }
        run_hit = hit;
        run.push(c);
    }
    if !run.is_empty() {
        spans.push(if run_hit {
            Span::styled(run, theme.matched())
        } else {
            Span::raw(run)
        });
    }
    spans
}

fn draw_details(frame: &mut Frame, app: &mut App, theme: &Theme, area: Rect) {
    let c = app.library.selected_character().cloned();
    let title = match &c {
        Some(c) => vec![Span::styled(
            fit(
                &escape_display(&c.name),
                (area.width as usize).saturating_sub(4),
            ),
            theme.title(),
        )],
        None => vec![Span::styled("Character", theme.title())],
    };
    let block = pane_block(theme, title, false);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(c) = c else { return };
    let lines = details_lines(&c, theme);
    let font = app.picker.as_ref().map(|p| p.font_size());
    let aspect = match (&app.char_preview, font) {
        (Some(p), Some(font)) => Some(media::cell_aspect(
            (p.image.width(), p.image.height()),
            font,
        )),
        _ => None,
    };
    let layout = media::place(inner, |w| wrapped_rows(&lines, w), aspect, 0);
    let text_area = layout.text;
    let more = wrapped_rows(&lines, text_area.width) > text_area.height;
    if more && text_area.height > 0 {
        // What does not fit is one key away.
        let key = app.keys.keys_label(crate::tui::action::Action::Open);
        let key = key.split('/').next().unwrap_or("");
        let para = Paragraph::new(lines).wrap(Wrap { trim: false });
        let [body, last] =
            Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(text_area);
        frame.render_widget(para, body);
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled("… ", theme.dim()),
                Span::styled(key.to_string(), theme.key()),
                Span::styled(" shows it all (Library pane)", theme.dim()),
            ])),
            last,
        );
    } else {
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), text_area);
    }
    if let (Some(img_area), Some(p)) = (layout.image, app.char_preview.as_mut()) {
        frame.render_stateful_widget(
            StatefulImage::default().resize(scaled()),
            img_area,
            &mut p.protocol,
        );
    }
}

/// Rows `lines` take wrapped at `width` columns.
fn wrapped_rows(lines: &[Line], width: u16) -> u16 {
    if width == 0 {
        return 0;
    }
    Paragraph::new(lines.to_vec())
        .wrap(Wrap { trim: false })
        .line_count(width)
        .min(u16::MAX as usize) as u16
}

/// A character's record as labelled lines (the details pane and its reader).
pub fn details_lines(c: &crate::library::Character, theme: &Theme) -> Vec<Line<'static>> {
    let label = |s: &'static str| Span::styled(format!("{s:<10}"), theme.dim());
    let mut lines = vec![
        Line::from(vec![
            label("ID"),
            Span::styled(
                c.id.clone(),
                theme.fg(theme.accent_fg).add_modifier(Modifier::BOLD),
            ),
        ]),
        Line::from(vec![
            label("created"),
            Span::raw(
                c.created_at
                    .replace('T', " ")
                    .trim_end_matches('Z')
                    .to_string(),
            ),
        ]),
        Line::from(vec![
            label("source"),
            Span::raw(escape_display(c.source.display())),
        ]),
        Line::from(vec![
            label("clip"),
            Span::raw(format!(
                "{}x{}  {} fps  {:.1} s  {}  {}  from {:.1} s",
                c.clip.width,
                c.clip.height,
                c.clip.fps,
                c.clip.duration_s,
                human_size(c.clip.size_bytes),
                c.path_taken.as_str(),
                c.start_s
            )),
        ]),
        Line::from(vec![
            label("providers"),
            Span::raw(if c.provider_ids.is_empty() {
                "local only".to_string()
            } else {
                c.provider_ids
                    .iter()
                    .map(|(p, e)| {
                        let expired = if e.expired() {
                            " (expired: register again)"
                        } else {
                            ""
                        };
                        format!("{}: {}{expired}", escape_display(p), escape_display(&e.id))
                    })
                    .collect::<Vec<_>>()
                    .join("  ")
            }),
        ]),
        Line::from(vec![
            label("tags"),
            Span::raw(escape_display(&c.tags.join(", "))),
        ]),
        Line::from(vec![label("notes"), Span::raw(escape_display(&c.notes))]),
    ];
    match c.first_remote() {
        Some((_, remote)) => {
            let usage = usage_lines(&escape_display(&c.name), &c.id, Some(remote));
            lines.push(Line::from(vec![
                label("prompt"),
                Span::raw(usage[1].trim_start_matches("prompt:").trim().to_string()),
            ]));
            lines.push(Line::from(vec![
                label("json"),
                Span::raw(usage[2].trim_start_matches("json:").trim().to_string()),
            ]));
        }
        None => lines.push(Line::from(vec![
            label("use it"),
            Span::raw(format!(
                "local only: U (or castbook use {} --for MODEL) says what to send a model",
                c.id
            )),
        ])),
    }
    lines.push(Line::from(vec![
        label("keyframes"),
        Span::raw(format!("{}", c.keyframes.len())),
    ]));
    for w in &c.warnings {
        lines.push(Line::from(Span::styled(
            format!("! {}", escape_display(&w.message)),
            theme.fg(theme.warning_fg),
        )));
    }
    lines
}

fn draw_jobs(frame: &mut Frame, app: &mut App, theme: &Theme, area: Rect) {
    app.areas.jobs_first = app.jobs.first_row(area.height as usize);
    let view = View {
        theme,
        keys: &app.keys,
        focused: app.focus == Focus::Jobs,
        now: Instant::now(),
    };
    app.jobs.draw(frame, area, &view);
}

fn draw_hints(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let pairs: Vec<(String, String)> = if app.batch.is_some() {
        vec![
            ("Enter".into(), "queue the creates".into()),
            ("Esc".into(), "cancel".into()),
        ]
    } else if app.prompt.is_some() {
        vec![
            ("Enter".into(), "confirm".into()),
            ("Esc".into(), "cancel".into()),
        ]
    } else if app.library.typing {
        vec![
            ("type".into(), "to search".into()),
            ("↑↓".into(), "move".into()),
            ("Enter".into(), "done".into()),
            ("Esc".into(), "clear".into()),
        ]
    } else {
        let scope = if app.focus == Focus::Jobs && app.jobs.rows() == 0 {
            Scope::Global
        } else {
            app.focus.scope()
        };
        let mut h: Vec<(String, String)> = app
            .keys
            .hints(scope)
            .into_iter()
            .map(|(k, t)| (k, t.to_string()))
            .collect();
        let enter = app.keys.keys_label(crate::tui::action::Action::Open);
        let enter = enter.split('/').next().unwrap_or("").to_string();
        let what = match scope {
            Scope::Files => Some("open"),
            Scope::Clip if app.clip.input.is_some() => Some("create"),
            Scope::Jobs => Some("log"),
            Scope::Library if app.library.selected_character().is_some() => Some("details"),
            _ => None,
        };
        if let Some(what) = what
            && !enter.is_empty()
            && !h.iter().any(|(_, t)| t == what)
        {
            h.insert(0, (enter, what.to_string()));
        }
        // With marks, the batch create comes first.
        let marked = app.files.marked_videos().len();
        let create = app
            .keys
            .keys_label(crate::tui::action::Action::CreateMarked);
        if scope == Scope::Files && marked > 0 && !create.is_empty() {
            let create = create.split('/').next().unwrap_or("").to_string();
            h.insert(0, (create, format!("create {marked} marked")));
        }
        h
    };
    let mut spans = Vec::new();
    let mut used = 0;
    for (k, t) in pairs {
        let w = k.width() + t.width() + 3;
        if used + w > area.width as usize {
            break;
        }
        used += w;
        spans.push(Span::raw(" "));
        spans.push(Span::styled(k, theme.key()));
        spans.push(Span::raw(format!(" {t} ")));
    }
    frame.render_widget(
        Paragraph::new(Line::from(spans)).style(theme.status()),
        area,
    );
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width.saturating_sub(2));
    let h = height.min(area.height.saturating_sub(2));
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// A bordered box in the middle of `area` with `lines` wrapped to its width; returns its
/// inner area.
fn popup(
    frame: &mut Frame,
    theme: &Theme,
    area: Rect,
    title: &str,
    lines: Vec<Line>,
    width: u16,
) -> Rect {
    let w = width.min(area.width.saturating_sub(2));
    let para = Paragraph::new(lines).wrap(Wrap { trim: false });
    let rows = para.line_count(w.saturating_sub(2)) as u16;
    popup_at(frame, theme, centered(area, w, rows + 2), title, para)
}

/// A bordered popup over `rect`.
fn popup_at(frame: &mut Frame, theme: &Theme, rect: Rect, title: &str, para: Paragraph) -> Rect {
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(theme.border(true))
        .title(Line::from(Span::styled(
            format!(" {title} "),
            theme.title(),
        )))
        .style(theme.base());
    let inner = block.inner(rect);
    frame.render_widget(para.block(block), rect);
    inner
}

fn draw_prompt(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let Some(p) = &app.prompt else { return };
    let width = 70.min(area.width.saturating_sub(4));
    let field_w = width.saturating_sub(4) as usize;
    let scroll = p.input.visual_scroll(field_w);
    let shown: String = escape_display(p.input.value())
        .chars()
        .skip(scroll)
        .collect();
    let under = match &p.error {
        Some(e) => Line::from(Span::styled(fit(e, field_w), theme.fg(theme.error_fg))),
        None => Line::from(Span::styled("Enter confirm · Esc cancel", theme.dim())),
    };
    let lines = vec![
        Line::from(vec![
            Span::styled("› ", theme.key()),
            Span::raw(fit(&shown, field_w)),
        ]),
        under,
    ];
    let inner = popup(frame, theme, area, p.kind.title(), lines, width);
    let x = inner.x + 2 + (p.input.visual_cursor().saturating_sub(scroll)) as u16;
    if x < inner.right() {
        frame.set_cursor_position(Position::new(x, inner.y));
    }
}

fn draw_batch(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let Some(b) = &app.batch else { return };
    let width = 76.min(area.width.saturating_sub(4));
    let room = width.saturating_sub(4) as usize;
    let mut lines = vec![Line::from(Span::styled(
        "Names from the file names:",
        theme.dim(),
    ))];
    for item in &b.items {
        let file = item
            .path
            .file_name()
            .map(|f| escape_display(&f.to_string_lossy()))
            .unwrap_or_default();
        let line = match &item.error {
            None => Line::from(vec![
                Span::styled("✓ ", theme.fg(theme.accent_fg)),
                Span::raw(fit(&escape_display(&item.name), room / 2)),
                Span::styled(format!("  {}", fit(&file, room / 2)), theme.dim()),
            ]),
            Some(why) => Line::from(vec![
                Span::styled("✗ ", theme.fg(theme.error_fg)),
                Span::raw(format!("{}: ", fit(&file, room / 2))),
                Span::styled(escape_display(why), theme.fg(theme.error_fg)),
            ]),
        };
        lines.push(line);
    }
    let ready = b.ready();
    let skipped = b.items.len() - ready;
    let mut foot = format!("Enter queues {ready}");
    if skipped > 0 {
        foot.push_str(&format!(" (skips {skipped})"));
    }
    foot.push_str(" · Esc cancel");
    lines.push(Line::from(Span::styled(foot, theme.dim())));
    popup(
        frame,
        theme,
        area,
        &format!("Create {} characters", b.items.len()),
        lines,
        width,
    );
}

fn draw_help(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let mut entries: Vec<(String, &'static str)> = Vec::new();
    for b in app.keys.bindings.iter().filter(|b| !b.keys.is_empty()) {
        let keys = b
            .keys
            .iter()
            .map(|k| k.label())
            .collect::<Vec<_>>()
            .join("/");
        // An action bound the same way in two panes is listed once.
        if !entries.iter().any(|(k, h)| *k == keys && *h == b.help) {
            entries.push((keys, b.help));
        }
    }
    let keys_w = entries.iter().map(|(k, _)| k.width()).max().unwrap_or(4);
    // Two columns, so the whole map fits at 80x24.
    let width = area.width.saturating_sub(2).min(100);
    let col_w = (width.saturating_sub(2) / 2) as usize;
    let rows = entries.len().div_ceil(2);
    let cell = |i: usize| -> Vec<Span<'static>> {
        match entries.get(i) {
            Some((k, h)) => vec![
                Span::styled(format!(" {k:<keys_w$} "), theme.key()),
                Span::raw(format!(
                    "{:<w$}",
                    fit(h, col_w.saturating_sub(keys_w + 2)),
                    w = col_w.saturating_sub(keys_w + 2)
                )),
            ],
            None => vec![],
        }
    };
    let lines: Vec<Line> = (0..rows)
        .map(|r| {
            let mut spans = cell(r);
            spans.extend(cell(r + rows));
            Line::from(spans)
        })
        .collect();
    // As tall as the screen when it must be: the whole map fits at 80x24.
    let rect = Rect::new(
        area.x + (area.width - width.min(area.width)) / 2,
        area.y + (area.height - (rows as u16 + 2).min(area.height)) / 2,
        width.min(area.width),
        (rows as u16 + 2).min(area.height),
    );
    let inner = popup_at(frame, theme, rect, "Keys", Paragraph::new(lines));
    // What closes it, on the bottom border (every row inside is a key at 80x24).
    let foot = " any key closes this help; [keys] in config.toml rebinds ";
    let y = inner.bottom();
    if y < area.bottom() {
        let x = inner.x + 1;
        let w = (inner.width.saturating_sub(2) as usize).min(foot.width()) as u16;
        frame.render_widget(
            Paragraph::new(Span::styled(fit(foot, w as usize), theme.dim())),
            Rect::new(x, y, w, 1),
        );
    }
}
