//! Small helpers shared by the front ends.

/// Show a string with control characters and escape sequences escaped, never raw.
pub fn escape_display(s: &str) -> String {
    escaped(s).into_owned()
}

/// `escape_display`, borrowing `s` when nothing in it needs escaping.
pub fn escaped(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c as u32, 0x202A..=0x202E | 0x2066..=0x2069)
}

/// Human size: 12 MB, 2.1 KB.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else if v < 10.0 {
        format!("{v:.1} {}", UNITS[u])
    } else {
        format!("{v:.0} {}", UNITS[u])
    }
}

/// A URL without its query and fragment: what it points at, without a presigned URL's
/// signature (which grants access and is not kept or shown).
pub fn url_without_query(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls() {
        assert_eq!(escape_display("a\x1b[31mb"), "a\\u{1b}[31mb");
        assert_eq!(escape_display("plain é"), "plain é");
        assert_eq!(escape_display("a\nb"), "a\\nb");
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(12_000_000), "12 MB");
        assert_eq!(human_size(2_100), "2.1 KB");
    }
}
