//! The caller's explicit provider parameters: `{"patchbay": {"ext": {"<provider>": {...}}}}`,
//! read the same way by every shape's request decoder.

use gateway_protocol::Extensions;
use serde_json::Value;

use crate::error::TranslateError;

/// Merges the `patchbay` body key into `ext.params`, one map per provider.
pub(crate) fn merge_patchbay(value: &Value, ext: &mut Extensions) -> Result<(), TranslateError> {
    let Some(obj) = value.as_object() else {
        return Err(TranslateError::invalid("patchbay", "must be an object"));
    };
    let Some(providers) = obj.get("ext") else {
        return Ok(());
    };
    let Some(providers) = providers.as_object() else {
        return Err(TranslateError::invalid(
            "patchbay.ext",
            "must be an object of provider names → parameters",
        ));
    };
    for (provider, params) in providers {
        let Some(params) = params.as_object() else {
            return Err(TranslateError::invalid(
                format!("patchbay.ext.{provider}"),
                "must be an object of parameters",
            ));
        };
        for (k, v) in params {
            ext.insert(provider, k.clone(), v.clone());
        }
    }
    Ok(())
}
