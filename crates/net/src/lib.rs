//! Cairn's networking layer, the only crate that uses libp2p. One task owns the libp2p Swarm
//! ([`spawn`]); the rest of the node talks to it through a [`NetHandle`] (commands on an mpsc
//! channel, answers on oneshot channels) and hears from it through [`NetEvent`]s. Catch-up is
//! plain code with no I/O ([`sync`]). No libp2p type crosses this crate's boundary: nodes are
//! named by [`NodeAddress`] (a PeerId as text) and addresses are multiaddr text.

mod admission;
mod config;
pub mod psi_wire;
pub mod rate;
mod swarm;
pub mod sync;
pub mod wire;

use std::fmt;
use std::str::FromStr;

pub use config::NetConfig;
pub use psi_wire::{PsiAnswer, PsiQuery};
pub use swarm::{
    Connection, NetEvent, NetHandle, PsiResponder, RequestError, Responder, StartError,
    TrustedNode, spawn,
};
pub use sync::MAX_PAGE_SPAN;
pub use wire::{MAX_OFFERED, MAX_STATEMENTS, Offered, Page, PassedReport, Request, Response};

/// A node's network identity (a libp2p PeerId), as text. Other crates never see libp2p types.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeAddress(String);

impl fmt::Display for NodeAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl NodeAddress {
    pub(crate) fn of(peer: &libp2p::PeerId) -> NodeAddress {
        NodeAddress(peer.to_base58())
    }

    pub(crate) fn peer_id(&self) -> libp2p::PeerId {
        // Every NodeAddress was made from a valid PeerId.
        libp2p::PeerId::from_str(&self.0).unwrap_or_else(|_| libp2p::PeerId::random())
    }
}

impl FromStr for NodeAddress {
    type Err = BadNodeAddress;

    fn from_str(text: &str) -> Result<NodeAddress, BadNodeAddress> {
        let peer = libp2p::PeerId::from_str(text.trim())
            .map_err(|e| BadNodeAddress(format!("{text:?} is not a PeerId: {e}")))?;
        Ok(NodeAddress::of(&peer))
    }
}

/// Text that is not a PeerId or not a usable address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadNodeAddress(String);

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

/// The ed25519 public key of the node with this PeerId (none for PeerIds of other key types).
pub fn node_key_of(node: &NodeAddress) -> Option<[u8; 32]> {
    let peer = libp2p::PeerId::from_str(&node.0).ok()?;
    let public = libp2p_identity::PublicKey::try_decode_protobuf(peer.as_ref().digest()).ok()?;
    Some(public.try_into_ed25519().ok()?.to_bytes())
}

/// Checks an address to listen on: a multiaddr with an IP and a TCP port.
pub fn check_listen_address(text: &str) -> Result<(), BadNodeAddress> {
    use libp2p::multiaddr::Protocol;
    let address = libp2p::Multiaddr::from_str(text.trim()).map_err(|e| {
        BadNodeAddress(match multiaddr_for(text) {
            Some(form) => format!("{text:?} is not a multiaddr: write it {form:?}"),
            None => format!(
                "{text:?} is not a multiaddr ({e}): use /ip4/ADDRESS/tcp/PORT or /ip6/ADDRESS/tcp/PORT"
            ),
        })
    })?;
    let mut parts = address.iter();
    match (parts.next(), parts.next(), parts.next()) {
        (Some(Protocol::Ip4(_) | Protocol::Ip6(_)), Some(Protocol::Tcp(_)), None) => Ok(()),
        _ => Err(BadNodeAddress(format!(
            "{text:?} is not an address to listen on: use /ip4/ADDRESS/tcp/PORT or /ip6/ADDRESS/tcp/PORT"
        ))),
    }
}

/// The multiaddr form of an address written as IP:PORT (`127.0.0.1:7400`, `[::1]:7400`).
pub fn multiaddr_for(text: &str) -> Option<String> {
    let socket: std::net::SocketAddr = text.trim().parse().ok()?;
    Some(match socket.ip() {
        std::net::IpAddr::V4(ip) => format!("/ip4/{ip}/tcp/{}", socket.port()),
        std::net::IpAddr::V6(ip) => format!("/ip6/{ip}/tcp/{}", socket.port()),
    })
}

/// Checks a partner node's address: a multiaddr with an IP address and a TCP port,
/// optionally ending in `/p2p/` and the node's PeerId.
pub fn check_dial_address(text: &str, node: &NodeAddress) -> Result<(), BadNodeAddress> {
    swarm::dial_address(text, node).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ip_and_port_gets_its_multiaddr_form_in_the_error() {
        let error = check_listen_address("127.0.0.1:7400")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("write it \"/ip4/127.0.0.1/tcp/7400\""),
            "{error}"
        );
        let error = check_listen_address("[::1]:7400").unwrap_err().to_string();
        assert!(error.contains("/ip6/::1/tcp/7400"), "{error}");
        let error = check_listen_address("nonsense").unwrap_err().to_string();
        assert!(error.contains("/ip4/ADDRESS/tcp/PORT"), "{error}");
        assert!(check_listen_address("/ip4/0.0.0.0/tcp/7400").is_ok());
    }

    #[test]
    fn a_peer_id_gives_back_its_node_key() {
        let key = libp2p_identity::ed25519::Keypair::generate()
            .public()
            .to_bytes();
        let node = peer_id_of(&key).unwrap();
        assert_eq!(node_key_of(&node), Some(key));
    }

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
        assert_eq!(id.to_string().parse::<NodeAddress>().unwrap(), id);
        assert!("not-a-peer-id".parse::<NodeAddress>().is_err());
        assert!("".parse::<NodeAddress>().is_err());
    }

    #[test]
    fn addresses_are_checked() {
        assert!(check_listen_address("/ip4/0.0.0.0/tcp/7400").is_ok());
        assert!(check_listen_address("/ip6/::1/tcp/0").is_ok());
        assert!(check_listen_address("/dns4/example.org/tcp/7400").is_err());
        assert!(check_listen_address("/ip4/0.0.0.0/udp/7400").is_err());
        assert!(check_listen_address("127.0.0.1:7400").is_err());
        let node = peer_id_of(&[
            0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64,
            0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68,
            0xf7, 0x07, 0x51, 0x1a,
        ])
        .unwrap();
        assert!(check_dial_address("/ip4/192.0.2.1/tcp/7400", &node).is_ok());
        assert!(check_dial_address("/dns4/cert.example/tcp/7400", &node).is_err());
        assert!(check_dial_address(&format!("/ip4/192.0.2.1/tcp/7400/p2p/{node}"), &node).is_ok());
        let other = "12D3KooWGzh8Dd2CbtG8T1Ye6wd7u6h4qhQuWJwPzn6hUNrxVqRW";
        let err = check_dial_address(&format!("/ip4/192.0.2.1/tcp/7400/p2p/{other}"), &node)
            .unwrap_err()
            .to_string();
        assert!(err.contains("another node"), "{err}");
        assert!(check_dial_address("/ip4/192.0.2.1/udp/7400", &node).is_err());
    }
}
