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
    pub tags: Arc<Vec<Vec<String>>>,
    pub within: Option<Vec<Hit>>,
}

impl SearchRequest {
    pub fn run(self) -> (u64, String, Vec<Hit>) {
        let hits = run_query(
            &self.searcher,
            &self.tags,
            &self.query,
            self.within.as_deref(),
        );
        (self.generation, self.query, hits)
    }
}

/// The tag filters of a query (`#hero`, `tag:hero`, lowercased) and the rest of it.
pub fn split_query(query: &str) -> (Vec<String>, String) {
    let mut tags = Vec::new();
    let mut rest = Vec::new();
    for word in query.split_whitespace() {
        let tag = word
            .strip_prefix('#')
            .or_else(|| word.strip_prefix("tag:"))
            .filter(|t| !t.is_empty());
        match tag {
            Some(t) => tags.push(t.to_lowercase()),
            None => rest.push(word),
        }
    }
    (tags, rest.join(" "))
}

/// Search names and IDs for the query's words, keeping the characters that have a tag
/// starting with each of its tag filters.
pub fn run_query(
    searcher: &Searcher,
    tags: &[Vec<String>],
    query: &str,
    within: Option<&[Hit]>,
) -> Vec<Hit> {
    let (wanted, rest) = split_query(query);
    let mut hits = searcher.search(&rest, within);
    if !wanted.is_empty() {
        hits.retain(|h| {
            let have = tags.get(h.index).map(Vec::as_slice).unwrap_or(&[]);
            wanted
                .iter()
                .all(|w| have.iter().any(|t| t.starts_with(w.as_str())))
        });
    }
    hits
}

/// The order of the library list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Best match first while searching, else as stored (by name).
    #[default]
    Match,
    Name,
    /// Newest first.
    Date,
}

impl Sort {
    pub fn next(self) -> Sort {
        match self {
            Sort::Match => Sort::Name,
            Sort::Name => Sort::Date,
            Sort::Date => Sort::Match,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Sort::Match => "best match",
            Sort::Name => "name",
            Sort::Date => "newest",
        }
    }
}

#[derive(Default)]
pub struct LibraryPane {
    pub characters: Vec<Character>,
    pub corrupt: Vec<Corrupt>,
    pub searcher: Arc<Searcher>,
    /// Each character's tags, lowercased (for tag filters).
    pub tags: Arc<Vec<Vec<String>>>,
    pub sort: Sort,
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
        self.tags = Arc::new(
            characters
                .iter()
                .map(|c| c.tags.iter().map(|t| t.to_lowercase()).collect())
                .collect(),
        );
        self.characters = characters;
        self.corrupt = corrupt;
        self.hits_query = String::new();
        self.hits = self.searcher.search("", None);
        self.apply_sort();
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
            let hits = run_query(&self.searcher, &self.tags, &query, within.as_deref());
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
            tags: self.tags.clone(),
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
        self.apply_sort();
        self.hits_query = query;
        self.selected = 0;
        self.offset = 0;
        if self.hits_query.is_empty()
            && let Some(id) = keep
        {
            self.select_id(&id);
        }
    }

    /// Order the results by the chosen sort (a stable sort: ties keep the match order).
    fn apply_sort(&mut self) {
        let chars = &self.characters;
        match self.sort {
            Sort::Match => {}
            Sort::Name => self.hits.sort_by(|a, b| {
                chars[a.index]
                    .name
                    .to_lowercase()
                    .cmp(&chars[b.index].name.to_lowercase())
            }),
            Sort::Date => self
                .hits
                .sort_by(|a, b| chars[b.index].created_at.cmp(&chars[a.index].created_at)),
        }
    }

    /// Switch to the next sort, keeping the selected character selected.
    pub fn cycle_sort(&mut self) {
        let keep = self.selected_character().map(|c| c.id.clone());
        self.sort = self.sort.next();
        if self.sort == Sort::Match {
            // Back to the match order: search again.
            let hits = run_query(&self.searcher, &self.tags, &self.hits_query, None);
            self.hits = hits;
        }
        self.apply_sort();
        if let Some(id) = keep {
            self.select_id(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_filters_are_split_from_the_words() {
        assert_eq!(
            split_query("#Hero wolf tag:night"),
            (
                vec!["hero".to_string(), "night".to_string()],
                "wolf".to_string()
            )
        );
        assert_eq!(split_query("# tag:"), (vec![], "# tag:".to_string()));
    }

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
