//! The API of a real node on 127.0.0.1: authentication and roles, filters and their errors,
//! one report by id, the stream resuming from a cursor, the JSON error shape.

use std::time::Duration;

use cairn_api::{ApiConfig, Role, Tokens};
use cairn_core::{NodeCertificate, NodeKey, OrgKey, Tlp, sample};

use cairn_node::{NodeSettings, SyncSettings};
use rand::SeedableRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

struct Api {
    address: std::net::SocketAddr,
    read: String,
    node: cairn_node::NodeHandle,
    org: OrgKey,
    shutdown: CancellationToken,
    /// Stops the node alone, leaving the API up.
    node_shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

async fn start() -> Api {
    start_with(|_| {}).await
}

async fn start_with(configure: impl FnOnce(&mut ApiConfig)) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let org = OrgKey::generate(&mut rng);
    let node_key = NodeKey::generate(&mut rng);
    let certificate = NodeCertificate::issue(&org, node_key.public_bytes(), "api-test", 1);
    let shutdown = CancellationToken::new();
    let node_shutdown = shutdown.child_token();
    let node = cairn_node::start(
        NodeSettings {
            organisation: "CERT-Test".into(),
            node_secret: node_key.secret_bytes(),
            certificate,
            store_path: dir.path().join("store"),
            store: Default::default(),
            network: cairn_net_config(),
            sync: SyncSettings::default(),
            partners: vec![],
            communities: Default::default(),
            inbound: Default::default(),
            organisation_statements: vec![
                cairn_core::keylog::KeyStatement::implicit_genesis(&org).unwrap(),
            ],
        },
        node_shutdown.clone(),
    )
    .await
    .unwrap();
    let tokens_path = dir.path().join("tokens.json");
    let mut tokens = Tokens::load(&tokens_path).unwrap();
    let read = tokens.create("reader", Role::Read, 1).unwrap();
    let mut config = ApiConfig {
        listen: "127.0.0.1:0".into(),
        ..ApiConfig::default()
    };
    configure(&mut config);
    // The same seed gives the same key: the node signs as `org`.
    let signer = OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(1));
    let address = cairn_api::serve(
        &config,
        node.clone(),
        cairn_api::ApiParts {
            signer: Some(cairn_core::ReportSigningKey::Organisation(signer)).into(),
            communities: vec!["finance-isac".into()],
            ..cairn_api::ApiParts::new(tokens_path)
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    Api {
        address,
        read,
        node,
        org,
        shutdown,
        node_shutdown,
        _dir: dir,
    }
}

fn cairn_net_config() -> cairn_node::NetConfig {
    cairn_node::NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
        ..Default::default()
    }
}

/// One HTTP/1.1 GET; returns the status, the headers and the body (up to `limit` bytes, or
/// until the server closes).
async fn get(
    api: &Api,
    path: &str,
    token: Option<&str>,
    extra: &str,
    limit: usize,
) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(api.address).await.unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}{extra}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
        match read {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(n)) => {
                bytes.extend_from_slice(&buf[..n]);
                if bytes.len() >= limit {
                    break;
                }
            }
            Ok(Err(_)) => break,
        }
    }
    let text = String::from_utf8_lossy(&bytes).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

async fn publish(api: &Api, n: u64, tlp: Tlp) -> cairn_core::VerifiedReport {
    let mut rng = rand::rngs::StdRng::seed_from_u64(n);
    let mut d = sample::indicator_report(&mut rng, n);
    d.tlp = Some(tlp);
    d.scope = None;
    d.hop_limit = None;
    let report = d.sign(&api.org, &mut rng).unwrap();
    api.node.publish(vec![report.clone()]).await.unwrap();
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_roles_are_enforced_with_json_errors() {
    let api = start().await;
    let (status, head, body) = get(&api, "/api/v1/status", None, "", usize::MAX).await;
    assert_eq!(status, 401);
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{head}"
    );
    let error: serde_json::Value = serde_json::from_str(body.trim()).unwrap_or_default();
    assert_eq!(error["error"]["code"], "unauthorized", "{body}");
    let (status, _, _) = get(&api, "/api/v1/status", Some("cairn_0000"), "", usize::MAX).await;
    assert_eq!(status, 401);
    let (status, _, body) = get(&api, "/api/v1/status", Some(&api.read), "", usize::MAX).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("CERT-Test"), "{body}");
    let (status, _, body) = get(&api, "/api/v1/nothing", Some(&api.read), "", usize::MAX).await;
    assert_eq!(status, 404);
    assert!(body.contains("\"not_found\""), "{body}");
    let (status, _, body) = get(&api, "/api/v1/openapi.json", None, "", usize::MAX).await;
    assert_eq!(status, 200);
    assert!(body.contains("\"openapi\""), "{body}");
    api.shutdown.cancel();
    api.node.stopped().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_are_queried_and_fetched_and_bad_filters_say_why() {
    let api = start().await;
    let green = publish(&api, 1, Tlp::Green).await;
    let amber = publish(&api, 2, Tlp::Amber).await;
    let (status, _, body) = get(
        &api,
        "/api/v1/reports?tlp=green",
        Some(&api.read),
        "",
        usize::MAX,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    let ids: Vec<&str> = list["reports"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, vec![green.id().to_string()]);

    // Paging with a cursor: every report once, newest first, however the pages fall.
    let mut all = vec![green.id().to_string(), amber.id().to_string()];
    for n in 3..26 {
        all.push(publish(&api, n, Tlp::Clear).await.id().to_string());
    }
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/reports?limit=7&cursor={c}"),
            None => "/api/v1/reports?limit=7".to_string(),
        };
        let (status, _, body) = get(&api, &path, Some(&api.read), "", usize::MAX).await;
        assert_eq!(status, 200, "{body}");
        let page: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
        let reports = page["reports"].as_array().unwrap();
        assert!(reports.len() <= 7);
        paged.extend(reports.iter().map(|r| {
            (
                r["created"].as_str().unwrap().to_string(),
                r["id"].as_str().unwrap().to_string(),
            )
        }));
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 4, "25 reports in pages of 7");
    let times: Vec<&String> = paged.iter().map(|(t, _)| t).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let mut ids: Vec<String> = paged.into_iter().map(|(_, id)| id).collect();
    ids.sort();
    all.sort();
    assert_eq!(ids, all);

    for (query, expected) in [
        ("cursor=yesterday", "not a cursor this node gave"),
        ("tlp=purple", "unknown TLP label"),
        ("limit=0", "from 1 to 1000"),
        (
            "since=yesterday",
            "since: \\\"yesterday\\\" is not a time: use RFC 3339",
        ),
        ("colour=blue", "unknown field"),
    ] {
        let (status, _, body) = get(
            &api,
            &format!("/api/v1/reports?{query}"),
            Some(&api.read),
            "",
            usize::MAX,
        )
        .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body.contains("\"bad_request\"") && body.contains(expected),
            "{query}: {body}"
        );
    }
    // Ages and dates, as on the command line.
    for query in ["since=7d", "since=2020-01-01", "until=2099-12-31&since=12h"] {
        let (status, _, body) = get(
            &api,
            &format!("/api/v1/reports?{query}"),
            Some(&api.read),
            "",
            usize::MAX,
        )
        .await;
        assert_eq!(status, 200, "{query}: {body}");
    }
    let (_, _, body) = get(
        &api,
        "/api/v1/reports?since=7d&limit=1000",
        Some(&api.read),
        "",
        usize::MAX,
    )
    .await;
    assert_eq!(body.matches("\"author\"").count(), 25, "{body}");
    let path = format!("/api/v1/reports/{}", &amber.id().to_string()[..16]);
    let (status, _, body) = get(&api, &path, Some(&api.read), "", usize::MAX).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&amber.id().to_string()));
    assert!(body.contains("\"status\":\"current\""), "{body}");
    let (status, _, _) = get(
        &api,
        &format!("/api/v1/reports/{}", "ab".repeat(32)),
        Some(&api.read),
        "",
        usize::MAX,
    )
    .await;
    assert_eq!(status, 404);
    api.shutdown.cancel();
    api.node.stopped().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_sends_reports_and_resumes_from_a_cursor() {
    let api = start().await;
    let first = publish(&api, 1, Tlp::Green).await;
    let second = publish(&api, 2, Tlp::Green).await;
    let (status, head, body) = get(&api, "/api/v1/stream", Some(&api.read), "", 2_000).await;
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("text/event-stream"), "{head}");
    assert!(
        body.contains("id: 1") && body.contains(&first.id().to_string()),
        "{body}"
    );
    // Resuming after 1 sends the second only.
    let (_, _, body) = get(
        &api,
        "/api/v1/stream",
        Some(&api.read),
        "Last-Event-ID: 1\r\n",
        1_200,
    )
    .await;
    assert!(!body.contains(&first.id().to_string()), "{body}");
    assert!(body.contains(&second.id().to_string()), "{body}");
    api.shutdown.cancel();
    api.node.stopped().await;
}

/// One HTTP/1.1 POST with a JSON body.
async fn post(api: &Api, path: &str, token: &str, content_type: &str, body: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(api.address).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut text = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut text)).await;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishers_publish_and_retract_readers_cannot() {
    let api = start().await;
    let tokens_path = api._dir.path().join("tokens.json");
    let mut tokens = Tokens::load(&tokens_path).unwrap();
    let publisher = tokens.create("publisher", Role::Publish, 2).unwrap();
    let draft = r#"{"kind": "indicator", "tlp": "green", "title": "Phishing kit",
        "indicators": [{"type": "domain", "value": "Login-Bank.example"}], "tags": ["phishing"]}"#;
    let json = "application/json";

    let (status, body) = post(&api, "/api/v1/reports", &api.read, json, draft).await;
    assert_eq!(status, 403, "a read token cannot publish: {body}");
    assert!(body.contains("\"forbidden\""), "{body}");

    let (status, body) = post(&api, "/api/v1/reports", &publisher, json, draft).await;
    assert_eq!(status, 201, "{body}");
    let published: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(published["author"], api.org.public().to_string());
    assert_eq!(published["indicators"][0]["value"], "login-bank.example");
    // example.* is reserved for documentation: the answer says so, naming the list.
    assert_eq!(
        published["warning_list_flags"][0]["lists"][0], "reserved-domains",
        "{published}"
    );
    // A known-benign value is published all the same, and the answer names its list.
    let resolver = r#"{"kind": "indicator", "tlp": "green", "title": "Resolver",
        "indicators": [{"type": "ipv4", "value": "8.8.8.8"}]}"#;
    let (status, body) = post(&api, "/api/v1/reports", &publisher, json, resolver).await;
    assert_eq!(status, 201, "{body}");
    let flagged: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(
        flagged["warning_list_flags"][0]["indicator"], "ipv4:8.8.8.8",
        "{flagged}"
    );
    assert!(
        flagged["warning_list_flags"][0]["message"]
            .as_str()
            .unwrap()
            .contains("is on the warning list"),
        "{flagged}"
    );
    let id = published["id"].as_str().unwrap().to_string();

    for (body, content_type, status_wanted, code) in [
        ("{\"kind\": \"indicator\"", json, 400, "bad_request"),
        (draft, "text/plain", 415, "unsupported_media_type"),
        (
            "{\"kind\": \"indicator\", \"tlp\": \"green\", \"title\": \"x\", \"indicators\": [{\"type\": \"ipv4\", \"value\": \"999.1.1.1\"}]}",
            json,
            422,
            "invalid_report",
        ),
        (
            "{\"kind\": \"indicator\", \"colour\": \"blue\"}",
            json,
            422,
            "invalid_report",
        ),
        // A value the schema does not know is refused like a value a rule refuses, naming
        // the field, without the framework's words.
        (
            "{\"kind\": \"indicator\", \"tlp\": \"green\", \"title\": \"x\", \"indicators\": [{\"type\": \"ipv5\", \"value\": \"1.1.1.1\"}]}",
            json,
            422,
            "indicators[0].type",
        ),
    ] {
        let (status, text) = post(&api, "/api/v1/reports", &publisher, content_type, body).await;
        assert_eq!(status, status_wanted, "{body}: {text}");
        assert!(text.contains(code), "{body}: {text}");
        assert!(!text.contains("Failed to"), "{body}: {text}");
    }

    let path = format!("/api/v1/reports/{}/retract", &id[..12]);
    let (status, body) = post(
        &api,
        &path,
        &publisher,
        json,
        "{\"reason\": \"false positive\"}",
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (_, _, shown) = get(
        &api,
        &format!("/api/v1/reports/{id}"),
        Some(&api.read),
        "",
        usize::MAX,
    )
    .await;
    assert!(shown.contains("\"status\":\"retracted\""), "{shown}");
    let (status, _) = post(
        &api,
        "/api/v1/reports/ffffffffffff/retract",
        &publisher,
        json,
        "{\"reason\": \"x\"}",
    )
    .await;
    assert_eq!(status, 404);
    api.shutdown.cancel();
    api.node.stopped().await;
}

fn basic(token: &str) -> String {
    // base64 of "client:TOKEN", by hand: the tests carry no base64 crate.
    const TABLE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("client:{token}");
    let bytes = input.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Authorization: Basic {out}\r\n")
}

const ACCEPT: &str = "Accept: application/taxii+json;version=2.1\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taxii_serves_discovery_collections_objects_manifest_and_versions() {
    let api = start().await;
    let first = publish(&api, 1, Tlp::Green).await;
    let _second = publish(&api, 2, Tlp::Amber).await;
    let auth = basic(&api.read);
    let headers = format!("{auth}{ACCEPT}");

    let (status, head, body) = get(&api, "/taxii2/", None, &headers, usize::MAX).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        head.contains("application/taxii+json;version=2.1"),
        "{head}"
    );
    assert!(body.contains("\"api_roots\":[\"/taxii2/api/\"]"), "{body}");
    let (status, _, body) = get(&api, "/taxii2/api/collections/", None, &headers, usize::MAX).await;
    assert_eq!(status, 200);
    let collections: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    let collection = collections["collections"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let base = format!("/taxii2/api/collections/{collection}");

    // Paging through the objects, two at a time, until `more` is false.
    let mut next: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let path = match &next {
            Some(n) => format!("{base}/objects/?limit=2&next={n}"),
            None => format!("{base}/objects/?limit=2"),
        };
        let (status, head, body) = get(&api, &path, None, &headers, usize::MAX).await;
        assert_eq!(status, 200, "{body}");
        assert!(
            head.to_ascii_lowercase()
                .contains("x-taxii-date-added-first"),
            "{head}"
        );
        let page: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
        for o in page["objects"].as_array().unwrap() {
            seen.push(o["id"].as_str().unwrap().to_string());
        }
        if page["more"] == true {
            next = Some(page["next"].as_str().unwrap().to_string());
        } else {
            break;
        }
    }
    assert!(
        seen.iter().filter(|id| id.starts_with("report--")).count() == 2,
        "{seen:?}"
    );
    assert!(seen.iter().any(|id| id.starts_with("indicator--")));

    // Filters.
    let (_, _, body) = get(
        &api,
        &format!("{base}/objects/?match[type]=report"),
        None,
        &headers,
        usize::MAX,
    )
    .await;
    let reports: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(reports["objects"].as_array().unwrap().len(), 2, "{body}");
    let report_id = reports["objects"][0]["id"].as_str().unwrap().to_string();
    let (_, _, body) = get(
        &api,
        &format!("{base}/objects/?match[id]={report_id}"),
        None,
        &headers,
        usize::MAX,
    )
    .await;
    assert!(body.contains(&report_id));
    let (status, _, body) = get(
        &api,
        &format!("{base}/objects/{report_id}/"),
        None,
        &headers,
        usize::MAX,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = get(
        &api,
        &format!("{base}/objects/{report_id}/versions/"),
        None,
        &headers,
        usize::MAX,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"versions\""), "{body}");
    let (status, _, body) = get(
        &api,
        &format!("{base}/manifest/"),
        None,
        &headers,
        usize::MAX,
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains("application/stix+json;version=2.1"), "{body}");
    let (_, _, body) = get(
        &api,
        &format!("{base}/objects/?added_after=2999-01-01T00:00:00Z"),
        None,
        &headers,
        usize::MAX,
    )
    .await;
    // No empty lists: a page without objects leaves the key out.
    assert!(!body.contains("\"objects\""), "{body}");
    assert!(body.contains("\"more\":false"), "{body}");
    let _ = first;

    // Errors are TAXII error objects with the right codes.
    let (status, head, body) = get(&api, "/taxii2/", None, ACCEPT, usize::MAX).await;
    assert_eq!(status, 401);
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: basic"),
        "{head}"
    );
    assert!(body.contains("\"http_status\":\"401\""), "{body}");
    let (status, _, _) = get(
        &api,
        "/taxii2/",
        None,
        &format!("{auth}Accept: text/html\r\n"),
        usize::MAX,
    )
    .await;
    assert_eq!(status, 406);
    let (status, _, body) = get(
        &api,
        "/taxii2/api/collections/nope/objects/",
        None,
        &headers,
        usize::MAX,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, _, _) = get(
        &api,
        &format!("{base}/objects/indicator--00000000-0000-4000-8000-000000000000/"),
        None,
        &headers,
        usize::MAX,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = get(
        &api,
        &format!("{base}/objects/?limit=zero"),
        None,
        &headers,
        usize::MAX,
    )
    .await;
    assert_eq!(status, 400);
    api.shutdown.cancel();
    api.node.stopped().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_taxii_off_says_so_and_serves_its_api_and_console() {
    let api = start_with(|config| config.taxii = false).await;
    let first = publish(&api, 1, Tlp::Green).await;
    let headers = format!("{}{ACCEPT}", basic(&api.read));
    for path in [
        "/taxii2/",
        "/taxii2/api/collections/",
        "/misp/feed/manifest.json",
    ] {
        let (status, head, body) = get(&api, path, None, &headers, usize::MAX).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(head.contains("application/taxii+json"), "{path}: {head}");
        assert!(body.contains("[api] taxii = false"), "{path}: {body}");
    }
    // Adding objects is refused the same way, and stores nothing.
    let (status, body) = post(
        &api,
        "/taxii2/api/collections/x/objects/",
        &api.read,
        "application/taxii+json;version=2.1",
        "{\"objects\":[]}",
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(api.node.store().last_seq().unwrap(), 1);
    // The REST API and the console are served.
    let (status, _, body) = get(
        &api,
        &format!("/api/v1/reports/{}", first.id()),
        Some(&api.read),
        "",
        usize::MAX,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, head, _) = get(&api, "/ui/", None, "", usize::MAX).await;
    assert_eq!(status, 303, "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_community_has_a_taxii_collection_of_its_reports() {
    let api = start().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let mut d = sample::indicator_report(&mut rng, 9);
    d.community = Some("finance-isac".into());
    let addressed = d.sign(&api.org, &mut rng).unwrap();
    api.node.publish(vec![addressed.clone()]).await.unwrap();
    let _open = publish(&api, 10, Tlp::Green).await;
    let headers = format!("{}{ACCEPT}", basic(&api.read));
    let (_, _, body) = get(&api, "/taxii2/api/collections/", None, &headers, usize::MAX).await;
    let list: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    let collections = list["collections"].as_array().unwrap();
    assert_eq!(collections.len(), 2, "{body}");
    let community = collections
        .iter()
        .find(|c| c["title"] == "Community finance-isac")
        .unwrap();
    assert_eq!(community["can_write"], false);
    let path = format!(
        "/taxii2/api/collections/{}/objects/?match[type]=report",
        community["id"].as_str().unwrap()
    );
    let (status, _, body) = get(&api, &path, None, &headers, usize::MAX).await;
    assert_eq!(status, 200, "{body}");
    let page: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    let reports = page["objects"].as_array().unwrap();
    assert_eq!(
        reports.len(),
        1,
        "only the report addressed to the community: {body}"
    );
    assert!(body.contains(&addressed.id().to_string()));
    api.shutdown.cancel();
    api.node.stopped().await;
}

fn test_tls_file(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/tls")
        .join(name)
}

/// A TLS client that trusts `roots` (PEM), for 127.0.0.1.
async fn tls_connect(
    api: &Api,
    roots: &[std::path::PathBuf],
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    use rustls_pki_types::pem::PemObject;
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        for cert in rustls_pki_types::CertificateDer::pem_file_iter(root).unwrap() {
            store.add(cert.unwrap()).unwrap();
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(store)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(api.address).await?;
    let name = rustls_pki_types::ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    connector.connect(name, tcp).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_configured_certificate_and_nothing_in_clear() {
    let api = start_with(|c| {
        c.tls_certificate = Some(test_tls_file("localhost.pem"));
        c.tls_key = Some(test_tls_file("localhost.key"));
    })
    .await;
    publish(&api, 1, Tlp::Green).await;

    // A client that trusts the certificate gets TAXII over HTTPS.
    let mut tls = tls_connect(&api, &[test_tls_file("localhost.pem")])
        .await
        .unwrap();
    let request = format!(
        "GET /taxii2/api/collections/{}/objects/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        cairn_api::taxii::ALL_COLLECTION,
        api.read
    );
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("application/taxii+json;version=2.1"));
    assert!(answer.contains("\"type\":\"indicator\""), "{answer}");

    // A client that does not trust it cannot connect.
    assert!(tls_connect(&api, &[]).await.is_err());

    // Plain HTTP on the same port gets no answer.
    let (status, _, _) = get(&api, "/api/v1/status", Some(&api.read), "", usize::MAX).await;
    assert_eq!(status, 0, "plain HTTP must not be served next to HTTPS");

    // The node still serves TLS clients after that.
    assert!(
        tls_connect(&api, &[test_tls_file("localhost.pem")])
            .await
            .is_ok()
    );
    api.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_or_unusable_https_settings_are_refused_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let attempt = |configure: Box<dyn FnOnce(&mut ApiConfig) + Send>| async move {
        let api = start().await;
        let mut config = ApiConfig {
            listen: "127.0.0.1:0".into(),
            ..ApiConfig::default()
        };
        configure(&mut config);
        let tokens = api._dir.path().join("tokens.json");
        let result = cairn_api::serve(
            &config,
            api.node.clone(),
            cairn_api::ApiParts::new(tokens),
            api.shutdown.clone(),
        )
        .await;
        api.shutdown.cancel();
        result.map(|_| ()).map_err(|e| e.to_string())
    };
    // Plain HTTP where other machines could reach it (refused before anything is bound).
    let error = attempt(Box::new(|c| c.listen = "0.0.0.0:0".into()))
        .await
        .unwrap_err();
    assert!(error.contains("not a loopback address"), "{error}");
    assert!(error.contains("tls_certificate"), "{error}");
    // Half the settings.
    let error = attempt(Box::new(|c| {
        c.tls_certificate = Some(test_tls_file("localhost.pem"))
    }))
    .await
    .unwrap_err();
    assert!(error.contains("go together"), "{error}");
    // A file that is not a certificate, a missing key, a key that is not one.
    let g = garbage.clone();
    let error = attempt(Box::new(move |c| {
        c.tls_certificate = Some(g);
        c.tls_key = Some(test_tls_file("localhost.key"));
    }))
    .await
    .unwrap_err();
    assert!(error.contains("holds no PEM certificate"), "{error}");
    let error = attempt(Box::new(|c| {
        c.tls_certificate = Some(test_tls_file("localhost.pem"));
        c.tls_key = Some(test_tls_file("missing.key"));
    }))
    .await
    .unwrap_err();
    assert!(
        error.contains("cannot read") && error.contains("missing.key"),
        "{error}"
    );
    let error = attempt(Box::new(move |c| {
        c.tls_certificate = Some(test_tls_file("localhost.pem"));
        c.tls_key = Some(garbage);
    }))
    .await
    .unwrap_err();
    assert!(error.contains("no PEM private key"), "{error}");
}

/// A new token with the publish role.
fn publish_token(api: &Api, name: &str) -> String {
    Tokens::load(&api._dir.path().join("tokens.json"))
        .unwrap()
        .create(name, Role::Publish, 2)
        .unwrap()
}

/// Where TAXII clients add objects to the collection of everything.
fn objects_path() -> String {
    format!(
        "/taxii2/api/collections/{}/objects/",
        cairn_api::taxii::ALL_COLLECTION
    )
}

/// A TAXII resource read with the read token: it must answer 200 with JSON.
async fn taxii_get(api: &Api, path: &str) -> serde_json::Value {
    let (status, _, body) = get(api, path, Some(&api.read), ACCEPT, usize::MAX).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// Every stored report, every version, as the API lists them.
async fn every_report(api: &Api) -> Vec<serde_json::Value> {
    let (status, _, body) = get(
        api,
        "/api/v1/reports?history=true",
        Some(&api.read),
        "",
        usize::MAX,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    list["reports"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_added_over_taxii_are_imported_reports_stored_once() {
    let api = start().await;
    let publisher = publish_token(&api, "opencti");
    let envelope = r#"{"objects": [{"type": "indicator", "spec_version": "2.1",
        "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "created": "2026-11-20T10:00:00.000Z", "modified": "2026-11-20T10:00:00.000Z",
        "name": "C2 server", "pattern": "[ipv4-addr:value = '198.51.100.23']",
        "pattern_type": "stix", "valid_from": "2026-11-20T10:00:00Z",
        "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}]}"#;
    let path = objects_path();
    let taxii = "application/taxii+json;version=2.1";
    let (status, body) = post(&api, &path, &publisher, taxii, envelope).await;
    assert_eq!(status, 202, "{body}");
    assert!(body.contains("carried in Cairn report"), "{body}");
    assert!(
        body.contains("\"version\":\"2026-11-20T10:00:00.000Z\""),
        "{body}"
    );
    // The same envelope again, at once (before the query index has it): stored once.
    let (status, body) = post(&api, &path, &publisher, taxii, envelope).await;
    assert_eq!(status, 202, "{body}");
    assert!(body.contains("already held"), "{body}");
    // The object is served under its own id, exactly as posted.
    let served = taxii_get(
        &api,
        &format!("{path}indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f/"),
    )
    .await;
    let posted: serde_json::Value = serde_json::from_str(envelope).unwrap();
    assert_eq!(served["objects"], posted["objects"], "{served}");

    let reports = every_report(&api).await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0]["source"], "import", "{reports:?}");
    assert_eq!(reports[0]["tlp"], "green", "{reports:?}");
    api.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_added_together_travel_one_report_per_marking_and_are_each_accounted_for() {
    let api = start().await;
    let publisher = publish_token(&api, "feed");
    let indicator = |n: u32, marking: &str| {
        format!(
            r#"{{"type": "indicator", "spec_version": "2.1",
            "id": "indicator--0000000{n}-17d4-4cbf-938f-98ee46b3cd3f",
            "created": "2026-11-20T10:00:00.000Z", "modified": "2026-11-20T10:00:00.000Z",
            "name": "C2 {n}", "pattern": "[ipv4-addr:value = '198.51.100.{n}']",
            "pattern_type": "stix", "valid_from": "2026-11-20T10:00:00Z",
            "object_marking_refs": ["{marking}"]}}"#
        )
    };
    let green = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
    let amber = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
    let envelope = format!(
        r#"{{"objects": [{}, {}, {}, {}, {{"type": "indicator", "id": "oops"}}]}}"#,
        indicator(1, green),
        indicator(2, amber),
        indicator(3, green),
        indicator(4, green)
    );
    let path = objects_path();
    let taxii = "application/taxii+json;version=2.1";
    let (status, body) = post(&api, &path, &publisher, taxii, &envelope).await;
    assert_eq!(status, 202, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    // Counts add up; every object is named once; no empty list.
    assert_eq!(answer["total_count"], 5, "{body}");
    assert_eq!(answer["success_count"], 4, "{body}");
    assert_eq!(answer["failure_count"], 1, "{body}");
    assert_eq!(answer["pending_count"], 0, "{body}");
    assert!(answer.get("pendings").is_none(), "{body}");
    assert!(
        answer["failures"][0]["message"]
            .as_str()
            .unwrap()
            .contains("is not its type"),
        "{body}"
    );
    let successes = answer["successes"].as_array().unwrap();
    let report_of = |n: u32| {
        successes
            .iter()
            .find(|s| {
                s["id"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("indicator--0000000{n}"))
            })
            .and_then(|s| s["message"].as_str())
            .unwrap()
            .to_string()
    };
    assert!(
        report_of(1).starts_with("carried in Cairn report"),
        "{body}"
    );
    // 198.51.100.0/24 is reserved for documentation: the warning lists flag every value, once
    // per report made, on the first object it carries.
    let (carried_1, flags_1) = report_of(1)
        .split_once("; ")
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .unwrap();
    assert_eq!(
        flags_1,
        "known benign: ipv4:198.51.100.1 is on the warning list reserved-ipv4; \
         ipv4:198.51.100.3 is on the warning list reserved-ipv4; \
         ipv4:198.51.100.4 is on the warning list reserved-ipv4",
        "{body}"
    );
    assert_eq!(carried_1, report_of(3));
    assert_eq!(carried_1, report_of(4));
    assert!(
        report_of(2)
            .contains("known benign: ipv4:198.51.100.2 is on the warning list reserved-ipv4"),
        "{body}"
    );
    assert_ne!(
        carried_1,
        report_of(2).split_once("; ").unwrap().0.to_string()
    );

    let reports = every_report(&api).await;
    assert_eq!(reports.len(), 2, "{reports:?}");
    let green_report = reports.iter().find(|r| r["tlp"] == "green").unwrap();
    assert_eq!(green_report["title"], "3 STIX objects (indicator 3)");

    // The same envelope again: nothing new, and every object says so.
    let (status, body) = post(&api, &path, &publisher, taxii, &envelope).await;
    assert_eq!(status, 202, "{body}");
    let again: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(again["success_count"], 4, "{body}");
    assert!(
        again["successes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["message"].as_str().unwrap().contains("already held")),
        "{body}"
    );
    assert_eq!(every_report(&api).await.len(), 2);

    // A new version of one of them is added as such, and both versions are listed.
    let newer = indicator(1, green).replace(
        "\"modified\": \"2026-11-20T10:00:00.000Z\"",
        "\"modified\": \"2026-11-21T10:00:00.123456Z\"",
    );
    let (status, body) = post(
        &api,
        &path,
        &publisher,
        taxii,
        &format!(r#"{{"objects": [{newer}]}}"#),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert!(body.contains("a new version"), "{body}");
    let id = "indicator--00000001-17d4-4cbf-938f-98ee46b3cd3f";
    let versions = taxii_get(&api, &format!("{path}{id}/versions/")).await;
    assert_eq!(
        versions["versions"],
        serde_json::json!(["2026-11-20T10:00:00.000Z", "2026-11-21T10:00:00.123456Z"]),
        "{versions}"
    );
    // The last version is the one served by default.
    let (_, _, body) = get(
        &api,
        &format!("{path}{id}/"),
        Some(&api.read),
        ACCEPT,
        usize::MAX,
    )
    .await;
    assert!(body.contains("10:00:00.123456Z"), "{body}");
    api.shutdown.cancel();
}

/// Every file of the real corpus, added over TAXII, pages back with every object identical
/// (as parsed JSON) under its own id and version; date_added never repeats, so paging by
/// `added_after` neither misses nor repeats an object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_corpus_round_trips_through_taxii() {
    let api = start().await;
    let publisher = publish_token(&api, "opencti");
    let taxii = "application/taxii+json;version=2.1";
    let path = objects_path();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/interop");
    let mut files = Vec::new();
    let mut folders = vec![root.join("real/stix"), root.join("stix")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let p = entry.path();
            if p.is_dir() {
                folders.push(p);
            } else if p.extension().is_some_and(|e| e == "json") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut sent: std::collections::HashMap<(String, String), serde_json::Value> =
        Default::default();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let objects = match value {
            serde_json::Value::Array(items) => items,
            serde_json::Value::Object(ref m) if m.contains_key("objects") => {
                value["objects"].as_array().unwrap().clone()
            }
            other => vec![other],
        };
        let envelope = serde_json::json!({ "objects": objects }).to_string();
        let (status, body) = post(&api, &path, &publisher, taxii, &envelope).await;
        assert_eq!(status, 202, "{}: {body}", file.display());
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        let count = |k: &str| answer[k].as_u64().unwrap();
        assert_eq!(
            count("total_count"),
            count("success_count") + count("failure_count") + count("pending_count"),
            "{body}"
        );
        for (list, n) in [
            ("successes", "success_count"),
            ("failures", "failure_count"),
        ] {
            assert_eq!(
                answer[list].as_array().map_or(0, Vec::len) as u64,
                count(n),
                "{body}"
            );
        }
        let refused: Vec<&str> = answer["failures"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["id"].as_str())
            .collect();
        for object in objects {
            let id = object["id"].as_str().unwrap_or_default().to_string();
            if refused.contains(&id.as_str()) {
                continue;
            }
            let version = object
                .get("modified")
                .or(object.get("created"))
                .and_then(|v| v.as_str())
                .and_then(cairn_core::stix::StixTime::parse)
                .map(|t| t.nanos().to_string())
                .unwrap_or_default();
            sent.entry((id, version)).or_insert(object);
        }
    }
    // Page through everything, 100 at a time, by added_after.
    let mut got: std::collections::HashMap<(String, String), serde_json::Value> =
        Default::default();
    let mut after: Option<String> = None;
    loop {
        let query = match &after {
            Some(t) => format!("?match[version]=all&limit=100&added_after={t}"),
            None => "?match[version]=all&limit=100".to_string(),
        };
        let (status, head, body) = get(
            &api,
            &format!("{path}{query}"),
            Some(&api.read),
            ACCEPT,
            usize::MAX,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        let Some(objects) = page["objects"].as_array() else {
            break;
        };
        for object in objects {
            let version = object
                .get("modified")
                .or(object.get("created"))
                .and_then(|v| v.as_str())
                .and_then(cairn_core::stix::StixTime::parse)
                .map(|t| t.nanos().to_string())
                .unwrap_or_default();
            let key = (object["id"].as_str().unwrap().to_string(), version);
            assert!(
                got.insert(key.clone(), object.clone()).is_none(),
                "{key:?} twice"
            );
        }
        let last = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("x-taxii-date-added-last: ")
                    .map(str::to_string)
            })
            .expect("a date header");
        assert!(
            last.trim().len() == "2026-11-20T10:00:00.000000Z".len(),
            "{last}"
        );
        after = Some(last.trim().to_string());
    }
    assert_eq!(got.len(), sent.len());
    for (key, object) in &sent {
        assert_eq!(got.get(key), Some(object), "{key:?}");
    }
    api.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_answer_without_a_token_and_readiness_follows_the_node() {
    let api = start().await;
    let (status, _, body) = get(&api, "/healthz", None, "", usize::MAX).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"ok\""), "{body}");
    let (status, _, body) = get(&api, "/readyz", None, "", usize::MAX).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"ready\""), "{body}");
    // The node stops; the API still answers, and says it is not ready, and why.
    api.node_shutdown.cancel();
    api.node.stopped().await;
    let (status, _, body) = get(&api, "/readyz", None, "", usize::MAX).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("not ready") && body.contains("reason"),
        "{body}"
    );
    let (status, _, _) = get(&api, "/healthz", None, "", usize::MAX).await;
    assert_eq!(status, 200);
    api.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_scraped_in_the_prometheus_format_with_a_read_token() {
    let api = start().await;
    for n in 0..3 {
        publish(&api, 300 + n, Tlp::Green).await;
    }
    let (status, _, _) = get(&api, "/metrics", None, "", usize::MAX).await;
    assert_eq!(status, 401, "metrics name partners: a token is needed");
    let (status, headers, body) = get(&api, "/metrics", Some(&api.read), "", usize::MAX).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        headers.to_lowercase().contains("openmetrics-text"),
        "{headers}"
    );
    // Parsed as a scraper does: every sample line is a name, labels and a number.
    let mut samples = std::collections::BTreeMap::new();
    for line in body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
        samples.insert(name.to_string(), value);
    }
    assert_eq!(samples.get("cairn_reports"), Some(&3.0), "{body}");
    assert_eq!(
        samples.get("cairn_reports_received_total"),
        Some(&0.0),
        "{body}"
    );
    assert!(samples.contains_key("cairn_peers_trusted"), "{body}");
    assert!(samples.contains_key("cairn_uptime_seconds"), "{body}");
    assert!(
        body.contains("# TYPE cairn_reports_served counter"),
        "{body}"
    );
    assert!(body.trim_end().ends_with("# EOF"), "{body}");
    // The store's size, and the latency of requests, by protocol and method.
    assert!(
        samples.get("cairn_store_bytes").is_some_and(|b| *b > 0.0),
        "{body}"
    );
    for _ in 0..2 {
        let (status, _, _) = get(&api, "/api/v1/status", Some(&api.read), "", usize::MAX).await;
        assert_eq!(status, 200);
    }
    let (status, _, _) = get(&api, "/taxii2/", Some(&api.read), "", usize::MAX).await;
    assert_eq!(status, 200);
    let (_, _, body) = get(&api, "/metrics", Some(&api.read), "", usize::MAX).await;
    let count = |protocol: &str| {
        body.lines()
            .find(|l| {
                l.starts_with("cairn_request_duration_seconds_count{")
                    && l.contains(&format!("protocol=\"{protocol}\""))
                    && l.contains("request=\"get\"")
            })
            .and_then(|l| l.rsplit_once(' '))
            .map(|(_, v)| v.to_string())
    };
    assert_eq!(count("api").as_deref(), Some("2"), "{body}");
    assert_eq!(count("taxii").as_deref(), Some("1"), "{body}");
    assert!(
        body.contains("cairn_reports_refused_by_reason_total{reason=\"does_not_verify\"} 0"),
        "every reason is there from the start: {body}"
    );
    api.shutdown.cancel();
}

/// The public advisories feed, without a token: only current TLP:CLEAR advisories their authors
/// left unrestricted, and never a disclosure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_feed_shows_unrestricted_clear_advisories_only() {
    let api = start().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(77);
    let mut draft = |title: &str, kind: cairn_core::ReportKind, tlp: Tlp, scope| {
        let mut d = sample::indicator_report(&mut rng, 1);
        d.kind = Some(kind);
        d.title = title.into();
        d.tlp = Some(tlp);
        d.scope = scope;
        d.hop_limit = None;
        d.victim = Some("SECRET-VICTIM-NAME".into());
        d.internal_notes = Some("SECRET-NOTES".into());
        d
    };
    use cairn_core::{ReportKind, Scope};
    let drafts = [
        draft("Public advisory", ReportKind::Advisory, Tlp::Clear, None),
        draft(
            "Community advisory",
            ReportKind::Advisory,
            Tlp::Clear,
            Some(Scope::Community),
        ),
        draft("Green advisory", ReportKind::Advisory, Tlp::Green, None),
        draft("Clear indicators", ReportKind::Indicator, Tlp::Clear, None),
        draft("Withdrawn advisory", ReportKind::Advisory, Tlp::Clear, None),
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(78);
    let signed: Vec<_> = drafts
        .iter()
        .map(|d| d.sign(&api.org, &mut rng).unwrap())
        .collect();
    api.node.publish(signed.clone()).await.unwrap();
    let retraction =
        cairn_core::retract(&signed[4], "published by mistake", &api.org, &mut rng).unwrap();
    api.node.publish(vec![retraction]).await.unwrap();
    api.node.store().index_pending(usize::MAX).unwrap();

    let (status, headers, body) = get(&api, "/public/advisories.atom", None, "", usize::MAX).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        headers.to_lowercase().contains("application/atom+xml"),
        "{headers}"
    );
    assert!(
        body.starts_with("<?xml") && body.contains("<feed"),
        "{body}"
    );
    assert!(body.contains("Public advisory"), "{body}");
    for hidden in [
        "Community advisory",
        "Green advisory",
        "Clear indicators",
        "Withdrawn advisory",
        "SECRET-VICTIM-NAME",
        "SECRET-NOTES",
    ] {
        assert!(!body.contains(hidden), "{hidden} is public:\n{body}");
    }
    assert_eq!(body.matches("<entry>").count(), 1, "{body}");
    assert!(body.contains("tlp:clear"), "{body}");
    api.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observance_counts_current_incidents_by_principle_region_sector_and_quarter() {
    use cairn_core::ReportKind;
    let api = start().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(91);
    // 2024-05-01 and 2024-11-01 (Q2 and Q4).
    let (q2, q4) = (1_714_521_600_000i64, 1_730_419_200_000i64);
    let incident = |principles: &[u32], regions: &[&str], sectors: &[&str], ms: i64| {
        let mut d = cairn_core::ReportDraft {
            kind: Some(ReportKind::Incident),
            title: "an incident".into(),
            tlp: Some(Tlp::Clear),
            paris_call_principles: principles.to_vec(),
            regions: regions.iter().map(|s| s.to_string()).collect(),
            sectors: sectors.iter().map(|s| s.to_string()).collect(),
            ..cairn_core::ReportDraft::default()
        };
        d.created =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok();
        d
    };
    let mut signed = Vec::new();
    for _ in 0..6 {
        signed.push(
            incident(&[2], &["europe"], &["health"], q2)
                .sign(&api.org, &mut rng)
                .unwrap(),
        );
    }
    for _ in 0..2 {
        let mut coded = incident(&[2, 5], &["africa"], &[], q4);
        coded.coding = Some(cairn_core::coding::IncidentCoding {
            gge_norms: vec![cairn_core::coding::GgeNorm::F],
            countries: vec!["SN".into()],
            ..Default::default()
        });
        signed.push(coded.sign(&api.org, &mut rng).unwrap());
    }
    // Not counted: no principle, not an incident.
    signed.push(
        incident(&[], &["europe"], &["health"], q2)
            .sign(&api.org, &mut rng)
            .unwrap(),
    );
    let mut advisory = incident(&[2], &["europe"], &["health"], q2);
    advisory.kind = Some(ReportKind::Advisory);
    signed.push(advisory.sign(&api.org, &mut rng).unwrap());
    api.node.publish(signed.clone()).await.unwrap();
    // A new version counts once, in its own cell; a retracted report not at all.
    let mut newer = cairn_core::ReportDraft::new_version_of(&signed[0]);
    newer.sectors = vec!["energy".into()];
    newer.created =
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(q2) * 1_000_000).ok();
    let newer = newer.sign(&api.org, &mut rng).unwrap();
    let retraction = cairn_core::retract(&signed[1], "duplicate", &api.org, &mut rng).unwrap();
    api.node.publish(vec![newer, retraction]).await.unwrap();
    api.node.store().index_pending(usize::MAX).unwrap();

    let trends = |query: &'static str| {
        let api = &api;
        async move {
            let (status, _, body) = get(
                api,
                &format!("/api/v1/observance{query}"),
                Some(&api.read),
                "",
                usize::MAX,
            )
            .await;
            (status, body)
        }
    };
    let (status, body) = trends("").await;
    assert_eq!(status, 200, "{body}");
    let view: cairn_api::observance::ObservanceView = serde_json::from_str(&body).unwrap();
    let cells: Vec<(String, String, String, String, u64)> = view
        .cells
        .iter()
        .map(|c| {
            (
                c.quarter.clone(),
                c.measure(),
                c.region.clone(),
                c.sector.clone(),
                c.count,
            )
        })
        .collect();
    let cell = |q: &str, m: &str, r: &str, s: &str, n: u64| {
        (
            q.to_string(),
            m.to_string(),
            r.to_string(),
            s.to_string(),
            n,
        )
    };
    assert_eq!(
        cells,
        vec![
            cell("2024-Q2", "principle 2", "europe", "energy", 1),
            cell("2024-Q2", "principle 2", "europe", "health", 4),
            cell("2024-Q4", "principle 2", "africa", "unspecified", 2),
            cell("2024-Q4", "principle 5", "africa", "unspecified", 2),
            cell("2024-Q4", "norm f", "africa", "unspecified", 2),
        ]
    );
    assert_eq!(view.reports, 7);
    assert!(view.cells[0].name.len() > 3);
    assert_eq!(view.cells[4].name, cairn_core::coding::GgeNorm::F.title());

    // Small cells left out, and filters.
    let (_, body) = trends("?min_count=3&mine=true").await;
    let view: cairn_api::observance::ObservanceView = serde_json::from_str(&body).unwrap();
    assert_eq!(view.cells.len(), 1);
    assert_eq!(
        (view.cells[0].count, view.suppressed, view.min_count),
        (4, 4, 3)
    );
    for (query, cells) in [
        ("?region=africa&principle=5", 1),
        ("?norm=f", 1),
        ("?measures=norms", 1),
        ("?measures=principles", 4),
        ("?norm=g", 0),
    ] {
        let (_, body) = trends(query).await;
        let view: cairn_api::observance::ObservanceView = serde_json::from_str(&body).unwrap();
        assert_eq!(view.cells.len(), cells, "{query}");
    }

    // Bad parameters say why; a token is needed.
    for bad in [
        "?min_count=many",
        "?principle=300",
        "?colour=red",
        "?norm=z",
        "?measures=both",
    ] {
        let (status, body) = trends(bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _, _) = get(&api, "/api/v1/observance", None, "", usize::MAX).await;
    assert_eq!(status, 401);

    // This organisation's figures, published as a TLP:CLEAR report, and merged back.
    let publisher = publish_token(&api, "observance");
    let json = "application/json";
    let (status, body) = post(&api, "/api/v1/observance/publish", &api.read, json, "{}").await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = post(
        &api,
        "/api/v1/observance/publish",
        &publisher,
        json,
        r#"{"min_count": 3}"#,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let published: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(published["kind"], "observance", "{body}");
    assert_eq!(published["tlp"], "clear", "{body}");
    let (_, body) = trends("?federation=true").await;
    let view: cairn_api::observance::ObservanceView = serde_json::from_str(&body).unwrap();
    assert_eq!(view.organisations, Some(1));
    assert_eq!(view.cells.len(), 1, "{body}");
    assert_eq!(view.cells[0].count, 4);
    for bad in [
        r#"{"min_count": 0}"#,
        r#"{"epsilon": -2}"#,
        r#"{"colour": 1}"#,
    ] {
        let (status, body) = post(&api, "/api/v1/observance/publish", &publisher, json, bad).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
    let (status, body) = trends("?federation=true&mine=true").await;
    assert_eq!(status, 400, "{body}");
}

/// The directory over HTTP: entries a search selects (still valid unless asked), needs matched
/// with other organisations' offers and donor programmes, ranked with reasons; unknown terms
/// and needs that are not needs are refused, saying why.
#[tokio::test]
async fn the_directory_searches_entries_and_matches_needs() {
    use cairn_core::directory::{DirectoryEntry, EntryType, Topic};
    let api = start().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(92);
    let other = OrgKey::generate(&mut rng);
    let entry = |entry_type: EntryType, title: &str, topics: &[Topic], languages: &[&str]| {
        cairn_core::ReportDraft {
            kind: Some(cairn_core::ReportKind::DirectoryEntry),
            title: title.into(),
            tlp: Some(Tlp::Clear),
            regions: vec!["western-africa".into()],
            directory_entry: Some(DirectoryEntry {
                entry_type,
                topics: topics.to_vec(),
                countries: vec!["SN".into()],
                languages: languages.iter().map(|l| l.to_string()).collect(),
                contact: "contact@example.org".into(),
                url: None,
                valid_until: None,
            }),
            ..cairn_core::ReportDraft::default()
        }
    };
    let need = entry(
        EntryType::CapacityNeed,
        "CSIRT training",
        &[Topic::IncidentResponse, Topic::Workforce],
        &["fr"],
    )
    .sign(&api.org, &mut rng)
    .unwrap();
    api.node.publish(vec![need.clone()]).await.unwrap();
    let offer = entry(
        EntryType::CapacityOffer,
        "Incident course",
        &[Topic::IncidentResponse],
        &["fr"],
    )
    .sign(&other, &mut rng)
    .unwrap();
    let donor = entry(
        EntryType::DonorProgramme,
        "Awareness fund",
        &[Topic::Awareness],
        &["en"],
    )
    .sign(&other, &mut rng)
    .unwrap();
    let mut expired = entry(
        EntryType::CapacityOffer,
        "Old course",
        &[Topic::IncidentResponse],
        &[],
    );
    expired.created = time::OffsetDateTime::from_unix_timestamp(1_600_000_000).ok();
    expired.directory_entry.as_mut().unwrap().valid_until = Some(1_700_000_000_000);
    let expired = expired.sign(&other, &mut rng).unwrap();
    let outcomes = api
        .node
        .import_envelopes(
            [&offer, &donor, &expired]
                .iter()
                .map(|r| r.envelope_bytes().to_vec())
                .collect(),
        )
        .await
        .unwrap();
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, cairn_store::IngestOutcome::Stored { .. })),
        "{outcomes:?}"
    );
    api.node.store().index_pending(usize::MAX).unwrap();

    let ask = |path: String| {
        let api = &api;
        async move {
            let (status, _, body) = get(api, &path, Some(&api.read), "", usize::MAX).await;
            (status, body)
        }
    };
    let ids = |body: &str, list: &str| -> Vec<String> {
        let view: serde_json::Value = serde_json::from_str(body).unwrap();
        view[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect()
    };
    for (query, expected) in [
        ("", 3),
        ("?include_expired=true", 4),
        ("?type=capacity-offer", 1),
        ("?theme=culture-and-skills", 2),
        ("?text=COURSE", 1),
        ("?language=fr&country=sn", 2),
        ("?region=northern-europe", 0),
    ] {
        let (status, body) = ask(format!("/api/v1/directory{query}")).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(ids(&body, "entries").len(), expected, "{query}: {body}");
    }
    let (status, body) = ask("/api/v1/directory?type=capacity-offer".into()).await;
    assert_eq!(status, 200);
    let view: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        view["entries"][0]["directory_entry"]["topics"],
        serde_json::json!(["incident-response"])
    );
    let (status, body) = ask("/api/v1/directory?topic=cooking".into()).await;
    assert_eq!(status, 400);
    assert!(body.contains("incident-response"), "{body}");

    let (status, body) = ask("/api/v1/directory/matches".into()).await;
    assert_eq!(status, 200, "{body}");
    let view: serde_json::Value = serde_json::from_str(&body).unwrap();
    let needs = view["needs"].as_array().unwrap();
    assert_eq!(needs.len(), 1);
    assert_eq!(needs[0]["need"]["id"], need.id().to_string());
    let matches = needs[0]["matches"].as_array().unwrap();
    // The offer shares a topic; the fund shares a theme only; the expired offer is gone.
    assert_eq!(matches.len(), 2, "{body}");
    assert_eq!(matches[0]["entry"]["id"], offer.id().to_string());
    assert_eq!(
        matches[0]["reasons"],
        serde_json::json!([
            "topic: incident-response",
            "country: SN",
            "region: western-africa",
            "language: fr"
        ])
    );
    assert_eq!(matches[0]["score"], 22);
    assert_eq!(matches[1]["entry"]["id"], donor.id().to_string());
    for (query, said) in [
        (format!("?need={}", offer.id()), "not a capacity-need"),
        ("?need=zz".to_string(), "not a report id"),
        (
            format!("?need={}", "0".repeat(64)),
            "no current directory entry",
        ),
        ("?colour=red".to_string(), "unknown field"),
    ] {
        let (status, body) = ask(format!("/api/v1/directory/matches{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(said), "{query}: {body}");
    }
    let (status, _, _) = get(&api, "/api/v1/directory", None, "", usize::MAX).await;
    assert_eq!(status, 401);

    // The console's statistics page lists the entries and each need with what matches it.
    let session = console_sign_in(&api, &api.read).await;
    let (status, _, page) = exchange(
        &api,
        "GET",
        "/ui/statistics",
        &format!("Cookie: cairn_session={session}\r\n"),
        "",
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<h2>Liaison directory</h2>"), "{page}");
    for title in ["CSIRT training", "Incident course"] {
        assert!(page.contains(title), "{title}: {page}");
    }
    let needs = page
        .split("Capacity needs and what matches them")
        .nth(1)
        .expect("needs listed");
    assert!(
        needs.contains("CSIRT training") && needs.contains("Incident course"),
        "{needs}"
    );
}

/// Every route of the node's own API is described in openapi.json (TAXII and the MISP feed
/// follow their own specifications), and nothing described is missing from the router.
#[test]
fn openapi_describes_every_api_route() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let routes: std::collections::BTreeSet<String> = source
        .split(".route(")
        .skip(1)
        .filter_map(|rest| rest.trim_start().strip_prefix('"')?.split('"').next())
        .filter(|path| !path.starts_with("/taxii2") && !path.starts_with("/misp"))
        .map(str::to_string)
        .collect();
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("openapi.json")).unwrap()).unwrap();
    let described: std::collections::BTreeSet<String> =
        spec["paths"].as_object().unwrap().keys().cloned().collect();
    assert!(routes.len() > 10, "{routes:?}");
    assert_eq!(routes, described);
}

/// One HTTP/1.1 request with extra header lines; returns the status, the head and the body.
async fn exchange(
    api: &Api,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(api.address).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut text = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut text)).await;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// The value a response sets for cookie `name`, and the whole Set-Cookie line.
fn set_cookie(head: &str, name: &str) -> Option<(String, String)> {
    head.lines()
        .filter_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .find(|l| l.starts_with(&format!("{name}=")))
        .map(|l| {
            let value = l[name.len() + 1..]
                .split(';')
                .next()
                .unwrap_or("")
                .to_string();
            (value, l.to_string())
        })
}

fn form_field(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in {body}"))
        + marker.len();
    body[start..].split('"').next().unwrap().to_string()
}

/// Signs in to the console with `token`; returns the session cookie's value.
async fn console_sign_in(api: &Api, token: &str) -> String {
    let (status, head, body) = exchange(api, "GET", "/ui/sign-in", "", "").await;
    assert_eq!(status, 200, "{head}");
    let (pre, _) = set_cookie(&head, "cairn_sign_in").expect("a sign-in cookie");
    let csrf = form_field(&body, "csrf");
    assert_eq!(pre, csrf);
    let (status, head, _) = exchange(
        api,
        "POST",
        "/ui/sign-in",
        &format!(
            "Cookie: cairn_sign_in={pre}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        ),
        &format!("csrf={csrf}&token={token}"),
    )
    .await;
    assert_eq!(status, 303, "{head}");
    set_cookie(&head, "cairn_session")
        .expect("a session cookie")
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_signs_in_with_a_token_and_shows_reports_behind_its_defences() {
    let api = start().await;
    // Nobody signed in: to the sign-in page, with the security headers on every answer.
    let (status, head, _) = exchange(&api, "GET", "/ui/", "", "").await;
    assert_eq!(status, 303, "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("location: /ui/sign-in"), "{head}");
    assert!(
        lower.contains("content-security-policy: default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'"),
        "{head}"
    );
    assert!(lower.contains("x-frame-options: deny"), "{head}");
    assert!(lower.contains("cache-control: no-store"), "{head}");

    // The sign-in form's CSRF token travels in a strict, HttpOnly cookie.
    let (status, head, body) = exchange(&api, "GET", "/ui/sign-in", "", "").await;
    assert_eq!(status, 200);
    let (pre, line) = set_cookie(&head, "cairn_sign_in").unwrap();
    assert!(
        line.contains("HttpOnly") && line.contains("SameSite=Strict") && line.contains("Path=/ui"),
        "{line}"
    );
    assert!(!line.contains("Secure"), "plain HTTP on loopback: {line}");
    assert!(body.contains("<label for=\"token\">"), "{body}");
    let csrf = form_field(&body, "csrf");
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    // Without the cookie (a form posted from elsewhere): refused, no session.
    let (status, head, body) = exchange(
        &api,
        "POST",
        "/ui/sign-in",
        form,
        &format!("csrf={csrf}&token={}", api.read),
    )
    .await;
    assert_eq!(status, 403);
    assert!(body.contains("did not come from this page"), "{body}");
    assert!(set_cookie(&head, "cairn_session").is_none());
    // A wrong token: said so, no session.
    let with_cookie = format!("Cookie: cairn_sign_in={pre}\r\n{form}");
    let (status, head, body) = exchange(
        &api,
        "POST",
        "/ui/sign-in",
        &with_cookie,
        &format!("csrf={csrf}&token=cairn_0000"),
    )
    .await;
    assert_eq!(status, 401);
    assert!(body.contains("not valid on this node"), "{body}");
    assert!(set_cookie(&head, "cairn_session").is_none());
    let (status, _, body) = exchange(
        &api,
        "POST",
        "/ui/sign-in",
        &with_cookie,
        &format!("csrf={csrf}&token="),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("Give an API token"), "{body}");

    // Reports, one with markup in its title, and enough for two pages.
    let mut rng = rand::rngs::StdRng::seed_from_u64(77);
    let mut d = sample::indicator_report(&mut rng, 1);
    d.title = "<script>alert(1)</script> & friends".into();
    d.scope = None;
    d.hop_limit = None;
    let marked = d.sign(&api.org, &mut rng).unwrap();
    api.node.publish(vec![marked.clone()]).await.unwrap();
    for n in 0..54 {
        publish(&api, 1000 + n, Tlp::Green).await;
    }
    let amber = publish(&api, 2000, Tlp::Amber).await;

    // A partner that may receive up to TLP:GREEN.
    let bank = OrgKey::generate(&mut rng).public();
    api.node
        .reconfigure(cairn_node::Sharing {
            partners: vec![cairn_node::TrustedPartner {
                partner: cairn_policy::Partner {
                    org: bank,
                    name: "bank-a".into(),
                    kind: cairn_policy::OrgKind::Company,
                    sector: None,
                    region: None,
                    policy: cairn_policy::OutboundPolicy {
                        max_tlp: Some(Tlp::Green),
                        ..Default::default()
                    },
                },
                nodes: vec![],
                psi_values_per_day: 0,
            }],
            communities: Default::default(),
            inbound: Default::default(),
        })
        .await
        .unwrap();

    let session = console_sign_in(&api, &api.read).await;
    let cookie = format!("Cookie: cairn_session={session}\r\n");
    let (status, _, body) = exchange(&api, "GET", "/ui/", &cookie, "").await;
    assert_eq!(status, 200);
    assert!(body.contains("Reports held</dt><dd>56</dd>"), "{body}");
    // Today's reports in, by where they came from, and what went out (nothing yet).
    let today: String = cairn_core::when::rfc3339(cairn_core::when::now_ms())
        .chars()
        .take(10)
        .collect();
    assert!(
        body.contains("Reports in and out, the last 14 days"),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "<th scope=\"row\">{today}</th><td>0</td><td>56</td><td>0</td>"
        )),
        "{body}"
    );
    assert!(body.contains("Role: read"), "{body}");

    let (status, _, body) = exchange(&api, "GET", "/ui/reports", &cookie, "").await;
    assert_eq!(status, 200);
    assert_eq!(body.matches("<tr><th scope=\"row\">").count(), 50);
    let next = body
        .split("rel=\"next\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a link to older reports")
        .replace("&amp;", "&");
    let (status, _, body) = exchange(&api, "GET", &next, &cookie, "").await;
    assert_eq!(status, 200);
    assert_eq!(body.matches("<tr><th scope=\"row\">").count(), 6);
    assert!(!body.contains("rel=\"next\""));
    // The oldest, with markup in its title: shown as text.
    assert!(
        !body.contains("<script>"),
        "markup from a report reached the page"
    );
    assert!(
        body.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; friends"),
        "{body}"
    );

    let (status, _, body) = exchange(&api, "GET", "/ui/reports?tlp=amber", &cookie, "").await;
    assert_eq!(status, 200);
    assert_eq!(body.matches("<tr><th scope=\"row\">").count(), 1, "{body}");
    assert!(body.contains(&amber.id().to_string()));
    let (status, _, body) = exchange(&api, "GET", "/ui/reports?tlp=purple", &cookie, "").await;
    assert_eq!(status, 400);
    assert!(
        body.contains("class=\"problem\"") && body.contains("tlp"),
        "{body}"
    );
    let (status, _, _) = exchange(&api, "GET", "/ui/reports?colour=red", &cookie, "").await;
    assert_eq!(status, 400);

    let (status, _, body) = exchange(
        &api,
        "GET",
        &format!("/ui/reports/{}", marked.id()),
        &cookie,
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        body.contains(&marked.report().indicators[0].value),
        "{body}"
    );
    assert!(body.contains("published on this node"), "{body}");
    assert!(!body.contains("<script>"));
    // Who receives what, and why, as the sharing rules decide it.
    let (status, _, body) = exchange(
        &api,
        "GET",
        &format!("/ui/reports/{}", amber.id()),
        &cookie,
        "",
    )
    .await;
    assert_eq!(status, 200);
    let row = body
        .split("<th scope=\"row\">bank-a</th>")
        .nth(1)
        .expect("a row for bank-a");
    assert!(row.starts_with("<td>no</td>"), "{row}");
    let green = api
        .node
        .store()
        .query(&cairn_store::ReportQuery {
            tlp: Some(Tlp::Green),
            limit: 1,
            ..Default::default()
        })
        .unwrap();
    let (status, _, body) = exchange(
        &api,
        "GET",
        &format!("/ui/reports/{}", green[0].report.id()),
        &cookie,
        "",
    )
    .await;
    assert_eq!(status, 200);
    let row = body
        .split("<th scope=\"row\">bank-a</th>")
        .nth(1)
        .expect("a row for bank-a");
    assert!(row.starts_with("<td>yes</td>"), "{row}");
    assert!(
        body.contains("No partner has fetched it from this node yet."),
        "{body}"
    );
    let (status, _, _) = exchange(&api, "GET", "/ui/reports/0123456789abcdef", &cookie, "").await;
    assert_eq!(status, 404);
    let (status, _, _) = exchange(&api, "GET", "/ui/reports/not-an-id", &cookie, "").await;
    assert_eq!(status, 400);

    // Statistics: observance trends drawn on the server, the numbers in a table too.
    let (status, _, body) = exchange(&api, "GET", "/ui/statistics", &cookie, "").await;
    assert_eq!(status, 200);
    assert!(body.contains("Nothing to count yet"), "{body}");
    let incidents: Vec<_> = (0..3)
        .map(|_| {
            cairn_core::ReportDraft {
                kind: Some(cairn_core::ReportKind::Incident),
                title: "an incident".into(),
                tlp: Some(Tlp::Clear),
                paris_call_principles: vec![2],
                regions: vec!["europe".into()],
                ..cairn_core::ReportDraft::default()
            }
            .sign(&api.org, &mut rng)
            .unwrap()
        })
        .collect();
    api.node.publish(incidents).await.unwrap();
    let (status, _, body) = exchange(&api, "GET", "/ui/statistics", &cookie, "").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("<svg") && body.contains("class=\"chart\""),
        "{body}"
    );
    assert!(
        !body.contains("style="),
        "an inline style the policy would block: {body}"
    );
    assert!(body.contains("<td>principle 2: "), "{body}");
    assert!(
        body.contains("<td>europe</td><td>unspecified</td><td>3</td>"),
        "{body}"
    );
    let (status, _, _) = exchange(&api, "GET", "/ui/statistics?colour=red", &cookie, "").await;
    assert_eq!(status, 400);

    let (status, _, body) = exchange(&api, "GET", "/ui/partners", &cookie, "").await;
    assert_eq!(status, 200);
    assert!(body.contains("<h2 id=\"partner-"), "{body}");
    assert!(
        body.contains(">bank-a</h2>") && body.contains("up to TLP:GREEN"),
        "{body}"
    );
    assert!(
        body.contains("No node of this partner is known yet."),
        "{body}"
    );

    // Retracting: offered to a token that may publish, for this organisation's current reports.
    let target = format!("/ui/reports/{}", amber.id());
    let (_, _, body) = exchange(&api, "GET", &target, &cookie, "").await;
    assert!(
        !body.contains("Retract this report"),
        "offered to a reader: {body}"
    );
    let reader_csrf = form_field(&body, "csrf");
    let (status, _, _) = exchange(
        &api,
        "POST",
        &format!("{target}/retract"),
        &format!("{cookie}{form}"),
        &format!("csrf={reader_csrf}&reason=wrong"),
    )
    .await;
    assert_eq!(status, 403);
    let publisher = console_sign_in(&api, &publish_token(&api, "publisher")).await;
    let publisher = format!("Cookie: cairn_session={publisher}\r\n");
    let (_, _, body) = exchange(&api, "GET", &target, &publisher, "").await;
    assert!(
        body.contains("Retract this report") && body.contains("<label for=\"reason\">"),
        "{body}"
    );
    let csrf = form_field(&body, "csrf");
    let post = format!("{publisher}{form}");
    let (status, _, body) = exchange(
        &api,
        "POST",
        &format!("{target}/retract"),
        &post,
        &format!("csrf={csrf}&reason=+"),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("Say why"), "{body}");
    let (status, _, _) = exchange(
        &api,
        "POST",
        &format!("{target}/retract"),
        &post,
        "csrf=forged&reason=wrong",
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        api.node.store().status(&amber).unwrap(),
        cairn_store::ReportStatus::Current,
        "a refused form changed nothing"
    );
    let (status, head, _) = exchange(
        &api,
        "POST",
        &format!("{target}/retract"),
        &post,
        &format!("csrf={csrf}&reason=sent+by+mistake"),
    )
    .await;
    assert_eq!(status, 303, "{head}");
    let (_, _, body) = exchange(&api, "GET", &target, &publisher, "").await;
    assert!(body.contains("Retracted by its author"), "{body}");
    assert!(!body.contains("Retract this report"), "{body}");

    // Tokens: an admin's page only.
    assert_eq!(
        exchange(&api, "GET", "/ui/tokens", &cookie, "").await.0,
        403
    );
    let (_, _, body) = exchange(&api, "GET", "/ui/", &cookie, "").await;
    assert!(
        !body.contains("href=\"/ui/tokens\""),
        "offered to a reader: {body}"
    );
    let admin_token = Tokens::load(&api._dir.path().join("tokens.json"))
        .unwrap()
        .create("admin", Role::Admin, 3)
        .unwrap();
    let admin = console_sign_in(&api, &admin_token).await;
    let admin = format!("Cookie: cairn_session={admin}\r\n");
    let (status, _, body) = exchange(&api, "GET", "/ui/tokens", &admin, "").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("<th scope=\"row\">reader</th>")
            && body.contains("<th scope=\"row\">publisher</th>"),
        "{body}"
    );
    assert!(!body.contains(&api.read), "a token's secret on the page");
    let csrf = form_field(&body, "csrf");
    let post = format!("{admin}{form}");
    let (status, _, body) = exchange(
        &api,
        "POST",
        "/ui/tokens",
        &post,
        &format!("csrf={csrf}&name=opencti&role=read"),
    )
    .await;
    assert_eq!(status, 200);
    let new_token = body
        .split("<code id=\"new-token\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("the new token, once")
        .to_string();
    assert!(new_token.starts_with("cairn_"), "{new_token}");
    let (_, _, body) = exchange(&api, "GET", "/ui/tokens", &admin, "").await;
    assert!(!body.contains(&new_token), "shown twice");
    assert!(body.contains("<th scope=\"row\">opencti</th>"));
    console_sign_in(&api, &new_token).await;
    let (status, _, body) = exchange(
        &api,
        "POST",
        "/ui/tokens",
        &post,
        &format!("csrf={csrf}&name=opencti&role=read"),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("exists already"), "{body}");
    let (status, _, body) = exchange(
        &api,
        "POST",
        "/ui/tokens",
        &post,
        &format!("csrf={csrf}&name=+&role=read"),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("Give the token a name"), "{body}");
    let (status, _, _) = exchange(
        &api,
        "POST",
        "/ui/tokens",
        &post,
        &format!("csrf={csrf}&name=x&role=root"),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, _) = exchange(
        &api,
        "POST",
        "/ui/tokens",
        &post,
        "csrf=forged&name=sneaky&role=admin",
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, _) = exchange(
        &api,
        "POST",
        "/ui/tokens/revoke",
        &post,
        "csrf=forged&name=opencti",
    )
    .await;
    assert_eq!(status, 403);
    let names: Vec<String> = Tokens::load(&api._dir.path().join("tokens.json"))
        .unwrap()
        .records()
        .iter()
        .map(|r| r.name.clone())
        .collect();
    assert_eq!(
        names,
        ["reader", "publisher", "admin", "opencti"],
        "refused forms changed the tokens"
    );
    let (status, _, _) = exchange(
        &api,
        "POST",
        "/ui/tokens/revoke",
        &post,
        &format!("csrf={csrf}&name=opencti"),
    )
    .await;
    assert_eq!(status, 303);
    let (status, _, body) = exchange(
        &api,
        "POST",
        "/ui/tokens/revoke",
        &post,
        &format!("csrf={csrf}&name=opencti"),
    )
    .await;
    assert_eq!(status, 404);
    assert!(body.contains("No token named"), "{body}");

    // Signing out needs the session's CSRF token; afterwards the session is gone.
    let (status, _, _) = exchange(
        &api,
        "POST",
        "/ui/sign-out",
        &format!("{cookie}{form}"),
        "csrf=forged",
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, body) = exchange(&api, "GET", "/ui/", &cookie, "").await;
    assert_eq!(status, 200);
    let csrf = form_field(&body, "csrf");
    let (status, head, _) = exchange(
        &api,
        "POST",
        "/ui/sign-out",
        &format!("{cookie}{form}"),
        &format!("csrf={csrf}"),
    )
    .await;
    assert_eq!(status, 303);
    assert!(
        set_cookie(&head, "cairn_session")
            .unwrap()
            .1
            .contains("Max-Age=0")
    );
    let (status, _, _) = exchange(&api, "GET", "/ui/", &cookie, "").await;
    assert_eq!(status, 303);

    // Revoking the token ends the sessions opened with it.
    let session = console_sign_in(&api, &api.read).await;
    let cookie = format!("Cookie: cairn_session={session}\r\n");
    assert_eq!(exchange(&api, "GET", "/ui/", &cookie, "").await.0, 200);
    let tokens_path = api._dir.path().join("tokens.json");
    let mut tokens = Tokens::load(&tokens_path).unwrap();
    assert!(tokens.revoke("reader").unwrap());
    assert_eq!(exchange(&api, "GET", "/ui/", &cookie, "").await.0, 303);

    // Live updates: the overview's list takes new reports from /ui/live, for a live session.
    assert_eq!(exchange(&api, "GET", "/ui/live", &cookie, "").await.0, 303);
    let (_, head, body) = exchange(&api, "GET", "/ui/", &admin, "").await;
    assert!(
        body.contains("<table class=\"reports\" data-live")
            && body.contains("<script src=\"/ui/assets/live.js\" defer>"),
        "{body}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("script-src 'self'; connect-src 'self'"),
        "{head}"
    );
    let (_, _, body) = exchange(&api, "GET", "/ui/reports?tlp=green", &admin, "").await;
    assert!(
        !body.contains("data-live"),
        "a filtered list takes no live reports: {body}"
    );
    let (status, head, script) = exchange(&api, "GET", "/ui/assets/live.js", "", "").await;
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/javascript"),
        "{head}"
    );
    assert!(
        script.contains("textContent") && !script.contains("innerHTML"),
        "{script}"
    );
    let mut live = tokio::net::TcpStream::connect(api.address).await.unwrap();
    live.write_all(
        format!("GET /ui/live HTTP/1.1\r\nHost: localhost\r\n{admin}Connection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains("\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), live.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the live stream closed: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    let mut d = sample::indicator_report(&mut rng, 4242);
    d.title = "live <b>one</b>".into();
    d.scope = None;
    d.hop_limit = None;
    let fresh = d.sign(&api.org, &mut rng).unwrap();
    api.node.publish(vec![fresh.clone()]).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains("event: report") {
        let n = tokio::time::timeout_at(deadline, live.read(&mut buf))
            .await
            .expect("a live report within 10 s")
            .unwrap();
        assert!(n > 0, "the live stream closed: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    while !seen.contains("\n\n")
        || !seen
            .split("event: report")
            .nth(1)
            .is_some_and(|e| e.contains("\n\n"))
    {
        let n = tokio::time::timeout_at(deadline, live.read(&mut buf))
            .await
            .expect("the whole event")
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let event = seen.split("event: report").nth(1).unwrap();
    let data = event
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("data");
    let shown: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(shown["id"], fresh.id().to_string());
    assert_eq!(
        shown["title"], "live <b>one</b>",
        "sent as data, set as text by the script"
    );
    assert_eq!(shown["tlp"], "TLP:GREEN");
    assert_eq!(shown["author"], "CERT-Test");
    // Revoking the token ends even a quiet stream.
    assert!(Tokens::load(&tokens_path).unwrap().revoke("admin").unwrap());
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match live.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let text = String::from_utf8_lossy(&buf[..n]).to_string();
                    assert!(
                        !text.contains("event: report"),
                        "a report after the token was revoked: {text}"
                    );
                }
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the live stream outlived its token");
    api.shutdown.cancel();
}

/// A partner of `api`'s node that may receive up to `max`, under `name`.
async fn add_partner(api: &Api, name: &str, seed: u64, max: Tlp) {
    let org = OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(seed)).public();
    let mut partners: Vec<cairn_node::TrustedPartner> =
        api.node.trust_list().iter().cloned().collect();
    partners.push(cairn_node::TrustedPartner {
        partner: cairn_policy::Partner {
            org,
            name: name.into(),
            kind: cairn_policy::OrgKind::Company,
            sector: None,
            region: None,
            policy: cairn_policy::OutboundPolicy {
                max_tlp: Some(max),
                withhold: [cairn_core::DisclosureField::Victim].into(),
                ..Default::default()
            },
        },
        nodes: vec![],
        psi_values_per_day: 0,
    });
    api.node
        .reconfigure(cairn_node::Sharing {
            partners,
            communities: Default::default(),
            inbound: Default::default(),
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_publishes_what_its_preview_showed_and_refuses_bad_forms() {
    let api = start().await;
    add_partner(&api, "bank-a", 5, Tlp::Green).await;
    add_partner(&api, "ministry", 6, Tlp::Amber).await;
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";

    // A reader may not publish.
    let session = console_sign_in(&api, &api.read).await;
    let (status, _, _) = exchange(
        &api,
        "GET",
        "/ui/publish",
        &format!("Cookie: cairn_session={session}\r\n"),
        "",
    )
    .await;
    assert_eq!(status, 403);

    let publisher = publish_token(&api, "analyst");
    let session = console_sign_in(&api, &publisher).await;
    let cookie = format!("Cookie: cairn_session={session}\r\n{form}");
    let (status, _, page) = exchange(&api, "GET", "/ui/publish", &cookie, "").await;
    assert_eq!(status, 200, "{page}");
    let csrf = form_field(&page, "csrf");
    assert!(page.contains("src=\"/ui/assets/publish.js\""), "{page}");
    let (status, head, script) = exchange(&api, "GET", "/ui/assets/publish.js", "", "").await;
    assert_eq!(status, 200);
    assert!(head.contains("text/javascript"), "{head}");
    assert!(!script.contains("innerHTML"), "the script sets text only");

    // The live preview of a form not yet complete names what is missing, as JSON.
    let (status, _, body) = exchange(
        &api,
        "POST",
        "/ui/publish/preview",
        &cookie,
        &format!("csrf={csrf}&title=Half+written"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["problem"]["field"], "kind", "{answer}");

    let filled = format!(
        "csrf={csrf}&kind=incident&title=Wiper+at+a+water+utility&tlp=amber&severity=high\
         &indicators=ipv4%3A203.0.113.77%0Adomain%3Awiper.example&principle=1&principle=6\
         &victim=Example+Water&tags=wiper%2C+ot&norm=f&countries=fr&impact_kind=availability"
    );
    let (status, _, body) = exchange(&api, "POST", "/ui/publish/preview", &cookie, &filled).await;
    assert_eq!(status, 200, "{body}");
    let preview: serde_json::Value = serde_json::from_str(&body).unwrap();
    let decisions = preview["decisions"].as_array().expect("decisions").clone();
    assert_eq!(decisions.len(), 2, "{preview}");
    let of = |name: &str| {
        decisions
            .iter()
            .find(|d| d["partner"] == name)
            .unwrap_or_else(|| panic!("{name} in {preview}"))
            .clone()
    };
    assert_eq!(of("bank-a")["receives"], false);
    assert_eq!(of("ministry")["receives"], true);
    assert_eq!(of("ministry")["withheld"], serde_json::json!(["victim"]));
    // Its documentation address and domain are flagged with the lists named.
    assert_eq!(
        preview["warnings"],
        serde_json::json!([
            "ipv4:203.0.113.77 is on the warning list reserved-ipv4",
            "domain:wiper.example is on the warning list reserved-domains"
        ]),
        "{preview}"
    );

    // Without the script: the Preview button shows the same table, and stores nothing.
    let before = api.node.store().last_seq().unwrap();
    let (status, _, body) = exchange(
        &api,
        "POST",
        "/ui/publish",
        &cookie,
        &format!("{filled}&action=preview"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<th scope=\"row\">ministry</th><td>yes (without victim)</td>"),
        "{body}"
    );
    assert!(
        body.contains("<li>ipv4:203.0.113.77 is on the warning list reserved-ipv4</li>"),
        "{body}"
    );
    assert!(
        body.contains("value=\"Wiper at a water utility\""),
        "the form keeps what was typed"
    );

    // Bad input: each comes back with the field named, and nothing is stored.
    for (bad, field) in [
        (filled.replace("tlp=amber", "tlp=purple"), "tlp"),
        (
            filled.replace("ipv4%3A203.0.113.77", "203.0.113.77"),
            "indicators",
        ),
        (filled.replace("principle=6", "principle=12"), "principle"),
        (
            filled.replace("&title=Wiper+at+a+water+utility", ""),
            "title",
        ),
        (format!("{filled}&colour=red"), "colour"),
    ] {
        let (status, _, body) = exchange(
            &api,
            "POST",
            "/ui/publish",
            &cookie,
            &format!("{bad}&action=publish"),
        )
        .await;
        assert_eq!(status, 400, "{field}: {body}");
        assert!(
            body.contains(&format!("role=\"alert\">{field}")),
            "{field}: {body}"
        );
    }
    let forged = filled.replace(&csrf, "forged");
    let (status, _, _) = exchange(
        &api,
        "POST",
        "/ui/publish",
        &cookie,
        &format!("{forged}&action=publish"),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        api.node.store().last_seq().unwrap(),
        before,
        "nothing stored"
    );

    // Published: the stored report's decisions are those the preview showed.
    let (status, head, _) = exchange(
        &api,
        "POST",
        "/ui/publish",
        &cookie,
        &format!("{filled}&action=publish"),
    )
    .await;
    assert_eq!(status, 303, "{head}");
    let id = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("location: /ui/reports/")
                .map(str::to_string)
        })
        .expect("to the new report");
    let stored = api
        .node
        .store()
        .get(&id.trim().parse().unwrap())
        .unwrap()
        .expect("stored");
    assert_eq!(stored.report.report().title, "Wiper at a water utility");
    assert_eq!(stored.report.report().paris_call_principles, vec![1, 6]);
    let coding = stored.report.report().coding.clone().expect("coded");
    assert_eq!(coding.gge_norms, vec![cairn_core::coding::GgeNorm::F]);
    assert_eq!(coding.countries, vec!["FR"]);
    let explained = api.node.explain_sharing(stored).await.unwrap();
    assert_eq!(
        serde_json::to_value(&explained).unwrap(),
        serde_json::Value::Array(decisions)
    );

    // Found by words of its title, and by a range or domain its indicators lie inside; a bad
    // range says what is wrong.
    let cookie = format!("Cookie: cairn_session={session}\r\n");
    for search in [
        "text=WATER+wiper",
        "inside=203.0.113.0%2F24",
        "inside=example",
        "inside=wiper.example",
    ] {
        let (status, _, body) =
            exchange(&api, "GET", &format!("/ui/reports?{search}"), &cookie, "").await;
        if search == "inside=example" {
            assert_eq!(status, 400, "{body}");
            assert!(body.contains("top-level domain"), "{body}");
            continue;
        }
        assert_eq!(status, 200, "{search}: {body}");
        assert!(
            body.contains("Wiper at a water utility"),
            "{search}: {body}"
        );
    }
    let (status, _, body) = exchange(
        &api,
        "GET",
        "/ui/reports?inside=203.0.113.1%2F24",
        &cookie,
        "",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("did you mean 203.0.113.0/24"), "{body}");
    let (_, _, body) = exchange(&api, "GET", "/ui/reports?text=bank+wiper", &cookie, "").await;
    assert!(!body.contains("Wiper at a water utility"), "{body}");
    // By the Paris Call principles it concerns; a principle that is none is refused.
    for (search, found) in [("principle=6", true), ("principle=2", false)] {
        let (status, _, body) =
            exchange(&api, "GET", &format!("/ui/reports?{search}"), &cookie, "").await;
        assert_eq!(status, 200, "{search}: {body}");
        assert_eq!(
            body.contains("Wiper at a water utility"),
            found,
            "{search}: {body}"
        );
    }
    let (status, _, body) = exchange(&api, "GET", "/ui/reports?principle=10", &cookie, "").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("from 1 to 9"), "{body}");

    // Sorted by creation time either way; the column header links to the other order.
    let (status, _, body) = exchange(&api, "GET", "/ui/reports?order=oldest", &cookie, "").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("oldest first</caption>"), "{body}");
    assert!(body.contains("aria-sort=\"ascending\""), "{body}");
    let (status, _, body) = exchange(&api, "GET", "/ui/reports?order=sideways", &cookie, "").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("newest (the default) or oldest"), "{body}");
}

/// A multipart form body: each field, and the file last; the boundary to name in the header.
fn multipart(fields: &[(&str, &str)], file: Option<(&str, &str)>) -> (String, String) {
    let boundary = "cairn-test-boundary-7f3a";
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    if let Some((file_name, content)) = file {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/json\r\n\r\n{content}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (
        format!("Content-Type: multipart/form-data; boundary={boundary}\r\n"),
        body,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_imports_a_file_and_accounts_for_every_object() {
    let api = start().await;
    let publisher = publish_token(&api, "analyst");
    let session = console_sign_in(&api, &publisher).await;
    let cookie = format!("Cookie: cairn_session={session}\r\n");
    let (status, _, page) = exchange(&api, "GET", "/ui/import", &cookie, "").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("enctype=\"multipart/form-data\""), "{page}");
    let csrf = form_field(&page, "csrf");
    let bundle = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/interop/stix/indicators-for-C2-with-COA.json"),
    )
    .expect("the OASIS sample");
    let objects = serde_json::from_str::<serde_json::Value>(&bundle).unwrap()["objects"]
        .as_array()
        .unwrap()
        .len();

    // Refused whole, each with why, and nothing stored: a forged form, no file, not JSON, a
    // bad TLP.
    let before = api.node.store().last_seq().unwrap();
    for (fields, file, status_wanted, says) in [
        (
            vec![("csrf", "forged")],
            Some(("a.json", bundle.as_str())),
            403,
            "did not come from",
        ),
        (vec![("csrf", csrf.as_str())], None, 400, "Choose a file"),
        (
            vec![("csrf", csrf.as_str())],
            Some(("notes.json", "this is not json")),
            422,
            "notes.json was not imported",
        ),
        (
            vec![("csrf", csrf.as_str()), ("default_tlp", "purple")],
            Some(("a.json", bundle.as_str())),
            400,
            "unknown TLP label",
        ),
    ] {
        let (content_type, body) = multipart(&fields, file);
        let (status, _, page) = exchange(
            &api,
            "POST",
            "/ui/import",
            &format!("{cookie}{content_type}"),
            &body,
        )
        .await;
        assert_eq!(status, status_wanted, "{says}: {page}");
        assert!(page.contains(says), "{says}: {page}");
    }
    assert_eq!(api.node.store().last_seq().unwrap(), before);

    // Imported: every object accounted for, then the same file again changes nothing.
    let (content_type, body) = multipart(
        &[("csrf", &csrf), ("default_tlp", "green")],
        Some(("c2.json", &bundle)),
    );
    let (status, _, page) = exchange(
        &api,
        "POST",
        "/ui/import",
        &format!("{cookie}{content_type}"),
        &body,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("What c2.json gave"), "{page}");
    assert!(
        page.contains(&format!("<dt>Objects read</dt><dd>{objects}</dd>")),
        "{page}"
    );
    let rows = page.matches("<tr><th scope=\"row\"><code>").count();
    assert_eq!(rows, objects, "one row per object: {page}");
    // The sample's 10.0.0.0 is a private address: flagged, with its list named.
    assert!(
        page.contains("1 indicator(s) on warning lists")
            && page.contains("ipv4:10.0.0.0 is on the warning list reserved-ipv4"),
        "{page}"
    );
    assert!(page.contains("href=\"/ui/reports/"), "{page}");
    // The report page shows the carried objects readably: type, name, the indicator's pattern.
    let report = page
        .split("href=\"/ui/reports/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let (status, _, shown) =
        exchange(&api, "GET", &format!("/ui/reports/{report}"), &cookie, "").await;
    assert_eq!(status, 200, "{shown}");
    assert!(shown.contains("The objects, readably"), "{shown}");
    assert!(
        shown.contains("<th scope=\"row\">indicator</th>"),
        "{shown}"
    );
    assert!(shown.contains("[ipv4-addr:value = "), "{shown}");
    let stored = api.node.store().last_seq().unwrap();
    assert!(stored > before);
    let (status, _, page) = exchange(
        &api,
        "POST",
        "/ui/import",
        &format!("{cookie}{content_type}"),
        &body,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<dt>Imported</dt><dd>0</dd>"), "{page}");
    assert_eq!(api.node.store().last_seq().unwrap(), stored, "nothing new");
}

/// The titles of the reports table, in its order.
fn table_titles(body: &str) -> Vec<String> {
    body.split("<th scope=\"row\"><a href=\"/ui/reports/")
        .skip(1)
        .filter_map(|row| {
            let (_, rest) = row.split_once("\">")?;
            Some(rest.split_once("</a>")?.0.to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_sorts_reports_by_any_column_and_says_when_there_are_too_many() {
    let api = start().await;
    let session = console_sign_in(&api, &api.read).await;
    let cookie = format!("Cookie: cairn_session={session}\r\n");
    // 130 reports whose titles are not in the order they were written.
    let sign = |n: u64, title: String, tlp: Tlp| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(n);
        let mut d = sample::indicator_report(&mut rng, n);
        if n.is_multiple_of(5) {
            d.sectors = vec!["health".into()];
        }
        d.title = title;
        d.tlp = Some(tlp);
        d.scope = None;
        d.hop_limit = None;
        d.sign(&api.org, &mut rng).unwrap()
    };
    let tlps = [Tlp::AmberStrict, Tlp::Clear, Tlp::Amber, Tlp::Green];
    let batch: Vec<_> = (0..130u64)
        .map(|n| {
            sign(
                n,
                format!("Report {:03}", (n * 47) % 130),
                tlps[n as usize % 4],
            )
        })
        .collect();
    api.node.publish(batch).await.unwrap();

    let mut seen = Vec::new();
    let mut path = "/ui/reports?sort=title".to_string();
    loop {
        let (status, _, body) = exchange(&api, "GET", &path, &cookie, "").await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("aria-sort=\"ascending\""), "{body}");
        let titles = table_titles(&body);
        assert!(titles.len() <= 50, "{}", titles.len());
        seen.extend(titles);
        match body.split_once("rel=\"next\" href=\"") {
            Some((_, rest)) => path = rest.split_once('"').unwrap().0.replace("&amp;", "&"),
            None => break,
        }
    }
    let expected: Vec<String> = (0..130).map(|n| format!("Report {n:03}")).collect();
    assert_eq!(
        seen, expected,
        "every report once, in title order, across pages"
    );

    let (_, _, body) = exchange(&api, "GET", "/ui/reports?sort=-title", &cookie, "").await;
    assert_eq!(table_titles(&body)[0], "Report 129");
    assert!(body.contains("aria-sort=\"descending\""), "{body}");
    let (_, _, body) = exchange(&api, "GET", "/ui/reports?sort=-tlp", &cookie, "").await;
    assert!(
        body.contains("TLP:AMBER+STRICT") && !body.contains("TLP:GREEN"),
        "the strictest first"
    );
    let (_, _, body) = exchange(&api, "GET", "/ui/reports?sort=tlp&tlp=green", &cookie, "").await;
    assert_eq!(
        table_titles(&body).len(),
        32,
        "filters apply to sorted lists"
    );

    for (query, said) in [
        ("sort=colour", "not a column to sort by"),
        ("sort=title&offset=ten", "not a position"),
    ] {
        let (status, _, body) =
            exchange(&api, "GET", &format!("/ui/reports?{query}"), &cookie, "").await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(said), "{query}: {body}");
    }

    // Past 1,000 matches, a column sort asks for a narrower search; a filter brings it back.
    let more: Vec<_> = (130..1_100u64)
        .map(|n| {
            sign(
                n,
                format!("Bulk {n}"),
                if n < 200 {
                    Tlp::AmberStrict
                } else {
                    Tlp::Green
                },
            )
        })
        .collect();
    api.node.publish(more).await.unwrap();
    let (status, _, body) = exchange(&api, "GET", "/ui/reports?sort=title", &cookie, "").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("More than 1000 reports match"), "{body}");
    assert!(table_titles(&body).is_empty());
    let (_, _, body) = exchange(
        &api,
        "GET",
        "/ui/reports?sort=title&tlp=amber%2Bstrict",
        &cookie,
        "",
    )
    .await;
    assert_eq!(table_titles(&body)[0], "Bulk 130", "{body}");
    api.shutdown.cancel();
}

/// Signs and publishes a report with these `TYPE:VALUE` indicators (hashes given as
/// `TYPE:VALUE#FILE` name their file).
async fn publish_indicators(api: &Api, n: u64, indicators: &[&str]) -> cairn_core::VerifiedReport {
    let mut rng = rand::rngs::StdRng::seed_from_u64(n);
    let mut d = sample::indicator_report(&mut rng, n);
    d.indicators = indicators
        .iter()
        .map(|text| {
            let (text, file) = match text.split_once('#') {
                Some((text, file)) => (text, file.parse().unwrap()),
                None => (*text, 0),
            };
            let mut draft =
                cairn_core::IndicatorDraft::from(cairn_core::Indicator::parse_typed(text).unwrap());
            draft.file = file;
            draft
        })
        .collect();
    let report = d.sign(&api.org, &mut rng).unwrap();
    api.node.publish(vec![report.clone()]).await.unwrap();
    report
}

#[tokio::test]
async fn correlations_name_the_reports_and_how_they_relate_and_bad_values_say_why() {
    let api = start().await;
    let md5 = "d41d8cd98f00b204e9800998ecf8427e";
    let sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let range = publish_indicators(&api, 1, &["cidr:203.0.113.0/24", "domain:evil.example"]).await;
    let address = publish_indicators(
        &api,
        2,
        &["ipv4:203.0.113.7", "url:https://cdn.evil.example/p.bin"],
    )
    .await;
    let file = publish_indicators(
        &api,
        3,
        &[&format!("md5:{md5}#1"), &format!("sha256:{sha256}#1")],
    )
    .await;
    let by_sha = publish_indicators(&api, 4, &[&format!("sha256:{sha256}")]).await;
    let token = api.read.clone();
    let ask = |path: String| {
        let api = &api;
        let token = token.clone();
        async move {
            let (status, _, body) = get(api, &path, Some(&token), "", usize::MAX).await;
            (
                status,
                serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default(),
            )
        }
    };
    let relations = |body: &serde_json::Value| -> Vec<(String, String, String)> {
        body["reports"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| {
                let id = r["report"]["id"].as_str().unwrap().to_string();
                r["links"].as_array().unwrap().iter().map(move |l| {
                    (
                        id.clone(),
                        l["relation"].as_str().unwrap().to_string(),
                        l["indicator"]["value"].as_str().unwrap().to_string(),
                    )
                })
            })
            .collect()
    };

    // An address: the same address, the range holding it.
    let (status, body) = ask("/api/v1/correlations?value=203.0.113.7".into()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["readings"][0]["type"], "ipv4");
    assert_eq!(
        relations(&body),
        vec![
            (
                address.id().to_string(),
                "same".into(),
                "203.0.113.7".into()
            ),
            (
                range.id().to_string(),
                "covers".into(),
                "203.0.113.0/24".into()
            ),
        ]
    );
    // A domain: itself, and the URL on a host under it.
    let (_, body) = ask("/api/v1/correlations?value=evil.example".into()).await;
    assert_eq!(
        relations(&body),
        vec![
            (
                address.id().to_string(),
                "inside".into(),
                "https://cdn.evil.example/p.bin".into()
            ),
            (range.id().to_string(), "same".into(), "evil.example".into()),
        ]
    );
    // A hash: the report naming it, and the one naming the same file by another hash.
    let (_, body) = ask(format!("/api/v1/correlations?value=md5:{md5}")).await;
    assert_eq!(
        relations(&body),
        vec![
            (by_sha.id().to_string(), "same-file".into(), sha256.into()),
            (file.id().to_string(), "same".into(), md5.into()),
            (file.id().to_string(), "same-file".into(), sha256.into()),
        ]
    );
    // With a limit, the newest and whether there are more.
    let (_, body) = ask(format!("/api/v1/correlations?value={md5}&limit=1")).await;
    assert_eq!(body["reports"].as_array().unwrap().len(), 1);
    assert_eq!(body["more"], true);

    // A report's indicators, each with the other reports; the report itself left out.
    let (status, body) = ask(format!("/api/v1/reports/{}/correlations", address.id())).await;
    assert_eq!(status, 200, "{body}");
    let indicators = body["indicators"].as_array().unwrap();
    assert_eq!(indicators.len(), 2);
    assert_eq!(indicators[0]["indicator"]["value"], "203.0.113.7");
    assert_eq!(
        relations(&indicators[0]),
        vec![(
            range.id().to_string(),
            "covers".into(),
            "203.0.113.0/24".into()
        )]
    );
    assert_eq!(
        relations(&indicators[1]),
        vec![(
            range.id().to_string(),
            "covers".into(),
            "evil.example".into()
        )]
    );

    // Bad input says what was wrong.
    for (path, says) in [
        ("/api/v1/correlations".to_string(), "value"),
        (
            "/api/v1/correlations?value=not%20a%20thing".into(),
            "not an observable",
        ),
        (
            "/api/v1/correlations?value=ipv4:evil.example".into(),
            "IPv4",
        ),
        (
            "/api/v1/correlations?value=evil.example&limit=0".into(),
            "limit",
        ),
        (
            "/api/v1/correlations?value=evil.example&limit=lots".into(),
            "limit",
        ),
        (
            "/api/v1/correlations?value=evil.example&colour=red".into(),
            "colour",
        ),
    ] {
        let (status, body) = ask(path.clone()).await;
        assert_eq!(status, 400, "{path}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{path}: {message}");
    }
    let (status, _) = ask(format!("/api/v1/reports/{}/correlations", "ab".repeat(32))).await;
    assert_eq!(status, 404);
    let (status, _, _) = get(
        &api,
        "/api/v1/correlations?value=evil.example",
        None,
        "",
        usize::MAX,
    )
    .await;
    assert_eq!(status, 401);

    // The console: related reports on a report's page, and the correlate page.
    let session = console_sign_in(&api, &api.read).await;
    let cookie = format!("Cookie: cairn_session={session}\r\n");
    let (status, _, body) = exchange(
        &api,
        "GET",
        &format!("/ui/reports/{}", address.id()),
        &cookie,
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains("Related reports"), "{body}");
    assert!(
        body.contains(&format!("/ui/reports/{}", range.id())),
        "{body}"
    );
    assert!(body.contains("a range or domain it lies in"), "{body}");
    assert!(
        body.contains("/ui/correlate?value=ipv4%3A203%2E0%2E113%2E7"),
        "{body}"
    );
    let (status, _, body) = exchange(
        &api,
        "GET",
        "/ui/correlate?value=ipv4%3A203.0.113.7",
        &cookie,
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        body.contains("2 report(s) relate to ipv4 203.0.113.7"),
        "{body}"
    );
    assert!(
        body.contains(&format!("/ui/reports/{}", address.id())),
        "{body}"
    );
    let (status, _, body) = exchange(
        &api,
        "GET",
        &format!("/ui/correlate?value={md5}"),
        &cookie,
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains("another hash of the same file"), "{body}");
    let (status, _, body) = exchange(
        &api,
        "GET",
        "/ui/correlate?value=no+such+thing",
        &cookie,
        "",
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("not an observable"), "{body}");
    let (status, _, body) = exchange(&api, "GET", "/ui/correlate", &cookie, "").await;
    assert_eq!(status, 200);
    assert!(!body.contains("relate to"), "{body}");
    api.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sightings_are_said_of_a_report_and_its_indicators_and_tallied() {
    let api = start().await;
    let publisher = publish_token(&api, "analyst");
    let json = "application/json";
    // A partner CERT's AMBER report, held here.
    let mut rng = rand::rngs::StdRng::seed_from_u64(61);
    let cert = OrgKey::generate(&mut rng);
    let report = cairn_core::ReportDraft {
        kind: Some(cairn_core::ReportKind::Indicator),
        title: "Loader infrastructure".into(),
        tlp: Some(Tlp::Amber),
        indicators: vec![
            cairn_core::IndicatorDraft::from(
                cairn_core::Indicator::new(cairn_core::IndicatorType::Ipv4, "203.0.113.9", "")
                    .unwrap(),
            ),
            cairn_core::IndicatorDraft::from(
                cairn_core::Indicator::new(
                    cairn_core::IndicatorType::Domain,
                    "cdn-update.example",
                    "",
                )
                .unwrap(),
            ),
        ],
        ..Default::default()
    }
    .sign(&cert, &mut rng)
    .unwrap();
    api.node.publish(vec![report.clone()]).await.unwrap();
    let id = report.id().to_string();
    let path = format!("/api/v1/reports/{}/sightings", &id[..16]);

    let seen = r#"{"kind": "seen", "indicator": "203.0.113.9", "count": 12,
        "first_seen": "2026-11-30T08:00:00Z", "last_seen": "2026-11-30T09:30:00Z",
        "where": "retail proxy", "observed": ["CONNECT 203.0.113.9:443"]}"#;
    let (status, body) = post(&api, &path, &publisher, json, seen).await;
    assert_eq!(status, 201, "{body}");
    let shown: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(shown["kind"], "sighting");
    assert_eq!(shown["tlp"], "amber", "marked like the report");
    assert_eq!(shown["sighting"]["concerns"]["report"], id);
    assert_eq!(
        shown["sighting"]["concerns"]["author"],
        cert.public().to_string()
    );
    assert_eq!(shown["sighting"]["count"], 12);
    assert_eq!(shown["sighting"]["where"], "retail proxy");
    for body in [
        r#"{"kind": "false-positive", "indicator": "domain:cdn-update.example"}"#,
        r#"{"kind": "expired", "comment": "the campaign ended"}"#,
    ] {
        let (status, text) = post(&api, &path, &publisher, json, body).await;
        assert_eq!(status, 201, "{body}: {text}");
    }
    for (body, token, wanted, code) in [
        (r#"{"kind": "seen"}"#, api.read.as_str(), 403, "forbidden"),
        (
            r#"{"kind": "seen", "tlp": "green"}"#,
            publisher.as_str(),
            422,
            "sighting_too_wide",
        ),
        (
            r#"{"kind": "seen", "indicator": "ipv4:198.51.100.1"}"#,
            publisher.as_str(),
            422,
            "no indicator",
        ),
        (r#"{"kind": "spotted"}"#, publisher.as_str(), 422, "kind"),
        (
            r#"{"kind": "seen", "count": 0}"#,
            publisher.as_str(),
            422,
            "sighting.count",
        ),
    ] {
        let (status, text) = post(&api, &path, token, json, body).await;
        assert_eq!(status, wanted, "{body}: {text}");
        assert!(text.contains(code), "{body}: {text}");
    }
    let (status, _) = post(
        &api,
        "/api/v1/reports/ffffffffffff/sightings",
        &publisher,
        json,
        r#"{"kind": "seen"}"#,
    )
    .await;
    assert_eq!(status, 404);

    let (status, _, body) = get(&api, &path, Some(&api.read), "", usize::MAX).await;
    assert_eq!(status, 200, "{body}");
    let listed: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(listed["report"], id);
    assert_eq!(listed["sightings"].as_array().unwrap().len(), 3, "{listed}");
    let tallies = listed["by_indicator"].as_array().unwrap();
    assert_eq!(tallies.len(), 3, "{listed}");
    assert_eq!(tallies[0]["indicator"], "ipv4:203.0.113.9");
    assert_eq!(tallies[0]["seen"], 12);
    assert_eq!(tallies[0]["organisations"], 1);
    assert_eq!(tallies[1]["indicator"], "domain:cdn-update.example");
    assert_eq!(tallies[1]["false_positive"], 1);
    assert_eq!(tallies[2]["indicator"], serde_json::Value::Null);
    assert_eq!(tallies[2]["expired"], 1);
    // Over TAXII each is a STIX sighting of what the report exports: the address's indicator
    // for the one that names it, the report for the one about all of it.
    let objects = taxii_get(
        &api,
        &format!("{}?match[type]=sighting,indicator,report", objects_path()),
    )
    .await;
    let objects = objects["objects"].as_array().unwrap();
    let sightings: Vec<&serde_json::Value> =
        objects.iter().filter(|o| o["type"] == "sighting").collect();
    assert_eq!(sightings.len(), 3, "{objects:?}");
    let address = objects
        .iter()
        .find(|o| {
            o["type"] == "indicator" && o["pattern"].as_str().unwrap().contains("203.0.113.9")
        })
        .unwrap();
    let of_address = sightings
        .iter()
        .find(|s| s["x_cairn_sighting"]["kind"] == "seen")
        .unwrap();
    assert_eq!(of_address["sighting_of_ref"], address["id"]);
    assert_eq!(of_address["count"], 12);
    let negative = sightings
        .iter()
        .find(|s| s["x_cairn_sighting"]["kind"] == "false-positive")
        .unwrap();
    assert_eq!(negative["x_opencti_negative"], true);
    let whole = sightings
        .iter()
        .find(|s| s["x_cairn_sighting"]["kind"] == "expired")
        .unwrap();
    assert_eq!(
        whole["sighting_of_ref"],
        json_id(objects, "report"),
        "about the whole report"
    );
    // The report's author is served nothing wider: the sharing rules say who gets each.
    let sighting_id = listed["sightings"][0]["id"].as_str().unwrap().to_string();
    let stored = api
        .node
        .store()
        .get(&sighting_id.parse().unwrap())
        .unwrap()
        .unwrap();
    assert!(
        api.node.explain_sharing(stored).await.unwrap().is_empty(),
        "no partners here"
    );
    api.shutdown.cancel();
    api.node.stopped().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_a_reports_sightings_and_takes_a_new_one() {
    let api = start().await;
    let publisher = publish_token(&api, "console analyst");
    let mut rng = rand::rngs::StdRng::seed_from_u64(62);
    let cert = OrgKey::generate(&mut rng);
    let mut draft = sample::indicator_report(&mut rng, 62);
    draft.tlp = Some(Tlp::Green);
    draft.scope = None;
    draft.hop_limit = None;
    let report = draft.sign(&cert, &mut rng).unwrap();
    api.node.publish(vec![report.clone()]).await.unwrap();
    let indicator = &report.report().indicators[0];
    let path = format!("/api/v1/reports/{}/sightings", report.id());
    let body = format!(
        r#"{{"kind": "seen", "indicator": "{}:{}", "count": 7, "where": "branch offices"}}"#,
        indicator.kind, indicator.value
    );
    let (status, text) = post(&api, &path, &publisher, "application/json", &body).await;
    assert_eq!(status, 201, "{text}");
    let session = console_sign_in(&api, &publisher).await;
    let cookie = format!("Cookie: cairn_session={session}\r\n");
    let page_path = format!("/ui/reports/{}", report.id());
    let (status, _, page) = exchange(&api, "GET", &page_path, &cookie, "").await;
    assert_eq!(status, 200);
    assert!(page.contains("Sightings and feedback"), "{page}");
    assert!(page.contains("branch offices"), "{page}");
    assert!(page.contains("class=\"sighting\""), "{page}");
    // Each indicator's score and state: the one seen by another organisation scores its
    // report's confidence and ten more.
    let lifted = format!(
        "<span class=\"state-active\">{} (active)</span>",
        (report.report().confidence + 10).min(100)
    );
    assert!(page.contains(&lifted), "{lifted}: {page}");
    // The form: a confirmation of the whole report, stricter than the report.
    let csrf = form_field(&page, "csrf");
    let form_headers = format!("{cookie}Content-Type: application/x-www-form-urlencoded\r\n");
    let sightings_path = format!("{page_path}/sightings");
    let (status, head, _) = exchange(
        &api,
        "POST",
        &sightings_path,
        &form_headers,
        &format!("csrf={csrf}&kind=confirmed&indicator=&tlp=amber&comment=our+sandbox"),
    )
    .await;
    assert_eq!(status, 303, "{head}");
    let held = api.node.store().sightings_of(&report.id()).unwrap();
    assert_eq!(held.len(), 2);
    let confirmed = held[1].report.report();
    assert_eq!(confirmed.tlp, Tlp::Amber);
    assert_eq!(confirmed.summary, "our sandbox");
    // A wider marking, or a forged form, changes nothing.
    let (status, _, body) = exchange(
        &api,
        "POST",
        &sightings_path,
        &form_headers,
        &format!("csrf={csrf}&kind=seen&tlp=clear"),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("further than the report"), "{body}");
    let (status, _, _) = exchange(
        &api,
        "POST",
        &sightings_path,
        &form_headers,
        "csrf=forged&kind=seen",
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        api.node.store().sightings_of(&report.id()).unwrap().len(),
        2
    );
    // A sighting's own page says what it concerns.
    let first = &api.node.store().sightings_of(&report.id()).unwrap()[0];
    let (status, _, page) = exchange(
        &api,
        "GET",
        &format!("/ui/reports/{}", first.report.id()),
        &cookie,
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("href=\"/ui/reports/{}\"", report.id())),
        "{page}"
    );
    assert!(
        page.contains("Times seen") && page.contains("branch offices"),
        "{page}"
    );
    api.shutdown.cancel();
    api.node.stopped().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indicators_carry_validity_and_scores_and_exports_keep_what_is_still_valid() {
    let api = start().await;
    let publisher = publish_token(&api, "analyst");
    let json = "application/json";
    let day = time::Duration::days(1);
    let now = time::OffsetDateTime::now_utc();
    let mut rng = rand::rngs::StdRng::seed_from_u64(71);
    let cert = OrgKey::generate(&mut rng);
    let indicator = |kind, value: &str, from: Option<time::OffsetDateTime>, until| {
        let mut d =
            cairn_core::IndicatorDraft::from(cairn_core::Indicator::new(kind, value, "").unwrap());
        d.valid_from = from;
        d.valid_until = until;
        d
    };
    use cairn_core::IndicatorType::{Domain, Ipv4, Sha256};
    let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    // Written today: one address, a domain valid from next week, a hash valid for a month.
    let fresh = cairn_core::ReportDraft {
        kind: Some(cairn_core::ReportKind::Indicator),
        title: "Loader infrastructure".into(),
        tlp: Some(Tlp::Green),
        confidence: Some(60),
        indicators: vec![
            indicator(Ipv4, "203.0.113.9", None, None),
            indicator(Domain, "future.example", Some(now + 7 * day), None),
            indicator(Sha256, hash, None, Some(now + 30 * day)),
        ],
        ..Default::default()
    }
    .sign(&cert, &mut rng)
    .unwrap();
    // Written forty days ago: an address past its thirty days, a domain that expired.
    let old = cairn_core::ReportDraft {
        kind: Some(cairn_core::ReportKind::Indicator),
        title: "Last season's phishing".into(),
        tlp: Some(Tlp::Green),
        confidence: Some(60),
        created: Some(now - 40 * day),
        indicators: vec![
            indicator(Ipv4, "198.51.100.7", None, None),
            indicator(Domain, "gone.example", None, Some(now - 39 * day)),
        ],
        ..Default::default()
    }
    .sign(&cert, &mut rng)
    .unwrap();
    api.node
        .publish(vec![old.clone(), fresh.clone()])
        .await
        .unwrap();

    let values = |body: &str| -> Vec<(String, String, u64)> {
        let v: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
        let mut out: Vec<_> = v["indicators"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["value"].as_str().unwrap().to_string(),
                    i["state"].as_str().unwrap().to_string(),
                    i["score"].as_u64().unwrap(),
                )
            })
            .collect();
        out.sort();
        out
    };
    let read = |path: String| {
        let api = &api;
        async move {
            let (status, _, body) = get(api, &path, Some(&api.read), "", usize::MAX).await;
            assert_eq!(status, 200, "{path}: {body}");
            body
        }
    };
    let all = values(&read("/api/v1/indicators".into()).await);
    let state_of = |v: &str| all.iter().find(|(x, _, _)| x == v).unwrap().1.clone();
    assert_eq!(all.len(), 5, "{all:?}");
    assert_eq!(state_of("203.0.113.9"), "active");
    assert_eq!(state_of("future.example"), "not-yet-valid");
    assert_eq!(state_of(hash), "active");
    assert_eq!(state_of("198.51.100.7"), "decayed");
    assert_eq!(state_of("gone.example"), "expired");
    let valid: Vec<String> = values(&read("/api/v1/indicators?valid=true".into()).await)
        .into_iter()
        .map(|(v, _, _)| v)
        .collect();
    assert_eq!(valid, vec!["203.0.113.9".to_string(), hash.to_string()]);

    // Another organisation saw the old address today: it is active again, and scores more.
    let path = format!("/api/v1/reports/{}/sightings", old.id());
    let seen = format!(
        r#"{{"kind": "seen", "indicator": "198.51.100.7", "count": 3, "last_seen": "{}"}}"#,
        cairn_core::when::rfc3339(cairn_core::when::now_ms() - 60_000)
    );
    let (status, body) = post(&api, &path, &publisher, json, &seen).await;
    assert_eq!(status, 201, "{body}");
    let lifted = values(&read("/api/v1/indicators?min_score=65".into()).await);
    assert_eq!(
        lifted,
        vec![("198.51.100.7".to_string(), "active".to_string(), 70)]
    );
    let expired = values(&read("/api/v1/indicators?state=expired,not-yet-valid".into()).await);
    assert_eq!(expired.len(), 2, "{expired:?}");
    let text = read("/api/v1/indicators?valid=true&type=ipv4&format=text".into()).await;
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort();
    assert_eq!(lines, vec!["198.51.100.7", "203.0.113.9"]);

    // Page by page, one indicator at a time, every indicator once.
    let mut cursor: Option<String> = None;
    let mut paged = Vec::new();
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/indicators?limit=1&cursor={c}"),
            None => "/api/v1/indicators?limit=1".into(),
        };
        let page: serde_json::Value = serde_json::from_str(read(path).await.trim()).unwrap();
        for i in page["indicators"].as_array().unwrap() {
            paged.push(i["value"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(paged.len() <= 5, "{paged:?}");
    }
    paged.sort();
    let mut every: Vec<String> = all.iter().map(|(v, _, _)| v.clone()).collect();
    every.sort();
    assert_eq!(paged, every);

    // The STIX export of what is still valid: the hash's indicator keeps its window, the
    // expired domain and the one not yet valid are left out.
    let bundle: serde_json::Value = serde_json::from_str(
        read("/api/v1/indicators?valid=true&format=stix".into())
            .await
            .trim(),
    )
    .unwrap();
    let patterns: Vec<&serde_json::Value> = bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == "indicator")
        .collect();
    assert_eq!(patterns.len(), 3, "{bundle}");
    let with_hash = patterns
        .iter()
        .find(|o| o["pattern"].as_str().unwrap().contains(hash))
        .unwrap();
    assert!(with_hash["valid_until"].is_string(), "{with_hash}");
    assert!(!bundle.to_string().contains("gone.example"));
    assert!(!bundle.to_string().contains("future.example"));

    // Reports filter alike: the old report has an active indicator again; only it has an
    // expired one.
    let ids = |body: String| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
        v["reports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let reports_kind = "kind=indicator";
    assert_eq!(
        ids(read(format!("/api/v1/reports?{reports_kind}&valid=true")).await).len(),
        2
    );
    assert_eq!(
        ids(read(format!("/api/v1/reports?{reports_kind}&state=expired")).await),
        vec![old.id().to_string()]
    );

    // Bad filters and bad windows say what is wrong.
    for (path, says) in [
        ("/api/v1/indicators?min_score=101", "min_score"),
        ("/api/v1/indicators?state=stale", "state"),
        ("/api/v1/indicators?valid=true&state=active", "not both"),
        ("/api/v1/indicators?format=xml", "format"),
        ("/api/v1/indicators?type=colour", "type"),
        ("/api/v1/indicators?cursor=12", "cursor"),
        ("/api/v1/reports?min_score=high", "min_score"),
    ] {
        let (status, _, body) = get(&api, path, Some(&api.read), "", usize::MAX).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains(says), "{path}: {body}");
    }
    let backwards = r#"{"kind": "indicator", "tlp": "green", "title": "Backwards",
        "indicators": [{"type": "ipv4", "value": "192.0.2.1",
        "valid_from": "2026-12-10T00:00:00Z", "valid_until": "2026-12-01T00:00:00Z"}]}"#;
    let (status, body) = post(&api, "/api/v1/reports", &publisher, json, backwards).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("indicators[0].valid_until"), "{body}");
    let windowed = r#"{"kind": "indicator", "tlp": "green", "title": "Windowed",
        "indicators": [{"type": "ipv4", "value": "192.0.2.1",
        "valid_from": "2026-12-01T00:00:00Z", "valid_until": "2027-12-10T00:00:00Z"}]}"#;
    let (status, body) = post(&api, "/api/v1/reports", &publisher, json, windowed).await;
    assert_eq!(status, 201, "{body}");
    let published: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(
        published["indicators"][0]["valid_until"],
        "2027-12-10T00:00:00Z"
    );
    api.shutdown.cancel();
    api.node.stopped().await;
}

/// The id of the only object of `kind` among `objects`.
fn json_id(objects: &[serde_json::Value], kind: &str) -> serde_json::Value {
    let found: Vec<&serde_json::Value> = objects.iter().filter(|o| o["type"] == kind).collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found[0]["id"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psi_queries_name_what_is_wrong_before_asking_anyone() {
    let api = start().await;
    let publisher = publish_token(&api, "analyst");
    let json = "application/json";
    for (token, body, wanted, says) in [
        (
            api.read.as_str(),
            r#"{"partner": "cert", "values": ["203.0.113.7"]}"#,
            403,
            "forbidden",
        ),
        (
            publisher.as_str(),
            r#"{"partner": "cert", "values": ["203.0.113.7"]}"#,
            404,
            "not a partner",
        ),
        (
            publisher.as_str(),
            r#"{"partner": "cert", "values": ["not a value at all"]}"#,
            422,
            "values[0]",
        ),
        (publisher.as_str(), r#"{"partner": "cert"}"#, 422, "values"),
    ] {
        let (status, text) = post(&api, "/api/v1/psi", token, json, body).await;
        assert_eq!(status, wanted, "{body}: {text}");
        assert!(text.contains(says), "{body}: {text}");
    }
    api.shutdown.cancel();
    api.node.stopped().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_lists_only_reports_with_a_still_valid_indicator_when_asked() {
    let api = start().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(72);
    let cert = OrgKey::generate(&mut rng);
    let now = time::OffsetDateTime::now_utc();
    for (title, created) in [
        ("Fresh loader", now),
        ("Stale loader", now - time::Duration::days(60)),
    ] {
        let report = cairn_core::ReportDraft {
            kind: Some(cairn_core::ReportKind::Indicator),
            title: title.into(),
            tlp: Some(Tlp::Green),
            created: Some(created),
            indicators: vec![cairn_core::IndicatorDraft::from(
                cairn_core::Indicator::new(cairn_core::IndicatorType::Ipv4, "198.51.100.20", "")
                    .unwrap(),
            )],
            ..Default::default()
        }
        .sign(&cert, &mut rng)
        .unwrap();
        api.node.publish(vec![report]).await.unwrap();
    }
    let session = console_sign_in(&api, &api.read).await;
    let cookie = format!("Cookie: cairn_session={session}\r\n");
    let (status, _, all) = exchange(&api, "GET", "/ui/reports", &cookie, "").await;
    assert_eq!(status, 200);
    assert!(
        all.contains("Fresh loader") && all.contains("Stale loader"),
        "{all}"
    );
    let (status, _, valid) = exchange(&api, "GET", "/ui/reports?valid=on", &cookie, "").await;
    assert_eq!(status, 200);
    assert!(valid.contains("Fresh loader"), "{valid}");
    assert!(!valid.contains("Stale loader"), "{valid}");
    assert!(valid.contains("name=\"valid\" checked"), "{valid}");
    api.shutdown.cancel();
    api.node.stopped().await;
}
