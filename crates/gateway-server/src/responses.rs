//! Responses API state for every upstream (docs/RESPONSES.md): `store`,
//! `previous_response_id`, and the stored responses' own endpoints.
//!
//! A Responses call becomes a [`Turn`] in the prepare layer: its new id, whether it is
//! stored, who makes it, and the conversation of the response it continues, loaded
//! off the async workers. That conversation is put in front of the new input as
//! canonical turns — reasoning, signatures and call ids included — so whatever
//! upstream serves sees the whole history; the answer is given the gateway's own
//! `resp_` id and stored with the conversation up to and including its output, so
//! the next call loads one row.
//!
//! Every upstream is served this way, OpenAI's included: `gateway-providers` speaks
//! Chat Completions to OpenAI (no provider speaks Responses upstream but the built-in
//! mock), so there is no upstream-side state to pass through to.
//!
//! A call with `store: false` and no `previous_response_id` takes no part: it is
//! served exactly as without this module — unless it came over the WebSocket
//! transport (`socket`), whose connection remembers its latest response whatever
//! `store` says (`memory`), as OpenAI's does.

mod items;
mod memory;
mod routes;
pub mod socket;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use gateway_auth::{Entry, Owner, ResponseRow, ResponseStore};
use gateway_protocol::{
    ChatRequest, ChatResponse, ErrorKind, Family, GatewayError, Message, Part, Role,
};
use gateway_translate::fastpath;
use gateway_translate::stored::{self, Conversation};

use crate::app::App;
use crate::config::{ResponsesConfig, ResponsesShare};

pub use items::{Page, StoredOp};
pub use memory::Memory;
pub(crate) use routes::serve_stored;

/// The gateway's store of responses and its rules.
#[derive(Debug)]
pub(crate) struct State {
    store: ResponseStore,
    retention: Duration,
    /// When rows were last purged (Unix ms).
    last_purge: AtomicI64,
}

impl State {
    /// The state `[responses]` asks for over `db`.
    pub(crate) fn new(config: &ResponsesConfig, db: Arc<dyn gateway_auth::ResponseDb>) -> State {
        let share = match config.share {
            ResponsesShare::Key => gateway_auth::Share::Key,
            ResponsesShare::Project => gateway_auth::Share::Project,
        };
        State {
            store: ResponseStore::over(db, share),
            retention: config
                .retention()
                .unwrap_or(Duration::from_secs(30 * 86_400)),
            last_purge: AtomicI64::new(0),
        }
    }

    /// Rows made before this are expired (purged, or about to be: never shown).
    fn cutoff_ms(&self, now_ms: i64) -> i64 {
        let keep = i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
        now_ms.saturating_sub(keep)
    }

    /// The row `id` as `entry` may see it, unexpired. Blocking.
    fn load(&self, id: &str, entry: &Entry) -> Result<Option<ResponseRow>, GatewayError> {
        let now = gateway_auth::cache::now_ms();
        let row = self
            .store
            .get(id, owner(entry))
            .map_err(|e| storage_error(&e))?;
        Ok(row.filter(|r| r.created_ms >= self.cutoff_ms(now)))
    }

    /// Removes the expired rows; how many. Blocking.
    pub(crate) fn purge(&self) -> Result<u64, gateway_auth::AuthError> {
        let now = gateway_auth::cache::now_ms();
        self.last_purge.store(now, Ordering::Relaxed);
        self.store.purge(self.cutoff_ms(now))
    }

    /// How often expired rows are removed: a tenth of the retention, between a
    /// second and an hour.
    pub(crate) fn purge_every(&self) -> Duration {
        (self.retention / 10).clamp(Duration::from_secs(1), Duration::from_secs(3_600))
    }
}

/// The caller as the store sees it.
fn owner(entry: &Entry) -> Owner<'_> {
    Owner {
        key_id: &entry.subject.key_id,
        project_id: entry.subject.project_id.as_deref(),
    }
}

/// A Responses call's part in the state.
#[derive(Debug)]
pub struct Turn {
    /// The id the answer gets when the gateway keeps it.
    pub(crate) id: String,
    /// `store` (default true).
    pub(crate) store: bool,
    key_id: String,
    project_id: Option<String>,
    /// The caller's model name.
    model: String,
    /// `input` as the caller gave it, as a list of items with ids.
    input_items: String,
    /// The conversation of the response continued.
    prior: Option<Conversation>,
    /// The conversation before this call's answer (set by [`Turn::splice`]).
    history: Conversation,
    /// The memory of the WebSocket connection the call came on, if it did.
    memory: Option<Arc<Memory>>,
}

/// An answer the gateway keeps: in the database when the call is stored, in its
/// connection's memory when it came over a WebSocket.
#[derive(Debug)]
pub(crate) struct Kept {
    id: String,
    key_id: String,
    /// The database row, when the call is stored.
    row: Option<ResponseRow>,
    memory: Option<(Arc<Memory>, Conversation)>,
}

/// Reads what a Responses call says about state and loads the response it
/// continues: from the connection's `memory` when it is the latest there, else from
/// the database. `None` when the gateway keeps no state, or the call takes no part
/// (`store: false`, no `previous_response_id`, not on a WebSocket).
pub(crate) async fn begin(
    app: &Arc<App>,
    body: &Bytes,
    entry: &Arc<Entry>,
    memory: Option<&Arc<Memory>>,
) -> Result<Option<Turn>, GatewayError> {
    let Some(state) = app.responses.clone() else {
        return Ok(None);
    };
    let store = member(body, "store")? != Some(b"false".as_slice());
    let previous = match member(body, "previous_response_id")? {
        None | Some(b"null") => None,
        Some(raw) => Some(serde_json::from_slice::<String>(raw).map_err(|_| {
            GatewayError::invalid_request(
                "previous_response_id",
                "`previous_response_id` must be a string",
            )
        })?),
    };
    if !store && previous.is_none() && memory.is_none() {
        return Ok(None);
    }
    let recalled = previous
        .as_deref()
        .zip(memory)
        .and_then(|(id, memory)| memory.recall(id, &entry.subject.key_id));
    let prior = match previous {
        None => None,
        Some(_) if recalled.is_some() => recalled,
        Some(id) => {
            let entry = entry.clone();
            // Read and decoded off the workers: a long conversation is a large row.
            let found = blocking(move || match state.load(&id, &entry)? {
                None => Err(previous_not_found(&id)),
                Some(row) => conversation_of(&row),
            })
            .await?;
            Some(found)
        }
    };
    let id = new_id();
    let input_items = member(body, "input")?
        .map(|raw| items::input_items(raw, &id))
        .unwrap_or_else(|| "[]".to_owned());
    Ok(Some(Turn {
        id,
        store,
        key_id: entry.subject.key_id.clone(),
        project_id: entry.subject.project_id.clone(),
        model: String::new(),
        input_items,
        prior,
        history: Conversation::default(),
        memory: memory.cloned(),
    }))
}

fn conversation_of(row: &ResponseRow) -> Result<Conversation, GatewayError> {
    stored::decode(row.turns.as_deref().unwrap_or_default().as_bytes()).map_err(|e| {
        GatewayError::new(
            ErrorKind::Internal,
            format!("the stored response `{}` could not be read: {e}", row.id),
        )
    })
}

impl Turn {
    /// Puts the stored conversation in front of the decoded call's own input and
    /// keeps the whole history for the answer's row. `body` tells which system part
    /// is `instructions` (per call, never inherited, so not stored).
    pub(crate) fn splice(
        &mut self,
        req: &mut ChatRequest,
        body: &[u8],
    ) -> Result<(), GatewayError> {
        self.model.clone_from(&req.model);
        let instructions = match member(body, "instructions")? {
            Some(raw) => {
                usize::from(serde_json::from_slice::<String>(raw).is_ok_and(|s| !s.is_empty()))
            }
            None => 0,
        };
        let own_system = req.system.get(instructions..).unwrap_or_default().to_vec();
        if let Some(prior) = &self.prior {
            let mut system = req.system[..instructions.min(req.system.len())].to_vec();
            system.extend(prior.system.iter().cloned());
            system.extend(own_system.iter().cloned());
            req.system = system;
            let mut messages = prior.messages.clone();
            append_messages(&mut messages, std::mem::take(&mut req.messages));
            req.messages = messages;
            // Resolved here: no upstream is to see it.
            req.extensions
                .binding
                .retain(|b| b.path != "previous_response_id");
            self.history = Conversation {
                system: prior.system.iter().cloned().chain(own_system).collect(),
                messages: req.messages.clone(),
            };
        } else {
            self.history = Conversation {
                system: own_system,
                messages: req.messages.clone(),
            };
        }
        Ok(())
    }

    /// Whether the answer is kept anywhere (stored, or remembered by its connection).
    pub(crate) fn keeps(&self) -> bool {
        self.store || self.memory.is_some()
    }

    /// What the gateway keeps of an answer: `object` is the response object as the
    /// caller received it (or would have, whole).
    fn kept(&self, resp: &ChatResponse, object: &[u8]) -> Kept {
        let mut conversation = self.history.clone();
        let output: Vec<Part> = resp.parts.clone();
        append_messages(
            &mut conversation.messages,
            vec![Message {
                role: Role::Assistant,
                parts: output,
            }],
        );
        // A remembered-only answer (a socket's `store: false`) is not encoded for a row.
        let row = self.store.then(|| ResponseRow {
            turns: Some(String::from_utf8_lossy(&stored::encode(&conversation)).into_owned()),
            response: Some(String::from_utf8_lossy(object).into_owned()),
            status: status_of(object),
            input_tokens: i64::try_from(resp.usage.input_tokens).unwrap_or(i64::MAX),
            output_tokens: i64::try_from(resp.usage.output_tokens).unwrap_or(i64::MAX),
            id: self.id.clone(),
            key_id: self.key_id.clone(),
            project_id: self.project_id.clone(),
            created_ms: gateway_auth::cache::now_ms(),
            model: self.model.clone(),
            input_items: Some(self.input_items.clone()),
        });
        Kept {
            id: self.id.clone(),
            key_id: self.key_id.clone(),
            row,
            memory: self.memory.clone().map(|m| (m, conversation)),
        }
    }

    /// What is kept of a whole answer decoded as `resp` and sent as `object`, when
    /// anything is.
    pub(crate) fn kept_of(&self, resp: &ChatResponse, object: &[u8]) -> Option<Kept> {
        self.keeps().then(|| self.kept(resp, object))
    }
}

/// Appends `more` to `messages`, merging a message into the last one when they have
/// the same role (Responses items of one side form one turn).
fn append_messages(messages: &mut Vec<Message>, more: Vec<Message>) {
    for m in more {
        match messages.last_mut() {
            Some(last) if last.role == m.role && !is_tool_results(last) && !is_tool_results(&m) => {
                last.parts.extend(m.parts)
            }
            _ => messages.push(m),
        }
    }
}

fn is_tool_results(m: &Message) -> bool {
    m.role == Role::User && m.parts.iter().any(|p| matches!(p, Part::ToolResult(_)))
}

/// Strips what only the gateway reads from an emulated call's canonical request:
/// `store` and `previous_response_id` (a Responses upstream that is not the state's
/// keeper must not see them).
pub(crate) fn strip_state_fields(req: &mut ChatRequest) {
    if let Some(params) = req.extensions.params.get_mut(Family::OpenAi.as_str()) {
        params.remove("store");
        params.remove("previous_response_id");
    }
    req.extensions
        .binding
        .retain(|b| b.path != "previous_response_id");
}

/// Keeps an answer: in its connection's memory, and, when stored, in the database
/// (off the async workers). A failure is logged: the caller already has the answer.
pub(crate) async fn save(app: &App, kept: Kept) {
    let Kept {
        id,
        key_id,
        row,
        memory,
    } = kept;
    if let Some((memory, conversation)) = memory {
        memory.remember(&id, &key_id, conversation);
    }
    let (Some(state), Some(row)) = (app.responses.clone(), row) else {
        return;
    };
    let saved = blocking(move || {
        state.store.put(&row).map_err(|e| storage_error(&e))?;
        // Expired rows go at most once per purge period, on a write.
        let now = gateway_auth::cache::now_ms();
        let every = i64::try_from(state.purge_every().as_millis()).unwrap_or(i64::MAX);
        if now - state.last_purge.load(Ordering::Relaxed) >= every {
            state.purge().map_err(|e| storage_error(&e))?;
        }
        Ok(())
    })
    .await;
    if let Err(err) = saved {
        tracing::warn!(response = %id, error = %err.message, "a response could not be stored");
    }
}

/// Removes expired responses every purge period, for as long as `app` lives (the
/// binary spawns it; writes purge too, so a gateway without it still forgets them,
/// and expired rows are never shown either way).
pub async fn purge_task(app: Arc<App>) {
    let Some(state) = app.responses.clone() else {
        return;
    };
    loop {
        tokio::time::sleep(state.purge_every()).await;
        let state = state.clone();
        match tokio::task::spawn_blocking(move || state.purge()).await {
            Ok(Ok(n)) if n > 0 => tracing::debug!(purged = n, "expired responses removed"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "expired responses could not be removed"),
            Err(_) => return,
        }
    }
}

/// Runs a blocking store call off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, GatewayError> + Send + 'static,
) -> Result<T, GatewayError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|_| {
        Err(GatewayError::new(
            ErrorKind::Internal,
            "the store call failed",
        ))
    })
}

/// A top-level member of a body.
fn member<'a>(body: &'a [u8], key: &str) -> Result<Option<&'a [u8]>, GatewayError> {
    fastpath::get_member(body, key).map_err(GatewayError::from)
}

/// The `status` of a response object.
fn status_of(object: &[u8]) -> String {
    fastpath::get_member(object, "status")
        .ok()
        .flatten()
        .and_then(|raw| serde_json::from_slice::<String>(raw).ok())
        .unwrap_or_else(|| "completed".to_owned())
}

/// A new response id: `resp_` and 32 hex digits.
fn new_id() -> String {
    format!("resp_{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// OpenAI's answer to a `previous_response_id` it does not have (or that another
/// key made): 400, `previous_response_not_found`.
fn previous_not_found(id: &str) -> GatewayError {
    GatewayError::invalid_request(
        "previous_response_id",
        format!("Previous response with id '{id}' not found."),
    )
    .with_code("previous_response_not_found")
}

/// The store failed: a 500 that says so.
fn storage_error(e: &gateway_auth::AuthError) -> GatewayError {
    GatewayError::new(
        ErrorKind::Internal,
        format!("the response store failed: {e}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_resp_and_32_hex_digits() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 37);
        assert!(a[5..].bytes().all(|c| c.is_ascii_hexdigit()), "{a}");
    }

    #[test]
    fn appended_turns_merge_one_side_but_keep_tool_results_apart() {
        let mut msgs = vec![Message::text(Role::User, "a")];
        append_messages(
            &mut msgs,
            vec![
                Message::text(Role::User, "b"),
                Message::text(Role::Assistant, "c"),
            ],
        );
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].parts.len(), 2);
    }
}
