//! The start-up question to the terminal: which image protocol it speaks and how big a cell
//! is. One query (kitty graphics, cell size, then primary device attributes, which every
//! terminal answers), read back for a bounded time; the replies are parsed out and any other
//! byte (a key typed meanwhile) is kept and handed to the app as a key. Nothing is wrapped in
//! tmux passthrough: inside tmux (`$TMUX` set) nothing is asked at all.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui_image::picker::{Picker, ProtocolType};

/// How long the replies are waited for at most (a terminal over SSH answers within a round
/// trip; one that never answers costs this once).
pub const QUERY_TIMEOUT: Duration = Duration::from_millis(1000);
/// Bytes kept from the reply stream at most (replies and typed keys together).
const MAX_BYTES: usize = 16 * 1024;
/// A reply longer than this is not one: its bytes are kept as typed input.
const MAX_REPLY: usize = 512;

/// The query: kitty graphics (a 1x1 test image, answered only by kitty-capable terminals),
/// the cell size in pixels, and the primary device attributes (answered by every terminal,
/// so its reply ends the wait).
pub const QUERY: &[u8] = b"\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\\x1b[16t\x1b[c";

/// What the replies said.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Answer {
    pub kitty: bool,
    pub sixel: bool,
    /// Cell width and height in pixels.
    pub cell: Option<(u16, u16)>,
    /// The primary device attributes came back (the reply stream is complete).
    pub done: bool,
    /// Everything that was not a reply: keys typed while the query ran.
    pub typed: Vec<u8>,
}

impl Answer {
    pub fn protocol(&self) -> ProtocolType {
        if self.kitty {
            ProtocolType::Kitty
        } else if self.sixel {
            ProtocolType::Sixel
        } else {
            ProtocolType::Halfblocks
        }
    }
}

enum Reply {
    Kitty(bool),
    CellSize(Option<(u16, u16)>),
    DeviceAttributes { sixel: bool },
}

enum Verdict {
    /// Could still become a reply.
    Partial,
    Typed,
    Reply(Reply),
}

fn classify(p: &[u8]) -> Verdict {
    if p.first() != Some(&0x1b) {
        return Verdict::Typed;
    }
    if p.len() == 1 {
        return Verdict::Partial;
    }
    if p.len() > MAX_REPLY {
        return Verdict::Typed;
    }
    match p[1] {
        // APC: ESC _ G ... ESC \
        b'_' => {
            if p.len() == 2 {
                Verdict::Partial
            } else if p[2] != b'G' {
                Verdict::Typed
            } else if p.len() > 4 && p.ends_with(b"\x1b\\") {
                let body = String::from_utf8_lossy(&p[3..p.len() - 2]).into_owned();
                Verdict::Reply(Reply::Kitty(
                    body.starts_with("i=31") && body.contains(";OK"),
                ))
            } else {
                Verdict::Partial
            }
        }
        // CSI: ESC [ params final
        b'[' => {
            if p.len() == 2 {
                return Verdict::Partial;
            }
            let last = p[p.len() - 1];
            if last.is_ascii_digit() || last == b';' || last == b'?' {
                return Verdict::Partial;
            }
            let text = String::from_utf8_lossy(&p[2..p.len() - 1]).into_owned();
            match last {
                b'c' if text.starts_with('?') => Verdict::Reply(Reply::DeviceAttributes {
                    sixel: text[1..].split(';').any(|f| f == "4"),
                }),
                b't' if text.starts_with("6;") => {
                    let mut it = text[2..].split(';').map(|n| n.parse::<u16>().ok());
                    let cell = match (it.next(), it.next()) {
                        (Some(Some(h)), Some(Some(w))) if w > 0 && h > 0 => Some((w, h)),
                        _ => None,
                    };
                    Verdict::Reply(Reply::CellSize(cell))
                }
                _ => Verdict::Typed,
            }
        }
        _ => Verdict::Typed,
    }
}

/// Splits the bytes read after the query into replies and typed input.
#[derive(Debug, Default)]
pub struct ReplyParser {
    pending: Vec<u8>,
    pub answer: Answer,
}

impl ReplyParser {
    pub fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.answer.typed.len() + self.pending.len() >= MAX_BYTES {
                return;
            }
            self.pending.push(b);
            self.step();
        }
    }

    /// Whether `pending` is a complete reply, a prefix of one, or not a reply.
    fn step(&mut self) {
        match classify(&self.pending) {
            Verdict::Partial => {}
            Verdict::Typed => self.not_a_reply(),
            Verdict::Reply(r) => {
                match r {
                    Reply::Kitty(ok) => self.answer.kitty |= ok,
                    Reply::CellSize(cell) => self.answer.cell = cell.or(self.answer.cell),
                    Reply::DeviceAttributes { sixel } => {
                        self.answer.sixel |= sixel;
                        self.answer.done = true;
                    }
                }
                self.pending.clear();
            }
        }
    }

    /// The pending bytes were typed (an arrow key, Esc then a letter, ...).
    fn not_a_reply(&mut self) {
        self.answer.typed.append(&mut self.pending);
    }

    /// The answer, with any unfinished sequence counted as typed.
    pub fn finish(mut self) -> Answer {
        self.not_a_reply();
        self.answer
    }
}

/// Whether the terminal can be asked directly: not inside tmux or screen (which answer for
/// themselves and would need passthrough) and not a dumb terminal.
pub fn should_query() -> bool {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    let term = std::env::var("TERM").unwrap_or_default();
    !(set("TMUX") || set("STY") || term.is_empty() || term == "dumb")
}

/// Ask the terminal on stdin/stdout (in raw mode) and read the replies until the device
/// attributes come back or `timeout` passes.
pub fn query(timeout: Duration) -> io::Result<Answer> {
    let mut out = io::stdout();
    out.write_all(QUERY)?;
    out.flush()?;
    let mut parser = ReplyParser::default();
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 1024];
    while !parser.answer.done {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let mut pfd = libc::pollfd {
            fd: libc::STDIN_FILENO,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, 60_000) as libc::c_int;
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            break;
        }
        // SAFETY: reading into a buffer of its own length.
        let r = unsafe { libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len()) };
        if r <= 0 {
            break;
        }
        parser.push(&buf[..r as usize]);
    }
    Ok(parser.finish())
}

/// A picker for `protocol` and `cell` size. The picker's own constructors run
/// `tmux set -p allow-passthrough on` when `$TERM` names tmux (even without `$TMUX`, and even
/// for half-blocks): that is hidden from them here, so nothing outside the app changes.
pub fn picker(protocol: ProtocolType, cell: Option<(u16, u16)>) -> Picker {
    let saved: Vec<(&str, Option<std::ffi::OsString>)> = ["TERM", "TERM_PROGRAM"]
        .into_iter()
        .map(|k| (k, std::env::var_os(k)))
        .collect();
    let tmux_like = saved.iter().any(|(_, v)| {
        v.as_ref()
            .is_some_and(|v| v.to_string_lossy().starts_with("tmux"))
    });
    if tmux_like {
        for (k, _) in &saved {
            // SAFETY: called before the app starts any task or thread of its own; the
            // runtime's idle workers do not read the environment.
            unsafe { std::env::remove_var(k) };
        }
    }
    #[allow(deprecated)]
    let mut p = Picker::from_fontsize(cell.unwrap_or((10, 20)));
    if tmux_like {
        for (k, v) in saved {
            if let Some(v) = v {
                // SAFETY: as above.
                unsafe { std::env::set_var(k, v) };
            }
        }
    }
    p.set_protocol_type(protocol);
    p
}

/// The keys in bytes typed while the query ran (printable text, Enter, Tab, Backspace, Esc,
/// arrows, Home/End, PgUp/PgDn, Delete, Ctrl-letters); anything else is dropped.
pub fn decode_keys(bytes: &[u8]) -> Vec<KeyEvent> {
    let mut out = Vec::new();
    let text = String::from_utf8_lossy(bytes);
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let key = |code| KeyEvent::new(code, KeyModifiers::NONE);
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '\x1b' => {
                let (code, used) = match (chars.get(i), chars.get(i + 1), chars.get(i + 2)) {
                    (Some('[') | Some('O'), Some(&k), next) => {
                        let code = match k {
                            'A' => Some(KeyCode::Up),
                            'B' => Some(KeyCode::Down),
                            'C' => Some(KeyCode::Right),
                            'D' => Some(KeyCode::Left),
                            'H' => Some(KeyCode::Home),
                            'F' => Some(KeyCode::End),
                            'Z' => Some(KeyCode::BackTab),
                            _ => None,
                        };
                        match (code, next) {
                            (Some(code), _) => (Some(code), 2),
                            (None, Some('~')) => (
                                match k {
                                    '1' | '7' => Some(KeyCode::Home),
                                    '4' | '8' => Some(KeyCode::End),
                                    '3' => Some(KeyCode::Delete),
                                    '5' => Some(KeyCode::PageUp),
                                    '6' => Some(KeyCode::PageDown),
                                    _ => None,
                                },
                                3,
                            ),
                            _ => {
                                // An unknown sequence: skip to its final byte.
                                let mut j = i + 1;
                                while j < chars.len() && !('@'..='~').contains(&chars[j]) {
                                    j += 1;
                                }
                                (None, j + 1 - i)
                            }
                        }
                    }
                    _ => (Some(KeyCode::Esc), 0),
                };
                i += used;
                if let Some(code) = code {
                    out.push(key(code));
                }
            }
            '\r' | '\n' => out.push(key(KeyCode::Enter)),
            '\t' => out.push(key(KeyCode::Tab)),
            '\x7f' | '\x08' => out.push(key(KeyCode::Backspace)),
            '\x01'..='\x1a' => out.push(KeyEvent::new(
                KeyCode::Char((b'a' + (c as u8 - 1)) as char),
                KeyModifiers::CONTROL,
            )),
            c if !c.is_control() => out.push(key(KeyCode::Char(c))),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_parsed_and_typed_bytes_kept() {
        let mut p = ReplyParser::default();
        // A key typed before the replies, the kitty reply, the cell size, a key, then DA1.
        p.push(b"j\x1b_Gi=31;OK\x1b\\\x1b[6;20;10t\x1b[Ak\x1b[?62;4;22c");
        let a = p.finish();
        assert!(a.kitty && a.sixel && a.done);
        assert_eq!(a.cell, Some((10, 20)));
        assert_eq!(a.typed, b"j\x1b[Ak");
        assert_eq!(
            decode_keys(&a.typed),
            vec![
                KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE),
                KeyEvent::new(KeyCode::Up, KeyModifiers::NONE),
                KeyEvent::new(KeyCode::Char('k'), KeyModifiers::NONE),
            ]
        );
    }

    #[test]
    fn replies_split_across_reads_and_a_terminal_without_graphics() {
        let mut p = ReplyParser::default();
        for b in b"\x1b[?1;2c" {
            p.push(&[*b]);
        }
        let a = p.finish();
        assert!(a.done && !a.kitty && !a.sixel && a.typed.is_empty());
        assert_eq!(a.protocol(), ProtocolType::Halfblocks);
    }

    #[test]
    fn a_lone_escape_and_an_error_reply_stay_input() {
        let mut p = ReplyParser::default();
        p.push(b"\x1b_Gi=31;ENOTSUPPORTED\x1b\\\x1b");
        let a = p.finish();
        assert!(!a.kitty && !a.done);
        assert_eq!(decode_keys(&a.typed), vec![KeyEvent::from(KeyCode::Esc)]);
    }

    #[test]
    fn endless_input_is_bounded() {
        let mut p = ReplyParser::default();
        p.push(b"\x1b[");
        p.push(&vec![b'1'; 10_000]);
        p.push(&vec![b'x'; 100_000]);
        let a = p.finish();
        assert!(a.typed.len() <= MAX_BYTES);
    }
}
