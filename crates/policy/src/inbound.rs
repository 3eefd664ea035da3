//! May this report from that partner be stored? Checked after the signature is verified.

use std::collections::BTreeSet;

use cairn_core::{OrgPublicKey, Report, Scope, Tlp};

use crate::{Communities, Partner};

/// What this node accepts from its partners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundPolicy {
    /// Accept reports a partner wrote itself.
    pub accept_direct: bool,
    /// Accept reports a partner passes on from someone else.
    pub accept_relayed: bool,
    /// For relayed reports: accept only these authors (empty: any author).
    pub relayed_authors: BTreeSet<OrgPublicKey>,
    /// Largest envelope accepted, in bytes.
    pub max_bytes: usize,
    /// How far ahead of this node's clock a report may be dated, in milliseconds (clocks
    /// differ; [`MAX_CLOCK_AHEAD_MS`] unless configured).
    pub max_clock_ahead_ms: i64,
}

impl InboundDecision {
    /// Whether the report is stored.
    pub fn accepts(&self) -> bool {
        matches!(self, InboundDecision::Accept(_))
    }
}

impl Default for InboundPolicy {
    fn default() -> Self {
        InboundPolicy {
            accept_direct: true,
            accept_relayed: true,
            relayed_authors: BTreeSet::new(),
            max_bytes: cairn_core::limits::MAX_ENVELOPE_BYTES,
            max_clock_ahead_ms: MAX_CLOCK_AHEAD_MS,
        }
    }
}

/// The rule behind an inbound decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundRule {
    /// Accepted: another node of this organisation holds it, and shares everything with it.
    FromOwnOrganisation,
    /// Accepted: the partner wrote it.
    FromItsAuthor,
    /// Accepted: the partner passed it on within its marking.
    RelayedWithinMarking,
    /// Larger than this node accepts.
    TooLarge(usize),
    /// This node does not accept reports the partner wrote.
    DirectNotAccepted,
    /// This node does not accept relayed reports.
    RelayedNotAccepted,
    /// This node does not accept relayed reports by this author.
    AuthorNotAccepted(OrgPublicKey),
    /// The report should not have been sent to this node: its marking excludes it.
    MarkingExcludesUs(&'static str),
    /// Dated further ahead of this node's clock than differing clocks explain (the
    /// `[inbound] max_clock_ahead_minutes` of node.toml).
    DatedAhead {
        /// How far ahead it is dated (ms).
        ahead_ms: i64,
        /// How far ahead a report may be dated (ms).
        allowed_ms: i64,
    },
}

impl InboundRule {
    /// The names ([`InboundRule::name`]) of the rules that refuse a report.
    pub const REJECTION_NAMES: &'static [&'static str] = &[
        "too_large",
        "direct_not_accepted",
        "relayed_not_accepted",
        "author_not_accepted",
        "marking_excludes_us",
        "dated_ahead",
    ];

    /// A short fixed name for the rule, for metrics and scripts (`too_large`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            InboundRule::FromOwnOrganisation => "from_own_organisation",
            InboundRule::FromItsAuthor => "from_its_author",
            InboundRule::RelayedWithinMarking => "relayed_within_marking",
            InboundRule::TooLarge(_) => "too_large",
            InboundRule::DirectNotAccepted => "direct_not_accepted",
            InboundRule::RelayedNotAccepted => "relayed_not_accepted",
            InboundRule::AuthorNotAccepted(_) => "author_not_accepted",
            InboundRule::MarkingExcludesUs(_) => "marking_excludes_us",
            InboundRule::DatedAhead { .. } => "dated_ahead",
        }
    }

    /// The rule in plain words, for operators.
    pub fn explain(&self) -> String {
        match self {
            InboundRule::FromOwnOrganisation => "another node of this organisation holds it".into(),
            InboundRule::FromItsAuthor => "the partner wrote it".into(),
            InboundRule::RelayedWithinMarking => {
                "the partner passed it on within its marking".into()
            }
            InboundRule::TooLarge(max) => format!("larger than the {max} bytes this node accepts"),
            InboundRule::DirectNotAccepted => {
                "this node does not accept reports partners wrote themselves".into()
            }
            InboundRule::RelayedNotAccepted => "this node does not accept relayed reports".into(),
            InboundRule::AuthorNotAccepted(author) => {
                format!("this node does not accept relayed reports by {author}")
            }
            InboundRule::DatedAhead {
                ahead_ms,
                allowed_ms,
            } => format!(
                "dated {} ahead of this node's clock (at most {} allowed)",
                span(*ahead_ms),
                span(*allowed_ms)
            ),
            InboundRule::MarkingExcludesUs(why) => {
                format!("its marking says it should not have reached this node ({why})")
            }
        }
    }
}

/// Accept or reject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundDecision {
    /// Store it, for this reason.
    Accept(InboundRule),
    /// Do not store it, for this reason.
    Reject(InboundRule),
}

/// A report arriving from a partner, after its signature was verified.
#[derive(Debug, Clone, Copy)]
pub struct Arrival<'a> {
    /// The report's content.
    pub report: &'a Report,
    /// Its author.
    pub author: &'a OrgPublicKey,
    /// Size of its envelope, in bytes.
    pub size: usize,
    /// The partner that sent it.
    pub from: &'a Partner,
    /// Relays before the partner held it (0: the partner wrote it).
    pub partner_hop: u32,
    /// When it arrived (ms since the Unix epoch).
    pub now_ms: i64,
}

/// A duration in words, in the unit that reads best.
fn span(ms: i64) -> String {
    const MINUTE: i64 = 60_000;
    const HOUR: i64 = 60 * MINUTE;
    if ms >= 2 * HOUR {
        format!("{} hours", ms / HOUR)
    } else if ms >= 2 * MINUTE {
        format!("{} minutes", ms / MINUTE)
    } else {
        format!("{} seconds", ms / 1000)
    }
}

/// How far ahead of this node's clock a report may be dated unless configured: as far as a
/// node signs one (clocks differ).
pub const MAX_CLOCK_AHEAD_MS: i64 = cairn_core::draft::MAX_CLOCK_AHEAD.whole_milliseconds() as i64;

/// Whether this node (organisation `us`) accepts what arrived.
pub fn decide_inbound(
    us: &OrgPublicKey,
    arrival: Arrival<'_>,
    inbound: &InboundPolicy,
    communities: &Communities,
) -> InboundDecision {
    let Arrival {
        report,
        author,
        size,
        from: partner,
        partner_hop,
        now_ms,
    } = arrival;
    use InboundDecision::Reject;
    if size > inbound.max_bytes {
        return Reject(InboundRule::TooLarge(inbound.max_bytes));
    }
    let ahead = report.created_ms.saturating_sub(now_ms);
    if ahead > inbound.max_clock_ahead_ms {
        return Reject(InboundRule::DatedAhead {
            ahead_ms: ahead,
            allowed_ms: inbound.max_clock_ahead_ms,
        });
    }
    // Another node of this organisation holds what this one may hold: it sends everything
    // (`decide_outbound`'s same-organisation rule), and everything is taken.
    if partner.org == *us {
        return InboundDecision::Accept(InboundRule::FromOwnOrganisation);
    }
    let direct = *author == partner.org;
    if direct && !inbound.accept_direct {
        return Reject(InboundRule::DirectNotAccepted);
    }
    if !direct {
        if !inbound.accept_relayed {
            return Reject(InboundRule::RelayedNotAccepted);
        }
        if !inbound.relayed_authors.is_empty() && !inbound.relayed_authors.contains(author) {
            return Reject(InboundRule::AuthorNotAccepted(*author));
        }
    }
    // The sender should have withheld these; refusing them keeps a leak from spreading.
    let relayed = partner_hop > 0 || !direct;
    let d = &report.distribution;
    let excluded = if d.scope == Scope::Organisation && *author != *us {
        Some("organisation scope")
    } else if report.tlp == Tlp::Red && !report.recipients.contains(us) {
        Some("TLP:RED and not a named recipient")
    } else if matches!(report.tlp, Tlp::Red | Tlp::Amber | Tlp::AmberStrict) && relayed {
        Some("relayed despite its TLP")
    } else if d.scope == Scope::DirectPeers && relayed {
        Some("relayed despite the direct-peers scope")
    } else if d.scope == Scope::Community && partner_hop > d.hop_limit {
        Some("relayed beyond its hop limit")
    } else if d
        .community
        .as_ref()
        .is_some_and(|c| !communities.contains(c, us))
    {
        Some("addressed to a community this node is not in")
    } else {
        None
    };
    match excluded {
        Some(why) => Reject(InboundRule::MarkingExcludesUs(why)),
        None if direct => InboundDecision::Accept(InboundRule::FromItsAuthor),
        None => InboundDecision::Accept(InboundRule::RelayedWithinMarking),
    }
}
