//! Headless Chromium under chromedriver, and the few WebDriver steps the console test
//! takes, each waiting (up to 15 s) for what it needs instead of sleeping.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// How long a step waits for the page.
const PATIENCE: Duration = Duration::from_secs(15);

/// The browser and its driver, found on this machine.
pub struct Found {
    chromium: PathBuf,
    driver: PathBuf,
}

fn first_present(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// Chromium and chromedriver (Debian's paths, or `PATCHBAY_CHROMIUM` and
/// `PATCHBAY_CHROMEDRIVER`); `None`, said on stderr, when either is missing and
/// `PATCHBAY_REQUIRE_BROWSER` is unset; a failure when it is set.
pub fn find() -> Option<Found> {
    let chromium = first_present(
        "PATCHBAY_CHROMIUM",
        &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
    );
    let driver = first_present("PATCHBAY_CHROMEDRIVER", &["/usr/bin/chromedriver"]);
    if let (Some(chromium), Some(driver)) = (chromium, driver) {
        return Some(Found { chromium, driver });
    }
    let required = std::env::var_os("PATCHBAY_REQUIRE_BROWSER").is_some_and(|v| !v.is_empty());
    assert!(
        !required,
        "PATCHBAY_REQUIRE_BROWSER is set but chromium or chromedriver is missing: run scripts/browser"
    );
    eprintln!(
        "SKIPPED the console's browser test: chromium and chromedriver are not installed \
         (scripts/browser installs them; PATCHBAY_REQUIRE_BROWSER=1 makes this a failure)"
    );
    None
}

/// chromedriver's log endpoint (not in W3C WebDriver): the browser's console
/// messages since the last read.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

/// chromedriver's DevTools passthrough (not in W3C WebDriver): one DevTools command.
#[derive(Debug)]
struct Cdp(Value);

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.0.to_string()))
    }
}

/// A WebDriver session on a headless Chromium of its own.
pub struct Browser {
    client: Client,
    driver: Child,
    profile: PathBuf,
    /// URL parts whose failed loads (4xx answers) the test caused on purpose.
    expected: Mutex<Vec<String>>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The session was closed (Chromium with it) by `close`; this ends the driver.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a browser session (1280×900).
    pub async fn start(found: &Found) -> Browser {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let driver = Command::new(&found.driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile =
            std::env::temp_dir().join(format!("patchbay-chromium-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).unwrap();
        let deadline = Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": found.chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        eprintln!("console test: WebDriver session on port {port}");
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session on headless Chromium");
        Browser {
            client,
            driver,
            profile,
            expected: Mutex::new(Vec::new()),
        }
    }

    /// Ends the session (Chromium exits).
    pub async fn close(&self) {
        let _ = self.client.clone().close().await;
    }

    pub async fn open(&self, url: &str) {
        eprintln!("console test: open {url}");
        self.client.goto(url).await.unwrap();
    }

    /// Makes the page see `prefers-color-scheme: dark` (or light).
    pub async fn color_scheme(&self, dark: bool) {
        let value = if dark { "dark" } else { "light" };
        self.client
            .issue_cmd(Cdp(json!({
                "cmd": "Emulation.setEmulatedMedia",
                "params": { "features": [{ "name": "prefers-color-scheme", "value": value }] },
            })))
            .await
            .unwrap();
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.unwrap();
    }

    pub async fn eval(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    pub async fn eval_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute_async(script, args).await.unwrap()
    }

    /// Waits until `script` (a JavaScript expression) is true.
    async fn until(&self, script: &str, what: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let v = self
                .client
                .execute(&format!("return !!({script})"), vec![])
                .await
                .unwrap();
            if v == Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                let errors = self.eval("return window.consoleErrors").await;
                panic!("waited {PATIENCE:?} for {what}; page errors: {errors}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_css(&self, css: &str) {
        let q = serde_json::to_string(css).unwrap();
        self.until(&format!("document.querySelector({q})"), css)
            .await;
    }

    /// Waits for page `name` to have loaded its data.
    pub async fn wait_page(&self, name: &str) {
        self.until(
            &format!(
                "document.body.dataset.page === '{name}' && \
                 document.getElementById('main').dataset.state === 'ready'"
            ),
            &format!("the {name} page"),
        )
        .await;
    }

    pub async fn wait_text(&self, css: &str, text: &str) {
        let q = serde_json::to_string(css).unwrap();
        let t = serde_json::to_string(text).unwrap();
        self.until(
            &format!(
                "document.querySelector({q}) && document.querySelector({q}).textContent.includes({t})"
            ),
            &format!("{text:?} in {css}"),
        )
        .await;
    }

    pub async fn fill(&self, css: &str, text: &str) {
        self.wait_css(css).await;
        let el = self.client.find(Locator::Css(css)).await.unwrap();
        el.clear().await.unwrap();
        el.send_keys(text).await.unwrap();
    }

    /// Types `text` (WebDriver key codes allowed, e.g. `\u{E007}` for Enter) into
    /// the element that has the focus.
    pub async fn type_keys(&self, text: &str) {
        let el = self.client.active_element().await.unwrap();
        el.clear().await.unwrap();
        el.send_keys(text).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        eprintln!("console test: click {css}");
        self.wait_css(css).await;
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Notes that a load of a URL containing `part` fails on purpose (a refused
    /// login, a forged change): the next [`Browser::settled`] allows it.
    /// The browser log's messages since the last read, taken (not checked).
    pub async fn take_log(&self) -> Vec<String> {
        let log = self.client.issue_cmd(BrowserLog).await.unwrap();
        log.as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["message"].as_str().map(str::to_owned))
            .collect()
    }

    pub fn expect_failed_load(&self, part: &str) {
        self.expected.lock().unwrap().push(part.to_owned());
    }

    /// Asserts that the page has had no error: none in its own collector, and no
    /// severe entry in the browser's log but the expected failed loads.
    pub async fn settled(&self, what: &str) {
        eprintln!("console test: settled? {what}");
        let errors = self.eval("return window.consoleErrors").await;
        assert_eq!(errors, json!([]), "browser errors on {what}");
        let log = self.client.issue_cmd(BrowserLog).await.unwrap();
        let expected = std::mem::take(&mut *self.expected.lock().unwrap());
        let severe: Vec<&str> = log
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .filter_map(|e| e["message"].as_str())
            .filter(|m| !expected.iter().any(|part| m.contains(&format!("{part} "))))
            .collect();
        assert!(severe.is_empty(), "browser log on {what}: {severe:?}");
    }

    /// Asserts that page `what` needs no horizontal scrolling at this width.
    pub async fn fits_width(&self, what: &str) {
        let fit = self
            .eval(
                "return [document.documentElement.scrollWidth, window.innerWidth, \
                 document.documentElement.clientWidth]",
            )
            .await;
        let [scroll, inner, client] = [0, 1, 2].map(|i| fit[i].as_u64().unwrap());
        assert!(
            scroll <= inner.max(client),
            "{what} is {scroll} px wide in a {inner} px window"
        );
    }

    /// Saves a screenshot of the viewport as `dir/name.png`.
    pub async fn shoot(&self, dir: &Path, name: &str) {
        std::fs::create_dir_all(dir).unwrap();
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}
