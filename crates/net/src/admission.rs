//! Admission of incoming connections still in their handshake: at most a few per remote IP
//! address, so that one address (a stranger, or a partner's compromised machine) cannot hold
//! every handshake slot and keep trusted partners out. Handshakes that never finish are cut by
//! the transport's handshake timeout.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};

use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{Multiaddr, PeerId};

/// Why an incoming connection was refused before its handshake.
#[derive(Debug, thiserror::Error)]
#[error("{address} already has {pending} handshakes under way (at most {max} per address)")]
pub(crate) struct TooManyFromAddress {
    address: IpAddr,
    pending: usize,
    max: usize,
}

/// Incoming handshakes under way, per remote IP address (plain bookkeeping, no I/O).
#[derive(Debug, Default)]
pub(crate) struct PendingPerAddress {
    max: usize,
    pending: HashMap<IpAddr, usize>,
    address_of: HashMap<ConnectionId, IpAddr>,
}

impl PendingPerAddress {
    /// At most `max` handshakes under way from one address (at least one).
    pub(crate) fn new(max: usize) -> PendingPerAddress {
        PendingPerAddress {
            max: max.max(1),
            ..PendingPerAddress::default()
        }
    }

    /// Counts a new incoming connection from `address`, or refuses it.
    fn admit(&mut self, id: ConnectionId, address: IpAddr) -> Result<(), TooManyFromAddress> {
        let pending = self.pending.entry(address).or_default();
        if *pending >= self.max {
            return Err(TooManyFromAddress {
                address,
                pending: *pending,
                max: self.max,
            });
        }
        *pending += 1;
        self.address_of.insert(id, address);
        Ok(())
    }

    /// The connection finished its handshake, failed or was refused elsewhere.
    fn done(&mut self, id: ConnectionId) {
        let Some(address) = self.address_of.remove(&id) else {
            return;
        };
        if let Some(pending) = self.pending.get_mut(&address) {
            *pending = pending.saturating_sub(1);
            if *pending == 0 {
                self.pending.remove(&address);
            }
        }
    }
}

/// The IP address a multiaddr starts with, if any.
fn ip_of(address: &Multiaddr) -> Option<IpAddr> {
    address.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

impl NetworkBehaviour for PendingPerAddress {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        match ip_of(remote) {
            Some(address) => self.admit(id, address).map_err(ConnectionDenied::new),
            None => Ok(()),
        }
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        _peer: PeerId,
        _local: &Multiaddr,
        _remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.done(id);
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _id: ConnectionId,
        _peer: PeerId,
        _address: &Multiaddr,
        _role: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ListenFailure(failure) => self.done(failure.connection_id),
            FromSwarm::ConnectionEstablished(established) => {
                self.done(established.connection_id);
            }
            FromSwarm::ConnectionClosed(closed) => self.done(closed.connection_id),
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_own_few_slots_and_gets_them_back() {
        let mut admission = PendingPerAddress::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let id = ConnectionId::new_unchecked;
        assert!(admission.admit(id(1), a).is_ok());
        assert!(admission.admit(id(2), a).is_ok());
        let refused = admission.admit(id(3), a).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "192.0.2.1 already has 2 handshakes under way (at most 2 per address)"
        );
        // Another address is not affected.
        assert!(admission.admit(id(4), b).is_ok());
        // A handshake ends (done, failed or refused elsewhere): its slot is free again, once.
        admission.done(id(1));
        admission.done(id(1));
        admission.done(id(99));
        assert!(admission.admit(id(5), a).is_ok());
        assert!(admission.admit(id(6), a).is_err());
        admission.done(id(2));
        admission.done(id(5));
        admission.done(id(4));
        assert!(admission.pending.is_empty() && admission.address_of.is_empty());
    }
}
