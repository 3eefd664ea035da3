//! Invitations to become partners: an organisation's name and key and its nodes' PeerIds and
//! addresses, with an expiry, signed by the node that made them under its node certificate, so
//! that nobody types a key or a PeerId by hand and a changed character is caught.

use cairn_proto::v1 as pb;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use prost::Message;

use crate::identity::{CertificateError, NodeCertificate, NodeKey, OrgPublicKey};

/// What an invitation's signature covers: this context, then the encoded body.
pub const INVITATION_CONTEXT: &[u8] = b"cairn/invitation/v1\0";

/// Most nodes an invitation lists.
pub const MAX_INVITED_NODES: usize = 32;
/// Most addresses per node.
pub const MAX_ADDRESSES_PER_NODE: usize = 16;
/// Longest text field (name, kind, sector, region, PeerId, address), in bytes.
pub const MAX_FIELD_BYTES: usize = 256;
/// Largest encoded invitation read.
pub const MAX_INVITATION_BYTES: usize = 16 * 1024;

/// One node of the inviting organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitedNode {
    /// Its PeerId, as text (the network layer parses it).
    pub peer_id: String,
    /// Where to dial it.
    pub addresses: Vec<String>,
}

/// A verified invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// The organisation, by its first key.
    pub org_key: OrgPublicKey,
    /// The certificate of the node that signed the invitation.
    pub certificate: NodeCertificate,
    /// What it says.
    pub content: InvitationContent,
}

/// What an invitation says: what a node signs, and what a verified invitation holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationContent {
    /// The organisation's display name.
    pub organisation: String,
    /// The nodes to trust.
    pub nodes: Vec<InvitedNode>,
    /// When it was made (ms since the Unix epoch).
    pub issued_ms: i64,
    /// When it stops being valid (ms since the Unix epoch).
    pub expires_ms: i64,
    /// What the organisation says it is (may be empty).
    pub kind: String,
    /// Its sector (may be empty).
    pub sector: String,
    /// Its region (may be empty).
    pub region: String,
}

/// Why an invitation is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvitationError {
    /// Not the encoding of an invitation.
    #[error("not a Cairn invitation: {0}")]
    Malformed(String),
    /// Too large to be one.
    #[error("the invitation is {0} bytes: larger than any Cairn invitation")]
    TooLarge(usize),
    /// The certificate inside does not verify.
    #[error("the node certificate inside does not verify: {0}")]
    Certificate(#[from] CertificateError),
    /// The signature does not verify: changed after it was made.
    #[error(
        "its signature does not verify: the invitation was changed after it was made (ask for it again)"
    )]
    Signature,
    /// Past its expiry.
    #[error("it expired at {expired} (ask for a new one)")]
    Expired {
        /// When, in RFC 3339.
        expired: String,
    },
    /// Something in it is out of bounds.
    #[error("{0}")]
    Invalid(String),
}

fn check_fields(draft: &InvitationContent) -> Result<(), InvitationError> {
    let invalid = |m: String| Err(InvitationError::Invalid(m));
    if draft.organisation.trim().is_empty() {
        return invalid("the organisation's name is empty".into());
    }
    if draft.nodes.is_empty() {
        return invalid("it lists no node".into());
    }
    if draft.nodes.len() > MAX_INVITED_NODES {
        return invalid(format!(
            "it lists {} nodes, more than {MAX_INVITED_NODES}",
            draft.nodes.len()
        ));
    }
    if draft.expires_ms <= draft.issued_ms {
        return invalid("it expires before it was made".into());
    }
    let texts = [
        ("organisation", &draft.organisation),
        ("kind", &draft.kind),
        ("sector", &draft.sector),
        ("region", &draft.region),
    ];
    for (name, text) in texts {
        if text.len() > MAX_FIELD_BYTES || text.chars().any(char::is_control) {
            return invalid(format!(
                "its {name} is longer than {MAX_FIELD_BYTES} bytes or holds control characters"
            ));
        }
    }
    for node in &draft.nodes {
        if node.addresses.len() > MAX_ADDRESSES_PER_NODE {
            return invalid(format!(
                "node {} has more than {MAX_ADDRESSES_PER_NODE} addresses",
                node.peer_id
            ));
        }
        for text in std::iter::once(&node.peer_id).chain(&node.addresses) {
            if text.is_empty() || text.len() > MAX_FIELD_BYTES || text.chars().any(char::is_control)
            {
                return invalid(format!(
                    "node entry {text:?} is empty, too long or holds control characters"
                ));
            }
        }
    }
    Ok(())
}

impl InvitationContent {
    /// Signs the invitation with the node key that `certificate` certifies.
    pub fn sign(
        &self,
        node: &NodeKey,
        certificate: &NodeCertificate,
    ) -> Result<Vec<u8>, InvitationError> {
        if certificate.node_key != node.public_bytes() {
            return Err(InvitationError::Invalid(
                "the node certificate is for another node key than the one signing".into(),
            ));
        }
        check_fields(self)?;
        let body = pb::InvitationBody {
            organisation: self.organisation.clone(),
            certificate: certificate.to_bytes().to_vec(),
            nodes: self
                .nodes
                .iter()
                .map(|n| pb::InvitedNode {
                    peer_id: n.peer_id.clone(),
                    addresses: n.addresses.clone(),
                })
                .collect(),
            issued_ms: self.issued_ms,
            expires_ms: self.expires_ms,
            kind: self.kind.clone(),
            sector: self.sector.clone(),
            region: self.region.clone(),
        }
        .encode_to_vec();
        let mut message = INVITATION_CONTEXT.to_vec();
        message.extend_from_slice(&body);
        let signature = node.sign(&message).to_bytes().to_vec();
        Ok(pb::Invitation { body, signature }.encode_to_vec())
    }
}

impl Invitation {
    /// Decodes and verifies an invitation: its certificate, its signature by the certified
    /// node key, its fields, and that it has not expired at `now_ms`.
    pub fn verify(bytes: &[u8], now_ms: i64) -> Result<Invitation, InvitationError> {
        if bytes.len() > MAX_INVITATION_BYTES {
            return Err(InvitationError::TooLarge(bytes.len()));
        }
        let signed =
            pb::Invitation::decode(bytes).map_err(|e| InvitationError::Malformed(e.to_string()))?;
        let body = pb::InvitationBody::decode(signed.body.as_slice())
            .map_err(|e| InvitationError::Malformed(e.to_string()))?;
        let certificate = NodeCertificate::verify(&body.certificate)?;
        let key = VerifyingKey::from_bytes(&certificate.node_key)
            .map_err(|_| InvitationError::Signature)?;
        let signature =
            Signature::from_slice(&signed.signature).map_err(|_| InvitationError::Signature)?;
        let mut message = INVITATION_CONTEXT.to_vec();
        message.extend_from_slice(&signed.body);
        key.verify(&message, &signature)
            .map_err(|_| InvitationError::Signature)?;
        let draft = InvitationContent {
            organisation: body.organisation,
            nodes: body
                .nodes
                .into_iter()
                .map(|n| InvitedNode {
                    peer_id: n.peer_id,
                    addresses: n.addresses,
                })
                .collect(),
            issued_ms: body.issued_ms,
            expires_ms: body.expires_ms,
            kind: body.kind,
            sector: body.sector,
            region: body.region,
        };
        check_fields(&draft)?;
        if now_ms >= draft.expires_ms {
            return Err(InvitationError::Expired {
                expired: crate::when::rfc3339(draft.expires_ms),
            });
        }
        Ok(Invitation {
            org_key: certificate.org_key,
            certificate,
            content: draft,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::OrgKey;
    use rand::SeedableRng;

    fn signed() -> (Vec<u8>, OrgPublicKey) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let org = OrgKey::generate(&mut rng);
        let node = NodeKey::generate(&mut rng);
        let cert = NodeCertificate::issue(&org, node.public_bytes(), "node-1", 1_000);
        let draft = InvitationContent {
            organisation: "CERT-Example".into(),
            nodes: vec![InvitedNode {
                peer_id: "12D3KooWExample".into(),
                addresses: vec!["/ip4/127.0.0.1/tcp/7400".into()],
            }],
            issued_ms: 2_000,
            expires_ms: 10_000,
            kind: "cert".into(),
            sector: String::new(),
            region: "EU".into(),
        };
        (draft.sign(&node, &cert).expect("signed"), org.public())
    }

    #[test]
    fn an_invitation_verifies_and_names_its_organisation() {
        let (bytes, org) = signed();
        let invitation = Invitation::verify(&bytes, 5_000).expect("valid");
        assert_eq!(invitation.org_key, org);
        assert_eq!(invitation.content.organisation, "CERT-Example");
        assert_eq!(
            invitation.content.nodes[0].addresses,
            vec!["/ip4/127.0.0.1/tcp/7400"]
        );
    }

    #[test]
    fn an_expired_invitation_is_refused() {
        let (bytes, _) = signed();
        assert!(matches!(
            Invitation::verify(&bytes, 10_000),
            Err(InvitationError::Expired { .. })
        ));
    }

    /// Every byte changed anywhere makes the invitation unreadable or refused: never accepted
    /// with other content.
    #[test]
    fn any_changed_byte_is_caught() {
        let (bytes, _) = signed();
        let original = Invitation::verify(&bytes, 5_000).expect("valid");
        for i in 0..bytes.len() {
            for flip in [0x01u8, 0x80] {
                let mut changed = bytes.clone();
                changed[i] ^= flip;
                if let Ok(read) = Invitation::verify(&changed, 5_000) {
                    assert_eq!(read, original, "byte {i} changed the content unnoticed");
                }
            }
        }
    }

    #[test]
    fn garbage_and_oversized_input_are_refused() {
        assert!(Invitation::verify(b"hello", 0).is_err());
        assert!(matches!(
            Invitation::verify(&vec![0u8; MAX_INVITATION_BYTES + 1], 0),
            Err(InvitationError::TooLarge(_))
        ));
    }
}
