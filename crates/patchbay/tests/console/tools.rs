//! The Tools page: Codex connected in the page (its config file, in the server's
//! temporary HOME, then points at the gateway with a new key), shown as connected,
//! and disconnected again (the file, which did not exist, is gone).

use std::path::Path;

use crate::Server;
use crate::browser::Browser;

pub async fn walk(b: &Browser, server: &Server, shots: Option<&Path>) {
    let site = &server.admin;
    let file = server.dir.join("home/.codex/config.toml");
    assert!(!file.exists());
    b.open(&format!("{site}/#/tools")).await;
    b.wait_page("tools").await;
    b.wait_css("[data-tool=codex] [data-action=connect]").await;
    let host = b
        .eval("return document.getElementById('tools-host').textContent")
        .await;
    let host = host.as_str().unwrap();
    assert!(
        host.contains(&server.dir.join("home").display().to_string()),
        "{host}"
    );

    b.click("[data-tool=codex] [data-action=connect]").await;
    b.wait_css("[data-tool=codex] .state.active").await;
    b.wait_text("[data-tool=codex]", "connect-codex").await;
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(
        written.contains(&format!("base_url = \"{}/v1\"", server.gateway)),
        "{written}"
    );
    if let Some(dir) = shots {
        // Earlier pages' notices are not this page's.
        b.eval("document.getElementById('toast').hidden = true")
            .await;
        b.shoot(dir, "tools").await;
    }
    b.resize(375, 812).await;
    b.fits_width("tools").await;
    if let Some(dir) = shots {
        b.shoot(dir, "tools-375").await;
    }
    b.resize(1280, 900).await;
    b.fits_width("tools").await;

    b.click("[data-tool=codex] [data-action=disconnect]").await;
    b.wait_css("[data-tool=codex] [data-action=connect]").await;
    b.wait_css("[data-tool=codex] .state:not(.active)").await;
    assert!(!file.exists(), "disconnect removed the file it made");
    b.settled("tools").await;
}
