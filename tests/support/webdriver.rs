//! A W3C WebDriver client just large enough to drive Debian's headless Chromium through its
//! `chromedriver` (started here on a free loopback port, stopped on drop).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

/// The key W3C WebDriver names an element by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one browser session.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
}

/// Where Debian installs them (`apt-get install chromium chromium-driver`).
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

impl Browser {
    /// Starts chromedriver and a headless Chromium session, `width` × `height` pixels.
    pub async fn start(width: u32, height: u32) -> Self {
        ensure_installed();
        let port = super::nats::free_port();
        // Chromium leaves folders in the temporary folder: this test's own, swept with it.
        let scratch = super::temp_dir("chromium");
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .env("TMPDIR", &scratch)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut browser = Self {
            driver,
            addr,
            session: String::new(),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while browser.try_call("GET", "/status", None).await.is_none() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver never answered"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let created = browser
            .call(
                "POST",
                "/session",
                Some(json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        // Nothing of Chromium's own reaches for the network (this machine's
                        // is closed: refused connections and failed lookups otherwise), and
                        // a fresh profile every time.
                        "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                                 "--disable-dev-shm-usage", "--no-first-run", "--disable-quic",
                                 "--disable-background-networking", "--disable-component-update",
                                 "--disable-sync",
                                 format!("--user-data-dir={}", scratch.join("profile").display()),
                                 format!("--window-size={width},{height}")]
                    }
                }}})),
            )
            .await;
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        browser
    }

    async fn try_call(&self, method: &str, path: &str, body: Option<Value>) -> Option<Value> {
        let stream = tokio::net::TcpStream::connect(self.addr).await.ok()?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .ok()?;
        tokio::spawn(connection);
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .ok()?;
        let response = sender.send_request(request).await.ok()?;
        let bytes = response.into_body().collect().await.ok()?.to_bytes();
        serde_json::from_slice::<Value>(&bytes).ok()
    }

    /// One WebDriver command; panics on a WebDriver error.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let answer = self
            .try_call(method, path, body)
            .await
            .unwrap_or_else(|| panic!("chromedriver did not answer {method} {path}"));
        let value = answer["value"].clone();
        assert!(value.get("error").is_none(), "{method} {path}: {}", value);
        value
    }

    fn at(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Loads `url` and waits for it.
    pub async fn open(&self, url: &str) {
        self.call("POST", &self.at("/url"), Some(json!({"url": url})))
            .await;
    }

    /// The URL shown now.
    pub async fn url(&self) -> String {
        self.call("GET", &self.at("/url"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The element `css` selects (the first one).
    pub async fn find(&self, css: &str) -> String {
        let found = self
            .call(
                "POST",
                &self.at("/element"),
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_owned()
    }

    /// The text an element shows.
    pub async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        self.call("GET", &self.at(&format!("/element/{element}/text")), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The text of the element `css` selects, if the document has one now (none while a
    /// navigation replaces it).
    async fn try_text(&self, css: &str) -> Option<String> {
        let by = json!({"using": "css selector", "value": css});
        let found = self
            .try_call("POST", &self.at("/element"), Some(by))
            .await?;
        let element = found["value"][ELEMENT].as_str()?.to_owned();
        let text = self
            .try_call("GET", &self.at(&format!("/element/{element}/text")), None)
            .await?;
        text["value"].as_str().map(str::to_owned)
    }

    /// Awaits (bounded) until the element `css` selects shows `text`; returns all it shows. A
    /// click that submits a form returns before the next document is there: await what it
    /// shows, never read the page once.
    pub async fn until_text(&self, css: &str, text: &str) -> String {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let shown = self.try_text(css).await;
            if let Some(shown) = shown.as_ref().filter(|shown| shown.contains(text)) {
                return shown.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{css} never showed {text}: {shown:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Awaits (bounded) until the URL shown ends with `end`.
    pub async fn until_url_ends_with(&self, end: &str) -> String {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let url = self.url().await;
            if url.ends_with(end) {
                return url;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the URL never ended with {end}: {url}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Clicks an element (an option of a select chooses it).
    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.call(
            "POST",
            &self.at(&format!("/element/{element}/click")),
            Some(json!({})),
        )
        .await;
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let encoded = self.call("GET", &self.at("/screenshot"), None).await;
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .expect("a base64 PNG")
    }
}

/// Installs Debian's chromium and chromium-driver when they are missing (a fresh machine has
/// neither), as the cluster tests start their own nats-server: `cargo test` needs nothing
/// installed by hand. Once per process.
fn ensure_installed() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let present = || {
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists()
        };
        if present() {
            return;
        }
        let installed = Command::new("sh")
            .args([
                "-c",
                "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver",
            ])
            .stdout(Stdio::null())
            .status();
        assert!(
            installed.is_ok_and(|s| s.success()) && present(),
            "the browser test drives Debian's chromium and chromium-driver, and installing them failed: apt-get install chromium chromium-driver"
        );
    });
}

impl Browser {
    /// Ends the session (and Chromium with it), then the driver.
    pub async fn quit(self) {
        let _ = self.try_call("DELETE", &self.at(""), None).await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
