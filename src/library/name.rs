//! Character names (SPEC section 2): NFC + trim, 1-80 scalar values, no control or bidi
//! characters, nothing that looks like an ID; uniqueness compares NFC + lowercase.

use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};

pub const MAX_NAME_CHARS: usize = 80;

/// Normalise and validate a name as given by the user; returns the name to store.
pub fn normalize_name(raw: &str) -> Result<String> {
    let name: String = raw.nfc().collect::<String>().trim().to_string();
    if name.is_empty() {
        return Err(Error::input(
            "name_empty",
            "the name is empty: give the character a name, e.g. --name \"Captain Nova\"",
        ));
    }
    let count = name.chars().count();
    if count > MAX_NAME_CHARS {
        return Err(Error::input(
            "name_too_long",
            format!(
                "the name is {count} characters long, over the {MAX_NAME_CHARS}-character limit: shorten it"
            ),
        ));
    }
    if let Some(c) = name.chars().find(|c| is_bidi_control(*c)) {
        return Err(Error::input(
            "name_invalid",
            format!(
                "the name contains the bidi control U+{:04X}: remove it",
                c as u32
            ),
        ));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(Error::input(
            "name_invalid",
            format!(
                "the name contains the control character U+{:04X}: use printable characters only",
                c as u32
            ),
        ));
    }
    if looks_like_id(&name) {
        return Err(Error::input(
            "name_invalid",
            format!(
                "the name {name:?} looks like a character ID (char_...): choose a name that does not start with \"char_\""
            ),
        ));
    }
    Ok(name)
}

/// The key names are compared by for uniqueness.
pub fn name_key(name: &str) -> String {
    name.nfc().collect::<String>().trim().to_lowercase()
}

fn is_bidi_control(c: char) -> bool {
    matches!(c as u32, 0x202A..=0x202E | 0x2066..=0x2069 | 0x200E | 0x200F | 0x061C)
}

/// True when the name could be mistaken for an ID: starts with `char_` in any case, or with a
/// compatibility-equivalent spelling (fullwidth letters, other underscores or dashes).
pub fn looks_like_id(name: &str) -> bool {
    let folded: String = name
        .nfkc()
        .take(8)
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            '-' | '‐' | '‑' | '‒' | '–' | '—' | '＿' | ' ' | '.' => '_',
            'с' => 'c', // Cyrillic es
            'һ' => 'h', // Cyrillic shha
            'а' => 'a', // Cyrillic a
            'г' => 'r',
            _ => c,
        })
        .collect();
    folded.starts_with("char_")
}

/// True when `s` has the shape of a castbook ID.
pub fn is_id(s: &str) -> bool {
    s.len() == 17
        && s.starts_with("char_")
        && s[5..]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
}

/// A tag as stored: NFC, trimmed, inner whitespace collapsed, `;` (the export separator)
/// and control characters removed.
pub fn normalize_tag(raw: &str) -> String {
    // Removed first, then composed: a mark left next to a letter by a removal is composed too.
    let t: String = raw
        .chars()
        .filter(|c| !c.is_control() && *c != ';' && !is_bidi_control(*c))
        .nfc()
        .collect();
    t.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfc_and_trim() {
        let n = normalize_name("  Jose\u{301}  ").unwrap();
        assert_eq!(n, "José");
        assert_eq!(n.chars().count(), 4);
    }

    #[test]
    fn counts_scalars_not_bytes() {
        let eighty = "é".repeat(80);
        assert!(normalize_name(&eighty).is_ok());
        let e = normalize_name(&"é".repeat(81)).unwrap_err();
        assert_eq!(e.code, "name_too_long");
        assert!(e.message.contains("81"));
    }

    #[test]
    fn rejects_controls_and_bidi() {
        assert_eq!(normalize_name("a\u{7}b").unwrap_err().code, "name_invalid");
        assert_eq!(
            normalize_name("a\u{202E}b").unwrap_err().code,
            "name_invalid"
        );
        assert_eq!(
            normalize_name("a\u{2066}b").unwrap_err().code,
            "name_invalid"
        );
        assert_eq!(normalize_name("   ").unwrap_err().code, "name_empty");
    }

    #[test]
    fn rejects_id_lookalikes() {
        for n in [
            "char_abc",
            "CHAR_abc",
            "ｃｈａｒ＿abc",
            "char-abc",
            "сhar_x",
        ] {
            assert_eq!(normalize_name(n).unwrap_err().code, "name_invalid", "{n}");
        }
        assert!(normalize_name("charlie").is_ok());
        assert!(normalize_name("char").is_ok());
    }

    #[test]
    fn id_shape() {
        assert!(is_id("char_abcdefgh2345"));
        assert!(!is_id("char_abcdefgh2341"));
        assert!(!is_id("char_ABCDEFGH2345"));
        assert!(!is_id("char_abc"));
    }

    #[test]
    fn a_tag_is_normalised_once_for_all() {
        // A bidi control between a letter and its combining mark (found by tests/fuzz.rs).
        let t = normalize_tag("  oshe\u{2066}\u{2066}\u{301} x;");
        assert_eq!(t, "oshé x");
        assert_eq!(normalize_tag(&t), t);
    }

    #[test]
    fn key_is_case_insensitive() {
        assert_eq!(name_key("Wolf"), name_key("wOLF"));
    }
}
