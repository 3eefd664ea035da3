//! The sharing sections of node.toml (partners, named policies, communities, inbound rules),
//! their validation with file, line and field, and their conversion to the policy engine's
//! types.

use std::collections::{BTreeMap, BTreeSet};

use cairn_core::{DisclosureField, OrgPublicKey, ReportKind, Tlp};
use cairn_policy::{Communities, InboundPolicy, OrgKind, OutboundPolicy, Partner};
use toml::Spanned;

/// What this node accepts from partners (`[inbound]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundSection {
    /// Accept reports a partner wrote itself.
    pub accept_direct: bool,
    /// Accept reports a partner passes on from someone else.
    pub accept_relayed: bool,
    /// For relayed reports: only these authors (organisation keys; empty: any).
    pub relayed_authors: Vec<OrgPublicKey>,
    /// Largest report accepted, in bytes.
    pub max_bytes: usize,
    /// How far ahead of this node's clock a partner's report may be dated, in minutes (clocks
    /// differ). Further ahead, it is refused.
    pub max_clock_ahead_minutes: u32,
}

impl Default for InboundSection {
    fn default() -> Self {
        InboundSection {
            accept_direct: true,
            accept_relayed: true,
            relayed_authors: Vec::new(),
            max_bytes: cairn_core::limits::MAX_ENVELOPE_BYTES,
            max_clock_ahead_minutes: (cairn_policy::MAX_CLOCK_AHEAD_MS / 60_000) as u32,
        }
    }
}

/// A named outbound policy (`[policies.NAME]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    /// Highest TLP label shared (none: nothing is shared).
    pub max_tlp: Option<Tlp>,
    /// Only these kinds (empty: all).
    #[serde(default)]
    pub kinds: Vec<ReportKind>,
    /// Only reports with one of these tags (empty: no tag needed).
    #[serde(default)]
    pub require_tags: Vec<String>,
    /// Never reports with any of these tags.
    #[serde(default)]
    pub exclude_tags: Vec<String>,
    /// Only reports about one of these sectors (empty: any).
    #[serde(default)]
    pub sectors: Vec<String>,
    /// Only reports about one of these regions (empty: any).
    #[serde(default)]
    pub regions: Vec<String>,
    /// Disclosures never sent (victim, internal-notes, evidence).
    #[serde(default)]
    pub withhold: Vec<DisclosureField>,
    /// Reports are sent only this many minutes after they were created.
    #[serde(default)]
    pub embargo_minutes: u64,
}

/// A trusted partner organisation (`[[partners]]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerSection {
    /// A short name, used in communities and commands.
    pub name: Spanned<String>,
    /// Its organisation key (64 hex digits).
    pub org_key: Spanned<String>,
    /// What kind of organisation it is.
    pub kind: OrgKind,
    /// Its sector.
    pub sector: Option<String>,
    /// Its region.
    pub region: Option<String>,
    /// The named policy deciding what it receives (none: nothing).
    pub policy: Option<Spanned<String>>,
    /// Its nodes: only these PeerIds may connect for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<PartnerNodeSection>,
    /// How many values it may ask about per UTC day in private set intersection queries
    /// ("which of these values do you hold?", docs/PSI.md); 0, the default: none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub psi_values_per_day: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One node of a partner (`[[partners.nodes]]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerNodeSection {
    /// Its PeerId, as `cairn identity` prints it on that node.
    pub peer_id: Spanned<String>,
    /// Where to dial it (`/ip4/ADDRESS/tcp/PORT`); none when it dials in.
    #[serde(default)]
    pub addresses: Vec<Spanned<String>>,
}

/// The sharing parts of node.toml, as read.
#[derive(Debug, Clone, Copy)]
pub struct SharingSections<'a> {
    /// `[inbound]`.
    pub inbound: &'a InboundSection,
    /// `[policies.NAME]`.
    pub policies: &'a BTreeMap<String, PolicySection>,
    /// `[communities]`: NAME = [partner names, or "self" for this organisation].
    pub communities: &'a BTreeMap<String, Vec<Spanned<String>>>,
    /// `[[partners]]`.
    pub partners: &'a [PartnerSection],
    /// `[node] other_nodes`: this organisation's other nodes.
    pub other_nodes: &'a [PartnerNodeSection],
}

/// Checks one node entry (`field` names it): a PeerId listed once, with addresses that dial it.
fn check_node(
    node: &PartnerNodeSection,
    field: String,
    peer_ids: &mut BTreeMap<String, String>,
    issue: &mut impl FnMut(usize, String, String),
) {
    match node.peer_id.get_ref().parse::<cairn_net::NodeAddress>() {
        Ok(id) => {
            if let Some(first) = peer_ids.insert(id.to_string(), field.clone()) {
                issue(
                    node.peer_id.span().start,
                    format!("{field}.peer_id"),
                    format!("this PeerId is already {first}"),
                );
            }
            for (a, address) in node.addresses.iter().enumerate() {
                if let Err(e) = cairn_net::check_dial_address(address.get_ref(), &id) {
                    issue(
                        address.span().start,
                        format!("{field}.addresses[{a}]"),
                        e.to_string(),
                    );
                }
            }
        }
        Err(e) => issue(
            node.peer_id.span().start,
            format!("{field}.peer_id"),
            e.to_string(),
        ),
    }
}

/// The nodes of a configuration section, for the running node.
fn partner_nodes(nodes: &[PartnerNodeSection]) -> Vec<cairn_node::PartnerNode> {
    nodes
        .iter()
        .filter_map(|n| {
            Some(cairn_node::PartnerNode {
                node: n.peer_id.get_ref().parse().ok()?,
                addresses: n.addresses.iter().map(|a| a.get_ref().clone()).collect(),
            })
        })
        .collect()
}

/// A configuration mistake, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// 1-based line.
    pub line: usize,
    /// The field, e.g. `partners[2].policy`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl SharingSections<'_> {
    /// Partners listed with this organisation's own key (`us`): its other nodes belong under
    /// `[node] other_nodes`, where they are trusted with everything, as such.
    pub fn own_key_issues(&self, text: &str, us: &OrgPublicKey) -> Vec<ConfigIssue> {
        self.partners
            .iter()
            .enumerate()
            .filter(|(_, p)| p.org_key.get_ref().parse::<OrgPublicKey>().ok() == Some(*us))
            .map(|(i, p)| ConfigIssue {
                line: line_of(text, p.org_key.span().start),
                field: format!("partners[{i}].org_key"),
                message: "this is this organisation's own key: list its other nodes under [node] other_nodes, not as a partner".into(),
            })
            .collect()
    }

    /// Checks what TOML parsing cannot: references, duplicates, keys, names.
    pub fn check(&self, text: &str) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let mut issue = |offset: usize, field: String, message: String| {
            issues.push(ConfigIssue {
                line: line_of(text, offset),
                field,
                message,
            })
        };
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        let mut keys: BTreeMap<String, usize> = BTreeMap::new();
        // Where each PeerId is listed first.
        let mut peer_ids: BTreeMap<String, String> = BTreeMap::new();
        for (k, node) in self.other_nodes.iter().enumerate() {
            check_node(
                node,
                format!("node.other_nodes[{k}]"),
                &mut peer_ids,
                &mut issue,
            );
        }
        for (i, p) in self.partners.iter().enumerate() {
            let name = p.name.get_ref().as_str();
            if name.is_empty() || name == "self" {
                issue(
                    p.name.span().start,
                    format!("partners[{i}].name"),
                    format!("{name:?} cannot name a partner"),
                );
            }
            if let Some(first) = names.insert(name, i) {
                issue(
                    p.name.span().start,
                    format!("partners[{i}].name"),
                    format!("partner {name:?} is listed twice (first as partners[{first}])"),
                );
            }
            match p.org_key.get_ref().parse::<OrgPublicKey>() {
                Ok(key) => {
                    if let Some(first) = keys.insert(key.to_string(), i) {
                        issue(
                            p.org_key.span().start,
                            format!("partners[{i}].org_key"),
                            format!(
                                "this organisation key is already partners[{first}]: a partner is listed twice"
                            ),
                        );
                    }
                }
                Err(e) => issue(
                    p.org_key.span().start,
                    format!("partners[{i}].org_key"),
                    e.to_string(),
                ),
            }
            for (k, node) in p.nodes.iter().enumerate() {
                check_node(
                    node,
                    format!("partners[{i}].nodes[{k}]"),
                    &mut peer_ids,
                    &mut issue,
                );
            }
            if let Some(policy) = &p.policy
                && !self.policies.contains_key(policy.get_ref())
            {
                let defined: Vec<&str> = self.policies.keys().map(String::as_str).collect();
                issue(
                    policy.span().start,
                    format!("partners[{i}].policy"),
                    format!(
                        "unknown policy {:?} (defined: {})",
                        policy.get_ref(),
                        if defined.is_empty() {
                            "none".to_string()
                        } else {
                            defined.join(", ")
                        }
                    ),
                );
            }
        }
        for (name, members) in self.communities {
            let first = members.first().map_or(0, |m| m.span().start);
            if let Err(reason) = cairn_core::model::check_community_name(name) {
                issue(first, format!("communities.{name}"), reason);
            }
            for (j, member) in members.iter().enumerate() {
                let m = member.get_ref().as_str();
                if m != "self" && !names.contains_key(m) {
                    issue(
                        member.span().start,
                        format!("communities.{name}[{j}]"),
                        format!("{m:?} is not a partner name (or \"self\" for this organisation)"),
                    );
                }
            }
        }
        issues
    }

    /// The partners as the policy engine sees them. Call after `check` found nothing.
    pub fn partners(&self) -> Vec<Partner> {
        self.partners
            .iter()
            .filter_map(|p| {
                Some(Partner {
                    org: p.org_key.get_ref().parse().ok()?,
                    name: p.name.get_ref().clone(),
                    kind: p.kind,
                    sector: p.sector.clone(),
                    region: p.region.clone(),
                    policy: p
                        .policy
                        .as_ref()
                        .and_then(|name| self.policies.get(name.get_ref()))
                        .map(outbound_policy)
                        .unwrap_or_default(),
                })
            })
            .collect()
    }

    /// The partners with their nodes, for the running node. Call after `check` found nothing.
    pub fn trust_list(&self) -> Vec<cairn_node::TrustedPartner> {
        self.partners()
            .into_iter()
            .zip(self.partners)
            .map(|(partner, section)| cairn_node::TrustedPartner {
                partner,
                nodes: partner_nodes(&section.nodes),
                psi_values_per_day: section.psi_values_per_day,
            })
            .collect()
    }

    /// This organisation's other nodes (`us`, called `organisation`), as one more entry of the
    /// trust list: they share everything with this node (`decide_outbound`'s same-organisation
    /// rule). None when there are none.
    pub fn own_nodes(
        &self,
        us: &OrgPublicKey,
        organisation: &str,
    ) -> Option<cairn_node::TrustedPartner> {
        if self.other_nodes.is_empty() {
            return None;
        }
        Some(cairn_node::TrustedPartner {
            partner: Partner {
                org: *us,
                name: format!("{organisation} (this organisation)"),
                kind: OrgKind::Other,
                sector: None,
                region: None,
                policy: OutboundPolicy::default(),
            },
            nodes: partner_nodes(self.other_nodes),
            psi_values_per_day: 0,
        })
    }

    /// The communities, with "self" as organisation `us`.
    pub fn communities(&self, us: &OrgPublicKey) -> Communities {
        let keys: BTreeMap<&str, OrgPublicKey> = self
            .partners
            .iter()
            .filter_map(|p| Some((p.name.get_ref().as_str(), p.org_key.get_ref().parse().ok()?)))
            .collect();
        let mut communities = Communities::default();
        for (name, members) in self.communities {
            communities.define(
                name,
                members.iter().filter_map(|m| match m.get_ref().as_str() {
                    "self" => Some(*us),
                    other => keys.get(other).copied(),
                }),
            );
        }
        communities
    }

    /// The inbound rules.
    pub fn inbound(&self) -> InboundPolicy {
        InboundPolicy {
            accept_direct: self.inbound.accept_direct,
            accept_relayed: self.inbound.accept_relayed,
            relayed_authors: self.inbound.relayed_authors.iter().copied().collect(),
            max_bytes: self.inbound.max_bytes,
            max_clock_ahead_ms: i64::from(self.inbound.max_clock_ahead_minutes) * 60_000,
        }
    }
}

fn normalise(labels: &[String]) -> BTreeSet<String> {
    labels
        .iter()
        .map(|l| cairn_core::report::normalise_label(l))
        .collect()
}

fn outbound_policy(p: &PolicySection) -> OutboundPolicy {
    OutboundPolicy {
        max_tlp: p.max_tlp,
        kinds: p.kinds.iter().copied().collect(),
        require_tags: normalise(&p.require_tags),
        exclude_tags: normalise(&p.exclude_tags),
        sectors: normalise(&p.sectors),
        regions: normalise(&p.regions),
        withhold: p.withhold.iter().copied().collect(),
        embargo_ms: i64::try_from(p.embargo_minutes.saturating_mul(60_000)).unwrap_or(i64::MAX),
    }
}

/// One line per partner, policy and community, for `cairn config check`.
pub fn summary(sections: &SharingSections<'_>) -> String {
    let mut out = String::new();
    let used: BTreeSet<&str> = sections
        .partners
        .iter()
        .filter_map(|p| p.policy.as_ref().map(|n| n.get_ref().as_str()))
        .collect();
    out.push_str(&format!("  partners      {}\n", sections.partners.len()));
    for p in sections.partners {
        let policy = p
            .policy
            .as_ref()
            .map_or("no policy: receives nothing".to_string(), |n| {
                format!("policy {}", n.get_ref())
            });
        let about: Vec<&str> = [p.sector.as_deref(), p.region.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        let dialled = p.nodes.iter().filter(|n| !n.addresses.is_empty()).count();
        let nodes = match (p.nodes.len(), dialled) {
            (0, _) => "no nodes: cannot connect".to_string(),
            (n, 0) => format!("{n} node(s), dialling in"),
            (n, d) => format!("{n} node(s), {d} dialled"),
        };
        out.push_str(&format!(
            "    {:<16} {}{}; {policy}; {nodes}\n",
            p.name.get_ref(),
            format!("{:?}", p.kind).to_lowercase(),
            if about.is_empty() {
                String::new()
            } else {
                format!(", {}", about.join(", "))
            }
        ));
    }
    out.push_str(&format!("  policies      {}\n", sections.policies.len()));
    for (name, p) in sections.policies {
        out.push_str(&format!(
            "    {:<16} up to {}{}{}{}\n",
            name,
            p.max_tlp.map_or("nothing", |t| t.official()),
            // The order is CLEAR, GREEN, AMBER, AMBER+STRICT, RED: say what AMBER leaves out.
            if p.max_tlp == Some(Tlp::Amber) {
                " (not TLP:AMBER+STRICT)"
            } else {
                ""
            },
            if p.withhold.is_empty() {
                String::new()
            } else {
                let fields: Vec<&str> = p.withhold.iter().map(|f| f.as_str()).collect();
                format!(", withholding {}", fields.join(", "))
            },
            if used.contains(name.as_str()) {
                ""
            } else {
                "  (used by no partner)"
            }
        ));
    }
    out.push_str(&format!("  communities   {}\n", sections.communities.len()));
    for (name, members) in sections.communities {
        let names: Vec<&str> = members.iter().map(|m| m.get_ref().as_str()).collect();
        out.push_str(&format!(
            "    {:<16} {}\n",
            name,
            if names.is_empty() {
                "(empty: reaches nobody)".to_string()
            } else {
                names.join(", ")
            }
        ));
    }
    out
}
