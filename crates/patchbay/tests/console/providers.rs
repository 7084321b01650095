//! The Providers page in the browser, checked against the gateway: the config file's
//! `mock` shown read-only; a provider added in the page pointing at a real HTTP
//! upstream (`patchbay mock` on loopback) and serving `<name>/<model>` at once; its
//! key shown back by its last four characters only; "Test connection" (HTTP status
//! and latency, and an upstream refusing the key with its own error: the gateway
//! itself) and "Fetch models"; edited (a bad base URL answered beside its field, a
//! new key, the key removed); a `mock` provider added with a name alone; Gemini on
//! Vertex AI added with its project and location (refused beside the key-file field
//! until it has a token, then serving through a Gemini mock); removed,
//! and its models no longer served by it. Then the Configuration panel: the config
//! file broken on disk and "Reload now" showing the error with the bad key's path
//! while the gateway keeps serving, the file restored with a start-only change
//! named, and changed back with none (seen by the watcher, shown without a click).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use super::browser::Browser;
use super::keys_policy::{choose, shoot_at, text};
use super::{BIN, Server, TOKEN};

/// `patchbay mock --shape <shape>` on a loopback port: a real HTTP upstream.
struct Upstream {
    child: Child,
    addr: String,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn upstream(shape: &str) -> Upstream {
    let mut child = Command::new(BIN)
        .args(["mock", "--shape", shape, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .trim_end_matches('/')
        .to_owned();
    Upstream { child, addr }
}

/// A chat request through the gateway for `model`: its status and the provider
/// that served it (`x-patchbay-provider`).
async fn chat(server: &Server, key: &str, model: &str) -> (u16, Option<String>) {
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.gateway))
        .bearer_auth(key)
        .json(&json!({
            "model": model,
            "messages": [{ "role": "user", "content": "which provider?" }]
        }))
        .send()
        .await
        .unwrap();
    let provider = resp
        .headers()
        .get("x-patchbay-provider")
        .map(|v| v.to_str().unwrap().to_owned());
    (resp.status().as_u16(), provider)
}

/// A gateway key made with the admin API.
async fn make_key(server: &Server) -> String {
    let made: Value = reqwest::Client::new()
        .post(format!("{}/admin/keys", server.admin))
        .bearer_auth(TOKEN)
        .json(&json!({ "name": "providers-test" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    made["key"].as_str().unwrap().to_owned()
}

/// Waits until `css` matches nothing.
async fn gone(b: &Browser, css: &str) {
    let q = serde_json::to_string(css).unwrap();
    for _ in 0..300 {
        if b.eval(&format!("return document.querySelector({q}) === null"))
            .await
            == json!(true)
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{css} is still there");
}

pub async fn walk(b: &Browser, server: &Server, shots: Option<&Path>) {
    let site = &server.admin;
    let up = upstream("openai");
    let key = make_key(server).await;

    b.open(&format!("{site}/#/providers")).await;
    b.wait_page("providers").await;

    // The file's provider: marked so, with nothing to edit or remove.
    let mock = "[data-provider=mock]";
    b.wait_text(&format!("{mock} .badge"), "from the config file")
        .await;
    let controls = b
        .eval(
            "return [...document.querySelectorAll('[data-provider=mock] button')]
               .map((el) => el.dataset.action)",
        )
        .await;
    assert_eq!(controls, json!(["test", "models"]), "read-only: {controls}");
    b.click(&format!("{mock} [data-action=test]")).await;
    b.wait_css(&format!("{mock} .probe[data-ok=true]")).await;

    // A provider added in the page, pointing at the real upstream.
    assert_eq!(
        chat(server, &key, "local/gpt-4o-mini").await.1.as_deref(),
        Some("mock")
    );
    let secret = "sk-console-test-key-wxyz";
    choose(b, "new-provider-kind", "kind:openai_compatible").await;
    b.fill("#new-provider-name", "local").await;
    b.fill("#new-provider-base_url", &format!("http://{}/v1", up.addr))
        .await;
    b.fill("#new-provider-api_key", secret).await;
    b.click("#new-provider [data-action=save]").await;
    let local = "[data-provider=local]";
    b.wait_text(&format!("{local} .badge"), "added at runtime")
        .await;
    assert_eq!(text(b, &format!("{local} .key-hint")).await, "…wxyz");
    let leaked = b
        .eval(&format!(
            "const s = {}; return document.documentElement.outerHTML.includes(s)
               || [...document.querySelectorAll('input')].some((i) => i.value.includes(s))",
            json!(secret)
        ))
        .await;
    assert_eq!(leaked, json!(false), "the key is not shown back");
    // In force at once: the gateway sends `local/…` to it.
    assert_eq!(
        chat(server, &key, "local/gpt-4o-mini").await,
        (200, Some("local".to_owned()))
    );

    // Test connection: a real request, its status and latency.
    b.click(&format!("{local} [data-action=test]")).await;
    b.wait_css(&format!("{local} .probe[data-ok=true]")).await;
    let probe = text(b, &format!("{local} .probe")).await;
    assert!(
        probe.contains("HTTP 200") && probe.contains(" ms") && probe.contains("models"),
        "{probe}"
    );
    // Fetch models: the upstream's list, counted.
    b.click(&format!("{local} [data-action=models]")).await;
    b.wait_text(&format!("{local} .model-list"), "mock-echo")
        .await;
    let listed = b
        .eval("return document.querySelectorAll('[data-provider=local] .models li').length")
        .await;
    let count = text(b, &format!("{local} .model-count")).await;
    assert_eq!(count, format!("{listed} models"), "{count}");
    if let Some(dir) = shots {
        shoot_at(b, dir, "providers", "list-title").await;
    }
    // A phone's width with the results and an open form in the cards.
    b.click(&format!("{local} [data-action=edit]")).await;
    b.resize(375, 812).await;
    b.fits_width("providers with a model list and a form").await;
    b.resize(1280, 900).await;
    b.click("#edit-provider [data-action=cancel]").await;
    gone(b, "#edit-provider").await;

    // Edited: a base URL the server refuses is answered beside its field, and the
    // provider keeps working as it was.
    b.click(&format!("{local} [data-action=edit]")).await;
    b.fill("#edit-provider-base_url", "not a url").await;
    b.click("#edit-provider [data-action=save]").await;
    b.expect_failed_load("/admin/providers/local");
    b.wait_text("#edit-provider-base_url-error", "base_url")
        .await;
    let invalid = b
        .eval(
            "return document.getElementById('edit-provider-base_url').getAttribute('aria-invalid')",
        )
        .await;
    assert_eq!(invalid, json!("true"));
    assert_eq!(chat(server, &key, "local/m").await.0, 200);
    // An upstream that refuses the key (the gateway itself): the test shows its
    // status and its own error message.
    b.fill("#edit-provider-base_url", &format!("{}/v1", server.gateway))
        .await;
    b.click("#edit-provider [data-action=save]").await;
    gone(b, "#edit-provider").await;
    b.click(&format!("{local} [data-action=test]")).await;
    b.wait_css(&format!("{local} .probe[data-ok=false]")).await;
    let failed = text(b, &format!("{local} .probe")).await;
    assert!(failed.contains("HTTP 401"), "{failed}");
    let upstream_error = text(b, &format!("{local} .upstream-error")).await;
    assert!(upstream_error.contains("key"), "{upstream_error}");
    // Back to the right URL with a new key (empty would have kept the old one).
    b.click(&format!("{local} [data-action=edit]")).await;
    b.fill("#edit-provider-base_url", &format!("http://{}/v1", up.addr))
        .await;
    b.fill("#edit-provider-api_key", "sk-console-new-key-9876")
        .await;
    b.click("#edit-provider [data-action=save]").await;
    b.wait_text(&format!("{local} .key-hint"), "…9876").await;
    assert_eq!(
        chat(server, &key, "local/m").await,
        (200, Some("local".to_owned()))
    );
    // The stored key removed (a server without keys takes none).
    b.click(&format!("{local} [data-action=edit]")).await;
    b.click("#edit-provider-remove-key").await;
    b.click("#edit-provider [data-action=save]").await;
    b.wait_text(&format!("{local} .key-hint"), "none").await;
    assert_eq!(chat(server, &key, "local/m").await.0, 200);

    // A mock provider needs nothing but a name.
    choose(b, "new-provider-kind", "kind:mock").await;
    let hidden = b
        .eval("return document.getElementById('new-provider-base_url').closest('.field').hidden")
        .await;
    assert_eq!(hidden, json!(true), "a mock has no base URL");
    b.fill("#new-provider-name", "canned").await;
    b.click("#new-provider [data-action=save]").await;
    b.wait_css("[data-provider=canned]").await;
    assert_eq!(
        chat(server, &key, "canned/anything").await,
        (200, Some("canned".to_owned()))
    );
    assert_eq!(
        b.eval("return document.getElementById('new-provider-name').value")
            .await,
        json!(""),
        "the form starts afresh"
    );
    b.settled("providers").await;

    // Gemini on Vertex AI: its own fields (no API version); without a token or key
    // file the server's answer stands beside the key file's field; with an access
    // token in the sealed key field it serves at once.
    let gemini = upstream("gemini");
    choose(b, "new-provider-kind", "kind:vertex").await;
    let shown = b
        .eval(
            "return ['project', 'location', 'credentials_file', 'api_version'].map((f) =>
               !document.getElementById('new-provider-' + f).closest('.field').hidden)",
        )
        .await;
    assert_eq!(shown, json!([true, true, true, false]), "{shown}");
    b.fill("#new-provider-name", "vx").await;
    b.fill("#new-provider-base_url", &format!("http://{}", gemini.addr))
        .await;
    b.fill("#new-provider-project", "console-project").await;
    b.fill("#new-provider-location", "europe-west4").await;
    b.click("#new-provider [data-action=save]").await;
    b.expect_failed_load("/admin/providers");
    b.wait_text("#new-provider-credentials_file-error", "credentials_file")
        .await;
    b.fill("#new-provider-api_key", "ya29.console-token-5678")
        .await;
    b.click("#new-provider [data-action=save]").await;
    let vx = "[data-provider=vx]";
    b.wait_text(&format!("{vx} .key-hint"), "…5678").await;
    let facts = text(b, &format!("{vx} .fields")).await;
    assert!(
        facts.contains("Gemini on Vertex AI") && facts.contains("console-project · europe-west4"),
        "{facts}"
    );
    assert_eq!(
        chat(server, &key, "vx/mock-echo").await,
        (200, Some("vx".to_owned()))
    );
    b.settled("providers").await;

    // Amazon Bedrock: its region and access key id fields; the secret access key in
    // the sealed key field; the Bedrock-shaped mock verifies the signature made with it.
    let bedrock = upstream("bedrock");
    choose(b, "new-provider-kind", "kind:bedrock").await;
    let shown = b
        .eval(
            "return ['region', 'access_key_id', 'project', 'api_version'].map((f) =>
               !document.getElementById('new-provider-' + f).closest('.field').hidden)",
        )
        .await;
    assert_eq!(shown, json!([true, true, false, false]), "{shown}");
    b.fill("#new-provider-name", "aws").await;
    b.fill(
        "#new-provider-base_url",
        &format!("http://{}", bedrock.addr),
    )
    .await;
    b.fill("#new-provider-region", "eu-west-3").await;
    b.fill(
        "#new-provider-access_key_id",
        gateway_providers::mock::MOCK_AWS_ACCESS_KEY_ID,
    )
    .await;
    b.fill(
        "#new-provider-api_key",
        gateway_providers::mock::MOCK_AWS_SECRET_ACCESS_KEY,
    )
    .await;
    b.click("#new-provider [data-action=save]").await;
    let aws = "[data-provider=aws]";
    b.wait_css(aws).await;
    let facts = text(b, &format!("{aws} .fields")).await;
    assert!(
        facts.contains("Amazon Bedrock") && facts.contains("eu-west-3 · AKIDPATCHBAYMOCK"),
        "{facts}"
    );
    assert_eq!(
        chat(server, &key, "aws/mock-echo").await,
        (200, Some("aws".to_owned()))
    );
    b.settled("providers").await;

    // Cohere's v2 Chat: a base URL and the key, none of the cloud kinds' fields; the
    // Cohere-shaped mock answers only calls carrying the key as Bearer.
    let cohere = upstream("cohere");
    choose(b, "new-provider-kind", "kind:cohere").await;
    let shown = b
        .eval(
            "return ['base_url', 'api_key', 'region', 'project', 'api_version'].map((f) =>
               !document.getElementById('new-provider-' + f).closest('.field').hidden)",
        )
        .await;
    assert_eq!(shown, json!([true, true, false, false, false]), "{shown}");
    b.fill("#new-provider-name", "co").await;
    b.fill("#new-provider-base_url", &format!("http://{}", cohere.addr))
        .await;
    b.fill("#new-provider-api_key", "co-console-key").await;
    b.click("#new-provider [data-action=save]").await;
    let co = "[data-provider=co]";
    b.wait_css(co).await;
    let facts = text(b, &format!("{co} .fields")).await;
    assert!(facts.contains("Cohere (v2 Chat)"), "{facts}");
    assert_eq!(
        chat(server, &key, "co/mock-echo").await,
        (200, Some("co".to_owned()))
    );
    b.settled("providers").await;

    // Removed (asked once more in place): `local/…` falls to the default route again.
    b.click(&format!("{local} [data-action=remove]")).await;
    b.click(&format!("{local} [data-action=confirm]")).await;
    gone(b, local).await;
    let focused = b.eval("return document.activeElement.id").await;
    assert_eq!(focused, json!("list-title"), "the focus is not lost");
    assert_eq!(
        chat(server, &key, "local/m").await,
        (200, Some("mock".to_owned()))
    );

    // The config file broken on disk: "Reload now" shows why, with the bad key's
    // path, and the old configuration keeps serving.
    let file = server.dir.join("p.toml");
    let good = std::fs::read_to_string(&file).unwrap();
    let broken = good.replace("provider = \"mock\" }]", "provider = \"nowhere\" }]");
    assert_ne!(broken, good);
    std::fs::write(&file, &broken).unwrap();
    b.click("#reload-now").await;
    b.expect_failed_load("/admin/config/reload");
    b.wait_text("#reload-error", "routes[0].targets[0].provider")
        .await;
    let focused = b.eval("return document.activeElement.id").await;
    assert_eq!(focused, json!("reload-error"), "the error has the focus");
    assert_eq!(
        chat(server, &key, "mock-echo").await,
        (200, Some("mock".to_owned()))
    );
    if let Some(dir) = shots {
        shoot_at(b, dir, "providers-reload-error", "main").await;
    }

    // Restored, with a section read at start only changed: the error goes, the
    // section is named.
    std::fs::write(&file, format!("{good}[server]\nmax_body_bytes = 2000000\n")).unwrap();
    b.click("#reload-now").await;
    gone(b, "#reload-error").await;
    b.wait_text("#restart-needed", "server").await;
    // Changed back: nothing needs a restart. No click this time: the watcher reads
    // the file (it compares with what the latest reload read, "Reload now"'s here)
    // and the panel, looking every few seconds, shows it by itself.
    std::fs::write(&file, &good).unwrap();
    gone(b, "#restart-needed").await;
    b.wait_text("#reload-history", "file changed").await;
    b.settled("providers after reloads").await;

    // A phone's width and the dark scheme.
    b.resize(375, 812).await;
    b.open(&format!("{site}/#/providers")).await;
    b.wait_page("providers").await;
    b.wait_css("#config-generation").await;
    b.fits_width("providers").await;
    if let Some(dir) = shots {
        shoot_at(b, dir, "providers-375", "main").await;
    }
    b.resize(1280, 900).await;
    b.fits_width("providers").await;
    b.color_scheme(true).await;
    b.fits_width("providers (dark)").await;
    b.color_scheme(false).await;
    b.settled("providers at 375 px").await;
}
