//! Correlation with a large store: how long `Store::correlate` takes for one value (p50, p99,
//! max), with 1,000,000 reports stored.
//!
//! `cargo bench -p cairn-store --bench correlate -- [--reports N] [--samples N]
//! [--keep-store DIR]` (1,000,000 reports, 2,000 values of each kind). The store holds signed
//! sample reports of ten indicators each (addresses drawn from 65,536, so each is in about 30
//! reports); every 50th report also names a /24 range and a parent domain, every 40th names
//! its SHA-256 and an MD5 as one file's (two such files share each MD5). With `--keep-store DIR` the store is kept there and
//! reused by the next run (filling 1,000,000 takes minutes and about 6 GB). Each call is timed
//! in the process, with the API's default limit (25 reports) and with 100.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cairn_core::correlation::readings;
use cairn_core::{IndicatorDraft, IndicatorType, OrgKey, VerifiedReport, sample};
use cairn_store::{Provenance, Store, StoreConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

struct Options {
    reports: u64,
    samples: usize,
    keep_store: Option<PathBuf>,
}

fn options() -> Options {
    let mut o = Options {
        reports: 1_000_000,
        samples: 2000,
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

fn indicator(kind: IndicatorType, value: String, file: u32) -> IndicatorDraft {
    IndicatorDraft {
        kind,
        value,
        description: String::new(),
        file,
        valid_from: None,
        valid_until: None,
    }
}

/// Report `n` of the store, always the same for the same `n`.
fn report(org: &OrgKey, n: u64) -> VerifiedReport {
    let mut rng = StdRng::seed_from_u64(n);
    let mut draft = sample::indicator_report(&mut rng, n);
    if n.is_multiple_of(50) {
        draft.indicators.push(indicator(
            IndicatorType::Cidr,
            format!("198.51.{}.0/24", (n / 50) % 256),
            0,
        ));
        draft.indicators.push(indicator(
            IndicatorType::Domain,
            format!("bad-{}.example", n % 997),
            0,
        ));
    }
    if n.is_multiple_of(40) {
        draft.indicators[2].file = 1;
        draft
            .indicators
            .push(indicator(IndicatorType::Md5, format!("{:032x}", n / 80), 1));
    }
    draft.sign(org, &mut rng).expect("sample drafts are valid")
}

/// Fills `path` up to `wanted` reports (signing on every core) and indexes them.
fn fill(path: &Path, wanted: u64) -> Store {
    let store = Store::open(path, &StoreConfig::default()).expect("the store opens");
    let held = store.last_seq().expect("read");
    let org = OrgKey::generate(&mut StdRng::seed_from_u64(1));
    if held < wanted {
        println!("filling the store from {held} to {wanted} reports…");
        let started = Instant::now();
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
    store
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn main() {
    // As `cairn run` does at start (crates/cairn/src/allocator.rs): no glibc fast bins.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes a parameter of the allocator; no other thread runs yet.
        let _ = unsafe { libc::mallopt(libc::M_MXFAST, 0) };
    }
    let o = options();
    let temporary;
    let path = match &o.keep_store {
        Some(path) => path.clone(),
        None => {
            temporary = tempfile::tempdir().expect("a temporary folder");
            temporary.path().join("store")
        }
    };
    let store = fill(&path, o.reports);
    let mut rng = StdRng::seed_from_u64(7);
    let stored = store.last_seq().expect("read");
    // A stored report's indicator of this position (0 address, 1 domain, 2 SHA-256, 3 URL).
    let value_of = |rng: &mut StdRng, position: usize, every: u64| -> String {
        // Report n is stored as n + 1.
        let n = rng.gen_range(0..stored / every) * every;
        let report = store.get_seq(n + 1).expect("read").expect("stored");
        report.report.report().indicators[position].value.clone()
    };
    type Pick<'a> = Box<dyn Fn(&mut StdRng) -> String + 'a>;
    let kinds: Vec<(&str, Pick)> = vec![
        (
            "an address (same, and the /24 holding it)",
            Box::new(|rng| value_of(rng, 0, 1)),
        ),
        (
            "a domain (same, and its parent)",
            Box::new(|rng| value_of(rng, 1, 1)),
        ),
        (
            "a SHA-256 named with an MD5 as one file's (and the other file with that MD5)",
            Box::new(|rng| value_of(rng, 2, 40)),
        ),
        (
            "a URL (same, and its host's domains)",
            Box::new(|rng| value_of(rng, 3, 1)),
        ),
        (
            "a /24 range (thousands of observables inside)",
            Box::new(|rng| format!("198.51.{}.0/24", rng.gen_range(0..256))),
        ),
        (
            "a parent domain (about 1,000 reports inside)",
            Box::new(|rng| format!("bad-{}.example", rng.gen_range(0..997))),
        ),
        (
            "a value no report names",
            Box::new(|rng| format!("203.0.113.{}", rng.gen_range(1..255))),
        ),
    ];
    // What one correlated report costs: reading it by arrival number, and its status.
    let mut reads = Vec::with_capacity(o.samples);
    let mut statuses = Vec::with_capacity(o.samples);
    for _ in 0..o.samples {
        let seq = rng.gen_range(1..=stored);
        let started = Instant::now();
        let report = store.get_seq(seq).expect("read").expect("stored");
        reads.push(started.elapsed());
        let started = Instant::now();
        store.status(&report.report).expect("status");
        statuses.push(started.elapsed());
    }
    println!("| step | p50 | p99 |");
    println!("|---|---|---|");
    for (name, mut times) in [
        ("a report read by arrival number", reads),
        ("its status (superseded? retracted?)", statuses),
    ] {
        times.sort();
        println!(
            "| {name} | {:.1} µs | {:.1} µs |",
            percentile(&times, 0.5).as_secs_f64() * 1e6,
            percentile(&times, 0.99).as_secs_f64() * 1e6,
        );
    }
    println!();
    println!("| value | limit | reports found (mean) | p50 | p99 | max |");
    println!("|---|---|---|---|---|---|");
    for limit in [25, 100] {
        for (name, pick) in &kinds {
            let mut times = Vec::with_capacity(o.samples);
            let mut found = 0usize;
            for _ in 0..o.samples {
                let value = pick(&mut rng);
                let probes = readings(&value).expect("a valid value");
                let started = Instant::now();
                let correlation = store.correlate(&probes, limit, None).expect("correlate");
                times.push(started.elapsed());
                found += correlation.reports.len();
            }
            times.sort();
            println!(
                "| {name} | {limit} | {:.1} | {:.3} ms | {:.3} ms | {:.3} ms |",
                found as f64 / o.samples as f64,
                percentile(&times, 0.5).as_secs_f64() * 1e3,
                percentile(&times, 0.99).as_secs_f64() * 1e3,
                times.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
            );
        }
    }
}
