//! The Keys page's policy editor and the Projects page in the browser, checked
//! against the gateway: a key created with an allowed model list and a requests per
//! minute limit (a model outside the list refused with 403, the limit's 429), its
//! policy edited on its page and the change taking effect, a bad value answered by
//! the server's error beside its field, its remaining amounts, a rotation with a
//! grace period (both secrets working), and a project created with a budget, a key
//! added to it and the project's remaining amounts counting that key's request.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::browser::Browser;
use super::{Server, TOKEN};

/// A chat request through the gateway with `key` for `model`: its status.
async fn chat(server: &Server, key: &str, model: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.gateway))
        .bearer_auth(key)
        .json(&json!({
            "model": model,
            "messages": [{ "role": "user", "content": "policy check" }]
        }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// `GET path` on the admin API with the admin token.
async fn admin(server: &Server, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}{path}", server.admin))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Sets a `<select>`'s value as a person choosing an option would.
pub(super) async fn choose(b: &Browser, id: &str, value: &str) {
    b.eval_async(
        "const [id, value, done] = arguments;
         const s = document.getElementById(id);
         s.value = value;
         s.dispatchEvent(new Event('change'));
         done(s.value);",
        vec![json!(id), json!(value)],
    )
    .await;
}

/// The text of the first element matching `css`.
pub(super) async fn text(b: &Browser, css: &str) -> String {
    let q = serde_json::to_string(css).unwrap();
    let v = b
        .eval(&format!("return document.querySelector({q}).textContent"))
        .await;
    v.as_str().unwrap().to_owned()
}

/// A screenshot `name` with the element `id` at the top and no toast over it.
pub(super) async fn shoot_at(b: &Browser, dir: &std::path::Path, name: &str, id: &str) {
    b.eval_async(
        "const [id, done] = arguments;
         document.getElementById('toast').hidden = true;
         document.getElementById(id).scrollIntoView();
         requestAnimationFrame(() => done(true));",
        vec![json!(id)],
    )
    .await;
    b.shoot(dir, name).await;
}

/// Sends `model` requests with `key` until one gets `want`, for up to 10 s.
async fn until_status(server: &Server, key: &str, model: &str, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = chat(server, key, model).await;
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{model}: {got}, never {want}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn walk(b: &Browser, server: &Server, shots: Option<&std::path::Path>) {
    let site = &server.admin;

    // Created with a policy set in the editor: one model, two requests a minute.
    b.open(&format!("{site}/#/keys")).await;
    b.wait_page("keys").await;
    b.fill("#new-key-name", "policy-key").await;
    b.click("#new-key-policy summary").await;
    b.fill("#new-policy-models", "mock-echo").await;
    b.fill("#new-policy-limits-rpm", "2").await;
    b.click("#create").await;
    b.wait_css("#new-secret").await;
    let secret = b
        .eval("return document.getElementById('new-secret').value")
        .await;
    let secret = secret.as_str().unwrap().to_owned();
    let key = admin(server, "/admin/keys/policy-key").await;
    let id = key["id"].as_str().unwrap().to_owned();
    assert_eq!(key["policy"]["models"], json!(["mock-echo"]), "{key}");
    let limits = key["policy"]["limits"].as_object().unwrap();
    for (name, value) in limits {
        // Empty fields are unset (null), not zero.
        let want = if name == "rpm" { json!(2) } else { Value::Null };
        assert_eq!(value, &want, "{name}: {key}");
    }
    b.settled("a key created with a policy").await;

    // The gateway enforces it: another model is refused, the third request in a
    // minute is too.
    assert_eq!(chat(server, &secret, "other-model").await, 403);
    assert_eq!(chat(server, &secret, "mock-echo").await, 200);
    assert_eq!(chat(server, &secret, "mock-echo").await, 200);
    assert_eq!(chat(server, &secret, "mock-echo").await, 429);

    // Its page: the remaining amounts say both requests of the minute are used.
    b.open(&format!("{site}/#/keys?id={id}")).await;
    b.wait_page("keys").await;
    b.wait_css("#key-policy").await;
    let rpm = "#limits-table tr[data-limit='key.rpm']";
    b.wait_css(rpm).await;
    assert_eq!(text(b, &format!("{rpm} .used")).await, "2");
    assert_eq!(text(b, &format!("{rpm} .remaining")).await, "0");
    let hint = text(b, "#edit-policy-limits-rpm-hint").await;
    assert!(hint.contains("Used 2, 0 left"), "{hint}");

    // Edited in the page: a second model glob and a higher rate, in effect at once.
    b.fill("#edit-policy-models", "mock-echo, other-*").await;
    b.fill("#edit-policy-limits-rpm", "600").await;
    b.click("#save-policy").await;
    b.wait_text("#toast", "Saved.").await;
    b.wait_page("keys").await;
    b.wait_css("#key-policy").await;
    let key = admin(server, &format!("/admin/keys/{id}")).await;
    assert_eq!(key["policy"]["models"], json!(["mock-echo", "other-*"]));
    assert_eq!(key["policy"]["limits"]["rpm"], 600);
    // The spent share of the old rate carries over, so the first slot of the new
    // one comes within a tenth of a second.
    until_status(server, &secret, "other-model", 200).await;
    b.settled("the policy saved").await;

    // A bad value: the server's message beside the field it names.
    b.fill("#edit-policy-limits-rpm", "-1").await;
    b.expect_failed_load(&format!("/admin/keys/{id}"));
    b.click("#save-policy").await;
    b.wait_text("#edit-policy-limits-rpm-error", "policy.limits.rpm")
        .await;
    let invalid = b
        .eval(
            "return document.getElementById('edit-policy-limits-rpm').getAttribute('aria-invalid')",
        )
        .await;
    assert_eq!(invalid, json!("true"));
    let key = admin(server, &format!("/admin/keys/{id}")).await;
    assert_eq!(key["policy"]["limits"]["rpm"], 600, "nothing was saved");
    b.settled("a refused value").await;

    // Rotated with an hour's grace: the new secret shown once, and both work.
    b.open(&format!("{site}/#/keys")).await;
    b.wait_css("#keys-table").await;
    b.open(&format!("{site}/#/keys?id={id}")).await;
    b.wait_page("keys").await;
    b.wait_css("#rotate-grace").await;
    if let Some(dir) = shots {
        shoot_at(b, dir, "key-policy", "key-policy").await;
    }
    choose(b, "rotate-grace", "3600").await;
    b.click("[data-action=rotate]").await;
    b.click("[data-action=confirm]").await;
    b.wait_css("#new-secret").await;
    let rotated = b
        .eval("return document.getElementById('new-secret').value")
        .await;
    let rotated = rotated.as_str().unwrap().to_owned();
    assert_ne!(rotated, secret);
    b.wait_css("#grace-until").await;
    let key = admin(server, &format!("/admin/keys/{id}")).await;
    let until = key["previous_secret_until_ms"].as_i64().unwrap();
    let now = key["updated_ms"].as_i64().unwrap();
    assert!((until - now - 3_600_000).abs() < 5_000, "{key}");
    assert_eq!(chat(server, &secret, "mock-echo").await, 200, "old secret");
    assert_eq!(chat(server, &rotated, "mock-echo").await, 200, "new secret");
    b.settled("a rotation with grace").await;

    // A project with a daily budget, the key added on its page.
    b.open(&format!("{site}/#/projects")).await;
    b.wait_page("projects").await;
    b.fill("#new-project-name", "team-a").await;
    b.click("#new-project-limits summary").await;
    b.fill("#new-project-limits-daily_usd", "5").await;
    b.fill("#new-project-limits-daily_input_tokens", "100000")
        .await;
    b.click("#create-project-button").await;
    b.wait_text("#project-title", "team-a").await;
    b.wait_page("projects").await;
    choose(b, "add-key", &id).await;
    b.click("#add-key-button").await;
    b.wait_text("#project-keys", "policy-key").await;
    let project = admin(server, "/admin/projects/team-a").await;
    assert_eq!(project["limits"]["daily_usd"], 5.0, "{project}");
    let key = admin(server, &format!("/admin/keys/{id}")).await;
    assert_eq!(key["project_id"], project["id"], "{key}");
    b.settled("a project and its key").await;

    // The key's request counts against the project: its page shows it used.
    assert_eq!(chat(server, &rotated, "mock-echo").await, 200);
    let pid = project["id"].as_str().unwrap();
    let used = "#limits-table tr[data-limit='project.daily_input_tokens'] .used";
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Through the list: the same address again would not load the page anew.
        b.open(&format!("{site}/#/projects")).await;
        b.wait_css("#projects-table").await;
        b.open(&format!("{site}/#/projects?id={pid}")).await;
        b.wait_page("projects").await;
        b.wait_css(used).await;
        if text(b, used).await != "0" {
            break;
        }
        assert!(Instant::now() < deadline, "the project's use never showed");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let shown = text(b, used).await.replace(',', "");
    let limits = admin(server, &format!("/admin/projects/{pid}/limits")).await;
    let row = limits["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "daily_input_tokens")
        .unwrap()
        .clone();
    assert_eq!(shown, row["used"].to_string(), "{limits}");
    if let Some(dir) = shots {
        shoot_at(b, dir, "projects", "main").await;
    }
    b.settled("the project's page").await;

    // The list, and both pages on a phone without horizontal scrolling.
    b.open(&format!("{site}/#/projects")).await;
    b.wait_page("projects").await;
    b.wait_text("#projects-table", "team-a").await;
    for page in [format!("keys?id={id}"), format!("projects?id={pid}")] {
        b.resize(375, 812).await;
        b.open(&format!("{site}/#/{page}")).await;
        b.wait_page(page.split('?').next().unwrap()).await;
        b.fits_width(&page).await;
        b.resize(1280, 900).await;
    }
    b.settled("the policy pages").await;
}
