//! Cairn's sharing rules as pure functions: whether a report may go to a partner (and with which
//! disclosures), and whether a report from a partner may be accepted. Every decision names the
//! rule that made it. Deny by default: nothing is shared unless every rule allows it.

mod inbound;
mod outbound;
mod public;

use std::collections::{BTreeMap, BTreeSet};

use cairn_core::{DisclosureField, OrgPublicKey, ReportKind, Tlp};

pub use inbound::{
    Arrival, InboundDecision, InboundPolicy, InboundRule, MAX_CLOCK_AHEAD_MS, decide_inbound,
};
pub use outbound::{Concerned, OutboundDecision, OutboundRule, decide_outbound, decide_sighting};
pub use public::is_public;

/// What kind of organisation a partner is (written in lower case in node.toml).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum OrgKind {
    /// A ministry or agency.
    Government,
    /// A CERT or CSIRT.
    Cert,
    /// A company.
    Company,
    /// A non-governmental organisation.
    Ngo,
    /// A university or research institute.
    Academia,
    /// Anything else.
    Other,
}

/// What the sending organisation chose to share with one partner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// The highest TLP label this partner may receive; `None` shares nothing.
    pub max_tlp: Option<Tlp>,
    /// Only these kinds (empty: every kind).
    pub kinds: BTreeSet<ReportKind>,
    /// Only reports carrying at least one of these tags (empty: no tag needed).
    pub require_tags: BTreeSet<String>,
    /// Never reports carrying any of these tags.
    pub exclude_tags: BTreeSet<String>,
    /// Only reports about at least one of these sectors (empty: any).
    pub sectors: BTreeSet<String>,
    /// Only reports about at least one of these regions (empty: any).
    pub regions: BTreeSet<String>,
    /// Disclosures never sent to this partner.
    pub withhold: BTreeSet<DisclosureField>,
    /// Reports reach this partner only this long after they were created (ms).
    pub embargo_ms: i64,
}

/// A trusted partner organisation, as the sending node's configuration describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partner {
    /// Its organisation key.
    pub org: OrgPublicKey,
    /// Its display name.
    pub name: String,
    /// What kind of organisation it is.
    pub kind: OrgKind,
    /// Its sector, if known.
    pub sector: Option<String>,
    /// Its region, if known.
    pub region: Option<String>,
    /// What may be shared with it.
    pub policy: OutboundPolicy,
}

/// Named sets of organisations (sharing groups). A community that is not defined, or has no
/// members, contains nobody.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Communities {
    members: BTreeMap<String, BTreeSet<OrgPublicKey>>,
}

impl Communities {
    /// Defines (or redefines) a community.
    pub fn define(&mut self, name: &str, members: impl IntoIterator<Item = OrgPublicKey>) {
        self.members
            .insert(name.to_string(), members.into_iter().collect());
    }

    /// Whether `org` belongs to the community `name`; false for an unknown community.
    pub fn contains(&self, name: &str, org: &OrgPublicKey) -> bool {
        self.members
            .get(name)
            .is_some_and(|members| members.contains(org))
    }

    /// Whether the community is defined at all.
    pub fn is_defined(&self, name: &str) -> bool {
        self.members.contains_key(name)
    }
}

/// Where a report stands on the node deciding about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holding {
    /// Relays the report went through to reach this node: 0 when this node's organisation is
    /// its author, 1 when it came straight from the author, and so on.
    pub hop: u32,
    /// Now, in milliseconds since the Unix epoch.
    pub now_ms: i64,
    /// When this node stored the report (ms since the Unix epoch). An embargo counts from the
    /// report's creation time, or from this when the report claims to be created later: a
    /// report dated ahead holds nothing back beyond its embargo.
    pub received_ms: i64,
}
