//! `[server.cors]` in a real browser: a page of the listed origin calls the gateway
//! with a key (a preflighted request: `authorization` and a JSON body) and reads the
//! answer and its headers; a page of another origin gets nothing it can read, and
//! the browser says why.

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::Server;
use crate::browser::Browser;

/// Serves one small HTML page on `port` until aborted: the page a web app would be.
async fn page_server(port: u16) -> tokio::task::JoinHandle<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf).await;
                let body = "<!doctype html><title>a web app</title><p>a web app</p>";
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes()).await;
                let _ = conn.write_all(body.as_bytes()).await;
            });
        }
    })
}

/// A chat request from the open page to the gateway with `key`: the status, the
/// answer's model and request id as the page reads them, or the fetch's error.
async fn call_from_page(b: &Browser, gateway: &str, key: &str) -> Value {
    b.eval_async(
        "const [gateway, key, done] = arguments;
         fetch(gateway + '/v1/chat/completions', {
           method: 'POST',
           headers: { 'authorization': 'Bearer ' + key, 'content-type': 'application/json' },
           body: JSON.stringify({ model: 'mock-echo',
                                  messages: [{ role: 'user', content: 'from a web app' }] }),
         })
           .then(async (r) => {
             const body = await r.json();
             done({ status: r.status, model: body.model || null,
                    error: body.error ? body.error.type : null,
                    request_id: r.headers.get('x-request-id') });
           })
           .catch((e) => done({ failed: String(e) }));",
        vec![json!(gateway), json!(key)],
    )
    .await
}

pub async fn walk(b: &Browser, server: &Server, key: &str) {
    let listed = page_server(server.page_port).await;
    let other_port = crate::free_port();
    let other = page_server(other_port).await;
    b.take_log().await;

    b.open(&format!("http://127.0.0.1:{}/", server.page_port))
        .await;
    let ok = call_from_page(b, &server.gateway, key).await;
    assert_eq!(ok["status"], 200, "{ok}");
    assert_eq!(ok["model"], "mock-echo", "{ok}");
    assert!(
        ok["request_id"].is_string(),
        "the gateway's headers are readable: {ok}"
    );
    let refused = call_from_page(b, &server.gateway, "pbk_not_a_key").await;
    assert_eq!(refused["status"], 401, "{refused}");
    assert_eq!(refused["error"], "invalid_request_error", "{refused}");

    b.open(&format!("http://127.0.0.1:{other_port}/")).await;
    let blocked = call_from_page(b, &server.gateway, key).await;
    assert!(
        blocked["failed"]
            .as_str()
            .is_some_and(|e| e.contains("Failed to fetch")),
        "another origin's page reads nothing: {blocked}"
    );
    let log = b.take_log().await;
    assert!(
        log.iter().any(|m| m.contains("blocked by CORS policy")),
        "the browser says why: {log:?}"
    );

    listed.abort();
    other.abort();
}
