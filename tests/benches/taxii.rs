//! Cairn's TAXII 2.1 server side by side with medallion, the OASIS reference TAXII 2.1 server
//! (memory backend, started with its own `medallion` command): POST indicators in envelopes,
//! page everything back, then single-object GETs from concurrent clients. Prints objects/s,
//! p50/p99 latency and each server's peak memory, and the rate at which Cairn's own code
//! encodes the same reports to STIX JSON in memory.
//!
//! `cargo bench -p cairn-tests --bench taxii -- [--objects N] [--envelope N] [--gets N]
//! [--clients N] [--medallion PATH] [--post-only]`. medallion is found in `--medallion`, `CAIRN_MEDALLION`
//! or PATH (`python3 -m venv v && v/bin/pip install medallion==3.0.0`); without it only Cairn
//! is measured and the report says so.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cairn_tests::processes::{CliNode, free_port};
use serde_json::{Value, json};

const TAXII: &str = "application/taxii+json;version=2.1";

/// How long a server is left alone after the last request before its peak memory is read.
const SETTLE: Duration = Duration::from_secs(5);

struct Options {
    objects: usize,
    envelope: usize,
    gets: usize,
    clients: usize,
    medallion: Option<PathBuf>,
    /// Leave Cairn out (to look at medallion alone).
    skip_cairn: bool,
    /// Leave medallion out.
    no_medallion: bool,
    /// Measure the POSTs only (no paging, no GETs): a quicker side-by-side run of the figure
    /// that is closest to its target.
    post_only: bool,
}

fn options() -> Options {
    let mut o = Options {
        objects: 10_000,
        envelope: 100,
        gets: 2_000,
        clients: 4,
        medallion: std::env::var_os("CAIRN_MEDALLION").map(PathBuf::from),
        skip_cairn: false,
        no_medallion: false,
        post_only: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        let number = || -> usize {
            value
                .parse()
                .unwrap_or_else(|_| panic!("{} needs a number, not {value:?}", args[i]))
        };
        match args[i].as_str() {
            "--objects" => o.objects = number(),
            "--envelope" => o.envelope = number(),
            "--gets" => o.gets = number(),
            "--clients" => o.clients = number(),
            "--medallion" => o.medallion = Some(PathBuf::from(&value)),
            "--cairn-only" => {
                o.medallion = None;
                o.no_medallion = true;
                i += 1;
                continue;
            }
            "--post-only" => {
                o.post_only = true;
                i += 1;
                continue;
            }
            "--medallion-only" => {
                o.skip_cairn = true;
                i += 1;
                continue;
            }
            // What cargo bench passes to every harness.
            "--bench" => {
                i += 1;
                continue;
            }
            other => panic!("unknown option {other:?}"),
        }
        i += 2;
    }
    if o.medallion.is_none() && !o.no_medallion {
        o.medallion = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("medallion"))
                .find(|p| p.exists())
        });
    }
    o
}

/// The indicators to add: distinct IPv4 addresses, domains and SHA-256 hashes, TLP:GREEN.
fn indicators(n: usize) -> Vec<Value> {
    (0..n).map(cairn_core::sample::stix_indicator).collect()
}

/// A TAXII server under test: where its collection is and how to log in.
#[derive(Clone)]
struct Server {
    name: &'static str,
    collection_url: String,
    authorization: String,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(1800)))
        .build()
        .into()
}

fn basic(user: &str, password: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}");
    let bytes = input.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

/// Latencies of one phase and its wall time.
struct Phase {
    /// Objects sent or received in answers that succeeded.
    objects: usize,
    /// Requests that did not succeed.
    errors: usize,
    wall: Duration,
    latencies: Vec<Duration>,
}

impl Phase {
    /// Objects per second of wall time, the client's own work between requests included.
    fn rate(&self) -> f64 {
        self.objects as f64 / self.wall.as_secs_f64()
    }
    /// Objects per second of time spent waiting for answers: from sending a request to having
    /// read all of its answer.
    fn served_rate(&self) -> f64 {
        let busy: Duration = self.latencies.iter().sum();
        self.objects as f64 / busy.as_secs_f64()
    }
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }
}

fn post_all(server: &Server, objects: &[Value], envelope: usize) -> Phase {
    let agent = agent();
    let mut latencies = Vec::new();
    // The envelopes are written before the clock starts: it times the servers, not this client.
    let bodies: Vec<Vec<u8>> = objects
        .chunks(envelope)
        .map(|chunk| serde_json::to_vec(&json!({ "objects": chunk })).expect("envelope"))
        .collect();
    let start = Instant::now();
    for (chunk, body) in objects.chunks(envelope).zip(&bodies) {
        let t = Instant::now();
        let mut response = agent
            .post(&format!("{}objects/", server.collection_url))
            .header("Accept", TAXII)
            .header("Content-Type", TAXII)
            .header("Authorization", &server.authorization)
            .send(&body[..])
            .unwrap_or_else(|e| panic!("{}: POST failed: {e}", server.name));
        let text = response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .expect("status body");
        latencies.push(t.elapsed());
        assert_eq!(
            response.status().as_u16(),
            202,
            "{}: POST answered {}: {text}",
            server.name,
            response.status()
        );
        let status: Value = serde_json::from_str(&text).expect("status JSON");
        assert_eq!(
            status["success_count"].as_u64(),
            Some(chunk.len() as u64),
            "{}: not every object was added: {text}",
            server.name
        );
    }
    Phase {
        objects: objects.len(),
        wall: start.elapsed(),
        latencies,
        errors: 0,
    }
}

/// One TAXII GET: the status, the body and how long it took.
fn get(agent: &ureq::Agent, server: &Server, url: &str) -> (u16, Vec<u8>, Duration) {
    let t = Instant::now();
    let mut response = agent
        .get(url)
        .header("Accept", TAXII)
        .header("Authorization", &server.authorization)
        .call()
        .unwrap_or_else(|e| panic!("{}: GET {url} failed: {e}", server.name));
    let body = response
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .unwrap_or_else(|e| panic!("{}: reading {url}: {e}", server.name));
    (response.status().as_u16(), body, t.elapsed())
}

/// A TAXII envelope, read for what paging needs.
#[derive(serde::Deserialize)]
struct Page {
    #[serde(default)]
    more: bool,
    next: Option<String>,
    #[serde(default)]
    objects: Vec<ObjectRef>,
}

#[derive(serde::Deserialize)]
struct ObjectRef {
    id: String,
    #[serde(rename = "type")]
    kind: String,
}

/// Pages through the whole collection with `limit`; returns the phase and the indicator ids.
fn page_all(server: &Server, limit: usize) -> (Phase, Vec<String>) {
    let agent = agent();
    let mut latencies = Vec::new();
    let mut ids = Vec::new();
    let mut count = 0;
    let mut next: Option<String> = None;
    let start = Instant::now();
    loop {
        let mut url = format!("{}objects/?limit={limit}", server.collection_url);
        if let Some(n) = &next {
            url.push_str(&format!("&next={n}"));
        }
        let (status, body, latency) = get(&agent, server, &url);
        latencies.push(latency);
        assert_eq!(status, 200, "{}: paging", server.name);
        let page: Page = serde_json::from_slice(&body).expect("page JSON");
        for object in page.objects {
            count += 1;
            if object.kind == "indicator" {
                ids.push(object.id);
            }
        }
        if !page.more {
            break;
        }
        next = page.next;
        assert!(next.is_some(), "{}: more without next", server.name);
    }
    (
        Phase {
            objects: count,
            wall: start.elapsed(),
            latencies,
            errors: 0,
        },
        ids,
    )
}

/// `gets` single-object GETs of ids spread over `ids`, from `clients` concurrent clients.
fn get_many(server: &Server, ids: &[String], gets: usize, clients: usize) -> Phase {
    assert!(!ids.is_empty(), "{}: no indicators to get", server.name);
    let chosen: Vec<String> = (0..gets)
        .map(|k| ids[(k * 7919) % ids.len()].clone())
        .collect();
    let start = Instant::now();
    let (latencies, errors) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let mine: Vec<&String> = chosen.iter().skip(c).step_by(clients).collect();
                scope.spawn(move || {
                    let agent = agent();
                    let mut latencies = Vec::new();
                    let mut errors = Vec::new();
                    for id in mine {
                        let url = format!("{}objects/{id}/", server.collection_url);
                        let (status, body, latency) = get(&agent, server, &url);
                        latencies.push(latency);
                        if status != 200 {
                            errors.push(format!("{status} {id}"));
                            continue;
                        }
                        let envelope: Value = serde_json::from_slice(&body).expect("JSON");
                        assert_eq!(
                            envelope["objects"][0]["id"].as_str(),
                            Some(id.as_str()),
                            "{}: GET {id}",
                            server.name
                        );
                    }
                    (latencies, errors)
                })
            })
            .collect();
        let mut latencies = Vec::new();
        let mut errors = Vec::new();
        for handle in handles {
            let (l, e) = handle.join().expect("client");
            latencies.extend(l);
            errors.extend(e);
        }
        (latencies, errors)
    });
    if !errors.is_empty() {
        eprintln!(
            "{}: {} of {gets} GETs failed, first: {}",
            server.name,
            errors.len(),
            errors[0]
        );
    }
    Phase {
        objects: gets - errors.len(),
        wall: start.elapsed(),
        latencies,
        errors: errors.len(),
    }
}

struct Results {
    post: Phase,
    page: Phase,
    get: Phase,
    peak_mib: f64,
}

fn run(server: &Server, objects: &[Value], o: &Options, pid: u32) -> Results {
    eprintln!("{}: POST {} objects...", server.name, objects.len());
    let post = post_all(server, objects, o.envelope);
    eprintln!(
        "{}: POST took {:.1} s",
        server.name,
        post.wall.as_secs_f64()
    );
    if o.post_only {
        let none = || Phase {
            objects: 0,
            errors: 0,
            wall: Duration::ZERO,
            latencies: Vec::new(),
        };
        return Results {
            post,
            page: none(),
            get: none(),
            peak_mib: cairn_tests::bench::peak_memory_mib(pid),
        };
    }
    eprintln!("{}: paging with limit=100...", server.name);
    let (page, ids) = page_all(server, 100);
    eprintln!(
        "{}: paging took {:.1} s",
        server.name,
        page.wall.as_secs_f64()
    );
    eprintln!(
        "{}: {} GETs from {} clients...",
        server.name, o.gets, o.clients
    );
    let get = get_many(server, &ids, o.gets, o.clients);
    eprintln!("{}: GETs took {:.1} s", server.name, get.wall.as_secs_f64());
    // Work a server defers while it is busy (Cairn's query index) counts too: its peak
    // memory is read once it has had time to catch up.
    std::thread::sleep(SETTLE);
    Results {
        post,
        page,
        get,
        peak_mib: cairn_tests::bench::peak_memory_mib(pid),
    }
}

/// Cairn: a `cairn run` process with a publish token; returns its results and node folder.
fn cairn(objects: &[Value], o: &Options, dir: &Path) -> (Results, PathBuf) {
    let mut node = CliNode::init(dir, "bench");
    let token = node.ok(&["token", "create", "--role", "publish", "--name", "bench"]);
    node.start();
    let server = Server {
        name: "cairn",
        collection_url: format!(
            "http://127.0.0.1:{}/taxii2/api/collections/{}/",
            node.api_port,
            cairn_api::taxii::ALL_COLLECTION
        ),
        authorization: basic("bench", token.trim()),
    };
    let results = run(&server, objects, o, node.pid().expect("running"));
    assert!(node.signal("TERM"), "cairn did not stop cleanly");
    (results, node.home.clone())
}

/// medallion with its memory backend, as its README starts it: `medallion --host --port CONFIG`.
fn medallion(binary: &Path, objects: &[Value], o: &Options, dir: &Path) -> Results {
    let collection = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";
    let data = json!({
        "/discovery": {
            "title": "medallion", "description": "benchmark", "default": "/api1/",
            "api_roots": ["/api1/"]
        },
        "api1": {
            "information": {
                "title": "api1", "description": "benchmark",
                "versions": [TAXII], "max_content_length": 104_857_600
            },
            "status": [],
            "collections": [{
                "id": collection, "title": "benchmark", "description": "benchmark",
                "can_read": true, "can_write": true,
                "media_types": ["application/stix+json;version=2.1"],
                "objects": [], "manifest": []
            }]
        }
    });
    let data_path = dir.join("medallion-data.json");
    std::fs::write(&data_path, data.to_string()).expect("medallion data");
    let config = json!({
        "backend": {
            "module_class": "MemoryBackend",
            "filename": data_path,
            "module": "medallion.backends.memory_backend",
            "session_timeout": 3600
        },
        "users": { "bench": "bench" },
        "taxii": { "max_page_size": 100 }
    });
    let config_path = dir.join("medallion.json");
    std::fs::write(&config_path, config.to_string()).expect("medallion config");
    let port = free_port();
    let mut child: Child = Command::new(binary)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start medallion {}: {e}", binary.display()));
    let server = Server {
        name: "medallion",
        collection_url: format!("http://127.0.0.1:{port}/api1/collections/{collection}/"),
        authorization: basic("bench", "bench"),
    };
    let start = Instant::now();
    let agent = agent();
    while agent
        .get(&format!("http://127.0.0.1:{port}/taxii2/"))
        .header("Accept", TAXII)
        .header("Authorization", &server.authorization)
        .call()
        .is_err()
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "medallion did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let results = run(&server, objects, o, child.id());
    let _ = child.kill();
    let _ = child.wait();
    results
}

/// Objects/s at which Cairn's own code encodes every stored report to STIX JSON in memory.
fn encode_rate(home: &Path) -> (usize, f64) {
    let store = cairn_store::Store::open(&home.join("store"), &cairn_store::StoreConfig::default())
        .expect("open the node's store");
    let reports = store.after(0, usize::MAX).expect("read reports");
    let mut best = 0.0f64;
    let mut count = 0;
    for _ in 0..3 {
        let start = Instant::now();
        count = 0;
        let mut bytes = 0usize;
        for stored in &reports {
            let context = cairn_interop::stix::ExportContext {
                author_name: None,
                first: store.first_version(&stored.report).expect("first version"),
                sighting_of: None,
            };
            for object in cairn_interop::stix::report_objects(&stored.report, &context) {
                bytes += serde_json::to_vec(&object).expect("JSON").len();
                count += 1;
            }
        }
        std::hint::black_box(bytes);
        best = best.max(count as f64 / start.elapsed().as_secs_f64());
    }
    (count, best)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let o = options();
    if !o.skip_cairn {
        cairn_tests::bench::build_release_cairn();
    }
    let objects = indicators(o.objects);
    let dir = tempfile::tempdir().expect("temporary folder");
    if o.skip_cairn {
        let binary = o
            .medallion
            .clone()
            .expect("--medallion-only needs medallion");
        let m = medallion(&binary, &objects, &o, dir.path());
        for (phase, name) in [(&m.post, "POST"), (&m.page, "paging"), (&m.get, "GET")] {
            println!(
                "medallion {name}: {:.1} objects/s, p50 {}, p99 {}",
                phase.rate(),
                ms(phase.percentile(50.0)),
                ms(phase.percentile(99.0))
            );
        }
        println!(
            "medallion peak memory {:.1} MiB, {} GETs failed",
            m.peak_mib, m.get.errors
        );
        return;
    }
    let (cairn, home) = cairn(&objects, &o, dir.path());
    let (encoded, encode) = if o.post_only {
        (0, 0.0)
    } else {
        encode_rate(&home)
    };
    let medallion = match &o.medallion {
        Some(binary) => Some(medallion(binary, &objects, &o, dir.path())),
        None => {
            eprintln!(
                "medallion not found (--medallion PATH, CAIRN_MEDALLION or PATH): Cairn only"
            );
            None
        }
    };
    println!(
        "TAXII 2.1: {} indicators POSTed in envelopes of {}, paged back with limit=100, {} GETs from {} clients",
        o.objects, o.envelope, o.gets, o.clients
    );
    println!(
        "| | Cairn | {} | ratio |",
        if medallion.is_some() {
            "medallion"
        } else {
            "medallion (not run)"
        }
    );
    println!("|---|---|---|---|");
    let row = |what: &str, c: f64, m: Option<f64>, unit: &str, higher_is_better: bool| {
        let (m_text, ratio) = match m {
            Some(m) => {
                let ratio = if higher_is_better { c / m } else { m / c };
                let ratio = if ratio < 10.0 {
                    format!("{ratio:.2}x")
                } else {
                    format!("{ratio:.0}x")
                };
                (format!("{m:.1} {unit}"), ratio)
            }
            None => ("-".to_string(), "-".to_string()),
        };
        println!("| {what} | {c:.1} {unit} | {m_text} | {ratio} |");
    };
    fn phases(r: &Results) -> [(&Phase, &'static str); 3] {
        [(&r.post, "POST"), (&r.page, "paging"), (&r.get, "GET")]
    }
    let shown = if o.post_only { 1 } else { 3 };
    for (k, (phase, name)) in phases(&cairn).into_iter().enumerate().take(shown) {
        let m = medallion.as_ref().map(|m| phases(m)[k].0);
        row(
            &format!("{name} objects/s"),
            phase.rate(),
            m.map(Phase::rate),
            "",
            true,
        );
        for p in [50.0, 99.0] {
            row(
                &format!("{name} p{p:.0}"),
                phase.percentile(p).as_secs_f64() * 1000.0,
                m.map(|m| m.percentile(p).as_secs_f64() * 1000.0),
                "ms",
                false,
            );
        }
    }
    row(
        "peak memory",
        cairn.peak_mib,
        medallion.as_ref().map(|m| m.peak_mib),
        "MiB",
        false,
    );
    if o.post_only {
        return;
    }
    println!(
        "objects served: Cairn {} on paging ({} requests), medallion {}",
        cairn.page.objects,
        cairn.page.latencies.len(),
        medallion
            .as_ref()
            .map_or("-".to_string(), |m| m.page.objects.to_string())
    );
    println!(
        "paging served (objects / time waiting for answers): Cairn {:.0} objects/s{}",
        cairn.page.served_rate(),
        medallion.as_ref().map_or(String::new(), |m| format!(
            ", medallion {:.0} objects/s",
            m.page.served_rate()
        ))
    );
    println!(
        "Cairn encodes its {} STIX objects in memory at {:.0} objects/s (best of 3); paging served {:.0} objects/s = {:.2} of it (target >= 0.25)",
        encoded,
        encode,
        cairn.page.served_rate(),
        cairn.page.served_rate() / encode
    );
    println!(
        "Cairn GET p50 {} p99 {}, paging p50 {} p99 {}",
        ms(cairn.get.percentile(50.0)),
        ms(cairn.get.percentile(99.0)),
        ms(cairn.page.percentile(50.0)),
        ms(cairn.page.percentile(99.0))
    );
}
