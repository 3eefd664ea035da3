//! The engine against an oracle: a second, deliberately plain statement of the sharing rules,
//! written as one conjunction rather than as ordered checks. On random reports, partners,
//! communities and policies, the engine shares exactly what the oracle allows.
//!
//! A sighting is checked the same way: it goes where its own marking allows, and only to the
//! author of the report it concerns or to a partner the oracle lets receive that report.
//!
//! 10,000 cases by default; set CAIRN_POLICY_CASES for more.

mod common;

use std::collections::BTreeSet;

use cairn_core::{
    DisclosureField, Distribution, OrgKey, OrgPublicKey, Report, ReportKind, Scope, Tlp,
};
use cairn_policy::{
    Communities, Concerned, Holding, OrgKind, OutboundDecision, OutboundPolicy, Partner,
    decide_outbound, decide_sighting,
};
use proptest::prelude::*;
use rand::SeedableRng;

const TAGS: [&str; 3] = ["phishing", "ransomware", "ddos"];
const SECTORS: [&str; 3] = ["finance", "health", "energy"];
const REGIONS: [&str; 2] = ["eu", "africa"];

fn orgs() -> Vec<OrgPublicKey> {
    (0..6)
        .map(|i| OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(i)).public())
        .collect()
}

fn subset<T: Clone + Ord>(items: &[T], mask: u32) -> BTreeSet<T> {
    items
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, t)| t.clone())
        .collect()
}

/// Everything one case draws, as small numbers.
#[derive(Debug, Clone)]
struct Case {
    tlp: usize,
    scope: usize,
    hop_limit: u32,
    community: usize,
    recipients: u32,
    kind: usize,
    tags: u32,
    sectors: u32,
    regions: u32,
    created_ms: i64,
    hop: u32,
    now_ms: i64,
    partner: usize,
    community_a: u32,
    max_tlp: usize,
    kinds: u32,
    require_tags: u32,
    exclude_tags: u32,
    policy_sectors: u32,
    policy_regions: u32,
    withhold: u32,
    embargo_ms: i64,
    received_ms: i64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (
            0usize..5,
            0usize..4,
            1u32..4,
            0usize..4,
            0u32..64,
            0usize..7,
            0u32..8,
        ),
        (
            0u32..8,
            0u32..4,
            0i64..1000,
            0u32..5,
            0i64..2000,
            0usize..6,
            0u32..64,
        ),
        (
            0usize..6,
            0u32..128,
            0u32..8,
            0u32..8,
            0u32..8,
            0u32..4,
            0u32..8,
            0i64..1500,
            0i64..2000,
        ),
    )
        .prop_map(|(a, b, c)| Case {
            tlp: a.0,
            scope: a.1,
            hop_limit: a.2,
            community: a.3,
            recipients: a.4,
            kind: a.5,
            tags: a.6,
            sectors: b.0,
            regions: b.1,
            created_ms: b.2,
            hop: b.3,
            now_ms: b.4,
            partner: b.5,
            community_a: b.6,
            max_tlp: c.0,
            kinds: c.1,
            require_tags: c.2,
            exclude_tags: c.3,
            policy_sectors: c.4,
            policy_regions: c.5,
            withhold: c.6,
            embargo_ms: c.7,
            received_ms: c.8,
        })
}

struct World {
    us: OrgPublicKey,
    report: Report,
    holding: Holding,
    partner: Partner,
    communities: Communities,
}

/// Builds a valid report (the marking rules of `validate_body` hold) and its surroundings.
fn world(c: &Case, orgs: &[OrgPublicKey]) -> World {
    let tlp = Tlp::ALL[c.tlp];
    let mut scope = Scope::ALL[c.scope];
    if !tlp.relayable() && matches!(scope, Scope::Community | Scope::Unrestricted) {
        scope = Scope::DirectPeers;
    }
    let community = match c.community {
        1 if matches!(scope, Scope::DirectPeers | Scope::Community) => Some("alpha".to_string()),
        2 if matches!(scope, Scope::DirectPeers | Scope::Community) => Some("empty".to_string()),
        3 if matches!(scope, Scope::DirectPeers | Scope::Community) => Some("unknown".to_string()),
        _ => None,
    };
    let mut recipients: Vec<OrgPublicKey> = subset(orgs, c.recipients).into_iter().collect();
    if tlp == Tlp::Red && recipients.is_empty() {
        recipients.push(orgs[1]);
    }
    if tlp != Tlp::Red {
        recipients.clear();
    }
    let kinds = ReportKind::ALL;
    let tag_names: Vec<String> = TAGS.iter().map(|t| t.to_string()).collect();
    let sector_names: Vec<String> = SECTORS.iter().map(|t| t.to_string()).collect();
    let region_names: Vec<String> = REGIONS.iter().map(|t| t.to_string()).collect();
    let report = Report {
        kind: kinds[c.kind],
        title: "case".into(),
        summary: String::new(),
        severity: None,
        confidence: 50,
        created_ms: c.created_ms,
        tlp,
        distribution: Distribution {
            scope,
            hop_limit: if scope == Scope::Community {
                c.hop_limit
            } else {
                0
            },
            community,
        },
        recipients,
        tags: subset(&tag_names, c.tags).into_iter().collect(),
        sectors: subset(&sector_names, c.sectors).into_iter().collect(),
        regions: subset(&region_names, c.regions).into_iter().collect(),
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
    };
    let mut communities = Communities::default();
    communities.define("alpha", subset(orgs, c.community_a));
    communities.define("empty", []);
    let fields = DisclosureField::ALL;
    let partner = Partner {
        org: orgs[c.partner],
        name: format!("org-{}", c.partner),
        kind: OrgKind::Company,
        sector: None,
        region: None,
        policy: OutboundPolicy {
            max_tlp: Tlp::ALL.get(c.max_tlp).copied(),
            kinds: subset(kinds, c.kinds),
            require_tags: subset(&tag_names, c.require_tags),
            exclude_tags: subset(&tag_names, c.exclude_tags),
            sectors: subset(&sector_names, c.policy_sectors),
            regions: subset(&region_names, c.policy_regions),
            withhold: subset(fields, c.withhold),
            embargo_ms: c.embargo_ms,
        },
    };
    World {
        us: orgs[0],
        report,
        holding: Holding {
            hop: c.hop,
            now_ms: c.now_ms,
            received_ms: c.received_ms,
        },
        partner,
        communities,
    }
}

fn oracle_allows(w: &World) -> bool {
    common::oracle_allows(
        &w.us,
        &w.report,
        w.holding,
        &w.partner.org,
        &w.partner.policy,
        &w.communities,
    )
}

fn cases() -> u32 {
    std::env::var("CAIRN_POLICY_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn the_engine_shares_exactly_what_the_oracle_allows(c in case()) {
        let orgs = orgs();
        let w = world(&c, &orgs);
        let decision = decide_outbound(&w.us, &w.report, w.holding, &w.partner, &w.communities);
        let allowed = oracle_allows(&w);
        prop_assert_eq!(decision.shares(), allowed, "decision {:?} for {:?}", decision, c);
        if let OutboundDecision::Share { withhold, .. } = &decision {
            if w.partner.org == w.us {
                prop_assert!(withhold.is_empty());
            } else {
                prop_assert_eq!(withhold, &w.partner.policy.withhold);
            }
        }
    }

    #[test]
    fn a_sighting_goes_exactly_where_the_oracle_lets_it_and_its_report_go(
        own in case(),
        about in case(),
        author in 0usize..6,
        real_author in 0usize..6,
        held in any::<bool>(),
    ) {
        let orgs = orgs();
        let mut w = world(&own, &orgs);
        w.report.kind = ReportKind::Sighting;
        if !w.partner.policy.kinds.is_empty() {
            // Partners that take only some kinds mostly take sightings too.
            w.partner.policy.kinds.insert(ReportKind::Sighting);
        }
        let concerns = cairn_core::sighting::Concerns {
            report: cairn_core::ReportId::from_bytes([3; 32]),
            author: orgs[author],
        };
        w.report.concerns = Some(concerns);
        let concerned = world(&about, &orgs);
        let held_here = held.then_some(Concerned::Held {
            report: &concerned.report,
            author: orgs[real_author],
            holding: concerned.holding,
        });
        let decision = decide_sighting(
            &w.us,
            &w.report,
            w.holding,
            held_here.unwrap_or(Concerned::NotHeld),
            &w.partner,
            &w.communities,
        );
        let peer = w.partner.org;
        let report_reaches_peer = held
            && common::oracle_allows(
                &w.us,
                &concerned.report,
                concerned.holding,
                &peer,
                &w.partner.policy,
                &w.communities,
            );
        // The author that counts is the held report's own; a sighting naming another goes
        // nowhere but this organisation.
        let named_rightly = !held || orgs[real_author] == concerns.author;
        let allowed = oracle_allows(&w)
            && (peer == w.us
                || (named_rightly && (peer == concerns.author || report_reaches_peer)));
        prop_assert_eq!(decision.shares(), allowed, "decision {:?}", decision);
        // Without the report at hand, only its author (or this organisation) gets a sighting.
        let alone = decide_outbound(&w.us, &w.report, w.holding, &w.partner, &w.communities);
        prop_assert_eq!(
            alone.shares(),
            oracle_allows(&w) && (peer == w.us || peer == concerns.author)
        );
    }
}
