//! The simulated federation: organisations, who partners with whom, what each shares with each
//! partner, the communities, the reports written, and an oracle of where each report may go.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use cairn_core::{
    DisclosureField, Distribution, OrgKey, OrgPublicKey, Report, ReportKind, Scope, Tlp,
};
use cairn_policy::{Communities, OrgKind, OutboundPolicy, Partner};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// An organisation, by its number in the federation.
pub type Org = u32;

/// Tags reports carry and policies filter on.
pub const TAGS: [&str; 3] = ["phishing", "ransomware", "ddos"];

/// How partners share with each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Every partner shares up to TLP:AMBER with every other, with no filter or embargo: the
    /// reach of the protocol alone.
    Open,
    /// Random policies: maximum labels from none to RED, required and excluded tags, embargoes,
    /// withheld disclosures.
    Mixed,
}

/// What reports are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writing {
    /// TLP:CLEAR with no limit on relays: every organisation the policies allow should get it.
    Wide,
    /// Random labels, scopes, hop limits, communities and named recipients.
    Mixed,
}

/// Who partners with whom and how they share.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Organisations.
    pub orgs: usize,
    /// Partners per organisation before rewiring (even: half on each side of a ring).
    pub partners: usize,
    /// Chance that a partnership is moved to a random organisation (a small world).
    pub rewire: f64,
    /// How partners share.
    pub sharing: Sharing,
    /// Embargo of the partnerships that have one, in ms (with [`Sharing::Mixed`]).
    pub embargo_ms: i64,
}

/// A report written during the run.
#[derive(Debug, Clone)]
pub struct Written {
    /// Its author.
    pub author: Org,
    /// Its content as the sharing rules read it.
    pub report: Report,
    /// Size of its envelope, in bytes.
    pub size: usize,
}

/// The federation.
#[derive(Debug)]
pub struct World {
    /// Each organisation's key.
    pub keys: Vec<OrgPublicKey>,
    /// Each organisation's partners, in a fixed order.
    pub partners: Vec<Vec<Org>>,
    /// What each organisation shares with each of its partners, in the order of `partners`.
    pub policies: Vec<Vec<Partner>>,
    /// The communities, as every organisation defines them.
    pub communities: Communities,
    /// Members of each community, by organisation number (for the oracle).
    pub members: BTreeMap<String, BTreeSet<Org>>,
    /// Where each partner sits in an organisation's list: `(org, partner)` → index.
    position: HashMap<(Org, Org), usize>,
}

impl World {
    /// A small-world federation: a ring where each organisation partners with its nearest
    /// `partners` neighbours, with each partnership moved at random with chance `rewire`.
    pub fn build(shape: Shape, rng: &mut StdRng) -> World {
        let n = shape.orgs.max(2);
        let keys: Vec<OrgPublicKey> = (0..n)
            .map(|_| OrgKey::generate(&mut StdRng::seed_from_u64(rng.r#gen())).public())
            .collect();
        let mut links: Vec<BTreeSet<Org>> = vec![BTreeSet::new(); n];
        let half = (shape.partners / 2).max(1);
        for i in 0..n {
            for step in 1..=half {
                let mut j = (i + step) % n;
                if rng.gen_bool(shape.rewire) {
                    j = rng.gen_range(0..n);
                }
                if j != i {
                    links[i].insert(j as Org);
                    links[j].insert(i as Org);
                }
            }
        }
        let mut communities = Communities::default();
        let mut members = BTreeMap::new();
        for (name, share) in [("alpha", 0.5), ("beta", 0.3)] {
            let set: BTreeSet<Org> = (0..n as Org).filter(|_| rng.gen_bool(share)).collect();
            communities.define(name, set.iter().map(|i| keys[*i as usize]));
            members.insert(name.to_string(), set);
        }
        let partners: Vec<Vec<Org>> = links
            .into_iter()
            .map(|set| set.into_iter().collect())
            .collect();
        let mut position = HashMap::new();
        let mut policies = Vec::with_capacity(n);
        for (i, list) in partners.iter().enumerate() {
            let mut row = Vec::with_capacity(list.len());
            for (k, &j) in list.iter().enumerate() {
                position.insert((i as Org, j), k);
                row.push(Partner {
                    org: keys[j as usize],
                    name: format!("org-{j}"),
                    kind: OrgKind::Other,
                    sector: None,
                    region: None,
                    policy: policy(shape, rng),
                });
            }
            policies.push(row);
        }
        World {
            keys,
            partners,
            policies,
            communities,
            members,
            position,
        }
    }

    /// How many organisations.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Where `partner` sits in `org`'s list of partners.
    pub fn position(&self, org: Org, partner: Org) -> Option<usize> {
        self.position.get(&(org, partner)).copied()
    }

    /// What `from` shares with `to` (they must be partners).
    pub fn policy(&self, from: Org, to: Org) -> Option<&Partner> {
        self.position(from, to)
            .map(|k| &self.policies[from as usize][k])
    }

    /// A report by `author` created at `created_ms`.
    pub fn write(
        &self,
        writing: Writing,
        author: Org,
        created_ms: i64,
        rng: &mut StdRng,
    ) -> Written {
        let tags: Vec<String> = TAGS
            .iter()
            .filter(|_| rng.gen_bool(0.4))
            .map(|t| t.to_string())
            .collect();
        let (tlp, distribution, recipients) = match writing {
            Writing::Wide => (
                Tlp::Clear,
                Distribution {
                    scope: Scope::Unrestricted,
                    hop_limit: 0,
                    community: None,
                },
                Vec::new(),
            ),
            Writing::Mixed => {
                let tlp = Tlp::ALL[rng.gen_range(0..Tlp::ALL.len())];
                let mut scope = Scope::ALL[rng.gen_range(0..Scope::ALL.len())];
                if !tlp.relayable() && matches!(scope, Scope::Community | Scope::Unrestricted) {
                    scope = Scope::DirectPeers;
                }
                let community = if matches!(scope, Scope::DirectPeers | Scope::Community) {
                    match rng.gen_range(0..4) {
                        0 => Some("alpha".to_string()),
                        1 => Some("beta".to_string()),
                        _ => None,
                    }
                } else {
                    None
                };
                let mut recipients = Vec::new();
                if tlp == Tlp::Red {
                    for &p in &self.partners[author as usize] {
                        if rng.gen_bool(0.5) {
                            recipients.push(self.keys[p as usize]);
                        }
                    }
                    recipients.push(self.keys[rng.gen_range(0..self.len())]);
                }
                let hop_limit = if scope == Scope::Community {
                    rng.gen_range(1..=6)
                } else {
                    0
                };
                (
                    tlp,
                    Distribution {
                        scope,
                        hop_limit,
                        community,
                    },
                    recipients,
                )
            }
        };
        Written {
            author,
            size: rng.gen_range(1_000..20_000),
            report: Report {
                kind: ReportKind::Indicator,
                title: "simulated".into(),
                summary: String::new(),
                severity: None,
                confidence: 50,
                created_ms,
                tlp,
                distribution,
                recipients,
                tags,
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
            },
        }
    }

    /// The oracle: whether `from`, holding `written` at `hop` (0: it wrote it) and having
    /// stored it at `received_ms`, may pass it to its partner `to` at `now_ms`. A second,
    /// plain statement of the sharing rules the simulation uses, as one conjunction.
    pub fn allows(
        &self,
        from: Org,
        to: Org,
        written: &Written,
        hop: u32,
        received_ms: i64,
        now_ms: i64,
    ) -> bool {
        let Some(partner) = self.policy(from, to) else {
            return false;
        };
        let r = &written.report;
        let policy = &partner.policy;
        let in_community = r
            .distribution
            .community
            .as_ref()
            .is_none_or(|c| self.members.get(c).is_some_and(|m| m.contains(&to)));
        let by_label = match r.tlp {
            Tlp::Clear | Tlp::Green => true,
            Tlp::Amber | Tlp::AmberStrict => hop == 0,
            Tlp::Red => hop == 0 && r.recipients.contains(&self.keys[to as usize]),
        };
        let by_scope = match r.distribution.scope {
            Scope::Organisation => false,
            Scope::DirectPeers => hop == 0,
            Scope::Community => hop <= r.distribution.hop_limit,
            Scope::Unrestricted => true,
        };
        let by_policy = policy.max_tlp.is_some_and(|max| r.tlp <= max)
            && !r.tags.iter().any(|t| policy.exclude_tags.contains(t))
            && (policy.require_tags.is_empty()
                || r.tags.iter().any(|t| policy.require_tags.contains(t)));
        let due = now_ms >= r.created_ms.min(received_ms) + policy.embargo_ms;
        to != from && in_community && by_label && by_scope && by_policy && due
    }

    /// Where the oracle lets `written` go once every embargo has ended: each organisation that
    /// may hold it, with the fewest relays it may hold it at (0 for the author).
    pub fn reach(&self, written: &Written) -> BTreeMap<Org, u32> {
        let mut hops = BTreeMap::from([(written.author, 0u32)]);
        let mut queue = VecDeque::from([written.author]);
        while let Some(org) = queue.pop_front() {
            let hop = hops[&org];
            for &to in &self.partners[org as usize] {
                if !hops.contains_key(&to) && self.allows(org, to, written, hop, 0, i64::MAX) {
                    hops.insert(to, hop + 1);
                    queue.push_back(to);
                }
            }
        }
        hops
    }
}

fn policy(shape: Shape, rng: &mut StdRng) -> OutboundPolicy {
    match shape.sharing {
        Sharing::Open => OutboundPolicy {
            max_tlp: Some(Tlp::Amber),
            ..OutboundPolicy::default()
        },
        Sharing::Mixed => {
            let pick = |rng: &mut StdRng| -> BTreeSet<String> {
                TAGS.iter()
                    .filter(|_| rng.gen_bool(0.3))
                    .map(|t| t.to_string())
                    .collect()
            };
            OutboundPolicy {
                max_tlp: match rng.gen_range(0..10) {
                    0 => None,
                    1 => Some(Tlp::Clear),
                    2..=5 => Some(Tlp::Green),
                    6..=8 => Some(Tlp::Amber),
                    _ => Some(Tlp::Red),
                },
                require_tags: if rng.gen_bool(0.1) {
                    pick(rng)
                } else {
                    BTreeSet::new()
                },
                exclude_tags: if rng.gen_bool(0.1) {
                    pick(rng)
                } else {
                    BTreeSet::new()
                },
                withhold: BTreeSet::from([DisclosureField::Victim]),
                embargo_ms: if rng.gen_bool(0.05) {
                    shape.embargo_ms
                } else {
                    0
                },
                ..OutboundPolicy::default()
            }
        }
    }
}
