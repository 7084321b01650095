//! JSON and JSON-with-comments config files, edited in place on jsonc-parser's
//! concrete syntax tree: the user's key order, indentation, comments and trailing
//! commas survive; only the keys we set change.
//!
//! A path's last part may be `[field=value]`: the element of the array named by the
//! part before it whose `field` is `value` (an entry in a list of models). Setting it
//! replaces that element in place, or puts a new one first.

use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstInputValue, CstObject, CstRootNode};
use serde_json::Value;

use super::edit::Set;

/// `text` (empty for a missing file) with every `sets` applied.
pub fn apply(text: &str, sets: &[Set]) -> Result<String, String> {
    let root = parse(text)?;
    for (path, value) in sets {
        set(&root, path, value);
    }
    Ok(finish(&root, text))
}

/// `text` with `sets` taken out: a key `original` had gets its old value back, others
/// are removed together with the objects they leave empty that `original` lacked.
pub fn remove(text: &str, original: &str, sets: &[Set]) -> Result<String, String> {
    let root = parse(text)?;
    let orig = value_of(&parse(original)?);
    for (path, _) in sets {
        match lookup(&orig, path) {
            Some(old) => set(&root, path, old),
            None => unset(&root, &orig, path),
        }
    }
    Ok(finish(&root, text))
}

/// The value at `path`, if the text parses and has it.
pub fn get(text: &str, path: &[String]) -> Option<Value> {
    lookup(&value_of(&parse(text).ok()?), path).cloned()
}

/// `text` with `entry` as the first element of the top-level `models` array.
pub fn models_add(text: &str, entry: &Value) -> Result<String, String> {
    let root = parse(text)?;
    let models = root.object_value_or_set().array_value_or_set("models");
    models.insert(0, input(entry));
    models.ensure_multiline();
    Ok(finish(&root, text))
}

/// `text` without the first `models` element whose `title` is `entry`'s (other
/// values may differ: the key was rotated since).
pub fn models_remove(text: &str, entry: &Value) -> Result<String, String> {
    let root = parse(text)?;
    let title = entry.get("title");
    let models = root.object_value().and_then(|o| o.array_value("models"));
    if let Some(found) = models.into_iter().flat_map(|a| a.elements()).find(|e| {
        e.as_object()
            .and_then(|o| o.to_serde_value())
            .is_some_and(|v| v.get("title") == title)
    }) {
        found.remove();
    }
    Ok(finish(&root, text))
}

fn parse(text: &str) -> Result<CstRootNode, String> {
    let text = if text.trim().is_empty() { "{}" } else { text };
    let root = CstRootNode::parse(text, &ParseOptions::default())
        .map_err(|e| format!("not valid JSON: {e}"))?;
    if root.object_value().is_none() {
        return Err("the file's JSON is not an object".to_owned());
    }
    Ok(root)
}

/// The document's text; a file we create ends with a newline.
fn finish(root: &CstRootNode, before: &str) -> String {
    let mut out = root.to_string();
    if (before.trim().is_empty() || before.ends_with('\n')) && !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn value_of(root: &CstRootNode) -> Value {
    root.to_serde_value().unwrap_or(Value::Null)
}

/// The `(field, value)` of a path part `[field=value]`.
fn selector(part: &str) -> Option<(&str, &str)> {
    part.strip_prefix('[')?.strip_suffix(']')?.split_once('=')
}

fn selects(element: &Value, (field, want): (&str, &str)) -> bool {
    element.get(field).and_then(Value::as_str) == Some(want)
}

fn lookup<'a>(root: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(root, |v, k| match selector(k) {
        Some(sel) => v.as_array()?.iter().find(|e| selects(e, sel)),
        None => v.get(k),
    })
}

fn set(root: &CstRootNode, path: &[String], value: &Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    if let Some(sel) = selector(last) {
        let Some((name, parents)) = parents.split_last() else {
            return;
        };
        let array = parents
            .iter()
            .fold(root.object_value_or_set(), |o, k| o.object_value_or_set(k))
            .array_value_or_set(name);
        let found = array.elements().into_iter().enumerate().find(|(_, e)| {
            e.to_serde_value()
                .is_some_and(|element| selects(&element, sel))
        });
        let at = match found {
            Some((i, element)) => {
                element.remove();
                i
            }
            None => 0,
        };
        array.insert(at, input(value));
        array.ensure_multiline();
        return;
    }
    let object = parents
        .iter()
        .fold(root.object_value_or_set(), |o, k| o.object_value_or_set(k));
    match object.get(last) {
        Some(prop) => prop.set_value(input(value)),
        None => {
            object.append(last, input(value));
        }
    }
}

/// Removes `path`, then each parent object left empty that `orig` does not have.
fn unset(root: &CstRootNode, orig: &Value, path: &[String]) {
    let Some(top) = root.object_value() else {
        return;
    };
    if let Some((sel, parents)) = path
        .split_last()
        .and_then(|(last, parents)| Some((selector(last)?, parents)))
    {
        let Some((name, objects)) = parents.split_last() else {
            return;
        };
        let array = objects
            .iter()
            .try_fold(top, |o, k| o.object_value(k))
            .and_then(|o| o.array_value(name));
        let Some(array) = array else {
            return;
        };
        if let Some(element) = array.elements().into_iter().find(|e| {
            e.to_serde_value()
                .is_some_and(|element| selects(&element, sel))
        }) {
            element.remove();
        }
        if array.elements().is_empty() && lookup(orig, parents).is_none() {
            unset(root, orig, parents);
        }
        return;
    }
    // The objects along the path, root first, as far as they exist.
    let mut chain: Vec<CstObject> = vec![top];
    for k in &path[..path.len().saturating_sub(1)] {
        let Some(next) = chain.last().and_then(|o| o.object_value(k)) else {
            return;
        };
        chain.push(next);
    }
    for depth in (1..=path.len()).rev() {
        let parent = &chain[depth - 1];
        let Some(prop) = parent.get(&path[depth - 1]) else {
            return;
        };
        let is_leaf = depth == path.len();
        let emptied = chain
            .get(depth)
            .is_some_and(|o| o.properties().is_empty() && lookup(orig, &path[..depth]).is_none());
        if !(is_leaf || emptied) {
            return;
        }
        prop.remove();
    }
}

fn input(value: &Value) -> CstInputValue {
    match value {
        Value::Null => CstInputValue::Null,
        Value::Bool(b) => CstInputValue::Bool(*b),
        Value::Number(n) => CstInputValue::Number(n.to_string()),
        Value::String(s) => CstInputValue::String(s.clone()),
        Value::Array(items) => CstInputValue::Array(items.iter().map(input).collect()),
        Value::Object(map) => {
            CstInputValue::Object(map.iter().map(|(k, v)| (k.clone(), input(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn p(s: &str) -> Vec<String> {
        s.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn comments_order_and_trailing_commas_survive_a_round_trip() {
        let original = "{\n  // the user's theme\n  \"theme\": \"dark\",\n  \"editor\": { \"tabSize\": 4 },\n}\n";
        let sets = vec![
            (p("provider.patchbay"), json!({"name": "Patchbay"})),
            (p("theme"), json!("light")),
        ];
        let connected = apply(original, &sets).expect("applies");
        assert!(connected.starts_with("{\n  // the user's theme\n  \"theme\": \"light\",\n  \"editor\": { \"tabSize\": 4 },\n"), "{connected}");
        assert_eq!(
            get(&connected, &p("provider.patchbay.name")),
            Some(json!("Patchbay"))
        );
        assert_eq!(
            remove(&connected, original, &sets).expect("removes"),
            original
        );
    }

    #[test]
    fn a_new_file_is_an_object_with_a_final_newline_and_goes_empty_again() {
        let sets = vec![(p("env.KEY"), json!("v"))];
        let text = apply("", &sets).expect("applies");
        assert!(text.ends_with("}\n"));
        assert_eq!(get(&text, &p("env.KEY")), Some(json!("v")));
        assert_eq!(remove(&text, "", &sets).expect("removes").trim(), "{}");
    }

    #[test]
    fn parents_the_user_had_are_kept_when_emptied() {
        let original = "{\"env\": {}}";
        let sets = vec![(p("env.KEY"), json!("v"))];
        let text = apply(original, &sets).expect("applies");
        let back = remove(&text, original, &sets).expect("removes");
        assert_eq!(get(&back, &p("env")), Some(json!({})));
    }

    #[test]
    fn a_models_entry_goes_first_and_comes_out_by_its_title() {
        let original = "{\n  \"models\": [\n    {\"title\": \"Mine\", \"provider\": \"ollama\"}\n  ],\n  \"tabAutocompleteModel\": null\n}\n";
        let entry = json!({"title": "Patchbay", "apiKey": "k1"});
        let text = models_add(original, &entry).expect("adds");
        let models = get(&text, &p("models")).expect("models");
        assert_eq!(models[0]["title"], "Patchbay");
        assert_eq!(models[1]["title"], "Mine");
        let rotated = json!({"title": "Patchbay", "apiKey": "k2"});
        assert_eq!(models_remove(&text, &rotated).expect("removes"), original);
    }

    #[test]
    fn a_selected_entry_is_replaced_in_place_or_put_first_and_taken_out_again() {
        let original = "{\n  \"models\": [\n    {\"id\": \"mine\", \"name\": \"Mine\"}\n  ]\n}\n";
        let path = vec!["models".to_owned(), "[name=Patchbay]".to_owned()];
        let ours = |key: &str| {
            vec![(
                path.clone(),
                json!({"id": "m", "name": "Patchbay", "apiKey": key}),
            )]
        };
        let text = apply(original, &ours("k1")).expect("applies");
        let models = get(&text, &p("models")).expect("models");
        assert_eq!(models[0]["apiKey"], "k1");
        assert_eq!(models[1]["id"], "mine");
        assert_eq!(get(&text, &path).expect("found")["apiKey"], "k1");
        // Again, with another key: the entry is replaced, not added.
        let again = apply(&text, &ours("k2")).expect("applies");
        let models = get(&again, &p("models")).expect("models");
        assert_eq!(models.as_array().map(Vec::len), Some(2), "{again}");
        assert_eq!(models[0]["apiKey"], "k2");
        assert_eq!(
            remove(&again, original, &ours("")).expect("removes"),
            original
        );
    }

    #[test]
    fn a_selected_entry_in_a_new_file_goes_with_its_array() {
        let sets = vec![(
            vec!["models".to_owned(), "[name=Patchbay]".to_owned()],
            json!({"name": "Patchbay"}),
        )];
        let text = apply("", &sets).expect("applies");
        assert_eq!(
            get(&text, &p("models")),
            Some(json!([{"name": "Patchbay"}]))
        );
        assert_eq!(remove(&text, "", &sets).expect("removes").trim(), "{}");
        // The user's own empty list stays.
        let original = "{\"models\": []}";
        let text = apply(original, &sets).expect("applies");
        let back = remove(&text, original, &sets).expect("removes");
        assert_eq!(get(&back, &p("models")), Some(json!([])));
    }

    #[test]
    fn non_objects_and_broken_text_are_refused() {
        assert!(apply("[1, 2]", &[]).is_err());
        assert!(apply("{\"a\": ", &[]).is_err());
    }
}
