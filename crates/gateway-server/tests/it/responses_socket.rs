//! The Responses WebSocket transport (`crate::responses::socket`), driven by a Rust
//! WebSocket client over loopback: a tool loop continued by `previous_response_id`
//! with `store: false` (what Codex sends) over an Anthropic upstream, checked on what
//! the upstream receives; stored responses across connections; bad messages;
//! authentication; the message limit; the switch; shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::responses_state::{Seen, output_text, recorded};
use crate::support;

use gateway_protocol::ApiShape;
use serde_json::{Value, json};
use support::*;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use futures_util::{SinkExt, StreamExt};

type Ws = WebSocketStream<TcpStream>;

/// A gateway whose `m` goes to the mock agent behind a recorded Anthropic upstream.
async fn setup(extra: &str) -> (Gateway, Seen) {
    let (anthropic, seen) = recorded(ApiShape::Anthropic).await;
    let config = format!(
        r#"
[providers.anthropic]
kind = "anthropic"
base_url = "http://{anthropic}"
api_key = "k"
[[routes]]
model = "m"
targets = [{{ provider = "anthropic", model = "mock-agent" }}]
[[keys]]
name = "test"
secret = "{KEY}"
{extra}
"#
    );
    (Gateway::start(&config).await, seen)
}

/// Opens a socket on `/v1/responses` with `key` (none: no header).
async fn connect(gw: &Gateway, key: Option<&str>) -> Result<Ws, WsError> {
    let url = gw.url("/v1/responses").replace("http://", "ws://");
    let mut req = url.as_str().into_client_request().unwrap();
    if let Some(key) = key {
        req.headers_mut()
            .insert("authorization", format!("Bearer {key}").parse().unwrap());
    }
    let host = gw.base.trim_start_matches("http://").to_owned();
    let tcp = TcpStream::connect(host).await.unwrap();
    tokio_tungstenite::client_async(req, tcp)
        .await
        .map(|(ws, _)| ws)
}

/// The next text frame as JSON.
async fn event(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("an event within 10 s")
            .expect("the socket is open")
            .unwrap();
        match msg {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("not a text frame: {other:?}"),
        }
    }
}

/// Sends `body` and reads events up to the last: the events, the last one first.
async fn turn(ws: &mut Ws, body: Value) -> (Value, Vec<Value>) {
    ws.send(Message::text(body.to_string())).await.unwrap();
    let mut events = Vec::new();
    loop {
        let e = event(ws).await;
        let last = matches!(
            e["type"].as_str(),
            Some("response.completed" | "response.failed" | "error")
        );
        events.push(e.clone());
        if last {
            return (e, events);
        }
    }
}

fn lookup_tool() -> Value {
    json!([{
        "type": "function",
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"q": {"type": "number"}}}
    }])
}

#[tokio::test]
async fn a_tool_loop_continues_by_id_with_store_false_over_an_anthropic_upstream() {
    let (gw, seen) = setup("").await;
    let mut ws = connect(&gw, Some(KEY)).await.unwrap();
    let (last, events) = turn(
        &mut ws,
        json!({"type": "response.create", "model": "m", "store": false,
               "input": "CALL lookup {\"q\": 1}", "tools": lookup_tool()}),
    )
    .await;
    assert_eq!(last["type"], "response.completed", "{last}");
    assert_eq!(events[0]["type"], "response.created");
    let first = &last["response"];
    let id = first["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("resp_"), "{id}");
    let call = first["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "function_call")
        .expect("a function call");
    assert_eq!(call["name"], "lookup");

    // Only the new item: the call's name comes from the connection's memory.
    let (last, _) = turn(
        &mut ws,
        json!({"type": "response.create", "model": "m", "store": false,
               "previous_response_id": id, "tools": lookup_tool(),
               "input": [{"type": "function_call_output", "call_id": call["call_id"],
                          "output": "forty-two"}]}),
    )
    .await;
    assert_eq!(last["type"], "response.completed", "{last}");
    assert_eq!(
        output_text(&last["response"]),
        "Result of lookup: forty-two"
    );

    // The upstream saw the whole conversation the second time.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let messages = seen[1]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert!(messages[0].to_string().contains("CALL lookup"));
    assert_eq!(messages[1]["content"][0]["type"], "tool_use");
    assert_eq!(messages[2]["content"][0]["type"], "tool_result");

    // `store: false`: nothing in the database.
    let stored = client()
        .get(gw.url(&format!("/v1/responses/{id}")))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 404);
    // Another connection has no memory of it.
    let mut other = connect(&gw, Some(KEY)).await.unwrap();
    let (last, _) = turn(
        &mut other,
        json!({"type": "response.create", "model": "m", "store": false,
               "previous_response_id": id, "input": "again"}),
    )
    .await;
    assert_eq!(last["type"], "error");
    assert_eq!(last["status"], 400);
    assert_eq!(
        last["error"]["code"], "previous_response_not_found",
        "{last}"
    );
}

#[tokio::test]
async fn stored_responses_continue_on_another_connection_and_over_http() {
    let (gw, seen) = setup("").await;
    let mut ws = connect(&gw, Some(KEY)).await.unwrap();
    let (last, _) = turn(
        &mut ws,
        json!({"type": "response.create", "model": "m", "input": "remember this"}),
    )
    .await;
    let id = last["response"]["id"].as_str().unwrap().to_owned();
    drop(ws);
    let stored: Value = client()
        .get(gw.url(&format!("/v1/responses/{id}")))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["id"], id.as_str(), "{stored}");
    let mut ws = connect(&gw, Some(KEY)).await.unwrap();
    let (last, _) = turn(
        &mut ws,
        json!({"type": "response.create", "model": "m", "previous_response_id": id,
               "input": "and this"}),
    )
    .await;
    assert_eq!(last["type"], "response.completed", "{last}");
    assert_eq!(output_text(&last["response"]), "and this");
    let sent = seen.lock().unwrap()[1]["messages"].to_string();
    assert!(sent.contains("remember this"), "{sent}");
}

#[tokio::test]
async fn bad_messages_get_error_events_and_the_socket_goes_on() {
    let (gw, _) = setup("").await;
    let mut ws = connect(&gw, Some(KEY)).await.unwrap();
    ws.send(Message::text("not json")).await.unwrap();
    let e = event(&mut ws).await;
    assert_eq!(
        (e["type"].as_str(), e["status"].as_u64()),
        (Some("error"), Some(400))
    );
    ws.send(Message::text(r#"{"type":"session.update"}"#))
        .await
        .unwrap();
    let e = event(&mut ws).await;
    assert_eq!(e["error"]["param"], "type", "{e}");
    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    let e = event(&mut ws).await;
    assert_eq!(e["status"], 400, "{e}");
    // A body the HTTP path refuses: its 400 as an event.
    let (e, _) = turn(
        &mut ws,
        json!({"type": "response.create", "model": "m", "input": "x", "temperature": "hot"}),
    )
    .await;
    assert_eq!(e["type"], "error", "{e}");
    assert_eq!(e["status"], 400);
    // An unknown model: the routing error as an event.
    let (e, _) = turn(
        &mut ws,
        json!({"type": "response.create", "model": "nope", "input": "x"}),
    )
    .await;
    assert_eq!(e["type"], "error", "{e}");
    // ...and the connection still answers.
    let (last, _) = turn(
        &mut ws,
        json!({"type": "response.create", "model": "m", "input": "still here"}),
    )
    .await;
    assert_eq!(last["type"], "response.completed", "{last}");
    assert_eq!(output_text(&last["response"]), "still here");
    // `response.processed` (newer Codex sends it after each response) is taken
    // without an answer: the next event is the next response's.
    let ack = json!({"type": "response.processed", "response_id": last["response"]["id"]});
    ws.send(Message::text(ack.to_string())).await.unwrap();
    let (last, events) = turn(
        &mut ws,
        json!({"type": "response.create", "model": "m", "input": "after the note"}),
    )
    .await;
    assert_eq!(events[0]["type"], "response.created", "{events:?}");
    assert_eq!(last["type"], "response.completed", "{last}");
}

#[tokio::test]
async fn a_warmup_gives_an_id_that_the_next_message_builds_on() {
    let (gw, seen) = setup("").await;
    let mut ws = connect(&gw, Some(KEY)).await.unwrap();
    let (last, _) = turn(
        &mut ws,
        json!({"type": "response.create", "model": "m", "store": false, "generate": false,
               "instructions": "be brief", "input": "first words"}),
    )
    .await;
    assert_eq!(last["type"], "response.completed");
    assert_eq!(last["response"]["output"], json!([]));
    assert!(
        seen.lock().unwrap().is_empty(),
        "a warm-up calls no upstream"
    );
    let id = last["response"]["id"].as_str().unwrap();
    let (last, _) = turn(
        &mut ws,
        json!({"type": "response.create", "model": "m", "store": false,
               "previous_response_id": id, "input": "second words"}),
    )
    .await;
    assert_eq!(last["type"], "response.completed", "{last}");
    let seen = seen.lock().unwrap().clone();
    let sent = seen[0]["messages"].to_string();
    assert!(
        sent.contains("first words") && sent.contains("second words"),
        "{sent}"
    );
}

#[tokio::test]
async fn an_unauthenticated_upgrade_is_a_401_in_openais_envelope() {
    let (gw, _) = setup("").await;
    for key in [None, Some("pbk_wrong_key")] {
        let Err(WsError::Http(resp)) = connect(&gw, key).await else {
            panic!("the upgrade was accepted");
        };
        assert_eq!(resp.status(), 401);
        let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
        assert!(body["error"]["message"].is_string(), "{body}");
        assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    }
}

#[tokio::test]
async fn a_key_in_the_query_serves_the_messages_too() {
    let (gw, _) = setup("").await;
    let url = format!(
        "{}?key={KEY}",
        gw.url("/v1/responses").replace("http://", "ws://")
    );
    let tcp = TcpStream::connect(gw.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(url.as_str(), tcp)
        .await
        .unwrap();
    let (last, _) = turn(
        &mut ws,
        json!({"type": "response.create", "model": "m", "input": "by query"}),
    )
    .await;
    assert_eq!(last["type"], "response.completed", "{last}");
}

#[tokio::test]
async fn a_message_over_the_body_limit_closes_the_socket_with_1009() {
    let (gw, _) = setup("[server]\nmax_body_bytes = 4096\n").await;
    let mut ws = connect(&gw, Some(KEY)).await.unwrap();
    let big = json!({"type": "response.create", "model": "m", "input": "x".repeat(10_000)});
    ws.send(Message::text(big.to_string())).await.unwrap();
    let e = event(&mut ws).await;
    assert_eq!(e["status"], 413, "{e}");
    match ws.next().await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Size),
        other => panic!("no close frame: {other:?}"),
    }
}

#[tokio::test]
async fn the_transport_can_be_turned_off_and_upgrades_are_refused_at_once() {
    let (gw, _) = setup("[responses]\nwebsocket = false\n").await;
    let Err(WsError::Http(resp)) = connect(&gw, Some(KEY)).await else {
        panic!("the upgrade was accepted");
    };
    assert_eq!(resp.status(), 404);
    let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("WebSocket"),
        "{body}"
    );
}

#[tokio::test]
async fn shutdown_closes_open_sockets_with_1001() {
    let (gw, _) = setup("").await;
    let mut ws = connect(&gw, Some(KEY)).await.unwrap();
    let (last, _) = turn(
        &mut ws,
        json!({"type": "response.create", "model": "m", "input": "hello"}),
    )
    .await;
    assert_eq!(last["type"], "response.completed");
    assert_eq!(gw.app.open_sockets(), 1);
    let app = gw.app.clone();
    let stopped = tokio::spawn(gw.shutdown());
    match tokio::time::timeout(std::time::Duration::from_secs(5), ws.next()).await {
        Ok(Some(Ok(Message::Close(Some(frame))))) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("no close frame: {other:?}"),
    }
    drop(ws);
    stopped.await.unwrap();
    assert_eq!(app.open_sockets(), 0);
}

#[tokio::test]
async fn sockets_past_max_connections_are_refused_with_a_503() {
    let (gw, _) = setup("[server]\nmax_connections = 1\n").await;
    let _first = connect(&gw, Some(KEY)).await.unwrap();
    // The first socket gave its connection slot back: the second connection is
    // taken, its upgrade refused.
    let Err(WsError::Http(resp)) = connect(&gw, Some(KEY)).await else {
        panic!("a second socket was accepted");
    };
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
}

#[tokio::test]
async fn pings_are_answered_between_and_after_responses() {
    let (gw, _) = setup("").await;
    let mut ws = connect(&gw, Some(KEY)).await.unwrap();
    for round in 0..2 {
        ws.send(Message::Ping(vec![round, 7].into())).await.unwrap();
        let pong = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
            .await
            .expect("a pong within 5 s");
        match pong {
            Some(Ok(Message::Pong(payload))) => assert_eq!(payload.as_ref(), [round, 7]),
            other => panic!("not a pong: {other:?}"),
        }
        let (last, _) = turn(
            &mut ws,
            json!({"type": "response.create", "model": "m", "input": "ping pong"}),
        )
        .await;
        assert_eq!(last["type"], "response.completed", "{last}");
    }
}

#[tokio::test]
async fn each_response_is_one_usage_record_as_over_http() {
    let (gw, _) = setup("").await;
    let mut ws = connect(&gw, Some(KEY)).await.unwrap();
    for text in ["one", "two"] {
        let (last, _) = turn(
            &mut ws,
            json!({"type": "response.create", "model": "m", "input": text}),
        )
        .await;
        assert_eq!(last["type"], "response.completed", "{last}");
    }
    let (e, _) = turn(&mut ws, json!({"type": "response.create", "model": "nope"})).await;
    assert_eq!(e["type"], "error");
    drop(ws);
    let rows = || {
        gw.app.flush_usage();
        let conn = gateway_auth::migrate::open(gw.app.database_path().unwrap()).unwrap();
        conn.prepare(
            "SELECT status, caller_shape, upstream_shape, streamed, output_tokens \
             FROM requests ORDER BY id",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, bool>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect::<Vec<_>>()
    };
    let start = std::time::Instant::now();
    let mut seen = rows();
    while seen.len() < 2 && start.elapsed() < std::time::Duration::from_secs(10) {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        seen = rows();
    }
    let answered: Vec<_> = seen.iter().filter(|r| r.0 == 200).collect();
    assert_eq!(answered.len(), 2, "{seen:?}");
    for (_, caller, upstream, streamed, output) in answered {
        assert_eq!(caller, "openai-responses");
        assert_eq!(upstream.as_deref(), Some("anthropic"));
        assert!(*streamed && *output > 0, "{seen:?}");
    }
}
