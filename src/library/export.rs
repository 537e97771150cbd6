//! Export (the "character spreadsheet", SPEC section 3): CSV with columns
//! `id,name,tags,notes,created_at,providers`, RFC 4180 quoting, and a leading `'` on any cell
//! that starts with `= + - @` so a spreadsheet never runs it as a formula; or JSON records.

use std::io::Write;

use crate::error::{Error, Result};
use crate::library::record::Character;

pub const CSV_HEADER: [&str; 6] = ["id", "name", "tags", "notes", "created_at", "providers"];

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
            .map(|(k, v)| format!("{k}={v}"))
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
        w.write_record(row.iter().map(|s| guard_cell(s)))
            .map_err(err)?;
    }
    w.flush()
        .map_err(|e| Error::processing("export", format!("writing the CSV failed: {e}")))?;
    Ok(())
}

pub fn write_json(mut out: impl Write, chars: &[Character]) -> Result<()> {
    serde_json::to_writer_pretty(&mut out, chars)
        .map_err(|e| Error::processing("export", format!("writing the JSON failed: {e}")))?;
    out.write_all(b"\n")
        .map_err(|e| Error::processing("export", format!("writing the JSON failed: {e}")))?;
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
}
