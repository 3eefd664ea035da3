//! The analyst console in a real browser: headless Chromium, driven over WebDriver by
//! chromedriver, signs in to a CERT's node, searches, opens a report, watches a partner's
//! report arrive without a reload, tells its author it was seen, retracts, and signs out; cookie flags and CSRF are checked
//! from the browser's side, the console must log no error, and every page is kept as a
//! screenshot in `target/console-screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them and names them in
//! CAIRN_CHROMIUM and CAIRN_CHROMEDRIVER). Outside CI, without them, the test says so and
//! passes; in CI it fails.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cairn_api::{ApiConfig, Role, Tokens};
use cairn_core::{OrgKey, Tlp, sample};
use cairn_tests::federation::{Federation, up_to};
use cairn_tests::processes::CliNode;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use rand::SeedableRng;
use serde_json::{Value, json};

/// Run in the page: the texts whose contrast with their background is below WCAG 2.2 AA
/// (1.4.3), each as "TAG \"text\" ratio < needed".
const CONTRAST_CHECK: &str = r#"
const parse = (s) => {
  const m = /rgba?\(([^)]+)\)/.exec(s);
  if (!m) return null;
  const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number);
  return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
};
const over = (top, under) => {
  const a = top[3];
  return [0, 1, 2].map((i) => top[i] * a + under[i] * (1 - a)).concat([1]);
};
const luminance = (c) => {
  const f = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
};
const background = (el) => {
  const layers = [];
  for (let e = el; e; e = e.parentElement) {
    const c = parse(getComputedStyle(e).backgroundColor);
    if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
  }
  let bg = [255, 255, 255, 1];
  for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
  return bg;
};
const found = [];
for (const el of document.querySelectorAll('body *')) {
  if (el.closest('svg')) continue;
  if (![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
  const box = el.getBoundingClientRect();
  const style = getComputedStyle(el);
  if (box.width === 0 || box.height === 0 || box.right < 0 || box.bottom < 0) continue;
  if (style.visibility === 'hidden') continue;
  const label = el.tagName + ' "' + el.textContent.trim().slice(0, 40) + '"';
  const fg = parse(style.color);
  if (!fg) { found.push(label + ' colour ' + style.color + ' not read'); continue; }
  const bg = background(el);
  const a = luminance(over(fg, bg)), b = luminance(bg);
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight, 10) >= 700;
  const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
  if (ratio < needed) found.push(label + ' ' + ratio.toFixed(2) + ' < ' + needed);
}
return found;
"#;

/// One browser at a time: two Chromiums and their nodes at once crowd a small machine.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Where a program the test needs is: the variable naming it, else its Debian path.
fn tool(variable: &str, debian: &str) -> Option<PathBuf> {
    let path = std::env::var_os(variable).map_or_else(|| PathBuf::from(debian), PathBuf::from);
    if path.is_file() {
        return Some(path);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "CI must provide {} ({variable}; .ci/run installs Debian's chromium and chromium-driver)",
            path.display()
        );
    }
    eprintln!(
        "{} is missing (set {variable}, or apt-get install chromium chromium-driver): the console's browser test did not run",
        path.display()
    );
    None
}

/// A chromedriver process on a loopback port, ended when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver(chromedriver: &Path) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver { child, port };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not listen on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    driver
}

/// The browser's console messages since last asked (chromedriver's log endpoint).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

/// The browser session, with where its screenshots go and what its console said.
struct Browser {
    client: Client,
    base: String,
    shots: PathBuf,
    errors: Vec<String>,
    /// Its chromedriver and profile folder, ended and removed with it.
    _driver: Driver,
    _profile: tempfile::TempDir,
}

/// chromedriver and Chromium, when the machine has them.
fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    Some((
        tool("CAIRN_CHROMEDRIVER", "/usr/bin/chromedriver")?,
        tool("CAIRN_CHROMIUM", "/usr/bin/chromium")?,
    ))
}

impl Browser {
    /// A headless Chromium with a fresh profile, driven by its own chromedriver, at `base`.
    async fn launch(base: &str, (chromedriver, chromium): &(PathBuf, PathBuf)) -> Browser {
        let driver = start_driver(chromedriver);
        let profile = tempfile::tempdir().expect("a browser profile");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-extensions",
                    format!("--user-data-dir={}", profile.path().display()),
                    "--window-size=1280,900",
                ],
            }),
        );
        capabilities.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .expect("a WebDriver session in Chromium");
        let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
        std::fs::create_dir_all(&shots).expect("the screenshot folder");
        Browser {
            client,
            base: base.to_string(),
            shots,
            errors: Vec::new(),
            _driver: driver,
            _profile: profile,
        }
    }

    async fn go(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("opening {path}: {e}"));
    }

    async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("url")
            .path()
            .to_string()
    }

    /// The page's text; empty while a page is between loads (its body not there yet).
    async fn text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    async fn fill(&self, css: &str, value: &str) {
        let field = self.client.find(Locator::Css(css)).await.expect(css);
        field.clear().await.expect("cleared");
        field.send_keys(value).await.expect("typed");
    }

    /// Chooses the option `value` of the select `css`.
    async fn choose(&self, css: &str, value: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("no option {value:?} in {css}: {e}"));
    }

    async fn submit(&self, form_css: &str) {
        self.client
            .find(Locator::Css(&format!("{form_css} button[type=submit]")))
            .await
            .unwrap_or_else(|e| panic!("no submit button in {form_css}: {e}"))
            .click()
            .await
            .expect("clicked");
    }

    /// Saves a screenshot of the page as NAME.png, notes what the console logged, and checks
    /// the contrast of every text on it.
    async fn shot(&mut self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("saved");
        self.read_log(name).await;
        self.check_contrast(name).await;
    }

    /// Every visible text of the page against the background it is drawn on, by WCAG 2.2's
    /// contrast ratio as the browser computed the colours: at least 4.5:1, or 3:1 for large
    /// text (24 px, or 18.66 px bold). Charts (SVG) have their own colours and are not read.
    async fn check_contrast(&mut self, page: &str) {
        let found = self
            .client
            .execute(CONTRAST_CHECK, vec![])
            .await
            .expect("the contrast check ran");
        for problem in found.as_array().into_iter().flatten() {
            self.errors.push(format!(
                "{page}: contrast too low: {}",
                problem.as_str().unwrap_or("?")
            ));
        }
    }

    async fn read_log(&mut self, page: &str) {
        self.read_log_expecting(page, None).await;
    }

    /// Reads the console's messages; with `refused`, the browser's note that a request was
    /// answered with that status (the test provoked it) is expected rather than a problem.
    async fn read_log_expecting(&mut self, page: &str, refused: Option<u16>) {
        let log = self.client.issue_cmd(BrowserLog).await.expect("the log");
        for entry in log.as_array().into_iter().flatten() {
            let level = entry["level"].as_str().unwrap_or_default();
            let message = entry["message"].as_str().unwrap_or("?");
            let expected =
                refused.is_some_and(|status| message.contains(&format!("status of {status}")));
            if (level == "SEVERE" || level == "WARNING") && !expected {
                self.errors.push(format!("{page}: {message}"));
            }
        }
    }

    /// Waits until `ready` holds of the page text.
    async fn wait_for_text(&self, what: &str, ready: impl Fn(&str) -> bool) {
        let started = Instant::now();
        loop {
            if ready(&self.text().await) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "waited 15 s for {what}; the page says:\n{}",
                self.text().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Posts a form from the page's own origin, with the session cookie, and answers the
    /// status (run in the browser: what a forged or replayed form would do).
    async fn post_from_page(&self, path: &str, body: &str) -> u64 {
        let status = self
            .client
            .execute_async(
                "const done = arguments[2];
                 fetch(arguments[0], { method: 'POST', redirect: 'manual',
                   headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
                   body: arguments[1] })
                   .then(r => done(r.status)).catch(e => done(String(e)));",
                vec![json!(path), json!(body)],
            )
            .await
            .expect("fetch ran");
        status
            .as_u64()
            .unwrap_or_else(|| panic!("the POST failed: {status}"))
    }
}

async fn start_api(fed: &Federation, i: usize, dir: &Path, signer: OrgKey) -> (SocketAddr, String) {
    let tokens_path = dir.join("tokens.json");
    let mut tokens = Tokens::load(&tokens_path).expect("tokens");
    let token = tokens.create("analyst", Role::Admin, 1).expect("a token");
    let address = cairn_api::serve(
        &ApiConfig {
            listen: "127.0.0.1:0".into(),
            ..ApiConfig::default()
        },
        fed.node(i).clone(),
        cairn_api::ApiParts {
            signer: Some(cairn_core::ReportSigningKey::Organisation(signer)).into(),
            ..cairn_api::ApiParts::new(tokens_path)
        },
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect("the API starts");
    (address, token)
}

fn draft(seed: u64, title: &str, tlp: Tlp) -> cairn_core::ReportDraft {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut d = sample::indicator_report(&mut rng, seed);
    d.title = title.to_string();
    d.tlp = Some(tlp);
    d.scope = Some(cairn_core::Scope::DirectPeers);
    d.hop_limit = None;
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_works_through_the_console_in_a_real_browser() {
    let Some(tools) = browser_tools() else {
        return;
    };
    let _one = ONE_BROWSER.lock().await;
    // A CERT and an NGO sharing up to AMBER both ways.
    let mut fed = Federation::new(&["cert", "ngo"], 61);
    fed.trust(0, 1, up_to(Tlp::Amber), up_to(Tlp::Amber));
    fed.start_all().await;
    fed.wait_connected(Duration::from_secs(20)).await;
    let dir = tempfile::tempdir().expect("a folder");
    let key_file = dir.path().join("org.key");
    fed.members[0].org.save(&key_file).expect("key saved");
    let signer = OrgKey::load(&key_file).expect("key read");
    let (address, token) = start_api(&fed, 0, dir.path(), signer).await;

    let phishing = fed
        .publish_draft(0, &draft(1, "Phishing wave against town halls", Tlp::Green))
        .await;
    let botnet = fed
        .publish_draft(
            0,
            &draft(2, "Botnet controllers seen this week", Tlp::Amber),
        )
        .await;
    let searched = phishing.report().indicators[0].value.clone();

    let mut b = Browser::launch(&format!("http://{address}"), &tools).await;

    // Signed out, the console sends the analyst to sign in.
    b.go("/ui/reports").await;
    assert_eq!(b.path().await, "/ui/sign-in");
    b.shot("01-sign-in").await;
    // A wrong token is refused with a message; the right one signs in.
    b.fill("#token", "cairn_not-a-token").await;
    b.submit("main form").await;
    b.wait_for_text("the refusal", |t| t.contains("token"))
        .await;
    assert_eq!(b.path().await, "/ui/sign-in");
    b.read_log_expecting("sign-in refused", Some(401)).await;
    b.shot("02-sign-in-refused").await;
    b.fill("#token", &token).await;
    b.submit("main form").await;
    b.wait_for_text("the overview", |t| t.contains("Phishing wave"))
        .await;
    assert_eq!(b.path().await, "/ui/");
    b.shot("03-overview").await;

    // The session cookie: HttpOnly, SameSite=Strict, for the console only; the script cannot
    // read it.
    let session = b
        .client
        .get_named_cookie("cairn_session")
        .await
        .expect("a session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(format!("{:?}", session.same_site()), "Some(Strict)");
    assert_eq!(session.path(), Some("/ui"));
    let visible = b
        .client
        .execute("return document.cookie;", vec![])
        .await
        .expect("script ran");
    assert!(
        !visible
            .as_str()
            .unwrap_or_default()
            .contains("cairn_session"),
        "{visible}"
    );

    // Search by indicator, then open the report found.
    b.go("/ui/reports").await;
    b.shot("04-reports").await;
    // Sorted by title from its heading: "Botnet…" before "Phishing…", then the other way.
    click(&b, "table.reports thead th:first-child a").await;
    b.wait_for_text("the sorted table", |t| t.contains("by title"))
        .await;
    let sorted = b.text().await;
    let (botnet_at, phishing_at) = (
        sorted.find("Botnet controllers").expect("listed"),
        sorted.find("Phishing wave").expect("listed"),
    );
    assert!(botnet_at < phishing_at, "{sorted}");
    click(&b, "table.reports thead th:first-child a").await;
    b.wait_for_text("the table sorted the other way", |t| {
        t.contains("the other way")
    })
    .await;
    let sorted = b.text().await;
    assert!(
        sorted.find("Phishing wave") < sorted.find("Botnet controllers"),
        "{sorted}"
    );
    b.shot("04b-reports-by-title").await;
    b.go("/ui/reports").await;
    b.fill("#indicator", &searched).await;
    b.submit("form[role=search]").await;
    b.wait_for_text("the search", |t| t.contains("Phishing wave"))
        .await;
    let page = b.text().await;
    assert!(!page.contains("Botnet controllers"), "{page}");
    b.shot("05-search").await;
    b.client
        .find(Locator::LinkText("Phishing wave against town halls"))
        .await
        .expect("the report's link")
        .click()
        .await
        .expect("clicked");
    b.wait_for_text("the report page", |t| t.contains("Who receives it"))
        .await;
    let page = b.text().await;
    assert!(page.contains(&searched), "{page}");
    assert!(page.contains("ngo"), "the NGO's decision is shown: {page}");
    b.shot("06-report").await;

    // A partner's report appears in the open list without a reload.
    b.go("/ui/reports").await;
    b.client
        .execute("window.cairnNotReloaded = true;", vec![])
        .await
        .expect("script ran");
    let arrived = fed
        .publish_draft(
            1,
            &draft(3, "Ransomware note found at a clinic", Tlp::Green),
        )
        .await;
    assert!(
        fed.wait_for(0, &[arrived.id()], Duration::from_secs(20))
            .await,
        "the NGO's report reached the CERT"
    );
    b.wait_for_text("the live update", |t| t.contains("Ransomware note"))
        .await;
    let same_page = b
        .client
        .execute("return window.cairnNotReloaded === true;", vec![])
        .await
        .expect("script ran");
    assert_eq!(same_page, Value::Bool(true), "the page was reloaded");
    b.shot("07-live").await;

    // Tell the NGO the CERT saw its report: the sighting goes back to its author.
    b.go(&format!("/ui/reports/{}", arrived.id())).await;
    b.fill("#sighting-count", "3").await;
    b.fill("#sighting-where", "clinic network").await;
    b.submit("form.sighting").await;
    b.wait_for_text("the sighting", |t| {
        t.contains("Each sighting, oldest first") && t.contains("clinic network")
    })
    .await;
    b.shot("07b-sighting").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let at_author = fed
            .node(1)
            .store()
            .sightings_of(&arrived.id())
            .expect("read");
        if let Some(sighting) = at_author.first() {
            let said = sighting
                .report
                .report()
                .sighting
                .clone()
                .expect("a sighting");
            assert_eq!(said.count, 3);
            assert_eq!(said.place.as_deref(), Some("clinic network"));
            break;
        }
        assert!(Instant::now() < deadline, "the sighting reached the NGO");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // CSRF: a form posted without the page's token changes nothing.
    let retract_path = format!("/ui/reports/{}/retract", phishing.id());
    let status = b
        .post_from_page(&retract_path, "csrf=forged&reason=not+mine")
        .await;
    assert_eq!(status, 403);
    b.read_log_expecting("forged retraction", Some(403)).await;
    assert!(matches!(
        fed.node(0).store().status(&phishing).expect("status"),
        cairn_store::ReportStatus::Current
    ));

    // Retract through the form.
    b.go(&format!("/ui/reports/{}", phishing.id())).await;
    b.fill("#reason", "sent to the wrong town halls").await;
    b.submit("form.retract").await;
    b.wait_for_text("the retraction", |t| t.contains("Retracted by its author"))
        .await;
    b.shot("08-retracted").await;
    assert!(matches!(
        fed.node(0).store().status(&phishing).expect("status"),
        cairn_store::ReportStatus::Retracted(_)
    ));
    // A retract form sent without a reason (the browser itself asks for one) is refused with
    // a message and changes nothing.
    b.go(&format!("/ui/reports/{}", botnet.id())).await;
    let csrf = b
        .client
        .find(Locator::Css("form.retract input[name=csrf]"))
        .await
        .expect("the retract form")
        .attr("value")
        .await
        .expect("read")
        .expect("a CSRF token");
    let status = b
        .post_from_page(
            &format!("/ui/reports/{}/retract", botnet.id()),
            &format!("csrf={csrf}&reason=+"),
        )
        .await;
    assert_eq!(status, 400);
    b.read_log_expecting("retraction without a reason", Some(400))
        .await;
    assert!(matches!(
        fed.node(0).store().status(&botnet).expect("status"),
        cairn_store::ReportStatus::Current
    ));

    // Import a STIX bundle from a file: every object accounted for.
    let bundle = dir.path().join("c2-bundle.json");
    std::fs::write(
        &bundle,
        r#"{"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": [
            {"type": "indicator", "spec_version": "2.1",
             "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
             "created": "2026-11-20T10:00:00.000Z", "modified": "2026-11-20T10:00:00.000Z",
             "name": "C2 server seen by the bank", "pattern": "[ipv4-addr:value = '198.51.100.23']",
             "pattern_type": "stix", "valid_from": "2026-11-20T10:00:00Z"}]}"#,
    )
    .expect("bundle written");
    b.go("/ui/import").await;
    b.client
        .find(Locator::Css("#file"))
        .await
        .expect("the file field")
        .send_keys(&bundle.display().to_string())
        .await
        .expect("file chosen");
    b.submit("#import-form").await;
    b.wait_for_text("the import's account", |t| {
        t.contains("What c2-bundle.json gave")
    })
    .await;
    let page = b.text().await;
    assert!(page.contains("carried in Cairn report"), "{page}");
    b.shot("09-imported").await;

    // The other pages.
    for (path, name) in [
        ("/ui/partners", "10-partners"),
        ("/ui/statistics", "11-statistics"),
        ("/ui/tokens", "12-tokens"),
    ] {
        b.go(path).await;
        assert_eq!(b.path().await, path);
        b.shot(name).await;
    }

    // Keyboard: the first Tab reaches the skip link, which leads to the content.
    b.go("/ui/reports").await;
    b.client
        .find(Locator::Css("body"))
        .await
        .expect("body")
        .send_keys("\u{E004}")
        .await
        .expect("Tab");
    let focused = b
        .client
        .execute("return document.activeElement.textContent;", vec![])
        .await
        .expect("script ran");
    assert_eq!(focused, json!("Skip to the content"));

    // A phone's screen: nothing wider than the window.
    b.client.set_window_size(390, 844).await.expect("resized");
    b.go("/ui/reports").await;
    let fits = b
        .client
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
            vec![],
        )
        .await
        .expect("script ran");
    b.shot("13-reports-on-a-phone").await;
    assert_eq!(
        fits,
        Value::Bool(true),
        "the reports list is wider than a phone"
    );
    b.client.set_window_size(1280, 900).await.expect("resized");

    // Sign out: the session ends.
    b.go("/ui/").await;
    b.submit("form.sign-out").await;
    b.wait_for_text("the sign-in page", |t| t.contains("Sign in"))
        .await;
    b.go("/ui/reports").await;
    assert_eq!(b.path().await, "/ui/sign-in");
    b.shot("14-signed-out").await;

    assert!(
        b.errors.is_empty(),
        "the browser's console logged problems:\n{}",
        b.errors.join("\n")
    );
    b.client.close().await.expect("the session closes");
}

/// The preview table's rows as the browser shows them: partner, "yes…"/"no", reason.
async fn preview_rows(b: &Browser) -> Vec<(String, String, String)> {
    let mut rows = Vec::new();
    for row in b
        .client
        .find_all(Locator::Css("#preview-body table tbody tr"))
        .await
        .expect("rows")
    {
        let partner = row
            .find(Locator::Css("th"))
            .await
            .expect("a partner")
            .text()
            .await
            .expect("text");
        let cells = row.find_all(Locator::Css("td")).await.expect("cells");
        assert_eq!(cells.len(), 2, "partner, receives, why");
        rows.push((
            partner,
            cells[0].text().await.expect("text"),
            cells[1].text().await.expect("text"),
        ));
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_publish_preview_updates_as_the_analyst_types_and_matches_cairn_policy_explain() {
    let Some(tools) = browser_tools() else {
        return;
    };
    let _one = ONE_BROWSER.lock().await;
    // A CERT's node (a real `cairn run` process) with two partners: a bank that may receive up
    // to GREEN and a ministry up to AMBER.
    let dir = tempfile::tempdir().expect("a folder");
    let mut cert = CliNode::init(dir.path(), "cert");
    let bank = CliNode::init(dir.path(), "bank");
    let ministry = CliNode::init(dir.path(), "ministry");
    cert.partner_with(&bank, "bank", "green");
    cert.partner_with(&ministry, "ministry", "amber");
    // The ministry is not told who the victim was.
    cert.replace_in_config(
        "[policies.for-ministry]\nmax_tlp = \"amber\"\n",
        "[policies.for-ministry]\nmax_tlp = \"amber\"\nwithhold = [\"victim\"]\n",
    );
    let token = cert.ok(&["token", "create", "--role", "publish", "--name", "analyst"]);
    cert.start();

    let mut b = Browser::launch(&format!("http://127.0.0.1:{}", cert.api_port), &tools).await;
    b.go("/ui/sign-in").await;
    b.fill("#token", token.trim()).await;
    b.submit("main form").await;
    b.wait_for_text("the overview", |t| t.contains("Overview"))
        .await;
    b.client
        .find(Locator::LinkText("Publish"))
        .await
        .expect("the Publish section for a publishing token")
        .click()
        .await
        .expect("clicked");
    b.wait_for_text("the form", |t| t.contains("Publish a report"))
        .await;
    b.shot("20-publish").await;

    // Typing: the preview follows, without pressing anything.
    b.choose("#kind", "incident").await;
    b.fill("#title", "Wiper at a water utility").await;
    b.wait_for_text("the preview asking for a TLP", |t| {
        t.contains("tlp: is required")
    })
    .await;
    b.choose("#tlp", "amber").await;
    b.fill("#indicators", "ipv4:203.0.113.77\ndomain:wiper.example")
        .await;
    b.fill("#victim", "Example Water").await;
    b.wait_for_text("the preview's decisions", |t| {
        t.contains("bank") && t.contains("ministry") && t.contains("yes")
    })
    .await;
    let previewed = preview_rows(&b).await;
    assert_eq!(previewed.len(), 2, "{previewed:?}");
    // The documentation address and domain are flagged, with their lists named.
    b.wait_for_text("the warning-list flags", |t| {
        t.contains("ipv4:203.0.113.77 is on the warning list reserved-ipv4")
            && t.contains("domain:wiper.example is on the warning list reserved-domains")
    })
    .await;
    b.shot("21-publish-preview").await;

    // Signed and published: the node's own explanation of the stored report agrees.
    b.client
        .find(Locator::Css("button[value=publish]"))
        .await
        .expect("the publish button")
        .click()
        .await
        .expect("clicked");
    b.wait_for_text("the new report", |t| t.contains("Who receives it"))
        .await;
    b.shot("22-published").await;
    let path = b.path().await;
    let id = path
        .strip_prefix("/ui/reports/")
        .unwrap_or_else(|| panic!("not a report page: {path}"))
        .to_string();
    let explained = cert.ok(&["policy", "explain", "--report", &id, "--all-peers"]);
    for (partner, receives, reason) in &previewed {
        let line = explained
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{partner} ")))
            .unwrap_or_else(|| panic!("{partner} is not in:\n{explained}"));
        let said = if receives.starts_with("yes") {
            "receives it"
        } else {
            "does not"
        };
        assert!(
            line.contains(said),
            "preview said {receives:?} for {partner}, cairn policy explain: {line}"
        );
        assert!(
            line.ends_with(&format!(": {reason}")),
            "preview gave {reason:?} for {partner}, cairn policy explain: {line}"
        );
    }
    assert!(
        previewed
            .iter()
            .any(|(p, r, _)| p == "ministry" && r.contains("without victim")),
        "{previewed:?}"
    );

    // A capacity offer for the liaison directory, written in the same form: its report page
    // shows the entry in words.
    b.go("/ui/publish").await;
    b.choose("#kind", "directory-entry").await;
    b.fill(
        "#title",
        "Incident-response mentoring for West African CERTs",
    )
    .await;
    b.choose("#tlp", "clear").await;
    b.wait_for_text("the preview naming the missing entry type", |t| {
        t.contains("entry_type")
    })
    .await;
    b.choose("#entry_type", "capacity-offer").await;
    click(&b, "input[name=topic][value=incident-response]").await;
    b.fill("#entry_countries", "SN, GH").await;
    b.fill("#contact", "capacity@cert.example").await;
    b.fill("#valid_until", "2099-06-30").await;
    b.wait_for_text("the preview's decisions", |t| {
        t.contains("bank") && t.contains("ministry") && !t.contains("entry_type:")
    })
    .await;
    click(&b, "button[value=publish]").await;
    b.wait_for_text("the entry's page", |t| t.contains("Who receives it"))
        .await;
    let text = b.text().await;
    assert!(
        text.contains("Directory entry")
            && text.contains("Help, training, tools or people offered")
            && text.contains("capacity@cert.example")
            && text.contains("2099-06-30"),
        "{text}"
    );
    b.shot("23-directory-entry").await;

    assert!(
        b.errors.is_empty(),
        "the browser's console logged problems:\n{}",
        b.errors.join("\n")
    );
    b.client.close().await.expect("the session closes");
}

/// The value of a form field on the page.
async fn field_value(b: &Browser, css: &str) -> String {
    b.client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .prop("value")
        .await
        .expect("its value")
        .unwrap_or_default()
}

async fn click(b: &Browser, css: &str) {
    b.client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .expect("clicked");
}

async fn sign_in(b: &mut Browser, base: &str, token: &str) {
    b.base = base.to_string();
    b.go("/ui/sign-in").await;
    b.fill("#token", token).await;
    b.submit("main form").await;
    b.wait_for_text("the overview", |t| t.contains("Overview"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_organisations_become_partners_through_their_consoles() {
    let Some(tools) = browser_tools() else {
        return;
    };
    let _one = ONE_BROWSER.lock().await;
    // A CERT and a bank, each running (`cairn run`) with a policy and no partner yet.
    let dir = tempfile::tempdir().expect("a folder");
    let mut cert = CliNode::init(dir.path(), "cert");
    let mut bank = CliNode::init(dir.path(), "bank");
    for node in [&cert, &bank] {
        node.configure("[policies.partners]\nmax_tlp = \"green\"\n");
    }
    let cert_admin = cert.ok(&["token", "create", "--role", "admin", "--name", "admin"]);
    let bank_admin = bank.ok(&["token", "create", "--role", "admin", "--name", "admin"]);
    let bank_reader = bank.ok(&["token", "create", "--role", "read", "--name", "analyst"]);
    cert.start();
    bank.start();
    let cert_url = format!("http://127.0.0.1:{}", cert.api_port);
    let bank_url = format!("http://127.0.0.1:{}", bank.api_port);
    let bank_config = bank.home.join("node.toml");

    let mut b = Browser::launch(&cert_url, &tools).await;

    // The CERT's admin makes an invitation; a length of time that is none is refused first.
    sign_in(&mut b, &cert_url, cert_admin.trim()).await;
    b.go("/ui/partners").await;
    b.wait_for_text("the partners page", |t| t.contains("Invite a partner"))
        .await;
    b.shot("30-partners-empty").await;
    b.fill("#expires", "soon").await;
    b.submit("form[action^='/ui/partners/invite']").await;
    b.wait_for_text("the refusal", |t| t.contains("No invitation made"))
        .await;
    assert!(b.text().await.contains("\"soon\" is not a length of time"));
    b.read_log_expecting("invitation refused", Some(400)).await;
    b.fill("#expires", "2d").await;
    b.choose("#invite-kind", "cert").await;
    b.fill("#invite-region", "EU").await;
    b.submit("form[action^='/ui/partners/invite']").await;
    b.wait_for_text("the invitation", |t| t.contains("Invitation made"))
        .await;
    let invitation = field_value(&b, "#invitation-line").await;
    assert!(invitation.starts_with("cairn-invite-1."), "{invitation}");
    assert!(b.text().await.contains(&cert.org_key));
    b.shot("31-invitation-made").await;
    b.submit("form.sign-out").await;
    b.wait_for_text("the sign-in page", |t| t.contains("Sign in"))
        .await;

    // The bank's admin pastes it: something else is refused, the check shows the CERT's key,
    // adding without a policy is refused, each leaving node.toml as it was.
    let before = std::fs::read_to_string(&bank_config).expect("node.toml");
    sign_in(&mut b, &bank_url, bank_admin.trim()).await;
    b.go("/ui/partners").await;
    b.fill("#invitation", "please add us, we are the cert")
        .await;
    click(&b, "button[value=check]").await;
    b.wait_for_text("the refusal", |t| t.contains("No partner added"))
        .await;
    assert!(b.text().await.contains("is not an invitation"));
    b.read_log_expecting("not an invitation", Some(400)).await;
    let damaged = format!("{}AAAA", &invitation[..invitation.len() - 8]);
    b.fill("#invitation", &damaged).await;
    click(&b, "button[value=check]").await;
    b.wait_for_text("the refusal", |t| {
        t.contains("No partner added") && t.contains("invitation")
    })
    .await;
    b.read_log_expecting("damaged invitation", Some(400)).await;
    // Pasted as a mail client might have wrapped it.
    let (first, rest) = invitation.split_at(40);
    b.fill("#invitation", &format!("{first}\n{rest}\n")).await;
    click(&b, "button[value=check]").await;
    b.wait_for_text("what it introduces", |t| {
        t.contains("What this invitation introduces")
    })
    .await;
    let text = b.text().await;
    assert!(
        text.contains(&cert.org_key) && text.contains("EU"),
        "{text}"
    );
    b.shot("32-invitation-checked").await;
    click(&b, "button[value=add]").await;
    b.wait_for_text("the refusal", |t| t.contains("choose the policy"))
        .await;
    b.read_log_expecting("no policy", Some(400)).await;
    assert_eq!(
        std::fs::read_to_string(&bank_config).expect("node.toml"),
        before,
        "a refused form changed node.toml"
    );
    b.choose("#policy", "partners").await;
    click(&b, "button[value=add]").await;
    b.wait_for_text("the partner added", |t| t.contains("Added partner cert"))
        .await;
    assert!(b.text().await.contains("partners added"));
    b.shot("33-partner-added").await;
    let listed = bank.ok(&["partner", "list"]);
    assert!(
        listed.contains("partners") && listed.contains(&cert.org_key[..16]),
        "{listed}"
    );

    // The bank invites the CERT from its console too; the CERT adds it with the command line,
    // and the bank's page shows the CERT's node connected.
    b.choose("#invite-kind", "company").await;
    b.fill("#invite-sector", "finance").await;
    b.submit("form[action^='/ui/partners/invite']").await;
    b.wait_for_text("the invitation", |t| t.contains("Invitation made"))
        .await;
    let bank_invitation = field_value(&b, "#invitation-line").await;
    cert.ok(&[
        "partner",
        "add",
        bank_invitation.trim(),
        "--policy",
        "partners",
    ]);
    let started = Instant::now();
    loop {
        b.go("/ui/partners").await;
        let text = b.text().await;
        if text.contains(&cert.peer_id) && text.contains("connected (") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the CERT's node never showed as connected:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    b.shot("34-partner-connected").await;
    b.submit("form.sign-out").await;
    b.wait_for_text("the sign-in page", |t| t.contains("Sign in"))
        .await;

    // A reader sees the partners but no invitation forms, and a forged post is refused.
    let after = std::fs::read_to_string(&bank_config).expect("node.toml");
    sign_in(&mut b, &bank_url, bank_reader.trim()).await;
    b.go("/ui/partners").await;
    let text = b.text().await;
    assert!(
        text.contains("cert") && !text.contains("Invite a partner"),
        "{text}"
    );
    let status = b
        .post_from_page(
            "/ui/partners/add",
            &format!(
                "action=add&policy=partners&invitation={}",
                url::form_urlencoded::byte_serialize(invitation.as_bytes()).collect::<String>()
            ),
        )
        .await;
    assert_eq!(status, 403);
    b.read_log_expecting("a reader's forged post", Some(403))
        .await;
    assert_eq!(
        std::fs::read_to_string(&bank_config).expect("node.toml"),
        after
    );

    assert!(
        b.errors.is_empty(),
        "the browser's console logged problems:\n{}",
        b.errors.join("\n")
    );
    b.client.close().await.expect("the session closes");
}
