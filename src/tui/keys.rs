//! The key map: which keys trigger which action. The help overlay and the status bar are
//! both built from it, and `[keys]` in the config can rebind any action
//! (`create = "n"` or `quit = ["q", "f10"]`).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::tui::action::Action;

/// One key with its modifiers, normalised (a shifted letter is just the capital letter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    pub const fn new(code: KeyCode, mods: KeyModifiers) -> Self {
        Key { code, mods }
    }
    pub const fn plain(code: KeyCode) -> Self {
        Key::new(code, KeyModifiers::NONE)
    }
    pub const fn char(c: char) -> Self {
        Key::plain(KeyCode::Char(c))
    }
    pub const fn ctrl(c: char) -> Self {
        Key::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    /// The key a terminal event stands for.
    pub fn from_event(ev: &KeyEvent) -> Self {
        let mut mods =
            ev.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match ev.code {
            KeyCode::Char(c) => {
                mods.remove(KeyModifiers::SHIFT);
                if mods.contains(KeyModifiers::CONTROL) {
                    KeyCode::Char(c.to_ascii_lowercase())
                } else {
                    KeyCode::Char(c)
                }
            }
            KeyCode::BackTab => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            other => other,
        };
        Key { code, mods }
    }

    /// Parse `q`, `ctrl-c`, `shift-tab`, `enter`, `esc`, `up`, `pgdown`, `f1`, `space`, `?`.
    pub fn parse(s: &str) -> Result<Key, String> {
        let s = s.trim();
        let mut mods = KeyModifiers::NONE;
        let mut rest = s;
        loop {
            let lower = rest.to_ascii_lowercase();
            if let Some(r) = lower
                .strip_prefix("ctrl-")
                .or_else(|| lower.strip_prefix("c-"))
            {
                mods |= KeyModifiers::CONTROL;
                rest = &rest[rest.len() - r.len()..];
            } else if let Some(r) = lower
                .strip_prefix("alt-")
                .or_else(|| lower.strip_prefix("m-"))
            {
                mods |= KeyModifiers::ALT;
                rest = &rest[rest.len() - r.len()..];
            } else if let Some(r) = lower
                .strip_prefix("shift-")
                .or_else(|| lower.strip_prefix("s-"))
            {
                mods |= KeyModifiers::SHIFT;
                rest = &rest[rest.len() - r.len()..];
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => KeyCode::Char(c),
            _ => match rest.to_ascii_lowercase().as_str() {
                "enter" | "return" => KeyCode::Enter,
                "esc" | "escape" => KeyCode::Esc,
                "tab" if mods.contains(KeyModifiers::SHIFT) => KeyCode::BackTab,
                "tab" => KeyCode::Tab,
                "backtab" => KeyCode::BackTab,
                "backspace" => KeyCode::Backspace,
                "delete" | "del" => KeyCode::Delete,
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                "pgup" | "pageup" => KeyCode::PageUp,
                "pgdown" | "pagedown" => KeyCode::PageDown,
                "space" => KeyCode::Char(' '),
                f if f.starts_with('f')
                    && f[1..].parse::<u8>().is_ok_and(|n| (1..=12).contains(&n)) =>
                {
                    KeyCode::F(f[1..].parse().expect("checked"))
                }
                _ => {
                    return Err(format!(
                        "unknown key {s:?} (examples: q, ctrl-c, shift-tab, enter, f1)"
                    ));
                }
            },
        };
        Ok(Key::from_event(&KeyEvent::new(code, mods)))
    }

    /// Short label for the status bar and help: `q`, `C-c`, `S-Tab`, `↑`.
    pub fn label(&self) -> String {
        let mut out = String::new();
        if self.mods.contains(KeyModifiers::CONTROL) {
            out.push_str("C-");
        }
        if self.mods.contains(KeyModifiers::ALT) {
            out.push_str("M-");
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            out.push_str("S-");
        }
        match self.code {
            KeyCode::Char(' ') => out.push_str("Space"),
            KeyCode::Char(c) => out.push(c),
            KeyCode::Enter => out.push_str("Enter"),
            KeyCode::Esc => out.push_str("Esc"),
            KeyCode::Tab => out.push_str("Tab"),
            KeyCode::BackTab => out.push_str("S-Tab"),
            KeyCode::Backspace => out.push_str("Bksp"),
            KeyCode::Delete => out.push_str("Del"),
            KeyCode::Up => out.push('↑'),
            KeyCode::Down => out.push('↓'),
            KeyCode::Left => out.push('←'),
            KeyCode::Right => out.push('→'),
            KeyCode::Home => out.push_str("Home"),
            KeyCode::End => out.push_str("End"),
            KeyCode::PageUp => out.push_str("PgUp"),
            KeyCode::PageDown => out.push_str("PgDn"),
            KeyCode::F(n) => out.push_str(&format!("F{n}")),
            _ => out.push('?'),
        }
        out
    }
}

/// Where a binding works (and is offered in the status bar): in every pane, or only in the
/// pane that has focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Files,
    Clip,
    Library,
    Jobs,
}

impl Scope {
    /// The pane's name as its title shows it.
    pub fn pane_name(self) -> &'static str {
        match self {
            Scope::Global => "any",
            Scope::Files => "Files",
            Scope::Clip => "Clip",
            Scope::Library => "Library",
            Scope::Jobs => "Jobs",
        }
    }
}

/// An action, its keys and its help text.
#[derive(Debug, Clone)]
pub struct Binding {
    pub action: Action,
    pub keys: Vec<Key>,
    pub help: &'static str,
    pub scope: Scope,
    /// Shown in the status bar (short label) when its scope is focused.
    pub hint: Option<&'static str>,
}

/// All bindings, in help order.
#[derive(Debug, Clone)]
pub struct KeyMap {
    pub bindings: Vec<Binding>,
}

impl Default for KeyMap {
    fn default() -> Self {
        use KeyCode::*;
        let b = |action, keys: Vec<Key>, scope, hint, help| Binding {
            action,
            keys,
            help,
            scope,
            hint,
        };
        let p = Key::plain;
        let c = Key::char;
        KeyMap {
            bindings: vec![
                b(
                    Action::NextPane,
                    vec![p(Tab)],
                    Scope::Global,
                    Some("pane"),
                    "next pane",
                ),
                b(
                    Action::PrevPane,
                    vec![p(BackTab)],
                    Scope::Global,
                    None,
                    "previous pane",
                ),
                b(
                    Action::Up,
                    vec![p(Up), c('k')],
                    Scope::Global,
                    None,
                    "move up",
                ),
                b(
                    Action::Down,
                    vec![p(Down), c('j')],
                    Scope::Global,
                    Some("move"),
                    "move down",
                ),
                b(
                    Action::PageUp,
                    vec![p(PageUp)],
                    Scope::Global,
                    None,
                    "page up",
                ),
                b(
                    Action::PageDown,
                    vec![p(PageDown)],
                    Scope::Global,
                    None,
                    "page down",
                ),
                b(
                    Action::Top,
                    vec![p(Home), c('g')],
                    Scope::Global,
                    None,
                    "first item",
                ),
                b(
                    Action::Bottom,
                    vec![p(End), c('G')],
                    Scope::Global,
                    None,
                    "last item",
                ),
                b(
                    Action::Open,
                    vec![p(Enter)],
                    Scope::Global,
                    None,
                    "open/create/details/log",
                ),
                b(
                    Action::Back,
                    vec![p(Esc)],
                    Scope::Global,
                    None,
                    "go back, close",
                ),
                b(
                    Action::Parent,
                    vec![p(Backspace), c('h')],
                    Scope::Files,
                    None,
                    "parent folder",
                ),
                b(
                    Action::TypePath,
                    vec![c('o')],
                    Scope::Files,
                    Some("path/URL"),
                    "type or paste a path / URL",
                ),
                b(
                    Action::AllFiles,
                    vec![c('.')],
                    Scope::Files,
                    None,
                    "all files / videos only",
                ),
                b(
                    Action::Mark,
                    vec![c(' ')],
                    Scope::Files,
                    None,
                    "mark or unmark a video",
                ),
                b(
                    Action::MarkAll,
                    vec![c('A')],
                    Scope::Files,
                    None,
                    "mark every video here",
                ),
                b(
                    Action::CreateMarked,
                    vec![c('c')],
                    Scope::Files,
                    None,
                    "create the marked videos",
                ),
                b(
                    Action::StartEarlier,
                    vec![p(Left), c('[')],
                    Scope::Clip,
                    None,
                    "window start 0.5 s earlier",
                ),
                b(
                    Action::StartLater,
                    vec![p(Right), c(']')],
                    Scope::Clip,
                    Some("window"),
                    "window start 0.5 s later",
                ),
                b(
                    Action::StartMuchEarlier,
                    vec![Key::new(Left, KeyModifiers::SHIFT), c('{')],
                    Scope::Clip,
                    None,
                    "window start 5 s earlier",
                ),
                b(
                    Action::StartMuchLater,
                    vec![Key::new(Right, KeyModifiers::SHIFT), c('}')],
                    Scope::Clip,
                    None,
                    "window start 5 s later",
                ),
                b(
                    Action::Create,
                    vec![c('c')],
                    Scope::Clip,
                    Some("create"),
                    "create a character",
                ),
                b(
                    Action::Search,
                    vec![c('/')],
                    Scope::Global,
                    Some("search"),
                    "search the library",
                ),
                b(
                    Action::Copy,
                    vec![c('y')],
                    Scope::Library,
                    Some("copy ID"),
                    "copy the selected ID",
                ),
                b(
                    Action::Sort,
                    vec![c('s')],
                    Scope::Library,
                    None,
                    "sort: match/name/newest",
                ),
                b(
                    Action::EditName,
                    vec![c('e')],
                    Scope::Library,
                    Some("rename"),
                    "rename the character",
                ),
                b(
                    Action::EditNotes,
                    vec![c('n')],
                    Scope::Library,
                    None,
                    "edit the notes",
                ),
                b(
                    Action::EditTags,
                    vec![c('t')],
                    Scope::Library,
                    None,
                    "edit the tags",
                ),
                b(
                    Action::Remove,
                    vec![c('d'), p(Delete)],
                    Scope::Library,
                    None,
                    "remove (to the trash)",
                ),
                b(
                    Action::Undo,
                    vec![c('u')],
                    Scope::Library,
                    None,
                    "undo the last removal",
                ),
                b(
                    Action::Register,
                    vec![c('R')],
                    Scope::Library,
                    Some("register"),
                    "register with a provider",
                ),
                b(
                    Action::UseFor,
                    vec![c('U')],
                    Scope::Library,
                    None,
                    "what to send a model",
                ),
                b(
                    Action::Export,
                    vec![c('E')],
                    Scope::Library,
                    None,
                    "export the library as CSV",
                ),
                b(
                    Action::CancelJob,
                    vec![c('x')],
                    Scope::Jobs,
                    Some("cancel job"),
                    "cancel or dismiss a job",
                ),
                b(
                    Action::Help,
                    vec![c('?'), p(F(1))],
                    Scope::Global,
                    Some("help"),
                    "this help",
                ),
                b(
                    Action::Quit,
                    vec![c('q')],
                    Scope::Global,
                    Some("quit"),
                    "quit",
                ),
                b(
                    Action::ForceQuit,
                    vec![Key::ctrl('c')],
                    Scope::Global,
                    None,
                    "cancel all jobs and quit",
                ),
                b(
                    Action::Suspend,
                    vec![Key::ctrl('z')],
                    Scope::Global,
                    None,
                    "suspend (fg resumes)",
                ),
            ],
        }
    }
}

impl KeyMap {
    /// The default map with the config's `[keys]` applied; an unknown action or key is an
    /// error naming it.
    pub fn from_config(table: &toml::Table) -> Result<KeyMap, String> {
        let mut map = KeyMap::default();
        for (name, value) in table {
            let action = Action::from_name(name).ok_or_else(|| {
                format!(
                    "[keys] {name}: no such action (actions: {})",
                    Action::ALL
                        .iter()
                        .map(|a| a.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
            let specs: Vec<&str> = match value {
                toml::Value::String(s) => vec![s.as_str()],
                toml::Value::Array(a) => a
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .ok_or_else(|| format!("[keys] {name}: keys are strings"))
                    })
                    .collect::<Result<_, _>>()?,
                _ => {
                    return Err(format!(
                        "[keys] {name}: give a key (\"q\") or a list of keys"
                    ));
                }
            };
            let keys: Vec<Key> = specs
                .iter()
                .map(|s| Key::parse(s).map_err(|e| format!("[keys] {name}: {e}")))
                .collect::<Result<_, _>>()?;
            if keys.is_empty() {
                return Err(format!("[keys] {name}: give at least one key"));
            }
            // A key given to this action is taken away from any other.
            for b in &mut map.bindings {
                b.keys.retain(|k| !keys.contains(k));
            }
            if let Some(b) = map.bindings.iter_mut().find(|b| b.action == action) {
                b.keys = keys;
            }
        }
        Ok(map)
    }

    /// The action of `key` wherever it is bound (the first binding).
    pub fn action_for(&self, key: Key) -> Option<Action> {
        self.bindings
            .iter()
            .find(|b| b.keys.contains(&key))
            .map(|b| b.action)
    }

    /// The action `key` stands for while `scope` has focus: a binding of that pane, else a
    /// global one. Keys of other panes do nothing here.
    pub fn action_in(&self, key: Key, scope: Scope) -> Option<Action> {
        let find = |s: Scope| {
            self.bindings
                .iter()
                .find(|b| b.scope == s && b.keys.contains(&key))
                .map(|b| b.action)
        };
        find(scope).or_else(|| find(Scope::Global))
    }

    /// The binding `key` has in some other pane than `scope` (to say where it works).
    pub fn elsewhere(&self, key: Key, scope: Scope) -> Option<&Binding> {
        self.bindings
            .iter()
            .find(|b| b.scope != scope && b.scope != Scope::Global && b.keys.contains(&key))
    }

    /// The keys of an action joined for display (`↓/j`).
    pub fn keys_label(&self, action: Action) -> String {
        self.bindings
            .iter()
            .find(|b| b.action == action)
            .map(|b| b.keys.iter().map(Key::label).collect::<Vec<_>>().join("/"))
            .unwrap_or_default()
    }

    /// Status-bar hints for the focused scope: its own first, then the global ones.
    pub fn hints(&self, scope: Scope) -> Vec<(String, &'static str)> {
        let pick = |s: Scope| {
            self.bindings
                .iter()
                .filter(move |b| b.scope == s && !b.keys.is_empty())
                .filter_map(|b| b.hint.map(|h| (b.keys[0].label(), h)))
        };
        let mut out: Vec<_> = pick(scope).collect();
        if scope != Scope::Global {
            out.extend(pick(Scope::Global));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_labels_keys() {
        assert_eq!(Key::parse("ctrl-c").unwrap(), Key::ctrl('c'));
        assert_eq!(
            Key::parse("shift-tab").unwrap(),
            Key::plain(KeyCode::BackTab)
        );
        assert_eq!(Key::parse("E").unwrap(), Key::char('E'));
        assert_eq!(Key::parse("f10").unwrap(), Key::plain(KeyCode::F(10)));
        assert!(Key::parse("hyper-q").is_err());
        assert_eq!(Key::ctrl('c').label(), "C-c");
        // A terminal reports Shift-e as 'E' with SHIFT: the same key as "E".
        let ev = KeyEvent::new(KeyCode::Char('E'), KeyModifiers::SHIFT);
        assert_eq!(Key::from_event(&ev), Key::char('E'));
    }

    #[test]
    fn config_rebinds_and_errors_name_the_action() {
        let t: toml::Table = toml::from_str("create = \"N\"\nquit = [\"q\", \"f10\"]").unwrap();
        let map = KeyMap::from_config(&t).unwrap();
        assert_eq!(map.action_for(Key::char('N')), Some(Action::Create));
        assert_eq!(map.action_in(Key::char('c'), Scope::Clip), None);
        // The Files pane keeps c for the marked videos.
        assert_eq!(
            map.action_in(Key::char('c'), Scope::Files),
            Some(Action::CreateMarked)
        );
        assert_eq!(
            map.action_for(Key::plain(KeyCode::F(10))),
            Some(Action::Quit)
        );
        assert!(
            map.hints(Scope::Clip)
                .iter()
                .any(|(k, h)| k == "N" && *h == "create")
        );
        let bad: toml::Table = toml::from_str("launch = \"l\"").unwrap();
        assert!(KeyMap::from_config(&bad).unwrap_err().contains("launch"));
    }
}
