//! The headless CLI: each command over the library and job APIs, with human output (stdout
//! for results, stderr for warnings and progress) or one JSON document with `--json`.

pub mod args;
mod batch;
mod doctor;
pub mod output;
pub mod progress;

use std::io::Write;
use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

pub use args::{Cli, Command, ExportFormat};

use crate::config::{self, Config};
use crate::error::{Error, Result};
use crate::library::Character;
use crate::library::{Library, export, name::normalize_tag, search::search};
use crate::pipeline::job::{self, CreateOptions, Input, Reporter};
use crate::provider::{self, AnyProvider, Provider, Registry};
use crate::util::escape_display;

/// What a command printed and how it ends.
pub struct Outcome {
    pub code: i32,
}

/// Open the library the arguments, the environment and the config point at.
pub fn open_library(given: Option<PathBuf>, cfg: &Config) -> Result<Library> {
    let path = config::library_path(given, cfg)?;
    check_library_path(&path)?;
    Library::open(path)
}

/// A library path that cannot become a folder, said plainly (a link that loops would
/// otherwise surface as "File exists").
fn check_library_path(path: &std::path::Path) -> Result<()> {
    use crate::pipeline::source::{describe_kind, is_link_loop};
    let shown = escape_display(&path.display().to_string());
    match std::fs::metadata(path) {
        Err(e) if is_link_loop(&e) => Err(Error::input(
            "library_not_a_directory",
            format!(
                "the library path {shown} is a symbolic link that loops (it leads back to itself): point it at a folder, or pass another folder with --library"
            ),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_symlink()) {
                return Err(Error::input(
                    "library_not_a_directory",
                    format!(
                        "the library path {shown} is a symbolic link to a folder that does not exist: create that folder, or pass another with --library"
                    ),
                ));
            }
            Ok(())
        }
        Ok(m) if !m.is_dir() => Err(Error::input(
            "library_not_a_directory",
            format!(
                "the library path {shown} is {}, not a folder: pass a folder with --library",
                describe_kind(&m)
            ),
        )),
        _ => Ok(()),
    }
}

/// A command line that cannot work as given: said the way the parser says it, exit 2.
fn usage_error(message: &str) -> ! {
    use clap::CommandFactory;
    args::Cli::command()
        .error(clap::error::ErrorKind::ArgumentConflict, message)
        .exit()
}

/// Run one headless command; errors are printed here (JSON or human) and become the exit code.
pub async fn run(library: Option<PathBuf>, command: Command) -> i32 {
    let json = command.json();
    match run_inner(library, command).await {
        Ok(code) => code,
        Err(e) => {
            output::print_error(&e, json);
            e.exit_code()
        }
    }
}

async fn run_inner(library: Option<PathBuf>, command: Command) -> Result<i32> {
    if let Command::Completions { shell } = command {
        print_completions(shell);
        return Ok(0);
    }
    let cfg = Config::load()?;
    match command {
        Command::Completions { .. } => unreachable!("handled above"),
        Command::Probe {
            input,
            start,
            strict,
            json,
        } => {
            let cancel = CancellationToken::new();
            let strict = strict || cfg.defaults.strict.unwrap_or(false);
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let drawer = tokio::spawn(progress::draw(rx));
            let fut = job::probe_input_with(
                Input::parse(&input),
                start,
                strict,
                Reporter::new(tx),
                cancel.clone(),
            );
            let result = with_ctrl_c(fut, &cancel).await;
            let _ = drawer.await;
            let report = result?;
            output::print_probe(&report, json);
            Ok(if report.valid { 0 } else { 3 })
        }
        Command::Create {
            inputs,
            name,
            name_from,
            start,
            notes,
            tags,
            strict,
            provider,
            json,
        } => {
            if inputs.len() > 1 && name.is_some() {
                usage_error(
                    "--name names one character: with several clips, name each from its file with --name-from stem (or create them one at a time)",
                );
            }
            if inputs.len() > 1 && provider.is_some() {
                usage_error(
                    "--provider registers one character: create the clips first, then `castbook register` each",
                );
            }
            if name.is_none() && name_from.is_none() && inputs.len() == 1 {
                usage_error(
                    "the character needs a name: --name NAME, or --name-from stem to use the clip's file name",
                );
            }
            let lib = open_library(library, &cfg)?;
            // A misspelt provider or a missing key is found before any work is done.
            let provider = provider.map(|p| find_provider(&cfg, &p)).transpose()?;
            let opts = CreateOptions {
                name: name.unwrap_or_else(|| batch::stem_name(&inputs[0])),
                start_s: match start {
                    Some(args::StartArg::At(s)) => s,
                    _ => cfg.defaults.start.unwrap_or(0.0),
                },
                auto_start: start == Some(args::StartArg::Auto),
                notes,
                tags,
                strict: strict || cfg.defaults.strict.unwrap_or(false),
                ..Default::default()
            };
            if inputs.len() > 1 {
                let items = batch::clip_items(&inputs, &opts);
                return Ok(batch::run_items(&lib, items, json).await);
            }
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let drawer = tokio::spawn(progress::draw(rx));
            let cancel = CancellationToken::new();
            let fut = job::create(
                lib.clone(),
                Input::parse(&inputs[0]),
                opts,
                Reporter::new(tx),
                cancel.clone(),
            );
            let result = with_ctrl_c(fut, &cancel).await;
            let _ = drawer.await;
            let created = result?;
            match provider {
                None => {
                    output::print_created(&created, None, json);
                    Ok(0)
                }
                Some(p) => {
                    if !json {
                        output::note_saved(&created);
                    }
                    let ch = created.character.clone();
                    Ok(match register(&lib, &p, ch).await {
                        Ok(character) if json => {
                            output::print_json(&character);
                            0
                        }
                        Ok(character) => {
                            output::print_usage(&character, Some(p.name()));
                            0
                        }
                        Err((e, character)) => {
                            output::print_registration_failed(&e, &character, true, json);
                            e.exit_code()
                        }
                    })
                }
            }
        }
        Command::Register {
            character,
            provider,
            json,
        } => {
            let lib = open_library(library, &cfg)?;
            let c = lib.resolve(&character)?;
            let p = find_provider(&cfg, &provider)?;
            Ok(match register(&lib, &p, c).await {
                Ok(character) => {
                    output::print_registered(&character, p.name(), json);
                    0
                }
                Err((e, character)) => {
                    output::print_registration_failed(&e, &character, false, json);
                    e.exit_code()
                }
            })
        }
        Command::Use {
            character,
            model,
            json,
        } => {
            let model = crate::usage::model(&model)?;
            let lib = open_library(library, &cfg)?;
            let c = lib.resolve(&character)?;
            let hosting = match model.takes {
                crate::usage::Takes::RemoteId(_) => None,
                _ => crate::hosting::Hosting::from_config(&cfg)?,
            };
            let plan = crate::usage::plan(&lib, &cfg, &c, model, hosting.as_ref()).await?;
            output::print_use(&plan, json);
            Ok(0)
        }
        Command::List { json: false } => {
            // From the derived index: no record is parsed unless it changed.
            let lib = open_library(library, &cfg)?;
            let s = lib.summaries()?;
            output::report_corrupt(&s.corrupt);
            let rows: Vec<output::ListRow> = s
                .rows
                .iter()
                .map(|r| output::ListRow {
                    id: &r.id,
                    name: &r.name,
                    created_at: &r.created_at,
                    tags: &r.tags,
                    damage: r.damage.clone(),
                })
                .collect();
            output::report_damaged(rows.iter().filter(|r| !r.damage.is_empty()).count());
            output::print_rows(&rows);
            drop(rows);
            // Freed when the process exits: not 10,000 summaries one by one.
            std::mem::forget(s);
            Ok(0)
        }
        Command::List { json } => {
            let lib = open_library(library, &cfg)?;
            let listing = lib.list()?;
            output::report_corrupt(&listing.corrupt);
            output::report_damaged(listing.damaged.len());
            let damage = |id: &str| listing.damage(id).map(<[_]>::to_vec);
            output::print_list(&listing.characters, &damage, json);
            Ok(0)
        }
        Command::Search { query, json } => {
            let lib = open_library(library, &cfg)?;
            let listing = lib.list()?;
            output::report_corrupt(&listing.corrupt);
            let hits: Vec<_> = search(&listing.characters, &query)
                .into_iter()
                .cloned()
                .collect();
            let damage = |id: &str| listing.damage(id).map(<[_]>::to_vec);
            output::print_list(&hits, &damage, json);
            Ok(0)
        }
        Command::Show { character, json } => {
            let lib = open_library(library, &cfg)?;
            let c = lib.resolve(&character)?;
            output::print_show(&lib, &c, json);
            Ok(0)
        }
        Command::Edit {
            character,
            name,
            notes,
            tags,
            untags,
            json,
        } => {
            let lib = open_library(library, &cfg)?;
            if let Some(n) = &notes {
                crate::library::name::check_notes(n)?;
            }
            crate::library::name::check_tags(&tags)?;
            let c = lib.resolve(&character)?;
            let new_name = name
                .as_deref()
                .map(crate::library::name::normalize_name)
                .transpose()?;
            let updated = lib.update(&c.id, |rec| {
                if let Some(n) = new_name {
                    rec.name = n;
                }
                if let Some(n) = notes {
                    rec.notes = n;
                }
                let drop: Vec<String> = untags
                    .iter()
                    .map(|t| normalize_tag(t).to_lowercase())
                    .collect();
                rec.tags.retain(|t| !drop.contains(&t.to_lowercase()));
                let mut all = rec.tags.clone();
                all.extend(tags);
                rec.tags = job::clean_tags(&all);
                Ok(())
            })?;
            if json {
                output::print_json(&updated);
            } else {
                println!("{}", escape_display(&updated.id));
                eprintln!(
                    "updated {} ({})",
                    escape_display(&updated.id),
                    crate::util::escape_display(&updated.name)
                );
            }
            Ok(0)
        }
        Command::Export {
            format,
            json,
            output,
        } => {
            let format = if json { ExportFormat::Json } else { format };
            let lib = open_library(library, &cfg)?;
            let listing = lib.list()?;
            output::report_corrupt(&listing.corrupt);
            let chars = &listing.characters;
            let write = |w: &mut dyn Write| -> Result<()> {
                match format {
                    ExportFormat::Csv => export::write_csv(w, chars),
                    ExportFormat::Json => export::write_json(w, chars),
                }
            };
            match output {
                None => {
                    let stdout = std::io::stdout();
                    let mut lock = stdout.lock();
                    write(&mut lock)?;
                }
                Some(path) => {
                    let fmt = match format {
                        ExportFormat::Csv => export::Format::Csv,
                        ExportFormat::Json => export::Format::Json,
                    };
                    export::write_file(&path, chars, fmt, true)?;
                    eprintln!(
                        "exported {} characters to {}",
                        chars.len(),
                        escape_display(&path.display().to_string())
                    );
                }
            }
            Ok(0)
        }
        Command::Similar {
            target,
            start,
            limit,
            json,
        } => {
            let lib = open_library(library, &cfg)?;
            let (sig, own_id) = match lib.resolve(&target) {
                Ok(c) => {
                    let sig: crate::pipeline::signature::Signature = c.signature.parse().map_err(|e| {
                        Error::processing(
                            "signature",
                            format!("{} has a signature this castbook cannot read ({e}): a newer version made it", c.id),
                        )
                    })?;
                    (sig, Some(c.id))
                }
                Err(e) if e.code == "not_found" && std::path::Path::new(&target).is_file() => {
                    let cancel = CancellationToken::new();
                    let path = PathBuf::from(&target);
                    let fut = tokio::task::spawn_blocking({
                        let cancel = cancel.clone();
                        move || crate::pipeline::signature::of_clip(&path, start, &cancel)
                    });
                    let joined = async {
                        fut.await.map_err(|e| {
                            Error::other("internal", format!("the scan stopped: {e}"))
                        })?
                    };
                    (with_ctrl_c(joined, &cancel).await?, None)
                }
                Err(mut e) => {
                    e.message.push_str(" (or pass a clip file)");
                    return Err(e);
                }
            };
            let names = lib.names()?;
            let mut ranked = names.ranked(&sig, own_id.as_deref());
            ranked.truncate(limit);
            if json {
                let rows: Vec<_> = ranked
                    .iter()
                    .map(|c| serde_json::json!({"id": c.id, "name": c.name, "similarity": (c.similarity * 1000.0).round() / 1000.0}))
                    .collect();
                output::print_json(&rows);
            } else if ranked.is_empty() {
                eprintln!("no other characters to compare with");
            } else {
                for c in &ranked {
                    println!(
                        "similarity {:.2}  {}  {}",
                        c.similarity,
                        escape_display(c.id),
                        escape_display(c.name)
                    );
                }
            }
            Ok(0)
        }
        Command::Remove { character, json } => {
            let lib = open_library(library, &cfg)?;
            // A damaged record (unreadable, or its id not its folder's) is removed by its
            // folder name.
            let (id, c) = match lib.resolve(&character) {
                Ok(c) => (c.id.clone(), Some(c)),
                Err(e) if e.code == "corrupt_record" && crate::library::name::is_id(&character) => {
                    (character.clone(), None)
                }
                Err(e) => return Err(e),
            };
            let dest = lib.remove(&id)?;
            if json {
                output::print_json(&serde_json::json!({"removed": c, "id": id, "trash": dest}));
            } else {
                println!("{}", escape_display(&id));
                eprintln!(
                    "moved {} ({}) to {}",
                    escape_display(&id),
                    c.as_ref()
                        .map(|c| escape_display(&c.name))
                        .unwrap_or_else(|| "damaged record".into()),
                    escape_display(&dest.display().to_string())
                );
            }
            Ok(0)
        }
        Command::Restore { character, json } => {
            let lib = open_library(library, &cfg)?;
            let c = lib.restore(&character)?;
            if json {
                output::print_json(&c);
            } else {
                println!("{}", c.id);
                eprintln!(
                    "restored {} ({}) to {}",
                    c.id,
                    escape_display(&c.name),
                    lib.character_dir(&c.id).display()
                );
            }
            Ok(0)
        }
        Command::Doctor { repair, json } => {
            let lib = open_library(library, &cfg)?;
            doctor::run(&lib, repair, json)
        }
        Command::Trash { json } => {
            let lib = open_library(library, &cfg)?;
            output::print_trash(&lib.trash()?, json);
            Ok(0)
        }
        Command::Pack {
            characters,
            all,
            output: out,
            force,
            json,
        } => {
            let lib = open_library(library, &cfg)?;
            let chosen = if all {
                lib.list()?.characters
            } else {
                characters
                    .iter()
                    .map(|c| lib.resolve(c))
                    .collect::<Result<Vec<_>>>()?
            };
            let summary = crate::library::pack::write_pack(&lib, &chosen, &out, force)?;
            output::print_packed(&summary, json);
            Ok(0)
        }
        Command::Import {
            source,
            on_conflict,
            json,
        } => {
            let lib = open_library(library, &cfg)?;
            let mode = match on_conflict {
                args::OnConflictArg::Fail => crate::library::import::OnConflict::Fail,
                args::OnConflictArg::Skip => crate::library::import::OnConflict::Skip,
                args::OnConflictArg::Rename => crate::library::import::OnConflict::Rename,
            };
            let is_csv = source
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
            if !source.is_dir() && !source.is_file() {
                return Err(Error::input(
                    "not_found",
                    format!(
                        "{} is not a file or a folder: give a .castpack file, another library's folder, or a CSV manifest",
                        escape_display(&source.display().to_string())
                    ),
                ));
            }
            if is_csv && source.is_file() {
                return batch::run(&lib, &cfg, &source, json).await;
            }
            if source.is_dir() && !crate::library::import::holds_characters(&source) {
                let clips = batch::folder_clips(&source)?;
                if !clips.is_empty() {
                    let clips: Vec<String> =
                        clips.iter().map(|p| p.display().to_string()).collect();
                    let opts = CreateOptions {
                        strict: cfg.defaults.strict.unwrap_or(false),
                        start_s: cfg.defaults.start.unwrap_or(0.0),
                        ..Default::default()
                    };
                    let items = batch::clip_items(&clips, &opts);
                    return Ok(batch::run_items(&lib, items, json).await);
                }
            }
            let stage = if source.is_dir() {
                crate::library::import::stage_folder(&lib, &source)?
            } else {
                crate::library::pack::stage_pack(&lib, &source)?
            };
            let results = crate::library::import::commit(&lib, stage, mode)?;
            output::print_imported(&results, json);
            Ok(0)
        }
    }
}

/// A completion script for `shell` on stdout.
fn print_completions(shell: args::Shell) {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    let shell = match shell {
        args::Shell::Bash => clap_complete::Shell::Bash,
        args::Shell::Zsh => clap_complete::Shell::Zsh,
        args::Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "castbook", &mut script);
    // A closed pipe (`| head`) is the reader's choice, not an error.
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&script).and_then(|()| out.flush());
}

/// The configured provider called `name`, checked to be callable (a key is set, ...).
fn find_provider(cfg: &Config, name: &str) -> Result<AnyProvider> {
    let p = Registry::from_config(cfg)?.get(name)?.clone();
    p.check()?;
    Ok(p)
}

/// Register a saved character with `provider` (unless it already is) with progress on stderr.
/// On failure the character is returned as it is in the library, with the error saying how to
/// retry.
async fn register(
    lib: &Library,
    provider: &AnyProvider,
    character: Character,
) -> std::result::Result<Character, (Error, Character)> {
    if let Some(remote) = character.provider_ids.get(provider.name()) {
        if !remote.expired() {
            eprintln!(
                "{} is already registered with {} as {}: nothing was sent",
                character.id,
                escape_display(provider.name()),
                escape_display(&remote.id)
            );
            return Ok(character);
        }
        eprintln!(
            "{}'s registration with {} ({}) expired {}: registering again",
            character.id,
            escape_display(provider.name()),
            escape_display(&remote.id),
            escape_display(remote.expires_at.as_deref().unwrap_or_default())
        );
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let drawer = tokio::spawn(progress::draw(rx));
    let cancel = CancellationToken::new();
    let mut reporter = Reporter::new(tx);
    let fut = provider::register_character(lib, provider, &character, &mut reporter, &cancel);
    let result = with_ctrl_c(fut, &cancel).await;
    drop(reporter);
    let _ = drawer.await;
    match result {
        Ok((updated, reg)) => {
            eprintln!(
                "registered {} with {}: {}",
                updated.id,
                escape_display(provider.name()),
                escape_display(&reg.remote_id)
            );
            Ok(updated)
        }
        Err(mut e) => {
            let retry = format!(
                "`castbook register {} --provider {}`",
                character.id,
                escape_display(provider.name())
            );
            if e.is_cancelled() {
                // A cancel after the request was sent says what may still happen remotely.
                let remote = e
                    .message
                    .strip_prefix("cancelled: ")
                    .filter(|m| *m != "nothing was saved")
                    .map(str::to_string);
                e.message = match remote {
                    Some(m) => format!(
                        "cancelled: {} is kept in the library but not registered with {}; {m}; if it does not, register it again with {retry}",
                        character.id,
                        escape_display(provider.name())
                    ),
                    None => format!(
                        "cancelled: {} is kept in the library but not registered with {}; register it later with {retry}",
                        character.id,
                        escape_display(provider.name())
                    ),
                };
            } else {
                e.message = format!(
                    "{}; {} is kept in the library: retry with {retry}",
                    e.message, character.id
                );
            }
            // The record as it is now (another process may have changed it meanwhile).
            let current = lib.get(&character.id).ok().flatten().unwrap_or(character);
            Err((e, current))
        }
    }
}

/// Await `fut`; on Ctrl-C (or SIGTERM) cancel the job and wait for it to clean up.
async fn with_ctrl_c<T>(
    fut: impl std::future::Future<Output = Result<T>>,
    cancel: &CancellationToken,
) -> Result<T> {
    tokio::pin!(fut);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let terminated = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = &mut fut => r,
        _ = tokio::signal::ctrl_c() => {
            cancel.cancel();
            Err(cancelled_with_detail(tokio::time::timeout(CLEANUP_WAIT, fut).await))
        }
        _ = terminated => {
            cancel.cancel();
            Err(cancelled_with_detail(tokio::time::timeout(CLEANUP_WAIT, fut).await))
        }
    }
}

/// The error of a cancelled job: the job's own, when it said more than "cancelled" (a
/// request already sent may still be acted on remotely).
fn cancelled_with_detail<T, E>(ended: std::result::Result<Result<T>, E>) -> Error {
    match ended {
        Ok(Err(e)) if e.is_cancelled() => e,
        _ => Error::cancelled(),
    }
}

/// How long a cancelled job gets to clean up before the process leaves anyway (what it
/// leaves in `.work/` is removed by the next run).
const CLEANUP_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
