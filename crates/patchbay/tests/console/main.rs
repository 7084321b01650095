//! The operator console in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`, installed by `scripts/browser`) driven over WebDriver against
//! the built `patchbay serve` with the built-in mock provider.
//!
//! One walk through it: a wrong login token refused, the login, a key created in the
//! page and used by an HTTP client, a key's policy set and edited in the page and
//! enforced by the gateway, a rotation's grace, a project and its remaining amounts
//! (`keys_policy.rs`), a provider added, tested, edited and removed in the page and
//! a broken config file's reload refused in view (`providers.rs`), its request in
//! Logs with its details, the key
//! revoked in the page and its next request refused (401), its usage by key and by
//! model in Usage and the CSV link returning the table's rows, a change with a wrong or
//! missing CSRF token refused (403), logout; every page at 375 px and on a desktop
//! without horizontal overflow, and no page with a browser error (uncaught
//! exceptions, console errors and CSP violations from the page's own collector,
//! `window.consoleErrors`; failed loads from Chromium's log).
//!
//! Without Chromium and chromedriver the test says so and passes, unless
//! `PATCHBAY_REQUIRE_BROWSER` is set (as `scripts/test` does after installing them).
//! With `PATCHBAY_CONSOLE_SCREENSHOTS=1` it writes each page's screenshot to
//! `docs/console/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod cors;
mod keys_policy;
mod live;
mod providers;
mod routes;
mod tools;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use browser::Browser;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_patchbay");
const TOKEN: &str = "pba_browser_test_token_0123456789";

/// `patchbay serve` on loopback ports: the gateway's and the admin listener's URLs.
struct Server {
    child: Child,
    gateway: String,
    admin: String,
    dir: PathBuf,
    /// The port of the one web page `[server.cors]` lets call the gateway (cors.rs).
    page_port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn serve() -> Server {
    let dir = std::env::temp_dir().join(format!("patchbay-console-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let admin_port = free_port();
    let page_port = free_port();
    let config = format!(
        "[server.cors]\nallow_origins = [\"http://127.0.0.1:{page_port}\"]\n\
         [admin]\nlisten = \"127.0.0.1:{admin_port}\"\ntoken = \"{TOKEN}\"\n\
         [storage]\npath = \"pb.db\"\n[access_log]\nformat = \"off\"\n\
         [providers.mock]\nkind = \"mock\"\n\
         [[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"mock\" }}]\n"
    );
    std::fs::write(dir.join("p.toml"), config).unwrap();
    // The Tools page edits the files of the server's user: a HOME of its own.
    std::fs::create_dir_all(dir.join("home")).unwrap();
    let mut child = Command::new(BIN)
        .current_dir(&dir)
        .env("HOME", dir.join("home"))
        .env_remove("CODEX_HOME")
        .env_remove("CLAUDE_CONFIG_DIR")
        .env_remove("CRUSH_GLOBAL_CONFIG")
        .env_remove("XDG_CONFIG_HOME")
        .args(["serve", "--listen", "127.0.0.1:0", "-c", "p.toml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let gateway = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .trim_end_matches('/')
        .to_owned();
    let admin = format!("http://127.0.0.1:{admin_port}");
    let server = Server {
        child,
        gateway,
        admin,
        dir,
        page_port,
    };
    // The admin listener starts just after the banner.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", admin_port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the admin listener did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// A chat request through the gateway with `key`: its status.
async fn chat(server: &Server, key: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.gateway))
        .bearer_auth(key)
        .json(&json!({
            "model": "mock-echo",
            "messages": [{ "role": "user", "content": "hello from the browser test" }]
        }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Where screenshots go, when asked for.
fn screenshots() -> Option<PathBuf> {
    std::env::var_os("PATCHBAY_CONSOLE_SCREENSHOTS")
        .filter(|v| v != "0" && !v.is_empty())
        .map(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/console"))
}

#[tokio::test]
async fn the_console_works_in_a_real_browser() {
    let Some(found) = browser::find() else {
        return;
    };
    let server = Arc::new(serve());
    let b = Arc::new(Browser::start(&found).await);
    // The walk runs as a task so that, failed or not, the session is closed after
    // it and Chromium does not outlive the test.
    let outcome = tokio::spawn(walk(b.clone(), server.clone())).await;
    b.close().await;
    if let Err(err) = outcome {
        match err.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(err) => panic!("the walk did not finish: {err}"),
        }
    }
}

async fn walk(b: Arc<Browser>, server: Arc<Server>) {
    let shots = screenshots();
    let site = &server.admin;

    // The login page, and a wrong token refused.
    b.open(&format!("{site}/")).await;
    b.wait_css("#token").await;
    b.settled("login").await;
    b.fill("#token", "not-the-admin-token").await;
    b.click("#login").await;
    b.wait_text("#login-error", "not the admin token").await;
    b.expect_failed_load("/console/login");
    if let Some(dir) = &shots {
        b.shoot(dir, "login").await;
    }

    // The right token, by keyboard alone (the field has the focus; Enter submits):
    // the overview.
    let focused = b.eval("return document.activeElement.id").await;
    assert_eq!(focused, json!("token"), "the login field has the focus");
    b.type_keys(&format!("{TOKEN}\u{E007}")).await;
    b.wait_page("overview").await;
    b.settled("overview").await;

    // Keys: one made in the page, its secret shown once.
    b.open(&format!("{site}/#/keys")).await;
    b.wait_page("keys").await;
    b.fill("#new-key-name", "browser-key").await;
    b.click("#create").await;
    b.wait_css("#new-secret").await;
    let secret = b
        .eval("return document.getElementById('new-secret').value")
        .await;
    let secret = secret.as_str().unwrap().to_owned();
    assert!(secret.starts_with("pbk_"), "{secret}");
    let key_id = b
        .eval("return document.querySelector('#keys-table tbody tr').dataset.key")
        .await;
    let key_id = key_id.as_str().unwrap().to_owned();
    if let Some(dir) = &shots {
        b.shoot(dir, "key-created").await;
    }
    // Disabled and enabled again in the page.
    let row = format!("#keys-table tr[data-key='{key_id}']");
    b.click(&format!("{row} [data-action=disable]")).await;
    b.wait_text(&format!("{row} .state"), "disabled").await;
    assert_eq!(chat(&server, &secret).await, 401, "a disabled key");
    b.click(&format!("{row} [data-action=enable]")).await;
    b.wait_text(&format!("{row} .state"), "active").await;
    b.settled("keys").await;

    // The key works on the gateway, and its request shows in Logs.
    for _ in 0..3 {
        assert_eq!(chat(&server, &secret).await, 200);
    }
    let logs = format!("{site}/#/logs?key={key_id}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        b.open(&format!("{site}/#/overview")).await;
        b.wait_page("overview").await;
        b.open(&logs).await;
        b.wait_page("logs").await;
        let rows = b
            .eval("return document.querySelectorAll('#logs-table [data-log]').length")
            .await;
        if rows.as_u64().unwrap_or(0) >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the requests did not reach the log"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if let Some(dir) = &shots {
        b.shoot(dir, "logs").await;
    }
    b.click("#logs-table [data-log]").await;
    b.wait_css("#log-detail").await;
    let detail = b
        .eval("return document.getElementById('log-detail').textContent")
        .await;
    let detail = detail.as_str().unwrap();
    assert!(
        detail.contains("mock-echo") && detail.contains("200"),
        "{detail}"
    );
    b.settled("logs").await;
    // The time filter: a range starting after the requests shows none of them; one
    // ending after them shows them again (the inputs hold the range from the URL).
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 3_600_000;
    let rows_for = |range: String| {
        let b = &b;
        let url = format!("{logs}&{range}");
        async move {
            b.open(&format!("{site}/#/overview")).await;
            b.wait_page("overview").await;
            b.open(&url).await;
            b.wait_page("logs").await;
            b.eval("return document.querySelectorAll('#logs-table [data-log]').length")
                .await
                .as_u64()
                .unwrap_or(0)
        }
    };
    assert_eq!(rows_for(format!("from={later}")).await, 0);
    assert!(
        !b.eval("return document.getElementById('from').value")
            .await
            .as_str()
            .unwrap()
            .is_empty(),
        "the From input shows the range"
    );
    assert!(rows_for(format!("to={later}")).await >= 3);

    // Usage: the key's three requests in the table by key, with its name; switched to
    // by model with its button; the CSV link returns what the table shows (fetched in
    // the page, with the session's cookie).
    b.open(&format!("{site}/#/usage")).await;
    b.wait_page("usage").await;
    b.wait_text("#usage-table", "browser-key").await;
    let by_key = b
        .eval("return document.querySelector('#usage-table tbody tr').textContent")
        .await;
    assert!(
        by_key.as_str().unwrap().contains(&key_id),
        "{by_key} has the key's id"
    );
    b.click("#usage-groups [data-group=model]").await;
    b.wait_text("#usage-table", "mock-echo").await;
    b.wait_page("usage").await;
    let cells = b
        .eval(
            "return [...document.querySelectorAll('#usage-table tbody tr')]
               .map((tr) => [...tr.cells].map((td) => td.textContent))",
        )
        .await;
    assert_eq!(cells[0][0], json!("mock-echo"), "{cells}");
    assert_eq!(cells[0][1], json!("3"), "{cells}");
    let csv = b
        .eval_async(
            "const done = arguments[0];
             const a = document.getElementById('usage-csv');
             fetch(a.href).then(async (r) => done([r.status,
               r.headers.get('content-disposition'), await r.text(), a.hasAttribute('download')]));",
            vec![],
        )
        .await;
    assert_eq!(csv[0], json!(200), "{csv}");
    let disposition = csv[1].as_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"usage-by-model-"),
        "{disposition}"
    );
    let text = csv[2].as_str().unwrap();
    let records: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        records[0],
        "group,name,requests,input_tokens,output_tokens,cost_usd,errors"
    );
    assert_eq!(records.len(), 1 + cells.as_array().unwrap().len(), "{text}");
    assert!(records[1].starts_with("mock-echo,,3,"), "{text}");
    assert_eq!(csv[3], json!(true), "the link is a download");
    if let Some(dir) = &shots {
        b.shoot(dir, "usage").await;
    }
    b.settled("usage").await;

    // Overview's latency from the request log: the median of the requests above.
    b.open(&format!("{site}/#/overview?period=day")).await;
    b.wait_page("overview").await;
    b.wait_text("main .stats", "Latency p50").await;
    let latency = b
        .eval("return [...document.querySelectorAll('main .stats .card')].pop().previousElementSibling.textContent")
        .await;
    let latency = latency.as_str().unwrap();
    assert!(
        latency.contains(" ms") && latency.contains("3 successful requests"),
        "{latency}"
    );

    // Screenshots of the pages with traffic in them, desktop and phone.
    if let Some(dir) = &shots {
        b.shoot(dir, "log-detail").await;
        b.open(&format!("{site}/#/overview?period=day")).await;
        b.wait_page("overview").await;
        b.shoot(dir, "overview").await;
    }
    for page in ["overview", "usage", "keys", "logs"] {
        b.resize(375, 812).await;
        b.open(&format!("{site}/#/{page}")).await;
        b.wait_page(page).await;
        b.fits_width(page).await;
        if let Some(dir) = &shots {
            b.shoot(dir, &format!("{page}-375")).await;
        }
        b.resize(1280, 900).await;
        b.fits_width(page).await;
    }

    // Dark when the system is dark.
    b.open(&format!("{site}/#/overview?period=hour")).await;
    b.wait_page("overview").await;
    let background = "return getComputedStyle(document.body).backgroundColor";
    let light = b.eval(background).await;
    b.color_scheme(true).await;
    let dark = b.eval(background).await;
    assert_ne!(light, dark, "the dark scheme changes the page");
    if let Some(dir) = &shots {
        b.shoot(dir, "overview-dark").await;
    }
    b.color_scheme(false).await;
    b.settled("dark").await;

    routes::walk(&b, &server, shots.as_deref()).await;
    tools::walk(&b, &server, shots.as_deref()).await;
    // Live (after Usage and Overview, which count the key's first three requests).
    live::walk(&b, &server, &secret, &key_id, shots.as_deref()).await;

    // A change with a wrong or missing CSRF token is refused, with the cookie.
    let forged = b
        .eval_async(
            "const [token, done] = arguments;
             const send = (headers) => fetch('/admin/keys', { method: 'POST', headers,
                 body: JSON.stringify({ name: 'forged' }) }).then((r) => r.status);
             Promise.all([
               send({ 'content-type': 'application/json', 'x-csrf-token': token }),
               send({ 'content-type': 'application/json' }),
               fetch('/admin/keys').then((r) => r.status),
             ]).then(done);",
            vec![json!("0".repeat(64))],
        )
        .await;
    assert_eq!(forged, json!([403, 403, 200]));
    b.expect_failed_load("/admin/keys");

    // The policy editor, rotation with grace and projects (keys_policy.rs).
    keys_policy::walk(&b, &server, shots.as_deref()).await;

    // Providers added, tested, edited and removed; the config reload panel
    // (providers.rs).
    providers::walk(&b, &server, shots.as_deref()).await;

    // A web page of a listed origin calls the gateway with the key; another's cannot
    // read the answer (cors.rs).
    cors::walk(&b, &server, &secret).await;

    // Revoked in the page: the next request is refused.
    b.open(&format!("{site}/#/keys")).await;
    b.wait_page("keys").await;
    if let Some(dir) = &shots {
        b.shoot(dir, "keys").await;
    }
    b.click(&format!("{row} [data-action=revoke]")).await;
    b.click(&format!("{row} [data-action=confirm]")).await;
    b.wait_text(&format!("{row} .state"), "revoked").await;
    assert_eq!(chat(&server, &secret).await, 401);
    b.settled("keys after revoking").await;

    // Logout: the login form again, and the cookie opens nothing.
    b.click("#logout").await;
    b.wait_css("#token").await;
    let after = b
        .eval_async(
            "const done = arguments[0]; fetch('/admin/keys').then((r) => done(r.status));",
            vec![],
        )
        .await;
    assert_eq!(after, json!(401));
    b.expect_failed_load("/admin/keys");
    b.settled("after logout").await;
}
