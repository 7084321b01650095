//! `GET` and `DELETE /v1/responses/{id}`, `GET /v1/responses/{id}/input_items`: the
//! stored responses a key may see, answered from the store. A response another key
//! made, an expired one and one never made are all the same 404.

use std::sync::Arc;

use gateway_auth::Entry;
use gateway_protocol::{ApiShape, ErrorKind, GatewayError};
use http::StatusCode;
use serde_json::json;

use super::items::{Page, StoredOp, page_of};
use super::{blocking, owner, storage_error};
use crate::app::App;
use crate::respond::{self, Answer};

const SHAPE: ApiShape = ApiShape::OpenAiResponses;

/// Answers one operation on the stored response `id`.
pub(crate) async fn serve_stored(
    app: &Arc<App>,
    op: StoredOp,
    id: String,
    entry: &Arc<Entry>,
) -> Answer {
    match stored(app, op, id, entry).await {
        Ok(answer) => answer,
        Err(err) => respond::error(SHAPE, &err),
    }
}

async fn stored(
    app: &Arc<App>,
    op: StoredOp,
    id: String,
    entry: &Arc<Entry>,
) -> Result<Answer, GatewayError> {
    let Some(state) = app.responses.clone() else {
        return Err(GatewayError::new(
            ErrorKind::NotFound,
            "this gateway keeps no responses ([responses] enabled = false)",
        )
        .with_code("not_found"));
    };
    let page = match &op {
        StoredOp::Get { stream: true } => {
            return Err(GatewayError::invalid_request(
                "stream",
                "`stream=true` is not supported: a stored response is returned whole",
            ));
        }
        StoredOp::InputItems(query) => Some(
            Page::from_query(query.as_deref())
                .map_err(|(param, message)| GatewayError::invalid_request(param, message))?,
        ),
        _ => None,
    };
    let found = {
        let (state, id, entry) = (state.clone(), id.clone(), entry.clone());
        blocking(move || state.load(&id, &entry)).await?
    };
    let Some(row) = found else {
        return Err(not_found(&id));
    };
    if op == StoredOp::Delete {
        let (gone, entry) = (id.clone(), entry.clone());
        let deleted = blocking(move || {
            state
                .store
                .delete(&gone, owner(&entry))
                .map_err(|e| storage_error(&e))
        })
        .await?;
        if deleted.is_none() {
            return Err(not_found(&id));
        }
    }
    let body = match (op, page) {
        (StoredOp::Delete, _) => json!({"id": id, "object": "response.deleted", "deleted": true})
            .to_string()
            .into_bytes(),
        (StoredOp::InputItems(_), Some(page)) => {
            page_of(row.input_items.as_deref().unwrap_or("[]"), &page)
                .to_string()
                .into_bytes()
        }
        _ => row.response.unwrap_or_default().into_bytes(),
    };
    Ok(respond::json(StatusCode::OK, body))
}

/// OpenAI's 404 for a response it does not have.
fn not_found(id: &str) -> GatewayError {
    GatewayError::new(
        ErrorKind::NotFound,
        format!("No response found with id '{id}'."),
    )
    .with_code("not_found")
}
