//! The small template and JSON-pointer language of `http` providers: `{name}` placeholders
//! (`{name:20}` cuts the value to 20 characters) in URLs, headers and JSON bodies, and
//! pointers (RFC 6901) read on the raw text of a reply, so a number keeps every digit and a
//! string that holds JSON can be pointed into.

use std::collections::BTreeMap;

use serde_json::Value;
use serde_json::value::RawValue;

/// The most placeholders or pointer segments castbook follows in one template or pointer.
const MAX_PARTS: usize = 64;

/// A piece of a template string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    /// A placeholder: its name, and the most characters of the value to use.
    Var(String, Option<usize>),
}

/// Split `text` into literal text and `{name}` / `{name:N}` placeholders. Braces that do not
/// form a placeholder (`{ "a": 1 }`, `{}`) are literal text.
pub fn pieces(text: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        lit.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match parse_var(after) {
            Some((name, max, used)) => {
                if !lit.is_empty() {
                    out.push(Piece::Text(std::mem::take(&mut lit)));
                }
                out.push(Piece::Var(name, max));
                rest = &after[used..];
            }
            None => {
                lit.push('{');
                rest = after;
            }
        }
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        out.push(Piece::Text(lit));
    }
    out
}

/// `name}` or `name:N}` at the start of `s`: the name, the cut, and the bytes used.
fn parse_var(s: &str) -> Option<(String, Option<usize>, usize)> {
    let end = s.find('}')?;
    let inner = &s[..end];
    let (name, max) = match inner.split_once(':') {
        Some((n, m)) => (n, Some(m.parse::<usize>().ok().filter(|m| *m > 0)?)),
        None => (inner, None),
    };
    let ok = !name.is_empty()
        && name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    ok.then(|| (name.to_string(), max, end + 1))
}

/// The placeholder names a template string uses.
pub fn names(text: &str) -> Vec<String> {
    pieces(text)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Var(n, _) => Some(n),
            Piece::Text(_) => None,
        })
        .collect()
}

/// Every placeholder name in the strings of a JSON value.
pub fn json_names(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk_strings(v, &mut |s| out.extend(names(s)));
    out
}

fn walk_strings(v: &Value, f: &mut impl FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter().for_each(|x| walk_strings(x, f)),
        Value::Object(o) => o.values().for_each(|x| walk_strings(x, f)),
        _ => {}
    }
}

/// A value a placeholder stands for.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Text(String),
    /// A list (`{keyframe_urls}`): only a whole JSON string value may be a list.
    List(Vec<String>),
}

/// The values of the placeholders.
pub type Vars = BTreeMap<String, Val>;

/// The placeholder that repeats its array element once per reference image.
pub const EACH_KEYFRAME: &str = "keyframe_url";

fn cut(value: &str, max: Option<usize>) -> String {
    match max {
        // Characters (Unicode scalar values), not bytes; no space left dangling at the cut.
        Some(n) if value.chars().count() > n => value
            .chars()
            .take(n)
            .collect::<String>()
            .trim_end()
            .to_string(),
        Some(_) => value.to_string(),
        None => value.to_string(),
    }
}

/// Fill the placeholders of a plain string, each value passed through `encode`.
pub fn render_text(
    text: &str,
    vars: &Vars,
    mut encode: impl FnMut(usize, &str, &str) -> String,
) -> Result<String, String> {
    let mut out = String::new();
    for (i, p) in pieces(text).into_iter().enumerate().take(MAX_PARTS * 4) {
        match p {
            Piece::Text(t) => out.push_str(&t),
            Piece::Var(name, max) => match vars.get(&name) {
                Some(Val::Text(v)) => out.push_str(&encode(i, &name, &cut(v, max))),
                Some(Val::List(_)) => {
                    return Err(format!(
                        "{{{name}}} is a list: use it as a whole JSON value, \"{{{name}}}\""
                    ));
                }
                None => return Err(format!("{{{name}}} has no value here")),
            },
        }
    }
    Ok(out)
}

/// Fill a JSON body template: placeholders inside strings are replaced by their values
/// (escaped by the JSON writer, so a name with quotes stays one string); a string that is
/// exactly `"{list}"` becomes a JSON array; an array whose one element mentions
/// `{keyframe_url}` repeats that element once per entry of `each`.
pub fn render_json(template: &Value, vars: &Vars, each: &[String]) -> Result<Value, String> {
    match template {
        Value::String(s) => {
            if let [Piece::Var(name, None)] = pieces(s).as_slice()
                && let Some(Val::List(items)) = vars.get(name)
            {
                return Ok(Value::Array(
                    items.iter().cloned().map(Value::String).collect(),
                ));
            }
            render_text(s, vars, |_, _, v| v.to_string()).map(Value::String)
        }
        Value::Array(items) => {
            if let [one] = items.as_slice()
                && json_names(one).iter().any(|n| n == EACH_KEYFRAME)
            {
                let mut out = Vec::new();
                for url in each {
                    let mut v = vars.clone();
                    v.insert(EACH_KEYFRAME.into(), Val::Text(url.clone()));
                    out.push(render_json(one, &v, each)?);
                }
                return Ok(Value::Array(out));
            }
            items
                .iter()
                .map(|x| render_json(x, vars, each))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        Value::Object(o) => {
            let mut out = serde_json::Map::new();
            for (k, v) in o {
                out.insert(k.clone(), render_json(v, vars, each)?);
            }
            Ok(Value::Object(out))
        }
        other => Ok(other.clone()),
    }
}

/// Check a pointer's syntax: empty (the whole reply) or `/` segments.
pub fn check_pointer(p: &str) -> Result<(), String> {
    if !p.is_empty() && !p.starts_with('/') {
        return Err(format!(
            "{p:?} is not a JSON pointer: it starts with / (e.g. \"/data/task_id\")"
        ));
    }
    if p.split('/').count() > MAX_PARTS {
        return Err(format!("{p:?} has more than {MAX_PARTS} parts"));
    }
    Ok(())
}

/// The raw JSON text at `pointer` in the JSON text `json`, or `None` when nothing is there.
/// A string met before the last segment is read as JSON text and followed into.
pub fn pointer_raw(json: &str, pointer: &str) -> Option<String> {
    let mut cur = json.trim().to_string();
    if pointer.is_empty() {
        return Some(cur);
    }
    for seg in pointer.split('/').skip(1).take(MAX_PARTS) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if cur.starts_with('"') {
            cur = serde_json::from_str::<String>(&cur)
                .ok()?
                .trim()
                .to_string();
        }
        cur = if cur.starts_with('{') {
            let map: BTreeMap<String, &RawValue> = serde_json::from_str(&cur).ok()?;
            map.get(&seg)?.get().trim().to_string()
        } else if cur.starts_with('[') {
            let list: Vec<&RawValue> = serde_json::from_str(&cur).ok()?;
            let i: usize = seg.parse().ok()?;
            list.get(i)?.get().trim().to_string()
        } else {
            return None;
        };
    }
    Some(cur)
}

/// A scalar's text: a string's value, a number's digits exactly as sent, `true` / `false`;
/// `None` for null, objects and arrays.
pub fn scalar_text(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.starts_with('"') {
        return serde_json::from_str::<String>(raw).ok();
    }
    if raw == "true" || raw == "false" {
        return Some(raw.to_string());
    }
    let number = !raw.is_empty()
        && raw.len() <= 400
        && raw
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
        && serde_json::from_str::<Value>(raw).is_ok_and(|v| v.is_number());
    number.then(|| raw.to_string())
}

/// The scalar at `pointer` in `json`.
pub fn pointer_text(json: &str, pointer: &str) -> Option<String> {
    pointer_raw(json, pointer).and_then(|r| scalar_text(&r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vars {
        list.iter()
            .map(|(k, v)| (k.to_string(), Val::Text(v.to_string())))
            .collect()
    }

    #[test]
    fn placeholders_and_literal_braces() {
        assert_eq!(
            pieces("a{name}b{name:20}{ x }{}"),
            [
                Piece::Text("a".into()),
                Piece::Var("name".into(), None),
                Piece::Text("b".into()),
                Piece::Var("name".into(), Some(20)),
                Piece::Text("{ x }{}".into()),
            ]
        );
        assert_eq!(
            names("{base_url}/v1/{task_id}?x={Y}"),
            ["base_url", "task_id"]
        );
        assert_eq!(names("{name:0}{name:x}"), Vec::<String>::new());
    }

    #[test]
    fn json_bodies_escape_values_cut_names_and_repeat_keyframes() {
        let t: Value = serde_json::from_str(
            r#"{"n": "{name:7}", "s": "{name:6}", "d": "say {description}", "all": "{keyframe_urls}",
                "refs": [{"image_url": "{keyframe_url}"}], "k": 3}"#,
        )
        .unwrap();
        let mut v = vars(&[("name", "Wo\"lf \u{1F43A}x"), ("description", "a\nb")]);
        v.insert(
            "keyframe_urls".into(),
            Val::List(vec!["u1".into(), "u2".into()]),
        );
        let out = render_json(&t, &v, &["u1".into(), "u2".into()]).unwrap();
        assert_eq!(
            out.to_string(),
            r#"{"n":"Wo\"lf 🐺","s":"Wo\"lf","d":"say a\nb","all":["u1","u2"],"refs":[{"image_url":"u1"},{"image_url":"u2"}],"k":3}"#
        );
        let e = render_json(&serde_json::json!("{nope}"), &v, &[]).unwrap_err();
        assert!(e.contains("{nope}"), "{e}");
        let e = render_text("x {keyframe_urls}", &v, |_, _, v| v.into()).unwrap_err();
        assert!(e.contains("list"), "{e}");
    }

    #[test]
    fn pointers_keep_every_digit_and_go_into_json_text() {
        let reply = r#"{"data": {"task_result": {"elements": [{"element_id": 863121023120580600}]},
                        "resultJson": "{\"character_id\": \"kie-7\", \"n\": [1, 2]}",
                        "flag": true, "none": null, "a~b/c": "x"}}"#;
        assert_eq!(
            pointer_text(reply, "/data/task_result/elements/0/element_id").as_deref(),
            Some("863121023120580600")
        );
        assert_eq!(
            pointer_text(reply, "/data/resultJson/character_id").as_deref(),
            Some("kie-7")
        );
        assert_eq!(
            pointer_text(reply, "/data/resultJson/n/1").as_deref(),
            Some("2")
        );
        assert_eq!(pointer_text(reply, "/data/flag").as_deref(), Some("true"));
        assert_eq!(pointer_text(reply, "/data/a~0b~1c").as_deref(), Some("x"));
        assert_eq!(pointer_text(reply, "/data/none"), None);
        assert_eq!(pointer_text(reply, "/data/task_result"), None);
        assert_eq!(pointer_text(reply, "/data/missing"), None);
        assert_eq!(pointer_text(reply, "/data/task_result/elements/9"), None);
        assert_eq!(pointer_text("not json", "/a"), None);
        assert!(check_pointer("data/x").is_err());
        assert!(check_pointer("").is_ok());
    }
}
