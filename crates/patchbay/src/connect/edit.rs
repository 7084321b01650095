//! Setting and removing keys in one config file's text, per format: JSON and JSONC
//! (`jsonc`: comments and order kept), TOML (toml_edit: comments and order kept),
//! dotenv (line edits) and a YAML list entry (line edits, for Continue's `models:`).

use serde_json::Value;

use super::jsonc;

/// A config file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON, written pretty with two-space indents and a final newline.
    Json,
    /// TOML; only scalar leaves are set.
    Toml,
    /// `KEY=value` lines; paths have one segment.
    Dotenv,
    /// A YAML file with a top-level `models:` list; the value is one entry, placed first.
    YamlModels,
    /// The same entry in a JSON file's top-level `models` array (Continue's older
    /// `config.json`), with `title` for `name` and no `roles`.
    JsonModels,
}

impl Format {
    /// The format of the file actually found at `path` for an edit planned as `self`.
    pub fn for_path(self, path: &std::path::Path) -> Format {
        let json = path.extension().is_some_and(|e| e == "json");
        match self {
            Format::YamlModels if json => Format::JsonModels,
            other => other,
        }
    }
}

/// A Continue `models:` entry as the older JSON config writes it.
fn json_model(entry: &Value) -> Value {
    let mut v = entry.clone();
    if let Value::Object(map) = &mut v {
        if let Some(name) = map.remove("name") {
            map.insert("title".to_owned(), name);
        }
        map.remove("roles");
    }
    v
}

/// One key to set: its path of object keys and its value.
pub type Set = (Vec<String>, Value);

/// `text` (empty for a missing file) with every `sets` applied.
pub fn apply(format: Format, text: &str, sets: &[Set]) -> Result<String, String> {
    match format {
        Format::Json => jsonc::apply(text, sets),
        Format::Toml => {
            let mut doc = parse_toml(text)?;
            for (path, v) in sets {
                toml_set(doc.as_table_mut(), path, toml_value(v)?);
            }
            Ok(doc.to_string())
        }
        Format::Dotenv => {
            let mut out = text.to_owned();
            for (path, v) in sets {
                out = dotenv_set(&out, &path.join("."), &scalar(v));
            }
            Ok(out)
        }
        Format::YamlModels => {
            let mut out = text.to_owned();
            for (_, v) in sets {
                out = yaml_add(&out, v)?;
            }
            Ok(out)
        }
        Format::JsonModels => {
            let mut out = text.to_owned();
            for (_, v) in sets {
                out = jsonc::models_add(&out, &json_model(v))?;
            }
            Ok(out)
        }
    }
}

/// `text` with `sets` taken out again: a key the `original` text had gets its old value
/// back, others are removed, and tables/objects left empty that the original did not
/// have go too.
pub fn remove(format: Format, text: &str, original: &str, sets: &[Set]) -> Result<String, String> {
    match format {
        Format::Json => jsonc::remove(text, original, sets),
        Format::Toml => {
            let mut doc = parse_toml(text)?;
            let orig = parse_toml(original)?;
            for (path, _) in sets {
                match toml_get(orig.as_table(), path) {
                    Some(old) => toml_set(doc.as_table_mut(), path, old),
                    None => toml_remove(doc.as_table_mut(), orig.as_table(), path),
                }
            }
            Ok(doc.to_string())
        }
        Format::Dotenv => {
            let mut out = text.to_owned();
            for (path, _) in sets {
                let key = path.join(".");
                out = match dotenv_get(original, &key) {
                    Some(old) => dotenv_set(&out, &key, &old),
                    None => dotenv_unset(&out, &key),
                };
            }
            Ok(out)
        }
        Format::YamlModels => {
            let mut out = text.to_owned();
            for (_, v) in sets {
                out = yaml_remove(&out, v)?;
            }
            Ok(out)
        }
        Format::JsonModels => {
            let mut out = text.to_owned();
            for (_, v) in sets {
                out = jsonc::models_remove(&out, &json_model(v))?;
            }
            Ok(out)
        }
    }
}

/// The value at `path` in `text`, as a string, if present.
pub fn get(format: Format, text: &str, path: &[String]) -> Option<String> {
    match format {
        Format::Json => jsonc::get(text, path).as_ref().map(scalar),
        Format::Toml => {
            let doc = parse_toml(text).ok()?;
            let v = toml_get(doc.as_table(), path)?;
            Some(v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        }
        Format::Dotenv => dotenv_get(text, &path.join(".")),
        Format::JsonModels => {
            let key = path.last()?;
            let models = jsonc::get(text, &["models".to_owned()])?;
            models
                .as_array()?
                .iter()
                .find_map(|m| m.get(key))
                .map(scalar)
        }
        Format::YamlModels => {
            let key = path.last()?;
            text.lines().find_map(|l| {
                let l = l.trim_start();
                l.strip_prefix("- ")
                    .unwrap_or(l)
                    .strip_prefix(&format!("{key}: "))
                    .map(str::to_owned)
            })
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn parse_toml(text: &str) -> Result<toml_edit::DocumentMut, String> {
    text.parse::<toml_edit::DocumentMut>()
        .map_err(|e| format!("not valid TOML: {e}"))
}

fn toml_value(v: &Value) -> Result<toml_edit::Item, String> {
    Ok(toml_edit::value(match v {
        Value::String(s) => toml_edit::Value::from(s.as_str()),
        Value::Bool(b) => toml_edit::Value::from(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => toml_edit::Value::from(i),
            None => toml_edit::Value::from(n.as_f64().unwrap_or_default()),
        },
        other => return Err(format!("cannot write {other} into TOML")),
    }))
}

fn toml_get(root: &toml_edit::Table, path: &[String]) -> Option<toml_edit::Item> {
    let (last, parents) = path.split_last()?;
    let mut cur = root;
    for k in parents {
        cur = cur.get(k)?.as_table()?;
    }
    cur.get(last).cloned()
}

fn toml_set(root: &mut toml_edit::Table, path: &[String], item: toml_edit::Item) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = root;
    for (i, k) in parents.iter().enumerate() {
        let slot = cur.entry(k).or_insert_with(|| {
            let mut t = toml_edit::Table::new();
            // Intermediate tables stay implicit: no empty `[a]` header above `[a.b]`.
            t.set_implicit(i + 1 < parents.len());
            toml_edit::Item::Table(t)
        });
        if !slot.is_table() {
            *slot = toml_edit::Item::Table(toml_edit::Table::new());
        }
        let Some(t) = slot.as_table_mut() else { return };
        cur = t;
    }
    match cur.get_mut(last) {
        // Keep the key's place and its comments.
        Some(old) if old.is_value() && item.is_value() => {
            if let (Some(o), toml_edit::Item::Value(mut n)) = (old.as_value_mut(), item) {
                *n.decor_mut() = o.decor().clone();
                *o = n;
            }
        }
        _ => {
            cur.insert(last, item);
        }
    }
}

fn toml_remove(root: &mut toml_edit::Table, orig: &toml_edit::Table, path: &[String]) {
    for depth in (1..=path.len()).rev() {
        let (prefix, key) = (&path[..depth - 1], &path[depth - 1]);
        let is_leaf = depth == path.len();
        let mut cur = &mut *root;
        for k in prefix {
            match cur.get_mut(k).and_then(toml_edit::Item::as_table_mut) {
                Some(t) => cur = t,
                None => return,
            }
        }
        let empty = cur
            .get(key)
            .and_then(toml_edit::Item::as_table)
            .is_some_and(toml_edit::Table::is_empty);
        if is_leaf || (empty && toml_get(orig, &path[..depth]).is_none()) {
            cur.remove(key);
        } else {
            return;
        }
    }
}

fn dotenv_key(line: &str) -> Option<&str> {
    let l = line.trim_start();
    let l = l.strip_prefix("export ").unwrap_or(l);
    l.split_once('=').map(|(k, _)| k.trim())
}

fn dotenv_get(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find(|l| dotenv_key(l) == Some(key))
        .and_then(|l| l.split_once('='))
        .map(|(_, v)| v.to_owned())
}

fn dotenv_set(text: &str, key: &str, value: &str) -> String {
    let mut found = false;
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        if !found && dotenv_key(line) == Some(key) {
            found = true;
            let (head, _) = line.split_once('=').unwrap_or((line, ""));
            out.push_str(&format!("{head}={value}\n"));
        } else {
            out.push_str(line);
        }
    }
    if !found {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("{key}={value}\n"));
    }
    out
}

fn dotenv_unset(text: &str, key: &str) -> String {
    text.split_inclusive('\n')
        .filter(|l| dotenv_key(l) != Some(key))
        .collect()
}

/// One `models:` entry as YAML lines: `  - name: ...` then `    key: value`. Values are
/// written as JSON strings/scalars, which YAML reads the same way.
fn yaml_entry(v: &Value) -> Result<String, String> {
    let Value::Object(map) = v else {
        return Err("a YAML entry must be an object".to_owned());
    };
    let mut out = String::new();
    // `name` first, as people write it; the rest in key order.
    let first = map.get_key_value("name");
    let rest = map.iter().filter(|(k, _)| k.as_str() != "name");
    for (i, (k, v)) in first.into_iter().chain(rest).enumerate() {
        let lead = if i == 0 { "  - " } else { "    " };
        out.push_str(&format!("{lead}{k}: {v}\n"));
    }
    Ok(out)
}

/// Takes out the entry whose first line is `entry`'s (`  - name: "..."`), with the
/// lines below it indented deeper; other values may differ (the key was rotated).
fn yaml_remove(text: &str, entry: &Value) -> Result<String, String> {
    let block = yaml_entry(entry)?;
    let head = block.lines().next().unwrap_or_default();
    let mut out = String::new();
    let mut skipping = false;
    let mut done = false;
    for line in text.split_inclusive('\n') {
        if skipping && line.starts_with("    ") {
            continue;
        }
        skipping = false;
        if !done && line.trim_end() == head {
            skipping = true;
            done = true;
            continue;
        }
        out.push_str(line);
    }
    Ok(out)
}

fn yaml_add(text: &str, entry: &Value) -> Result<String, String> {
    let block = yaml_entry(entry)?;
    if text.trim().is_empty() {
        return Ok(format!(
            "name: Patchbay\nversion: 1.0.0\nschema: v1\nmodels:\n{block}"
        ));
    }
    let mut out = String::new();
    let mut placed = false;
    for line in text.split_inclusive('\n') {
        out.push_str(line);
        if !placed && line.trim_end() == "models:" {
            if !line.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&block);
            placed = true;
        }
    }
    if !placed {
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("models:\n");
        out.push_str(&block);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<String> {
        s.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn toml_set_keeps_comments_and_restores_old_values() {
        let before = "# mine\nmodel = \"o3\" # pick\n\n[tui]\nx = 1\n";
        let sets = vec![
            (p("model"), Value::from("m")),
            (p("model_providers.patchbay.base_url"), Value::from("u")),
        ];
        let after = apply(Format::Toml, before, &sets).unwrap();
        assert!(
            after.starts_with("# mine\nmodel = \"m\" # pick\n"),
            "{after}"
        );
        assert!(after.contains("[model_providers.patchbay]\nbase_url = \"u\"\n"));
        assert!(!after.contains("[model_providers]\n"), "{after}");
        assert_eq!(remove(Format::Toml, &after, before, &sets).unwrap(), before);
    }

    #[test]
    fn json_remove_drops_only_parents_it_made() {
        let before = "{\n  \"env\": {},\n  \"x\": 1\n}\n";
        let sets = vec![(p("env.A"), Value::from("1")), (p("b.c"), Value::from(2))];
        let after = apply(Format::Json, before, &sets).unwrap();
        assert_eq!(remove(Format::Json, &after, before, &sets).unwrap(), before);
    }

    #[test]
    fn dotenv_replaces_in_place_and_restores() {
        let before = "A=1\nGEMINI_API_KEY=old\n# c\n";
        let sets = vec![
            (p("GEMINI_API_KEY"), Value::from("k")),
            (p("B"), Value::from("u")),
        ];
        let after = apply(Format::Dotenv, before, &sets).unwrap();
        assert_eq!(after, "A=1\nGEMINI_API_KEY=k\n# c\nB=u\n");
        assert_eq!(
            remove(Format::Dotenv, &after, before, &sets).unwrap(),
            before
        );
    }
}
