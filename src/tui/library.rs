//! The library pane's state: the characters, the search field and its results. Search runs
//! on the UI thread for small libraries and on a blocking task for large ones, so typing is
//! never held up; a longer query narrows from the results of the shorter one.

use std::sync::Arc;

use tui_input::Input;

use crate::library::search::{Hit, Searcher};
use crate::library::{Character, Corrupt};

/// Up to this many characters a search runs inline (well under a millisecond per key).
pub const INLINE_SEARCH_LIMIT: usize = 2_000;

/// Whether the results for `prev` hold every match for `next`: it extends `prev`, and both
/// are on the same side of the length at which IDs start to be matched too.
pub fn can_narrow(prev: &str, next: &str) -> bool {
    !prev.is_empty()
        && next.starts_with(prev)
        && (prev.len() >= MIN_ID_QUERY) == (next.len() >= MIN_ID_QUERY)
}

/// Queries this long (bytes) are matched against IDs as well as names (see `Searcher::score`).
const MIN_ID_QUERY: usize = 3;

/// A search to run off the UI thread.
pub struct SearchRequest {
    pub generation: u64,
    pub query: String,
    pub searcher: Arc<Searcher>,
    pub within: Option<Vec<Hit>>,
}

impl SearchRequest {
    pub fn run(self) -> (u64, String, Vec<Hit>) {
        let hits = self.searcher.search(&self.query, self.within.as_deref());
        (self.generation, self.query, hits)
    }
}

#[derive(Default)]
pub struct LibraryPane {
    pub characters: Vec<Character>,
    pub corrupt: Vec<Corrupt>,
    pub searcher: Arc<Searcher>,
    pub query: Input,
    /// The search field has the keyboard.
    pub typing: bool,
    /// Results shown, best first, and the query they answer.
    pub hits: Vec<Hit>,
    pub hits_query: String,
    pub selected: usize,
    pub offset: usize,
    generation: u64,
    in_flight: bool,
}

impl LibraryPane {
    pub fn set_characters(&mut self, characters: Vec<Character>, corrupt: Vec<Corrupt>) {
        self.searcher = Arc::new(Searcher::from_characters(&characters));
        self.characters = characters;
        self.corrupt = corrupt;
        self.hits_query = String::new();
        self.hits = self.searcher.search("", None);
        self.in_flight = false;
        self.generation += 1;
    }

    pub fn query_text(&self) -> String {
        self.query.value().trim().to_string()
    }

    pub fn selected_character(&self) -> Option<&Character> {
        self.hits
            .get(self.selected)
            .map(|h| &self.characters[h.index])
    }

    pub fn select_id(&mut self, id: &str) -> bool {
        match self
            .hits
            .iter()
            .position(|h| self.characters[h.index].id == id)
        {
            Some(i) => {
                self.selected = i;
                true
            }
            None => false,
        }
    }

    pub fn move_by(&mut self, delta: isize) {
        if self.hits.is_empty() {
            self.selected = 0;
            return;
        }
        let last = self.hits.len() as isize - 1;
        self.selected = (self.selected as isize + delta).clamp(0, last) as usize;
    }

    /// The query changed: search inline, or return a request to run in the background
    /// (none while one is in flight; its answer triggers the next).
    pub fn query_changed(&mut self) -> Option<SearchRequest> {
        let query = self.query_text();
        if query == self.hits_query {
            return None;
        }
        let within = can_narrow(&self.hits_query, &query).then(|| self.hits.clone());
        if self.characters.len() <= INLINE_SEARCH_LIMIT {
            let hits = self.searcher.search(&query, within.as_deref());
            self.show(query, hits);
            return None;
        }
        if self.in_flight {
            return None;
        }
        self.in_flight = true;
        self.generation += 1;
        Some(SearchRequest {
            generation: self.generation,
            query,
            searcher: self.searcher.clone(),
            within,
        })
    }

    /// A background search answered; returns the next request when the query moved on.
    pub fn search_done(
        &mut self,
        generation: u64,
        query: String,
        hits: Vec<Hit>,
    ) -> Option<SearchRequest> {
        if generation != self.generation {
            return None;
        }
        self.in_flight = false;
        self.show(query, hits);
        self.query_changed()
    }

    pub fn searching(&self) -> bool {
        self.in_flight
    }

    fn show(&mut self, query: String, hits: Vec<Hit>) {
        let keep = self.selected_character().map(|c| c.id.clone());
        self.hits = hits;
        self.hits_query = query;
        self.selected = 0;
        self.offset = 0;
        if self.hits_query.is_empty()
            && let Some(id) = keep
        {
            self.select_id(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrowing_only_when_the_matches_can_only_shrink() {
        assert!(!can_narrow("wo", "wol"));
        assert!(can_narrow("w", "wo"));
        assert!(can_narrow("wol", "wolf"));
        assert!(!can_narrow("wolf", "wol"));
        assert!(!can_narrow("", "w"));
        assert!(!can_narrow("wa", "wo"));
    }
}
