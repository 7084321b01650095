//! The stored responses' endpoints as data: which operation a path asks for, the
//! input items a response keeps (ids given to those that had none), and a page of
//! them as `GET /v1/responses/{id}/input_items` lists it.

use serde_json::{Value, json};

/// What is asked of a stored response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredOp {
    /// `GET /v1/responses/{id}`.
    Get {
        /// `?stream=true` (refused: a stored response is not replayed as a stream).
        stream: bool,
    },
    /// `DELETE /v1/responses/{id}`.
    Delete,
    /// `GET /v1/responses/{id}/input_items`, with its query string (read into a
    /// [`Page`] when served, so a bad parameter is answered in the envelope).
    InputItems(Option<String>),
}

/// Pagination of `input_items`, as OpenAI's list endpoints take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Items after this id (in the order asked for).
    pub after: Option<String>,
    /// Items before this id.
    pub before: Option<String>,
    /// How many, 1 to 100 (default 20).
    pub limit: usize,
    /// Newest first (the default), or oldest first.
    pub descending: bool,
}

impl Page {
    /// Reads `after`, `before`, `limit` and `order` from a query string; a value out
    /// of range is an error naming the parameter.
    pub fn from_query(query: Option<&str>) -> Result<Page, (&'static str, String)> {
        let mut page = Page {
            after: None,
            before: None,
            limit: 20,
            descending: true,
        };
        for (k, v) in query
            .unwrap_or_default()
            .split('&')
            .filter_map(|kv| kv.split_once('='))
        {
            let v = crate::ingress::percent_decode(v);
            match k {
                "after" => page.after = Some(v),
                "before" => page.before = Some(v),
                "limit" => {
                    page.limit = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=100).contains(n))
                        .ok_or(("limit", format!("`limit` must be 1 to 100, not `{v}`")))?;
                }
                "order" => {
                    page.descending = match v.as_str() {
                        "desc" => true,
                        "asc" => false,
                        _ => {
                            return Err((
                                "order",
                                format!("`order` must be asc or desc, not `{v}`"),
                            ));
                        }
                    };
                }
                _ => {}
            }
        }
        Ok(page)
    }
}

/// `input` as a list of items, each with an id: a string becomes one user message;
/// items without an id get `msg_<response>_<i>` (messages) or `item_<response>_<i>`.
pub(crate) fn input_items(raw: &[u8], response_id: &str) -> String {
    let base = response_id.strip_prefix("resp_").unwrap_or(response_id);
    let items = match serde_json::from_slice::<Value>(raw) {
        Ok(Value::String(text)) => vec![json!({
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        })],
        Ok(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    let items: Vec<Value> = items
        .into_iter()
        .enumerate()
        .map(|(i, mut item)| {
            if let Value::Object(obj) = &mut item {
                let kind = obj
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("message")
                    .to_owned();
                obj.entry("type").or_insert_with(|| json!("message"));
                if obj.get("id").and_then(Value::as_str).is_none() {
                    let prefix = if kind == "message" { "msg" } else { "item" };
                    obj.insert("id".to_owned(), json!(format!("{prefix}_{base}_{i}")));
                }
            }
            item
        })
        .collect();
    Value::Array(items).to_string()
}

/// One page of `items` (oldest first as stored) as OpenAI's list object.
pub(crate) fn page_of(items: &str, page: &Page) -> Value {
    let mut all: Vec<Value> = serde_json::from_str(items).unwrap_or_default();
    if page.descending {
        all.reverse();
    }
    let id_of = |v: &Value| v.get("id").and_then(Value::as_str).map(str::to_owned);
    let mut start = 0;
    let mut end = all.len();
    if let Some(after) = &page.after {
        start = all
            .iter()
            .position(|v| id_of(v).as_deref() == Some(after))
            .map_or(all.len(), |i| i + 1);
    }
    if let Some(before) = &page.before {
        end = all
            .iter()
            .position(|v| id_of(v).as_deref() == Some(before))
            .unwrap_or(all.len());
    }
    let window: Vec<Value> = all.get(start..end.max(start)).unwrap_or_default().to_vec();
    let has_more = window.len() > page.limit;
    let data: Vec<Value> = window.into_iter().take(page.limit).collect();
    json!({
        "object": "list",
        "data": data,
        "first_id": data.first().and_then(id_of),
        "last_id": data.last().and_then(id_of),
        "has_more": has_more,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_input_is_one_user_message_and_items_get_ids() {
        let one: Value = serde_json::from_str(&input_items(br#""hi""#, "resp_ab")).unwrap();
        assert_eq!(one[0]["id"], "msg_ab_0");
        assert_eq!(
            one[0]["content"][0],
            json!({"type": "input_text", "text": "hi"})
        );
        let list: Value = serde_json::from_str(&input_items(
            br#"[{"role":"user","content":"a"},{"type":"function_call_output","call_id":"c","output":"x"},{"id":"mine","role":"user","content":"b"}]"#,
            "resp_ab",
        ))
        .unwrap();
        let ids: Vec<_> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].clone())
            .collect();
        assert_eq!(ids, [json!("msg_ab_0"), json!("item_ab_1"), json!("mine")]);
        assert_eq!(list[0]["type"], "message");
    }

    #[test]
    fn pages_go_newest_first_by_default_and_follow_after_and_before() {
        let items = r#"[{"id":"a"},{"id":"b"},{"id":"c"},{"id":"d"},{"id":"e"}]"#;
        let page = |q| page_of(items, &Page::from_query(Some(q)).unwrap());
        let ids = |v: &Value| -> Vec<String> {
            v["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned())
                .collect()
        };
        let first = page("limit=2");
        assert_eq!(ids(&first), ["e", "d"]);
        assert_eq!(
            (
                first["first_id"].clone(),
                first["last_id"].clone(),
                first["has_more"].clone()
            ),
            (json!("e"), json!("d"), json!(true))
        );
        assert_eq!(ids(&page("limit=2&after=d")), ["c", "b"]);
        let last = page("limit=2&after=b");
        assert_eq!(ids(&last), ["a"]);
        assert_eq!(last["has_more"], false);
        assert_eq!(ids(&page("order=asc&after=b&before=e")), ["c", "d"]);
        assert_eq!(ids(&page("after=zz")), Vec::<String>::new());
        assert_eq!(page("limit=2&after=zz")["first_id"], Value::Null);
    }

    #[test]
    fn bad_page_parameters_name_themselves() {
        assert_eq!(Page::from_query(Some("limit=0")).unwrap_err().0, "limit");
        assert_eq!(Page::from_query(Some("limit=101")).unwrap_err().0, "limit");
        assert_eq!(Page::from_query(Some("order=up")).unwrap_err().0, "order");
        assert_eq!(Page::from_query(None).unwrap().limit, 20);
    }
}
