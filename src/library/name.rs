//! Character names (SPEC section 2): NFC + trim, 1-80 scalar values, no control, bidi or
//! invisible characters, nothing that looks like an ID; uniqueness compares what is seen
//! (NFC, invisible characters dropped, spaces folded, lowercase). Notes and tags follow the
//! same control-character rule.

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
    check_printable("name_invalid", "the name contains", &name)?;
    if let Some((pos, c)) = stray_invisible(&name) {
        return Err(Error::input(
            "name_invalid",
            format!(
                "the name contains the invisible character U+{:04X}{} at character {pos}: remove it (names that look the same must be the same)",
                c as u32,
                char_label(c)
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

/// The key names are compared by for uniqueness: what is seen. NFC, invisible characters
/// dropped, any run of spaces one space, trimmed, lowercase.
pub fn name_key(name: &str) -> String {
    if name.is_ascii() {
        // The same steps, quicker (a check under the lock compares every name): ASCII is
        // NFC already and holds no invisible character.
        let mut key = String::with_capacity(name.len());
        for word in name.split_whitespace() {
            if !key.is_empty() {
                key.push(' ');
            }
            key.push_str(word);
        }
        key.make_ascii_lowercase();
        return key;
    }
    let visible: String = name.nfc().filter(|c| !is_default_ignorable(*c)).collect();
    visible
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Check notes as given by the user: the control-character rule of names (no control or
/// bidi characters; a line break is a control character too).
pub fn check_notes(notes: &str) -> Result<()> {
    check_printable("notes_invalid", "the notes contain", notes)
}

/// Check tags as given by the user: the control-character rule of names.
pub fn check_tags<S: AsRef<str>>(tags: &[S]) -> Result<()> {
    for t in tags {
        let t = t.as_ref();
        check_printable(
            "tag_invalid",
            &format!("the tag {:?} contains", crate::util::escape_display(t)),
            t,
        )?;
    }
    Ok(())
}

/// One error for the first control or bidi character of `text`: which, where, the fix.
fn check_printable(code: &'static str, what: &str, text: &str) -> Result<()> {
    let found = text
        .chars()
        .enumerate()
        .find(|(_, c)| c.is_control() || is_bidi_control(*c));
    let Some((i, c)) = found else {
        return Ok(());
    };
    let kind = if is_bidi_control(c) {
        "bidi control"
    } else {
        "control character"
    };
    Err(Error::input(
        code,
        format!(
            "{what} the {kind} U+{:04X}{} at character {}: remove it and use printable characters only",
            c as u32,
            char_label(c),
            i + 1
        ),
    ))
}

/// A short name for the characters people meet most, e.g. " (escape)".
fn char_label(c: char) -> &'static str {
    match c {
        '\0' => " (null)",
        '\u{7}' => " (bell)",
        '\u{8}' => " (backspace)",
        '\t' => " (tab)",
        '\n' => " (line feed)",
        '\r' => " (carriage return)",
        '\u{1b}' => " (escape)",
        '\u{7f}' => " (delete)",
        '\u{ad}' => " (soft hyphen)",
        '\u{200b}' => " (zero-width space)",
        '\u{200c}' => " (zero-width non-joiner)",
        '\u{200d}' => " (zero-width joiner)",
        '\u{2060}' => " (word joiner)",
        '\u{feff}' => " (zero-width no-break space)",
        '\u{fe00}'..='\u{fe0f}' => " (variation selector)",
        _ => "",
    }
}

/// Unicode's Default_Ignorable_Code_Point: characters that show nothing by themselves.
pub fn is_default_ignorable(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F..=0x1160 | 0x17B4..=0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFF8 | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
        | 0xE0000..=0xE0FFF)
}

/// The first invisible character that is not part of what it follows (1-based position).
/// Joiners and variation selectors are kept where they shape a visible neighbour (emoji
/// sequences like 👩‍🚀 or ❤️, scripts that need a joiner); anywhere else, and every other
/// invisible character, is refused. Either way names are compared without them.
fn stray_invisible(name: &str) -> Option<(usize, char)> {
    let chars: Vec<char> = name.chars().collect();
    let visible = |c: Option<&char>| {
        c.is_some_and(|c| !is_default_ignorable(*c) && !c.is_whitespace() && !c.is_control())
    };
    for (i, &c) in chars.iter().enumerate() {
        if !is_default_ignorable(c) {
            continue;
        }
        let prev = i.checked_sub(1).and_then(|p| chars.get(p));
        let next = chars.get(i + 1);
        let shaping = match c as u32 {
            // Joiners: between two visible characters, after one that is not plain ASCII.
            0x200C | 0x200D => visible(prev) && visible(next) && !prev.is_some_and(char::is_ascii),
            // Variation selectors: right after a visible character (or a keycap's digit).
            0xFE00..=0xFE0F | 0xE0100..=0xE01EF => {
                visible(prev)
                    && (!prev.is_some_and(char::is_ascii)
                        || prev.is_some_and(|p| p.is_ascii_digit() || matches!(p, '#' | '*')))
            }
            // Emoji tag sequences (subdivision flags): after the black flag or another tag.
            0xE0020..=0xE007F => prev
                .is_some_and(|p| *p == '\u{1F3F4}' || (0xE0020..=0xE007F).contains(&(*p as u32))),
            _ => false,
        };
        if !shaping {
            return Some((i + 1, c));
        }
    }
    None
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
/// and control characters removed (`check_tags` refuses them first where a user types).
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
    fn ascii_keys_are_made_as_any_other() {
        let slow = |name: &str| -> String {
            let visible: String = name.nfc().filter(|c| !is_default_ignorable(*c)).collect();
            visible
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
        };
        for name in [
            "Wolf",
            "  Big   Wolf ",
            "a\tb\nc\x0bd\x0ce\rf",
            "\x1c\x1fX",
            "MiXeD 123 !@#",
            "",
            "   ",
        ] {
            assert!(name.is_ascii());
            assert_eq!(name_key(name), slow(name), "{name:?}");
        }
        assert_eq!(name_key("Zo\u{e9}"), slow("Zo\u{e9}"));
    }

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

    #[test]
    fn invisible_characters_are_refused_and_ignored_when_comparing() {
        for n in [
            "Wo\u{200B}lf",
            "Wolf\u{FEFF}",
            "Wo\u{AD}lf",
            "Wo\u{2060}lf",
            "Wo\u{2063}lf",
            "Wolf\u{FE0F}",
            "W\u{200D}olf",
            "\u{200D}Wolf",
            "Wo\u{E0041}lf",
            "Wo\u{180E}lf",
        ] {
            let e = normalize_name(n).unwrap_err();
            assert_eq!(e.code, "name_invalid", "{n:?}");
            assert!(e.message.contains("invisible"), "{n:?}: {}", e.message);
        }
        let e = normalize_name("Wo\u{200B}lf").unwrap_err();
        assert!(e.message.contains("U+200B"), "{}", e.message);
        assert!(e.message.contains("character 3"), "{}", e.message);
        // Emoji sequences keep their joiners and selectors.
        for n in [
            "Astro 👩\u{200D}🚀",
            "Heart ❤\u{FE0F}",
            "Key 1\u{FE0F}\u{20E3}",
        ] {
            assert!(normalize_name(n).is_ok(), "{n:?}");
        }
        // Compared on what is seen.
        assert_eq!(name_key("Wo\u{200B}lf"), name_key("wolf"));
        assert_eq!(name_key("Big\u{A0}Wolf"), name_key("big  wolf"));
        assert_eq!(name_key("Heart ❤\u{FE0F}"), name_key("heart ❤"));
    }

    #[test]
    fn notes_and_tags_refuse_control_characters() {
        let e = check_notes("hero\u{1b}]0;pwned\u{7}").unwrap_err();
        assert_eq!(e.code, "notes_invalid");
        assert!(e.message.contains("U+001B (escape)"), "{}", e.message);
        assert!(e.message.contains("character 5"), "{}", e.message);
        assert_eq!(check_notes("a\nb").unwrap_err().code, "notes_invalid");
        assert_eq!(check_notes("a\u{202E}b").unwrap_err().code, "notes_invalid");
        assert!(check_notes("walks left, then right; é ✓").is_ok());
        let e = check_tags(&["ok", "b\u{8}ad"]).unwrap_err();
        assert_eq!(e.code, "tag_invalid");
        assert!(e.message.contains("U+0008"), "{}", e.message);
        assert!(check_tags(&["hero", "side kick"]).is_ok());
    }
}
