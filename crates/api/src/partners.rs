//! What the console may do about partners beyond reading the trust list: make an invitation,
//! read one, and add the partner it introduces. The node's keys and node.toml belong to the
//! binary, which gives the API this capability; without it the console shows the commands to
//! run instead.

use std::future::Future;
use std::pin::Pin;

/// Why a partner action was refused, in words for the operator (what was wrong and what to do).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PartnerActionError(pub String);

/// What an invitation is made from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvitationRequest {
    /// How long it can be used, a count and a unit (7d, 12h, 30m).
    pub expires: String,
    /// Where partners reach this node (multiaddrs); empty: the addresses node.toml listens on.
    pub addresses: Vec<String>,
    /// This node takes no connections: partners wait for it to dial them.
    pub no_address: bool,
    /// What this organisation is (government, cert, company, ngo, academia, other), if said.
    pub kind: Option<String>,
    /// Its sector, if said.
    pub sector: Option<String>,
    /// Its region, if said.
    pub region: Option<String>,
}

/// A node an invitation lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationNode {
    /// Its libp2p peer id.
    pub peer_id: String,
    /// Where it is reached (none: it dials out).
    pub addresses: Vec<String>,
}

/// What a verified invitation says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationSummary {
    /// The invitation's one line.
    pub text: String,
    /// The organisation's display name.
    pub organisation: String,
    /// Its organisation key, to check by another channel.
    pub org_key: String,
    /// What it says it is (may be empty).
    pub kind: String,
    /// Its sector (may be empty).
    pub sector: String,
    /// Its region (may be empty).
    pub region: String,
    /// Its nodes.
    pub nodes: Vec<InvitationNode>,
    /// When it stops being usable, ms since the Unix epoch.
    pub expires_ms: i64,
}

/// How to add the partner an invitation introduces; what is not given comes from the
/// invitation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddPartnerRequest {
    /// The invitation's line.
    pub invitation: String,
    /// The policy of node.toml deciding what the partner receives.
    pub policy: String,
    /// Its name in node.toml.
    pub name: Option<String>,
    /// Its kind, when the invitation does not say or says otherwise.
    pub kind: Option<String>,
    /// Its sector.
    pub sector: Option<String>,
    /// Its region.
    pub region: Option<String>,
}

/// What adding a partner did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerAdded {
    /// Its name in node.toml.
    pub name: String,
    /// Its organisation's display name.
    pub organisation: String,
    /// Its organisation key.
    pub org_key: String,
    /// It was listed already: its nodes were replaced by the invitation's.
    pub updated: bool,
    /// What the running node did on reload, in words.
    pub reloaded: String,
}

/// A future the console awaits.
pub type PartnerFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, PartnerActionError>> + Send + 'a>>;

/// Partner actions the binary offers the console. Each either does all it says or changes
/// nothing.
pub trait PartnerActions: Send + Sync {
    /// The policy names of node.toml, for the add form.
    fn policies(&self) -> Result<Vec<String>, PartnerActionError>;
    /// Signs an invitation from this node's organisation.
    fn invite(&self, request: InvitationRequest) -> Result<InvitationSummary, PartnerActionError>;
    /// Verifies an invitation and says what it introduces.
    fn read_invitation(&self, text: &str) -> Result<InvitationSummary, PartnerActionError>;
    /// Writes the partner into node.toml and has the running node take it.
    fn add(&self, request: AddPartnerRequest) -> PartnerFuture<'_, PartnerAdded>;
}
