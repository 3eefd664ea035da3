//! "What may this partner see": a full pass over a store of 100,000 reports, read page by page
//! as a serving node reads them, each decided by the sharing policy.
//!
//! `cargo bench -p cairn --bench peer_view` (signs and stores 100,000 reports first: about a
//! minute; `--reports N` for another size)

use std::collections::BTreeSet;
use std::time::Instant;

use cairn_core::{DisclosureField, OrgKey, ReportKind, Scope, Tlp, sample};
use cairn_policy::{Communities, Holding, OrgKind, OutboundPolicy, Partner, decide_outbound};
use cairn_store::{Provenance, Store, StoreConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count: u64 = args
        .iter()
        .position(|a| a == "--reports")
        .and_then(|i| args.get(i + 1))
        .map(|n| n.parse().expect("--reports takes a number"))
        .unwrap_or(100_000);
    let mut rng = StdRng::seed_from_u64(3);
    let org = OrgKey::generate(&mut rng);
    let us = org.public();
    let bank = OrgKey::generate(&mut rng).public();
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path(), &StoreConfig::default()).expect("open store");
    let fill = Instant::now();
    let mut batch = Vec::with_capacity(1000);
    for n in 0..count {
        let mut draft = sample::indicator_report(&mut rng, n);
        let tlp = Tlp::ALL[rng.gen_range(0..Tlp::ALL.len())];
        draft.tlp = Some(tlp);
        draft.scope = Some(if tlp.relayable() {
            Scope::Community
        } else {
            Scope::DirectPeers
        });
        draft.hop_limit = tlp.relayable().then_some(2);
        draft.recipients = if tlp == Tlp::Red {
            vec![bank]
        } else {
            Vec::new()
        };
        draft.kind = Some(ReportKind::ALL[rng.gen_range(0..6)]);
        batch.push(draft.sign(&org, &mut rng).expect("valid"));
        if batch.len() == 1000 {
            store
                .insert(std::mem::take(&mut batch), Provenance::Local)
                .expect("store");
        }
    }
    store.insert(batch, Provenance::Local).expect("store");
    eprintln!(
        "stored {count} reports in {:.0} s",
        fill.elapsed().as_secs_f64()
    );
    // Let the background indexer finish, so that the pass below runs alone.
    while store.indexed_up_to() < store.last_seq().expect("read") {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    let partner = Partner {
        org: bank,
        name: "bank-a".into(),
        kind: OrgKind::Company,
        sector: Some("finance".into()),
        region: None,
        policy: OutboundPolicy {
            max_tlp: Some(Tlp::Amber),
            kinds: BTreeSet::from([ReportKind::Indicator, ReportKind::Advisory]),
            withhold: BTreeSet::from([DisclosureField::Victim]),
            ..OutboundPolicy::default()
        },
    };
    let communities = Communities::default();
    let holding = Holding {
        hop: 0,
        now_ms: i64::MAX / 2,
        received_ms: i64::MAX / 2,
    };
    let start = Instant::now();
    let (mut cursor, mut seen, mut shared) = (0, 0u64, 0u64);
    let mut deciding = std::time::Duration::ZERO;
    loop {
        let page = store.after(cursor, 1000).expect("read");
        let Some(last) = page.last() else { break };
        cursor = last.seq;
        let decide = Instant::now();
        for stored in &page {
            seen += 1;
            if decide_outbound(&us, stored.report.report(), holding, &partner, &communities)
                .shares()
            {
                shared += 1;
            }
        }
        deciding += decide.elapsed();
    }
    let total = start.elapsed();
    println!("Cairn: what may one partner see, over a store of {seen} reports (one thread)");
    println!(
        "full pass          {:>8.0} ms  ({:.1} µs per report read and decided; {shared} shared)",
        total.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e6 / seen as f64
    );
    println!(
        "deciding alone     {:>8.1} ms  ({:.0} ns per decision; target under 1 µs)",
        deciding.as_secs_f64() * 1e3,
        deciding.as_secs_f64() * 1e9 / seen as f64
    );
}
