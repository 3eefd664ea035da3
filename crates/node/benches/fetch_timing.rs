//! What a partner's fetch by id costs when the report does not exist, when it exists but the
//! partner may not see it (a large report), and when it may: the first two must not be told
//! apart by their timing, so the decision reads the report's marking alone.
//! Run: `cargo bench -p cairn-node --bench fetch_timing` (`--indicators N` in the large
//! report, default 5,000; `--rounds N`, default 2,000).

use std::time::{Duration, Instant};

use cairn_core::{OrgKey, ReportId, Tlp, sample};
use cairn_node::exchange::{SharingRules, serve_fetch};
use cairn_policy::{Communities, InboundPolicy, OrgKind, OutboundPolicy, Partner};
use cairn_store::{Provenance, Store, StoreConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn number(args: &[String], flag: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == flag)
        .map(|i| {
            args.get(i + 1)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{flag} N"))
        })
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let indicators = number(&args, "--indicators", 5_000);
    let rounds = number(&args, "--rounds", 2_000);
    let mut rng = StdRng::seed_from_u64(5);
    let cert = OrgKey::generate(&mut rng);
    let bank = OrgKey::generate(&mut rng);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
    // A large AMBER report the bank may not see, and a small GREEN one it may.
    let mut large = sample::indicator_report(&mut rng, 1);
    large.indicators = (0..indicators.div_ceil(10))
        .flat_map(|k| sample::indicator_report(&mut rng, k as u64).indicators)
        .take(indicators)
        .collect();
    large.tlp = Some(Tlp::Amber);
    large.scope = None;
    large.hop_limit = None;
    let large = large.sign(&cert, &mut rng).expect("valid");
    let mut small = sample::indicator_report(&mut rng, 2);
    small.tlp = Some(Tlp::Green);
    let small = small.sign(&cert, &mut rng).expect("valid");
    store
        .insert(vec![large.clone(), small.clone()], Provenance::Local)
        .expect("stored");
    let missing = ReportId::from_bytes([7; 32]);
    let rules = SharingRules {
        us: cert.public(),
        communities: Communities::default(),
        inbound: InboundPolicy::default(),
    };
    let partner = Partner {
        org: bank.public(),
        name: "bank".into(),
        kind: OrgKind::Company,
        sector: None,
        region: None,
        policy: OutboundPolicy {
            max_tlp: Some(Tlp::Green),
            ..OutboundPolicy::default()
        },
    };
    let now = i64::MAX / 2;
    let time = |id: &ReportId, expect: bool| -> Duration {
        let mut took: Vec<Duration> = (0..rounds)
            .map(|_| {
                let t = Instant::now();
                let found = serve_fetch(&store, &rules, &partner, id, now).expect("read");
                let took = t.elapsed();
                assert_eq!(found.is_some(), expect);
                took
            })
            .collect();
        took.sort();
        took[took.len() / 2]
    };
    let absent = time(&missing, false);
    let withheld = time(&large.id(), false);
    let shared = time(&small.id(), true);
    println!(
        "fetch by id, median of {rounds}: missing {:.1} µs, withheld ({indicators} indicators, {} KiB) {:.1} µs ({:.1}x), shared (small) {:.1} µs",
        absent.as_secs_f64() * 1e6,
        large.envelope_bytes().len() / 1024,
        withheld.as_secs_f64() * 1e6,
        withheld.as_secs_f64() / absent.as_secs_f64(),
        shared.as_secs_f64() * 1e6,
    );
}
