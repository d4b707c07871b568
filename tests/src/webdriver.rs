//! A small WebDriver (W3C) client for Debian's headless Chromium through `chromedriver`
//! (`infra/browser/install`), over reqwest: enough to drive the triage page like a person
//! (type, click, read text), run a script in the page, take a screenshot, and read Chromium's
//! performance (network) and console logs.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// The W3C element reference key.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_program(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// `chromedriver` on a free loopback port, in its own process group (so that Chromium, which it
/// starts, is stopped with it).
pub struct Driver {
    child: Child,
    base: String,
    http: reqwest::Client,
    profile: PathBuf,
}

impl Driver {
    /// Starts chromedriver; panics with what to install when Chromium is missing.
    pub async fn start() -> Driver {
        let chromedriver = find_program("chromedriver").expect(
            "chromedriver is not on PATH: run infra/browser/install (Debian chromium-driver)",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let profile =
            std::env::temp_dir().join(format!("ctguard-chromium-{}-{port}", std::process::id()));
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let driver = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(90))
                .build()
                .expect("http client"),
            profile,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = driver
                .http
                .get(format!("{}/status", driver.base))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success());
            if let Some(response) = ready {
                let status: Value = response.json().await.unwrap_or_default();
                if status["value"]["ready"] == true {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready on {}",
                driver.base
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        driver
    }

    /// A headless Chromium session with the performance (network) and console logs on.
    pub async fn session(&self) -> Session<'_> {
        let chromium = find_program("chromium")
            .expect("chromium is not on PATH: run infra/browser/install (Debian chromium)");
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": chromium,
                        "args": [
                            "--headless=new",
                            // The tests may run as root (CI containers), where Chromium's
                            // sandbox cannot start; the page is our own, on loopback.
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--no-first-run",
                            "--no-default-browser-check",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--window-size=1200,1000",
                            "--force-device-scale-factor=1",
                            format!("--user-data-dir={}", self.profile.display()),
                        ],
                    },
                    "goog:loggingPrefs": { "performance": "ALL", "browser": "ALL" },
                }
            }
        });
        let value = self.call("POST", "/session", Some(capabilities)).await;
        let id = value["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in {value}"))
            .to_owned();
        Session {
            driver: self,
            path: format!("/session/{id}"),
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self
                .http
                .post(&url)
                .json(&body.unwrap_or_else(|| json!({}))),
        };
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status();
        let value: Value = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON: {e}"));
        assert!(status.is_success(), "{method} {path}: {status} {value}");
        value["value"].clone()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver and the Chromium it started: our own process group only.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// One browser session.
pub struct Session<'a> {
    driver: &'a Driver,
    path: String,
}

/// An element found in the page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Session<'_> {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.driver
            .call(method, &format!("{}{path}", self.path), body)
            .await
    }

    pub async fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url }))).await;
    }

    /// Every element matching the CSS selector (none is not an error).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let found = self
            .call(
                "POST",
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e[ELEMENT_KEY].as_str().map(|id| Element(id.to_owned())))
            .collect()
    }

    /// The first element matching `css`, waiting for it to appear (see [`Session::wait_for`]).
    pub async fn find(&self, css: &str) -> Element {
        self.wait_for(&format!("an element {css}"), || async {
            self.find_all(css).await.into_iter().next()
        })
        .await
    }

    pub async fn click(&self, element: &Element) {
        self.call("POST", &format!("/element/{}/click", element.0), None)
            .await;
    }

    pub async fn type_text(&self, element: &Element, text: &str) {
        self.call(
            "POST",
            &format!("/element/{}/value", element.0),
            Some(json!({ "text": text })),
        )
        .await;
    }

    pub async fn clear(&self, element: &Element) {
        self.call("POST", &format!("/element/{}/clear", element.0), None)
            .await;
    }

    /// The element's rendered text.
    pub async fn text(&self, element: &Element) -> String {
        let value = self
            .call("GET", &format!("/element/{}/text", element.0), None)
            .await;
        value.as_str().unwrap_or_default().to_owned()
    }

    pub async fn attribute(&self, element: &Element, name: &str) -> Option<String> {
        let value = self
            .call(
                "GET",
                &format!("/element/{}/attribute/{name}", element.0),
                None,
            )
            .await;
        value.as_str().map(str::to_owned)
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// Runs `script` in the page; it ends by calling `arguments[arguments.length - 1](result)`.
    pub async fn execute_async(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/async",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// Polls `probe` until it yields a value, for at most 30 s (the page answers in
    /// milliseconds; the bound only matters on a loaded machine).
    pub async fn wait_for<T, F, Fut>(&self, what: &str, mut probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(value) = probe().await {
                return value;
            }
            if Instant::now() > deadline {
                let message = self
                    .execute(
                        "return document.getElementById('message')?.textContent ?? ''",
                        json!([]),
                    )
                    .await;
                panic!("timed out waiting for {what} (page message: {message})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A PNG of the viewport, written to `path` (directories created).
    pub async fn screenshot(&self, path: &Path) {
        let value = self.call("GET", "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(value.as_str().expect("screenshot as base64"))
            .expect("screenshot base64");
        assert!(png.starts_with(b"\x89PNG"), "screenshot is a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot directory");
        }
        std::fs::write(path, png).expect("write screenshot");
    }

    /// Chromium's log of `kind` (`performance`: DevTools network events; `browser`: the
    /// console, CSP violations included) since the last read.
    pub async fn log(&self, kind: &str) -> Vec<Value> {
        let value = self
            .call("POST", "/se/log", Some(json!({ "type": kind })))
            .await;
        value.as_array().cloned().unwrap_or_default()
    }

    /// Every URL requested since the last performance-log read by documents whose URL starts
    /// with `origin` (the page, not the browser's own new-tab page that a session opens with).
    pub async fn requested_urls(&self, origin: &str) -> Vec<String> {
        self.log("performance")
            .await
            .iter()
            .filter_map(|entry| entry["message"].as_str())
            .filter_map(|message| serde_json::from_str::<Value>(message).ok())
            .filter(|m| m["message"]["method"] == "Network.requestWillBeSent")
            .filter(|m| {
                m["message"]["params"]["documentURL"]
                    .as_str()
                    .is_some_and(|d| d.starts_with(origin))
            })
            .filter_map(|m| {
                m["message"]["params"]["request"]["url"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    }

    pub async fn close(self) {
        self.call("DELETE", "", None).await;
    }
}
