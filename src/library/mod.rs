//! The library: character records, the store on disk (atomic commits, lock, trash), search
//! and export. Knows nothing of ffmpeg or the terminal.

pub(crate) mod at;
pub mod export;
pub mod health;
pub mod id;
pub mod import;
pub mod index;
pub mod name;
pub mod names;
pub mod pack;
pub mod record;
pub mod search;
pub mod store;
pub mod trash;

pub use record::{Character, ClipRecord, PathTaken, ProviderEntry, Source, Warning};
pub use store::{Committed, Corrupt, Library, Listing, NameSnapshot, WorkDir};
pub use trash::TrashEntry;
