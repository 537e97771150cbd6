//! Export (the "character spreadsheet", SPEC section 3): CSV with columns
//! `id,name,tags,notes,created_at,providers`, RFC 4180 quoting, and a leading `'` on any cell
//! that starts with `= + - @` so a spreadsheet never runs it as a formula; or JSON records.
//! Control characters never leave raw: in CSV they are written visibly escaped (`\u{1b}`,
//! `\n`); in JSON the ones serde leaves raw (DEL, C1, bidi controls) become `\uXXXX`.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::library::record::Character;
use crate::util::escape_display;

pub const CSV_HEADER: [&str; 6] = ["id", "name", "tags", "notes", "created_at", "providers"];

/// A CSV cell as written: control characters escaped visibly, then guarded.
pub fn csv_cell(s: &str) -> String {
    guard_cell(&escape_display(s))
}

/// JSON text with every control or bidi character that is still raw (serde_json escapes only
/// U+0000-001F) written as a `\uXXXX` escape; the JSON means the same.
pub fn json_escape_controls(json: String) -> String {
    let raw = |c: char| {
        c.is_control() && c != '\n' || matches!(c as u32, 0x202A..=0x202E | 0x2066..=0x2069)
    };
    if !json.chars().any(raw) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if raw(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Neutralise a cell a spreadsheet would read as a formula.
pub fn guard_cell(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@') => format!("'{s}"),
        _ => s.to_string(),
    }
}

pub fn write_csv(out: impl Write, chars: &[Character]) -> Result<()> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(out);
    let err = |e: csv::Error| Error::processing("export", format!("writing the CSV failed: {e}"));
    w.write_record(CSV_HEADER).map_err(err)?;
    for c in chars {
        let providers = c
            .provider_ids
            .iter()
            .map(|(k, v)| format!("{k}={}", v.id))
            .collect::<Vec<_>>()
            .join(";");
        let row = [
            c.id.clone(),
            c.name.clone(),
            c.tags.join(";"),
            c.notes.clone(),
            c.created_at.clone(),
            providers,
        ];
        w.write_record(row.iter().map(|s| csv_cell(s)))
            .map_err(err)?;
    }
    w.flush()
        .map_err(|e| Error::processing("export", format!("writing the CSV failed: {e}")))?;
    Ok(())
}

/// The format of an export file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    /// JSON for a `.json` name, CSV otherwise.
    pub fn from_path(path: &Path) -> Format {
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            Format::Json
        } else {
            Format::Csv
        }
    }
}

/// Write an export file atomically: a temporary file in the same folder, renamed over the
/// name at the end, so a reader never sees half a file and nothing is left behind on error.
/// Without `overwrite` an existing file is refused (and is never touched).
pub fn write_file(path: &Path, chars: &[Character], format: Format, overwrite: bool) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    if !dir.is_dir() {
        return Err(Error::input(
            "output",
            format!(
                "cannot write {}: the folder {} does not exist; create it or choose another --output",
                path.display(),
                dir.display()
            ),
        ));
    }
    if !overwrite && path.exists() {
        return Err(exists(path));
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".castbook-export")
        .tempfile_in(&dir)
        .map_err(|e| Error::io("writing the export in", &dir, &e))?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        match format {
            Format::Csv => write_csv(&mut w, chars)?,
            Format::Json => write_json(&mut w, chars)?,
        }
        w.flush().map_err(|e| Error::io("writing", path, &e))?;
    }
    if overwrite {
        tmp.persist(path)
            .map_err(|e| Error::io("writing", path, &e.error))?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                exists(path)
            } else {
                Error::io("writing", path, &e.error)
            }
        })?;
    }
    Ok(())
}

fn exists(path: &Path) -> Error {
    Error::input(
        "exists",
        format!(
            "{} exists already: choose another name, or confirm to replace it",
            crate::util::escape_display(&path.display().to_string())
        ),
    )
}

pub fn write_json(mut out: impl Write, chars: &[Character]) -> Result<()> {
    let fail = |e: &dyn std::fmt::Display| {
        Error::processing("export", format!("writing the JSON failed: {e}"))
    };
    let text = serde_json::to_string_pretty(chars).map_err(|e| fail(&e))?;
    out.write_all(json_escape_controls(text).as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .map_err(|e| fail(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_formula_cells() {
        assert_eq!(guard_cell("=1+1"), "'=1+1");
        assert_eq!(guard_cell("+x"), "'+x");
        assert_eq!(guard_cell("-x"), "'-x");
        assert_eq!(guard_cell("@x"), "'@x");
        assert_eq!(guard_cell("x=1"), "x=1");
        assert_eq!(guard_cell(""), "");
    }

    #[test]
    fn cells_never_carry_control_characters() {
        assert_eq!(csv_cell("a\u{1b}]0;x\u{7}b"), "a\\u{1b}]0;x\\u{7}b");
        assert_eq!(csv_cell("line\nbreak"), "line\\nbreak");
        assert_eq!(csv_cell("\u{202E}=1"), "\\u{202e}=1");
        assert_eq!(csv_cell("=1"), "'=1");
    }

    #[test]
    fn json_keeps_its_meaning_without_raw_controls() {
        let v = serde_json::json!({"n": "a\u{9b}b\u{7f}c\u{202E}d\u{1b}e", "k": [1, 2]});
        let text = json_escape_controls(serde_json::to_string_pretty(&v).unwrap());
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(text.contains("\\u009b"), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
    }
}
