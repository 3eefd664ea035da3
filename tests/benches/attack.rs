//! A MITRE ATT&CK-sized STIX source through a running node: `cairn import` of the whole
//! bundle (read, mapped into carried reports, signed, stored) against `serde_json` parsing the
//! same file, then the whole TAXII collection paged back (every object compared with its
//! source, by id and version) against copying the same object bytes out of the store.
//!
//! `cargo bench -p cairn-tests --bench attack -- [--bundle PATH] [--objects N]`
//!
//! Without `--bundle`, the source is ATT&CK Mobile 17.1 from ../shared/interop/real (2,148
//! objects, 3.8 MiB) copied with fresh ids until it holds `--objects` objects (25,000: the size
//! of ATT&CK Enterprise), each copy's references pointing inside it. With `--bundle`, any
//! bundle (`enterprise-attack.json` as MITRE publishes it) is used as is.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cairn_tests::bench::{build_release_cairn, peak_memory_mib};
use cairn_tests::processes::CliNode;
use serde_json::Value;
use sha2::{Digest, Sha256};

const ALL: &str = "365fed99-08fa-4dcd-a1b3-fb247eb41d01";

struct Options {
    bundle: Option<PathBuf>,
    objects: usize,
}

fn options() -> Options {
    let mut o = Options {
        bundle: None,
        objects: 25_000,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--bundle" => o.bundle = Some(PathBuf::from(value)),
            "--objects" => {
                o.objects = value
                    .parse()
                    .unwrap_or_else(|_| panic!("--objects needs a number, not {value:?}"))
            }
            "--bench" => {
                i += 1;
                continue;
            }
            other => panic!("unknown option {other} (--bundle PATH, --objects N)"),
        }
        i += 2;
    }
    o
}

/// A UUID-shaped text from a digest, so that copies are the same on every run.
fn uuid_from(seed: &str) -> String {
    let d = Sha256::digest(seed.as_bytes());
    let h = hex_of(&d[..16]);
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// ATT&CK Mobile copied with fresh ids (every `type--uuid` in a copy renamed alike, so its
/// references stay inside it) until the bundle holds `objects` objects.
fn stand_in(objects: usize, out: &Path) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/interop/real/stix/mitre-attack-mobile-attack-17.1.json");
    let text = std::fs::read_to_string(&source).expect("ATT&CK Mobile in ../shared/interop");
    let bundle: Value = serde_json::from_str(&text).expect("a bundle");
    let originals = bundle["objects"].as_array().expect("objects").clone();
    let ids: Vec<String> = originals
        .iter()
        .filter_map(|o| o["id"].as_str().map(str::to_string))
        .filter(|id| !id.starts_with("marking-definition--"))
        .collect();
    let mut all: Vec<String> = Vec::with_capacity(objects);
    let mut copy = 0;
    'copies: loop {
        for o in &originals {
            if all.len() == objects {
                break 'copies;
            }
            let mut json = serde_json::to_string(o).expect("JSON");
            if copy > 0 {
                if o["type"] == "marking-definition" {
                    continue;
                }
                for id in &ids {
                    if json.contains(id.as_str()) {
                        let (kind, uuid) = id.split_once("--").expect("an id");
                        json = json.replace(
                            id.as_str(),
                            &format!("{kind}--{}", uuid_from(&format!("{copy}/{uuid}"))),
                        );
                    }
                }
            }
            all.push(json);
        }
        copy += 1;
    }
    let text = format!(
        "{{\"type\":\"bundle\",\"id\":\"bundle--{}\",\"objects\":[{}]}}",
        uuid_from("attack-stand-in"),
        all.join(",")
    );
    std::fs::write(out, text).expect("write the stand-in");
}

/// An object's identity in a collection: id and version.
fn key_of(o: &Value) -> (String, String) {
    (
        o["id"].as_str().unwrap_or_default().to_string(),
        o["modified"]
            .as_str()
            .or(o["created"].as_str())
            .unwrap_or_default()
            .to_string(),
    )
}

/// One GET on a keep-alive connection; the body of a 200 answer.
fn http_get(
    writer: &mut std::net::TcpStream,
    reader: &mut std::io::BufReader<std::net::TcpStream>,
    path: &str,
    token: &str,
) -> Vec<u8> {
    use std::io::{BufRead, Read, Write};
    write!(
        writer,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nAccept: application/taxii+json;version=2.1\r\n\r\n"
    )
    .expect("send a request");
    let mut status = String::new();
    reader.read_line(&mut status).expect("status line");
    assert!(status.starts_with("HTTP/1.1 200"), "{path}: {status}");
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().expect("a length");
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).expect("body");
    body
}

fn main() {
    let o = options();
    build_release_cairn();
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = match &o.bundle {
        Some(p) => p.clone(),
        None => {
            let p = dir.path().join("attack-stand-in.json");
            stand_in(o.objects, &p);
            p
        }
    };
    let bytes = std::fs::read(&path).expect("read the bundle");
    let mib = bytes.len() as f64 / (1024.0 * 1024.0);
    // serde_json parsing the file into a Value, best of three.
    let mut parse = Duration::MAX;
    let mut count = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let v: Value = serde_json::from_slice(&bytes).expect("JSON");
        parse = parse.min(t.elapsed());
        count = v["objects"].as_array().map_or(0, Vec::len);
    }
    println!("source: {} ({count} objects, {mib:.1} MiB)", path.display());
    println!(
        "serde_json parse (best of 3): {:.0} ms, {:.0} objects/s, {:.1} MiB/s",
        parse.as_secs_f64() * 1e3,
        count as f64 / parse.as_secs_f64(),
        mib / parse.as_secs_f64()
    );

    // Reading and mapping into carried reports, every object accounted for (what `cairn
    // import` does before signing), best of three.
    let text = std::str::from_utf8(&bytes).expect("UTF-8");
    let us = cairn_core::OrgKey::generate(&mut rand::rngs::OsRng).public();
    let mut mapping = Duration::MAX;
    let mut carried_reports = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let imported = cairn_interop::import::import(text, &us, &Default::default())
            .expect("the bundle imports");
        mapping = mapping.min(t.elapsed());
        carried_reports = imported.reports.len();
    }
    println!(
        "import, reading and mapping (best of 3): {:.0} ms, {:.0} objects/s, {:.1} MiB/s, {carried_reports} reports",
        mapping.as_secs_f64() * 1e3,
        count as f64 / mapping.as_secs_f64(),
        mib / mapping.as_secs_f64()
    );
    println!(
        "import (reading and mapping) / parse: {:.2} (target >= 0.25)",
        parse.as_secs_f64() / mapping.as_secs_f64()
    );

    // `cairn import` through a running node.
    let mut node = CliNode::init(dir.path(), "cert");
    let token = node
        .ok(&["token", "create", "--role", "read", "--name", "bench"])
        .trim()
        .to_string();
    node.start();
    let node_pid = node.pid().expect("running");
    let t = Instant::now();
    let mut child = node
        .command(&["import", "--json", path.to_str().expect("UTF-8 path")])
        .stdout(Stdio::piped())
        .spawn()
        .expect("cairn import");
    let import_pid = child.id();
    // Read the summary as it comes: a full pipe would stop the import.
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut text).expect("import output");
        text
    });
    let mut import_peak = 0.0f64;
    while child.try_wait().expect("wait").is_none() {
        let now = peak_memory_mib(import_pid);
        if now.is_finite() {
            import_peak = import_peak.max(now);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let import = t.elapsed();
    let status = child.wait().expect("import status");
    let out = reader.join().expect("reader");
    assert!(status.success(), "cairn import failed");
    let summary: Value = serde_json::from_slice(&out).expect("--json summary");
    assert_eq!(summary["refused"], 0, "{}", summary["notes"]);
    let reports = summary["reports_stored"].as_u64().unwrap_or(0);
    println!(
        "cairn import through the node: {:.0} ms, {:.0} objects/s, {:.1} MiB/s, {reports} reports, import peak {import_peak:.0} MiB",
        import.as_secs_f64() * 1e3,
        count as f64 / import.as_secs_f64(),
        mib / import.as_secs_f64(),
    );
    println!(
        "cairn import through the node / parse: {:.2}",
        parse.as_secs_f64() / import.as_secs_f64()
    );

    // The collection paged back over one keep-alive connection, read as it arrives (a plain
    // HTTP/1.1 client: what is timed is the server, not a client library); every source object
    // compared.
    let stream = std::net::TcpStream::connect(("127.0.0.1", node.api_port)).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = std::io::BufReader::with_capacity(1 << 20, stream);
    let base = format!("/taxii2/api/collections/{ALL}/objects/?match%5Bversion%5D=all&limit=1000");
    // The node indexes what was stored once writes pause; a first request waits for that.
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    http_get(
        &mut writer,
        &mut reader,
        &format!("/taxii2/api/collections/{ALL}/objects/?limit=1"),
        &token,
    );
    println!(
        "first TAXII request after the import: {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let mut served: Vec<Value> = Vec::with_capacity(count);
    let mut waiting = Duration::ZERO;
    let mut served_bytes = 0usize;
    let mut next: Option<String> = None;
    let start = Instant::now();
    loop {
        let path = match &next {
            Some(n) => format!("{base}&next={n}"),
            None => base.clone(),
        };
        let t = Instant::now();
        let body = http_get(&mut writer, &mut reader, &path, &token);
        waiting += t.elapsed();
        served_bytes += body.len();
        let page: Value = serde_json::from_slice(&body).expect("page JSON");
        served.extend(page["objects"].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(n) if page["more"] == true => next = Some(n.to_string()),
            _ => break,
        }
    }
    let wall = start.elapsed();
    let source: Value = serde_json::from_slice(&bytes).expect("JSON");
    let by_key: HashMap<(String, String), &Value> = served.iter().map(|v| (key_of(v), v)).collect();
    let mut identical = 0;
    for object in source["objects"].as_array().expect("objects") {
        if by_key.get(&key_of(object)) == Some(&object) {
            identical += 1;
        }
    }
    println!(
        "TAXII paging: {} objects, {:.1} MiB in {:.0} ms waiting ({:.0} ms wall): {:.0} objects/s, {:.1} MiB/s; {identical} of {count} source objects served identical",
        served.len(),
        served_bytes as f64 / 1048576.0,
        waiting.as_secs_f64() * 1e3,
        wall.as_secs_f64() * 1e3,
        served.len() as f64 / waiting.as_secs_f64(),
        served_bytes as f64 / 1048576.0 / waiting.as_secs_f64(),
    );
    assert_eq!(identical, count, "every source object comes back as sent");
    println!("node peak memory: {:.0} MiB", peak_memory_mib(node_pid));
    assert!(node.signal("TERM"));

    // The same object bytes copied out of the stopped node's store (each report's carried
    // objects read as stored, nothing else decoded), best of three.
    let store = cairn_store::Store::open(
        &node.home.join("store"),
        &cairn_store::StoreConfig::default(),
    )
    .expect("open the node's store");
    let mut copy = Duration::MAX;
    let mut copied = 0usize;
    for _ in 0..3 {
        let t = Instant::now();
        let mut out: Vec<u8> = Vec::with_capacity(served_bytes);
        for seq in 1..=store.last_seq().expect("last arrival") {
            for object in store
                .stix_objects_at(seq)
                .expect("read")
                .unwrap_or_default()
            {
                out.extend_from_slice(object.as_bytes());
                out.push(b',');
            }
        }
        copy = copy.min(t.elapsed());
        copied = std::hint::black_box(out).len();
    }
    println!(
        "store copy (best of 3): {:.1} MiB in {:.0} ms: {:.1} MiB/s",
        copied as f64 / 1048576.0,
        copy.as_secs_f64() * 1e3,
        copied as f64 / 1048576.0 / copy.as_secs_f64()
    );
    println!(
        "paging / store copy: {:.2} (target >= 0.5)",
        (served_bytes as f64 / waiting.as_secs_f64()) / (copied as f64 / copy.as_secs_f64())
    );
    let _ = Command::new("sync").status();
}
