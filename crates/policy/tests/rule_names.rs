//! The rules' short names, which metrics and scripts use as labels: every rule that refuses or
//! withholds is listed under its name, and the names are distinct.

use std::collections::BTreeSet;

use cairn_core::{OrgKey, ReportKind, Tlp};
use cairn_policy::{InboundRule, OutboundRule};
use rand::SeedableRng;

#[test]
fn every_refusing_inbound_rule_is_listed_by_its_name() {
    let author = OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(1)).public();
    let refusing = [
        InboundRule::TooLarge(10),
        InboundRule::DirectNotAccepted,
        InboundRule::RelayedNotAccepted,
        InboundRule::AuthorNotAccepted(author),
        InboundRule::MarkingExcludesUs("organisation scope"),
        InboundRule::DatedAhead {
            ahead_ms: 1,
            allowed_ms: 0,
        },
    ];
    let names: BTreeSet<&str> = refusing.iter().map(InboundRule::name).collect();
    assert_eq!(names.len(), refusing.len(), "names are distinct");
    assert_eq!(
        names,
        InboundRule::REJECTION_NAMES
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
    );
    for accepting in [
        InboundRule::FromOwnOrganisation,
        InboundRule::FromItsAuthor,
        InboundRule::RelayedWithinMarking,
    ] {
        assert!(!names.contains(accepting.name()));
    }
}

#[test]
fn every_withholding_outbound_rule_is_listed_by_its_name() {
    let withholding = [
        OutboundRule::OrganisationScope,
        OutboundRule::OutsideCommunity("finance".into()),
        OutboundRule::RedNotRecipient,
        OutboundRule::NeverRelayed(Tlp::Amber),
        OutboundRule::DirectPeersOnly,
        OutboundRule::HopLimitReached(2),
        OutboundRule::NoPolicy,
        OutboundRule::AboveMaxTlp(Tlp::Red),
        OutboundRule::KindNotShared(ReportKind::Incident),
        OutboundRule::MissingRequiredTag,
        OutboundRule::ExcludedTag("law-enforcement".into()),
        OutboundRule::SectorNotShared,
        OutboundRule::RegionNotShared,
        OutboundRule::SightingBeyondReport,
    ];
    let names: BTreeSet<&str> = withholding.iter().map(OutboundRule::name).collect();
    assert_eq!(names.len(), withholding.len(), "names are distinct");
    assert_eq!(
        names,
        OutboundRule::WITHHOLDING_NAMES
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
    );
    for other in [
        OutboundRule::Allowed,
        OutboundRule::SameOrganisation,
        OutboundRule::Embargoed(0),
    ] {
        assert!(!names.contains(other.name()));
    }
}
