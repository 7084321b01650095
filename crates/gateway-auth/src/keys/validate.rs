//! Checking what an operator gives the store (names, policies, limits, times) before
//! anything is written; every refusal is an [`AuthError::Invalid`] naming the field.

use serde::de::DeserializeOwned;

use crate::error::AuthError;
use crate::policy::{KeyPolicy, Limits};

/// Longest key or project name, in characters.
const MAX_NAME: usize = 64;

pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> AuthError {
    AuthError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Parses operator JSON (a policy, limits, a new key, an update) into `T`. A mistake
/// is reported with its path under `root`, e.g. `policy.limits.rmp: unknown field`.
pub fn parse_json<T: DeserializeOwned>(root: &str, json: &str) -> Result<T, AuthError> {
    let de = &mut serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let mut field = root.to_owned();
        let path = e.path().to_string();
        if path != "." {
            if !field.is_empty() {
                field.push('.');
            }
            field.push_str(&path);
        }
        // serde_path_to_error's path ends with an unknown field's own name, which is
        // what the operator mistyped.
        let message = e.into_inner().to_string();
        if field.is_empty() {
            field.push('.');
        }
        invalid(field, message)
    })
}

/// A key or project name: 1–64 characters, no control characters, no surrounding
/// whitespace (names are typed on command lines and matched exactly).
pub(crate) fn name(field: &str, name: &str) -> Result<(), AuthError> {
    if name.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if name.chars().count() > MAX_NAME {
        return Err(invalid(field, format!("at most {MAX_NAME} characters")));
    }
    if name.trim() != name {
        return Err(invalid(field, "no leading or trailing whitespace"));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(field, "no control characters"));
    }
    Ok(())
}

/// A policy's values (its fields were checked by serde).
pub(crate) fn policy(field: &str, p: &KeyPolicy) -> Result<(), AuthError> {
    globs(&format!("{field}.models"), &p.models)?;
    globs(&format!("{field}.providers"), &p.providers)?;
    if let Some(m) = &p.default_model {
        text(&format!("{field}.default_model"), m)?;
    }
    if p.max_tokens_per_request == Some(0) {
        return Err(invalid(
            format!("{field}.max_tokens_per_request"),
            "must be at least 1 (leave it out for no limit)",
        ));
    }
    for (i, tag) in p.metadata.tags.iter().enumerate() {
        text(&format!("{field}.metadata.tags[{i}]"), tag)?;
    }
    limits(&format!("{field}.limits"), &p.limits)
}

/// Limits' values: dollar amounts are finite and not negative.
pub(crate) fn limits(field: &str, l: &Limits) -> Result<(), AuthError> {
    for (name, usd) in [
        ("daily_usd", l.daily_usd),
        ("monthly_usd", l.monthly_usd),
        ("total_usd", l.total_usd),
    ] {
        if let Some(v) = usd {
            if !v.is_finite() || v < 0.0 {
                return Err(invalid(
                    format!("{field}.{name}"),
                    format!("{v} is not a dollar amount (a number ≥ 0)"),
                ));
            }
        }
    }
    Ok(())
}

/// An expiry time must lie in the future: a key that is expired at birth is a typo.
pub(crate) fn expiry(field: &str, expires_ms: Option<i64>, now_ms: i64) -> Result<(), AuthError> {
    match expires_ms {
        Some(t) if t <= now_ms => Err(invalid(
            field,
            "lies in the past; give a future time (Unix milliseconds)",
        )),
        _ => Ok(()),
    }
}

fn globs(field: &str, list: &[String]) -> Result<(), AuthError> {
    if list.is_empty() {
        return Err(invalid(field, "list at least one glob (`*` for all)"));
    }
    for (i, g) in list.iter().enumerate() {
        text(&format!("{field}[{i}]"), g)?;
    }
    Ok(())
}

fn text(field: &str, s: &str) -> Result<(), AuthError> {
    if s.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if s.chars().any(char::is_control) {
        return Err(invalid(field, "no control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(e: AuthError) -> String {
        match e {
            AuthError::Invalid { field, .. } => field,
            other => panic!("not Invalid: {other}"),
        }
    }

    #[test]
    fn unknown_and_mistyped_fields_are_named() {
        let e = parse_json::<KeyPolicy>("policy", r#"{"limits":{"rmp":5}}"#).unwrap_err();
        assert_eq!(field_of(e), "policy.limits.rmp");
        let e = parse_json::<KeyPolicy>("policy", r#"{"modles":["*"]}"#).unwrap_err();
        assert_eq!(field_of(e), "policy.modles");
        let e = parse_json::<KeyPolicy>("policy", r#"{"limits":{"rpm":"fast"}}"#).unwrap_err();
        assert_eq!(field_of(e), "policy.limits.rpm");
        let e = parse_json::<Limits>("", r#"{"tmp":1}"#).unwrap_err();
        assert_eq!(field_of(e), "tmp");
        let e = parse_json::<Limits>("", "[").unwrap_err();
        assert_eq!(field_of(e), ".");
    }

    #[test]
    fn values_are_checked_with_their_field() {
        let mut p = KeyPolicy::default();
        p.limits.daily_usd = Some(-1.0);
        assert_eq!(
            field_of(policy("policy", &p).unwrap_err()),
            "policy.limits.daily_usd"
        );
        let mut p = KeyPolicy::default();
        p.models.clear();
        assert_eq!(field_of(policy("policy", &p).unwrap_err()), "policy.models");
        let p = KeyPolicy {
            providers: vec![" ".into()],
            ..KeyPolicy::default()
        };
        assert_eq!(
            field_of(policy("policy", &p).unwrap_err()),
            "policy.providers[0]"
        );
        let p = KeyPolicy {
            max_tokens_per_request: Some(0),
            ..KeyPolicy::default()
        };
        assert_eq!(
            field_of(policy("policy", &p).unwrap_err()),
            "policy.max_tokens_per_request"
        );
        assert!(policy("policy", &KeyPolicy::default()).is_ok());
        for bad in ["", " ci", "a\nb", &"x".repeat(65)] {
            assert_eq!(field_of(name("name", bad).unwrap_err()), "name", "{bad:?}");
        }
        assert!(name("name", "ci — nightly").is_ok());
        assert_eq!(
            field_of(expiry("expires_ms", Some(5), 10).unwrap_err()),
            "expires_ms"
        );
        assert!(expiry("expires_ms", Some(11), 10).is_ok());
    }
}
