//! Human and JSON output of the CLI. Results go to stdout; warnings and notes to stderr.
//! Names, paths and metadata are escaped so control characters never reach the terminal raw.

use serde::Serialize;

use crate::error::Error;
use crate::library::health::{Problem, ProblemKind};
use crate::library::record::usage_lines;
use crate::library::{Character, Corrupt, Library, TrashEntry};
use crate::pipeline::job::{Created, ProbeReport};
use crate::util::{escape_display as esc, escaped, human_size};

pub fn print_json<T: Serialize + ?Sized>(v: &T) {
    let text = serde_json::to_string_pretty(v).expect("serialisable");
    let mut text = crate::library::export::json_escape_controls(text);
    text.push('\n');
    write_stdout(&text);
}

pub fn print_error(e: &Error, json: bool) {
    if json {
        print_json(&serde_json::json!({"error": {"code": e.code, "message": e.message}}));
    }
    eprintln!("error: {}", esc(&e.message));
}

pub fn report_corrupt(corrupt: &[Corrupt]) {
    for c in corrupt {
        eprintln!(
            "warning: skipped {}: {} (the file was left as it is)",
            esc(&c.path.display().to_string()),
            esc(&c.reason)
        );
    }
}

pub fn print_probe(r: &ProbeReport, json: bool) {
    if json {
        print_json(&serde_json::json!({
            "valid": r.valid,
            "checks": r.checks,
            "metadata": r.metadata,
            "warnings": r.warnings,
            "hints": r.hints,
            "cuts": r.analysis.as_ref().map(|a| a.cut_times()).unwrap_or_default(),
            "transitions": r.analysis.as_ref().map(|a| a.cuts.clone()).unwrap_or_default(),
        }));
        return;
    }
    let m = &r.metadata;
    let mut line = vec![m.container.label().to_string()];
    if let Some(v) = &m.video {
        line.push(format!("{}x{}", v.width, v.height));
        line.push(format!("{:.2} fps", v.fps));
        line.push(v.codec.clone());
        line.push(v.pix_fmt.clone());
    }
    line.push(format!("{:.2} s", m.duration_s));
    if let Some(a) = &m.audio {
        line.push(a.codec.clone());
    }
    line.push(human_size(m.size_bytes));
    println!("{}", esc(&m.path.display().to_string()));
    println!("  {}", esc(&line.join("  ")));
    for c in &r.checks {
        println!(
            "  {} {:<10} {}",
            if c.ok { "ok  " } else { "FAIL" },
            c.rule.as_str(),
            esc(&c.message)
        );
    }
    if let Some(a) = &r.analysis {
        let cuts: Vec<String> = a.cuts.iter().map(|c| c.describe()).collect();
        println!(
            "  cuts       {}",
            if cuts.is_empty() {
                format!("none in the first {:.0} s", a.end_s().min(m.duration_s))
            } else {
                cuts.join(", ")
            }
        );
    }
    for h in &r.hints {
        println!("  hint {:<10} {}", h.rule, esc(&h.message));
    }
    if r.valid && r.hints.is_empty() {
        println!("  hints      none: the window looks clean");
    }
    for w in &r.warnings {
        eprintln!("{}: {}", label(w), esc(&w.message));
    }
    println!("{}", if r.valid { "valid" } else { "rejected" });
}

/// A created character: its ID, then how to use it (with `provider`'s remote ID when given),
/// and on stderr what was saved.
pub fn print_created(c: &Created, provider: Option<&str>, json: bool) {
    let ch = &c.character;
    if json {
        print_json(ch);
        return;
    }
    print_usage(ch, provider);
    note_saved(c);
}

/// On stdout: the character's ID, then how to use it (with `provider`'s remote ID when given).
pub fn print_usage(ch: &Character, provider: Option<&str>) {
    println!("{}", esc(&ch.id));
    let remote = provider
        .filter(|p| ch.provider_ids.contains_key(*p))
        .map(|p| esc(ch.id_for(Some(p))));
    for l in usage_lines(&esc(&ch.name), &esc(&ch.id), remote.as_deref()) {
        println!("{l}");
    }
}

/// On stderr: what was saved (or that the character was already there).
pub fn note_saved(c: &Created) {
    let ch = &c.character;
    if c.existed {
        eprintln!(
            "already in the library as {} ({}): nothing new was saved",
            esc(&ch.id),
            esc(&ch.name)
        );
    } else {
        eprintln!(
            "saved {} ({}): {}x{} {:.2} s, {} ({})",
            esc(&ch.id),
            esc(&ch.name),
            ch.clip.width,
            ch.clip.height,
            ch.clip.duration_s,
            human_size(ch.clip.size_bytes),
            ch.path_taken.as_str()
        );
    }
}

/// A character registered with `provider`: the remote ID first, then how to use it.
pub fn print_registered(ch: &Character, provider: &str, json: bool) {
    if json {
        print_json(ch);
        return;
    }
    let remote = esc(ch.id_for(Some(provider)));
    println!("{remote}");
    for l in usage_lines(&esc(&ch.name), &esc(&ch.id), Some(&remote)) {
        println!("{l}");
    }
}

/// A registration that failed after the character was saved: the error and the record (JSON),
/// or the ID on stdout (`create`) and the error on stderr.
pub fn print_registration_failed(e: &Error, ch: &Character, print_id: bool, json: bool) {
    if json {
        print_json(&serde_json::json!({
            "error": {"code": e.code, "message": e.message},
            "character": ch,
        }));
    } else if print_id {
        println!("{}", esc(&ch.id));
    }
    eprintln!("error: {}", esc(&e.message));
}

/// A record for `--json` output, with `"damaged": [problem kinds]` when its files are damaged.
fn with_damage(c: &Character, damage: Option<&[Problem]>) -> serde_json::Value {
    let mut v = serde_json::to_value(c).expect("serialisable");
    if let (Some(problems), Some(map)) = (damage.filter(|p| !p.is_empty()), v.as_object_mut()) {
        let kinds: Vec<&str> = problems.iter().map(|p| p.kind.as_str()).collect();
        map.insert("damaged".into(), serde_json::json!(kinds));
    }
    v
}

/// On stderr: how many characters are damaged and what to run.
pub fn report_damaged(count: usize) {
    if count > 0 {
        eprintln!(
            "warning: {count} damaged character(s) (marked \"damaged\"): see `castbook doctor`"
        );
    }
}

/// Characters, one line each (ID, name, created date, tags; `damaged: ...` when the files
/// are), or a JSON array of records.
pub fn print_list(chars: &[Character], damage: &dyn Fn(&str) -> Option<Vec<Problem>>, json: bool) {
    if json {
        let rows: Vec<serde_json::Value> = chars
            .iter()
            .map(|c| with_damage(c, damage(&c.id).as_deref()))
            .collect();
        print_json(&rows);
        return;
    }
    let rows: Vec<ListRow> = chars
        .iter()
        .map(|c| ListRow {
            id: &c.id,
            name: &c.name,
            created_at: &c.created_at,
            tags: &c.tags,
            damage: damage(&c.id)
                .unwrap_or_default()
                .iter()
                .map(|p| p.kind)
                .collect(),
        })
        .collect();
    print_rows(&rows);
}

/// One line of `list`.
pub struct ListRow<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub created_at: &'a str,
    pub tags: &'a [String],
    /// What is wrong with its files (empty when nothing is).
    pub damage: Vec<ProblemKind>,
}

/// ID, name, created date, tags, and `damaged: ...` when the files are.
pub fn print_rows(chars: &[ListRow]) {
    use std::fmt::Write as _;
    if chars.is_empty() {
        eprintln!("no characters");
        return;
    }
    let width = chars
        .iter()
        .map(|c| escaped(c.name).chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 32);
    // One buffer, one write: 10,000 rows are not 10,000 writes, nor 60,000 strings.
    let mut out = String::with_capacity(chars.len() * 80);
    for c in chars {
        out.push_str(&escaped(c.id));
        out.push_str("  ");
        let name = escaped(c.name);
        let count = name.chars().count();
        if count > width {
            out.extend(name.chars().take(width - 1));
            out.push('…');
        } else {
            out.push_str(&name);
            out.extend(std::iter::repeat_n(' ', width - count));
        }
        out.push_str("  ");
        out.push_str(&escaped(c.created_at.get(..10).unwrap_or(c.created_at)));
        out.push_str("  ");
        for (i, t) in c.tags.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&escaped(t));
        }
        let mut kinds: Vec<&str> = c.damage.iter().map(|k| k.as_str()).collect();
        kinds.dedup();
        if !kinds.is_empty() {
            let _ = write!(out, "  damaged: {}", kinds.join(", "));
        }
        out.push('\n');
    }
    write_stdout(&out);
}

/// Write `text` to stdout; a reader that went away (`castbook list | head`) is not an error.
pub fn write_stdout(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: writing the output: {e}");
    }
}

pub fn print_show(lib: &Library, c: &Character, json: bool) {
    let damage = lib.damage(c);
    let state = c.source.check();
    if json {
        let mut v = with_damage(c, Some(&damage));
        if let Some(map) = v.as_object_mut() {
            map.insert(
                "source_name".into(),
                serde_json::json!(c.source.file_name()),
            );
            map.insert("source_state".into(), serde_json::json!(state));
            // Whether each registration has expired (computed now, not stored).
            if let Some(entries) = map.get_mut("provider_ids").and_then(|p| p.as_object_mut()) {
                for (name, entry) in entries.iter_mut() {
                    let expired = c.provider_ids.get(name).is_some_and(|e| e.expired());
                    if let Some(e) = entry.as_object_mut() {
                        e.insert("expired".into(), serde_json::json!(expired));
                    }
                }
            }
        }
        print_json(&v);
        return;
    }
    let dir = lib.character_dir(&c.id);
    println!("{}", esc(&c.id));
    for p in &damage {
        println!(
            "DAMAGED   {}: {} ({})",
            p.kind.as_str(),
            esc(&p.message),
            esc(&p.path.display().to_string())
        );
    }
    println!("name      {}", esc(&c.name));
    println!("created   {}", esc(&c.created_at));
    println!(
        "source    {} ({}, blake3 {})",
        esc(&c.source.file_name().unwrap_or_else(|| "-".into())),
        human_size(c.source.size_bytes),
        esc(c.source.blake3.get(..16).unwrap_or(&c.source.blake3))
    );
    match (&c.source.path, &c.source.url) {
        (Some(p), _) => println!("          {}: {}", esc(p), state.describe()),
        (None, Some(u)) => println!("          from {}", esc(u)),
        (None, None) => {}
    }
    println!("window    {:.3} s + {:.2} s", c.start_s, c.clip.duration_s);
    println!(
        "clip      {} ({}x{}, {:.2} fps, {}{}, {})",
        esc(&dir.join(&c.clip.path).display().to_string()),
        c.clip.width,
        c.clip.height,
        c.clip.fps,
        human_size(c.clip.size_bytes),
        if c.clip.has_audio { ", audio" } else { "" },
        c.path_taken.as_str()
    );
    println!("keyframes {}", c.keyframes.len());
    if !c.tags.is_empty() {
        println!("tags      {}", esc(&c.tags.join(", ")));
    }
    if !c.notes.is_empty() {
        println!("notes     {}", esc(&c.notes));
    }
    for (p, entry) in &c.provider_ids {
        println!("provider  {}", provider_line(&c.id, p, entry));
    }
    for w in &c.warnings {
        println!("{:<9} {}", label(w), esc(&w.message));
    }
}

/// How a job's warning is introduced: `note` for information (the window `--start auto`
/// chose), `warning` for the rest.
pub fn label(w: &crate::library::record::Warning) -> &'static str {
    if w.rule == "start" { "note" } else { "warning" }
}

/// The trash, oldest removal first: ID, name, when it was removed, where it is.
pub fn print_trash(entries: &[TrashEntry], json: bool) {
    if json {
        print_json(entries);
        return;
    }
    if entries.is_empty() {
        eprintln!("the trash is empty");
        return;
    }
    for e in entries {
        println!(
            "{}  {}  {}  {}",
            esc(&e.id),
            esc(&e.removed_at),
            e.name
                .as_deref()
                .map(esc)
                .unwrap_or_else(|| "(unreadable record)".into()),
            esc(&e.folder.display().to_string())
        );
    }
}

/// What `pack` wrote: the file and its characters.
pub fn print_packed(s: &crate::library::pack::PackSummary, json: bool) {
    if json {
        print_json(s);
        return;
    }
    for c in &s.characters {
        println!("{}  {}", esc(&c.id), esc(&c.name));
    }
    eprintln!(
        "packed {} character(s), {} files, {} into {}",
        s.characters.len(),
        s.files,
        human_size(s.bytes),
        esc(&s.path.display().to_string())
    );
}

/// One line per incoming character: what happened, its ID, its name, and why.
pub fn print_imported(results: &[crate::library::import::ImportResult], json: bool) {
    use crate::library::import::Status;
    if json {
        print_json(results);
        return;
    }
    let width = results
        .iter()
        .map(|r| r.status.label().len())
        .max()
        .unwrap_or(0);
    for r in results {
        let mut detail = match r.status {
            Status::Merged => format!("added: {}", esc(&r.providers_added.join(", "))),
            Status::Skipped | Status::Renamed => r
                .name_held_by
                .as_ref()
                .map(|h| format!("the name is held by {} ({})", esc(&h.id), esc(&h.name)))
                .unwrap_or_default(),
            _ => String::new(),
        };
        if !r.providers_differ.is_empty() {
            if !detail.is_empty() {
                detail.push_str("; ");
            }
            detail.push_str(&format!(
                "registered under other remote IDs with {} (this library's kept)",
                esc(&r.providers_differ.join(", "))
            ));
        }
        let name = match &r.new_name {
            Some(n) => format!("{} (was {})", esc(n), esc(&r.name)),
            None => esc(&r.name),
        };
        println!(
            "{:width$}  {}  {}{}{}",
            r.status.label(),
            esc(&r.id),
            name,
            if detail.is_empty() { "" } else { "  " },
            detail
        );
    }
    let count = |s: Status| results.iter().filter(|r| r.status == s).count();
    eprintln!(
        "{} created, {} already there, {} merged, {} skipped, {} renamed",
        count(Status::Created),
        count(Status::Existing),
        count(Status::Merged),
        count(Status::Skipped),
        count(Status::Renamed)
    );
}

/// One registration for `show`: the remote ID, when it was made, and when it expires (or that
/// it has, and how to register again).
pub fn provider_line(id: &str, provider: &str, e: &crate::library::ProviderEntry) -> String {
    let mut line = format!("{}: {}", esc(provider), esc(&e.id));
    if let Some(at) = &e.registered_at {
        line.push_str(&format!("  registered {}", esc(at)));
    }
    if e.expired() {
        line.push_str(&format!(
            "  EXPIRED {}: register again with `castbook register {id} --provider {}`",
            esc(e.expires_at.as_deref().unwrap_or_default()),
            esc(provider)
        ));
    } else if let Some(until) = &e.expires_at {
        line.push_str(&format!("  expires {}", esc(until)));
    }
    if let Some(url) = &e.depends_on_url {
        line.push_str(&format!(
            "  (refers to {})",
            esc(&crate::util::url_without_query(url))
        ));
    }
    line
}

/// `use --for`: what to send the model (the plan as JSON with `--json`).
pub fn print_use(plan: &crate::usage::Plan, json: bool) {
    if json {
        print_json(plan);
        return;
    }
    for line in crate::usage::plan_lines(plan) {
        println!("{line}");
    }
}
