//! Library search (SPEC section 4): fuzzy over name and ID, substring over tags and notes,
//! best first. Match positions are computed separately, only for the rows that are shown.

use fuzzy_matcher::FuzzyMatcher;
use fuzzy_matcher::skim::SkimMatcherV2;

use crate::library::record::Character;

/// One searchable character, with its haystacks prepared once.
#[derive(Debug, Clone)]
pub struct SearchEntry {
    pub name: String,
    pub id: String,
    name_lc: String,
    name_mask: u64,
    id_mask: u64,
    tags_lc: Vec<String>,
    notes_lc: String,
}

impl SearchEntry {
    pub fn new(c: &Character) -> Self {
        SearchEntry {
            name: c.name.clone(),
            id: c.id.clone(),
            name_lc: c.name.to_lowercase(),
            name_mask: char_mask(&c.name),
            id_mask: char_mask(&c.id),
            tags_lc: c.tags.iter().map(|t| t.to_lowercase()).collect(),
            notes_lc: c.notes.to_lowercase(),
        }
    }
}

/// A match: the entry's index and its score (higher is better).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub index: usize,
    pub score: i64,
}

/// A reusable matcher over a snapshot of the library.
pub struct Searcher {
    matcher: SkimMatcherV2,
    entries: Vec<SearchEntry>,
}

impl Default for Searcher {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl Searcher {
    pub fn new(entries: Vec<SearchEntry>) -> Self {
        Searcher {
            matcher: SkimMatcherV2::default().ignore_case(),
            entries,
        }
    }

    pub fn from_characters(chars: &[Character]) -> Self {
        Self::new(chars.iter().map(SearchEntry::new).collect())
    }

    pub fn entries(&self) -> &[SearchEntry] {
        &self.entries
    }

    /// Score one entry, or None when it does not match.
    pub fn score(&self, index: usize, query: &str, query_lc: &str) -> Option<i64> {
        self.score_masked(index, query, query_lc, char_mask(query))
    }

    fn score_masked(&self, index: usize, query: &str, query_lc: &str, qmask: u64) -> Option<i64> {
        let e = &self.entries[index];
        let mut best: Option<i64> = None;
        let mut take = |s: i64| best = Some(best.map_or(s, |b| b.max(s)));
        // A fuzzy match needs every character of the query in the haystack: a haystack
        // missing one of them is skipped without running the matcher.
        if qmask & !e.name_mask == 0
            && in_order(&e.name_lc, query_lc)
            && let Some(s) = self.matcher.fuzzy_match(&e.name, query)
        {
            // Names rank above IDs, exact and prefix matches above scattered ones.
            let bonus = if e.name_lc == query_lc {
                1000
            } else if e.name_lc.starts_with(query_lc) {
                500
            } else {
                0
            };
            take(s * 2 + bonus);
        }
        if query.len() >= 3
            && qmask & !e.id_mask == 0
            && let Some(s) = id_score(&e.id, query_lc)
        {
            take(s + if e.id == query_lc { 2000 } else { 0 });
        }
        if e.tags_lc.iter().any(|t| t.contains(query_lc)) {
            take(60 + 10 * query_lc.chars().count() as i64);
        }
        if e.notes_lc.contains(query_lc) {
            take(20 + 5 * query_lc.chars().count() as i64);
        }
        best
    }

    /// Search every entry (or only `within`, the hits of a shorter query this one extends).
    pub fn search(&self, query: &str, within: Option<&[Hit]>) -> Vec<Hit> {
        let query = query.trim();
        if query.is_empty() {
            return (0..self.entries.len())
                .map(|index| Hit { index, score: 0 })
                .collect();
        }
        let query_lc = query.to_lowercase();
        let mut hits: Vec<Hit> = match within {
            Some(prev) => prev
                .iter()
                .filter_map(|h| {
                    self.score(h.index, query, &query_lc).map(|score| Hit {
                        index: h.index,
                        score,
                    })
                })
                .collect(),
            None => (0..self.entries.len())
                .filter_map(|index| {
                    self.score(index, query, &query_lc)
                        .map(|score| Hit { index, score })
                })
                .collect(),
        };
        hits.sort_unstable_by(|a, b| b.score.cmp(&a.score).then(a.index.cmp(&b.index)));
        hits
    }

    /// Char indices of `query` in the entry's name, for highlighting (empty when the name did
    /// not match, e.g. a tag or notes match).
    pub fn name_indices(&self, index: usize, query: &str) -> Vec<usize> {
        let query = query.trim();
        if query.is_empty() {
            return Vec::new();
        }
        self.matcher
            .fuzzy_indices(&self.entries[index].name, query)
            .map(|(_, idx)| idx)
            .unwrap_or_default()
    }
}

/// Which characters a string holds, case-folded: one bit per ASCII letter and digit, one bit
/// for anything else (spaces excepted). A query can only match a haystack whose mask covers
/// the query's.
fn char_mask(s: &str) -> u64 {
    let mut m = 0u64;
    for c in s.chars().flat_map(char::to_lowercase) {
        m |= match c {
            'a'..='z' => 1 << (c as u32 - 'a' as u32),
            '0'..='9' => 1 << (26 + c as u32 - '0' as u32),
            ' ' => 0,
            _ => 1 << 63,
        };
    }
    m
}

/// Whether the characters of `query` (spaces aside) appear in `hay` in order: what any fuzzy
/// match needs, checked without the matcher's scoring.
fn in_order(hay: &str, query: &str) -> bool {
    let mut h = hay.chars();
    query
        .chars()
        .filter(|c| *c != ' ')
        .all(|q| h.by_ref().any(|c| c == q))
}

/// Fuzzy score of a query against an ID (ASCII, 17 characters): every query character in
/// order, scored by how many run on from the previous match and how few are skipped. IDs are
/// all alike, so this simple scorer ranks them as well as the general matcher, far faster.
fn id_score(id: &str, query_lc: &str) -> Option<i64> {
    let id = id.as_bytes();
    let mut at = 0usize;
    let mut last: Option<usize> = None;
    let mut score = 0i64;
    for q in query_lc.bytes().filter(|b| *b != b' ') {
        let found = id[at..].iter().position(|&c| c == q)? + at;
        score += 16;
        match last {
            Some(l) if found == l + 1 => score += 8,
            Some(l) => score -= (found - l - 1) as i64,
            None => score -= found.min(5) as i64,
        }
        last = Some(found);
        at = found + 1;
    }
    Some(score)
}

/// Convenience: search a slice of characters, best first.
pub fn search<'a>(chars: &'a [Character], query: &str) -> Vec<&'a Character> {
    let s = Searcher::from_characters(chars);
    s.search(query, None)
        .into_iter()
        .map(|h| &chars[h.index])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, id: &str) -> SearchEntry {
        SearchEntry {
            name: name.into(),
            id: id.into(),
            name_lc: name.to_lowercase(),
            name_mask: char_mask(name),
            id_mask: char_mask(id),
            tags_lc: vec![],
            notes_lc: String::new(),
        }
    }

    #[test]
    fn the_mask_never_hides_a_match() {
        let names = [
            "Wolfgang",
            "wolf_3123",
            "Captain Nova",
            "José Ñandú",
            "ÆON",
            "r2-d2",
            "char-lie",
            "日本の猫",
        ];
        let entries: Vec<SearchEntry> = names
            .iter()
            .enumerate()
            .map(|(i, n)| entry(n, &format!("char_abcdefgh{:04}", 2345 + i)))
            .collect();
        let s = Searcher::new(entries);
        let plain = SkimMatcherV2::default().ignore_case();
        let queries = [
            "w", "wo", "wlf", "WOLF", "3123", "nova", "cn", "josé", "ñ", "æ", "r2", "d-2", "猫",
            "lie", "x", "gang ", "q",
        ];
        for q in queries {
            for (i, n) in names.iter().enumerate() {
                let direct = plain.fuzzy_match(n, q.trim()).is_some();
                let masked = s.score(i, q.trim(), &q.trim().to_lowercase()).is_some();
                assert!(
                    !direct || masked,
                    "{q:?} matches {n:?} but the search missed it"
                );
            }
        }
    }

    #[test]
    fn best_first_and_narrowing_agree() {
        let entries = vec![
            entry("wolf", "char_aaaaaaaaaaaa"),
            entry("wolfgang", "char_bbbbbbbbbbbb"),
            entry("owl", "char_cccccccccccc"),
        ];
        let s = Searcher::new(entries);
        let w = s.search("w", None);
        assert_eq!(w.len(), 3);
        let wo = s.search("wo", Some(&w));
        assert_eq!(wo, s.search("wo", None));
        assert_eq!(wo[0].index, 0, "the exact prefix ranks first");
    }
}
