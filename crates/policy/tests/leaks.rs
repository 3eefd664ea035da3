//! Named regressions for the sharing-group leaks MISP users met, and the inbound checks that
//! stop a leak from spreading when another node gets its rules wrong.

use std::collections::BTreeSet;

use cairn_core::{Distribution, OrgKey, OrgPublicKey, Report, ReportKind, Scope, Tlp};
use cairn_policy::{
    Arrival, Communities, Holding, InboundDecision, InboundPolicy, InboundRule, OrgKind,
    OutboundDecision, OutboundPolicy, OutboundRule, Partner, decide_inbound, decide_outbound,
};
use rand::SeedableRng;

fn org(seed: u64) -> OrgPublicKey {
    OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(seed)).public()
}

fn share_everything() -> OutboundPolicy {
    OutboundPolicy {
        max_tlp: Some(Tlp::Red),
        ..OutboundPolicy::default()
    }
}

fn partner(key: OrgPublicKey, policy: OutboundPolicy) -> Partner {
    Partner {
        org: key,
        name: "partner".into(),
        kind: OrgKind::Company,
        sector: Some("finance".into()),
        region: Some("eu".into()),
        policy,
    }
}

fn report(tlp: Tlp, scope: Scope, hops: u32, community: Option<&str>) -> Report {
    Report {
        kind: ReportKind::Incident,
        title: "t".into(),
        summary: String::new(),
        severity: None,
        confidence: 50,
        created_ms: 1,
        tlp,
        distribution: Distribution {
            scope,
            hop_limit: hops,
            community: community.map(str::to_string),
        },
        recipients: Vec::new(),
        tags: vec!["ransomware".into()],
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

const AUTHOR: Holding = Holding {
    hop: 0,
    now_ms: 10,
    received_ms: 10,
};
const RELAY: Holding = Holding {
    hop: 1,
    now_ms: 10,
    received_ms: 10,
};

#[test]
fn misp_empty_sharing_group_reaches_nobody() {
    // MISP: an event in an empty sharing group was synced to every remote organisation.
    let us = org(0);
    let mut communities = Communities::default();
    communities.define("empty-group", []);
    let r = report(Tlp::Green, Scope::Community, 3, Some("empty-group"));
    for seed in 1..20 {
        let d = decide_outbound(
            &us,
            &r,
            AUTHOR,
            &partner(org(seed), share_everything()),
            &communities,
        );
        assert_eq!(
            d.rule(),
            &OutboundRule::OutsideCommunity("empty-group".into()),
            "partner {seed}"
        );
    }
}

#[test]
fn misp_unknown_sharing_group_reaches_nobody() {
    let us = org(0);
    let r = report(Tlp::Clear, Scope::Community, 3, Some("typo-in-group-name"));
    let d = decide_outbound(
        &us,
        &r,
        AUTHOR,
        &partner(org(1), share_everything()),
        &Communities::default(),
    );
    assert!(!d.shares());
}

#[test]
fn misp_organisation_outside_the_group_cannot_get_it_even_by_relay() {
    // MISP: an organisation outside a sharing group could still pull the event from a member.
    let (us, member, outsider) = (org(0), org(1), org(2));
    let mut communities = Communities::default();
    communities.define("finance-isac", [us, member]);
    let r = report(Tlp::Green, Scope::Community, 5, Some("finance-isac"));
    let to_member = decide_outbound(
        &us,
        &r,
        AUTHOR,
        &partner(member, share_everything()),
        &communities,
    );
    assert!(to_member.shares());
    // The member, relaying, must not pass it to the outsider whatever its own policy says.
    let relayed = decide_outbound(
        &member,
        &r,
        RELAY,
        &partner(outsider, share_everything()),
        &communities,
    );
    assert_eq!(
        relayed.rule(),
        &OutboundRule::OutsideCommunity("finance-isac".into())
    );
    // And an outsider that receives it anyway refuses to store it.
    let arrival = Arrival {
        report: &r,
        author: &us,
        size: 100,
        from: &partner(member, share_everything()),
        partner_hop: 1,
        now_ms: 1_000,
    };
    assert!(matches!(
        decide_inbound(&outsider, arrival, &InboundPolicy::default(), &communities),
        InboundDecision::Reject(InboundRule::MarkingExcludesUs(_))
    ));
}

#[test]
fn amber_and_red_are_never_relayed_and_red_only_reaches_recipients() {
    let (us, a, b) = (org(0), org(1), org(2));
    let communities = Communities::default();
    let mut red = report(Tlp::Red, Scope::DirectPeers, 0, None);
    red.recipients = vec![a];
    assert!(
        decide_outbound(
            &us,
            &red,
            AUTHOR,
            &partner(a, share_everything()),
            &communities
        )
        .shares()
    );
    assert_eq!(
        decide_outbound(
            &us,
            &red,
            AUTHOR,
            &partner(b, share_everything()),
            &communities
        )
        .rule(),
        &OutboundRule::RedNotRecipient
    );
    let mut red_to_both = red.clone();
    red_to_both.recipients = vec![a, b];
    assert_eq!(
        decide_outbound(
            &a,
            &red_to_both,
            RELAY,
            &partner(b, share_everything()),
            &communities
        )
        .rule(),
        &OutboundRule::NeverRelayed(Tlp::Red)
    );
    let amber = report(Tlp::AmberStrict, Scope::DirectPeers, 0, None);
    assert!(
        decide_outbound(
            &us,
            &amber,
            AUTHOR,
            &partner(a, share_everything()),
            &communities
        )
        .shares()
    );
    assert_eq!(
        decide_outbound(
            &a,
            &amber,
            RELAY,
            &partner(b, share_everything()),
            &communities
        )
        .rule(),
        &OutboundRule::NeverRelayed(Tlp::AmberStrict)
    );
}

#[test]
fn no_policy_means_nothing_is_shared() {
    let us = org(0);
    let r = report(Tlp::Clear, Scope::Unrestricted, 0, None);
    let d = decide_outbound(
        &us,
        &r,
        AUTHOR,
        &partner(org(1), OutboundPolicy::default()),
        &Communities::default(),
    );
    assert_eq!(d.rule(), &OutboundRule::NoPolicy);
    assert!(!OutboundRule::NoPolicy.explain().is_empty());
}

#[test]
fn inbound_limits_on_size_and_relayed_authors() {
    let (us, a, stranger) = (org(0), org(1), org(3));
    let communities = Communities::default();
    let r = report(Tlp::Green, Scope::Community, 3, None);
    let from_a = partner(a, share_everything());
    let arrival = |author: &OrgPublicKey, size: usize, hop: u32| {
        decide_inbound(
            &us,
            Arrival {
                report: &r,
                author,
                size,
                from: &from_a,
                partner_hop: hop,
                now_ms: 1_000,
            },
            &InboundPolicy {
                relayed_authors: BTreeSet::from([org(4)]),
                max_bytes: 1000,
                ..InboundPolicy::default()
            },
            &communities,
        )
    };
    assert_eq!(
        arrival(&a, 10, 0),
        InboundDecision::Accept(InboundRule::FromItsAuthor)
    );
    assert_eq!(
        arrival(&a, 5000, 0),
        InboundDecision::Reject(InboundRule::TooLarge(1000))
    );
    assert_eq!(
        arrival(&stranger, 10, 1),
        InboundDecision::Reject(InboundRule::AuthorNotAccepted(stranger))
    );
    assert_eq!(
        arrival(&org(4), 10, 1),
        InboundDecision::Accept(InboundRule::RelayedWithinMarking)
    );
    assert!(matches!(
        arrival(&org(4), 10, 4),
        InboundDecision::Reject(InboundRule::MarkingExcludesUs(_))
    ));
}

/// A report dated far ahead would, once stored, be "embargoed" until its date for every
/// partner, and a page stops at the first embargoed report: one partner could stall what this
/// node shares with all the others. It is refused on arrival; clocks a day apart are not.
#[test]
fn a_report_dated_in_the_future_is_refused_before_it_can_stall_sharing() {
    let (us, a) = (org(0), org(1));
    let communities = Communities::default();
    let now = 1_800_000_000_000i64;
    let from_a = partner(a, share_everything());
    let decide = |created_ms: i64| {
        let mut r = report(Tlp::Green, Scope::Community, 3, None);
        r.created_ms = created_ms;
        decide_inbound(
            &us,
            Arrival {
                report: &r,
                author: &a,
                size: 10,
                from: &from_a,
                partner_hop: 0,
                now_ms: now,
            },
            &InboundPolicy::default(),
            &communities,
        )
    };
    let hour = 3_600_000;
    assert!(decide(now).accepts());
    assert!(decide(now + 23 * hour).accepts(), "clocks differ");
    assert!(decide(now - 365 * 24 * hour).accepts());
    let year_9999 = 253_402_300_799_000;
    let refused = decide(year_9999);
    assert!(
        matches!(
            refused,
            InboundDecision::Reject(InboundRule::DatedAhead { .. })
        ),
        "{refused:?}"
    );
    if let InboundDecision::Reject(rule) = refused {
        assert!(
            rule.explain().contains("ahead of this node's clock"),
            "{}",
            rule.explain()
        );
    }
    assert!(matches!(
        decide(now + 25 * hour),
        InboundDecision::Reject(InboundRule::DatedAhead { .. })
    ));
}

/// A report stored with a date after its arrival (within the clock tolerance, or stored before
/// the tolerance was checked) is held back for its embargo counted from its arrival, never
/// until its date: a page stops at an embargoed report, so a date decades ahead would stall
/// sharing with that partner for decades.
#[test]
fn an_embargo_runs_from_arrival_when_a_report_is_dated_after_it() {
    let us = org(0);
    let b = partner(
        org(2),
        OutboundPolicy {
            embargo_ms: 1_000,
            ..share_everything()
        },
    );
    let communities = Communities::default();
    let mut r = report(Tlp::Green, Scope::Community, 3, None);
    r.created_ms = 4_102_444_800_000; // 2100-01-01
    let at = |r: &cairn_core::Report, now_ms: i64| {
        decide_outbound(
            &us,
            r,
            Holding {
                hop: 0,
                now_ms,
                received_ms: 5_000,
            },
            &b,
            &communities,
        )
    };
    assert_eq!(
        at(&r, 5_500),
        OutboundDecision::Withhold(OutboundRule::Embargoed(6_000))
    );
    assert!(matches!(at(&r, 6_000), OutboundDecision::Share { .. }));
    // A report dated before its arrival counts from its date, as always.
    r.created_ms = 1_000;
    assert!(matches!(at(&r, 2_000), OutboundDecision::Share { .. }));
}

/// The tolerance for clocks that differ is the operator's to set: a node with precise time can
/// refuse what a lax one would accept, and says by how much.
#[test]
fn the_clock_tolerance_is_configurable() {
    let (us, a) = (org(0), org(1));
    let now = 1_800_000_000_000i64;
    let from_a = partner(a, share_everything());
    let strict = InboundPolicy {
        max_clock_ahead_ms: 5 * 60_000,
        ..InboundPolicy::default()
    };
    let mut r = report(Tlp::Green, Scope::Community, 3, None);
    let mut decide = |created_ms: i64| {
        r.created_ms = created_ms;
        decide_inbound(
            &us,
            Arrival {
                report: &r,
                author: &a,
                size: 10,
                from: &from_a,
                partner_hop: 0,
                now_ms: now,
            },
            &strict,
            &Communities::default(),
        )
    };
    assert!(decide(now + 4 * 60_000).accepts());
    match decide(now + 10 * 60_000) {
        InboundDecision::Reject(rule) => assert_eq!(
            rule.explain(),
            "dated 10 minutes ahead of this node's clock (at most 5 minutes allowed)"
        ),
        other => panic!("accepted: {other:?}"),
    }
}

/// Another node of this organisation holds what this one holds: it gets everything, whatever
/// the marking, and everything it sends is taken, with the size and date limits of any
/// arrival. Nothing changes for any other organisation.
#[test]
fn another_node_of_this_organisation_shares_everything_and_takes_everything() {
    let (us, a, b) = (org(0), org(1), org(2));
    let communities = Communities::default();
    // Its entry's policy shares nothing: it does not apply within the organisation.
    let own_node = partner(us, OutboundPolicy::default());
    let mut red = report(Tlp::Red, Scope::Community, 2, None);
    red.recipients = vec![a];
    let internal = report(Tlp::Amber, Scope::Organisation, 0, None);
    let strict = report(Tlp::AmberStrict, Scope::DirectPeers, 0, None);
    for r in [&red, &internal, &strict] {
        for hop in [0, 1, 3] {
            let holding = Holding {
                hop,
                now_ms: 1_000,
                received_ms: 1_000,
            };
            assert_eq!(
                decide_outbound(&us, r, holding, &own_node, &communities).rule(),
                &OutboundRule::SameOrganisation
            );
            if r.distribution.scope == Scope::Organisation {
                let other = partner(b, share_everything());
                assert_eq!(
                    decide_outbound(&us, r, holding, &other, &communities).rule(),
                    &OutboundRule::OrganisationScope
                );
            }
        }
        for author in [us, a, b] {
            let arrival = |size: usize, hop: u32| {
                decide_inbound(
                    &us,
                    Arrival {
                        report: r,
                        author: &author,
                        size,
                        from: &own_node,
                        partner_hop: hop,
                        now_ms: 1_000,
                    },
                    &InboundPolicy {
                        accept_relayed: false,
                        max_bytes: 1000,
                        ..InboundPolicy::default()
                    },
                    &communities,
                )
            };
            assert_eq!(
                arrival(10, 2),
                InboundDecision::Accept(InboundRule::FromOwnOrganisation)
            );
            assert_eq!(
                arrival(5000, 0),
                InboundDecision::Reject(InboundRule::TooLarge(1000))
            );
        }
    }
}
