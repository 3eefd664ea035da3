//! The analyst console in a real browser: headless Chromium, driven over WebDriver by
//! chromedriver, signs in to a CERT's node, searches, opens a report, watches a partner's
//! report arrive without a reload, retracts, and signs out; cookie flags and CSRF are checked
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
}

impl Browser {
    async fn open(base: &str, chromium: &Path, driver: &Driver, profile: &Path) -> Browser {
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
                    format!("--user-data-dir={}", profile.display()),
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

    async fn submit(&self, form_css: &str) {
        self.client
            .find(Locator::Css(&format!("{form_css} button[type=submit]")))
            .await
            .unwrap_or_else(|e| panic!("no submit button in {form_css}: {e}"))
            .click()
            .await
            .expect("clicked");
    }

    /// Saves a screenshot of the page as NAME.png, and notes what the console logged.
    async fn shot(&mut self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("saved");
        self.read_log(name).await;
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
        Some(cairn_core::ReportSigningKey::Organisation(signer)),
        vec![],
        cairn_interop::import::ImportConfig::default(),
        tokens_path,
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
    let (Some(chromedriver), Some(chromium)) = (
        tool("CAIRN_CHROMEDRIVER", "/usr/bin/chromedriver"),
        tool("CAIRN_CHROMIUM", "/usr/bin/chromium"),
    ) else {
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

    let driver = start_driver(&chromedriver);
    let profile = tempfile::tempdir().expect("a browser profile");
    let mut b = Browser::open(
        &format!("http://{address}"),
        &chromium,
        &driver,
        profile.path(),
    )
    .await;

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
    let (Some(chromedriver), Some(chromium)) = (
        tool("CAIRN_CHROMEDRIVER", "/usr/bin/chromedriver"),
        tool("CAIRN_CHROMIUM", "/usr/bin/chromium"),
    ) else {
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

    let driver = start_driver(&chromedriver);
    let profile = tempfile::tempdir().expect("a browser profile");
    let mut b = Browser::open(
        &format!("http://127.0.0.1:{}", cert.api_port),
        &chromium,
        &driver,
        profile.path(),
    )
    .await;
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
    b.client
        .find(Locator::Css("#kind"))
        .await
        .expect("kind")
        .select_by_value("incident")
        .await
        .expect("chosen");
    b.fill("#title", "Wiper at a water utility").await;
    b.wait_for_text("the preview asking for a TLP", |t| {
        t.contains("tlp: is required")
    })
    .await;
    b.client
        .find(Locator::Css("#tlp"))
        .await
        .expect("tlp")
        .select_by_value("amber")
        .await
        .expect("chosen");
    b.fill("#indicators", "ipv4:203.0.113.77\ndomain:wiper.example")
        .await;
    b.fill("#victim", "Example Water").await;
    b.wait_for_text("the preview's decisions", |t| {
        t.contains("bank") && t.contains("ministry") && t.contains("yes")
    })
    .await;
    let previewed = preview_rows(&b).await;
    assert_eq!(previewed.len(), 2, "{previewed:?}");
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

    assert!(
        b.errors.is_empty(),
        "the browser's console logged problems:\n{}",
        b.errors.join("\n")
    );
    b.client.close().await.expect("the session closes");
}
