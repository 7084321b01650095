//! The Live page in the browser: open it, send requests with a key through the
//! gateway, and see them arrive pushed — in the finished table (under the key's
//! name) and in the figures — without a reload; at 375 px and on a desktop without
//! horizontal overflow, no browser error.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Server, chat};
use crate::browser::Browser;

/// Walks the Live page with the key `secret` (named `browser-key`, id `key_id`).
pub async fn walk(b: &Browser, server: &Server, secret: &str, key_id: &str, shots: Option<&Path>) {
    let site = &server.admin;
    b.open(&format!("{site}/#/live")).await;
    b.wait_page("live").await;
    b.wait_text("#live-state", "Live").await;
    // Marks this document: a reload would lose the mark.
    b.eval("window.liveMark = 'unreloaded'; return true").await;

    let sent = 5;
    for _ in 0..sent {
        assert_eq!(chat(server, secret).await, 200);
    }
    let rows = "#live-finished tbody tr[data-request-id]";
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let seen = b
            .eval(&format!(
                "return [...document.querySelectorAll('{rows}')]
                   .filter((tr) => tr.textContent.includes('browser-key')).length"
            ))
            .await;
        if seen.as_u64().unwrap_or(0) >= sent {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the requests did not appear in Live: {seen}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let row = b
        .eval(&format!(
            "return document.querySelector('{rows}').textContent"
        ))
        .await;
    let row = row.as_str().unwrap();
    assert!(row.contains("mock-echo") && row.contains("200"), "{row}");
    assert!(!row.contains(secret), "never the secret");
    let link = b
        .eval(&format!(
            "return document.querySelector('{rows} a').getAttribute('href')"
        ))
        .await;
    assert_eq!(
        link,
        json!(format!("#/logs?key={key_id}")),
        "the key's requests in Logs"
    );
    // The figures counted them: the chart's summary totals the seconds shown.
    let total = b
        .eval("return document.querySelector('main .chart').getAttribute('aria-label')")
        .await;
    let total = total.as_str().unwrap();
    let in_all: u64 = total
        .rsplit(": ")
        .next()
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.replace(',', "").parse().ok())
        .unwrap_or_else(|| panic!("no total in {total:?}"));
    assert!(in_all >= sent, "{total}");
    // A row's link keeps the keyboard focus while seconds pass.
    b.eval(&format!(
        "document.querySelector('{rows} a').focus(); return true"
    ))
    .await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let focused = b
        .eval("return !!document.activeElement.closest('#live-finished a')")
        .await;
    assert_eq!(focused, json!(true), "the focus stays on the link");
    b.eval("document.activeElement.blur(); return true").await;
    let mark = b.eval("return window.liveMark").await;
    assert_eq!(mark, json!("unreloaded"), "updated without a reload");
    b.settled("live").await;
    if let Some(dir) = shots {
        // Without the previous page's passing message over it.
        b.eval("document.getElementById('toast').hidden = true; return true")
            .await;
        b.shoot(dir, "live").await;
    }

    // Paused: the page stops changing; resumed: live again.
    b.click("#live-pause").await;
    b.wait_text("#live-state", "Paused").await;
    b.click("#live-pause").await;
    b.wait_text("#live-state", "Live").await;

    b.resize(375, 812).await;
    b.fits_width("live").await;
    if let Some(dir) = shots {
        b.shoot(dir, "live-375").await;
    }
    b.resize(1280, 900).await;
    b.fits_width("live").await;

    // Another page after it, with no error from the feed closing.
    b.open(&format!("{site}/#/keys")).await;
    b.wait_page("keys").await;
    b.settled("leaving live").await;
}
