//! The command line (SPEC section 4), parsed with clap.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "castbook",
    version,
    about = "Turn a short reference clip of a character into a reusable character ID, and keep a searchable library of the cast",
    after_help = "Without a command, castbook starts the terminal app in PATH (a folder or a clip)."
)]
pub struct Cli {
    /// The library folder (default: CASTBOOK_LIBRARY, the config's `library`, or the platform data dir)
    #[arg(long, global = true, env = "CASTBOOK_LIBRARY", value_name = "DIR")]
    pub library: Option<PathBuf>,

    /// Theme of the terminal app
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,

    /// Folder or clip to open the files pane at (terminal app)
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show a clip's metadata and every rule's verdict (no side effects)
    Probe {
        /// A clip file (or an http(s) URL)
        input: String,
        /// Start of the 4-second window, in seconds
        #[arg(long, value_name = "SECONDS", default_value_t = 0.0)]
        start: f64,
        /// Reject non-MP4 containers instead of converting them
        #[arg(long)]
        strict: bool,
        #[arg(long)]
        json: bool,
    },
    /// Turn a clip into a character in the library; prints its ID
    Create {
        /// Clip files (or http(s) URLs); several clips make a batch, each named from its file stem
        #[arg(required = true, value_name = "CLIP")]
        inputs: Vec<String>,
        /// The character's name (unique in the library); only with one clip
        #[arg(long, conflicts_with = "name_from")]
        name: Option<String>,
        /// Name each character from its clip: `stem`, the file name without its extension
        #[arg(long, value_enum, value_name = "stem")]
        name_from: Option<NameFrom>,
        /// Start of the 4-second window, in seconds, or `auto` to pick one shot, well exposed and steady
        #[arg(long, value_name = "SECONDS|auto", value_parser = parse_start)]
        start: Option<StartArg>,
        #[arg(long, default_value = "")]
        notes: String,
        /// A tag (repeat for more)
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        /// Reject non-MP4 containers instead of converting them
        #[arg(long)]
        strict: bool,
        /// Register the character with this configured provider right after saving it
        #[arg(long, value_name = "NAME")]
        provider: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Register an existing character with a configured provider
    Register {
        /// An ID, or an exact name
        character: String,
        /// The provider's name in the config (`[providers.NAME]`)
        #[arg(long, value_name = "NAME")]
        provider: String,
        #[arg(long)]
        json: bool,
    },
    /// What to put in a request to a video model for a character: its remote ID where the model
    /// keeps characters, else the keyframes or the clip it takes (hosted URLs with [hosting]),
    /// a prompt that names the character, and the JSON fragment of the request
    Use {
        /// An ID, or an exact name
        character: String,
        /// The model: sora-2, kling, veo-3.1, vidu, grok-imagine, minimax-s2v, seedance,
        /// wan-r2v, runway-act-two
        #[arg(long = "for", value_name = "MODEL")]
        model: String,
        #[arg(long)]
        json: bool,
    },
    /// List every character, oldest first
    List {
        #[arg(long)]
        json: bool,
    },
    /// Search characters: fuzzy over name and ID, substring over tags and notes
    Search {
        query: String,
        #[arg(long)]
        json: bool,
    },
    /// Show one character
    Show {
        /// An ID, or an exact name
        character: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a character's name, notes or tags
    #[command(group(clap::ArgGroup::new("change").required(true).multiple(true)))]
    Edit {
        /// An ID, or an exact name
        character: String,
        #[arg(long, group = "change")]
        name: Option<String>,
        #[arg(long, group = "change")]
        notes: Option<String>,
        /// Add a tag (repeat for more)
        #[arg(long = "tag", value_name = "TAG", group = "change")]
        tags: Vec<String>,
        /// Remove a tag (repeat for more)
        #[arg(long = "untag", value_name = "TAG", group = "change")]
        untags: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Export the library as CSV (default) or JSON
    Export {
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
        /// The same as --format json
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// Write to FILE instead of stdout
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Move a character to the library's trash
    Remove {
        /// An ID, or an exact name
        character: String,
        #[arg(long)]
        json: bool,
    },
    /// Put a removed character back from the trash (the most recent removal of that ID or name)
    Restore {
        /// An ID, or an exact name, as `castbook trash` lists it
        character: String,
        #[arg(long)]
        json: bool,
    },
    /// List the characters in the trash, the oldest removal first
    Trash {
        #[arg(long)]
        json: bool,
    },
    /// Check the library: records, clips and keyframes (against their hashes), temporary files
    Doctor {
        /// Fix what is safe: keyframes made again from the clip, unreadable records moved to
        /// the trash, temporary files removed
        #[arg(long)]
        repair: bool,
        #[arg(long)]
        json: bool,
    },
    /// Write characters (record, clip, keyframes) into one pack file to hand to another library
    #[command(group(clap::ArgGroup::new("which").required(true).multiple(true)))]
    Pack {
        /// IDs or exact names
        #[arg(group = "which")]
        characters: Vec<String>,
        /// Every character of the library
        #[arg(long, group = "which")]
        all: bool,
        /// The pack to write (e.g. cast.castpack)
        #[arg(long, short, value_name = "FILE")]
        output: PathBuf,
        /// Replace FILE if it exists
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Bring characters in from a pack or another library folder (keeping their IDs), or create
    /// one per row of a CSV manifest (columns clip,name,start,tags,notes)
    Import {
        /// A .castpack file, another library's folder, or a .csv manifest
        source: PathBuf,
        /// An incoming character whose name another character holds: fail (import nothing),
        /// skip it, or rename it ("Name (2)")
        #[arg(long, value_enum, default_value_t = OnConflictArg::Fail)]
        on_conflict: OnConflictArg,
        #[arg(long)]
        json: bool,
    },
    /// The characters that look most alike, by signature
    Similar {
        /// An ID, an exact name, or a clip file
        target: String,
        /// Start of the clip's 4-second window, in seconds (for a clip)
        #[arg(long, value_name = "SECONDS", default_value_t = 0.0)]
        start: f64,
        /// How many to show
        #[arg(long, default_value_t = 10)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script (e.g. `castbook completions bash > ~/.local/share/bash-completion/completions/castbook`)
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
}

/// Shells `completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// `--on-conflict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnConflictArg {
    Fail,
    Skip,
    Rename,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
}

impl Command {
    /// Whether errors are printed as JSON on stdout.
    pub fn json(&self) -> bool {
        match self {
            Command::Probe { json, .. }
            | Command::Create { json, .. }
            | Command::Register { json, .. }
            | Command::Use { json, .. }
            | Command::List { json }
            | Command::Search { json, .. }
            | Command::Show { json, .. }
            | Command::Edit { json, .. }
            | Command::Remove { json, .. }
            | Command::Restore { json, .. }
            | Command::Trash { json }
            | Command::Doctor { json, .. }
            | Command::Pack { json, .. }
            | Command::Import { json, .. }
            | Command::Similar { json, .. } => *json,
            Command::Export { format, json, .. } => *json || *format == ExportFormat::Json,
            Command::Completions { .. } => false,
        }
    }
}

/// Where batch names come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NameFrom {
    /// The clip's file name without its extension
    Stem,
}

/// The subcommand names (and aliases) the parser knows.
pub fn command_names() -> Vec<String> {
    use clap::CommandFactory;
    Cli::command()
        .get_subcommands()
        .flat_map(|c| {
            std::iter::once(c.get_name().to_string()).chain(c.get_all_aliases().map(str::to_string))
        })
        .filter(|n| n != "help")
        .collect()
}

/// The command `word` was probably meant to be, when it is not one: a subcommand at most two
/// edits away (or one whose name starts with `word`, for 3+ letters).
pub fn suggest_command(word: &str) -> Option<String> {
    let lower = word.to_lowercase();
    if lower.is_empty() || lower.len() > 20 {
        return None;
    }
    let names = command_names();
    if names.contains(&lower) {
        return None;
    }
    names
        .into_iter()
        .map(|n| (edit_distance(&lower, &n), n))
        .filter(|(d, n)| *d <= 2.min(n.len() / 2) || (lower.len() >= 3 && n.starts_with(&lower)))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Damerau-Levenshtein distance (adjacent swaps count as one edit: `lsit` is one from `list`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    d[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// `--start`: seconds, or `auto`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StartArg {
    At(f64),
    Auto,
}

fn parse_start(s: &str) -> Result<StartArg, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(StartArg::Auto);
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(StartArg::At(v)),
        _ => Err(format!(
            "{s:?} is not a start time: give seconds >= 0 (e.g. 1.5) or `auto`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_words_suggest_a_command() {
        assert_eq!(suggest_command("lsit").as_deref(), Some("list"));
        assert_eq!(suggest_command("craete").as_deref(), Some("create"));
        assert_eq!(suggest_command("Serach").as_deref(), Some("search"));
        assert_eq!(suggest_command("expor").as_deref(), Some("export"));
        assert_eq!(suggest_command("list"), None);
        assert_eq!(suggest_command("holiday"), None);
        assert_eq!(suggest_command("a"), None);
    }
}
