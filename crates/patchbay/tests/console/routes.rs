//! The Routes page: the test config's default route in the table, and "try it"
//! resolving a name to the mock target, with the reason.

use std::path::Path;

use crate::Server;
use crate::browser::Browser;

pub async fn walk(b: &Browser, server: &Server, shots: Option<&Path>) {
    let site = &server.admin;
    b.open(&format!("{site}/#/routes")).await;
    b.wait_page("routes").await;
    b.wait_css("#routes-table tr[data-route='*']").await;
    let row = b
        .eval("return document.querySelector(\"#routes-table tr[data-route='*']\").textContent")
        .await;
    let row = row.as_str().unwrap();
    assert!(row.contains("default") && row.contains("mock"), "{row}");

    // Try it: a name nothing else routes goes to the default route's mock target.
    b.fill("#try-model", "browser-model").await;
    b.click("#try").await;
    b.wait_text("#try-plan", "mock / browser-model").await;
    b.wait_page("routes").await;
    let route = b
        .eval("return document.getElementById('try-route').textContent")
        .await;
    let route = route.as_str().unwrap();
    assert!(
        route.contains("browser-model") && route.contains("the default route"),
        "{route}"
    );
    let why = b
        .eval("return document.getElementById('try-why').textContent")
        .await;
    assert!(why.as_str().unwrap().contains("default route"), "{why}");
    assert_eq!(
        b.eval("return location.hash").await,
        serde_json::json!("#/routes?model=browser-model"),
        "the query is in the URL"
    );
    if let Some(dir) = shots {
        // Earlier pages' notices are not this page's.
        b.eval("document.getElementById('toast').hidden = true")
            .await;
        b.shoot(dir, "routes").await;
    }
    b.resize(375, 812).await;
    b.fits_width("routes").await;
    if let Some(dir) = shots {
        b.shoot(dir, "routes-375").await;
    }
    b.resize(1280, 900).await;
    b.fits_width("routes").await;
    b.settled("routes").await;
}
