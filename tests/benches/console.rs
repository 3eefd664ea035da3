//! The analyst console with a large store: how long the node takes to answer the reports list,
//! an indicator search and a report's page (p50 and p99), with 1,000,000 reports stored.
//!
//! `cargo bench -p cairn-tests --bench console -- [--reports N] [--samples N]
//! [--keep-store DIR]` (1,000,000 reports, 200 requests of each page). The store is filled
//! with signed sample reports of ten indicators each and indexed before the node starts; with
//! `--keep-store DIR` it is kept there and reused by the next run (filling 1,000,000 takes
//! several minutes and about 6 GB). Each request is timed at the client over loopback, from
//! connecting to the last byte, so the figures include the connection and are an upper bound
//! on the node's own render time.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cairn_api::{ApiConfig, Role, Tokens};
use cairn_core::{NodeCertificate, NodeKey, OrgKey, VerifiedReport, sample};
use cairn_store::{Provenance, Store, StoreConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Options {
    reports: u64,
    samples: usize,
    keep_store: Option<PathBuf>,
}

fn options() -> Options {
    let mut o = Options {
        reports: 1_000_000,
        samples: 200,
        keep_store: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--bench" => {
                i += 1;
                continue;
            }
            "--reports" => o.reports = value.parse().expect("--reports takes a number"),
            "--samples" => o.samples = value.parse().expect("--samples takes a number"),
            "--keep-store" => o.keep_store = Some(PathBuf::from(value)),
            other => panic!("unknown option {other} (--reports N, --samples N, --keep-store DIR)"),
        }
        i += 2;
    }
    o
}

/// The organisation whose reports fill the store (the node's own).
fn org() -> OrgKey {
    OrgKey::generate(&mut StdRng::seed_from_u64(1))
}

/// Report `n` of the store, always the same for the same `n`.
fn report(org: &OrgKey, n: u64) -> VerifiedReport {
    let mut rng = StdRng::seed_from_u64(n);
    let mut draft = sample::indicator_report(&mut rng, n);
    draft.scope = None;
    draft.hop_limit = None;
    draft.sign(org, &mut rng).expect("sample drafts are valid")
}

/// Fills `path` up to `wanted` reports (signing on every core) and indexes them.
fn fill(path: &Path, wanted: u64) {
    let store = Store::open(path, &StoreConfig::default()).expect("the store opens");
    let held = store.last_seq().expect("read");
    if held < wanted {
        println!("filling the store from {held} to {wanted} reports…");
        let started = Instant::now();
        let org = org();
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
        let mut next = held;
        while next < wanted {
            let batch = 4096.min(wanted - next);
            let reports: Vec<VerifiedReport> = std::thread::scope(|scope| {
                let workers: Vec<_> = (0..threads)
                    .map(|t| {
                        let org = &org;
                        scope.spawn(move || {
                            (next + t..next + batch)
                                .step_by(threads as usize)
                                .map(|n| (n, report(org, n)))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                let mut all: Vec<(u64, VerifiedReport)> = workers
                    .into_iter()
                    .flat_map(|w| w.join().expect("signing"))
                    .collect();
                all.sort_by_key(|(n, _)| *n);
                all.into_iter().map(|(_, r)| r).collect()
            });
            store.insert(reports, Provenance::Local).expect("stored");
            next += batch;
            if next % 100_000 < batch {
                println!(
                    "  {next} reports ({:.0} s)",
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }
    let started = Instant::now();
    while store.index_pending(8192).expect("indexing") > 0 {}
    println!(
        "store of {} reports ready, indexed in {:.1} s",
        store.last_seq().expect("read"),
        started.elapsed().as_secs_f64()
    );
}

/// One request over a new loopback connection: its status, body and time to the last byte.
async fn timed(address: std::net::SocketAddr, path: &str, cookie: &str) -> (u16, String, Duration) {
    let started = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.expect("read");
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&bytes).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body, elapsed)
}

async fn sign_in(address: std::net::SocketAddr, token: &str) -> String {
    let (_, page, _) = timed(address, "/ui/sign-in", "").await;
    let marker = "name=\"csrf\" value=\"";
    let csrf = page
        .split(marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF token")
        .to_string();
    let body = format!("csrf={csrf}&token={token}");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let request = format!(
        "POST /ui/sign-in HTTP/1.1\r\nHost: localhost\r\nCookie: cairn_sign_in={csrf}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut text = String::new();
    stream.read_to_string(&mut text).await.expect("read");
    let session = text
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: cairn_session="))
        .and_then(|rest| rest.split(';').next())
        .expect("a session cookie");
    format!("cairn_session={session}")
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let at = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[at].as_secs_f64() * 1000.0
}

fn main() {
    let o = options();
    let scratch = tempfile::tempdir().expect("a folder");
    let folder = o
        .keep_store
        .clone()
        .unwrap_or_else(|| scratch.path().to_path_buf());
    let store_path = folder.join("store");
    fill(&store_path, o.reports);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let org = org();
        let node_key = NodeKey::generate(&mut StdRng::seed_from_u64(2));
        let certificate = NodeCertificate::issue(&org, node_key.public_bytes(), "bench", 1);
        let shutdown = tokio_util::sync::CancellationToken::new();
        let node = cairn_node::start(
            cairn_node::NodeSettings {
                organisation: "CERT-Bench".into(),
                node_secret: node_key.secret_bytes(),
                certificate,
                store_path: store_path.clone(),
                store: Default::default(),
                network: cairn_node::NetConfig {
                    listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
                    ..Default::default()
                },
                sync: Default::default(),
                partners: vec![],
                communities: Default::default(),
                inbound: Default::default(),
                organisation_statements: vec![
                    cairn_core::keylog::KeyStatement::implicit_genesis(&org).expect("genesis"),
                ],
            },
            shutdown.clone(),
        )
        .await
        .expect("the node starts");
        let tokens_path = scratch.path().join("tokens.json");
        let token = Tokens::load(&tokens_path)
            .expect("tokens")
            .create("bench", Role::Read, 1)
            .expect("a token");
        let address = cairn_api::serve(&ApiConfig {
                listen: "127.0.0.1:0".into(),
                taxii: false,
                ..ApiConfig::default()
            }, node.clone(), cairn_api::ApiParts::new(tokens_path), shutdown.clone())
        .await
        .expect("the API starts");
        let cookie = sign_in(address, &token).await;

        // A report in the middle of the store (signed again here, it has the same content but
        // not the same creation time, so it is found by its file hash, which only it carries).
        let middle_n = o.reports / 2;
        let indicator = report(&org, middle_n).report().indicators[2].value.clone();
        let search = format!("/ui/reports?indicator={indicator}");
        let (_, found, _) = timed(address, &search, &cookie).await;
        assert!(
            found.contains(&format!("(#{middle_n})")),
            "the search for {indicator} does not find report #{middle_n}"
        );
        let report_page = found
            .split("href=\"/ui/reports/")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(|id| format!("/ui/reports/{id}"))
            .expect("a link to the report");
        let pages = [
            ("reports list, first page", "/ui/reports".to_string(), None),
            (
                "reports list, tenth page",
                String::new(),
                Some("/ui/reports".to_string()),
            ),
            ("search by indicator", search.clone(), None),
            (
                "search by words of the title",
                "/ui/reports?text=phishing+finance".to_string(),
                None,
            ),
            (
                "search inside a /16 range",
                "/ui/reports?inside=198.51.0.0%2F16".to_string(),
                None,
            ),
            (
                "search by sector",
                "/ui/reports?sector=health".to_string(),
                None,
            ),
            (
                "search by region and Paris Call principle",
                "/ui/reports?region=ke&principle=5".to_string(),
                None,
            ),
            (
                "search by TLP and kind",
                "/ui/reports?tlp=green&kind=indicator".to_string(),
                None,
            ),
            (
                "words of the title, sorted by title",
                "/ui/reports?text=phishing+finance&sort=title".to_string(),
                None,
            ),
            (
                "sorted by title, too many to sort (1,001 read, then refused)",
                "/ui/reports?sort=title".to_string(),
                None,
            ),
            ("a report's page", report_page.clone(), None),
            ("overview", "/ui/".to_string(), None),
        ];
        println!(
            "console with {} reports stored, {} requests of each page (loopback, connection included)",
            o.reports, o.samples
        );
        println!("| page | first request | p50 | p99 | max |");
        println!("|---|---|---|---|---|");
        for (name, path, follow) in pages {
            // The tenth page: follow "Older reports" nine times from the first.
            let path = match follow {
                None => path,
                Some(first) => {
                    let mut at = first;
                    for _ in 0..9 {
                        let (_, body, _) = timed(address, &at, &cookie).await;
                        let next = body
                            .split("rel=\"next\" href=\"")
                            .nth(1)
                            .and_then(|rest| rest.split('"').next())
                            .expect("an older page")
                            .replace("&amp;", "&");
                        at = next;
                    }
                    at
                }
            };
            // The first request of a page (the overview counts every arrival once then).
            let (status, body, first) = timed(address, &path, &cookie).await;
            assert_eq!(status, 200, "{path}: {body}");
            let mut times = Vec::with_capacity(o.samples);
            for _ in 0..o.samples {
                let (status, _, took) = timed(address, &path, &cookie).await;
                assert_eq!(status, 200);
                times.push(took);
            }
            times.sort();
            println!(
                "| {name} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
                first.as_secs_f64() * 1000.0,
                percentile(&times, 0.5),
                percentile(&times, 0.99),
                percentile(&times, 1.0)
            );
        }
        shutdown.cancel();
        // Give the node a moment to close its store before the folder goes.
        tokio::time::sleep(Duration::from_millis(500)).await;
    });
}
