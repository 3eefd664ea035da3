//! Federation benchmark with real nodes on 127.0.0.1: propagation latency from publish to
//! durable arrival over 1 and 3 hops (p50, p99; one report every 20 ms, then back to back),
//! catch-up throughput for reports missed while offline, and bytes on the wire per report
//! against the report's own size. It also measures, in the same run, the single-core
//! batch-verify rate the catch-up target is set against.
//!
//! Run: `cargo bench -p cairn-tests --bench federation` (options: `--samples N` latency
//! samples per path, default 300, 0 to skip; `--catch-up N` reports, default 100000;
//! `--runs N` catch-up runs, default 3; `--page N` reports per pull, default 512).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cairn_core::{OrgKey, Tlp, VerifiedReport, sample, verify_batch};
use cairn_store::{Provenance, Store, StoreConfig};
use cairn_tests::federation::{Federation, up_to};
use rand::SeedableRng;
use rand::rngs::StdRng;

struct Options {
    /// 0 skips the latency measurements.
    samples: usize,
    catch_up: usize,
    runs: usize,
    page: u32,
}

fn options() -> Options {
    let mut o = Options {
        samples: 300,
        catch_up: 100_000,
        runs: 3,
        page: 512,
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let value = || args.get(i + 1).and_then(|v| v.parse().ok());
        match args[i].as_str() {
            "--samples" => o.samples = value().expect("--samples N"),
            "--catch-up" => o.catch_up = value().expect("--catch-up N"),
            "--runs" => o.runs = value().expect("--runs N"),
            "--page" => o.page = value().expect("--page N") as u32,
            _ => {} // cargo bench passes --bench
        }
        i += 1;
    }
    o
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn sign_many(org: &OrgKey, seed: u64, n: usize) -> Vec<VerifiedReport> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|k| {
            let mut d = sample::indicator_report(&mut rng, seed * 1_000_000 + k as u64);
            d.tlp = Some(Tlp::Green);
            d.hop_limit = Some(4);
            d.sign(org, &mut rng).expect("valid")
        })
        .collect()
}

/// Reports per second that one core verifies in batches of 512.
fn single_core_batch_verify_rate() -> f64 {
    let org = OrgKey::generate(&mut StdRng::seed_from_u64(1));
    let envelopes: Vec<Vec<u8>> = sign_many(&org, 1, 20_000)
        .iter()
        .map(|r| r.envelope_bytes().to_vec())
        .collect();
    let start = Instant::now();
    for chunk in envelopes.chunks(512) {
        for r in verify_batch(chunk) {
            r.expect("valid");
        }
    }
    envelopes.len() as f64 / start.elapsed().as_secs_f64()
}

/// Publishes one report at a time at member 0, each at least `gap` after the one before, and
/// measures until member `last` holds it.
async fn latency(
    fed: &mut Federation,
    last: usize,
    samples: usize,
    gap: Duration,
    seed: u64,
) -> Vec<Duration> {
    let reports = {
        let m = &fed.members[0];
        sign_many(&m.org, seed, samples + 20)
    };
    let mut out = Vec::with_capacity(samples);
    for (k, report) in reports.into_iter().enumerate() {
        let id = report.id();
        let start = Instant::now();
        fed.publish(0, vec![report]).await;
        loop {
            if fed.holds(last, &id) {
                break;
            }
            tokio::time::sleep(Duration::from_micros(100)).await;
            assert!(start.elapsed() < Duration::from_secs(30), "report lost");
        }
        // The first reports warm connections and caches up.
        if k >= 20 {
            out.push(start.elapsed());
        }
        tokio::time::sleep_until((start + gap).into()).await;
    }
    out.sort();
    out
}

/// A TCP relay on 127.0.0.1 that counts the bytes going each way.
async fn counting_proxy(target: std::net::SocketAddr) -> (u16, Arc<AtomicU64>, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind proxy");
    let port = listener.local_addr().expect("proxy address").port();
    let up = Arc::new(AtomicU64::new(0));
    let down = Arc::new(AtomicU64::new(0));
    let (u, d) = (up.clone(), down.clone());
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let (u, d) = (u.clone(), d.clone());
            tokio::spawn(async move {
                let Ok(outbound) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                let (mut ri, mut wi) = inbound.into_split();
                let (mut ro, mut wo) = outbound.into_split();
                let a = tokio::spawn(async move { copy_counting(&mut ri, &mut wo, &u).await });
                let b = tokio::spawn(async move { copy_counting(&mut ro, &mut wi, &d).await });
                let _ = tokio::join!(a, b);
            });
        }
    });
    (port, up, down)
}

async fn copy_counting(
    from: &mut (impl tokio::io::AsyncRead + Unpin),
    to: &mut (impl tokio::io::AsyncWrite + Unpin),
    count: &AtomicU64,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                count.fetch_add(n as u64, Ordering::Relaxed);
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}

fn main() {
    let o = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!("single-core batch-verify rate");
    let verify_rate = single_core_batch_verify_rate();
    println!("  {verify_rate:.0} reports/s (batches of 512, one core)");

    runtime.block_on(async {
        // Latency over 1 hop and over 3 hops (a line of four organisations).
        let mut fed = Federation::new(&["a", "b", "c", "d"], 42);
        fed.trust(0, 1, up_to(Tlp::Green), up_to(Tlp::Green));
        fed.trust(1, 2, up_to(Tlp::Green), up_to(Tlp::Green));
        fed.trust(2, 3, up_to(Tlp::Green), up_to(Tlp::Green));
        if o.samples > 0 {
        fed.start_all().await;
        fed.wait_connected(Duration::from_secs(30)).await;
        println!("propagation latency, publish to durable arrival ({} samples each)", o.samples);
        // One report every 20 ms (50 a second), then back to back: past 100 notifications a
        // second to one partner node, a node gathers news into one notification every 10 ms.
        let paces = [
            (Duration::from_millis(20), "one every 20 ms"),
            (Duration::ZERO, "back to back"),
        ];
        for (seed, (gap, pace)) in (7u64..).zip(paces) {
            for (hops, last) in [(1, 1), (3, 3)] {
                let lat = latency(&mut fed, last, o.samples, gap, seed * 10 + last as u64).await;
                let p50 = percentile(&lat, 0.50);
                let p99 = percentile(&lat, 0.99);
                println!(
                    "  {pace}, {hops} hop(s): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; p99 per hop {:.2} ms (target < 20)",
                    ms(p50),
                    ms(p99),
                    ms(lat[lat.len() - 1]),
                    ms(p99) / hops as f64
                );
            }
        }
        for i in 0..4 {
            fed.stop(i).await;
        }
        }

        // Catch-up: banks that were offline while the CERT stored `catch_up` reports connect
        // one after the other, each with an empty store, through a byte-counting relay.
        let runs = o.runs.max(1);
        let mut names = vec!["cert".to_string()];
        names.extend((1..=runs).map(|r| format!("bank-{r}")));
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut fed = Federation::new(&name_refs, 43);
        fed.page_size = o.page;
        for r in 1..=runs {
            fed.trust(0, r, up_to(Tlp::Green), up_to(Tlp::Green));
        }
        let n = o.catch_up;
        let report_bytes = {
            let store = Store::open(&fed.store_path(0), &StoreConfig::default()).expect("store");
            let mut bytes = 0u64;
            let mut done = 0;
            while done < n {
                let batch = 10_000.min(n - done);
                let reports = sign_many(&fed.members[0].org, 100 + done as u64, batch);
                bytes += reports
                    .iter()
                    .map(|r| r.envelope_bytes().len() as u64)
                    .sum::<u64>();
                store.insert(reports, Provenance::Local).expect("insert");
                done += batch;
            }
            while store.index_pending(100_000).expect("index") > 0 {}
            bytes
        };
        fed.start(0).await;
        let cert_address = fed.address(0).expect("address").to_string();
        let port: u16 = cert_address
            .rsplit('/')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        let (proxy_port, up, down) =
            counting_proxy(std::net::SocketAddr::from(([127, 0, 0, 1], port))).await;
        fed.set_address(0, &format!("/ip4/127.0.0.1/tcp/{proxy_port}"));
        println!(
            "catch-up of {n} missed reports (pages of {}), {runs} run(s), each against the batch-verify rate measured just before it",
            o.page
        );
        let mut ratios = Vec::new();
        for r in 1..=runs {
            let verify_now = single_core_batch_verify_rate();
            up.store(0, Ordering::Relaxed);
            down.store(0, Ordering::Relaxed);
            let start = Instant::now();
            fed.start(r).await;
            loop {
                if fed.node(r).store().last_seq().expect("count") as usize >= n {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
                assert!(start.elapsed() < Duration::from_secs(1800), "catch-up stalled");
            }
            let took = start.elapsed();
            let rate = n as f64 / took.as_secs_f64();
            let ratio = rate / verify_now;
            ratios.push(ratio);
            let wire = up.load(Ordering::Relaxed) + down.load(Ordering::Relaxed);
            println!(
                "  run {r}: {:.1} s, {rate:.0} reports/s; batch-verify {verify_now:.0}/s; ratio {ratio:.2}; wire {wire} bytes for {report_bytes} of reports ({:.2}% overhead)",
                took.as_secs_f64(),
                (wire as f64 - report_bytes as f64) * 100.0 / report_bytes as f64
            );
            fed.stop(r).await;
        }
        ratios.sort_by(|a, b| a.total_cmp(b));
        println!(
            "  median ratio {:.2} x the single-core batch-verify rate (target >= 0.5); report size {:.0} bytes on average; wire overhead target < 10%",
            ratios[ratios.len() / 2],
            report_bytes as f64 / n as f64
        );
        fed.stop(0).await;
    });
}
