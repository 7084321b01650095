//! Query-string parameters of the admin API: percent-decoding, unknown names refused
//! (a typo in a filter must not silently widen it), times as Unix milliseconds or
//! RFC 3339, numbers and booleans — each mistake a 400 naming the parameter.

use std::collections::BTreeMap;

use super::reply::ApiError;

/// The parameters of one request, by name.
#[derive(Debug, Default)]
pub(crate) struct Params(BTreeMap<String, String>);

impl Params {
    /// Reads `query`, refusing names outside `allowed` and repeated names.
    pub fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Params, ApiError> {
        let mut map = BTreeMap::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            // In a query string `+` is a space.
            let decode = |s: &str| crate::ingress::percent_decode(&s.replace('+', " "));
            let (k, v) = (decode(k), decode(v));
            if !allowed.contains(&k.as_str()) {
                return Err(ApiError::invalid(
                    Some(&k),
                    format!(
                        "unknown parameter `{k}`; this endpoint takes {}",
                        allowed.join(", ")
                    ),
                ));
            }
            if map.contains_key(&k) {
                return Err(ApiError::invalid(Some(&k), format!("`{k}` is given twice")));
            }
            map.insert(k, v);
        }
        Ok(Params(map))
    }

    /// A text parameter; empty counts as absent.
    pub fn text(&self, name: &str) -> Option<String> {
        self.0.get(name).filter(|v| !v.is_empty()).cloned()
    }

    /// A time: Unix milliseconds or RFC 3339.
    pub fn time_ms(&self, name: &str) -> Result<Option<i64>, ApiError> {
        let Some(v) = self.text(name) else {
            return Ok(None);
        };
        if let Ok(ms) = v.parse::<i64>() {
            return Ok(Some(ms));
        }
        gateway_translate::time::parse_rfc3339(&v)
            .and_then(|secs| i64::try_from(secs).ok())
            .and_then(|secs| secs.checked_mul(1000))
            .map(Some)
            .ok_or_else(|| {
                ApiError::invalid(
                    Some(name),
                    format!("`{v}` is not a time: give Unix milliseconds or RFC 3339 (2025-01-31T00:00:00Z)"),
                )
            })
    }

    /// A whole number in `min..=max`.
    pub fn number(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        let Some(v) = self.text(name) else {
            return Ok(None);
        };
        match v.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(ApiError::invalid(
                Some(name),
                format!("`{v}` is not a whole number from {min} to {max}"),
            )),
        }
    }

    /// `true` or `false` (also `1`/`0`); absent is `false`.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.text(name).as_deref() {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(v) => Err(ApiError::invalid(
                Some(name),
                format!("`{v}` is not true or false"),
            )),
        }
    }

    /// One of `choices`, as the index of the match.
    pub fn choice(&self, name: &str, choices: &[&str]) -> Result<Option<usize>, ApiError> {
        let Some(v) = self.text(name) else {
            return Ok(None);
        };
        choices
            .iter()
            .position(|c| *c == v)
            .map(Some)
            .ok_or_else(|| {
                ApiError::invalid(
                    Some(name),
                    format!("`{v}` is not one of {}", choices.join(", ")),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param_of(err: ApiError) -> String {
        err.param.unwrap_or_default()
    }

    #[test]
    fn parameters_are_decoded_and_checked_by_name() {
        let p = Params::parse(
            Some("model=gpt%2D5+x&from=&limit=5"),
            &["model", "from", "limit"],
        )
        .unwrap();
        assert_eq!(p.text("model").as_deref(), Some("gpt-5 x"));
        assert_eq!(p.time_ms("from").unwrap(), None);
        assert_eq!(p.number("limit", 1, 10).unwrap(), Some(5));
        let err = Params::parse(Some("grup_by=key"), &["group_by"]).unwrap_err();
        assert_eq!(param_of(err), "grup_by");
        let err = Params::parse(Some("a=1&a=2"), &["a"]).unwrap_err();
        assert_eq!(param_of(err), "a");
    }

    #[test]
    fn times_are_unix_ms_or_rfc3339() {
        let p = Params::parse(
            Some("from=1700000000000&to=2023-11-14T22:13:20Z&bad=yesterday"),
            &["from", "to", "bad"],
        )
        .unwrap();
        assert_eq!(p.time_ms("from").unwrap(), Some(1_700_000_000_000));
        assert_eq!(p.time_ms("to").unwrap(), Some(1_700_000_000_000));
        assert_eq!(param_of(p.time_ms("bad").unwrap_err()), "bad");
    }

    #[test]
    fn numbers_flags_and_choices_name_the_parameter() {
        let p = Params::parse(
            Some("limit=0&errors=maybe&by=week"),
            &["limit", "errors", "by"],
        )
        .unwrap();
        assert_eq!(param_of(p.number("limit", 1, 10).unwrap_err()), "limit");
        assert_eq!(param_of(p.flag("errors").unwrap_err()), "errors");
        assert_eq!(param_of(p.choice("by", &["day"]).unwrap_err()), "by");
        assert!(!Params::default().flag("errors").unwrap());
    }
}
