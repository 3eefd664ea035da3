//! Cairn's networking layer: the only crate that uses libp2p. For now it names nodes on the
//! network (their PeerId) and holds catch-up as plain code (`sync`); the swarm task and the
//! wire protocols grow here.

pub mod sync;

use std::fmt;

/// A node's network identity (a libp2p PeerId), as text. Other crates never see libp2p types.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeAddress(String);

impl fmt::Display for NodeAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A node key that libp2p cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid ed25519 node key: {0}")]
pub struct BadNodeKey(String);

/// The PeerId under which a node with this ed25519 public key is known on the network.
pub fn peer_id_of(node_public_key: &[u8; 32]) -> Result<NodeAddress, BadNodeKey> {
    let key = libp2p_identity::ed25519::PublicKey::try_from_bytes(node_public_key)
        .map_err(|e| BadNodeKey(e.to_string()))?;
    let public = libp2p_identity::PublicKey::from(key);
    Ok(NodeAddress(public.to_peer_id().to_base58()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_peer_ids_have_the_libp2p_form() {
        // An ed25519 key's PeerId is an identity multihash: base58 text starting "12D3KooW".
        let secret = [7u8; 32];
        let keypair = libp2p_identity::ed25519::Keypair::from(
            libp2p_identity::ed25519::SecretKey::try_from_bytes(secret).unwrap(),
        );
        let id = peer_id_of(&keypair.public().to_bytes()).unwrap();
        assert!(id.to_string().starts_with("12D3KooW"), "{id}");
        assert_eq!(id.to_string().len(), 52);
    }
}
