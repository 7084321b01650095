//! What goes into the store (new keys and projects, updates, as Rust values or JSON)
//! and what comes out (records for the admin API and the CLI, never a secret).

use serde::{Deserialize, Deserializer, Serialize};

use super::format::KeyStyle;
use crate::policy::{KeyPolicy, Limits};

/// A key to create. As JSON (admin API), unknown fields are refused.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewKey {
    /// A name for people: unique among the keys not revoked.
    pub name: String,
    /// How the plaintext begins.
    pub style: KeyStyle,
    /// The project (id or name) the key belongs to.
    pub project: Option<String>,
    /// The key's policy; `None` takes the store's defaults (from the config).
    pub policy: Option<KeyPolicy>,
    /// When the key stops working (Unix ms).
    pub expires_ms: Option<i64>,
}

/// Changes to a key; `None` leaves a field as it is. In the `Option<Option<_>>`
/// fields, `Some(None)` (JSON `null`) clears the value.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeyUpdate {
    /// A new name.
    pub name: Option<String>,
    /// Move the key to a project (id or name), or out of its project.
    #[serde(deserialize_with = "present")]
    pub project: Option<Option<String>>,
    /// A new policy, replacing the old one whole.
    pub policy: Option<KeyPolicy>,
    /// A new expiry time (Unix ms), or none.
    #[serde(deserialize_with = "present")]
    pub expires_ms: Option<Option<i64>>,
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`, through
/// `#[serde(default)]`).
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A key as the admin API and the CLI show it: never its secret nor its hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyRecord {
    /// The public id.
    pub id: String,
    /// The name.
    pub name: String,
    /// The display prefix: style, public id and 4 characters of the secret, e.g.
    /// `pbk_7Hq2xK9mPa_Ab12…`.
    pub prefix: String,
    /// How the plaintext begins.
    pub style: KeyStyle,
    /// The project's public id.
    pub project_id: Option<String>,
    /// What the key may do.
    pub policy: KeyPolicy,
    /// Disabled by an operator.
    pub disabled: bool,
    /// When it was revoked (Unix ms).
    pub revoked_ms: Option<i64>,
    /// When it expires (Unix ms).
    pub expires_ms: Option<i64>,
    /// Until when the secret replaced by the last rotation still works (Unix ms).
    pub previous_secret_until_ms: Option<i64>,
    /// Created (Unix ms).
    pub created_ms: i64,
    /// Last changed (Unix ms).
    pub updated_ms: i64,
}

/// Whether a key works, as of a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// It works.
    Active,
    /// Disabled by an operator.
    Disabled,
    /// Past its expiry time.
    Expired,
    /// Revoked, for good.
    Revoked,
}

impl KeyRecord {
    /// The key's state at `now_ms`.
    pub fn state(&self, now_ms: i64) -> KeyState {
        if self.revoked_ms.is_some() {
            KeyState::Revoked
        } else if self.expires_ms.is_some_and(|t| now_ms >= t) {
            KeyState::Expired
        } else if self.disabled {
            KeyState::Disabled
        } else {
            KeyState::Active
        }
    }
}

/// A project to create.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewProject {
    /// A unique name.
    pub name: String,
    /// Rates, quotas and budgets shared by the project's keys.
    pub limits: Limits,
}

/// Changes to a project; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectUpdate {
    /// A new name.
    pub name: Option<String>,
    /// New limits, replacing the old ones whole.
    pub limits: Option<Limits>,
}

/// A project (a team): its keys share its limits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectRecord {
    /// The public id, `prj_…`.
    pub id: String,
    /// The name.
    pub name: String,
    /// Rates, quotas and budgets.
    pub limits: Limits,
    /// Created (Unix ms).
    pub created_ms: i64,
    /// Last changed (Unix ms).
    pub updated_ms: i64,
}
