//! May this report go to that partner? The rules, in the order they are checked.

use cairn_core::{DisclosureField, OrgPublicKey, Report, ReportKind, Scope, Tlp};
use std::collections::BTreeSet;

use crate::{Communities, Holding, Partner};

/// The rule behind an outbound decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundRule {
    /// The partner is this organisation (another of its nodes).
    SameOrganisation,
    /// Every rule allows it.
    Allowed,
    /// The author keeps it inside its own organisation.
    OrganisationScope,
    /// The report is addressed to a community this partner is not a member of.
    OutsideCommunity(String),
    /// TLP:RED goes only to named recipients.
    RedNotRecipient,
    /// TLP:RED, AMBER and AMBER+STRICT reports are never passed on by a recipient.
    NeverRelayed(Tlp),
    /// The direct-peers scope allows no relay.
    DirectPeersOnly,
    /// The community scope's hop limit is reached.
    HopLimitReached(u32),
    /// No sharing policy is assigned to this partner.
    NoPolicy,
    /// The label is above what this partner may receive.
    AboveMaxTlp(Tlp),
    /// This partner receives other kinds only.
    KindNotShared(ReportKind),
    /// The report carries none of the tags this partner's policy requires.
    MissingRequiredTag,
    /// The report carries a tag this partner's policy excludes.
    ExcludedTag(String),
    /// The report concerns none of the sectors this partner receives.
    SectorNotShared,
    /// The report concerns none of the regions this partner receives.
    RegionNotShared,
    /// Embargoed until this time (ms).
    Embargoed(i64),
    /// A sighting goes only to the author of the report it concerns and to partners that
    /// may receive that report from this node.
    SightingBeyondReport,
}

impl OutboundRule {
    /// The names ([`OutboundRule::name`]) of the rules that withhold a report for good (an
    /// embargo only delays it).
    pub const WITHHOLDING_NAMES: &'static [&'static str] = &[
        "organisation_scope",
        "outside_community",
        "red_not_recipient",
        "never_relayed",
        "direct_peers_only",
        "hop_limit_reached",
        "no_policy",
        "above_max_tlp",
        "kind_not_shared",
        "missing_required_tag",
        "excluded_tag",
        "sector_not_shared",
        "region_not_shared",
        "sighting_beyond_report",
    ];

    /// A short fixed name for the rule, for metrics and scripts (`above_max_tlp`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            OutboundRule::SameOrganisation => "same_organisation",
            OutboundRule::Allowed => "allowed",
            OutboundRule::OrganisationScope => "organisation_scope",
            OutboundRule::OutsideCommunity(_) => "outside_community",
            OutboundRule::RedNotRecipient => "red_not_recipient",
            OutboundRule::NeverRelayed(_) => "never_relayed",
            OutboundRule::DirectPeersOnly => "direct_peers_only",
            OutboundRule::HopLimitReached(_) => "hop_limit_reached",
            OutboundRule::NoPolicy => "no_policy",
            OutboundRule::AboveMaxTlp(_) => "above_max_tlp",
            OutboundRule::KindNotShared(_) => "kind_not_shared",
            OutboundRule::MissingRequiredTag => "missing_required_tag",
            OutboundRule::ExcludedTag(_) => "excluded_tag",
            OutboundRule::SectorNotShared => "sector_not_shared",
            OutboundRule::RegionNotShared => "region_not_shared",
            OutboundRule::Embargoed(_) => "embargoed",
            OutboundRule::SightingBeyondReport => "sighting_beyond_report",
        }
    }

    /// The rule in plain words, for operators.
    pub fn explain(&self) -> String {
        match self {
            OutboundRule::SameOrganisation => "it is one of this organisation's own nodes".into(),
            OutboundRule::Allowed => {
                "the report's marking and this partner's policy allow it".into()
            }
            OutboundRule::OrganisationScope => {
                "the author keeps this report inside its own organisation".into()
            }
            OutboundRule::OutsideCommunity(c) => {
                format!(
                    "the report is addressed to community {c}, and this partner is not a member"
                )
            }
            OutboundRule::RedNotRecipient => {
                "TLP:RED reports go only to the recipients the author named".into()
            }
            OutboundRule::NeverRelayed(tlp) => format!(
                "{} reports are never passed on by those who received them",
                tlp.official()
            ),
            OutboundRule::DirectPeersOnly => {
                "the author allows only its direct peers to receive it: no relay".into()
            }
            OutboundRule::HopLimitReached(limit) => {
                format!("the author allows {limit} relay(s), and they are used up")
            }
            OutboundRule::NoPolicy => "no sharing policy is assigned to this partner".into(),
            OutboundRule::AboveMaxTlp(max) => {
                format!("this partner may receive up to {} only", max.official())
            }
            OutboundRule::KindNotShared(kind) => {
                format!("this partner does not receive {kind} reports")
            }
            OutboundRule::MissingRequiredTag => {
                "the report has none of the tags this partner receives".into()
            }
            OutboundRule::ExcludedTag(tag) => format!("this partner never receives tag {tag}"),
            OutboundRule::SectorNotShared => {
                "the report concerns none of the sectors this partner receives".into()
            }
            OutboundRule::RegionNotShared => {
                "the report concerns none of the regions this partner receives".into()
            }
            OutboundRule::Embargoed(until) => format!("embargoed until {until} ms"),
            OutboundRule::SightingBeyondReport => "a sighting goes only to the author of the \
                 report it concerns and to partners that may receive that report from this node"
                .into(),
        }
    }
}

/// The outcome: share (and which disclosures to leave out) or withhold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundDecision {
    /// Send it, without these disclosures.
    Share {
        /// Disclosures to leave out of the copy.
        withhold: BTreeSet<DisclosureField>,
        /// Why it may go.
        rule: OutboundRule,
    },
    /// Do not send it; asked for, it does not exist.
    Withhold(OutboundRule),
}

impl OutboundDecision {
    /// Whether the report goes.
    pub fn shares(&self) -> bool {
        matches!(self, OutboundDecision::Share { .. })
    }

    /// The rule that decided.
    pub fn rule(&self) -> &OutboundRule {
        match self {
            OutboundDecision::Share { rule, .. } | OutboundDecision::Withhold(rule) => rule,
        }
    }
}

/// Whether `report`, held by organisation `us` as `holding` says, may go to `partner`. A
/// sighting goes this way only to the author of the report it concerns: [`decide_sighting`]
/// also lets it go to partners that may receive that report.
pub fn decide_outbound(
    us: &OrgPublicKey,
    report: &Report,
    holding: Holding,
    partner: &Partner,
    communities: &Communities,
) -> OutboundDecision {
    let decision = decide_marking(us, report, holding, partner, communities);
    match report.concerns {
        Some(concerns)
            if decision.shares() && partner.org != *us && partner.org != concerns.author =>
        {
            OutboundDecision::Withhold(OutboundRule::SightingBeyondReport)
        }
        _ => decision,
    }
}

/// What a node holds of the report a sighting concerns.
#[derive(Debug, Clone, Copy)]
pub enum Concerned<'a> {
    /// The report, and where it stands on this node.
    Held {
        /// Its marking.
        report: &'a Report,
        /// Its author, as its signature says (a sighting's own word for it is not taken).
        author: OrgPublicKey,
        /// How this node holds it.
        holding: Holding,
    },
    /// Not held here: nobody but its author may learn of it from this node.
    NotHeld,
}

/// Whether the sighting `sighting`, held by `us` as `holding` says, may go to `partner`: its
/// own marking must allow it, and the partner must be the author of the report it concerns
/// or a partner that may receive that report (`concerned`) from this node now. A sighting
/// so never reaches anyone its report would not. The author is the held report's own; a
/// sighting naming another is served to nobody but this organisation. For any other report,
/// [`decide_outbound`].
pub fn decide_sighting(
    us: &OrgPublicKey,
    sighting: &Report,
    holding: Holding,
    concerned: Concerned<'_>,
    partner: &Partner,
    communities: &Communities,
) -> OutboundDecision {
    let decision = decide_marking(us, sighting, holding, partner, communities);
    let Some(concerns) = sighting.concerns else {
        return decision;
    };
    if !decision.shares() || partner.org == *us {
        return decision;
    }
    match concerned {
        Concerned::Held { author, .. } if author != concerns.author => {
            OutboundDecision::Withhold(OutboundRule::SightingBeyondReport)
        }
        Concerned::Held { author, .. } if partner.org == author => decision,
        Concerned::NotHeld if partner.org == concerns.author => decision,
        Concerned::Held {
            report, holding, ..
        } => match decide_outbound(us, report, holding, partner, communities) {
            OutboundDecision::Share { .. } => decision,
            OutboundDecision::Withhold(OutboundRule::Embargoed(until)) => {
                OutboundDecision::Withhold(OutboundRule::Embargoed(until))
            }
            OutboundDecision::Withhold(_) => {
                OutboundDecision::Withhold(OutboundRule::SightingBeyondReport)
            }
        },
        Concerned::NotHeld => OutboundDecision::Withhold(OutboundRule::SightingBeyondReport),
    }
}

/// The rules of a report's own marking and the partner's policy.
fn decide_marking(
    us: &OrgPublicKey,
    report: &Report,
    holding: Holding,
    partner: &Partner,
    communities: &Communities,
) -> OutboundDecision {
    use OutboundDecision::Withhold;
    if partner.org == *us {
        return OutboundDecision::Share {
            withhold: BTreeSet::new(),
            rule: OutboundRule::SameOrganisation,
        };
    }
    let relayed = holding.hop > 0;
    let d = &report.distribution;
    if d.scope == Scope::Organisation {
        return Withhold(OutboundRule::OrganisationScope);
    }
    if let Some(community) = &d.community
        && !communities.contains(community, &partner.org)
    {
        return Withhold(OutboundRule::OutsideCommunity(community.clone()));
    }
    match report.tlp {
        Tlp::Red if !report.recipients.contains(&partner.org) => {
            return Withhold(OutboundRule::RedNotRecipient);
        }
        Tlp::Red | Tlp::Amber | Tlp::AmberStrict if relayed => {
            return Withhold(OutboundRule::NeverRelayed(report.tlp));
        }
        _ => {}
    }
    match d.scope {
        Scope::DirectPeers if relayed => return Withhold(OutboundRule::DirectPeersOnly),
        Scope::Community if holding.hop > d.hop_limit => {
            return Withhold(OutboundRule::HopLimitReached(d.hop_limit));
        }
        _ => {}
    }
    let policy = &partner.policy;
    let Some(max_tlp) = policy.max_tlp else {
        return Withhold(OutboundRule::NoPolicy);
    };
    if report.tlp > max_tlp {
        return Withhold(OutboundRule::AboveMaxTlp(max_tlp));
    }
    // A retraction is not content: it follows its report's marking, whatever the filters say.
    if report.kind != ReportKind::Retraction {
        if !policy.kinds.is_empty() && !policy.kinds.contains(&report.kind) {
            return Withhold(OutboundRule::KindNotShared(report.kind));
        }
        if let Some(tag) = report
            .tags
            .iter()
            .find(|t| policy.exclude_tags.contains(*t))
        {
            return Withhold(OutboundRule::ExcludedTag(tag.clone()));
        }
        if !policy.require_tags.is_empty()
            && !report.tags.iter().any(|t| policy.require_tags.contains(t))
        {
            return Withhold(OutboundRule::MissingRequiredTag);
        }
        if !policy.sectors.is_empty() && !report.sectors.iter().any(|s| policy.sectors.contains(s))
        {
            return Withhold(OutboundRule::SectorNotShared);
        }
        if !policy.regions.is_empty() && !report.regions.iter().any(|r| policy.regions.contains(r))
        {
            return Withhold(OutboundRule::RegionNotShared);
        }
    }
    let until = report
        .created_ms
        .min(holding.received_ms)
        .saturating_add(policy.embargo_ms);
    if holding.now_ms < until {
        return Withhold(OutboundRule::Embargoed(until));
    }
    OutboundDecision::Share {
        withhold: policy.withhold.clone(),
        rule: OutboundRule::Allowed,
    }
}
