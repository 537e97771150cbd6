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
        /// A clip file (or an http(s) URL)
        input: String,
        /// The character's name (unique in the library)
        #[arg(long)]
        name: String,
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
            | Command::List { json }
            | Command::Search { json, .. }
            | Command::Show { json, .. }
            | Command::Edit { json, .. }
            | Command::Remove { json, .. }
            | Command::Restore { json, .. }
            | Command::Trash { json }
            | Command::Doctor { json, .. }
            | Command::Similar { json, .. } => *json,
            Command::Export { format, .. } => *format == ExportFormat::Json,
        }
    }
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
