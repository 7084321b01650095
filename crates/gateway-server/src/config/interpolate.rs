//! `${NAME}` interpolation in every string value of a TOML document.

use super::ConfigError;

/// Replaces each `${NAME}` in `text` with `env(NAME)`; `$${` stands for a literal `${`.
/// `path` names the key in errors. A `$` not followed by `{` is kept as is.
pub fn interpolate(
    text: &str,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    if !text.contains('$') {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let Some(end) = after.find('}') else {
                return Err(ConfigError::invalid(
                    path,
                    "unterminated `${`: write `${NAME}`, or `$${` for a literal `${`",
                ));
            };
            let name = &after[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(ConfigError::invalid(
                    path,
                    format!(
                        "`${{{name}}}` is not a variable name (letters, digits and `_` only); write `$${{` for a literal `${{`"
                    ),
                ));
            }
            match env(name) {
                Some(value) => out.push_str(&value),
                None => {
                    return Err(ConfigError::MissingEnv {
                        file: None,
                        var: name.to_owned(),
                        path: path.to_owned(),
                    });
                }
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Interpolates every string in `table`, recursively; `prefix` is the table's path.
pub(crate) fn interpolate_table(
    table: &mut toml::Table,
    prefix: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    for (key, value) in table.iter_mut() {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        interpolate_value(value, &path, env)?;
    }
    Ok(())
}

fn interpolate_value(
    value: &mut toml::Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    match value {
        toml::Value::String(s) => *s = interpolate(s, path, env)?,
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_value(item, &format!("{path}[{i}]"), env)?;
            }
        }
        toml::Value::Table(t) => interpolate_table(t, path, env)?,
        toml::Value::Integer(_)
        | toml::Value::Float(_)
        | toml::Value::Boolean(_)
        | toml::Value::Datetime(_) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "KEY" => Some("sk-123".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn replaces_variables_and_keeps_other_dollars() {
        let got = interpolate("a ${KEY} b $5 ${EMPTY}$", "p", &env).unwrap();
        assert_eq!(got, "a sk-123 b $5 $");
    }

    #[test]
    fn double_dollar_escapes() {
        assert_eq!(interpolate("$${KEY}", "p", &env).unwrap(), "${KEY}");
        // Read left to right: a lone `$`, then the escape.
        assert_eq!(interpolate("$$${KEY}", "p", &env).unwrap(), "$${KEY}");
    }

    #[test]
    fn missing_variable_names_it_and_the_key() {
        let err = interpolate("${NOPE}", "providers.openai.api_key", &env).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`NOPE`"), "{msg}");
        assert!(msg.contains("`providers.openai.api_key`"), "{msg}");
    }

    #[test]
    fn replaced_values_are_not_interpolated_again() {
        let env = |k: &str| (k == "A").then(|| "${B}".to_owned());
        assert_eq!(interpolate("${A}", "p", &env).unwrap(), "${B}");
    }

    #[test]
    fn malformed_references_are_refused() {
        assert!(interpolate("${KEY", "p", &env).is_err());
        assert!(interpolate("${}", "p", &env).is_err());
        assert!(interpolate("${A-B}", "p", &env).is_err());
    }
}
