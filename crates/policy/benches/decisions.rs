//! The cost of a sharing decision, and of a full "what may this partner see" pass over 100,000
//! reports held in memory (the policy engine alone; reading them from the store is measured by
//! the store's benchmark).
//!
//! `cargo bench -p cairn-policy --bench decisions`

use std::collections::BTreeSet;
use std::hint::black_box;
use std::time::Instant;

use cairn_core::{
    DisclosureField, Distribution, OrgKey, OrgPublicKey, Report, ReportKind, Scope, Tlp,
};
use cairn_policy::{Communities, Holding, OrgKind, OutboundPolicy, Partner, decide_outbound};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn key(seed: u64) -> OrgPublicKey {
    OrgKey::generate(&mut StdRng::seed_from_u64(seed)).public()
}

fn report(rng: &mut StdRng, partner: OrgPublicKey) -> Report {
    let tlp = Tlp::ALL[rng.gen_range(0..Tlp::ALL.len())];
    let scope = if tlp.relayable() {
        Scope::Community
    } else {
        Scope::DirectPeers
    };
    Report {
        kind: ReportKind::ALL[rng.gen_range(0..6)],
        title: "bench".into(),
        summary: String::new(),
        severity: None,
        confidence: 50,
        created_ms: rng.gen_range(0..1_000_000),
        tlp,
        distribution: Distribution {
            scope,
            hop_limit: if scope == Scope::Community { 2 } else { 0 },
            community: rng.gen_bool(0.2).then(|| "finance-isac".to_string()),
        },
        recipients: if tlp == Tlp::Red {
            vec![partner]
        } else {
            Vec::new()
        },
        tags: vec!["phishing".into(), "ransomware".into()],
        sectors: vec!["finance".into()],
        regions: vec!["eu".into()],
        paris_call_principles: Vec::new(),
        indicators: Vec::new(),
        supersedes: None,
        retracts: None,
        disclosure_digests: Vec::new(),
        stix_objects: Vec::new(),
        misp_event: None,
        language: None,
        observance: None,
        coding: None,
        directory_entry: None,
        concerns: None,
        sighting: None,
    }
}

fn main() {
    let us = key(0);
    let bank = key(1);
    let mut communities = Communities::default();
    communities.define("finance-isac", [us, bank]);
    let partner = Partner {
        org: bank,
        name: "bank-a".into(),
        kind: OrgKind::Company,
        sector: Some("finance".into()),
        region: Some("eu".into()),
        policy: OutboundPolicy {
            max_tlp: Some(Tlp::Amber),
            kinds: BTreeSet::from([
                ReportKind::Indicator,
                ReportKind::Advisory,
                ReportKind::Incident,
            ]),
            require_tags: BTreeSet::new(),
            exclude_tags: BTreeSet::from(["internal".to_string()]),
            sectors: BTreeSet::from(["finance".to_string()]),
            regions: BTreeSet::new(),
            withhold: BTreeSet::from([DisclosureField::Victim]),
            embargo_ms: 0,
        },
    };
    let mut rng = StdRng::seed_from_u64(7);
    let reports: Vec<Report> = (0..100_000).map(|_| report(&mut rng, bank)).collect();
    let holding = Holding {
        hop: 0,
        now_ms: 2_000_000,
        received_ms: 2_000_000,
    };

    // Warm up, then time the full pass a few times and keep the best.
    let mut best = f64::MAX;
    let mut shared = 0;
    for _ in 0..5 {
        let start = Instant::now();
        shared = reports
            .iter()
            .filter(|r| {
                decide_outbound(&us, black_box(r), holding, &partner, &communities).shares()
            })
            .count();
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!("Cairn sharing decisions (one thread)");
    println!(
        "what may bank-a see, over 100,000 reports: {:.1} ms ({} shared), {:.0} ns per decision",
        best * 1e3,
        shared,
        best * 1e9 / reports.len() as f64
    );
    let target = 1_000.0;
    let per = best * 1e9 / reports.len() as f64;
    println!(
        "target: under {target:.0} ns per decision: {}",
        if per < target { "met" } else { "NOT met" }
    );
}
