//! What a new trust list changes for the partner nodes a running node knows, decided without
//! I/O: which nodes stay (under which trust list entry, with which addresses), which are new,
//! and which are let go. The actor carries the plan out (net allow-list, peer states).

use std::collections::{BTreeMap, BTreeSet};

use cairn_core::OrgPublicKey;
use cairn_net::NodeAddress;

use crate::TrustedPartner;

/// What becomes of one partner node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeChange {
    /// Still trusted, now as a node of the trust list entry at `partner`. `addresses` is set
    /// when the addresses to dial it at changed.
    Keep {
        /// Its partner's place in the new trust list.
        partner: usize,
        /// The new addresses, when they changed.
        addresses: Option<Vec<String>>,
    },
    /// Newly trusted: a node of the entry at `partner`, dialled at `addresses`.
    Add {
        /// Its partner's place in the new trust list.
        partner: usize,
        /// Where to dial it.
        addresses: Vec<String>,
    },
    /// No longer trusted (its partner was removed, or the node was): disconnected at once and
    /// forgotten.
    Drop,
}

/// The changes a new trust list makes, node by node, and the partners it adds and removes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustPlan {
    /// Per node, in PeerId order. A node that moves to another organisation is dropped and
    /// added again (two entries, the drop first): nothing it was is kept.
    pub changes: Vec<(NodeAddress, NodeChange)>,
    /// Names of the partners that are new (by organisation key).
    pub added: Vec<String>,
    /// Names of the partners no longer in the trust list.
    pub removed: Vec<String>,
}

impl TrustPlan {
    /// Whether the new trust list changes nothing about who is trusted and where to dial.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changes.iter().all(|(_, c)| {
                matches!(
                    c,
                    NodeChange::Keep {
                        addresses: None,
                        ..
                    }
                )
            })
    }
}

/// Why a trust list cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustListError {
    /// One PeerId under two entries (or twice under one).
    #[error("node {node} is listed twice in the trust list ({first} and {second})")]
    NodeListedTwice {
        /// The node.
        node: NodeAddress,
        /// The partner listing it first.
        first: String,
        /// The partner listing it again.
        second: String,
    },
    /// One organisation key under two entries.
    #[error("organisation {org} is in the trust list twice ({first} and {second})")]
    OrgListedTwice {
        /// The organisation.
        org: String,
        /// The first entry.
        first: String,
        /// The second entry.
        second: String,
    },
}

/// Checks a trust list: every node and every organisation listed once.
pub fn check(partners: &[TrustedPartner]) -> Result<(), TrustListError> {
    let mut nodes: BTreeMap<&NodeAddress, &str> = BTreeMap::new();
    let mut orgs: BTreeMap<OrgPublicKey, &str> = BTreeMap::new();
    for p in partners {
        if let Some(first) = orgs.insert(p.partner.org, &p.partner.name) {
            return Err(TrustListError::OrgListedTwice {
                org: p.partner.org.to_string(),
                first: first.to_string(),
                second: p.partner.name.clone(),
            });
        }
        for n in &p.nodes {
            if let Some(first) = nodes.insert(&n.node, &p.partner.name) {
                return Err(TrustListError::NodeListedTwice {
                    node: n.node.clone(),
                    first: first.to_string(),
                    second: p.partner.name.clone(),
                });
            }
        }
    }
    Ok(())
}

/// The changes from trust list `old` to `new` for the nodes a node knows now (`known`: each
/// with its entry in `old`; nodes of a trusted organisation that introduced themselves
/// without being listed are known too). Listed nodes follow the new list; an unlisted node
/// stays while its organisation is still trusted.
pub fn plan(
    old: &[TrustedPartner],
    new: &[TrustedPartner],
    known: &[(NodeAddress, usize)],
) -> Result<TrustPlan, TrustListError> {
    check(new)?;
    let listed_new: BTreeMap<&NodeAddress, (usize, &Vec<String>)> = new
        .iter()
        .enumerate()
        .flat_map(|(i, p)| p.nodes.iter().map(move |n| (&n.node, (i, &n.addresses))))
        .collect();
    let listed_old: BTreeMap<&NodeAddress, &Vec<String>> = old
        .iter()
        .flat_map(|p| p.nodes.iter().map(|n| (&n.node, &n.addresses)))
        .collect();
    let new_by_org: BTreeMap<OrgPublicKey, usize> = new
        .iter()
        .enumerate()
        .map(|(i, p)| (p.partner.org, i))
        .collect();
    let old_orgs: BTreeSet<OrgPublicKey> = old.iter().map(|p| p.partner.org).collect();

    let mut changes: BTreeMap<NodeAddress, Vec<NodeChange>> = BTreeMap::new();
    let mut seen: BTreeSet<&NodeAddress> = BTreeSet::new();
    for (node, old_index) in known {
        seen.insert(node);
        let old_org = old.get(*old_index).map(|p| p.partner.org);
        let change = match listed_new.get(node) {
            Some(&(index, addresses)) if Some(new[index].partner.org) == old_org => {
                let changed = listed_old.get(node).is_none_or(|was| *was != addresses);
                vec![NodeChange::Keep {
                    partner: index,
                    addresses: changed.then(|| addresses.clone()),
                }]
            }
            Some(&(index, addresses)) => vec![
                NodeChange::Drop,
                NodeChange::Add {
                    partner: index,
                    addresses: addresses.clone(),
                },
            ],
            None if listed_old.contains_key(node) => vec![NodeChange::Drop],
            // Introduced itself unlisted: it stays while its organisation does.
            None => match old_org.and_then(|org| new_by_org.get(&org)) {
                Some(&index) => vec![NodeChange::Keep {
                    partner: index,
                    addresses: None,
                }],
                None => vec![NodeChange::Drop],
            },
        };
        changes.insert(node.clone(), change);
    }
    for (node, &(index, addresses)) in &listed_new {
        if !seen.contains(node) {
            changes.insert(
                (*node).clone(),
                vec![NodeChange::Add {
                    partner: index,
                    addresses: addresses.clone(),
                }],
            );
        }
    }
    let new_orgs: BTreeSet<OrgPublicKey> = new_by_org.keys().copied().collect();
    Ok(TrustPlan {
        changes: changes
            .into_iter()
            .flat_map(|(node, cs)| cs.into_iter().map(move |c| (node.clone(), c)))
            .collect(),
        added: new
            .iter()
            .filter(|p| !old_orgs.contains(&p.partner.org))
            .map(|p| p.partner.name.clone())
            .collect(),
        removed: old
            .iter()
            .filter(|p| !new_orgs.contains(&p.partner.org))
            .map(|p| p.partner.name.clone())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PartnerNode;
    use cairn_policy::{OrgKind, Partner};
    use rand::{Rng, SeedableRng};

    fn org(n: u8) -> OrgPublicKey {
        cairn_core::OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(u64::from(n))).public()
    }

    fn node(n: u8) -> NodeAddress {
        let key = cairn_core::OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(
            1000 + u64::from(n),
        ))
        .public();
        cairn_net::peer_id_of(key.as_bytes()).expect("a PeerId")
    }

    fn partner(o: u8, nodes: &[(u8, &str)]) -> TrustedPartner {
        TrustedPartner {
            partner: Partner {
                name: format!("org-{o}"),
                org: org(o),
                kind: OrgKind::Cert,
                sector: None,
                region: None,
                policy: Default::default(),
            },
            nodes: nodes
                .iter()
                .map(|(n, a)| PartnerNode {
                    node: node(*n),
                    addresses: if a.is_empty() {
                        vec![]
                    } else {
                        vec![a.to_string()]
                    },
                })
                .collect(),
            psi_values_per_day: 0,
        }
    }

    fn known(list: &[TrustedPartner]) -> Vec<(NodeAddress, usize)> {
        list.iter()
            .enumerate()
            .flat_map(|(i, p)| p.nodes.iter().map(move |n| (n.node.clone(), i)))
            .collect()
    }

    #[test]
    fn the_same_list_changes_nothing() {
        let list = vec![
            partner(1, &[(1, "/ip4/127.0.0.1/tcp/1")]),
            partner(2, &[(2, "")]),
        ];
        let plan = plan(&list, &list, &known(&list)).expect("a plan");
        assert!(plan.is_empty(), "{plan:?}");
    }

    #[test]
    fn a_removed_partner_is_dropped_and_a_new_one_added() {
        let old = vec![partner(1, &[(1, "")]), partner(2, &[(2, "")])];
        let new = vec![
            partner(2, &[(2, "")]),
            partner(3, &[(3, "/ip4/127.0.0.1/tcp/3")]),
        ];
        let plan = plan(&old, &new, &known(&old)).expect("a plan");
        assert_eq!(plan.added, vec!["org-3".to_string()]);
        assert_eq!(plan.removed, vec!["org-1".to_string()]);
        let of = |n: u8| {
            plan.changes
                .iter()
                .filter(|(a, _)| *a == node(n))
                .map(|(_, c)| c.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(of(1), vec![NodeChange::Drop]);
        assert_eq!(
            of(2),
            vec![NodeChange::Keep {
                partner: 0,
                addresses: None
            }]
        );
        assert_eq!(
            of(3),
            vec![NodeChange::Add {
                partner: 1,
                addresses: vec!["/ip4/127.0.0.1/tcp/3".into()]
            }]
        );
    }

    #[test]
    fn a_node_moved_to_another_organisation_starts_again() {
        let old = vec![partner(1, &[(1, "")]), partner(2, &[])];
        let new = vec![partner(1, &[]), partner(2, &[(1, "")])];
        let plan = plan(&old, &new, &known(&old)).expect("a plan");
        assert_eq!(
            plan.changes,
            vec![
                (node(1), NodeChange::Drop),
                (
                    node(1),
                    NodeChange::Add {
                        partner: 1,
                        addresses: vec![]
                    }
                ),
            ]
        );
    }

    #[test]
    fn an_unlisted_node_stays_while_its_organisation_is_trusted() {
        let old = vec![partner(1, &[(1, "")]), partner(2, &[])];
        let mut k = known(&old);
        k.push((node(9), 1));
        let kept = plan(&old, &[partner(2, &[])], &k).expect("a plan");
        assert!(kept.changes.contains(&(
            node(9),
            NodeChange::Keep {
                partner: 0,
                addresses: None
            }
        )));
        let gone = plan(&old, &[partner(1, &[(1, "")])], &k).expect("a plan");
        assert!(gone.changes.contains(&(node(9), NodeChange::Drop)));
    }

    #[test]
    fn duplicates_are_refused() {
        let twice = vec![partner(1, &[(1, "")]), partner(2, &[(1, "")])];
        assert!(matches!(
            check(&twice),
            Err(TrustListError::NodeListedTwice { .. })
        ));
        let org_twice = vec![partner(1, &[(1, "")]), partner(1, &[(2, "")])];
        assert!(matches!(
            check(&org_twice),
            Err(TrustListError::OrgListedTwice { .. })
        ));
    }

    /// Against an oracle over random lists: afterwards, the nodes trusted (kept or added) are
    /// exactly those listed in the new list plus the known unlisted nodes of organisations
    /// still trusted, each under its organisation's new entry, and a dropped node is never
    /// also kept.
    #[test]
    fn random_lists_follow_the_oracle() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..500 {
            let random_list = |rng: &mut rand::rngs::StdRng| {
                let mut used = BTreeSet::new();
                let mut list = Vec::new();
                for o in 1..=5u8 {
                    if rng.gen_bool(0.6) {
                        let mut nodes: Vec<(u8, &str)> = Vec::new();
                        for _ in 0..rng.gen_range(0..3) {
                            let n = rng.gen_range(1..=12u8);
                            let address = if rng.gen_bool(0.5) {
                                "/ip4/127.0.0.1/tcp/9"
                            } else {
                                ""
                            };
                            if used.insert(n) {
                                nodes.push((n, address));
                            }
                        }
                        list.push(partner(o, &nodes));
                    }
                }
                list
            };
            let old = random_list(&mut rng);
            let new = random_list(&mut rng);
            let mut k = known(&old);
            // Some unlisted nodes of old partners.
            for (i, _) in old.iter().enumerate() {
                let n = 20 + i as u8;
                if rng.gen_bool(0.5) {
                    k.push((node(n), i));
                }
            }
            let plan = plan(&old, &new, &k).expect("a plan");
            let mut trusted: BTreeMap<NodeAddress, usize> = BTreeMap::new();
            for (n, c) in &plan.changes {
                match c {
                    NodeChange::Keep { partner, .. } | NodeChange::Add { partner, .. } => {
                        assert!(trusted.insert(n.clone(), *partner).is_none(), "{n} twice");
                    }
                    NodeChange::Drop => assert!(!trusted.contains_key(n), "{n} dropped after kept"),
                }
            }
            let mut expected: BTreeMap<NodeAddress, usize> = known(&new).into_iter().collect();
            let listed_old: BTreeSet<NodeAddress> =
                known(&old).into_iter().map(|(n, _)| n).collect();
            for (n, i) in &k {
                if listed_old.contains(n) || expected.contains_key(n) {
                    continue;
                }
                if let Some(j) = new
                    .iter()
                    .position(|p| p.partner.org == old[*i].partner.org)
                {
                    expected.insert(n.clone(), j);
                }
            }
            assert_eq!(trusted, expected);
        }
    }
}
