//! Signing and verification rates on one core, and durable-ingest rates as a node ingests
//! (signatures checked on every core), with realistic reports (about 1.5 KB, ten indicators),
//! at several store sizes.
//!
//! `cargo bench -p cairn-store --bench ingest` measures at 10,000 stored reports;
//! `cargo bench -p cairn-store --bench ingest -- --stored 10000,1000000` adds a store of a
//! million reports (several minutes and a few GB of disk). By default the query index is kept
//! up to date by the store's background thread while ingesting, as on a running node;
//! `--deferred-index` measures ingest alone and builds the index afterwards. `--keep-store DIR`
//! keeps the filled stores in DIR and reuses them on the next run.

use std::time::{Duration, Instant};

use cairn_core::{OrgKey, VerifiedReport, sample, verify, verify_batch};
use cairn_store::{IngestOutcome, Provenance, Store, StoreConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;

struct Options {
    stored: Vec<u64>,
    ingest: u64,
    batch: usize,
    deferred_index: bool,
    keep_store: Option<std::path::PathBuf>,
    cache_mb: Option<u64>,
}

fn options() -> Options {
    let mut o = Options {
        stored: vec![10_000],
        ingest: 20_000,
        batch: 512,
        deferred_index: false,
        keep_store: None,
        cache_mb: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--stored" => {
                o.stored = value
                    .split(',')
                    .map(|v| {
                        v.trim()
                            .parse()
                            .expect("--stored takes numbers, e.g. 10000,1000000")
                    })
                    .collect();
                i += 1;
            }
            "--ingest" => {
                o.ingest = value.parse().expect("--ingest takes a number");
                i += 1;
            }
            "--batch" => {
                o.batch = value.parse().expect("--batch takes a number");
                i += 1;
            }
            "--deferred-index" => o.deferred_index = true,
            "--cache-mb" => {
                o.cache_mb = Some(value.parse().expect("--cache-mb takes a number"));
                i += 1;
            }
            "--keep-store" => {
                o.keep_store = Some(value.clone().into());
                i += 1;
            }
            _ => {} // cargo bench passes --bench
        }
        i += 1;
    }
    o
}

fn rate(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

fn sign_many(org: &OrgKey, from: u64, count: u64) -> Vec<VerifiedReport> {
    let mut rng = StdRng::seed_from_u64(from);
    (from..from + count)
        .map(|n| {
            sample::indicator_report(&mut rng, n)
                .sign(org, &mut rng)
                .expect("valid sample")
        })
        .collect()
}

/// Waits until the background indexer has written the postings of every stored report.
fn wait_indexed(store: &Store) {
    let last = store.last_seq().expect("read");
    while store.indexed_up_to() < last {
        if !store.background_indexing() {
            store.index_pending(2048).expect("index");
        } else {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn main() {
    let o = options();
    let org = OrgKey::generate(&mut StdRng::seed_from_u64(1));
    println!(
        "Cairn report benchmark: sign and verify on one thread; ingest as a node runs it \
         (signatures checked on every core, batches of {}, index {})",
        o.batch,
        if o.deferred_index {
            "built after ingest"
        } else {
            "kept up to date in the background"
        }
    );

    // Sign.
    let n = 5_000;
    let start = Instant::now();
    let reports = sign_many(&org, 0, n);
    let sign_rate = rate(n, start.elapsed());
    let avg_size = reports
        .iter()
        .map(|r| r.envelope_bytes().len())
        .sum::<usize>()
        / reports.len();
    println!("report size          {avg_size} bytes on average, 10 indicators");
    println!("sign                 {sign_rate:>10.0} reports/s");

    // Verify one at a time.
    let envelopes: Vec<Vec<u8>> = reports
        .iter()
        .map(|r| r.envelope_bytes().to_vec())
        .collect();
    let start = Instant::now();
    for e in &envelopes {
        verify(e).expect("valid");
    }
    let verify_rate = rate(n, start.elapsed());
    println!("verify one           {verify_rate:>10.0} reports/s");

    // Verify in batches.
    let start = Instant::now();
    for chunk in envelopes.chunks(o.batch) {
        for r in verify_batch(chunk) {
            r.expect("valid");
        }
    }
    let batch_rate = rate(n, start.elapsed());
    println!("verify batch         {batch_rate:>10.0} reports/s  (single-core batch-verify rate)");

    // Durable ingest at each store size.
    let mut ingest_rates = Vec::new();
    for &stored in &o.stored {
        let temp = tempfile::tempdir().expect("temp dir");
        // With --keep-store, a store filled by an earlier run is reused (fill once, measure often).
        let dir = match &o.keep_store {
            Some(root) => root.join(stored.to_string()),
            None => temp.path().to_path_buf(),
        };
        let config = StoreConfig {
            background_indexing: !o.deferred_index,
            cache_mb: o.cache_mb.unwrap_or(StoreConfig::default().cache_mb),
            ..StoreConfig::default()
        };
        let store = Store::open(&dir, &config).expect("open store");
        let fill_start = Instant::now();
        let mut filled = store.last_seq().expect("read").min(stored);
        while filled < stored {
            let count = (stored - filled).min(10_000);
            let chunk = sign_many(&org, 10_000_000 + filled, count);
            for part in chunk.chunks(1000) {
                store
                    .insert(part.to_vec(), Provenance::Local)
                    .expect("fill");
            }
            filled += count;
            if stored >= 100_000 && filled % 100_000 == 0 {
                eprintln!(
                    "  filled {filled}/{stored} ({:.0}s)",
                    fill_start.elapsed().as_secs_f64()
                );
            }
        }
        wait_indexed(&store);
        store.warm_up().expect("warm up");
        let fresh_from = 900_000_000 + store.last_seq().expect("read") * 1000;
        let fresh: Vec<Vec<u8>> = sign_many(&org, fresh_from, o.ingest)
            .iter()
            .map(|r| r.envelope_bytes().to_vec())
            .collect();
        let start = Instant::now();
        let mut batch_times = Vec::new();
        for chunk in fresh.chunks(o.batch) {
            let batch_start = Instant::now();
            for outcome in store.ingest(chunk, Provenance::Local).expect("ingest") {
                assert!(
                    matches!(outcome, IngestOutcome::Stored { .. }),
                    "{outcome:?}"
                );
            }
            batch_times.push((chunk.len() as u64, batch_start.elapsed()));
        }
        let overall_rate = rate(o.ingest, start.elapsed());
        // This machine's speed drifts; the median over windows of eight batches is steadier
        // than one figure for the whole run.
        let mut windows: Vec<f64> = batch_times
            .chunks(8)
            .filter(|w| w.len() == 8)
            .map(|w| {
                let count: u64 = w.iter().map(|(n, _)| n).sum();
                rate(count, w.iter().map(|(_, t)| *t).sum())
            })
            .collect();
        windows.sort_by(f64::total_cmp);
        let ingest_rate = windows
            .get(windows.len() / 2)
            .copied()
            .unwrap_or(overall_rate);
        println!(
            "ingest (whole run)   {overall_rate:>10.0} reports/s  ({} windows of 8 batches, slowest {:.0}, fastest {:.0})",
            windows.len(),
            windows.first().copied().unwrap_or(overall_rate),
            windows.last().copied().unwrap_or(overall_rate),
        );

        wait_indexed(&store);
        let indexed_rate = rate(o.ingest, start.elapsed());
        println!(
            "ingest (median)      {ingest_rate:>10.0} reports/s  (verify + write + flush, {} fresh reports into a store of {stored})",
            o.ingest
        );
        println!(
            "ingest and index     {indexed_rate:>10.0} reports/s  (until the query index has caught up)"
        );
        ingest_rates.push((stored, ingest_rate));
    }

    println!();
    for (stored, r) in &ingest_rates {
        let ratio = r / batch_rate;
        println!(
            "ingest / batch-verify at {stored:>8} stored: {ratio:.2} (target >= 0.50): {}",
            if ratio >= 0.5 { "met" } else { "NOT met" }
        );
    }
    if let (Some((small, first)), Some((large, last))) = (ingest_rates.first(), ingest_rates.last())
        && large > small
    {
        let ratio = last / first;
        println!(
            "ingest at {large} / at {small} stored: {ratio:.2} (target >= 0.80): {}",
            if ratio >= 0.8 { "met" } else { "NOT met" }
        );
    }
}
