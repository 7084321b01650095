//! `[responses]`: the Responses API's server-side state (`store`,
//! `previous_response_id`, `GET`/`DELETE /v1/responses/{id}`, `input_items`), kept by
//! the gateway for upstreams that keep none (docs/RESPONSES.md).

use std::time::Duration;

use serde::Deserialize;

/// `[responses]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResponsesConfig {
    /// Keep Responses state in the gateway's database. Off: `previous_response_id`
    /// is refused unless an OpenAI upstream serves, and nothing is stored.
    pub enabled: bool,
    /// Who may read, continue and delete a stored response besides the key that
    /// made it: `"key"` (nobody) or `"project"` (every key of its project).
    pub share: Share,
    /// How long a stored response is kept, as `<n>d`, `<n>h`, `<n>m` or `<n>s`
    /// (OpenAI keeps 30 days). Older responses are purged and answer 404.
    pub retention: String,
    /// Serve the Responses WebSocket transport (an upgrade on `GET /v1/responses`,
    /// what Codex uses when its provider says `supports_websockets`). Off: the
    /// upgrade is refused at once and clients fall back to `POST /v1/responses`.
    pub websocket: bool,
}

/// `[responses] share`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Share {
    /// Only the key that made a response.
    #[default]
    Key,
    /// Every key of its project.
    Project,
}

impl Default for ResponsesConfig {
    fn default() -> Self {
        ResponsesConfig {
            enabled: true,
            share: Share::Key,
            retention: "30d".to_owned(),
            websocket: true,
        }
    }
}

impl ResponsesConfig {
    /// The retention as a duration; `None` when it does not read.
    pub fn retention(&self) -> Option<Duration> {
        parse_duration(&self.retention)
    }
}

/// `<n>d`, `<n>h`, `<n>m`, `<n>s` (n > 0).
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let n: u64 = text[..text.len() - unit.len_utf8()].trim().parse().ok()?;
    let secs = match unit {
        'd' => n.checked_mul(86_400)?,
        'h' => n.checked_mul(3_600)?,
        'm' => n.checked_mul(60)?,
        's' => n,
        _ => return None,
    };
    (secs > 0).then(|| Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_reads_days_hours_minutes_and_seconds() {
        assert_eq!(
            parse_duration("30d"),
            Some(Duration::from_secs(30 * 86_400))
        );
        assert_eq!(parse_duration(" 2h"), Some(Duration::from_secs(7_200)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1s"), Some(Duration::from_secs(1)));
        for bad in ["", "d", "0d", "30", "3w", "-1d", "1.5h", "∞d"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
