//! Copying text: always the OSC 52 escape (works over SSH, and in tmux with
//! `set -g set-clipboard on`), then a local clipboard tool when one is present.

use std::io::Write;
use std::process::{Command, Stdio};

/// The OSC 52 sequence that sets the system clipboard to `text`.
pub fn osc52(text: &str) -> Vec<u8> {
    let mut out = b"\x1b]52;c;".to_vec();
    out.extend_from_slice(data_encoding::BASE64.encode(text.as_bytes()).as_bytes());
    out.push(0x07);
    out
}

/// Local clipboard tools to try, in order, for this environment.
fn local_tools() -> Vec<(&'static str, &'static [&'static str])> {
    let mut tools: Vec<(&'static str, &'static [&'static str])> = Vec::new();
    if cfg!(target_os = "macos") {
        tools.push(("pbcopy", &[]));
    }
    if std::env::var_os("WAYLAND_DISPLAY").is_some() {
        tools.push(("wl-copy", &[]));
    }
    if std::env::var_os("DISPLAY").is_some() {
        tools.push(("xclip", &["-selection", "clipboard"]));
        tools.push(("xsel", &["--clipboard", "--input"]));
    }
    tools
}

/// Hand `text` to the first local clipboard tool that starts, on a background thread so the
/// interface never waits for it. Returns false when there is none to try.
pub fn copy_local(text: &str) -> bool {
    let tools = local_tools();
    if tools.is_empty() {
        return false;
    }
    let text = text.to_string();
    std::thread::spawn(move || {
        for (bin, args) in tools {
            let child = Command::new(bin)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            if let Ok(mut child) = child {
                if let Some(mut stdin) = child.stdin.take() {
                    let _ = stdin.write_all(text.as_bytes());
                }
                let _ = child.wait();
                return;
            }
        }
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc52_exact_bytes() {
        assert_eq!(
            osc52("char_abcdefghijkl"),
            b"\x1b]52;c;Y2hhcl9hYmNkZWZnaGlqa2w=\x07".to_vec()
        );
        assert_eq!(osc52(""), b"\x1b]52;c;\x07".to_vec());
    }
}
