//! Themes: flat TOML keys (`border_fg`, `selection_bg`, `match_fg`, ...). Built-ins from
//! `themes/*.toml` are embedded; a user theme `<config dir>/themes/NAME.toml` may override
//! any subset of the default's keys. Truecolor only when COLORTERM says so (otherwise the
//! nearest of the 256 colours); NO_COLOR turns colour off and leaves bold/reverse.

use std::path::PathBuf;
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};

pub const BUILTIN: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.toml")),
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
];

/// How many colours the terminal gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorMode {
    None,
    Indexed,
    TrueColor,
}

impl ColorMode {
    /// From `NO_COLOR` and `COLORTERM`.
    pub fn from_env() -> ColorMode {
        Self::from_vars(
            std::env::var_os("NO_COLOR").map(|v| v.to_string_lossy().into_owned()),
            std::env::var_os("COLORTERM").map(|v| v.to_string_lossy().into_owned()),
        )
    }
    pub fn from_vars(no_color: Option<String>, colorterm: Option<String>) -> ColorMode {
        if no_color.is_some_and(|v| !v.is_empty()) {
            return ColorMode::None;
        }
        match colorterm.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("truecolor") | Some("24bit") => ColorMode::TrueColor,
            _ => ColorMode::Indexed,
        }
    }
}

macro_rules! theme_keys {
    ($($field:ident),* $(,)?) => {
        #[derive(Debug, Clone, PartialEq)]
        pub struct Theme {
            $(pub $field: Color,)*
            pub mode: ColorMode,
        }

        impl Theme {
            const KEYS: &'static [&'static str] = &[$(stringify!($field)),*];

            fn set(&mut self, key: &str, c: Color) -> bool {
                match key {
                    $(stringify!($field) => self.$field = c,)*
                    _ => return false,
                }
                true
            }

            fn map_colors(&mut self, mut f: impl FnMut(Color) -> Color) {
                $(self.$field = f(self.$field);)*
            }
        }
    };
}

theme_keys!(
    fg,
    bg,
    dim_fg,
    border_fg,
    border_focus_fg,
    title_fg,
    selection_fg,
    selection_bg,
    match_fg,
    video_fg,
    dir_fg,
    ok_fg,
    error_fg,
    warning_fg,
    accent_fg,
    status_fg,
    status_bg,
    key_fg,
    progress_fg,
);

impl Default for Theme {
    fn default() -> Self {
        let mut t = Theme::blank();
        t.apply(BUILTIN[0].1, "default")
            .expect("the default theme parses");
        t
    }
}

impl Theme {
    fn blank() -> Theme {
        Theme {
            fg: Color::Reset,
            bg: Color::Reset,
            dim_fg: Color::Reset,
            border_fg: Color::Reset,
            border_focus_fg: Color::Reset,
            title_fg: Color::Reset,
            selection_fg: Color::Reset,
            selection_bg: Color::Reset,
            match_fg: Color::Reset,
            video_fg: Color::Reset,
            dir_fg: Color::Reset,
            ok_fg: Color::Reset,
            error_fg: Color::Reset,
            warning_fg: Color::Reset,
            accent_fg: Color::Reset,
            status_fg: Color::Reset,
            status_bg: Color::Reset,
            key_fg: Color::Reset,
            progress_fg: Color::Reset,
            mode: ColorMode::TrueColor,
        }
    }

    /// Apply a theme file's keys over this theme.
    fn apply(&mut self, text: &str, origin: &str) -> Result<(), String> {
        let table: toml::Table =
            toml::from_str(text).map_err(|e| format!("theme {origin}: {}", e.message()))?;
        for (key, value) in table {
            let s = value
                .as_str()
                .ok_or_else(|| format!("theme {origin}: {key} must be a colour string"))?;
            let color = Color::from_str(s).map_err(|_| {
                format!("theme {origin}: {key} = {s:?} is not a colour (a name like \"red\", or \"#rrggbb\")")
            })?;
            if !self.set(&key, color) {
                return Err(format!(
                    "theme {origin}: unknown key {key} (keys: {})",
                    Theme::KEYS.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The theme called `name`: a user theme in `user_dir` first, else a built-in; always
    /// on top of the default, then fitted to the colour mode.
    pub fn load(name: &str, user_dir: Option<PathBuf>, mode: ColorMode) -> Result<Theme, String> {
        let mut t = Theme::default();
        let user = user_dir
            .map(|d| d.join(format!("{name}.toml")))
            .filter(|p| p.is_file());
        match (user, BUILTIN.iter().find(|(n, _)| *n == name)) {
            (Some(path), _) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("theme {}: {e}", path.display()))?;
                t.apply(&text, &path.display().to_string())?;
            }
            (None, Some((n, text))) => t.apply(text, n)?,
            (None, None) => {
                return Err(format!(
                    "no theme named {name:?}: built-in themes are {}; user themes go in the config folder's themes/",
                    BUILTIN
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        t.fit(mode);
        Ok(t)
    }

    fn fit(&mut self, mode: ColorMode) {
        self.mode = mode;
        match mode {
            ColorMode::TrueColor => {}
            ColorMode::Indexed => self.map_colors(|c| match c {
                Color::Rgb(r, g, b) => Color::Indexed(rgb_to_256(r, g, b)),
                other => other,
            }),
            ColorMode::None => self.map_colors(|_| Color::Reset),
        }
    }

    pub fn base(&self) -> Style {
        Style::default().fg(self.fg).bg(self.bg)
    }
    pub fn dim(&self) -> Style {
        if self.mode == ColorMode::None {
            Style::default().add_modifier(Modifier::DIM)
        } else {
            Style::default().fg(self.dim_fg)
        }
    }
    pub fn fg(&self, c: Color) -> Style {
        Style::default().fg(c)
    }
    pub fn border(&self, focused: bool) -> Style {
        let s = Style::default().fg(if focused {
            self.border_focus_fg
        } else {
            self.border_fg
        });
        if focused && self.mode == ColorMode::None {
            s.add_modifier(Modifier::BOLD)
        } else {
            s
        }
    }
    pub fn title(&self) -> Style {
        Style::default()
            .fg(self.title_fg)
            .add_modifier(Modifier::BOLD)
    }
    pub fn selection(&self) -> Style {
        if self.mode == ColorMode::None {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default().fg(self.selection_fg).bg(self.selection_bg)
        }
    }
    pub fn matched(&self) -> Style {
        Style::default()
            .fg(self.match_fg)
            .add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    }
    pub fn status(&self) -> Style {
        Style::default().fg(self.status_fg).bg(self.status_bg)
    }
    pub fn key(&self) -> Style {
        Style::default()
            .fg(self.key_fg)
            .add_modifier(Modifier::BOLD)
    }
}

/// The nearest xterm-256 colour (6x6x6 cube or grey ramp).
pub fn rgb_to_256(r: u8, g: u8, b: u8) -> u8 {
    const STEPS: [u8; 6] = [0, 95, 135, 175, 215, 255];
    let idx = |v: u8| {
        STEPS
            .iter()
            .enumerate()
            .min_by_key(|(_, s)| (**s as i32 - v as i32).abs())
            .map(|(i, _)| i as u8)
            .unwrap_or(0)
    };
    let (ri, gi, bi) = (idx(r), idx(g), idx(b));
    let cube = 16 + 36 * ri + 6 * gi + bi;
    let cube_rgb = (STEPS[ri as usize], STEPS[gi as usize], STEPS[bi as usize]);
    let avg = (r as u32 + g as u32 + b as u32) / 3;
    let gi2 = if avg < 8 { 0 } else { ((avg - 8) / 10).min(23) } as u8;
    let grey = 8 + 10 * gi2 as u32;
    let dist = |a: (u32, u32, u32)| {
        let d = |x: u32, y: u8| (x as i32 - y as i32).pow(2);
        d(a.0, r) + d(a.1, g) + d(a.2, b)
    };
    if dist((grey, grey, grey)) < dist((cube_rgb.0 as u32, cube_rgb.1 as u32, cube_rgb.2 as u32)) {
        232 + gi2
    } else {
        cube
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_and_default_uses_only_ansi_colours() {
        for (name, _) in BUILTIN {
            Theme::load(name, None, ColorMode::TrueColor).unwrap();
        }
        let t = Theme::load("default", None, ColorMode::TrueColor).unwrap();
        let mut all = Vec::new();
        let mut probe = t.clone();
        probe.map_colors(|c| {
            all.push(c);
            c
        });
        assert!(
            all.iter()
                .all(|c| !matches!(c, Color::Rgb(..) | Color::Indexed(_))),
            "{all:?}"
        );
    }

    #[test]
    fn colour_modes_follow_env() {
        assert_eq!(
            ColorMode::from_vars(Some("1".into()), Some("truecolor".into())),
            ColorMode::None
        );
        assert_eq!(
            ColorMode::from_vars(Some("".into()), Some("24bit".into())),
            ColorMode::TrueColor
        );
        assert_eq!(ColorMode::from_vars(None, None), ColorMode::Indexed);
        let dark = Theme::load("dark", None, ColorMode::Indexed).unwrap();
        assert!(matches!(dark.bg, Color::Indexed(_)));
        let dark = Theme::load("dark", None, ColorMode::TrueColor).unwrap();
        assert_eq!(dark.bg, Color::Rgb(0x1e, 0x22, 0x2a));
        let plain = Theme::load("dark", None, ColorMode::None).unwrap();
        assert_eq!(plain.bg, Color::Reset);
        assert!(plain.selection().add_modifier.contains(Modifier::REVERSED));
        assert_eq!(rgb_to_256(255, 0, 0), 196);
        assert_eq!(rgb_to_256(128, 128, 128), 244);
    }

    #[test]
    fn user_theme_overrides_part_of_the_default() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mine.toml"), "match_fg = \"#ff0000\"\n").unwrap();
        let t = Theme::load("mine", Some(dir.path().into()), ColorMode::TrueColor).unwrap();
        assert_eq!(t.match_fg, Color::Rgb(255, 0, 0));
        assert_eq!(t.selection_bg, Color::Cyan);
        std::fs::write(dir.path().join("bad.toml"), "matchfg = \"red\"\n").unwrap();
        let err = Theme::load("bad", Some(dir.path().into()), ColorMode::TrueColor).unwrap_err();
        assert!(err.contains("matchfg"), "{err}");
        assert!(
            Theme::load("nope", None, ColorMode::TrueColor)
                .unwrap_err()
                .contains("nope")
        );
    }
}
