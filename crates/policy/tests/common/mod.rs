//! The oracle shared by the policy tests: the sharing rules stated once more, as a single
//! conjunction, independently of the engine's ordered checks.

use cairn_core::{OrgPublicKey, Report, ReportKind, Scope, Tlp};
use cairn_policy::{Communities, Holding, OutboundPolicy};

/// Whether organisation `us`, holding `r` as `holding` says, may give it to `peer` under
/// `p`.
pub fn oracle_allows(
    us: &OrgPublicKey,
    r: &Report,
    holding: Holding,
    peer: &OrgPublicKey,
    p: &OutboundPolicy,
    communities: &Communities,
) -> bool {
    if peer == us {
        return true;
    }
    let relayed = holding.hop > 0;
    let tlp_allows = match r.tlp {
        Tlp::Clear | Tlp::Green => true,
        Tlp::Amber | Tlp::AmberStrict => !relayed,
        Tlp::Red => !relayed && r.recipients.contains(peer),
    };
    let scope_allows = match r.distribution.scope {
        Scope::Organisation => false,
        Scope::DirectPeers => !relayed,
        Scope::Community => holding.hop <= r.distribution.hop_limit,
        Scope::Unrestricted => true,
    };
    let community_allows = r
        .distribution
        .community
        .as_ref()
        .is_none_or(|c| communities.contains(c, peer));
    let label_allows = p.max_tlp.is_some_and(|max| r.tlp <= max);
    let content_allows = r.kind == ReportKind::Retraction
        || ((p.kinds.is_empty() || p.kinds.contains(&r.kind))
            && r.tags.iter().all(|t| !p.exclude_tags.contains(t))
            && (p.require_tags.is_empty() || r.tags.iter().any(|t| p.require_tags.contains(t)))
            && (p.sectors.is_empty() || r.sectors.iter().any(|s| p.sectors.contains(s)))
            && (p.regions.is_empty() || r.regions.iter().any(|g| p.regions.contains(g))));
    // The embargo runs from creation, or from arrival when the report is dated after it.
    let start = if r.created_ms <= holding.received_ms {
        r.created_ms
    } else {
        holding.received_ms
    };
    let time_allows = holding.now_ms >= start + p.embargo_ms;
    tlp_allows && scope_allows && community_allows && label_allows && content_allows && time_allows
}
