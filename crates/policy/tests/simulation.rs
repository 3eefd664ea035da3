//! A deterministic multi-hop simulation with no sockets: random topologies of 5 to 50
//! organisations with random policies and communities; reports published at random nodes
//! spread by repeated rounds of "each node offers each neighbour what its policy allows".
//!
//! - No leak: every final holding is one the author's marking allows.
//! - No loss: each node ends holding exactly what an independent breadth-first search with the
//!   oracle's rules reaches, at the same (smallest) hop.
//!
//! Seeded: a failure names the seed; `CAIRN_SIM_SEED=N` replays one, `CAIRN_SIM_RUNS=N` runs
//! more (default 40).

mod common;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use cairn_core::{
    DisclosureField, Distribution, OrgKey, OrgPublicKey, Report, ReportKind, Scope, Tlp,
};
use cairn_policy::{
    Arrival, Communities, Holding, InboundPolicy, OrgKind, OutboundPolicy, Partner, decide_inbound,
    decide_outbound,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const NOW: i64 = 1_000_000;
const TAGS: [&str; 3] = ["phishing", "ransomware", "ddos"];

struct Net {
    orgs: Vec<OrgPublicKey>,
    links: Vec<BTreeSet<usize>>,
    /// What node `i` shares with its neighbour `j`.
    policies: BTreeMap<(usize, usize), OutboundPolicy>,
    communities: Communities,
    members: BTreeMap<String, BTreeSet<usize>>,
}

fn random_policy(rng: &mut StdRng) -> OutboundPolicy {
    let pick = |rng: &mut StdRng| -> BTreeSet<String> {
        TAGS.iter()
            .filter(|_| rng.gen_bool(0.3))
            .map(|t| t.to_string())
            .collect()
    };
    OutboundPolicy {
        max_tlp: if rng.gen_bool(0.9) {
            Some(Tlp::ALL[rng.gen_range(0..Tlp::ALL.len())])
        } else {
            None
        },
        kinds: if rng.gen_bool(0.2) {
            BTreeSet::from([ReportKind::Indicator, ReportKind::Advisory])
        } else {
            BTreeSet::new()
        },
        require_tags: if rng.gen_bool(0.2) {
            pick(rng)
        } else {
            BTreeSet::new()
        },
        exclude_tags: if rng.gen_bool(0.2) {
            pick(rng)
        } else {
            BTreeSet::new()
        },
        sectors: BTreeSet::new(),
        regions: BTreeSet::new(),
        withhold: BTreeSet::from([DisclosureField::Victim]),
        embargo_ms: if rng.gen_bool(0.1) { 2 * NOW } else { 0 },
    }
}

fn random_net(rng: &mut StdRng) -> Net {
    let n = rng.gen_range(5..=50);
    let orgs: Vec<OrgPublicKey> = (0..n)
        .map(|_| OrgKey::generate(&mut StdRng::seed_from_u64(rng.r#gen())).public())
        .collect();
    let mut links = vec![BTreeSet::new(); n];
    for i in 1..n {
        let j = rng.gen_range(0..i);
        links[i].insert(j);
        links[j].insert(i);
    }
    for _ in 0..n {
        let (i, j) = (rng.gen_range(0..n), rng.gen_range(0..n));
        if i != j {
            links[i].insert(j);
            links[j].insert(i);
        }
    }
    let mut policies = BTreeMap::new();
    for (i, neighbours) in links.iter().enumerate() {
        for &j in neighbours {
            policies.insert((i, j), random_policy(rng));
        }
    }
    let mut communities = Communities::default();
    let mut members = BTreeMap::new();
    for name in ["alpha", "beta"] {
        let set: BTreeSet<usize> = (0..n).filter(|_| rng.gen_bool(0.5)).collect();
        communities.define(name, set.iter().map(|i| orgs[*i]));
        members.insert(name.to_string(), set);
    }
    communities.define("empty", []);
    members.insert("empty".to_string(), BTreeSet::new());
    Net {
        orgs,
        links,
        policies,
        communities,
        members,
    }
}

fn random_report(rng: &mut StdRng, net: &Net) -> Report {
    let tlp = Tlp::ALL[rng.gen_range(0..Tlp::ALL.len())];
    let mut scope = Scope::ALL[rng.gen_range(0..Scope::ALL.len())];
    if !tlp.relayable() && matches!(scope, Scope::Community | Scope::Unrestricted) {
        scope = Scope::DirectPeers;
    }
    let community = if matches!(scope, Scope::DirectPeers | Scope::Community) {
        match rng.gen_range(0..6) {
            0 => Some("alpha"),
            1 => Some("beta"),
            2 => Some("empty"),
            3 => Some("unknown"),
            _ => None,
        }
    } else {
        None
    };
    let mut recipients = Vec::new();
    if tlp == Tlp::Red {
        for org in &net.orgs {
            if rng.gen_bool(0.3) {
                recipients.push(*org);
            }
        }
        if recipients.is_empty() {
            recipients.push(net.orgs[0]);
        }
    }
    Report {
        kind: ReportKind::ALL[rng.gen_range(0..ReportKind::ALL.len())],
        title: "sim".into(),
        summary: String::new(),
        severity: None,
        confidence: 50,
        created_ms: NOW - 10,
        tlp,
        distribution: Distribution {
            scope,
            hop_limit: if scope == Scope::Community {
                rng.gen_range(1..=4)
            } else {
                0
            },
            community: community.map(str::to_string),
        },
        recipients,
        tags: TAGS
            .iter()
            .filter(|_| rng.gen_bool(0.4))
            .map(|t| t.to_string())
            .collect(),
        sectors: Vec::new(),
        regions: Vec::new(),
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

fn partner(net: &Net, from: usize, to: usize) -> Partner {
    Partner {
        org: net.orgs[to],
        name: format!("org-{to}"),
        kind: OrgKind::Other,
        sector: None,
        region: None,
        policy: net.policies.get(&(from, to)).cloned().unwrap_or_default(),
    }
}

/// Rounds of offers until nothing changes; returns node → smallest hop it holds the report at.
fn spread(net: &Net, report: &Report, author: usize) -> BTreeMap<usize, u32> {
    let mut held = BTreeMap::from([(author, 0u32)]);
    let inbound = InboundPolicy::default();
    for _round in 0..(net.orgs.len() * 2 + 4) {
        let mut changed = false;
        for node in 0..net.orgs.len() {
            let Some(&hop) = held.get(&node) else {
                continue;
            };
            for &nb in &net.links[node] {
                let offer = decide_outbound(
                    &net.orgs[node],
                    report,
                    Holding {
                        hop,
                        now_ms: NOW,
                        received_ms: NOW,
                    },
                    &partner(net, node, nb),
                    &net.communities,
                );
                if !offer.shares() {
                    continue;
                }
                let arrival = Arrival {
                    report,
                    author: &net.orgs[author],
                    size: 1500,
                    from: &partner(net, nb, node),
                    partner_hop: hop,
                    now_ms: NOW,
                };
                if !decide_inbound(&net.orgs[nb], arrival, &inbound, &net.communities).accepts() {
                    continue;
                }
                if held.get(&nb).is_none_or(|h| *h > hop + 1) {
                    held.insert(nb, hop + 1);
                    changed = true;
                }
            }
        }
        if !changed {
            return held;
        }
    }
    panic!("no fixed point: the spread did not settle");
}

/// The expected holdings: breadth-first search by hop with the oracle's rules.
fn expected(net: &Net, report: &Report, author: usize) -> BTreeMap<usize, u32> {
    let mut dist = BTreeMap::from([(author, 0u32)]);
    let mut queue = VecDeque::from([author]);
    while let Some(u) = queue.pop_front() {
        let hop = dist[&u];
        for &nb in &net.links[u] {
            let policy = net.policies.get(&(u, nb)).cloned().unwrap_or_default();
            let allowed = common::oracle_allows(
                &net.orgs[u],
                report,
                Holding {
                    hop,
                    now_ms: NOW,
                    received_ms: NOW,
                },
                &net.orgs[nb],
                &policy,
                &net.communities,
            );
            if allowed && !dist.contains_key(&nb) {
                dist.insert(nb, hop + 1);
                queue.push_back(nb);
            }
        }
    }
    dist
}

/// Whether the author's marking alone lets `node` hold the report at `hop`.
fn marking_allows(net: &Net, report: &Report, author: usize, node: usize, hop: u32) -> bool {
    if node == author {
        return true;
    }
    let d = &report.distribution;
    let in_community = d
        .community
        .as_ref()
        .is_none_or(|c| net.members.get(c).is_some_and(|m| m.contains(&node)));
    let by_tlp = match report.tlp {
        Tlp::Clear | Tlp::Green => true,
        Tlp::Amber | Tlp::AmberStrict => hop == 1,
        Tlp::Red => hop == 1 && report.recipients.contains(&net.orgs[node]),
    };
    let by_scope = match d.scope {
        Scope::Organisation => false,
        Scope::DirectPeers => hop == 1,
        Scope::Community => hop <= d.hop_limit + 1,
        Scope::Unrestricted => true,
    };
    in_community && by_tlp && by_scope
}

/// Runs one seeded federation; returns how many holdings were two or more hops away.
fn run(seed: u64) -> usize {
    let mut relayed = 0;
    let mut rng = StdRng::seed_from_u64(seed);
    let net = random_net(&mut rng);
    for _ in 0..20 {
        let author = rng.gen_range(0..net.orgs.len());
        let report = random_report(&mut rng, &net);
        let held = spread(&net, &report, author);
        for (&node, &hop) in &held {
            assert!(
                marking_allows(&net, &report, author, node, hop),
                "seed {seed}: leak: node {node} holds a {} {:?} report at hop {hop}",
                report.tlp.official(),
                report.distribution
            );
        }
        let want = expected(&net, &report, author);
        assert_eq!(
            held, want,
            "seed {seed}: holdings differ from the oracle's reach"
        );
        relayed += held.values().filter(|hop| **hop >= 2).count();
    }
    relayed
}

#[test]
fn random_federations_never_leak_and_never_lose() {
    if let Some(seed) = std::env::var("CAIRN_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        run(seed);
        return;
    }
    let runs: u64 = std::env::var("CAIRN_SIM_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let first: u64 = rand::thread_rng().r#gen();
    let relayed: usize = (0..runs).map(|i| run(first.wrapping_add(i))).sum();
    // The check means something only if reports really travel several hops.
    assert!(
        relayed > 0,
        "seeds from {first}: no report was ever relayed"
    );
}
