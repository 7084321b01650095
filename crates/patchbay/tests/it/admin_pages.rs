//! The admin API's Tools and Routes endpoints with the binary's own tool host
//! (`connect::host::LocalTools`) over a temporary HOME, on a real admin listener in
//! this process: connect allowed over loopback only and for a loopback `Host`, a
//! connect writing the tool's file and a new key, the status saying so, disconnect
//! restoring the file byte for byte; the routing table and "try it".
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use gateway_server::admin::{self, AdminToken, ToolHost};
use gateway_server::app::App;
use gateway_server::config::Config;
use patchbay::connect::host::LocalTools;
use serde_json::{Value, json};
use tokio::net::TcpListener;

const TOKEN: &str = "pba_admin_pages_token_0123456789";
const GATEWAY: &str = "http://127.0.0.1:4321";

struct Admin {
    base: String,
    home: PathBuf,
    dir: PathBuf,
    _app: Arc<App>,
}

impl Drop for Admin {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn start(name: &str) -> Admin {
    let dir = std::env::temp_dir().join(format!("patchbay-admin-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let config = format!(
        "[storage]\npath = \"{}\"\n[access_log]\nformat = \"off\"\n\
         [providers.mock]\nkind = \"mock\"\n\
         [[routes]]\nmodel = \"gpt-5-mock\"\naliases = [\"fast\"]\ntargets = [{{ provider = \"mock\", model = \"mock-echo\" }}]\n\
         [[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"mock\" }}]\n",
        dir.join("pb.db").display()
    );
    let config = Config::from_toml_str(&config, &|_| None).unwrap();
    let app = Arc::new(App::from_config(&config).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let tools: Arc<dyn ToolHost> = Arc::new(LocalTools::new(GATEWAY, Some(home.clone())));
    tokio::spawn(admin::serve(
        app.clone(),
        listener,
        None,
        AdminToken::from_plain(TOKEN),
        Some(tools),
        std::future::pending(),
    ));
    Admin {
        base,
        home,
        dir,
        _app: app,
    }
}

impl Admin {
    async fn call(&self, method: reqwest::Method, path: &str, host: Option<&str>) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if let Some(h) = host {
            req = req.header("host", h);
        }
        if method == reqwest::Method::POST {
            req = req.json(&json!({}));
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, v) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}: {v}");
        v
    }

    async fn post(&self, path: &str, host: Option<&str>) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, host).await
    }
}

fn tool<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {list}"))
}

#[tokio::test]
async fn tools_connect_over_loopback_and_disconnect_restores() {
    let admin = start("tools").await;
    let codex = admin.home.join(".codex/config.toml");
    std::fs::create_dir_all(codex.parent().unwrap()).unwrap();
    let original = "# mine\nmodel = \"o3\"\n\n[profiles.x]\nmodel = \"o4\"\n";
    std::fs::write(&codex, original).unwrap();

    let list = admin.get("/admin/tools").await;
    assert_eq!(list["gateway_url"], GATEWAY);
    assert_eq!(list["connect"]["allowed"], true, "{list}");
    assert_eq!(list["host"]["home"], json!(admin.home));
    let before = tool(&list, "codex");
    assert_eq!(before["connected"], false);
    assert_eq!(before["config_found"], true);
    assert!(
        before["env"]
            .as_str()
            .unwrap()
            .contains(&format!("{GATEWAY}/v1")),
        "{before}"
    );
    assert_eq!(list["sdks"].as_array().unwrap().len(), 5);

    // A page loaded under another name (DNS rebinding) may not write files.
    let (status, refused) = admin
        .post("/admin/tools/codex/connect", Some("evil.example:4001"))
        .await;
    assert_eq!(status, 403, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("evil.example"),
        "{refused}"
    );
    let (status, _) = admin
        .post("/admin/tools/codex/disconnect", Some("evil.example"))
        .await;
    assert_eq!(status, 403);
    assert_eq!(std::fs::read_to_string(&codex).unwrap(), original);
    let listed = admin
        .call(reqwest::Method::GET, "/admin/tools", Some("evil.example"))
        .await
        .1;
    assert_eq!(listed["connect"]["allowed"], false);

    // Connect: a key made for it, the file pointing at the gateway, the status saying so.
    let (status, made) = admin
        .post("/admin/tools/codex/connect", Some("localhost:4001"))
        .await;
    assert_eq!(status, 200, "{made}");
    assert_eq!(made["created_key"]["name"], "connect-codex");
    assert_eq!(made["tool"]["connected"], true, "{made}");
    assert_eq!(made["tool"]["key"]["name"], "connect-codex", "{made}");
    let written = std::fs::read_to_string(&codex).unwrap();
    assert!(
        written.contains(&format!("base_url = \"{GATEWAY}/v1\"")),
        "{written}"
    );
    assert!(written.contains("# mine"), "comments kept: {written}");
    let list = admin.get("/admin/tools").await;
    assert_eq!(tool(&list, "codex")["connected"], true);
    assert_eq!(tool(&list, "codex")["connected_by_patchbay"], true);
    let keys = admin.get("/admin/keys").await;
    assert!(
        keys["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["name"] == "connect-codex")
    );

    // Disconnect: the file as it was, byte for byte; a second one has nothing to undo.
    let (status, undone) = admin
        .post("/admin/tools/codex/disconnect", Some("127.0.0.1:4001"))
        .await;
    assert_eq!(status, 200, "{undone}");
    assert_eq!(undone["tool"]["connected"], false);
    assert_eq!(std::fs::read_to_string(&codex).unwrap(), original);
    let (status, again) = admin.post("/admin/tools/codex/disconnect", None).await;
    assert_eq!(status, 409, "{again}");
    let (status, unknown) = admin.post("/admin/tools/vim/connect", None).await;
    assert_eq!(status, 404, "{unknown}");

    // A key given instead of a new one: written as is; not this gateway's, so the
    // status says why it would be refused.
    let resp = reqwest::Client::new()
        .post(format!("{}/admin/tools/gemini/connect", admin.base))
        .bearer_auth(TOKEN)
        .json(&json!({"key": "sk-not-a-patchbay-key"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let given: Value = resp.json().await.unwrap();
    assert!(given["created_key"].is_null(), "{given}");
    assert_eq!(given["tool"]["connected"], true, "{given}");
    assert!(given["tool"]["key"].is_null());
    assert!(
        given["tool"]["key_note"]
            .as_str()
            .unwrap()
            .contains("not a Patchbay key"),
        "{given}"
    );
    let env = std::fs::read_to_string(admin.home.join(".gemini/.env")).unwrap();
    assert!(
        env.contains("GEMINI_API_KEY=sk-not-a-patchbay-key"),
        "{env}"
    );
}

#[tokio::test]
async fn routing_table_and_try_it() {
    let admin = start("routing").await;
    let table = admin.get("/admin/routing").await;
    let routes = table["routes"].as_array().unwrap();
    assert_eq!(routes[0]["model"], "gpt-5-mock");
    assert_eq!(routes[0]["aliases"], json!(["fast"]));
    assert_eq!(routes[0]["targets"][0]["provider"], "mock");
    assert_eq!(routes[0]["targets"][0]["provider_configured"], true);
    assert_eq!(routes[1]["kind"], "default");

    let v = admin.get("/admin/routing/resolve?model=fast").await;
    assert_eq!(v["matched"]["how"], "route_alias", "{v}");
    assert_eq!(v["plan"][0]["provider"], "mock");
    assert_eq!(v["plan"][0]["upstream_model"], "mock-echo");
    assert_eq!(v["plan"][0]["state"], "try");
    let v = admin.get("/admin/routing/resolve?model=other-thing").await;
    assert_eq!(v["matched"]["how"], "default", "{v}");
    assert_eq!(v["plan"][0]["upstream_model"], "other-thing");

    let (status, err) = admin
        .call(reqwest::Method::GET, "/admin/routing/resolve", None)
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["param"], "model");
    let (status, _) = admin
        .call(
            reqwest::Method::GET,
            "/admin/routing/resolve?model=x&key=nope",
            None,
        )
        .await;
    assert_eq!(status, 404);
}
